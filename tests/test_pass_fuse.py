"""fuse: which ops become one kernel, and why each edge is or is not fused.

Pass tests in the TVM style: the graph before and the graph expected after ``fuse`` are IR
text (a fused kernel prints its body indented under it); the fused graph must print exactly
as expected, pass the verifier, record a decision for every edge, and compute bit for bit
what the unfused graph computes (the reference executor interprets the kernel bodies).
The Session tests at the end are the acceptance checks on ``compiled.kernels``.
"""
import importlib
import textwrap

import networkx as nx
import numpy as np
import pytest

import graphc as gc
from models import mlp
from conftest import assert_close
from graphc.passes import verify
from graphc.passes.fuse import FusionReport, fuse
from graphc.ir.interpret import run_graph

fuse_module = importlib.import_module("graphc.passes.fuse")   # the module (its limits), not the function

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e30, -1e-30, 7.25, 65504.0]


def ir(text):
    return gc.ir.parse(textwrap.dedent(text))


def random_feeds(graph, seed, special=False):
    """A value for every placeholder: random (seeded), or cycling through special floats."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for i, node in enumerate(n for n in graph.nodes if n.op == "placeholder"):
        size = int(np.prod(node.shape, dtype=np.int64))
        if node.dtype.kind == "f":
            if special:
                value = np.resize(np.roll(np.array(SPECIAL), seed + 3 * i), size)
            else:
                value = rng.normal(size=size) * 3
        elif node.dtype.kind in "iu":
            value = rng.integers(-5, 6, size=size)
        else:
            value = rng.random(size) < 0.5
        feeds[node.name] = np.asarray(value).astype(node.dtype).reshape(node.shape)
    return feeds


def bits(a):
    a = np.asarray(a)
    return a.reshape(-1).view(f"u{a.itemsize}") if a.dtype.kind == "f" else a


def assert_same_numbers(after, before, feeds=None):
    """``after`` and ``before`` give bit-identical outputs on random and special feeds."""
    feed_sets = feeds or [random_feeds(before, s) for s in (0, 1)] + [random_feeds(before, s, True)
                                                                        for s in (0, 5)]
    with np.errstate(all="ignore"):
        for fs in feed_sets:
            got, want = run_graph(after, fs, {}), run_graph(before, fs, {})
            assert len(got) == len(want)
            for g, w in zip(got, want):
                assert (g.dtype, g.shape) == (w.dtype, w.shape)
                np.testing.assert_array_equal(bits(g), bits(w))


def edges(graph):
    return [(x.name, n.name) for n in graph.nodes for x in dict.fromkeys(n.inputs)]


def check_report(graph, report):
    """Every edge of the input graph has exactly one decision, and ``str(report)`` prints them all."""
    assert isinstance(report, FusionReport)
    decided = [(d.producer, d.consumer) for d in report.decisions]
    assert sorted(decided) == sorted(edges(graph))
    text = str(report)
    assert text.splitlines()[0] == f"fusion: {len(report.kernels)} kernels"
    for d in report.decisions:
        assert str(d) in text.splitlines()
        assert str(d).startswith(f"%{d.producer} -> %{d.consumer}: {'fused' if d.fused else 'not fused'}")
        if not d.fused:
            assert d.reason, d   # every edge that is not fused says why
    for name, covered in report.kernels.items():
        assert f"kernel %{name}: {', '.join(covered)}" in text


def check_fuse(before, expected, feeds=None):
    """``fuse(parse(before))`` prints as ``parse(expected)``, verifies, explains every edge and
    computes the same bits; returns (graph, fused graph, report)."""
    graph = ir(before)
    source = graph.to_text()
    fused, report = fuse(graph)
    assert fused.to_text() == ir(expected).to_text()
    assert graph.to_text() == source, "fuse changed its input graph"
    verify(fused, "after fuse")
    check_report(graph, report)
    assert_same_numbers(fused, graph, feeds)
    return graph, fused, report


def decision(report, producer, consumer):
    (d,) = [d for d in report.decisions if (d.producer, d.consumer) == (producer, consumer)]
    return d


def fused_nodes(graph):
    return [n for n in graph.nodes if n.op == "fused"]


# -- elementwise -------------------------------------------------------------------------
def test_elementwise_chain_is_one_kernel():
    _, fused, report = check_fuse("""
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %add: f32[8,4] = add(%x, %b)  # model.py:6
        %e: f32[8,4] = exp(%add)
        %y: f32[8,4] = relu(%e)  # model.py:7
        outputs(%y)
    """, """
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %y: f32[8,4] = fused(%x, %b) {kind='elementwise'}  # model.py:7
            %x: f32[8,4] = placeholder()
            %b: f32[4] = placeholder()
            %add: f32[8,4] = add(%x, %b)  # model.py:6
            %e: f32[8,4] = exp(%add)
            %y: f32[8,4] = relu(%e)  # model.py:7
            outputs(%y)
        outputs(%y)
    """)
    assert report.kernels == {"y": ["add", "e", "y"]}
    assert decision(report, "add", "e").fused and decision(report, "e", "y").fused
    assert not decision(report, "x", "add").fused   # a source is read, never computed, by a kernel


def test_elementwise_tree_is_one_kernel():
    check_fuse("""
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %c: f32[8,1] = placeholder()
        %p: f32[8,4] = add(%x, %b)
        %q: f32[8,4] = subtract(%x, %c)
        %r: f32[8,4] = multiply(%b, %c)
        %pq: f32[8,4] = maximum(%p, %q)
        %y: f32[8,4] = divide(%pq, %r)
        outputs(%y)
    """, """
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %c: f32[8,1] = placeholder()
        %y: f32[8,4] = fused(%x, %b, %c) {kind='elementwise'}
            %x: f32[8,4] = placeholder()
            %b: f32[4] = placeholder()
            %c: f32[8,1] = placeholder()
            %p: f32[8,4] = add(%x, %b)
            %q: f32[8,4] = subtract(%x, %c)
            %r: f32[8,4] = multiply(%b, %c)
            %pq: f32[8,4] = maximum(%p, %q)
            %y: f32[8,4] = divide(%pq, %r)
            outputs(%y)
        outputs(%y)
    """)


def test_broadcasts_casts_and_where_fuse():
    _, _, report = check_fuse("""
        %x: i32[8,4] = placeholder()
        %c: bool[8,1] = placeholder()
        %b: f32[4] = placeholder()
        %xf: f32[8,4] = cast(%x) {dtype=f32}
        %bb: f32[8,4] = broadcast_to(%b) {shape=(8, 4)}
        %m: f32[8,4] = multiply(%xf, %bb)
        %z: f32[] = constant() {value=0.0}
        %w: f32[8,4] = where(%c, %m, %z)
        %y: f64[8,4] = cast(%w) {dtype=f64}
        outputs(%y)
    """, """
        %x: i32[8,4] = placeholder()
        %c: bool[8,1] = placeholder()
        %b: f32[4] = placeholder()
        %y: f64[8,4] = fused(%x, %c, %b) {kind='elementwise'}
            %x: i32[8,4] = placeholder()
            %c: bool[8,1] = placeholder()
            %b: f32[4] = placeholder()
            %xf: f32[8,4] = cast(%x) {dtype=f32}
            %bb: f32[8,4] = broadcast_to(%b) {shape=(8, 4)}
            %m: f32[8,4] = multiply(%xf, %bb)
            %z: f32[] = constant() {value=0.0}
            %w: f32[8,4] = where(%c, %m, %z)
            %y: f64[8,4] = cast(%w) {dtype=f64}
            outputs(%y)
        outputs(%y)
    """)
    assert decision(report, "z", "w").fused
    assert decision(report, "z", "w").reason == "constant copied into the kernel"
    # a kernel lists the ops it computes, not the constants copied into it
    assert report.kernels == {"y": ["xf", "bb", "m", "w", "y"]}


def test_value_used_twice_in_one_kernel_is_computed_once():
    _, fused, report = check_fuse("""
        %x: f32[6] = placeholder()
        %a: f32[6] = exp(%x)
        %sq: f32[6] = multiply(%a, %a)
        %s: f32[6] = sin(%a)
        %y: f32[6] = add(%sq, %s)
        outputs(%y)
    """, """
        %x: f32[6] = placeholder()
        %y: f32[6] = fused(%x) {kind='elementwise'}
            %x: f32[6] = placeholder()
            %a: f32[6] = exp(%x)
            %sq: f32[6] = multiply(%a, %a)
            %s: f32[6] = sin(%a)
            %y: f32[6] = add(%sq, %s)
            outputs(%y)
        outputs(%y)
    """)
    (kernel,) = fused_nodes(fused)
    assert [n.name for n in kernel.attrs["body"].nodes].count("a") == 1
    # exp is expensive, but both readers are in the same kernel: fused, not recomputed
    assert decision(report, "a", "sq").fused and decision(report, "a", "s").fused
    assert decision(report, "a", "s").reason == ""


def test_cheap_op_read_by_two_kernels_is_recomputed_in_both():
    _, fused, report = check_fuse("""
        %x: f32[8,4] = placeholder()
        %n: f32[8,4] = neg(%x)
        %y1: f32[8,4] = exp(%n)
        %y2: f32[8,4] = tanh(%n)
        outputs(%y1, %y2)
    """, """
        %x: f32[8,4] = placeholder()
        %y1: f32[8,4] = fused(%x) {kind='elementwise'}
            %x: f32[8,4] = placeholder()
            %n: f32[8,4] = neg(%x)
            %y1: f32[8,4] = exp(%n)
            outputs(%y1)
        %y2: f32[8,4] = fused(%x) {kind='elementwise'}
            %x: f32[8,4] = placeholder()
            %n: f32[8,4] = neg(%x)
            %y2: f32[8,4] = tanh(%n)
            outputs(%y2)
        outputs(%y1, %y2)
    """)
    for consumer in ("y1", "y2"):
        d = decision(report, "n", consumer)
        assert d.fused and d.reason == "recomputed in 2 kernels"
        assert str(d) == f"%n -> %{consumer}: fused (recomputed in 2 kernels)"
    assert report.kernels == {"y1": ["n", "y1"], "y2": ["n", "y2"]}


def test_expensive_op_computed_from_sources_is_recomputed_in_its_two_kernels():
    """exp of a sum of feeds, read by two kernels: each computes it (the feeds live outside
    the arena, so recomputing keeps no buffer alive), and no buffer holds it."""
    _, _, report = check_fuse("""
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %a: f32[8,4] = add(%x, %b)
        %e: f32[8,4] = exp(%a)
        %y1: f32[8,4] = neg(%e)
        %y2: f32[8,4] = abs(%e)
        outputs(%y1, %y2)
    """, """
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %y1: f32[8,4] = fused(%x, %b) {kind='elementwise'}
            %x: f32[8,4] = placeholder()
            %b: f32[4] = placeholder()
            %a: f32[8,4] = add(%x, %b)
            %e: f32[8,4] = exp(%a)
            %y1: f32[8,4] = neg(%e)
            outputs(%y1)
        %y2: f32[8,4] = fused(%x, %b) {kind='elementwise'}
            %x: f32[8,4] = placeholder()
            %b: f32[4] = placeholder()
            %a: f32[8,4] = add(%x, %b)
            %e: f32[8,4] = exp(%a)
            %y2: f32[8,4] = abs(%e)
            outputs(%y2)
        outputs(%y1, %y2)
    """)
    for consumer in ("y1", "y2"):
        d = decision(report, "e", consumer)
        assert d.fused and d.reason == "recomputed in 2 kernels"
    assert set(report.kernels) == {"y1", "y2"}


REMATERIALIZE = """
    %x: f32[8,4] = placeholder()
    %w: f32[4,4] = placeholder()
    %m: f32[8,4] = matmul(%x, %w)
    %h: f32[8,4] = relu(%m)
    %e: f32[8,4] = exp(%m)
    %y1: f32[8,4] = multiply(%e, %h)
    %y2: f32[8,4] = {second}
    {third}
    outputs(%h, %y1, %y2{more})
