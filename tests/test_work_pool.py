"""graphc's native thread pool (runtime.cpu.work_pool): every call of a list runs exactly
once, stages of a plan run in order, and the pool stays correct with sleeping, missing or
stopped workers, a busy pool, and in a forked child."""
import ctypes
import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

from graphc.runtime.cpu import llvm_work_pool as W
from graphc.runtime.cpu import work_pool
from graphc.runtime.cpu.llvm_compile import new_module
from graphc.runtime.cpu.llvm_jit import JitModule
from graphc.runtime.cpu.llvm_util import I64, PTR, Fn, c64


@pytest.fixture(scope="module")
def add_one():
    """The address of a kernel (table, lo, hi) doing dst[i] = src[i] + 1 for i in [lo, hi)
    (table: src, dst; int64 arrays), and its JIT module (kept alive by the caller)."""
    module = new_module("test_work_pool")
    f = Fn(module, "add_one", [PTR, I64, I64], linkage=None)
    b, (table, lo, hi) = f.b, f.fn.args
    src = b.load(table, typ=PTR)
    dst = b.load(b.gep(table, [c64(1)], source_etype=PTR), typ=PTR)

    def body(i, _):
        b.store(b.add(b.load(b.gep(src, [i], source_etype=I64), typ=I64), c64(1)), b.gep(dst, [i], source_etype=I64))
    f.loop(lo, hi, 1, body)
    b.ret_void()
    jit = JitModule(str(module), cache=False)
    return jit.address("add_one"), jit


class Table:
    """A parameter table (src, dst) for add_one (kept alive while its calls may run)."""

    def __init__(self, src, dst):
        self.arrays = (src, dst)
        self.table = (ctypes.c_void_p * 2)(src.ctypes.data, dst.ctypes.data)
        self.address = ctypes.addressof(self.table)


def shares(fn, table, n, count):
    cuts = [n * i // count for i in range(count + 1)]
    return [(fn, table.address, lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:])]


@pytest.mark.parametrize("workers", [0, 1, 3])
@pytest.mark.parametrize("count", [1, 2, 7, 64, 1000])
def test_every_call_runs_exactly_once(add_one, workers, count):
    """In place (x += 1): a call run twice or skipped leaves a 2 or a 0."""
    pool = work_pool.WorkPool(workers)
    try:
        x = np.zeros(5000, np.int64)
        table = Table(x, x)
        calls = work_pool.CallList(shares(add_one[0], table, len(x), count))
        for run in range(1, 21):
            pool.run(calls)
            np.testing.assert_array_equal(x, np.full_like(x, run))
    finally:
        pool.stop()


@pytest.mark.parametrize("count", [2, 3, 16])
def test_a_run_returns_only_once_every_call_finished(add_one, count):
    """Calls long enough (a million elements between them) that a run returning early would
    be seen: each call's last element, the last it writes, is read first."""
    pool = work_pool.WorkPool(max(1, work_pool.CORES - 1))
    try:
        x = np.zeros(1 << 20, np.int64)
        table = Table(x, x)
        rows = shares(add_one[0], table, len(x), count)
        last = np.array([hi - 1 for _, _, _, hi in rows])
        calls = work_pool.CallList(rows)
        for run in range(1, 21):
            pool.run(calls)
            assert (x[last] == run).all()
            assert x.min() == x.max() == run
    finally:
        pool.stop()


def test_sleeping_workers_wake_and_runs_stay_exact(add_one):
    """With no spinning, every worker goes to sleep on the futex between runs."""
    pool = work_pool.WorkPool(2)
    try:
        pool.state[W.SPIN_CYCLES] = 0
        x = np.zeros(4096, np.int64)
        table = Table(x, x)
        calls = work_pool.CallList(shares(add_one[0], table, len(x), 16))
        for run in range(1, 31):
            if run % 5 == 0:
                time.sleep(0.002)
            pool.run(calls)
        np.testing.assert_array_equal(x, np.full_like(x, 30))
    finally:
        pool.stop()


def test_the_caller_finishes_alone_when_no_worker_comes(add_one):
    """Stopped workers claim nothing: the calling thread runs every call itself, without
    waiting for them."""
    pool = work_pool.WorkPool(2)
    pool.stop()
    x = np.zeros(1000, np.int64)
    table = Table(x, x)
    pool.run(work_pool.CallList(shares(add_one[0], table, len(x), 9)))
    np.testing.assert_array_equal(x, np.ones_like(x))


