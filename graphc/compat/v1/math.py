"""TF1's math functions (``tf.reduce_sum``, ``tf.argmax``, ``tf.matmul``, ...) with TF1's
signatures and old argument names, over graphc's ops (``tf.math`` holds them too)."""
from ... import dtypes as dt
from ... import math_ops as m
from ...array_ops import transpose
from ...builder import as_tensor, located
from ...errors import DTypeError
from .array import _deprecated

__all__ = ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_any", "reduce_all",
           "reduce_logsumexp", "argmax", "argmin", "matmul", "add", "subtract", "multiply", "divide", "truediv",
           "realdiv", "div", "floordiv", "mod", "floormod", "pow", "negative", "abs", "sign", "square", "sqrt",
           "rsqrt", "exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "erf", "floor", "ceil",
           "round", "reciprocal", "maximum", "minimum", "squared_difference", "add_n", "clip_by_value",
           "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
           "logical_or", "logical_not", "logical_xor", "where", "cast", "to_float", "to_double", "to_int32",
           "to_int64", "is_nan", "is_finite", "count_nonzero"]


def _axis(axis):
    if isinstance(axis, (list, tuple)):
        return tuple(int(a) for a in axis)
    if hasattr(axis, "node"):
        from .array import static_shape
        values = static_shape(axis, "a reduction's axis")
        return values if axis.ndim else values[0]
    return None if axis is None else int(axis)


def _reducer(gc_reduce, tf_name):
    @located
    def reduce(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
        axis = _axis(_deprecated(axis, reduction_indices, "axis", "reduction_indices"))
        keepdims = bool(_deprecated(keepdims, keep_dims, "keepdims", "keep_dims"))
        return gc_reduce(input_tensor, axis, keepdims, name=name)
    reduce.__name__ = reduce.__qualname__ = tf_name
    reduce.__doc__ = (f"``tf.{tf_name}(input_tensor, axis=None, keepdims=None)``, also with TF1's old "
                      "``reduction_indices`` and ``keep_dims``; all axes when ``axis`` is None.")
    return reduce


def _bool_reduce(any_):
    """any: some element is True (a count above 0); all: no element is False. Counts,
    not max/min, so an empty reduction gives TF1's False/True."""
    def reduce(x, axis, keepdims, name=None):
        x = as_tensor(x)
        if not dt.is_bool(x.dtype):
            raise DTypeError(f"reduce_any/reduce_all need a bool tensor, got '{x.name}' {x.dtype}")
        counted = m.cast(x if any_ else m.logical_not(x), dt.int32)
        count = m.sum(counted, axis, keepdims)
        return m.greater(count, 0, name=name) if any_ else m.equal(count, 0, name=name)
    return reduce


reduce_sum = _reducer(m.sum, "reduce_sum")
reduce_mean = _reducer(m.mean, "reduce_mean")
reduce_max = _reducer(m.max, "reduce_max")
reduce_min = _reducer(m.min, "reduce_min")
reduce_prod = _reducer(m.prod, "reduce_prod")
reduce_logsumexp = _reducer(m.logsumexp, "reduce_logsumexp")
reduce_any = _reducer(_bool_reduce(True), "reduce_any")
reduce_all = _reducer(_bool_reduce(False), "reduce_all")


def _arg_reducer(gc_arg, tf_name):
    @located
    def arg(input, axis=None, name=None, dimension=None, output_type=dt.int64):  # noqa: A002
        axis = _deprecated(axis, dimension, "axis", "dimension")
        out = gc_arg(input, 0 if axis is None else _axis(axis))
        return m.cast(out, output_type, name=name) if out.dtype != dt.as_dtype(output_type) or name else out
    arg.__name__ = arg.__qualname__ = tf_name
    arg.__doc__ = (f"``tf.{tf_name}(input, axis=None, output_type=tf.int64)``: along ``axis`` (TF1's old "
                   "``dimension``), axis 0 when neither is given.")
    return arg


argmax = _arg_reducer(m.argmax, "argmax")
argmin = _arg_reducer(m.argmin, "argmin")


@located
def count_nonzero(input_tensor, axis=None, keepdims=None, dtype=dt.int64, name=None, reduction_indices=None,
                  keep_dims=None):
    """``tf.count_nonzero``."""
    axis = _axis(_deprecated(axis, reduction_indices, "axis", "reduction_indices"))
    keepdims = bool(_deprecated(keepdims, keep_dims, "keepdims", "keep_dims"))
    x = as_tensor(input_tensor)
    return m.sum(m.cast(m.not_equal(x, 0), dtype), axis, keepdims, name=name)


@located
def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, a_is_sparse=False,
           b_is_sparse=False, name=None):
    """``tf.matmul`` with its transpose flags (adjoint is the transpose: graphc has no complex dtypes)."""
    a, b = as_tensor(a), as_tensor(b)
    if transpose_a or adjoint_a:
        a = _swap_last(a)
    if transpose_b or adjoint_b:
        b = _swap_last(b)
    return m.matmul(a, b, name=name)


