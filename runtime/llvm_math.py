"""Branch-free transcendental functions emitted as LLVM IR (llvmlite) for the CPU backend.

API
---
``emit_math(builder, name, x)`` emits, at the builder's position, straight-line IR computing
``name`` of ``x`` and returns the result value (same type as ``x``). ``x`` may be a ``float``
or ``double`` scalar or an ``ir.VectorType`` of either; the IR is element-wise and
branch-free (``select``, bit casts, integer ops and the ``llvm.fabs``, ``llvm.copysign``,
``llvm.sqrt`` and ``llvm.fmuladd`` intrinsics only), so LLVM's loop vectorizer can widen a
scalar call made inside a loop. No libm or other external function is called, and no
intrinsic that may lower to a libm call on some x86-64 target (``llvm.fma``, ``llvm.rint``,
``llvm.floor``) is used: every step whose exactness matters is exact with or without a fused
multiply-add, so the results are as accurate where ``llvm.fmuladd`` is not fused. Rounding
to an integer uses the ``1.5 * 2**p`` shifter trick.

``MATH_FUNCTIONS`` lists the supported names: exp, expm1, log, log1p, sqrt, rsqrt,
reciprocal, tanh, sigmoid, erf, sin, cos.

Accuracy (whole range; NaN, infinities, signed zeros and denormals as numpy)
-----------------------------------------------------------------------------
Target: at most 4 ulp from the correctly rounded result for every input, both precisions.
Special values follow numpy (exp(-inf)=0, exp(large)=inf, log(+-0)=-inf, log(-1)=nan,
log1p(-1)=-inf, expm1(-0)=-0, tanh(+-inf)=+-1, tanh(-0)=-0, sigmoid(-inf)=0,
erf(+-inf)=+-1, sin(+-inf)=nan, ...); results in the denormal range are computed, not
flushed. There is no range restriction: float64 sin/cos use a full Payne-Hanek reduction up
to the largest double.

Measured (max ulp from the correctly rounded result; float32: exhaustive run of every bit
pattern against numpy's float64 result rounded to float32, float64 erf as the erf reference):

==========  ===============================  ============================================
function    float32, all 2^32 inputs         float64, ~1M inputs each (tests), vs 80-bit
==========  ===============================  ============================================
exp         1                                1
expm1       1                                2
log         1                                1
log1p       1                                1
sqrt        0 (llvm.sqrt, IEEE)              0
rsqrt       0 (computed in double)           1 (1/sqrt: two roundings)
reciprocal  0 (IEEE division)                0
tanh        2                                2
sigmoid     2                                2
erf         1                                1 (vs math.erf)
sin         1                                1 (huge arguments included)
cos         1                                1 (huge arguments included)
==========  ===============================  ============================================

Methods
-------
* exp/expm1: n = rint(x/ln2) by the shifter trick, r = x - n*ln2 with a Cody-Waite split
  ln2 = LN2HI + LN2LO (n*LN2HI exact), exp(r) = 1 + r + r^2*P(r); 2^n applied in two
  halves so that denormal results are rounded once and not flushed; expm1 uses
  2^n*expm1(r) + (2^n - 1) computed as 2*(t*em + (t - 1/2)) with t = 2^(n-1).
* log/log1p: x = 2^k * m with m in [sqrt(1/2), sqrt(2)), f = m - 1 exact, s = f/(2+f),
  log1p(f) = f - f^2/2 + s*(f^2/2 + R(s^2)) (the classic form that keeps the cancellation
  exact); log1p adds the exact rounding error of 1 + x (two-sum) as a first order term.
* tanh = -t/(t+2), t = expm1(-2|x|) for |x| < ln(3)/2, else 1 - 2/(expm1(2|x|)+2).
* rsqrt = 1/sqrt(x); for float32 computed in double and rounded once.
* sigmoid = num/(1+e), e = exp(-|x|), num = 1 (x >= 0) or e (x < 0), so no overflow and
  correctly rounded denormal results for very negative x.
* erf: |x| < 1: x*(C0HI + P(x^2)); 1 <= |x| <= clamp: 1 - exp(-x^2)*G_i(|x| - c_i) with
  G_i a polynomial fit of erfc(x)*exp(x^2) on a few intervals, coefficients chosen per element
  with selects (one polynomial evaluation in all).
* sin/cos float32: evaluated in double. |x| < 2^19: x - n*pi/2 with a three-part pi/2
  (n*P1, n*P2 exact); otherwise a Payne-Hanek reduction done with 64-bit integer arithmetic:
  the 24-bit mantissa times a 96-bit window of 2/pi chosen from a constant table with
  selects (no memory access). Both paths are computed and one selected per element.
* sin/cos float64: |x| < 2^20: four-part Cody-Waite reduction (n*P1..n*P3 exact, two-sums)
  giving r as a double-double; otherwise Payne-Hanek: the 53-bit mantissa times a 192-bit
  window of 2/pi (32-bit limbs, 12 32x32->64 bit products, explicit carries), the 128 top bits
  of the fraction turned into a double-double and multiplied by pi/2 (Dekker product). The
  window words are read from an internal constant table of 2/pi bits (``@__graphc_math_2opi``,
  added to the module on first use): a ``load`` per word for a scalar (the loop vectorizer
  turns it into a gather) and an ``llvm.masked.gather`` for an explicit vector. This is the
  only function that touches memory. Kernels follow the fdlibm structure (sin: h + (h^3*S +
  l*(1 - h^2/2)); cos: w + (((1 - w) - h^2/2) + (h^4*C - h*l)), w = 1 - h^2/2).

Coefficients
------------
All polynomial coefficients below were obtained with ``_derive_coefficients()`` (run
``python -m graphc.runtime.llvm_math`` to reprint them): a discrete minimax fit (Lawson's
iteratively reweighted least squares on ~1000-3000 Chebyshev points, with the residual
computed in np.longdouble and refined), of the weighted error that measures the relative
error of the final result, followed by rounding the coefficients to the target precision one
at a time, lowest degree first, refitting the remaining ones after each rounding. Reference
values come from power series in np.longdouble (exp, log, sin, cos) or in 70-digit
``decimal`` arithmetic (erf). The pi/2 and 2/pi constants are computed there with exact
integer arithmetic (pi by Machin's formula), ln2 with 80-digit ``decimal``.
"""
from __future__ import annotations

from llvmlite import ir

__all__ = ["emit_math", "MATH_FUNCTIONS"]

MATH_FUNCTIONS = ("exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "reciprocal",
                  "tanh", "sigmoid", "erf", "sin", "cos")

_hx = float.fromhex

# --------------------------------------------------------------------------------------
# Constants (see _derive_coefficients for how each was obtained)
# --------------------------------------------------------------------------------------

