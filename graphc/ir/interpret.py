"""The graph interpreter: a graph run node by node with the ops' numpy references.

It is the semantic definition every backend is tested against: ``device="reference"``
runs it, backends fall back to it for kernels they do not lower, constant folding and
the fused op's reference use it. Values are dropped after their last use.
"""
import numpy as np

from ..errors import ExecutionError, GraphcError
from .analysis import frees_after


def run_graph(graph, feeds, variables, after=None):
    """Evaluate ``graph.outputs``; ``feeds`` and ``variables`` map names to arrays.
    ``after(node, value, inputs)``, if given, sees every computed value as it is made."""
    env = {}
    frees = frees_after(graph.nodes, graph.outputs or ())
    with np.errstate(all="ignore"):
        for node, dead in zip(graph.nodes, frees):
            if node.op == "placeholder":
                env[node] = read_only(feeds[node.name])
            elif node.op == "variable":
                env[node] = read_only(variables[node.name])
            else:
                inputs = [env[x] for x in node.inputs]
                env[node] = compute(node, inputs)
                if after is not None:
                    after(node, env[node], inputs)
            for x in dead:
                del env[x]
    return [env[n] for n in graph.outputs]


def compute(node, values):
    """``node``'s value from its input values by its op's reference; errors name the node."""
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
