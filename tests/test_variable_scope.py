"""gc.get_variable / gc.variable_scope: TF1 variable sharing (names, reuse, errors, defaults)."""
import re
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.variable_scope import NotSupportedError, VariableScopeError

from conftest import run

HERE = "tests/test_variable_scope.py"


def _line():
    """The caller's line number (for the file:line errors carry)."""
    return sys._getframe(1).f_lineno


def _value(v):
    with gc.Session(device="reference") as sess:
        return sess.run(v)


# -- sharing --------------------------------------------------------------------------------
def test_two_towers_share_one_variable_per_name():
    def tower(x):
        with gc.variable_scope("dense", reuse=gc.AUTO_REUSE):
            w = gc.get_variable("w", (4, 3))
            b = gc.get_variable("b", (3,), initializer=gc.initializers.zeros_initializer())
            return x @ w + b, w, b

    x1 = gc.constant(np.ones((2, 4), np.float32))
    x2 = gc.constant(np.full((2, 4), 2.0, np.float32))
    y1, w1, b1 = tower(x1)
    y2, w2, b2 = tower(x2)
    assert w1 is w2 and b1 is b2
    assert isinstance(w1, gc.Variable)
    assert [v.name for v in gc.global_variables()] == ["dense/w", "dense/b"]
    assert [v.name for v in gc.trainable_variables()] == ["dense/w", "dense/b"]
    assert (y1.name, y2.name) == ("dense/add", "dense_1/add")
    got1, got2, w = run([y1, y2, w1])
    np.testing.assert_allclose(got1, np.ones((2, 4)) @ w, rtol=1e-6)
    np.testing.assert_allclose(got2, 2 * got1, rtol=1e-6)


def test_towers_with_reuse_true_on_the_second():
    def tower(x, reuse):
        with gc.variable_scope("net", reuse=reuse):
            with gc.variable_scope("layer1"):
                h = x @ gc.get_variable("w", (3, 3))
            with gc.variable_scope("layer2"):
                return h @ gc.get_variable("w", (3, 1))

    x = gc.placeholder(gc.float32, (None, 3))
    tower(x, reuse=None)
    tower(x, reuse=True)
    assert [v.name for v in gc.global_variables()] == ["net/layer1/w", "net/layer2/w"]


def test_reuse_variables_on_the_current_scope():
    with gc.variable_scope("foo") as scope:
        v = gc.get_variable("v", (2,))
        scope.reuse_variables()
        assert scope.reuse is True and gc.get_variable_scope() is scope
        assert gc.get_variable("v", (2,)) is v
        with gc.variable_scope("inner"):
            assert gc.get_variable_scope().reuse is True


def test_train_a_shared_variable():
    with gc.variable_scope("m"):
        w = gc.get_variable("w", initializer=np.float32(3.0))
    with gc.variable_scope("m", reuse=True):
        loss = gc.square(gc.get_variable("w", dtype=gc.float32))
    step = gc.train.SGD(0.25).minimize(loss)
    with gc.Session(device="reference") as sess:
        sess.run(step)
        assert sess.run(w) == pytest.approx(3.0 - 0.25 * 6.0)


# -- names ------------------------------------------------------------------------------------
def test_nested_scopes_name_variables_exactly():
    with gc.variable_scope("outer"):
        with gc.variable_scope("inner"):
            v = gc.get_variable("v", (1,))
            assert gc.get_variable_scope().name == "outer/inner"
        with gc.variable_scope("a/b"):
            u = gc.get_variable("u", (1,))
        t = gc.get_variable("sub/t", (1,))
    assert (v.name, u.name, t.name) == ("outer/inner/v", "outer/a/b/u", "outer/sub/t")
    assert gc.get_variable_scope().name == ""
    assert gc.get_variable_scope().reuse is False