# pi/2 = P1 + P2 + P3 + P4: P1..P3 truncated to 33 significant bits (so n*Pi is exact for
# |n| < 2^20), P4 the rest rounded; P3B = pi/2 - P1 - P2 rounded (float32 path).
_P1 = _hx("0x1.921fb54400000p+0")
_P2 = _hx("0x1.0b4611a600000p-34")
_P3 = _hx("0x1.3198a2e000000p-69")
_P4 = _hx("0x1.b839a252049c1p-104")
_P3B = _hx("0x1.3198a2e037073p-69")
_TWO_OVER_PI = _hx("0x1.45f306dc9c883p-1")
_PIO2_HI = _hx("0x1.921fb54442d18p+0")          # pi/2 = _PIO2_HI + _PIO2_LO
_PIO2_LO = _hx("0x1.1a62633145c07p-54")
_PIO2_HI_H = _hx("0x1.921fb58000000p+0")        # Veltkamp split of _PIO2_HI (26 + 27 bits)
_PIO2_HI_L = _hx("-0x1.dde9740000000p-27")
_PIO2_2M62 = _hx("0x1.921fb54442d18p-62")       # pi/2 * 2^-62

# Bits of 2/pi, 32 per word, preceded by 64 zero bits: bit j (j = 0 is the MSB of word 0) has
# weight 2^(63 - j) in 2/pi.
_TWO_OVER_PI_WORDS = (
    0x00000000, 0x00000000, 0xA2F9836E, 0x4E441529, 0xFC2757D1, 0xF534DDC0, 0xDB629599,
    0x3C439041, 0xFE5163AB, 0xDEBBC561, 0xB7246E3A, 0x424DD2E0, 0x06492EEA, 0x09D1921C,
    0xFE1DEB1C, 0xB129A73E, 0xE88235F5, 0x2EBB4484, 0xE99C7026, 0xB45F7E41, 0x3991D639,
    0x835339F4, 0x9C845F8B, 0xBDF9283B, 0x1FF897FF, 0xDE05980F, 0xEF2F118B, 0x5A0A6D1F,
    0x6D367ECF, 0x27CB09B7, 0x4F463F66, 0x9E5FEA2D, 0x7527BAC7, 0xEBE5F17B, 0x3D0739F7,
    0x8A5292EA, 0x6BFB5FB1, 0x1F8D5D08, 0x56033046, 0xFC7B6BAB,
)

# sin r = r + r^3 S(r^2), cos r = 1 - r^2/2 + r^4 C(r^2) on |r| <= pi/4 (double coefficients).
# Degree 3 (relative error 2^-37 / 2^-43) for the float32 functions, 6 / 5 (2^-63) for float64.
_SIN_F32 = (-0.1666666664069276, 0.008333329292692435, -0.0001983930834344097,
            2.7180840411763708e-06)
_COS_F32 = (0.04166666661929958, -0.0013888883483700394, 2.479945585927628e-05,
            -2.720540065000951e-07)
_SIN_F64 = (-0.16666666666666666, 0.008333333333333045, -0.00019841269840968978,
            2.7557319078131905e-06, -2.505207211728052e-08, 1.6054471192624723e-10,
            -7.397519464448591e-13)
_COS_F64 = (0.04166666666666659, -0.0013888888888872201, 2.4801587288314427e-05,
            -2.75573140231901e-07, 2.0875679499500104e-09, -1.135742493143482e-11)


class _K32:
    """float32 constants."""
    bits, mbits, bias = 32, 23, 127
    shift = 12582912.0                      # 1.5 * 2^23
    shift_bits = 0x4B400000
    log2e = _hx("0x1.715476p+0")
    ln2hi = _hx("0x1.62e4p-1")              # 15 significant bits: n*ln2hi exact for |n| < 2^9
    ln2lo = _hx("0x1.7f7d1cp-20")
    exp_lo, exp_hi, expm1_lo = -104.0, 89.0, -20.0
    # e^r = 1 + r + r^2 P(r), |r| <= ln2/2: weighted error 2^-28.2
    exp_poly = (0.49999994, 0.16666521, 0.041668292, 0.008368721, 0.0013818742)
    # log1p(f) = 2s + s z Q(z), z = s^2 <= 0.0295: error 2^-30.1
    log_poly = (0.6666678, 0.3997679, 0.2989352)
    min_normal, sub_scale = 2.0 ** -126, 25
    one_bits, sqrth_bits, mmask = 0x3F800000, 0x3F3504F3, 0x007FFFFF
    tanh_thr = 0.5493061443340549            # ln(3)/2
    # erf: |x| < 1: x*(ERF_C0 + P(x^2)) (relative error 2^-33);
    #      1 <= |x| <= 4: 1 - exp(-x^2) G(|x| - 2.5) (absolute error 2^-28.6)
    erf_clamp = 4.0
    erf_c0 = 1.1283792
    erf_small = (-5.863631e-08, -0.37612638, 0.112837665, -0.026864061, 0.005215551,
                 -0.0008367134, 9.895147e-05, -1.3346560e-06, -2.0532143e-06)
    erf_pieces = (  # (upper bound, center, coefficients)
        (None, 2.5, (0.2108076, -0.07434218, 0.024914656, -0.0081322305, 0.0023024438,
                     -0.00066126854, 0.000543181, 0.00022500133, 0.00010683259)),
    )


