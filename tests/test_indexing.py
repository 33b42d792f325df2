"""Tensor.__getitem__ against numpy's basic indexing: the build-time shape and the run-time value."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc
from conftest import assert_close, run

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _data(shape, dtype=np.float32):
    size = int(np.prod(shape, dtype=np.int64))
    return (np.arange(size) * 3 - 7).astype(dtype).reshape(shape)


def check(shape, index, dtype=np.float32):
    """x[index] as a constant and as a fed placeholder matches numpy in shape, dtype and value."""
    data = _data(shape, dtype)
    expected = data[index]
    c = gc.constant(data)
    p = gc.placeholder(dtype, shape)
    yc, yp = c[index], p[index]
    assert yc.shape == expected.shape, (shape, index)
    assert yp.shape == expected.shape, (shape, index)
    assert yc.dtype == dtype and yp.dtype == dtype
    got_c, got_p = run([yc, yp], {p: data})
    assert_close(got_c, expected, dtype)
    assert_close(got_p, expected, dtype)


# -- hand-picked cases --------------------------------------------------------
SHAPE = (4, 5, 6)
CASES = [
    0, -1, -4, 3, (1, 2), (-1, -2, -3), (0, 0, 0), (3, -5, 5),
    slice(None), slice(1, 3), slice(None, None, 2), slice(None, None, -1), slice(3, 0, -1),
    slice(-1, None, -2), slice(-100, 100), slice(100, None), slice(None, -100), slice(2, 2),
    slice(3, 1), slice(1, 3, -1), slice(None, None, 7), slice(None, None, -7), slice(-2, -100, -1),
    (slice(None), 2), (slice(None), slice(None), -1), (slice(1, None, 2), slice(None, None, -2), slice(4, 1, -2)),
    None, (None, None), (None, 1), (1, None), (slice(None), None, 2), (None, Ellipsis, None),
    Ellipsis, (Ellipsis, 0), (0, Ellipsis), (Ellipsis, slice(None, None, -1)), (1, Ellipsis, 2),
    (Ellipsis, 1, 2, 3), (1, 2, 3, Ellipsis), (1, None, Ellipsis, None, -1), (Ellipsis, None),
    (1, 2, 3), (None, 1, 2, 3, None), (-1, slice(0, 0), 2), (slice(5, 10), Ellipsis),
    (np.int64(2), np.int32(-1)), slice(np.int64(1), np.int64(-1), np.int64(2)), (),
]


@pytest.mark.parametrize("index", CASES, ids=repr)
def test_index_matches_numpy(index):
    check(SHAPE, index)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64, np.bool_])
def test_index_keeps_dtype(dtype):
    check((3, 4), (slice(None, None, -1), 2), dtype)
    check((3, 4), (1, -1), dtype)


def test_rank0_results():
    check((3, 4), (2, 3))
    check((3,), -3)
    check((), ())
    check((), Ellipsis)
    check((), None)
    check((), (None, Ellipsis, None))
    y = gc.constant(_data((2, 3)))[1, 2]
    assert y.shape == () and y.ndim == 0
    out = run(y)
    assert isinstance(out, np.ndarray) and out.shape == () and out == _data((2, 3))[1, 2]


def test_size0_results():
    check((4, 5), slice(3, 1))
    check((4, 5), (slice(None), slice(5, None)))
    check((0, 3), slice(None))
    check((0, 3), (Ellipsis, 1))
    check((0, 3), (slice(None, None, -1), None, 2))
    check((3, 0, 2), (1, slice(None), -1))
    check((3, 0, 2), (slice(1, 1), Ellipsis))


def test_chained_indexing():
    data = _data((4, 5, 6))
    x = gc.constant(data)
    y = x[::-1][1:, None][..., ::2][0, 0]
    expected = data[::-1][1:, None][..., ::2][0, 0]
    assert y.shape == expected.shape
    assert_close(run(y), expected, np.float32)


# -- random indices (hypothesis) ----------------------------------------------
@st.composite
def shapes_and_indices(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    index = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    return shape, index


@SETTINGS
@given(shapes_and_indices())
def test_random_basic_indices(case):
    shape, index = case
    with gc.Graph().as_default():
        check(shape, index)


def _wide_slices():
    bound = st.one_of(st.none(), st.integers(-9, 9))
    step = st.one_of(st.none(), st.integers(-4, 4).filter(bool))
    return st.builds(slice, bound, bound, step)


@st.composite
def shapes_and_wide_indices(draw):
    """Indices with out-of-range slice bounds, big steps, several None and one optional Ellipsis."""
    shape = draw(st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple))
    items = []
    for d in shape[:draw(st.integers(0, len(shape)))]:
        if d > 0 and draw(st.booleans()):
            items.append(draw(st.integers(-d, d - 1)))
        else:
            items.append(draw(_wide_slices()))
    if draw(st.booleans()):
        # an Ellipsis after the leading indices, then indices for some of the trailing axes left
        rest = shape[len(items):]
        items.append(Ellipsis)
        for d in rest[len(rest) - draw(st.integers(0, len(rest))):]:
            items.append(draw(st.integers(-d, d - 1)) if d > 0 and draw(st.booleans()) else draw(_wide_slices()))
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    return shape, tuple(items)


@SETTINGS
@given(shapes_and_wide_indices())
def test_random_wide_indices(case):
    shape, index = case
    with gc.Graph().as_default():
        check(shape, index)


# -- unknown (None) dims --------------------------------------------------------
def _static_shape(known, index):
    """The build-time shape of x[index] for a placeholder of shape ``known`` (None: unknown):
    a slice over an unknown axis has unknown length; everything else is numpy's."""
    if not isinstance(index, tuple):
        index = (index,)
    used = sum(i is not None and i is not Ellipsis for i in index)
    if Ellipsis not in index:
        index = index + (Ellipsis,)
    at = index.index(Ellipsis)
    index = index[:at] + (slice(None),) * (len(known) - used) + index[at + 1:]
    out, axis = [], 0
    for item in index:
        if item is None:
            out.append(1)
            continue
        if isinstance(item, slice):
            d = known[axis]
            out.append(None if d is None else len(range(*item.indices(d))))
        axis += 1
    return tuple(out)


