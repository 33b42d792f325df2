"""The IR text form: ``gc.ir.parse(g.to_text()).to_text() == g.to_text()`` for graphs with
every op (the table of ``test_ops.py``), names, locations, placeholders, constants of every
dtype, variables and compiled programs; parsed graphs compute the same numbers; and
malformed text raises ``IRParseError`` naming the line."""
import inspect
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc
from conftest import assert_close
from test_ops import CASES, build, dyadic

# numpy warns about the mean of an empty axis (nan) even under errstate; so does graphc's reference
pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")

F32, F64, I32, I64, BOOL = (np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_))
INF, NAN = np.inf, np.nan


def here():
    """The caller's line number (for checking ``# file:line`` locations)."""
    return inspect.currentframe().f_back.f_lineno


def round_trip(graph=None, **kwargs):
    """Print, parse and print again; the two texts must be identical. Returns (text, parsed graph)."""
    graph = graph or gc.get_default_graph()
    text = graph.to_text(**kwargs)
    parsed = gc.ir.parse(text)
    assert parsed.to_text(**kwargs) == text
    return text, parsed


def assert_same_nodes(a, b):
    assert len(a.nodes) == len(b.nodes)
    for x, y in zip(a.nodes, b.nodes):
        assert (x.name, x.op, x.dtype, x.shape, x.loc) == (y.name, y.op, y.dtype, y.shape, y.loc)
        assert [i.name for i in x.inputs] == [i.name for i in y.inputs]
        assert x.attrs.keys() == y.attrs.keys()
        for key, value in x.attrs.items():
            if isinstance(value, np.ndarray):
                assert_identical_arrays(y.attrs[key], value)
            else:
                assert same_attr(y.attrs[key], value), (x, key, y.attrs[key], value)


def same_attr(a, b):
    """Equal attribute values, where nan equals nan and -0.0 differs from 0.0."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same_attr(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (a != a and b != b) or (a == b and np.signbit(a) == np.signbit(b))
    if isinstance(a, gc.Graph) and isinstance(b, gc.Graph):   # a fused kernel's body
        assert_same_nodes(a, b)
        return True
    return type(a) is type(b) and a == b


def assert_identical_arrays(actual, expected):
    """Same dtype, shape and values: NaNs in the same places, zeros with the same sign."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert np.array_equal(actual, expected, equal_nan=expected.dtype.kind == "f")
    if expected.dtype.kind == "f":
        numbers = ~np.isnan(expected)
        assert np.array_equal(np.signbit(actual[numbers]), np.signbit(expected[numbers]))


def run(fetches, feed=None, graph=None):
    with gc.Session(graph=graph, device="reference") as sess:
        return sess.run(fetches, feed)


# -- every op of the table -------------------------------------------------------
def _modes(*modes):
    """(case, mode) pairs: constants; placeholders of static shape; placeholders of unknown dims."""
    pairs = [(c, m) for c in CASES for m in modes
             if m == "const" or c.args and (m != "dynamic" or c.dynamic)]
    return pytest.mark.parametrize("case, mode", pairs, ids=[f"{c.id}-{m}" for c, m in pairs])


@_modes("const", "static", "dynamic")
def test_round_trip_every_case(case, mode):
    build(case, mode)
    graph = gc.get_default_graph()
    text, parsed = round_trip(graph)
    assert_same_nodes(graph, parsed)
    assert len(text.splitlines()) == len(graph.nodes) + text.count("blob(")


@_modes("const", "static")
def test_parsed_graph_computes_the_same(case, mode):
    """Fetch by name and feed placeholders by name in the parsed graph: same values as the original."""
    outs, feed, inputs = build(case, mode)
    original = run(outs, feed)
    parsed = gc.ir.parse(gc.get_default_graph().to_text())
    by_name = {t.name: value for t, value in feed.items()}
    again = run([t.name for t in outs], by_name, graph=parsed)
    for a, b, expected in zip(again, original, case.expected()):
        assert_identical_arrays(a, b)
        assert_close(a, expected, expected.dtype)


