"""``Graph.to_networkx()``: a graph as a ``networkx.DiGraph``, to analyze with the library
users know. networkx is imported here only, when asked (it costs ~0.2 s to import)."""
import numpy as np

from .node import type_str


def to_networkx(graph):
    """A DiGraph with a node per IR node, keyed by name, with attributes ``op``, ``kind``,
    ``dtype`` (numpy's name, None for ops without a value), ``shape``, ``type`` (the IR text's
    ``f32[?,4]``), ``loc`` (the user's source line) and ``attrs`` (the op's attributes; arrays
    as their shape and dtype); a fused kernel's also ``covers`` (its body's ops, by name) and
    ``body`` (its body as a DiGraph). An edge per producer -> consumer, with ``slots`` (the
    consumer's input positions it feeds) and ``shape``."""
    import networkx as nx
    g = nx.DiGraph()
    for node in graph.nodes:
        extra = {}
        if node.op == "fused":
            body = node.attrs["body"]
            extra = {"covers": [n.name for n in body.nodes if n.op not in ("placeholder", "constant")],
                     "body": to_networkx(body)}
        g.add_node(node.name, op=node.op, kind=node.opdef.kind,
                   dtype=None if node.dtype is None else np.dtype(node.dtype).name, shape=node.shape,
                   type=type_str(node.dtype, node.shape) if node.dtype is not None else "none", loc=node.loc,
                   attrs={k: _attr(v) for k, v in node.attrs.items() if k != "body"}, **extra)
        for slot, x in enumerate(node.inputs):
            if g.has_edge(x.name, node.name):
                g.edges[x.name, node.name]["slots"].append(slot)
            else:
                g.add_edge(x.name, node.name, slots=[slot], shape=x.shape)
    return g


def _attr(value):
    if isinstance(value, np.ndarray):
        return f"array {type_str(value.dtype, value.shape)}"
    return value
