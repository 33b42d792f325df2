"""Transposed convolution: gc.nn.conv2d_transpose against torch's conv_transpose2d and a
float64 numpy scatter, its gradients, its errors, gc.layers.Conv2DTranspose (Keras's output
sizes, saving) and compat.v1's tf.nn.conv2d_transpose / tf.layers.conv2d_transpose."""
import numpy as np
import pytest
try:
    import torch
except ImportError:   # (CI has no torch: the numpy comparisons still run)
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

import graphc as gc
import graphc.compat.v1 as tf
from graphc import layers as L
from conftest import F64, central_differences

# float32 graphs against float64 references: sums of up to ~100 products
COMPOSED = dict(rtol=1e-4, atol=1e-5)


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def np_conv_transpose(x, w, stride=1, pads=((0, 0), (0, 0)), output_padding=0, dilation=1, groups=1):
    """float64 reference: every input element scatters its weighted kernel into the full
    output ((H-1)s + d(k-1) + 1 positions), then ``pads`` are cropped (top, bottom, left,
    right) and ``output_padding`` zero rows/columns kept or added at the bottom/right."""
    s, d, op = [(v, v) if np.isscalar(v) else tuple(v) for v in (stride, dilation, output_padding)]
    n, c, h, wd = x.shape
    cin, cout_g, kh, kw = w.shape
    full = ((h - 1) * s[0] + d[0] * (kh - 1) + 1, (wd - 1) * s[1] + d[1] * (kw - 1) + 1)
    out = np.zeros((n, cout_g * groups, full[0] + op[0], full[1] + op[1]))
    cg = c // groups
    for g in range(groups):
        for ci in range(g * cg, (g + 1) * cg):
            for i in range(h):
                for j in range(wd):
                    for a in range(kh):
                        for b in range(kw):
                            out[:, g * cout_g:(g + 1) * cout_g, i * s[0] + a * d[0], j * s[1] + b * d[1]] += \
                                x[:, ci, i, j][:, None] * w[ci, :, a, b][None, :]
    (t, bo), (le, r) = pads
    return out[:, :, t:out.shape[2] - bo, le:out.shape[3] - r]


def run(fetches, feed_dict=None):
    with gc.Session() as sess:
        return sess.run(fetches, feed_dict)


def torch_ct(x, w, **kwargs):
    return torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), **kwargs).numpy()


# (x shape, w shape, kwargs): strides above and below the kernel, output_padding below the
# stride and (with stride 1) below the dilation, groups, batch 1 and 1x1 inputs
CASES = [
    ((2, 3, 4, 5), (3, 2, 3, 3), dict()),
    ((2, 3, 4, 5), (3, 2, 3, 3), dict(stride=2)),
    ((2, 3, 4, 5), (3, 2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 3, 4, 5), (3, 2, 2, 3), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2))),
    ((1, 2, 3, 3), (2, 4, 2, 2), dict(stride=3)),                          # stride > kernel: gaps of zeros
    ((1, 2, 3, 3), (2, 4, 2, 2), dict(stride=5, output_padding=4)),         # and zero rows at the end
    ((2, 2, 3, 4), (2, 3, 3, 2), dict(dilation=2, stride=2, padding=2)),
    ((2, 2, 3, 4), (2, 3, 3, 2), dict(dilation=3, output_padding=2)),       # output_padding < dilation only
    ((2, 2, 3, 4), (2, 3, 3, 2), dict(dilation=3, output_padding=2, padding=2)),
    ((2, 2, 3, 4), (2, 3, 3, 2), dict(dilation=(3, 2), output_padding=(2, 1), padding=(0, 1))),
    ((2, 4, 3, 3), (4, 3, 2, 2), dict(groups=2, stride=2)),
    ((2, 6, 3, 2), (6, 1, 3, 3), dict(groups=3, stride=(1, 2), padding=1, dilation=(2, 1))),
    ((2, 4, 2, 2), (4, 2, 1, 1), dict(groups=4, stride=2, output_padding=1)),  # depthwise 1x1
    ((1, 3, 1, 1), (3, 2, 3, 3), dict()),                                   # batch 1, spatial 1x1
    ((1, 3, 1, 1), (3, 2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((3, 1, 1, 1), (1, 1, 1, 1), dict(stride=4, output_padding=3)),
]


def _id(case):
    xs, ws, kw = case
    return "x" + "x".join(map(str, xs)) + "-w" + "x".join(map(str, ws)) + "".join(
        f"-{k}{v}".replace(" ", "") for k, v in kw.items())


@needs_torch
@pytest.mark.parametrize("xs,ws,kwargs", CASES, ids=[_id(c) for c in CASES])
def test_matches_torch_and_numpy(xs, ws, kwargs):
    x, w = rand(*xs, seed=1), rand(*ws, seed=2)
    expected = torch_ct(x, w, **kwargs)
    p = kwargs.get("padding", 0)
    ph, pw = (p, p) if np.isscalar(p) else p
    np.testing.assert_allclose(np_conv_transpose(x, w, kwargs.get("stride", 1), ((ph, ph), (pw, pw)),
                                                 kwargs.get("output_padding", 0), kwargs.get("dilation", 1),
                                                 kwargs.get("groups", 1)), expected, **F64)
    y64 = gc.nn.conv2d_transpose(gc.constant(x), gc.constant(w), **kwargs)
    assert y64.shape == expected.shape and y64.dtype == np.float64
    xp = gc.placeholder(gc.float32, (None,) + xs[1:])   # unknown batch, float32
    y32 = gc.nn.conv2d_transpose(xp, w.astype(np.float32), **kwargs)
    assert y32.shape == (None,) + expected.shape[1:]
    got64, got32 = run([y64, y32], {xp: x.astype(np.float32)})
    np.testing.assert_allclose(got64, expected, **F64)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, expected, **COMPOSED)


