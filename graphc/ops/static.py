"""Ops that exist only until a program is specialized to its feeds' shapes.

``identity`` passes its input on under a declared shape that may be less specific (TF1's
``placeholder_with_default``: a default value the caller may feed over, with another
batch size); ``shape`` is its input's shape as an integer vector (TF1's ``tf.shape``).
Once every shape is static (runtime.compiler.specialize), an identity is its input and a
shape is a constant: no pass and no backend ever sees either op.
"""
import numpy as np

from .. import dtypes as dt
from ..errors import ShapeError
from .registry import CHEAP, MOVEMENT, SOURCE, register
from .shapes import fmt_shape


def _identity_infer(inputs, shape=None):
    (x,) = inputs
    if shape is None:
        return x.dtype, x.shape
    if len(shape) != len(x.shape) or any(d is not None and s is not None and d != s for d, s in zip(shape, x.shape)):
        raise ShapeError(f"shape {fmt_shape(shape)} does not fit the value's shape {fmt_shape(x.shape)}")
    return x.dtype, tuple(shape)


def _shape_infer(inputs, dtype):
    (x,) = inputs
    if dt.as_dtype(dtype) not in (dt.int32, dt.int64):
        raise ShapeError(f"a shape's dtype must be int32 or int64, got {dtype}")
    return dt.as_dtype(dtype), (len(x.shape),)


register("identity", MOVEMENT, _identity_infer, lambda v, shape=None: v[0], arity=1, cost=CHEAP)
register("shape", SOURCE, _shape_infer, lambda v, dtype: np.array(v[0].shape, dtype=dtype), arity=1,
         differentiable=False)