def test_ops_get_the_name_scope_uniquified_on_reentry_variables_do_not():
    x = gc.constant(1.0, name="x")
    with gc.variable_scope("foo") as s1:
        v = gc.get_variable("v", ())
        a = x + v
        c = gc.Variable(1.0)
    with gc.variable_scope("foo", reuse=True) as s2:
        v2 = gc.get_variable("v", ())
        b = x + v2
    with gc.variable_scope("foo", reuse=True):
        d = x + v2
    assert v is v2 and v.name == "foo/v"
    assert (a.name, b.name, d.name) == ("foo/add", "foo_1/add", "foo_2/add")
    assert c.name == "foo/Variable"        # gc.Variable takes the name scope, as tf.Variable
    assert (s1.original_name_scope, s2.original_name_scope) == ("foo/", "foo_1/")
    with gc.variable_scope("foo_1"):       # a scope name already made by uniquifying is taken
        e = x * 2.0
    assert e.name == "foo_1_1/multiply"


def test_name_scope_changes_op_names_only():
    with gc.name_scope("tower_0"):
        with gc.variable_scope("foo"):
            v = gc.get_variable("v", ())
            y = v + 1.0
        with gc.name_scope("inner"):
            w = gc.get_variable("w", ())
    assert (v.name, w.name) == ("foo/v", "w")
    assert y.name == "tower_0/foo/add"


def test_initializer_ops_are_named_under_the_variable():
    with gc.name_scope("ignored"):
        with gc.variable_scope("foo"):
            v = gc.get_variable("v", (2, 2))
            c = gc.get_variable("c", initializer=[1.0, 2.0])
    assert v.initial_value.name == "foo/v/Initializer/random_uniform"
    assert c.initial_value.name == "foo/c/initial_value"


def test_default_name_is_uniquified():
    names = []
    for _ in range(3):
        with gc.variable_scope(None, default_name="dense") as scope:
            names.append((scope.name, gc.get_variable("kernel", (2,)).name, scope.original_name_scope))
    assert names == [("dense", "dense/kernel", "dense/"), ("dense_1", "dense_1/kernel", "dense_1/"),
                     ("dense_2", "dense_2/kernel", "dense_2/")]


def test_default_names_count_afresh_in_each_entry_of_the_enclosing_scope():
    # (TF1: so a model built twice under one scope name, the second time with reuse, shares)
    def model(reuse):
        with gc.variable_scope("model", reuse=reuse):
            ws = []
            for _ in range(2):
                with gc.variable_scope(None, default_name="dense"):
                    ws.append(gc.get_variable("kernel", (2, 2)))
            return ws

    first, second = model(None), model(True)
    assert [w.name for w in first] == ["model/dense/kernel", "model/dense_1/kernel"]
    assert first[0] is second[0] and first[1] is second[1]


def test_passing_a_scope_object_reenters_its_variable_name():
    with gc.variable_scope("a") as a_scope:
        w = gc.get_variable("w", (2,))
    x = gc.constant(1.0, name="x")
    with gc.variable_scope("b"):
        with gc.variable_scope(a_scope, reuse=True) as again:
            assert again.name == "a" and again.original_name_scope == "a/"
            assert gc.get_variable("w", (2,)) is w
            y = x + 1.0
            u = gc.get_variable_scope()
        with gc.variable_scope(a_scope) as fresh:
            z = gc.get_variable("z", ())
    assert u is again
    assert y.name == "b/a/add"             # a fresh name scope under the current one
    assert z.name == "a/z" and fresh.reuse is False
    assert gc.get_variable_scope().name == ""


def test_a_scope_object_keeps_its_reuse_flag():
    with gc.variable_scope("s") as s:
        v = gc.get_variable("v", ())
        s.reuse_variables()
    with gc.variable_scope(s):
        assert gc.get_variable("v", ()) is v


def test_auxiliary_name_scope_false_keeps_op_names():
    x = gc.constant(1.0, name="x")
    with gc.variable_scope("vs", auxiliary_name_scope=False):
        v = gc.get_variable("v", ())
        y = x + 1.0
    assert v.name == "vs/v" and y.name == "add"