"""


@pytest.mark.parametrize("second, third, more, recomputed", [
    # both kernels read the product exp is computed from: each computes exp itself (gelu's
    # sigmoid of the pre-activation, read by the forward kernel and the backward one)
    ("add(%e, %m)", "", "", True),
    # the second kernel reads only exp: recomputing there would keep the product alive
    ("neg(%e)", "", "", False),
    # three kernels: over MAX_REMATERIALIZE
    ("add(%e, %m)", "%y3: f32[8,4] = subtract(%e, %m)", ", %y3", False),
])
def test_expensive_op_is_rematerialized_where_every_reader_reads_its_inputs(second, third, more, recomputed):
    graph, fused, report = check_fuse_any(REMATERIALIZE.format(second=second, third=third, more=more))
    decisions = [d for d in report.decisions if d.producer == "e"]
    assert decisions and all(d.fused == recomputed for d in decisions)
    assert ("e" in report.kernels) == (not recomputed)
    if not recomputed:
        assert all("exp read by" in d.reason and "too costly to recompute" in d.reason for d in decisions)


def check_fuse_any(before, feeds=None):
    """``fuse(parse(before))`` verifies, explains every edge and computes the same bits."""
    graph = ir(before)
    fused, report = fuse(graph)
    verify(fused, "after fuse")
    check_report(graph, report)
    assert_same_numbers(fused, graph, feeds)
    return graph, fused, report


def test_recompute_limit(monkeypatch):
    """A cheap op read by more kernels than MAX_RECOMPUTE is materialized."""
    monkeypatch.setattr(fuse_module, "MAX_RECOMPUTE", 2)
    _, _, report = check_fuse("""
        %x: f32[4] = placeholder()
        %n: f32[4] = neg(%x)
        %y1: f32[4] = exp(%n)
        %y2: f32[4] = sin(%n)
        %y3: f32[4] = cos(%n)
        outputs(%y1, %y2, %y3)
    """, """
        %x: f32[4] = placeholder()
        %n: f32[4] = neg(%x)
        %y1: f32[4] = exp(%n)
        %y2: f32[4] = sin(%n)
        %y3: f32[4] = cos(%n)
        outputs(%y1, %y2, %y3)
    """)
    assert "over the recompute limit 2" in decision(report, "n", "y3").reason


# -- reductions --------------------------------------------------------------------------
def test_reduction_with_its_elementwise_producers():
    check_fuse("""
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %a: f32[8,4] = add(%x, %b)
        %e: f32[8,4] = exp(%a)
        %y: f32[8] = sum(%e) {axes=(1,), keepdims=False}
        outputs(%y)
    """, """
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %y: f32[8] = fused(%x, %b) {kind='reduction'}
            %x: f32[8,4] = placeholder()
            %b: f32[4] = placeholder()
            %a: f32[8,4] = add(%x, %b)
            %e: f32[8,4] = exp(%a)
            %y: f32[8] = sum(%e) {axes=(1,), keepdims=False}
            outputs(%y)
        outputs(%y)
    """)


SOFTMAX = ("""
    %x: f32[8,16] = placeholder()
    %mx: f32[8,1] = max(%x) {axes=(1,), keepdims=True}
    %sh: f32[8,16] = subtract(%x, %mx)
    %e: f32[8,16] = exp(%sh)
    %s: f32[8,1] = sum(%e) {axes=(1,), keepdims=True}
    %y: f32[8,16] = divide(%e, %s)
    outputs(%y)
