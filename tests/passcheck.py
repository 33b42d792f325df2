"""Shared checks for the pass tests (TVM style): the graph before and the graph expected
after a pass are both IR text; the pass output must print exactly as the expected graph,
pass the verifier, and compute the same bits as the input graph on inputs full of NaN,
+-Inf, -0.0, extreme and ordinary values."""
import textwrap

import numpy as np

import graphc as gc
from graphc.passes import verify
from graphc.ir.interpret import run_graph

FLOATS = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e30, -1e-30, 7.25,
          -1e-40, 65504.0, -3.0, 2.0, 0.1]
BOOLS = [True, False, False, True, True, False, True]


def _pool(dtype):
    if dtype.kind == "f":
        info = np.finfo(dtype)
        return np.array(FLOATS + [info.max, -info.max, info.tiny], dtype=dtype)
    if dtype.kind == "i":
        info = np.iinfo(dtype)
        return np.array([0, -1, 1, 2, -7, 100, info.min, info.max, 3, -2, info.max - 1], dtype=dtype)
    return np.array(BOOLS, dtype=dtype)


def special_feeds(graph, rotations=(0, 3, 7, 11)):
    """Feed sets for every placeholder of ``graph``: each cycles through the special values,
    each placeholder and each set starting at a different one, so they meet in many pairs."""
    sets = []
    for r in rotations:
        feeds = {}
        for i, node in enumerate(n for n in graph.nodes if n.op == "placeholder"):
            pool = np.roll(_pool(node.dtype), r + 5 * i)
            size = int(np.prod(node.shape, dtype=np.int64))
            feeds[node.name] = np.resize(pool, size).reshape(node.shape)
        sets.append(feeds)
    return sets


def variable_values(graph):
    """A value for every variable of ``graph`` (special values too)."""
    out = {}
    for i, node in enumerate(n for n in graph.nodes if n.op == "variable"):
        size = int(np.prod(node.shape, dtype=np.int64))
        out[node.name] = np.resize(np.roll(_pool(node.dtype), 2 + i), size).reshape(node.shape)
    return out


def bits(array):
    """An array whose equality is bit equality: -0.0 differs from 0.0, NaN payloads matter."""
    array = np.asarray(array)
    return array.view(f"u{array.itemsize}") if array.dtype.kind == "f" else array


def assert_same_bits(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), \
        (actual.dtype, actual.shape, expected.dtype, expected.shape)
    np.testing.assert_array_equal(bits(actual), bits(expected))


def assert_same_numbers(after, before, feeds=None):
    """Both graphs give bit-identical outputs on every special feed set."""
    variables = variable_values(before)
    for fs in feeds or special_feeds(before):
        got = run_graph(after, fs, variables)
        want = run_graph(before, fs, variables)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            if isinstance(w, tuple):  # an effect's values
                for gi, wi in zip(g, w):
                    assert_same_bits(gi, wi)
            else:
                assert_same_bits(g, w)


def ir(text):
    """``gc.ir.parse`` of IR text written indented inside a test."""
    return gc.ir.parse(textwrap.dedent(text))


def check_pass(pass_fn, before, expected, feeds=None):
    """``pass_fn(parse(before))`` prints as ``parse(expected)``, verifies, and computes the same bits."""
    graph = ir(before)
    source_text = graph.to_text()
    after = pass_fn(graph)
    assert after.to_text() == ir(expected).to_text()
    assert graph.to_text() == source_text, "the pass changed its input graph"
    verify(after, "after the pass")
    assert_same_numbers(after, graph, feeds)
    return after


def check_unchanged(pass_fn, before, feeds=None):
    """The pass must leave ``before`` as it is (a rule that must not fire)."""
    return check_pass(pass_fn, before, before, feeds)


# -- end to end: a pass inside a Session on graphs built with the Python API ---------------
def _mlp(rng):
    x = gc.placeholder(gc.float32, (None, 16), name="x")
    with gc.name_scope("dense1"):
        w1 = gc.Variable(rng.normal(0, 0.25, (16, 32)).astype(np.float32), name="w")
        b1 = gc.Variable(np.full(32, 0.1, np.float32), name="b")
        h = gc.relu(x @ w1 + b1)
    with gc.name_scope("dense2"):
        w2 = gc.Variable(rng.normal(0, 0.2, (32, 8)).astype(np.float32), name="w")
        b2 = gc.Variable(np.zeros(8, np.float32), name="b")
        logits = h @ w2 + b2
    probs = gc.nn.softmax(logits)
    return [probs, gc.argmax(probs, axis=-1)], {x: rng.normal(size=(5, 16)).astype(np.float32)}


def _softmax(rng):
    x = gc.placeholder(gc.float32, (None, 7), name="x")
    value = rng.normal(size=(4, 7)).astype(np.float32) * 30
    return [gc.nn.softmax(x), gc.nn.log_softmax(x, axis=0)], {x: value}


def _layer_norm(rng):
    x = gc.placeholder(gc.float32, (3, None), name="x")
    gamma, beta = gc.constant(rng.normal(size=10).astype(np.float32)), gc.constant(np.full(10, 0.5, np.float32))
    return gc.nn.layer_norm(x, gamma, beta), {x: rng.normal(size=(3, 10)).astype(np.float32)}


def _gelu(rng):
    x = gc.placeholder(gc.float32, (None,), name="x")
    value = np.concatenate([rng.normal(size=12) * 3, [0.0, -0.0, 8.0, -8.0]]).astype(np.float32)
    return [gc.nn.gelu(x), gc.nn.gelu(x, approximate="none")], {x: value}


def _redundant(rng):
    """Work for every pass: constant subgraphs, identities, repeated subexpressions."""
    x = gc.placeholder(gc.float32, (None, 6), name="x")
    scale = gc.sqrt(gc.constant(4.0)) * gc.constant(np.arange(6, dtype=np.float32))
    y = gc.exp(x * 1.0) + gc.exp(x * 1.0)
    z = gc.transpose(gc.transpose(y * scale)) ** 2
    unused = gc.tanh(x)  # noqa: F841  (built, never fetched)
    w = gc.reshape(gc.reshape(z, (-1,)), (-1, 6)) - (-(-z))
    value = rng.normal(size=(3, 6)).astype(np.float32)
    value[0, :4] = [np.inf, -np.inf, np.nan, -0.0]
    return [w, gc.sum(y, axis=1)], {x: value}


MODELS = {"mlp": _mlp, "softmax": _softmax, "layer_norm": _layer_norm, "gelu": _gelu, "redundant": _redundant}


def check_session(pass_name, model):
    """The pass alone, verified after it, gives the unoptimized reference results."""
    from conftest import assert_close
    fetches, feeds = MODELS[model](np.random.default_rng(0))
    with gc.Session(passes=[pass_name], verify=True) as sess:
        got = sess.run(fetches, feeds)
        compiled = sess.compile(fetches, feeds)
    with gc.Session(device="reference", optimize=False) as ref:
        want = ref.run(fetches, feeds)
    for g, w in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]):
        assert_close(g, w, w.dtype)
    return compiled