def test_values_pick_the_graph():
    g = gc.Graph()
    with g.as_default():
        t = gc.constant(1.0)
    with gc.variable_scope("s", values=[t]):
        v = gc.get_variable("v", ())
    assert v.graph is g and not gc.global_variables()


def test_stores_are_per_graph():
    with gc.variable_scope("s"):
        a = gc.get_variable("v", ())
    g = gc.Graph()
    with g.as_default():
        assert gc.get_variable_scope().name == ""
        with gc.variable_scope("s"):
            b = gc.get_variable("v", ())
    assert a.name == b.name == "s/v" and a.graph is not b.graph


# -- reuse --------------------------------------------------------------------------------------
def test_reuse_is_inherited_and_sticky():
    with gc.variable_scope("top"):
        gc.get_variable("v", ())
        with gc.variable_scope("inner"):
            gc.get_variable("u", ())
    with gc.variable_scope("top", reuse=True):
        assert gc.get_variable_scope().reuse is True
        with gc.variable_scope("inner"):                 # None inherits
            assert gc.get_variable_scope().reuse is True
            gc.get_variable("u", ())
        with gc.variable_scope("inner", reuse=False):    # False does not turn reuse off
            assert gc.get_variable_scope().reuse is True
            with pytest.raises(VariableScopeError, match="does not exist"):
                gc.get_variable("new", ())
        with gc.variable_scope("auto", reuse=gc.AUTO_REUSE):
            assert gc.get_variable_scope().reuse is gc.AUTO_REUSE
    with gc.variable_scope("top"):
        assert gc.get_variable_scope().reuse is False


def test_auto_reuse_creates_then_reuses_and_is_inherited():
    with gc.variable_scope("auto", reuse=gc.AUTO_REUSE):
        v = gc.get_variable("v", (2,))
        assert gc.get_variable("v", (2,)) is v
        assert gc.get_variable("v") is v           # no shape: any shape matches
        with gc.variable_scope("inner"):
            u = gc.get_variable("u", ())
            assert gc.get_variable("u", ()) is u
    assert len(gc.global_variables()) == 2
    assert repr(gc.AUTO_REUSE) == "AUTO_REUSE" and bool(gc.AUTO_REUSE)


# -- errors ------------------------------------------------------------------------------------------
def test_already_exists_names_the_first_definition():
    with gc.variable_scope("foo"):
        gc.get_variable("v", (2,)); first = _line()
    with gc.variable_scope("foo"):
        second = _line() + 2
        with pytest.raises(VariableScopeError) as e:
            gc.get_variable("v", (2,))
    text = str(e.value)
    assert (f"Variable foo/v already exists, disallowed. Did you mean to set reuse=True or "
            f"reuse=tf.AUTO_REUSE in VarScope? Originally defined at: {HERE}:{first}") in text
    assert text.startswith(f"get_variable at {HERE}:{second}: ")
    assert isinstance(e.value, ValueError) and isinstance(e.value, gc.errors.GraphError)


def test_does_not_exist():
    with gc.variable_scope("foo", reuse=True):
        with pytest.raises(ValueError, match=re.escape(
                "Variable foo/v does not exist, or was not created with tf.get_variable(). "
                "Did you mean to set reuse=tf.AUTO_REUSE in VarScope?")):
            gc.get_variable("v", (2,))


def test_shape_and_dtype_mismatch_on_reuse():
    with gc.variable_scope("foo"):
        gc.get_variable("v", (2,))
        gc.get_variable("m", (2, 3))
    with gc.variable_scope("foo", reuse=True):
        with pytest.raises(VariableScopeError, match=re.escape(
                "Trying to share variable foo/v, but specified shape (3,) and found shape (2,).")):
            gc.get_variable("v", (3,))
        with pytest.raises(VariableScopeError, match=re.escape(
                "Trying to share variable foo/m, but specified shape (2, None, 1) and found shape (2, 3).")):
            gc.get_variable("m", (2, None, 1))
        assert gc.get_variable("m", (None, 3)).name == "foo/m"    # partial shapes that fit are fine
        with pytest.raises(VariableScopeError, match=re.escape(
                "Trying to share variable foo/v, but specified dtype float64 and found dtype float32.")):
            gc.get_variable("v", (2,), dtype=gc.float64)


