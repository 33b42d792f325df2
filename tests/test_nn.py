"""gc.nn composites against independent float64 numpy references, and their primitive make-up."""
import math
import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from conftest import assert_close, run

RNG = np.random.default_rng(0)
HERE = os.path.basename(__file__)


# -- references (float64, loops; written from the definitions, not from graphc) --------------------------
def _two(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_pads(padding, size, kernel, stride, dilation):
    """((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return (0, 0), (0, 0)
        pads = []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            out = math.ceil(n / s)                           # TF "SAME": ceil(in / stride) outputs
            extent = d * (k - 1) + 1
            total = max((out - 1) * s + extent - n, 0)
            pads.append((total // 2, total - total // 2))     # the odd one at the end
        return tuple(pads)
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if all(isinstance(p, int) for p in padding):
        return (padding[0], padding[0]), (padding[1], padding[1])
    return tuple(tuple(p) for p in padding)


def _out_len(n, before, after, k, s, d):
    return (n + before + after - d * (k - 1) - 1) // s + 1


def ref_conv2d(x, w, stride=1, padding="VALID", dilation=1, groups=1):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    (sh, sw), (dh, dw) = _two(stride), _two(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = ref_pads(padding, (h, wd), (kh, kw), (sh, sw), (dh, dw))
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = _out_len(h, pt, pb, kh, sh, dh), _out_len(wd, pl, pr, kw, sw, dw)
    out = np.zeros((n, o, oh, ow))
    per_group = o // groups
    for oc in range(o):
        g = oc // per_group
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * sh: i * sh + dh * (kh - 1) + 1: dh,
                           j * sw: j * sw + dw * (kw - 1) + 1: dw]
                out[:, oc, i, j] = np.einsum("ncij,cij->n", patch, w[oc])
    return out


def _pool_windows(x, kernel, stride, padding, dilation, fill):
    """(padded x, real-element mask, oh, ow, window slicer) for pooling references."""
    kh, kw = _two(kernel)
    sh, sw = _two(kernel if stride is None else stride)
    dh, dw = _two(dilation)
    h, wd = x.shape[2:]
    (pt, pb), (pl, pr) = ref_pads(padding, (h, wd), (kh, kw), (sh, sw), (dh, dw))
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    real = np.pad(np.ones((h, wd), bool), ((pt, pb), (pl, pr)))
    oh, ow = _out_len(h, pt, pb, kh, sh, dh), _out_len(wd, pl, pr, kw, sw, dw)

    def window(a, i, j):
        return a[..., i * sh: i * sh + dh * (kh - 1) + 1: dh, j * sw: j * sw + dw * (kw - 1) + 1: dw]
    return xp, real, oh, ow, window


def ref_max_pool2d(x, kernel, stride=None, padding="VALID", dilation=1):
    x = np.asarray(x)
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp, real, oh, ow, window = _pool_windows(x, kernel, stride, padding, dilation, fill)
    out = np.empty(x.shape[:2] + (oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            assert window(real, i, j).any()       # every window holds a real element
            out[:, :, i, j] = window(xp, i, j).max(axis=(2, 3))
    return out


def ref_avg_pool2d(x, kernel, stride=None, padding="VALID", count_include_pad=True):
    x = np.asarray(x, np.float64)
    xp, real, oh, ow, window = _pool_windows(x, kernel, stride, padding, 1, 0.0)
    kh, kw = _two(kernel)
    out = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            count = kh * kw if count_include_pad else window(real, i, j).sum()
            out[:, :, i, j] = window(xp, i, j).sum(axis=(2, 3)) / count
    return out


def ref_softmax(x, axis):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_log_softmax(x, axis):
    x = np.asarray(x, np.float64)
    top = x.max(axis=axis, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(axis=axis, keepdims=True))


def ref_layer_norm(x, gamma, beta, axis, eps):
    x = np.asarray(x, np.float64)
    mu = x.mean(axis=axis, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axis, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if gamma is not None:
        y = y * np.asarray(gamma, np.float64)
    if beta is not None:
        y = y + np.asarray(beta, np.float64)
    return y


_erf = np.vectorize(math.erf, otypes=[np.float64])


def ref_gelu(x, approximate):
    x = np.asarray(x, np.float64)
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def ref_silu(x):
    x = np.asarray(x, np.float64)
    return x / (1 + np.exp(-x))


# -- helpers -------------------------------------------------------------------------------------------
def quarters(shape, lo=-8, hi=8):
    """float32 multiples of 1/4: products and sums of them are exact in float32, so a result can be
    compared with the float64 reference at the stated tolerance however much the terms cancel."""
    return (RNG.integers(lo, hi + 1, size=shape) / 4).astype(np.float32)


def ops_in_graph(skip=("placeholder",)):
    return {node.op for node in gc.get_default_graph().nodes if node.op not in skip}


def assert_shape_error_here(call, *match):
    """``call`` (a one-line lambda in this file) raises ShapeError naming this file and that line."""
    with pytest.raises(gc.errors.ShapeError) as info:
        call()
    message = str(info.value)
    assert f"{HERE}:{call.__code__.co_firstlineno}" in message, message
    for m in match:
        assert m in message, message
    return message


# -- conv2d -------------------------------------------------------------------------------------------
CONV_CASES = [
    # x shape, w shape, kwargs
    ((2, 3, 7, 7), (4, 3, 3, 3), dict()),
    ((2, 3, 7, 7), (4, 3, 3, 3), dict(stride=2)),
    ((2, 3, 8, 7), (4, 3, 3, 3), dict(stride=2, padding="SAME")),
    ((2, 3, 7, 9), (4, 3, 2, 3), dict(stride=(2, 1))),
    ((1, 2, 6, 5), (3, 2, 3, 2), dict(stride=(2, 1), padding="SAME")),
    ((2, 3, 5, 6), (4, 3, 3, 3), dict(padding="SAME")),
    ((2, 3, 5, 6), (4, 3, 2, 2), dict(padding="SAME")),       # even kernel: the odd pad at the end
    ((2, 3, 5, 6), (4, 3, 4, 1), dict(padding="same")),
    ((1, 2, 6, 6), (2, 2, 3, 3), dict(stride=2, padding="SAME")),   # total pad 1 -> (0, 1)
    ((1, 2, 5, 5), (2, 2, 3, 3), dict(stride=2, padding="SAME")),   # total pad 2 -> (1, 1)
    ((1, 2, 5, 5), (2, 2, 1, 1), dict(stride=3, padding="SAME")),   # no pad needed
    ((2, 3, 5, 6), (4, 3, 3, 3), dict(padding=1)),
    ((2, 3, 5, 6), (4, 3, 3, 3), dict(padding=(2, 0))),
    ((2, 3, 5, 6), (4, 3, 3, 2), dict(padding=((0, 2), (3, 1)))),
    ((2, 3, 5, 6), (4, 3, 3, 3), dict(padding=((1, 0), (0, 1)), stride=2)),
    ((2, 3, 9, 8), (4, 3, 3, 3), dict(dilation=2)),
    ((2, 3, 9, 8), (4, 3, 3, 2), dict(dilation=(2, 3), padding="SAME")),
    ((2, 3, 9, 8), (4, 3, 3, 3), dict(dilation=2, stride=2, padding=1)),
    ((2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2)),
    ((2, 4, 6, 6), (4, 1, 3, 3), dict(groups=4)),                   # depthwise
    ((2, 4, 6, 6), (8, 1, 3, 3), dict(groups=4, padding="SAME")),   # depthwise, multiplier 2
    ((2, 6, 7, 5), (6, 2, 2, 3), dict(groups=3, stride=(1, 2), padding=((1, 1), (0, 2)))),
    ((2, 3, 5, 6), (4, 3, 1, 1), dict()),                           # 1x1
    ((2, 3, 5, 6), (4, 3, 1, 1), dict(stride=2)),
    ((2, 4, 5, 6), (4, 2, 1, 1), dict(groups=2)),
    ((1, 1, 4, 4), (1, 1, 4, 4), dict()),                           # window = the whole input
    ((3, 2, 1, 9), (2, 2, 1, 3), dict(padding="SAME")),             # a single row
]


def _conv_case_id(case):
    xs, ws, kw = case
    return f"x{xs}-w{ws}-" + ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("xs,ws,kwargs", CONV_CASES, ids=[_conv_case_id(c) for c in CONV_CASES])
def test_conv2d_matches_reference(xs, ws, kwargs):
    x_val, w_val = quarters(xs), quarters(ws)
    expected = ref_conv2d(x_val, w_val, **kwargs)
    x = gc.placeholder(gc.float32, xs)
    y = gc.nn.conv2d(x, w_val, **kwargs)
    assert y.shape == expected.shape
    assert y.dtype == gc.float32
    assert_close(run(y, {x: x_val}), expected, np.float32)


@pytest.mark.parametrize("xs,ws,kwargs", CONV_CASES[::4], ids=[_conv_case_id(c) for c in CONV_CASES[::4]])
def test_conv2d_unknown_batch(xs, ws, kwargs):
    x = gc.placeholder(gc.float32, (None,) + xs[1:])
    w = gc.placeholder(gc.float32, ws)
    y = gc.nn.conv2d(x, w, **kwargs)
    w_val = quarters(ws)
    expected_shape = ref_conv2d(np.zeros((1,) + xs[1:]), w_val, **kwargs).shape[1:]
    assert y.shape == (None,) + expected_shape
    for batch in (3, 1):                  # the same graph serves any batch size
        x_val = quarters((batch,) + xs[1:])
        assert_close(run(y, {x: x_val, w: w_val}), ref_conv2d(x_val, w_val, **kwargs), np.float32)


def test_conv2d_float64():
    x_val, w_val = RNG.standard_normal((2, 4, 6, 5)), RNG.standard_normal((6, 2, 3, 2))
    y = gc.nn.conv2d(gc.constant(x_val), gc.constant(w_val), stride=(1, 2), padding="SAME", groups=2)
    assert y.dtype == gc.float64
    assert_close(run(y), ref_conv2d(x_val, w_val, stride=(1, 2), padding="SAME", groups=2), np.float64)


def test_conv2d_float32_random_values():
    x_val = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w_val = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    got = run(gc.nn.conv2d(x_val, w_val, padding="SAME"))
    expected = ref_conv2d(x_val, w_val, padding="SAME")
    # float32 accumulation of 27 terms: compare against the reference's own float32 rounding scale
    bound = 27 * np.finfo(np.float32).eps * ref_conv2d(np.abs(x_val), np.abs(w_val), padding="SAME")
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.all(np.abs(got - expected) <= bound + 1e-6)


def test_conv2d_same_padding_by_hand():
    # a row [1, 2, 3, 4] and the kernel [1, 10]: SAME pads one zero at the end (TF), not the start
    x = gc.constant(np.array([1, 2, 3, 4], np.float32).reshape(1, 1, 1, 4))
    y = gc.nn.conv2d(x, np.array([1, 10], np.float32).reshape(1, 1, 1, 2), padding="SAME")
    assert_close(run(y), np.array([21, 32, 43, 4], np.float32).reshape(1, 1, 1, 4), np.float32)
    # stride 2, kernel 3 over 6: ceil(6/2) = 3 outputs, total pad 1, all of it at the end
    x = gc.constant(np.arange(1, 7, dtype=np.float32).reshape(1, 1, 1, 6))
    y = gc.nn.conv2d(x, np.array([1, 10, 100], np.float32).reshape(1, 1, 1, 3), stride=2, padding="SAME")
    assert_close(run(y), np.array([321, 543, 65], np.float32).reshape(1, 1, 1, 3), np.float32)


@pytest.mark.parametrize("h,w,k,s,d", [(5, 6, 3, 1, 1), (7, 4, 3, 2, 1), (8, 9, 2, 3, 1), (9, 10, 3, 2, 2),
                                       (1, 7, 1, 2, 1), (4, 4, 5, 1, 1)])
def test_conv2d_same_output_is_ceil_of_input_over_stride(h, w, k, s, d):
    x = gc.placeholder(gc.float32, (None, 2, h, w))
    y = gc.nn.conv2d(x, np.zeros((3, 2, k, k), np.float32), stride=s, dilation=d, padding="SAME")
    assert y.shape == (None, 3, -(-h // s), -(-w // s))


def test_conv2d_is_built_from_primitives():
    x = gc.placeholder(gc.float32, (None, 4, 6, 6))
    w = gc.placeholder(gc.float32, (6, 2, 3, 3))
    y = gc.nn.conv2d(x, w, stride=2, padding="SAME", groups=2, dilation=1)
    assert ops_in_graph() == {"conv2d"}
    assert y.node.attrs == {"stride": (2, 2), "pads": ((0, 1), (0, 1)), "dilation": (1, 1), "groups": 2}
    assert y.name.startswith("conv2d/")


def test_conv2d_errors_name_the_callers_line():
    x = gc.placeholder(gc.float32, (None, 3, 5, 5))
    assert_shape_error_here(lambda: gc.nn.conv2d(x, np.zeros((4, 2, 3, 3), np.float32)), "conv2d")
    assert_shape_error_here(lambda: gc.nn.conv2d(x, np.zeros((4, 1, 3, 3), np.float32), groups=2))
    assert_shape_error_here(lambda: gc.nn.conv2d(x, np.zeros((3, 1, 3, 3), np.float32), groups=1))
    x4 = gc.placeholder(gc.float32, (None, 4, 5, 5))
    assert_shape_error_here(lambda: gc.nn.conv2d(x4, np.zeros((3, 2, 3, 3), np.float32), groups=2))   # 3 % 2
    assert_shape_error_here(lambda: gc.nn.conv2d(x4, np.zeros((4, 4, 3, 3), np.float32), groups=0))
    # windows that do not fit
    assert_shape_error_here(lambda: gc.nn.conv2d(x, np.zeros((2, 3, 6, 1), np.float32)), "does not fit")
    assert_shape_error_here(lambda: gc.nn.conv2d(x, np.zeros((2, 3, 3, 3), np.float32), dilation=3))
    # unknown channels or spatial sizes, wrong rank
    xc = gc.placeholder(gc.float32, (2, None, 5, 5))
    assert_shape_error_here(lambda: gc.nn.conv2d(xc, np.zeros((2, 3, 3, 3), np.float32)))
    x3 = gc.placeholder(gc.float32, (3, 5, 5))
    assert_shape_error_here(lambda: gc.nn.conv2d(x3, np.zeros((2, 3, 3, 3), np.float32)))


def test_conv2d_window_fits_only_with_padding():
    x_val, w_val = quarters((1, 1, 2, 2)), quarters((1, 1, 3, 3))
    y = gc.nn.conv2d(x_val, w_val, padding=1)
    assert_close(run(y), ref_conv2d(x_val, w_val, padding=1), np.float32)


@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.one_of(st.sampled_from(["VALID", "SAME"]), st.integers(0, 2),
                             st.tuples(st.integers(0, 2), st.integers(0, 2)),
                             st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                                       st.tuples(st.integers(0, 2), st.integers(0, 2)))))
    (pt, pb), (pl, pr) = ref_pads(padding, (1, 1), (kh, kw), stride, dilation) if padding != "SAME" else ((0, 0), (0, 0))
    min_h = max(1, dilation[0] * (kh - 1) + 1 - pt - pb)
    min_w = max(1, dilation[1] * (kw - 1) + 1 - pl - pr)
    h, w = draw(st.integers(min_h, min_h + 5)), draw(st.integers(min_w, min_w + 5))
    n = draw(st.integers(1, 2))
    return (n, groups * cg, h, w), (groups * og, cg, kh, kw), dict(stride=stride, padding=padding,
                                                                  dilation=dilation, groups=groups)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conv_configs())
def test_conv2d_random_configs(config):
    xs, ws, kwargs = config
    x_val, w_val = quarters(xs), quarters(ws)
    expected = ref_conv2d(x_val, w_val, **kwargs)
    with gc.Graph().as_default():
        x = gc.placeholder(gc.float32, (None,) + xs[1:])
        y = gc.nn.conv2d(x, w_val, **kwargs)
        assert y.shape == (None,) + expected.shape[1:]
        assert_close(run(y, {x: x_val}), expected, np.float32)


# -- pooling -------------------------------------------------------------------------------------------
POOL_CASES = [
    # x shape, kernel, stride, padding
    ((2, 3, 6, 6), 2, None, "VALID"),
    ((2, 3, 7, 7), 2, None, "VALID"),          # the last row/column is dropped
    ((2, 3, 7, 6), 3, 1, "VALID"),
    ((2, 3, 7, 6), 3, 2, "SAME"),
    ((2, 3, 7, 6), (2, 3), (1, 2), "SAME"),
    ((2, 3, 5, 5), 2, 1, "SAME"),              # even kernel: the padding goes at the end
    ((2, 3, 5, 6), 3, 2, 1),
    ((2, 3, 5, 6), 3, 1, (1, 0)),
    ((2, 3, 5, 6), (3, 2), 2, ((1, 0), (0, 1))),
    ((2, 3, 4, 5), 1, 1, "VALID"),             # 1x1
    ((2, 3, 4, 5), 1, 2, "SAME"),
    ((1, 2, 4, 4), 4, None, "VALID"),          # global pooling
]


def _pool_id(case):
    return "-".join(map(str, case))


@pytest.mark.parametrize("xs,kernel,stride,padding", POOL_CASES, ids=[_pool_id(c) for c in POOL_CASES])
def test_max_pool2d_matches_reference(xs, kernel, stride, padding):
    x_val = RNG.standard_normal(xs).astype(np.float32) - 5     # mostly negative: padding must never win
    expected = ref_max_pool2d(x_val, kernel, stride, padding)
    x = gc.placeholder(gc.float32, (None,) + xs[1:])
    y = gc.nn.max_pool2d(x, kernel, stride=stride, padding=padding)
    assert y.shape == (None,) + expected.shape[1:] and y.dtype == gc.float32
    got = run(y, {x: x_val})
    assert_close(got, expected, np.float32)
    assert np.all(got < 0)


@pytest.mark.parametrize("xs,kernel,stride,padding,dilation", [
    ((2, 3, 9, 8), 3, 1, "VALID", 2),
    ((2, 3, 9, 8), (2, 3), 2, "SAME", (2, 1)),
    ((2, 3, 9, 8), 2, 1, 1, 3),
])
def test_max_pool2d_dilation(xs, kernel, stride, padding, dilation):
    x_val = RNG.standard_normal(xs).astype(np.float32) - 5
    y = gc.nn.max_pool2d(gc.constant(x_val), kernel, stride, padding, dilation)
    assert_close(run(y), ref_max_pool2d(x_val, kernel, stride, padding, dilation), np.float32)


def test_max_pool2d_padding_never_wins_by_hand():
    x = gc.constant(np.array([[-5, -6], [-7, -8]], np.float32).reshape(1, 1, 2, 2))
    y = gc.nn.max_pool2d(x, 2, stride=1, padding=1)
    expected = np.array([[-5, -5, -6], [-5, -5, -6], [-7, -7, -8]], np.float32).reshape(1, 1, 3, 3)
    assert_close(run(y), expected, np.float32)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_max_pool2d_other_dtypes(dtype):
    x_val = RNG.integers(-100, -1, size=(2, 2, 5, 5)).astype(dtype)
    x_val[0, 0, 0, 0] = np.iinfo(np.int32).min if dtype == np.int32 else -(2 ** 40)
    y = gc.nn.max_pool2d(gc.constant(x_val), 3, stride=2, padding="SAME")
    assert y.dtype == dtype
    assert_close(run(y), ref_max_pool2d(x_val, 3, 2, "SAME"), dtype)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("xs,kernel,stride,padding", POOL_CASES, ids=[_pool_id(c) for c in POOL_CASES])
def test_avg_pool2d_matches_reference(xs, kernel, stride, padding, count_include_pad):
    x_val = RNG.standard_normal(xs).astype(np.float32)
    expected = ref_avg_pool2d(x_val, kernel, stride, padding, count_include_pad)
    x = gc.placeholder(gc.float32, (None,) + xs[1:])
    y = gc.nn.avg_pool2d(x, kernel, stride=stride, padding=padding, count_include_pad=count_include_pad)
    assert y.shape == (None,) + expected.shape[1:] and y.dtype == gc.float32
    assert_close(run(y, {x: x_val}), expected, np.float32)


def test_avg_pool2d_counts_by_hand():
    x = gc.constant(np.array([[1, 2], [3, 4]], np.float32).reshape(1, 1, 2, 2))
    with_pad = run(gc.nn.avg_pool2d(x, 2, stride=1, padding=1))
    without = run(gc.nn.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False))
    assert_close(with_pad[0, 0], np.array([[1, 3, 2], [4, 10, 6], [3, 7, 4]]) / 4, np.float32)
    assert_close(without[0, 0], np.array([[1, 3 / 2, 2], [4 / 2, 10 / 4, 6 / 2], [3, 7 / 2, 4]]), np.float32)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_avg_pool2d_of_integers_is_float32(dtype):
    x_val = RNG.integers(-9, 10, size=(1, 2, 5, 5)).astype(dtype)
    for include in (True, False):
        y = gc.nn.avg_pool2d(gc.constant(x_val), 2, 2, "SAME", count_include_pad=include)
        assert y.dtype == gc.float32
        assert_close(run(y), ref_avg_pool2d(x_val, 2, 2, "SAME", include), np.float32)


def test_avg_pool2d_float64():
    x_val = RNG.standard_normal((2, 3, 7, 6))
    y = gc.nn.avg_pool2d(gc.constant(x_val), 3, 2, "SAME", count_include_pad=False)
    assert y.dtype == gc.float64
    assert_close(run(y), ref_avg_pool2d(x_val, 3, 2, "SAME", False), np.float64)


def test_pooling_is_built_from_primitives():
    x = gc.placeholder(gc.float32, (None, 3, 7, 6))
    y = gc.nn.max_pool2d(x, 3, 2, "SAME")
    assert ops_in_graph() == {"max_pool2d"}
    assert dict(y.node.attrs) == {"kernel": (3, 3), "stride": (2, 2), "pads": ((1, 1), (0, 1)), "dilation": (1, 1)}
    gc.reset_default_graph()
    x = gc.placeholder(gc.float32, (None, 3, 7, 6))
    y = gc.nn.avg_pool2d(x, 3, 2, "SAME", count_include_pad=False)
    assert ops_in_graph() == {"avg_pool2d"}
    assert y.node.attrs["count_include_pad"] is False
    gc.reset_default_graph()
    x = gc.placeholder(gc.int32, (None, 3, 7, 6))
    assert gc.nn.avg_pool2d(x, 2).dtype == gc.float32   # (float_result: int32 -> float32)
    assert ops_in_graph() == {"cast", "avg_pool2d"}


def test_pooling_errors_name_the_callers_line():
    x = gc.placeholder(gc.float32, (None, 3, 3, 4))
    assert_shape_error_here(lambda: gc.nn.max_pool2d(x, 4), "does not fit")
    assert_shape_error_here(lambda: gc.nn.max_pool2d(x, 2, dilation=3))
    assert_shape_error_here(lambda: gc.nn.avg_pool2d(x, (1, 5)), "does not fit")
    x3 = gc.placeholder(gc.float32, (3, 3, 4))
    assert_shape_error_here(lambda: gc.nn.avg_pool2d(x3, 2))
    xs = gc.placeholder(gc.float32, (1, 3, None, 4))
    assert_shape_error_here(lambda: gc.nn.max_pool2d(xs, 2))


# -- activations and normalization ------------------------------------------------------------------------
ACTIVATION_X = np.concatenate([np.linspace(-6, 6, 49), RNG.standard_normal(31) * 3]).astype(np.float32)


@pytest.mark.parametrize("approximate", ["tanh", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu(approximate, dtype):
    x_val = ACTIVATION_X.astype(dtype).reshape(8, 10)
    y = gc.nn.gelu(gc.constant(x_val), approximate=approximate)
    assert y.dtype == dtype and y.shape == (8, 10)
    assert_close(run(y), ref_gelu(x_val, approximate), dtype)


def test_gelu_default_is_tanh():
    x_val = ACTIVATION_X
    tanh_form, erf_form = ref_gelu(x_val, "tanh"), ref_gelu(x_val, "none")
    assert np.abs(tanh_form - erf_form).max() > 1e-4        # the two forms are distinguishable
    assert_close(run(gc.nn.gelu(gc.constant(x_val))), tanh_form, np.float32)


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_rank0(approximate):
    y = gc.nn.gelu(gc.constant(np.float32(0.75)), approximate=approximate)
    assert y.shape == ()
    assert_close(run(y), ref_gelu(np.float32(0.75), approximate), np.float32)


def test_gelu_bad_approximate():
    with pytest.raises(ValueError, match="approximate"):
        gc.nn.gelu(gc.constant(ACTIVATION_X), approximate="sigmoid")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_silu(dtype):
    x_val = np.concatenate([ACTIVATION_X, [-80, -30, 30, 80]]).astype(dtype)
    y = gc.nn.silu(gc.constant(x_val))
    assert y.dtype == dtype
    assert_close(run(y), ref_silu(x_val), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_relu_keeps_dtype(dtype):
    x_val = (ACTIVATION_X * 4).astype(dtype)
    y = gc.nn.relu(gc.constant(x_val))
    assert y.dtype == dtype
    assert_close(run(y), np.maximum(x_val, 0), dtype)


def test_sigmoid_and_tanh():
    x_val = np.concatenate([ACTIVATION_X, [-100, -20, 20, 100]]).astype(np.float32)
    s, t = run([gc.nn.sigmoid(gc.constant(x_val)), gc.nn.tanh(gc.constant(x_val))])
    assert_close(s, 1 / (1 + np.exp(-x_val.astype(np.float64))), np.float32)
    assert_close(t, np.tanh(x_val.astype(np.float64)), np.float32)


@pytest.mark.parametrize("fn,ref", [
    (gc.nn.softmax, lambda v: ref_softmax(v, -1)),
    (gc.nn.log_softmax, lambda v: ref_log_softmax(v, -1)),
    (gc.nn.layer_norm, lambda v: ref_layer_norm(v, None, None, -1, 1e-5)),
    (gc.nn.gelu, lambda v: ref_gelu(v, "tanh")),
    (lambda t: gc.nn.gelu(t, approximate="none"), lambda v: ref_gelu(v, "none")),
    (gc.nn.silu, ref_silu),
    (gc.nn.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
    (gc.nn.tanh, np.tanh),
], ids=["softmax", "log_softmax", "layer_norm", "gelu", "gelu_erf", "silu", "sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_inputs_give_float32(fn, ref, dtype):
    x_val = RNG.integers(-5, 6, size=(3, 7)).astype(dtype)
    x = gc.placeholder(dtype, (None, 7))
    y = fn(x)
    assert y.dtype == gc.float32 and y.shape == (None, 7)
    assert_close(run(y, {x: x_val}), ref(x_val.astype(np.float64)), np.float32)


@pytest.mark.parametrize("axis", [-1, 0, 1, 2, -2])
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax_axes(which, axis):
    x_val = (RNG.standard_normal((3, 4, 5)) * 3).astype(np.float32)
    fn, ref = (gc.nn.softmax, ref_softmax) if which == "softmax" else (gc.nn.log_softmax, ref_log_softmax)
    y = fn(gc.constant(x_val), axis=axis)
    assert y.shape == (3, 4, 5) and y.dtype == gc.float32
    got = run(y)
    assert_close(got, ref(x_val, axis), np.float32)
    if which == "softmax":
        assert_close(got.sum(axis=axis), np.ones(np.delete((3, 4, 5), axis % 3)), np.float32)


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax_large_values_do_not_overflow(which):
    x_val = np.array([[1e4, 1e4 - 1, -1e4, 0], [-1e4, -1e4 + 2, -1e4 + 1, -1e4], [3e38, 3e38, -3e38, 0]],
                     np.float32)
    fn, ref = (gc.nn.softmax, ref_softmax) if which == "softmax" else (gc.nn.log_softmax, ref_log_softmax)
    got = run(fn(gc.constant(x_val)))
    assert np.all(np.isfinite(got[:2])) and np.all(~np.isnan(got))
    assert_close(got[:2], ref(x_val[:2], -1), np.float32)
    if which == "softmax":
        assert_close(got[2], [0.5, 0.5, 0, 0], np.float32)


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_with_minus_inf_entries(which, dtype):
    x_val = np.array([[0.5, -np.inf, 2.0, -np.inf], [-np.inf, -np.inf, -np.inf, 7.0],
                      [1.0, 2.0, 3.0, 4.0]], dtype)
    fn, ref = (gc.nn.softmax, ref_softmax) if which == "softmax" else (gc.nn.log_softmax, ref_log_softmax)
    got = run(fn(gc.constant(x_val)))
    expected = ref(x_val, -1)
    assert not np.isnan(got).any()
    if which == "softmax":
        assert np.all(got[0, [1, 3]] == 0) and got[1, 3] == 1
    else:
        assert np.all(got[0, [1, 3]] == -np.inf) and got[1, 3] == 0
    assert_close(got, expected, dtype)


@pytest.mark.parametrize("axis,param_shape", [(-1, (6,)), (2, (6,)), ((1, 2), (5, 6)), ((-2, -1), (5, 6)),
                                              (0, (4, 1, 1)), (1, (5, 1))])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layer_norm(axis, param_shape, eps):
    # inputs of its own (the module's RNG is drawn a varying number of times by hypothesis tests)
    rng = np.random.default_rng(zlib.crc32(repr((axis, param_shape, eps)).encode()))
    x_val = (rng.standard_normal((4, 5, 6)) * 2 + 3).astype(np.float32)
    gamma = (rng.standard_normal(param_shape) + 1).astype(np.float32)
    beta = rng.standard_normal(param_shape).astype(np.float32)
    x = gc.placeholder(gc.float32, (None, 5, 6) if axis != 0 else (4, 5, 6))
    y = gc.nn.layer_norm(x, gamma, beta, axis=axis, eps=eps)
    assert y.dtype == gc.float32
    got = run(y, {x: x_val})
    expected = ref_layer_norm(x_val, gamma, beta, axis, eps)
    assert got.dtype == np.float32 and got.shape == expected.shape
    # float32's error in gamma * x_hat + beta is relative to the terms, not to their sum: an output near 0
    # from cancelling terms of size ~5 is off by ulps of 5 (the CI run that found this: 1.75e-6 at -0.0168)
    terms = np.abs(ref_layer_norm(x_val, gamma, None, axis, eps)) + np.abs(beta)
    bound = 2e-5 * np.abs(expected) + 8 * np.finfo(np.float32).eps * terms + 1e-6
    assert np.all(np.abs(got - expected) <= bound), np.max(np.abs(got - expected) / bound)


def test_layer_norm_defaults_and_tensor_params():
    x_val = (RNG.standard_normal((3, 8)) * 5).astype(np.float32)
    x_val[1] = 2.5                                    # a constant row: zero variance, eps keeps it finite
    got = run(gc.nn.layer_norm(gc.constant(x_val)))
    assert_close(got, ref_layer_norm(x_val, None, None, -1, 1e-5), np.float32)
    assert np.all(got[1] == 0)
    gc.reset_default_graph()
    g, b = gc.placeholder(gc.float32, (8,)), gc.placeholder(gc.float32, (8,))
    g_val, b_val = RNG.standard_normal(8).astype(np.float32), RNG.standard_normal(8).astype(np.float32)
    y = gc.nn.layer_norm(gc.constant(x_val), g, b)
    assert_close(run(y, {g: g_val, b: b_val}), ref_layer_norm(x_val, g_val, b_val, -1, 1e-5), np.float32)
    y = gc.nn.layer_norm(gc.constant(x_val), gamma=g)        # gamma only
    assert_close(run(y, {g: g_val}), ref_layer_norm(x_val, g_val, None, -1, 1e-5), np.float32)
    y = gc.nn.layer_norm(gc.constant(x_val), beta=b)         # beta only
    assert_close(run(y, {b: b_val}), ref_layer_norm(x_val, None, b_val, -1, 1e-5), np.float32)


def test_layer_norm_float64():
    x_val = RNG.standard_normal((3, 4, 5))
    y = gc.nn.layer_norm(gc.constant(x_val), axis=(1, 2), eps=1e-6)
    assert y.dtype == gc.float64
    assert_close(run(y), ref_layer_norm(x_val, None, None, (1, 2), 1e-6), np.float64)


ELEMENTWISE_ALLOWED = {
    "softmax": (lambda x: gc.nn.softmax(x, axis=1), {"max", "stop_gradient", "subtract", "exp", "sum", "divide"}),
    "log_softmax": (lambda x: gc.nn.log_softmax(x, axis=0), {"max", "stop_gradient", "subtract", "exp", "sum", "log"}),
    "layer_norm": (lambda x: gc.nn.layer_norm(x, np.ones(5, np.float32), np.zeros(5, np.float32)),
                   {"mean", "subtract", "square", "add", "rsqrt", "multiply", "constant"}),
    "gelu": (lambda x: gc.nn.gelu(x), {"multiply", "add", "sigmoid", "constant"}),
    "gelu_erf": (lambda x: gc.nn.gelu(x, approximate="none"), {"multiply", "add", "erf", "constant"}),
    "silu": (gc.nn.silu, {"sigmoid", "multiply"}),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_ALLOWED))
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_activations_are_built_from_primitives(name, dtype):
    build, allowed = ELEMENTWISE_ALLOWED[name]
    x = gc.placeholder(dtype, (None, 5))
    build(x)
    ops = ops_in_graph()
    assert ops <= allowed | ({"cast"} if dtype != np.float32 else set()), ops
    scope = name.replace("_erf", "") + "/"
    assert all(n.name.startswith(scope) for n in gc.get_default_graph().nodes if n.op != "placeholder")
