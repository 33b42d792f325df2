"""The LLVM CPU backend: every op and fused pattern agrees with the numpy reference, the
main patterns vectorize, sums stay accurate, index arithmetic is 64-bit."""
import re

import numpy as np
import pytest

import graphc as gc
from conftest import F32, assert_close, run
from graphc.runtime.cpu import llvm_gemm
from graphc.runtime.cpu.native import gemm_by_columns
from graphc.runtime.cpu.native import CORES
from test_ops import CASES, build

SGEMM_OWN = llvm_gemm.sgemm_symbol() is not None   # graphc's own float32 GEMM (AVX-512 hosts)

RNG = np.random.default_rng(11)

STATIC = [c for c in CASES if c.args]


def native_kernels(compiled):
    return compiled._executor.kernels


@pytest.mark.parametrize("optimize", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("case", STATIC, ids=[c.id for c in STATIC])
def test_every_op_matches_the_reference(case, optimize):
    outs, feed, _ = build(case, "static")
    expected = gc.Session(device="reference", optimize=False).run(outs, feed)
    with gc.Session(device="cpu", optimize=optimize) as sess:
        got = sess.run(outs, feed)
        again = sess.run(outs, feed)        # the fast path of a second run agrees too
    for g, a, e in zip(got, again, expected):
        assert_close(g, e, dtype=e.dtype)
        assert_close(a, e, dtype=e.dtype)


def test_the_common_ops_run_natively():
    """Lowering covers elementwise ops, reductions, matmul and movement ops: only the ops
    listed here (gather and its adjoint scatter_add: out-of-range indices must raise; integer power: negative exponents
    must raise; random: Philox in numpy, the same bits on every backend) fall back to numpy."""
    fallback = set()
    for case in STATIC:
        with gc.Graph().as_default():
            outs, feed, _ = build(case, "static")
            compiled = gc.Session(optimize=False).compile(outs, feed)
            for kernel in compiled.kernels:
                node = compiled.graph.node(kernel.name)
                if node not in native_kernels(compiled):
                    fallback.add(node.op)
    assert fallback <= {"gather", "scatter_add", "power", "random"}, fallback


MODEL = {
    "elementwise": lambda x, a, b: gc.nn.gelu(x * a + b),
    "softmax": lambda x, a, b: gc.nn.softmax(x),
    "layer_norm": lambda x, a, b: gc.nn.layer_norm(x, a, b),
    "sum": lambda x, a, b: gc.sum(x, axis=1),
}


@pytest.mark.parametrize("pattern", MODEL)
def test_main_patterns_vectorize(pattern):
    x = gc.placeholder(gc.float32, (64, 512), name="x")
    a = gc.placeholder(gc.float32, (512,), name="a")
    b = gc.placeholder(gc.float32, (512,), name="b")
    compiled = gc.Session().compile(MODEL[pattern](x, a, b), {x: (64, 512), a: (512,), b: (512,)})
    assert compiled.kernels and all(compiled.graph.node(k.name) in native_kernels(compiled)
                                    for k in compiled.kernels)
    assert re.search(r"<(8|16) x float>", compiled.llvm_ir(optimized=True)), "inner loop did not vectorize"


def test_float32_sum_of_ten_million_elements_is_accurate():
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 1, 10 ** 7).astype(np.float32)
    x = gc.placeholder(gc.float32, values.shape, name="x")
    got = gc.Session().run(gc.sum(x), {x: values})
    exact = values.astype(np.float64).sum()
    assert abs(float(got) - exact) / exact < 1e-5


def test_more_than_two_to_the_31_elements_through_a_broadcast_view():
    """2**31 + 2**15 loop iterations over a broadcast row (128 KiB of input): 32-bit
    counters or offsets would drop or repeat iterations and change the exact sum."""
    rows, cols = 65536, 32769
    row = (np.arange(cols) % 3).astype(np.float32).reshape(1, cols)
    x = gc.placeholder(gc.float32, (1, cols), name="x")
    total = gc.sum(gc.broadcast_to(x, (rows, cols)))
    got = gc.Session().run(total, {x: row})
    assert rows * cols > 2 ** 31
    assert float(got) == float(np.float32(rows * row.astype(np.int64).sum()))


