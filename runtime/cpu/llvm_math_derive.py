"""Build-time derivation of the math library's constants and coefficients.

``python -m graphc.runtime.cpu.llvm_math_derive`` reprints every constant of ``llvm_math`` and
``llvm_trig`` (a few minutes, mostly the 70-digit erf reference values). Nothing here runs
when graphc is imported.
"""
from .llvm_trig import _TWO_OVER_PI_WORDS



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
    # float32 pow (llvm_math_binary), in double: log2(1 + r) = r P(r), |r| <= 2^-6 (the buckets'
    # reduced arguments, with 3% to spare), and 2^r = 1 + r Q(r), |r| <= 1/32
    ln2l = L(str(ln2.numerator / Decimal(ln2.denominator)))
    r = cheb(-L(2.0 ** -6) * L(1.03), L(2.0 ** -6) * L(1.03), 2000)
    g = series(r, lambda k: L((-1) ** k) / L(k + 1)) / ln2l
    out["POW_LOG2"] = fit(r, g, 1 / g, 7, f64)
    r = cheb(-L(1 / 32) * L(1.01), L(1 / 32) * L(1.01), 2000)
    g = series(r * ln2l, lambda k: L(1) / L(math.factorial(k + 1)), 30) * ln2l
    out["POW_EXP2"] = fit(r, g, r / (1 + r * g), 5, f64)

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
