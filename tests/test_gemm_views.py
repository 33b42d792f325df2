"""A matmul operand that is a view of a buffer: the GEMM reads a reshape or a slice of
whole rows in place (at the slice's offset), and a strided view (heads merged by
transpose and reshape, a slice of columns) through a copy made once, never by a loop
over k. Values are small multiples of 1/4, so every product and sum is exact and the
results must equal numpy's float64 bit for bit."""
import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(5)


def exact(shape, dtype=np.float32):
    return (RNG.integers(-8, 9, shape) / 4).astype(dtype)


def compile_and_run(y, feeds):
    with gc.Session(poison=True) as sess:
        compiled = sess.compile(y, {p: v.shape for p, v in feeds.items()})
        return compiled, sess.run(y, feeds)


def gemm_kernels(compiled):
    return [k for k in compiled._executor.kernels.values() if k.kernel.gemm is not None]


def check(y, feeds, expected, gemms, dtype=np.float32):
    compiled, got = compile_and_run(y, feeds)
    if gemms is not None:   # (None: a size-0 product, whatever runs it)
        assert len(gemm_kernels(compiled)) == gemms, [k.kind for k in compiled.kernels]
    assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected.astype(dtype))
    return compiled


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("b,t,heads,dh", [(2, 5, 3, 4), (1, 1, 1, 1), (8, 64, 4, 32), (2, 17, 2, 16)])
def test_merged_heads_are_copied_once_then_multiplied_by_the_gemm(b, t, heads, dh, dtype):
    """attention's ``reshape(transpose(scores @ v, (0, 2, 1, 3)), (b, t, d)) @ wo``."""
    s_val, v_val, w_val = exact((b, heads, t, t), dtype), exact((b, heads, t, dh), dtype), \
        exact((heads * dh, 7), dtype)
    s, v = gc.placeholder(dtype, s_val.shape), gc.placeholder(dtype, v_val.shape)
    y = gc.reshape(gc.transpose(s @ v, (0, 2, 1, 3)), (b, t, heads * dh)) @ w_val
    expected = (s_val.astype(np.float64) @ v_val).transpose(0, 2, 1, 3).reshape(b, t, heads * dh) @ w_val
    compiled = check(y, {s: s_val, v: v_val}, expected, gemms=2, dtype=dtype)
    assert [k.kind for k in compiled.kernels] == ["matmul", "elementwise", "matmul"]   # GEMM, copy, GEMM


@pytest.mark.parametrize("rows", [(0, 4), (2, 5), (5, 6), (3, 3)], ids=["head", "middle", "last", "empty"])
@pytest.mark.parametrize("transposed", [False, True])
def test_a_slice_of_whole_rows_is_read_in_place(rows, transposed):
    x_val, w_val = exact((6, 9)), exact((9, 4))
    x = gc.placeholder(gc.float32, x_val.shape)
    h = gc.exp(x) * 0.0 + x      # (a computed buffer, not a feed: the slice's base is the arena)
    lo, hi = rows
    if transposed:   # rows of h.T's operand: h[lo:hi].T @ v reads the slice transposed
        v_val = exact((hi - lo, 3))
        y = gc.transpose(h[lo:hi]) @ v_val
        expected = x_val[lo:hi].astype(np.float64).T @ v_val
    else:
        y = h[lo:hi] @ w_val
        expected = x_val[lo:hi].astype(np.float64) @ w_val
    compiled = check(y, {x: x_val}, expected, gemms=1 if hi > lo else None)
    assert [k.kind for k in compiled.kernels].count("elementwise") == 1   # h's kernel: no copy of the slice


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_batch_item_and_a_range_of_items_are_read_in_place(dtype):
    x_val, w_val, b_val = exact((4, 5, 6), dtype), exact((6, 3), dtype), exact((4, 6, 2), dtype)
    x, bb = gc.placeholder(dtype, x_val.shape), gc.placeholder(dtype, b_val.shape)
    one = x[2] @ w_val                    # at offset 2 * 30
    some = x[1:3] @ bb[2:4]               # a batched product, both operands at offsets
    x64, b64 = x_val.astype(np.float64), b_val.astype(np.float64)
    with gc.Session(poison=True) as sess:
        compiled = sess.compile([one, some], {x: x_val.shape, bb: b_val.shape})
        got_one, got_some = sess.run([one, some], {x: x_val, bb: b_val})
    assert len(gemm_kernels(compiled)) == 2 and len(compiled.kernels) == 2
    np.testing.assert_array_equal(got_one, (x64[2] @ w_val).astype(dtype))
    np.testing.assert_array_equal(got_some, (x64[1:3] @ b64[2:4]).astype(dtype))


def test_a_slice_of_columns_is_copied_for_the_gemm():
    x_val, w_val = exact((6, 9)), exact((3, 4))
    x = gc.placeholder(gc.float32, x_val.shape)
    y = x[:, 2:5] @ w_val
    compiled = check(y, {x: x_val}, x_val[:, 2:5].astype(np.float64) @ w_val, gemms=1)
    assert [k.kind for k in compiled.kernels] == ["elementwise", "matmul"]


def test_a_column_sum_of_a_slice_of_rows_reads_it_in_place():
    """A bias gradient and a weight gradient of the same rows: the slice is one buffer view
    that both read, the column sum as ones @ x[lo:hi] at the slice's offset."""
    x_val, w_val = exact((7, 5)), exact((5, 3))
    x = gc.placeholder(gc.float32, x_val.shape)
    rows = x[2:6]
    fetches = [gc.sum(rows, axis=0), rows @ w_val]
    with gc.Session(poison=True) as sess:
        compiled = sess.compile(fetches, {x: x_val.shape})
        got_sum, got_product = sess.run(fetches, {x: x_val})
    assert len(gemm_kernels(compiled)) == 2 and len(compiled.kernels) == 2
    np.testing.assert_array_equal(got_sum, x_val[2:6].astype(np.float64).sum(0).astype(np.float32))
    np.testing.assert_array_equal(got_product, (x_val[2:6].astype(np.float64) @ w_val).astype(np.float32))


def test_training_through_merged_heads_matches_numpy():
    """The gradient of ``sum((merge(s @ v) @ w) ** 2)`` wrt w: w's gradient is the copied
    operand's transpose times the output gradient."""
    s_val, v_val, w_val = exact((2, 3, 5, 5)), exact((2, 3, 5, 4)), exact((12, 6))
    s, v = gc.placeholder(gc.float32, s_val.shape), gc.placeholder(gc.float32, v_val.shape)
    w = gc.Variable(w_val)
    merged = gc.reshape(gc.transpose(s @ v, (0, 2, 1, 3)), (2, 5, 12))
    y = merged @ w
    (grad,) = gc.gradients(gc.sum(y * y), [w])
    with gc.Session(poison=True) as sess:
        got = sess.run(grad, {s: s_val, v: v_val})
    m = (s_val.astype(np.float64) @ v_val).transpose(0, 2, 1, 3).reshape(10, 12)
    np.testing.assert_array_equal(got, (m.T @ (2 * (m @ w_val))).astype(np.float32))