def test_plan_stages_run_in_order(add_one):
    """a -> b -> c -> a, each stage shared: each stage reads what the one before wrote."""
    fn = add_one[0]
    n = 3001
    a, b, c = np.arange(n, dtype=np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    tables = [Table(a, b), Table(b, c), Table(c, a)]
    stages = [shares(fn, tables[0], n, 5), [(fn, tables[1].address, 0, n)], shares(fn, tables[2], n, 64)]
    plan = work_pool.Plan(stages)
    for run in range(1, 11):
        plan.run()
        np.testing.assert_array_equal(a, np.arange(n) + 3 * run)


def test_a_plan_may_hold_more_calls_than_one_list(add_one):
    """Only a stage is published at once (MAX_CALLS at most); a long program's plan holds more:
    each of MAX_CALLS + 5 single-call stages adds one to its own element, then a shared stage
    adds one to all."""
    fn, n = add_one[0], W.MAX_CALLS + 5
    x = np.zeros(n, np.int64)
    table = Table(x, x)
    plan = work_pool.Plan([[(fn, table.address, i, i + 1)] for i in range(n)] + [shares(fn, table, n, 7)])
    plan.run()
    np.testing.assert_array_equal(x, np.full(n, 2))
    with pytest.raises(ValueError, match="stages of 1 to"):
        work_pool.Plan([[]])


def test_a_busy_pool_runs_the_second_caller_alone(add_one):
    """Runs from several threads at once on one pool: each one's calls run exactly once."""
    fn = add_one[0]
    arrays = [np.zeros(20000, np.int64) for _ in range(4)]
    tables = [Table(x, x) for x in arrays]
    lists = [work_pool.CallList(shares(fn, table, len(table.arrays[0]), 8)) for table in tables]
    barrier = threading.Barrier(len(lists))

    def runs(calls):
        barrier.wait()
        for _ in range(200):
            work_pool.run(calls)
    threads = [threading.Thread(target=runs, args=(calls,)) for calls in lists]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x in arrays:
        np.testing.assert_array_equal(x, np.full_like(x, 200))


@pytest.mark.parametrize("count", [0, W.MAX_CALLS + 1])
def test_a_call_list_outside_its_limits_is_refused(add_one, count):
    with pytest.raises(ValueError, match="call list"):
        work_pool.CallList([(add_one[0], 0, 0, 0)] * count)


def test_the_longest_call_list_runs(add_one):
    x = np.zeros(W.MAX_CALLS, np.int64)
    table = Table(x, x)
    work_pool.run(work_pool.CallList([(add_one[0], table.address, i, i + 1) for i in range(W.MAX_CALLS)]))
    np.testing.assert_array_equal(x, np.ones_like(x))


def _child_softmax(queue):
    import graphc as gc
    data = np.random.default_rng(1).normal(size=(4096, 256)).astype(np.float32)
    x = gc.placeholder(gc.float32, data.shape)
    queue.put(gc.Session().run(gc.nn.softmax(x), {x: data}))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_gets_a_pool_of_its_own():
    """The parent's workers do not exist in a forked child: it makes its own, and shares
    of a large kernel still all run."""
    import graphc as gc
    data = np.random.default_rng(1).normal(size=(4096, 256)).astype(np.float32)
    x = gc.placeholder(gc.float32, data.shape)
    parent = gc.Session().run(gc.nn.softmax(x), {x: data})   # (the parent's pool exists)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_softmax, args=(queue,))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    e = np.exp(data.astype(np.float64) - data.max(1, keepdims=True))
    want = e / e.sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(got, parent)


EXIT_HANDLERS_STOP_THE_WORKERS = """
import atexit, threading
import numpy as np, graphc as gc
x = gc.placeholder(gc.float32, (4096, 256))
with gc.Session() as sess:
    sess.run(gc.nn.softmax(x), {x: np.ones((4096, 256), np.float32)})   # (a shared kernel: the pool runs)
before = sum(t.name.startswith("graphc-worker") and t.is_alive() for t in threading.enumerate())
atexit._run_exitfuncs()   # (what the interpreter runs at exit, before it frees modules)
after = sum(t.name.startswith("graphc-worker") and t.is_alive() for t in threading.enumerate())
print(before, after)
"""


def test_the_workers_are_stopped_at_exit():
    """The exit handlers stop the pool's workers (they would otherwise spin in native code that
    the interpreter frees at exit), and the process exits cleanly."""
    import subprocess
    import sys
    child = subprocess.run([sys.executable, "-c", EXIT_HANDLERS_STOP_THE_WORKERS], capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    before, after = map(int, child.stdout.split()[-2:])
    assert (before, after) == (work_pool.CORES - 1, 0)
