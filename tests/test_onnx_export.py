"""gc.onnx.export: exported graphs pass onnx's checker and, run in onnxruntime, give
graphc's own results and those of an independent numpy (float64) reference."""
import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import graphc as gc  # noqa: E402
from graphc.builder import make  # noqa: E402
from graphc.onnx.exporter import DEFAULT_OPSET, ExportError, UnsupportedOpError  # noqa: E402
from graphc.ops.elementwise import BINARY, UNARY  # noqa: E402

# onnxruntime against graphc (float32 kernels on both sides) and against the float64
# reference of the same inputs; float64 to float64 rounding; integers and bools exactly
TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6), np.dtype(np.float64): dict(rtol=1e-12, atol=1e-13)}
RNG = np.random.default_rng(0)


def ort_run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def assert_same(actual, expected, dtype, relative=False):
    """``actual`` has ``dtype``, ``expected``'s shape and its values to ``dtype``'s tolerance
    (``relative``: no absolute slack, for results that must be accurate near 0)."""
    expected = np.asarray(expected)
    assert actual.dtype == np.dtype(dtype), (actual.dtype, dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    tol = dict(TOL.get(np.dtype(dtype), dict(rtol=0, atol=0)), **({"atol": 0} if relative else {}))
    np.testing.assert_allclose(actual, expected.astype(actual.dtype) if actual.dtype == bool else expected,
                               equal_nan=True, **tol)


def check(fetches, feeds=(), expected=None, session=None, relative=False, **export_args):
    """Export ``fetches``, check the model, run it in onnxruntime and compare with graphc's
    Session and (if given) the ``expected`` reference values; returns (model, results)."""
    feeds = dict(feeds)
    many = isinstance(fetches, (list, tuple))
    fetch_list = list(fetches) if many else [fetches]
    model = gc.onnx.export(fetches, session=session, **export_args)
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "graphc" and len(model.graph.output) == len(fetch_list)
    got = ort_run(model, {t.name: v for t, v in feeds.items()})
    if session is None:
        with gc.Session() as sess:
            want = sess.run(fetch_list, feeds)
    else:
        want = session.run(fetch_list, feeds)
    assert len(got) == len(fetch_list)
    for g, w, t in zip(got, want, fetch_list):
        assert_same(g, w, t.dtype, relative)
    if expected is not None:
        for g, e, t in zip(got, expected if many else [expected], fetch_list):
            assert_same(g, e, t.dtype, relative)
    return model, got


def ph(array, name="x", shape=None):
    """A placeholder for ``array`` and its feed."""
    array = np.asarray(array)
    p = gc.placeholder(array.dtype, array.shape if shape is None else shape, name=name)
    return p, {p: array}


# -- models -------------------------------------------------------------------------------
def test_mlp_softmax():
    xv = RNG.standard_normal((5, 8)).astype(np.float32)
    w1, b1 = RNG.standard_normal((8, 16)).astype(np.float32), RNG.standard_normal(16).astype(np.float32)
    w2, b2 = RNG.standard_normal((16, 4)).astype(np.float32), RNG.standard_normal(4).astype(np.float32)
    x, feeds = ph(xv)
    y = gc.nn.softmax(gc.relu(x @ w1 + b1) @ w2 + b2)
    h = np.maximum(xv.astype(np.float64) @ w1 + b1, 0) @ w2 + b2
    e = np.exp(h - h.max(-1, keepdims=True))
    model, _ = check(y, feeds, e / e.sum(-1, keepdims=True))
    ops = {n.op_type for n in model.graph.node}
    assert {"MatMul", "Relu", "Exp", "ReduceSum", "ReduceMax", "Div"} <= ops
    assert y.name in {n.name for n in model.graph.node}   # graphc's node names are kept


def test_layer_norm_and_gelu():
    xv = RNG.standard_normal((3, 6)).astype(np.float32)
    gamma, beta = RNG.standard_normal(6).astype(np.float32), RNG.standard_normal(6).astype(np.float32)
    x, feeds = ph(xv)
    x64 = xv.astype(np.float64)
    c = x64 - x64.mean(-1, keepdims=True)
    ln = c / np.sqrt((c * c).mean(-1, keepdims=True) + 1e-5) * gamma + beta
    erf = np.vectorize(math.erf)
    tanh_gelu = 0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)))
    check([gc.nn.layer_norm(x, gamma, beta), gc.nn.gelu(x), gc.nn.gelu(x, approximate="none")], feeds,
          [ln, tanh_gelu, 0.5 * x64 * (1 + erf(x64 / math.sqrt(2)))])


def test_conv2d_and_pools():
    xv = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
    wv = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    x, feeds = ph(xv, shape=(None, 3, 6, 6))
    model, _ = check([gc.nn.conv2d(x, wv, stride=2, padding="SAME"), gc.nn.max_pool2d(x, 2),
                      gc.nn.avg_pool2d(x, 3, 1, "SAME", False), gc.nn.log_softmax(x, axis=1)], feeds)
    assert {"Conv", "MaxPool", "AveragePool"} <= {n.op_type for n in model.graph.node}


# -- convolution and pooling (graphc/onnx/export_conv.py) ---------------------------------
def _reference(op, values, **attrs):
    """graphc's numpy reference of ``op`` (graphc/ops/conv.py) in float64."""
    from graphc.ops.registry import get_op
    return get_op(op).compute([np.asarray(v, np.float64) for v in values], **attrs)


def check_window_op(fetches, feeds, expected, **export_args):
    """``check`` for sums over windows: float32 rounding grows with the terms' magnitude, so
    the absolute slack is relative to the largest expected value."""
    model = gc.onnx.export(fetches, **export_args)
    onnx.checker.check_model(model, full_check=True)
    got = ort_run(model, {t.name: v for t, v in feeds.items()})
    with gc.Session() as sess:
        want = sess.run(fetches, feeds)
    for g, w, e, t in zip(got, want, expected, fetches):
        assert g.dtype == t.dtype and g.shape == w.shape == np.shape(e), (t, g.shape, w.shape, np.shape(e))
        for other in (w, e):
            np.testing.assert_allclose(g, other, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(e).max()), err_msg=t.name)
    return model, got


