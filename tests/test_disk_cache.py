"""The on-disk cache of JIT object code: hits skip LLVM, bad entries are rebuilt, writers race safely."""
import contextlib
import ctypes
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from llvmlite import ir

import graphc as gc
from conftest import assert_close
from graphc.runtime import disk_cache
from graphc.runtime.cpu.llvm_jit import JitModule, _pack, _unpack, cache_key

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
    monkeypatch.setenv("GRAPHC_PROGRAM_CACHE", "0")   # (kernel entries alone: tests/test_program_cache.py)
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


def _program(second_layer):
    """A program of two kernels: tanh(x @ w) with its bias, then a second layer that differs."""
    gc.reset_default_graph()
    x = gc.placeholder(gc.float32, [5, 8], name="x")
    w = gc.constant(np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8))
    h = gc.tanh(x @ w + 0.5)
    y = gc.sum(second_layer(h), axis=1)
    with gc.Session() as sess:
        value = np.linspace(-3, 3, 40, dtype=np.float32).reshape(5, 8)
        compiled = sess.compile(y, {x: value})
        got = sess.run(y, {x: value})
    a = np.tanh(value @ np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8) + 0.5)
    return compiled._executor.code, got, a


def test_a_changed_program_reuses_every_unchanged_kernel(cache_dir):
    """Each kernel's module has its own entry: a program whose second layer changed compiles
    that kernel alone and takes the other from the cache."""
    first, got, a = _program(lambda h: h * 2.0)
    assert_close(got, np.sum(a * 2, axis=1), np.float32)
    before = set(entries(cache_dir))   # (the process's GEMM module may have an entry too)
    assert first.hits == 0 and len(first.cache_keys) == 2
    assert {k + disk_cache.SUFFIX for k in first.cache_keys} <= before
    second, got, a = _program(lambda h: gc.exp(h))
    assert_close(got, np.sum(np.exp(a), axis=1), np.float32)
    assert second.hits == 1 and not second.from_cache and len(set(entries(cache_dir)) - before) == 1
    assert len(set(first.cache_keys) & set(second.cache_keys)) == 1
    third, _, _ = _program(lambda h: h * 2.0)
    assert third.from_cache and third.hits == 2


def check_graph():
    """Run a real graph (a fused tanh and a row sum) through a fresh gc.Session and check it against numpy."""
    gc.reset_default_graph()
    x = gc.placeholder(gc.float32, [3, 7])
    y = gc.tanh(x) * 2.0 + gc.sum(x * x, axis=1, keepdims=True)
    value = np.linspace(-2, 2, 21, dtype=np.float32).reshape(3, 7)
    with gc.Session() as sess:
        out = sess.run(y, {x: value})
    assert_close(out, np.tanh(value) * 2 + np.sum(value * value, axis=1, keepdims=True), np.float32)


def _header(data, **fields):
    """Good entry ``data`` with some header fields (magic, version, key) replaced; payload and checksum kept."""
    magic, version, length, key, checksum = disk_cache._HEADER.unpack_from(data)
    fields = dict(dict(magic=magic, version=version, key=key), **fields)
    return (disk_cache._HEADER.pack(fields["magic"], fields["version"], length, fields["key"], checksum)
            + data[disk_cache.HEADER_SIZE:])