@_modes("static", "dynamic")
def test_compiled_ir_every_case(case, mode):
    """The compiled program (static shapes, ``outputs(...)``) round trips and runs the same when parsed."""
    outs, feed, inputs = build(case, mode)
    with gc.Session(device="reference") as sess:
        compiled = sess.compile(outs, feed)
        original = sess.run(outs, feed)
    text = compiled.ir(blobs=True)
    parsed = gc.ir.parse(text)
    assert parsed.to_text() == text
    assert_same_nodes(compiled.graph, parsed)
    # (passes may map a fetch to another node, e.g. an identity broadcast_to to its input)
    assert text.splitlines()[-1 - text.count("blob(")] == \
        "outputs(" + ", ".join(f"%{n.name}" for n in compiled.graph.outputs) + ")"
    assert all(None not in n.shape for n in parsed.nodes)
    kept = {n.name for n in parsed.nodes}   # a pass may drop a placeholder nothing reads (full_like's input)
    again = run([n.name for n in parsed.outputs], {t.name: v for t, v in feed.items() if t.name in kept},
                graph=parsed)
    for a, b in zip(again, original):
        assert_identical_arrays(a, b)


# -- names, scopes and source locations --------------------------------------------
def test_name_scopes_round_trip():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    with gc.name_scope("block"):
        a = x + 1.0
        b = a + 2.0
        with gc.name_scope("inner"):
            c = gc.relu(b, name="act")
            d = gc.sum(c, axis=-1)
    with gc.name_scope("block"):
        e = d * 2.0
    with gc.name_scope("block.v2-x"):
        f = gc.exp(e, name="out.1")
    assert [a.name, b.name, c.name, d.name, e.name, f.name] == [
        "block/add", "block/add_1", "block/inner/act", "block/inner/sum", "block/multiply", "block.v2-x/out.1"]
    text, parsed = round_trip()
    assert "%block/inner/act: f32[?,3] = relu(%block/add_1)" in text
    assert_same_nodes(gc.get_default_graph(), parsed)
    xv = dyadic((4, 3))
    (got,) = run(["block.v2-x/out.1"], {"x": xv}, graph=parsed)
    assert_close(got, np.exp((np.maximum(xv.astype(F64) + 3, 0)).sum(-1) * 2).astype(F32), F32)


def test_locations_point_at_the_building_line():
    x, line_x = gc.placeholder(gc.float32, (2, 3), name="x"), here()
    y, line_y = gc.tanh(x) * 2.0, here()
    with gc.name_scope("s"):
        z, line_z = gc.sum(y, axis=0), here()
    text, parsed = round_trip()
    for tensor, line in ((x, line_x), (y, line_y), (z, line_z)):
        loc = tensor.node.loc
        path, lineno = loc.rsplit(":", 1)
        assert os.path.samefile(path, __file__), loc
        assert int(lineno) == line, (loc, line)
        assert parsed.node(tensor.name).loc == loc
        text_line = next(ln for ln in text.splitlines() if ln.startswith(f"%{tensor.name}:"))
        assert text_line.endswith(f"  # {loc}")
    # the scalar constant made for 2.0 and the cast-free multiply come from the same line
    assert parsed.node(y.node.inputs[1].name).loc == y.node.loc


def test_nodes_without_location_round_trip():
    text = "%a: f32[2] = constant() {value=[1.0, 2.0]}\n%b: f32[2] = neg(%a)  # somewhere.py:3\n"
    parsed = gc.ir.parse(text)
    assert parsed.to_text() == text
    assert parsed.node("a").loc is None and parsed.node("b").loc == "somewhere.py:3"


def test_placeholders_with_unknown_dims():
    gc.placeholder(gc.float32, (None, 3), name="x")
    gc.placeholder(gc.int64, (None, None), name="idx")
    gc.placeholder(gc.bool_, (), name="flag")
    gc.placeholder(gc.float64, (0, None, 1), name="empty")
    text, parsed = round_trip()
    lines = text.splitlines()
    assert lines[0].startswith("%x: f32[?,3] = placeholder()")
    assert lines[1].startswith("%idx: i64[?,?] = placeholder()")
    assert lines[2].startswith("%flag: bool[] = placeholder()")
    assert lines[3].startswith("%empty: f64[0,?,1] = placeholder()")
    assert parsed.node("x").shape == (None, 3) and parsed.node("x").attrs["dtype"] == F32
    assert parsed.node("empty").shape == (0, None, 1)