_CONVS = {   # id: (weights' shape, stride, padding, dilation, groups)
    "3x3": ((5, 4, 3, 3), 1, "VALID", 1, 1),
    "stride2-same": ((5, 4, 3, 3), 2, "SAME", 1, 1),
    "stride3-asymmetric": ((3, 4, 3, 2), 3, ((1, 2), (0, 1)), 1, 1),   # rows past the last window
    "stride2-pads-dilation2": ((4, 4, 2, 3), 2, ((2, 0), (1, 1)), 2, 1),
    "dilation2-same": ((4, 4, 3, 3), 1, "SAME", 2, 1),
    "groups2": ((6, 2, 3, 3), (2, 1), ((1, 1), (0, 2)), 1, 2),
    "depthwise": ((4, 1, 3, 3), 1, "SAME", 1, 4),
    "depthwise-multiplier-stride2": ((8, 1, 2, 2), 2, ((0, 1), (1, 0)), (1, 2), 4),
    "1x1": ((6, 4, 1, 1), 1, "VALID", 1, 1),
    "1x1-stride2-groups2": ((6, 2, 1, 1), 2, "VALID", 1, 2),
}


@pytest.mark.parametrize("case", sorted(_CONVS))
def test_conv2d_and_its_gradients(case):
    """conv2d (Conv), and the gradients: conv2d_backward_input (ConvTranspose) and
    conv2d_backward_filter (a Conv with batch and channels swapped), with a dynamic batch."""
    w_shape, stride, padding, dilation, groups = _CONVS[case]
    xv = RNG.standard_normal((3, 4, 9, 8)).astype(np.float32)
    wv = RNG.standard_normal(w_shape).astype(np.float32)
    x, feeds = ph(xv, shape=(None, 4, 9, 8))
    w, more = ph(wv, "w")
    feeds.update(more)
    y = gc.nn.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    gv = RNG.standard_normal((3,) + tuple(y.shape[1:])).astype(np.float32)
    dx, dw = gc.gradients(gc.sum(y * gv), [x, w])
    assert dx.node.op == "conv2d_backward_input" and dw.node.op == "conv2d_backward_filter"
    attrs = {k: y.node.attrs[k] for k in ("stride", "pads", "dilation", "groups")}
    refs = [_reference("conv2d", [xv, wv], **attrs),
            _reference("conv2d_backward_input", [gv, wv], **attrs, size=(9, 8)),
            _reference("conv2d_backward_filter", [xv, gv], **attrs, kernel=w_shape[2:])]
    model, _ = check_window_op([y, dx, dw], feeds, refs)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "x_dim0"
    assert {"Conv", "ConvTranspose"} <= {n.op_type for n in model.graph.node}
    (got,) = ort_run(gc.onnx.export(y), {"x": xv[:1], "w": wv})   # another batch size
    np.testing.assert_allclose(got, refs[0][:1], rtol=1e-5, atol=1e-5 * np.abs(refs[0]).max())


_POOLS = {   # id: (kernel, stride, padding, dilation of max pools)
    "2x2": ((2, 2), None, "VALID", 1),
    "3x3-stride1-same": ((3, 3), 1, "SAME", 1),
    "3x2-stride2-asymmetric": ((3, 2), 2, ((1, 2), (0, 1)), 1),
    "stride3": ((2, 3), 3, ((1, 0), (1, 1)), 1),
    "1x1-stride2": ((1, 1), 2, "VALID", 1),
    "dilation2": ((2, 2), 1, ((1, 1), (0, 1)), 2),
}


@pytest.mark.parametrize("case", sorted(_POOLS))
def test_pools_and_their_gradients(case):
    """max_pool2d (MaxPool) and avg_pool2d (AveragePool, counting the padding and not), and
    their gradients max_pool2d_backward and avg_pool2d_backward (ConvTransposes)."""
    kernel, stride, padding, dilation = _POOLS[case]
    xv = RNG.standard_normal((2, 3, 9, 8)).astype(np.float32)
    xv[0, 0, :3, :3] = 0.5                       # ties: the first maximum of a window wins
    x, feeds = ph(xv, shape=(None, 3, 9, 8))
    fetches, refs = [], []
    mp = gc.nn.max_pool2d(x, kernel, stride, padding, dilation)
    g = RNG.standard_normal((2,) + tuple(mp.shape[1:])).astype(np.float32)
    (dmp,) = gc.gradients(gc.sum(mp * g), [x])
    assert dmp.node.op == "max_pool2d_backward"
    fetches += [mp, dmp]
    refs += [_reference("max_pool2d", [xv], **mp.node.attrs), _reference("max_pool2d_backward", [xv, g], **mp.node.attrs)]
    if dilation == 1:
        for include in (True, False):
            ap = gc.nn.avg_pool2d(x, kernel, stride, padding, count_include_pad=include)
            ga = RNG.standard_normal((2,) + tuple(ap.shape[1:])).astype(np.float32)
            (dap,) = gc.gradients(gc.sum(ap * ga), [x])
            assert dap.node.op == "avg_pool2d_backward"
            fetches += [ap, dap]
            refs += [_reference("avg_pool2d", [xv], **ap.node.attrs),
                     _reference("avg_pool2d_backward", [ga], **dap.node.attrs)]
    model, _ = check_window_op(fetches, feeds, refs)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "x_dim0"


