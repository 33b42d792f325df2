"""The on-disk cache of JIT object code: hits skip LLVM, bad entries are rebuilt, writers race safely."""
import ctypes
import math
import os
import subprocess
import sys
import textwrap
import time

import pytest
from llvmlite import ir

from graphc.runtime import disk_cache
from graphc.runtime.llvm_jit import JitModule, cache_key

ADD_FN = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_double)


def add_module_ir(name="add"):
    """A module with ``double name(double a, double b)`` returning a + b + 0.5."""
    module = ir.Module(name="cache_test")
    d = ir.DoubleType()
    fn = ir.Function(module, ir.FunctionType(d, [d, d]), name=name)
    b = ir.IRBuilder(fn.append_basic_block())
    b.ret(b.fadd(b.fadd(*fn.args), ir.Constant(d, 0.5)))
    return str(module)


def call_add(jit, name="add"):
    address = jit.address(name)
    assert address
    return ADD_FN(address)(1.25, 2.0)


def entries(directory):
    return sorted(p for p in os.listdir(directory) if p.endswith(disk_cache.SUFFIX))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(directory))
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    return directory


def test_miss_writes_entry_and_second_module_hits(cache_dir):
    text = add_module_ir()
    first = JitModule(text)
    assert not first.from_cache
    assert call_add(first) == 3.75
    assert entries(cache_dir) == [cache_key(text) + disk_cache.SUFFIX]
    second = JitModule(text)
    assert second.from_cache
    assert second.cache_key == first.cache_key
    assert call_add(second) == 3.75
    assert second.optimized == first.optimized and "fadd" in second.optimized
    assert second.source == text


def test_key_depends_on_ir_text(cache_dir):
    a, b = JitModule(add_module_ir("add")), JitModule(add_module_ir("plus"))
    assert a.cache_key != b.cache_key and not b.from_cache
    assert len(entries(cache_dir)) == 2
    assert call_add(b, "plus") == 3.75


def test_hit_links_external_symbols_and_data(cache_dir):
    """Cached object code still resolves calls into libm (llvm.exp -> exp) and reads its own globals."""
    module = ir.Module(name="cache_test_ext")
    d, i64 = ir.DoubleType(), ir.IntType(64)
    table = ir.GlobalVariable(module, ir.ArrayType(d, 4), name="table")
    table.global_constant = True
    table.initializer = ir.Constant(ir.ArrayType(d, 4), [1.0, 2.0, 3.0, 4.0])
    exp = module.declare_intrinsic("llvm.exp", [d])
    fn = ir.Function(module, ir.FunctionType(d, [d, d]), name="f")
    entry, loop, done = fn.append_basic_block(), fn.append_basic_block(), fn.append_basic_block()
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(i64)
    acc = b.phi(d)
    term = b.fmul(b.call(exp, [b.fmul(fn.args[0], b.uitofp(i, d))]),
                  b.load(b.gep(table, [ir.Constant(i64, 0), i])))
    acc_next, i_next = b.fadd(acc, term), b.add(i, ir.Constant(i64, 1))
    i.add_incoming(ir.Constant(i64, 0), entry)
    i.add_incoming(i_next, loop)
    acc.add_incoming(fn.args[1], entry)
    acc.add_incoming(acc_next, loop)
    b.cbranch(b.icmp_unsigned("<", i_next, ir.Constant(i64, 4)), loop, done)
    b.position_at_end(done)
    b.ret(acc_next)
    text = str(module)
    expected = 0.5 + sum(math.exp(0.3 * k) * (k + 1) for k in range(4))
    miss, hit = JitModule(text), JitModule(text)
    assert not miss.from_cache and hit.from_cache
    for jit in (miss, hit):
        assert ADD_FN(jit.address("f"))(0.3, 0.5) == pytest.approx(expected, rel=1e-14)


def _corrupt_flip(path):
    data = bytearray(path.read_bytes())
    for i in (len(data) // 2, len(data) - 1):  # payload bytes
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _corrupt_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])


def _corrupt_header(path):
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF  # magic
    path.write_bytes(bytes(data))


def _corrupt_tiny(path):
    path.write_bytes(path.read_bytes()[:5])


