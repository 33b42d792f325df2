"""Elementwise op specifications: how the fuzzer evaluates each op in float64 with its
error bound, and the input domain each op accepts (domain-safe inputs: no log of
a negative, no division by a value near zero, no overflow).

A unary spec is ``(numpy function, derivative(x, y), domain, ulps)``; the derivative
bounds how an input error propagates (first order), ``ulps`` the op's own rounding.
"""
import numpy as np

from .values import ULPS_BASIC, ULPS_MATH, Val, clean, eps, near_integer_edge, near_kink, rounded, undecided

F32 = np.dtype(np.float32)

# Domains: what the generator ensures about a float input before the op reads it.
ANY, POSITIVE, BOUNDED, ABOVE_M1, SMALL = "any", "positive", "bounded", "above_m1", "small"
DOMAIN_LIMITS = {ANY: 1e4, POSITIVE: 1e4, BOUNDED: 20.0, ABOVE_M1: 1e4, SMALL: 60.0}


def in_domain(domain, v):
    """Whether float64 values ``v`` are safe inputs for an op of ``domain``."""
    if v.size == 0:
        return True
    lo, hi = float(v.min()), float(v.max())
    if max(abs(lo), abs(hi)) > DOMAIN_LIMITS[domain]:
        return False
    return {ANY: True, POSITIVE: lo >= 0.25, BOUNDED: True, ABOVE_M1: lo >= -0.75, SMALL: True}[domain]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _erf(x):
    from math import erf
    return np.vectorize(erf, otypes=[np.float64])(x) if x.size else x.copy()


UNARY = {
    # name: (f, |f'| as a function of (x, y), domain, own rounding in ulps)
    "neg": (np.negative, lambda x, y: 1.0, ANY, 0.0),
    "abs": (np.abs, lambda x, y: 1.0, ANY, 0.0),
    "square": (np.square, lambda x, y: 2 * np.abs(x), ANY, ULPS_BASIC),
    "sqrt": (np.sqrt, lambda x, y: 0.5 / y, POSITIVE, ULPS_BASIC),
    "rsqrt": (lambda x: 1 / np.sqrt(x), lambda x, y: 0.5 * y / x, POSITIVE, ULPS_MATH),
    "reciprocal": (np.reciprocal, lambda x, y: y * y, POSITIVE, ULPS_BASIC),
    "exp": (np.exp, lambda x, y: y, BOUNDED, ULPS_MATH),
    "expm1": (np.expm1, lambda x, y: y + 1, BOUNDED, ULPS_MATH),
    "log": (np.log, lambda x, y: 1 / x, POSITIVE, ULPS_MATH),
    "log1p": (np.log1p, lambda x, y: 1 / (1 + x), ABOVE_M1, ULPS_MATH),
    "sin": (np.sin, lambda x, y: 1.0, SMALL, ULPS_MATH),
    "cos": (np.cos, lambda x, y: 1.0, SMALL, ULPS_MATH),
    "tanh": (np.tanh, lambda x, y: 1 - y * y, ANY, ULPS_MATH),
    "sigmoid": (_sigmoid, lambda x, y: y * (1 - y), ANY, ULPS_MATH),
    "softplus": (lambda x: np.logaddexp(0.0, x), lambda x, y: _sigmoid(x), ANY, ULPS_MATH),
    "erf": (_erf, lambda x, y: 1.1284 * np.exp(-x * x), ANY, ULPS_MATH),
    "stop_gradient": (lambda x: x.copy(), lambda x, y: 1.0, ANY, 0.0),
}
MATH_ABS_FLOOR = ("sin", "cos", "erf", "tanh", "expm1", "log", "log1p")  # near-zero results: absolute ulps
PIECEWISE = ("sign", "relu", "floor", "ceil", "round")
PREDICATES = ("isnan", "isfinite", "logical_not")


def float_result(dtype):
    """The dtype a float-valued op computes in (graphc: ints and bools give float32)."""
    return np.dtype(dtype) if np.dtype(dtype).kind == "f" else F32


def as_float(a):
    """An operand converted to a float dtype as graphc does before a float-valued op."""
    if a.is_float:
        return a
    return Val(a.value.astype(np.float64), a.bound.copy(), F32)


def unary(name, a):
    if name in PIECEWISE:
        return _piecewise(name, a)
    if name in PREDICATES:
        return _predicate(name, a)
    f, deriv, _, ulps = UNARY[name]
    if name in ("neg", "abs", "square") and not a.is_float:
        with np.errstate(all="ignore"):
            return Val(f(a.value), a.bound.copy(), a.dtype)
    if name == "abs":
        return Val(np.abs(a.value), a.bound.copy(), a.dtype, near_kink(a.value, a.bound))
    if name == "stop_gradient":
        return Val(a.value.copy(), a.bound.copy(), a.dtype)
    a = as_float(a)
    x = a.value
    with np.errstate(all="ignore"):
        y = f(x)
        bound = clean(np.abs(deriv(x, y)) * a.bound) + rounded(y, a.dtype, ulps)
    if name in MATH_ABS_FLOOR:
        bound = bound + ulps * eps(a.dtype)
    return Val(y, bound, a.dtype)