def test_max_pool_keeps_nan_inf_and_first_maximum():
    """A window with a NaN gives NaN (onnxruntime's MaxPool skips it), one of -inf gives -inf
    (not the lowest float), and the gradient goes to the first maximum, the first NaN first."""
    xv = np.array([[[[1, 1, np.nan, 2, 0], [1, 1, -np.inf, np.nan, 0], [-np.inf, -np.inf, 5, 5, 0],
                     [-np.inf, -np.inf, 5, np.inf, 0], [0, 0, 0, 0, 0]]]], np.float32)
    x, feeds = ph(xv)
    ys, refs = [], []
    for kernel, stride, padding in ((2, 2, "VALID"), (3, 1, 1), (2, 1, ((1, 0), (0, 1)))):
        mp = gc.nn.max_pool2d(x, kernel, stride, padding)
        g = np.arange(1, 1 + np.prod(mp.shape), dtype=np.float32).reshape(mp.shape)
        ys += [mp, gc.gradients(gc.sum(mp * g), [x])[0]]
        refs += [_reference("max_pool2d", [xv], **mp.node.attrs),
                 _reference("max_pool2d_backward", [xv, g], **mp.node.attrs)]
    got = ort_run(gc.onnx.export(ys), {"x": xv})
    with gc.Session() as sess:
        mine = sess.run(ys, feeds)
    for g, m_, r, t in zip(got, mine, refs, ys):
        assert np.array_equal(g, m_, equal_nan=True) and np.array_equal(g, r, equal_nan=True), (t.name, g, m_, r)
    assert np.array_equal(got[0], [[[[1, np.nan], [-np.inf, np.inf]]]], equal_nan=True)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_max_pool_and_its_gradient(dtype):
    xv = (RNG.standard_normal((2, 3, 6, 5)) * 50).astype(dtype)
    xv[0, 0, 0, :2] = np.iinfo(dtype).min                 # below the padding never wins
    x, feeds = ph(xv, shape=(None, 3, 6, 5))
    mp = gc.nn.max_pool2d(x, 3, 2, 1)
    dy = gc.placeholder(gc.float32, (None,) + tuple(mp.shape[1:]), name="dy")
    dyv = RNG.standard_normal((2,) + tuple(mp.shape[1:])).astype(np.float32)
    dx = make("max_pool2d_backward", (x, dy), dict(mp.node.attrs))
    feeds[dy] = dyv
    check([mp, dx], feeds, [_reference("max_pool2d", [xv], **mp.node.attrs).astype(dtype),
                            _reference("max_pool2d_backward", [xv, dyv], **mp.node.attrs)])


def test_cnn_training_gradients_export():
    """The gradients of a conv + pool classifier's loss (every backward primitive) run in
    onnxruntime as they do in graphc, with the session's variable values."""
    xv = RNG.standard_normal((4, 3, 12, 12)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    x, feeds = ph(xv, shape=(None, 3, 12, 12))
    y = gc.placeholder(gc.int64, (None,), name="labels")
    feeds[y] = labels
    w1 = gc.Variable(RNG.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3, name="w1")
    w2 = gc.Variable(RNG.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, name="w2")
    wd = gc.Variable(RNG.standard_normal((6, 1, 3, 3)).astype(np.float32) * 0.3, name="wd")
    fc = gc.Variable(RNG.standard_normal((8, 3)).astype(np.float32) * 0.3, name="fc")
    h = gc.relu(gc.nn.conv2d(x, w1, padding="SAME"))
    h = gc.nn.max_pool2d(h, 2)
    h = gc.relu(gc.nn.conv2d(h, wd, stride=2, padding=((1, 0), (0, 1)), groups=6))
    h = gc.nn.avg_pool2d(gc.nn.conv2d(h, w2, padding=1, groups=2), 3, 2, "SAME", count_include_pad=False)
    logits = gc.mean(h, axis=(2, 3)) @ fc
    loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits, y))
    params = [w1, w2, wd, fc]
    grads = gc.gradients(loss, params + [x])
    ops = {n.op for n in loss.graph.nodes}
    assert {"conv2d_backward_input", "conv2d_backward_filter", "max_pool2d_backward", "avg_pool2d_backward"} <= ops
    with gc.Session() as sess:
        model = gc.onnx.export([loss] + grads, session=sess)
        got = ort_run(model, {"x": xv, "labels": labels})
        want = sess.run([loss] + grads, feeds)
    for g, w, t in zip(got, want, [loss] + grads):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(w).max()), err_msg=t.name)


def test_float64_convolutions_are_valid_onnx():
    """float64 renders the same ops; onnxruntime's CPU provider lacks float64 Conv,
    ConvTranspose and AveragePool, so onnx's reference evaluator runs the model."""
    from onnx.reference import ReferenceEvaluator
    xv = RNG.standard_normal((2, 4, 7, 7))
    wv = RNG.standard_normal((4, 2, 3, 3))
    x, feeds = ph(xv, shape=(None, 4, 7, 7))
    y = gc.nn.conv2d(x, wv[:, :1], stride=2, padding=((1, 0), (1, 2)), dilation=(1, 2), groups=4)
    z = gc.nn.conv2d(x, wv[:, :2].repeat(2, axis=1), stride=2, padding=((1, 0), (1, 2)))
    # (the reference evaluator's ConvTranspose does not take groups)
    ys = [y, z] + gc.gradients(gc.sum(z * z), [x]) + [gc.nn.avg_pool2d(x, 3, 2, 1, False), gc.nn.max_pool2d(x, 2)]
    model = gc.onnx.export(ys)
    got = ReferenceEvaluator(model).run(None, {"x": xv})
    with gc.Session() as sess:
        want = sess.run(ys, feeds)
    for g, w in zip(got, want):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_integer_convolution_is_a_clear_error():
    x = gc.placeholder(gc.int32, (1, 3, 5, 5), name="x")
    y = gc.nn.conv2d(x, np.ones((2, 3, 3, 3), np.int32))
    with pytest.raises(UnsupportedOpError, match=r"cannot export conv2d 'conv2d[^']*' \(built at [^)]*test_onnx_export"
                                                r"\.py:\d+\) to ONNX: ONNX's Conv is defined for floats only"):
        gc.onnx.export(y)


