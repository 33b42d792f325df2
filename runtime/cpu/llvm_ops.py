"""Scalar semantics of the op table's elementwise ops in LLVM IR, matching numpy.

Float maximum/minimum propagate NaN and keep numpy's choice on ±0 (a tie gives the second
operand); floor_divide and mod follow Python's (numpy's) sign rules; integer division by
zero gives 0 and INT_MIN // -1 wraps, as numpy does. Transcendentals come from the
backend's math library when it provides them. docs/backend.md ("IEEE and integer edge
cases") states the behaviours; tests/test_ieee_edges.py checks them against numpy.
"""
from typing import Callable, NamedTuple

import numpy as np
from llvmlite import ir

from . import llvm_math_binary, llvm_vector_call as vector_call
from .llvm_util import declare

I1, I64 = ir.IntType(1), ir.IntType(64)


def _zero(t):
    return ir.Constant(t, 0.0 if isinstance(t, (ir.FloatType, ir.DoubleType)) else 0)


class ScalarOps:
    """``emit(builder, op, args, arg_dtype, out_dtype)`` for every op of ``ELEMENTWISE``
    (the table at the end of this module), and the reductions' combiners."""

    def __init__(self, module, math_library=None):
        self.module = module
        self.math_library = math_library

    # -- helpers -------------------------------------------------------------------------
    def intrinsic(self, b, name, args):
        t = args[0].type
        fn = b.module.declare_intrinsic(name, [t], ir.FunctionType(t, [a.type for a in args]))
        return b.call(fn, args)

    def libm(self, b, name, args):
        t = args[0].type
        symbol = name + ("f" if isinstance(t, ir.FloatType) else "")
        fn = declare(self.module, symbol, t, [t] * len(args))
        return b.call(fn, args)

    def transcendental(self, b, name, x):
        if self.math_library is not None and name in self.math_library.MATH_FUNCTIONS:
            emit = self.math_library.emit_math
            if name in self.math_library.BRANCHING:
                return vector_call.call(b, name, lambda builder, v: emit(builder, name, v), [x])
            return emit(b, name, x)
        if name in ("exp", "log", "sin", "cos", "sqrt"):
            return self.intrinsic(b, f"llvm.{name}", [x])
        if name == "rsqrt":
            return b.fdiv(ir.Constant(x.type, 1.0), self.intrinsic(b, "llvm.sqrt", [x]))
        if name == "reciprocal":
            return b.fdiv(ir.Constant(x.type, 1.0), x)
        if name == "sigmoid":   # stable in both tails: e = exp(-|x|)
            e = self.transcendental(b, "exp", b.fneg(self.intrinsic(b, "llvm.fabs", [x])))
            one = ir.Constant(x.type, 1.0)
            pos = b.fdiv(one, b.fadd(one, e))
            return b.select(b.fcmp_ordered(">=", x, _zero(x.type)), pos, b.fdiv(e, b.fadd(one, e)))
        return self.libm(b, name, [x])

    # -- elementwise ops -------------------------------------------------------------------
    def emit(self, b, op, args, dtype, out):
        """``op`` (an entry of ELEMENTWISE) on ``args`` of ``dtype``, giving ``out``."""
        return ELEMENTWISE[op].emit(self, b, args, dtype)

    def truth(self, b, x, dtype):
        if dtype == np.bool_:
            return x
        if dtype.kind == "f":
            return b.fcmp_unordered("!=", x, _zero(x.type))
        return b.icmp_signed("!=", x, _zero(x.type))

    def int_divmod(self, b, op, x, y):
        """Python semantics; division by zero gives 0 and INT_MIN // -1 wraps to INT_MIN
        (numpy). sdiv never sees 0 or -1 (INT_MIN / -1 traps on x86-64): x // -1 is -x."""
        zero, minus_one = _zero(x.type), ir.Constant(x.type, -1)
        y_zero, y_minus_one = b.icmp_signed("==", y, zero), b.icmp_signed("==", y, minus_one)
        safe = b.select(b.or_(y_zero, y_minus_one), ir.Constant(x.type, 1), y)
        q, r = b.sdiv(x, safe), b.srem(x, safe)
        adjust = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("!=", b.icmp_signed("<", r, zero),
                                                                      b.icmp_signed("<", safe, zero)))
        if op == "floor_divide":
            out = b.select(y_minus_one, b.neg(x), b.select(adjust, b.sub(q, ir.Constant(x.type, 1)), q))
        else:
            out = b.select(adjust, b.add(r, safe), r)   # (x % -1 is 0: r of x / 1)
        return b.select(y_zero, zero, out)

    def fmod(self, b, x, y):
        """C's fmod: vectorizable with the math library (``llvm_math_binary.fmod``), else frem."""
        if self.math_library is None:
            return b.frem(x, y)
        return vector_call.call(b, "fmod", llvm_math_binary.fmod, [x, y])

    def float_divmod(self, b, op, x, y):
        """numpy's npy_divmod, step by step (C truthiness: NaN counts as non-zero)."""
        t, zero, one = x.type, _zero(x.type), ir.Constant(x.type, 1.0)
        mod = self.fmod(b, x, y)
        mod_nonzero = b.fcmp_unordered("!=", mod, zero)
        fix = b.and_(mod_nonzero, b.icmp_unsigned("!=", b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero)))
        y_zero = b.fcmp_ordered("==", y, zero)
        if op == "mod":
            adjusted = b.select(mod_nonzero, b.select(fix, b.fadd(mod, y), mod),
                                self.intrinsic(b, "llvm.copysign", [zero, y]))
            return b.select(y_zero, mod, adjusted)
        div = b.fdiv(b.fsub(x, mod), y)
        div = b.select(fix, b.fsub(div, one), div)
        fl = self.intrinsic(b, "llvm.floor", [div])
        fl = b.select(b.fcmp_ordered(">", b.fsub(div, fl), ir.Constant(t, 0.5)), b.fadd(fl, one), fl)
        quotient = b.fdiv(x, y)
        out = b.select(b.fcmp_unordered("!=", div, zero), fl, self.intrinsic(b, "llvm.copysign", [zero, quotient]))
        return b.select(y_zero, quotient, out)

    # -- reductions ---------------------------------------------------------------------------
    def combine(self, b, op, acc, value, dtype):
        fl = dtype.kind == "f"
        if op in ("sum", "mean"):
            return b.fadd(acc, value) if fl else b.add(acc, value)
        if op == "prod":
            return b.fmul(acc, value) if fl else b.mul(acc, value)
        if op in ("max", "min"):
            if fl:   # llvm.maximum/minimum propagate NaN, as numpy does, and vectorize
                return self.intrinsic(b, "llvm.maximum" if op == "max" else "llvm.minimum", [acc, value])
            cmp = b.icmp_unsigned if dtype == np.bool_ else b.icmp_signed
            return b.select(cmp(">" if op == "max" else "<", value, acc), value, acc)
        raise NotImplementedError(op)

    def arg_better(self, b, op, value, best, dtype):
        """Whether ``value`` replaces ``best`` (the first max/min wins; the first NaN wins)."""
        if dtype.kind == "f":
            strictly = b.fcmp_ordered(">" if op == "argmax" else "<", value, best)
            value_nan = b.fcmp_unordered("uno", value, value)
            best_nan = b.fcmp_unordered("uno", best, best)
            return b.and_(b.not_(best_nan), b.or_(strictly, value_nan))
        cmp = b.icmp_unsigned if dtype == np.bool_ else b.icmp_signed
        return cmp(">" if op == "argmax" else "<", value, best)