def test_shape_must_be_fully_defined_to_create():
    with pytest.raises(VariableScopeError, match=re.escape(
            "Shape of a new variable (v) must be fully defined, but instead was <unknown>.")):
        gc.get_variable("v")
    with pytest.raises(VariableScopeError, match=re.escape(
            "Shape of a new variable (u) must be fully defined, but instead was (None, 3).")):
        gc.get_variable("u", (None, 3))
    with pytest.raises(VariableScopeError, match="shape must be a tuple or list"):
        gc.get_variable("t", (2.5,))
    assert not gc.global_variables()


def test_constant_initializer_with_a_shape_is_an_error():
    for init in (gc.constant([1.0, 2.0]), np.zeros(2, np.float32), [1.0, 2.0], 0.5):
        with pytest.raises(VariableScopeError, match="If initializer is a constant, do not specify shape."):
            gc.get_variable("v", (2,), initializer=init)


def test_initializer_and_explicit_dtype_must_agree():
    with pytest.raises(VariableScopeError, match=re.escape(
            "Initializer type 'int32' and explicit dtype 'float32' don't match.")):
        gc.get_variable("v", initializer=np.zeros(2, np.int32), dtype=gc.float32)
    with pytest.raises(VariableScopeError, match="Initializer type 'float32' and explicit dtype 'float64'"):
        gc.get_variable("t", initializer=gc.constant([1.0]), dtype=gc.float64)
    with pytest.raises(gc.errors.DTypeError, match="fractional"):
        gc.get_variable("u", initializer=[1.5], dtype=gc.int32)


def test_names_made_by_gc_variable_are_not_shared_variables():
    with gc.name_scope("foo"):
        plain = gc.Variable(1.0, name="v"); where = _line()
    assert plain.name == "foo/v"
    with gc.variable_scope("foo", reuse=True):
        with pytest.raises(VariableScopeError) as e:
            gc.get_variable("v", ())
    assert "Variable foo/v does not exist, or was not created with tf.get_variable()." in str(e.value)
    assert f"made at {HERE}:{where}" in str(e.value)
    for reuse in (None, gc.AUTO_REUSE):
        with gc.variable_scope("foo", reuse=reuse):
            with pytest.raises(VariableScopeError, match=re.escape(
                    f"cannot create variable foo/v: the graph already has a 'variable' node of that name "
                    f"(made at {HERE}:{where}), not made by get_variable")):
                gc.get_variable("v", ())
    with gc.variable_scope("x"):
        c = gc.constant(1.0, name="c")
    with gc.variable_scope("x"):
        with pytest.raises(VariableScopeError, match="already has a 'constant' node"):
            gc.get_variable("c", ())
    assert c.name == "x/c" and len(gc.global_variables()) == 1


def test_gc_variable_after_get_variable_is_uniquified():
    with gc.variable_scope("foo"):
        v = gc.get_variable("v", ())
        w = gc.Variable(0.0, name="v")
    assert (v.name, w.name) == ("foo/v", "foo/v_1")


@pytest.mark.parametrize("kwargs, word", [
    (dict(partitioner=lambda shape, dtype: [1]), "partitioner"),
    (dict(custom_getter=lambda getter, *a, **k: getter(*a, **k)), "custom_getter"),
    (dict(caching_device="/cpu:0"), "caching_device"),
    (dict(constraint=lambda w: w), "constraint"),
    (dict(validate_shape=False), "validate_shape=False"),
])
def test_unsupported_arguments_are_refused(kwargs, word):
    with pytest.raises(NotSupportedError, match=word):
        gc.get_variable("v", (2,), **kwargs)
    if word != "validate_shape=False":
        with pytest.raises(NotSupportedError, match=word):
            gc.variable_scope("s", **kwargs)
    assert isinstance(NotSupportedError("x"), (gc.GraphcError, NotImplementedError))