def _piecewise(name, a):
    x, b = a.value, a.bound
    if not a.is_float:
        if name == "sign":
            return Val(np.sign(x), b.copy(), a.dtype)
        if name == "relu":
            return Val(np.maximum(x, 0).astype(a.dtype), b.copy(), a.dtype)
        return Val(x.copy(), b.copy(), a.dtype)   # floor/ceil/round of ints: the identity
    with np.errstate(all="ignore"):
        if name == "sign":
            return Val(np.sign(x), undecided(np.zeros(x.shape), np.abs(x) <= b), a.dtype)
        if name == "relu":
            out = np.maximum(x, 0.0)
            return Val(out, np.where(x < -b, 0.0, b), a.dtype, near_kink(x, b))   # surely negative: exactly 0
        if name == "floor":
            return Val(np.floor(x), undecided(np.zeros(x.shape), near_integer_edge(x, b)), a.dtype)
        if name == "ceil":
            return Val(np.ceil(x), undecided(np.zeros(x.shape), near_integer_edge(-x, b)), a.dtype)
        # round half to even: undecidable within b of a .5 edge
        return Val(np.round(x), undecided(np.zeros(x.shape), near_integer_edge(x, b, 0.5)), a.dtype)


def _predicate(name, a):
    x = a.value
    unknown = ~np.isfinite(a.bound)
    if name == "logical_not":
        truth = x != 0
        unknown = unknown | (a.is_float & (np.abs(x) <= a.bound))
        return Val(~truth, undecided(np.zeros(x.shape), unknown), np.dtype(bool))
    out = np.isnan(x) if name == "isnan" else np.isfinite(x) if a.is_float else \
        (np.zeros(x.shape, bool) if name == "isnan" else np.ones(x.shape, bool))
    return Val(out, undecided(np.zeros(x.shape), unknown), np.dtype(bool))


# -- binary -----------------------------------------------------------------------
ARITH = ("add", "subtract", "multiply", "maximum", "minimum")
FLOAT_BINARY = ("divide", "power")
COMPARE = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
LOGICAL = ("logical_and", "logical_or")
INT_DIVISION = ("floor_divide", "mod")
BINARY = ARITH + FLOAT_BINARY + COMPARE + LOGICAL + INT_DIVISION


def binary_dtype(name, a, b):
    """graphc's result dtype (numpy promotion; float-valued ops of ints give float32)."""
    if name in COMPARE or name in LOGICAL:
        return np.dtype(bool)
    common = np.result_type(a.dtype, b.dtype)
    if name in FLOAT_BINARY:
        return float_result(common)
    return common


def binary(name, a, b):
    out_dtype = binary_dtype(name, a, b)
    if name in LOGICAL:
        return _logical(name, a, b)
    if name in COMPARE:
        return _compare(name, a, b)
    common = np.result_type(a.dtype, b.dtype)
    if common.kind != "f" and name not in FLOAT_BINARY:
        return _integer(name, a, b, common)
    x, y, bx, by = a.value.astype(np.float64), b.value.astype(np.float64), a.bound, b.bound
    with np.errstate(all="ignore"):
        if name in ("add", "subtract"):
            z = x + y if name == "add" else x - y
            return Val(z, clean(bx + by) + rounded(z, out_dtype), out_dtype)
        if name == "multiply":
            z = x * y
            return Val(z, clean(np.abs(y) * bx + np.abs(x) * by + bx * by) + rounded(z, out_dtype), out_dtype)
        if name in ("maximum", "minimum"):
            z = np.maximum(x, y) if name == "maximum" else np.minimum(x, y)
            return Val(z, np.maximum(np.broadcast_to(bx, z.shape), np.broadcast_to(by, z.shape)), out_dtype,
                       near_kink(x - y, bx + by))
        if name == "divide":
            z = x / y
            near = by >= 0.5 * np.abs(y)
            bound = clean((bx + np.abs(z) * by) / np.abs(y) * 2) + rounded(z, out_dtype)
            return Val(z, undecided(bound, near), out_dtype)
        if name == "power":   # positive base, moderate exponent (the generator's domain)
            z = np.power(x, y)
            bound = clean(np.abs(y * z / x) * bx + np.abs(z * np.log(x)) * by) + rounded(z, out_dtype, 2 * ULPS_MATH)
            return Val(z, bound, out_dtype)
        return _float_division(name, x, y, bx, by, out_dtype)


