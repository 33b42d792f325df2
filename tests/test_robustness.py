"""Runs repeat bit for bit, a failed run leaves the Session as it was, and 10,000 runs
hold no memory."""
import gc as python_gc
import threading
import tracemalloc

import numpy as np
import pytest

import graphc as gc
from graphc.errors import ExecutionError, FeedError, FetchError
from graphc.runtime.cpu.native import CORES
from conftest import assert_close

RNG = np.random.default_rng(31)


def _eighths(shape):
    """Multiples of 1/8 in [-3/8, 3/8]: float32 products and their sums are exact."""
    return (RNG.integers(-3, 4, shape) / 8).astype(np.float32)


def _bits(results):
    return [np.array(r, copy=True) for r in results]


def _same_bits(a, b):
    return all(x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
               for x, y in zip(a, b))


# -- repeated runs are bit-identical ------------------------------------------------------
def _large_programs():
    """Fetches and their numpy values: kernels split across graphc's threads (a softmax, a
    row sum), GEMMs shared by rows and by columns, a float64 GEMM (OpenBLAS)."""
    x = gc.placeholder(gc.float32, (1024, 512), name="x")
    tall = gc.placeholder(gc.float32, (512, 384), name="tall")
    wide = gc.placeholder(gc.float32, (96, 384), name="wide")
    b = gc.placeholder(gc.float32, (384, 1024), name="b")
    d = gc.placeholder(gc.float64, (256, 256), name="d")
    fetches = [gc.nn.softmax(x), gc.sum(gc.exp(x), axis=1), gc.relu(tall @ b), gc.tanh(wide @ b), d @ d.T]

    def reference(feed):
        v = {k.name: feed[k].astype(np.float64) for k in feed}
        e = np.exp(v["x"] - v["x"].max(1, keepdims=True))
        return [e / e.sum(1, keepdims=True), np.exp(v["x"]).sum(1), np.maximum(v["tall"] @ v["b"], 0),
                np.tanh(v["wide"] @ v["b"]), v["d"] @ v["d"].T]
    return (x, tall, wide, b, d), fetches, reference


def test_repeated_runs_are_bit_identical_with_threaded_kernels_and_gemms():
    (x, tall, wide, b, d), fetches, reference = _large_programs()
    normal = {x: RNG.standard_normal((1024, 512)).astype(np.float32),
              tall: RNG.standard_normal((512, 384)).astype(np.float32),
              wide: RNG.standard_normal((96, 384)).astype(np.float32),
              b: RNG.standard_normal((384, 1024)).astype(np.float32),
              d: RNG.standard_normal((256, 256))}
    exact = {x: normal[x], tall: _eighths((512, 384)), wide: _eighths((96, 384)), b: _eighths((384, 1024)),
             d: _eighths((256, 256)).astype(np.float64)}
    with gc.Session() as sess:
        compiled = sess.compile(fetches, normal)
        shared = [k for k in compiled._executor.kernels.values() if k.parts > 1]
        assert len(shared) >= (4 if CORES > 1 else 0)
        first = _bits(sess.run(fetches, normal))
        for _ in range(8):
            sess.run(fetches, exact)      # other values through the same buffers in between
            assert _same_bits(sess.run(fetches, normal), first)
        for got, want in zip(sess.run(fetches, exact), reference(exact)):
            assert_close(got, want.astype(got.dtype), got.dtype)
    with gc.Session() as other:           # and in another Session
        assert _same_bits(other.run(fetches, normal), first)


def test_training_repeats_bit_for_bit_in_two_sessions():
    x_val = RNG.standard_normal((256, 128)).astype(np.float32)
    labels = RNG.integers(0, 10, 256)
    x = gc.placeholder(gc.float32, (None, 128))
    y = gc.placeholder(gc.int64, (None,))
    w1 = gc.Variable((RNG.standard_normal((128, 256)) * 0.1).astype(np.float32), name="w1")
    w2 = gc.Variable((RNG.standard_normal((256, 10)) * 0.1).astype(np.float32), name="w2")
    loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(gc.relu(x @ w1) @ w2, y))
    train = gc.train.Adam(1e-3).minimize(loss)
    feed = {x: x_val, y: labels}
    runs = []
    for _ in range(2):
        with gc.Session() as sess:
            losses = [sess.run([train, loss], feed)[1] for _ in range(5)]
            runs.append(_bits(losses + sess.run([w1, w2])))
    assert _same_bits(runs[0], runs[1])
    assert runs[0][4] < runs[0][0]


# -- a run that raised leaves the Session as it was ----------------------------------------
def _values(sess, variables):
    return [sess.run(v) for v in variables]


def _step_problem():
    """A momentum-SGD step whose loss reads a gather of rows of tanh(x @ w + b): the matmul
    kernel runs before the gather, which raises on an index out of range."""
    x = gc.placeholder(gc.float32, (None, 12), name="x")
    ids = gc.placeholder(gc.int64, (None,), name="ids")
    target = gc.placeholder(gc.float32, (None, 6), name="target")
    w = gc.Variable((RNG.standard_normal((12, 6)) * 0.3).astype(np.float32), name="w")
    b = gc.Variable(np.zeros(6, np.float32), name="b")
    h = gc.tanh(x @ w + b)
    loss = gc.sum(gc.square(gc.gather(h, ids) - target))
    opt = gc.train.SGD(0.05, momentum=0.9)
    train = opt.minimize(loss)
    variables = [w, b, opt.get_slot(w, "momentum"), opt.get_slot(b, "momentum")]
    feed = {x: RNG.standard_normal((8, 12)).astype(np.float32), ids: np.array([0, 5, 7, 2]),
            target: RNG.standard_normal((4, 6)).astype(np.float32)}
    return (x, ids, target), (w, b), variables, loss, train, feed


