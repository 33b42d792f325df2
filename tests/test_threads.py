"""One Session, many threads: every run equals the sequential run (bit for bit on the CPU).

Each test computes its expected results sequentially first, then has 8 threads run the same
Session at once (started together at a barrier) and compares every result with
``np.array_equal``. Runs that update variables must give what some sequential order of
the same steps gives.
"""
import threading

import numpy as np
import pytest

import graphc as gc
from conftest import assert_close
from graphc.runtime import executor as executor_module, session as session_module
from graphc.runtime.cpu.native import CORES

THREADS = 8
RNG = np.random.default_rng(9)


def _equal(got, want):
    """Bit-identical results, through lists, tuples and dicts."""
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(_equal(got[k], want[k]) for k in want)
    if isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(_equal(g, w) for g, w in zip(got, want))
    if want is None:
        return got is None
    return got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want, equal_nan=True)


def _in_threads(work, threads=THREADS):
    """``work(i)`` on ``threads`` threads started together; re-raises the first failure."""
    barrier = threading.Barrier(threads)
    errors = []

    def body(i):
        try:
            barrier.wait()
            work(i)
        except BaseException as e:  # noqa: BLE001  (reported in the main thread)
            errors.append(e)

    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def _hammer(sess, cases, runs):
    """Each thread runs every (fetches, feed_dict) case ``runs`` times, starting at its own
    case, and checks each result against the sequential one computed first."""
    expected = [sess.run(fetches, feed) for fetches, feed in cases]
    mismatches = []

    def work(i):
        for r in range(runs):
            k = (i + r) % len(cases)
            fetches, feed = cases[k]
            if not _equal(sess.run(fetches, feed), expected[k]):
                mismatches.append((i, r, k))

    _in_threads(work)
    assert not mismatches, f"{len(mismatches)} of {THREADS * runs} concurrent runs differ, e.g. {mismatches[:3]}"
    return expected


def _feeds(p, batch=4, n=8, width=96):
    return [{p: RNG.standard_normal((batch, width)).astype(np.float32)} for _ in range(n)]


@pytest.mark.parametrize("weights", ["constant", "variable"])
def test_issue_9_tanh_of_p_matmul_w_from_8_threads(weights):
    """The issue's case: tanh(p @ w), p fed as (4, 96), run from 8 threads on one Session."""
    p = gc.placeholder(gc.float32, (None, 96), name="p")
    w0 = (RNG.standard_normal((96, 256)) / np.sqrt(96)).astype(np.float32)   # |p @ w| about 1
    w = gc.constant(w0) if weights == "constant" else gc.Variable(w0, name="w")
    y = gc.tanh(p @ w)
    feeds = _feeds(p)
    with gc.Session() as sess:
        expected = _hammer(sess, [(y, f) for f in feeds], runs=300)
    for got, feed in zip(expected, feeds):
        assert_close(got, np.tanh(feed[p].astype(np.float64) @ w0), np.float32)


def _program_several_fetches():
    p = gc.placeholder(gc.float32, (None, 96), name="p")
    w0 = (RNG.standard_normal((96, 32)) / np.sqrt(96)).astype(np.float32)
    h = p @ gc.constant(w0)
    fetches = [gc.nn.softmax(h), gc.sum(h, axis=1), {"relu": gc.relu(h), "max": gc.max(h)}]

    def reference(feed):
        h = feed[p].astype(np.float64) @ w0
        e = np.exp(h - h.max(1, keepdims=True))
        return [e / e.sum(1, keepdims=True), h.sum(1), {"relu": np.maximum(h, 0), "max": h.max()}]
    return [(fetches, f) for f in _feeds(p)], reference


def _program_numpy_fallback():
    """A gather (run by its numpy reference) between native kernels: no all-native fast path."""
    table0 = RNG.standard_normal((50, 24)).astype(np.float32)
    ids = gc.placeholder(gc.int64, (None,), name="ids")
    y = gc.tanh(gc.gather(gc.constant(table0) * 0.5, ids)) + 1.0
    feeds = [{ids: RNG.integers(0, 50, 12)} for _ in range(8)]
    return [(y, f) for f in feeds], lambda feed: np.tanh(table0[feed[ids]].astype(np.float64) * 0.5) + 1.0


def _eighths(shape):
    """Multiples of 1/8 in [-3/8, 3/8]: float32 products and their sums are exact."""
    return (RNG.integers(-3, 4, shape) / 8).astype(np.float32)