def _float_division(name, x, y, bx, by, dtype):
    """numpy's float floor_divide and mod: undecidable near the floor's edges."""
    q = x / y
    bq = clean((bx + np.abs(q) * by) / np.abs(y) * 2) + 4 * eps(dtype) * np.abs(q)
    edge = near_integer_edge(q, bq) | (by >= 0.5 * np.abs(y))
    fq = np.floor(q)
    if name == "floor_divide":
        return Val(fq, undecided(np.zeros(q.shape), edge), dtype)
    r = x - y * fq
    bound = clean(bx + np.abs(fq) * by) + rounded(r, dtype) + 2 * eps(dtype) * np.abs(x)
    return Val(r, undecided(bound, edge), dtype)


def _integer(name, a, b, dtype):
    """Integer arithmetic is exact in the dtype (wrapping on overflow, as numpy does);
    floor_divide and mod follow Python's signs and give 0 for a zero divisor."""
    x, y = a.value.astype(dtype), b.value.astype(dtype)
    unknown = ~np.isfinite(a.bound + b.bound)
    with np.errstate(all="ignore"):
        if dtype == np.bool_:
            z = {"maximum": np.logical_or, "minimum": np.logical_and}[name](x, y)
        else:
            z = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "maximum": np.maximum,
                 "minimum": np.minimum, "floor_divide": np.floor_divide, "mod": np.mod}[name](x, y)
            if name in INT_DIVISION:
                z = np.where(y == 0, 0, z).astype(dtype)
    return Val(z, undecided(np.zeros(z.shape), unknown), dtype)


def _compare(name, a, b):
    common = np.result_type(a.dtype, b.dtype)
    fn = getattr(np, name)
    if common.kind == "f":
        x, y = a.value.astype(np.float64), b.value.astype(np.float64)
        # the operands are compared after rounding to the common dtype
        slack = a.bound + b.bound + (eps(common) * (np.abs(x) + np.abs(y)) if common == F32 else 0)
        z = fn(x, y)
        close = np.abs(x - y) <= slack
        exact_tie = (x == y) & (a.bound == 0) & (b.bound == 0)
        return Val(z, undecided(np.zeros(z.shape), close & ~exact_tie), np.dtype(bool))
    z = fn(a.value.astype(common), b.value.astype(common))
    return Val(z, undecided(np.zeros(z.shape), ~np.isfinite(a.bound + b.bound)), np.dtype(bool))


def truth(a):
    """(truth value, undecidable mask) of an operand used as a condition."""
    t = a.value != 0
    unknown = ~np.isfinite(a.bound)
    if a.is_float:
        unknown = unknown | (np.abs(a.value) <= a.bound)
    return t, unknown


def _logical(name, a, b):
    ta, ua = truth(a)
    tb, ub = truth(b)
    if name == "logical_and":
        z = ta & tb
        unknown = (ua & ~(~tb & ~ub)) | (ub & ~(~ta & ~ua)) | (ua & ub)   # a sure False decides
    else:
        z = ta | tb
        unknown = (ua & ~(tb & ~ub)) | (ub & ~(ta & ~ua)) | (ua & ub)     # a sure True decides
    return Val(z, undecided(np.zeros(z.shape), unknown), np.dtype(bool))


def where(c, a, b):
    t, unknown = truth(c)
    dtype = np.result_type(a.dtype, b.dtype)
    value = np.where(t, a.value.astype(np.float64 if dtype.kind == "f" else dtype),
                     b.value.astype(np.float64 if dtype.kind == "f" else dtype))
    bound = np.where(t, np.broadcast_to(a.bound, value.shape), np.broadcast_to(b.bound, value.shape))
    return Val(value, undecided(bound, unknown), dtype)


def cast(a, dtype):
    """graphc's casts: float to int truncates toward zero (inputs stay in range), to bool
    is ``!= 0``; int to float rounds; int to int wraps."""
    dtype = np.dtype(dtype)
    x = a.value
    if dtype == np.bool_:
        t, unknown = truth(a)
        return Val(t, undecided(np.zeros(x.shape), unknown), dtype)
    if dtype.kind == "f":
        v = x.astype(np.float64)
        own = rounded(v, dtype) if (a.dtype.itemsize > dtype.itemsize or a.dtype.kind != "f") else 0.0
        return Val(v, a.bound + own, dtype)
    if a.is_float:
        edge = np.trunc(x - a.bound) != np.trunc(x + a.bound)
        with np.errstate(all="ignore"):
            return Val(np.trunc(x).astype(dtype), undecided(np.zeros(x.shape), edge), dtype)
    with np.errstate(all="ignore"):
        return Val(x.astype(dtype), a.bound.copy(), dtype)
