"""One gradient rule per differentiable primitive op.

A rule ``rule(y, g, *inputs)`` gets the op's output Tensor ``y``, the gradient ``g``
flowing into it (y's shape and dtype) and the op's input Tensors, and returns one
gradient per input (a Tensor of that input's shape and dtype, or None where none
flows). Rules build ordinary ops, so the backward pass is fused like any other code.

Ties: the elementwise ``maximum``/``minimum`` send the gradient to the first operand
on ties (TF1; it makes ``clip`` pass the gradient at its bounds, as PyTorch's clamp
does); the reductions ``max``/``min`` share it equally among tied elements (TF1, JAX).
Ops that are piecewise constant (floor, ceil, round, sign, floor_divide, comparisons)
pass no gradient, as in TF1: their op definitions say ``differentiable=False``, so they
need no rule here. A differentiable op without a rule is a clear error in gc.gradients.
"""
import math

import numpy as np

from . import math_ops as m
from .array_ops import expand_dims, full_like, one_hot, pad, reshape, squeeze, stack, transpose
from .builder import constant, make
from .errors import GraphcError
from .ops.conv import out_size
from .ops.reductions import sum_to_steps
from .ops.registry import registrar

RULES = {}
rule = registrar(RULES)   # @rule("op", ...): the gradient rule of those ops


# -- helpers ------------------------------------------------------------------------------
def _target_shape(shape, what):
    """``shape`` for a reshape: its one unknown dim as -1."""
    if sum(d is None for d in shape) > 1:
        raise GraphcError(f"gradients: cannot {what} with more than one unknown dim in {shape}")
    return tuple(-1 if d is None else d for d in shape)


def unbroadcast(g, x):
    """``g`` summed down to the shape of ``x``: the adjoint of numpy broadcasting x to g's
    shape. Where an unknown dim of x could be 1 at run time, the decision waits for the
    fed shapes (a ``sum_to`` op, resolved when the program is compiled)."""
    lead = g.ndim - x.ndim
    if any(d is None and g.shape[lead + i] != 1 for i, d in enumerate(x.shape)):
        return make("sum_to", (g, x))
    for op, attrs in sum_to_steps(g.shape, x.shape):
        g = make(op, (g,), attrs)
    return g


def broadcast_like(g, x):
    """``g`` (broadcastable to x) broadcast to x's shape."""
    if g.shape == x.shape:
        return g
    if None not in x.shape:
        return make("broadcast_to", (g,), {"shape": x.shape})
    return g + full_like(x, 0.0, g.dtype)


def _restore_axes(g, axes, keepdims):
    """A reduction's gradient with the reduced axes back in place (size 1)."""
    return g if keepdims or not axes else expand_dims(g, axes)


def _count(x, axes):
    """How many elements each reduction over ``axes`` of x covers (a Tensor when dynamic)."""
    dims = [x.shape[a] for a in axes]
    if None not in dims:
        return float(np.prod(dims))
    return m.sum(full_like(x, 1.0), axes, keepdims=True)


def _zero_where(mask, g):
    return m.where(mask, 0.0, g)


# -- elementwise ----------------------------------------------------------------------------
@rule("add")
def _add(y, g, a, b):
    return unbroadcast(g, a), unbroadcast(g, b)


@rule("subtract")
def _subtract(y, g, a, b):
    return unbroadcast(g, a), unbroadcast(-g, b)


@rule("multiply")
def _multiply(y, g, a, b):
    return unbroadcast(g * b, a), unbroadcast(g * a, b)


@rule("divide")
def _divide(y, g, a, b):
    return unbroadcast(g / b, a), unbroadcast(-g * a / m.square(b), b)


@rule("power")
def _power(y, g, a, b):
    da = unbroadcast(g * b * a ** (b - 1.0), a)
    if b.op == "constant":
        return da, None
    # d(a**b)/db = a**b * log(a), taken as 0 where a <= 0 (TF1)
    safe_log = m.where(a > 0.0, m.log(m.where(a > 0.0, a, 1.0)), 0.0)
    return da, unbroadcast(g * y * safe_log, b)


@rule("maximum", "minimum")
def _extremum(y, g, a, b):
    first = (a >= b) if y.op == "maximum" else (a <= b)
    return unbroadcast(m.where(first, g, 0.0), a), unbroadcast(_zero_where(first, g), b)


