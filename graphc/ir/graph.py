"""The graph: an append-only DAG of nodes in topological (creation) order."""
import re
import threading
from contextlib import contextmanager

import numpy as np

from ..errors import GraphcError, GraphError
from ..ops.registry import get_op
from ..ops.shapes import fmt_shape
from .node import Node

NAME_RE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]*\Z")


class Graph:
    """A dataflow graph. Build into it with ``with g.as_default():``.

    Nodes are appended in creation order, which is always a topological order.
    ``outputs`` is None for user graphs and holds the fetched nodes of a
    compiled graph.
    """

    def __init__(self):
        self._nodes = []
        self._by_name = {}
        self._name_counts = {}
        self._scopes = []
        self._tensors = {}
        self._control = []          # stack of node lists (control_dependencies blocks)
        self.control_inputs = {}    # node -> nodes that must also run when it runs
        self.outputs = None

    # -- building ---------------------------------------------------------
    def add_node(self, op, inputs=(), attrs=None, name=None, loc=None, exact_name=False, known_type=None):
        """Create a node, inferring its dtype and shape; errors name the op and ``loc``.

        ``exact_name`` keeps ``name`` as given (no scope, no suffix) and fails if taken.
        ``known_type``: the (dtype, shape) inference would give, known to the caller (a pass
        copying a node whose inputs' types and attrs are unchanged): not inferred again.
        """
        attrs = dict(attrs or {})
        opdef = get_op(op)
        for x in inputs:
            if x.graph is not self:
                raise GraphError(f"{op}: input '{x.name}' belongs to another graph"
                                 + (f" (at {loc})" if loc else ""))
        if opdef.arity is not None and len(inputs) != opdef.arity:
            raise GraphError(f"{op} takes {opdef.arity} inputs, got {len(inputs)}")
        if exact_name:
            if not NAME_RE.match(name) or name in self._by_name:
                raise GraphError(f"node name {name!r} is invalid or already taken")
        else:
            name = self.unique_name(name or op)
        try:
            dtype, shape = known_type if known_type is not None else opdef.infer(list(inputs), **attrs)
        except GraphcError as e:
            operands = ", ".join(f"'{x.name}' {x.type}" for x in inputs)
            where = f" at {loc}" if loc else ""
            err = type(e)(f"{op} '{name}'{where}: {e}" + (f" [operands: {operands}]" if operands else ""))
            err.located = True
            raise err from None
        node = Node(self, op, inputs, attrs, dtype, shape, name, loc)
        self._nodes.append(node)
        if self._control:
            self.control_inputs[node] = tuple(dict.fromkeys(n for block in self._control for n in block))
        self._by_name[name] = node
        return node

    def unique_name(self, base):
        """``base`` under the current name scope, made unique as TF1 does (add, add_1, ...)."""
        if not NAME_RE.match(base):
            raise GraphError(f"invalid node name {base!r}: use letters, digits and _ . / -")
        full = "/".join(self._scopes + [base])
        if full not in self._by_name and full not in self._name_counts:
            self._name_counts[full] = 0
            return full
        n = self._name_counts.get(full, 0)
        while True:
            n += 1
            candidate = f"{full}_{n}"
            if candidate not in self._by_name:
                self._name_counts[full] = n
                return candidate

    @property
    def current_scope(self):
        """The enclosing ``name_scope`` blocks' path (``"tower_1/dense"``; "" outside any)."""
        return "/".join(self._scopes)

    @contextmanager
    def name_scope(self, name):
        if not NAME_RE.match(name):
            raise GraphError(f"invalid name scope {name!r}")
        self._scopes.append(name)
        try:
            yield "/".join(self._scopes) + "/"
        finally:
            self._scopes.pop()

    @contextmanager
    def at_root(self):
        """Nodes built inside the block get no name scope and no control inputs (state that
        belongs to the whole graph, created on first use wherever that happens)."""
        scopes, control = self._scopes, self._control
        self._scopes, self._control = [], []
        try:
            yield
        finally:
            self._scopes, self._control = scopes, control

    @contextmanager
    def control_dependencies(self, nodes):
        """Nodes built inside the block carry ``nodes`` as control inputs."""
        self._control.append(list(nodes))
        try:
            yield
        finally:
            self._control.pop()

    @contextmanager
    def as_default(self):
        """Make this graph the default graph inside the ``with`` block."""
        _stack().append(self)
        try:
            yield self
        finally:
            _stack().pop()

    # -- pickling (the program cache: runtime.program_cache) -------------------
    def __getstate__(self):
        """The nodes as a flat list (inputs, control inputs and outputs by position), so
        pickling a long chain never recurses along it; user-facing wrappers are not kept."""
        position = {node: i for i, node in enumerate(self._nodes)}
        nodes = [(n.op, tuple(position[x] for x in n.inputs), dict(n.attrs), n.dtype, n.shape, n.name, n.loc)
                 for n in self._nodes]
        control = {position[n]: tuple(position[c] for c in cs) for n, cs in self.control_inputs.items()}
        outputs = None if self.outputs is None else tuple(position[n] for n in self.outputs)
        return {"nodes": nodes, "control": control, "outputs": outputs, "name_counts": dict(self._name_counts)}

    def __setstate__(self, state):
        """Rebuild the nodes as they were (types as recorded: nothing is inferred again)."""
        self.__init__()
        nodes = self._nodes
        for op, inputs, attrs, dtype, shape, name, loc in state["nodes"]:
            attrs = {k: _canonical(v) for k, v in attrs.items()}
            node = Node(self, op, [nodes[i] for i in inputs], attrs, _canonical(dtype), shape, name, loc)
            nodes.append(node)
            self._by_name[name] = node
        self.control_inputs = {nodes[i]: tuple(nodes[c] for c in cs) for i, cs in state["control"].items()}
        self.outputs = None if state["outputs"] is None else tuple(nodes[i] for i in state["outputs"])
        self._name_counts = state["name_counts"]

    # -- reading ----------------------------------------------------------
    @property
    def nodes(self):
        return tuple(self._nodes)

    def __len__(self):
        return len(self._nodes)

    def has_node(self, name):
        return name in self._by_name

    def node(self, name):
        try:
            return self._by_name[name]
        except KeyError:
            raise GraphError(f"no node named {name!r} in this graph") from None

    def variables(self):
        return [n for n in self._nodes if n.op == "variable"]

    # node -> its user-facing Tensor, Variable or Operation: installed by graphc.tensor (the
    # IR never imports the API built on it)
    wrap = None

    def tensor(self, node_or_name):
        """The user-facing Tensor (or Variable/Operation) of a node."""
        node = self.node(node_or_name) if isinstance(node_or_name, str) else node_or_name
        if node not in self._tensors:
            self._tensors[node] = Graph.wrap(node)
        return self._tensors[node]

    def to_networkx(self):
        """The graph as a ``networkx.DiGraph`` (graphc.ir.networkx_view: node and edge attributes)."""
        from .networkx_view import to_networkx
        return to_networkx(self)

    def to_text(self, blobs=True):
        """SSA text of the graph; ``gc.ir.parse`` reads it back exactly."""
        from .text import to_text
        return to_text(self, blobs=blobs)

    def __str__(self):
        return self.to_text()

    def __repr__(self):
        return f"<graphc.Graph with {len(self._nodes)} nodes>"


def _canonical(value):
    """numpy's own instance of a plain dtype (an unpickled one is a copy, and fast paths
    compare dtypes by identity); any other value as it is."""
    if isinstance(value, np.dtype) and value.fields is None and value.subdtype is None:
        return np.dtype(value.str)
    return value


_local = threading.local()


def _stack():
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


_global_default = [Graph()]


def get_default_graph():
    """The innermost ``as_default()`` graph, else the global default graph."""
    stack = _stack()
    return stack[-1] if stack else _global_default[0]


def reset_default_graph():
    """Replace the global default graph with a fresh one (TF1 habit)."""
    if _stack():
        raise GraphError("reset_default_graph() inside a `with graph.as_default()` block")
    _global_default[0] = Graph()


__all__ = ["Graph", "get_default_graph", "reset_default_graph", "fmt_shape"]