class _K64:
    """float64 constants."""
    bits, mbits, bias = 64, 52, 1023
    shift = 6755399441055744.0              # 1.5 * 2^52
    shift_bits = 0x4338000000000000
    log2e = _hx("0x1.71547652b82fep+0")
    ln2hi = _hx("0x1.62e42fefa3800p-1")     # 42 significant bits: n*ln2hi exact, |n| < 2^11
    ln2lo = _hx("0x1.ef35793c76730p-45")
    exp_lo, exp_hi, expm1_lo = -746.0, 710.0, -40.0
    exp_poly = (0.5000000000000011, 0.16666666666666421, 0.04166666666652635,
                0.008333333333490511, 0.0013888888944664226, 0.0001984126951380199,
                2.4801491967678562e-05, 2.7557579943859885e-06, 2.7630675500645645e-07,
                2.50022997687437e-08)                                        # 2^-57.9
    log_poly = (0.666666666666674, 0.39999999999376934, 0.2857142875148946,
                0.22222197571797583, 0.18183619656264316, 0.15312555509940215,
                0.14811662876184362)                                         # 2^-59.4
    min_normal, sub_scale = 2.0 ** -1022, 54
    one_bits, sqrth_bits, mmask = 0x3FF0000000000000, 0x3FE6A09E667F3BCD, 0x000FFFFFFFFFFFFF
    tanh_thr = 0.5493061443340549
    erf_clamp = 6.0
    erf_c0 = 1.1283791670955126
    erf_small = (1.5217225299403015e-17, -0.3761263890318375, 0.11283791670954882,
                 -0.026866170645076737, 0.005223977624813426, -0.0008548326980407742,
                 0.00012055331091576958, -1.492559469659281e-05, 1.6460990155676312e-06,
                 -1.63501925603388e-07, 1.4658905836126836e-08, -1.1369284313755773e-09,
                 5.950849841500257e-11)                                      # 2^-62
    erf_pieces = (                                   # absolute errors 2^-59.4 .. 2^-69.5
        (1.5, 1.25, (0.3678229164523611, -0.20882187596460966, 0.10679557149659546,
                     -0.05021827439601099, 0.022011364251642813, -0.009081627618087394,
                     0.0035531098425595343, -0.0013257838043847516, 0.0004739723949192333,
                     -0.00016293550618450115, 5.401997740089206e-05, -1.7668855247520933e-05,
                     5.638020304855817e-06)),
        (2.2, 1.85, (0.27241078771970506, -0.1204592525326035, 0.049561170534358864,
                     -0.019180724696162804, 0.0070384149265456195, -0.0024638628198941706,
                     0.0008267561052736729, -0.0002669616076016534, 8.322163902041756e-05,
                     -2.5104124487987876e-05, 7.335464080607222e-06, -2.1511516688708607e-06,
                     6.372577316153503e-07)),
        (3.2, 2.7, (0.19687412733195586, -0.06525887950295754, 0.020675152673922614,
                    -0.006290644854919471, 0.0018452057870434288, -0.0005234357072688069,
                    0.00014397635030204177, -3.8485478996265186e-05, 1.0017542883853734e-05,
                    -2.54181100614547e-06, 6.25393241664894e-07, -1.5746477985436064e-07,
                    4.460172519429554e-08)),
        (None, 4.6, (0.11993625978937951, -0.024965577016373208, 0.005094605529561309,
                     -0.0010202614752561517, 0.00020069947839388664, -3.88201168201007e-05,
                     7.378133615884752e-06, -1.3819217748165153e-06, 2.7130891133380216e-07,
                     -2.4084854297504193e-08, 2.4436320543145627e-08, 4.957836385159984e-09,
                     1.4989488231405353e-09)),
    )


# --------------------------------------------------------------------------------------
# A thin typed layer over the IRBuilder: every value has the element count of the input.
# --------------------------------------------------------------------------------------

class _Em:
    def __init__(self, builder, ty):
        self.b = builder
        self.ty = ty
        if isinstance(ty, ir.VectorType):
            self.lanes, scalar = ty.count, ty.element
        else:
            self.lanes, scalar = None, ty
        if isinstance(scalar, ir.DoubleType):
            self.bits, self.K = 64, _K64
        elif isinstance(scalar, ir.FloatType):
            self.bits, self.K = 32, _K32
        else:
            raise TypeError(f"emit_math: expected float, double or a vector of them, got {ty}")
        self.scalar = scalar
        self.ity = self.vec(ir.IntType(self.bits))
        self.suffix = (f"v{self.lanes}" if self.lanes else "") + f"f{self.bits}"

    # types and constants
    def vec(self, t):
        return ir.VectorType(t, self.lanes) if self.lanes else t

    def other(self, bits):
        scalar = ir.DoubleType() if bits == 64 else ir.FloatType()
        return _Em(self.b, self.vec(scalar))

    def c(self, v):
        v = float(v)
        return ir.Constant(self.ty, [v] * self.lanes) if self.lanes else ir.Constant(self.ty, v)

    def ci(self, v, bits=None):
        bits = bits or self.bits
        v = int(v) & ((1 << bits) - 1)
        if v >= 1 << (bits - 1):
            v -= 1 << bits
        t = self.vec(ir.IntType(bits))
        return ir.Constant(t, [v] * self.lanes) if self.lanes else ir.Constant(t, v)

    # floating point
    def add(self, a, b):
        return self.b.fadd(a, b)

    def sub(self, a, b):
        return self.b.fsub(a, b)

    def mul(self, a, b):
        return self.b.fmul(a, b)

    def div(self, a, b):
        return self.b.fdiv(a, b)

    def neg(self, a):
        return self.b.fneg(a)

    def _intr(self, base, nargs):
        name = f"llvm.{base}.{self.suffix}"
        mod = self.b.module
        fn = mod.globals.get(name)
        if fn is None:
            fn = ir.Function(mod, ir.FunctionType(self.ty, [self.ty] * nargs), name=name)
        return fn

    def fma(self, a, b, c):
        """a*b + c, fused where the target has an FMA (llvm.fmuladd)."""
        return self.b.call(self._intr("fmuladd", 3), [a, b, c])

    def abs(self, a):
        return self.b.call(self._intr("fabs", 1), [a])

    def sqrt(self, a):
        return self.b.call(self._intr("sqrt", 1), [a])

    def copysign(self, mag, sgn):
        return self.b.call(self._intr("copysign", 2), [mag, sgn])

    def lt(self, a, b):
        return self.b.fcmp_ordered("<", a, b)

    def gt(self, a, b):
        return self.b.fcmp_ordered(">", a, b)

    def ge(self, a, b):
        return self.b.fcmp_ordered(">=", a, b)

    def eq(self, a, b):
        return self.b.fcmp_ordered("==", a, b)

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def sel(self, cond, a, b):
        return self.b.select(cond, a, b)

    def poly(self, x, coeffs):
        """Horner evaluation of sum(coeffs[k] * x^k)."""
        acc = self.c(coeffs[-1])
        for ck in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, self.c(ck))
        return acc

    def two_sum(self, a, b):
        s = self.add(a, b)
        bb = self.sub(s, a)
        err = self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))
        return s, err

    def fast_two_sum(self, a, b):
        """|a| >= |b| (or a == 0)."""
        s = self.add(a, b)
        return s, self.sub(b, self.sub(s, a))

    # bits and integers
    def tobits(self, x):
        return self.b.bitcast(x, self.ity)

    def frombits(self, i):
        return self.b.bitcast(i, self.ty)

    def pow2i(self, k):
        """2.0**k for an integer k (same width as the float) in the normal range."""
        K = self.K
        return self.frombits(self.b.shl(self.b.add(k, self.ci(K.bias)), self.ci(K.mbits)))

    def k_to_float(self, k):
        """Small signed integer (same width as the float) to float."""
        if self.bits == 64:
            k = self.b.trunc(k, self.vec(ir.IntType(32)))
        return self.b.sitofp(k, self.ty)


