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
  selects (no memory access). The Payne-Hanek path is a branch taken only when some lane has
  a huge (or non-finite) argument, so sin and cos are the two functions here that branch
  (``BRANCHING``): a kernel loop calls them through ``llvm_vector_call``, which keeps the loop
  vectorizable.
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
All polynomial coefficients below were obtained with ``llvm_math_derive._derive_coefficients()`` (run
``python -m graphc.runtime.cpu.llvm_math_derive`` to reprint them): a discrete minimax fit (Lawson's
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

from .llvm_trig import cos, sin
from .llvm_util import host_has

__all__ = ["emit_math", "MATH_FUNCTIONS", "BRANCHING"]

MATH_FUNCTIONS = ("exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "reciprocal",
                  "tanh", "sigmoid", "erf", "sin", "cos")
BRANCHING = ("sin", "cos")   # their IR branches: called out of line (llvm_vector_call), not inlined in a loop

_hx = float.fromhex

# --------------------------------------------------------------------------------------
# Constants (see llvm_math_derive for how each was obtained; sin/cos ones in llvm_trig)
# --------------------------------------------------------------------------------------

ONE_STEP_SCALE = None   # None: the host decides (``one_step_scale``); True/False to emit for another target


def one_step_scale():
    """Whether exp scales by 2**n in one llvm.ldexp (AVX-512: one vscalef, rounding once);
    elsewhere LLVM makes ldexp a libm call, so two exact power-of-two multiplications do it."""
    return host_has("avx512f") if ONE_STEP_SCALE is None else ONE_STEP_SCALE


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

    def ldexp(self, y, n):
        """y * 2**n (n: an integer of the float's width), rounded once (llvm.ldexp: one
        vscalef on AVX-512)."""
        i32 = self.vec(ir.IntType(32))
        if self.bits == 64:
            n = self.b.trunc(n, i32)
        name = f"llvm.ldexp.{self.suffix}.{'v%di32' % self.lanes if self.lanes else 'i32'}"
        fn = self.b.module.globals.get(name) or ir.Function(self.b.module, ir.FunctionType(self.ty, [self.ty, i32]), name=name)
        return self.b.call(fn, [y, n])

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
    return _exp_scaled(e, e.add(e.c(1.0), e.fma(e.mul(r, r), e.poly(r, e.K.exp_poly), r)), n)


def _exp_scaled(e, y, n):
    """y * 2**n, rounded once (denormal results too)."""
    if one_step_scale():
        return e.ldexp(y, n)
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




def _rsqrt(e, x):
    if e.bits == 64:
        return e.div(e.c(1.0), e.sqrt(x))
    # float32: in double, so that the result is rounded once (correctly rounded but for
    # results within 2^-29 ulp of a tie)
    d = e.other(64)
    xd = e.b.fpext(x, d.ty)
    return e.b.fptrunc(d.div(d.c(1.0), d.sqrt(xd)), e.ty)



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
    "sin": sin,
    "cos": cos,
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
