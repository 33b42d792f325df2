"""Which variable updates a run writes straight into the variable's own buffer.

An update's value is normally computed into a fresh array that the session then keeps
as the variable's storage. Writing it in place instead saves the allocation and a
pass over memory, and is safe when nothing can still need the old value:

- the kernel computing the value is the last one to read the variable (kernels run in
  schedule order; two that run side by side never touch the same memory, see
  runtime.cpu.pairing);
- if that kernel reads the variable itself, it reads each element only to compute the
  element at the same position (every op between the read and the output is
  elementwise at the output's shape), so no element is read after it is written. A
  matmul or convolution kernel whose epilogue reads the variable that way gets a private
  buffer for its product (the product no longer lands in the output buffer first);
- the value is not also fetched (the caller's array must not be the variable's);
- the run cannot fail once kernels start writing: the executor applies this only on
  its all-native fast path (native kernels have no failure mode; feeds are checked
  before anything runs).
"""
from collections import Counter

from ..ir.analysis import is_view, view_base
from ..passes.memory import reads_at_own_position


def inplace_updates(graph, updates, fetched):
    """``{kernel node: (variable name, needs a private product buffer)}`` for the updates
    (``(variable name, output position)`` pairs) that may be written in place."""
    order = {n: i for i, n in enumerate(graph.nodes)}
    variables = {n.name: n for n in graph.nodes if n.op == "variable"}
    readers = {}
    for node in graph.nodes:
        if is_view(node):
            continue
        for x in node.inputs:
            base = view_base(x)
            if base.op == "variable":
                readers.setdefault(base.name, []).append((node, x))
    uses = Counter(graph.outputs)
    fetched = {p for p in fetched if p is not None}
    chosen = {}
    for name, position in updates:
        node = graph.outputs[position]
        if position in fetched or uses[node] > 1 or node in chosen or node.opdef.kind in ("source", "effect") \
                or is_view(node):
            continue
        var = variables.get(name)
        reads = readers.get(name, [])
        if any(order[reader] > order[node] for reader, _ in reads):
            continue
        own = [x for reader, x in reads if reader is node]
        if not own:
            chosen[node] = (name, False)
            continue
        if any(x is not var for x in own):
            continue    # read through a view: positions differ
        if reads_at_own_position(node, var):   # a matmul kernel then keeps its product apart
            chosen[node] = (name, node.op == "fused" and node.attrs["kind"] in ("matmul", "conv"))
    return chosen
