"""Reductions over ``axes`` (a sorted tuple of non-negative axes) with ``keepdims``."""
import numpy as np

from .. import dtypes as dt
from ..errors import ShapeError
from .registry import REDUCTION, register


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _check_axes(x, axes):
    for a in axes:
        if not 0 <= a < len(x.shape):
            raise ShapeError(f"axis {a} is out of range for rank {len(x.shape)}")


def _accumulate_dtype(dtype):
    # numpy: sums and products of bool and small ints accumulate in int64
    return dt.int64 if dtype.kind in "bi" else dtype


def _check_nonempty(name, x, axes):
    if any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"{name} over an empty axis has no identity")


def _mean(x, axis, keepdims, dtype):
    """numpy.mean without its empty-slice warning: sum / count, NaN when count is 0."""
    count = int(np.prod([x.shape[a] for a in axis]))
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=dtype) / count


REDUCTIONS = {
    # name: (numpy function, output dtype rule, needs a non-empty axis)
    "sum": (np.sum, _accumulate_dtype, False),
    "prod": (np.prod, _accumulate_dtype, False),
    "mean": (_mean, dt.float_result, False),
    "max": (np.max, lambda d: d, True),
    "min": (np.min, lambda d: d, True),
}


def _register_reduction(name, fn, out_dtype, needs_nonempty):
    def infer(inputs, axes, keepdims):
        (x,) = inputs
        _check_axes(x, axes)
        if needs_nonempty:
            _check_nonempty(name, x, axes)
        return out_dtype(x.dtype), reduced_shape(x.shape, axes, keepdims)

    def compute(values, axes, keepdims):
        (x,) = values
        out = out_dtype(x.dtype)
        kwargs = {"dtype": out} if name in ("sum", "prod", "mean") else {}
        return np.asarray(fn(x, axis=tuple(axes), keepdims=keepdims, **kwargs)).astype(out, copy=False)

    register(name, REDUCTION, infer, compute, arity=1)


for _name, (_fn, _out, _nonempty) in REDUCTIONS.items():
    _register_reduction(_name, _fn, _out, _nonempty)


def _register_arg(name, fn):
    """argmax/argmin over one axis (or the flattened tensor when axis is None)."""

    def infer(inputs, axis, keepdims):
        (x,) = inputs
        axes = tuple(range(len(x.shape))) if axis is None else (axis,)
        _check_axes(x, axes)
        _check_nonempty(name, x, axes)
        return dt.int64, reduced_shape(x.shape, axes, keepdims)

    def compute(values, axis, keepdims):
        return np.asarray(fn(values[0], axis=axis, keepdims=keepdims)).astype(np.int64, copy=False)

    register(name, REDUCTION, infer, compute, arity=1, differentiable=False)   # an index: no gradient


_register_arg("argmax", np.argmax)
_register_arg("argmin", np.argmin)


def _sum_to_infer(inputs):
    g, x = inputs
    lead = len(g.shape) - len(x.shape)
    if lead < 0 or any(a is not None and b is not None and a != b and a != 1
                       for a, b in zip(x.shape, g.shape[lead:])):
        raise ShapeError(f"cannot sum {g.shape} down to the shape {x.shape}")
    return g.dtype, tuple(x.shape)


def sum_to_axes(g_shape, x_shape):
    """The axes of ``g_shape`` to sum (keepdims) to reach ``x_shape``, and the leading
    ones to drop after: the adjoint of numpy broadcasting ``x_shape`` to ``g_shape``."""
    lead = len(g_shape) - len(x_shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(x_shape) if d == 1 and g_shape[lead + i] != 1)
    return axes, tuple(range(lead))


def sum_to_steps(g_shape, x_shape):
    """The ops, ``[(op, attrs)]``, that take a static ``g_shape`` down to ``x_shape``: a
    sum over the broadcast axes, then a squeeze of the leading ones (none when equal)."""
    axes, lead = sum_to_axes(g_shape, x_shape)
    if not axes:
        return []
    return [("sum", {"axes": axes, "keepdims": True})] + ([("squeeze", {"axes": lead})] if lead else [])


def _sum_to_compute(values):
    g, x = values
    axes, lead = sum_to_axes(g.shape, x.shape)
    return np.sum(g, axis=axes, keepdims=True).reshape(x.shape) if axes else g


# ``g`` summed down to the shape of ``x`` (whose values it never reads). Gradients use it
# where a dim is unknown until run time; compilation replaces it by a sum (or nothing)
# once the fed shapes are known (runtime.compiler.specialize).
register("sum_to", REDUCTION, _sum_to_infer, _sum_to_compute, arity=2)
