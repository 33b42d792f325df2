"""``Compiled.explain()``: what the compiler decided for one program, as data and as text.

For every edge the fusion pass did not fuse, the reason; for every arena buffer, its size,
offset and live range (schedule steps); the step where the most arena bytes are live and
the buffers live there with their source lines; totals: kernels, bytes the kernels move
per run (each kernel reads its inputs and writes its output once), arena bytes, FLOPs.
"""
import textwrap
from dataclasses import dataclass, field

import numpy as np

from ..ir.analysis import runs_kernel
from ..ops.registry import ELEMENTWISE, REDUCTION
from ..passes.memory import nbytes

TIMELINE_WIDTH = 48   # columns of the text timeline


@dataclass(frozen=True)
class BufferUse:
    """One arena buffer: the values stored in it in turn (an in-place chain)."""
    values: tuple
    size: int
    offset: int
    start: int          # the schedule step that writes it first
    end: int            # the last step that reads it
    locs: tuple         # the values' source lines


@dataclass
class Explanation:
    unfused: list                   # passes.fuse.Decision of each edge not fused
    buffers: list                   # BufferUse, by start
    steps: int                      # schedule steps (the final IR's nodes)
    peak_step: int | None           # the step where the most arena bytes are live
    peak_live_bytes: int
    live_at_peak: list              # BufferUse live there
    kernels: int
    bytes_moved: int
    arena_bytes: int
    flops: int
    fused_kernels: dict = field(default_factory=dict)   # kernel name -> the ops it covers

    def __str__(self):
        lines = [f"{self.kernels} kernels, {_size(self.bytes_moved)} moved per run, arena {_size(self.arena_bytes)}, "
                 f"{_count(self.flops)} FLOPs"]
        inputs = [d for d in self.unfused if d.reason.endswith("is read as a kernel input")]
        decided = [d for d in self.unfused if d not in inputs]
        lines += ["", f"not fused ({len(decided)} edges, and {len(inputs)} reads of feeds, variables and constants):"]
        lines += [f"  %{d.producer} -> %{d.consumer}: {d.reason}" for d in decided] or ["  (none)"]
        if inputs:
            lines += textwrap.wrap("kernel inputs: " + ", ".join(f"%{d.producer} -> %{d.consumer}" for d in inputs),
                                   width=100, initial_indent="  ", subsequent_indent="    ")
        lines += ["", f"buffers ({len(self.buffers)}; steps 0..{max(self.steps - 1, 0)}):"]
        width = max((len(" <- ".join(b.values)) for b in self.buffers), default=0)
        width = min(width, 40)
        for b in self.buffers:
            name = " <- ".join(b.values)
            name = name if len(name) <= width else name[:width - 1] + "…"
            lines.append(f"  {name:<{width}}  {_size(b.size):>9} @ {b.offset:<9} {_bar(b, self.steps)}  "
                         f"{b.start}..{b.end}")
        if self.peak_step is not None:
            lines += ["", f"peak: {_size(self.peak_live_bytes)} live at step {self.peak_step}:"]
            for b in self.live_at_peak:
                where = ", ".join(loc for loc in b.locs if loc) or "(no source line)"
                lines.append(f"  %{b.values[0]}  {_size(b.size)}  {where}")
        return "\n".join(lines)


def explain(compiled):
    """The :class:`Explanation` of a compiled program (runtime.compiler.Compiled)."""
    graph, plan, fusion = compiled.graph, compiled.memory_plan, compiled.fusion
    nodes = {n.name: n for n in graph.nodes}
    buffers = []
    for b in sorted(plan.buffers if plan else [], key=lambda b: (b.start, b.offset)):
        locs = tuple(nodes[v].loc if v in nodes else None for v in b.values)
        buffers.append(BufferUse(tuple(b.values), b.size, b.offset, b.start, b.end, locs))
    steps = len(graph.nodes)
    live = [sum(b.size for b in buffers if b.start <= s <= b.end) for s in range(steps)]
    peak = int(np.argmax(live)) if buffers else None
    kernels = [n for n in graph.nodes if runs_kernel(n)]
    return Explanation(
        unfused=[d for d in (fusion.decisions if fusion else []) if not d.fused],
        buffers=buffers, steps=steps, peak_step=peak, peak_live_bytes=live[peak] if peak is not None else 0,
        live_at_peak=[b for b in buffers if peak is not None and b.start <= peak <= b.end],
        kernels=len(kernels),
        bytes_moved=sum(map(bytes_moved, kernels)),
        arena_bytes=plan.peak_bytes if plan else 0,
        flops=sum(flops(n) for n in kernels),
        fused_kernels=dict(fusion.kernels) if fusion else {})


def flops(node):
    """Floating-point operations of one node (a fused kernel: its body's): 2 per multiply-add
    of a product or convolution, one per output of an elementwise op, one per input element
    of a reduction; none for data movement."""
    if node.op == "fused":
        return sum(flops(n) for n in node.attrs["body"].nodes)
    if node.dtype is None or node.shape is None:
        return 0
    if node.op == "matmul":
        a = node.inputs[0]
        return 2 * _elements(node) * (a.shape[-1] if a.shape else 1)
    if node.op == "conv2d":
        w = node.inputs[1]   # (out channels, in channels / groups, kh, kw)
        return 2 * _elements(node) * int(np.prod(w.shape[1:]))
    kind = node.opdef.kind
    if kind == ELEMENTWISE:
        return _elements(node)
    if kind == REDUCTION:
        return _elements(node.inputs[0])
    return 0


def _elements(node):
    return int(np.prod(node.shape)) if node.shape is not None else 0


def bytes_moved(kernel):
    """Bytes a kernel node moves per run: each input read once, the output written once."""
    return sum(nbytes(x) for x in dict.fromkeys(kernel.inputs)) + nbytes(kernel)


def _bar(buffer, steps):
    """The buffer's live range as a bar over the schedule, TIMELINE_WIDTH columns."""
    cols = min(TIMELINE_WIDTH, max(steps, 1))
    first, last = buffer.start * cols // max(steps, 1), buffer.end * cols // max(steps, 1)
    return "|" + "".join("#" if first <= c <= last else "." for c in range(cols)) + "|"


def _size(n):
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _count(n):
    for unit, scale in (("G", 10 ** 9), ("M", 10 ** 6), ("k", 10 ** 3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)
