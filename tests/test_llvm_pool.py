"""Compile workers: the same object code as compiling here, errors raised, a dead worker
survived, the user's script never run again by a worker, and the pool off when asked."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import assert_close
from graphc.runtime.cpu import llvm_compile, llvm_pool


def _modules(n):
    """n distinct small modules: double f_i(double x) = x * i + 0.5, in a vectorizable loop."""
    texts = []
    for i in range(n):
        texts.append(textwrap.dedent(f"""
            define void @f{i}(ptr noalias %a, i64 %n) {{
            entry:
              br label %loop
            loop:
              %j = phi i64 [0, %entry], [%j1, %loop]
              %p = getelementptr double, ptr %a, i64 %j
              %x = load double, ptr %p
              %y = fmul double %x, {float(i)}
              %z = fadd double %y, 0.5
              store double %z, ptr %p
              %j1 = add i64 %j, 1
              %c = icmp slt i64 %j1, %n
              br i1 %c, label %loop, label %exit
            exit:
              ret void
            }}"""))
    return [(t, i % 2 == 0) for i, t in enumerate(texts)]


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setenv("GRAPHC_COMPILE_WORKERS", "2")


def test_workers_give_the_same_object_code(two_workers):
    jobs = _modules(llvm_pool.POOL_MIN_MODULES + 3)
    here = [llvm_compile.compile_module(*job) for job in jobs]
    assert llvm_pool.compile_modules(jobs) == here
    assert len([w for w in llvm_pool._workers if w.poll() is None]) == 2


def test_a_bad_module_raises_the_verifier_message(two_workers):
    jobs = _modules(llvm_pool.POOL_MIN_MODULES)
    jobs[3] = ("define void @g() {\n  ret i32 0\n}\n", True)
    with pytest.raises((llvm_pool.WorkerError, RuntimeError), match="ret|type|error"):
        llvm_pool.compile_modules(jobs)


def test_a_dead_worker_is_replaced_and_its_jobs_done(two_workers):
    jobs = _modules(llvm_pool.POOL_MIN_MODULES + 1)
    llvm_pool.compile_modules(jobs)
    for worker in list(llvm_pool._workers):
        worker.kill()
        worker.wait()
    assert llvm_pool.compile_modules(jobs) == [llvm_compile.compile_module(*job) for job in jobs]


def test_off_or_few_modules_compile_here(monkeypatch):
    monkeypatch.setenv("GRAPHC_COMPILE_WORKERS", "0")
    started = list(llvm_pool._workers)
    jobs = _modules(llvm_pool.POOL_MIN_MODULES + 2)
    assert llvm_pool.compile_modules(jobs) == [llvm_compile.compile_module(*job) for job in jobs]
    monkeypatch.setenv("GRAPHC_COMPILE_WORKERS", "2")
    llvm_pool.compile_modules(jobs[:llvm_pool.POOL_MIN_MODULES - 1])
    assert llvm_pool._workers == started


def test_parallel_asks_for_workers_for_two_jobs_and_threads_share_them(two_workers, monkeypatch):
    """``parallel`` (graphc's GEMM parts) uses the workers for as few as two jobs, and calls
    from several threads at once (the GEMM beside a program's kernels) each get their own
    results."""
    import threading
    jobs = [(text, unroll, 2) for text, unroll in _modules(12)]
    want = [llvm_compile.compile_module(*job) for job in jobs]
    started = []
    real_start = llvm_pool._start
    monkeypatch.setattr(llvm_pool, "_start", lambda count: started.append(count) or real_start(count))
    assert llvm_pool.compile_modules(jobs[:2], parallel=True) == want[:2]
    assert started == [2]
    got = {}
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, llvm_pool.compile_modules(
        jobs[4 * i:4 * i + 4], parallel=True))) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [obj for i in range(3) for obj in got[i]] == want


def test_lazy_jobs_are_rendered_while_workers_compile_and_a_failed_render_raises(two_workers):
    """Jobs given as functions (modules not rendered yet) are rendered in order and compiled
    to the same code as ready ones; a renderer that raises reaches the caller, and the
    workers serve the next call."""
    jobs = _modules(llvm_pool.POOL_MIN_MODULES + 2)
    want = [llvm_compile.compile_module(*job) for job in jobs]
    rendered = []

    def lazy(i):
        def render():
            rendered.append(i)
            return jobs[i]
        return render
    mixed = [lazy(i) if i % 3 else jobs[i] for i in range(len(jobs))]
    assert llvm_pool.compile_modules(mixed) == want
    assert rendered == [i for i in range(len(jobs)) if i % 3]

    def broken():
        raise RuntimeError("render failed")
    with pytest.raises(RuntimeError, match="render failed"):
        llvm_pool.compile_modules(jobs[:-1] + [broken])
    assert llvm_pool.compile_modules(jobs) == want


SCRIPT = textwrap.dedent("""
    import numpy as np
    import graphc as gc
    print("the script ran", flush=True)
    x = gc.placeholder(gc.float32, (4, 8), name="x")
    h = x
    for i in range(12):   # twelve distinct kernels: the workers compile them
        h = gc.tanh(h * float(i + 1)) + gc.sum(h, axis=1, keepdims=True) * float(i)
    value = float(gc.Session().run(gc.sum(h), {x: np.ones((4, 8), np.float32)}))
    from graphc.runtime.cpu import llvm_pool
    print(len(llvm_pool._workers), "workers")
    print(value)
""")


def test_workers_never_run_the_users_script_again(tmp_path):
    """A script without a main guard runs once (multiprocessing's spawn would import it
    again in every worker), and the program it compiles in workers gives numpy's number."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "GRAPHC_COMPILE_WORKERS": "2", "GRAPHC_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("the script ran") == 1 and "2 workers" in out.stdout
    h = np.ones((4, 8))
    for i in range(12):
        h = np.tanh(h * (i + 1)) + h.sum(axis=1, keepdims=True) * i
    assert_close(np.float32(float(out.stdout.splitlines()[-1])), np.float32(h.sum()), np.float32)


def test_a_forked_child_starts_workers_of_its_own(two_workers):
    """A child forked after the parent started workers must not talk over the parent's pipes."""
    jobs = _modules(llvm_pool.POOL_MIN_MODULES)
    want = [llvm_compile.compile_module(*job) for job in jobs]
    assert llvm_pool.compile_modules(jobs) == want
    parents = list(llvm_pool._workers)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: compile, report, leave without running the parent's atexit hooks
        ok = llvm_pool.compile_modules(jobs) == want and not set(llvm_pool._workers) & set(parents)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert all(w.poll() is None for w in parents) and llvm_pool.compile_modules(jobs) == want
