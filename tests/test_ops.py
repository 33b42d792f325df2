"""Every public op, driven by one table of cases.

Each :class:`Case` builds a graph from numpy inputs and names an independent
numpy reference. For every case we check

* the dtype and shape inferred at build time (``Tensor.dtype`` / ``.shape``)
  against the reference result's dtype and shape;
* the value ``gc.Session(device="reference").run`` gives, against the reference,
  with the tolerances of ``conftest.py``;
* the same with the inputs fed through placeholders of static shape, and (where
  the op allows it) through placeholders whose dims are all ``None``.

Float-valued ops (exp, divide, mean, ...) take float32 for int/bool inputs, so
their references compute on inputs cast to that float dtype, in float64, and
round the result to it. ``test_ir_text.py`` reuses :data:`CASES`.
"""
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc
from graphc.builder import make
from conftest import assert_close

F32, F64, I32, I64, BOOL = (np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_))
INF, NAN = np.inf, np.nan
RNG = np.random.default_rng(1234)


# numpy warns about the mean of an empty axis (nan) even under errstate; so does graphc's reference
pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")


@contextmanager
def quiet():
    """numpy without floating-point warnings (the references divide by zero on purpose)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# -- the case table ------------------------------------------------------------
@dataclass
class Case:
    """``fn(*tensors)`` builds one Tensor (or a list of them); ``ref(*arrays)`` is numpy's answer."""

    id: str
    fn: Callable
    ref: Callable
    args: tuple
    dynamic: bool = True  # also works when every input dim is None at build time

    def expected(self):
        with quiet():
            out = self.ref(*(np.array(a) for a in self.args))
        return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [np.asarray(out)]


CASES = []


def case(id, fn, ref, *args, dynamic=True):
    CASES.append(Case(id, fn, ref, tuple(np.asarray(a) for a in args), dynamic))


def arr(values, dtype):
    return np.array(values, dtype=dtype)


def dyadic(shape, dtype=F32, lo=-12, hi=12):
    """Multiples of 1/4: float32 sums and products of a few of them are exact."""
    return (RNG.integers(lo, hi, size=shape) / 4).astype(dtype)


def ints(shape, dtype=I32, lo=-6, hi=7):
    return RNG.integers(lo, hi, size=shape).astype(dtype)


def bools(shape):
    return RNG.random(shape) < 0.5


def float_of(dtype):
    """dtype of a float-valued op on ``dtype``: floats keep theirs, ints and bool give float32."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else F32


def fref(fn):
    """Reference for a float-valued op: inputs cast to the op's float dtype, computed in float64."""
    def ref(*xs):
        out = float_of(np.result_type(*xs))
        return np.asarray(fn(*(x.astype(out).astype(F64) for x in xs))).astype(out)
    return ref


_erf = np.vectorize(math.erf, otypes=[F64])

SPECIAL = [-INF, -100.0, -3.5, -2.5, -1.5, -1.0, -0.5, -0.0, 0.0, 0.25, 0.5, 1.0, 1.5, 2.5, 3.0, 100.0, INF, NAN]
UNARY_INPUTS = {
    "f32": arr(SPECIAL, F32),
    "f32_2d": dyadic((3, 4)),
    "f32_0d": arr(-0.75, F32),
    "f32_empty": np.zeros((0, 3), F32),
    "f64": arr(SPECIAL, F64).reshape(2, 9),
    "i32": arr([-7, -3, -1, 0, 1, 2, 5], I32),
    "i64": arr([[-4, 0, 3], [9, -1, 2]], I64),
    "i64_0d": arr(3, I64),
    "bool": arr([[True, False, True]], BOOL),
}

# op -> (reference, accepts bool inputs)
UNARY = {
    "neg": (np.negative, False),
    "abs": (np.abs, True),
    "sign": (np.sign, False),
    "exp": (fref(np.exp), True),
    "expm1": (fref(np.expm1), True),
    "log": (fref(np.log), True),
    "log1p": (fref(np.log1p), True),
    "sqrt": (fref(np.sqrt), True),
    "rsqrt": (fref(lambda x: 1.0 / np.sqrt(x)), True),
    "square": (np.square, False),
    "reciprocal": (fref(lambda x: 1.0 / x), True),
    "sin": (fref(np.sin), True),
    "cos": (fref(np.cos), True),
    "tanh": (fref(np.tanh), True),
    "sigmoid": (fref(lambda x: 1.0 / (1.0 + np.exp(-x))), True),
    "softplus": (fref(lambda x: np.where(x > 40, x, np.log1p(np.exp(np.minimum(x, 40))))), True),
    "relu": (lambda x: np.where(x > 0, x, np.zeros_like(x)) if x.dtype.kind != "f"
             else np.where(np.isnan(x) | (x > 0), x, np.zeros_like(x)), False),
    "erf": (fref(_erf), True),
    # floor/ceil/round of ints keep the int dtype; round is half-to-even (numpy)
    "floor": (lambda x: np.floor(x) if x.dtype.kind == "f" else x.copy(), False),
    "ceil": (lambda x: np.ceil(x) if x.dtype.kind == "f" else x.copy(), False),
    "round": (lambda x: np.round(x) if x.dtype.kind == "f" else x.copy(), False),
    "logical_not": (np.logical_not, True),
    "isnan": (np.isnan, True),
    "isfinite": (np.isfinite, True),
}

for _op, (_ref, _bool_ok) in UNARY.items():
    for _key, _x in UNARY_INPUTS.items():
        if _x.dtype == BOOL and not _bool_ok:
            continue
        case(f"{_op}-{_key}", getattr(gc, _op), _ref, _x)


def _float_binary(fn):
    def ref(a, b):
        out = float_of(np.result_type(a, b))
        return np.asarray(fn(a.astype(out).astype(F64), b.astype(out).astype(F64))).astype(out)
    return ref


# op -> (reference, rule)  arith: bool rejected; any: bool allowed; float; bool: bool result
BINARY = {
    "add": (np.add, "arith"),
    "subtract": (np.subtract, "arith"),
    "multiply": (np.multiply, "arith"),
    "divide": (_float_binary(np.true_divide), "float"),
    "floor_divide": (np.floor_divide, "arith"),
    "mod": (np.mod, "arith"),
    "power": (np.power, "arith"),
    "maximum": (np.maximum, "any"),
    "minimum": (np.minimum, "any"),
    "equal": (np.equal, "bool"),
    "not_equal": (np.not_equal, "bool"),
    "less": (np.less, "bool"),
    "less_equal": (np.less_equal, "bool"),
    "greater": (np.greater, "bool"),
    "greater_equal": (np.greater_equal, "bool"),
    "logical_and": (np.logical_and, "bool"),
    "logical_or": (np.logical_or, "bool"),
}

# left operands broadcast as (k, 1) against right operands of shape (m,)
LEFT = {"f": [-INF, -1.5, -0.0, 0.0, 2.5, 7.0, NAN], "i": [-7, -1, 0, 3, 8], "b": [True, False]}
RIGHT = {"f": [-2.0, -0.0, 0.5, 3.0, INF], "i": [-3, -1, 0, 2, 4], "b": [False, True, True]}
RIGHT_POWER = {"f": [-2.0, -0.0, 0.5, 3.0, INF], "i": [0, 1, 2, 3], "b": [False, True, True]}
BINARY_DTYPES = [(F32, F32), (F64, F64), (F32, F64), (I32, I32), (I64, I64), (I32, I64), (I32, F32),
                 (I64, F32), (BOOL, I32), (F32, BOOL), (BOOL, BOOL)]


def _binary_inputs(op, da, db):
    right = RIGHT_POWER if op == "power" else RIGHT
    return arr(LEFT[da.kind], da).reshape(-1, 1), arr(right[db.kind], db)


def binary_raises(op, da, db):
    """graphc's spec: arithmetic on bools raises DTypeError."""
    return BINARY[op][1] == "arith" and np.result_type(da, db) == BOOL


for _op, (_ref, _rule) in BINARY.items():
    for _da, _db in BINARY_DTYPES:
        if binary_raises(_op, _da, _db):
            continue
        case(f"{_op}-{_da}-{_db}", getattr(gc, _op), _ref, *_binary_inputs(_op, _da, _db))

