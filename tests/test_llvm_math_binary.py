"""fmod (behind float mod and floor_divide) and the float power on the CPU: vectorized
(runtime.cpu.llvm_math_binary, called through llvm_vector_call), and exactly numpy's
results for mod and floor_divide, within 1 ulp of numpy's float32 power (0.5 ulp of the
exact power, measured) and 1.5 ulp of the exact float64 power, in every lane of a vector
whatever its neighbours take: the common case, or libm's fmod for a huge quotient, an
infinity, a NaN or a zero divisor."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cpu import llvm_math_binary

# Sizes on both sides of every vector width the vectorizer may pick (4, 8, 16 lanes; x4 unrolled).
SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000]


def _run(fn, *arrays):
    ps = [gc.placeholder(a.dtype, a.shape, name=f"x{i}") for i, a in enumerate(arrays)]
    with gc.Session() as sess:
        return sess.run(fn(*ps), dict(zip(ps, arrays)))


def _same(got, want):
    """Identical values and signs (NaNs equal)."""
    nan = np.isnan(want)
    return np.array_equal(np.isnan(got), nan) and np.array_equal(got[~nan], want[~nan]) \
        and np.array_equal(np.signbit(got[~nan]), np.signbit(want[~nan]))


def _operands(dtype, n, rng):
    """Mostly small quotients; a few lanes of every kind that takes libm's path, at random
    positions (so some vectors mix both kinds)."""
    x = (rng.standard_normal(n) * rng.choice([1e-3, 1.0, 100.0, 1e4], n)).astype(dtype)
    y = (rng.standard_normal(n) * rng.choice([1e-2, 1.0, 7.0], n)).astype(dtype)
    if n:
        fi = np.finfo(dtype)
        rare = [(fi.max, 3.0), (-fi.max / 3, 1e-7), (1e30, 1e-30), (5.0, 0.0), (-5.0, -0.0), (np.inf, 2.0),
                (-np.inf, 2.0), (3.0, np.inf), (-3.0, -np.inf), (np.nan, 1.0), (1.0, np.nan), (0.0, 2.0),
                (-0.0, 2.0), (6.0, 3.0), (-6.0, 3.0), (6.0, -3.0), (fi.smallest_subnormal, 3.0),
                (3.0, fi.smallest_subnormal), (2.0 ** 24 + 2, 1.0), (2.0 ** 60, 3.0)]
        for k in rng.choice(n, size=min(n, max(1, n // 20)), replace=False):
            x[k], y[k] = rare[rng.integers(len(rare))]
    return x, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_mod_and_floor_divide_are_numpys(dtype, n):
    rng = np.random.default_rng(n + (0 if dtype == np.float32 else 1000))
    x, y = _operands(dtype, n, rng)
    got_mod, got_div, got_fused = _run(lambda a, b: [gc.mod(a, b), gc.floor_divide(a, b),
                                                     gc.mod(a * 1, b) + gc.floor_divide(a, b)], x, y)
    with np.errstate(all="ignore"):
        want_mod, want_div = np.mod(x, y), np.floor_divide(x, y)
        want_fused = want_mod + want_div
    assert _same(got_mod, want_mod) and _same(got_div, want_div) and _same(got_fused, want_fused)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mod_at_every_exponent_gap(dtype):
    """fmod exactly at and around the fast path's quotient limit (2**24 float32, 2**52
    float64), with rank 0 and 2-D operands."""
    limit = 2.0 ** (24 if dtype == np.float32 else 52)
    q = np.array([limit / 2, limit - 1, limit, limit + 2, limit * 2, limit * 1024], np.float64)
    y = np.array([1.0, 3.0, 0.1, 1e-3, 7.5, 1e10])
    x = np.outer(q, y).astype(dtype) + np.array([0.0, 0.5, 0.25, 0.75, 0.125, 1.5], dtype)
    yy = np.broadcast_to(y.astype(dtype), x.shape).copy()
    for a, b in [(x, yy), (-x, yy), (x, -yy), (np.array(x[2, 3]), np.array(yy[2, 3]))]:
        with np.errstate(all="ignore"):
            assert _same(_run(gc.mod, a, b), np.mod(a, b)), (a, b)


def _float32_power_cases(rng, n):
    """(x, y) sets: wide, results near overflow and underflow (|y log2 x| 100-128, where the
    logarithm's error counts most), bases next to 1 with huge exponents, denormal bases, random
    bit patterns of positive finite bases, and negative bases with integer exponents."""
    f32 = np.float32
    base = np.exp(rng.uniform(-5, 5, n)).astype(f32)
    t = rng.uniform(100, 127.9, n) * np.where(rng.random(n) < 0.5, 1, -1)
    bits = rng.integers(1, 0x7F800000, n, dtype=np.uint32).view(f32)
    return {
        "wide": (np.exp(rng.uniform(-20, 20, n)).astype(f32), (rng.standard_normal(n) * 4).astype(f32)),
        "near the limits": (base, (t / np.log2(base.astype(np.float64))).astype(f32)),
        "near one": ((1 + rng.standard_normal(n) * 1e-5).astype(f32), (rng.standard_normal(n) * 1e6).astype(f32)),
        "denormal bases": (rng.uniform(1e-45, 1e-38, n).astype(f32), rng.uniform(-1.2, 1.2, n).astype(f32)),
        "bit patterns": (bits, rng.uniform(-1, 1, n).astype(f32)),
        "negative bases": ((-np.exp(rng.uniform(-5, 5, n))).astype(f32), np.round(rng.standard_normal(n) * 8).astype(f32)),
    }


@pytest.mark.parametrize("case", ["wide", "near the limits", "near one", "denormal bases", "bit patterns", "negative bases"])
def test_float32_power_within_one_ulp_of_numpy_and_half_of_exact(case):
    """Rounded once from a double within about 2**-50 of the power: at most 0.5 ulp (plus
    1e-6 of one) from the exact power, 1 ulp from numpy's; denormal results within 1 ulp."""
    rng = np.random.default_rng(5)
    x, y = _float32_power_cases(rng, 1 << 16)[case]
    got = _run(lambda a, b: a ** b, x, y)
    with np.errstate(all="ignore"):
        exact = np.power(x.astype(np.float64), y.astype(np.float64))
        mine = np.power(x, y)
    assert np.array_equal(np.isnan(got), np.isnan(mine))
    normal = np.isfinite(exact) & (np.abs(exact) > np.finfo(np.float32).tiny) & (np.abs(exact) < 3e38)
    assert normal.mean() > 0.8, case
    spacing = np.spacing(np.abs(exact[normal]).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got[normal] - exact[normal]) / spacing) <= 0.5 + 1e-6
    assert np.max(np.abs(got[normal].astype(np.float64) - mine[normal]) / spacing) <= 1.0
    outside = np.isfinite(mine) & ~normal   # overflow to inf, underflow to denormals and 0
    assert np.all(np.abs(got[outside].astype(np.float64) - mine[outside]) <= np.spacing(np.abs(mine[outside]))), \
        "denormal results within 1 ulp"
    assert np.array_equal(np.isinf(got), np.isinf(mine))