@SETTINGS
@given(shapes_and_indices(), st.data())
def test_random_indices_with_unknown_dims(case, data):
    shape, index = case
    known = tuple(d if data.draw(st.booleans()) else None for d in shape)
    with gc.Graph().as_default():
        value = _data(shape)
        x = gc.placeholder(gc.float32, known)
        y = x[index]
        assert y.shape == _static_shape(known, index)
        assert_close(run(y, {x: value}), value[index], np.float32)


def test_unknown_dims_by_hand():
    x = gc.placeholder(gc.float32, (None, 5, None))
    cases = [
        ((0,), (5, None)),
        ((-1, 2), (None,)),
        ((slice(1, 3), None, Ellipsis, 0), (None, 1, 5)),
        ((Ellipsis, slice(None, None, -1)), (None, 5, None)),
        ((slice(None), slice(1, None, 2)), (None, 2, None)),
        ((-2, -1, -1), ()),
    ]
    value = _data((3, 5, 4))
    for index, shape in cases:
        y = x[index]
        assert y.shape == shape, index
        assert_close(run(y, {x: value}), value[index], np.float32)
    # the same graph runs with other sizes for the unknown dims
    other = _data((6, 5, 1))
    for index, _ in cases:
        assert_close(run(x[index], {x: other}), other[index], np.float32)


def test_out_of_range_int_on_unknown_dim_fails_at_run_time():
    x = gc.placeholder(gc.float32, (None, 3))
    y = x[4]                          # cannot be checked when built
    assert y.shape == (3,)
    assert_close(run(y, {x: _data((5, 3))}), _data((5, 3))[4], np.float32)
    with pytest.raises(gc.errors.GraphcError):
        run(y, {x: _data((2, 3))})


# -- errors -----------------------------------------------------------------------
def test_too_many_indices():
    x = gc.constant(_data((2, 3)))
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="too many indices"):
        x[:, :, None, :]
    with pytest.raises(IndexError, match="too many indices"):
        gc.constant(np.float32(1))[0]
    with pytest.raises(IndexError):
        x[..., 0, ...]
    x[None, 0, None, 0, None]         # None does not use up an axis


@pytest.mark.parametrize("index", [2, -3, (0, 3), (0, -4), (Ellipsis, 5), (None, 7)])
def test_out_of_range_int(index):
    x = gc.constant(_data((2, 3)))
    with pytest.raises(IndexError, match="out of bounds"):
        x[index]
    with pytest.raises(IndexError):
        _data((2, 3))[index]          # numpy agrees


def test_out_of_range_int_on_empty_axis():
    x = gc.placeholder(gc.float32, (0, 3))
    with pytest.raises(IndexError):
        x[0]
    with pytest.raises(IndexError):
        x[-1]


@pytest.mark.parametrize("index", [[0, 1], np.array([0, 1]), (slice(None), [1]), np.array(1),
                                   gc.constant, 1.0, "a", True, np.bool_(False), (0, False)],
                         ids=["list", "array", "list-in-tuple", "0d-array", "tensor", "float", "str",
                              "bool", "np-bool", "bool-in-tuple"])
def test_non_basic_index_is_a_type_error(index):
    x = gc.constant(_data((2, 3)))
    if index is gc.constant:
        index = gc.constant(np.array([0, 1]))
    with pytest.raises(TypeError, match="gc.gather"):
        x[index]


@pytest.mark.parametrize("bad", [slice(1.0, None), slice(None, 2.5), slice(None, None, 1.0), slice("a", None)])
def test_non_integer_slice_bounds_are_a_type_error(bad):
    x = gc.constant(_data((4,)))
    with pytest.raises(TypeError):
        _data((4,))[bad]              # numpy agrees
    with pytest.raises(TypeError):
        x[bad]


def test_zero_step():
    x = gc.constant(_data((4,)))
    with pytest.raises(ValueError, match="step"):
        x[::0]


def test_tensor_slice_bounds_are_rejected():
    x = gc.constant(_data((4,)))
    with pytest.raises(TypeError):
        x[gc.constant(1):]