def test_is_the_gradient_primitive_with_the_forward_geometry():
    """With output_padding below the stride it is exactly conv2d_backward_input, the op the
    gradient of conv2d with the same attrs makes."""
    x = gc.placeholder(gc.float32, (None, 4, 5, 5))
    w = gc.placeholder(gc.float32, (4, 3, 3, 3))
    y = gc.nn.conv2d_transpose(x, w, stride=2, padding=1, output_padding=1, groups=1)
    assert y.op == "conv2d_backward_input" and y.name.startswith("conv2d_transpose/")
    assert y.node.attrs == {"stride": (2, 2), "pads": ((1, 1), (1, 1)), "dilation": (1, 1), "groups": 1,
                            "size": (10, 10)}
    ops = {n.op for n in gc.get_default_graph().nodes}
    assert ops == {"placeholder", "conv2d_backward_input"}
    # the adjoint identity: <conv2d(a, w), b> == <a, conv2d_transpose(b, w)>
    a, b, wv = rand(2, 3, 10, 10, seed=3), rand(2, 4, 5, 5, seed=4), rand(4, 3, 3, 3, seed=5)
    forward = gc.nn.conv2d(gc.constant(a), gc.constant(wv), stride=2, padding=1)
    back = gc.nn.conv2d_transpose(gc.constant(b), gc.constant(wv), stride=2, padding=1, output_padding=1)
    f, t = run([forward, back])
    np.testing.assert_allclose(np.sum(f * b), np.sum(a * t), rtol=1e-12)


@needs_torch
def test_same_and_valid_padding():
    x, w = rand(2, 3, 5, 4, seed=1), rand(3, 2, 3, 2, seed=2)
    for stride in (1, 2, 3):
        y = gc.nn.conv2d_transpose(gc.constant(x), gc.constant(w), stride=stride, padding="SAME")
        assert y.shape == (2, 2, 5 * stride, 4 * stride)
        # TF's SAME: the pads of a SAME convolution of an H*stride input
        pads = [(t // 2, t - t // 2) for t in (max((n - 1) * stride + k - n * stride, 0)
                                               for n, k in ((5, 3), (4, 2)))]
        extra = [n * stride - ((n - 1) * stride + k - sum(p)) for n, k, p in ((5, 3, pads[0]), (4, 2, pads[1]))]
        np.testing.assert_allclose(run(y), np_conv_transpose(x, w, stride, pads, extra), **F64)
        valid = gc.nn.conv2d_transpose(gc.constant(x), gc.constant(w), stride=stride, padding="VALID")
        np.testing.assert_allclose(run(valid), torch_ct(x, w, stride=stride), **F64)


