"""gc.initializers: each initializer's values against its definition (exact for the
constant ones, by statistics at large n with fixed seeds for the random ones)."""
import math

import numpy as np
import pytest

import graphc as gc
from graphc import initializers as I

from conftest import run

TRUNC = 0.87962566103423978      # std of a standard normal truncated to [-2, 2]


def values(init, shape, dtype=None):
    return run(init(shape, dtype=dtype))


def check_mean_std(x, mean, std, k=5.0):
    """Sample mean and std within ``k`` standard errors of ``mean`` and ``std``."""
    n = x.size
    assert abs(x.mean() - mean) < k * std / math.sqrt(n), (x.mean(), mean)
    assert abs(x.std() - std) < k * std / math.sqrt(2 * n) * 1.5, (x.std(), std)   # (1.5: non-normal tails)


# -- constant initializers --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [gc.float32, gc.float64, gc.int32, gc.int64, gc.bool])
def test_zeros_and_ones(dtype):
    z, o = values(I.zeros_initializer(), (2, 3), dtype), values(I.ones_initializer(), (2, 3), dtype)
    assert z.dtype == dtype and o.dtype == dtype
    np.testing.assert_array_equal(z, np.zeros((2, 3), dtype))
    np.testing.assert_array_equal(o, np.ones((2, 3), dtype))
    np.testing.assert_array_equal(values(I.Zeros(dtype=dtype), ()), np.zeros((), dtype))


def test_zeros_default_dtype_and_shapes():
    got = values(I.Zeros(), [4])
    assert got.dtype == np.float32 and got.shape == (4,)
    assert values(I.Zeros(), 3).shape == (3,)
    assert values(I.Ones(), (0, 2)).shape == (0, 2)


