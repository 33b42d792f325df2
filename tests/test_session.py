"""Session semantics (TF1 style): fetches, feeds, pruning, variables, compile, lifetimes."""
import collections

import numpy as np
import pytest

import graphc as gc
from conftest import assert_close

Pair = collections.namedtuple("Pair", ["left", "right"])


# -- fetches ---------------------------------------------------------------------
def test_fetch_tensor_returns_numpy_value():
    a = gc.constant([1.0, 2.0, 3.0])
    b = gc.constant([10.0, 20.0, 30.0])
    with gc.Session() as sess:
        out = sess.run(a + b)
    assert isinstance(out, np.ndarray)
    assert_close(out, np.array([11.0, 22.0, 33.0], np.float32), np.float32)


def test_fetch_operation_returns_none():
    v = gc.Variable([1.0, 2.0])
    init = gc.global_variables_initializer()
    assert isinstance(init, gc.Operation)
    with gc.Session() as sess:
        assert sess.run(init) is None
        assert sess.run([init, v])[0] is None


def test_fetch_by_name_with_and_without_output_index():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    a = gc.constant(x)
    s = gc.add(a, 1.0)
    assert s.name == "add"
    with gc.Session() as sess:
        assert_close(sess.run("add"), x + 1, np.float32)
        assert_close(sess.run("add:0"), x + 1, np.float32)
        by_name = sess.run(["add", "add:0", s])
    for value in by_name:
        assert_close(value, x + 1, np.float32)


def test_fetch_nested_structures_keep_their_shape():
    xa = np.array([1.0, -2.0], np.float32)
    xb = np.array([[3, 4], [5, 6]], np.int64)
    a = gc.constant(xa, name="a")
    b = gc.constant(xb, name="b")
    c = a * 2.0
    init = gc.global_variables_initializer()
    fetches = {
        "list": [a, (b, c)],
        "tuple": (c,),
        "pair": Pair(left=a, right={"deep": [b, "a:0"]}),
        "op": init,
        "empty": [],
    }
    with gc.Session() as sess:
        out = sess.run(fetches)
    assert type(out) is dict and list(out) == list(fetches)
    assert type(out["list"]) is list and type(out["list"][1]) is tuple
    assert_close(out["list"][0], xa, np.float32)
    assert_close(out["list"][1][0], xb, np.int64)
    assert_close(out["list"][1][1], xa * 2, np.float32)
    assert type(out["tuple"]) is tuple and len(out["tuple"]) == 1
    assert_close(out["tuple"][0], xa * 2, np.float32)
    assert type(out["pair"]) is Pair
    assert_close(out["pair"].left, xa, np.float32)
    assert type(out["pair"].right) is dict
    assert_close(out["pair"].right["deep"][0], xb, np.int64)
    assert_close(out["pair"].right["deep"][1], xa, np.float32)
    assert out["op"] is None
    assert out["empty"] == []


def test_fetch_namedtuple_top_level():
    a = gc.constant(3.0)
    b = gc.constant([1, 2])
    with gc.Session() as sess:
        out = sess.run(Pair(a, b))
    assert type(out) is Pair
    assert_close(out.left, np.float32(3.0), np.float32)
    assert_close(out.right, np.array([1, 2], np.int64), np.int64)


def test_scalars_come_back_as_0d_arrays():
    x = gc.constant([1.0, 2.0, 4.0])
    total = gc.sum(x)
    k = gc.constant(7)
    with gc.Session() as sess:
        t, kk, first = sess.run([total, k, x[0]])
    for value in (t, kk, first):
        assert isinstance(value, np.ndarray) and value.shape == ()
    assert_close(t, np.float32(7.0), np.float32)
    assert_close(kk, np.int64(7), np.int64)
    assert_close(first, np.float32(1.0), np.float32)


def test_results_are_writable_and_owned_by_the_caller():
    c = gc.constant([1.0, 2.0])
    v = gc.Variable([5.0, 6.0])
    r = gc.reshape(v, (2, 1))
    y = c + 1.0
    with gc.Session() as sess:
        cv, vv, rv, yv = sess.run([c, v, r, y])
        for value in (cv, vv, rv, yv):
            assert value.flags.writeable
            value[...] = -100.0
        cv2, vv2, rv2, yv2 = sess.run([c, v, r, y])
    assert_close(cv2, np.array([1.0, 2.0], np.float32), np.float32)
    assert_close(vv2, np.array([5.0, 6.0], np.float32), np.float32)
    assert_close(rv2, np.array([[5.0], [6.0]], np.float32), np.float32)
    assert_close(yv2, np.array([2.0, 3.0], np.float32), np.float32)


