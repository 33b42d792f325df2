"""gc.random: Philox4x32-10 against Random123's known answers and a scalar Python model;
the same numbers on every run, Session, backend and pass pipeline; seeds (ints, fed
tensors, variables, the per-graph default); the distributions' statistics (moments,
buckets, Kolmogorov-Smirnov against the exact normal CDF); dtypes, edge shapes, errors,
and how the passes treat the ``random`` op."""
import math
import os

import numpy as np
import pytest

import graphc as gc
from graphc.errors import DTypeError, GraphError, ShapeError
from graphc.ops.random import philox4x32
from conftest import assert_close

M32 = 0xFFFFFFFF
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def run(fetches, feed=None, device="reference", **kwargs):
    with gc.Session(device=device, **kwargs) as sess:
        return sess.run(fetches, feed)


# -- a scalar Python model of the generator (the independent reference) ----------------
def py_philox(counter, key, rounds=10):
    """Philox4x32 on Python ints, written from the Random123 paper."""
    c, (k0, k1) = list(counter), key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & M32, (p0 >> 32) ^ c[3] ^ k1, p0 & M32]
    return c


def py_draw(seed, distribution, shape, dtype):
    """What ``random(seed) {distribution, shape, dtype}`` means, one element at a time: the
    Philox blocks (counter (b, 0, 0, 0), key = the seed's two 32-bit halves) form a stream of
    words; element i takes k of them (k = 1, 2, 2, 4 for uniform f32/f64, normal f32/f64)."""
    dtype = np.dtype(dtype)
    s = seed % (1 << 64)
    key = (s & M32, s >> 32)
    k = {("uniform", F32): 1, ("uniform", F64): 2, ("normal", F32): 2, ("normal", F64): 4}[distribution, dtype]
    n = math.prod(shape)
    words, block = [], 0
    while len(words) < n * k:
        words += py_philox((block & M32, block >> 32, 0, 0), key)
        block += 1
    out = []
    for i in range(n):
        w = words[i * k:(i + 1) * k]
        if distribution == "uniform":
            out.append((w[0] >> 8) / 2 ** 24 if dtype == F32 else ((w[0] >> 5) * 2 ** 26 + (w[1] >> 6)) / 2 ** 53)
            continue
        if dtype == F32:
            u1, u2 = w[0] / 2 ** 32, w[1] / 2 ** 32
        else:
            u1 = ((w[0] >> 5) * 2 ** 26 + (w[1] >> 6)) / 2 ** 53
            u2 = ((w[2] >> 5) * 2 ** 26 + (w[3] >> 6)) / 2 ** 53
        out.append(math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2))
    return np.array(out, np.float64).astype(dtype).reshape(shape)


