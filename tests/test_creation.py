"""gc.zeros / ones / full / eye / arange / linspace: numpy's values, graphc's dtype rules
(Python float -> float32, int -> int64, numpy scalars keep theirs), static shapes
(ints, tuples, lists, rank 0, size 0), cheap graphs (a scalar broadcast, no blob), the same
results on both devices, and errors that name the call and the user's line."""
import os

import numpy as np
import pytest

import graphc as gc
from graphc.errors import DTypeError, ShapeError

HERE = os.path.relpath(__file__)
F32, F64, I32, I64, B = (np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_))


def run_both(fetches):
    """The fetches' values on "reference", checked equal (bitwise) to those on "cpu"."""
    with gc.Session(device="reference") as ref, gc.Session(device="cpu") as cpu:
        want, got = ref.run(fetches), cpu.run(fetches)
    for w, g in zip(want if isinstance(want, list) else [want], got if isinstance(got, list) else [got]):
        assert w.dtype == g.dtype and w.shape == g.shape and w.tobytes() == g.tobytes()
    return want


def check(tensor, expected, dtype):
    """``tensor`` has ``expected``'s values and shape and ``dtype``, statically and when run."""
    expected = np.asarray(expected)
    assert tensor.dtype == dtype and tuple(tensor.shape) == expected.shape, (tensor, expected.shape)
    value = run_both(tensor)
    assert value.dtype == dtype and value.shape == expected.shape
    assert np.array_equal(value, expected.astype(dtype)), (value, expected)


# -- zeros, ones, full ---------------------------------------------------------------------
@pytest.mark.parametrize("shape, np_shape", [((2, 3), (2, 3)), ([4], (4,)), (5, (5,)), ((), ()),
                                             ((0,), (0,)), ((3, 0, 2), (3, 0, 2)), ((1, 1, 1), (1, 1, 1)),
                                             ((np.int64(2), np.int32(3)), (2, 3)), (np.array([2, 2]), (2, 2))])
def test_zeros_and_ones_shapes(shape, np_shape):
    check(gc.zeros(shape), np.zeros(np_shape), F32)
    check(gc.ones(shape), np.ones(np_shape), F32)


@pytest.mark.parametrize("dtype", [gc.float32, gc.float64, gc.int32, gc.int64, gc.bool, "float64", np.int32])
def test_zeros_and_ones_dtypes(dtype):
    want = np.dtype(dtype)
    check(gc.zeros((2, 2), dtype=dtype), np.zeros((2, 2)), want)
    check(gc.ones((3,), dtype), np.ones(3), want)


@pytest.mark.parametrize("fill, dtype, want", [
    (2.5, None, F32), (3, None, I64), (True, None, B), (np.float64(0.1), None, F64), (np.int32(-7), None, I32),
    (2.5, gc.float64, F64), (3, gc.float32, F32), (1, gc.bool, B), (-4, "int32", I32), (0.0, None, F32)])
def test_full_dtype_rules(fill, dtype, want):
    """dtype None: what gc.constant gives the value (a Python float is float32)."""
    assert gc.constant(fill).dtype == want or dtype is not None
    check(gc.full((2, 3), fill, dtype=dtype), np.full((2, 3), fill, dtype=want), want)
    check(gc.full((), fill, dtype=dtype), np.full((), fill, dtype=want), want)


def test_full_of_an_array_and_of_a_tensor():
    check(gc.full((2, 3), [1.0, 2.0, 3.0]), np.full((2, 3), [1.0, 2.0, 3.0]), F32)
    check(gc.full((2, 3), np.array([[1], [2]], np.int32)), np.full((2, 3), [[1], [2]]), I32)
    x = gc.placeholder(gc.float32, (), name="x")
    y = gc.full((2, 2), x, dtype=gc.float64)
    assert y.dtype == F64 and y.shape == (2, 2)
    with gc.Session() as sess:
        assert np.array_equal(sess.run(y, {x: 1.5}), np.full((2, 2), 1.5))
    with pytest.raises(ShapeError):
        gc.full((2, 3), [1, 2])


def test_big_zeros_is_a_broadcast_scalar_not_a_blob():
    z = gc.zeros((4096, 4096), name="big")
    o = gc.ones((1024, 1024), dtype=gc.float64)
    f = gc.full((512, 512, 4), 7)
    constants = [n for n in gc.get_default_graph().nodes if n.op == "constant"]
    assert len(constants) == 3 and all(n.attrs["value"].size == 1 for n in constants)
    assert z.name == "big" and z.node.op == "broadcast_to" and z.node.inputs[0].name == "big/value"
    assert z.shape == (4096, 4096) and z.dtype == F32
    small = gc.sum(o) + gc.cast(gc.sum(f), gc.float64)
    assert run_both(small) == 1024 * 1024 + 7 * 512 * 512 * 4


def test_names_and_fetching_by_name():
    gc.zeros((2,), name="z")
    gc.full((), 3.0, name="s")
    gc.eye(2, name="i")
    gc.arange(3, name="r")
    gc.linspace(0, 1, 3, name="l")
    with gc.Session() as sess:
        z, s, i, r, lin = sess.run(["z", "s", "i", "r", "l"])
    assert z.tolist() == [0, 0] and s == 3.0 and i.tolist() == [[1, 0], [0, 1]]
    assert r.tolist() == [0, 1, 2] and lin.tolist() == [0, 0.5, 1]


# -- eye --------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [(3,), (2, 4), (4, 2), (3, 3, 1), (3, 3, -2), (2, 5, 4), (3, None, 7),
                                  (0,), (0, 3), (1,), (4, 3, -5)])
