"""fold_batch_norm: per-channel scales folded into constant conv and matmul weights, the
results against float64 numpy, and every condition under which it must not fold."""
import numpy as np
import pytest

import graphc as gc
from graphc.ops.conv import _conv_compute
from graphc.passes.fold_scale import fold_batch_norm

RNG = np.random.default_rng(7)


def _f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _compiled(fetch, feeds, disable=()):
    with gc.Session(disable=disable) as sess:
        got = sess.run(fetch, feeds)
        compiled = sess.compile(fetch, feeds)
    return got, compiled.stage("simplify").graph


def _ops(graph):
    return [n.op for n in graph.nodes]


def _conv64(x, w, groups=1, pads=((1, 1), (1, 1))):
    """float64 reference convolution (the op's own numpy reference, in float64)."""
    return _conv_compute([x.astype(np.float64), w.astype(np.float64)], stride=(1, 1), pads=pads,
                         dilation=(1, 1), groups=groups)


def _bn_consts(channels, shape):
    mean, var = _f32(channels), RNG.uniform(0.5, 2.0, channels).astype(np.float32)
    gamma, beta = _f32(channels), _f32(channels)
    return mean.reshape(shape), var.reshape(shape), beta.reshape(shape), gamma.reshape(shape)


def _bn64(y, mean, var, beta, gamma, eps=1e-3):
    inv = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    return (y - mean) * inv + beta


@pytest.mark.parametrize("groups, bias, stats_shape", [(1, False, (5, 1, 1)), (1, True, (1, 5, 1, 1)),
                                                       (5, False, (1, 5, 1, 1)), (5, True, (5, 1, 1))])
def test_conv_then_batch_norm_folds_into_the_weights(groups, bias, stats_shape):
    xv, wv = _f32(2, 5, 7, 6), _f32(5, 5 // groups, 3, 3)
    bv = _f32(5, 1, 1)
    stats = _bn_consts(5, stats_shape)
    x = gc.placeholder(gc.float32, (None, 5, 7, 6), name="x")
    y = gc.nn.conv2d(x, gc.constant(wv), padding=1, groups=groups)
    if bias:
        y = y + gc.constant(bv)
    out = gc.nn.batch_normalization(y, *[gc.constant(s) for s in stats], variance_epsilon=1e-3)
    got, graph = _compiled(out, {x: xv})
    assert "multiply" not in _ops(graph) and _ops(graph).count("add") == 1 + bias   # conv' + b*s, + shift
    conv = _conv64(xv, wv, groups) + (bv if bias else 0)
    np.testing.assert_allclose(got, _bn64(conv, *stats), rtol=2e-5, atol=2e-5)
    unfolded, graph = _compiled(out, {x: xv}, disable=("fold_batch_norm",))
    assert "multiply" in _ops(graph)
    np.testing.assert_allclose(got, unfolded, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("scale_first", [False, True])
@pytest.mark.parametrize("scale_shape", [(6,), (1, 6), (1,), ()])
def test_matmul_times_per_column_scale(scale_first, scale_shape):
    xv, wv = _f32(4, 3), _f32(3, 6)
    sv = _f32(*scale_shape)
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    p, s = gc.matmul(x, gc.constant(wv)), gc.constant(sv)
    out = s * p if scale_first else p * s
    got, graph = _compiled(out, {x: xv})
    assert _ops(graph) == ["placeholder", "constant", "matmul"]
    assert graph.outputs[0].name == out.name    # the fetched node keeps its name
    np.testing.assert_allclose(got, (xv.astype(np.float64) @ wv) * sv, rtol=2e-5, atol=1e-6)


def test_matmul_of_a_vector_and_bias_between():
    xv, wv, bv, sv = _f32(3), _f32(3, 4), _f32(4), _f32(4)
    x = gc.placeholder(gc.float32, (3,), name="x")
    out = (gc.constant(bv) + gc.matmul(x, gc.constant(wv))) * gc.constant(sv)
    got, graph = _compiled(out, {x: xv})
    assert "multiply" not in _ops(graph)
    np.testing.assert_allclose(got, (xv.astype(np.float64) @ wv + bv) * sv, rtol=2e-5, atol=1e-6)


def _unfolded(build):
    """``build()`` returns the fetch; the fold must not fire: the multiply stays."""
    x = gc.placeholder(gc.float32, (2, 3), name="x")
    fetches = build(x)
    with gc.Session() as sess:
        compiled = sess.compile(fetches, {x: _f32(2, 3)})
    assert "multiply" in _ops(compiled.stage("simplify").graph)


W = _f32(3, 4)


@pytest.mark.parametrize("case", [
    "scale_not_constant", "weight_variable", "per_row_scale", "full_scale", "non_finite_scale",
    "scaled_weight_overflows", "product_read_twice", "product_fetched", "bias_read_twice", "promotes",
    "batched_weight",
])
def test_does_not_fold(case):
    def build(x):
        p = gc.matmul(x, gc.constant(W))
        s = gc.constant(_f32(4))
        if case == "scale_not_constant":
            return p * gc.Variable(_f32(4))
        if case == "weight_variable":
            return gc.matmul(x, gc.Variable(W)) * s
        if case == "per_row_scale":
            return p * gc.constant(_f32(2, 1))
        if case == "full_scale":
            return p * gc.constant(_f32(2, 4))
        if case == "non_finite_scale":
            return p * gc.constant(np.array([1, np.inf, 1, 1], np.float32))
        if case == "scaled_weight_overflows":
            return gc.matmul(x, gc.constant(np.full((3, 4), 1e30, np.float32))) * gc.constant(np.float32(1e10))
        if case == "product_read_twice":
            return [p * s, p + 1.0]
        if case == "product_fetched":
            return [p * s, p]
        if case == "bias_read_twice":
            q = p + gc.constant(_f32(4))
            return [q * s, q]
        if case == "promotes":
            return p * gc.constant(_f32(4).astype(np.float64))
        if case == "batched_weight":
            return gc.matmul(gc.reshape(x, (1, 2, 3)), gc.constant(W[None])) * s
    _unfolded(build)


def test_conv_scale_along_a_spatial_axis_does_not_fold():
    x = gc.placeholder(gc.float32, (1, 2, 4, 4), name="x")
    out = gc.nn.conv2d(x, gc.constant(_f32(3, 2, 1, 1))) * gc.constant(_f32(1, 1, 4, 1))
    with gc.Session() as sess:
        compiled = sess.compile(out, {x: _f32(1, 2, 4, 4)})
    assert "multiply" in _ops(compiled.stage("simplify").graph)


def test_the_old_weight_is_dropped_and_a_second_sweep_changes_nothing():
    x = gc.placeholder(gc.float32, (2, 3), name="x")
    out = gc.matmul(x, gc.constant(W, name="w")) * gc.constant(_f32(4), name="s")
    with gc.Session(passes=["fold_batch_norm"]) as sess:
        compiled = sess.compile(out, {x: _f32(2, 3)})
    before, after = compiled.stage("specialize").graph, compiled.stage("fold_batch_norm").graph
    assert [n.name for n in before.nodes if n.op == "constant"] == ["w", "s"]
    assert [n.name for n in after.nodes if n.op == "constant"] == ["w/scaled"]
    assert fold_batch_norm(after).to_text() == after.to_text()   # nothing left to fold
