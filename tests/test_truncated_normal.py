"""gc.random.truncated_normal: the inverse CDF of one uniform per element. Bounds, the
Kolmogorov-Smirnov test against scipy's truncnorm(-2, 2), the exact truncated moments, the
erfinv composite against scipy, the endpoints of the uniform grid, seeds and
reproducibility, "cpu" against "reference", edge shapes and errors."""
import math
import os

import numpy as np
import pytest
import scipy.special
import scipy.stats

import graphc as gc
from graphc.errors import DTypeError, ShapeError
from graphc.random import _erfinv
from conftest import assert_close

HERE = os.path.relpath(__file__)
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
N = 50_000
A = math.erf(math.sqrt(2.0))          # P(|Z| <= 2)
TRUNC = scipy.stats.truncnorm(-2, 2)
VAR = float(TRUNC.var())              # 1 - 4 phi(2) / (Phi(2) - Phi(-2)) = 0.7737...


def run(fetches, feed=None, device="reference", **kwargs):
    with gc.Session(device=device, **kwargs) as sess:
        return sess.run(fetches, feed)


def test_the_exact_truncated_variance():
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    assert abs(VAR - (1 - 4 * phi2 / A)) < 1e-12 and abs(VAR - 0.7737) < 1e-4


@pytest.mark.parametrize("dtype", [F32, F64])
def test_values_lie_within_two_standard_deviations(dtype):
    for mean, stddev in ((0.0, 1.0), (1.5, 0.5), (-3.0, 4.0)):
        x = run(gc.random.truncated_normal((N,), mean=mean, stddev=stddev, dtype=dtype, seed=5))
        lo = dtype.type(mean) - dtype.type(2) * dtype.type(stddev)
        hi = dtype.type(mean) + dtype.type(2) * dtype.type(stddev)
        assert x.dtype == dtype and lo <= x.min() and x.max() <= hi
        assert x.min() < mean - 1.99 * stddev and x.max() > mean + 1.99 * stddev   # the tails are reached


@pytest.mark.parametrize("dtype", [F32, F64])
def test_kolmogorov_smirnov_against_scipy_truncnorm(dtype):
    z = run(gc.random.truncated_normal((N,), dtype=dtype, seed=17)).astype(np.float64)
    result = scipy.stats.kstest(z, TRUNC.cdf)
    assert result.pvalue > 1e-3, result
    limit = 1.95 / math.sqrt(N)   # the 0.1% critical value
    assert result.statistic < limit
    # the test has power: the untruncated normal, or a truncation at 2.5, fails it
    assert scipy.stats.kstest(z, scipy.stats.norm.cdf).statistic > limit
    assert scipy.stats.kstest(z, scipy.stats.truncnorm(-2.5, 2.5).cdf).statistic > limit