def test_constant_initializer():
    np.testing.assert_array_equal(values(I.constant_initializer(2.5), (2, 2)), np.full((2, 2), 2.5, np.float32))
    np.testing.assert_array_equal(values(I.Constant([1, 2, 3, 4, 5, 6]), (2, 3)),
                                  np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(values(I.Constant(np.arange(6).reshape(3, 2)), (2, 3), gc.int64),
                                  np.arange(6).reshape(2, 3))
    # fewer elements: the last one fills the rest (TF1)
    np.testing.assert_array_equal(values(I.Constant([1.0, 2.0]), (5,)), [1, 2, 2, 2, 2])
    np.testing.assert_array_equal(values(I.Constant(True, dtype=gc.bool), (2,)), [True, True])
    with pytest.raises(gc.errors.ShapeError, match="too many elements"):
        I.Constant([1, 2, 3])((2,))
    with pytest.raises(gc.errors.ShapeError, match="verify_shape"):
        I.Constant([1, 2], verify_shape=True)((2, 1))
    np.testing.assert_array_equal(values(I.Constant([[1], [2]], verify_shape=True), (2, 1)), [[1], [2]])
    with pytest.raises(gc.errors.DTypeError, match="fractional"):
        I.Constant(1.5)((2,), dtype=gc.int32)
    with pytest.raises(gc.errors.DTypeError, match="not the Tensor"):
        I.Constant(gc.constant(1.0))


def test_a_constant_initial_value_compiles_nothing():
    from graphc.runtime import compiler
    v = gc.get_variable("v", (3, 3), initializer=I.zeros_initializer())
    u = gc.get_variable("u", (2,), initializer=I.constant_initializer([1.0, 2.0]))
    made = []
    compiler.PROGRAM_HOOKS.append(made.append)
    try:
        sess = gc.Session()
    finally:
        compiler.PROGRAM_HOOKS.remove(made.append)
    with sess:
        np.testing.assert_array_equal(sess.run(v), np.zeros((3, 3)))
        np.testing.assert_array_equal(sess.run(u), [1.0, 2.0])
    assert made == []


# -- random initializers ------------------------------------------------------------------------------
N = (400, 500)   # 200,000 values


@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
def test_random_normal(dtype):
    x = values(I.random_normal_initializer(mean=2.0, stddev=3.0, seed=1), N, dtype)
    assert x.dtype == dtype
    check_mean_std(x, 2.0, 3.0)
    check_mean_std(values(I.RandomNormal(seed=2), N), 0.0, 1.0)


@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
def test_truncated_normal(dtype):
    x = values(I.truncated_normal_initializer(mean=-1.0, stddev=0.5, seed=3), N, dtype)
    assert x.dtype == dtype
    eps = 1e-6
    assert x.min() >= -1.0 - 2 * 0.5 - eps and x.max() <= -1.0 + 2 * 0.5 + eps
    assert x.min() < -1.9 and x.max() > -0.1               # the bounds are reached
    check_mean_std(x, -1.0, 0.5 * TRUNC)


@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
def test_random_uniform(dtype):
    x = values(I.random_uniform_initializer(minval=-3.0, maxval=5.0, seed=4), N, dtype)
    assert x.dtype == dtype and x.min() >= -3.0 and x.max() < 5.0
    assert x.min() < -2.99 and x.max() > 4.99
    check_mean_std(x, 1.0, 8.0 / math.sqrt(12))
    u = values(I.RandomUniform(seed=5), N)                  # maxval None: [0, 1)
    assert u.min() >= 0.0 and u.max() < 1.0
    check_mean_std(u, 0.5, 1 / math.sqrt(12))


@pytest.mark.parametrize("shape, fans", [((), (1, 1)), ((7,), (7, 7)), ((30, 20), (30, 20)),
                                         ((3, 3, 16, 32), (144, 288)), ((5, 2, 8), (10, 40)),
                                         ((2, 3, 3, 4, 6), (72, 108))])
def test_compute_fans(shape, fans):
    assert I.compute_fans(shape) == fans


@pytest.mark.parametrize("shape", [(300, 200), (5, 5, 40, 60)])
def test_glorot_uniform(shape):
    fan_in, fan_out = I.compute_fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    x = values(I.glorot_uniform_initializer(seed=6), shape)
    assert x.min() >= -limit and x.max() < limit and x.max() > 0.999 * limit
    check_mean_std(x, 0.0, limit / math.sqrt(3))


@pytest.mark.parametrize("shape", [(300, 200), (5, 5, 40, 60)])
def test_glorot_normal(shape):
    fan_in, fan_out = I.compute_fans(shape)
    std = math.sqrt(2.0 / (fan_in + fan_out))               # of the truncated values
    x = values(I.glorot_normal_initializer(seed=7), shape)
    assert np.abs(x).max() <= 2 * std / TRUNC * (1 + 1e-6)
    check_mean_std(x, 0.0, std)


@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "untruncated_normal", "uniform"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("shape", [(400, 250), (3, 3, 50, 80)])
def test_variance_scaling(shape, mode, distribution):
    fan_in, fan_out = I.compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    scale = 2.5
    init = I.variance_scaling_initializer(scale=scale, mode=mode, distribution=distribution, seed=8)
    x = values(init, shape)
    std = math.sqrt(scale / n)
    check_mean_std(x, 0.0, std)                              # variance scale / n, whatever the distribution
    bound = {"uniform": math.sqrt(3) * std, "untruncated_normal": np.inf}.get(distribution, 2 * std / TRUNC)
    assert np.abs(x).max() <= bound * (1 + 1e-6)
    if distribution == "untruncated_normal":
        assert np.abs(x).max() > 3.5 * std                    # not truncated


def test_variance_scaling_small_fans_count_as_one():
    x = values(I.VarianceScaling(scale=4.0, mode="fan_in", distribution="uniform", seed=0), (0, 10000))
    assert x.shape == (0, 10000)
    x = values(I.VarianceScaling(scale=4.0, mode="fan_out", distribution="uniform", seed=0), (10000, 0))
    assert x.size == 0
    x = values(I.VarianceScaling(scale=3.0, distribution="uniform", seed=0), (100000,))   # 1-D: fan = n
    assert np.abs(x).max() < math.sqrt(9.0 / 100000)


@pytest.mark.parametrize("fn, scale, distribution", [(I.he_normal, 2.0, "truncated_normal"),
                                                     (I.he_uniform, 2.0, "uniform"),
                                                     (I.lecun_normal, 1.0, "truncated_normal"),
                                                     (I.lecun_uniform, 1.0, "uniform")])
def test_he_and_lecun(fn, scale, distribution):
    init = fn(seed=9)
    assert isinstance(init, I.VarianceScaling)
    assert (init.scale, init.mode, init.distribution) == (scale, "fan_in", distribution)
    x = values(init, (500, 300))
    check_mean_std(x, 0.0, math.sqrt(scale / 500))


def test_variance_scaling_argument_errors():
    with pytest.raises(gc.GraphcError, match="scale"):
        I.VarianceScaling(scale=0.0)
    with pytest.raises(gc.GraphcError, match="mode"):
        I.VarianceScaling(mode="fan_sum")
    with pytest.raises(gc.GraphcError, match="distribution"):
        I.VarianceScaling(distribution="cauchy")
    assert I.VarianceScaling(distribution="Uniform").distribution == "uniform"


@pytest.mark.parametrize("init", [I.RandomNormal(), I.TruncatedNormal(), I.RandomUniform(), I.GlorotUniform(),
                                  I.Orthogonal()])
def test_random_initializers_want_floats(init):
    with pytest.raises(gc.errors.DTypeError, match="floating-point"):
        init((2, 2), dtype=gc.int32)


# -- seeds --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda s: I.RandomNormal(seed=s), lambda s: I.TruncatedNormal(seed=s),
                                  lambda s: I.RandomUniform(seed=s), lambda s: I.GlorotUniform(seed=s),
                                  lambda s: I.GlorotNormal(seed=s), lambda s: I.Orthogonal(seed=s)])