# -- elementwise --------------------------------------------------------------------------
_GENERAL = np.array([[-2.5, -1.5, -0.7, 0.0, 0.5, 1.5], [2.5, 3.2, -3.9, 0.25, 1e-3, -1e-4]], np.float32)
_POSITIVE = np.array([[0.1, 0.5, 1.0, 2.0, 3.5, 7.25], [1e-3, 0.25, 4.0, 9.0, 100.0, 1e-5]], np.float32)
_SMALL = np.array([[1e-6, -1e-5, 1e-3, -0.25, 0.5, 2.0], [-0.9, 3.0, -3.0, 1e-8, 0.0, 10.0]], np.float32)
_ABOVE_M1 = np.array([[1e-6, -1e-5, 1e-3, -0.25, 0.5, 2.0], [-0.9, 3.0, -0.999, 1e-8, 0.0, 10.0]], np.float32)
_WIDE = np.array([[-30.0, -20.0, -5.0, -1e-4, 0.0, 1e-4], [0.5, 2.0, 5.0, 20.0, 30.0, -0.5]], np.float32)
_SPECIAL = np.array([[np.nan, np.inf, -np.inf, 0.0, -1.5, 2.0]], np.float32)
_UNARY_INPUTS = {"log": _POSITIVE, "sqrt": _POSITIVE, "rsqrt": _POSITIVE, "reciprocal": _POSITIVE,
                 "expm1": _SMALL, "log1p": _ABOVE_M1, "softplus": _WIDE, "sigmoid": _WIDE,
                 "isnan": _SPECIAL, "isfinite": _SPECIAL, "logical_not": _SPECIAL}
_erf = np.vectorize(math.erf)
# independent float64 references (the result rounded to the op's dtype by the comparison)
_UNARY_REF = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "expm1": np.expm1, "log": np.log,
    "log1p": np.log1p, "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x), "square": lambda x: x * x,
    "reciprocal": lambda x: 1 / x, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "softplus": lambda x: np.log1p(np.exp(x)),
    "relu": lambda x: np.where(x > 0, x, 0 * x), "erf": _erf, "floor": np.floor, "ceil": np.ceil,
    "round": np.round, "logical_not": lambda x: x == 0, "isnan": np.isnan, "isfinite": np.isfinite,
    "stop_gradient": lambda x: x,
}


def test_every_unary_op_has_a_reference_here():
    assert set(_UNARY_REF) == set(UNARY)
    assert set(_BINARY_REF) == set(BINARY)


# accurate for tiny inputs, where exp(x) - 1 and log(1 + x) lose every digit
_NEAR_ZERO = {"expm1", "log1p", "softplus", "sigmoid", "sin", "tanh", "erf"}
# the exported op is valid ONNX, but onnxruntime's CPU provider has no kernel for it
ORT_LACKS = {("erf", np.float64)}


@pytest.mark.parametrize("op", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_float(op, dtype):
    xv = _UNARY_INPUTS.get(op, _GENERAL).astype(dtype)
    x, feeds = ph(xv)
    if (op, dtype) in ORT_LACKS:
        onnx.checker.check_model(gc.onnx.export(getattr(gc.math_ops, op)(x)), full_check=True)
        pytest.xfail(f"onnxruntime has no {dtype.__name__} {op} kernel")
    check(getattr(gc.math_ops, op)(x), feeds, _UNARY_REF[op](xv.astype(np.float64)), relative=op in _NEAR_ZERO)


@pytest.mark.parametrize("op", sorted(op for op, row in UNARY.items() if row.rule != "bool" or op == "logical_not"))
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_unary_int(op, dtype):
    xv = np.array([[-3, -1, 0], [1, 2, 7]], dtype)
    if op in ("log", "sqrt", "rsqrt", "reciprocal", "log1p"):
        xv = np.abs(xv) + 1
    x, feeds = ph(xv)
    y = getattr(gc.math_ops, op)(x)
    expected = _UNARY_REF[op](xv.astype(np.float64))
    check(y, feeds, expected.astype(y.dtype) if y.dtype.kind != "f" else expected)


@pytest.mark.parametrize("op", ["abs", "logical_not", "stop_gradient", "isnan", "isfinite", "exp", "sigmoid"])
def test_unary_bool(op):
    xv = np.array([True, False, True])
    x, feeds = ph(xv)
    check(getattr(gc.math_ops, op)(x), feeds, _UNARY_REF[op](xv.astype(np.float64)))


def test_identity_and_shape_of_compat_v1():
    """placeholder_with_default (an identity with a relaxed shape), tf.identity and tf.shape
    of an unknown batch: a computed value in ONNX, Identity, and Shape (cast to int32)."""
    import graphc.compat.v1 as tf
    xv = RNG.standard_normal((5, 3)).astype(np.float32)
    x, feeds = ph(xv, shape=(None, 3))
    k = tf.placeholder_with_default(np.float32(2.0), [])
    check([tf.identity(x * k), tf.shape(x), tf.shape(x, out_type=tf.int64)], feeds, [xv * 2, [5, 3], [5, 3]])


_A = np.array([[-2.5, -1.0, 0.0, 0.5, 1.5, 3.0], [7.5, -7.5, 1.0, -1.0, 6.0, -0.0]], np.float32)
_B = np.array([[1.5, 2.0, -3.0, 0.25, -0.5, 2.0], [2.0, 2.0, 0.1, 0.1, -4.0, 3.0]], np.float32)
_BINARY_REF = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "floor_divide": np.floor_divide, "mod": np.mod, "power": np.power, "maximum": np.maximum,
    "minimum": np.minimum, "equal": np.equal, "not_equal": np.not_equal, "less": np.less,
    "less_equal": np.less_equal, "greater": np.greater, "greater_equal": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or,
}
# numpy in the operands' dtype: piecewise-constant results whose float64 value can differ
_SAME_DTYPE_REF = {"floor_divide", "mod"}