def test_nan_semantics_of_max_min_argmax():
    data = np.array([[1.0, np.nan, 3.0], [2.0, 5.0, -1.0], [np.nan, np.nan, 0.0]], np.float32)
    x = gc.placeholder(gc.float32, (3, 3), name="x")
    fetches = [gc.max(x, axis=1), gc.min(x, axis=1), gc.argmax(x, axis=1), gc.argmin(x, axis=1), gc.max(x)]
    got = gc.Session().run(fetches, {x: data})
    for g, e in zip(got, [data.max(1), data.min(1), data.argmax(1), data.argmin(1), data.max()]):
        assert_close(g, e, dtype=e.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_transposed_batched_and_broadcast(dtype):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(3, 1, 5, 4)).astype(dtype)
    b = rng.normal(size=(2, 6, 4)).astype(dtype)
    bias = rng.normal(size=6).astype(dtype)
    pa = gc.placeholder(dtype, a.shape, name="a")
    pb = gc.placeholder(dtype, b.shape, name="b")
    y = gc.relu(pa @ gc.transpose(pb, (0, 2, 1)) + bias)     # transpose read in place by the GEMM
    compiled = gc.Session().compile(y, {pa: a, pb: b})
    assert [k.kind for k in compiled.kernels] == ["matmul"]
    assert compiled.graph.outputs[0] in native_kernels(compiled)
    got = gc.Session().run(y, {pa: a, pb: b})
    expected = np.maximum(a.astype(np.float64) @ np.swapaxes(b, 1, 2).astype(np.float64) + bias, 0)
    assert_close(got, expected.astype(dtype), dtype=dtype)


def test_large_kernels_split_across_threads_and_agree():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(2048, 512)).astype(np.float32)
    x = gc.placeholder(gc.float32, data.shape, name="x")
    y = gc.nn.softmax(x)
    compiled = gc.Session().compile(y, {x: data})
    (kernel,) = native_kernels(compiled).values()
    assert kernel.parts > 1 or kernel.extent == 1 or CORES == 1
    e = np.exp(data - data.max(1, keepdims=True))
    assert_close(gc.Session().run(y, {x: data}), (e / e.sum(1, keepdims=True)).astype(np.float32))


