"""Batched products on the CPU: items that share one weight matrix are folded into the rows
of one GEMM, and big batched kernels are shared between threads (by rows of the folded
product, or by batch items), at sizes on both sides of the sharing threshold and with
outer extents that split unevenly. A weight's gradient through a batched product is one
GEMM over every row. Values are small multiples of 1/4: every result is exact."""

import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cpu.llvm_codegen import gemm_share
from graphc.runtime.cpu.native import PARALLEL_GEMM_WORK, PARALLEL_WORK, SMALL_PRODUCTS_SLOWER

RNG = np.random.default_rng(9)
from graphc.runtime.cpu.native import CORES


def exact(shape, dtype=np.float32):
    return (RNG.integers(-8, 9, shape) / 4).astype(dtype)


def only_kernel(y, feeds):
    with gc.Session(poison=True) as sess:
        compiled = sess.compile(y, {p: v.shape for p, v in feeds.items()})
        got = sess.run(y, feeds)
    (kernel,) = [k for k in compiled._executor.kernels.values() if k.kernel.gemm is not None]
    return kernel, got


@pytest.mark.parametrize("batch, m, k, n", [((7,), 64, 128, 96), ((2, 3), 5, 4, 3), ((1,), 9, 4, 3),
                                            ((3,), 1, 8, 5), ((8,), 64, 128, 512)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_items_sharing_a_weight_are_rows_of_one_gemm(batch, m, k, n, dtype):
    x_val, w_val, c_val = exact(batch + (m, k), dtype), exact((k, n), dtype), exact((n,), dtype)
    x = gc.placeholder(dtype, x_val.shape)
    y = gc.relu(x @ w_val + c_val)
    kernel, got = only_kernel(y, {x: x_val})
    g = kernel.kernel.gemm
    items = int(np.prod(batch))
    assert (g.m, len(g.batch)) == (items * m, 1)
    assert gemm_share(kernel.kernel) == ("rows", items * m // batch[0])
    shared = items * m * n * k >= PARALLEL_GEMM_WORK or items * m * n >= PARALLEL_WORK
    assert kernel.parts == (min(CORES, batch[0]) if shared else 1)
    np.testing.assert_array_equal(got, np.maximum(x_val.astype(np.float64) @ w_val + c_val, 0).astype(dtype))


@pytest.mark.parametrize("batch, m, k, n", [((8, 4), 64, 32, 64), ((3, 5), 64, 64, 32), ((2,), 3, 4, 5),
                                            ((5, 4), 64, 32, 64)])
def test_batched_products_are_shared_by_items(batch, m, k, n):
    """Attention's per-head products: each thread computes whole items of its outer range
    (5 outer items on 2 threads: 2 and 3)."""
    a_val, b_val = exact(batch + (m, k)), exact(batch + (k, n))
    a, b = gc.placeholder(gc.float32, a_val.shape), gc.placeholder(gc.float32, b_val.shape)
    y = (a @ b) * 0.5
    kernel, got = only_kernel(y, {a: a_val, b: b_val})
    items = int(np.prod(batch))
    assert len(kernel.kernel.gemm.batch) == items
    assert gemm_share(kernel.kernel) == ("items", items // batch[0])
    shared = SMALL_PRODUCTS_SLOWER * items * m * n * k >= PARALLEL_GEMM_WORK or items * m * n >= PARALLEL_WORK
    assert kernel.parts == (min(CORES, batch[0]) if shared else 1)
    np.testing.assert_array_equal(got, ((a_val.astype(np.float64) @ b_val) * 0.5).astype(np.float32))


def test_a_transposed_batched_operand_stays_per_item():
    """A read transposed per item is not rows of one product: the items stay separate."""
    a_val, w_val = exact((4, 16, 8)), exact((16, 5))
    a = gc.placeholder(gc.float32, a_val.shape)
    y = gc.transpose(a, (0, 2, 1)) @ w_val
    kernel, got = only_kernel(y, {a: a_val})
    assert len(kernel.kernel.gemm.batch) == 4 and kernel.kernel.gemm.trans_a
    np.testing.assert_array_equal(got, (np.swapaxes(a_val.astype(np.float64), 1, 2) @ w_val).astype(np.float32))


@pytest.mark.parametrize("shape", [(8, 64, 128), (2, 3, 5, 4), (0, 5, 4), (1, 1, 4)])
def test_a_weights_gradient_through_a_batched_product_is_one_gemm(shape):
    """d(sum((x @ w)^2))/dw = x_rows^T @ (2 x_rows @ w): one product over every row."""
    x_val, w_val = exact(shape), exact((shape[-1], 3))
    x = gc.placeholder(gc.float32, x_val.shape)
    w = gc.Variable(w_val)
    y = x @ w
    (grad,) = gc.gradients(gc.sum(y * y), [w])
    with gc.Session(poison=True) as sess:
        compiled = sess.compile(grad, {x: x_val.shape})
        got = sess.run(grad, {x: x_val})
    rows = x_val.reshape(-1, shape[-1]).astype(np.float64)
    np.testing.assert_array_equal(got, (rows.T @ (2 * rows @ w_val)).astype(np.float32))
    assert not [k for k in compiled.kernels if k.kind == "reduction"]   # no per-item products summed after


def test_a_weights_gradient_with_an_unknown_batch_is_still_right():
    x_val, w_val = exact((3, 4, 5)), exact((5, 2))
    x = gc.placeholder(gc.float32, (None, 4, 5))
    w = gc.Variable(w_val)
    (grad,) = gc.gradients(gc.sum(x @ w), [w])
    with gc.Session(poison=True) as sess:
        got = sess.run(grad, {x: x_val})
    rows = x_val.reshape(-1, 5).astype(np.float64)
    np.testing.assert_array_equal(got, (rows.T @ np.ones((12, 2))).astype(np.float32))
