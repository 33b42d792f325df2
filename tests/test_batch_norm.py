"""Batch normalization: gc.nn.moments / batch_normalization, gc.layers.BatchNormalization
(against torch's BatchNorm in train and eval mode and float64 numpy versions of Keras's
formulas), its gradients, its moving statistics under Sequential.fit (padded last batches
included), saving and loading (in a fresh process), and compat.v1's TF1 pattern with
tf.GraphKeys.UPDATE_OPS."""
import json
import os
import subprocess
import sys

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

COMPOSED = dict(rtol=1e-4, atol=1e-5)   # float32 graphs against float64 references


def rand(*shape, seed=0, dtype=np.float64, loc=0.0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale + loc).astype(dtype)


def run(fetches, feed_dict=None):
    with gc.Session() as sess:
        return sess.run(fetches, feed_dict)


# -- float64 numpy: Keras's formulas -------------------------------------------------------------
def np_stats(x, axis=1):
    axes = tuple(a for a in range(x.ndim) if a != axis)
    return x.mean(axis=axes), x.var(axis=axes)          # biased variance


def np_bn(x, mean, var, gamma, beta, eps, axis=1):
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda v: np.reshape(v, shape)   # noqa: E731
    return (x - r(mean)) / np.sqrt(r(var) + eps) * r(gamma) + r(beta)


def np_moving(moving, stat, momentum):
    return moving * momentum + stat * (1 - momentum)


