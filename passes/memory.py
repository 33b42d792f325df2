"""Memory planning: every intermediate buffer gets an offset in one arena.

Per compiled graph (in its scheduled order):
  - values: a kernel's output needs a buffer; a view (reshape, transpose, slice...
    between buffers) reads its input's buffer in place and extends its life; feeds
    are read in place, variables and constants live outside the arena, and fetched
    results get fresh memory each run (the caller owns them, so they never alias
    memory the next run overwrites);
  - liveness: a buffer lives from the step that writes it to the last step that
    reads it or any view of it;
  - in place: an elementwise kernel writes over an input buffer of the same size
    that dies at that kernel and that it reads at the same index;
  - placement: greedy by size, each buffer at the best-fitting free gap among the
    buffers whose lifetimes overlap it (the heap-simulator idea of XLA and TFLite),
    aligned to ALIGN bytes. No buffer is reused while any reader of it is live.
The arena is allocated once per compiled program: a steady-state run allocates
nothing but the fetched results.
"""
from dataclasses import dataclass, field

import numpy as np

from ..ir.analysis import frees_after, is_view, last_reads, runs_kernel
from ..ops import ELEMENTWISE

ALIGN = 64


def nbytes(node):
    n = node.dtype.itemsize
    for d in node.shape:
        n *= d
    return n


@dataclass(eq=False)
class Buffer:
    """An arena region: the values stored in it (an in-place chain), and when it is live."""
    values: list
    size: int
    start: int
    end: int
    offset: int = 0

    @property
    def name(self):
        return self.values[0]


@dataclass
class MemoryPlan:
    """Where every intermediate lives. ``peak_bytes`` is the arena size; ``total_bytes``
    is the sum of all intermediates' sizes, each rounded up to ALIGN (what one aligned
    allocation per value would take), so ``peak_bytes <= total_bytes`` always holds."""
    buffers: list
    peak_bytes: int
    total_bytes: int
    outputs: list = field(default_factory=list)   # fetched results: fresh memory each run
    allocations_per_run: int = 0                  # intermediate allocations per steady-state run
    frees: tuple = ()   # per step: the values (nodes) no later step reads, directly or through a view

    def location(self):
        """value name -> (offset, size) in the arena."""
        return {v: (b.offset, b.size) for b in self.buffers for v in b.values}

    def __str__(self):
        ratio = self.peak_bytes / self.total_bytes if self.total_bytes else 0.0
        lines = [f"memory plan: arena {self.peak_bytes} bytes for {self.total_bytes} bytes of intermediates "
                 f"({ratio:.2f}), {len(self.buffers)} buffers, {self.allocations_per_run} allocations per run"]
        for b in sorted(self.buffers, key=lambda b: b.start):
            lines.append(f"  [{b.offset:>10}, {b.offset + b.size:>10})  live {b.start}..{b.end}  "
                         + " <- ".join("%" + v for v in b.values))
        if self.outputs:
            lines.append("  fetched (fresh each run): " + ", ".join("%" + v for v in self.outputs))
        return "\n".join(lines)


def _base(node, view_base):
    return view_base.get(node, node)


def reads_at_own_position(kernel, x):
    """Whether ``kernel`` reads each element of its input ``x`` only to compute the output
    element at the same position: x has the output's shape and every value computed from
    it is elementwise at that shape (a transpose or a reduction further down reads it
    elsewhere). Writing the output over x is then safe, as far as the ops go."""
    if x.shape != kernel.shape:
        return False
    if kernel.op != "fused":
        return kernel.opdef.kind == ELEMENTWISE
    body = kernel.attrs["body"]
    params = [n for n in body.nodes if n.op == "placeholder"]
    reached = {p for p, y in zip(params, kernel.inputs) if y is x}
    for n in body.nodes:
        if any(i in reached for i in n.inputs):
            if n.opdef.kind != ELEMENTWISE or n.shape != kernel.shape:
                return False
            reached.add(n)
    return True


def _reads_in_place(kernel, x):
    """Whether ``kernel`` may write its output into input ``x``'s buffer (a matmul kernel may
    not: its product lands in the output before the epilogue reads x)."""
    return (kernel.op != "fused" or kernel.attrs["kind"] == "elementwise") and reads_at_own_position(kernel, x)


