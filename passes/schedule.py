"""Scheduling: the order kernels run in.

Depth-first from the outputs (post-order, inputs in order): each value is produced
just before the kernels that read it, which keeps live ranges short for the memory
planner (the order TensorFlow and XLA default to). Sources come first, as given.

The walk is a few lines of iterative DFS rather than networkx's, whose import alone
costs about 0.1 s of a fresh process's start-up budget.
"""
from ..ops import SOURCE
from .rewrite import Rewriter


def dfs_postorder(outputs):
    """Nodes reachable from ``outputs``, each after all of its inputs (inputs in order)."""
    order, placed = [], set()
    for out in outputs:
        stack = [(out, iter(out.inputs))]
        while stack:
            node, pending = stack[-1]
            child = next((x for x in pending if x not in placed), None)
            if child is not None:   # graphs are acyclic by construction (inputs precede users)
                stack.append((child, iter(child.inputs)))
                continue
            stack.pop()
            if node not in placed:
                placed.add(node)
                order.append(node)
    return order


def schedule(graph):
    """The same graph with its nodes in depth-first post-order from the outputs."""
    order = dfs_postorder(graph.outputs)
    position = {n: i for i, n in enumerate(graph.nodes)}
    rw = Rewriter(graph)
    for node in sorted((n for n in order if n.opdef.kind == SOURCE), key=position.get):
        rw.copy(node)
    for node in order:
        if node.opdef.kind != SOURCE:
            rw.copy(node)
    return rw.finish()