def test_asymmetric_padding():
    x, w = rand(1, 2, 3, 3, seed=1), rand(2, 2, 3, 3, seed=2)
    pads = ((0, 2), (1, 0))
    y = gc.nn.conv2d_transpose(gc.constant(x), gc.constant(w), stride=2, padding=pads, output_padding=1)
    np.testing.assert_allclose(run(y), np_conv_transpose(x, w, 2, pads, 1), **F64)


@pytest.mark.parametrize("kwargs", [dict(stride=2, padding=1, output_padding=1),
                                    dict(dilation=3, output_padding=2),               # (a zero row appended)
                                    dict(groups=2, stride=3, dilation=2, padding=(1, 2)),
                                    dict(stride=4)])
@needs_torch
def test_gradients_match_torch_autograd(kwargs):
    g = kwargs.get("groups", 1)
    xv, wv = rand(2, 4, 3, 4, seed=1), rand(4, 6 // g, 2, 3, seed=2)
    xt, wt = torch.tensor(xv, requires_grad=True), torch.tensor(wv, requires_grad=True)
    yt = torch.nn.functional.conv_transpose2d(xt, wt, **kwargs)
    r = rand(*yt.shape, seed=3)
    (yt * torch.tensor(r)).sum().backward()
    x, w = gc.placeholder(gc.float64, xv.shape), gc.placeholder(gc.float64, wv.shape)
    y = gc.nn.conv2d_transpose(x, w, **kwargs)
    dx, dw = gc.gradients(gc.sum(y * r), [x, w])
    gx, gw = run([dx, dw], {x: xv, w: wv})
    np.testing.assert_allclose(gx, xt.grad.numpy(), **F64)
    np.testing.assert_allclose(gw, wt.grad.numpy(), **F64)


def test_gradient_matches_finite_differences():
    xv, wv = rand(1, 2, 2, 2, seed=1), rand(2, 2, 2, 2, seed=2)
    x = gc.placeholder(gc.float64, xv.shape)
    y = gc.nn.conv2d_transpose(x, gc.constant(wv), stride=3, padding=1, output_padding=2)
    loss = gc.sum(gc.square(y))
    (dx,) = gc.gradients(loss, [x])
    with gc.Session() as sess:
        analytic = sess.run(dx, {x: xv})
        numeric = central_differences(sess, loss, x, xv)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_errors_name_the_tensor():
    x = gc.placeholder(gc.float32, (None, 3, 4, 4), name="images")
    w = gc.constant(np.zeros((3, 2, 3, 3), np.float32), name="kernel")
    with pytest.raises(gc.errors.ShapeError, match=r"'images'.*output_padding \(2, 2\) .*stride \(2, 2\)"):
        gc.nn.conv2d_transpose(x, w, stride=2, output_padding=2)
    with pytest.raises(gc.errors.ShapeError, match="output_padding"):
        gc.nn.conv2d_transpose(x, w, stride=1, dilation=1, output_padding=1)   # below neither
    with pytest.raises(gc.errors.ShapeError, match=r"'images'.*has 3 channels; weight 'wide'.* takes 4"):
        gc.nn.conv2d_transpose(x, gc.constant(np.zeros((4, 2, 3, 3), np.float32), name="wide"))
    with pytest.raises(gc.errors.ShapeError, match="groups=2"):
        gc.nn.conv2d_transpose(x, w, groups=2)
    with pytest.raises(gc.errors.ShapeError, match="crops away the whole output"):
        gc.nn.conv2d_transpose(gc.placeholder(gc.float32, (1, 3, 1, 1), name="px"), w, padding=2)
    with pytest.raises(gc.errors.ShapeError, match="NCHW"):
        gc.nn.conv2d_transpose(gc.placeholder(gc.float32, (3, 4, 4)), w)
    with pytest.raises(gc.errors.ShapeError, match="weights must be static"):
        gc.nn.conv2d_transpose(x, gc.placeholder(gc.float32, (3, None, 3, 3)))
    with pytest.raises(gc.errors.ShapeError, match="non-negative"):
        gc.nn.conv2d_transpose(x, w, padding=-1)


# -- gc.layers.Conv2DTranspose -----------------------------------------------------------------
def keras_length(n, k, s, padding, output_padding, d=1):
    """keras.src.utils.conv_utils.deconv_output_length."""
    k = k + (k - 1) * (d - 1)
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + output_padding


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel,strides,output_padding", [(3, 1, None), (3, 2, None), (2, 3, None), (4, 2, None),
                                                           (3, 2, 1), (3, 2, 0), (1, 2, 1)])