# --------------------------------------------------------------------------------------
# exp, expm1
# --------------------------------------------------------------------------------------

def _exp_reduce(e, x, lo):
    """Clamp x to [lo, exp_hi] (NaN stays NaN) and return (r, n) with x = n*ln2 + r."""
    K = e.K
    xc = e.sel(e.lt(x, e.c(lo)), e.c(lo), x)
    xc = e.sel(e.gt(xc, e.c(K.exp_hi)), e.c(K.exp_hi), xc)
    t = e.fma(xc, e.c(K.log2e), e.c(K.shift))
    nf = e.sub(t, e.c(K.shift))
    n = e.b.sub(e.tobits(t), e.ci(K.shift_bits))
    r = e.fma(nf, e.c(-K.ln2hi), xc)            # exact: nf*ln2hi is exact
    r = e.fma(nf, e.c(-K.ln2lo), r)
    return r, n


def _exp(e, x):
    r, n = _exp_reduce(e, x, e.K.exp_lo)
    y = e.add(e.c(1.0), e.fma(e.mul(r, r), e.poly(r, e.K.exp_poly), r))
    n1 = e.b.ashr(n, e.ci(1))
    n2 = e.b.sub(n, n1)
    return e.mul(e.mul(y, e.pow2i(n1)), e.pow2i(n2))


def _expm1(e, x):
    r, n = _exp_reduce(e, x, e.K.expm1_lo)
    em = e.fma(e.mul(r, r), e.poly(r, e.K.exp_poly), r)          # expm1(r)
    th = e.pow2i(e.b.sub(n, e.ci(1)))                            # 2^(n-1)
    y = e.mul(e.fma(th, em, e.sub(th, e.c(0.5))), e.c(2.0))      # 2^n em + 2^n - 1
    y = e.sel(e.b.icmp_signed("==", n, e.ci(0)), em, y)
    return e.sel(e.eq(x, e.c(0.0)), x, y)                        # expm1(-0) = -0


# --------------------------------------------------------------------------------------
# log, log1p
# --------------------------------------------------------------------------------------

def _log_parts(e, x, subnormal):
    """x > 0 finite -> (k, f) with x = 2^k (1 + f), 1 + f in [sqrt(1/2), sqrt(2)), f exact."""
    K, b = e.K, e.b
    kadj = None
    if subnormal:
        sub = e.lt(x, e.c(K.min_normal))
        x = e.sel(sub, e.mul(x, e.c(2.0 ** K.sub_scale)), x)
        kadj = e.sel(sub, e.ci(-K.sub_scale), e.ci(0))
    ix = b.add(e.tobits(x), e.ci(K.one_bits - K.sqrth_bits))
    k = b.sub(b.ashr(ix, e.ci(K.mbits)), e.ci(K.bias))
    if kadj is not None:
        k = b.add(k, kadj)
    m = e.frombits(b.add(b.and_(ix, e.ci(K.mmask)), e.ci(K.sqrth_bits)))
    return k, e.sub(m, e.c(1.0))


def _log_finish(e, k, f, extra=None):
    """k*ln2 + log1p(f) (+ extra, a tiny correction)."""
    K = e.K
    s = e.div(f, e.add(e.c(2.0), f))
    z = e.mul(s, s)
    R = e.mul(z, e.poly(z, K.log_poly))
    hfsq = e.mul(e.mul(e.c(0.5), f), f)
    kf = e.k_to_float(k)
    lo = e.mul(kf, e.c(K.ln2lo))
    if extra is not None:
        lo = e.add(lo, extra)
    t = e.fma(s, e.add(hfsq, R), lo)
    return e.sub(e.mul(kf, e.c(K.ln2hi)), e.sub(e.sub(hfsq, t), f))


def _log(e, x):
    k, f = _log_parts(e, x, subnormal=True)
    y = _log_finish(e, k, f)
    inf = float("inf")
    y = e.sel(e.eq(x, e.c(inf)), e.c(inf), y)
    y = e.sel(e.eq(x, e.c(0.0)), e.c(-inf), y)
    y = e.sel(e.lt(x, e.c(0.0)), e.c(float("nan")), y)
    return e.sel(e.isnan(x), x, y)


def _log1p(e, x):
    u, err = e.two_sum(e.c(1.0), x)            # 1 + x = u + err exactly
    k, f = _log_parts(e, u, subnormal=False)   # u >= 2^-24 (2^-53) when x > -1
    y = _log_finish(e, k, f, extra=e.div(err, u))
    inf = float("inf")
    y = e.sel(e.eq(x, e.c(inf)), e.c(inf), y)
    y = e.sel(e.eq(x, e.c(-1.0)), e.c(-inf), y)
    y = e.sel(e.lt(x, e.c(-1.0)), e.c(float("nan")), y)
    y = e.sel(e.isnan(x), x, y)
    return e.sel(e.eq(x, e.c(0.0)), x, y)      # log1p(-0) = -0


# --------------------------------------------------------------------------------------
# tanh, sigmoid, erf
# --------------------------------------------------------------------------------------

def _tanh(e, x):
    ax = e.abs(x)
    small = e.lt(ax, e.c(e.K.tanh_thr))
    t = _expm1(e, e.mul(e.sel(small, e.c(-2.0), e.c(2.0)), ax))
    q = e.div(e.sel(small, e.neg(t), e.c(2.0)), e.add(t, e.c(2.0)))
    y = e.sel(small, q, e.sub(e.c(1.0), q))
    return e.copysign(y, x)


def _sigmoid(e, x):
    ex = _exp(e, e.neg(e.abs(x)))
    num = e.sel(e.ge(x, e.c(0.0)), e.c(1.0), ex)
    return e.div(num, e.add(e.c(1.0), ex))


def _erf(e, x):
    K = e.K
    ax = e.abs(x)
    xl = e.sel(e.gt(ax, e.c(K.erf_clamp)), e.c(K.erf_clamp), ax)
    z = e.mul(xl, xl)
    small = e.lt(xl, e.c(1.0))
    # Per-element piece selection: the last piece is the default, earlier ones override.
    pieces = K.erf_pieces
    conds = [e.lt(xl, e.c(ub)) for ub, _, _ in pieces[:-1]]

    def pick(values):
        acc = e.c(values[-1])
        for cond, v in reversed(list(zip(conds, values[:-1]))):
            acc = e.sel(cond, e.c(v), acc)
        return acc

    center = pick([c for _, c, _ in pieces])
    v = e.sel(small, z, e.sub(xl, center))
    ncoef = len(K.erf_small)
    acc = None
    for k in reversed(range(ncoef)):
        ck = e.sel(small, e.c(K.erf_small[k]), pick([p[2][k] for p in pieces]))
        acc = ck if acc is None else e.fma(acc, v, ck)
    y_small = e.fma(xl, e.c(K.erf_c0), e.mul(xl, acc))
    y_large = e.fma(e.neg(_exp(e, e.neg(z))), acc, e.c(1.0))
    return e.copysign(e.sel(small, y_small, y_large), x)


