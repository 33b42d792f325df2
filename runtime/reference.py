"""The reference executor: runs a graph node by node with the ops' numpy references.

It is the semantic definition every backend is tested against. Values are freed
after their last use (the liveness that memory planning later builds on).
"""
import numpy as np

from ..errors import ExecutionError, GraphcError


def last_uses(graph):
    """For each node index, the nodes whose value is last read there."""
    last = {}
    for i, node in enumerate(graph.nodes):
        for x in node.inputs:
            last[x] = i
    for x in graph.outputs or ():
        last[x] = len(graph.nodes)
    frees = [[] for _ in graph.nodes]
    for node, i in last.items():
        if i < len(graph.nodes):
            frees[i].append(node)
    return frees


def run_graph(graph, feeds, variables, after=None):
    """Evaluate ``graph.outputs``; ``feeds`` and ``variables`` map names to arrays.
    ``after(node, value, inputs)``, if given, sees every computed value as it is made."""
    env = {}
    frees = last_uses(graph)
    with np.errstate(all="ignore"):
        for i, node in enumerate(graph.nodes):
            if node.op == "placeholder":
                env[node] = read_only(feeds[node.name])
            elif node.op == "variable":
                env[node] = read_only(variables[node.name])
            else:
                inputs = [env[x] for x in node.inputs]
                env[node] = compute(node, inputs)
                if after is not None:
                    after(node, env[node], inputs)
            for dead in frees[i]:
                del env[dead]
    return [env[n] for n in graph.outputs]


def compute(node, values):
    try:
        result = node.opdef.compute(values, **node.attrs)
    except GraphcError:
        raise
    except Exception as e:
        raise ExecutionError(f"{node.where()} failed: {type(e).__name__}: {e}") from e
    if node.dtype is None:
        return result
    result = np.asarray(result)
    if result.dtype != node.dtype or result.shape != node.shape:
        raise ExecutionError(f"{node.where()}: reference produced {result.dtype}{list(result.shape)}, "
                             f"expected {node.type} (an op definition is inconsistent)")
    return result


def read_only(array):
    """A view no op or caller can write through (session state and feeds stay intact)."""
    view = array.view()
    view.flags.writeable = False
    return view