def test_scalar_results_are_writable_too():
    v = gc.Variable(3.0)
    with gc.Session() as sess:
        out = sess.run(v)
        out[()] = 9.0
        assert_close(sess.run(v), np.float32(3.0), np.float32)


def test_fed_arrays_are_not_retained():
    x = gc.placeholder(gc.float32, (3,))
    y = x * 2.0
    v = gc.Variable([0.0, 0.0, 0.0])
    init = gc.variables_initializer([v])
    feed = np.array([1.0, 2.0, 3.0], np.float32)
    with gc.Session() as sess:
        out_x, out_y = sess.run([x, y], {x: feed})
        out_x[...] = 50.0  # the fetched placeholder value is not the fed array
        assert_close(feed, np.array([1.0, 2.0, 3.0], np.float32), np.float32)
        # a variable initialized from a feed does not alias it
        sess.run(init, {v.initial_value: feed})
        feed[...] = 42.0
        assert_close(sess.run(v), np.array([1.0, 2.0, 3.0], np.float32), np.float32)
        assert_close(out_y, np.array([2.0, 4.0, 6.0], np.float32), np.float32)
        assert_close(sess.run(y, {x: np.ones(3, np.float32)}), np.full(3, 2.0, np.float32), np.float32)


# -- feeds ------------------------------------------------------------------------
def test_feed_placeholder_by_tensor_and_by_name():
    x = gc.placeholder(gc.float32, (None, 2), name="x")
    y = gc.sum(x * x, axis=1)
    data = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]], np.float32)
    with gc.Session() as sess:
        by_tensor = sess.run(y, {x: data})
        by_name = sess.run(y, {"x": data})
        by_output_name = sess.run(y, {"x:0": data})
    for out in (by_tensor, by_name, by_output_name):
        assert_close(out, (data * data).sum(axis=1), np.float32)


def test_feed_placeholder_different_batch_sizes():
    x = gc.placeholder(gc.float64, (None,))
    y = gc.mean(x)
    with gc.Session() as sess:
        for n in (1, 4, 7):
            data = np.linspace(-1.0, 2.0, n)
            assert_close(sess.run(y, {x: data}), data.mean(), np.float64)


def test_feed_overrides_constant_and_intermediate():
    a = gc.constant([1.0, 2.0])
    b = a * 3.0
    c = b + 1.0
    with gc.Session() as sess:
        assert_close(sess.run(c), np.array([4.0, 7.0], np.float32), np.float32)
        assert_close(sess.run(c, {b: [10.0, 20.0]}), np.array([11.0, 21.0], np.float32), np.float32)
        assert_close(sess.run(c, {a: [0.0, 1.0]}), np.array([1.0, 4.0], np.float32), np.float32)
        # fetching the fed tensor itself returns the fed value
        assert_close(sess.run(b, {b: [5.0, 6.0]}), np.array([5.0, 6.0], np.float32), np.float32)
        # overrides hold only for that run
        assert_close(sess.run(c), np.array([4.0, 7.0], np.float32), np.float32)


def test_feeding_intermediate_makes_its_placeholder_inputs_unneeded():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    h = gc.relu(x)
    out = gc.sum(h * 2.0)
    hv = np.array([[1.0, 2.0, 3.0]], np.float32)
    with gc.Session() as sess:
        assert_close(sess.run(out, {h: hv}), np.float32(12.0), np.float32)
        assert_close(sess.run(out, {h.name: hv}), np.float32(12.0), np.float32)
        with pytest.raises(gc.errors.FeedError):
            sess.run(out)


def test_feed_converts_safe_dtypes_to_the_placeholder_dtype():
    x = gc.placeholder(gc.float32, (2,))
    i = gc.placeholder(gc.int64, (2,))
    with gc.Session() as sess:
        assert_close(sess.run(x, {x: np.array([1, 2], np.int64)}), np.array([1.0, 2.0], np.float32), np.float32)
        assert_close(sess.run(x, {x: np.array([0.5, 2.5])}), np.array([0.5, 2.5], np.float32), np.float32)
        assert_close(sess.run(x, {x: [3, 4]}), np.array([3.0, 4.0], np.float32), np.float32)
        assert_close(sess.run(i, {i: np.array([1, 2], np.int32)}), np.array([1, 2], np.int64), np.int64)


