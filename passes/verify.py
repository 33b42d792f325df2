"""The IR verifier: run after every pass when a Session is made with ``verify=True``."""
from ..errors import GraphcError, GraphError
from ..ops import EFFECT
from ..ops.fused import FUSED


def verify(graph, where="graph"):
    """Raise GraphError unless ``graph`` is well formed.

    Checks: names unique; every input defined earlier in this graph (so it is acyclic
    and topologically ordered); every node's dtype and shape equal what its op infers
    from its inputs (typed edges); outputs belong to the graph; fused bodies are
    themselves well formed, take one placeholder per kernel input with matching
    types, and compute the kernel's type.
    """
    seen, names = set(), set()
    for node in graph.nodes:
        label = f"{where}: node %{node.name}"
        if node.graph is not graph:
            raise GraphError(f"{label} belongs to another graph")
        if node.name in names:
            raise GraphError(f"{label}: duplicate name")
        names.add(node.name)
        for x in node.inputs:
            if x not in seen:
                raise GraphError(f"{label}: input %{x.name} is not defined before it (cycle or foreign node)")
        try:
            dtype, shape = node.opdef.infer(list(node.inputs), **node.attrs)
        except GraphcError as e:
            raise GraphError(f"{label}: its op rejects its inputs: {e}") from None
        if (dtype, None if shape is None else tuple(shape)) != (node.dtype, node.shape):
            raise GraphError(f"{label}: typed {node.type} but {node.op} infers a different type")
        if any(d is None for d in node.shape or ()):
            raise GraphError(f"{label}: compiled graphs must have static shapes, got {node.type}")
        if node.op == "fused":
            verify_body(node, label)
        seen.add(node)
    for out in graph.outputs or ():
        if out not in seen:
            raise GraphError(f"{where}: output %{out.name} is not a node of the graph")


def verify_body(node, label):
    body = node.attrs["body"]
    verify(body, f"{label} body")
    params = [n for n in body.nodes if n.op == "placeholder"]
    if len(params) != len(node.inputs):
        raise GraphError(f"{label}: {len(node.inputs)} inputs but {len(params)} body placeholders")
    for x, p in zip(node.inputs, params):
        if (x.dtype, x.shape) != (p.dtype, p.shape):
            raise GraphError(f"{label}: input %{x.name} {x.type} does not match body parameter {p.type}")
    if body.outputs is None or len(body.outputs) != 1:
        raise GraphError(f"{label}: a fused body has exactly one output")
    for inner in body.nodes:   # a body computes values from its parameters (placeholders) and constants
        kind, opdef = inner.opdef.kind, inner.opdef
        if kind in (EFFECT, FUSED) or (opdef.runtime_value and inner.op != "placeholder"):
            raise GraphError(f"{label}: {inner.op} may not appear inside a fused body")