# -- the LLVM backend's lowering table: op -> how it is rendered ------------------------------
class Rule(NamedTuple):
    """``emit(ops, builder, args, dtype)`` renders the op on operands of ``dtype``;
    ``floats_only``: other dtypes are not lowered (the kernel runs through the reference)."""
    emit: Callable
    floats_only: bool = False


def _power(ops, b, args, dtype):
    """float32: ``llvm_math_binary.pow_f32`` (a vector variant reading tables; within 0.5 ulp
    of the exact power, 1 of numpy's); float64:
    ``pow_f64`` (vectorized, within 1.5 ulp of the exact power); ``llvm.pow`` (libm) without
    the math library. A constant exponent of 3 or 4 (a constant folded into the kernel), either
    type: a multiplication chain, as JAX's integer_pow and XLA do. ``x*x*x`` is within 1
    ulp of the correctly rounded power and ``(x*x)*(x*x)`` within 2 (measured on 2e6 values
    of each float type; numpy's pow is itself a libm call); NaN, +-Inf, -0.0 and overflow
    come out as pow's. (2 needs nothing here: ``pow(x, 2)`` is ``x*x`` exactly, and LLVM
    and the simplify pass both make it so.)"""
    x, y = args
    n = y.constant if isinstance(y, ir.Constant) and isinstance(y.constant, float) else None
    if n == 3.0:
        return b.fmul(b.fmul(x, x), x)
    if n == 4.0:
        square = b.fmul(x, x)
        return b.fmul(square, square)
    if ops.math_library is None:
        return ops.intrinsic(b, "llvm.pow", [x, y])
    if dtype == np.float32:   # table lookups: gathers in the vector variants
        return vector_call.call(b, "powf", llvm_math_binary.pow_f32, [x, y])
    return llvm_math_binary.pow_f64(b, x, y)