@pytest.mark.parametrize("rows", [1, 42, 43, 44, 640, 4096])
def test_a_row_kernel_is_shared_by_its_work_counting_each_rows_reduction_once(rows):
    """layer_norm over 128 columns: the output's elements plus two row reductions read
    3 * rows * 128 elements (not rows * 128 * 128: a row's mean is computed once per row),
    so it is shared from 43 rows (2^14 element operations), in shares of at least 2^13
    element operations and at most 4 per core."""
    from graphc.runtime.cpu.native import PARALLEL_WORK, SHARE_WORK, SHARES_PER_CORE
    data = (RNG.integers(-8, 9, (rows, 128)) / 4).astype(np.float32)
    x = gc.placeholder(gc.float32, data.shape)
    y = gc.nn.layer_norm(x)
    compiled = gc.Session().compile(y, {x: data})
    (kernel,) = native_kernels(compiled).values()
    cores, work = CORES, 3 * rows * 128
    shared = work >= PARALLEL_WORK and cores > 1
    assert kernel.parts == (max(2, min(cores * SHARES_PER_CORE, rows, work // SHARE_WORK)) if shared else 1)
    assert PARALLEL_WORK == 1 << 14 and SHARE_WORK == 1 << 13 and (rows >= 43) == (work >= PARALLEL_WORK)
    c = data.astype(np.float64) - data.mean(1, keepdims=True)
    assert_close(gc.Session().run(y, {x: data}), (c / np.sqrt((c * c).mean(1, keepdims=True) + 1e-5)).astype(np.float32))


def test_fetched_results_are_not_reused_while_the_caller_holds_them():
    x = gc.placeholder(gc.float32, (4,), name="x")
    y = x * 2.0
    with gc.Session() as sess:
        first = sess.run(y, {x: np.ones(4, np.float32)})
        second = sess.run(y, {x: np.full(4, 3.0, np.float32)})
        assert first is not second
        assert_close(first, np.full(4, 2.0, np.float32))
        assert_close(second, np.full(4, 6.0, np.float32))


def test_softmax_computes_exp_once_per_element():
    """The row kernel stores exp(x - max) while summing it and reads it back for the output."""
    x = gc.placeholder(gc.float32, (8, 300), name="x")
    compiled = gc.Session().compile(gc.nn.softmax(x), {x: (8, 300)})
    (kernel,) = native_kernels(compiled).values()
    assert len(kernel.kernel.stashes) == 1
    data = np.random.default_rng(4).normal(size=(8, 300)).astype(np.float32) * 30
    e = np.exp(data.astype(np.float64) - data.max(1, keepdims=True))
    assert_close(gc.Session().run(gc.nn.softmax(x), {x: data}), (e / e.sum(1, keepdims=True)).astype(np.float32))


def test_softmax_over_a_leading_axis_does_not_stash():
    """Reducing axis 0 runs the reduction inside the output's loops: storing exp values
    into the output there would overwrite finished results."""
    data = np.random.default_rng(5).normal(size=(64, 128)).astype(np.float32)
    x = gc.placeholder(gc.float32, data.shape, name="x")
    e = np.exp(data.astype(np.float64) - data.max(0, keepdims=True))
    got = gc.Session().run(gc.nn.softmax(x, axis=0), {x: data})
    assert_close(got, (e / e.sum(0, keepdims=True)).astype(np.float32))


@pytest.mark.parametrize("m, k, n", [(301, 161, 203), (128, 161, 515)], ids=["tall", "wide"])
@pytest.mark.parametrize("trans_a", [False, True])
def test_a_large_gemm_is_shared_between_threads(trans_a, m, k, n):
    """A GEMM kernel big enough to share: by rows (each thread computes its rows, then
    their epilogue), or, for a wide float32 product, by columns (then the epilogue by
    rows). Odd sizes leave uneven shares."""
    # small multiples of 1/4: every product and partial sum is exact in float32
    a_val = (RNG.integers(-8, 9, (m, k) if not trans_a else (k, m)) / 4).astype(np.float32)
    b_val = (RNG.integers(-8, 9, (k, n)) / 4).astype(np.float32)
    bias = (RNG.integers(-8, 9, n) / 4).astype(np.float32)
    a = gc.placeholder(gc.float32, a_val.shape)
    lhs = a.T if trans_a else a
    y = gc.relu(lhs @ b_val + bias)
    compiled = gc.Session().compile(y, {a: a_val.shape})
    (kernel,) = native_kernels(compiled).values()
    assert kernel.kernel.gemm is not None and kernel.parts == min(CORES, m)
    assert gemm_by_columns(kernel.kernel) == (CORES > 1 and m < n and SGEMM_OWN)
    lhs_val = (a_val.T if trans_a else a_val).astype(np.float64)
    expected = np.maximum(lhs_val @ b_val + bias, 0)
    np.testing.assert_array_equal(run(y, {a: a_val}, device="cpu"), expected.astype(np.float32))


def test_a_sum_over_no_axes_reused_by_its_kernel():
    """A float sum over zero axes (axis=()) whose value the kernel reads again: nothing is
    stashed for it (no loop would write the stash)."""
    x = gc.placeholder(gc.float64, ())
    y = (x * 2) * (3 / gc.sum(x * 2, axis=(), keepdims=True))
    assert run(y, {x: 1.5}, device="cpu") == 3.0


@pytest.mark.parametrize("shape, axes, keepdims, dtype", [
    ((256, 1024), 0, False, np.float32),
    ((7, 3, 33), (0, 1), True, np.float32),
    ((5, 9), 0, True, np.float64),
    ((4097, 3), 0, False, np.float32),      # beyond one float32 block: the blocked loop instead
])
def test_a_column_sum_reads_rows_contiguously(shape, axes, keepdims, dtype):
    """A sum over the leading axes (a bias gradient) runs as ones @ x in BLAS."""
    values = (RNG.integers(-8, 9, shape) / 4).astype(dtype)   # exact partial sums
    x = gc.placeholder(dtype, shape)
    y = gc.sum(x, axes, keepdims=keepdims)
    compiled = gc.Session().compile(y, {x: shape})
    (kernel,) = native_kernels(compiled).values()
    assert (kernel.kernel.gemm is not None) == (shape[0] <= 4096)
    np.testing.assert_array_equal(run(y, {x: values}, device="cpu"),
                                  values.astype(np.float64).sum(axes, keepdims=keepdims).astype(dtype))


def test_a_reduction_over_leading_axes_loops_over_its_kept_axis_outermost():
    """Batch norm's centering, x - mean over (N, H, W): the channel loop goes outermost, so
    each channel's mean is computed once (not once per image) and threads share channels."""
    x = gc.placeholder(gc.float32, (8, 16, 32, 32), name="x")
    y = x - gc.mean(x, axis=(0, 2, 3), keepdims=True)
    xv = np.random.default_rng(0).standard_normal((8, 16, 32, 32)).astype(np.float32)
    with gc.Session(device="cpu") as sess:
        got = sess.run(y, {x: xv})
        compiled = sess.compile(y, {x: xv})
    (kernel,) = native_kernels(compiled).values()
    assert [v.extent for v in kernel.kernel.loops] == [16, 8, 32, 32]
    if CORES > 1:
        assert kernel.parts > 1
    exact = xv.astype(np.float64) - xv.astype(np.float64).mean(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(got, exact, **F32)