@rule("mod")
def _mod(y, g, a, b):
    return unbroadcast(g, a), unbroadcast(-g * m.floor_divide(a, b), b)


@rule("where")
def _where(y, g, cond, a, b):
    return None, unbroadcast(m.where(cond, g, 0.0), a), unbroadcast(_zero_where(cond, g), b)


@rule("cast")
def _cast(y, g, x):
    return (m.cast(g, x.dtype),) if x.dtype.kind == "f" else (None,)


UNARY_DERIVATIVES = {
    # op: d(op)/dx as a function of (x, y)
    "abs": lambda x, y: m.sign(x),
    "exp": lambda x, y: y,
    "expm1": lambda x, y: y + 1.0,
    "log": lambda x, y: m.reciprocal(x),
    "log1p": lambda x, y: m.reciprocal(x + 1.0),
    "sqrt": lambda x, y: 0.5 / y,
    "rsqrt": lambda x, y: -0.5 * y * y * y,
    "square": lambda x, y: 2.0 * x,
    "reciprocal": lambda x, y: -(y * y),
    "sin": lambda x, y: m.cos(x),
    "cos": lambda x, y: -m.sin(x),
    "tanh": lambda x, y: 1.0 - y * y,
    "sigmoid": lambda x, y: y * (1.0 - y),
    "softplus": lambda x, y: m.sigmoid(x),
    "erf": lambda x, y: (2 / math.sqrt(math.pi)) * m.exp(-(x * x)),
}


@rule(*UNARY_DERIVATIVES)
def _unary(y, g, x):
    return (g * UNARY_DERIVATIVES[y.op](x, y),)


@rule("neg")
def _neg(y, g, x):
    return (-g,)


@rule("relu")
def _relu(y, g, x):
    # y > 0 exactly where x > 0; reading the output lets the forward kernel that computes
    # relu(x) be the only reader of x (so x fuses into it, e.g. a matmul's epilogue)
    return (m.where(y > 0.0, g, 0.0),)


# -- reductions -------------------------------------------------------------------------------
@rule("sum")
def _sum(y, g, x):
    axes, keepdims = y.node.attrs["axes"], y.node.attrs["keepdims"]
    return (broadcast_like(_restore_axes(g, axes, keepdims), x),)


@rule("mean")
def _mean(y, g, x):
    axes, keepdims = y.node.attrs["axes"], y.node.attrs["keepdims"]
    return (broadcast_like(_restore_axes(g, axes, keepdims) / _count(x, axes), x),)


@rule("max", "min")
def _max_min(y, g, x):
    """Tied extremes share the gradient equally."""
    axes, keepdims = y.node.attrs["axes"], y.node.attrs["keepdims"]
    extreme = _restore_axes(y, axes, keepdims)
    hit = m.cast(m.equal(x, extreme), x.dtype)
    share = _restore_axes(g, axes, keepdims) / m.sum(hit, axes, keepdims=True)
    return (hit * share,)


@rule("prod")
def _prod(y, g, x):
    """Exact with zeros: d/dx_i is the product of the others (nonzero only if x_i is
    the one zero, or there is none)."""
    axes, keepdims = y.node.attrs["axes"], y.node.attrs["keepdims"]
    gk = _restore_axes(g, axes, keepdims)
    is_zero = m.equal(x, 0.0)
    zeros = m.sum(m.cast(is_zero, x.dtype), axes, keepdims=True)
    others_nonzero = m.prod(m.where(is_zero, 1.0, x), axes, keepdims=True)
    without_i = m.where(is_zero, m.where(m.equal(zeros, 1.0), others_nonzero, 0.0),
                        m.where(m.equal(zeros, 0.0), others_nonzero / m.where(is_zero, 1.0, x), 0.0))
    return (gk * without_i,)


# -- matmul -------------------------------------------------------------------------------------
def _swap(t):
    return transpose(t, tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2))