# broadcasting with rank-0 and size-0 operands
case("add-0d-0d", gc.add, np.add, arr(1.5, F32), arr(-0.25, F32))
case("add-0d-vec", gc.add, np.add, arr(1.5, F32), dyadic((3,)))
case("multiply-empty-row", gc.multiply, np.multiply, np.zeros((0, 3), F32), dyadic((3,)))
case("subtract-empty-0d", gc.subtract, np.subtract, np.zeros((0,), I64), arr(2, I64))
case("less-empty-bcast", gc.less, np.less, np.zeros((2, 0, 1), F32), dyadic((1, 4)))
case("maximum-3d-bcast", gc.maximum, np.maximum, dyadic((2, 1, 4)), dyadic((3, 1)))
case("divide-i32-i32", gc.divide, _float_binary(np.true_divide), ints((2, 3)), arr([1, -2, 4], I32))

# where / clip / cast
_cond = arr([[True], [False], [True]], BOOL)
case("where-f32", gc.where, np.where, _cond, dyadic((4,)), arr(-0.0, F32))
case("where-promote", gc.where, np.where, _cond, ints((4,)), dyadic((3, 1), F64))
case("where-int-cond", gc.where, np.where, arr([0, 2, -1], I32), dyadic((3,)), arr([NAN, INF, 1.0], F32))
case("where-float-cond-nan", gc.where, np.where, arr([NAN, 0.0, -0.0, 1.0], F32), ints((4,)), ints((4,)))
case("where-bool", gc.where, np.where, _cond, bools((2, 3, 4)), bools((4,)))
case("where-empty", gc.where, np.where, np.zeros((0, 1), BOOL), dyadic((3,)), arr(1.0, F32))
case("where-scalar-weak", lambda c, x: gc.where(c, x, 0.0), lambda c, x: np.where(c, x, np.float32(0.0)),
     _cond, dyadic((4,)))
# two weak Python scalars: the float default (float32) wins
case("where-two-scalars", lambda c: gc.where(c, 1, 2.5),
     lambda c: np.where(c, 1, 2.5).astype(F32), _cond)
case("clip-f32", lambda x: gc.clip(x, -1.0, 2.0), lambda x: np.clip(x, F32.type(-1), F32.type(2)),
     UNARY_INPUTS["f32"])
case("clip-lo", lambda x: gc.clip(x, lo=0.5), lambda x: np.maximum(x, F32.type(0.5)), UNARY_INPUTS["f32"])
case("clip-hi", lambda x: gc.clip(x, hi=0.5), lambda x: np.minimum(x, F32.type(0.5)), UNARY_INPUTS["f32"])
case("clip-i32", lambda x: gc.clip(x, -2, 3), lambda x: np.clip(x, I32.type(-2), I32.type(3)),
     UNARY_INPUTS["i32"])
case("clip-i32-float-bounds", lambda x: gc.clip(x, 0.5, 2.5),
     lambda x: np.clip(x.astype(F32), F32.type(0.5), F32.type(2.5)), UNARY_INPUTS["i32"])
case("clip-tensor-bounds", gc.clip, np.clip, dyadic((2, 1, 4)), dyadic((3, 1)) - 1, dyadic((4,)) + 3)

CAST_INPUTS = {
    F32: arr([-2.75, -0.0, 0.5, 1.0, 3.9, 100.0], F32),
    F64: arr([[-2.75, -0.0, 0.5], [1.0, 3.9, 1e10]], F64),
    I32: arr([-3, 0, 1, 7], I32),
    I64: arr([[-(2 ** 40), 0], [1, 2 ** 53 + 1]], I64),
    BOOL: arr([True, False], BOOL),
}
for _src, _x in CAST_INPUTS.items():
    for _dst in CAST_INPUTS:
        if _src == I64 and _dst == I32:
            _x = arr([-5, 0, 1, 2 ** 31 - 1], I64)
        case(f"cast-{_src}-{_dst}", lambda x, _d=_dst: gc.cast(x, _d), lambda x, _d=_dst: x.astype(_d), _x)
case("cast-special-f32-f64", lambda x: gc.cast(x, gc.float64), lambda x: x.astype(F64), UNARY_INPUTS["f32"])
case("cast-special-f64-f32", lambda x: gc.cast(x, "float32"), lambda x: x.astype(F32), UNARY_INPUTS["f64"])
case("cast-special-f32-bool", lambda x: gc.cast(x, gc.bool), lambda x: x.astype(BOOL), UNARY_INPUTS["f32"])
case("cast-0d", lambda x: gc.cast(x, gc.int32), lambda x: x.astype(I32), arr(-2.5, F64))
case("cast-empty", lambda x: gc.cast(x, gc.float64), lambda x: x.astype(F64), np.zeros((0, 2), I32))


# -- reductions --------------------------------------------------------------
def _sum_ref(x, axis, keepdims):
    if x.dtype.kind == "f":
        return np.sum(x.astype(F64), axis=axis, keepdims=keepdims).astype(x.dtype)
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=I64)  # bool and ints sum to int64


def _prod_ref(x, axis, keepdims):
    if x.dtype.kind == "f":
        return np.prod(x.astype(F64), axis=axis, keepdims=keepdims).astype(x.dtype)
    return np.prod(x, axis=axis, keepdims=keepdims, dtype=I64)


def _mean_ref(x, axis, keepdims):
    return np.mean(x.astype(F64), axis=axis, keepdims=keepdims).astype(float_of(x.dtype))


REDUCTIONS = {
    "sum": _sum_ref,
    "prod": _prod_ref,
    "mean": _mean_ref,
    "max": lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
    "min": lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
}
ARG_REDUCTIONS = {"argmax": np.argmax, "argmin": np.argmin}


def _axis_id(axis):
    return "all" if axis is None else str(axis).replace(" ", "")


def reduction_case(op, x, axis, keepdims, tag):
    ref = REDUCTIONS[op]
    case(f"{op}-{tag}-axis{_axis_id(axis)}-kd{int(keepdims)}",
         lambda t, _a=axis, _k=keepdims: getattr(gc, op)(t, axis=_a, keepdims=_k),
         lambda a, _a=axis, _k=keepdims: ref(a, _a, _k), x)


X3 = dyadic((2, 3, 4))
for _op in REDUCTIONS:
    for _axis in (None, 0, 1, -1, (0, 2), (-1, -3), (0, 1, 2), ()):
        for _kd in (False, True):
            reduction_case(_op, X3, _axis, _kd, "f32")
    for _tag, _x in (("f64", dyadic((3, 4), F64)), ("i32", ints((3, 4))), ("i64", ints((3, 4), I64)),
                     ("bool", bools((3, 4))), ("nan", arr([[1.0, NAN, -INF], [INF, 2.0, -0.0]], F32))):
        for _axis in (None, 1, -2):
            reduction_case(_op, _x, _axis, False, _tag)
    reduction_case(_op, arr(2.5, F32), None, False, "0d")
    reduction_case(_op, arr(2.5, F32), (), True, "0d")
    reduction_case(_op, np.zeros((0, 3), F32), 1, False, "empty-rows")
    reduction_case(_op, np.zeros((2, 0, 3), F32), (0, 2), True, "empty-kept")
for _op in ("sum", "prod", "mean"):  # these have an identity (mean: nan) over an empty axis
    reduction_case(_op, np.zeros((0, 3), F32), 0, False, "empty-axis")
    reduction_case(_op, np.zeros((0, 3), I32), None, True, "empty-all")