@pytest.mark.parametrize("dtype", [F32, F64])
def test_moments_are_the_truncated_ones(dtype):
    z, y = run([gc.random.truncated_normal((N,), dtype=dtype, seed=21),
                gc.random.truncated_normal((N // 10, 10), mean=3.0, stddev=2.0, dtype=dtype, seed=22)])
    m4 = float(TRUNC.moment(4))
    for sample, mean, scale in ((z.astype(np.float64), 0.0, 1.0), (y.astype(np.float64).reshape(-1), 3.0, 2.0)):
        assert abs(sample.mean() - mean) < 5 * scale * math.sqrt(VAR / N)
        assert abs(sample.var() - scale ** 2 * VAR) < 5 * scale ** 2 * math.sqrt((m4 - VAR ** 2) / N)
    assert abs(np.mean(z.astype(np.float64) ** 3)) < 5 * math.sqrt(float(TRUNC.moment(6)) / N)   # symmetric
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5 / math.sqrt(N)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_it_is_the_inverse_cdf_of_the_uniform_draw(dtype):
    """z = sqrt(2) erfinv(erf(sqrt 2) (2u - 1 + 2**-b)), u the uniform draw of the same seed."""
    u, z = run([gc.random.uniform((2000,), dtype=dtype, seed=3),
                gc.random.truncated_normal((2000,), dtype=dtype, seed=3)])
    bits = 24 if dtype == F32 else 53
    t = u.astype(np.float64) * 2 - 1 + 2.0 ** -bits
    want = math.sqrt(2) * scipy.special.erfinv(A * t)
    tol = dict(rtol=0, atol=2e-6) if dtype == F32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(z, want, **tol)


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_erfinv_composite_against_scipy(device):
    grid = np.concatenate([np.linspace(-A, A, 20001), [-A, A, 0.0, 1e-300, -1e-17, 1e-9, 0.5, -0.9]])
    v64 = gc.placeholder(gc.float64, (None,), name="v64")
    v32 = gc.placeholder(gc.float32, (None,), name="v32")
    x64, x32 = run([_erfinv(v64), _erfinv(v32)], {v64: grid, v32: grid.astype(np.float32)}, device=device)
    want = scipy.special.erfinv(grid)
    err = np.abs(x64 - want)
    assert err.max() < 1e-13 and np.all(err <= 1e-12 * np.abs(want) + 1e-300), err.max()
    want32 = scipy.special.erfinv(grid.astype(np.float32).astype(np.float64))
    assert np.abs(x32 - want32).max() < 1e-6
    assert x64[-6] == 0.0
    tiny = slice(-5, -2)   # 1e-300, -1e-17, 1e-9: relative accuracy near 0 too
    assert np.all(np.abs(x64[tiny] / want[tiny] - 1) < 1e-12), (x64[tiny], want[tiny])


@pytest.mark.parametrize("dtype", [F32, F64])
def test_the_ends_of_the_uniform_grid_stay_inside(dtype):
    """u = 0 and u = 1 - 2**-b (the draw's extremes) give -z and z, |z| <= 2 exactly."""
    bits = 24 if dtype == F32 else 53
    t = gc.random.truncated_normal((4,), dtype=dtype, seed=0, name="t")
    scaled = gc.random.truncated_normal((4,), mean=1.0, stddev=3.0, dtype=dtype, seed=0, name="s")
    g = gc.get_default_graph()
    u, us = g.tensor(g.node("t/random")), g.tensor(g.node("s/random"))
    edge = np.array([0.0, 1 - 2.0 ** -bits, 0.5, 0.5 - 2.0 ** -bits], dtype)
    for device in ("reference", "cpu"):
        z, s = run([t, scaled], {u: edge, us: edge}, device=device)
        assert z.dtype == dtype and z[0] == -z[1] and z[2] == -z[3]
        assert -2 <= z[0] < -1.99999 and 0 < z[2] < 1e-6
        assert -5 <= s.min() and s.max() <= 7


def test_same_numbers_every_run_session_and_device():
    draws = [gc.random.truncated_normal((3000,), seed=42),
             gc.random.truncated_normal((30, 40), dtype=gc.float64, seed=42),
             gc.random.truncated_normal((7,), mean=2.0, stddev=0.5, seed=1), gc.random.truncated_normal((5,))]
    reference = run(draws, optimize=False)
    for optimize in (False, True):
        for a, b in zip(run(draws, device="reference", optimize=optimize), reference):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
        with gc.Session(device="cpu", optimize=optimize) as sess:
            for _ in range(2):
                # the backend's log1p/erf/exp may differ from numpy's in the last bit or two
                for a, b in zip(sess.run(draws), reference):
                    assert_close(a, b, b.dtype)
    gc.reset_default_graph()
    again = run([gc.random.truncated_normal((3000,), seed=42),
                 gc.random.truncated_normal((30, 40), dtype=gc.float64, seed=42)])
    assert again[0].tobytes() == reference[0].tobytes() and again[1].tobytes() == reference[1].tobytes()


def test_seeds_prefixes_and_fed_seeds():
    a, b, short, square = run([gc.random.truncated_normal((100,), seed=0), gc.random.truncated_normal((100,), seed=1),
                               gc.random.truncated_normal((7,), seed=0), gc.random.truncated_normal((5, 20), seed=0)])
    assert not np.any(a == b)
    assert np.array_equal(short, a[:7]) and np.array_equal(square.reshape(-1), a)
    s = gc.placeholder(gc.int64, (), name="step")
    fed = gc.random.truncated_normal((100,), seed=s)
    with gc.Session(device="reference") as sess:
        assert np.array_equal(sess.run(fed, {s: 0}), a) and np.array_equal(sess.run(fed, {s: 1}), b)
    u1, u2 = run([gc.random.truncated_normal((10,)), gc.random.truncated_normal((10,))])
    assert not np.any(u1 == u2)   # unseeded ops get distinct default seeds


@pytest.mark.parametrize("shape", [(), (0,), (1,), (0, 3), (1, 1), (2, 3, 4), [5], 6])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_shapes(shape, dtype):
    x = gc.random.truncated_normal(shape, mean=1.0, dtype=dtype, seed=9)
    want = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    assert x.shape == want and x.dtype == dtype
    for device in ("reference", "cpu"):
        v = run(x, device=device)
        assert v.shape == want and v.dtype == dtype
        assert np.all((-1 <= v) & (v <= 3))


def test_like_and_names():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    t = gc.random.truncated_normal(like=x, stddev=0.1, seed=4, name="init")
    assert t.name == "init" and t.shape == (None, 3)
    g = gc.get_default_graph()
    assert g.node("init/random").attrs["distribution"] == "uniform" and g.has_node("init/seed")
    v = run(t, {x: np.zeros((5, 3), np.float32)})
    assert v.shape == (5, 3) and np.abs(v).max() <= np.float32(0.2)
    assert np.array_equal(v.reshape(-1), run(gc.random.truncated_normal((15,), stddev=0.1, seed=4)))


BAD = [
    ("dtype-int", DTypeError, lambda: gc.random.truncated_normal((2,), dtype=gc.int32)),
    ("shape-float", ShapeError, lambda: gc.random.truncated_normal((2.0,))),
    ("shape-negative", ShapeError, lambda: gc.random.truncated_normal((-1,))),
    ("shape-tensor", ShapeError, lambda: gc.random.truncated_normal(gc.constant([2]))),
    ("seed-float", DTypeError, lambda: gc.random.truncated_normal((2,), seed=0.5)),
]


@pytest.mark.parametrize("error, build", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_errors_name_the_op_and_the_line(error, build):
    line = build.__code__.co_firstlineno
    with pytest.raises(error) as info:
        build()
    msg = str(info.value)
    assert msg.startswith("truncated_normal at ") and f"{HERE}:{line}" in msg, msg