def test_hand_written_text_with_comments_and_blank_lines():
    text = """
// a comment line, then a blank one

%x: f32[?,2] = placeholder()
%w: f32[2,2] = constant() {value=[1.0, 0.0, 0.0, -1.0]}  # model.py:7
%y: f32[?,2] = matmul(%x, %w)
%z: f32[?] = sum(%y) {axes=(1,), keepdims=False}
"""
    parsed = gc.ir.parse(text)
    # indentation means a fused kernel's body: anywhere else it is an error that names the line
    with pytest.raises(gc.errors.IRParseError, match="line 7: unexpected indentation"):
        gc.ir.parse(text.replace("\n%z", "\n    %z"))
    assert [n.name for n in parsed.nodes] == ["x", "w", "y", "z"]
    assert parsed.node("w").loc == "model.py:7"
    xv = dyadic((3, 2))
    (z,) = run(["z"], {"x": xv}, graph=parsed)
    assert_close(z, xv[:, 0] - xv[:, 1], F32)
    assert gc.ir.parse(parsed.to_text()).to_text() == parsed.to_text()


# -- constants ---------------------------------------------------------------------
SPECIAL_CONSTANTS = [
    ("f32-specials", np.array([NAN, INF, -INF, -0.0, 0.0, 1.5], F32)),
    ("f64-specials", np.array([[NAN, -INF], [-0.0, 1e-300]], F64)),
    ("f32-extremes", np.array([np.finfo(F32).max, np.finfo(F32).min, np.finfo(F32).tiny, 1e-45, 0.1, 1 / 3], F32)),
    ("f64-extremes", np.array([np.finfo(F64).max, np.finfo(F64).tiny, 5e-324, 0.1, 1 / 3, -2 ** 60], F64)),
    ("i32-extremes", np.array([np.iinfo(I32).min, -1, 0, np.iinfo(I32).max], I32)),
    ("i64-extremes", np.array([[np.iinfo(I64).min], [np.iinfo(I64).max]], I64)),
    ("bool", np.array([[True, False, True]], BOOL)),
    ("f32-0d-nan", np.array(NAN, F32)),
    ("f32-0d-negzero", np.array(-0.0, F32)),
    ("f64-0d-neginf", np.array(-INF, F64)),
    ("i32-0d", np.array(-7, I32)),
    ("i64-0d", np.array(2 ** 62, I64)),
    ("bool-0d", np.array(False, BOOL)),
    ("f32-empty", np.zeros((0,), F32)),
    ("f64-empty-2d", np.zeros((3, 0), F64)),
    ("i32-empty", np.zeros((0, 0, 2), I32)),
    ("bool-empty", np.zeros((2, 0), BOOL)),
    ("f32-16-inline", np.arange(16, dtype=F32).reshape(4, 4) - 7.5),
    ("f32-17-blob", np.concatenate([np.array([NAN, INF, -INF, -0.0], F32), np.arange(13, dtype=F32)])),
    ("f64-blob", np.linspace(-1, 1, 60).reshape(3, 4, 5)),
    ("i32-blob", np.arange(-50, 50, dtype=I32).reshape(10, 10)),
    ("i64-blob", np.array([np.iinfo(I64).min, np.iinfo(I64).max] * 20, I64)),
    ("bool-blob", np.arange(40) % 3 == 0),
    ("f32-large-blob", np.random.default_rng(0).standard_normal((64, 128)).astype(F32)),
]


@pytest.mark.parametrize("value", [v for _, v in SPECIAL_CONSTANTS], ids=[k for k, _ in SPECIAL_CONSTANTS])
def test_constants_round_trip(value):
    c = gc.constant(value, name="c")
    text, parsed = round_trip()
    assert ("blob(0)" in text) == (value.size > gc.ir.text.INLINE_LIMIT)
    assert text.startswith(f"%c: {gc.ir.type_str(value.dtype, value.shape)} = constant()")
    assert_identical_arrays(parsed.node("c").attrs["value"], value)
    (got,) = run(["c"], graph=parsed)
    assert_identical_arrays(got, value)
    assert_identical_arrays(run(c), value)


def test_inline_constant_text():
    gc.constant(np.array([NAN, -INF, -0.0, 2.0], F32), name="a")
    gc.constant(7, name="b")
    gc.constant(True, name="c")
    gc.constant(0.1, dtype=gc.float64, name="d")
    gc.constant(np.zeros((2, 0), I32), name="e")
    assert gc.get_default_graph().to_text().splitlines() == [
        "%a: f32[4] = constant() {value=[nan, -inf, -0.0, 2.0]}  # " + gc.get_default_graph().node("a").loc,
        "%b: i64[] = constant() {value=7}  # " + gc.get_default_graph().node("b").loc,
        "%c: bool[] = constant() {value=True}  # " + gc.get_default_graph().node("c").loc,
        "%d: f64[] = constant() {value=0.1}  # " + gc.get_default_graph().node("d").loc,
        "%e: i32[2,0] = constant() {value=[]}  # " + gc.get_default_graph().node("e").loc,
    ]
    round_trip()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([F32, F64, I32, I64, BOOL]).flatmap(
    lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))))
