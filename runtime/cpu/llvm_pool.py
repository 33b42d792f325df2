"""Compiling many LLVM modules at once: in worker processes when that pays.

llvmlite serializes every LLVM call of a process behind one lock, so a program's kernel
modules compile on one core however many threads ask. A program with at least
``POOL_MIN_MODULES`` modules to compile (disk-cache misses) on a machine with more than one
core hands them to worker processes, one per core, started on first use and kept for the
life of the process. A worker is ``llvm_compile.py`` run as a script: it imports llvmlite
only (it starts in about a tenth of a second), never the user's program (multiprocessing's
spawn and forkserver would import the main script again in every worker), and it talks
over its stdin and stdout. Fewer modules, one core, ``GRAPHC_COMPILE_WORKERS=0``, or a
worker that cannot start or dies: the modules compile in this process, as before. The
object code is the same either way (same host, same LLVM, same pipeline).
"""
import atexit
import os
import queue
import subprocess
import sys
import threading

from . import llvm_compile

POOL_MIN_MODULES = 8   # below, the round trips cost more than they save
_workers = []
_busy = {}             # worker -> the lock held while it compiles a job (workers are shared by threads)
_owner = os.getpid()   # the process whose workers those are (a forked child starts its own)
_lock = threading.Lock()
_broken = False


def workers():
    """How many worker processes to use: ``GRAPHC_COMPILE_WORKERS`` (0 turns them off), else
    the number of cores."""
    setting = os.environ.get("GRAPHC_COMPILE_WORKERS", "").strip()
    if setting:
        try:
            return max(0, int(setting))
        except ValueError:
            pass
    return os.cpu_count() or 1


class WorkerError(RuntimeError):
    """A module a worker could not compile (LLVM's message)."""


def compile_modules(jobs, parallel=False):
    """``[llvm_compile.compile_module(*job) for job in jobs]``, in worker processes when it
    pays (see the module docstring), or with ``parallel`` whenever there are two jobs and two
    cores (graphc's GEMM, whose parts are the critical path of a cold start). Calls from
    several threads share the workers, a job at a time each.

    A job is ``(text, unroll, speed)`` or a function returning one (a module whose IR is not
    rendered yet): those are rendered here, in order, while the workers compile the jobs
    handed out before them; ready jobs go first, largest first."""
    count = min(workers(), len(jobs))
    enough = len(jobs) >= (2 if parallel else POOL_MIN_MODULES)
    pool = _start(count) if enough and count >= 2 and not _broken else []
    if not pool:
        return [llvm_compile.compile_module(*_ready(job)) for job in jobs]
    ready = sorted((i for i, job in enumerate(jobs) if not callable(job)), key=lambda i: -len(jobs[i][0]))
    lazy = [i for i, job in enumerate(jobs) if callable(job)]
    rendered = [None if callable(job) else job for job in jobs]
    todo = queue.Queue()
    results, failures = [None] * len(jobs), []

    def serve(worker):
        while True:
            i = todo.get()
            if i is None:   # (all handed out)
                return
            with _busy[worker]:
                try:
                    llvm_compile.write_message(worker.stdin, rendered[i])
                    reply = llvm_compile.read_message(worker.stdout)
                except (OSError, ValueError):   # (ValueError: its pipes closed by another thread's retire)
                    reply = None
                if reply is None:
                    _retire(worker)
            if reply is None:   # the worker died: its job goes to the others or, left over, to us
                todo.put(i)
                return
            status, value = reply
            if status == "ok":
                results[i] = value
            else:
                failures.append(WorkerError(value))

    threads = [threading.Thread(target=serve, args=(w,), daemon=True) for w in pool]
    for t in threads:
        t.start()
    try:
        for i in ready + lazy:
            if rendered[i] is None:
                rendered[i] = jobs[i]()
            todo.put(i)
    finally:
        for _ in threads:
            todo.put(None)
        for t in threads:
            t.join()
    if failures:
        raise failures[0]
    return [r if r is not None else llvm_compile.compile_module(*_ready(job)) for r, job in zip(results, rendered)]


def _ready(job):
    return job() if callable(job) else job


def _start(count):
    """``count`` live workers (started as needed), or fewer if they cannot start."""
    global _broken, _owner
    with _lock:
        if _owner != os.getpid():   # forked: those pipes are the parent's, leave them to it
            _workers.clear()
            _busy.clear()
            _owner = os.getpid()
        for dead in [w for w in _workers if w.poll() is not None]:
            _workers.remove(dead)
            _close_pipes(dead)
        while len(_workers) < count:
            try:
                worker = subprocess.Popen([sys.executable, "-I", llvm_compile.__file__, "--worker"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                _busy[worker] = threading.Lock()
                _workers.append(worker)
            except OSError:
                _broken = True
                break
        return list(_workers[:count])


def _retire(worker):
    with _lock:
        if worker in _workers:
            _workers.remove(worker)
    worker.kill()
    worker.wait()
    _close_pipes(worker)


def _close_pipes(worker):
    for pipe in (worker.stdin, worker.stdout):
        try:
            pipe.close()
        except OSError:   # (a write still buffered for a dead worker)
            pass


@atexit.register
def _stop():
    if _owner != os.getpid():
        return
    for worker in list(_workers):
        try:
            worker.stdin.close()
            worker.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            worker.kill()
        _close_pipes(worker)