_TIES = arr([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, -5.0, -5.0], [0.0, -0.0, NAN, 7.0]], F32)
for _op, _fn in ARG_REDUCTIONS.items():
    for _tag, _x in (("f32", _TIES), ("i32", ints((3, 4))), ("bool", bools((3, 4))), ("f64", dyadic((2, 3, 4), F64))):
        for _axis in (None, 0, 1, -1):
            for _kd in (False, True):
                case(f"{_op}-{_tag}-axis{_axis_id(_axis)}-kd{int(_kd)}",
                     lambda t, _g=getattr(gc, _op), _a=_axis, _k=_kd: _g(t, axis=_a, keepdims=_k),
                     lambda a, _f=_fn, _a=_axis, _k=_kd: _f(a, axis=_a, keepdims=_k), _x)
    case(f"{_op}-0d", getattr(gc, _op), _fn, arr(4.0, F32))
    case(f"{_op}-empty-rows", lambda t, _g=getattr(gc, _op): _g(t, axis=1),
         lambda a, _f=_fn: _f(a, axis=1), np.zeros((0, 3), I64))


def _lse_ref(axis, keepdims):
    def ref(x):
        return np.logaddexp.reduce(x.astype(float_of(x.dtype)).astype(F64), axis=axis,
                                   keepdims=keepdims).astype(float_of(x.dtype))
    return ref


for _tag, _x in (("f32", X3), ("i32", ints((2, 3, 4))), ("f64", dyadic((2, 3, 4), F64) * 20)):
    for _axis in (None, 0, -1, (0, 2)):
        for _kd in (False, True):
            case(f"logsumexp-{_tag}-axis{_axis_id(_axis)}-kd{int(_kd)}",
                 lambda t, _a=_axis, _k=_kd: gc.logsumexp(t, axis=_a, keepdims=_k), _lse_ref(_axis, _kd), _x)
# rows of -inf, +inf, nan and huge values: computed stably
case("logsumexp-special", lambda t: gc.logsumexp(t, axis=1), _lse_ref(1, False),
     arr([[-INF, -INF, -INF], [INF, 1.0, -INF], [NAN, 0.0, 1.0], [1000.0, 1000.0, -INF],
          [-1000.0, -1001.0, -INF]], F32))
case("logsumexp-0d", gc.logsumexp, _lse_ref(None, False), arr(-3.0, F32))


# -- matmul and dot ----------------------------------------------------------
def _f64_linalg(fn):
    """Float results computed in float64 and rounded; ints exactly (numpy promotion)."""
    def ref(a, b):
        out = np.result_type(a, b)
        if out.kind != "f":
            return fn(a, b)
        return np.asarray(fn(a.astype(F64), b.astype(F64))).astype(out)
    return ref


# -- convolution and pooling (float64 loop references: test_conv_kernels, test_pool_kernels) ------
def _conv_cases():
    from graphc.builder import make
    from test_conv_kernels import ref_backward_filter, ref_backward_input, ref_conv
    from test_pool_kernels import ref_avg_pool, ref_avg_pool_backward, ref_max_pool, ref_max_pool_backward
    rng = np.random.default_rng(15)   # (its own values: the other cases' draws stay as they were)

    def dyadic(shape):
        return (rng.integers(-12, 12, size=shape) / 4).astype(F32)
    geometry = dict(stride=(2, 1), pads=((1, 0), (1, 1)), dilation=(1, 2), groups=2)
    g = (geometry["stride"], geometry["pads"], geometry["dilation"], geometry["groups"])
    x, w, dy = dyadic((2, 4, 5, 6)), dyadic((6, 2, 2, 3)), dyadic((2, 6, 3, 4))
    case("conv2d-grouped", lambda a, b: make("conv2d", (a, b), geometry), _f64_linalg(lambda a, b: ref_conv(a, b, *g)),
         x, w, dynamic=False)
    case("conv2d_backward_input", lambda a, b: make("conv2d_backward_input", (a, b), {**geometry, "size": (5, 6)}),
         _f64_linalg(lambda a, b: ref_backward_input(a, b, (5, 6), *g)), dy, w, dynamic=False)
    case("conv2d_backward_filter", lambda a, b: make("conv2d_backward_filter", (a, b), {**geometry, "kernel": (2, 3)}),
         _f64_linalg(lambda a, b: ref_backward_filter(a, b, (2, 3), *g)), x, dy, dynamic=False)
    pool = dict(kernel=(2, 3), stride=(2, 2), pads=((1, 0), (1, 1)))
    p = (pool["kernel"], pool["stride"], pool["pads"])
    px, pdy = dyadic((2, 3, 5, 6)), dyadic((2, 3, 3, 3))
    case("max_pool2d", lambda a: make("max_pool2d", (a,), {**pool, "dilation": (1, 1)}),
         lambda a: ref_max_pool(a, *p, (1, 1)), px, dynamic=False)
    case("max_pool2d_backward", lambda a, b: make("max_pool2d_backward", (a, b), {**pool, "dilation": (1, 1)}),
         lambda a, b: ref_max_pool_backward(a, b, *p, (1, 1)).astype(F32), px, pdy, dynamic=False)
    case("avg_pool2d", lambda a: make("avg_pool2d", (a,), {**pool, "count_include_pad": False}),
         lambda a: ref_avg_pool(a.astype(F64), *p, False)[0].astype(F32), px, dynamic=False)
    case("avg_pool2d_backward", lambda a: make("avg_pool2d_backward", (a,), {**pool, "count_include_pad": True,
                                                                             "size": (5, 6)}),
         lambda a: ref_avg_pool_backward(a.astype(F64), (5, 6), *p, True)[0].astype(F32), pdy, dynamic=False)


_conv_cases()


MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
                 ((3,), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2)), ((2, 1, 2, 3), (3, 3, 2)),
                 ((0, 3), (3, 4)), ((2, 0), (0, 4)), ((2, 3), (3, 0))]
for _sa, _sb in MATMUL_SHAPES:
    case(f"matmul-{_sa}-{_sb}".replace(" ", ""), gc.matmul, _f64_linalg(np.matmul), dyadic(_sa), dyadic(_sb))
case("matmul-i32", gc.matmul, np.matmul, ints((2, 3)), ints((3, 2)))
case("matmul-i32-f32", gc.matmul, _f64_linalg(np.matmul), ints((4, 3)), dyadic((3,)))
case("matmul-f64", gc.matmul, np.matmul, dyadic((2, 2, 3), F64), dyadic((3, 2), F64))

DOT_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((), (3,)), ((2, 3), ()),
              ((2, 3, 4), (4,)), ((2, 3, 4), (4, 5)), ((2, 3), (4, 3, 5)), ((2, 3, 4), (5, 4, 6)),
              ((4,), (2, 4, 3)), ((0, 3), (2, 3, 2))]
for _sa, _sb in DOT_SHAPES:
    case(f"dot-{_sa}-{_sb}".replace(" ", ""), gc.dot, _f64_linalg(np.dot), dyadic(_sa), dyadic(_sb),
         dynamic=len(_sb) < 3)  # N-D right operands are reshaped: they need static dims
case("dot-i64", gc.dot, np.dot, ints((2, 3, 2), I64), ints((2,), I64))

# -- shapes and data movement -------------------------------------------------
X234 = dyadic((2, 3, 4))
for _shape in ((6, 4), (-1,), (4, -1), (2, -1, 3), (24,), (1, 2, 1, 12)):
    case(f"reshape-{_shape}".replace(" ", ""), lambda t, _s=_shape: gc.reshape(t, _s),
         lambda a, _s=_shape: a.reshape(_s), X234)
case("reshape-0d-to-1x1", lambda t: gc.reshape(t, (1, 1)), lambda a: a.reshape(1, 1), arr(5, I32))
case("reshape-to-0d", lambda t: gc.reshape(t, ()), lambda a: a.reshape(()), arr([5.5], F64))
case("reshape-empty", lambda t: gc.reshape(t, (-1, 3)), lambda a: a.reshape(-1, 3), np.zeros((3, 0, 2), BOOL))
case("reshape-empty-known", lambda t: gc.reshape(t, (0, 5)), lambda a: a.reshape(0, 5), np.zeros((2, 0), F32))
for _perm in (None, (1, 0, 2), (2, 0, 1), (-1, 0, -2)):
    case(f"transpose-{_perm}".replace(" ", ""), lambda t, _p=_perm: gc.transpose(t, _p),
         lambda a, _p=_perm: np.transpose(a, _p), X234)