""", """
    %x: f32[8,16] = placeholder()
    %y: f32[8,16] = fused(%x) {kind='reduction'}
        %x: f32[8,16] = placeholder()
        %mx: f32[8,1] = max(%x) {axes=(1,), keepdims=True}
        %sh: f32[8,16] = subtract(%x, %mx)
        %e: f32[8,16] = exp(%sh)
        %s: f32[8,1] = sum(%e) {axes=(1,), keepdims=True}
        %y: f32[8,16] = divide(%e, %s)
        outputs(%y)
    outputs(%y)
""")

LOG_SOFTMAX = ("""
    %x: f32[8,16] = placeholder()
    %mx: f32[8,1] = max(%x) {axes=(1,), keepdims=True}
    %sh: f32[8,16] = subtract(%x, %mx)
    %e: f32[8,16] = exp(%sh)
    %s: f32[8,1] = sum(%e) {axes=(1,), keepdims=True}
    %l: f32[8,1] = log(%s)
    %y: f32[8,16] = subtract(%sh, %l)
    outputs(%y)
""", """
    %x: f32[8,16] = placeholder()
    %y: f32[8,16] = fused(%x) {kind='reduction'}
        %x: f32[8,16] = placeholder()
        %mx: f32[8,1] = max(%x) {axes=(1,), keepdims=True}
        %sh: f32[8,16] = subtract(%x, %mx)
        %e: f32[8,16] = exp(%sh)
        %s: f32[8,1] = sum(%e) {axes=(1,), keepdims=True}
        %l: f32[8,1] = log(%s)
        %y: f32[8,16] = subtract(%sh, %l)
        outputs(%y)
    outputs(%y)
""")

LAYER_NORM = ("""
    %x: f32[8,16] = placeholder()
    %g: f32[16] = placeholder()
    %b: f32[16] = placeholder()
    %mu: f32[8,1] = mean(%x) {axes=(1,), keepdims=True}
    %c: f32[8,16] = subtract(%x, %mu)
    %sq: f32[8,16] = square(%c)
    %var: f32[8,1] = mean(%sq) {axes=(1,), keepdims=True}
    %eps: f32[] = constant() {value=1e-05}
    %ve: f32[8,1] = add(%var, %eps)
    %r: f32[8,1] = rsqrt(%ve)
    %n: f32[8,16] = multiply(%c, %r)
    %s: f32[8,16] = multiply(%n, %g)
    %y: f32[8,16] = add(%s, %b)
    outputs(%y)