# --------------------------------------------------------------------------------------
# sin, cos
# --------------------------------------------------------------------------------------

def _int_to_double_exact(d, v, signed):
    """i64 value |v| < 2^51 (signed) or 0 <= v < 2^52 -> double, exactly (shifter trick)."""
    b = d.b
    if signed:
        return d.sub(d.frombits(b.add(v, d.ci(0x4338000000000000))), d.c(6755399441055744.0))
    return d.sub(d.frombits(b.or_(v, d.ci(0x4330000000000000))), d.c(4503599627370496.0))


def _u64_to_double_exact_pair(d, v):
    """0 <= v < 2^64 -> (hi, lo) doubles with hi + lo == v exactly, hi = (v >> 32) * 2^32."""
    b = d.b
    vh = _int_to_double_exact(d, b.lshr(v, d.ci(32)), signed=False)
    vl = _int_to_double_exact(d, b.and_(v, d.ci(0xFFFFFFFF)), signed=False)
    return d.mul(vh, d.c(4294967296.0)), vl


def _ph_f32(e, x):
    """Payne-Hanek for float32 x with |x| >= 2^19: (n, r) with x = n*pi/2 + r, r double.

    Other elements (small, inf, NaN) give garbage that the caller discards."""
    b = e.b
    d = e.other(64)
    i64 = d.ity
    bits = e.tobits(x)
    eb = b.and_(b.lshr(bits, e.ci(23)), e.ci(0xFF))
    eb = e.sel(b.icmp_signed("<", eb, e.ci(146)), e.ci(146), eb)      # 2^19
    eb = e.sel(b.icmp_signed(">", eb, e.ci(254)), e.ci(254), eb)
    mant = b.zext(b.or_(b.and_(bits, e.ci(0x7FFFFF)), e.ci(0x800000)), i64)
    j0 = b.sub(eb, e.ci(88))                  # E + 62, E = eb - 150: first window bit
    q = b.lshr(j0, e.ci(5))                   # 1 .. 5
    s = b.zext(b.and_(j0, e.ci(31)), i64)
    words = []
    for j in range(4):                        # table words q+j, chosen with selects
        acc = d.ci(_TWO_OVER_PI_WORDS[5 + j])
        for qq in range(4, 0, -1):
            acc = e.sel(b.icmp_unsigned("==", q, e.ci(qq)), d.ci(_TWO_OVER_PI_WORDS[qq + j]), acc)
        words.append(acc)
    m32 = d.ci(0xFFFFFFFF)
    w = []
    for j in range(3):                        # the 96-bit window, as three 32-bit words
        pair = b.or_(b.shl(words[j], d.ci(32)), words[j + 1])
        w.append(b.and_(b.lshr(b.shl(pair, s), d.ci(32)), m32))
    p0, p1, p2 = (b.mul(mant, wj) for wj in w)
    t1 = b.add(p1, b.lshr(p2, d.ci(32)))
    t0 = b.add(p0, b.lshr(t1, d.ci(32)))
    g = b.or_(b.shl(t0, d.ci(32)), b.and_(t1, m32))   # x*2/pi mod 4, 2.62 fixed point
    low = b.and_(p2, m32)                             # next 32 bits
    n = b.lshr(b.add(g, d.ci(1 << 61)), d.ci(62))
    f = b.sub(g, b.shl(n, d.ci(62)))                  # signed, |f| <= 2^61
    fh = _int_to_double_exact(d, b.ashr(f, d.ci(32)), signed=True)
    fl = _int_to_double_exact(d, b.and_(f, m32), signed=False)
    lo = _int_to_double_exact(d, low, signed=False)
    frac = d.add(d.fma(fh, d.c(4294967296.0), fl), d.mul(lo, d.c(2.0 ** -32)))
    r = d.mul(frac, d.c(_PIO2_2M62))
    neg = b.icmp_signed("<", bits, e.ci(0))
    r = d.sel(neg, d.neg(r), r)
    n32 = b.trunc(n, e.ity)
    n32 = e.sel(neg, b.neg(n32), n32)
    return n32, r


def _sincos_f32(e, x, want_cos):
    b = e.b
    d = e.other(64)
    xd = b.fpext(x, d.ty)
    ax = d.abs(xd)
    fast = d.lt(ax, d.c(2.0 ** 19))
    xf = d.sel(fast, xd, d.c(0.0))
    t = d.fma(xf, d.c(_TWO_OVER_PI), d.c(6755399441055744.0))
    nf = d.sub(t, d.c(6755399441055744.0))
    n = b.trunc(b.sub(d.tobits(t), d.ci(0x4338000000000000)), e.ity)
    r = d.fma(nf, d.c(-_P1), xf)
    r = d.fma(nf, d.c(-_P2), r)
    r = d.fma(nf, d.c(-_P3B), r)
    nl, rl = _ph_f32(e, x)
    n = e.sel(fast, n, nl)
    r = d.sel(fast, r, rl)
    if want_cos:
        n = b.add(n, e.ci(1))
    z = d.mul(r, r)
    sn = d.fma(d.mul(r, z), d.poly(z, _SIN_F32), r)
    cs = d.fma(z, d.fma(z, d.poly(z, _COS_F32), d.c(-0.5)), d.c(1.0))
    y = d.sel(b.icmp_unsigned("!=", b.and_(n, e.ci(1)), e.ci(0)), cs, sn)
    y = d.sel(b.icmp_unsigned("!=", b.and_(n, e.ci(2)), e.ci(0)), d.neg(y), y)
    y = b.fptrunc(y, e.ty)
    y = e.sel(b.fcmp_unordered(">=", e.abs(x), e.c(float("inf"))), e.c(float("nan")), y)
    if not want_cos:
        y = e.sel(e.eq(x, e.c(0.0)), x, y)
    return y


_TABLE_NAME = "__graphc_math_2opi"


def _table(e):
    mod = e.b.module
    g = mod.globals.get(_TABLE_NAME)
    if g is None:
        words = [w - (1 << 32) if w >= 1 << 31 else w for w in _TWO_OVER_PI_WORDS]
        aty = ir.ArrayType(ir.IntType(32), len(words))
        g = ir.GlobalVariable(mod, aty, name=_TABLE_NAME)
        g.global_constant = True
        g.linkage = "internal"
        g.initializer = ir.Constant(aty, words)
        g.align = 64
    return g


