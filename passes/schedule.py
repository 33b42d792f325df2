"""Scheduling: the order kernels run in.

Depth-first from the outputs (post-order, inputs in order): each value is produced
just before the kernels that read it, which keeps live ranges short for the memory
planner (the order TensorFlow and XLA default to). Sources come first, as given.
"""
from ..ops import SOURCE
from .rewrite import Rewriter


def schedule(graph):
    """The same graph with its nodes in depth-first post-order from the outputs."""
    import networkx as nx   # imported here: it costs ~0.1 s, which `import graphc` should not pay
    deps = nx.DiGraph()
    for node in graph.nodes:
        deps.add_node(node)
        deps.add_edges_from((node, x) for x in node.inputs)   # edges point at what a node needs
    order = []
    placed = set()
    for out in graph.outputs:
        for node in nx.dfs_postorder_nodes(deps, out):
            if node not in placed:
                placed.add(node)
                order.append(node)
    rw = Rewriter(graph)
    position = {n: i for i, n in enumerate(graph.nodes)}
    for node in sorted((n for n in order if n.opdef.kind == SOURCE), key=position.get):
        rw.copy(node)
    for node in order:
        if node.opdef.kind != SOURCE:
            rw.copy(node)
    return rw.finish()
