"""Updating variables: ``assign``, ``assign_add``, ``assign_sub``, ``group`` and
``control_dependencies``.

Semantics of one ``sess.run``: every read of a variable sees its value from before
the run, and every update the run performs (fetched, grouped, or reached through a
control dependency) commits together at its end. So ``[gc.assign(a, b),
gc.assign(b, a)]`` swaps a and b, whatever the order. A variable may be updated at
most once per run. A run that fails commits nothing.
"""
from contextlib import contextmanager

from .builder import as_tensor, graph_of, located, make
from .errors import GraphcError
from .ir.graph import get_default_graph
from .math_ops import cast
from .tensor import Operation, Tensor, Variable


def _variable(var, what):
    if not isinstance(var, Variable):
        raise GraphcError(f"{what} needs a gc.Variable, got {var!r}")
    return var


@located
def assign(var, value, name=None):
    """An update setting ``var`` to ``value`` when run. Fetching it gives the new value."""
    var = _variable(var, "assign")
    value = as_tensor(value, dtype=var.dtype, graph=var.graph)
    if value.dtype != var.dtype:
        value = cast(value, var.dtype)
    if value.shape != var.shape and not value.shape:
        value = make("broadcast_to", (value,), {"shape": var.shape})
    return make("assign", (var, value), name=name or "Assign")


@located
def assign_add(var, delta, name=None):
    """An update adding ``delta`` to ``var`` (reads the value from before the run)."""
    return assign(_variable(var, "assign_add"), var + delta, name=name or "AssignAdd")


@located
def assign_sub(var, delta, name=None):
    """An update subtracting ``delta`` from ``var`` (reads the value from before the run)."""
    return assign(_variable(var, "assign_sub"), var - delta, name=name or "AssignSub")


@located
def group(*ops, name=None):
    """One Operation that runs all of ``ops`` (updates, other groups, or tensors)."""
    ops = [o for item in ops for o in (item if isinstance(item, (list, tuple)) else (item,))]
    for o in ops:
        if not isinstance(o, (Tensor, Operation)):
            raise GraphcError(f"group takes Tensors and Operations, got {o!r}")
    graph = graph_of(*ops) if ops else get_default_graph()
    for o in ops:
        if o.graph is not graph:
            raise GraphcError(f"group: '{o.name}' belongs to another graph")
    return graph.tensor(graph.add_node("group", [o.node for o in ops], name=name or "group"))


@contextmanager
def control_dependencies(ops):
    """Nodes built inside the block also run ``ops`` (updates, groups, tensors) whenever
    a run needs them. Reads still see the values from before the run: this orders
    nothing, it only adds work to the run (use it to attach updates to a fetch)."""
    ops = [o for o in ops if o is not None]
    graph = graph_of(*ops) if ops else get_default_graph()
    with graph.control_dependencies([o.node for o in ops]):
        yield


def global_variables(graph=None):
    """Every Variable of ``graph`` (the default graph), in creation order."""
    graph = graph or get_default_graph()
    return [graph.tensor(n) for n in graph.variables()]


def trainable_variables(graph=None):
    """The Variables created with ``trainable=True`` (what optimizers update by default)."""
    return [v for v in global_variables(graph) if v.trainable]