class _VectorGEP(ir.Instruction):
    """getelementptr [N x i32], ptr @table, i64 0, <L x i64> %idx -> <L x ptr>."""

    def __init__(self, parent, table, idx, typ, name=""):
        super().__init__(parent, typ, "getelementptr", [table, idx], name=name)

    def descr(self, buf):
        table, idx = self.operands
        buf.append(f"getelementptr inbounds {table.type.pointee}, {table.type} "
                   f"{table.get_reference()}, i64 0, {idx.type} {idx.get_reference()}\n")


def _table_word(d, idx):
    """Zero-extended 32-bit word _TWO_OVER_PI_WORDS[idx] (idx: i64, in range) as i64."""
    b = d.b
    table = _table(d)
    i32 = ir.IntType(32)
    if d.lanes is None:
        ptr = b.gep(table, [ir.Constant(ir.IntType(64), 0), idx], inbounds=True)
        word = b.load(ptr, align=4)
    else:
        n = d.lanes
        pty = ir.VectorType(i32.as_pointer(), n)
        vty = ir.VectorType(i32, n)
        ptrs = _VectorGEP(b.block, table, idx, pty)
        b._insert(ptrs)
        mty = ir.VectorType(ir.IntType(1), n)
        name = f"llvm.masked.gather.v{n}i32.v{n}p0"
        fn = b.module.globals.get(name)
        if fn is None:
            fn = ir.Function(b.module, ir.FunctionType(vty, [pty, i32, mty, vty]), name=name)
        word = b.call(fn, [ptrs, ir.Constant(i32, 4), ir.Constant(mty, [1] * n),
                           ir.Constant(vty, [0] * n)])
    return b.zext(word, d.vec(ir.IntType(64)))


def _ph_f64(d, x):
    """Payne-Hanek for double x with |x| >= 2^20: (n, hi, lo), x = n*pi/2 + hi + lo."""
    b = d.b
    bits = d.tobits(x)
    eb = b.and_(b.lshr(bits, d.ci(52)), d.ci(0x7FF))
    eb = d.sel(b.icmp_signed("<", eb, d.ci(1043)), d.ci(1043), eb)    # 2^20
    eb = d.sel(b.icmp_signed(">", eb, d.ci(2046)), d.ci(2046), eb)
    mant = b.or_(b.and_(bits, d.ci(0x000FFFFFFFFFFFFF)), d.ci(0x0010000000000000))
    j0 = b.sub(eb, d.ci(1013))                # E + 62 with E = eb - 1075
    q = b.lshr(j0, d.ci(5))                   # 0 .. 32
    s = b.and_(j0, d.ci(31))
    m32 = d.ci(0xFFFFFFFF)
    words = [_table_word(d, b.add(q, d.ci(j))) for j in range(7)]
    w = []
    for j in range(6):                        # 192-bit window of 2/pi
        pair = b.or_(b.shl(words[j], d.ci(32)), words[j + 1])
        w.append(b.and_(b.lshr(b.shl(pair, s), d.ci(32)), m32))
    mh = b.lshr(mant, d.ci(32))
    ml = b.and_(mant, m32)
    A = [b.mul(ml, wj) for wj in w]           # 32x32 -> 64 bit products
    B = [b.mul(mh, wj) for wj in w]

    def lo32(v):
        return b.and_(v, m32)

    def hi32(v):
        return b.lshr(v, d.ci(32))

    limbs = [None] * 6
    carry = None
    for k in range(5, -1, -1):                # column sums, least significant first
        terms = [lo32(A[k])]
        if k + 1 < 6:
            terms += [hi32(A[k + 1]), lo32(B[k + 1])]
        if k + 2 < 6:
            terms.append(hi32(B[k + 2]))
        if carry is not None:
            terms.append(carry)
        acc = terms[0]
        for t_ in terms[1:]:
            acc = b.add(acc, t_)
        limbs[k] = lo32(acc)
        carry = hi32(acc)
    g = b.or_(b.shl(limbs[0], d.ci(32)), limbs[1])     # x*2/pi mod 4 in 2.62 fixed point
    lw = b.or_(b.shl(limbs[2], d.ci(32)), limbs[3])    # the next 64 bits
    n = b.lshr(b.add(g, d.ci(1 << 61)), d.ci(62))
    fh = b.sub(g, b.shl(n, d.ci(62)))                   # signed high part of the fraction
    negf = b.icmp_signed("<", fh, d.ci(0))
    # |fraction| as (uh, ul), 128 bits: two's complement negation when negative.
    ul_neg = b.sub(d.ci(0), lw)
    uh_neg = b.sub(b.sub(d.ci(0), fh),
                   b.zext(b.icmp_unsigned("!=", lw, d.ci(0)), d.ity))
    uh = d.sel(negf, uh_neg, fh)
    ul = d.sel(negf, ul_neg, lw)
    # Exact pieces (units 2^-126 of a quadrant), summed as a double-double.
    p0, p1 = _u64_to_double_exact_pair(d, uh)
    p2, p3 = _u64_to_double_exact_pair(d, ul)
    # value / 2^-62 = p0 + p1 + (p2 + p3) * 2^-64
    s23, e23 = d.two_sum(p2, p3)
    s1, e1 = d.two_sum(p1, d.mul(s23, d.c(2.0 ** -64)))
    s0, e0 = d.two_sum(p0, s1)
    scale = d.c(2.0 ** -62)
    fr_hi = d.mul(s0, scale)
    fr_lo = d.mul(d.add(e0, d.add(e1, d.mul(e23, d.c(2.0 ** -64)))), scale)
    # (pi/2) * (fr_hi + fr_lo) as a double-double (Dekker product, no FMA needed).
    ph = d.mul(fr_hi, d.c(_PIO2_HI))
    tt = d.mul(fr_hi, d.c(134217729.0))
    hh = d.sub(tt, d.sub(tt, fr_hi))
    hl = d.sub(fr_hi, hh)
    err = d.add(d.add(d.add(d.sub(d.mul(hh, d.c(_PIO2_HI_H)), ph), d.mul(hh, d.c(_PIO2_HI_L))),
                      d.mul(hl, d.c(_PIO2_HI_H))), d.mul(hl, d.c(_PIO2_HI_L)))
    pl = d.add(err, d.add(d.mul(fr_hi, d.c(_PIO2_LO)), d.mul(fr_lo, d.c(_PIO2_HI))))
    rh, rl = d.fast_two_sum(ph, pl)
    neg = b.xor(negf, b.icmp_signed("<", bits, d.ci(0)))
    rh = d.sel(neg, d.neg(rh), rh)
    rl = d.sel(neg, d.neg(rl), rl)
    n = d.sel(b.icmp_signed("<", bits, d.ci(0)), b.sub(d.ci(0), n), n)
    return n, rh, rl


