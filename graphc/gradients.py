"""``gc.gradients``: reverse-mode differentiation on the IR.

The gradient of ``ys`` with respect to ``xs`` is built as more nodes of the same graph,
so the backward pass is compiled, fused and memory-planned together with the forward
pass it reads. Each primitive op has one gradient rule (graphc.grad_rules); composites
(softmax, conv2d, pooling, layer_norm...) are differentiated through their primitives.

Only floating-point values carry gradients: integer and bool paths (indices, masks,
comparisons, argmax) stop them, as do ``gc.stop_gradient`` and ops without a derivative
(floor, round, sign...: their op definition says ``differentiable=False``). An ``x``
that no ``y`` depends on through such a path gets ``None``, as in TF1.
"""
from . import dtypes as dt
from .builder import as_tensor, located
from .errors import GraphcError, GraphError
from .array_ops import full_like
from .grad_rules import RULES
from .ir.analysis import reachable
from .tensor import Tensor


def _differentiable(node):
    return node.dtype is not None and dt.is_float(node.dtype)


def _between(ys, xs):
    """Nodes on some path from an x to a y (float-valued ones only), in creation order."""
    graph = ys[0].graph
    reaches_y = reachable([y.node for y in ys])
    x_nodes = {x.node for x in xs}
    from_x = set(x_nodes)
    order = []
    for node in graph.nodes:   # creation order is a topological order
        if node in from_x or any(i in from_x for i in node.inputs if _differentiable(i)):
            # an op that is not differentiable (stop_gradient, floor...) cuts paths through
            # it, but is itself an x like any other tensor
            if _differentiable(node) and (node.opdef.differentiable or node in x_nodes):
                from_x.add(node)
                if node in reaches_y:
                    order.append(node)
    return order, from_x


def _as_list(values, what):
    if isinstance(values, (list, tuple)):
        return list(values)
    if values is None:
        raise GraphcError(f"gradients: {what} is None")
    return [values]


@located
def gradients(ys, xs, grad_ys=None, name="gradients"):
    """Symbolic d(sum of ``ys``)/d``x`` for each x in ``xs`` (TF1 ``tf.gradients``).

    ``ys`` and ``xs`` are Tensors or lists of them; ``grad_ys`` (same structure as ys)
    seeds the backward pass instead of ones. Returns a list with one Tensor per x (its
    shape and dtype), or None where no y depends on x through differentiable ops.
    """
    ys = [as_tensor(y) for y in _as_list(ys, "ys")]
    xs = _as_list(xs, "xs")
    for x in xs:
        if not isinstance(x, Tensor):
            raise GraphcError(f"gradients: xs must be Tensors, got {type(x).__name__}")
    graph = ys[0].graph
    if any(t.graph is not graph for t in ys + xs):
        raise GraphError("gradients: ys and xs come from different graphs")
    seeds = [None] * len(ys) if grad_ys is None else _as_list(grad_ys, "grad_ys")
    if len(seeds) != len(ys):
        raise GraphcError(f"gradients: {len(ys)} ys but {len(seeds)} grad_ys")
    order, _ = _between(ys, xs)
    on_path = set(order)
    pending = {}   # node -> list of gradient contributions (Tensors of the node's shape)
    with graph.name_scope(name):
        for y, seed in zip(ys, seeds):
            if y.node not in on_path:
                continue
            g = full_like(y, 1.0) if seed is None else as_tensor(seed, dtype=y.dtype)
            if g.shape != y.shape and None not in g.shape + y.shape:
                raise GraphcError(f"gradients: grad_ys for '{y.name}' has shape {g.shape}, expected {y.shape}")
            pending.setdefault(y.node, []).append(g)
        totals = {}
        for node in reversed(order):
            contributions = pending.pop(node, None)
            if not contributions:
                continue
            totals[node] = g = _total(contributions)
            if node.opdef.kind == "source" or not node.opdef.differentiable:
                continue
            rule = RULES.get(node.op)
            if rule is None:
                raise GraphcError(f"gradients: op '{node.op}' ('{node.name}', built at {node.loc}) "
                                  "has no gradient rule")
            inputs = [graph.tensor(x) for x in node.inputs]
            for x, gx in zip(node.inputs, rule(graph.tensor(node), g, *inputs)):
                if gx is not None and x in on_path:
                    pending.setdefault(x, []).append(gx)
        out = [totals.get(x.node) for x in xs]
    return out


def _total(contributions):
    total = contributions[0]
    for c in contributions[1:]:
        total = total + c
    return total
