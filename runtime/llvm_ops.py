"""Scalar semantics of the op table's elementwise ops in LLVM IR, matching numpy.

Float maximum/minimum propagate NaN and keep numpy's choice on ±0 (a tie gives the second
operand); floor_divide and mod follow Python's (numpy's) sign rules; integer division by
zero gives 0 and INT_MIN // -1 wraps, as numpy does. Transcendentals come from the
backend's math library when it provides them. docs/backend.md ("IEEE and integer edge
cases") states the behaviours; tests/test_ieee_edges.py checks them against numpy.
"""
import numpy as np
from llvmlite import ir

from .llvm_util import declare

I1, I64 = ir.IntType(1), ir.IntType(64)


def _zero(t):
    return ir.Constant(t, 0.0 if isinstance(t, (ir.FloatType, ir.DoubleType)) else 0)


class ScalarOps:
    """``emit(builder, op, args, arg_dtype, out_dtype)`` for every elementwise op name."""

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
            return self.math_library.emit_math(b, name, x)
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
        fl = dtype.kind == "f"
        if op in ("exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tanh",
                  "sigmoid", "erf"):
            return self.transcendental(b, op, args[0])
        x = args[0]
        if op == "stop_gradient":
            return x
        if op == "neg":
            return b.fneg(x) if fl else b.neg(x)
        if op == "abs":
            if fl:
                return self.intrinsic(b, "llvm.fabs", [x])
            if dtype == np.bool_:
                return x
            return b.select(b.icmp_signed("<", x, _zero(x.type)), b.neg(x), x)
        if op == "sign":
            if fl:   # numpy: NaN stays NaN, both zeros give +0.0
                one, zero = ir.Constant(x.type, 1.0), _zero(x.type)
                rest = b.select(b.fcmp_unordered("uno", x, x), x, zero)
                return b.select(b.fcmp_ordered(">", x, zero), one,
                                b.select(b.fcmp_ordered("<", x, zero), b.fneg(one), rest))
            pos = b.zext(b.icmp_signed(">", x, _zero(x.type)), x.type)
            neg = b.zext(b.icmp_signed("<", x, _zero(x.type)), x.type)
            return b.sub(pos, neg)
        if op == "square":
            return b.fmul(x, x) if fl else b.mul(x, x)
        if op == "relu":
            if fl:   # maximum(x, 0): relu(-0.0) is +0.0
                keep = b.or_(b.fcmp_ordered(">", x, _zero(x.type)), b.fcmp_unordered("uno", x, x))
                return b.select(keep, x, _zero(x.type))
            return b.select(b.icmp_signed(">", x, _zero(x.type)), x, _zero(x.type))
        if op in ("floor", "ceil", "round"):
            if not fl:
                return x
            return self.intrinsic(b, {"floor": "llvm.floor", "ceil": "llvm.ceil", "round": "llvm.rint"}[op], [x])
        if op == "logical_not":
            return b.not_(self.truth(b, x, dtype))
        if op == "isnan":
            return b.fcmp_unordered("uno", x, x) if fl else ir.Constant(I1, 0)
        if op == "isfinite":
            if not fl:
                return ir.Constant(I1, 1)
            return b.fcmp_ordered("!=", self.intrinsic(b, "llvm.fabs", [x]), ir.Constant(x.type, float("inf")))
        return self.binary(b, op, args, dtype)

    def truth(self, b, x, dtype):
        if dtype == np.bool_:
            return x
        if dtype.kind == "f":
            return b.fcmp_unordered("!=", x, _zero(x.type))
        return b.icmp_signed("!=", x, _zero(x.type))

    def binary(self, b, op, args, dtype):
        x, y = args
        fl = dtype.kind == "f"
        if op in ("logical_and", "logical_or"):
            tx, ty = self.truth(b, x, dtype), self.truth(b, y, dtype)
            return b.and_(tx, ty) if op == "logical_and" else b.or_(tx, ty)
        cmp = {"equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=", "greater": ">",
               "greater_equal": ">="}
        if op in cmp:
            if fl:
                return (b.fcmp_unordered if op == "not_equal" else b.fcmp_ordered)(cmp[op], x, y)
            return (b.icmp_unsigned if dtype == np.bool_ else b.icmp_signed)(cmp[op], x, y)
        if op == "add":
            return b.fadd(x, y) if fl else b.add(x, y)
        if op == "subtract":
            return b.fsub(x, y) if fl else b.sub(x, y)
        if op == "multiply":
            return b.fmul(x, y) if fl else b.mul(x, y)
        if op == "divide":
            return b.fdiv(x, y)
        if op in ("maximum", "minimum"):
            if fl:   # numpy: NaN if either is NaN, else y unless x is strictly beyond it (so ±0 ties give y)
                keep = b.or_(b.fcmp_ordered(">" if op == "maximum" else "<", x, y), b.fcmp_unordered("uno", x, x))
                return b.select(keep, x, y)
            pred = ">=" if op == "maximum" else "<="
            c = (b.icmp_unsigned if dtype == np.bool_ else b.icmp_signed)(pred, x, y)
            return b.select(c, x, y)
        if op == "power":
            if not fl:
                raise NotImplementedError("integer power")
            return self.intrinsic(b, "llvm.pow", [x, y])
        if op in ("floor_divide", "mod"):
            return self.float_divmod(b, op, x, y) if fl else self.int_divmod(b, op, x, y)
        raise NotImplementedError(op)

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

    def float_divmod(self, b, op, x, y):
        """numpy's npy_divmod, step by step (C truthiness: NaN counts as non-zero)."""
        t, zero, one = x.type, _zero(x.type), ir.Constant(x.type, 1.0)
        mod = b.frem(x, y)
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