# -- pruning ----------------------------------------------------------------------
def test_only_the_needed_subgraph_runs():
    x = gc.placeholder(gc.float32, (2,), name="unfed")
    a = gc.constant([1.0, 2.0])
    needs_feed = x + a
    # an op that would fail at run time (index out of range) on an unrelated branch
    bad = gc.gather(a, gc.constant([5]))
    good = a * 10.0
    with gc.Session() as sess:
        assert_close(sess.run(good), np.array([10.0, 20.0], np.float32), np.float32)
        good_v, a_v = sess.run([good, a])
        assert_close(good_v, np.array([10.0, 20.0], np.float32), np.float32)
        assert_close(a_v, np.array([1.0, 2.0], np.float32), np.float32)
        with pytest.raises(gc.errors.FeedError, match="unfed"):
            sess.run(needs_feed)
        with pytest.raises(gc.GraphcError, match="gather"):
            sess.run(bad)
        # the failures broke nothing
        assert_close(sess.run(good), np.array([10.0, 20.0], np.float32), np.float32)


def test_unfed_placeholder_in_variable_graph_not_needed():
    x = gc.placeholder(gc.float32, (None,))
    v = gc.Variable([2.0, 3.0])
    unused = x * v  # noqa: F841
    with gc.Session() as sess:
        assert_close(sess.run(v * v), np.array([4.0, 9.0], np.float32), np.float32)


# -- variables --------------------------------------------------------------------
def test_variables_start_at_initial_values():
    arr = np.array([[1.0, 2.0], [3.0, 4.0]], np.float64)
    v_arr = gc.Variable(arr, name="from_array")
    v_list = gc.Variable([1, 2, 3], name="from_list")
    v_tensor = gc.Variable(gc.constant([1.0, 2.0]) * 3.0 + gc.constant(1.0), name="from_tensor")
    v_scalar = gc.Variable(2.5)
    v_cast = gc.Variable([1, 2], dtype=gc.float32)
    arr[0, 0] = 99.0  # the variable copied its initial value
    with gc.Session() as sess:
        a, l, t, s, c = sess.run([v_arr, v_list, v_tensor, v_scalar, v_cast])
    assert_close(a, np.array([[1.0, 2.0], [3.0, 4.0]]), np.float64)
    assert_close(l, np.array([1, 2, 3]), np.int64)
    assert_close(t, np.array([4.0, 7.0], np.float32), np.float32)
    assert_close(s, np.float32(2.5), np.float32)
    assert_close(c, np.array([1.0, 2.0], np.float32), np.float32)
    assert v_arr.shape == (2, 2) and v_arr.dtype == gc.float64
    assert v_list.dtype == gc.int64 and v_tensor.dtype == gc.float32


def test_variable_is_a_tensor_and_trainable_flag():
    v = gc.Variable([1.0, 2.0], name="w")
    frozen = gc.Variable([3.0], trainable=False, name="frozen")
    assert isinstance(v, gc.Tensor) and isinstance(v, gc.Variable)
    assert v.trainable is True and frozen.trainable is False
    assert v.name == "w"
    y = v * 2.0 + frozen - 1.0
    z = v @ gc.constant([1.0, 1.0])
    with gc.Session() as sess:
        assert_close(sess.run(y), np.array([4.0, 6.0], np.float32), np.float32)
        assert_close(sess.run(z), np.float32(3.0), np.float32)
        assert_close(sess.run(v.initial_value), np.array([1.0, 2.0], np.float32), np.float32)


def test_variable_state_persists_and_initializer_resets():
    v = gc.Variable([1.0, 2.0])
    init = gc.global_variables_initializer()
    y = v + 1.0
    with gc.Session() as sess:
        sess.run(init, {v.initial_value: [10.0, 20.0]})  # TF1 idiom: initialize from a feed
        assert_close(sess.run(v), np.array([10.0, 20.0], np.float32), np.float32)
        # persists across runs
        assert_close(sess.run(y), np.array([11.0, 21.0], np.float32), np.float32)
        assert_close(sess.run(v), np.array([10.0, 20.0], np.float32), np.float32)
        sess.run(gc.global_variables_initializer())
        assert_close(sess.run(v), np.array([1.0, 2.0], np.float32), np.float32)


def test_each_session_has_its_own_variable_state():
    v = gc.Variable([1.0, 2.0])
    init = gc.variables_initializer([v])
    s1, s2 = gc.Session(), gc.Session()
    s1.run(init, {v.initial_value: [7.0, 8.0]})
    assert_close(s1.run(v), np.array([7.0, 8.0], np.float32), np.float32)
    assert_close(s2.run(v), np.array([1.0, 2.0], np.float32), np.float32)
    s3 = gc.Session()
    assert_close(s3.run(v), np.array([1.0, 2.0], np.float32), np.float32)
    for s in (s1, s2, s3):
        s.close()