def _transcendental(name):
    return Rule(lambda ops, b, args, dtype: ops.transcendental(b, name, args[0]))


def _by_kind(float_op, int_op):
    """An op that is one LLVM instruction for floats and another for integers."""
    return Rule(lambda ops, b, args, dtype: getattr(b, float_op if dtype.kind == "f" else int_op)(*args))


def _abs(ops, b, args, dtype):
    (x,) = args
    if dtype.kind == "f":
        return ops.intrinsic(b, "llvm.fabs", [x])
    if dtype == np.bool_:
        return x
    return b.select(b.icmp_signed("<", x, _zero(x.type)), b.neg(x), x)


def _sign(ops, b, args, dtype):
    (x,) = args
    if dtype.kind == "f":   # numpy: NaN stays NaN, both zeros give +0.0
        one, zero = ir.Constant(x.type, 1.0), _zero(x.type)
        rest = b.select(b.fcmp_unordered("uno", x, x), x, zero)
        return b.select(b.fcmp_ordered(">", x, zero), one, b.select(b.fcmp_ordered("<", x, zero), b.fneg(one), rest))
    pos = b.zext(b.icmp_signed(">", x, _zero(x.type)), x.type)
    neg = b.zext(b.icmp_signed("<", x, _zero(x.type)), x.type)
    return b.sub(pos, neg)


def _relu(ops, b, args, dtype):
    (x,) = args
    if dtype.kind == "f":   # maximum(x, 0): relu(-0.0) is +0.0
        keep = b.or_(b.fcmp_ordered(">", x, _zero(x.type)), b.fcmp_unordered("uno", x, x))
        return b.select(keep, x, _zero(x.type))
    return b.select(b.icmp_signed(">", x, _zero(x.type)), x, _zero(x.type))


def _rounding(intrinsic):
    def emit(ops, b, args, dtype):
        return ops.intrinsic(b, intrinsic, args) if dtype.kind == "f" else args[0]   # (integers are whole)
    return Rule(emit)


