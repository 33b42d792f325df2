"""The CUDA backend's lowering table: how each elementwise op is written in CUDA C, with
the same semantics as the CPU backend's (runtime/cpu/llvm_ops.py) and numpy's.

``ELEMENTWISE[op].emit(args, dtype, c)`` gets the operands as C expressions, their dtype
and the renderer (for typed constants and helpers) and returns a C expression.
Transcendentals are CUDA's own device functions (expf, tanhf, erff, ...: 1-2 ulp, within
the CPU backend's 4-ulp bound), compiled without fast math and without FMA contraction.
"""
from typing import Callable, NamedTuple

import numpy as np


class Rule(NamedTuple):
    emit: Callable
    floats_only: bool = False


def _fl(dtype):
    return np.dtype(dtype).kind == "f"


def _unary(fn):
    """A float function of one operand (integers never reach it: the op is float-valued)."""
    return Rule(lambda a, d, c: f"{fn}({a[0]})", floats_only=True)


def _arith(op, wrap):
    return Rule(lambda a, d, c: f"({a[0]} {op} {a[1]})" if _fl(d) or d == np.bool_ else f"{wrap}({a[0]}, {a[1]})")


def _compare(op):
    return Rule(lambda a, d, c: f"({a[0]} {op} {a[1]})")   # C's != is unordered (NaN != NaN), the others ordered


def _sign(a, d, c):
    x, one, zero = a[0], c.const(1, d), c.const(0, d)
    if _fl(d):   # numpy: NaN stays NaN, both zeros give +0.0
        return f"({x} > {zero} ? {one} : ({x} < {zero} ? -{one} : ({x} != {x} ? {x} : {zero})))"
    return f"(({c.ctype(d)})(({x} > {zero}) - ({x} < {zero})))"


def _relu(a, d, c):
    x, zero = a[0], c.const(0, d)
    keep = f"({x} > {zero} || {x} != {x})" if _fl(d) else f"({x} > {zero})"   # relu(-0.0) is +0.0
    return f"({keep} ? {x} : {zero})"


def _abs(a, d, c):
    if _fl(d):
        return f"fabs({a[0]})"
    return a[0] if d == np.bool_ else f"({a[0]} < 0 ? g_neg({a[0]}) : {a[0]})"


def _rounding(fn):
    return Rule(lambda a, d, c: f"{fn}({a[0]})" if _fl(d) else a[0])   # (integers are whole)


def _extremum(op):
    def emit(a, d, c):
        if _fl(d):
            return f"g_f{op}({a[0]}, {a[1]})"
        return f"({a[0]} {'>=' if op == 'maximum' else '<='} {a[1]} ? {a[0]} : {a[1]})"
    return Rule(emit)


def truth(x, dtype):
    return x if np.dtype(dtype) == np.bool_ else f"({x} != 0)"   # (NaN is true)


def _divmod(float_fn, int_fn):
    return Rule(lambda a, d, c: f"{float_fn if _fl(d) else int_fn}({a[0]}, {a[1]})")


ELEMENTWISE = {
    **{name: _unary(name) for name in ("exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tanh", "erf")},
    "rsqrt": Rule(lambda a, d, c: f"({c.const(1, d)} / sqrt({a[0]}))", floats_only=True),
    "reciprocal": Rule(lambda a, d, c: f"({c.const(1, d)} / {a[0]})", floats_only=True),
    "sigmoid": _unary("g_sigmoid"),
    "softplus": _unary("g_softplus"),
    "stop_gradient": Rule(lambda a, d, c: a[0]),
    "neg": Rule(lambda a, d, c: f"(-{a[0]})" if _fl(d) else f"g_neg({a[0]})"),
    "abs": Rule(_abs),
    "sign": Rule(_sign),
    "square": Rule(lambda a, d, c: f"({a[0]} * {a[0]})" if _fl(d) else f"g_mul({a[0]}, {a[0]})"),
    "relu": Rule(_relu),
    "floor": _rounding("floor"),
    "ceil": _rounding("ceil"),
    "round": _rounding("rint"),
    "logical_not": Rule(lambda a, d, c: f"(!{truth(a[0], d)})"),
    "isnan": Rule(lambda a, d, c: f"({a[0]} != {a[0]})" if _fl(d) else "false"),
    "isfinite": Rule(lambda a, d, c: f"isfinite({a[0]})" if _fl(d) else "true"),
    "add": _arith("+", "g_add"),
    "subtract": _arith("-", "g_sub"),
    "multiply": _arith("*", "g_mul"),
    "divide": Rule(lambda a, d, c: f"({a[0]} / {a[1]})", floats_only=True),
    "floor_divide": _divmod("g_ffloordiv", "g_ifloordiv"),
    "mod": _divmod("g_fmod_py", "g_imod"),
    "power": Rule(lambda a, d, c: f"pow({a[0]}, {a[1]})", floats_only=True),
    "maximum": _extremum("maximum"),
    "minimum": _extremum("minimum"),
    "equal": _compare("=="),
    "not_equal": _compare("!="),
    "less": _compare("<"),
    "less_equal": _compare("<="),
    "greater": _compare(">"),
    "greater_equal": _compare(">="),
    "logical_and": Rule(lambda a, d, c: f"({truth(a[0], d)} && {truth(a[1], d)})"),
    "logical_or": Rule(lambda a, d, c: f"({truth(a[0], d)} || {truth(a[1], d)})"),
}
REDUCTIONS = ("sum", "mean", "prod", "max", "min", "argmax", "argmin")