def test_variables_initializer_resets_only_listed_variables():
    a = gc.Variable([1.0], name="a")
    b = gc.Variable([2.0], name="b")
    both = gc.global_variables_initializer()
    only_a = gc.variables_initializer([a], name="init_a")
    with gc.Session() as sess:
        sess.run(both, {a.initial_value: [10.0], b.initial_value: [20.0]})
        sess.run(only_a)
        assert_close(sess.run(a), np.array([1.0], np.float32), np.float32)
        assert_close(sess.run(b), np.array([20.0], np.float32), np.float32)


def test_variable_created_after_session_is_initialized_on_first_use():
    v1 = gc.Variable([1.0, 2.0])
    with gc.Session() as sess:
        assert_close(sess.run(v1), np.array([1.0, 2.0], np.float32), np.float32)
        v2 = gc.Variable([[3.0]], name="late")
        assert_close(sess.run(v2 * 2.0), np.array([[6.0]], np.float32), np.float32)
        assert_close(sess.run(v2), np.array([[3.0]], np.float32), np.float32)
        # the global initializer built now covers it too
        sess.run(gc.global_variables_initializer(), {v2.initial_value: [[5.0]]})
        assert_close(sess.run(v2), np.array([[5.0]], np.float32), np.float32)


def test_late_variable_initialized_from_another_late_variable():
    sess = gc.Session()
    v1 = gc.Variable([1.0, 2.0], name="v1")
    v2 = gc.Variable(v1 * 2.0, name="v2")
    # only v2 is fetched; its initial value reads v1, which must be initialized first
    assert_close(sess.run(v2), np.array([2.0, 4.0], np.float32), np.float32)
    assert_close(sess.run(v1), np.array([1.0, 2.0], np.float32), np.float32)
    sess.close()


def test_variable_chain_waiting_for_a_feed():
    p = gc.placeholder(gc.float32, (2,), name="p")
    v1 = gc.Variable([1.0, 2.0], name="v1")
    v2 = gc.Variable(v1 * p, name="v2")  # needs a feed to start
    v3 = gc.Variable(v2 + 1.0, name="v3")  # needs v2
    with gc.Session() as sess:  # creating the session does not fail
        assert_close(sess.run(v1), np.array([1.0, 2.0], np.float32), np.float32)
        with pytest.raises(gc.errors.FeedError, match="'v3'"):
            sess.run(v3)
        sess.run(gc.variables_initializer([v2]), {p: [3.0, 3.0]})
        assert_close(sess.run(v2), np.array([3.0, 6.0], np.float32), np.float32)
        assert_close(sess.run(v3), np.array([4.0, 7.0], np.float32), np.float32)


def test_variable_initialized_from_another_variable_at_session_creation():
    v1 = gc.Variable([1.0, 2.0], name="v1")
    v2 = gc.Variable(v1 + 1.0, name="v2")
    with gc.Session() as sess:
        assert_close(sess.run(v2), np.array([2.0, 3.0], np.float32), np.float32)


def test_feeding_a_variable_overrides_it_for_one_run():
    v = gc.Variable([1.0, 2.0], name="v")
    y = v * v
    with gc.Session() as sess:
        assert_close(sess.run(y, {v: [3.0, 4.0]}), np.array([9.0, 16.0], np.float32), np.float32)
        assert_close(sess.run(y, {"v": [5.0, 6.0]}), np.array([25.0, 36.0], np.float32), np.float32)
        assert_close(sess.run(v, {v: [0.0, 0.0]}), np.array([0.0, 0.0], np.float32), np.float32)
        assert_close(sess.run(y), np.array([1.0, 4.0], np.float32), np.float32)
        assert_close(sess.run(v), np.array([1.0, 2.0], np.float32), np.float32)


