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
from graphc.runtime import session as session_module

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