@rule("matmul")
def _matmul(y, g, a, b):
    a2 = expand_dims(a, 0) if a.ndim == 1 else a
    b2 = expand_dims(b, -1) if b.ndim == 1 else b
    if a.ndim == 1 and b.ndim == 1:
        g2 = expand_dims(g, (0, 1))
    elif a.ndim == 1:
        g2 = expand_dims(g, g.ndim - 1)
    elif b.ndim == 1:
        g2 = expand_dims(g, g.ndim)
    else:
        g2 = g
    da = unbroadcast(m.matmul(g2, _swap(b2)), a2)
    if b2.ndim == 2 and a2.ndim > 2 and None not in a2.shape and None not in g2.shape:
        # one weight for every batch item: its gradient is one GEMM over all rows
        # (a2 as (rows, k))^T @ (g as (rows, n)), not per-item products summed afterwards
        rows, k, n = math.prod(a2.shape[:-1]), a2.shape[-1], g2.shape[-1]
        db = m.matmul(_swap(reshape(a2, (rows, k))), reshape(g2, (rows, n)))
    else:
        db = unbroadcast(m.matmul(_swap(a2), g2), b2)
    da = squeeze(da, (0,)) if a.ndim == 1 else da
    db = squeeze(db, (db.ndim - 1,)) if b.ndim == 1 else db
    return da, db


# -- movement -------------------------------------------------------------------------------------
@rule("reshape")
def _reshape(y, g, x):
    return (reshape(g, _target_shape(x.shape, "reshape a gradient back")),)


@rule("transpose")
def _transpose(y, g, x):
    return (transpose(g, tuple(int(i) for i in np.argsort(y.node.attrs["perm"]))),)


@rule("expand_dims")
def _expand_dims(y, g, x):
    return (squeeze(g, y.node.attrs["axes"]),)


@rule("squeeze")
def _squeeze(y, g, x):
    return (reshape(g, _target_shape(x.shape, "unsqueeze a gradient")),)


@rule("sum_to")
def _sum_to(y, g, big, x):
    return broadcast_like(g, big), None


@rule("broadcast_to")
def _broadcast_to(y, g, x):
    return (unbroadcast(g, x),)


@rule("pad")
def _pad(y, g, x):
    slices = tuple((b, -a if a else None, 1) for b, a in y.node.attrs["pads"])
    return (make("slice", (g,), {"slices": slices}),)


@rule("concat")
def _concat(y, g, *xs):
    axis = y.node.attrs["axis"]
    if any(x.shape[axis] is None for x in xs):
        raise GraphcError(f"gradients: concat '{y.name}' needs static sizes along axis {axis}")
    out, start = [], 0
    for x in xs:
        slices = [(None, None, None)] * g.ndim
        slices[axis] = (start, start + x.shape[axis], 1)
        start += x.shape[axis]
        out.append(make("slice", (g,), {"slices": tuple(slices)}))
    return tuple(out)


@rule("slice")
def _slice(y, g, x):
    """Scatter g back into zeros of x's shape, one axis at a time (reverse, spread, pad)."""
    for axis, ((start, stop, step), n) in enumerate(zip(y.node.attrs["slices"], x.shape)):
        if (start, stop, step) in ((None, None, None), (None, None, 1), (0, None, 1), (0, None, None)):
            continue
        if n is None:
            if (step or 1) == 1 and (start or 0) >= 0 and stop is None:
                g = _pad_axis(g, axis, start or 0, 0)
                continue
            raise GraphcError(f"gradients: slice '{y.name}' of an unknown dim needs (start>=0, None, 1)")
        picked = range(*slice(start, stop, step).indices(n))
        if len(picked) == 0:
            return (broadcast_like(constant(0.0, dtype=g.dtype, graph=g.graph), x),)
        step = picked.step
        if step < 0:   # reverse g so its elements run forward from the smallest index
            g = make("slice", (g,), {"slices": _axis_slice(g.ndim, axis, (None, None, -1))})
            picked = picked[::-1]
            step = -step
        if step > 1:   # spread: step-1 zeros after each element, then drop the trailing ones
            spread = pad(expand_dims(g, axis + 1), [(0, 0)] * (axis + 1) + [(0, step - 1)] + [(0, 0)] * (g.ndim - axis - 1))
            shape = list(spread.shape[:axis]) + [len(picked) * step] + list(spread.shape[axis + 2:])
            g = reshape(spread, _target_shape(tuple(shape), "spread a strided slice's gradient"))
            g = make("slice", (g,), {"slices": _axis_slice(g.ndim, axis, (0, (len(picked) - 1) * step + 1, 1))})
        first = picked.start
        g = _pad_axis(g, axis, first, n - (first + (len(picked) - 1) * step + 1))
    return (g,)