def _binary_ref(op, a, b, dtype):
    if op in _SAME_DTYPE_REF or np.dtype(dtype).kind != "f":
        return _BINARY_REF[op](a, b)
    return _BINARY_REF[op](a.astype(np.float64), b.astype(np.float64))


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_float(op, dtype):
    av, bv = _A.astype(dtype), _B.astype(dtype)
    if op == "power":
        av = np.abs(av) + 0.5
    a, feeds = ph(av, "a")
    b, more = ph(bv[:, :1] if op == "add" else bv, "b")   # (and one broadcast)
    feeds.update(more)
    bv = bv[:, :1] if op == "add" else bv
    with np.errstate(all="ignore"):
        check(getattr(gc.math_ops, op)(a, b), feeds, _binary_ref(op, av, bv, dtype))


_IA = np.array([[-7, 7, -7, 7, 0, 5, 9], [-2147483648, -2147483648, 3, -3, 1, -9, 6]], np.int64)
_IB = np.array([[2, -2, -2, 2, 3, 0, -1], [-1, 3, 0, -5, -1, 4, 6]], np.int64)


@pytest.mark.parametrize("op", sorted(op for op, row in BINARY.items() if row.rule != "divide" and op != "power")
                         + ["power", "divide"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_binary_int(op, dtype):
    av, bv = _IA.astype(dtype), _IB.astype(dtype)
    if op == "power":
        av, bv = av % 7 - 3, np.abs(bv) % 4
    if op in ("add", "subtract", "multiply"):   # (values that do not overflow)
        av = av % 100
    a, feeds = ph(av, "a")
    b, more = ph(bv, "b")
    feeds.update(more)
    with np.errstate(all="ignore"):
        expected = _BINARY_REF[op](av, bv)
    y = getattr(gc.math_ops, op)(a, b)
    check(y, feeds, expected.astype(y.dtype) if op == "divide" else expected)


def test_float_floor_divide_and_mod_edges():
    """numpy's divmod: 1 // 0.1 is 9, x // 0 is ±inf or NaN, -1 // inf is -1, x % 0 is NaN."""
    av = np.array([1.0, -1.0, 0.0, 1.0, -1.0, np.inf, 5.0, -5.0, np.nan, 3.0], np.float64)
    bv = np.array([0.1, 0.0, 0.0, np.inf, np.inf, 2.0, -0.0, 3.0, 1.0, np.nan], np.float64)
    for dtype in (np.float32, np.float64):
        a, feeds = ph(av.astype(dtype), "a")
        b, more = ph(bv.astype(dtype), "b")
        feeds.update(more)
        with np.errstate(all="ignore"):
            ref = [np.floor_divide(av.astype(dtype), bv.astype(dtype)), np.mod(av.astype(dtype), bv.astype(dtype))]
        _, (q, r) = check([a // b, a % b], feeds, ref)
        assert np.array_equal(np.signbit(q[~np.isnan(q)]), np.signbit(ref[0][~np.isnan(ref[0])]))
        assert np.array_equal(np.signbit(r[~np.isnan(r)]), np.signbit(ref[1][~np.isnan(ref[1])]))
        gc.reset_default_graph()


def test_max_min_propagate_nan_and_compare_nan():
    av = np.array([np.nan, 1.0, 2.0, np.nan], np.float32)
    bv = np.array([0.0, np.nan, 1.0, np.nan], np.float32)
    a, feeds = ph(av, "a")
    b, more = ph(bv, "b")
    feeds.update(more)
    check([gc.maximum(a, b), gc.minimum(a, b), gc.equal(a, b), gc.not_equal(a, b), a < b, a >= b], feeds,
          [np.maximum(av, bv), np.minimum(av, bv), av == bv, av != bv, av < bv, av >= bv])


def test_bool_and_mixed_dtype_ops():
    pv, qv = np.array([True, False, True, False]), np.array([True, True, False, False])
    p, feeds = ph(pv, "p")
    q, more = ph(qv, "q")
    feeds.update(more)
    iv, feeds_i = ph(np.array([0, 2, -1, 0], np.int32), "i")
    feeds.update(feeds_i)
    fv = np.array([0.5, -1.0, 0.0, 2.0], np.float64)
    f, more = ph(fv, "f")
    feeds.update(more)
    ref_i = np.array([0, 2, -1, 0], np.int32)
    check([p & q, p | q, ~p, gc.equal(p, q), p < q, p >= q, gc.maximum(p, q), gc.minimum(p, q),
           gc.logical_and(iv, p), gc.logical_or(iv, f), f + iv, iv * 2.5, gc.where(p, iv, f), gc.where(q, 1, iv),
           gc.sum(p), gc.max(p), gc.min(p), gc.argmax(p)],
          feeds,
          [pv & qv, pv | qv, ~pv, pv == qv, pv < qv, pv >= qv, pv | qv, pv & qv,
           (ref_i != 0) & pv, (ref_i != 0) | (fv != 0), fv + ref_i, ref_i * np.float32(2.5),
           np.where(pv, ref_i, fv), np.where(qv, 1, ref_i), 2, True, False, 0])


@pytest.mark.parametrize("src", [np.bool_, np.int32, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("dst", [np.bool_, np.int32, np.int64, np.float32, np.float64])
def test_cast(src, dst):
    values = np.array([-2.75, -1.5, -0.5, 0.0, 0.5, 1.0, 2.5, 3.75, 100.0], np.float64)
    xv = values.astype(src) if src != np.bool_ else values > 0.7
    x, feeds = ph(xv)
    check(gc.cast(x, dst), feeds, xv.astype(dst))


def test_cast_float_to_int_out_of_range_gives_int_min():
    xv = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.0 ** 31, -2.0 ** 31, 1e19, -7.9], np.float32)
    x, feeds = ph(xv)
    big32, big64 = np.iinfo(np.int32).min, np.iinfo(np.int64).min
    check([gc.cast(x, gc.int32), gc.cast(x, gc.int64)], feeds,
          [np.array([big32] * 6 + [big32, big32, -7], np.int32),
           np.array([big64, big64, big64, 3000000000, -3000000000, 2 ** 31, -2 ** 31, big64, -7], np.int64)])


def test_full_like_zeros_ones_on_unknown_batch():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    ys = [gc.zeros_like(x), gc.ones_like(x, dtype=gc.int32), gc.full_like(x, True, dtype=gc.bool_),
          gc.full_like(x, 2.5)]
    model = gc.onnx.export(ys)
    for n in (1, 4):
        xv = RNG.standard_normal((n, 3)).astype(np.float32)
        got = ort_run(model, {"x": xv})
        for g, want in zip(got, [np.zeros((n, 3), np.float32), np.ones((n, 3), np.int32), np.ones((n, 3), bool),
                                 np.full((n, 3), 2.5, np.float32)]):
            assert_same(g, want, want.dtype)


# -- reductions ---------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [13, DEFAULT_OPSET, 18])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), ()])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(opset, axis, keepdims):
    xv = (RNG.standard_normal((2, 3, 4)) + 0.5).astype(np.float32)
    x, feeds = ph(xv)
    x64 = xv.astype(np.float64)
    fns = ["sum", "mean", "max", "min", "prod"]
    ys = [getattr(gc, f)(x, axis, keepdims) for f in fns]
    refs = [getattr(np, f)(x64, axis=axis, keepdims=keepdims) for f in fns]
    if isinstance(axis, (int, type(None))):
        ys += [gc.argmax(x, axis, keepdims), gc.argmin(x, axis, keepdims)]
        refs += [np.argmax(xv, axis=axis, keepdims=keepdims), np.argmin(xv, axis=axis, keepdims=keepdims)]
    check(ys, feeds, refs, opset=opset)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_reductions_int_and_bool(dtype):
    xv = np.array([[3, -1, 4], [1, 5, -9]]).astype(dtype)
    x, feeds = ph(xv)
    ys = [gc.sum(x, 0), gc.sum(x), gc.mean(x, 1), gc.max(x, 1, keepdims=True), gc.min(x), gc.argmin(x, 1),
          gc.argmax(x)]
    refs = [np.sum(xv, 0), np.sum(xv), np.mean(xv, 1), np.max(xv, 1, keepdims=True), np.min(xv), np.argmin(xv, 1),
            np.argmax(xv)]
    if dtype != np.bool_:
        ys.append(gc.prod(x, 1))
        refs.append(np.prod(xv.astype(np.int64), 1))
    model, _ = check(ys, feeds, refs)
    assert [o.type.tensor_type.elem_type for o in model.graph.output][:2] == [onnx.TensorProto.INT64] * 2


def test_argmax_ties_take_the_first_index():
    xv = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)
    x, feeds = ph(xv)
    check([gc.argmax(x, 1), gc.argmin(x, 0), gc.argmax(x)], feeds, [[1, 0], [0, 1, 1], 1])


@pytest.mark.parametrize("opset", [13, 18])
def test_reductions_propagate_nan_as_numpy(opset):
    xv = np.array([[1.0, np.nan, 3.0, np.nan], [np.nan, 5.0, -1.0, 0.0], [2.0, 4.0, -3.0, 1.0]], np.float32)
    x, feeds = ph(xv)
    ys = [gc.max(x, 1), gc.min(x, 0, keepdims=True), gc.max(x), gc.argmax(x, 1), gc.argmin(x, 0, keepdims=True),
          gc.argmax(x), gc.argmin(x, keepdims=True), gc.sum(x, 1), gc.mean(x, 0)]
    with np.errstate(all="ignore"):
        refs = [np.max(xv, 1), np.min(xv, 0, keepdims=True), np.max(xv), np.argmax(xv, 1),
                np.argmin(xv, 0, keepdims=True), np.argmax(xv), np.argmin(xv, keepdims=True), xv.sum(1), xv.mean(0)]
    check(ys, feeds, refs, opset=opset)


def test_mean_over_an_unknown_dim_and_logsumexp():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    model = gc.onnx.export([gc.mean(x, 0), gc.mean(x), gc.logsumexp(x, 1)])
    for n in (2, 5):
        xv = RNG.standard_normal((n, 3)).astype(np.float32)
        x64 = xv.astype(np.float64)
        got = ort_run(model, {"x": xv})
        for g, want in zip(got, [x64.mean(0), x64.mean(), np.log(np.exp(x64).sum(1))]):
            assert_same(g, want, np.float32)


# -- movement -----------------------------------------------------------------------------
def test_movement_ops():
    xv = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x, feeds = ph(xv)
    idx = np.array([[2, -1], [0, 1]], np.int32)
    ys = [gc.reshape(x, (4, -1)), gc.reshape(x, (24,)), gc.transpose(x, (2, 0, 1)), x.T,
          gc.expand_dims(x, (0, 3)), gc.squeeze(gc.expand_dims(x, 1), 1), gc.broadcast_to(x[:, :1, :], (2, 5, 4)),
          gc.concat([x, x * 2], axis=1), gc.stack([x, x], axis=-1),
          gc.pad(x, ((1, 0), (0, 2), (1, 1)), constant_values=-1.5), gc.gather(x, idx, axis=2),
          gc.take(x, np.array([5, -3])), gc.tile(x[0], (2, 1)), gc.one_hot(gc.constant([0, 2, 5]), 4),
          *gc.split(x, [1, 3], axis=2), *gc.unstack(x, 0)]
    refs = [xv.reshape(4, -1), xv.reshape(24), xv.transpose(2, 0, 1), xv.T, xv[None, :, :, None], xv,
            np.broadcast_to(xv[:, :1, :], (2, 5, 4)), np.concatenate([xv, xv * 2], 1), np.stack([xv, xv], -1),
            np.pad(xv, ((1, 0), (0, 2), (1, 1)), constant_values=-1.5), np.take(xv, idx, 2),
            np.take(xv, [5, -3]), np.tile(xv[0], (2, 1)), np.eye(4, dtype=np.float32)[[0, 2]].tolist() + [[0] * 4],
            xv[:, :, :1], xv[:, :, 1:], xv[0], xv[1]]
    model, _ = check(ys, feeds, refs)
    ops = {n.op_type for n in model.graph.node}
    assert {"Reshape", "Transpose", "Unsqueeze", "Squeeze", "Expand", "Concat", "Pad", "Gather", "Slice"} <= ops


@pytest.mark.parametrize("index", [
    (slice(None, None, 2), slice(None, None, -1)),
    (slice(1, -1), slice(-1, None, -2)),
    (slice(None, None, -1), slice(5, 1, -1)),
    (slice(-10, 10), slice(-10, None, -1)),     # starts and stops clamped as Python clamps them
    (1, slice(None, -1)), (slice(None), 2), (-1,),
    (Ellipsis, None, slice(3, 0, -2)), (slice(2, 2), slice(None)),
])
def test_slicing(index):
    xv = np.arange(30, dtype=np.int64).reshape(5, 6)
    x, feeds = ph(xv)
    check(x[index], feeds, xv[index])


def test_slicing_an_unknown_dim_with_negative_steps():
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    ys = [x[::-1], x[-2::-2, 1:], x[1:][::-1], x[:-1, ::-3]]
    model = gc.onnx.export(ys)
    for n in (1, 3, 6):
        xv = RNG.standard_normal((n, 4)).astype(np.float32)
        for g, want in zip(ort_run(model, {"x": xv}), [xv[::-1], xv[-2::-2, 1:], xv[1:][::-1], xv[:-1, ::-3]]):
            assert_same(g, want, np.float32)


def test_bool_and_int_movement():
    bv = np.array([[True, False, True], [False, False, True]])
    b, feeds = ph(bv, "b")
    iv = np.arange(6, dtype=np.int32).reshape(2, 3)
    i, more = ph(iv, "i")
    feeds.update(more)
    check([gc.pad(b, 1, constant_values=True), gc.transpose(b), b[:, ::-1], gc.concat([b, b], 0),
           gc.pad(i, ((0, 1), (2, 0)), constant_values=-7), gc.gather(i, gc.constant([1, 1, 0]), 1),
           gc.concat([i, gc.cast(b, gc.int32)], 1)], feeds,
          [np.pad(bv, 1, constant_values=True), bv.T, bv[:, ::-1], np.concatenate([bv, bv]),
           np.pad(iv, ((0, 1), (2, 0)), constant_values=-7), iv[:, [1, 1, 0]], np.concatenate([iv, bv], 1)])


def test_rank0_size1_and_size0():
    sv = np.float32(2.5)
    s, feeds = ph(sv, "s")
    ov = np.array([[7.0]], np.float32)
    o, more = ph(ov, "o")
    feeds.update(more)
    ev = np.zeros((0, 3), np.float32)
    e, more = ph(ev, "e")
    feeds.update(more)
    ys = [s * 2 + 1, gc.exp(s), gc.sum(s), gc.reshape(s, (1, 1)), gc.expand_dims(s, 0), gc.argmax(s),
          o + s, gc.squeeze(o), gc.sum(o, 1), gc.broadcast_to(o, (2, 3)), gc.mean(o),
          e + 1, gc.sum(e, 0), gc.sum(e), gc.mean(e, 0), gc.concat([e, e], 0), gc.reshape(e, (3, 0)), e[:, 1:],
          gc.transpose(e), gc.prod(e, 0)]
    refs = [sv * 2 + 1, np.exp(np.float64(sv)), sv, np.full((1, 1), sv), np.array([sv]), 0,
            ov + sv, np.float32(7), [7.0], np.full((2, 3), 7.0), 7.0,
            ev + 1, np.zeros(3), 0.0, np.full(3, np.nan), np.zeros((0, 3)), np.zeros((3, 0)), ev[:, 1:],
            ev.T, np.ones(3)]
    for opset in (13, DEFAULT_OPSET):
        with np.errstate(all="ignore"):
            check(ys, feeds, refs, opset=opset)


# -- graphs, inputs, variables ------------------------------------------------------------
def test_unknown_batch_dim_runs_at_two_batch_sizes():
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    w = RNG.standard_normal((4, 3)).astype(np.float32)
    y = gc.nn.softmax(x @ w, axis=-1)
    z = gc.reshape(y, (-1,))
    model = gc.onnx.export([y, z])
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "x_dim0" and dims[1].dim_value == 4
    with gc.Session() as sess:
        for n in (1, 7):
            xv = RNG.standard_normal((n, 4)).astype(np.float32)
            got = ort_run(model, {"x": xv})
            want = sess.run([y, z], {x: xv})
            h = xv.astype(np.float64) @ w
            ref = np.exp(h) / np.exp(h).sum(-1, keepdims=True)
            for g, w_, r in zip(got, want, [ref, ref.reshape(-1)]):
                assert_same(g, w_, np.float32)
                assert_same(g, r, np.float32)


def test_variable_exported_with_the_sessions_value():
    x, feeds = ph(np.ones((2, 3), np.float32))
    v = gc.Variable(np.zeros(3, np.float32), name="bias")
    y = x * 2 + v
    new = np.array([1.5, -2.0, 4.0], np.float32)
    with gc.Session() as sess:
        sess.run(gc.assign(v, new))
        model, _ = check(y, feeds, np.ones((2, 3)) * 2 + new, session=sess)
        with pytest.raises(ExportError, match="session"):
            gc.onnx.export(y, session=gc.Session(graph=gc.Graph()))
    (init,) = [t for t in model.graph.initializer if t.name == "bias"]
    assert np.array_equal(onnx.numpy_helper.to_array(init), new)


def test_variable_without_session_is_a_clear_error():
    v = gc.Variable(np.zeros(3, np.float32), name="weights")
    with pytest.raises(ExportError, match="session is needed to export variable 'weights'") as e:
        gc.onnx.export(v * 2)
    assert isinstance(e.value, gc.GraphcError)


def test_unsupported_op_names_the_node_and_line():
    x = gc.placeholder(gc.float32, (2,), name="x")
    y = x + gc.random.uniform((2,), seed=1, name="noise")
    with pytest.raises(UnsupportedOpError, match=r"random 'noise[^']*' \(built at [^)]*test_onnx_export.py:\d+\)"):
        gc.onnx.export(y)
    v = gc.Variable(np.zeros(2, np.float32))
    with pytest.raises(UnsupportedOpError, match="assign"), gc.Session() as sess:
        gc.onnx.export(gc.assign(v, x), session=sess)


def test_inputs_order_outputs_names_and_path(tmp_path):
    a = gc.placeholder(gc.float32, (2,), name="a")
    b = gc.placeholder(gc.int64, (2,), name="b")
    unused = gc.placeholder(gc.float64, (None,), name="unused")
    c = gc.constant(np.float32(3), name="c")
    s = gc.add(a, gc.cast(b, gc.float32), name="s")
    path = tmp_path / "m.onnx"
    model = gc.onnx.export([s, a, s, c], path=str(path), inputs=[b, unused, a])
    assert [i.name for i in model.graph.input] == ["b", "unused", "a"]
    assert [o.name for o in model.graph.output][0] == "s" and len({o.name for o in model.graph.output}) == 4
    assert model.producer_name == "graphc" and model.producer_version == gc.__version__
    assert [o.version for o in model.opset_import if o.domain == ""] == [DEFAULT_OPSET]
    loaded = onnx.load(str(path))
    av, bv = np.array([1, 2], np.float32), np.array([3, -4])
    got = ort_run(loaded, {"a": av, "b": bv, "unused": np.zeros(1)})
    for g, want in zip(got, [av + bv, av, av + bv, np.float32(3)]):
        assert_same(g, want, np.float32)
    with pytest.raises(ExportError, match="missing from inputs: b"):
        gc.onnx.export(s, inputs=[a])
    with pytest.raises(ExportError, match="placeholder"):
        gc.onnx.export(s, inputs=[a, b, s])
    for bad in (12, 99, "17"):
        with pytest.raises(ExportError, match="opset"):
            gc.onnx.export(s, opset=bad)
    with pytest.raises(ExportError):
        gc.onnx.export(["s"])


@pytest.mark.parametrize("opset", [13, 18, onnx.defs.onnx_opset_version()])
def test_opsets(opset):
    xv = RNG.standard_normal((3, 4)).astype(np.float32)
    x, feeds = ph(xv, shape=(None, 4))
    x64 = xv.astype(np.float64)
    ys = [gc.max(x, 1), gc.min(x, 0, keepdims=True), gc.prod(x, 1), gc.mean(x, 0), gc.squeeze(x[:, :1], 1),
          gc.expand_dims(x, 0), gc.relu(gc.cast(x * 3, gc.int32)), gc.reshape(x[:0], (0, 2, 2))]
    refs = [x64.max(1), x64.min(0, keepdims=True), x64.prod(1), x64.mean(0), x64[:, 0], x64[None],
            np.maximum((xv * 3).astype(np.int32), 0), np.zeros((0, 2, 2))]
    model, _ = check(ys, feeds, refs, opset=opset)
    assert model.opset_import[0].version == opset


# -- what gradients and compilation make --------------------------------------------------
def test_gradient_ops_scatter_add_and_sum_to():
    xv = RNG.standard_normal((4, 3)).astype(np.float32)
    x, feeds = ph(xv, shape=(None, 3))
    idx = np.array([0, 2, 2, -1])
    bv = RNG.standard_normal((1, 3)).astype(np.float32)
    b, more = ph(bv, "b", shape=(None, 3))     # its unknown dim may be 1: the sum waits for the feed (sum_to)
    feeds.update(more)
    table = gc.constant(RNG.standard_normal((5, 3)).astype(np.float32), name="table")
    loss = gc.sum(gc.gather(table, idx) * (x + b))
    g_table, g_b = gc.gradients(loss, [table, b])
    ops = {n.op for n in g_table.graph.nodes}
    assert {"scatter_add", "sum_to"} <= ops
    rows = (xv + bv).astype(np.float64)
    want_table = np.zeros((5, 3))
    np.add.at(want_table, idx, rows)
    t = table.node.attrs["value"].astype(np.float64)
    model, _ = check([g_table, g_b], feeds, [want_table, t[idx].sum(0, keepdims=True)])
    got = ort_run(model, {"x": xv, "b": xv})    # the same model with b of 4 rows: nothing summed
    assert_same(got[1], t[idx], np.float32)
    with pytest.raises(UnsupportedOpError, match="scatter_add .* opset 16"):
        gc.onnx.export(g_table, opset=13)


def test_sum_to_a_static_shape():
    gv = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    g, feeds = ph(gv, "g")
    graph = g.graph
    target = gc.constant(np.zeros((4, 1), np.float32))
    summed = graph.tensor(graph.add_node("sum_to", [g.node, target.node]))
    check([summed, graph.tensor(graph.add_node("sum_to", [g.node, g.node]))], feeds,
          [gv.astype(np.float64).sum((0, 2)).reshape(4, 1), gv])


def test_compiled_program_with_fused_kernels():
    xv = RNG.standard_normal((2, 5)).astype(np.float32)
    x, feeds = ph(xv)
    w = RNG.standard_normal((5, 3)).astype(np.float32)
    y = gc.nn.softmax(gc.relu(x @ w + 1.0)) * 2 - gc.nn.layer_norm(x)[:, :3]
    compiled = gc.Session().compile(y, feeds)
    assert "fused" in {n.op for n in compiled.graph.nodes}
    fetch = compiled.graph.tensor(compiled.graph.outputs[0])
    model = gc.onnx.export(fetch)
    onnx.checker.check_model(model, full_check=True)
    (got,) = ort_run(model, {"x": xv})
    assert_same(got, gc.Session().run(y, feeds), np.float32)
    assert [o.name for o in model.graph.output] == [fetch.name]
