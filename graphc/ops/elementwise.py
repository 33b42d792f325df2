"""Elementwise primitives: unary, binary, ``where`` and ``cast``, with numpy references.

dtype rules: arithmetic keeps the (promoted) dtype; float-valued ops (exp, divide,
...) give float32 for integer and bool inputs, as PyTorch and JAX do; comparisons
and logical ops give bool.
"""
import math
from typing import Callable, NamedTuple

import numpy as np

from .. import dtypes as dt
from ..errors import DTypeError
from .registry import AS_GIVEN, CHEAP, ELEMENTWISE, EXPENSIVE, SELECT, TO_COMMON, TO_RESULT, TO_TRUTH, register
from .shapes import broadcast_shapes

_math_erf = np.frompyfunc(math.erf, 1, 1)


def _erf(x):
    """erf through math.erf (correctly rounded in float64), elementwise."""
    return np.asarray(_math_erf(x), dtype=x.dtype)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _round_half_even(x):
    return np.round(x) if x.dtype.kind == "f" else x


def _identity_for_ints(fn):
    return lambda x: fn(x) if x.dtype.kind == "f" else x


class Elementwise(NamedTuple):
    """One row of the tables below: the numpy function, the dtype rule and the traits."""
    fn: Callable
    rule: str
    cost: str = CHEAP
    differentiable: bool = True
    operands: str | None = None   # the operand rule, when not the dtype rule's (registry)


# name -> (numpy function, dtype rule[, cost[, differentiable]]); not differentiable:
# piecewise constant or bool-valued (no gradient flows through it, as in TF1)
#   same: keeps dtype (bool rejected); float: float-valued; bool: bool result;
#   same_or_bool: keeps dtype, bool allowed
UNARY = {
    "neg": Elementwise(np.negative, "same"),
    "abs": Elementwise(np.abs, "same_or_bool"),
    "sign": Elementwise(np.sign, "same", differentiable=False),
    "exp": Elementwise(np.exp, "float", EXPENSIVE),
    "expm1": Elementwise(np.expm1, "float", EXPENSIVE),
    "log": Elementwise(np.log, "float", EXPENSIVE),
    "log1p": Elementwise(np.log1p, "float", EXPENSIVE),
    "sqrt": Elementwise(np.sqrt, "float", EXPENSIVE),
    "rsqrt": Elementwise(lambda x: 1 / np.sqrt(x), "float", EXPENSIVE),
    "square": Elementwise(np.square, "same"),
    "reciprocal": Elementwise(np.reciprocal, "float", EXPENSIVE),
    "sin": Elementwise(np.sin, "float", EXPENSIVE),
    "cos": Elementwise(np.cos, "float", EXPENSIVE),
    "tanh": Elementwise(np.tanh, "float", EXPENSIVE),
    "sigmoid": Elementwise(_sigmoid, "float", EXPENSIVE),
    "softplus": Elementwise(lambda x: np.logaddexp(x.dtype.type(0), x), "float", EXPENSIVE),   # log(1 + e^x)
    "relu": Elementwise(lambda x: np.maximum(x, x.dtype.type(0)), "same"),
    "erf": Elementwise(_erf, "float", EXPENSIVE),
    "floor": Elementwise(_identity_for_ints(np.floor), "same", differentiable=False),
    "ceil": Elementwise(_identity_for_ints(np.ceil), "same", differentiable=False),
    "round": Elementwise(_round_half_even, "same", differentiable=False),
    "logical_not": Elementwise(np.logical_not, "bool", differentiable=False, operands=TO_TRUTH),
    "isnan": Elementwise(np.isnan, "bool", differentiable=False, operands=AS_GIVEN),
    "isfinite": Elementwise(np.isfinite, "bool", differentiable=False, operands=AS_GIVEN),
    "stop_gradient": Elementwise(lambda x: x, "same_or_bool", differentiable=False),   # identity; gc.gradients sends nothing through it
}

# numpy's float power loop takes shortcuts when the exponent is one broadcast scalar
# (x**1 = x, x**2 = x*x, x**0.5 = sqrt(x), x**-1 = 1/x) but not for an array of exponents,
# where its approximate pow can differ in the last bit, and sqrt differs from IEEE pow on
# -0.0 and -inf. The reference gives, wherever an exponent has one of these values, the
# correctly rounded IEEE 754 pow (pow(-0.0, 0.5) = +0.0, pow(-inf, 0.5) = +inf), so a
# power's value depends on the values alone, not on whether a constant was broadcast.
_EXACT_POWERS = ((1, lambda a: a), (2, np.square), (-1, np.reciprocal),
                 (0.5, lambda a: np.where(a == -np.inf, np.inf, np.sqrt(a)) + a.dtype.type(0)))


def _power(a, b):
    out = np.power(a, b)
    if out.dtype.kind == "f":
        for exponent, fn in _EXACT_POWERS:
            hit = b == exponent
            if hit.any():
                out = np.where(hit, fn(a), out)
    return out