def _program_large_threaded_kernels():
    """A softmax over 2^19 elements and a 64M multiply-add GEMM: both split across graphc's threads."""
    x = gc.placeholder(gc.float32, (512, 1024), name="x")
    a = gc.placeholder(gc.float32, (256, 512), name="a")
    b0 = _eighths((512, 512))
    fetches = [gc.nn.softmax(x), gc.relu(a @ gc.constant(b0))]
    feeds = [{x: RNG.standard_normal((512, 1024)).astype(np.float32), a: _eighths((256, 512))} for _ in range(3)]

    def reference(feed):
        e = np.exp(feed[x] - feed[x].max(1, keepdims=True))
        return [e / e.sum(1, keepdims=True), np.maximum(feed[a].astype(np.float64) @ b0, 0)]
    return [(fetches, f) for f in feeds], reference


def _check(got, want):
    """``got`` matches the float64 numpy values ``want`` (through lists and dicts)."""
    if isinstance(want, dict):
        for k in want:
            _check(got[k], want[k])
    elif isinstance(want, list):
        for g, w in zip(got, want):
            _check(g, w)
    else:
        assert_close(got, np.asarray(want).astype(got.dtype), np.float32)


PROGRAMS = {"several_fetches": (_program_several_fetches, 200),
            "numpy_fallback": (_program_numpy_fallback, 200),
            "large_threaded_kernels": (_program_large_threaded_kernels, 4)}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_programs_from_8_threads_equal_sequential_runs(name):
    build, runs = PROGRAMS[name]
    cases, reference = build()
    with gc.Session() as sess:
        expected = _hammer(sess, cases, runs)
        compiled = sess.compile(*cases[0])
        if name == "numpy_fallback":
            assert compiled._executor.bound is None and len(compiled._executor.kernels) < len(compiled.kernels)
        if name == "large_threaded_kernels" and CORES > 1:
            assert all(k.parts > 1 for k in compiled._executor.kernels.values())
        assert len(compiled._twins) < THREADS     # at most one twin per run at the same time
    for got, (_, feed) in zip(expected, cases):
        _check(got, reference(feed))


def test_tiny_program_from_8_threads():
    """The per-run-overhead graph (graphc.bench's tiny), on the Session's fast path."""
    x = gc.placeholder(gc.float32, (16,), name="x")
    y = (x + 1.0) * 2.0 - 3.0
    feeds = [{x: RNG.standard_normal(16).astype(np.float32)} for _ in range(8)]
    with gc.Session() as sess:
        expected = _hammer(sess, [(y, f) for f in feeds], runs=2000)
    for got, feed in zip(expected, feeds):
        assert_close(got, (feed[x] + 1.0) * 2.0 - 3.0, np.float32)


def test_feed_shapes_compile_concurrently_each_once(monkeypatch):
    """Eight threads, four batch sizes: two threads at once ask for each program; each
    compiles once, and every result equals the one of a sequential Session."""
    p = gc.placeholder(gc.float32, (None, 96), name="p")
    w0 = (RNG.standard_normal((96, 64)) / np.sqrt(96)).astype(np.float32)
    y = gc.tanh(p @ gc.constant(w0))
    feeds = [{p: RNG.standard_normal((1 + i % 4, 96)).astype(np.float32)} for i in range(THREADS)]
    with gc.Session() as sequential:
        expected = [sequential.run(y, f) for f in feeds]
    compiles = []
    real = session_module.compile_program

    def counting(*args, **kwargs):
        compiles.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(session_module, "compile_program", counting)
    mismatches = []
    with gc.Session() as sess:
        def work(i):
            for _ in range(50):
                if not _equal(sess.run(y, feeds[i]), expected[i]):
                    mismatches.append(i)
        _in_threads(work)
        assert len([key for key in sess._cache if key[0] != "call"]) == 4   # (programs, not call shortcuts)
    assert len(compiles) == 4 and not mismatches
    for got, feed in zip(expected, feeds):
        assert_close(got, np.tanh(feed[p].astype(np.float64) @ w0), np.float32)