def test_seeds_reproduce_and_unseeded_initializers_differ(make):
    shape = (6, 4)
    a = run(make(11)(shape))
    again = make(11)
    b = run(again(shape))
    c = run(make(12)(shape))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g = gc.Graph()
    with g.as_default():                  # the same in another graph
        t = make(11)(shape)
        with gc.Session(device="reference") as sess:
            np.testing.assert_array_equal(sess.run(t), a)
    u1, u2 = make(None)(shape), make(None)(shape)
    x1, x2 = run([u1, u2])
    assert not np.array_equal(x1, x2)


def test_unseeded_values_repeat_when_the_graph_is_rebuilt():
    def build():
        return run([I.GlorotUniform()((5, 5)), I.Orthogonal()((5, 5))])
    first = build()
    gc.reset_default_graph()
    second = build()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


# -- orthogonal, identity -------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64, 32), (32, 32), (3, 3, 4, 8)])
def test_orthogonal_tall(shape):
    q = values(I.orthogonal_initializer(seed=13), shape, gc.float64)
    assert q.shape == shape
    flat = q.reshape(-1, shape[-1])
    np.testing.assert_allclose(flat.T @ flat, np.eye(shape[-1]), atol=1e-12)


def test_orthogonal_wide_and_gain():
    q = values(I.Orthogonal(gain=2.0, seed=14), (16, 40))
    assert q.dtype == np.float32
    np.testing.assert_allclose(q @ q.T, 4.0 * np.eye(16), atol=1e-5)


def test_orthogonal_comes_from_the_normal_draw_of_its_seed():
    z = run(gc.random.normal((20, 5), dtype=gc.float64, seed=21))
    q, r = np.linalg.qr(z)
    expected = q * np.sign(np.diag(r))
    np.testing.assert_allclose(values(I.Orthogonal(seed=21), (20, 5), gc.float64), expected, atol=1e-12)


def test_orthogonal_needs_two_dims():
    with pytest.raises(gc.errors.ShapeError, match="at least 2-D"):
        I.Orthogonal()((5,))


def test_identity():
    np.testing.assert_array_equal(values(I.identity_initializer(), (3, 3)), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(values(I.Identity(gain=3.0), (2, 4)), 3.0 * np.eye(2, 4))
    with pytest.raises(gc.errors.ShapeError, match="2-D"):
        I.Identity()((2, 2, 2))


# -- configs, names, use with get_variable -------------------------------------------------------------------
@pytest.mark.parametrize("init, config", [
    (I.Zeros(), {"dtype": "float32"}),
    (I.Constant([1, 2], dtype=gc.int32), {"value": [1, 2], "verify_shape": False, "dtype": "int32"}),
    (I.RandomNormal(1.0, 2.0, seed=3), {"mean": 1.0, "stddev": 2.0, "seed": 3, "dtype": "float32"}),
    (I.RandomUniform(-1, 1), {"minval": -1, "maxval": 1, "seed": None, "dtype": "float32"}),
    (I.VarianceScaling(2.0, "fan_out", "uniform", 4, gc.float64),
     {"scale": 2.0, "mode": "fan_out", "distribution": "uniform", "seed": 4, "dtype": "float64"}),
    (I.GlorotUniform(seed=5), {"seed": 5, "dtype": "float32"}),
    (I.Orthogonal(gain=0.5), {"gain": 0.5, "seed": None, "dtype": "float32"}),
])
def test_get_config_round_trips(init, config):
    assert init.get_config() == config
    again = type(init).from_config(init.get_config())
    assert type(again) is type(init) and again.get_config() == config
    assert repr(init).startswith(type(init).__name__ + "(")


def test_tf1_names_are_the_classes():
    assert I.zeros_initializer is I.Zeros and I.glorot_uniform_initializer is I.GlorotUniform
    assert I.truncated_normal is I.TruncatedNormal and I.constant is I.Constant
    assert gc.initializers is I


def test_with_get_variable_dtype_and_names():
    v = gc.get_variable("v", (100, 50), dtype=gc.float64, initializer=I.he_uniform(seed=1))
    assert v.dtype == gc.float64
    assert v.initial_value.name == "v/Initializer/random_uniform"
    x = run(v)
    assert x.dtype == np.float64 and np.abs(x).max() < math.sqrt(6 / 100)
    w = gc.get_variable("w", (10, 10), initializer=I.glorot_normal_initializer(seed=2))
    assert w.initial_value.name == "w/Initializer/truncated_normal"