def _sincos_f64(d, x, want_cos):
    b = d.b
    ax = d.abs(x)
    fast = d.lt(ax, d.c(2.0 ** 20))
    xf = d.sel(fast, x, d.c(0.0))
    t = d.fma(xf, d.c(_TWO_OVER_PI), d.c(6755399441055744.0))
    nf = d.sub(t, d.c(6755399441055744.0))
    n = b.sub(d.tobits(t), d.ci(0x4338000000000000))
    r1 = d.fma(nf, d.c(-_P1), xf)                       # exact
    y2, e2 = d.two_sum(r1, d.neg(d.mul(nf, d.c(_P2))))  # n*P2, n*P3 exact
    y3, e3 = d.two_sum(y2, d.neg(d.mul(nf, d.c(_P3))))
    lo = d.sub(d.add(e2, e3), d.mul(nf, d.c(_P4)))
    h, l = d.fast_two_sum(y3, lo)
    nl, hl_, ll_ = _ph_f64(d, x)
    n = d.sel(fast, n, nl)
    h = d.sel(fast, h, hl_)
    l = d.sel(fast, l, ll_)
    if want_cos:
        n = b.add(n, d.ci(1))
    z = d.mul(h, h)
    # sin(h + l) ~ h + (h^3 S(z) + l (1 - z/2))
    sn = d.add(h, d.fma(d.mul(z, h), d.poly(z, _SIN_F64), d.fma(d.mul(d.c(-0.5), z), l, l)))
    # cos(h + l) ~ w + (((1 - w) - z/2) + (z^2 C(z) - h l)), w = 1 - z/2
    hz = d.mul(d.c(0.5), z)
    w = d.sub(d.c(1.0), hz)
    cs = d.add(w, d.add(d.sub(d.sub(d.c(1.0), w), hz),
                        d.sub(d.mul(d.mul(z, z), d.poly(z, _COS_F64)), d.mul(h, l))))
    y = d.sel(b.icmp_unsigned("!=", b.and_(n, d.ci(1)), d.ci(0)), cs, sn)
    y = d.sel(b.icmp_unsigned("!=", b.and_(n, d.ci(2)), d.ci(0)), d.neg(y), y)
    y = d.sel(b.fcmp_unordered(">=", ax, d.c(float("inf"))), d.c(float("nan")), y)
    if not want_cos:
        y = d.sel(d.eq(x, d.c(0.0)), x, y)
    return y


def _rsqrt(e, x):
    if e.bits == 64:
        return e.div(e.c(1.0), e.sqrt(x))
    # float32: in double, so that the result is rounded once (correctly rounded but for
    # results within 2^-29 ulp of a tie)
    d = e.other(64)
    xd = e.b.fpext(x, d.ty)
    return e.b.fptrunc(d.div(d.c(1.0), d.sqrt(xd)), e.ty)


def _sin(e, x):
    return _sincos_f32(e, x, False) if e.bits == 32 else _sincos_f64(e, x, False)


def _cos(e, x):
    return _sincos_f32(e, x, True) if e.bits == 32 else _sincos_f64(e, x, True)


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------

_IMPL = {
    "exp": _exp,
    "expm1": _expm1,
    "log": _log,
    "log1p": _log1p,
    "sqrt": lambda e, x: e.sqrt(x),
    "rsqrt": _rsqrt,
    "reciprocal": lambda e, x: e.div(e.c(1.0), x),
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "erf": _erf,
    "sin": _sin,
    "cos": _cos,
}
assert tuple(_IMPL) == MATH_FUNCTIONS


def emit_math(builder: ir.IRBuilder, name: str, x: ir.Value) -> ir.Value:
    """Emit ``name(x)`` element-wise at ``builder``'s position and return the result.

    ``x``: a float/double scalar or vector value. Raises KeyError for an unknown name and
    TypeError for an unsupported type."""
    try:
        impl = _IMPL[name]
    except KeyError:
        raise KeyError(f"emit_math: unknown function {name!r}; "
                       f"supported: {', '.join(MATH_FUNCTIONS)}") from None
    return impl(_Em(builder, x.type), x)


# --------------------------------------------------------------------------------------
# Derivation of the constants above (build time only; nothing here runs on import).
# `python -m graphc.runtime.llvm_math` reprints them (takes a few minutes, mostly the
# 70-digit erf reference values).
# --------------------------------------------------------------------------------------