def test_accepted_no_op_arguments():
    v = gc.get_variable("v", (2,), collections=["variables"], use_resource=True)
    with gc.variable_scope("s", use_resource=False) as s:
        assert s.use_resource is False
    assert v.name == "v"


def test_scope_argument_errors():
    with pytest.raises(TypeError, match="If default_name is None then name_or_scope is required"):
        gc.variable_scope(None)
    with pytest.raises(ValueError, match="reuse=True cannot be used without a name_or_scope"):
        gc.variable_scope(None, default_name="d", reuse=True)
    with pytest.raises(TypeError, match="name_or_scope must be a string or VariableScope"):
        gc.variable_scope(3)
    with pytest.raises(ValueError, match="The reuse parameter must be True or False or None."):
        gc.variable_scope("s", reuse="yes")
    with pytest.raises(VariableScopeError, match="invalid variable scope name"):
        gc.variable_scope("bad name")


def test_a_failing_block_restores_the_scope():
    with pytest.raises(RuntimeError):
        with gc.variable_scope("s", reuse=True):
            raise RuntimeError
    assert gc.get_variable_scope().name == "" and gc.get_default_graph().current_scope == ""


# -- defaults: initializer, dtype, trainable ---------------------------------------------------------
def test_initializer_precedence():
    ones = gc.initializers.ones_initializer()
    with gc.variable_scope("s", initializer=gc.initializers.constant_initializer(5.0)):
        from_scope = gc.get_variable("a", (3,))
        from_arg = gc.get_variable("b", (3,), initializer=ones)
        with gc.variable_scope("inner"):
            inherited = gc.get_variable("c", (3,))
        with gc.variable_scope("other", initializer=ones):
            overridden = gc.get_variable("d", (3,))
        gc.get_variable_scope().set_initializer(gc.initializers.zeros_initializer())
        after_set = gc.get_variable("e", (3,))
    default = gc.get_variable("f", (50, 50))
    got = run([from_scope, from_arg, inherited, overridden, after_set, default])
    for value, expected in zip(got[:5], (5.0, 1.0, 5.0, 1.0, 0.0)):
        np.testing.assert_array_equal(value, np.full(3, expected, np.float32))
    limit = np.sqrt(6.0 / 100)                                  # glorot_uniform
    assert np.abs(got[5]).max() < limit and np.abs(got[5]).max() > 0.9 * limit
    assert got[5].std() == pytest.approx(limit / np.sqrt(3), rel=0.05)


def test_an_initializer_class_is_instantiated_and_plain_callables_work():
    a = gc.get_variable("a", (2,), initializer=gc.initializers.Ones)
    b = gc.get_variable("b", (2, 2), initializer=lambda shape, dtype=None, partition_info=None:
                        np.arange(4).reshape(shape).astype(dtype))
    c = gc.get_variable("c", initializer=lambda: gc.constant([7, 8], gc.int32))
    got = run([a, b, c])
    np.testing.assert_array_equal(got[0], [1, 1])
    np.testing.assert_array_equal(got[1], [[0, 1], [2, 3]])
    assert got[2].dtype == np.int32 and list(got[2]) == [7, 8]


def test_an_initializer_of_the_wrong_shape_is_an_error():
    with pytest.raises(VariableScopeError, match=re.escape("variable v: the initializer gave shape (3,), not (2,)")):
        gc.get_variable("v", (2,), initializer=lambda shape, dtype, partition_info: gc.zeros_like(
            gc.constant(np.zeros(3, np.float32))))


