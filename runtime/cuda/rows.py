"""The row kernels of the CUDA renderer (a mixin of render.KernelRenderer): how the threads of
a row kernel share its reductions, chosen per kernel.

- ``rows``: a block (256 threads) per row, grid-stride over rows; each reduction's loop
  block-strided, then warp shuffles and one value per warp through shared memory;
- ``warp_rows``: a warp per row where every loop over the row has at most WARP_ROW_MAX
  elements (warp shuffles only);
- ``columns``: a reduction over an outer axis with at least COLUMNS_MIN outputs and no
  inner loop (a column sum, batch statistics): a block takes 32 consecutive outputs, a
  lane each, so a warp's loads are consecutive addresses; its 8 warps take every 8th
  element of the reduction, combined per output in warp order;
- ``split``: at most SPLIT_ROWS rows with a reduction of at least SPLIT_MIN elements (a
  full reduction, a 1-D normalization): a first kernel's blocks each reduce a part of a
  row (SPLIT_CHUNK elements or more, at most SPLIT_PARTS parts) into a scratch buffer;
  the second combines the parts in order in every block and writes the outputs over the
  whole grid. Not for reductions that read another's result or stash values.

Every strategy combines in a fixed order: the same inputs give the same bits every run.
"""
import numpy as np

from .. import kernel as K
from .launch import Launch
from .prelude import BLOCK, WARPS
from .row_cache import plan_row_cache

WARP_ROW_MAX = 1024   # a row kernel whose every loop over the row is this short: one warp per row
COLUMNS_MIN = 64      # a reduction over an outer axis with at least this many outputs: a warp's lanes per output
SPLIT_ROWS = 32       # a row kernel with at most this many rows
SPLIT_MIN = 16384     # and a reduction at least this long: its reductions in two stages
SPLIT_CHUNK = 4096    # at least this many elements per block in the first stage
SPLIT_PARTS = 256     # and at most this many parts per row


def _stride(index, var):
    """How far index expression ``index`` moves when ``var`` goes from 0 to 1, the other
    variables at 0 (None where that is not defined: past an extent of 1)."""
    if var.extent < 2:
        return None
    return _at(index, {var: 1}) - _at(index, {})


def _at(e, values):
    if isinstance(e, K.Var):
        return values.get(e, 0)
    if isinstance(e, K.IConst):
        return e.value
    a, b = _at(e.a, values), _at(e.b, values)
    return {"add": a + b, "mul": a * b, "div": a // b if b else 0, "mod": a % b if b else 0,
            "min": min(a, b), "max": max(a, b)}[e.op]