def test_layer_output_sizes_and_values(padding, kernel, strides, output_padding):
    data = rand(2, 3, 5, 4, seed=7, dtype=np.float32)
    layer = L.Conv2DTranspose(4, kernel, strides=strides, padding=padding, output_padding=output_padding)
    x = gc.placeholder(gc.float32, (None, 3, 5, 4))
    y = layer(x)
    want = (keras_length(5, kernel, strides, padding, output_padding),
            keras_length(4, kernel, strides, padding, output_padding))
    assert y.shape == (None, 4) + want
    with gc.Session() as sess:
        out, (k, b) = sess.run([y, layer.weights], {x: data})
    assert k.shape == (3, 4, kernel, kernel) and b.shape == (4,)
    # TF's rule for the output size: VALID no pads; SAME the pads of a SAME conv of that size
    pads, extra = [], []
    for n, o in zip((5, 4), want):
        total = 0 if padding == "valid" else max((-(-o // strides) - 1) * strides + kernel - o, 0)
        pads.append((total // 2, total - total // 2))
        extra.append(o - ((n - 1) * strides + kernel - total))
    expected = np_conv_transpose(data.astype(np.float64), k.astype(np.float64), strides, pads, extra)
    np.testing.assert_allclose(out, expected + b[:, None, None], **COMPOSED)


def test_layer_weights_initializer_and_activation():
    layer = L.Conv2DTranspose(6, (3, 2), strides=2, activation="relu", name="up")
    x = gc.placeholder(gc.float32, (None, 4, 3, 3))
    y = layer(x)
    assert [w.name for w in layer.weights] == ["up/kernel", "up/bias"]
    kernel = run(layer.kernel)
    limit = np.sqrt(6 / (4 * 6 + 6 * 6))          # glorot_uniform: fans in*kh*kw + out*kh*kw
    assert kernel.shape == (4, 6, 3, 2) and np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    assert (run(y, {x: rand(2, 4, 3, 3, dtype=np.float32)}) >= 0).all()
    with pytest.raises(ValueError, match="output_padding"):
        L.Conv2DTranspose(2, 3, strides=2, output_padding=2)


def test_sequential_autoencoder_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 1, 6, 6)).astype(np.float32)
    model = L.Sequential([L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
                          L.Conv2DTranspose(1, 3, strides=2, padding="same")], seed=0)
    model.compile(gc.train.Adam(0.01), "mse")
    model.build((1, 6, 6))
    assert model.outputs.shape == (None, 1, 6, 6)
    history = model.fit(x, x, epochs=5, batch_size=4, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = model.save(tmp_path / "ae.gcmodel")
    loaded = L.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == ["Conv2D", "Conv2DTranspose"]
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# -- compat.v1 --------------------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("stride,k", [(1, 3), (2, 3), (2, 2), (3, 2)])
def test_tf_nn_conv2d_transpose_is_the_gradient_of_conv2d(padding, stride, k):
    """tf.nn.conv2d_transpose(dy, w, x.shape) is the gradient of tf.nn.conv2d(x, w) with
    respect to x, in NHWC with HWIO filters (TF's own definition of it)."""
    xv = rand(2, 7, 6, 3, seed=1)
    wv = rand(k, k, 3, 4, seed=2)
    x = tf.placeholder(tf.float64, xv.shape)
    y = tf.nn.conv2d(x, tf.constant(wv), strides=[1, stride, stride, 1], padding=padding)
    dy = rand(*y.shape, seed=3)
    (grad,) = tf.gradients(y, [x], grad_ys=[tf.constant(dy)])
    t = tf.nn.conv2d_transpose(tf.constant(dy), tf.constant(wv), output_shape=list(xv.shape),
                               strides=[1, stride, stride, 1], padding=padding)
    assert t.shape == xv.shape
    with tf.Session() as sess:
        g, tv = sess.run([grad, t], {x: xv})
    np.testing.assert_allclose(tv, g, **F64)


@needs_torch
def test_tf_nn_conv2d_transpose_against_torch_nchw_and_computed_batch():
    xv, wv = rand(2, 3, 4, 4, seed=1, dtype=np.float32), rand(3, 3, 5, 4, seed=2, dtype=np.float32)   # hwOI
    x = tf.placeholder(tf.float32, (None, 3, 4, 4))      # NHWC: H 3, W 4, C 4
    shape = tf.stack([tf.shape(x)[0], 6, 8, 5])
    y = tf.nn.conv2d_transpose(x, wv, shape, strides=[1, 2, 2, 1], padding="SAME")
    assert y.shape == (None, 6, 8, 5)
    got = run(y, {x: xv})
    # torch: NCHW input, (in, out, kh, kw) weight; SAME here pads (0, 1) per axis: crop the last row and column
    ref = torch_ct(xv.transpose(0, 3, 1, 2).astype(np.float64), wv.transpose(3, 2, 0, 1).astype(np.float64),
                   stride=2)[:, :, :6, :8]
    np.testing.assert_allclose(got, ref.transpose(0, 2, 3, 1), **COMPOSED)
    nchw = tf.nn.conv2d_transpose(xv.transpose(0, 3, 1, 2), wv, [2, 5, 6, 8], strides=[1, 1, 2, 2],
                                  padding="SAME", data_format="NCHW")
    np.testing.assert_allclose(run(nchw), ref, **COMPOSED)


@needs_torch
def test_tf_nn_conv2d_transpose_errors():
    x = tf.placeholder(tf.float32, (2, 4, 4, 3))
    w = np.zeros((3, 3, 5, 3), np.float32)
    with pytest.raises(gc.errors.ShapeError, match="does not fit"):
        tf.nn.conv2d_transpose(x, w, [2, 9, 9, 5], strides=[1, 2, 2, 1], padding="SAME")
    with pytest.raises(gc.errors.ShapeError, match="channels"):
        tf.nn.conv2d_transpose(x, w, [2, 8, 8, 4], strides=[1, 2, 2, 1])
    with pytest.raises(gc.errors.ShapeError, match="has 3 channels but filter .* takes 2"):
        tf.nn.conv2d_transpose(x, np.zeros((3, 3, 5, 2), np.float32), [2, 8, 8, 5], strides=[1, 2, 2, 1])
    with pytest.raises(gc.errors.ShapeError, match="batch"):
        tf.nn.conv2d_transpose(x, w, [3, 8, 8, 5], strides=[1, 2, 2, 1])


@needs_torch
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_tf_layers_conv2d_transpose(padding):
    x = tf.placeholder(tf.float32, (None, 5, 4, 3))
    y = tf.layers.conv2d_transpose(x, 6, 3, strides=2, padding=padding, activation=tf.nn.relu)
    assert y.shape == ((None, 10, 8, 6) if padding == "same" else (None, 11, 9, 6))
    assert [(v.name, v.shape) for v in tf.global_variables()] == [("conv2d_transpose/kernel", (3, 3, 6, 3)),
                                                                  ("conv2d_transpose/bias", (6,))]
    z = tf.layers.conv2d_transpose(y, 2, (2, 3), data_format="channels_last")
    assert z.shape[1:] == (y.shape[1] + 1, y.shape[2] + 2, 2)
    assert "conv2d_transpose_1/kernel" in [v.name for v in tf.global_variables()]
    xv = rand(2, 5, 4, 3, seed=1, dtype=np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out, k, b = sess.run([y] + tf.global_variables()[:2], {x: xv})
    ref = torch_ct(xv.transpose(0, 3, 1, 2).astype(np.float64), k.transpose(3, 2, 0, 1).astype(np.float64), stride=2)
    if padding == "same":   # TF's SAME pads for a 10x8 output of a 3x3 kernel, stride 2: (0, 1)
        ref = ref[:, :, :10, :8]
    np.testing.assert_allclose(out, np.maximum(ref.transpose(0, 2, 3, 1) + b, 0), **COMPOSED)


def test_unsupported_list_no_longer_names_them():
    from graphc.compat.v1 import unsupported
    assert "conv2d_transpose" not in unsupported._MISSING
    assert callable(tf.nn.conv2d_transpose) and callable(tf.layers.conv2d_transpose)
