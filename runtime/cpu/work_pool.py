"""graphc's thread pool: one worker thread per core but one, each living in native code
(``llvm_work_pool``), so handing a kernel's shares out costs a compare-and-swap instead of
a Python executor's queue, lock and wake-up (tens of microseconds on a small VM).

``run(calls)`` runs a :class:`CallList` (kernel calls, each a function, its parameter table
and a range of its outer loop) on every core, the calling thread included; a
:class:`Plan` runs a whole program's calls, stage after stage, in one native call. Workers
spin a little after their last call (``SPIN_CYCLES``), then sleep on a futex. The pool is
made on first use (its native code compiled or loaded beforehand on a thread of its own when
a program starts compiling: ``start``); a forked child makes its own.
"""
import atexit
import ctypes
import functools
import os
import sys
import threading

import numpy as np

from . import llvm_work_pool as W
from .llvm_jit import single_threaded_blas

SPIN_CYCLES = 200_000   # time stamp counter ticks a worker spins for more work (~50-100 us)
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1   # (the usable ones)
_RUN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
_PLAN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
_STATE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_pool = None
_pending = []   # the thread compiling or loading the pool's module (``start``)
_lock = threading.Lock()


class CallList:
    """Kernel calls run together: rows of (function address, table address, lo, hi)."""

    def __init__(self, rows):
        rows = list(rows)
        if not 0 < len(rows) <= W.MAX_CALLS:
            raise ValueError(f"a call list holds 1 to {W.MAX_CALLS} calls, not {len(rows)}")
        self.array = np.array(rows, np.int64).reshape(len(rows), W.CALL_WORDS)
        self.address, self.count = self.array.ctypes.data, len(rows)


class Plan:
    """A program's calls as stages run in order, in one native call (``run``, a function of
    no arguments, valid while the Plan lives): a stage of one call runs on the calling
    thread, a longer one on the pool. ``stages``: lists of call rows."""

    def __init__(self, stages):
        stages = [list(s) for s in stages]
        if not stages or any(not 0 < len(s) <= W.MAX_CALLS for s in stages):
            raise ValueError(f"a plan has stages of 1 to {W.MAX_CALLS} calls each")
        rows = [row for s in stages for row in s]   # (a stage is published alone: no limit on the total)
        self.calls = np.array(rows, np.int64).reshape(len(rows), W.CALL_WORDS)
        firsts = np.cumsum([0] + [len(s) for s in stages[:-1]])
        self.stages = np.array([(f, len(s)) for f, s in zip(firsts, stages)], np.int64)
        owner = pool()
        self.run = functools.partial(owner.plan, owner.address, self.calls.ctypes.data, self.stages.ctypes.data,
                                     len(stages))


class WorkPool:
    def __init__(self, workers, jit=None):
        """``workers`` threads; ``jit``: the pool's JitModule (``_module()``'s, when not given)."""
        self.state = np.zeros(W.STATE_SIZE, np.int64)
        self.state[W.SPIN_CYCLES] = SPIN_CYCLES
        self.address = address = self.state.ctypes.data
        jit = jit or _module()
        self._keep = jit
        self._run = functools.partial(_RUN(jit.address("graphc_pool_run")), address)
        self.plan = _PLAN(jit.address("graphc_run_plan"))   # (state, calls, stages, count)
        self._stop, worker = _STATE(jit.address("graphc_pool_stop")), _STATE(jit.address("graphc_pool_worker"))
        self.threads = [threading.Thread(target=_work, args=(worker, address), name=f"graphc-worker-{i}", daemon=True)
                        for i in range(workers)]
        for t in self.threads:
            t.start()

    def run(self, calls):
        """Run a CallList on the pool (on the calling thread alone when another run holds it)."""
        self._run(calls.address, calls.count)

    def stop(self, timeout=None):
        """End the workers (they finish what they claimed) and wait for them."""
        self._stop(self.address)
        for t in self.threads:
            t.join(timeout)


def _work(worker, address):
    single_threaded_blas()   # (a kernel calling OpenBLAS here keeps to this thread)
    worker(address)


def start():
    """Begin compiling (or loading) the pool's native code on a thread of its own, so that the
    kernels' IR renders meanwhile; ``pool`` waits for it."""
    from .llvm_compile import host_layout
    from .llvm_jit import Background
    with _lock:
        if _pool is None and not _pending:
            host_layout()   # (what the kernels' modules ask of LLVM, asked before it is busy)
            _pending.append(Background(_module, "graphc-pool-compile"))


def pool():
    """The process's WorkPool, made (its native code loaded, its workers started) on first use."""
    global _pool
    if _pool is None:
        start()
        with _lock:
            if _pool is None:
                (job,) = _pending
                job.join()
                _pool = WorkPool(CORES - 1, job.result)   # (None: it failed there; again here, raising)
                atexit.register(_stop_at_exit, _pool)
    return _pool


def _stop_at_exit(owner):
    """Stop the workers before the interpreter frees the native code they spin in."""
    owner.stop(timeout=1.0)


def run(calls):
    pool().run(calls)


def _forget_in_child():
    global _pool, _pending, _lock
    _pool, _pending, _lock = None, [], threading.Lock()   # (the parent's workers do not exist in a forked child)


os.register_at_fork(after_in_child=_forget_in_child)


def _module():
    """The JitModule of llvm_work_pool's functions (object code from the disk cache when there)."""
    import llvmlite.binding as llvm

    from .llvm_compile import host_layout, new_module
    from .llvm_jit import JitModule, LazyModule, codegen_version

    x86, linux = host_layout()[0].startswith(("x86_64", "i686", "i386")), sys.platform.startswith("linux")

    def render():
        module = new_module("graphc_work_pool")
        W.add_work_pool(module, x86, linux)
        return str(module)

    def register_libc():
        libc = ctypes.CDLL(None)
        for name in W.EXTERNALS:
            llvm.add_symbol(name, ctypes.cast(getattr(libc, name), ctypes.c_void_p).value)
    return JitModule(LazyModule(("graphc_work_pool", codegen_version(), x86, linux), render, unroll=False),
                     before_link=register_libc)