@pytest.mark.parametrize("corrupt", [_corrupt_flip, _corrupt_truncate, _corrupt_header, _corrupt_tiny])
def test_bad_entry_is_detected_and_rebuilt(cache_dir, corrupt):
    text = add_module_ir()
    JitModule(text)
    path = cache_dir / (cache_key(text) + disk_cache.SUFFIX)
    good = path.read_bytes()
    corrupt(path)
    bad_before = disk_cache.stats["bad"]
    rebuilt = JitModule(text)
    assert not rebuilt.from_cache
    assert disk_cache.stats["bad"] == bad_before + 1
    assert call_add(rebuilt) == 3.75
    assert path.read_bytes() == good  # rewritten whole
    again = JitModule(text)
    assert again.from_cache and call_add(again) == 3.75


def test_entry_under_another_key_is_rejected(cache_dir):
    a, b = add_module_ir("add"), add_module_ir("plus")
    JitModule(a)
    os.replace(cache_dir / (cache_key(a) + disk_cache.SUFFIX), cache_dir / (cache_key(b) + disk_cache.SUFFIX))
    jit = JitModule(b)
    assert not jit.from_cache and call_add(jit, "plus") == 3.75


def test_cache_off_writes_nothing(cache_dir, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    text = add_module_ir()
    first, second = JitModule(text), JitModule(text)
    assert not first.from_cache and not second.from_cache and first.cache_key is None
    assert call_add(second) == 3.75 and first.optimized
    assert not cache_dir.exists()


def test_cache_false_argument_skips_cache(cache_dir):
    jit = JitModule(add_module_ir(), cache=False)
    assert call_add(jit) == 3.75 and not cache_dir.exists()


def test_default_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("GRAPHC_CACHE_DIR", raising=False)
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert disk_cache.cache_dir() == os.path.join(str(tmp_path), "graphc")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert disk_cache.cache_dir() == os.path.join(str(tmp_path), "home", ".cache", "graphc")
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    assert disk_cache.cache_dir() is None


def test_unusable_directory_does_not_break_compilation(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    errors = disk_cache.stats["write_errors"]
    jit = JitModule(add_module_ir())
    assert call_add(jit) == 3.75 and not jit.from_cache
    assert disk_cache.stats["write_errors"] == errors + 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_directory_does_not_break_compilation(cache_dir):
    cache_dir.mkdir()
    cache_dir.chmod(0o500)
    try:
        jit = JitModule(add_module_ir())
        assert call_add(jit) == 3.75 and entries(cache_dir) == []
    finally:
        cache_dir.chmod(0o700)


WORKER = textwrap.dedent("""
    import ctypes, os, sys, time
    from graphc.runtime.llvm_jit import JitModule
    source, ready, go = sys.argv[1:4]
    text = open(source).read()
    open(ready, "w").close()
    while not os.path.exists(go):  # start compiling together
        time.sleep(0.001)
    jit = JitModule(text)
    fn = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_double)(jit.address("add"))
    print(fn(1.25, 2.0), jit.from_cache)
""")


def test_two_processes_fill_same_key(cache_dir, tmp_path):
    # A module big enough (~0.1 s to compile) that the two compilations overlap.
    module = ir.Module(name="race")
    d = ir.DoubleType()
    for k in range(40):
        fn = ir.Function(module, ir.FunctionType(d, [d, d]), name="add" if k == 0 else f"f{k}")
        b = ir.IRBuilder(fn.append_basic_block())
        x = b.fadd(*fn.args)
        for j in range(k):
            x = b.fadd(b.fmul(x, ir.Constant(d, 1.0)), ir.Constant(d, 0.0))
        b.ret(b.fadd(x, ir.Constant(d, 0.5)))
    text = str(module)
    source = tmp_path / "module.ll"
    source.write_text(text)
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    go = tmp_path / "go"
    readies = [tmp_path / f"ready{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, str(worker), str(source), str(ready), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for ready in readies]
    deadline = time.time() + 30
    while not all(r.exists() for r in readies) and time.time() < deadline and all(p.poll() is None for p in procs):
        time.sleep(0.002)
    go.touch()
    results = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert out.split()[0] == "3.75"
    assert sorted(os.listdir(cache_dir)) == [cache_key(text) + disk_cache.SUFFIX]  # no temp files left
    path = cache_dir / (cache_key(text) + disk_cache.SUFFIX)
    assert disk_cache.decode(cache_key(text), path.read_bytes()) is not None
    jit = JitModule(text)
    assert jit.from_cache and call_add(jit) == 3.75