# -- the generator ----------------------------------------------------------------------
KAT = [  # Random123 kat_vectors: philox4x32 10 rounds, counter, key -> output
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M32,) * 4, (M32, M32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", KAT, ids=["zeros", "ones", "pi"])
def test_philox_known_answers(counter, key, expected):
    got = philox4x32(counter, key)
    assert all(w.dtype == np.uint32 for w in got)
    assert tuple(int(w) for w in got) == expected
    assert tuple(py_philox(counter, key)) == expected


def test_philox_vectorized_equals_scalar():
    rng = np.random.default_rng(0)
    counters = rng.integers(0, 1 << 32, size=(4, 50), dtype=np.uint64)
    key = (0x12345678, 0x9ABCDEF0)
    got = np.stack(philox4x32(tuple(counters), key))
    expected = np.array([py_philox(tuple(int(c) for c in counters[:, j]), key) for j in range(50)]).T
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("distribution, dtype", [("uniform", F32), ("uniform", F64), ("normal", F32),
                                                 ("normal", F64)])
@pytest.mark.parametrize("seed", [0, 7, -1, 2 ** 40 + 3])
def test_draw_matches_the_scalar_model(distribution, dtype, seed):
    shape = (3, 5)   # 15 elements: a partial last block for every k
    x = getattr(gc.random, distribution)(shape, dtype=dtype, seed=seed)
    got = run(x)
    expected = py_draw(seed, distribution, shape, dtype)
    assert got.dtype == dtype and got.shape == shape
    if distribution == "uniform":
        assert np.array_equal(got, expected)                # exact integer arithmetic
    else:   # numpy's vectorized log/cos against libm's: the last float64 bit may differ
        np.testing.assert_allclose(got, expected, rtol=1e-13 if dtype == F64 else 1e-6, atol=0)


def test_seed_is_taken_modulo_two_to_the_64():
    a, b = gc.random.normal((4,), seed=-1), gc.random.normal((4,), seed=2 ** 64 - 1)
    va, vb = run([a, b])
    assert np.array_equal(va, vb)


# -- determinism ------------------------------------------------------------------------
def _model(seed=None):
    """A small graph: draws of every kind, scaled and consumed by elementwise work and a reduction."""
    x = gc.placeholder(gc.float32, (None, 6), name="x")
    noise = gc.random.normal((4, 6), mean=0.5, stddev=2.0, seed=seed)
    u = gc.random.uniform((4, 6), minval=-3.0, maxval=5.0, dtype=gc.float64, seed=seed)
    mask = gc.random.bernoulli((4, 6), p=0.25, seed=seed)
    big = gc.random.normal((70, 70), seed=seed)     # over the fold limit: stays an op with a constant seed
    y = gc.where(mask, gc.relu(x + noise) * 2.0, 0.0)
    return [y, noise, u, mask, gc.sum(big * big, axis=1), big], {x: np.arange(24, dtype=np.float32).reshape(4, 6)}


def _assert_bitwise(a, b):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("seed", [42, None])
def test_same_numbers_on_every_device_pipeline_run_and_session(seed):
    outs, feed = _model(seed)
    reference = run(outs, feed, optimize=False)
    for device in ("reference", "cpu"):
        for optimize in (False, True):
            with gc.Session(device=device, optimize=optimize) as sess:
                for _ in range(2):                                   # a second run (cpu: cached kernels)
                    got = sess.run(outs, feed)
                    _assert_bitwise(got[:4] + got[5:], reference[:4] + reference[5:])
                    # the native sum adds in another order than numpy: equal to float32 rounding
                    assert_close(got[4], reference[4], F32)
    assert 0 < reference[3].sum() < 24 and reference[1].std() > 0.5


def test_same_numbers_in_a_rebuilt_graph():
    """An int seed means the same numbers in any graph; so does the N-th unseeded op."""
    first = run(_model(123)[0][1:4]), run(_model(None)[0][1:4])
    gc.reset_default_graph()
    second = run(_model(123)[0][1:4]), run(_model(None)[0][1:4])
    for a, b in zip(first, second):
        _assert_bitwise(a, b)


def test_different_seeds_differ():
    draws = [gc.random.normal((100,), seed=s) for s in (0, 1, 2 ** 32, -1)]
    unseeded = [gc.random.normal((100,)) for _ in range(3)]
    values = run(draws + unseeded)
    for i in range(len(values)):
        for j in range(i):
            assert not np.any(values[i] == values[j]), (i, j)
    u0, u1 = run([gc.random.uniform((100,), seed=0), gc.random.uniform((100,), seed=1)])
    assert not np.any(u0 == u1)


def test_default_seeds_count_unseeded_ops_per_graph():
    g1, g2 = gc.Graph(), gc.Graph()
    with g1.as_default():
        a1, b1 = gc.random.uniform((3,)), gc.random.uniform((3,))
    with g2.as_default():
        gc.random.normal((2,), seed=5)           # a seeded op takes no number from the counter
        a2 = gc.random.uniform((3,))
    assert a1.graph is g1 and a2.graph is g2
    (va1, vb1), (va2,) = run([a1, b1], graph=g1), run([a2], graph=g2)
    assert np.array_equal(va1, va2) and not np.array_equal(va1, vb1)
    assert np.array_equal(va1, run(gc.random.uniform((3,), seed=gc.random.default_seed(0))))
    assert len({gc.random.default_seed(n) for n in range(1000)}) == 1000


def test_element_i_depends_on_the_seed_and_i_only():
    """A longer draw extends a shorter one; a 2-D draw is the flat draw reshaped."""
    for dist, dtype in (("uniform", F32), ("uniform", F64), ("normal", F32), ("normal", F64)):
        fn = getattr(gc.random, dist)
        short, long, square = run([fn((7,), dtype=dtype, seed=3), fn((13,), dtype=dtype, seed=3),
                                   fn((3, 4), dtype=dtype, seed=3)])
        assert np.array_equal(short, long[:7]) and np.array_equal(square.reshape(-1), long[:12])


# -- seeds that are tensors ---------------------------------------------------------------
def test_fed_seed_gives_the_int_seed_numbers():
    s = gc.placeholder(gc.int64, (), name="step")
    s32 = gc.placeholder(gc.int32, (), name="step32")
    x, x32 = gc.random.normal((5,), seed=s), gc.random.uniform((5,), seed=s32)
    with gc.Session() as sess:
        v7, w7 = sess.run([x, x32], {s: 7, s32: 7})
        v8 = sess.run(x, {s: 8})
    e7, f7, e8 = run([gc.random.normal((5,), seed=7), gc.random.uniform((5,), seed=7), gc.random.normal((5,), seed=8)])
    assert np.array_equal(v7, e7) and np.array_equal(w7, f7) and np.array_equal(v8, e8)
    assert not np.array_equal(v7, v8)


def test_variable_seed_advanced_between_steps():
    """A training loop's pattern: a seed Variable, advanced each step, gives fresh masks;
    the same seed value gives the same mask again."""
    step = gc.Variable(np.int64(0), name="step", trainable=False)
    mask = gc.random.bernoulli((64,), p=0.5, seed=step)
    with gc.Session() as sess:
        m0 = sess.run(mask)
        assert np.array_equal(sess.run(mask), m0)             # a seeded graph repeats until advanced
        masks = [sess.run(mask, {step: i}) for i in range(4)]  # advanced by a feed
    assert np.array_equal(masks[0], m0)
    assert len({m.tobytes() for m in masks}) == 4
    advance = gc.assign_add(step, 1)                           # advanced by the graph itself
    with gc.Session() as sess:
        got = []
        for _ in range(3):
            got.append(sess.run(mask))
            sess.run(advance)
    for g, m in zip(got, masks):
        assert np.array_equal(g, m)


# -- statistics ---------------------------------------------------------------------------
N = 100_000


def _normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x, np.float64) / math.sqrt(2.0)))