def _training_problem(fallback):
    """A small model trained with momentum SGD and a step counter whose update is fetched,
    so each run tells which step it was. Its updates are written in place, or with
    ``fallback`` (a gather of the input rows, run by numpy) computed into new arrays."""
    x_val = RNG.standard_normal((256, 128)).astype(np.float32)
    y_val = RNG.standard_normal((256, 64)).astype(np.float32)
    w0 = (RNG.standard_normal((128, 64)) * 0.1).astype(np.float32)
    x = gc.placeholder(gc.float32, (None, 128), name="x")
    y = gc.placeholder(gc.float32, (None, 64), name="y")
    w = gc.Variable(w0, name="w")
    b = gc.Variable(np.zeros(64, np.float32), name="b")
    step = gc.Variable(np.int64(0), name="step")
    order = RNG.permutation(256) if fallback else np.arange(256)
    rows = gc.gather(x, gc.constant(order)) if fallback else x
    pred = gc.tanh(rows @ w + b)
    loss = gc.mean(gc.square(pred - y))
    train = gc.group(gc.train.SGD(0.05, momentum=0.9).minimize(loss))
    counted = gc.assign_add(step, np.int64(1))
    return {x: x_val, y: y_val}, (w, b, step), pred, loss, train, counted, (x_val[order], y_val)


@pytest.mark.parametrize("updates", ["in_place", "fallback"])
def test_training_steps_and_readers_from_8_threads_follow_a_sequential_order(updates):
    """Four threads run training steps, four read the variables and a prediction meanwhile.
    Each step's loss is the sequential run's at that step, the final variables are the
    sequential ones, and every read sees the variables of one step: an in-place writer
    keeps readers out, other writers commit beside them."""
    feed, (w, b, step), pred, loss, train, counted, (rows, y_val) = _training_problem(updates == "fallback")
    steps_per_thread = 40
    total = 4 * steps_per_thread
    with gc.Session() as sequential:
        states = [sequential.run([step, w, b, pred], feed)]
        losses = {}
        for _ in range(total):
            _, value, k = sequential.run([train, loss, counted], feed)
            losses[int(k)] = value
            states.append(sequential.run([step, w, b, pred], feed))
    got_losses, reads, mismatches = {}, [], []
    with gc.Session() as sess:
        assert sess.compile([train, loss, counted], feed).writes_in_place == (updates == "in_place")

        def work(i):
            for _ in range(steps_per_thread):
                if i % 2:
                    _, value, k = sess.run([train, loss, counted], feed)
                    got_losses[int(k)] = value
                else:
                    reads.append(sess.run([step, w, b, pred], feed))
        _in_threads(work)
        final = sess.run([step, w, b, pred], feed)
    assert sorted(got_losses) == list(range(1, total + 1))
    for k, value in got_losses.items():
        if not _equal(value, losses[k]):
            mismatches.append(k)
    assert not mismatches, f"losses of steps {mismatches[:5]} differ from the sequential run's"
    assert _equal(final, states[-1])
    torn = [r for r in reads if not _equal(r, states[int(r[0])])]
    assert len(reads) == 4 * steps_per_thread and not torn, f"{len(torn)} reads mix variables of different steps"
    # the sequential run itself against numpy: the first step's loss
    w0 = states[0][1].astype(np.float64)
    assert_close(losses[1], np.mean(np.square(np.tanh(rows @ w0) - y_val)), np.float32)


@pytest.mark.parametrize("updates", ["in_place", "fallback"])
def test_a_training_step_while_a_read_is_paused_mid_run(updates, monkeypatch):
    """A read is held inside its numpy kernel while another thread runs a training step:
    a step that writes into the variables' buffers waits for the read to finish; one that
    commits new arrays goes ahead. Either way the read returns the values from before."""
    feed, (w, b, step), pred, loss, train, counted, _ = _training_problem(updates == "fallback")
    reading = [step, w, b, gc.gather(pred, gc.constant(np.array([3, 1])))]
    paused, resume = threading.Event(), threading.Event()
    real = executor_module.compute

    def compute(node, values):
        if node.op == "gather" and threading.current_thread().name == "reader":
            paused.set()
            assert resume.wait(10)
        return real(node, values)

    with gc.Session() as sequential:
        before = sequential.run(reading, feed)
        sequential.run(train, feed)
        after = sequential.run(reading, feed)
    assert not _equal(after, before)
    with gc.Session() as sess:
        assert sess.compile(train, feed).writes_in_place == (updates == "in_place")
        sess.run(reading, feed)    # compiled before anything pauses
        monkeypatch.setattr(executor_module, "compute", compute)
        got = []
        reader = threading.Thread(target=lambda: got.append(sess.run(reading, feed)), name="reader")
        writer = threading.Thread(target=lambda: sess.run(train, feed), name="writer")
        reader.start()
        assert paused.wait(10)
        writer.start()
        writer.join(0.5 if updates == "in_place" else 10)
        assert writer.is_alive() == (updates == "in_place")
        resume.set()
        reader.join(10)
        writer.join(10)
        assert not reader.is_alive() and not writer.is_alive()
        assert _equal(got[0], before)
        assert _equal(sess.run(reading, feed), after)
