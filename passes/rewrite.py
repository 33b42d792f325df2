"""Building a rewritten copy of a graph: the one mechanism every pass uses.

A pass walks the source graph in topological order and, for each node, either
copies it (with its inputs mapped to their rewritten versions) or maps it to some
other node of the new graph. Names and source lines are kept; new nodes get fresh
names that cannot collide with any name of the source graph.
"""
from ..ir import Graph
from ..ir.analysis import fresh_name, reachable


class Rewriter:
    """``out`` is the graph being built; ``mapping`` takes source nodes to new nodes."""

    def __init__(self, source):
        self.source = source
        self.out = Graph()
        self.mapping = {}
        self._taken = {n.name for n in source.nodes}

    def inputs_of(self, node):
        return [self.mapping[x] for x in node.inputs]

    def copy(self, node, inputs=None, attrs=None):
        """``node`` in the new graph (same name, op and location), with mapped inputs."""
        inputs = self.inputs_of(node) if inputs is None else inputs
        new = self.out.add_node(node.op, inputs, node.attrs if attrs is None else attrs,
                                name=node.name, loc=node.loc, exact_name=True,
                                known_type=_type_if_unchanged(node, inputs) if attrs is None else None)
        self.mapping[node] = new
        return new

    def add(self, op, inputs, attrs, like, hint=None):
        """A new node built for source node ``like`` (its location, a fresh name)."""
        name = self.fresh_name(hint or f"{like.name}/{op}")
        return self.out.add_node(op, inputs, attrs, name=name, loc=like.loc, exact_name=True)

    def fresh_name(self, base):
        name = fresh_name(base, self._taken.__contains__)
        self._taken.add(name)
        return name

    def finish(self):
        """The new graph, its outputs the images of the source's outputs, dead nodes dropped."""
        outputs = tuple(self.mapping[n] for n in self.source.outputs)
        return live_copy(self.out, outputs)


def live_copy(graph, outputs):
    """``graph`` restricted to what ``outputs`` need, with those outputs (same names).

    ``graph`` itself is returned (its outputs set) when every node is live.
    """
    live = reachable(outputs)
    if len(live) == len(graph):
        graph.outputs = tuple(outputs)
        return graph
    out, mapping = Graph(), {}
    for node in graph.nodes:
        if node in live:
            mapping[node] = out.add_node(node.op, [mapping[x] for x in node.inputs], node.attrs,
                                         name=node.name, loc=node.loc, exact_name=True,
                                         known_type=(node.dtype, node.shape))   # (inputs copied as they were)
    out.outputs = tuple(mapping[n] for n in outputs)
    return out


def _type_if_unchanged(node, inputs):
    """``node``'s (dtype, shape) when ``inputs`` have its inputs' types (type inference reads
    only the inputs' types and the attrs), else None (infer again)."""
    if len(inputs) != len(node.inputs):
        return None
    for new, old in zip(inputs, node.inputs):
        if new is not old and (new.shape != old.shape or new.dtype is not old.dtype and new.dtype != old.dtype):
            return None
    return node.dtype, node.shape

