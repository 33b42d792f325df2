"""Elementwise math, reductions and linear algebra: the numpy-style functions.

Binary ops apply numpy promotion between tensors and NEP 50 to Python scalars
(weak: ``x * 2.0`` keeps x's dtype); the builder inserts explicit ``cast`` nodes
so every arithmetic node sees operands of one dtype.
"""

import numpy as np

from . import dtypes as dt
from .builder import as_tensor, constant, graph_of, located, make
from .ops.elementwise import BINARY, UNARY
from .ops.shapes import normalize_axes, normalize_axis
from .tensor import Tensor


def _is_weak(v):
    return isinstance(v, (bool, int, float)) and not isinstance(v, np.generic)


@located
def cast(x, dtype, name=None):
    """``x`` converted to ``dtype`` (numpy ``astype`` semantics). A no-op if it already is."""
    x = as_tensor(x)
    dtype = dt.as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return make("cast", (x,), {"dtype": dtype}, name=name)


def _common_dtype(values, rule):
    """Operand dtype for an op over ``values`` (tensors, arrays, weak Python scalars)."""
    strong = [v.dtype if isinstance(v, Tensor) else dt.default_dtype_for(v) for v in values if not _is_weak(v)]
    common = dt.promote(*strong) if strong else None
    for v in values:
        if _is_weak(v):
            common = dt.weak_scalar_dtype(v, common) if common is not None else dt.default_dtype_for(v)
    return dt.float_result(common) if rule == "divide" else common


def coerce(values, rule="arith"):
    """Tensors of one dtype from a mix of tensors and Python/numpy values."""
    graph = graph_of(*values)
    if rule == "logical":
        return [as_tensor(v, graph=graph) for v in values]
    common = _common_dtype(values, rule)
    return [cast(v, common) if isinstance(v, Tensor) else constant(v, dtype=common, graph=graph)
            for v in values]


def _unary_fn(op):
    def fn(x, name=None):
        return make(op, (as_tensor(x),), name=name)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}`` (numpy semantics)."
    return located(fn)


def _binary_fn(op, rule):
    def fn(x, y, name=None):
        return make(op, coerce([x, y], rule), name=name)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}`` with numpy broadcasting and promotion."
    return located(fn)


for _op in UNARY:
    globals()[_op] = _unary_fn(_op)
for _op, _row in BINARY.items():
    globals()[_op] = _binary_fn(_op, _row.rule)

negative = globals()["neg"]
stop_gradient = globals()["stop_gradient"]
stop_gradient.__doc__ = "``x`` unchanged, but gc.gradients treats it as a constant (TF1 ``tf.stop_gradient``)."
multiply, subtract, divide, power = (globals()[n] for n in ("multiply", "subtract", "divide", "power"))
true_divide = divide
pow = power  # noqa: A001  (numpy alias)


@located
def where(condition, x, y, name=None):
    """``x`` where ``condition`` else ``y``, broadcast together (numpy.where)."""
    graph = graph_of(condition, x, y)
    cond = as_tensor(condition, graph=graph)
    if cond.dtype != dt.bool_:
        cond = cast(cond, dt.bool_)
    a, b = coerce([x, y], "any")
    return make("where", (cond, a, b), name=name)


@located
def clip(x, lo=None, hi=None, name=None):
    """``min(max(x, lo), hi)``; either bound may be None (numpy.clip)."""
    out = as_tensor(x)
    if lo is not None:
        out = globals()["maximum"](out, lo)
    if hi is not None:
        out = globals()["minimum"](out, hi, name=name)
    return out


def _reduce(op, x, axis, keepdims, name):
    x = as_tensor(x)
    return make(op, (x,), {"axes": normalize_axes(axis, x.ndim), "keepdims": bool(keepdims)}, name=name)


@located
def sum(x, axis=None, keepdims=False, name=None):  # noqa: A001
    """Sum over ``axis`` (int, tuple or None for all). Bool and int32 sum to int64, as numpy."""
    return _reduce("sum", x, axis, keepdims, name)


@located
def mean(x, axis=None, keepdims=False, name=None):
    """Mean over ``axis``; integer inputs give float32."""
    return _reduce("mean", x, axis, keepdims, name)


@located
def max(x, axis=None, keepdims=False, name=None):  # noqa: A001
    """Maximum over ``axis``; NaN propagates as in numpy."""
    return _reduce("max", x, axis, keepdims, name)


@located
def min(x, axis=None, keepdims=False, name=None):  # noqa: A001
    """Minimum over ``axis``; NaN propagates as in numpy."""
    return _reduce("min", x, axis, keepdims, name)


@located
def prod(x, axis=None, keepdims=False, name=None):
    """Product over ``axis``."""
    return _reduce("prod", x, axis, keepdims, name)


def _arg(op, x, axis, keepdims, name):
    x = as_tensor(x)
    axis = None if axis is None else normalize_axis(int(axis), x.ndim)
    return make(op, (x,), {"axis": axis, "keepdims": bool(keepdims)}, name=name)


@located
def argmax(x, axis=None, keepdims=False, name=None):
    """Index (int64) of the first maximum along ``axis`` (of the flattened tensor if None)."""
    return _arg("argmax", x, axis, keepdims, name)


@located
def argmin(x, axis=None, keepdims=False, name=None):
    """Index (int64) of the first minimum along ``axis`` (of the flattened tensor if None)."""
    return _arg("argmin", x, axis, keepdims, name)


@located
def logsumexp(x, axis=None, keepdims=False, name=None):
    """``log(sum(exp(x)))`` over ``axis``, computed stably by shifting by the maximum."""
    x = as_tensor(x)
    if not dt.is_float(x.dtype):
        x = cast(x, dt.float_result(x.dtype))
    m = max(x, axis, keepdims=True)
    shift = stop_gradient(where(globals()["isfinite"](m), m, 0.0))
    total = globals()["log"](sum(globals()["exp"](x - shift), axis, keepdims=True)) + shift
    if keepdims:
        return total
    from .array_ops import squeeze
    return squeeze(total, normalize_axes(axis, x.ndim), name=name)


@located
def matmul(a, b, name=None):
    """Matrix product with numpy semantics: 1-D operands, batched and broadcast batch dims."""
    a, b = coerce([a, b], "arith")
    return make("matmul", (a, b), name=name)


@located
def dot(a, b, name=None):
    """numpy.dot: matmul for 1-D and 2-D; for N-D, a sum over a's last and b's second-to-last axis."""
    from .array_ops import reshape, transpose
    a, b = coerce([a, b], "arith")
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b, name=name)
    if b.ndim <= 2:  # matmul broadcasts a's leading dims: the same sum as numpy.dot
        return matmul(a, b, name=name)
    # dot(a, b)[i..., j..., m] = sum_k a[i..., k] * b[j..., k, m]
    ka, kb = a.shape[-1], b.shape[-2]
    perm = (b.ndim - 2,) + tuple(i for i in range(b.ndim) if i != b.ndim - 2)
    b2 = reshape(transpose(b, perm), (kb if kb is not None else ka, -1))
    out = matmul(reshape(a, (-1, ka if ka is not None else kb)), b2)
    shape = a.shape[:-1] + b.shape[:-2] + b.shape[-1:]
    return reshape(out, tuple(-1 if d is None else d for d in shape), name=name)
