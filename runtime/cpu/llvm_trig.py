"""sin and cos for the CPU backend's math library (see ``llvm_math``): Cody-Waite
reduction for moderate arguments and a branch-free Payne-Hanek reduction for huge ones, in
both precisions. The functions take the library's emitter ``e`` (float32 or float64). The
Payne-Hanek code runs only when some lane needs it (``llvm_vector_call.rare``), so sin and cos
branch and a kernel calls them through ``llvm_vector_call.call``.
"""
from llvmlite import ir

from .llvm_util import constant_table, table_load
from .llvm_vector_call import rare

_hx = float.fromhex

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
    n, r = rare(b, b.not_(fast), (n, r), lambda: _ph_f32(e, x))   # huge |x|, inf, NaN
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


def _table_word(d, idx):
    """Zero-extended 32-bit word _TWO_OVER_PI_WORDS[idx] (idx: i64, in range) as i64."""
    words = [w - (1 << 32) if w >= 1 << 31 else w for w in _TWO_OVER_PI_WORDS]
    table = constant_table(d.b.module, _TABLE_NAME, ir.IntType(32), words)
    return d.b.zext(table_load(d.b, table, idx), d.vec(ir.IntType(64)))


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
    n, h, l = rare(b, b.not_(fast), (n, h, l), lambda: _ph_f64(d, x))   # huge |x|, inf, NaN
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



def sin(e, x):
    return _sincos_f32(e, x, False) if e.bits == 32 else _sincos_f64(e, x, False)


def cos(e, x):
    return _sincos_f32(e, x, True) if e.bits == 32 else _sincos_f64(e, x, True)
