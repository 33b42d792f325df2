"""Bad input gets a clear error that names the tensor/op and the user's source line,
and a failed run loses nothing (no Variable changes, the Session keeps working)."""
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.errors import (DTypeError, ExecutionError, FeedError, FetchError, GraphcError, GraphError, NumericsError,
                           ShapeError)
from conftest import assert_close


def here():
    """The caller's current line number."""
    return sys._getframe(1).f_lineno


def test_error_hierarchy():
    assert issubclass(NumericsError, ExecutionError)
    for cls in (ShapeError, DTypeError, FeedError, FetchError, GraphError, ExecutionError, NumericsError):
        assert issubclass(cls, GraphcError)
    assert gc.GraphcError is GraphcError
    assert issubclass(GraphcError, Exception)


# -- build time -----------------------------------------------------------------
def test_add_shape_mismatch():
    a = gc.constant(np.zeros(3, np.float32), name="lhs")
    b = gc.constant(np.zeros(4, np.float32), name="rhs")
    n_nodes = len(gc.get_default_graph())
    with pytest.raises(ShapeError) as info:
        line = here() + 1
        gc.add(a, b)
    msg = str(info.value)
    assert isinstance(info.value, GraphcError)
    assert "add" in msg and "'lhs'" in msg and "'rhs'" in msg
    assert "f32[3]" in msg and "f32[4]" in msg
    assert f"test_errors.py:{line}" in msg
    assert len(gc.get_default_graph()) == n_nodes  # nothing half-built was added