class RowKernels:
    """The row-kernel strategies; the renderer provides line/fresh/value/_bind/_store/..."""

    def _row_kernel(self, loops, row_depth, block):
        """Render a row kernel (its rows: the first ``row_depth`` loops) and return its Launch."""
        rows = int(np.prod([v.extent for v in loops[:row_depth]]))
        lengths = [int(np.prod([v.extent for v in r.rvars])) for r in block]
        inner = int(np.prod([v.extent for v in loops[row_depth:]]))
        if self._column_like(loops, row_depth, block):
            self.columns = True
            self._columns(loops, block)
            return Launch(self.symbol, "columns", rows, 1, self.checks)
        parts = self._split_parts(rows, lengths, block)
        if parts:
            return self._split(loops[:row_depth], loops[row_depth:], block, parts)
        self.warp = rows > 1 and max(lengths + [inner]) <= WARP_ROW_MAX
        self._rows(loops[:row_depth], loops[row_depth:], block)
        return Launch(self.symbol, "warp_rows" if self.warp else "rows", rows, 1, self.checks,
                      row_cache=self.cache.bytes if self.cache else 0)

    def _rows(self, row_loops, inner_loops, block_reductions):
        """One row per block, or per warp (``self.warp``: every lane of a warp takes the same
        rows, so its shuffles and __syncwarp see all 32 lanes); values read by several passes
        over the row kept in shared memory where they fit (row_cache.py)."""
        rows = int(np.prod([v.extent for v in row_loops]))
        self._declare_row_cache(row_loops, inner_loops, block_reductions)
        row = self.fresh("row")
        first, step, sync = (("blockIdx.x * G_WARPS + G_WARP", "gridDim.x * G_WARPS", "__syncwarp()") if self.warp
                             else ("blockIdx.x", "gridDim.x", "__syncthreads()"))
        self._open(f"for ({self.idx} {row} = {first}; {row} < {rows}; {row} += {step})")
        self._bind(row_loops, row)
        for load in self.cache.row_scalars if self.cache else ():
            self.value(load)
        for r in block_reductions:
            self.scopes[-1][r] = self._reduce(r, cooperative=True)
        if set(self.kernel.stashes) - set(self.cache.stashes if self.cache else ()):
            self.line(f"{sync};   // the stashed values, written by other threads")
        inner = int(np.prod([v.extent for v in inner_loops]))
        t = self.fresh("i")
        start, stride = self._team()
        self._open(f"for ({self.idx} {t} = {start}; {t} < {inner}; {t} += {stride})")
        self._bind(inner_loops, t)
        self._enter_pass(len(block_reductions), t)
        self._store()
        self._leave_pass()
        self._close()
        self.line(f"{sync};   // before the next row overwrites what this one read")
        self._close()

    # -- the row cache (row_cache.py) ---------------------------------------------------------
    def _declare_row_cache(self, row_loops, inner_loops, block):
        self.cache = plan_row_cache(self.kernel, row_loops, inner_loops, block, WARPS if self.warp else 1)
        if not self.cache:
            return
        self.cache_passes = {r: p for p, r in enumerate(block)}
        self.slot_names = [self.fresh("rowc") for _ in self.cache.slots]
        for name, (dtype, length) in zip(self.slot_names, self.cache.slots):
            rows = f"[{WARPS}]" if self.warp else ""
            self.line(f"__shared__ {self.ctype(dtype)} {name}{rows}[{length}];   // the row cache")

    def _enter_pass(self, pass_index, position):
        """Start one step of a loop: of a pass over the row (a reduction's, or the output
        loop's) at flat row position ``position``, or (``pass_index`` None) of another loop."""
        self.passes.append((pass_index, position, []) if self.cache and pass_index is not None else None)

    def _leave_pass(self):
        """End the step: the values first made in a pass's step go into their slots, after
        every read of the step."""
        step = self.passes.pop()
        if step is not None:
            self.flushing = True
            for cached, e in step[2]:
                self.line(f"{self._slot(cached, step[1])} = {self.value(e)};")
            self.flushing = False

    def _cached_load(self, load):
        """The C text of ``load`` in the current pass where the row cache holds it (a slot
        read, or, in the pass that makes it, the global read, kept at the step's end)."""
        step = next((s for s in reversed(self.passes) if s is not None), None)
        cached = step and self.cache.lookup(step[0], load)
        if cached is None:
            return None
        if cached.made != step[0]:
            return self._slot(cached, step[1])
        if not self.flushing:
            step[2].append((cached, load))
        return f"p{load.param}[{self.index(load.index)}]"

    def _slot(self, cached, position):
        return f"{self.slot_names[cached.slot]}{'[G_WARP]' if self.warp else ''}[{position}]"

    def _team(self):
        """(this thread's first position, the stride) in a loop the row's threads share."""
        if self.columns:
            return "G_WARP", "G_WARPS"
        return ("G_LANE", "G_WARP_LANES") if self.warp else ("threadIdx.x", "blockDim.x")

    def _column_like(self, loops, row_depth, block):
        """Whether the kernel's rows are its whole output (no inner loop), at least
        COLUMNS_MIN of them, and its first reduction reads consecutive addresses for
        consecutive rows but not along its own axis: a reduction over an outer axis, read
        coalesced when a warp's lanes take 32 consecutive rows."""
        k = self.kernel
        if row_depth != len(loops) or k.stashes or int(np.prod([v.extent for v in loops])) < COLUMNS_MIN:
            return False
        r, last = block[0], loops[-1]
        for e in (x for body in (r.body if isinstance(r.body, tuple) else (r.body,)) for x in K.walk(body)):
            if isinstance(e, K.Load) and not K.gathered_in(e.index):
                used = K.free_vars(e)
                if last in used and set(r.rvars) & used:
                    inner = [v for v in r.rvars if v in used][-1]
                    return _stride(e.index, last) == 1 and _stride(e.index, inner) != 1
        return False

    def _columns(self, loops, block_reductions):
        """Each block takes 32 consecutive rows (a lane each) in turn; its warps split each
        row's reduction (every 8th element), combined per row in warp order through shared
        memory; the first warp stores the rows' values."""
        rows = int(np.prod([v.extent for v in loops]))
        group, row, live = self.fresh("group"), self.fresh("row"), self.fresh("live")
        self._open(f"for ({self.idx} {group} = blockIdx.x; {group} * G_WARP_LANES < {rows}; {group} += gridDim.x)")
        self.line(f"const {self.idx} {row} = {group} * G_WARP_LANES + G_LANE;")
        self.line(f"const bool {live} = {row} < {rows};")
        self._bind(loops, f"({live} ? {row} : 0)")
        for r in block_reductions:
            self.scopes[-1][r] = self._reduce(r, cooperative=True)
        self._open(f"if ({live} && G_WARP == 0)")
        self._store()
        self._close()
        self._close()

    def _split_parts(self, rows, lengths, block):
        """How many parts each row's reductions are split into (0: not split)."""
        if self.kernel.stashes or rows > SPLIT_ROWS or max(lengths) < SPLIT_MIN:
            return 0
        for r in block:   # (a reduction reading another's result needs that result whole first)
            bodies = r.body if isinstance(r.body, tuple) else (r.body,)
            if any(inner in block for body in bodies for inner in K.reductions_of(body)):
                return 0
        return min(SPLIT_PARTS, -(-max(lengths) // SPLIT_CHUNK))

    def _split(self, row_loops, inner_loops, block, parts):
        rows = int(np.prod([v.extent for v in row_loops]))
        inner = int(np.prod([v.extent for v in inner_loops]))
        scratch, names = [], []   # per reduction: its partial accumulators (and indices)
        for j, r in enumerate(block):
            scratch.append((np.dtype(r.acc_dtype), rows * parts))
            names.append([f"q{j}"])
            if r.op in ("argmax", "argmin"):
                scratch.append((np.dtype(np.int64), rows * parts))
                names[-1].append(f"qi{j}")
        self.scratch = [(name, self.ctype(dtype)) for (dtype, _), name in zip(scratch, sum(names, []))]
        # the first stage: block b reduces part b % parts of row b / parts
        b, row, part = self.fresh("b"), self.fresh("row"), self.fresh("part")
        self._open(f"for ({self.idx} {b} = blockIdx.x; {b} < {rows * parts}; {b} += gridDim.x)")
        self.line(f"const {self.idx} {row} = {b} / {parts}, {part} = {b} % {parts};")
        self._bind(row_loops, row)
        for r, q in zip(block, names):
            count = int(np.prod([v.extent for v in r.rvars]))
            chunk = -(-count // parts)
            end = f"({part} + 1) * {chunk}"
            acc, at = self._accumulate(r, f"{part} * {chunk} + threadIdx.x", f"({end} < {count} ? {end} : {count})",
                                       "blockDim.x")
            self._combine_team(r, acc, at)
            keep = f"{q[0]}[{b}] = {acc};" + (f" {q[1]}[{b}] = {at};" if at else "")
            self.line(f"if (threadIdx.x == 0) {{ {keep} }}")
        self._close()
        self.functions.append(self._function(self.symbol + "_part"))
        # the second: every block combines each row's parts, then the grid writes the row
        self.scopes = [{}]
        row = self.fresh("row")
        self._open(f"for ({self.idx} {row} = 0; {row} < {rows}; ++{row})")
        self._bind(row_loops, row)
        for r, q in zip(block, names):
            acc_t = self.ctype(r.acc_dtype)
            acc, at = self.fresh("acc"), (self.fresh("at") if len(q) > 1 else None)
            self.line(f"{acc_t} {acc} = {self._identity(r.op, r.acc_dtype)};" + (f" i64 {at} = 0;" if at else ""))
            t = self.fresh("t")
            self._open(f"for ({self.idx} {t} = threadIdx.x; {t} < {parts}; {t} += blockDim.x)")
            where = f"{row} * {parts} + {t}"
            if at:
                best = "true" if r.op == "argmax" else "false"
                self.line(f"if (g_argbetter({best}, {q[0]}[{where}], {q[1]}[{where}], {acc}, {at})) "
                          f"{{ {acc} = {q[0]}[{where}]; {at} = {q[1]}[{where}]; }}")
            else:
                self.line(f"{acc} = {self._combine(r.op, r.acc_dtype, acc, f'{q[0]}[{where}]')};")
            self._close()
            self._combine_team(r, acc, at)
            self.scopes[-1][r] = self._finish(r, acc, at)
        self._grid_stride_store(inner_loops, inner)
        self._close()
        return Launch(self.symbol, "split", rows * inner, 1, self.checks,
                      first=Launch(self.symbol + "_part", "rows", rows * parts), scratch=tuple(scratch))

    def _identity(self, op, dtype):
        dtype = np.dtype(dtype)
        if op in ("sum", "mean"):
            return self.const(0, dtype)
        if op == "prod":
            return self.const(1, dtype)
        high = op in ("max", "argmax")
        if dtype.kind == "f":
            return self.const(-np.inf if high else np.inf, dtype)
        if dtype == np.bool_:
            return "false" if high else "true"
        info = np.iinfo(dtype)
        return self.const(info.min if high else info.max, dtype)

    def _combine(self, op, dtype, a, b):
        fl = np.dtype(dtype).kind == "f"
        if op in ("sum", "mean"):
            return f"({a} + {b})" if fl else f"g_add({a}, {b})"
        if op == "prod":
            return f"({a} * {b})" if fl else f"g_mul({a}, {b})"
        if fl:
            return f"g_r{op}({a}, {b})"
        return f"({b} {'>' if op == 'max' else '<'} {a} ? {b} : {a})"

    def _reduce(self, r, cooperative):
        """The reduction's result as a C name: accumulated over its variables by this thread
        (or, ``cooperative``, by the row's threads in turn, then combined)."""
        count = int(np.prod([v.extent for v in r.rvars]))
        start, step = self._team() if cooperative else ("0", "1")
        acc, at = self._accumulate(r, start, str(count), step)
        if cooperative:
            self._combine_team(r, acc, at)
        return self._finish(r, acc, at)

    def _accumulate(self, r, start, stop, step):
        """Declare the accumulator (and, for argmax/argmin, the index) and add the body's
        values at positions start, start + step, ... below stop; returns their C names."""
        acc_t, is_arg = self.ctype(r.acc_dtype), r.op in ("argmax", "argmin")
        acc = self.fresh("acc")
        self.line(f"{acc_t} {acc} = {self._identity(r.op, r.acc_dtype)};")
        at = self.fresh("at") if is_arg else None
        if is_arg:
            self.line(f"i64 {at} = 0;")
        f = self.fresh("f")
        self._open(f"for ({self.idx} {f} = {start}; {f} < {stop}; {f} += {step})")
        self._bind(list(r.rvars), f)
        self._enter_pass(self.cache_passes.get(r), f)
        if is_arg:
            v, i = self.value(r.body[0]), self.value(r.body[1])
            best = "true" if r.op == "argmax" else "false"
            self.line(f"if (g_argbetter({best}, {v}, {i}, {acc}, {at})) {{ {acc} = {v}; {at} = {i}; }}")
        else:
            body = self.value(r.body)
            if r in self.kernel.stashes:   # kept for the output loop, in the value's own precision
                param, index = self.kernel.stashes[r]
                kept = r.body.args[0] if isinstance(r.body, K.Op) and r.body.op == "cast" else r.body
                if self.cache and r in self.cache.stashes:
                    self.passes[-1][2].append((self.cache.stashes[r], kept))
                else:
                    self.line(f"p{param}[{self.index(index)}] = {self.value(kept)};")
            self.line(f"{acc} = {self._combine(r.op, r.acc_dtype, acc, body)};")
        self._leave_pass()
        self._close()
        return acc, at

    def _combine_team(self, r, acc, at):
        """Combine the row's threads' accumulators: every thread gets the result."""
        acc_t, is_max = self.ctype(r.acc_dtype), "true" if r.op == "argmax" else "false"
        combine = f"[]({acc_t} a, {acc_t} b) {{ return {self._combine(r.op, r.acc_dtype, 'a', 'b')}; }}"
        if self.columns:
            smem = self.fresh("smem")
            if at:
                si = self.fresh("si")
                self.line(f"__shared__ {acc_t} {smem}[{BLOCK}]; __shared__ i64 {si}[{BLOCK}];")
                self.line(f"g_column_argreduce({is_max}, {acc}, {at}, {smem}, {si});")
            else:
                self.line(f"__shared__ {acc_t} {smem}[{BLOCK}];")
                self.line(f"{acc} = g_column_reduce({acc}, {combine}, {smem});")
        elif self.warp:
            if at:
                self.line(f"g_warp_argreduce({is_max}, {acc}, {at});")
            else:
                self.line(f"{acc} = g_warp_reduce({acc}, {combine});")
        elif at:
            sv, si = self.fresh("sv"), self.fresh("si")
            self.line(f"__shared__ {acc_t} {sv}[{WARPS}]; __shared__ i64 {si}[{WARPS}];")
            self.line(f"g_block_argreduce({is_max}, {acc}, {at}, {sv}, {si});")
        else:
            smem = self.fresh("smem")
            self.line(f"__shared__ {acc_t} {smem}[{WARPS}];")
            self.line(f"{acc} = g_block_reduce({acc}, {combine}, {smem});")

    def _finish(self, r, acc, at):
        """The reduction's value (a mean divided by its count, cast to the result dtype)."""
        result = self.fresh("red")
        if at:
            self.line(f"const {self.ctype(r.dtype)} {result} = ({self.ctype(r.dtype)}){at};")
            return result
        value = acc
        if r.op == "mean" and np.dtype(r.acc_dtype).kind == "f":
            value = f"({acc} / {self.const(int(np.prod([v.extent for v in r.rvars])), r.acc_dtype)})"
        self.line(f"const {self.ctype(r.dtype)} {result} = {self._cast(value, r.acc_dtype, r.dtype)};")
        return result