""", """
    %x: f32[8,16] = placeholder()
    %g: f32[16] = placeholder()
    %b: f32[16] = placeholder()
    %y: f32[8,16] = fused(%x, %g, %b) {kind='reduction'}
        %x: f32[8,16] = placeholder()
        %g: f32[16] = placeholder()
        %b: f32[16] = placeholder()
        %mu: f32[8,1] = mean(%x) {axes=(1,), keepdims=True}
        %c: f32[8,16] = subtract(%x, %mu)
        %sq: f32[8,16] = square(%c)
        %var: f32[8,1] = mean(%sq) {axes=(1,), keepdims=True}
        %eps: f32[] = constant() {value=1e-05}
        %ve: f32[8,1] = add(%var, %eps)
        %r: f32[8,1] = rsqrt(%ve)
        %n: f32[8,16] = multiply(%c, %r)
        %s: f32[8,16] = multiply(%n, %g)
        %y: f32[8,16] = add(%s, %b)
        outputs(%y)
    outputs(%y)
""")


@pytest.mark.parametrize("before, expected", [SOFTMAX, LOG_SOFTMAX, LAYER_NORM],
                         ids=["softmax", "log_softmax", "layer_norm"])
def test_row_wise_composites_are_one_reduction_kernel(before, expected):
    _, fused, report = check_fuse(before, expected)
    (kernel,) = fused_nodes(fused)
    assert kernel.attrs["kind"] == "reduction"
    assert all(d.fused for d in report.decisions if d.producer not in ("x", "g", "b"))


def test_reductions_over_different_axes_are_not_fused_together():
    _, _, report = check_fuse("""
        %x: f32[8,4] = placeholder()
        %s: f32[8,1] = sum(%x) {axes=(1,), keepdims=True}
        %d: f32[8,4] = subtract(%x, %s)
        %y: f32[4] = max(%d) {axes=(0,), keepdims=False}
        outputs(%y)
    """, """
        %x: f32[8,4] = placeholder()
        %s: f32[8,1] = sum(%x) {axes=(1,), keepdims=True}
        %y: f32[4] = fused(%x, %s) {kind='reduction'}
            %x: f32[8,4] = placeholder()
            %s: f32[8,1] = placeholder()
            %d: f32[8,4] = subtract(%x, %s)
            %y: f32[4] = max(%d) {axes=(0,), keepdims=False}
            outputs(%y)
        outputs(%y)
    """)
    d = decision(report, "s", "d")
    assert not d.fused and d.reason == "reduces axes (1,) while kernel %y reduces (0,)"


def test_reduction_of_another_shape_is_not_fused():
    """A reduction whose input is not what the kernel iterates over stays its own kernel."""
    _, _, report = check_fuse("""
        %x: f32[8,4,3] = placeholder()
        %s: f32[8,4] = sum(%x) {axes=(2,), keepdims=False}
        %e: f32[8,4] = exp(%s)
        %y: f32[8] = sum(%e) {axes=(1,), keepdims=False}
        outputs(%y)
    """, """
        %x: f32[8,4,3] = placeholder()
        %s: f32[8,4] = sum(%x) {axes=(2,), keepdims=False}
        %y: f32[8] = fused(%s) {kind='reduction'}
            %s: f32[8,4] = placeholder()
            %e: f32[8,4] = exp(%s)
            %y: f32[8] = sum(%e) {axes=(1,), keepdims=False}
            outputs(%y)
        outputs(%y)
    """)
    assert not decision(report, "s", "e").fused


# -- matmul ------------------------------------------------------------------------------
def test_matmul_bias_relu_epilogue_is_one_matmul_kernel():
    _, fused, report = check_fuse("""
        %x: f32[8,16] = placeholder()
        %w: f32[16,4] = placeholder()
        %b: f32[4] = placeholder()
        %mm: f32[8,4] = matmul(%x, %w)
        %a: f32[8,4] = add(%mm, %b)
        %y: f32[8,4] = relu(%a)
        outputs(%y)
    """, """
        %x: f32[8,16] = placeholder()
        %w: f32[16,4] = placeholder()
        %b: f32[4] = placeholder()
        %y: f32[8,4] = fused(%x, %w, %b) {kind='matmul'}
            %x: f32[8,16] = placeholder()
            %w: f32[16,4] = placeholder()
            %b: f32[4] = placeholder()
            %mm: f32[8,4] = matmul(%x, %w)
            %a: f32[8,4] = add(%mm, %b)
            %y: f32[8,4] = relu(%a)
            outputs(%y)
        outputs(%y)
    """)
    assert report.kernels == {"y": ["mm", "a", "y"]}


def test_transposed_matmul_operand_is_read_in_place():
    _, _, report = check_fuse("""
        %x: f32[8,16] = placeholder()
        %w: f32[4,16] = placeholder()
        %b: f32[4] = placeholder()
        %wt: f32[16,4] = transpose(%w) {perm=(1, 0)}
        %mm: f32[8,4] = matmul(%x, %wt)
        %y: f32[8,4] = add(%mm, %b)
        outputs(%y)
    """, """
        %x: f32[8,16] = placeholder()
        %w: f32[4,16] = placeholder()
        %b: f32[4] = placeholder()
        %y: f32[8,4] = fused(%x, %w, %b) {kind='matmul'}
            %x: f32[8,16] = placeholder()
            %w: f32[4,16] = placeholder()
            %b: f32[4] = placeholder()
            %wt: f32[16,4] = transpose(%w) {perm=(1, 0)}
            %mm: f32[8,4] = matmul(%x, %wt)
            %y: f32[8,4] = add(%mm, %b)
            outputs(%y)
        outputs(%y)
    """)
    assert decision(report, "wt", "mm").fused


def test_batched_transpose_of_computed_operand_folds_into_matmul():
    """A transpose swapping the last two axes is read by the matmul in place; what it
    transposes is materialized (the matmul reads buffers)."""
    _, _, report = check_fuse("""
        %a: f32[2,5,3] = placeholder()
        %b: f32[2,5,4] = placeholder()
        %e: f32[2,5,3] = exp(%a)
        %at: f32[2,3,5] = transpose(%e) {perm=(0, 2, 1)}
        %y: f32[2,3,4] = matmul(%at, %b)
        outputs(%y)
    """, """
        %a: f32[2,5,3] = placeholder()
        %b: f32[2,5,4] = placeholder()
        %e: f32[2,5,3] = exp(%a)
        %y: f32[2,3,4] = fused(%b, %e) {kind='matmul'}
            %b: f32[2,5,4] = placeholder()
            %e: f32[2,5,3] = placeholder()
            %at: f32[2,3,5] = transpose(%e) {perm=(0, 2, 1)}
            %y: f32[2,3,4] = matmul(%at, %b)
            outputs(%y)
        outputs(%y)
    """)
    d = decision(report, "e", "at")
    assert not d.fused and d.reason == "read in place by matmul through transpose %at"


def test_matmul_followed_by_softmax_stays_separate():
    _, fused, report = check_fuse("""
        %x: f32[8,16] = placeholder()
        %w: f32[16,4] = placeholder()
        %mm: f32[8,4] = matmul(%x, %w)
        %mx: f32[8,1] = max(%mm) {axes=(1,), keepdims=True}
        %sh: f32[8,4] = subtract(%mm, %mx)
        %e: f32[8,4] = exp(%sh)
        %s: f32[8,1] = sum(%e) {axes=(1,), keepdims=True}
        %y: f32[8,4] = divide(%e, %s)
        outputs(%y)
    """, """
        %x: f32[8,16] = placeholder()
        %w: f32[16,4] = placeholder()
        %mm: f32[8,4] = matmul(%x, %w)
        %y: f32[8,4] = fused(%mm) {kind='reduction'}
            %mm: f32[8,4] = placeholder()
            %mx: f32[8,1] = max(%mm) {axes=(1,), keepdims=True}
            %sh: f32[8,4] = subtract(%mm, %mx)
            %e: f32[8,4] = exp(%sh)
            %s: f32[8,1] = sum(%e) {axes=(1,), keepdims=True}
            %y: f32[8,4] = divide(%e, %s)
            outputs(%y)
        outputs(%y)
    """)
    assert "row-wise reduction, not a matmul epilogue" in decision(report, "mm", "mx").reason
    assert report.kernels == {"mm": ["mm"], "y": ["mx", "sh", "e", "s", "y"]}


def test_two_matmuls_are_two_kernels():
    _, _, report = check_fuse("""
        %x: f32[8,16] = placeholder()
        %w1: f32[16,4] = placeholder()
        %w2: f32[4,4] = placeholder()
        %h: f32[8,4] = matmul(%x, %w1)
        %r: f32[8,4] = relu(%h)
        %y: f32[8,4] = matmul(%r, %w2)
        outputs(%y)
    """, """
        %x: f32[8,16] = placeholder()
        %w1: f32[16,4] = placeholder()
        %w2: f32[4,4] = placeholder()
        %r: f32[8,4] = fused(%x, %w1) {kind='matmul'}
            %x: f32[8,16] = placeholder()
            %w1: f32[16,4] = placeholder()
            %h: f32[8,4] = matmul(%x, %w1)
            %r: f32[8,4] = relu(%h)
            outputs(%r)
        %y: f32[8,4] = matmul(%r, %w2)
        outputs(%y)
    """)
    assert decision(report, "r", "y").reason == "operand of matmul %y, which reads buffers"


# -- ops that take buffers, views, constants ---------------------------------------------
def test_concat_pad_gather_are_kernels_of_their_own():
    graph, fused, report = check_fuse("""
        %x: f32[2,3] = placeholder()
        %z: f32[2,3] = placeholder()
        %i: i64[4] = placeholder()
        %a: f32[2,3] = exp(%x)
        %b: f32[2,3] = neg(%z)
        %nb: f32[2,3] = abs(%b)
        %c: f32[4,3] = concat(%a, %nb) {axis=0}
        %p: f32[6,5] = pad(%c) {pads=((1, 1), (1, 1)), value=0.0}
        %g: f32[4,5] = gather(%p, %i) {axis=0}
        %y: f32[4,5] = relu(%g)
        outputs(%y)
    """, """
        %x: f32[2,3] = placeholder()
        %z: f32[2,3] = placeholder()
        %i: i64[4] = placeholder()
        %a: f32[2,3] = exp(%x)
        %nb: f32[2,3] = fused(%z) {kind='elementwise'}
            %z: f32[2,3] = placeholder()
            %b: f32[2,3] = neg(%z)
            %nb: f32[2,3] = abs(%b)
            outputs(%nb)
        %c: f32[4,3] = concat(%a, %nb) {axis=0}
        %p: f32[6,5] = pad(%c) {pads=((1, 1), (1, 1)), value=0.0}
        %g: f32[4,5] = gather(%p, %i) {axis=0}
        %y: f32[4,5] = relu(%g)
        outputs(%y)
    """, feeds=[{"x": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
                 "z": -np.arange(6, dtype=np.float32).reshape(2, 3),
                 "i": np.array(idx, np.int64)} for idx in ([0, 5, 2, 3], [-1, 1, 1, 4])])
    assert decision(report, "a", "c").reason == "read by concat %c, which takes buffers"
    assert decision(report, "c", "p").reason == "concat is a kernel of its own"
    assert decision(report, "p", "g").reason == "pad is a kernel of its own"
    assert decision(report, "g", "y").reason == "gather is a kernel of its own"
    assert not any(d.fused for d in report.decisions if d.consumer in ("c", "p", "g"))
    assert set(report.kernels) == {"a", "nb", "c", "p", "g", "y"}


def test_lone_views_between_kernels_run_no_kernel():
    """A transpose, reshape or slice alone between two kernels reads its input's buffer in
    place: it stays a plain node, and no kernel computes it."""
    text = """
        %x: f32[4,4] = placeholder()
        %a: f32[4,4] = exp(%x)
        %t: f32[4,4] = transpose(%a) {perm=(1, 0)}
        %s: f32[2,4] = slice(%a) {slices=((0, 2, None), (None, None, None))}
        %r: f32[2,8] = reshape(%a) {shape=(2, 8)}
        %c: f32[6,4] = concat(%t, %s) {axis=0}
        %d: f32[4,8] = concat(%r, %r) {axis=0}
        outputs(%c, %d)
    """
    _, fused, report = check_fuse(text, text)
    assert set(report.kernels) == {"a", "c", "d"}
    for view, reader in (("t", "c"), ("s", "c"), ("r", "d")):
        assert not decision(report, view, reader).fused


def test_a_matmul_reads_a_reshape_in_place_and_a_copy_of_a_strided_view():
    """A GEMM reads a buffer, a reshape or a slice of whole rows of one, or one transposed
    in its last two axes; a transpose moving a batch axis or a slice of columns between
    matmuls is copied once by a kernel of its own (a loop over k reading the view strided
    ran 10x slower than the copy and the GEMM)."""
    feeds = """
        %x: f32[2,3,4] = placeholder()
        %w: f32[4,5] = placeholder()
        %v: f32[5,6] = placeholder()
        %u: f32[6,2] = placeholder()
        %q: f32[1,3] = placeholder()
        %p: f32[3,2] = placeholder()
    """
    _, fused, report = check_fuse(feeds + """
        %a: f32[2,3,5] = matmul(%x, %w)
        %t: f32[3,2,5] = transpose(%a) {perm=(1, 0, 2)}
        %b: f32[3,2,6] = matmul(%t, %v)
        %r: f32[6,6] = reshape(%b) {shape=(6, 6)}
        %c: f32[6,2] = matmul(%r, %u)
        %s: f32[6,1] = slice(%c) {slices=((None, None, None), (1, 2, None))}
        %y: f32[6,3] = matmul(%s, %q)
        %h: f32[3,3] = slice(%y) {slices=((2, 5, None), (None, None, None))}
        %z: f32[3,2] = matmul(%h, %p)
        outputs(%z)
    """, feeds + """
        %a: f32[2,3,5] = matmul(%x, %w)
        %t: f32[3,2,5] = fused(%a) {kind='elementwise'}
            %a: f32[2,3,5] = placeholder()
            %t: f32[3,2,5] = transpose(%a) {perm=(1, 0, 2)}
            outputs(%t)
        %b: f32[3,2,6] = matmul(%t, %v)
        %r: f32[6,6] = reshape(%b) {shape=(6, 6)}
        %c: f32[6,2] = matmul(%r, %u)
        %s: f32[6,1] = fused(%c) {kind='elementwise'}
            %c: f32[6,2] = placeholder()
            %s: f32[6,1] = slice(%c) {slices=((None, None, None), (1, 2, None))}
            outputs(%s)
        %y: f32[6,3] = matmul(%s, %q)
        %h: f32[3,3] = slice(%y) {slices=((2, 5, None), (None, None, None))}
        %z: f32[3,2] = matmul(%h, %p)
        outputs(%z)
    """)
    assert set(report.kernels) == {"a", "t", "b", "c", "s", "y", "z"}
    for view, reader in (("t", "b"), ("s", "y")):
        assert decision(report, view, reader).reason == \
            "a strided view read by a matmul: copied to a buffer the GEMM reads"
    for view, reader in (("r", "c"), ("h", "z")):
        assert decision(report, view, reader).reason == f"operand of matmul %{reader}, which reads buffers"


def test_small_constants_are_copied_into_the_body_large_ones_are_inputs():
    _, fused, report = check_fuse("""
        %x: f32[4] = placeholder()
        %c: f32[4] = constant() {value=[1.0, 2.0, 3.0, 4.0]}
        %k: f32[17] = constant() {value=[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 5.0]}
        %m: f32[4] = multiply(%x, %c)
        %s: f32[4] = slice(%k) {slices=((0, 4, None),)}
        %y: f32[4] = add(%m, %s)
        outputs(%y)
    """, """
        %x: f32[4] = placeholder()
        %k: f32[17] = constant() {value=[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 5.0]}
        %y: f32[4] = fused(%x, %k) {kind='elementwise'}
            %x: f32[4] = placeholder()
            %k: f32[17] = placeholder()
            %c: f32[4] = constant() {value=[1.0, 2.0, 3.0, 4.0]}
            %m: f32[4] = multiply(%x, %c)
            %s: f32[4] = slice(%k) {slices=((0, 4, None),)}
            %y: f32[4] = add(%m, %s)
            outputs(%y)
        outputs(%y)
    """)
    assert fuse_module.INLINE_CONSTANT == 16
    assert decision(report, "c", "m").fused
    d = decision(report, "k", "s")
    assert not d.fused and d.reason == "constant is read as a kernel input"


# -- the kernel input limit --------------------------------------------------------------
def test_input_limit_splits_a_wide_kernel_and_says_why(monkeypatch):
    monkeypatch.setattr(fuse_module, "MAX_KERNEL_INPUTS", 3)
    _, fused, report = check_fuse("""
        %a: f32[4] = placeholder()
        %b: f32[4] = placeholder()
        %c: f32[4] = placeholder()
        %d: f32[4] = placeholder()
        %e: f32[4] = placeholder()
        %ab: f32[4] = add(%a, %b)
        %abc: f32[4] = add(%ab, %c)
        %de: f32[4] = multiply(%d, %e)
        %y: f32[4] = subtract(%abc, %de)
        outputs(%y)
    """, """
        %a: f32[4] = placeholder()
        %b: f32[4] = placeholder()
        %c: f32[4] = placeholder()
        %d: f32[4] = placeholder()
        %e: f32[4] = placeholder()
        %abc: f32[4] = fused(%a, %b, %c) {kind='elementwise'}
            %a: f32[4] = placeholder()
            %b: f32[4] = placeholder()
            %c: f32[4] = placeholder()
            %ab: f32[4] = add(%a, %b)
            %abc: f32[4] = add(%ab, %c)
            outputs(%abc)
        %y: f32[4] = fused(%d, %e, %abc) {kind='elementwise'}
            %d: f32[4] = placeholder()
            %e: f32[4] = placeholder()
            %abc: f32[4] = placeholder()
            %de: f32[4] = multiply(%d, %e)
            %y: f32[4] = subtract(%abc, %de)
            outputs(%y)
        outputs(%y)
    """)
    d = decision(report, "abc", "y")
    assert not d.fused and d.reason == "kernel %y would read more than 3 buffers"
    assert all(len(k.inputs) <= 3 for k in fused_nodes(fused))


def _wide_sum(n):
    lines = [f"%x{i}: f32[4,3] = placeholder()" for i in range(n)]
    lines += [f"%e{i}: f32[4,3] = exp(%x{i})" for i in range(n)]
    acc = "e0"
    for i in range(1, n):
        lines.append(f"%s{i}: f32[4,3] = add(%{acc}, %e{i})")
        acc = f"s{i}"
    lines.append(f"%y: f32[4] = sum(%{acc}) {{axes=(1,), keepdims=False}}")
    lines.append("outputs(%y)")
    return gc.ir.parse("\n".join(lines))


@pytest.mark.parametrize("limit", [2, 3, 5, 8, 32])
def test_input_limit_holds_for_every_kernel(monkeypatch, limit):
    monkeypatch.setattr(fuse_module, "MAX_KERNEL_INPUTS", limit)
    graph = _wide_sum(12)
    fused, report = fuse(graph)
    verify(fused)
    check_report(graph, report)
    assert all(len(k.inputs) <= limit for k in fused_nodes(fused))
    split = [d for d in report.decisions if "would read more than" in d.reason]
    assert bool(split) == (limit < 12)
    assert all(d.reason.endswith(f"more than {limit} buffers") for d in split)
    assert_same_numbers(fused, graph)


# -- structure of the fused graph ------------------------------------------------------------
def example_graphs():
    """User graphs (the nn composites, an MLP, conv2d and pooling) specialized to static shapes."""
    rng = np.random.default_rng(0)
    out = {}
    with gc.Graph().as_default() as g:
        x = gc.placeholder(gc.float32, (16, 32), name="x")
        w1 = gc.Variable(rng.normal(size=(32, 24)).astype(np.float32), name="w1")
        b1 = gc.Variable(rng.normal(size=24).astype(np.float32), name="b1")
        w2 = gc.Variable(rng.normal(size=(24, 8)).astype(np.float32), name="w2")
        h = gc.nn.layer_norm(gc.relu(x @ w1 + b1))
        y = gc.nn.softmax(gc.nn.gelu(h) @ w2)
        z = gc.nn.log_softmax(h * 2.0) + gc.sum(h, axis=0)
        out["mlp"] = (g, [y, z, gc.argmax(y, axis=1)])
    with gc.Graph().as_default() as g:
        img = gc.placeholder(gc.float32, (2, 3, 9, 9), name="img")
        k = gc.Variable(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), name="k")
        c = gc.relu(gc.nn.conv2d(img, k, padding="SAME"))
        p = gc.nn.max_pool2d(c, 2)
        q = gc.nn.avg_pool2d(gc.nn.silu(c), 3, stride=2, padding=1)
        out["conv"] = (g, [p, q])
    return out


def specialized(g, fetches):
    """The ``specialize`` stage of ``fetches`` (placeholders at their static shapes), and the
    values the Session gives the variables."""
    placeholders = [g.tensor(n) for n in g.nodes if n.op == "placeholder"]
    with gc.Session(g, passes=[]) as sess:
        graph = sess.compile(fetches, {p: p.shape for p in placeholders}).graph
        variables = {n.name: sess.run(g.tensor(n.name)) for n in graph.nodes if n.op == "variable"}
    return graph, variables


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_fused_graph_is_acyclic_verified_and_explained(name):
    g, fetches = example_graphs()[name]
    graph, variables = specialized(g, fetches)
    fused, report = fuse(graph)
    verify(fused, "after fuse")
    check_report(graph, report)
    deps = nx.DiGraph()
    deps.add_nodes_from(n.name for n in fused.nodes)
    deps.add_edges_from((x.name, n.name) for n in fused.nodes for x in n.inputs)
    assert nx.is_directed_acyclic_graph(deps)
    position = {n: i for i, n in enumerate(fused.nodes)}
    for node in fused.nodes:
        assert all(position[x] < position[node] for x in node.inputs)
    # a kernel reads only materialized values and sources of the fused graph
    names = {n.name for n in fused.nodes}
    for kernel in fused_nodes(fused):
        assert all(x.name in names for x in kernel.inputs)
        body = kernel.attrs["body"]
        params = [n for n in body.nodes if n.op == "placeholder"]
        assert [p.name for p in params] == [x.name for x in kernel.inputs]
        assert body.outputs[0].name == kernel.name
    # every computed op of the input is computed by some kernel (or is a view between kernels)
    covered = {m for ops in report.kernels.values() for m in ops}
    for node in graph.nodes:
        if node.opdef.kind not in ("source", "effect"):
            assert node.name in covered or node.op in ("reshape", "transpose", "slice", "expand_dims",
                                                       "squeeze", "broadcast_to"), node
    feeds = [random_feeds(graph, s) for s in (0, 1)]
    for fs in feeds:
        got, want = run_graph(fused, fs, variables), run_graph(graph, fs, variables)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(bits(a), bits(b))


def test_fuse_does_not_change_the_user_graph_or_the_feeds():
    g, fetches = example_graphs()["mlp"]
    before = g.to_text()
    feed = np.random.default_rng(0).normal(size=(16, 32)).astype(np.float32)
    kept = feed.copy()
    with gc.Session(g, poison=True) as sess:
        sess.run(fetches, {"x": feed})
    assert g.to_text() == before
    np.testing.assert_array_equal(feed, kept)


# -- acceptance: kernels a Session runs ------------------------------------------------------
def _compile(fetch, feeds, **options):
    with gc.Session(**options) as sess:
        return sess.compile(fetch, feeds)


def test_gelu_of_scale_and_shift_is_one_kernel():
    x = gc.placeholder(gc.float32, (64, 128), name="x")
    a = gc.placeholder(gc.float32, (128,), name="a")
    b = gc.placeholder(gc.float32, (128,), name="b")
    y = gc.nn.gelu(x * a + b)
    compiled = _compile(y, {x: (64, 128), a: (128,), b: (128,)})
    (kernel,) = compiled.kernels
    assert kernel.kind == "elementwise"
    assert sorted(kernel.inputs) == ["a", "b", "x"]
    ops = {compiled.stage("specialize").graph.node(n).op for n in kernel.nodes}
    assert {"multiply", "add", "sigmoid"} <= ops
    rng = np.random.default_rng(0)
    feeds = {x: rng.normal(size=(64, 128)).astype(np.float32), a: rng.normal(size=128).astype(np.float32),
             b: rng.normal(size=128).astype(np.float32)}
    with gc.Session() as sess, gc.Session(device="reference", optimize=False) as ref:
        assert_close(sess.run(y, feeds), ref.run(y, feeds), np.float32)


@pytest.mark.parametrize("composite", ["softmax", "log_softmax", "layer_norm"])
def test_row_wise_composites_over_the_last_axis_are_one_kernel(composite):
    x = gc.placeholder(gc.float32, (64, 128), name="x")
    y = getattr(gc.nn, composite)(x)
    compiled = _compile(y, {x: (64, 128)})
    assert len(compiled.kernels) <= 2
    (kernel,) = compiled.kernels
    assert kernel.kind == "reduction" and kernel.inputs == ("x",)
    specialize = compiled.stage("specialize").graph
    # simplify drops stop_gradient (it only steers gc.gradients)
    assert set(kernel.nodes) == {n.name for n in specialize.nodes
                                 if n.op not in ("placeholder", "constant", "stop_gradient")}


def test_mlp_has_one_kernel_per_matmul_plus_softmax():
    x, probs = mlp()
    compiled = _compile(probs, {x: (64, 128)})
    kernels = compiled.kernels
    assert len(kernels) == 4
    for i in range(3):
        (k,) = [k for k in kernels if f"dense{i}/matmul" in k.nodes]
        assert k.kind == "matmul"
        assert sum(n.endswith("/matmul") for n in k.nodes) == 1
        assert f"dense{i}/w" in k.inputs
        if i < 2:   # bias and relu are the matmul's epilogue
            assert {f"dense{i}/add", f"dense{i}/relu"} <= set(k.nodes)
    (soft,) = [k for k in kernels if "softmax/divide" in k.nodes]
    assert soft.kind == "reduction"
    assert {"softmax/max", "softmax/subtract", "softmax/exp", "softmax/sum"} <= set(soft.nodes)
    # every op of the program is covered by exactly one kernel (nothing recomputed here)
    covered = [n for k in kernels for n in k.nodes]
    ops = [n.name for n in compiled.stage("dce").graph.nodes if n.opdef.kind != "source"]
    assert sorted(covered) == sorted(ops)
    # the fusion report agrees with the kernel list
    assert {k.name: list(k.nodes) for k in kernels} == compiled.fusion.kernels


def test_kernels_list_the_nodes_they_cover():
    x = gc.placeholder(gc.float32, (8, 4), name="x")
    c = gc.constant(np.arange(4, dtype=np.float32), name="c")
    y = gc.exp(x + c) * 2.0
    compiled = _compile(y, {x: (8, 4)})
    (kernel,) = compiled.kernels
    assert kernel.name == y.name and kernel.kind == "elementwise"
    assert set(kernel.nodes) == {"add", "exp", "multiply"}      # inlined constants are not ops
    assert kernel.inputs == ("x",)
    assert "covers 3 ops" in repr(kernel)


def test_folded_constants_run_no_kernel():
    a = gc.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = gc.nn.softmax(gc.exp(a) * 2.0 + 1.0)
    compiled = _compile(y, {})
    assert compiled.kernels == []
    assert [n.op for n in compiled.graph.nodes] == ["constant"]
    unfolded = _compile(y, {}, disable=["fold_constants"])
    assert len(unfolded.kernels) >= 1
    with gc.Session() as sess, gc.Session(device="reference", optimize=False) as ref:
        assert_close(sess.run(y), ref.run(y), np.float32)


def test_views_between_kernels_are_not_listed_as_kernels():
    x = gc.placeholder(gc.float32, (6, 4), name="x")
    w = gc.placeholder(gc.float32, (4, 6), name="w")
    v = gc.placeholder(gc.float32, (9, 2), name="v")
    u = gc.placeholder(gc.float32, (2, 5), name="u")
    h = gc.reshape(x @ w, (4, 9)) @ v          # a lone reshape between two matmuls
    y = h[1:3] @ u                             # a lone slice between two matmuls
    compiled = _compile(y, {x: (6, 4), w: (4, 6), v: (9, 2), u: (2, 5)})
    ops = {n.name: n.op for n in compiled.graph.nodes}
    names = [k.name for k in compiled.kernels]
    assert [ops[k] for k in names] == ["matmul"] * 3
    assert sorted(op for op in ops.values() if op in ("reshape", "slice")) == ["reshape", "slice"]
    rng = np.random.default_rng(3)
    feeds = {t: rng.normal(size=t.shape).astype(np.float32) for t in (x, w, v, u)}
    with gc.Session(poison=True) as sess, gc.Session(device="reference", optimize=False) as ref:
        assert_close(sess.run(y, feeds), ref.run(y, feeds), np.float32)


def test_a_chain_of_views_between_buffers_runs_no_kernel():
    """An im2col built by hand: each window is slice + expand_dims of the padded input, read
    by the concat in place; the concat result is reshaped (a view) into the GEMM."""
    x = gc.placeholder(gc.float32, (2, 3, 8, 8), name="x")
    w = gc.constant(np.random.default_rng(0).normal(size=(4, 27)).astype(np.float32))
    padded = gc.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = gc.stack([padded[:, :, i:i + 8, j:j + 8] for i in range(3) for j in range(3)], axis=2)
    y = gc.reshape(gc.matmul(w, gc.reshape(cols, (2, 27, 64))), (2, 4, 8, 8))
    compiled = gc.Session().compile(y, {x: (2, 3, 8, 8)})
    assert [k.kind for k in compiled.kernels] == ["movement", "movement", "matmul"]   # pad, concat, GEMM
    assert all(n.op != "fused" or n.attrs["kind"] != "elementwise" for n in compiled.graph.nodes)