def _ks(sorted_sample, cdf):
    """Kolmogorov-Smirnov statistic of a sorted sample against a CDF."""
    n = len(sorted_sample)
    f = cdf(sorted_sample)
    i = np.arange(1, n + 1)
    return max(np.max(i / n - f), np.max(f - (i - 1) / n))


KS_LIMIT = 1.95 / math.sqrt(N)   # the 0.1% critical value of the KS statistic


@pytest.mark.parametrize("dtype", [F32, F64])
def test_normal_statistics(dtype):
    z, y = run([gc.random.normal((N,), dtype=dtype, seed=11),
                gc.random.normal((N // 4, 4), mean=3.0, stddev=2.0, dtype=dtype, seed=12)])
    z64 = z.astype(np.float64)
    assert abs(z64.mean()) < 5 / math.sqrt(N)
    assert abs(z64.var() - 1) < 5 * math.sqrt(2 / N)
    assert abs(np.mean(z64 ** 3)) < 5 * math.sqrt(15 / N)          # symmetric
    assert abs(np.mean(z64 ** 4) - 3) < 5 * math.sqrt(96 / N)      # Gaussian kurtosis
    assert np.abs(z64).max() < (6.7 if dtype == F32 else 8.6)
    assert _ks(np.sort(z64), _normal_cdf) < KS_LIMIT
    # the bound is meaningful: a 5% wider or a 0.03-shifted normal fails it
    assert _ks(np.sort(z64), lambda x: _normal_cdf(x * 1.05)) > KS_LIMIT
    assert _ks(np.sort(z64), lambda x: _normal_cdf(x - 0.03)) > KS_LIMIT
    y64 = y.astype(np.float64).reshape(-1)
    assert abs(y64.mean() - 3) < 5 * 2 / math.sqrt(N) and abs(y64.std() - 2) < 5 * 2 * math.sqrt(0.5 / N)
    # neighbours are independent (Box-Muller's two halves would be; only the cosine one is used)
    assert abs(np.corrcoef(z64[:-1], z64[1:])[0, 1]) < 5 / math.sqrt(N)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_uniform_statistics(dtype):
    u, v = run([gc.random.uniform((N,), dtype=dtype, seed=21),
                gc.random.uniform((N,), minval=-2.0, maxval=3.0, dtype=dtype, seed=22)])
    assert u.dtype == dtype and u.min() >= 0 and u.max() < 1
    assert v.min() >= -2 and v.max() < 3
    scaled = u * 2.0 ** (24 if dtype == F32 else 53)
    assert np.array_equal(scaled, np.floor(scaled))                  # 24 or 53 random bits
    if dtype == F64:
        assert np.any(scaled % 2 ** 29 != 0)                         # really more than 24 of them
    p = 1 / 20
    counts = np.bincount(np.floor(u * 20).astype(int), minlength=20)
    assert np.all(np.abs(counts - N * p) < 5 * math.sqrt(N * p * (1 - p))), counts
    assert _ks(np.sort(u.astype(np.float64)), lambda x: x) < KS_LIMIT
    assert _ks(np.sort((v.astype(np.float64) + 2) / 5), lambda x: x) < KS_LIMIT


def test_bernoulli_frequency():
    out = [gc.random.bernoulli((N,), p=p, seed=31) for p in (0.1, 0.5, 0.9)]
    edge = [gc.random.bernoulli((1000,), p=0.0, seed=1), gc.random.bernoulli((1000,), p=1, seed=1)]
    values = run(out + edge)
    for v, p in zip(values, (0.1, 0.5, 0.9)):
        assert v.dtype == np.bool_ and v.shape == (N,)
        assert abs(v.mean() - p) < 5 * math.sqrt(p * (1 - p) / N)
    assert not values[3].any() and values[4].all()
    u, b = run([gc.random.uniform((50,), seed=9), gc.random.bernoulli((50,), p=0.3, seed=9)])
    assert np.array_equal(b, u < np.float32(0.3))                    # JAX: uniform(key) < p


def test_uniform_never_reaches_maxval():
    """``1 + u`` rounds to 2.0 for u = 1 - 2**-24: the result is clamped below maxval."""
    u = gc.random.uniform((3,), minval=1.0, maxval=2.0, seed=0, name="u")
    draw = gc.get_default_graph().node("u/random")
    top = np.array([0.0, 0.5, 1 - 2.0 ** -24], np.float32)
    assert (np.float32(1) + top[2]) == 2.0
    got = run(u, {gc.get_default_graph().tensor(draw): top})
    assert np.array_equal(got, [1.0, 1.5, np.nextafter(np.float32(2), np.float32(0))])


# -- dtypes and shapes ----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (1,), (2, 1, 3)])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_shapes_and_dtypes(shape, dtype):
    outs = [gc.random.normal(shape, dtype=dtype, seed=1), gc.random.uniform(shape, dtype=dtype, seed=1),
            gc.random.normal(shape, mean=1.0, stddev=3.0, dtype=dtype), gc.random.bernoulli(shape, seed=2)]
    for t in outs:
        assert t.shape == shape
    assert [t.dtype for t in outs] == [dtype, dtype, dtype, np.bool_]
    seed = gc.placeholder(gc.int64, (), name="seed")
    fed = gc.random.normal(shape, dtype=dtype, seed=seed)
    ref = run(outs + [fed], {seed: 1})
    _assert_bitwise(run(outs + [fed], {seed: 1}, device="cpu"), ref)
    for v, t in zip(ref, outs + [fed]):
        assert v.shape == shape and v.dtype == t.dtype
    assert np.array_equal(ref[0], ref[4])
    np.testing.assert_allclose(ref[0], py_draw(1, "normal", shape, dtype), rtol=1e-6, atol=0)


def test_shape_may_be_a_list_or_an_int():
    assert gc.random.normal([2, 3], seed=0).shape == (2, 3)
    assert gc.random.uniform(4, seed=0).shape == (4,)


# -- errors name the op and the user's line ---------------------------------------------------
HERE = os.path.basename(__file__)
BAD = [
    ("shape-negative", ShapeError, "normal", lambda: gc.random.normal((2, -1))),
    ("shape-none", ShapeError, "uniform", lambda: gc.random.uniform((None, 3))),
    ("shape-float", ShapeError, "normal", lambda: gc.random.normal((2.0,))),
    ("shape-tensor", ShapeError, "bernoulli", lambda: gc.random.bernoulli(gc.constant([2, 3]))),
    ("dtype-int", DTypeError, "normal", lambda: gc.random.normal((2,), dtype=gc.int32)),
    ("dtype-bool", DTypeError, "uniform", lambda: gc.random.uniform((2,), dtype=bool)),
    ("dtype-unknown", DTypeError, "normal", lambda: gc.random.normal((2,), dtype="float16")),
    ("seed-float", DTypeError, "normal", lambda: gc.random.normal((2,), seed=1.5)),
    ("seed-bool", DTypeError, "uniform", lambda: gc.random.uniform((2,), seed=True)),
    ("seed-too-big", DTypeError, "normal", lambda: gc.random.normal((2,), seed=2 ** 64)),
    ("seed-float-tensor", DTypeError, "normal", lambda: gc.random.normal((2,), seed=gc.constant(1.0))),
    ("seed-vector", ShapeError, "bernoulli", lambda: gc.random.bernoulli((2,), seed=gc.constant([1, 2]))),
    ("range-empty", GraphError, "uniform", lambda: gc.random.uniform((2,), minval=1.0, maxval=1.0)),
    ("range-tensor", DTypeError, "uniform", lambda: gc.random.uniform((2,), maxval=gc.constant(2.0))),
    ("p-string", DTypeError, "bernoulli", lambda: gc.random.bernoulli((2,), p="0.5")),
]


@pytest.mark.parametrize("error, fn_name, build", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_errors_name_the_op_and_the_line(error, fn_name, build):
    line = build.__code__.co_firstlineno
    with pytest.raises(error) as info:
        build()
    msg = str(info.value)
    assert msg.startswith(f"{fn_name} at "), msg
    assert f"{HERE}:{line}" in msg, msg


def test_random_op_checks_its_seed_and_attrs():
    """The primitive itself (as the IR parser and the verifier use it) rejects bad input."""
    g = gc.get_default_graph()
    seed = gc.constant(np.int32(1)).node
    with pytest.raises(DTypeError, match="seed must be int64"):
        g.add_node("random", [seed], {"distribution": "normal", "dtype": F32, "shape": (2,)})
    seed = gc.constant(np.int64(1)).node
    with pytest.raises(GraphError, match="distribution"):
        g.add_node("random", [seed], {"distribution": "poisson", "dtype": F32, "shape": (2,)})
    with pytest.raises(ShapeError, match="shape"):
        g.add_node("random", [seed], {"distribution": "normal", "dtype": F32, "shape": [2]})
    with pytest.raises(gc.errors.IRParseError, match="line 2"):
        gc.ir.parse("%s: i64[] = constant() {value=1}\n"
                    "%r: i32[2] = random(%s) {distribution='uniform', dtype=i32, shape=(2,)}\n")


# -- the passes and the backends ----------------------------------------------------------------
def test_ir_text_round_trips_and_computes_the_same():
    n = gc.random.normal((2, 3), mean=1.0, stddev=0.5, seed=4, name="noise")
    s = gc.placeholder(gc.int64, (), name="s")
    b = gc.random.bernoulli((), p=0.7, seed=s)
    text = gc.get_default_graph().to_text()
    assert "%noise/random: f32[2,3] = random(%noise/seed) {distribution='normal', dtype=f32, shape=(2, 3)}" in text
    assert "%bernoulli/random: f32[] = random(%s) {distribution='uniform', dtype=f32, shape=()}" in text
    parsed = gc.ir.parse(text)
    assert parsed.to_text() == text
    expected = run([n, b], {s: 3})
    _assert_bitwise(run(["noise", b.name], {"s": 3}, graph=parsed), expected)
    with gc.Session() as sess:
        compiled = sess.compile([n, b], {s: ()})
    for stage in compiled.stages:
        assert gc.ir.parse(compiled.ir(stage, blobs=True)).to_text(blobs=True) == compiled.ir(stage, blobs=True)


def test_folding_cse_and_fusion():
    small = gc.random.normal((8,), seed=1, name="small")             # folds: its seed is a constant
    big = gc.random.uniform((100, 100), seed=1, name="big")          # over the fold limit: stays an op
    twin = gc.random.uniform((100, 100), seed=1, name="twin")        # same seed and attrs: merged
    other = gc.random.uniform((100, 100), name="other")              # unseeded: a seed of its own
    y = gc.exp(big) * 2.0 + twin + other
    with gc.Session() as sess:
        compiled = sess.compile([small, y])
        values = sess.run([small, y])
    ops = [n.op for n in compiled.graph.nodes]
    assert compiled.graph.node("small").op == "constant"
    assert ops.count("random") == 2                                 # big (= twin) and other
    assert ops.count("fused") == 1                                  # exp, *, +, + in one kernel
    fused = next(n for n in compiled.graph.nodes if n.op == "fused")
    assert all(n.op != "random" for n in fused.attrs["body"].nodes)
    assert "random is a kernel of its own" in str(compiled.fusion)
    native = compiled._executor.kernels
    assert all(n not in native for n in compiled.graph.nodes if n.op == "random")   # numpy fallback
    assert fused in native
    expected = run([small, y], optimize=False)
    _assert_bitwise(values[:1], expected[:1])
    assert_close(values[1], expected[1], F32)      # the native exp is an approximation of numpy's
    u = py_draw(1, "uniform", (100, 100), F32)
    np.testing.assert_allclose(values[1], np.exp(u) * 2 + u + run(other), rtol=2e-6)


def test_drawing_the_shape_of_a_tensor():
    """``like=x``: the draw takes x's shape (unknown dims as fed), and the numbers equal a
    draw with that static shape and seed."""
    x = gc.placeholder(gc.float32, (None, 3))
    z = gc.random.normal(like=x, seed=5)
    with pytest.raises(ShapeError, match="not both"):
        gc.random.uniform((2, 3), like=x)
    assert z.shape == (None, 3)
    with gc.Session() as sess, gc.Session(device="reference") as ref:
        for rows in (2, 4):
            got = sess.run(z, {x: np.zeros((rows, 3), np.float32)})
            np.testing.assert_array_equal(got, ref.run(gc.random.normal((rows, 3), seed=5)))
            np.testing.assert_array_equal(got, ref.run(z, {x: np.zeros((rows, 3), np.float32)}))
    text = gc.get_default_graph().to_text()
    assert gc.ir.parse(text).to_text() == text