# -- gc.nn.moments and gc.nn.batch_normalization ---------------------------------------------------
@pytest.mark.parametrize("axes", [0, (0,), (0, 2, 3), (1, 3), -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_moments_match_numpy(axes, keepdims):
    x = rand(3, 4, 2, 5, seed=1, loc=3.0)
    mean, var = gc.nn.moments(gc.constant(x), axes, keepdims=keepdims)
    m, v = run([mean, var])
    np.testing.assert_allclose(m, x.mean(axis=axes, keepdims=keepdims), **F64)
    np.testing.assert_allclose(v, x.var(axis=axes, keepdims=keepdims), **F64)


@needs_torch
def test_moments_gradient_matches_torch():
    xv = rand(4, 3, 2, 2, seed=2)
    x = gc.placeholder(gc.float64, xv.shape)
    mean, var = gc.nn.moments(x, (0, 2, 3))
    r1, r2 = rand(3, seed=3), rand(3, seed=4)
    (dx,) = gc.gradients(gc.sum(mean * r1) + gc.sum(var * r2), [x])
    xt = torch.tensor(xv, requires_grad=True)
    ((xt.mean((0, 2, 3)) * torch.tensor(r1)).sum()
     + (xt.var((0, 2, 3), unbiased=False) * torch.tensor(r2)).sum()).backward()
    np.testing.assert_allclose(run(dx, {x: xv}), xt.grad.numpy(), **F64)


def test_moments_of_integers_and_errors():
    mean, var = gc.nn.moments(gc.constant(np.array([[1, 2], [3, 5]])), 0)
    assert mean.dtype == gc.float32
    np.testing.assert_allclose(run([mean, var]), [[2, 3.5], [1, 2.25]])
    with pytest.raises(gc.errors.ShapeError, match="out of range"):
        gc.nn.moments(gc.zeros((2, 3)), 2)


def test_batch_normalization_is_tfs_formula():
    x = rand(2, 3, seed=1)
    mean, var, offset, scale = rand(3, seed=2), rand(3, seed=3) ** 2, rand(3, seed=4), rand(3, seed=5)
    y = gc.nn.batch_normalization(gc.constant(x), mean, var, offset, scale, 1e-3)
    inv = scale / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(run(y), x * inv + (offset - mean * inv), **F64)
    bare = gc.nn.batch_normalization(gc.constant(x), mean, var, None, None, 1e-3)
    np.testing.assert_allclose(run(bare), (x - mean) / np.sqrt(var + 1e-3), **F64)


# -- gc.layers.BatchNormalization ------------------------------------------------------------------
def test_weights_and_defaults():
    layer = L.BatchNormalization()
    x = gc.placeholder(gc.float32, (None, 3, 4, 4))
    layer(x)
    assert [(w.name, w.shape, w.trainable) for w in layer.weights] == [
        ("batch_normalization/gamma", (3,), True), ("batch_normalization/beta", (3,), True),
        ("batch_normalization/moving_mean", (3,), False), ("batch_normalization/moving_variance", (3,), False)]
    assert [w.tolist() for w in run(layer.weights)] == [[1] * 3, [0] * 3, [0] * 3, [1] * 3]
    assert layer.get_config() == {"name": "batch_normalization", "axis": 1, "momentum": 0.99, "epsilon": 1e-3,
                                  "center": True, "scale": True}
    assert layer.updates == []                       # an inference call makes none
    bare = L.BatchNormalization(center=False, scale=False)
    bare(x)
    assert [w.name.split("/")[1] for w in bare.weights] == ["moving_mean", "moving_variance"]
    assert bare.count_params() == 6


@needs_torch
def test_training_matches_torch_and_keras_updates():
    data = rand(6, 3, 4, 5, seed=1, loc=2.0, scale=3.0, dtype=np.float32)
    layer = L.BatchNormalization(momentum=0.9, epsilon=1e-5)
    x = gc.placeholder(gc.float32, (None, 3, 4, 5))
    y = layer(x, training=True)
    assert len(layer.updates) == 2 and all(u.op == "assign" for u in layer.updates)
    with gc.Session() as sess:
        out = sess.run(y, {x: data})
        sess.run(layer.updates, {x: data})
        moving_mean, moving_var = sess.run([layer.moving_mean, layer.moving_variance])
    bn = torch.nn.BatchNorm2d(3, eps=1e-5, momentum=0.1).double().train()   # torch's momentum is 1 - Keras's
    ref = bn(torch.tensor(data, dtype=torch.float64)).detach().numpy()
    np.testing.assert_allclose(out, ref, **COMPOSED)                         # normalized by the biased variance
    mean, var = np_stats(data.astype(np.float64))
    np.testing.assert_allclose(out, np_bn(data.astype(np.float64), mean, var, 1, 0, 1e-5), **COMPOSED)
    np.testing.assert_allclose(moving_mean, np_moving(0, mean, 0.9), **COMPOSED)
    np.testing.assert_allclose(moving_mean, bn.running_mean.numpy(), **COMPOSED)   # the mean agrees with torch
    np.testing.assert_allclose(moving_var, np_moving(1, var, 0.9), **COMPOSED)     # Keras: the biased variance
    n = data.size // 3                                                               # torch: the unbiased one
    np.testing.assert_allclose(bn.running_var.numpy(), np_moving(1, var * n / (n - 1), 0.9), **COMPOSED)


@needs_torch
def test_inference_uses_the_moving_statistics_as_torch_eval():
    data = rand(4, 3, 2, 3, seed=1, dtype=np.float32)
    layer = L.BatchNormalization(epsilon=1e-3)
    x = gc.placeholder(gc.float32, (None, 3, 2, 3))
    y = layer(x)
    stats = [rand(3, seed=2) + 1, rand(3, seed=3), rand(3, seed=4), rand(3, seed=5) ** 2 + 0.1]
    with gc.Session() as sess:
        for var, value in zip(layer.weights, stats):
            var.load(value.astype(np.float32), sess)
        out = sess.run(y, {x: data})
    bn = torch.nn.BatchNorm2d(3, eps=1e-3).double().eval()
    with torch.no_grad():
        for p, value in zip((bn.weight, bn.bias, bn.running_mean, bn.running_var), stats):
            p.copy_(torch.tensor(value))
    ref = bn(torch.tensor(data, dtype=torch.float64)).detach().numpy()
    np.testing.assert_allclose(out, ref, **COMPOSED)


@needs_torch
def test_dense_activations_and_other_axes():
    """(N, C) activations on axis 1 (torch's BatchNorm1d), NHWC on axis -1, two axes."""
    data = rand(8, 5, seed=1, loc=1.0, dtype=np.float32)
    layer = L.BatchNormalization()
    x = gc.placeholder(gc.float32, (None, 5))
    out = run(layer(x, training=True), {x: data})
    ref = torch.nn.BatchNorm1d(5, eps=1e-3).double().train()(torch.tensor(data, dtype=torch.float64))
    np.testing.assert_allclose(out, ref.detach().numpy(), **COMPOSED)

    nhwc = rand(3, 2, 2, 4, seed=2, dtype=np.float32)
    layer = L.BatchNormalization(axis=-1)
    x = gc.placeholder(gc.float32, (None, 2, 2, 4))
    out = run(layer(x, training=True), {x: nhwc})
    mean, var = np_stats(nhwc.astype(np.float64), axis=3)
    np.testing.assert_allclose(out, np_bn(nhwc.astype(np.float64), mean, var, 1, 0, 1e-3, axis=3), **COMPOSED)

    layer = L.BatchNormalization(axis=(1, 2))
    x = gc.placeholder(gc.float32, (None, 2, 2, 4))
    y = layer(x, training=True)
    assert layer.moving_mean.shape == (2, 2)
    d = nhwc.astype(np.float64)
    expected = (d - d.mean((0, 3), keepdims=True)) / np.sqrt(d.var((0, 3), keepdims=True) + 1e-3)
    np.testing.assert_allclose(run(y, {x: nhwc}), expected, **COMPOSED)


def test_batch_of_one_and_spatial_1x1():
    """One value per channel: zero variance, so training outputs beta; the moving variance
    decays towards 0."""
    data = rand(1, 3, 1, 1, seed=1, dtype=np.float32)
    layer = L.BatchNormalization(momentum=0.5)
    x = gc.placeholder(gc.float32, (None, 3, 1, 1))
    y = layer(x, training=True)
    with gc.Session() as sess:
        layer.beta.load(np.float32([1, 2, 3]), sess)
        out, _ = sess.run([y, layer.updates], {x: data})
        mm, mv = sess.run([layer.moving_mean, layer.moving_variance])
    np.testing.assert_allclose(out.ravel(), [1, 2, 3], **COMPOSED)
    np.testing.assert_allclose(mm, 0.5 * data.ravel(), **COMPOSED)
    np.testing.assert_allclose(mv, [0.5] * 3, **COMPOSED)
    spatial = rand(4, 2, 1, 1, seed=2, dtype=np.float32)      # batch 4 of 1x1: statistics over the batch
    layer = L.BatchNormalization()
    x = gc.placeholder(gc.float32, (None, 2, 1, 1))
    out = run(layer(x, training=True), {x: spatial})
    mean, var = np_stats(spatial.astype(np.float64))
    np.testing.assert_allclose(out, np_bn(spatial.astype(np.float64), mean, var, 1, 0, 1e-3), **COMPOSED)


def test_mask_takes_statistics_over_the_real_rows():
    data = rand(5, 2, 3, 3, seed=1, dtype=np.float32)
    layer = L.BatchNormalization(momentum=0.0)
    x = gc.placeholder(gc.float32, (None, 2, 3, 3))
    rows = gc.placeholder(gc.float32, (None,))
    y = layer(x, training=True, mask=rows)
    with gc.Session() as sess:
        out, _ = sess.run([y, layer.updates], {x: data, rows: np.float32([1, 1, 1, 0, 0])})
        mm, mv = sess.run([layer.moving_mean, layer.moving_variance])
    mean, var = np_stats(data[:3].astype(np.float64))
    np.testing.assert_allclose(mm, mean, **COMPOSED)
    np.testing.assert_allclose(mv, var, **COMPOSED)
    np.testing.assert_allclose(out, np_bn(data.astype(np.float64), mean, var, 1, 0, 1e-3), **COMPOSED)


def test_training_as_a_bool_tensor():
    data = rand(4, 3, seed=1, loc=5.0, dtype=np.float32)
    layer = L.BatchNormalization(momentum=0.5)
    x = gc.placeholder(gc.float32, (None, 3))
    is_training = gc.placeholder(gc.bool_, ())
    y = layer(x, training=is_training)
    assert len(layer.updates) == 2
    step = gc.group(*layer.updates)
    with gc.Session() as sess:
        inference, _ = sess.run([y, step], {x: data, is_training: False})
        assert [v.tolist() for v in sess.run([layer.moving_mean, layer.moving_variance])] == [[0] * 3, [1] * 3]
        np.testing.assert_allclose(inference, data / np.sqrt(1 + 1e-3), **COMPOSED)
        training, _ = sess.run([y, step], {x: data, is_training: True})
        mm = sess.run(layer.moving_mean)
    mean, var = np_stats(data.astype(np.float64))
    np.testing.assert_allclose(training, np_bn(data.astype(np.float64), mean, var, 1, 0, 1e-3), **COMPOSED)
    np.testing.assert_allclose(mm, 0.5 * mean, **COMPOSED)


@needs_torch
def test_gradients_match_torch_autograd():
    xv = rand(3, 4, 2, 3, seed=1, loc=1.0, scale=2.0)
    gv, bv = rand(4, seed=2), rand(4, seed=3)
    r = rand(*xv.shape, seed=4)
    x = gc.placeholder(gc.float64, xv.shape)
    layer = L.BatchNormalization(epsilon=1e-5)
    y = layer(x, training=True)
    grads = gc.gradients(gc.sum(y * r), [x, layer.gamma, layer.beta])
    with gc.Session() as sess:
        layer.gamma.load(gv.astype(np.float32), sess)
        layer.beta.load(bv.astype(np.float32), sess)
        dx, dg, db = sess.run(grads, {x: xv})
    g32, b32 = gv.astype(np.float32).astype(np.float64), bv.astype(np.float32).astype(np.float64)
    xt = torch.tensor(xv, requires_grad=True)
    gt, bt = torch.tensor(g32, requires_grad=True), torch.tensor(b32, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-5)
    (yt * torch.tensor(r)).sum().backward()
    # (the weights are float32 Variables: their gradients are float32)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dg, gt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_gradient_matches_finite_differences():
    xv = rand(3, 2, 2, 2, seed=5)
    x = gc.placeholder(gc.float64, xv.shape)
    y = gc.nn.batch_normalization(x, *gc.nn.moments(x, (0, 2, 3), keepdims=True), None, None, 1e-3)
    loss = gc.sum(gc.square(y) * gc.constant(rand(*xv.shape, seed=6)))
    (dx,) = gc.gradients(loss, [x])
    with gc.Session() as sess:
        analytic = sess.run(dx, {x: xv})
        numeric = central_differences(sess, loss, x, xv)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


# -- Sequential ------------------------------------------------------------------------------------
def conv_bn_model(momentum=0.9):
    return L.Sequential([L.Conv2D(4, 3, padding="same"), L.BatchNormalization(momentum=momentum),
                         L.Conv2DTranspose(2, 2, strides=2, activation="relu"), L.Flatten(), L.Dense(3)], seed=0)


def np_conv_same(x, w, b):
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(h):
        for j in range(wd):
            out[:, :, i, j] = np.einsum("nchw,ochw->no", xp[:, :, i:i + 3, j:j + 3], w)
    return out + b[:, None, None]


class RecordBatchStatistics(L.Callback):
    """Before each step: the batch statistics of the BatchNormalization's input (the
    Conv2D's output under the current weights), from numpy in float64."""

    def __init__(self, x, batch_size, n):
        super().__init__()
        self.x, self.b, self.n, self.stats = x, batch_size, n, []

    def on_train_batch_begin(self, batch, logs=None):
        kernel, bias = [w.astype(np.float64) for w in self.model.get_weights()[:2]]
        rows = self.x[batch * self.b:min((batch + 1) * self.b, self.n)].astype(np.float64)
        self.stats.append(np_stats(np_conv_same(rows, kernel, bias)))


def test_fit_updates_the_moving_statistics_every_step_as_keras():
    """Conv2D -> BatchNormalization -> Conv2DTranspose(relu) -> Flatten -> Dense, fit for 2
    epochs of 10 examples in batches of 4 (the last, of 2, is padded to 4 with rows that must
    not count): the moving statistics are Keras's running averages of the real batches'."""
    x = rand(10, 2, 4, 4, seed=1, loc=0.5, dtype=np.float32)
    y = rand(10, 3, seed=2, dtype=np.float32)
    model = conv_bn_model(momentum=0.9)
    model.compile(gc.train.SGD(0.05), "mse")
    record = RecordBatchStatistics(x, 4, 10)
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, callbacks=[record])
    assert len(record.stats) == 6
    mean, var = np.zeros(4), np.ones(4)
    for batch_mean, batch_var in record.stats:
        mean, var = np_moving(mean, batch_mean, 0.9), np_moving(var, batch_var, 0.9)
    bn = model.layers[1]
    moving_mean, moving_var = model.session.run([bn.moving_mean, bn.moving_variance])
    np.testing.assert_allclose(moving_mean, mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(moving_var, var, rtol=1e-4, atol=1e-5)
    assert not np.allclose(moving_var, 1)
    summary = []
    model.summary(print_fn=summary.append)
    assert "Non-trainable params: 8" in summary[0]
    # one compiled program per epoch, the mask of real rows fed to it
    programs = len(model.session._cache)
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert len(model.session._cache) == programs


def test_train_program_feeds_the_row_mask_only_where_needed():
    x, y = rand(8, 2, 4, 4, seed=1, dtype=np.float32), rand(8, 3, seed=2, dtype=np.float32)
    model = conv_bn_model()
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert model._train_steps[4].rows is not None
    model.train_program()   # compiles with the mask's spec
    plain = L.Sequential([L.Flatten(), L.Dense(3)], seed=0)
    plain.compile("sgd", "mse")
    plain.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert plain._train_steps[4].rows is None


def test_inference_after_fit_uses_moving_statistics():
    x = rand(8, 3, seed=1, loc=4.0, scale=2.0, dtype=np.float32)
    y = rand(8, 2, seed=2, dtype=np.float32)
    model = L.Sequential([L.BatchNormalization(momentum=0.5), L.Dense(2)], seed=0)
    model.compile(gc.train.SGD(0.0), "mse")        # (no weight moves: only the moving statistics)
    model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    mean, var = np_stats(x.astype(np.float64), axis=1)
    m, v = np.zeros(3), np.ones(3)
    for _ in range(3):
        m, v = np_moving(m, mean, 0.5), np_moving(v, var, 0.5)
    gamma, beta, mm, mv, kernel, bias = [w.astype(np.float64) for w in model.get_weights()]
    np.testing.assert_allclose(mm, m, **COMPOSED)
    np.testing.assert_allclose(mv, v, **COMPOSED)
    expected = np_bn(x.astype(np.float64), m, v, gamma, beta, 1e-3) @ kernel + bias
    np.testing.assert_allclose(model.predict(x), expected, **COMPOSED)


LOAD_SCRIPT = """
import json, sys
import numpy as np
import graphc as gc
model = gc.layers.load_model(sys.argv[1])
bn = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"][0]
mm, mv = model.session.run([bn.moving_mean, bn.moving_variance])
x = np.load(sys.argv[2])
print(json.dumps({"mean": mm.tolist(), "var": mv.tolist(), "pred": model.predict(x).tolist()}))
"""


def test_save_and_load_in_a_fresh_process(tmp_path):
    x, y = rand(10, 2, 4, 4, seed=1, dtype=np.float32), rand(10, 3, seed=2, dtype=np.float32)
    model = conv_bn_model()
    model.compile(gc.train.Adam(0.01), "mse")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    bn = model.layers[1]
    mm, mv = model.session.run([bn.moving_mean, bn.moving_variance])
    path = model.save(tmp_path / "bn.gcmodel")
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(gc.__file__))] +
                                                      sys.path))
    out = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(path), str(tmp_path / "x.npy")],
                         capture_output=True, text=True, env=env, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_array_equal(np.float32(got["mean"]), mm)
    np.testing.assert_array_equal(np.float32(got["var"]), mv)
    np.testing.assert_array_equal(np.float32(got["pred"]), model.predict(x))
    # in this process too, compiled or not, and through save_weights / load_weights
    for loaded in (L.load_model(path), L.load_model(path, compile=False)):
        lb = loaded.layers[1]
        assert lb.get_config() == bn.get_config()
        np.testing.assert_array_equal(loaded.session.run(lb.moving_variance), mv)
    loaded = L.load_model(path)
    loaded.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)       # training resumes
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_array_equal(loaded.session.run(loaded.layers[1].moving_mean),
                                  model.session.run(bn.moving_mean))
    fresh = conv_bn_model()
    fresh.build((2, 4, 4))
    model.save_weights(tmp_path / "w.npz")
    fresh.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