def test_dtype_defaults():
    f = gc.get_variable("f", (2,))
    with gc.variable_scope("d", dtype=gc.float64):
        d = gc.get_variable("d", (2,))
        with gc.variable_scope("inner"):
            d2 = gc.get_variable("d2", (2,))
        i = gc.get_variable("i", (2,), dtype=gc.int32)
    n = gc.get_variable("n", (2, 2), dtype=gc.int64)
    b = gc.get_variable("b", (2,), dtype=gc.bool)
    assert [v.dtype for v in (f, d, d2, i, n, b)] == [gc.float32, gc.float64, gc.float64, gc.int32, gc.int64,
                                                       gc.bool]
    got = run([d, i, n, b])
    assert got[0].dtype == np.float64 and np.all(got[0] != 0)
    np.testing.assert_array_equal(got[1], np.zeros(2, np.int32))    # ints: zeros by default
    np.testing.assert_array_equal(got[2], np.zeros((2, 2), np.int64))
    np.testing.assert_array_equal(got[3], [False, False])


def test_value_initializers_take_their_shape_and_dtype():
    a = gc.get_variable("a", initializer=[[1.0, 2.0], [3.0, 4.0]])
    b = gc.get_variable("b", initializer=np.arange(3, dtype=np.int32))
    c = gc.get_variable("c", initializer=[1, 2], dtype=gc.float64)
    src = gc.Variable(np.ones(2, np.float32), name="src")
    d = gc.get_variable("d", initializer=src * 2.0)
    assert (a.shape, a.dtype, b.shape, b.dtype, c.dtype, d.shape) == ((2, 2), gc.float32, (3,), gc.int32,
                                                                      gc.float64, (2,))
    got = run([a, b, c, d])
    np.testing.assert_array_equal(got[0], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(got[2], [1.0, 2.0])
    np.testing.assert_array_equal(got[3], [2.0, 2.0])


def test_trainable():
    a = gc.get_variable("a", ())
    b = gc.get_variable("b", (), trainable=False)
    assert a.trainable and not b.trainable
    assert gc.trainable_variables() == [a] and gc.global_variables() == [a, b]


def test_scope_variable_lists():
    with gc.variable_scope("s") as s:
        a = gc.get_variable("a", ())
        b = gc.get_variable("b", (), trainable=False)
    c = gc.get_variable("sa", ())
    assert s.global_variables() == [a, b] and s.trainable_variables() == [a]
    assert c not in s.global_variables()


def test_variables_are_built_outside_control_dependencies():
    counter = gc.Variable(0, name="counter")
    bump = gc.assign_add(counter, 1)
    with gc.control_dependencies([bump]):
        v = gc.get_variable("v", (2,))
        y = v + 1.0
    graph = gc.get_default_graph()
    assert v.node not in graph.control_inputs and y.node in graph.control_inputs


def test_regularization_losses():
    reg = lambda w: 0.5 * gc.sum(gc.square(w))   # noqa: E731
    with gc.variable_scope("net", regularizer=reg):
        a = gc.get_variable("a", initializer=np.float32([1.0, 2.0]))
        b = gc.get_variable("b", initializer=np.float32([3.0]), regularizer=lambda w: gc.sum(w))
        gc.get_variable("none", (), regularizer=lambda w: None)
    with gc.variable_scope("net", reuse=True):
        gc.get_variable("a")                     # no second loss on reuse
    gc.get_variable("c", initializer=np.float32([10.0]))
    losses = gc.get_regularization_losses()
    assert len(losses) == 2 and losses[0].name.startswith("net/a/Regularizer/")
    assert gc.get_regularization_losses(scope="net/b") == [losses[1]]
    total = gc.get_regularization_loss()
    assert total.name == "total_regularization_loss"
    assert run(total) == pytest.approx(0.5 * 5.0 + 3.0)
    assert run(gc.get_regularization_loss(scope="nothing")) == 0.0
    assert a.name == "net/a" and b.name == "net/b"