# -- compile ----------------------------------------------------------------------
def test_compile_with_arrays_shapes_and_specs():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.Variable(np.ones((3, 2), np.float32), name="w")
    y = gc.matmul(x, w, name="y")
    with gc.Session() as sess:
        by_array = sess.compile(y, {x: np.zeros((4, 3), np.float32)})
        by_shape = sess.compile(y, {x: (4, 3)})
        by_spec = sess.compile(y, {x: gc.TensorSpec((4, 3), gc.float32)})
        by_spec_no_dtype = sess.compile(y, {"x": gc.TensorSpec((4, 3))})
        assert isinstance(by_array, gc.Compiled)
        assert by_array.stages == ["specialize", *gc.passes.PASS_NAMES]
        # the cache hands back the very same program for the same fetches and feed shape
        assert by_shape is by_array and by_spec is by_array and by_spec_no_dtype is by_array
        assert sess.compile(y, {x: (4, 3)}) is by_array
        other = sess.compile(y, {x: (5, 3)})
        assert other is not by_array
        text = by_array.ir()
        assert text == by_array.ir("specialize")
        assert "%x: f32[4,3] = placeholder()" in text
        assert "%y: f32[4,2] = matmul(%x, %w)" in text
        assert "outputs(%y)" in text
        assert "?" not in text
        assert "f32[5,2]" in other.ir()
        # run uses the compiled program and gives the numbers
        data = np.arange(12, dtype=np.float32).reshape(4, 3)
        assert_close(sess.run(y, {x: data}), data @ np.ones((3, 2), np.float32), np.float32)
        assert sess.compile(y, {x: data}) is by_array


def test_compile_prunes_to_the_fetches():
    x = gc.placeholder(gc.float32, (None,), name="x")
    a = gc.constant([1.0, 2.0], name="a")
    unused = gc.exp(x, name="unused")  # noqa: F841
    y = gc.add(a, 1.0, name="y")
    with gc.Session() as sess:
        compiled = sess.compile(y)
        text = compiled.ir()
    assert "outputs(%y)" in text
    assert "unused" not in text and "placeholder" not in text


def test_compile_fed_intermediate_becomes_placeholder():
    x = gc.placeholder(gc.float32, (None, 2), name="x")
    h = gc.relu(x, name="h")
    y = gc.sum(h, name="y")
    with gc.Session() as sess:
        compiled = sess.compile([y], {h: (3, 2)})
    text = compiled.ir()
    assert "%h: f32[3,2] = placeholder()" in text
    assert "%x" not in text
    assert "outputs(%y)" in text


def test_compile_spec_with_wrong_shape_or_dtype_is_rejected():
    x = gc.placeholder(gc.float32, (None, 3))
    with gc.Session() as sess:
        with pytest.raises(gc.errors.FeedError):
            sess.compile(x, {x: (2, 4)})
        with pytest.raises(gc.errors.FeedError):
            sess.compile(x, {x: gc.TensorSpec((2, 3), gc.int32)})


# -- sessions and graphs ------------------------------------------------------------
def test_session_context_manager_and_close():
    a = gc.constant([1.0])
    with gc.Session() as sess:
        assert_close(sess.run(a), np.array([1.0], np.float32), np.float32)
    with pytest.raises(gc.GraphcError, match="closed"):
        sess.run(a)
    with pytest.raises(gc.GraphcError, match="closed"):
        sess.compile(a)
    s2 = gc.Session()
    s2.close()
    with pytest.raises(gc.GraphcError):
        s2.run(a)


def test_unknown_device_is_rejected():
    with pytest.raises(gc.GraphcError, match="device"):
        gc.Session(device="tpu")


def test_as_default_graph_and_session_on_explicit_graph():
    outer = gc.get_default_graph()
    g = gc.Graph()
    with g.as_default() as entered:
        assert entered is g
        assert gc.get_default_graph() is g
        a = gc.constant([1.0, 2.0])
        b = a * 4.0
        with gc.Session() as sess:  # the default graph inside the block
            assert sess.graph is g
            assert_close(sess.run(b), np.array([4.0, 8.0], np.float32), np.float32)
    assert gc.get_default_graph() is outer
    assert a.graph is g and b.graph is g
    assert len(outer) == 0
    with gc.Session(graph=g) as sess:
        assert_close(sess.run(b), np.array([4.0, 8.0], np.float32), np.float32)
        assert b.name == "multiply"
        assert_close(sess.run("multiply"), np.array([4.0, 8.0], np.float32), np.float32)


def test_nested_as_default():
    g1, g2 = gc.Graph(), gc.Graph()
    with g1.as_default():
        with g2.as_default():
            assert gc.get_default_graph() is g2
            inner = gc.constant(1.0)
        assert gc.get_default_graph() is g1
        outer = gc.constant(2.0)
    assert inner.graph is g2 and outer.graph is g1


def test_reset_default_graph():
    first = gc.get_default_graph()
    gc.constant(1.0)
    assert len(first) == 1
    gc.reset_default_graph()
    second = gc.get_default_graph()
    assert second is not first and len(second) == 0
    c = gc.constant(2.0)
    assert c.name == "Const"
    with gc.Session() as sess:
        assert_close(sess.run(c), np.float32(2.0), np.float32)
    g = gc.Graph()
    with g.as_default():
        with pytest.raises(gc.errors.GraphError):
            gc.reset_default_graph()
