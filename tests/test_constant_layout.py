"""Constants and variables made from numpy arrays that are not C-ordered (a transpose, Fortran
order, negative or skipping strides) hold the array's values, not its buffer's order: the CPU
backend reads them as C-ordered bytes. (Found by the ONNX importer's Resize: ``gc.constant(W.T)``
as a matmul operand gave wrong numbers silently.)"""
import numpy as np
import pytest

import graphc as gc

_W = np.random.default_rng(0).normal(size=(6, 5))
_LAYOUTS = {
    "transposed": lambda w: w.T.T.T,                      # (5, 6), Fortran-ordered view
    "fortran": lambda w: np.asfortranarray(w.T),
    "reversed rows": lambda w: w.T[::-1],
    "every other column": lambda w: np.ascontiguousarray(np.repeat(w.T, 2, axis=1))[:, ::2],
}


@pytest.mark.parametrize("make", ["constant", "variable"])
@pytest.mark.parametrize("layout", list(_LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_non_c_ordered_array_keeps_its_values(make, layout, dtype):
    w = _LAYOUTS[layout](_W.astype(dtype))
    assert not w.flags.c_contiguous
    x_value = np.random.default_rng(1).normal(size=(3, 5)).astype(dtype)
    x = gc.placeholder(dtype, (3, 5), name="x")
    operand = gc.constant(w) if make == "constant" else gc.Variable(w)
    fetches = [gc.matmul(x, operand), operand + 1.0, gc.sum(operand, axis=0)]
    with gc.Session() as sess:
        product, shifted, column_sums = sess.run(fetches, {x: x_value})
    w64 = np.asarray(w, np.float64)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(product, x_value.astype(np.float64) @ w64, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(shifted, w64 + 1.0, rtol=rtol)
    np.testing.assert_allclose(column_sums, w64.sum(axis=0), rtol=rtol, atol=rtol)