def test_float32_power_is_called_as_a_vector_variant():
    """The float32 power reads tables (AVX-512 permutes or gathers), so the kernel's loop
    calls its vector variant."""
    x = gc.placeholder(gc.float32, (1000,), name="x")
    with gc.Session() as sess:
        optimized = sess.compile(x ** (x + 1), {x: (1000,)}).llvm_ir(optimized=True)
    calls = "\n".join(line for line in optimized.splitlines() if " call " in line)
    assert re.search(r"call <\d+ x float> @__graphc_powf_f32_\w+_v\d+\(", calls), calls


EXTENDED = np.finfo(np.longdouble).nmant >= 63   # x86's 80-bit long double: an exact enough reference


def _float64_power_cases(rng, n):
    """(x, y) sets over the whole range: wide, results near overflow and underflow, bases
    next to 1 with huge exponents, denormal and huge bases, negative bases with integers."""
    wide = np.exp(rng.uniform(-20, 20, n)), rng.standard_normal(n) * 4
    base = np.exp(rng.uniform(-3, 3, n))
    near_limits = base, rng.uniform(690, 709, n) / np.log(base) * np.where(rng.random(n) < 0.5, 1, -1)
    near_one = 1 + rng.standard_normal(n) * 1e-6, rng.standard_normal(n) * 1e6
    denormal = rng.uniform(1e-310, 1e-300, n), rng.uniform(-0.95, 0.95, n)
    huge = np.exp(rng.uniform(600, 709, n)), rng.uniform(-1.0, 1.0, n)
    negative = -np.exp(rng.uniform(-5, 5, n)), np.round(rng.standard_normal(n) * 20)
    return {"wide": wide, "near the limits": near_limits, "near one": near_one, "denormal bases": denormal,
            "huge bases": huge, "negative bases": negative}


@pytest.mark.skipif(not EXTENDED, reason="no 80-bit long double for the exact power")
def test_float64_power_within_one_and_a_half_ulp_of_exact():
    """Vectorized float64 power (double-double log): at most 1.5 ulp from the exact power
    (measured 1.40; numpy's libm 0.68), NaN where numpy's is, denormal results within an
    ulp of numpy's."""
    rng = np.random.default_rng(11)
    for name, (x, y) in _float64_power_cases(rng, 1 << 16).items():
        got = _run(lambda a, b: a ** b, x, y)
        with np.errstate(all="ignore"):
            exact = np.power(x.astype(np.longdouble), y.astype(np.longdouble))
            mine = np.power(x, y)
        assert np.array_equal(np.isnan(got), np.isnan(mine)), name
        normal = np.isfinite(exact) & (np.abs(exact) > np.finfo(np.float64).tiny) & (np.abs(exact) < np.finfo(np.float64).max)
        assert normal.mean() > 0.9, name
        spacing = np.spacing(np.abs(exact[normal]).astype(np.float64)).astype(np.longdouble)
        worst = float(np.max(np.abs(got[normal].astype(np.longdouble) - exact[normal]) / spacing))
        assert worst <= 1.5, (name, worst)
        outside = np.isfinite(mine) & ~normal   # overflow to inf, underflow to denormals and zero
        assert np.all(np.abs(got[outside] - mine[outside]) <= np.spacing(np.abs(mine[outside]))), name
        assert np.array_equal(np.isinf(got), np.isinf(mine)), name