@pytest.mark.parametrize("device", ["cpu", "reference"])
def test_a_failed_training_step_changes_nothing_and_the_session_goes_on(device):
    (x, ids, target), (w, b), variables, loss, train, feed = _step_problem()
    bad_feeds = [({**feed, ids: np.array([0, 8, 1, 2])}, ExecutionError),      # gather index out of range
                 ({**feed, ids: np.array([0, -9, 1, 2])}, ExecutionError),
                 ({**feed, x: np.zeros((8, 13), np.float32)}, FeedError),      # wrong shape
                 ({**feed, ids: np.array([0.5, 1, 2, 3])}, FeedError)]         # float for an int64
    with gc.Session(device=device) as sess, gc.Session(device=device) as ref:
        for _ in range(2):                # moved away from the initial values first
            sess.run(train, feed)
            ref.run(train, feed)
        before = _values(sess, variables)
        for bad, error in bad_feeds:
            with pytest.raises(error):
                sess.run([train, loss], bad)
            assert _same_bits(_values(sess, variables), before)
        with gc.Graph().as_default():
            elsewhere = gc.constant(1.0)
        for fetches in ([train, "nope:0"], [train, object()], {"step": train, "other": elsewhere}):
            with pytest.raises(FetchError):
                sess.run(fetches, feed)
            assert _same_bits(_values(sess, variables), before)
        # the same Session runs the step as one that never failed
        for _ in range(2):
            got, want = sess.run([train, loss], feed)[1], ref.run([train, loss], feed)[1]
            assert _same_bits([got], [want])
        assert _same_bits(_values(sess, variables), _values(ref, variables))
    # and that step is the numpy step: the loss at the values before it
    xv, idv, tv = feed[x], feed[ids], feed[target]
    wv, bv = (v.astype(np.float64) for v in before[:2])
    numpy_loss = np.sum(np.square(np.tanh(xv @ wv + bv)[idv] - tv))
    with gc.Session(device=device) as check:
        check.run(gc.group(gc.assign(w, before[0]), gc.assign(b, before[1])))
        assert_close(check.run(loss, feed), numpy_loss, np.float32)


def test_a_failed_fast_path_program_keeps_its_fast_path():
    x = gc.placeholder(gc.float32, (4,), name="x")
    v = gc.Variable(np.arange(4, dtype=np.float32), name="v")
    y = gc.exp(x) * v
    good = np.linspace(-1, 1, 4).astype(np.float32)
    with gc.Session() as sess:
        first = sess.run(y, {x: good})
        for bad in (np.zeros(5, np.float32), np.array(["a", "b", "c", "d"]), np.zeros((4, 1), np.float32)):
            with pytest.raises(FeedError):
                sess.run(y, {x: bad})
        assert _same_bits([sess.run(y, {x: good})], [first])
        assert _same_bits([sess.run(v)], [np.arange(4, dtype=np.float32)])
    assert_close(first, np.exp(good.astype(np.float64)) * np.arange(4), np.float32)


def test_failing_and_good_steps_from_8_threads():
    """Four threads run steps that raise, four run good ones: every lock a failed run took
    is released, and the variables are those of the good steps alone, in sequence."""
    (x, ids, target), _, variables, loss, train, feed = _step_problem()
    bad = {**feed, ids: np.array([0, 99, 1, 2])}
    steps = 10
    with gc.Session() as ref:
        for _ in range(4 * steps):
            ref.run(train, feed)
        want = _values(ref, variables)
    raised = []
    with gc.Session() as sess:
        def work(i):
            for _ in range(steps):
                if i % 2:
                    sess.run(train, feed)
                else:
                    try:
                        sess.run([train, loss], bad)
                    except ExecutionError:
                        raised.append(i)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert len(raised) == 4 * steps
        assert _same_bits(_values(sess, variables), want)


# -- no memory growth -------------------------------------------------------------------
def _growth(run, n=10_000, warm=500):
    """Bytes tracemalloc sees held after ``n`` more runs (garbage collected: a run leaves
    short-lived reference cycles), and the growth of the resident set."""
    for _ in range(warm):
        run()
    python_gc.collect()
    rss = _rss()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            run()
        python_gc.collect()
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    return held, _rss() - rss


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_ten_thousand_runs_hold_no_memory():
    x = gc.placeholder(gc.float32, (16,), name="x")
    tiny = (x + 1.0) * 2.0 - 3.0
    p = gc.placeholder(gc.float32, (8, 16), name="p")
    w = gc.Variable((RNG.standard_normal((16, 4)) * 0.1).astype(np.float32), name="w")
    step = gc.Variable(np.int64(0), name="step")
    loss = gc.mean(gc.square(gc.tanh(p @ w)))
    train = gc.train.SGD(0.01, momentum=0.5).minimize(loss)
    counted = gc.assign_add(step, np.int64(1))
    xv = RNG.standard_normal(16).astype(np.float32)
    pv = RNG.standard_normal((8, 16)).astype(np.float32)
    with gc.Session() as sess:
        for name, run in [("fast path", lambda: sess.run(tiny, {x: xv})),
                          ("updates and several fetches", lambda: sess.run([train, loss, counted], {p: pv}))]:
            held, rss = _growth(run)
            assert held < 1 << 20, f"{name}: 10,000 runs hold {held} bytes"
            assert rss < 32 << 20, f"{name}: the resident set grew by {rss} bytes"
        assert int(sess.run(step)) == 10_500
        assert_close(sess.run(tiny, {x: xv}), (xv + 1.0) * 2.0 - 3.0, np.float32)