case("transpose-0d", gc.transpose, np.transpose, arr(1.0, F32))
case("transpose-empty", gc.transpose, np.transpose, np.zeros((0, 2), I32))
for _axis in (0, 1, -1, -3, (0, 2), (-1, 0)):
    case(f"expand_dims-{_axis}".replace(" ", ""), lambda t, _a=_axis: gc.expand_dims(t, _a),
         lambda a, _a=_axis: np.expand_dims(a, _a), dyadic((2, 3)))
case("expand_dims-0d", lambda t: gc.expand_dims(t, 0), lambda a: np.expand_dims(a, 0), arr(True, BOOL))
_X1 = dyadic((1, 3, 1, 2))
case("squeeze-all", gc.squeeze, np.squeeze, _X1, dynamic=False)  # unknown dims are not squeezed
for _axis in (0, 2, -2, (0, 2), (-4, -2)):
    case(f"squeeze-{_axis}".replace(" ", ""), lambda t, _a=_axis: gc.squeeze(t, _a),
         lambda a, _a=_axis: np.squeeze(a, _a), _X1)
case("squeeze-to-0d", lambda t: gc.squeeze(t, 0), lambda a: np.squeeze(a, 0), arr([7], I64))
case("squeeze-empty", lambda t: gc.squeeze(t, 1), lambda a: np.squeeze(a, 1), np.zeros((0, 1), F32))
for _src, _dst in (((3, 1), (2, 3, 4)), ((), (2, 2)), ((3,), (0, 3)), ((4,), (4,)), ((1, 3), (2, 1, 3))):
    case(f"broadcast_to-{_src}-{_dst}".replace(" ", ""), lambda t, _d=_dst: gc.broadcast_to(t, _d),
         lambda a, _d=_dst: np.broadcast_to(a, _d), dyadic(_src))
for _axis in (0, 1, -1):
    case(f"concat-axis{_axis}", lambda a, b, c, _x=_axis: gc.concat([a, b, c], _x),
         lambda a, b, c, _x=_axis: np.concatenate([a, b, c], _x), X234, dyadic((2, 3, 4)), dyadic((2, 3, 4)))
case("concat-uneven", lambda a, b: gc.concat([a, b], 1), lambda a, b: np.concatenate([a, b], 1),
     dyadic((2, 1)), dyadic((2, 3)))
case("concat-promote", lambda a, b: gc.concat([a, b], 0), lambda a, b: np.concatenate([a, b], 0),
     dyadic((1, 3)), ints((2, 3)))
case("concat-empty-part", lambda a, b: gc.concat([a, b], 0), lambda a, b: np.concatenate([a, b], 0),
     np.zeros((0, 3), I64), ints((2, 3), I64))
case("concat-one", lambda a: gc.concat([a], 0), lambda a: np.concatenate([a], 0), ints((2, 3)))
for _axis in (0, 1, -1):
    case(f"stack-axis{_axis}", lambda a, b, _x=_axis: gc.stack([a, b], _x),
         lambda a, b, _x=_axis: np.stack([a, b], _x), dyadic((2, 3)), dyadic((2, 3)))
case("stack-0d", lambda a, b, c: gc.stack([a, b, c]), lambda a, b, c: np.stack([a, b, c]),
     arr(1, I32), arr(2, I32), arr(3, I32))
case("stack-promote", lambda a, b: gc.stack([a, b], -1), lambda a, b: np.stack([a, b], -1),
     bools((3,)), ints((3,), I64))
case("stack-empty", lambda a, b: gc.stack([a, b], 1), lambda a, b: np.stack([a, b], 1),
     np.zeros((0, 2), F32), np.zeros((0, 2), F32))
for _n_or_sizes, _axis in ((3, 1), (2, 0), (4, -1), (1, 0), ([1, 1], 0), ([2, 0, 1], 1), ([3, 1], -1)):
    _sections = _n_or_sizes if isinstance(_n_or_sizes, int) else list(np.cumsum(_n_or_sizes)[:-1])
    case(f"split-{_n_or_sizes}-axis{_axis}".replace(" ", ""),
         lambda t, _n=_n_or_sizes, _a=_axis: gc.split(t, _n, _a),
         lambda a, _s=_sections, _a=_axis: np.split(a, _s, _a), X234, dynamic=False)
for _axis in (0, 1, -1):
    case(f"unstack-axis{_axis}", lambda t, _a=_axis: gc.unstack(t, _a),
         lambda a, _a=_axis: [np.take(a, i, _a) for i in range(a.shape[_a])], X234, dynamic=False)
case("unstack-empty", gc.unstack, lambda a: [a[0], a[1]], np.zeros((2, 0), I32), dynamic=False)
for _tag, _width in (("int", 1), ("pair", (1, 2)), ("per-axis", ((0, 1), (2, 0))), ("zero", 0)):
    case(f"pad-{_tag}", lambda t, _w=_width: gc.pad(t, _w), lambda a, _w=_width: np.pad(a, _w), dyadic((2, 3)))
case("pad-value-f32", lambda t: gc.pad(t, (1, 1), constant_values=-2.5),
     lambda a: np.pad(a, (1, 1), constant_values=-2.5), dyadic((3,)))
case("pad-value-nan", lambda t: gc.pad(t, ((1, 0), (0, 2)), constant_values=NAN),
     lambda a: np.pad(a, ((1, 0), (0, 2)), constant_values=NAN), dyadic((2, 2), F64))
case("pad-i64", lambda t: gc.pad(t, ((1, 0), (0, 2)), constant_values=7),
     lambda a: np.pad(a, ((1, 0), (0, 2)), constant_values=7), ints((2, 2), I64))
case("pad-bool", lambda t: gc.pad(t, 1), lambda a: np.pad(a, 1), bools((2,)))
case("pad-empty", lambda t: gc.pad(t, ((1, 1), (0, 1))), lambda a: np.pad(a, ((1, 1), (0, 1))),
     np.zeros((0, 2), F32))
for _axis, _idx in ((0, [1, 0, 1, -1]), (1, [[2, -3], [0, 1]]), (-1, [3, -4]), (2, 2), (1, [], )):
    _idx = arr(_idx, I64 if _axis != 1 else I32)
    case(f"gather-axis{_axis}-idx{_idx.shape}".replace(" ", ""),
         lambda t, i, _a=_axis: gc.gather(t, i, _a), lambda a, i, _a=_axis: np.take(a, i, _a), X234, _idx)
case("gather-bool", gc.gather, lambda a, i: np.take(a, i, 0), bools((3, 2)), arr([2, 2, -3], I64))
case("take-flat", gc.take, np.take, ints((3, 4)), arr([[0, 11], [-1, 5]], I64))


def _scatter_add_ref(x, indices, updates, axis):
    out = np.zeros(x.shape, updates.dtype)
    for position, index in enumerate(np.asarray(indices).reshape(-1)):   # repeated indices accumulate
        source = np.take(updates.reshape(x.shape[:axis] + (-1,) + x.shape[axis + 1:]), position, axis)
        target = [slice(None)] * x.ndim
        target[axis] = index
        out[tuple(target)] += source
    return out


for _axis, _idx in ((0, [1, 0, 1, -1]), (1, [[2, -3], [0, 2]]), (2, 3)):
    _idx = arr(_idx, I64)
    _updates = dyadic(np.take(X234, _idx, _axis).shape)
    case(f"scatter_add-axis{_axis}-idx{_idx.shape}".replace(" ", ""),
         lambda t, i, u, _a=_axis: make("scatter_add", (t, i, u), {"axis": _a}),
         lambda a, i, u, _a=_axis: _scatter_add_ref(a, i, u, _a), X234, _idx, _updates)
case("sum_to-leading-and-unit", lambda g, x: make("sum_to", (g, x)),
     lambda g, x: g.sum(axis=(0, 2), keepdims=True).reshape(x.shape), X234, dyadic((3, 1)))
case("sum_to-same", lambda g, x: make("sum_to", (g, x)), lambda g, x: g, X234, X234)
case("full_like-float", lambda t: gc.full_like(t, 2.5), lambda a: np.full_like(a, 2.5), X234)
case("zeros_like-int", gc.zeros_like, np.zeros_like, ints((3, 4)))
case("ones_like-to-bool", lambda t: gc.ones_like(t, gc.bool), lambda a: np.ones_like(a, bool), X234)
case("full_like-empty", lambda t: gc.full_like(t, 7, gc.int32), lambda a: np.full(a.shape, 7, np.int32),
     np.zeros((0, 2), F32))