@pytest.mark.parametrize("n", SIZES)
def test_float64_power_special_values_are_numpys(n):
    """C99's special cases of pow (numpy's) in every lane position, float64."""
    s = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1.5, -1.5, 3.0, -3.0, np.inf, -np.inf, np.nan,
                  5e-324, -5e-324, 1e-310, 2.0 ** 53, 2.0 ** 53 + 2, -(2.0 ** 53 + 2), 1e300, -7.0, 1e-300, 1024.0,
                  np.finfo(np.float64).max, -np.finfo(np.float64).max, 2.0 ** 996, 2.0 ** 990])   # (huge y: pow(-1, y) = 1)
    rng = np.random.default_rng(n + 77)
    x, y = rng.choice(s, n), rng.choice(s, n)
    got = _run(lambda a, b: a ** b, x, y)
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    special = ~np.isfinite(want) | (want == 0) | (np.abs(want) < np.finfo(np.float64).tiny)
    assert _same(got[special], want[special]), (x[special], y[special], got[special], want[special])
    with np.errstate(over="ignore"):   # (the spacing at the largest double is infinite)
        ok = np.abs(got[~special] - want[~special]) <= 2 * np.spacing(np.abs(want[~special]))
    assert ok.all(), (x[~special][~ok], y[~special][~ok], got[~special][~ok], want[~special][~ok])


@pytest.mark.parametrize("n", SIZES)
def test_float32_power_special_values_are_numpys(n):
    """C99's special cases of pow (numpy's) in every lane position."""
    s = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1.5, -1.5, 3.0, -3.0, np.inf, -np.inf,
                  np.nan, 1e-40, -1e-40, 16777216.0, 16777218.0, -16777218.0, 1e30, -7.0], np.float32)
    rng = np.random.default_rng(n)
    x, y = rng.choice(s, n).astype(np.float32), rng.choice(s, n).astype(np.float32)
    got = _run(lambda a, b: a ** b, x, y)
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    special = ~np.isfinite(want) | (want == 0) | (np.abs(want) < np.finfo(np.float32).tiny)
    assert _same(got[special], want[special])
    ok = np.abs(got[~special].astype(np.float64) - want[~special]) <= np.spacing(np.abs(want[~special]))
    assert ok.all(), (x[~special][~ok], y[~special][~ok], got[~special][~ok], want[~special][~ok])


def test_without_fma_float64_fmod_goes_to_libm_and_stays_exact(monkeypatch):
    """A host without a fused multiply-add takes libm's fmod in every float64 lane."""
    monkeypatch.setattr(llvm_math_binary, "_host_has_fma", lambda: False)
    rng = np.random.default_rng(3)
    x, y = _operands(np.float64, 257, rng)
    x0 = gc.placeholder(gc.float64, x.shape, name="x")
    y0 = gc.placeholder(gc.float64, y.shape, name="y")
    with gc.Session() as sess:
        compiled = sess.compile(gc.mod(x0, y0), {x0: x.shape, y0: y.shape})
        got = sess.run(gc.mod(x0, y0), {x0: x, y0: y})
    assert "llvm.fma" not in compiled.llvm_ir()
    with np.errstate(all="ignore"):
        assert _same(got, np.mod(x, y))


@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
@pytest.mark.parametrize("op, variant", [(gc.mod, "fmod"), (gc.floor_divide, "fmod"), (gc.sin, "sin"), (gc.cos, "cos")])
def test_the_loop_vectorizer_calls_the_vector_variant(dtype, op, variant):
    """The kernel's loop is widened, its call replaced by a vector variant (the vector
    function ABI attribute), not left scalar."""
    x = gc.placeholder(dtype, (1000,), name="x")
    out = op(x, x + 1) if variant == "fmod" else op(x)
    with gc.Session() as sess:
        optimized = sess.compile(out, {x: (1000,)}).llvm_ir(optimized=True)
    bits = 32 if dtype == gc.float32 else 64
    calls = "\n".join(line for line in optimized.splitlines() if " call " in line)
    assert re.search(rf"call <\d+ x (float|double)> @__graphc_{variant}_f{bits}_\w+_v\d+\(", calls), calls