def plan_memory(graph):
    """Plan the arena for ``graph`` (in its node order); returns (graph, MemoryPlan)."""
    nodes = graph.nodes
    outputs = set(graph.outputs)
    view_base, buffer_of, buffers = {}, {}, []
    for step, node in enumerate(nodes):
        if is_view(node):
            view_base[node] = _base(node.inputs[0], view_base)
        elif runs_kernel(node) and node not in outputs:
            buffer_of[node] = Buffer([node.name], nbytes(node), step, step)
            buffers.append(buffer_of[node])

    # liveness: the last step that reads a buffer directly or through a view (a fetched
    # view of an arena buffer is copied out after the last step)
    for node, step in last_reads(nodes, graph.outputs, through_views=True).items():
        if node in buffer_of:
            buffer_of[node].end = max(buffer_of[node].end, step)

    total = sum(_align(b.size) for b in buffers)
    merged = _merge_in_place(nodes, buffer_of, view_base)
    placed = _place([b for b in buffers if b not in merged])
    peak = max((b.offset + b.size for b in placed), default=0)
    fresh = [n.name for n in graph.outputs if runs_kernel(n)]
    frees = tuple(frees_after(nodes, graph.outputs, through_views=True))
    return graph, MemoryPlan(placed, peak, total, fresh, frees=frees)


def _merge_in_place(nodes, buffer_of, view_base):
    """Let elementwise kernels write over an input buffer that dies there; returns the absorbed."""
    absorbed = set()
    owner = {b: b for b in buffer_of.values()}
    for step, node in enumerate(nodes):
        mine = buffer_of.get(node)
        if mine is None:
            continue
        for x in dict.fromkeys(node.inputs):
            if x not in buffer_of:   # a source, a view or a fetched result: not ours to overwrite
                continue
            theirs = owner[buffer_of[x]]
            # the kernel must not also read that buffer through a view (transpose, slice, ...)
            aliased = any(y is not x and owner.get(buffer_of.get(_base(y, view_base))) is theirs
                          for y in node.inputs)
            if (theirs.end == step and theirs.size == mine.size and not aliased
                    and _reads_in_place(node, x)):
                theirs.values.extend(mine.values)
                theirs.end = mine.end
                owner[mine] = theirs
                absorbed.add(mine)
                break
    return absorbed


def _align(n):
    return -(-n // ALIGN) * ALIGN


def _place(buffers):
    """Greedy by size: each buffer at the best-fitting gap among those live at the same time
    (the first of the smallest gaps that fit, in offset order; else after the last of them)."""
    placed = sorted(buffers, key=lambda b: (-b.size, b.start))
    n = len(placed)
    start, end = np.empty(n, np.int64), np.empty(n, np.int64)
    lo, hi = np.empty(n, np.int64), np.empty(n, np.int64)
    for i, buf in enumerate(placed):   # (arrays over the buffers placed so far: one pass each, not a loop)
        live = (start[:i] <= buf.end) & (buf.start <= end[:i])
        buf.offset = _best_gap(lo[:i][live], hi[:i][live], buf.size)
        start[i], end[i], lo[i], hi[i] = buf.start, buf.end, buf.offset, buf.offset + buf.size
    return sorted(placed, key=lambda b: b.offset)


def _best_gap(lo, hi, size):
    """The offset for ``size`` bytes among busy ranges [lo, hi): walking them by offset, the
    gap before each range starts where the ranges before it end (aligned); the first of the
    smallest gaps that fit, else the end of them all."""
    if not len(lo):
        return 0
    order = np.lexsort((hi, lo))
    lo, hi = lo[order], -(-hi[order] // ALIGN) * ALIGN
    cursor = np.concatenate(([0], np.maximum.accumulate(np.maximum(hi, 0))[:-1]))   # (where each gap starts)
    gaps = lo - cursor
    fits = np.flatnonzero(gaps >= size)
    if not len(fits):
        return max(int(hi.max()), 0)
    best = fits[np.argmin(gaps[fits])]
    return int(cursor[best])
