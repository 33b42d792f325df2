"""From a user graph, fetches and feed specs to a :class:`Compiled` program.

Stage ``specialize``: keep only what the fetches need (fed tensors cut the graph
there and become placeholders), and re-infer every shape with the fed shapes so
the compiled IR has static shapes throughout.
"""
from ..errors import FeedError
from ..ir import Graph
from .reference import run_graph


class Compiled:
    """A compiled program for one (fetches, feed shapes/dtypes, device, options).

    ``stages`` names the IR stages in order; ``ir(stage)`` prints one (the last by
    default); ``graph`` is the final IR whose ``outputs`` are the fetches.
    """

    def __init__(self, stages, feed_names, device):
        self._stages = dict(stages)
        self.graph = stages[-1][1]
        self.feed_names = tuple(feed_names)
        self.device = device

    @property
    def stages(self):
        return list(self._stages)

    def ir(self, stage=None, blobs=False):
        """IR text of ``stage`` (the last when None); large constants elided unless ``blobs``."""
        if stage is None:
            stage = self.stages[-1]
        if stage not in self._stages:
            raise KeyError(f"no stage {stage!r}; stages are {self.stages}")
        return self._stages[stage].to_text(blobs=blobs)

    def variable_names(self):
        return [n.name for n in self.graph.nodes if n.op == "variable"]

    def run(self, feeds, variables):
        """Values of the outputs, given feed arrays (by name) and variable arrays (by name)."""
        return run_graph(self.graph, feeds, variables)

    def __repr__(self):
        return f"<graphc.Compiled stages={self.stages} nodes={len(self.graph)} device={self.device!r}>"


def needed_nodes(fetch_nodes, fed):
    """Nodes the fetches depend on, stopping at fed nodes; in graph order."""
    seen, stack = set(), list(fetch_nodes)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node not in fed:
            stack.extend(node.inputs)
    return seen


def _check_placeholders_fed(needed, fed, fetch_nodes):
    for node in needed:
        if node.op == "placeholder" and node not in fed:
            users = ", ".join(f"'{f.name}'" for f in fetch_nodes)
            raise FeedError(f"placeholder '{node.name}' {node.type}"
                            + (f" (built at {node.loc})" if node.loc else "")
                            + f" must be fed: fetches {users} depend on it")


def specialize(graph, fetch_nodes, feed_specs):
    """The pruned, statically shaped graph computing ``fetch_nodes``.

    ``feed_specs`` maps fed nodes to (dtype, shape).
    """
    needed = needed_nodes(fetch_nodes, feed_specs)
    _check_placeholders_fed(needed, feed_specs, fetch_nodes)
    out = Graph()
    mapping = {}
    for node in graph.nodes:
        if node not in needed:
            continue
        if node in feed_specs:
            dtype, shape = feed_specs[node]
            new = out.add_node("placeholder", (), {"dtype": dtype, "shape": shape},
                               name=node.name, loc=node.loc, exact_name=True)
        else:
            attrs = node.attrs
            new = out.add_node(node.op, [mapping[x] for x in node.inputs], attrs,
                               name=node.name, loc=node.loc, exact_name=True)
        mapping[node] = new
    out.outputs = tuple(mapping[n] for n in fetch_nodes)
    return out


def compile_program(graph, fetch_nodes, feed_specs, device):
    specialized = specialize(graph, fetch_nodes, feed_specs)
    feed_names = [n.name for n in specialized.nodes if n.op == "placeholder"]
    return Compiled([("specialize", specialized)], feed_names, device)