def _swap_last(x):
    perm = list(range(x.ndim))
    perm[-2:] = perm[-1], perm[-2]
    return transpose(x, tuple(perm))


add, subtract, multiply, negative, abs = m.add, m.subtract, m.multiply, m.negative, m.abs  # noqa: A001
divide = truediv = realdiv = m.divide
floordiv = m.floor_divide
mod = floormod = m.mod
pow = m.power  # noqa: A001
sign, square, sqrt, rsqrt, exp, expm1, log, log1p = m.sign, m.square, m.sqrt, m.rsqrt, m.exp, m.expm1, m.log, m.log1p
sin, cos, tanh, sigmoid, erf, floor, ceil, round = m.sin, m.cos, m.tanh, m.sigmoid, m.erf, m.floor, m.ceil, m.round  # noqa: A001
reciprocal, maximum, minimum = m.reciprocal, m.maximum, m.minimum
equal, not_equal, less, less_equal, greater, greater_equal = (m.equal, m.not_equal, m.less, m.less_equal,
                                                              m.greater, m.greater_equal)
logical_and, logical_or, logical_not = m.logical_and, m.logical_or, m.logical_not
is_nan, is_finite = m.isnan, m.isfinite


@located
def div(x, y, name=None):
    """``tf.div`` (Python 2 division): floor division for integers, true division for floats."""
    x, y = m.coerce([x, y])
    return (m.floor_divide if dt.is_int(x.dtype) else m.divide)(x, y, name=name)


@located
def logical_xor(x, y, name="LogicalXor"):
    """``tf.logical_xor``."""
    return m.not_equal(x, y, name=name)


@located
def squared_difference(x, y, name=None):
    """``tf.squared_difference``: ``(x - y)**2``."""
    return m.square(m.subtract(x, y), name=name)


@located
def add_n(inputs, name=None):
    """``tf.add_n``: the elementwise sum of a list of tensors of one shape."""
    inputs = list(inputs)
    total = inputs[0]
    for x in inputs[1:]:
        total = m.add(total, x)
    return total if name is None else m.add(total, 0, name=name)


@located
def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``tf.clip_by_value``."""
    return m.clip(t, clip_value_min, clip_value_max, name=name)


@located
def where(condition, x=None, y=None, name=None):
    """``tf.where(condition, x, y)`` (TF1's one-argument form, the indices of True elements,
    has a data-dependent shape, which graphc cannot express)."""
    if x is None or y is None:
        from .unsupported import UnsupportedError
        raise UnsupportedError("tf.where(condition) without x and y: its shape depends on the values")
    return m.where(condition, x, y, name=name)


@located
def cast(x, dtype, name=None):
    """``tf.cast``."""
    return m.cast(x, dtype, name=name)


def _to(dtype, tf_name):
    @located
    def convert(x, name=None):
        return m.cast(x, dtype, name=name)
    convert.__name__ = convert.__qualname__ = tf_name
    convert.__doc__ = f"``tf.{tf_name}``: a cast to {dt.as_dtype(dtype)}."
    return convert


to_float = _to(dt.float32, "to_float")
to_double = _to(dt.float64, "to_double")
to_int32 = _to(dt.int32, "to_int32")
to_int64 = _to(dt.int64, "to_int64")


def __getattr__(name):
    from .unsupported import feature_error
    raise feature_error(name, "tf.math")