case("take-flat-0d-index", gc.take, np.take, ints((3, 4)), arr(-2, I32))
case("take-axis", lambda t, i: gc.take(t, i, axis=-2), lambda a, i: np.take(a, i, -2), X234, arr([2, -1], I64))

# gc.random: the seed is the op's input; py_draw (test_random.py) is a scalar Python model of Philox4x32-10
from test_random import py_draw  # noqa: E402

case("random-normal", lambda s: gc.random.normal((2, 3), mean=1.0, stddev=0.5, seed=s),
     lambda s: py_draw(int(s), "normal", (2, 3), F32) * np.float32(0.5) + np.float32(1), arr(7, I64))
case("random-uniform-f64", lambda s: gc.random.uniform((5,), dtype=gc.float64, seed=s),
     lambda s: py_draw(int(s), "uniform", (5,), F64), arr(-3, I64))
case("random-bernoulli", lambda s: gc.random.bernoulli((3, 2), p=0.4, seed=s),
     lambda s: py_draw(int(s), "uniform", (3, 2), F32) < np.float32(0.4), arr(12, I64))


def _one_hot_ref(depth, dtype=F32):
    return lambda i: (i[..., None] == np.arange(depth)).astype(dtype)


case("one_hot", lambda i: gc.one_hot(i, 4), _one_hot_ref(4), arr([0, 3, 1, 4, -1], I64))
case("one_hot-2d-i32", lambda i: gc.one_hot(i, 3, dtype=gc.int32), _one_hot_ref(3, I32), arr([[0, 2], [1, 1]], I32))
case("one_hot-0d", lambda i: gc.one_hot(i, 2, dtype=gc.float64), _one_hot_ref(2, F64), arr(1, I64))
case("one_hot-empty", lambda i: gc.one_hot(i, 3), _one_hot_ref(3), np.zeros((0,), I64))
for _reps, _shape in ((2, (2, 3)), ((2, 1), (2, 3)), ((1, 3), (2, 3)), ((2, 1, 2), (2, 3)), (3, ()), ((2, 2), (0, 2)),
                      ((3,), (4,)), ((0, 2), (2, 3))):
    case(f"tile-{_reps}-{_shape}".replace(" ", ""), lambda t, _r=_reps: gc.tile(t, _r),
         lambda a, _r=_reps: np.tile(a, _r), dyadic(_shape))

