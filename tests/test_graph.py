"""Graph building: TF1 naming, name scopes, immutability, graph mixing, symbolic-tensor guards."""
import numpy as np
import pytest

import graphc as gc
from graphc.errors import GraphcError, GraphError
from conftest import assert_close


# -- names ---------------------------------------------------------------------------
def test_names_are_uniquified_like_tf1():
    a = gc.constant(1.0)
    b = gc.constant(2.0)
    s0 = gc.add(a, b)
    s1 = gc.add(a, b)
    s2 = a + b
    assert (a.name, b.name) == ("Const", "Const_1")
    assert (s0.name, s1.name, s2.name) == ("add", "add_1", "add_2")
    p0 = gc.placeholder(gc.float32, (2,))
    p1 = gc.placeholder(gc.float32, (2,))
    assert (p0.name, p1.name) == ("Placeholder", "Placeholder_1")
    v0, v1 = gc.Variable(1.0), gc.Variable(2.0)
    assert (v0.name, v1.name) == ("Variable", "Variable_1")
    g = gc.get_default_graph()
    names = [n.name for n in g.nodes]
    assert len(names) == len(set(names))
    assert g.node("add_1") is s1.node


def test_explicit_names_and_their_collisions():
    a = gc.constant(1.0, name="a")
    a2 = gc.constant(2.0, name="a")
    total = gc.add(a, a2, name="total")
    again = gc.multiply(a, a2, name="total")
    assert (a.name, a2.name, total.name, again.name) == ("a", "a_1", "total", "total_1")
    # an explicit name that looks like a generated one is respected and skipped later
    taken = gc.constant(3.0, name="add_1")
    s0 = gc.add(a, a2)
    s1 = gc.add(a, a2)
    assert taken.name == "add_1"
    assert (s0.name, s1.name) == ("add", "add_2")
    with gc.Session() as sess:
        assert_close(sess.run("total"), np.float32(3.0), np.float32)
        assert_close(sess.run("total_1"), np.float32(2.0), np.float32)
        assert_close(sess.run("add_1"), np.float32(3.0), np.float32)


def test_nested_name_scopes():
    x = gc.constant([1.0, 2.0], name="x")
    with gc.name_scope("block") as scope:
        assert scope == "block/"
        y = x + 1.0
        with gc.name_scope("inner") as inner:
            assert inner == "block/inner/"
            z = gc.add(y, x)
            z2 = gc.add(y, x)
            w = gc.Variable([0.0, 1.0], name="w")
            named = gc.multiply(z, 2.0, name="scaled")
        after = gc.add(y, y)
    outside = gc.add(x, x)
    assert y.name == "block/add"
    assert z.name == "block/inner/add" and z2.name == "block/inner/add_1"
    assert w.name == "block/inner/w"
    assert named.name == "block/inner/scaled"
    assert after.name == "block/add_1"
    assert outside.name == "add"
    with gc.Session() as sess:
        assert_close(sess.run("block/inner/add"), np.array([3.0, 5.0], np.float32), np.float32)
        assert_close(sess.run("block/inner/w:0"), np.array([0.0, 1.0], np.float32), np.float32)


def test_name_scope_on_explicit_graph():
    g = gc.Graph()
    with g.as_default():
        with gc.name_scope("s"):
            c = gc.constant(1.0)
    assert c.name == "s/Const" and c.graph is g


@pytest.mark.parametrize("bad", ["has space", "a:0", "/lead", "-x", "tab\tname", "é", "a\nb"])
def test_invalid_names_are_rejected(bad):
    with pytest.raises(GraphError):
        gc.constant(1.0, name=bad)
    with pytest.raises(GraphError):
        gc.placeholder(gc.float32, (1,), name=bad)
    with pytest.raises(GraphError):
        gc.Variable(1.0, name=bad)
    with pytest.raises(GraphError):
        with gc.name_scope(bad):
            pass


def test_valid_unusual_names_are_accepted():
    for name in ("x.y", "a-b", "_private", "0start", "a/b"):
        assert gc.constant(1.0, name=name).name == name


# -- immutability ------------------------------------------------------------------------
def test_nodes_are_immutable():
    a = gc.constant([1.0, 2.0], name="a")
    b = gc.add(a, 1.0, name="b")
    node = b.node
    for attr, value in (("name", "other"), ("op", "subtract"), ("inputs", ()), ("shape", (3,)),
                        ("dtype", gc.int32), ("attrs", {}), ("loc", None), ("new_field", 1)):
        with pytest.raises(AttributeError):
            setattr(node, attr, value)
    for attr in ("name", "op", "inputs", "shape"):
        with pytest.raises(AttributeError):
            delattr(node, attr)
    assert isinstance(node.inputs, tuple) and isinstance(node.shape, tuple)
    assert node.name == "b" and node.op == "add" and node.shape == (2,)
    with pytest.raises(TypeError):
        a.node.attrs["value"] = np.zeros(2, np.float32)
    with pytest.raises(ValueError):
        a.node.attrs["value"][0] = 5.0  # constant data is read-only
    assert gc.get_default_graph().nodes == tuple(gc.get_default_graph().nodes)
    with pytest.raises(AttributeError):
        gc.get_default_graph().nodes.append(node)
    with gc.Session() as sess:
        assert_close(sess.run(b), np.array([2.0, 3.0], np.float32), np.float32)


