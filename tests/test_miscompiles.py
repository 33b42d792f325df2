"""Regression tests for miscompilations found in graphc (issue 9), one named test per class.

Each compares the native CPU result with an independent float64 numpy evaluation.
"""
import numpy as np
import pytest

import graphc as gc
from graphc.runtime import kernel as kernel_ir
from graphc.runtime.cpu.native import PARALLEL_WORK

RNG = np.random.default_rng(9)

# A kernel was split across threads above PARALLEL_WORK = 2**18 estimated element-operations
# (2**14 since the native pool); a 1-D kernel with a full reduction was estimated at n * n,
# so n >= 512 crossed it.
SIZES_1D = [1, 17, 511, 512, 519, 520, 4096, 65536]


def _x(n):
    return RNG.standard_normal(n).astype(np.float32)


def _softmax64(x):
    e = np.exp(x.astype(np.float64) - x.max())
    return e / e.sum()


ONE_D_CASES = {
    "softmax": (lambda x: gc.nn.softmax(x), _softmax64),
    "exp_over_sum_exp": (lambda x: gc.exp(x) / gc.sum(gc.exp(x)),
                         lambda x: np.exp(x.astype(np.float64)) / np.exp(x.astype(np.float64)).sum()),
    "tanh_over_sum_tanh": (lambda x: gc.tanh(x) / gc.sum(gc.tanh(x)),
                           lambda x: np.tanh(x.astype(np.float64)) / np.tanh(x.astype(np.float64)).sum()),
    "scaled_over_sum": (lambda x: (x * 2) / gc.sum(x * 2),
                        lambda x: (x.astype(np.float64) * 2) / (x.astype(np.float64) * 2).sum()),
    "exp_times_sum_exp": (lambda x: gc.exp(x) * gc.sum(gc.exp(x)),
                          lambda x: np.exp(x.astype(np.float64)) * np.exp(x.astype(np.float64)).sum()),
}


