"""Which variable updates a run writes straight into the variable's own buffer.

An update's value is normally computed into a fresh array that the session then keeps
as the variable's storage. Writing it in place instead saves the allocation and a
pass over memory, and is safe when nothing can still need the old value:

- the kernel computing the value is the last one to read the variable (kernels run
  one after another, in schedule order);
- if that kernel reads the variable itself, it reads each element only to compute the
  element at the same position (every op between the read and the output is
  elementwise at the output's shape), so no element is read after it is written. A
  matmul kernel whose epilogue reads the variable that way gets a private buffer for
  its product (the product no longer lands in the output buffer first);
- the value is not also fetched (the caller's array must not be the variable's);
- the run cannot fail once kernels start writing: the executor applies this only on
  its all-native fast path (native kernels have no failure mode; feeds are checked
  before anything runs).
"""
from collections import Counter

from ..ops import ELEMENTWISE
from ..passes.memory import is_view


def _base(node):
    while is_view(node):
        node = node.inputs[0]
    return node


def _reads_in_step(kernel_node, var):
    """Whether ``kernel_node`` reads ``var`` only at its output's own positions; and
    whether it is a matmul kernel that then needs a private product buffer."""
    if kernel_node.op != "fused":
        ok = kernel_node.opdef.kind == ELEMENTWISE and kernel_node.op != "full_like" \
            and all(x is not var or x.shape == kernel_node.shape for x in kernel_node.inputs)
        return ok, False
    body = kernel_node.attrs["body"]
    params = [n for n in body.nodes if n.op == "placeholder"]
    mine = {p for p, x in zip(params, kernel_node.inputs) if x is var}
    root = body.outputs[0]
    reached = set(mine)
    for node in body.nodes:   # topological: every node reached from the variable's placeholder
        if any(x in reached for x in node.inputs):
            if node.opdef.kind != ELEMENTWISE or node.shape != root.shape:
                return False, False
            reached.add(node)
    if any(p.shape != root.shape for p in mine):
        return False, False
    return True, kernel_node.attrs.get("kind") == "matmul"


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
            base = _base(x)
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
        ok, private = _reads_in_step(node, var)
        if ok:
            chosen[node] = (name, private)
    return chosen
