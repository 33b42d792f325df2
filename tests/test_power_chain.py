"""A constant exponent of 3 or 4 runs as a multiplication chain on the CPU (as JAX's
integer_pow does), within 1 ulp (x**3) and 2 ulp (x**4) of the correctly rounded power,
with pow's NaN, Inf, -0.0, overflow and underflow; every other exponent is the general power."""
import numpy as np
import pytest

import graphc as gc

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-30, -1e-30, 1e30, -1e30, 3e12, 1e-12]


def _ulps(got, exact, dtype):
    """How many ``dtype`` ulps ``got`` is from the correctly rounded ``exact`` value."""
    rounded = exact.astype(dtype)
    return np.abs(got.astype(np.float64) - rounded.astype(np.float64)) / np.spacing(np.abs(rounded)).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exponent, ulps", [(3.0, 1), (4.0, 2)])
@pytest.mark.parametrize("shape", [(), (0,), (1,), (15,), (16,), (17,), (3, 33)])
def test_the_chain_is_within_its_ulps_of_the_correct_power(dtype, exponent, ulps, shape):
    rng = np.random.default_rng(int(exponent) * 10 + len(shape))
    a = (rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 30.0], shape)).astype(dtype)
    x = gc.placeholder(dtype, shape, name="x")
    fetches = [x ** exponent, gc.exp(x) * 0 + x ** exponent]   # alone, and inside a fused kernel
    with gc.Session() as sess:
        got = sess.run(fetches, {x: a})
    want = np.power(a.astype(np.longdouble), int(exponent))   # (exact for these sizes, then rounded)
    for g in got:
        assert g.dtype == dtype and g.shape == shape
        assert np.all(_ulps(g, want, dtype) <= ulps), (g, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exponent", [3.0, 4.0])
def test_special_values_are_pows(dtype, exponent):
    a = np.array(SPECIAL, dtype)
    x = gc.placeholder(dtype, a.shape, name="x")
    with gc.Session() as sess:
        got = sess.run(x ** exponent, {x: a})
    with np.errstate(all="ignore"):
        want = np.power(a, dtype(exponent))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)]))
    finite = np.isfinite(want) & (want != 0)
    assert np.all(got[~finite & ~np.isnan(want)] == want[~finite & ~np.isnan(want)])   # inf, 0, -0 exactly
    assert np.all(_ulps(got[finite], want[finite].astype(np.float64), dtype) <= 2)


@pytest.mark.parametrize("exponent, chain", [(3.0, True), (4.0, True), (2.5, False), (5.0, False),
                                             (3.0000002, False), (-3.0, False)])
@pytest.mark.parametrize("dtype, general", [(gc.float64, "0x41a0000002000000"), (gc.float32, "fpext")])
def test_only_3_and_4_are_chains(exponent, chain, dtype, general):
    """Any other exponent is the general power: for float64 exp(y log|x|) with a double-double
    log (the constant of its Veltkamp splits, 2**27 + 1), for float32 exp(y log|x|) computed
    in double (its fpext)."""
    x = gc.placeholder(dtype, (8,), name="x")
    with gc.Session() as sess:
        code = sess.compile(x ** exponent, {x: (8,)}).llvm_ir()
    assert (general not in code) == chain, code