def test_random_constants_round_trip(value):
    """Any value of any dtype (every float bit pattern numpy draws, subnormals included), inline or blob."""
    with gc.Graph().as_default() as g:
        gc.constant(value, name="c")
        gc.neg(gc.constant(value)) if value.dtype != BOOL else gc.logical_not(gc.constant(value))
        text, parsed = round_trip(g)
        assert_identical_arrays(parsed.node("c").attrs["value"], value)
        assert_same_nodes(g, parsed)


def test_blobs_false_elides_only_the_payload():
    gc.constant(np.arange(20, dtype=F32), name="big")
    gc.constant(np.arange(3, dtype=F32), name="small")
    full, short = gc.get_default_graph().to_text(), gc.get_default_graph().to_text(blobs=False)
    assert re.sub(r'^(blob 0: f32\[20\] = )".*"$', r'\1"..."', full, flags=re.M) == short
    assert short.splitlines()[-1] == 'blob 0: f32[20] = "..."'


# -- every attribute kind ------------------------------------------------------------
def test_attribute_values_round_trip():
    x = gc.placeholder(gc.float32, (None, 4, 5), name="x")
    outs = [
        gc.pad(x, ((0, 1), (2, 0), (1, 1)), constant_values=NAN),
        gc.pad(x, 1, constant_values=-0.0),
        gc.pad(gc.cast(x, gc.int32), 2, constant_values=-3),
        x[::-1, 1:3, None, -1],
        x[..., ::2],
        gc.sum(x, axis=()),
        gc.max(x, axis=(0, -1), keepdims=True),
        gc.argmin(x),
        gc.argmax(x, axis=-2, keepdims=True),
        gc.reshape(x, (-1, 20)),
        gc.reshape(gc.constant([5.0]), ()),
        gc.transpose(x, (2, 0, 1)),
        gc.expand_dims(x, (0, -1)),
        gc.broadcast_to(gc.constant(1.0), (2, 3)),
        gc.cast(x, gc.float64),
        gc.cast(x, "bool"),
        gc.gather(x, gc.constant([[1, -1]]), axis=1),
        gc.concat([x, x], axis=-1),
    ]
    text, parsed = round_trip()
    assert_same_nodes(gc.get_default_graph(), parsed)
    assert "{pads=((0, 1), (2, 0), (1, 1)), value=nan}" in text
    assert "{pads=((1, 1), (1, 1), (1, 1)), value=-0.0}" in text
    assert "{axes=(), keepdims=False}" in text
    assert "{axis=None, keepdims=False}" in text
    assert "{dtype=f64}" in text and "{dtype=bool}" in text
    xv = dyadic((2, 4, 5))
    original = run(outs, {x: xv})
    again = run([t.name for t in outs], {"x": xv}, graph=parsed)
    for a, b in zip(again, original):
        assert_identical_arrays(a, b)


# -- variables -------------------------------------------------------------------------
def test_variables_and_initializer_round_trip():
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    with gc.name_scope("dense"):
        w = gc.Variable(dyadic((4, 3)), name="w")
        b = gc.Variable(np.full(20, 0.5, F32), name="b")  # stored as a blob
        y = gc.relu(x @ w + b[:3])
    s = gc.Variable(gc.constant([1, 2]) * 3, name="scale", trainable=False)
    counter = gc.Variable(0)
    init = gc.global_variables_initializer()
    text, parsed = round_trip()
    assert_same_nodes(gc.get_default_graph(), parsed)
    assert "%dense/w: f32[4,3] = variable() {initial_value='dense/w/initial_value', trainable=True}" in text
    assert f"%scale: i64[2] = variable() {{initial_value='{s.initial_value.name}', trainable=False}}" in text
    assert re.search(r"%init: none = init_variables\(%dense/w/initial_value, %dense/b/initial_value, %multiply, "
                     r"%Variable/initial_value\) \{variables=\('dense/w', 'dense/b', 'scale', 'Variable'\)\}", text)
    assert isinstance(parsed.tensor("dense/w"), gc.Variable) and not parsed.tensor("scale").trainable
    xv = dyadic((5, 4))
    names = [y.name, "dense/w", "dense/b", "scale", counter.name]
    original = run([y, w, b, s, counter], {x: xv})
    with gc.Session(graph=parsed, device="reference") as sess:
        assert sess.run("init") is None
        again = sess.run(names, {"x": xv})
    for a, e in zip(again, original):
        assert_identical_arrays(a, e)
    assert_close(again[0], np.maximum(xv.astype(F64) @ w.initial_value.node.attrs["value"] + 0.5, 0).astype(F32), F32)
    assert init.name == "init"


