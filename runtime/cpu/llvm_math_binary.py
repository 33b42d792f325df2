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

``pow_f32(builder, x, y)``: float32 ``x ** y`` as ``2^(y * log2|x|)`` in double, rounded once
to float32: log2 from a 32-entry table (``1/c`` a float32, so the reduced argument ``z/c - 1``
is exact, and ``log2 c``) and a degree-7 polynomial, 2^t from a 16-entry table of ``2^(j/16)``
and a degree-5 polynomial (coefficients from ``llvm_math_derive``; tables from 40-digit
decimal arithmetic, ``_pow_tables``). The double result is within about 2**-50 of the power
(the logarithm's relative error about 2**-52, times |t| <= 150), so the float32 result is
within 0.5 ulp (plus a millionth) of the exact one. The tables are read with
``llvm_util.table_load`` (AVX-512 permutes, or gathers), so a kernel calls it through
``llvm_vector_call``. C99's special cases (numpy's): ``pow(x, 0) = 1`` and ``pow(1, y) = 1``
even for NaN, ``pow(-1, ±inf) = 1``, a negative finite base with a finite non-integer exponent
gives NaN, and an odd integer exponent keeps the base's sign (zeros and infinities included).
No branches.

``pow_f64(builder, x, y)``: float64 ``x ** y`` the same way, one precision up: ``log|x|`` as a
double-double (``2 atanh(s)`` with ``s = f/(2+f)`` and its first two terms carried as
double-doubles through Dekker's exact products, which need no fused multiply-add), the
product with y as a double-double, and its low part added to exp's reduced argument, so the
relative error stays about 2**-66 of the logarithm whatever the size of ``y * log|x|``. At
most 1.5 ulp from the exact power (measured 1.40 over 400,000 values across the range, the
exact one from 80-bit long double; numpy's libm pow 0.68), 3x faster than libm's on two
cores. The same special cases.
"""
import functools
import struct

import llvmlite.binding as llvm
from llvmlite import ir

from .llvm_math import _Em, _exp_reduce, _exp_scaled, _log_parts
from .llvm_util import constant_table, table_load
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
    """float32 ``x ** y`` (see the module docstring); branch-free. Vector lanes read the
    tables with gathers, so the loop calls it through ``llvm_vector_call``."""
    b, e = builder, _Em(builder, x.type)
    d = e.other(64)
    ax = e.abs(x)
    normal = b.and_(e.gt(ax, e.c(0.0)), e.lt(ax, e.c(INF)))
    t = d.mul(b.fpext(y, d.ty), _log2_f32(e, d, e.sel(normal, ax, e.c(1.0))))
    magnitude = b.fptrunc(_exp2_f64(d, t), e.ty)
    # |x| zero or infinite: y's sign decides between 0 and inf
    grows = b.icmp_unsigned("==", e.eq(ax, e.c(0.0)), e.lt(y, e.c(0.0)))
    magnitude = e.sel(normal, magnitude, e.sel(grows, e.c(INF), e.c(0.0)))
    magnitude = e.sel(b.or_(e.isnan(x), e.isnan(y)), e.c(float("nan")), magnitude)
    return _pow_special_values(e, x, y, magnitude, 2.0 ** 24)


# log2 of a float32 in double: x = 2^k z, z in [0.6927, 1.3854) (the bits of x less _LOG2_OFF
# give k and one of 32 buckets of 2^18 bit patterns, 2^-6 or 2^-5 wide); log2 x = k + log2 c +
# log2(1 + r), r = z/c - 1 with 1/c a float32 (so z/c is exact in double) and |r| <= 2^-6.
# The bucket around 1 (0.9896 to 1.0104) takes c = 1, so r = x - 1 exactly there.
_LOG2_OFF, _LOG2_BUCKET_BITS = 0x3F315555, 5
# log2(1 + r) = r P(r), |r| <= 2^-6 (relative error 2^-56; llvm_math_derive)
_LOG2_POLY = (1.4426950408889634, -0.7213475204444818, 0.48089834696483397, -0.3606737602199791,
              0.2885389820092011, -0.24044918053721384, 0.20621661924203052, -0.18037541926612716)
# 2^r = 1 + r Q(r), |r| <= 1/32 (relative error 2^-56.9; llvm_math_derive)
_EXP2_POLY = (0.693147180559947, 0.2402265069590994, 0.055504108651599986, 0.00961812911121444,
              0.0013333823887473797, 0.00015403420449460614)
_EXP2_BITS = 4                                      # 2^(j/16) from a table
_EXP2_SHIFT = 1.5 * 2.0 ** (52 - _EXP2_BITS)        # t + shift rounds t to a multiple of 1/16


@functools.lru_cache(maxsize=None)
def _pow_tables():
    """(1/c, log2 c) for the buckets of ``_LOG2_OFF``, and the bits of 2^(j/16) less j << 48
    (adding n << 48 to them makes 2^(n/16) for any n in range), from 40-digit decimal
    logarithms and exponentials, each rounded once."""
    from decimal import Decimal, getcontext
    getcontext().prec = 40
    ln2 = Decimal(2).ln()
    f32 = struct.Struct("<f")
    inverse, logs = [], []
    width = 23 - _LOG2_BUCKET_BITS
    for i in range(1 << _LOG2_BUCKET_BITS):
        lo, hi = (f32.unpack(struct.pack("<I", _LOG2_OFF + (j << width)))[0] for j in (i, i + 1))
        if lo <= 1.0 <= hi:
            inverse.append(1.0), logs.append(0.0)
            continue
        invc = f32.unpack(f32.pack(2.0 / (lo + hi)))[0]
        inverse.append(invc), logs.append(float(-Decimal(invc).ln() / ln2))
    scale = []
    for j in range(1 << _EXP2_BITS):
        v = float((Decimal(j) / (1 << _EXP2_BITS) * ln2).exp())
        bits = struct.unpack("<q", struct.pack("<d", v))[0] - (j << (52 - _EXP2_BITS))
        scale.append(bits)
    return inverse, logs, scale


def _log2_f32(e, d, x):
    """log2 x in double (``d``'s type) of a positive finite float32 x (``e``'s), denormals
    included: relative error about 2**-52."""
    b = e.b
    inverse, logs, _ = _pow_tables()
    sub = e.lt(x, e.c(2.0 ** -126))
    x = e.sel(sub, e.mul(x, e.c(2.0 ** 23)), x)
    ix = e.tobits(x)
    tmp = b.sub(ix, e.ci(_LOG2_OFF))
    bucket = b.and_(b.lshr(tmp, e.ci(23 - _LOG2_BUCKET_BITS)), e.ci((1 << _LOG2_BUCKET_BITS) - 1))
    k = b.add(b.ashr(tmp, e.ci(23)), e.sel(sub, e.ci(-23), e.ci(0)))
    z = b.fpext(e.frombits(b.sub(ix, b.and_(tmp, e.ci(-(1 << 23))))), d.ty)
    module = b.module
    invc = table_load(b, constant_table(module, "__graphc_pow_invc", ir.DoubleType(), inverse), bucket)
    log2c = table_load(b, constant_table(module, "__graphc_pow_log2c", ir.DoubleType(), logs), bucket)
    r = d.sub(d.mul(z, invc), d.c(1.0))                 # exact: z/c is within 2^-6 of 1
    return d.add(d.add(b.sitofp(k, d.ty), log2c), d.mul(r, d.poly(r, _LOG2_POLY)))


def _exp2_f64(d, t):
    """2**t for a double t (NaN stays NaN), saturating below -160 (to 0 once rounded to
    float32) and above 130 (to infinity): relative error about 2**-52."""
    b = d.b
    _, _, scale = _pow_tables()
    t = d.sel(d.lt(t, d.c(-160.0)), d.c(-160.0), t)
    t = d.sel(d.gt(t, d.c(130.0)), d.c(130.0), t)
    shifted = d.add(t, d.c(_EXP2_SHIFT))
    n = d.tobits(shifted)                               # low bits: round(16 t)
    r = d.sub(t, d.sub(shifted, d.c(_EXP2_SHIFT)))      # exact, |r| <= 1/32
    table = constant_table(b.module, "__graphc_pow_exp2", ir.IntType(64), scale)
    entry = table_load(b, table, b.and_(n, d.ci((1 << _EXP2_BITS) - 1)))
    s = d.frombits(b.add(entry, b.shl(n, d.ci(52 - _EXP2_BITS))))   # 2^(round(16 t) / 16)
    return d.fma(s, d.mul(r, d.poly(r, _EXP2_POLY)), s)


def pow_f64(builder, x, y):
    """float64 ``x ** y`` (see the module docstring); branch-free. ``exp(y * log|x|)`` with
    ``log|x|`` as a double-double (relative error about 2**-66) and the product's low part
    folded into exp's reduced argument, so a result near overflow is as accurate as one near 1."""
    b, e = builder, _Em(builder, x.type)
    K, ax = e.K, e.abs(x)
    normal = b.and_(e.gt(ax, e.c(0.0)), e.lt(ax, e.c(INF)))
    lh, ll = _log_double_double(e, e.sel(normal, ax, e.c(1.0)))
    ph = e.mul(y, lh)
    pl = e.add(_product_error(e, y, lh, ph), e.mul(y, ll))
    # (else the result saturates or is 1, and the low part may be NaN: the split of a y above
    # 2**996 overflows)
    inside = e.b.and_(e.lt(e.abs(ph), e.c(K.exp_hi)), e.lt(e.abs(y), e.c(2.0 ** 990)))
    r, n = _exp_reduce(e, ph, K.exp_lo)
    r = e.add(r, e.sel(inside, pl, e.c(0.0)))
    magnitude = _exp_scaled(e, e.add(e.c(1.0), e.fma(e.mul(r, r), e.poly(r, K.exp_poly), r)), n)
    # |x| zero or infinite: y's sign decides between 0 and inf
    grows = b.icmp_unsigned("==", e.eq(ax, e.c(0.0)), e.lt(y, e.c(0.0)))
    magnitude = e.sel(normal, magnitude, e.sel(grows, e.c(INF), e.c(0.0)))
    magnitude = e.sel(b.or_(e.isnan(x), e.isnan(y)), e.c(float("nan")), magnitude)
    return _pow_special_values(e, x, y, magnitude, 2.0 ** 53)


def _pow_special_values(e, x, y, r, integral):
    """``r`` (|x| ** y) with C99's special cases of pow (numpy's) applied; from ``integral``
    on, every float of the type is an even integer."""
    b = e.b
    small = e.lt(e.abs(y), e.c(integral))
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


def _split(e, a):
    """Veltkamp's split: a = hi + lo exactly, each of at most 26 significant bits (|a| < 2**996)."""
    c = e.mul(a, e.c(134217729.0))   # 2**27 + 1
    hi = e.sub(c, e.sub(c, a))
    return hi, e.sub(a, hi)


def _product_error(e, a, b, p):
    """a*b - p exactly, for p = fl(a*b) (Dekker; no fused multiply-add needed)."""
    ah, al = _split(e, a)
    bh, bl = _split(e, b)
    err = e.add(e.add(e.sub(e.mul(ah, bh), p), e.mul(ah, bl)), e.mul(al, bh))
    return e.add(err, e.mul(al, bl))


def _two_product(e, a, b):
    p = e.mul(a, b)
    return p, _product_error(e, a, b, p)


_TWO_THIRDS_HI = 2.0 / 3.0
_TWO_THIRDS_LO = float.fromhex("0x1.5555555555555p-55")   # 2/3 - _TWO_THIRDS_HI, to double precision
_ATANH_TAIL = tuple(2.0 / (2 * j + 5) for j in range(11))  # 2 s^5 (1/5 + s^2/7 + ...): s^2 < 0.0295


def _log_double_double(e, x):
    """log(x) as (hi, lo), x > 0 finite (denormals included): x = 2^k m, m in [sqrt(1/2),
    sqrt(2)), f = m - 1, s = f/(2+f) as a double-double, log(m) = 2 atanh(s) = 2s + 2s^3/3 +
    2s^5 Q(s^2), the first two terms as double-doubles, the tail in double (below 6e-5)."""
    K = e.K
    k, f = _log_parts(e, x, subnormal=True)
    t, tl = e.two_sum(e.c(2.0), f)                        # 2 + f exactly
    sh = e.div(f, t)
    p = e.mul(sh, t)                                      # (f - p is exact: p is within a factor 2 of f)
    sl = e.div(e.sub(e.sub(e.sub(f, p), _product_error(e, sh, t, p)), e.mul(sh, tl)), t)   # (f - sh (t + tl)) / t
    zh, zl = _two_product(e, sh, sh)
    ch, cl = _two_product(e, zh, sh)                       # s^3
    cl = e.add(cl, e.add(e.mul(zl, sh), e.mul(e.c(3.0), e.mul(zh, sl))))
    th, tl3 = _two_product(e, e.c(_TWO_THIRDS_HI), ch)     # (2/3) s^3
    tl3 = e.add(tl3, e.add(e.mul(e.c(_TWO_THIRDS_HI), cl), e.mul(e.c(_TWO_THIRDS_LO), ch)))
    tail = e.mul(e.mul(e.mul(zh, zh), sh), e.poly(zh, _ATANH_TAIL))
    kf = e.k_to_float(k)
    h, e1 = e.two_sum(e.mul(kf, e.c(K.ln2hi)), e.mul(e.c(2.0), sh))
    h, e2 = e.two_sum(h, th)
    lo = e.add(e.add(e.add(e1, e2), e.add(e.mul(e.c(2.0), sl), tl3)), e.add(tail, e.mul(kf, e.c(K.ln2lo))))
    return e.fast_two_sum(h, lo)