#   arith: promoted dtype (bool rejected); any: promoted dtype; divide: float-valued;
#   compare / logical: bool result
BINARY = {
    "add": Elementwise(np.add, "arith"),
    "subtract": Elementwise(np.subtract, "arith"),
    "multiply": Elementwise(np.multiply, "arith"),
    "divide": Elementwise(np.true_divide, "divide", EXPENSIVE),
    "floor_divide": Elementwise(np.floor_divide, "arith", EXPENSIVE, differentiable=False),
    "mod": Elementwise(np.mod, "arith", EXPENSIVE),
    "power": Elementwise(_power, "arith", EXPENSIVE),
    "maximum": Elementwise(np.maximum, "any"),
    "minimum": Elementwise(np.minimum, "any"),
    "equal": Elementwise(np.equal, "compare", differentiable=False),
    "not_equal": Elementwise(np.not_equal, "compare", differentiable=False),
    "less": Elementwise(np.less, "compare", differentiable=False),
    "less_equal": Elementwise(np.less_equal, "compare", differentiable=False),
    "greater": Elementwise(np.greater, "compare", differentiable=False),
    "greater_equal": Elementwise(np.greater_equal, "compare", differentiable=False),
    "logical_and": Elementwise(np.logical_and, "logical", differentiable=False),
    "logical_or": Elementwise(np.logical_or, "logical", differentiable=False),
}


def _reject_bool(name, dtype):
    if dt.is_bool(dtype):
        hint = {"add": "logical_or", "multiply": "logical_and", "neg": "logical_not"}.get(name)
        raise DTypeError(f"{name} is not defined for bool" + (f"; use {hint}" if hint else ""))


def _unary_dtype(name, rule, dtype):
    if rule == "bool":
        return dt.bool_
    if rule == "float":
        return dt.float_result(dtype)
    if rule == "same":
        _reject_bool(name, dtype)
    return dtype


def _binary_dtype(name, rule, a, b):
    if rule == "logical":
        return dt.bool_
    common = dt.promote(a, b)
    if rule == "compare":
        return dt.bool_
    if rule == "divide":
        return dt.float_result(common)
    if rule == "arith":
        _reject_bool(name, common)
    return common


# the operands' dtype rule of each binary dtype rule (unary ops compute in their result dtype)
_OPERANDS = {"compare": TO_COMMON, "logical": TO_TRUTH}


def _register_unary(name, fn, rule, cost, differentiable, operands):
    def infer(inputs):
        (x,) = inputs
        return _unary_dtype(name, rule, x.dtype), tuple(x.shape)

    def compute(values):
        (x,) = values
        out = _unary_dtype(name, rule, x.dtype)
        arg = x.astype(out) if rule == "float" else x
        return np.asarray(fn(arg)).astype(out, copy=False)

    register(name, ELEMENTWISE, infer, compute, arity=1, cost=cost, differentiable=differentiable,
             operands=operands or TO_RESULT)


def _register_binary(name, fn, rule, cost, differentiable, operands):
    def infer(inputs):
        a, b = inputs
        return _binary_dtype(name, rule, a.dtype, b.dtype), broadcast_shapes(a.shape, b.shape)

    def compute(values):
        a, b = values
        out = _binary_dtype(name, rule, a.dtype, b.dtype)
        work = out if rule in ("arith", "any", "divide") else dt.promote(a.dtype, b.dtype)
        return np.asarray(fn(a.astype(work, copy=False), b.astype(work, copy=False))).astype(out, copy=False)

    register(name, ELEMENTWISE, infer, compute, arity=2, cost=cost, differentiable=differentiable,
             operands=operands or _OPERANDS.get(rule, TO_RESULT))


for _name, _row in UNARY.items():
    _register_unary(_name, *_row)
for _name, _row in BINARY.items():
    _register_binary(_name, *_row)


def _where_infer(inputs):
    cond, a, b = inputs
    if not dt.is_bool(cond.dtype):
        raise DTypeError(f"where needs a bool condition, got {cond.dtype}")
    return dt.promote(a.dtype, b.dtype), broadcast_shapes(cond.shape, a.shape, b.shape)


def _where_compute(values):
    cond, a, b = values
    return np.where(cond, a, b).astype(dt.promote(a.dtype, b.dtype), copy=False)


register("where", ELEMENTWISE, _where_infer, _where_compute, arity=3, operands=SELECT, cost=CHEAP)


def _cast_infer(inputs, dtype):
    return dt.as_dtype(dtype), tuple(inputs[0].shape)


def _cast_compute(values, dtype):
    x, dtype = values[0], dt.as_dtype(dtype)
    if x.dtype.kind == "f" and dtype.kind == "i":
        # toward zero; NaN, ±Inf and out-of-range values give INT_MIN on every platform
        # (numpy's result on x86-64; C leaves it undefined)
        bound = 2.0 ** (8 * dtype.itemsize - 1)
        inside = (x >= -bound) & (x < bound)
        return np.where(inside, np.where(inside, x, 0).astype(dtype), np.iinfo(dtype).min).astype(dtype)
    return x.astype(dtype)


register("cast", ELEMENTWISE, _cast_infer, _cast_compute, arity=1, operands=AS_GIVEN, cost=CHEAP)


def _full_like_infer(inputs, value, dtype):
    return dt.as_dtype(dtype), tuple(inputs[0].shape)


def _full_like_compute(values, value, dtype):
    return np.full(values[0].shape, value, dt.as_dtype(dtype))


# ``value`` everywhere, in the shape of its input (whose values it never reads)
register("full_like", ELEMENTWISE, _full_like_infer, _full_like_compute, arity=1, operands=AS_GIVEN,
         cost=CHEAP, differentiable=False)
