"""graphc's own float32 GEMM (runtime.cpu.llvm_gemm): exact on small-integer data over many shapes,
both transposes, edges and strides, directly and through graphc (matmul, transposed operands,
batched products, epilogues, products split across threads). On a host without AVX-512F the
products go to OpenBLAS and the graph tests still hold."""
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cpu import llvm_gemm
from graphc.runtime.cpu.native import CORES

RNG = np.random.default_rng(5)
SGEMM = llvm_gemm.sgemm_function()
needs_sgemm = pytest.mark.skipif(SGEMM is None, reason="host without AVX-512F: OpenBLAS")


def ints(shape, dtype=np.float32, rng=RNG):
    """Small integers: every product and sum below is exact in float32."""
    return rng.integers(-3, 4, shape).astype(dtype)


def exact(a, b):
    return (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32)


def sgemm(ta, tb, a, b, m, n, k, c, lda=None, ldb=None, ldc=None):
    SGEMM(int(ta), int(tb), m, n, k, a.ctypes.data, lda or a.shape[1], b.ctypes.data, ldb or b.shape[1],
          c.ctypes.data, ldc or c.shape[1])


EDGES = [(1, 1, 1), (1, 1000, 1), (1000, 1, 3), (7, 17, 1), (6, 64, 384), (6, 64, 385), (5, 16, 17),
         (5, 17, 17), (8, 16, 16), (13, 65, 769), (97, 130, 1025), (300, 300, 300), (129, 10, 784),
         (128, 1024, 20), (2, 3, 4000)]
RANDOM = [tuple(int(x) for x in RNG.integers(1, 301, 3)) for _ in range(60)]
RANDOM += [tuple(int(x) for x in RNG.integers(1, 40, 3)) for _ in range(60)]


@needs_sgemm
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_sgemm_exact_on_many_shapes(trans_a, trans_b):
    for m, n, k in EDGES + RANDOM:
        a = ints((k, m) if trans_a else (m, k))
        b = ints((n, k) if trans_b else (k, n))
        c = np.full((m, n), np.nan, np.float32)
        sgemm(trans_a, trans_b, a, b, m, n, k, c)
        expected = exact(a.T if trans_a else a, b.T if trans_b else b)
        np.testing.assert_array_equal(c, expected, err_msg=f"m={m} n={n} k={k}")