def test_eye(args):
    check(gc.eye(*args), np.eye(*args), F32)


def test_eye_dtype_and_keywords():
    check(gc.eye(3, M=2, k=-1, dtype=gc.int64), np.eye(3, M=2, k=-1), I64)
    check(gc.eye(2, dtype=bool), np.eye(2, dtype=bool), B)


# -- arange -----------------------------------------------------------------------------------
@pytest.mark.parametrize("args, want", [
    ((5,), I64), ((0,), I64), ((-3,), I64), ((1, 10, 3), I64), ((10, 0, -3), I64), ((5, 1), I64), ((1, 5, -1), I64),
    ((-4, 4), I64), ((2.5,), F32), ((1, 2.5, 0.5), F32), ((0.5, 2.2, 0.3), F32), ((1.0, -1.0, -0.25), F32),
    ((0, 1, 0.1), F32), ((np.float64(0), 1, 0.1), F64), ((0, np.float64(2.0), 0.5), F64),
    ((np.int32(2), 9, 2), I32), ((np.int32(1), 4, 0.5), F32), ((np.float32(0), 3), F32), ((3, 1, 0.5), F32)])
def test_arange_matches_numpy(args, want):
    """numpy's length and float64 values, in graphc's dtype for the arguments."""
    x = gc.arange(*args)
    reference = np.arange(*(float(a) if want.kind == "f" else int(a) for a in args))
    check(x, reference.astype(want), want)


def test_arange_keywords_and_dtype():
    check(gc.arange(1, stop=4, step=1, dtype=gc.float64), np.arange(1.0, 4.0), F64)
    check(gc.arange(4, dtype=gc.int32), np.arange(4), I32)
    check(gc.arange(0, 2, 0.5, dtype=gc.int64), np.arange(0, 2, 0.5).astype(np.int64), I64)   # truncated
    big = gc.arange(0, 1000, 0.001)
    assert big.shape == (len(np.arange(0, 1000, 0.001)),)


# -- linspace ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs", [
    ((0, 1), {}), ((0, 1, 5), {}), ((0.0, 1.0, 5), {"endpoint": False}), ((2.0, -3.0, 7), {}), ((1, 1, 4), {}),
    ((0, 1, 0), {}), ((3, 7, 1), {}), ((3, 7, 1), {"endpoint": False}), ((-1e3, 1e3, 11), {})])
def test_linspace_matches_numpy(args, kwargs):
    check(gc.linspace(*args, **kwargs), np.linspace(*args, **kwargs).astype(np.float32), F32)


def test_linspace_dtypes():
    check(gc.linspace(np.float64(0), 1, 4), np.linspace(0, 1, 4), F64)
    check(gc.linspace(0, 1, 3, dtype=gc.float64), np.linspace(0, 1, 3), F64)
    check(gc.linspace(0, 10, 4, dtype=gc.int64), np.linspace(0, 10, 4, dtype=np.int64), I64)
    check(gc.linspace(-1, 1, 5, dtype=gc.int32), np.floor(np.linspace(-1, 1, 5)), I32)   # rounds down
    check(gc.linspace(np.int32(0), 5, 6), np.linspace(0, 5, 6), F32)


# -- errors -----------------------------------------------------------------------------------
BAD = [
    ("zeros-tensor-shape", ShapeError, "zeros", "Tensor", lambda: gc.zeros(gc.constant([2, 3]))),
    ("ones-tensor-dim", ShapeError, "ones", "Tensor", lambda: gc.ones((2, gc.constant(3)))),
    ("full-negative", ShapeError, "full", "negative", lambda: gc.full((2, -1), 1.0)),
    ("zeros-negative-int", ShapeError, "zeros", "negative", lambda: gc.zeros(-3)),
    ("zeros-float-shape", ShapeError, "zeros", "shape", lambda: gc.zeros((2.0, 3))),
    ("zeros-bool-shape", ShapeError, "zeros", "shape", lambda: gc.zeros(True)),
    ("zeros-bad-dtype", DTypeError, "zeros", "float16", lambda: gc.zeros(2, dtype="float16")),
    ("full-string", DTypeError, "full", "fill_value", lambda: gc.full((2,), "a")),
    ("eye-negative", ShapeError, "eye", "N", lambda: gc.eye(-1)),
    ("eye-tensor", ShapeError, "eye", "Tensor", lambda: gc.eye(gc.constant(3))),
    ("eye-float-k", ShapeError, "eye", "k", lambda: gc.eye(3, k=0.5)),
    ("arange-zero-step", ShapeError, "arange", "step", lambda: gc.arange(0, 5, 0)),
    ("arange-tensor", ShapeError, "arange", "Tensor", lambda: gc.arange(gc.constant(4))),
    ("arange-inf", ShapeError, "arange", "finite", lambda: gc.arange(0, float("inf"))),
    ("arange-string", DTypeError, "arange", "number", lambda: gc.arange("3")),
    ("linspace-negative", ShapeError, "linspace", "num", lambda: gc.linspace(0, 1, -1)),
    ("linspace-tensor", ShapeError, "linspace", "Tensor", lambda: gc.linspace(0, gc.constant(1.0), 3)),
    ("linspace-nan", ShapeError, "linspace", "finite", lambda: gc.linspace(float("nan"), 1, 3)),
]


@pytest.mark.parametrize("error, fn_name, words, build", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_errors_name_the_call_and_the_line(error, fn_name, words, build):
    line = build.__code__.co_firstlineno
    with pytest.raises(error) as info:
        build()
    msg = str(info.value)
    assert msg.startswith(f"{fn_name} at ") and f"{HERE}:{line}" in msg and words in msg, msg