def test_variables_initializer_subset_round_trip():
    a = gc.Variable(np.float64(1.5), name="a")
    gc.Variable([True, False], name="flags")
    gc.variables_initializer([a], name="init_a")
    text, parsed = round_trip()
    assert "{variables=('a',)}" in text
    with gc.Session(graph=parsed, device="reference") as sess:
        assert sess.run("init_a") is None
        assert_identical_arrays(sess.run("a"), np.array(1.5))
        assert_identical_arrays(sess.run("flags"), np.array([True, False]))


# -- compiled programs ---------------------------------------------------------------------
def test_compiled_ir_round_trips_with_outputs():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.constant(dyadic((3, 4)), name="w")
    with gc.name_scope("head"):
        y = gc.relu(x @ w + 1.0)
        m = gc.mean(y, axis=0)
    unused = gc.exp(x, name="unused")
    xv = dyadic((5, 3))
    with gc.Session(device="reference") as sess:
        compiled = sess.compile([y, m], {x: gc.TensorSpec((5, 3))})
        expected = sess.run([y, m], {x: xv})
    text = compiled.ir()
    lines = text.splitlines()
    assert lines[-1] == f"outputs(%{y.name}, %{m.name})"
    assert lines[0].startswith("%x: f32[5,3] = placeholder()")
    assert f"%{unused.name}" not in text
    parsed = gc.ir.parse(text)
    assert parsed.to_text() == text
    assert [n.name for n in parsed.outputs] == [y.name, m.name]
    assert all(None not in n.shape for n in parsed.nodes)
    assert_same_nodes(compiled.graph, parsed)
    got = run([n.name for n in parsed.outputs], {"x": xv}, graph=parsed)
    for a, e in zip(got, expected):
        assert_identical_arrays(a, e)


def test_compiled_ir_with_blobs_and_initializer():
    x = gc.placeholder(gc.float32, (None, 6), name="x")
    w = gc.Variable(dyadic((6, 5)), name="w")  # 30 elements: a blob
    y = gc.tanh(x @ w)
    init = gc.global_variables_initializer()
    xv = dyadic((2, 6))
    with gc.Session(device="reference") as sess:
        compiled = sess.compile([y, init], {x: xv})
        expected, _ = sess.run([y, init], {x: xv})
    elided = compiled.ir()
    assert elided.splitlines()[-1] == 'blob 0: f32[6,5] = "..."'
    with pytest.raises(gc.errors.IRParseError, match=rf"line {len(elided.splitlines())}\b"):
        gc.ir.parse(elided)
    text = compiled.ir(blobs=True)
    assert text.splitlines()[-2] == f"outputs(%{y.name}, %init)"
    parsed = gc.ir.parse(text)
    assert parsed.to_text(blobs=False) == elided and parsed.to_text() == text
    with gc.Session(graph=parsed, device="reference") as sess:
        got, done = sess.run([y.name, "init"], {"x": xv})
    assert done is None
    assert_identical_arrays(got, expected)


def test_every_compiled_stage_round_trips():
    x = gc.placeholder(gc.float32, (None, 2), name="x")
    y = gc.nn.softmax(x)
    with gc.Session(device="reference") as sess:
        compiled = sess.compile(y, {x: gc.TensorSpec((3, 2))})
    for stage in compiled.stages:
        text = compiled.ir(stage, blobs=True)
        assert gc.ir.parse(text).to_text(blobs=True) == text


# -- parse errors name the line ---------------------------------------------------------------
GOOD = """%x: f32[?,3] = placeholder()  # a.py:1
%c: f32[3] = constant() {value=[1.0, 2.0, 3.0]}
%y: f32[?,3] = add(%x, %c)  # a.py:3
%s: f32[?] = sum(%y) {axes=(1,), keepdims=False}
"""


def _with_line(n, new):
    lines = GOOD.splitlines()
    lines[n - 1] = new
    return "\n".join(lines) + "\n"


