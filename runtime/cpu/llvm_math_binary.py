"""fmod and pow as LLVM IR for the CPU backend, element-wise on float or double scalars or
vectors, with numpy's special values (llvm_math's conventions).

``fmod(builder, x, y)`` is exact, as C's fmod, and branches (``llvm_vector_call.rare``), so a
kernel calls it through ``llvm_vector_call.call``. The common case needs no libm call:
- float32, computed in double, where ``|x/y| < 2**24`` and y is finite and non-zero: the double
  quotient truncates to the exact quotient's integer part (a non-integer quotient is more than
  2**-48 of itself from an integer, the division's error 2**-53), ``t*y`` is exact (24 + 24
  bits) and so is ``x - t*y`` (it is fmod's result, a float32);
- float64, where ``|x/y| < 2**52`` and the host has a fused multiply-add: the truncated
  quotient is right or one too large in magnitude (the exact quotient rounds to at most the
  next integer), ``fma(-t, y, x)`` is exact (the result is a multiple of ulp(y) below |y|), and
  one step back by y fixes the second case.
Other lanes (huge quotients, infinities, NaN, a zero divisor) take LLVM's ``frem`` (libm's
fmod); the result's sign is x's, zeros included.

``pow_f32(builder, x, y)``: float32 ``x ** y`` as ``exp(y * log|x|)`` in double (llvm_math's
exp and log, each within 1 ulp of double), rounded once to float32: within 1 ulp of the
correctly rounded power (the double result is off by about 2**-45 relative at most). C99's
special cases (numpy's): ``pow(x, 0) = 1`` and ``pow(1, y) = 1`` even for NaN, ``pow(-1, ±inf)
= 1``, a negative finite base with a finite non-integer exponent gives NaN, and an odd integer
exponent keeps the base's sign (zeros and infinities included). Branch-free, so inline.
"""
import llvmlite.binding as llvm
from llvmlite import ir

from .llvm_math import _Em, emit_math
from .llvm_vector_call import rare

INF = float("inf")


def _trunc(d, q):
    """Integer part of ``q`` (|q| < 2**63; a float of the emitter's type)."""
    return d.b.sitofp(d.b.fptosi(q, d.ity), d.ty)


def _host_has_fma():
    return bool(llvm.get_host_cpu_features().get("fma", False))


def fmod(builder, x, y):
    """C's fmod of ``x`` and ``y`` (see the module docstring); branches."""
    b, e = builder, _Em(builder, x.type)
    finite_divisor = b.and_(e.lt(e.abs(y), e.c(INF)), b.fcmp_ordered("!=", y, e.c(0.0)))
    if e.bits == 32:
        d = e.other(64)
        xd, yd = b.fpext(x, d.ty), b.fpext(y, d.ty)
        q = d.div(xd, yd)
        fast = b.and_(finite_divisor, d.lt(d.abs(q), d.c(2.0 ** 24)))
        t = _trunc(d, d.sel(fast, q, d.c(0.0)))
        r = b.fptrunc(d.sub(xd, d.mul(t, yd)), e.ty)
    elif _host_has_fma():
        q = e.div(x, y)
        fast = b.and_(finite_divisor, e.lt(e.abs(q), e.c(2.0 ** 52)))
        t = _trunc(e, e.sel(fast, q, e.c(0.0)))
        r = b.call(e._intr("fma", 3), [e.neg(t), y, x])   # llvm.fma: fused, exact here
        overshot = b.or_(b.and_(e.gt(x, e.c(0.0)), e.lt(r, e.c(0.0))),
                         b.and_(e.lt(x, e.c(0.0)), e.gt(r, e.c(0.0))))
        r = e.sel(overshot, e.add(r, e.copysign(y, x)), r)
    else:   # no exact fused multiply-add: every lane through libm
        i1 = e.vec(ir.IntType(1))
        fast, r = ir.Constant(i1, [0] * e.lanes if e.lanes else 0), e.c(0.0)
    r = e.copysign(r, x)
    return rare(b, b.not_(fast), r, lambda: b.frem(x, y))


def pow_f32(builder, x, y):
    """float32 ``x ** y`` (see the module docstring); branch-free."""
    b, e = builder, _Em(builder, x.type)
    d = e.other(64)
    xd, yd = b.fpext(x, d.ty), b.fpext(y, d.ty)
    magnitude = emit_math(b, "exp", d.mul(yd, emit_math(b, "log", d.abs(xd))))
    r = b.fptrunc(magnitude, e.ty)
    small = e.lt(e.abs(y), e.c(2.0 ** 24))          # above, every float32 is an even integer
    whole = b.fptosi(e.sel(small, y, e.c(0.0)), e.ity)
    integer = b.or_(b.not_(small), b.fcmp_ordered("==", b.sitofp(whole, e.ty), y))
    odd = b.and_(b.and_(small, integer), b.trunc(whole, e.vec(ir.IntType(1))))
    negative_base = b.icmp_signed("<", e.tobits(x), e.ci(0))
    r = e.sel(b.and_(odd, negative_base), e.neg(r), r)
    finite_negative = b.and_(e.lt(x, e.c(0.0)), e.gt(x, e.c(-INF)))
    finite_fraction = b.and_(b.not_(integer), e.lt(e.abs(y), e.c(INF)))
    r = e.sel(b.and_(finite_negative, finite_fraction), e.c(float("nan")), r)
    one = e.c(1.0)
    r = e.sel(b.and_(e.eq(x, e.c(-1.0)), e.eq(e.abs(y), e.c(INF))), one, r)
    r = e.sel(e.eq(x, one), one, r)
    return e.sel(e.eq(y, e.c(0.0)), one, r)