def test_operator_shape_mismatch_points_at_the_operator_line():
    a = gc.constant([1.0, 2.0, 3.0])
    b = gc.constant([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ShapeError) as info:
        line = here() + 1
        a * b
    msg = str(info.value)
    assert "multiply" in msg and "f32[3]" in msg and "f32[2,2]" in msg
    assert f"test_errors.py:{line}" in msg


def test_matmul_contraction_mismatch():
    a = gc.constant(np.ones((2, 3), np.float32), name="a")
    b = gc.constant(np.ones((4, 5), np.float32), name="b")
    with pytest.raises(ShapeError) as info:
        line = here() + 1
        gc.matmul(a, b)
    msg = str(info.value)
    assert "matmul" in msg and "'a'" in msg and "'b'" in msg
    assert "f32[2,3]" in msg and "f32[4,5]" in msg
    assert f"test_errors.py:{line}" in msg


def test_matmul_operator_contraction_mismatch():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.Variable(np.ones((2, 2), np.float32), name="w")
    with pytest.raises(ShapeError) as info:
        line = here() + 1
        x @ w
    msg = str(info.value)
    assert "matmul" in msg and "'x'" in msg and "'w'" in msg
    assert "f32[?,3]" in msg and "f32[2,2]" in msg
    assert f"test_errors.py:{line}" in msg


def test_bad_reshape():
    a = gc.constant(np.zeros((2, 3), np.float32), name="six")
    with pytest.raises(ShapeError) as info:
        line = here() + 1
        gc.reshape(a, (4, 2))
    msg = str(info.value)
    assert "reshape" in msg and "'six'" in msg and "f32[2,3]" in msg and "(4, 2)" in msg
    assert f"test_errors.py:{line}" in msg
    with pytest.raises(ShapeError) as info:
        line = here() + 1
        a.reshape(-1, 4)
    assert "reshape" in str(info.value) and f"test_errors.py:{line}" in str(info.value)


def test_add_of_bools_is_a_dtype_error():
    p = gc.constant([True, False], name="p")
    q = gc.constant([False, False], name="q")
    with pytest.raises(DTypeError) as info:
        line = here() + 1
        gc.add(p, q)
    msg = str(info.value)
    assert isinstance(info.value, GraphcError)
    assert "add" in msg and "'p'" in msg and "'q'" in msg and msg.count("bool[2]") >= 2
    assert f"test_errors.py:{line}" in msg


def test_errors_in_a_name_scope_name_the_scoped_op():
    a = gc.constant(np.zeros(3, np.float32))
    b = gc.constant(np.zeros(4, np.float32))
    with gc.name_scope("block"):
        with pytest.raises(ShapeError) as info:
            line = here() + 1
            gc.subtract(a, b, name="diff")
    msg = str(info.value)
    assert "block/diff" in msg and f"test_errors.py:{line}" in msg


# -- run time: feeds ------------------------------------------------------------------
def test_missing_feed_names_the_placeholder_and_its_line():
    line = here() + 1
    x = gc.placeholder(gc.float32, (None, 4), name="images")
    y = gc.sum(x * 2.0, name="total")
    with gc.Session() as sess:
        with pytest.raises(FeedError) as info:
            sess.run(y)
    msg = str(info.value)
    assert "'images'" in msg and f"test_errors.py:{line}" in msg
    assert "total" in msg  # and what needed it


def test_feed_of_wrong_shape():
    line = here() + 1
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    with gc.Session() as sess:
        with pytest.raises(FeedError) as info:
            sess.run(x, {x: np.zeros((2, 4), np.float32)})
        msg = str(info.value)
        assert "'x'" in msg and "(2, 4)" in msg and f"test_errors.py:{line}" in msg
        with pytest.raises(FeedError, match="'x'"):
            sess.run(x, {x: np.zeros(3, np.float32)})  # wrong rank
        with pytest.raises(FeedError, match="'x'"):
            sess.run(x, {"x:0": [[1.0, 2.0]]})


def test_feed_of_unsafe_dtype():
    i = gc.placeholder(gc.int32, (2,), name="counts")
    f = gc.placeholder(gc.float32, (2,), name="weights")
    with gc.Session() as sess:
        with pytest.raises(FeedError) as info:
            sess.run(i, {i: np.array([1.5, 2.0])})
        msg = str(info.value)
        assert "'counts'" in msg and "float64" in msg and "int32" in msg
        with pytest.raises(FeedError, match="'counts'"):
            sess.run(i, {i: np.array([1.0, 2.0], np.float32)})
        with pytest.raises(FeedError, match="'counts'"):
            sess.run(i, {i: [0.5, 1.0]})
        with pytest.raises(FeedError, match="'weights'"):
            sess.run(f, {f: np.array(["a", "b"])})
        # safe (same-kind) conversions are allowed
        assert_close(sess.run(f, {f: np.array([1, 2], np.int64)}), np.array([1.0, 2.0], np.float32), np.float32)
        assert_close(sess.run(f, {f: np.array([0.25, 3.5])}), np.array([0.25, 3.5], np.float32), np.float32)


def test_feed_key_from_another_graph():
    other = gc.Graph()
    with other.as_default():
        foreign = gc.placeholder(gc.float32, (2,), name="foreign")
    x = gc.placeholder(gc.float32, (2,), name="x")
    with gc.Session() as sess:
        with pytest.raises(FeedError, match="'foreign'") as info:
            sess.run(x, {x: [1.0, 2.0], foreign: [3.0, 4.0]})
        assert "another graph" in str(info.value)


def test_feed_key_unknown_name_or_type():
    x = gc.placeholder(gc.float32, (2,), name="x")
    with gc.Session() as sess:
        with pytest.raises(FeedError, match="nope"):
            sess.run(x, {"nope": [1.0, 2.0]})
        with pytest.raises(FeedError):
            sess.run(x, {x: [1.0, 2.0], 3: [1.0]})


def test_feeding_an_operation():
    gc.Variable([1.0])
    init = gc.global_variables_initializer()
    x = gc.placeholder(gc.float32, (), name="x")
    with gc.Session() as sess:
        with pytest.raises(FeedError, match=f"'{init.name}'"):
            sess.run(x, {x: 1.0, init: 0.0})
        with pytest.raises(FeedError, match=f"'{init.name}'"):
            sess.run(x, {x: 1.0, init.name: 0.0})


# -- run time: fetches -----------------------------------------------------------------
def test_fetch_from_another_graph():
    other = gc.Graph()
    with other.as_default():
        foreign = gc.constant([1.0], name="foreign")
    mine = gc.constant([2.0], name="mine")
    with gc.Session() as sess:
        with pytest.raises(FetchError, match="'foreign'") as info:
            sess.run([mine, foreign])
        assert "another graph" in str(info.value)
        assert_close(sess.run(mine), np.array([2.0], np.float32), np.float32)
    with gc.Session(graph=other) as sess:
        with pytest.raises(FetchError, match="'mine'"):
            sess.run(mine)
        assert_close(sess.run(foreign), np.array([1.0], np.float32), np.float32)


def test_unknown_fetch_types():
    a = gc.constant(1.0)
    with gc.Session() as sess:
        for bad in (3, object(), None, 2.5, np.zeros(2)):
            with pytest.raises(FetchError):
                sess.run(bad)
        with pytest.raises(FetchError, match="int"):
            sess.run([a, {"k": 7}])
        with pytest.raises(FetchError, match="no_such_tensor"):
            sess.run("no_such_tensor")
        with pytest.raises(FetchError):
            sess.compile(object())


# -- run time: ops ---------------------------------------------------------------------
def test_op_failing_at_run_time_names_the_op_and_line():
    table = gc.constant(np.arange(5, dtype=np.float32), name="table")
    idx = gc.placeholder(gc.int64, (None,), name="idx")
    line = here() + 1
    picked = gc.gather(table, idx, name="lookup")
    with gc.Session() as sess:
        assert_close(sess.run(picked, {idx: [4, 0]}), np.array([4.0, 0.0], np.float32), np.float32)
        with pytest.raises(GraphcError) as info:
            sess.run(picked, {idx: [1, 7]})
        msg = str(info.value)
        assert isinstance(info.value, ExecutionError)
        assert "gather" in msg and "'lookup'" in msg and f"test_errors.py:{line}" in msg
        assert isinstance(info.value.__cause__, IndexError)  # the original error is kept
        # the session still works
        assert_close(sess.run(picked, {idx: [2]}), np.array([2.0], np.float32), np.float32)


# -- a failed run changes nothing ----------------------------------------------------------
def _set_up_changed_variables(sess, variables):
    """Give the variables values other than their initial ones (initializer fed with new values)."""
    init = gc.variables_initializer(variables, name="set")
    sess.run(init, {v.initial_value: np.full(v.shape, 100.0 + i, v.dtype) for i, v in enumerate(variables)})
    return [np.full(v.shape, 100.0 + i, v.dtype) for i, v in enumerate(variables)]


def test_failed_runs_change_no_variable_and_session_keeps_working():
    w = gc.Variable(np.ones((2, 2), np.float32), name="w")
    b = gc.Variable(np.zeros(2, np.float32), name="b")
    x = gc.placeholder(gc.float32, (None, 2), name="x")
    y = gc.matmul(x, w) + b
    idx = gc.placeholder(gc.int64, (1,), name="idx")
    bad = gc.gather(b, idx)
    init = gc.global_variables_initializer()
    data = np.array([[1.0, 2.0]], np.float32)
    with gc.Session() as sess:
        expected = _set_up_changed_variables(sess, [w, b])
        compiled_y = sess.compile(y, {x: data})
        y_before = sess.run(y, {x: data})
        failing_runs = [
            ([init, bad], {idx: [5]}, ExecutionError),          # op fails at run time
            ([init, y], {x: np.zeros((1, 3), np.float32)}, FeedError),  # bad feed shape
            ([init, y], {x: np.array([[1, 2]], np.float64) + 0.5, idx: [0.5]}, FeedError),  # unsafe dtype
            ([init, y], {}, FeedError),                        # missing feed
            ([init, y], {x: data, "nope": 1.0}, FeedError),     # unknown feed key
            ([init, object()], {}, FetchError),                # bad fetch
            ({"reset": init, "bad": "nope:0"}, {}, FetchError),  # unknown fetch name
        ]
        for fetches, feed, error in failing_runs:
            with pytest.raises(error):
                sess.run(fetches, feed)
            w_now, b_now = sess.run([w, b])
            assert_close(w_now, expected[0], np.float32)
            assert_close(b_now, expected[1], np.float32)
        # caches intact: the same program, the same numbers
        assert sess.compile(y, {x: data}) is compiled_y
        assert_close(sess.run(y, {x: data}), y_before, np.float32)
        assert_close(y_before, data @ expected[0] + expected[1], np.float32)
        # and the initializer itself still works
        assert sess.run(init) is None
        w_now, b_now = sess.run([w, b])
        assert_close(w_now, np.ones((2, 2), np.float32), np.float32)
        assert_close(b_now, np.zeros(2, np.float32), np.float32)
        assert_close(sess.run(bad, {idx: [1]}), np.zeros(1, np.float32), np.float32)


def test_failed_run_keeps_late_variables_usable():
    sess = gc.Session()
    v = gc.Variable([1.0, 2.0], name="late")
    idx = gc.placeholder(gc.int64, (1,), name="idx")
    bad = gc.gather(v, idx)
    with pytest.raises(ExecutionError):
        sess.run([v, bad], {idx: [9]})
    assert_close(sess.run(v), np.array([1.0, 2.0], np.float32), np.float32)
    assert_close(sess.run(bad, {idx: [1]}), np.array([2.0], np.float32), np.float32)
    sess.close()


def test_uninitializable_variable_names_itself():
    p = gc.placeholder(gc.float32, (2,), name="scale")
    v = gc.Variable(p * 2.0, name="scaled")
    with gc.Session() as sess:  # creating the session does not fail
        with pytest.raises(FeedError, match="'scaled'"):
            sess.run(v)
        sess.run(gc.variables_initializer([v]), {p: [1.0, 3.0]})
        assert_close(sess.run(v), np.array([2.0, 6.0], np.float32), np.float32)


def test_bitwise_operators_need_bools():
    ints = gc.constant([1, 2])
    flags = gc.constant([True, False])
    for build in (lambda: ints & ints, lambda: ~ints, lambda: flags | 1, lambda: 3 & flags):
        with pytest.raises(DTypeError, match="needs bool operands"):
            build()
    assert_close(gc.Session().run(~(flags & True) | flags), np.array([True, True]))


def test_int_feed_out_of_range_for_int32():
    x = gc.placeholder(gc.int32, (2,), name="small")
    with pytest.raises(FeedError, match="'small'.*outside the range"):
        gc.Session().run(x + 1, {x: np.array([1, 2 ** 40])})
    assert_close(gc.Session().run(x + 1, {x: np.array([1, 2 ** 30], np.int64)}), np.array([2, 2 ** 30 + 1]))


def test_parsed_program_without_initializers_names_the_variable():
    w = gc.Variable(np.arange(3.0, dtype=np.float32), name="w")
    with gc.Session() as sess:
        text = sess.compile(w * 2.0).ir(blobs=True)
    parsed = gc.ir.parse(text)          # the compiled program has no 'w/initial_value' node
    with gc.Session(parsed) as sess:    # creating the session is fine...
        with pytest.raises(FeedError, match="variable 'w' .*initial value"):
            sess.run(parsed.outputs[0].name)   # ...reading the variable is not
        assert_close(sess.run(parsed.outputs[0].name, {"w": np.ones(3)}), np.full(3, 2.0))