PARSE_ERRORS = [
    ("garbage", 2, _with_line(2, "this is not IR")),
    ("missing-colon", 3, _with_line(3, "%y f32[?,3] = add(%x, %c)")),
    ("missing-percent", 1, _with_line(1, "x: f32[?,3] = placeholder()")),
    ("unknown-op", 3, _with_line(3, "%y: f32[?,3] = frobnicate(%x, %c)")),
    ("wrong-declared-shape", 3, _with_line(3, "%y: f32[?,4] = add(%x, %c)")),
    ("wrong-declared-dtype", 4, _with_line(4, "%s: f64[?] = sum(%y) {axes=(1,), keepdims=False}")),
    ("wrong-declared-rank", 4, _with_line(4, "%s: f32[] = sum(%y) {axes=(1,), keepdims=False}")),
    ("declared-known-inferred-unknown", 3, _with_line(3, "%y: f32[5,3] = add(%x, %c)")),
    ("unknown-dtype", 2, _with_line(2, "%c: f16[3] = constant() {value=[1.0, 2.0, 3.0]}")),
    ("bad-dim", 1, _with_line(1, "%x: f32[a,3] = placeholder()")),
    ("unknown-input", 3, _with_line(3, "%y: f32[?,3] = add(%x, %nope)")),
    ("input-not-a-ref", 3, _with_line(3, "%y: f32[?,3] = add(%x, c)")),
    ("input-defined-later", 3, _with_line(3, "%y: f32[?,3] = add(%x, %s)")),
    ("duplicate-name", 3, _with_line(3, "%c: f32[?,3] = add(%x, %c)")),
    ("wrong-arity", 3, _with_line(3, "%y: f32[?,3] = add(%x)")),
    ("op-check-fails", 3, _with_line(3, "%y: f32[2] = reshape(%c) {shape=(2,)}")),
    ("unbalanced-attrs", 4, _with_line(4, "%s: f32[?] = sum(%y) {axes=(1,), keepdims=False")),
    ("attr-syntax", 4, _with_line(4, "%s: f32[?] = sum(%y) {axes=(1,,), keepdims=False}")),
    ("attr-unknown-name", 4, _with_line(4, "%s: f32[?] = sum(%y) {axes=foo, keepdims=False}")),
    ("attr-missing", 4, _with_line(4, "%s: f32[?] = sum(%y) {keepdims=False}")),
    ("attr-extra", 4, _with_line(4, "%s: f32[?] = sum(%y) {axes=(1,), keepdims=False, bogus=1}")),
    ("trailing-text", 2, _with_line(2, "%c: f32[3] = constant() {value=[1.0, 2.0, 3.0]} junk")),
    ("constant-size", 2, _with_line(2, "%c: f32[3] = constant() {value=[1.0, 2.0]}")),
    ("bad-outputs", 5, GOOD + "outputs(%nothing)\n"),
    ("missing-blob", 2, _with_line(2, "%c: f32[3] = constant() {value=blob(0)}")),
    ("elided-blob", 5, _with_line(2, "%c: f32[3] = constant() {value=blob(0)}") + 'blob 0: f32[3] = "..."\n'),
    ("bad-blob-payload", 5, _with_line(2, "%c: f32[3] = constant() {value=blob(0)}") + 'blob 0: f32[3] = "AAAA"\n'),
    ("after-comments", 6, "// header\n\n" + _with_line(4, "%s: f32[?] = nonsense(%y)")),
]


@pytest.mark.parametrize("lineno, text", [e[1:] for e in PARSE_ERRORS], ids=[e[0] for e in PARSE_ERRORS])
def test_parse_errors_name_the_line(lineno, text):
    with pytest.raises(gc.errors.IRParseError) as info:
        gc.ir.parse(text)
    message = str(info.value)
    assert re.match(rf"line {lineno}\b", message), message
    assert text.splitlines()[lineno - 1].strip() in message


def test_good_text_parses():
    parsed = gc.ir.parse(GOOD)
    assert parsed.to_text() == GOOD
    xv = dyadic((2, 3))
    (s,) = run(["s"], {"x": xv}, graph=parsed)
    assert_close(s, (xv.astype(F64) + [1, 2, 3]).sum(1).astype(F32), F32)


def test_elided_blob_from_to_text_blobs_false():
    gc.constant(np.arange(30, dtype=F64), name="big")
    gc.neg(gc.constant(np.arange(30, dtype=F64), name="big2"))
    text = gc.get_default_graph().to_text(blobs=False)
    with pytest.raises(gc.errors.IRParseError) as info:
        gc.ir.parse(text)
    assert re.match(r"line 4\b", str(info.value)) and "elided" in str(info.value)