def prepacked(b, rows, garbage=np.nan):
    """``b`` (k x n) in the prepacked layout of ``llvm_gemm.prepacked_index`` (64-byte aligned):
    ``rows`` >= k rows, those past k zeros, the last panel's columns past n ``garbage`` (any
    value: the GEMM computes those columns and must not store them)."""
    k, n = b.shape
    panels = -(-n // llvm_gemm.PANEL)
    size = panels * rows * llvm_gemm.PANEL
    raw = np.empty(size + 16, np.float32)                  # 64-byte aligned, as the GEMM requires
    start = (-raw.ctypes.data % 64) // 4
    out = raw[start:start + size].reshape(panels, rows, llvm_gemm.PANEL)
    out[...] = garbage
    out[:, k:] = 0.0
    p, j = np.meshgrid(np.arange(k), np.arange(n), indexing="ij")
    out.reshape(-1)[llvm_gemm.prepacked_index(p, j, rows)] = b
    return out


def prepacked_a(a, rows, garbage=np.nan):
    """``a`` (m x k) in the layout of ``llvm_gemm.prepacked_a_index``: ``rows`` >= k rows, those
    past k zeros, the last panel's rows past m ``garbage`` (never stored)."""
    m, k = a.shape
    out = np.full((-(-m // llvm_gemm.MR), rows, llvm_gemm.MR), garbage, np.float32)
    out[:, k:] = 0.0
    i, p = np.meshgrid(np.arange(m), np.arange(k), indexing="ij")
    out.reshape(-1)[llvm_gemm.prepacked_a_index(i, p, rows)] = a
    return out


@needs_sgemm
@pytest.mark.parametrize("packed_b", [False, True])
def test_sgemm_reads_a_prepacked_a_in_place(packed_b):
    """Every k blocking, m across several A blocks with a partial last panel, one row
    (which must not take the one-row path), with B plain or prepacked too."""
    for m, n, k in EDGES + RANDOM[1::3] + [(64, 512, 576), (1, 64, 7), (97, 17, 385), (13, 1, 5)]:
        a, b = ints((m, k)), ints((k, n))
        rows = -(-k // llvm_gemm.KU) * llvm_gemm.KU
        pa = prepacked_a(a, rows)
        bm, ldb = (prepacked(b, rows), rows) if packed_b else (b, n)
        c = np.full((m, n + 3), np.nan, np.float32)
        SGEMM(llvm_gemm.PREPACKED_A, llvm_gemm.PREPACKED_B if packed_b else 0, m, n, k, pa.ctypes.data, rows,
              bm.ctypes.data, ldb, c.ctypes.data, n + 3)
        np.testing.assert_array_equal(c[:, :n], exact(a, b), err_msg=f"m={m} n={n} k={k}")
        assert np.isnan(c[:, n:]).all()


@needs_sgemm
@pytest.mark.parametrize("trans_a", [False, True])
def test_sgemm_reads_a_prepacked_b_in_place(trans_a):
    """Every k blocking (k past the block size, k not a multiple of the unroll) and n from
    one column to several panels, the narrow widths included (they go to the wide tile)."""
    for m, n, k in EDGES + RANDOM[::3] + [(64, 1024, 576), (5, 64, 769), (7, 65, 1), (3, 16, 9)]:
        a = ints((k, m) if trans_a else (m, k))
        b = ints((k, n))
        rows = -(-k // llvm_gemm.KU) * llvm_gemm.KU
        packed = prepacked(b, rows)
        c = np.full((m, n + 3), np.nan, np.float32)
        SGEMM(int(trans_a), llvm_gemm.PREPACKED_B, m, n, k, a.ctypes.data, a.shape[1], packed.ctypes.data, rows,
              c.ctypes.data, n + 3)
        np.testing.assert_array_equal(c[:, :n], exact(a.T if trans_a else a, b), err_msg=f"m={m} n={n} k={k}")
        assert np.isnan(c[:, n:]).all()   # nothing written past n


@needs_sgemm
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_sgemm_update_adds_the_scaled_product(trans_a, trans_b):
    """graphc_sgemm_update: C += alpha * op(A) @ op(B) (an SGD step written in place)."""
    update = llvm_gemm.sgemm_update_function()
    for m, n, k in EDGES + RANDOM[::3] + [(1, 50, 30), (4, 5, 0)]:
        a = ints((k, m) if trans_a else (m, k))
        b = ints((n, k) if trans_b else (k, n))
        c = ints((m, n))
        expected = c - 0.25 * exact(a.T if trans_a else a, b.T if trans_b else b)   # exact: multiples of 1/4
        update(int(trans_a), int(trans_b), m, n, k, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1],
               c.ctypes.data, n, -0.25)
        np.testing.assert_array_equal(c, expected, err_msg=f"m={m} n={n} k={k}")


@needs_sgemm
def test_sgemm_leading_dimensions():
    """Operands inside larger arrays, C rows longer than n: only C[:, :n] is written."""
    for _ in range(30):
        m, n, k = (int(x) for x in RNG.integers(1, 150, 3))
        ta, tb = (bool(x) for x in RNG.integers(0, 2, 2))
        abig, bbig = ints((200, 210)), ints((190, 220))
        a = abig[:k, :m] if ta else abig[:m, :k]
        b = bbig[:n, :k] if tb else bbig[:k, :n]
        c = np.full((m, n + 9), np.nan, np.float32)
        sgemm(ta, tb, a, b, m, n, k, c, lda=210, ldb=220, ldc=n + 9)
        np.testing.assert_array_equal(c[:, :n], exact(a.T if ta else a, b.T if tb else b))
        assert np.isnan(c[:, n:]).all()


@needs_sgemm
def test_sgemm_empty_sum_and_empty_products():
    a, b = ints((5, 3)), ints((3, 4))
    c = np.full((5, 4), np.nan, np.float32)
    sgemm(False, False, a, b, 5, 4, 0, c)         # k = 0: C = 0
    np.testing.assert_array_equal(c, np.zeros((5, 4), np.float32))
    c[:] = np.nan
    sgemm(False, False, a, b, 0, 4, 3, c)         # m = 0 or n = 0: nothing written
    sgemm(False, False, a, b, 5, 0, 3, c)
    assert np.isnan(c).all()


@needs_sgemm
def test_sgemm_rounding_like_float32():
    """Random data: within float32 accumulation error of the float64 product."""
    for m, n, k in [(256, 1024, 784), (37, 101, 1000), (300, 12, 513)]:
        a = RNG.standard_normal((m, k), dtype=np.float32)
        b = RNG.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        sgemm(False, False, a, b, m, n, k, c)
        err = np.abs(c - a.astype(np.float64) @ b.astype(np.float64)).max()
        assert err <= 1e-6 * k * np.abs(a).max() * np.abs(b).max()


# -- through graphc ---------------------------------------------------------------------
def run_cpu(y, feed):
    with gc.Session() as sess:
        compiled = sess.compile(y, feed)
        return sess.run(y, feed), compiled


def uses_own_gemm(compiled):
    return "graphc_sgemm" in (compiled.llvm_ir() or "")


GRAPH_SHAPES = [(1, 1, 1), (3, 5, 7), (6, 64, 385), (17, 33, 65), (64, 10, 300), (130, 70, 1),
                (300, 500, 700), (257, 1024, 100)]      # the last two are split across threads


@pytest.mark.parametrize("m,n,k", GRAPH_SHAPES)
@pytest.mark.parametrize("form", ["a@b", "a.T@b", "a@b.T", "a.T@b.T"])
def test_matmul_exact_through_graphc(m, n, k, form):
    ta, tb = form.startswith("a.T"), form.endswith("b.T")
    a = ints((k, m) if ta else (m, k))
    b = ints((n, k) if tb else (k, n))
    pa, pb = gc.placeholder(gc.float32, a.shape, name="a"), gc.placeholder(gc.float32, b.shape, name="b")
    y = (pa.T if ta else pa) @ (pb.T if tb else pb)
    got, compiled = run_cpu(y, {pa: a, pb: b})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, exact(a.T if ta else a, b.T if tb else b))
    assert uses_own_gemm(compiled) == (SGEMM is not None)


def test_batched_matmul_and_epilogue_exact():
    a, b = ints((3, 2, 37, 70)), ints((2, 70, 45))
    bias = ints((45,))
    pa, pb = gc.placeholder(gc.float32, a.shape, name="a"), gc.placeholder(gc.float32, b.shape, name="b")
    pbias = gc.placeholder(gc.float32, bias.shape, name="bias")
    y = gc.relu(pa @ pb + pbias) * 2.0
    got, compiled = run_cpu(y, {pa: a, pb: b, pbias: bias})
    expected = np.maximum(np.matmul(a.astype(np.int64), b.astype(np.int64)) + bias, 0) * 2
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    assert uses_own_gemm(compiled) == (SGEMM is not None)


def test_batched_transposed_operand_exact():
    a, b = ints((4, 19, 33)), ints((4, 21, 33))
    pa, pb = gc.placeholder(gc.float32, a.shape, name="a"), gc.placeholder(gc.float32, b.shape, name="b")
    y = pa @ gc.transpose(pb, (0, 2, 1))
    got, _ = run_cpu(y, {pa: a, pb: b})
    expected = np.matmul(a.astype(np.int64), np.swapaxes(b, 1, 2).astype(np.int64))
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_mlp_layer_forward_and_backward_shapes_exact():
    """The training benchmark's products (x@W, x.T@dy, dy@W.T) on small-integer data."""
    x, w, dy = ints((256, 784)), ints((784, 96)), ints((256, 96))
    px, pw, pdy = (gc.placeholder(gc.float32, v.shape, name=nm) for v, nm in ((x, "x"), (w, "w"), (dy, "dy")))
    with gc.Session() as sess:
        h, dw, dx = sess.run([px @ pw, px.T @ pdy, pdy @ pw.T], {px: x, pw: w, pdy: dy})
    np.testing.assert_array_equal(h, exact(x, w))
    np.testing.assert_array_equal(dw, exact(x.T, dy))
    np.testing.assert_array_equal(dx, exact(dy, w.T))


def test_float64_products_keep_openblas():
    a, b = ints((20, 30), np.float64), ints((30, 40), np.float64)
    pa, pb = gc.placeholder(gc.float64, a.shape, name="a"), gc.placeholder(gc.float64, b.shape, name="b")
    got, compiled = run_cpu(pa @ pb, {pa: a, pb: b})
    np.testing.assert_array_equal(got, a @ b)
    assert "graphc_sgemm" not in compiled.llvm_ir()


def test_without_avx512_the_products_go_to_openblas(monkeypatch):
    """The path of hosts without AVX-512F: the same graphs, OpenBLAS calls, the same results."""
    monkeypatch.setattr(llvm_gemm, "sgemm_symbol", lambda: None)
    a, b = ints((70, 130)), ints((50, 130))
    pa, pb = gc.placeholder(gc.float32, a.shape, name="a"), gc.placeholder(gc.float32, b.shape, name="b")
    got, compiled = run_cpu(gc.relu(pa @ pb.T), {pa: a, pb: b})
    np.testing.assert_array_equal(got, np.maximum(exact(a, b.T), 0))
    assert "graphc_sgemm" not in compiled.llvm_ir() and "scipy_cblas_sgemm64_" in compiled.llvm_ir()


def test_split_products_use_every_row_share():
    """A product large enough to be split by rows across graphc's threads (each share a call)."""
    a, b = ints((301, 700)), ints((700, 500))
    pa, pb = gc.placeholder(gc.float32, a.shape, name="a"), gc.placeholder(gc.float32, b.shape, name="b")
    got, compiled = run_cpu(pa @ pb, {pa: a, pb: b})
    kernel = compiled._executor.kernels[compiled.graph.outputs[0]]
    assert kernel.parts == min(CORES, 301)
    np.testing.assert_array_equal(got, exact(a, b))


@needs_sgemm
def test_sgemm_without_packing_memory_falls_back_to_the_plain_loop():
    """If malloc fails the product is still computed (by the plain triple loop)."""
    import ctypes

    from llvmlite import ir

    from graphc.runtime.cpu.llvm_jit import JitModule, target_machine
    module = ir.Module(name="nomem")
    module.triple, module.data_layout = target_machine().triple, str(target_machine().target_data)
    malloc = ir.Function(module, ir.FunctionType(ir.PointerType(), [ir.IntType(64)]), name="malloc")
    malloc.linkage = "internal"
    ir.IRBuilder(malloc.append_basic_block()).ret(ir.Constant(ir.PointerType(), None))
    llvm_gemm.add_sgemm(module)
    jit = JitModule(str(module), cache=False)
    fn = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 5 + [ctypes.c_void_p, ctypes.c_int64] * 3))(
        jit.address(llvm_gemm.SYMBOL))
    for ta, tb, (m, n, k) in [(0, 0, (7, 9, 5)), (1, 0, (13, 40, 3)), (0, 1, (20, 17, 33)), (1, 1, (5, 70, 9))]:
        a = ints((k, m) if ta else (m, k))
        b = ints((n, k) if tb else (k, n))
        c = np.full((m, n), np.nan, np.float32)
        fn(ta, tb, m, n, k, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], c.ctypes.data, n)
        np.testing.assert_array_equal(c, exact(a.T if ta else a, b.T if tb else b))


@pytest.fixture
def live_blocking():
    """The GEMM's live [kc, mc], put back as it was after the test."""
    live = llvm_gemm.blocking()
    saved = tuple(live)
    yield live
    live[0], live[1] = saved


@pytest.fixture
def tuner(tmp_path, monkeypatch, live_blocking):
    """gemm_tune over an empty disk cache, no blocking from the environment: (module,
    the live blocking's address)."""
    from graphc.runtime.cpu import gemm_tune
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    monkeypatch.delenv("GRAPHC_GEMM_BLOCKING", raising=False)
    return gemm_tune, llvm_gemm._compiled[0].global_address(llvm_gemm.BLOCKING_SYMBOL)


@needs_sgemm
@pytest.mark.parametrize("kc, mc", llvm_gemm.gemm_tune.CANDIDATES + ((4, 6), (7, 13)))
def test_sgemm_exact_under_every_blocking_the_tuner_may_choose(kc, mc, live_blocking):
    """Every candidate blocking (and odd ones: rounded to the tile) gives exact products at
    shapes on both sides of its kc and mc, both transposes."""
    live_blocking[0], live_blocking[1] = kc, mc
    for m, n, k in [(mc - 1, 65, kc - 1), (mc, 64, kc), (mc + 1, 130, kc + 1), (2 * mc + 7, 17, 2 * kc + 3),
                    (1, 300, kc + 5), (mc + 3, 16, 9)]:
        m, k = max(m, 1), max(k, 1)
        for ta in (False, True):
            for tb in (False, True):
                a = ints((k, m) if ta else (m, k))
                b = ints((n, k) if tb else (k, n))
                c = np.full((m, n), np.nan, np.float32)
                sgemm(ta, tb, a, b, m, n, k, c)
                np.testing.assert_array_equal(c, exact(a.T if ta else a, b.T if tb else b),
                                              err_msg=f"kc={kc} mc={mc} m={m} n={n} k={k}")


@needs_sgemm
def test_the_tuner_measures_then_caches_and_obeys_the_environment(tuner, live_blocking, monkeypatch):
    gemm_tune, address = tuner
    live = live_blocking
    monkeypatch.setattr(gemm_tune, "KNOWN", {})   # (time them even where the choice is known)
    first = gemm_tune.tune(SGEMM, address)
    assert first["source"] == "tuned" and (first["kc"], first["mc"]) in gemm_tune.CANDIDATES
    assert tuple(live) == (first["kc"], first["mc"])
    assert 0 < first["gflops"] <= llvm_gemm.fma_peak_gflops() * 1.1   # (the peak is one core's)
    live[0], live[1] = 1, 1
    second = gemm_tune.tune(SGEMM, address)
    assert second["source"] == "cached" and tuple(live) == (first["kc"], first["mc"])
    monkeypatch.setenv("GRAPHC_GEMM_BLOCKING", "128,30")
    assert gemm_tune.tune(SGEMM, address)["source"] == "environment" and tuple(live) == (128, 30)


@needs_sgemm
def test_a_cpu_whose_candidates_tie_takes_its_known_blocking_untimed(tuner, live_blocking, monkeypatch):
    gemm_tune, address = tuner
    monkeypatch.setattr(gemm_tune.llvm, "get_host_cpu_name", lambda: "znver4")
    monkeypatch.setattr(gemm_tune, "_measure", lambda *a: pytest.fail("timed a known CPU's blocking"))
    choice = gemm_tune.tune(SGEMM, address)
    assert choice["source"] == "known for znver4" and tuple(live_blocking) == gemm_tune.KNOWN["znver4"]
    assert (choice["kc"], choice["mc"]) in gemm_tune.CANDIDATES


GEMM_FAILS_IN_CHILD = """
import numpy as np, graphc as gc
from graphc.runtime.cpu import llvm_gemm
def broken():
    raise RuntimeError("the GEMM module failed to compile")
llvm_gemm._compile = broken
a = (np.arange(70 * 130) % 7 - 3).astype(np.float32).reshape(70, 130)
pa = gc.placeholder(gc.float32, a.shape)
with gc.Session() as sess:
    got = sess.run(gc.relu(pa @ pa.T), {pa: a})
    ir = sess.compile(gc.relu(pa @ pa.T), {pa: a}).llvm_ir()
assert np.array_equal(got, np.maximum(a.astype(np.float64) @ a.T, 0).astype(np.float32))
assert "graphc_sgemm" not in ir and "scipy_cblas_sgemm64_" in ir
print("ok")
"""


@needs_sgemm
def test_a_gemm_that_fails_to_compile_in_the_background_leaves_openblas(tmp_path):
    """The GEMM compiles on a thread while the kernels are rendered for it; should it fail,
    the kernels are rendered again for OpenBLAS before anything is linked (a fresh process:
    the GEMM compiles once per process)."""
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path)}
    child = subprocess.run([sys.executable, "-c", GEMM_FAILS_IN_CHILD], capture_output=True, text=True,
                           env=env, timeout=300)
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr[-2000:]
