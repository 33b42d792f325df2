"""The IR node: one immutable, typed operation in a graph."""
from types import MappingProxyType

from ..dtypes import short_name
from ..ops.registry import get_op

_set = object.__setattr__   # (Node's own __setattr__ refuses: nodes are immutable)


def type_str(dtype, shape):
    """IR type text, e.g. ``f32[?,784]``; ``none`` for ops without a value."""
    if dtype is None:
        return "none"
    return f"{short_name(dtype)}[{','.join('?' if d is None else str(d) for d in shape)}]"


class Node:
    """One operation: ``op`` applied to ``inputs`` (Nodes) with ``attrs``.

    ``dtype`` and ``shape`` describe its single output (both None for effect ops
    such as the variable initializer); ``loc`` is the user's ``file:line`` that
    built it. Nodes are immutable; passes build new graphs instead of editing.
    """

    __slots__ = ("graph", "op", "inputs", "attrs", "dtype", "shape", "name", "loc")

    def __init__(self, graph, op, inputs, attrs, dtype, shape, name, loc):
        """``attrs``: a dict of the node's own (not copied: the caller hands it over)."""
        _set(self, "graph", graph)
        _set(self, "op", op)
        _set(self, "inputs", tuple(inputs))
        _set(self, "attrs", MappingProxyType(attrs))   # read-only view: attrs cannot be edited either
        _set(self, "dtype", dtype)
        _set(self, "shape", None if shape is None else tuple(shape))
        _set(self, "name", name)
        _set(self, "loc", loc)

    def __setattr__(self, name, value):
        raise AttributeError("graphc IR nodes are immutable")

    def __delattr__(self, name):
        raise AttributeError("graphc IR nodes are immutable")

    def __reduce__(self):
        # by name in its graph (pickled once, as a whole: Graph.__getstate__), so a pickle
        # of plans and reports that name nodes never recurses along long chains of inputs
        return _node_named, (self.graph, self.name)

    @property
    def opdef(self):
        return get_op(self.op)

    @property
    def type(self):
        return type_str(self.dtype, self.shape)

    def where(self):
        """``'op' name (file:line)`` — how errors point at this node."""
        return f"{self.op} '{self.name}'" + (f" (built at {self.loc})" if self.loc else "")

    def __repr__(self):
        return f"<Node %{self.name}: {self.type} = {self.op}>"


def _node_named(graph, name):
    return graph.node(name)