def test_node_attrs_are_copied_from_the_caller():
    data = [1.0, 2.0]
    c = gc.constant(data)
    data[0] = 9.0
    arr = np.array([3.0, 4.0], np.float32)
    d = gc.constant(arr)
    arr[0] = 9.0
    with gc.Session() as sess:
        cv, dv = sess.run([c, d])
    assert_close(cv, np.array([1.0, 2.0], np.float32), np.float32)
    assert_close(dv, np.array([3.0, 4.0], np.float32), np.float32)


# -- mixing graphs -----------------------------------------------------------------------
def test_tensors_from_different_graphs_cannot_be_combined():
    g1, g2 = gc.Graph(), gc.Graph()
    with g1.as_default():
        a = gc.constant([1.0, 2.0], name="a")
    with g2.as_default():
        b = gc.constant([3.0, 4.0], name="b")
    positive = a > 0
    n1, n2 = len(g1), len(g2)
    for build in (lambda: a + b, lambda: gc.add(a, b), lambda: gc.matmul(a, b),
                  lambda: gc.concat([a, b]), lambda: gc.stack([a, b]), lambda: gc.where(positive, a, b),
                  lambda: gc.gather(a, gc.constant([0]))):
        with pytest.raises(GraphError) as info:
            build()
        assert "graph" in str(info.value)
    assert "'a'" in str(pytest.raises(GraphError, lambda: a - b).value)
    # nothing was added to either graph by the failed builds
    assert len(g1) == n1 and len(g2) == n2
    # each graph still works on its own
    with gc.Session(graph=g1) as sess:
        assert_close(sess.run(a * 2.0), np.array([2.0, 4.0], np.float32), np.float32)


def test_ops_go_to_the_graph_of_their_inputs():
    g = gc.Graph()
    with g.as_default():
        a = gc.constant([1.0, 2.0])
    b = a + 1.0  # built outside the block: follows its input's graph
    assert b.graph is g
    assert len(gc.get_default_graph()) == 0


# -- symbolic tensor guards ------------------------------------------------------------------
def test_tensor_bool_raises():
    a = gc.constant([1.0, 2.0], name="a")
    b = gc.constant([1.0, 3.0])
    with pytest.raises(GraphcError, match="'a'"):
        bool(a)
    with pytest.raises(GraphcError):
        if a > b:
            pass
    with pytest.raises(GraphcError):
        a and b  # noqa: B015
    with pytest.raises(GraphcError):
        bool(gc.Variable(True))


def test_tensor_iteration_raises_type_error():
    a = gc.constant([1.0, 2.0], name="pair")
    with pytest.raises(TypeError, match="'pair'"):
        iter(a)
    with pytest.raises(TypeError):
        list(a)
    with pytest.raises(TypeError):
        x, y = a
    with pytest.raises(TypeError):
        for _ in a:
            pass
    # indexing still works
    with gc.Session() as sess:
        assert_close(sess.run(a[1]), np.float32(2.0), np.float32)


def test_tensor_equality_is_identity_and_hashable():
    a = gc.constant(1.0)
    b = gc.constant(1.0)
    assert a == a and a != b
    assert len({a, b, a}) == 2
    assert gc.get_default_graph().tensor(a.node) is a


def test_reprs():
    a = gc.constant(np.zeros((2, 3), np.float32), name="a")
    x = gc.placeholder(gc.int32, (None, 4), name="x")
    v = gc.Variable(np.zeros(5), name="v")
    init = gc.global_variables_initializer()
    assert repr(a) == "<graphc.Tensor 'a' f32[2,3]>"
    assert repr(x) == "<graphc.Tensor 'x' i32[?,4]>"
    assert repr(v) == "<graphc.Variable 'v' f64[5]>"
    assert "'init'" in repr(init) and repr(init).startswith("<graphc.Operation")
    assert repr(gc.get_default_graph()).startswith("<graphc.Graph")


def test_tensor_metadata():
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    y = gc.sum(x, axis=1)
    assert x.shape == (None, 4) and x.ndim == 2 and x.dtype == gc.float32 and x.dtype == np.float32
    assert y.shape == (None,) and y.op == "sum" and y.graph is gc.get_default_graph()