# -- Tensor operators and methods, Python scalars (weak, NEP 50) --------------
XF, YF, XI, YI = dyadic((2, 3)), dyadic((3,)) + 0.25, ints((2, 3)), ints((3,)) + 7
BA, BB = bools((2, 3)), bools((3,))
_f32, _i32 = F32.type, I32.type
OPERATORS = [
    ("+", lambda a, b: a + b, np.add, XF, YF),
    ("-", lambda a, b: a - b, np.subtract, XI, YI),
    ("*", lambda a, b: a * b, np.multiply, XF, XI),
    ("/", lambda a, b: a / b, _float_binary(np.true_divide), XF, YF),
    ("/int", lambda a, b: a / b, _float_binary(np.true_divide), XI, YI),
    ("//", lambda a, b: a // b, np.floor_divide, XF, YF),
    ("//int", lambda a, b: a // b, np.floor_divide, XI, YI),
    ("%", lambda a, b: a % b, np.mod, XF, YF),
    ("%int", lambda a, b: a % b, np.mod, XI, YI),
    ("**", lambda a, b: a ** b, np.power, XF, YF),
    ("**int", lambda a, b: a ** b, np.power, XI, YI),
    ("@", lambda a, b: a @ b, _f64_linalg(np.matmul), XF, dyadic((3, 2))),
    ("unary-", lambda a: -a, np.negative, XF),
    ("unary+", lambda a: +a, lambda a: a, XI),
    ("abs()", lambda a: abs(a), np.abs, XI),
    ("<", lambda a, b: a < b, np.less, XF, YF),
    ("<=", lambda a, b: a <= b, np.less_equal, XI, XF),
    (">", lambda a, b: a > b, np.greater, XI, YI),
    (">=", lambda a, b: a >= b, np.greater_equal, XF, XF),
    ("&", lambda a, b: a & b, np.logical_and, BA, BB),
    ("|", lambda a, b: a | b, np.logical_or, BA, BB),
    ("~", lambda a: ~a, np.logical_not, BA),
    ("&scalar", lambda a: a & True, lambda a: np.logical_and(a, True), BA),
    ("scalar|", lambda a: False | a, lambda a: np.logical_or(False, a), BB),
    (".T", lambda a: a.T, lambda a: a.T, X234),
    (".T-2d", lambda a: a.T, lambda a: a.T, XI),
    (".reshape(*)", lambda a: a.reshape(3, -1), lambda a: a.reshape(3, -1), XF),
    (".reshape(tuple)", lambda a: a.reshape((6,)), lambda a: a.reshape((6,)), XF),
    (".reshape(int)", lambda a: a.reshape(-1), lambda a: a.reshape(-1), XI),
    (".astype(f64)", lambda a: a.astype("float64"), lambda a: a.astype(F64), XF),
    (".astype(i32)", lambda a: a.astype(gc.int32), lambda a: a.astype(I32), XF),
    (".sum()", lambda a: a.sum(), lambda a: a.sum(dtype=I64), XI),
    (".sum(axis)", lambda a: a.sum(axis=0), lambda a: a.astype(F64).sum(axis=0).astype(F32), XF),
    (".mean(kd)", lambda a: a.mean(-1, keepdims=True), lambda a: a.mean(-1, keepdims=True), dyadic((2, 3), F64)),
    (".mean()-int", lambda a: a.mean(), lambda a: a.astype(F64).mean().astype(F32), XI),
    (".max()", lambda a: a.max(), lambda a: a.max(), XF),
    (".max(kd)", lambda a: a.max(1, keepdims=True), lambda a: a.max(1, keepdims=True), XI),
    (".min(axis)", lambda a: a.min(axis=(0, 1)), lambda a: a.min(axis=(0, 1)), X234),
    # Python scalars are weak: they take the tensor's dtype (NEP 50); a float next to ints gives float32
    ("f32*2.0", lambda a: a * 2.0, lambda a: a * _f32(2.0), XF),
    ("2.0*f32", lambda a: 2.0 * a, lambda a: _f32(2.0) * a, XF),
    ("f32+1", lambda a: a + 1, lambda a: a + _f32(1), XF),
    ("1-f32", lambda a: 1 - a, lambda a: _f32(1) - a, XF),
    ("1/f32", lambda a: 1 / a, lambda a: _f32(1) / a, XF),
    ("2**f32", lambda a: 2 ** a, lambda a: _f32(2) ** a, XF),
    ("f32**0.5", lambda a: a ** 0.5, lambda a: a ** _f32(0.5), XF),
    ("f64+1.5", lambda a: a + 1.5, lambda a: a + 1.5, dyadic((3,), F64)),
    ("i32+1", lambda a: a + 1, lambda a: a + _i32(1), XI),
    ("3-i32", lambda a: 3 - a, lambda a: _i32(3) - a, XI),
    ("i32*2.0", lambda a: a * 2.0, lambda a: a.astype(F32) * _f32(2.0), XI),
    ("2.5+i32", lambda a: 2.5 + a, lambda a: _f32(2.5) + a.astype(F32), XI),
    ("i32/2", lambda a: a / 2, lambda a: (a.astype(F64) / 2).astype(F32), XI),
    ("7/i32", lambda a: 7 / a, lambda a: (7 / a.astype(F64)).astype(F32), YI),
    ("i32//2", lambda a: a // 2, lambda a: a // _i32(2), XI),
    ("i32%3", lambda a: a % 3, lambda a: a % _i32(3), XI),
    ("i32**2", lambda a: a ** 2, lambda a: a ** _i32(2), XI),
    ("2**i32", lambda a: 2 ** a, lambda a: _i32(2) ** a, YI),
    ("i64-1", lambda a: a - 1, lambda a: a - 1, ints((3,), I64)),
    ("bool+1", lambda a: a + 1, lambda a: a + 1, BA),  # numpy: a Python int next to bool gives int64
    ("bool*1.5", lambda a: a * 1.5, lambda a: a.astype(F32) * _f32(1.5), BA),
    ("f32*True", lambda a: a * True, lambda a: a * True, XF),
    ("i32<2.5", lambda a: a < 2.5, lambda a: a < 2.5, XI),
    ("f32==", lambda a: gc.equal(a, 0.5), lambda a: a == 0.5, XF),
    ("f32!=", lambda a: gc.not_equal(a, -0.0), lambda a: a != 0.0, XF),
    # numpy scalars and arrays are strong: numpy promotion
    ("f32+np.float64", lambda a: a + np.float64(1.5), lambda a: a + np.float64(1.5), XF),
    ("i32+np.int64", lambda a: a + np.int64(3), lambda a: a + np.int64(3), XI),
    ("i32+np.float32", lambda a: a + np.float32(0.5), lambda a: a + np.float32(0.5), XI),
    ("f32+ndarray-f64", lambda a: a + np.arange(3.0), lambda a: a + np.arange(3.0), XF),
    ("ndarray-f64*f32", lambda a: np.arange(3.0) * a, lambda a: np.arange(3.0) * a, XF),
    ("list+i32", lambda a: gc.add([1, 2, 3], a), lambda a: np.add([1, 2, 3], a), XI),  # a list is strong
    ("f32+0d-i64", lambda a, b: a + b, np.add, XF, arr(2, I64)),
    ("i32*0d-f64", lambda a, b: a * b, np.multiply, XI, arr(0.5, F64)),
]
for _name, _fn, _ref, *_args in OPERATORS:
    case(f"operator{_name}", _fn, _ref, *_args)

# constants: Python floats give float32, Python ints int64; numpy values keep their dtype
for _name, _value, _expected in (("float", 1.0, arr(1.0, F32)), ("int", 1, arr(1, I64)),
                                 ("bool", True, arr(True, BOOL)), ("float-list", [1, 2.5], arr([1, 2.5], F32)),
                                 ("int-nested", [[1], [2]], arr([[1], [2]], I64)),
                                 ("np.float64", np.float64(0.1), arr(0.1, F64)),
                                 ("np.int32", np.int32(-3), arr(-3, I32)),
                                 ("ndarray-f64", np.arange(3.0), np.arange(3.0)),
                                 ("empty-list", [], np.array([], F32)),
                                 ("specials", [-0.0, INF, -INF, NAN], arr([-0.0, INF, -INF, NAN], F32)),
                                 ("explicit-dtype", [1, 2], arr([1, 2], F64))):
    case(f"constant-{_name}",
         lambda _v=_value, _n=_name: gc.constant(_v, dtype=gc.float64 if _n == "explicit-dtype" else None),
         lambda _e=_expected: _e)

CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "case ids must be unique"


# -- running a case ------------------------------------------------------------
def build(case, mode):
    """Build ``case`` from constants, or placeholders of static or all-None shape.
    Returns (list of output Tensors, feed_dict, input Tensors)."""
    if mode == "const":
        inputs = [gc.constant(a) for a in case.args]
    else:
        inputs = [gc.placeholder(a.dtype, a.shape if mode == "static" else (None,) * a.ndim, name=f"x{i}")
                  for i, a in enumerate(case.args)]
    out = case.fn(*inputs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    feed = {} if mode == "const" else {t: a for t, a in zip(inputs, case.args)}
    return outs, feed, inputs


def check_static_types(outs, expected, exact=True):
    assert len(outs) == len(expected)
    for t, e in zip(outs, expected):
        assert isinstance(t, gc.Tensor), t
        assert t.dtype == e.dtype, (t, e.dtype)
        if exact:
            assert t.shape == e.shape, (t, e.shape)
        else:
            assert len(t.shape) == e.ndim, (t, e.shape)
            assert all(d is None or d == s for d, s in zip(t.shape, e.shape)), (t, e.shape)


def run_outputs(outs, feed):
    with gc.Session(device="reference") as sess:
        return sess.run(outs, feed)


def check_values(values, expected):
    for v, e in zip(values, expected):
        assert isinstance(v, np.ndarray)
        assert_close(v, e, e.dtype)
        if e.dtype.kind == "f":  # zeros carry numpy's sign: neg(0.0) is -0.0, floor(-0.5) is -0.0
            zeros = e == 0
            assert np.array_equal(np.signbit(v[zeros]), np.signbit(e[zeros])), (v, e)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_static_dtype_and_shape(case):
    outs, _, _ = build(case, "const")
    check_static_types(outs, case.expected())


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_value(case):
    outs, feed, _ = build(case, "const")
    check_values(run_outputs(outs, feed), case.expected())


@pytest.mark.parametrize("case", [c for c in CASES if c.args], ids=[c.id for c in CASES if c.args])
def test_fed_static(case):
    outs, feed, _ = build(case, "static")
    expected = case.expected()
    check_static_types(outs, expected)
    check_values(run_outputs(outs, feed), expected)


_DYNAMIC = [c for c in CASES if c.dynamic and any(a.ndim for a in c.args)]


@pytest.mark.parametrize("case", _DYNAMIC, ids=[c.id for c in _DYNAMIC])
def test_fed_unknown_dims(case):
    """Every input dim None at build time: the inferred shape has the right rank and no wrong
    known dim; the run, with shapes fixed by the feeds, matches numpy."""
    outs, feed, _ = build(case, "dynamic")
    expected = case.expected()
    check_static_types(outs, expected, exact=False)
    check_values(run_outputs(outs, feed), expected)


def test_table_covers_every_primitive():
    seen = set()
    for c in CASES:
        with gc.Graph().as_default() as g:
            build(c, "const")
            seen |= {n.op for n in g.nodes}
    # sources and effects are covered by the session tests (updates by test_train); fused kernels by the fusion
    # tests; identity and shape never reach a program (ops/static.py; test_compat_v1 runs them)
    primitives = set(gc.ops.all_ops()) - {"placeholder", "variable", "init_variables", "fused", "assign", "group",
                                          "identity", "shape"}
    assert primitives <= seen, primitives - seen


def test_table_covers_every_public_function():
    names = ("neg abs sign exp expm1 log log1p sqrt rsqrt square reciprocal sin cos tanh sigmoid softplus relu erf "
             "floor ceil "
             "round logical_not isnan isfinite add subtract multiply divide floor_divide mod power maximum minimum "
             "equal not_equal less less_equal greater greater_equal logical_and logical_or where clip cast sum mean "
             "max min prod argmax argmin logsumexp matmul dot reshape transpose expand_dims squeeze broadcast_to "
             "concat stack split unstack pad gather take one_hot tile").split()
    prefixes = {c.id.split("-")[0] for c in CASES}
    assert set(names) <= prefixes, set(names) - prefixes


# -- placeholders with unknown dims: exact build-time shapes ---------------------
def test_unknown_dims_exact_shapes():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    v = gc.placeholder(gc.float32, (None,), name="v")
    w_value = dyadic((3, 4))
    w = gc.constant(w_value)
    assert x.shape == (None, 3) and x.dtype == F32
    table = [
        (x * 2.0 + 1, (None, 3)),
        (gc.exp(x), (None, 3)),
        (gc.sum(x, axis=0), (3,)),
        (gc.sum(x, axis=1), (None,)),
        (gc.mean(x, axis=0, keepdims=True), (1, 3)),
        (gc.max(x, keepdims=True), (1, 1)),
        (gc.argmax(x, axis=-1), (None,)),
        (gc.logsumexp(x, axis=-1), (None,)),
        (x @ w, (None, 4)),
        (gc.matmul(v, gc.constant(dyadic((4, 2)))), (2,)),
        (gc.dot(x, w), (None, 4)),
        (x + gc.constant(dyadic((1, 3))), (None, 3)),
        (x + v[:, None], (None, 3)),
        (gc.expand_dims(v, 1) + gc.constant(dyadic((5,))), (None, 5)),
        (v + gc.constant(dyadic((5,))), (5,)),
        (v + v, (None,)),
        (gc.reshape(x, (-1,)), (None,)),
        (gc.reshape(x, (-1, 6)), (None, 6)),
        (gc.transpose(x), (3, None)),
        (gc.concat([x, x], 0), (None, 3)),
        (gc.concat([x, gc.constant(dyadic((2, 3)))], 0), (None, 3)),
        (gc.concat([x, x], 1), (None, 6)),
        (gc.stack([x, x], 1), (None, 2, 3)),
        (gc.pad(x, ((1, 2), (0, 1))), (None, 4)),
        (gc.gather(x, gc.constant([0, 0])), (2, 3)),
        (gc.gather(gc.constant(dyadic((5, 2))), gc.placeholder(gc.int64, (None, 2))), (None, 2, 2)),
        (gc.squeeze(gc.expand_dims(x, 1), 1), (None, 3)),
        (gc.tile(x, (2, 1)), (None, 3)),
        (gc.one_hot(gc.placeholder(gc.int64, (None,)), 4), (None, 4)),
        (gc.where(gc.isnan(x), 0.0, x), (None, 3)),
        (gc.split(x, 3, axis=1)[1], (None, 1)),
        (gc.unstack(x, axis=1)[0], (None,)),
        (gc.broadcast_to(v[:, None], (7, 2)), (7, 2)),
    ]
    for t, shape in table:
        assert t.shape == shape, (t, shape)
    # the shapes become concrete when fed
    for rows in (0, 1, 5):
        xv, vv = dyadic((rows, 3)), dyadic((rows,))
        ys = run_outputs([x * 2.0 + 1, gc.sum(x, axis=1), x @ w, gc.transpose(x), gc.tile(x, (2, 1)),
                          x + v[:, None]], {x: xv, "v": vv})
        expected = [xv * 2 + 1, xv.sum(1), xv @ w_value, xv.T, np.tile(xv, (2, 1)), xv + vv[:, None]]
        check_values(ys, [np.asarray(e, F32) for e in expected])


def test_unknown_dim_broadcast_to_known_dims():
    x = gc.placeholder(gc.float32, (None, 1), name="x")
    row, col = dyadic((1, 4)), dyadic((3, 1))
    assert (x + gc.constant(row)).shape == (None, 4)
    z = x + gc.constant(col)  # None against 3: the feed must make it 1 or 3
    assert z.shape == (3, 1)
    for xv in (dyadic((3, 1)), dyadic((1, 1))):
        assert_close(run_outputs([z], {x: xv})[0], xv + col, F32)


# -- errors at build time ----------------------------------------------------------
def _b(shape=(3,)):
    return gc.constant(np.ones(shape, BOOL))


def _f(shape=(3,), dtype=F32):
    return gc.constant(np.ones(shape, dtype))


ERRORS = [
    # arithmetic on bools raises DTypeError
    *[(f"bool-{op}", gc.errors.DTypeError, lambda op=op: getattr(gc, op)(_b(), _b()))
      for op, (_, rule) in BINARY.items() if rule == "arith"],
    *[(f"bool-{op}", gc.errors.DTypeError, lambda op=op: getattr(gc, op)(_b()))
      for op, (_, bool_ok) in UNARY.items() if not bool_ok],
    ("bool-matmul", gc.errors.DTypeError, lambda: gc.matmul(_b((2, 2)), _b((2, 2)))),
    ("bool-dot", gc.errors.DTypeError, lambda: gc.dot(_b(), _b())),
    ("bool-operator+", gc.errors.DTypeError, lambda: _b() + _b()),
    ("bool-operator-", gc.errors.DTypeError, lambda: _b() - _b()),
    ("bool-unary-", gc.errors.DTypeError, lambda: -_b()),
    ("bool-operator*", gc.errors.DTypeError, lambda: _b() * _b()),
    ("bool-operator**", gc.errors.DTypeError, lambda: _b() ** _b()),
    # max/min/argmax/argmin over an empty axis have no identity
    ("max-empty-axis", gc.errors.ShapeError, lambda: gc.max(_f((0, 3)), axis=0)),
    ("min-empty-all", gc.errors.ShapeError, lambda: gc.min(_f((2, 0)))),
    ("max-empty-0-size-vector", gc.errors.ShapeError, lambda: _f((0,)).max()),
    ("argmax-empty", gc.errors.ShapeError, lambda: gc.argmax(_f((0, 3)))),
    ("argmin-empty-axis", gc.errors.ShapeError, lambda: gc.argmin(_f((3, 0)), axis=1)),
    ("logsumexp-empty", gc.errors.ShapeError, lambda: gc.logsumexp(_f((0, 3)), axis=0)),
    # shapes
    ("broadcast-mismatch", gc.errors.ShapeError, lambda: _f((3,)) + _f((4,))),
    ("broadcast-mismatch-2d", gc.errors.ShapeError, lambda: gc.where(_b((2, 1)), _f((3,)), _f((4, 1)))),
    ("matmul-mismatch", gc.errors.ShapeError, lambda: gc.matmul(_f((2, 3)), _f((4, 2)))),
    ("matmul-batch-mismatch", gc.errors.ShapeError, lambda: gc.matmul(_f((2, 2, 3)), _f((3, 3, 2)))),
    ("matmul-0d", gc.errors.ShapeError, lambda: gc.matmul(_f(()), _f((3,)))),
    ("dot-mismatch", gc.errors.ShapeError, lambda: gc.dot(_f((2, 3)), _f((2, 3)))),
    ("sum-axis-too-big", gc.errors.ShapeError, lambda: gc.sum(_f((2, 3)), axis=2)),
    ("sum-axis-too-small", gc.errors.ShapeError, lambda: gc.sum(_f((2, 3)), axis=-3)),
    ("sum-axis-0d", gc.errors.ShapeError, lambda: gc.sum(_f(()), axis=0)),
    ("sum-repeated-axis", gc.errors.ShapeError, lambda: gc.sum(_f((2, 3)), axis=(1, -1))),
    ("argmax-axis", gc.errors.ShapeError, lambda: gc.argmax(_f((2, 3)), axis=2)),
    ("reshape-size", gc.errors.ShapeError, lambda: gc.reshape(_f((2, 3)), (4, 2))),
    ("reshape-two-minus-one", gc.errors.ShapeError, lambda: gc.reshape(_f((2, 3)), (-1, -1))),
    ("reshape-indivisible", gc.errors.ShapeError, lambda: gc.reshape(_f((2, 3)), (4, -1))),
    ("reshape-empty-minus-one", gc.errors.ShapeError, lambda: gc.reshape(_f((0, 3)), (0, -1))),
    ("transpose-bad-perm", gc.errors.ShapeError, lambda: gc.transpose(_f((2, 3)), (0, 0))),
    ("transpose-short-perm", gc.errors.ShapeError, lambda: gc.transpose(_f((2, 3, 4)), (1, 0))),
    ("expand_dims-axis", gc.errors.ShapeError, lambda: gc.expand_dims(_f((2, 3)), 3)),
    ("squeeze-not-one", gc.errors.ShapeError, lambda: gc.squeeze(_f((2, 1)), 0)),
    ("broadcast_to-bad", gc.errors.ShapeError, lambda: gc.broadcast_to(_f((3,)), (3, 2))),
    ("broadcast_to-fewer-dims", gc.errors.ShapeError, lambda: gc.broadcast_to(_f((2, 3)), (3,))),
    ("concat-rank", gc.errors.ShapeError, lambda: gc.concat([_f((2, 3)), _f((3,))], 0)),
    ("concat-dims", gc.errors.ShapeError, lambda: gc.concat([_f((2, 3)), _f((2, 4))], 0)),
    ("concat-axis", gc.errors.ShapeError, lambda: gc.concat([_f((2, 3)), _f((2, 3))], 2)),
    ("concat-nothing", gc.errors.ShapeError, lambda: gc.concat([], 0)),
    ("stack-shapes", gc.errors.ShapeError, lambda: gc.stack([_f((2,)), _f((3,))])),
    ("split-uneven", gc.errors.ShapeError, lambda: gc.split(_f((5,)), 2)),
    ("split-sizes", gc.errors.ShapeError, lambda: gc.split(_f((5,)), [2, 2])),
    ("pad-negative", gc.errors.ShapeError, lambda: gc.pad(_f((2,)), -1)),
    ("pad-widths", gc.errors.ShapeError, lambda: gc.pad(_f((2, 3)), ((1, 1), (1, 1), (1, 1)))),
    ("gather-float-indices", gc.errors.DTypeError, lambda: gc.gather(_f((3,)), _f((2,)))),
    ("gather-axis", gc.errors.ShapeError, lambda: gc.gather(_f((3,)), gc.constant([0]), axis=1)),
    # dtypes
    ("int-overflow-scalar", gc.errors.DTypeError, lambda: _f((2,), I32) + 2 ** 40),
    ("unsupported-constant", gc.errors.DTypeError, lambda: gc.constant(np.ones(2, np.float16))),
    ("unsupported-cast", gc.errors.DTypeError, lambda: gc.cast(_f(), np.uint8)),
    ("complex-constant", gc.errors.DTypeError, lambda: gc.constant(1j)),
]


@pytest.mark.parametrize("make", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_build_errors(make):
    error, fn = make
    with pytest.raises(error):
        fn()


def test_build_error_names_the_op_and_this_line():
    with pytest.raises(gc.errors.ShapeError) as info:
        _f((3,)) + _f((4,))  # the line the error must point at
    message = str(info.value)
    assert "add" in message and "test_ops.py:" in message


@pytest.mark.parametrize("make", [
    lambda: gc.gather(_f((3,)), gc.constant([0, 3])),
    lambda: gc.take(_f((2, 2)), gc.constant(-5)),
    lambda: gc.power(gc.constant(np.array([2, 3], I32)), gc.constant(np.array([1, -1], I32))),
], ids=["gather-out-of-range", "take-out-of-range", "int-negative-power"])
def test_run_errors(make):
    """What numpy refuses to compute raises ExecutionError when the graph runs."""
    t = make()
    with pytest.raises(gc.errors.ExecutionError):
        run_outputs([t], {})


# -- property tests with hypothesis ------------------------------------------------
HYPOTHESIS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])
DTYPES = [F32, F64, I32, I64, BOOL]


def elements(dtype, exponent=False):
    if dtype.kind == "f":
        if exponent:
            return st.sampled_from([-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 3.0, INF, NAN])
        return st.floats(width=dtype.itemsize * 8, allow_nan=True, allow_infinity=True)
    if dtype.kind == "i":
        return st.integers(0, 4) if exponent else st.integers(-20, 20)
    return st.booleans()


@st.composite
def binary_inputs(draw):
    op = draw(st.sampled_from(sorted(BINARY)))
    da, db = draw(st.sampled_from(DTYPES)), draw(st.sampled_from(DTYPES))
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=4))
    a = draw(hnp.arrays(da, shapes.input_shapes[0], elements=elements(da)))
    b = draw(hnp.arrays(db, shapes.input_shapes[1], elements=elements(db, exponent=op == "power")))
    unknown = draw(st.lists(st.booleans(), min_size=a.ndim + b.ndim, max_size=a.ndim + b.ndim))
    return op, a, b, unknown


@HYPOTHESIS
@given(binary_inputs())
def test_binary_ops_random_broadcasts(inputs):
    """Random broadcastable shapes (rank 0..3, sizes 0..4), dtypes and values, some dims unknown."""
    op, a, b, unknown = inputs
    with gc.Graph().as_default():
        shapes = (tuple(None if u else d for u, d in zip(unknown, a.shape)),
                  tuple(None if u else d for u, d in zip(unknown[a.ndim:], b.shape)))
        pa, pb = (gc.placeholder(v.dtype, s) for v, s in zip((a, b), shapes))
        if binary_raises(op, a.dtype, b.dtype):
            with pytest.raises(gc.errors.DTypeError):
                getattr(gc, op)(pa, pb)
            return
        out = getattr(gc, op)(pa, pb)
        with quiet():
            expected = np.asarray(BINARY[op][0](a, b))
        assert out.dtype == expected.dtype
        check_static_types([out], [expected], exact=not any(unknown))
        check_values(run_outputs([out], {pa: a, pb: b}), [expected])


@st.composite
def reduction_inputs(draw):
    op = draw(st.sampled_from(sorted(REDUCTIONS) + sorted(ARG_REDUCTIONS)))
    dtype = draw(st.sampled_from(DTYPES))
    x = draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
                        elements=elements(dtype) if dtype.kind != "f" else st.integers(-64, 64).map(lambda v: v / 8)))
    if op in ARG_REDUCTIONS:
        axis = draw(st.none() | st.integers(-x.ndim, x.ndim - 1)) if x.ndim else None
    else:
        axes = draw(st.lists(st.integers(0, x.ndim - 1), unique=True)) if x.ndim else []
        axis = draw(st.sampled_from([None, tuple(a - x.ndim if draw(st.booleans()) else a for a in axes)]))
        if axis is not None and len(axis) == 1 and draw(st.booleans()):
            axis = axis[0]
    return op, x, axis, draw(st.booleans())