def _softplus(ops, b, args, dtype):   # max(x, 0) + log1p(exp(-|x|)): no overflow, and exact in both tails
    (x,) = args
    tail = ops.transcendental(b, "log1p", ops.transcendental(b, "exp", b.fneg(ops.intrinsic(b, "llvm.fabs", [x]))))
    return b.fadd(_relu(ops, b, args, dtype), tail)


def _isfinite(ops, b, args, dtype):
    (x,) = args
    if dtype.kind != "f":
        return ir.Constant(I1, 1)
    return b.fcmp_ordered("!=", ops.intrinsic(b, "llvm.fabs", [x]), ir.Constant(x.type, float("inf")))


def _logical(combine):
    def emit(ops, b, args, dtype):
        x, y = (ops.truth(b, a, dtype) for a in args)
        return getattr(b, combine)(x, y)
    return Rule(emit)


def _compare(pred):
    def emit(ops, b, args, dtype):
        if dtype.kind == "f":
            return (b.fcmp_unordered if pred == "!=" else b.fcmp_ordered)(pred, *args)
        return (b.icmp_unsigned if dtype == np.bool_ else b.icmp_signed)(pred, *args)
    return Rule(emit)


def _extremum(strict):
    def emit(ops, b, args, dtype):
        x, y = args
        if dtype.kind == "f":   # numpy: NaN if either is NaN, else y unless x is strictly beyond it (±0 ties give y)
            keep = b.or_(b.fcmp_ordered(strict, x, y), b.fcmp_unordered("uno", x, x))
            return b.select(keep, x, y)
        c = (b.icmp_unsigned if dtype == np.bool_ else b.icmp_signed)(strict + "=", x, y)
        return b.select(c, x, y)
    return Rule(emit)


def _divmod(op):
    def emit(ops, b, args, dtype):
        return ops.float_divmod(b, op, *args) if dtype.kind == "f" else ops.int_divmod(b, op, *args)
    return Rule(emit)


ELEMENTWISE = {
    **{name: _transcendental(name) for name in ("exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "reciprocal", "sin",
                                                 "cos", "tanh", "sigmoid", "erf")},
    "stop_gradient": Rule(lambda ops, b, args, dtype: args[0]),
    "neg": Rule(lambda ops, b, args, dtype: b.fneg(args[0]) if dtype.kind == "f" else b.neg(args[0])),
    "abs": Rule(_abs),
    "sign": Rule(_sign),
    "square": Rule(lambda ops, b, args, dtype: (b.fmul if dtype.kind == "f" else b.mul)(args[0], args[0])),
    "relu": Rule(_relu),
    "softplus": Rule(_softplus),
    "floor": _rounding("llvm.floor"),
    "ceil": _rounding("llvm.ceil"),
    "round": _rounding("llvm.rint"),
    "logical_not": Rule(lambda ops, b, args, dtype: b.not_(ops.truth(b, args[0], dtype))),
    "isnan": Rule(lambda ops, b, args, dtype: b.fcmp_unordered("uno", args[0], args[0]) if dtype.kind == "f"
                  else ir.Constant(I1, 0)),
    "isfinite": Rule(_isfinite),
    "add": _by_kind("fadd", "add"),
    "subtract": _by_kind("fsub", "sub"),
    "multiply": _by_kind("fmul", "mul"),
    "divide": Rule(lambda ops, b, args, dtype: b.fdiv(*args), floats_only=True),
    "floor_divide": _divmod("floor_divide"),
    "mod": _divmod("mod"),
    "power": Rule(_power, floats_only=True),
    "maximum": _extremum(">"),
    "minimum": _extremum("<"),
    "equal": _compare("=="),
    "not_equal": _compare("!="),
    "less": _compare("<"),
    "less_equal": _compare("<="),
    "greater": _compare(">"),
    "greater_equal": _compare(">="),
    "logical_and": _logical("and_"),
    "logical_or": _logical("or_"),
}
REDUCTIONS = ("sum", "mean", "prod", "max", "min", "argmax", "argmin")   # ScalarOps.combine / arg_better