# -- compat.v1 ------------------------------------------------------------------------------------
def tf1_program(shape, fused=None, momentum=0.9):
    x = tf.placeholder(tf.float32, (None,) + shape)
    training = tf.placeholder(tf.bool, ())
    h = tf.layers.batch_normalization(x, momentum=momentum, training=training, fused=fused)
    loss = tf.reduce_mean(tf.square(h - 1.0))
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    return x, training, h, train_op


@pytest.mark.parametrize("shape,fused,unbiased", [((3, 3, 2), None, True),     # 4-D on the last axis: fused
                                                  ((3, 3, 2), False, False),
                                                  ((4,), None, False)])        # 2-D: never fused
def test_tf1_update_ops_pattern(shape, fused, unbiased):
    x, training, h, train_op = tf1_program(shape, fused)
    names = [v.name for v in tf.global_variables()]
    assert names == ["batch_normalization/gamma", "batch_normalization/beta", "batch_normalization/moving_mean",
                     "batch_normalization/moving_variance"]
    assert [v.name for v in tf.trainable_variables()] == names[:2]
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2 and all("AssignMovingAvg" in u.name for u in updates)
    batches = [rand(5, *shape, seed=s, loc=2.0, dtype=np.float32) for s in range(3)]
    mean, var = np.zeros(shape[-1]), np.ones(shape[-1])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for data in batches:
            sess.run(train_op, {x: data, training: True})
            d = data.astype(np.float64).reshape(-1, shape[-1])
            batch_var = d.var(0) * (len(d) / (len(d) - 1) if unbiased else 1)
            mean, var = mean - (mean - d.mean(0)) * 0.1, var - (var - batch_var) * 0.1
        mm, mv = sess.run(tf.global_variables()[2:])
        np.testing.assert_allclose(mm, mean, **COMPOSED)
        np.testing.assert_allclose(mv, var, **COMPOSED)
        sess.run(train_op, {x: batches[0], training: False})     # updates run, but change nothing
        np.testing.assert_array_equal(sess.run(tf.global_variables()[3]), mv)
        gamma, beta = sess.run(tf.global_variables()[:2])
        out = sess.run(h, {x: batches[0], training: False})
    expected = (batches[0] - mm) / np.sqrt(mv + 1e-3) * gamma + beta
    np.testing.assert_allclose(out, expected, **COMPOSED)