def _axis_slice(rank, axis, s):
    slices = [(None, None, None)] * rank
    slices[axis] = s
    return tuple(slices)


def _pad_axis(g, axis, before, after):
    if not before and not after:
        return g
    return pad(g, [(0, 0)] * axis + [(before, after)] + [(0, 0)] * (g.ndim - axis - 1))


@rule("gather")
def _gather(y, g, x, indices):
    return make("scatter_add", (x, indices, g), {"axis": y.node.attrs["axis"]}), None


@rule("scatter_add")
def _scatter_add(y, g, x, indices, updates):
    return None, None, make("gather", (g, indices), {"axis": y.node.attrs["axis"]})


__all__ = ["RULES", "unbroadcast"]


@rule("identity")
def _identity(y, g, x):
    return (g if g.shape == x.shape else make("identity", (g,), {"shape": x.shape}),)


# -- convolution and pooling (graphc/ops/conv.py): each gradient is a primitive of its own --------
def _conv_attrs(y):
    a = y.node.attrs
    return {"stride": a["stride"], "pads": a["pads"], "dilation": a["dilation"], "groups": a["groups"]}


def _like(t, x):
    """``t`` in ``x``'s dtype (a gradient has its input's dtype)."""
    return t if t.dtype == x.dtype else m.cast(t, x.dtype)


@rule("conv2d")
def _conv2d(y, g, x, w):
    attrs = _conv_attrs(y)
    dx = make("conv2d_backward_input", (g, w), {**attrs, "size": tuple(x.shape[2:])})
    dw = make("conv2d_backward_filter", (x, g), {**attrs, "kernel": tuple(w.shape[2:])})
    return _like(dx, x), _like(dw, w)


@rule("conv2d_backward_input")
def _conv2d_backward_input(y, g, dy, w):
    attrs = _conv_attrs(y)
    d_dy = make("conv2d", (g, w), attrs)
    dw = make("conv2d_backward_filter", (g, dy), {**attrs, "kernel": tuple(w.shape[2:])})
    return _like(d_dy, dy), _like(dw, w)


@rule("conv2d_backward_filter")
def _conv2d_backward_filter(y, g, x, dy):
    attrs = _conv_attrs(y)
    dx = make("conv2d_backward_input", (dy, g), {**attrs, "size": tuple(x.shape[2:])})
    d_dy = make("conv2d", (x, g), attrs)
    return _like(dx, x), _like(d_dy, dy)


@rule("max_pool2d")
def _max_pool2d(y, g, x):
    return (_like(make("max_pool2d_backward", (x, g), dict(y.node.attrs)), x),)


@rule("max_pool2d_backward")
def _max_pool2d_backward(y, g, x, dy):
    """Linear in dy: each window reads g at its first maximum (composite: second derivatives
    are rare, so no primitive of their own)."""
    a = y.node.attrs
    geometry = (a["kernel"], a["stride"], a["pads"], a["dilation"])
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    first = m.argmax(stack(_windows(x, *geometry, lowest), axis=-1), axis=-1)
    hot = one_hot(first, a["kernel"][0] * a["kernel"][1], dtype=g.dtype)
    return None, _like(m.sum(hot * stack(_windows(g, *geometry, 0), axis=-1), axis=-1), dy)


def _windows(x, kernel, stride, pads, dilation, fill):
    """The kh*kw strided views (each N, C, OH, OW) of NCHW ``x`` padded with ``fill`` that a
    window op visits, row-major over the window."""
    oh, ow = out_size(x.shape[2:], kernel, stride, pads, dilation)
    xp = pad(x, ((0, 0), (0, 0)) + tuple(pads), constant_values=fill) if any(map(any, pads)) else x
    (sh, sw), (dh, dw) = stride, dilation
    return [xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            for i in range(kernel[0]) for j in range(kernel[1])]


@rule("avg_pool2d")
def _avg_pool2d(y, g, x):
    return (_like(make("avg_pool2d_backward", (g,), {**y.node.attrs, "size": tuple(x.shape[2:])}), x),)


@rule("avg_pool2d_backward")
def _avg_pool2d_backward(y, g, dy):
    attrs = {k: v for k, v in y.node.attrs.items() if k != "size"}
    return (_like(make("avg_pool2d", (g,), attrs), dy),)