def _flip_payload_byte(key, data):
    data = bytearray(data)
    data[(disk_cache.HEADER_SIZE + len(data)) // 2] ^= 0xFF
    return bytes(data)


def _real_object(key, data):
    return _unpack(disk_cache.decode(key, data))[0]


# Each turns a good entry (key, bytes) into a bad one. Those from "payload not ours" on pass the
# entry's checksum: only the JIT layer can tell, and LLVM's loader aborts or crashes the process on
# such objects, so those run in a child process, where a regression fails the test, not the run.
BAD_ENTRIES = {
    "checksum": _flip_payload_byte,
    "short header": lambda key, data: data[:disk_cache.HEADER_SIZE - 1],
    "short payload": lambda key, data: data[:-7],
    "long payload": lambda key, data: data + b"\0",
    "newer version": lambda key, data: _header(data, version=disk_cache.FORMAT_VERSION + 1),
    "older version": lambda key, data: _header(data, version=disk_cache.FORMAT_VERSION - 1),
    "wrong magic": lambda key, data: _header(data, magic=b"GRAPHCX\0"),
    "another key": lambda key, data: _header(data, key=hashlib.sha256(b"another").digest()),
    "empty": lambda key, data: b"",
    "payload not ours": lambda key, data: disk_cache.encode(key, b"not a packed object"),
    "object of zeros": lambda key, data: disk_cache.encode(key, _pack(bytes(1024), "")),
    "object of garbage": lambda key, data: disk_cache.encode(key, _pack(bytes(range(256)) * 8, "")),
    "object cut short": lambda key, data: disk_cache.encode(key, _pack(_real_object(key, data)[:400], "")),
}
PASS_CHECKSUM = ("payload not ours", "object of zeros", "object of garbage", "object cut short")

CHECK_IN_CHILD = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import test_disk_cache
    from graphc.runtime import disk_cache
    from graphc.runtime.cpu import work_pool
    work_pool.pool()   # (the process's thread pool: its module is cached apart from the graph's kernels)
    before = dict(disk_cache.stats)
    test_disk_cache.check_graph()
    print(json.dumps({name: disk_cache.stats[name] - before[name] for name in before}))
""")


def check_graph_counting(in_child):
    """``check_graph()`` here or in a new process; how it changed the disk cache's stats."""
    if in_child:
        child = subprocess.run([sys.executable, "-c", CHECK_IN_CHILD, os.path.dirname(__file__)],
                               capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr
        return json.loads(child.stdout.splitlines()[-1])
    before = dict(disk_cache.stats)
    check_graph()
    return {name: disk_cache.stats[name] - before[name] for name in before}


@pytest.mark.parametrize("kind", BAD_ENTRIES)
def test_bad_entry_is_detected_and_rebuilt(cache_dir, kind):
    """Every entry of a graph is spoiled; running the graph again gets the right numbers, counts
    each entry bad, takes nothing from the cache and rewrites every entry whole."""
    check_graph()
    paths = [cache_dir / name for name in entries(cache_dir)]
    assert paths
    good = {path: path.read_bytes() for path in paths}
    for path in paths:
        path.write_bytes(BAD_ENTRIES[kind](path.name[:64], good[path]))
        assert path.read_bytes() != good[path]
    stats = check_graph_counting(in_child=kind in PASS_CHECKSUM)
    assert (stats["bad"], stats["hits"], stats["writes"]) == (len(paths), 0, len(paths))
    assert {path: path.read_bytes() for path in paths} == good
    assert check_graph_counting(in_child=False)["hits"] == len(paths)  # now from the rebuilt entries


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
    from graphc.runtime.cpu.llvm_jit import JitModule
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
    assert sorted(os.listdir(cache_dir)) == sorted([cache_key(text) + disk_cache.SUFFIX, disk_cache.TOTAL_FILE])  # no temp files
    path = cache_dir / (cache_key(text) + disk_cache.SUFFIX)
    assert disk_cache.decode(cache_key(text), path.read_bytes()) is not None
    jit = JitModule(text)
    assert jit.from_cache and call_add(jit) == 3.75


# -- the size cap -------------------------------------------------------------------
ENTRY = disk_cache.HEADER_SIZE + 1000  # the size of an entry with a 1000-byte payload


def cap_keeping(n):
    """A cap that n such entries fit under and that an eviction (down to LOW_WATER of it) leaves n of."""
    cap = math.ceil(n * ENTRY / disk_cache.LOW_WATER)
    assert n * ENTRY <= disk_cache.LOW_WATER * cap < (n + 1) * ENTRY
    return cap


def total_size(directory):
    return sum(os.path.getsize(directory / name) for name in entries(directory))


def store_entries(directory, names):
    """A 1000-byte entry per name, the first the least recently used (mtimes a second apart, in the past,
    so the order does not hang on the clock's resolution); their keys."""
    keys = [disk_cache.make_key(name) for name in names]
    base = time.time_ns() - 3600 * 10**9
    for i, key in enumerate(keys):
        assert disk_cache.store(key, bytes([i % 256]) * 1000)
        os.utime(disk_cache.entry_path(key, str(directory)), ns=(base + i * 10**9,) * 2)
    return keys


@pytest.mark.parametrize("text, limit", [
    ("4096", 4096), (" 7 ", 7), ("200M", 200 << 20), ("1G", 1 << 30), ("1.5g", 3 << 29), ("512MiB", 512 << 20),
    ("64kb", 64 << 10), ("2T", 2 << 40), ("0", None), ("0M", None), ("", disk_cache.DEFAULT_MAX_BYTES)])
def test_cap_from_environment(monkeypatch, text, limit):
    monkeypatch.setenv("GRAPHC_CACHE_MAX", text)
    assert disk_cache.max_bytes() == limit


def test_default_cap(monkeypatch):
    monkeypatch.delenv("GRAPHC_CACHE_MAX", raising=False)
    assert disk_cache.max_bytes() == disk_cache.DEFAULT_MAX_BYTES == 512 << 20


@pytest.mark.parametrize("text", ["lots", "-1", "12Q", "1.2.3", "1e9", "M"])
def test_invalid_cap_warns_once_and_uses_default(cache_dir, monkeypatch, text):
    monkeypatch.setattr(disk_cache, "_warned", set())
    monkeypatch.setenv("GRAPHC_CACHE_MAX", text)
    with pytest.warns(RuntimeWarning, match="GRAPHC_CACHE_MAX"):
        assert disk_cache.max_bytes() == disk_cache.DEFAULT_MAX_BYTES
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert disk_cache.max_bytes() == disk_cache.DEFAULT_MAX_BYTES  # said once is enough
        assert disk_cache.store(disk_cache.make_key("still cached"), b"payload")  # and the cache still works


def test_cap_is_respected_after_many_writes(cache_dir, monkeypatch):
    cap = cap_keeping(9)  # ten entries fit; an eviction leaves nine
    monkeypatch.setenv("GRAPHC_CACHE_MAX", str(cap))
    evicted, counts = disk_cache.stats["evicted"], []
    for i in range(60):
        key = disk_cache.make_key(f"entry {i}")
        assert disk_cache.store(key, bytes([i]) * 1000)
        assert total_size(cache_dir) <= cap
        assert key + disk_cache.SUFFIX in entries(cache_dir)  # the newest is never the one to go
        counts.append(len(entries(cache_dir)))
    assert counts[:10] == list(range(1, 11)) and set(counts[10:]) == {9, 10}
    assert disk_cache.stats["evicted"] == evicted + 60 - counts[-1]


def test_a_hit_keeps_its_entry_through_eviction_of_older_ones(cache_dir, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_MAX", "0")  # no cap while filling
    keys = store_entries(cache_dir, [f"lru {i}" for i in range(5)])
    assert disk_cache.load(keys[0]) == bytes([0]) * 1000  # the oldest, used: now the most recent
    monkeypatch.setenv("GRAPHC_CACHE_MAX", str(cap_keeping(3)))
    new = disk_cache.make_key("lru new")
    assert disk_cache.store(new, b"n" * 1000)  # six entries for a cap of three: the three oldest go
    assert entries(cache_dir) == sorted(k + disk_cache.SUFFIX for k in (keys[0], keys[4], new))


def test_a_cap_below_one_entry_keeps_nothing_and_graphs_still_run(cache_dir, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_MAX", "1")
    check_graph()
    check_graph()
    assert cache_dir.exists() and entries(cache_dir) == []


def test_eviction_survives_files_vanishing_underneath(cache_dir, monkeypatch):
    """Another process evicting at once: entries disappear between the listing and their stat, and
    between the decision to remove them and the unlink. Nothing raises and the cap still holds."""
    monkeypatch.setenv("GRAPHC_CACHE_MAX", "0")
    keys = store_entries(cache_dir, [f"race {i}" for i in range(8)])
    gone_early = {keys[1] + disk_cache.SUFFIX, keys[6] + disk_cache.SUFFIX}
    real_scandir, real_unlink = os.scandir, os.unlink

    def scandir_then_others_delete(path):
        listing = list(real_scandir(path))
        for item in listing:
            if item.name in gone_early:
                real_unlink(item.path)
        return contextlib.nullcontext(iter(listing))

    def unlink_just_after_another_process(path):
        real_unlink(path)
        real_unlink(path)  # FileNotFoundError, as when the other process got there first

    with monkeypatch.context() as patch:
        patch.setattr(os, "scandir", scandir_then_others_delete)
        patch.setattr(os, "unlink", unlink_just_after_another_process)
        assert disk_cache.evict(str(cache_dir), cap_keeping(3)) == 3
    assert entries(cache_dir) == sorted(k + disk_cache.SUFFIX for k in (keys[5], keys[7], keys[4]))


EVICT_WORKER = textwrap.dedent("""
    import importlib.util, os, sys, time
    spec = importlib.util.spec_from_file_location("disk_cache", sys.argv[1])
    disk_cache = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(disk_cache)
    directory, go, limit = sys.argv[2], sys.argv[3], int(sys.argv[4])
    while not os.path.exists(go):
        time.sleep(0.001)
    print(disk_cache.evict(directory, limit))
""")


def test_two_processes_evicting_at_once(cache_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHC_CACHE_MAX", "0")
    keys = store_entries(cache_dir, [f"two {i}" for i in range(400)])
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", EVICT_WORKER, disk_cache.__file__, str(cache_dir), str(go),
                               str(cap_keeping(100))], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    time.sleep(0.3)
    go.touch()
    removed = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        removed.append(int(out))
    # Each removes the oldest it sees, so together they remove what one would: the 300 oldest.
    assert entries(cache_dir) == sorted(k + disk_cache.SUFFIX for k in keys[-100:])
    assert 300 <= sum(removed) and max(removed) <= 300


def test_eviction_removes_stale_temporary_files_only(cache_dir, monkeypatch):
    """A temporary file older than TEMP_MAX_AGE (its writer died) goes; a young one (a writer at
    work) stays and does not count against the cap; files the cache did not name are never touched."""
    monkeypatch.setenv("GRAPHC_CACHE_MAX", "0")
    (key,) = store_entries(cache_dir, ["kept"])
    other = disk_cache.make_key("in flight")
    stale = cache_dir / f".{other}.123.deadbeef.tmp"
    young = cache_dir / f".{other}.124.cafef00d.tmp"
    foreign = [cache_dir / "notes.txt", cache_dir / ("f" * 64 + ".gcobj.bak"), cache_dir / ".x.tmp"]
    old = time.time() - disk_cache.TEMP_MAX_AGE - 60
    for path in [stale, young, *foreign]:
        path.write_bytes(b"t" * 50_000)
        if path is not young:
            os.utime(path, (old, old))
    assert disk_cache.evict(str(cache_dir), ENTRY) == 0
    assert not stale.exists() and young.exists() and all(p.exists() for p in foreign)
    assert entries(cache_dir) == [key + disk_cache.SUFFIX]


@pytest.fixture
def listings(monkeypatch):
    """The directories ``os.scandir`` lists from now on (the cache's listings)."""
    listed, real_scandir = [], os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(path) or real_scandir(path))
    return listed


def test_writes_under_the_cap_list_the_directory_once(cache_dir, monkeypatch, listings):
    """A process lists the directory on its first write, then only when its estimate passes the cap."""
    monkeypatch.setenv("GRAPHC_CACHE_MAX", str(20 * ENTRY))
    for i in range(20):
        assert disk_cache.store(disk_cache.make_key(f"quiet {i}"), b"q" * 1000)
    assert len(listings) == 1
    assert disk_cache.store(disk_cache.make_key("one too many"), b"q" * 1000)
    assert len(listings) == 2 and len(entries(cache_dir)) == 18  # down to LOW_WATER of the cap


def test_a_processs_first_write_starts_from_the_recorded_count(cache_dir, monkeypatch, listings):
    """The first write of a process reads the count the last listing left (plus the writes
    counted since) instead of listing the directory, unless that listing is older than
    RECOUNT_AGE; the count follows the writes and a clear removes it."""
    monkeypatch.setenv("GRAPHC_CACHE_MAX", str(20 * ENTRY))
    for i in range(3):
        assert disk_cache.store(disk_cache.make_key(f"counted {i}"), b"c" * 1000)
    assert len(listings) == 1
    recorded = (cache_dir / disk_cache.TOTAL_FILE).read_text().split()
    assert int(recorded[0]) == total_size(cache_dir) == 3 * ENTRY
    disk_cache._totals.clear()   # (as a new process)
    assert disk_cache.store(disk_cache.make_key("counted 3"), b"c" * 1000)
    assert len(listings) == 1 and int((cache_dir / disk_cache.TOTAL_FILE).read_text().split()[0]) == 4 * ENTRY
    old = time.time() - disk_cache.RECOUNT_AGE - 1
    (cache_dir / disk_cache.TOTAL_FILE).write_text(f"{4 * ENTRY} {old!r}")
    disk_cache._totals.clear()
    assert disk_cache.store(disk_cache.make_key("counted 4"), b"c" * 1000)
    assert len(listings) == 2   # (the count was old: listed again)
    for garbage in ("", "12", "x y", f"-5 {time.time()!r}"):
        (cache_dir / disk_cache.TOTAL_FILE).write_text(garbage)
        disk_cache._totals.clear()
        assert disk_cache.store(disk_cache.make_key(f"after {garbage!r}"), b"c" * 1000)
    assert len(listings) == 6 and int((cache_dir / disk_cache.TOTAL_FILE).read_text().split()[0]) == total_size(cache_dir)
    disk_cache.clear(str(cache_dir))
    assert os.listdir(cache_dir) == []


def test_a_hit_renders_no_ir_and_a_changed_generator_misses(cache_dir, monkeypatch):
    """A kernel module's key is its structure and the code generator's version: on a hit no
    LLVM IR is built (until a dump asks for it); another generator version compiles anew."""
    from graphc.runtime.cpu import llvm_codegen, llvm_jit, native
    first, _, _ = _program(lambda h: h * 3.0)
    built = []
    real_build = llvm_codegen.KernelBuilder.build
    monkeypatch.setattr(native.KernelBuilder, "build", lambda self: built.append(1) or real_build(self))
    second, got, a = _program(lambda h: h * 3.0)
    assert second.from_cache and built == []
    assert_close(got, np.sum(a * 3, axis=1), np.float32)
    assert re.search(r"define void @\"?k_", second.source) and len(built) == 2   # rendered for the dump only
    monkeypatch.setattr(llvm_jit, "codegen_version", lambda: "another generator")
    monkeypatch.setattr(native, "codegen_version", lambda: "another generator")
    third, _, _ = _program(lambda h: h * 3.0)
    assert third.hits == 0 and set(third.cache_keys).isdisjoint(first.cache_keys)