@needs_torch
def test_tf1_layer_reuse_python_bool_and_nchw():
    x = tf.placeholder(tf.float32, (None, 2, 3, 3))
    a = tf.layers.batch_normalization(x, axis=1, training=True, name="bn")
    b = tf.layers.batch_normalization(x, axis=1, training=False, name="bn", reuse=True)
    assert len(tf.global_variables()) == 4 and len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2
    data = rand(4, 2, 3, 3, seed=1, dtype=np.float32)
    with tf.Session() as sess:
        out_a, out_b = sess.run([a, b], {x: data})
    bn = torch.nn.BatchNorm2d(2, eps=1e-3).double().train()
    np.testing.assert_allclose(out_a, bn(torch.tensor(data, dtype=torch.float64)).detach().numpy(), **COMPOSED)
    np.testing.assert_allclose(out_b, data / np.sqrt(1 + 1e-3), **COMPOSED)
    with pytest.raises(tf.UnsupportedError, match="renorm"):
        tf.layers.batch_normalization(x, renorm=True)


def test_tf_nn_fused_batch_norm():
    data = rand(3, 2, 2, 4, seed=1, dtype=np.float32)
    scale, offset = np.float32([1, 2, 3, 4]), np.float32([0, 1, 0, 1])
    y, mean, var = tf.nn.fused_batch_norm(data, scale, offset, epsilon=1e-3)
    got_y, got_mean, got_var = run([y, mean, var])
    d = data.astype(np.float64).reshape(-1, 4)
    np.testing.assert_allclose(got_mean, d.mean(0), **COMPOSED)
    np.testing.assert_allclose(got_var, d.var(0, ddof=1), **COMPOSED)          # unbiased, as TF's kernel
    np.testing.assert_allclose(got_y, (data - d.mean(0)) / np.sqrt(d.var(0) + 1e-3) * scale + offset, **COMPOSED)
    y2, m2, v2 = tf.nn.fused_batch_norm(data, scale, offset, mean=got_mean, variance=got_var, is_training=False,
                                        data_format="NHWC")
    np.testing.assert_allclose(run(y2), (data - got_mean) / np.sqrt(got_var + 1e-3) * scale + offset, **COMPOSED)
    nchw = data.transpose(0, 3, 1, 2)
    y3, _, _ = tf.nn.fused_batch_norm(nchw, scale, offset, epsilon=1e-3, data_format="NCHW")
    np.testing.assert_allclose(run(y3), got_y.transpose(0, 3, 1, 2), **COMPOSED)
    _, m4, _ = tf.nn.fused_batch_norm(data, scale, offset, mean=np.zeros(4, np.float32),
                                      variance=np.ones(4, np.float32), exponential_avg_factor=0.25)
    np.testing.assert_allclose(run(m4), 0.25 * d.mean(0), **COMPOSED)


def test_tf_nn_moments_and_batch_normalization_are_gc_nn():
    x = rand(4, 3, seed=1)
    mean, var = tf.nn.moments(tf.constant(x), [0], keep_dims=True)
    assert mean.shape == (1, 3)
    y = tf.nn.batch_normalization(tf.constant(x), mean, var, None, 2.0, 1e-3)
    np.testing.assert_allclose(run(y), 2 * (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), **F64)