def _pi_fixed(bits):
    """floor(pi * 2^bits) (to within one unit), by Machin's formula in integers."""
    one = 1 << (bits + 64)

    def atan_inv(x):
        x2, term, s, n, sign = x * x, one // x, 0, 1, 1
        while term:
            s += sign * (term // n)
            term //= x2
            n, sign = n + 2, -sign
        return s

    return (16 * atan_inv(5) - 4 * atan_inv(239)) >> 64


def _derive_coefficients():  # pragma: no cover - build-time tool
    import math
    from decimal import Decimal, getcontext
    from fractions import Fraction

    import numpy as np

    L = np.longdouble
    out = {}

    # ---- pi/2, 2/pi and ln2 constants, exactly ----
    pi = Fraction(_pi_fixed(1600), 2 ** 1600)
    pio2 = pi / 2

    def trunc_bits(v, nbits):
        e = math.floor(math.log2(v))
        return Fraction(math.floor(v / Fraction(2) ** e * 2 ** (nbits - 1)), 2 ** (nbits - 1)) \
            * Fraction(2) ** e

    p1 = trunc_bits(pio2, 33)
    p2 = trunc_bits(pio2 - p1, 33)
    p3 = trunc_bits(pio2 - p1 - p2, 33)
    c1 = float(pio2)
    t = c1 * 134217729.0
    hh = t - (t - c1)
    out.update(P1=float(p1).hex(), P2=float(p2).hex(), P3=float(p3).hex(),
               P4=float(pio2 - p1 - p2 - p3).hex(), P3B=float(pio2 - p1 - p2).hex(),
               TWO_OVER_PI=float(2 / pi).hex(), PIO2_HI=c1.hex(),
               PIO2_LO=float(pio2 - Fraction(c1)).hex(), PIO2_HI_H=hh.hex(),
               PIO2_HI_L=(c1 - hh).hex(), PIO2_2M62=float(pio2 / 2 ** 62).hex())
    nwords = len(_TWO_OVER_PI_WORDS)
    bits2opi = math.floor(2 / pi * 2 ** (32 * nwords - 64))
    out["TWO_OVER_PI_WORDS"] = ", ".join(
        "0x%08X" % ((bits2opi >> (32 * (nwords - 1 - i))) & 0xFFFFFFFF) for i in range(nwords))
    getcontext().prec = 80
    ln2 = Fraction(Decimal(2).ln())
    for tag, fbits in (("32", 16), ("64", 42)):      # fraction bits of LN2HI
        hi = Fraction(round(ln2 * 2 ** fbits), 2 ** fbits)
        lo = float(ln2 - hi)
        if tag == "32":
            lo = float(np.float32(lo))
        out[f"LN2HI_{tag}"], out[f"LN2LO_{tag}"] = float(hi).hex(), lo.hex()
    out["LOG2E_64"] = float(1 / ln2).hex()
    out["LOG2E_32"] = float(np.float32(float(1 / ln2))).hex()

    # ---- discrete minimax fits ----
    def cheb(a, b, n):
        k = np.arange(n, dtype=L)
        return (L(a) + L(b)) / 2 + (L(b) - L(a)) / 2 * np.cos(np.pi * (k + L(0.5)) / n)

    def series(z, coef, n=60):
        s, zk = np.zeros_like(z), np.ones_like(z)
        for k in range(n):
            s += coef(k) * zk
            zk = zk * z
        return s

    def minimax(t, g, w, powers, iters):
        """Lawson's algorithm: reweighted least squares -> min max |w (sum c_k t^p_k - g)|."""
        t, g, w = (np.asarray(v, L) for v in (t, g, w))
        T = np.stack([t ** p for p in powers], 1)
        scale = np.max(np.abs(T), axis=0)
        Ts = T / scale
        lam = np.full(len(t), L(1) / len(t))
        best = None
        for _ in range(iters):
            sw = np.sqrt(lam) * w
            A = (Ts * sw[:, None]).astype(np.float64)
            c = np.zeros(len(powers), L)
            for _ in range(3):          # iterative refinement, residual in long double
                res = (g - Ts @ c) * sw
                c = c + np.linalg.lstsq(A, res.astype(np.float64), rcond=None)[0].astype(L)
            e = np.abs(w * (Ts @ c - g))
            m = e.max()
            if best is None or m < best[0]:
                best = (m, c.copy())
            if not np.isfinite(m) or m < 1e-30:
                break
            lam = lam * e + L(1e-30) * lam.max()
            lam /= lam.sum()
        return best[1] / scale

    def fit(t, g, w, degree, dtype, iters=200):
        """Minimax fit, coefficients rounded to dtype one at a time, the rest refitted."""
        t, g = np.asarray(t, L), np.asarray(g, L)
        powers, fixed = list(range(degree + 1)), []
        for k in powers:
            gg = g - sum((L(c) * t ** p for c, p in zip(fixed, powers[:k])), np.zeros_like(t))
            fixed.append(np.asarray(minimax(t, gg, w, powers[k:], iters)[0]).astype(dtype))
        return tuple(float(c) for c in fixed)

    f32, f64 = np.float32, np.float64
    # exp/expm1: e^r = 1 + r + r^2 P(r)
    r = cheb(-L(0.34657359027997264) * L(1.003), L(0.34657359027997264) * L(1.003), 3000)
    g = series(r, lambda k: L(1) / L(math.factorial(k + 2)))
    w = r * r / np.exp(r)
    out["EXP32"], out["EXP64"] = fit(r, g, w, 4, f32), fit(r, g, w, 9, f64)
    # log: 2 atanh(s) = 2 s + s z Q(z), z = s^2 <= ((sqrt2 - 1)/(sqrt2 + 1))^2
    sm = (np.sqrt(L(2)) - 1) / (np.sqrt(L(2)) + 1)
    z = cheb(0, sm * sm * L(1.01), 2000)
    g = series(z, lambda k: L(2) / L(2 * k + 3))
    out["LOG32"], out["LOG64"] = fit(z, g, z / 2, 2, f32), fit(z, g, z / 2, 6, f64)
    # sin r = r + r^3 S(z), cos r = 1 - z/2 + z^2 C(z), z = r^2, |r| <= pi/4
    z = cheb(0, (np.pi / L(4) * L(1.0005)) ** 2, 2000)
    rr = np.sqrt(z)
    gs = series(z, lambda k: L((-1) ** (k + 1)) / L(math.factorial(2 * k + 3)), 30)
    gc = series(z, lambda k: L((-1) ** k) / L(math.factorial(2 * k + 4)), 30)
    ws, wc = z * rr / np.sin(rr), z * z / np.cos(rr)
    out["SIN_F32"], out["COS_F32"] = fit(z, gs, ws, 3, f64), fit(z, gc, wc, 3, f64)
    out["SIN_F64"], out["COS_F64"] = fit(z, gs, ws, 6, f64), fit(z, gc, wc, 5, f64)

    # erf, with 70-digit references
    getcontext().prec = 70
    dpi = Decimal(_pi_fixed(300)) / Decimal(2) ** 300

    def derf(x):
        x = Decimal(x)
        x2, term, s, n = x * x, x, x, 0
        while True:
            n += 1
            term = -term * x2 / n
            tn = term / (2 * n + 1)
            s += tn
            if abs(tn) < Decimal(10) ** -65 * abs(s) and n > 5:
                return s * 2 / dpi.sqrt()

    def small_piece(degree, dtype):          # erf(x) = x (C0HI + P(x^2)), 0 <= x <= 1
        c0hi = float(dtype(2 / np.sqrt(np.pi, dtype=L)))
        x = cheb(L(1e-8), L(1.0), 1200).astype(np.float64)
        g = np.array([L(str(derf(float(v)) / Decimal(float(v)))) for v in x], L)
        return c0hi, fit(x.astype(L) ** 2, g - L(c0hi), 1 / g, degree, dtype, iters=150)

    def g_piece(lo, hi, degree, dtype):      # erfc(x) exp(x^2) = G(x - center)
        x = cheb(L(lo), L(hi), 800).astype(np.float64)
        g = np.array([L(str((1 - derf(float(v))) * (Decimal(float(v)) ** 2).exp())) for v in x], L)
        xl = x.astype(L)
        return (lo + hi) / 2, fit(xl - L((lo + hi) / 2), g, np.exp(-xl * xl), degree, dtype)

    out["ERF32"] = (small_piece(8, f32), g_piece(1.0, 4.0, 8, f32))
    out["ERF64"] = (small_piece(12, f64),) + tuple(
        g_piece(a, b, 12, f64) for a, b in ((1.0, 1.5), (1.5, 2.2), (2.2, 3.2), (3.2, 6.0)))
    return out


if __name__ == "__main__":  # pragma: no cover
    import pprint

    pprint.pprint(_derive_coefficients(), width=100)
