"""The row cache of the CUDA row kernels (rows.py's ``rows`` and ``warp_rows``): the values
that several passes over a row read (softmax's input, read by its max and by its sum;
layer_norm's, read by its mean, its variance and its output loop) and the stash (softmax's
exp, written by the sum and read back by the output loop) kept in shared memory, so the
input is read from global memory once and the stash never goes there.

A row kernel's passes are its row's reductions, in order, then its output loop. Every pass
gives the row's positions to the row's threads the same way (thread t takes t, t + team,
t + 2 team, ...), so a thread reads back only what it wrote itself: no barrier between
passes. A value is written into its slot at the end of its first pass's step, after every
read of that step, so a value whose last reader is that pass can hand its slot on to one
first made there (softmax's input and its exp share one row of shared memory).
Loads of a row's own values (a mean computed by an earlier kernel, read at every position)
are read once per row, before the passes. A row whose cache would take more than ROW_CACHE_BYTES per block reads global memory as
before (the values that do not fit stay there).
"""
from dataclasses import dataclass, field

import numpy as np

from .. import kernel as K

ROW_CACHE_BYTES = 40 * 1024   # shared memory a block's row cache may take (of the 48 KiB a block may declare)


@dataclass
class Cached:
    """One cached value: ``made`` in pass ``made`` (loaded from global memory by its first
    reader, or, ``stash``, computed by that reduction), read back by later passes up to ``last``."""
    dtype: np.dtype
    length: int
    made: int
    last: int
    stash: bool = False
    loads: dict = field(default_factory=dict)   # pass -> the Loads (by identity) it reads from here
    slot: int = -1


@dataclass
class RowCache:
    """The slots (dtype, length) a row kernel declares, and, per pass, its Loads' values
    (``lookup``); the stashes kept here instead of in the output ({Reduce: Cached})."""
    slots: list
    by_load: list        # per pass: {Load: Cached}
    stashes: dict
    rows_per_block: int
    row_scalars: list    # Loads of the row's own values (its index only): read once per row, before the passes

    @property
    def bytes(self):
        """The shared memory a block declares for it."""
        return sum(length * dtype.itemsize for dtype, length in self.slots) * self.rows_per_block

    def lookup(self, pass_index, load):
        return self.by_load[pass_index].get(load)


def plan_row_cache(kernel, row_loops, inner_loops, block, rows_per_block):
    """The RowCache of a row kernel (None when it would keep nothing): its passes are the
    block reductions ``block``, in order, and the output loop over ``inner_loops``."""
    passes = [(tuple(r.rvars), _bodies(r)) for r in block] + [(tuple(inner_loops), (kernel.value,))]
    row_vars, canonical, found, scalars = set(row_loops), {}, {}, []
    for p, (loop_vars, exprs) in enumerate(passes):
        moving = [v for v in loop_vars if v.extent > 1]   # (a loop of 1 moves nothing)
        extents = tuple(v.extent for v in moving)
        if int(np.prod([v.extent for v in loop_vars])) < 1:
            continue
        rename = {v: K.IConst(0) for v in loop_vars if v.extent == 1}
        rename.update(zip(moving, canonical.setdefault(extents, tuple(K.Var(f"at{j}", e)
                                                                      for j, e in enumerate(extents)))))
        made_here = p < len(block) and block[p] in kernel.stashes
        if made_here:   # the stash: made by this reduction (its Loads read back come later)
            param, index = kernel.stashes[block[p]]
            key = (param, extents, _renamed(index, rename))
            found[key] = Cached(np.dtype(kernel.params[param][1]), int(np.prod(extents)), p, p, stash=True)
        for load in _loads(exprs, block):
            used = K.free_vars(load)
            if K.gathered_in(load.index):
                continue
            if used <= row_vars:   # a value of the row's own (a mean computed before): read once per row
                if int(np.prod(kernel.params[load.param][2])) > 0 and load not in scalars:
                    scalars.append(load)
                continue
            if not used <= row_vars | set(loop_vars) or (moving and not used & set(moving)):
                continue
            key = (load.param, extents, _renamed(load.index, rename))
            entry = found.setdefault(key, Cached(np.dtype(load.dtype), int(np.prod(extents)), p, p))
            entry.last = p
            entry.loads.setdefault(p, []).append(load)
    stashes = {block[e.made]: e for e in found.values() if e.stash and _reads_all(e, passes, block, kernel)}
    wanted = [e for e in found.values() if (e.stash and block[e.made] in stashes) or
              (not e.stash and len(e.loads) > 1)]
    slots = _assign_slots(wanted, rows_per_block)
    if not slots and not scalars:
        return None
    by_load = [{} for _ in passes]
    for e in wanted:
        if e.slot >= 0:
            for p, loads in e.loads.items():
                by_load[p].update({load: e for load in loads})
    stashes = {r: e for r, e in stashes.items() if e.slot >= 0}
    return RowCache(slots, by_load, stashes, rows_per_block, scalars)


def _assign_slots(wanted, rows_per_block):
    """Give each wanted value a slot (reusing one whose value's last reader is at or before
    this one's first pass), within ROW_CACHE_BYTES; returns the slots [(dtype, length)]."""
    slots, free_after, used = [], [], 0
    for e in sorted(wanted, key=lambda e: e.made):
        reuse = [s for s, (dtype, length) in enumerate(slots)
                 if dtype == e.dtype and length == e.length and free_after[s] <= e.made]
        if reuse:
            e.slot = reuse[0]
            free_after[e.slot] = e.last
            continue
        size = e.length * e.dtype.itemsize * rows_per_block
        if used + size > ROW_CACHE_BYTES:
            continue   # (read from global memory, as without a cache)
        used += size
        e.slot = len(slots)
        slots.append((e.dtype, e.length))
        free_after.append(e.last)
    return slots


def _reads_all(stash, passes, block, kernel):
    """Whether every read of the stash's buffer after its reduction is a Load of the stash
    that the cache serves (else the stash must go to the output, as without a cache)."""
    param = kernel.stashes[block[stash.made]][0]
    mapped = {id(load) for loads in stash.loads.values() for load in loads}
    later = [e for _, exprs in passes[stash.made + 1:] for x in exprs for e in K.walk(x)]
    return bool(mapped) and all(id(e) in mapped for e in later if isinstance(e, K.Load) and e.param == param)


def _bodies(r):
    return r.body if isinstance(r.body, tuple) else (r.body,)


def _loads(exprs, block):
    """The Loads a pass reads: in ``exprs``, not inside the row's other reductions (passes
    of their own), each once, in a fixed order."""
    seen, out, stack = set(), [], list(reversed(exprs))
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, K.Load):
            out.append(e)
        if isinstance(e, K.Reduce) and e in block:
            continue
        stack.extend(reversed(K.children(e)))
    return out


def _renamed(index, rename):
    """Index expression ``index`` with its Vars renamed (a value to compare across passes)."""
    if isinstance(index, K.Var):
        return rename.get(index, index)
    if isinstance(index, K.IBin):
        return K.IBin(index.op, _renamed(index.a, rename), _renamed(index.b, rename))
    return index