def _close(got, want, cond=1.0):
    """float32 against float64: relative error of a few ulps times the problem's condition."""
    np.testing.assert_allclose(got, want, rtol=2e-5 * cond, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("n", SIZES_1D)
@pytest.mark.parametrize("case", list(ONE_D_CASES))
def test_1d_full_reduction_reused_elementwise(case, n):
    """A 1-D full reduction over a computed value that is then reused elementwise: the
    kernel was split across threads while its stash wrote the whole row (sums of 15-480)."""
    build, ref = ONE_D_CASES[case]
    x = gc.placeholder(gc.float32, (n,))
    xv = _x(n)
    if case == "tanh_over_sum_tanh" or case == "scaled_over_sum":
        xv = np.abs(xv) + 0.5     # keep the denominator away from cancellation
    got = gc.Session().run(build(x), {x: xv})
    _close(got, ref(xv))


@pytest.mark.parametrize("shape", [(16, 32), (64, 64), (3, 700)])
def test_2d_full_reduction_reused_elementwise(shape):
    """The same class in 2-D: a full sum computed before the outer loop."""
    x = gc.placeholder(gc.float32, shape)
    xv = RNG.uniform(0.5, 1.5, shape).astype(np.float32)
    got = gc.Session().run(gc.exp(x) / gc.sum(gc.exp(x)), {x: xv})
    e = np.exp(xv.astype(np.float64))
    _close(got, e / e.sum())


@pytest.mark.parametrize("n", [17, 600, 4096])
def test_1d_softmax_gradient(n):
    x = gc.placeholder(gc.float32, (n,))
    c = RNG.standard_normal(n).astype(np.float32)
    (g,) = gc.gradients(gc.sum(gc.nn.softmax(x) * gc.constant(c)), [x])
    xv = _x(n)
    s = _softmax64(xv)
    want = s * (c - (s * c).sum())
    np.testing.assert_allclose(gc.Session().run(g, {x: xv}), want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("n", [17, 600, 4096])
def test_1d_max_gradient(n):
    x = gc.placeholder(gc.float32, (n,))
    (g,) = gc.gradients(gc.max(x) * gc.sum(x), [x])
    xv = _x(n)
    want = np.full(n, xv.astype(np.float64).max())
    want[np.argmax(xv)] += xv.astype(np.float64).sum()
    np.testing.assert_allclose(gc.Session().run(g, {x: xv}), want, rtol=1e-4, atol=1e-4)


def test_full_reduction_kernel_is_not_split():
    """The rule behind the fix: a kernel whose reduction sits before its outer loop runs
    as one share, even far above the threading threshold."""
    n = 1 << 16
    x = gc.placeholder(gc.float32, (n,))
    compiled = gc.Session().compile(gc.nn.softmax(x), {x: (n,)})
    kernels = list(compiled._executor.kernels.values())
    assert kernels and n * n >= PARALLEL_WORK
    for k in kernels:
        if kernel_ir.reductions_of(k.kernel.value):
            assert not kernel_ir.split_safe(k.kernel) and k.parts == 1


# -- matmul epilogues (found by the fuzzer: tests/regressions/matmul_vector_k1_seed128) --------
@pytest.mark.parametrize("dtype", [gc.int64, gc.int32, gc.float64, gc.bool_])
@pytest.mark.parametrize("m", [1, 7])
def test_matmul_epilogue_changing_dtype(dtype, m):
    """The product was written into the output buffer and read back while the epilogue
    stored elements of another size there: a cast of x @ w to int64 came out all zeros."""
    k, n = 3, 16
    x = gc.placeholder(gc.float32, (m, k))
    # quarter-integers: every product and sum is exact in float32, so the comparison is exact
    # whatever order the product sums in (numpy's OpenBLAS and graphc differ by CPU)
    w = gc.constant(RNG.integers(-12, 13, (k, n)).astype(np.float32) / 4)
    xv = RNG.integers(-12, 13, (m, k)).astype(np.float32) / 4
    got = gc.Session().run(gc.cast(gc.matmul(x, w), dtype), {x: xv})
    product = xv @ w.node.attrs["value"]
    np.testing.assert_array_equal(got, product.astype(dtype))


# -- empty tensors inside kernels (found by the fuzzer: seed 10091) ------------------------------
@pytest.mark.parametrize("dtype", [gc.int32, gc.float32])
def test_pad_of_an_empty_tensor(dtype):
    """All padding: the lowering divided by the empty input's zero stride (a compile crash)."""
    x = gc.placeholder(dtype, (3, 0))
    xv = np.zeros((3, 0), dtype)
    for y, want in [(gc.pad(gc.tile(x, (1, 3)), ((0, 2), (1, 1)), constant_values=7), np.full((5, 2), 7, dtype)),
                    (gc.pad(x, ((1, 0), (2, 0))), np.zeros((4, 2), dtype)),
                    (gc.pad(gc.reshape(x, (0, 3)), ((1, 1), (0, 0))) * 2, np.zeros((2, 3), dtype))]:
        for optimize in (True, False):
            np.testing.assert_array_equal(gc.Session(optimize=optimize).run(y, {x: xv}), want)


def test_concat_with_empty_parts():
    x = gc.placeholder(gc.float32, (2, 3))
    e = gc.placeholder(gc.float32, (0, 3))
    xv = RNG.standard_normal((2, 3)).astype(np.float32)
    ev = np.zeros((0, 3), np.float32)
    got = gc.Session().run(gc.exp(gc.concat([e, x, e, x, e], 0)), {x: xv, e: ev})
    np.testing.assert_allclose(got, np.exp(np.concatenate([xv, xv]).astype(np.float64)), rtol=1e-6)
    both_empty = gc.concat([e, e], 0) + 1.0
    assert gc.Session().run(both_empty, {e: ev}).shape == (0, 3)


# -- GEMM operands (found by the fuzzer: tests/regressions/batched_matmul_transpose_seed107484) ---
@pytest.mark.parametrize("perm_a,perm_b", [((2, 1, 0), None), ((1, 0, 2), None), (None, (1, 0, 2)),
                                           ((0, 2, 1), (0, 2, 1)), ((2, 0, 1), (1, 2, 0))])
@pytest.mark.parametrize("optimize", [True, False])
def test_batched_matmul_of_transposes(perm_a, perm_b, optimize):
    """Every transpose feeding a matmul was read as a matrix transpose by the GEMM, even one
    that moves a batch axis: transpose(x, (2, 1, 0)) @ w gave wrong numbers everywhere."""
    a_in = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    b_in = RNG.standard_normal((3, 5, 6)).astype(np.float32)
    pa, pb = perm_a or (0, 1, 2), perm_b or (0, 1, 2)
    a_val, b_val = np.transpose(a_in, np.argsort(pa)), np.transpose(b_in, np.argsort(pb))   # so that perm gives a_in
    a = gc.placeholder(gc.float32, a_val.shape)
    b = gc.placeholder(gc.float32, b_val.shape)
    got = gc.Session(optimize=optimize).run(gc.matmul(gc.transpose(a, pa), gc.transpose(b, pb)), {a: a_val, b: b_val})
    want = np.matmul(np.transpose(a_val, pa).astype(np.float64), np.transpose(b_val, pb))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# -- row kernels over rows that are all the same (found by the fuzzer: tests/regressions/fuzz_seed3100108) ---
@pytest.mark.parametrize("shape", [(8, 9), (1, 4096), (300, 17)])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("value", [0.0, -3.5])
def test_row_kernel_over_rows_that_are_all_the_same(shape, op, value):
    """softmax of a constant array left unfolded: every row's sum is the same, so the kernel
    computed it once, before the row loop, while its stash of exp (written into the output
    row inside the sum's loop) needed the row: the kernel failed to build (KeyError on the
    row variable). Such a sum now keeps no stash."""
    x = gc.placeholder(gc.float32, shape)
    y = getattr(gc.nn, op)(gc.full_like(x, value))
    got = gc.Session(disable=("fold_constants",)).run(y, {x: np.ones(shape, np.float32)})
    n = shape[-1]
    want = np.full(shape, 1.0 / n if op == "softmax" else -np.log(n))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
