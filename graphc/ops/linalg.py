"""``matmul`` with numpy semantics: 1-D operands promoted, batch dims broadcast."""
import numpy as np

from .. import dtypes as dt
from ..errors import DTypeError, ShapeError
from .registry import MATMUL, register
from .shapes import broadcast_shapes, fmt_shape


def _matmul_infer(inputs):
    a, b = inputs
    if min(len(a.shape), len(b.shape)) == 0:
        raise ShapeError("matmul operands must have rank >= 1, got "
                         f"{fmt_shape(a.shape)} and {fmt_shape(b.shape)}")
    dtype = dt.promote(a.dtype, b.dtype)
    if dt.is_bool(dtype):
        raise DTypeError("matmul is not defined for bool")
    a_shape = (1,) + tuple(a.shape) if len(a.shape) == 1 else tuple(a.shape)
    b_shape = tuple(b.shape) + (1,) if len(b.shape) == 1 else tuple(b.shape)
    k_a, k_b = a_shape[-1], b_shape[-2]
    if k_a is not None and k_b is not None and k_a != k_b:
        raise ShapeError(f"matmul contraction mismatch: {fmt_shape(a.shape)} @ {fmt_shape(b.shape)} "
                         f"({k_a} != {k_b})")
    try:
        batch = broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except ShapeError:
        raise ShapeError(f"matmul batch dims do not broadcast: {fmt_shape(a.shape)} @ {fmt_shape(b.shape)}") from None
    out = batch + (a_shape[-2],) * (len(a.shape) > 1) + (b_shape[-1],) * (len(b.shape) > 1)
    return dtype, out


def _matmul_compute(values):
    a, b = values
    dtype = dt.promote(a.dtype, b.dtype)
    return np.asarray(np.matmul(a.astype(dtype, copy=False), b.astype(dtype, copy=False)))


register("matmul", MATMUL, _matmul_infer, _matmul_compute, arity=2)
