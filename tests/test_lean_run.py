"""The lean run of a repeated ``sess.run(tensor, feeds)``: a program that reads no variables
and runs its kernels on the calling thread takes a path that only writes changed addresses
and calls the kernels. It must give what the full path gives, whatever the caller does with
its arrays: new arrays, arrays changed in place, results kept or dropped, other layouts and
dtypes (which take the full path), several threads at once."""
import threading

import numpy as np
import pytest

import graphc as gc
from conftest import assert_close


def _lean_entry(sess, tensor):
    return sess._leans.get(tensor)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17])
def test_repeated_runs_give_numpys_numbers(n):
    x = gc.placeholder(gc.float32, (n,), name="x")
    y = gc.placeholder(gc.float32, (n,), name="y")
    out = (x + 1.0) * y - gc.exp(x)
    rng = np.random.default_rng(n)
    with gc.Session() as sess:
        a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
        first = sess.run(out, {x: a, y: b})
        assert _lean_entry(sess, out) is not None
        kept = [(first, first.copy())]   # (a result the caller keeps, its values when returned)
        for step in range(6):
            if step % 2:
                a = rng.standard_normal(n).astype(np.float32)   # a new array
            else:
                b *= 2.0                                         # the same array, changed in place
            got = sess.run(out, {x: a, y: b})
            assert_close(got, (a + 1) * b - np.exp(a), np.float32)
            if step % 3 == 0:
                kept.append((got, got.copy()))
        for result, when_returned in kept:   # never written again by a later run
            assert np.array_equal(result, when_returned)


def test_a_dropped_result_is_reused_and_a_kept_one_is_not():
    x = gc.placeholder(gc.float32, (8,), name="x")
    out = x * 3.0
    a = np.arange(8, dtype=np.float32)
    with gc.Session() as sess:
        sess.run(out, {x: a})
        first = sess.run(out, {x: a})
        second = sess.run(out, {x: a + 1})
        assert first is not second and np.array_equal(first, a * 3) and np.array_equal(second, (a + 1) * 3)
        address = second.ctypes.data
        del first, second
        third = sess.run(out, {x: a})   # the caller dropped the last result: its buffer serves again
        assert np.array_equal(third, a * 3) and third.ctypes.data == address


def test_other_layouts_and_dtypes_take_the_full_path():
    x = gc.placeholder(gc.float32, (4, 4), name="x")
    out = gc.tanh(x) + 1.0
    base = np.arange(32, dtype=np.float32).reshape(4, 8) / 10
    with gc.Session() as sess:
        sess.run(out, {x: base[:, :4].copy()})
        assert_close(sess.run(out, {x: base[:, ::2]}), np.tanh(base[:, ::2]) + 1, np.float32)   # strided
        assert_close(sess.run(out, {x: base[:, :4].astype(np.float64)}), np.tanh(base[:, :4]) + 1, np.float32)
        assert_close(sess.run(out, {x: base[:, :4].tolist()}), np.tanh(base[:, :4]) + 1, np.float32)
        with pytest.raises(gc.GraphcError, match="x"):
            sess.run(out, {x: np.ones((4, 5), np.float32)})


def test_programs_reading_variables_have_no_lean_path():
    x = gc.placeholder(gc.float32, (4,), name="x")
    v = gc.Variable(np.ones(4, np.float32), name="v")
    out = x * v
    with gc.Session() as sess:
        sess.run(out, {x: np.ones(4, np.float32)})
        assert _lean_entry(sess, out) is None
        sess.run(gc.assign(v, v * 2.0))
        assert np.array_equal(sess.run(out, {x: np.full(4, 3, np.float32)}), np.full(4, 6, np.float32))


def test_threads_running_one_program_at_once():
    x = gc.placeholder(gc.float32, (64,), name="x")
    out = gc.sigmoid(x) * 2.0
    errors = []
    with gc.Session() as sess:
        sess.run(out, {x: np.zeros(64, np.float32)})

        def work(seed):
            rng = np.random.default_rng(seed)
            for _ in range(300):
                a = rng.standard_normal(64).astype(np.float32)
                got = sess.run(out, {x: a})
                if not np.allclose(got, 2 / (1 + np.exp(-a.astype(np.float64))), rtol=1e-5, atol=1e-6):
                    errors.append(seed)
        threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_check_numerics_options_and_a_closed_session_bypass_the_lean_run():
    x = gc.placeholder(gc.float32, (4,), name="x")
    out = gc.log(x)
    sess = gc.Session()
    sess.run(out, {x: np.ones(4, np.float32)})
    assert _lean_entry(sess, out) is not None
    bad = np.array([1, -1, 2, 3], np.float32)
    with pytest.raises(gc.errors.NumericsError, match="log"):
        sess.run(out, {x: bad}, check_numerics=True)
    meta = gc.RunMetadata()
    sess.run(out, {x: np.ones(4, np.float32)}, options=gc.RunOptions(trace=True), run_metadata=meta)
    assert meta.kernels
    sess.close()
    with pytest.raises(gc.GraphcError, match="closed"):
        sess.run(out, {x: np.ones(4, np.float32)})


def test_other_feed_keys_take_the_full_path_and_its_errors():
    """The lean function belongs to the fetched Tensor and its last feed keys: the same
    Tensor fed other keys, fewer or more, runs the full path (its result, or its FeedError),
    never the lean one on stale arrays."""
    x = gc.placeholder(gc.float32, (4,), name="x")
    z = gc.placeholder(gc.float32, (4,), name="z")
    out = gc.exp(x) * 2.0
    a = np.arange(4, dtype=np.float32)
    with gc.Session() as sess:
        assert_close(sess.run(out, {x: a}), np.exp(a) * 2, np.float32)
        assert _lean_entry(sess, out) is not None
        assert_close(sess.run(out, {x: a + 1, z: a}), np.exp(a + 1) * 2, np.float32)   # (z: fed, unused)
        with pytest.raises(gc.errors.FeedError):
            sess.run(out, {z: a})
        with pytest.raises(gc.errors.FeedError):
            sess.run(out)
        assert_close(sess.run(out, {x: a - 1}), np.exp(a - 1) * 2, np.float32)
    with pytest.raises(gc.GraphcError):
        sess.run(out, {x: a})   # (closed)