@HYPOTHESIS
@given(reduction_inputs())
def test_reductions_random_axes(inputs):
    op, x, axis, keepdims = inputs
    with gc.Graph().as_default():
        t = gc.constant(x)
        axes = range(x.ndim) if axis is None else [axis] if isinstance(axis, int) else axis
        if op in ("max", "min", "argmax", "argmin") and any(x.shape[a] == 0 for a in axes):
            with pytest.raises(gc.errors.ShapeError):
                getattr(gc, op)(t, axis=axis, keepdims=keepdims)
            return
        out = getattr(gc, op)(t, axis=axis, keepdims=keepdims)
        with quiet():
            if op in ARG_REDUCTIONS:
                expected = ARG_REDUCTIONS[op](x, axis=axis, keepdims=keepdims)
            else:
                expected = REDUCTIONS[op](x, axis, keepdims)
        check_static_types([out], [np.asarray(expected)])
        check_values(run_outputs([out], {}), [np.asarray(expected)])


@HYPOTHESIS
@given(st.sampled_from(sorted(UNARY)), st.sampled_from(DTYPES), st.data())
def test_unary_ops_random_values(op, dtype, data):
    x = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
                             elements=elements(dtype)))
    ref, bool_ok = UNARY[op]
    with gc.Graph().as_default():
        t = gc.placeholder(dtype, x.shape)
        if dtype == BOOL and not bool_ok:
            with pytest.raises(gc.errors.DTypeError):
                getattr(gc, op)(t)
            return
        out = getattr(gc, op)(t)
        with quiet():
            expected = np.asarray(ref(x))
        check_static_types([out], [expected])
        check_values(run_outputs([out], {t: x}), [expected])


@HYPOTHESIS
@given(st.data())
def test_movement_random_shapes(data):
    """reshape/transpose/expand_dims/tile round trips on random shapes against numpy."""
    x = data.draw(hnp.arrays(F32, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
                             elements=st.integers(-9, 9).map(float)))
    perm = tuple(data.draw(st.permutations(range(x.ndim))))
    reps = tuple(data.draw(st.lists(st.integers(0, 3), min_size=0, max_size=4)))
    flat_axis = data.draw(st.integers(0, x.ndim))
    with gc.Graph().as_default():
        t = gc.constant(x)
        outs = [gc.transpose(t, perm), gc.reshape(t, (-1,)) if x.size else gc.reshape(t, (0,)),
                gc.tile(t, reps), gc.expand_dims(t, flat_axis - x.ndim - 1)]
        expected = [np.transpose(x, perm), x.reshape(-1), np.tile(x, reps), np.expand_dims(x, flat_axis - x.ndim - 1)]
        check_static_types(outs, expected)
        check_values(run_outputs(outs, {}), expected)
