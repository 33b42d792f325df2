"""gc.layers: each layer against an independent numpy computation (float64), weights and
names, dropout masks, and the Sequential workflow (fit, evaluate, predict, save/load,
summary, progress output)."""
import io
import math
import re

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

# float32 graphs vs float64 numpy through a few composed ops (sums of up to ~150 products)
COMPOSED = dict(rtol=1e-4, atol=1e-5)


def forward(layer, data, dtype=gc.float32, training=False, batch=None):
    """Run ``layer`` on ``data`` in a fresh Session; returns (output, [weight values])."""
    x = gc.placeholder(dtype, (batch,) + data.shape[1:], name="x")
    y = layer(x, training=training)
    with gc.Session() as sess:
        out, weights = sess.run([y, layer.weights], {x: data})
    return out, [w.astype(np.float64) for w in weights]


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# -- numpy references -------------------------------------------------------------------
def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


NP_ACTIVATIONS = {
    None: lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "gelu": lambda z: 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2))),
    "softmax": np_softmax,
}


def same_pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def np_windows(x, k, s, padding, fill):
    """(N, C, OH, OW, kh*kw) windows of float64 NCHW ``x`` and the padding mask."""
    x = x.astype(np.float64)
    pads = [same_pads(n, kk, ss) if padding == "same" else (0, 0) for n, kk, ss in zip(x.shape[2:], k, s)]
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads), constant_values=fill)
    real = np.pad(np.ones(x.shape[2:]), pads)
    oh, ow = ((xp.shape[2] - k[0]) // s[0] + 1, (xp.shape[3] - k[1]) // s[1] + 1)
    win = np.empty(x.shape[:2] + (oh, ow, k[0] * k[1]))
    cnt = np.empty((oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            win[:, :, i, j] = patch.reshape(x.shape[:2] + (-1,))
            cnt[i, j] = real[i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].sum()
    return win, cnt


def np_conv(x, w, b, stride, padding):
    o, c, kh, kw = w.shape
    pads = [same_pads(n, kk, stride) if padding == "same" else (0, 0) for n, kk in zip(x.shape[2:], (kh, kw))]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0)) + tuple(pads))
    oh, ow = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out + b[:, None, None]


# -- layers -----------------------------------------------------------------------------
@pytest.mark.parametrize("activation", list(NP_ACTIVATIONS))
def test_dense_matches_numpy(activation):
    data = rand(5, 7)
    layer = L.Dense(4, activation=activation)
    out, (kernel, bias) = forward(layer, data)
    assert out.dtype == np.float32 and out.shape == (5, 4)
    expected = NP_ACTIVATIONS[activation](data.astype(np.float64) @ kernel + bias)
    np.testing.assert_allclose(out, expected, **COMPOSED)


def test_dense_weights_names_and_initializers():
    x = gc.placeholder(gc.float32, (None, 30))
    a, b = L.Dense(20), L.Dense(20, use_bias=False)
    a(x), b(x)
    assert [w.name for w in a.weights] == ["dense/kernel", "dense/bias"]
    assert [w.name for w in b.weights] == ["dense_1/kernel"]
    assert a.kernel.shape == (30, 20) and a.bias.shape == (20,) and a.kernel.dtype == np.float32
    with gc.Session() as sess:
        kernel, bias = sess.run([a.kernel, a.bias])
    limit = math.sqrt(6 / (30 + 20))   # glorot_uniform
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    assert not bias.any()
    # seeded: the same layer name and seed give the same kernel in another graph; another seed does not
    with gc.Graph().as_default():
        x2 = gc.placeholder(gc.float32, (None, 30))
        same, other = L.Dense(20), L.Dense(20, seed=1)
        same(x2), other(x2)
        with gc.Session() as sess:
            k_same, k_other = sess.run([same.kernel, other.kernel])
    np.testing.assert_array_equal(k_same, kernel)
    assert not np.allclose(k_other, kernel)


def test_layer_names_are_unique_per_graph_and_calls_share_weights():
    x = gc.placeholder(gc.float32, (None, 3))
    d = L.Dense(2, name="head")
    d(x)
    d(x)                                    # a second call reuses the weights
    assert len(d.weights) == 2 and len(gc.get_default_graph().variables()) == 2
    with pytest.raises(gc.errors.GraphError, match="head"):
        L.Dense(2, name="head")(x)
    with pytest.raises(gc.errors.GraphError, match="another graph"):
        with gc.Graph().as_default():
            d(gc.placeholder(gc.float32, (None, 3)))


def test_dense_on_3d_input():
    data = rand(2, 3, 5)
    out, (kernel, bias) = forward(L.Dense(4, "tanh"), data)
    np.testing.assert_allclose(out, np.tanh(data.astype(np.float64) @ kernel + bias), **COMPOSED)


@pytest.mark.parametrize("padding,stride", [("valid", 1), ("same", 1), ("same", 2), ("valid", 2)])
def test_conv2d_matches_numpy(padding, stride):
    data = rand(2, 3, 7, 6)
    layer = L.Conv2D(4, (3, 2), strides=stride, padding=padding, activation="relu")
    out, (kernel, bias) = forward(layer, data)
    assert kernel.shape == (4, 3, 3, 2) and bias.shape == (4,)
    assert [w.name for w in layer.weights] == ["conv2d/kernel", "conv2d/bias"]
    np.testing.assert_allclose(out, np.maximum(np_conv(data, kernel, bias, stride, padding), 0), **COMPOSED)
    limit = math.sqrt(6 / (3 * 3 * 2 + 4 * 3 * 2))
    assert np.abs(kernel).max() <= limit


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_matches_numpy(padding):
    data = rand(2, 3, 7, 6)
    win, count = np_windows(data, (3, 3), (2, 2), padding, -np.inf)
    out, _ = forward(L.MaxPool2D(3, strides=2, padding=padding), data)
    np.testing.assert_allclose(out, win.max(-1), rtol=0, atol=0)
    win, count = np_windows(data, (3, 3), (2, 2), padding, 0.0)
    out, _ = forward(L.AvgPool2D(3, strides=2, padding=padding), data)
    np.testing.assert_allclose(out, win.sum(-1) / count, **COMPOSED)   # "same": real elements only
    out, _ = forward(L.MaxPool2D(2), data)   # strides default to pool_size
    assert out.shape == (2, 3, 3, 3)


def test_flatten():
    data = rand(4, 2, 3, 5)
    out, _ = forward(L.Flatten(), data)
    np.testing.assert_array_equal(out, data.reshape(4, -1))


@pytest.mark.parametrize("axis", [-1, (1, 2)])
def test_layer_norm_matches_numpy(axis):
    data = rand(3, 4, 5) * 3 + 1
    layer = L.LayerNorm(axis=axis)
    x = gc.placeholder(gc.float32, (None, 4, 5))
    y = layer(x)
    param_shape = (5,) if axis == -1 else (4, 5)
    assert [w.shape for w in layer.weights] == [param_shape, param_shape]
    assert [w.name for w in layer.weights] == ["layer_norm/gamma", "layer_norm/beta"]
    gamma, beta = rand(*param_shape, seed=1), rand(*param_shape, seed=2)
    with gc.Session() as sess:
        start = sess.run(layer.weights)
        out = sess.run(y, {x: data, layer.gamma: gamma, layer.beta: beta})   # feeding overrides the values
    np.testing.assert_array_equal(start[0], np.ones(param_shape))
    np.testing.assert_array_equal(start[1], np.zeros(param_shape))
    d = data.astype(np.float64)
    mu = d.mean(axis, keepdims=True)
    expected = (d - mu) / np.sqrt(((d - mu) ** 2).mean(axis, keepdims=True) + 1e-5) * gamma + beta
    np.testing.assert_allclose(out, expected, **COMPOSED)


def test_embedding_matches_numpy():
    ids = np.array([[0, 3, 9], [9, 1, 1]], np.int64)
    layer = L.Embedding(10, 4)
    out, (table,) = forward(layer, ids, dtype=gc.int64)
    assert table.shape == (10, 4) and layer.weights[0].name == "embedding/embeddings"
    assert np.abs(table).max() <= 0.05
    np.testing.assert_array_equal(out, table[ids].astype(np.float32))


def test_activations_by_name_or_callable():
    with pytest.raises(ValueError, match="unknown activation"):
        L.Dense(3, activation="swishy")
    data = rand(2, 3)
    out, (kernel, bias) = forward(L.Dense(3, activation=lambda z: z * 2.0), data)
    np.testing.assert_allclose(out, 2 * (data @ kernel + bias), **COMPOSED)


# -- dropout ----------------------------------------------------------------------------
def test_dropout_is_identity_unless_training():
    x = gc.placeholder(gc.float32, (None, 10))
    assert L.Dropout(0.5)(x) is x
    assert L.Dropout(0.5)(x, training=False) is x



def test_dropout_over_an_unknown_batch_draws_the_fed_shape():
    """The mask follows x's shape when the batch is only known at run time, and an
    element's mask bit does not depend on the batch size (counter-based)."""
    x = gc.placeholder(gc.float32, (None, 8))
    y = L.Dropout(0.5)(x, training=True)
    with gc.Session() as sess:
        small = sess.run(y, {x: np.ones((3, 8), np.float32)})
        large = sess.run(y, {x: np.ones((5, 8), np.float32)})
    assert small.shape == (3, 8) and large.shape == (5, 8)
    assert set(np.unique(large)) <= {0.0, 2.0} and 0 < (large == 0).sum() < large.size
    np.testing.assert_array_equal(small, large[:3])


def test_dropout_masks_scale_and_change_every_step():
    rate, shape = 0.3, (64, 100)
    x = gc.placeholder(gc.float32, shape)
    step = gc.Variable(np.int64(0), name="step", trainable=False)
    y = L.Dropout(rate)(x, training=True, seed=step)
    advance = gc.assign_add(step, 1)
    fixed = L.Dropout(rate, seed=7)(x, training=True)
    data = np.random.default_rng(0).uniform(1, 2, shape).astype(np.float32)
    with gc.Session() as sess:
        first, _ = sess.run([y, advance], {x: data})
        second = sess.run(y, {x: data})
        a, b = sess.run(fixed, {x: data}), sess.run(fixed, {x: data})
    with gc.Session() as sess:
        again = sess.run(y, {x: data})          # a new Session starts the step at 0 again
    for out in (first, second):
        dropped = out == 0
        assert abs(dropped.mean() - rate) < 0.03
        np.testing.assert_allclose(out[~dropped], data[~dropped] / (1 - rate), rtol=1e-6)
    assert (first == 0).mean() > 0 and not np.array_equal(first == 0, second == 0)   # a new mask per step
    np.testing.assert_array_equal(again, first)   # the same seed value gives the same mask
    np.testing.assert_array_equal(a, b)


# -- Sequential -------------------------------------------------------------------------
def blobs(n=200, classes=3, features=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.normal(size=(n, features))).astype(np.float32), y


def np_mlp(x, kernel1, bias1, kernel2, bias2):
    return np_softmax(np.maximum(x.astype(np.float64) @ kernel1 + bias1, 0) @ kernel2 + bias2)


def small_model(seed=0, dropout=0.0):
    return L.Sequential([L.Dense(8, "relu"), L.Dropout(dropout), L.Dense(3, "softmax")], seed=seed)


def test_fit_reduces_loss_and_evaluate_predict_match_numpy():
    x, y = blobs()
    model = small_model(dropout=0.1)
    model.compile(gc.train.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=48, verbose=0, validation_data=(x[:50], y[:50]))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    losses = history.history["loss"]
    assert len(losses) == 8 and losses[-1] < 0.7 * losses[0], losses
    assert len(gc.get_default_graph()) == 0          # the model keeps to its own graph

    # a numpy forward pass with the model's weights (Dropout is off outside training);
    # 200 examples in batches of 64 also exercise the last partial batch
    k1, b1, k2, b2 = (w.astype(np.float64) for w in model.get_weights())
    probs = np_mlp(x, k1, b1, k2, b2)
    predicted = model.predict(x, batch_size=64)
    assert predicted.shape == (200, 3) and predicted.dtype == np.float32
    np.testing.assert_allclose(predicted, probs, **COMPOSED)
    loss, accuracy = model.evaluate(x, y, batch_size=64)
    assert loss == pytest.approx(-np.log(probs[np.arange(200), y]).mean(), rel=1e-4)
    assert accuracy == pytest.approx((probs.argmax(1) == y).mean())
    assert accuracy > 0.8


def test_gradients_reach_every_layer_type():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, (64, 5))
    text = L.Sequential([L.Embedding(20, 8), L.Flatten(), L.LayerNorm(), L.Dense(16, "gelu"), L.Dropout(0.1),
                         L.Dense(3)], seed=0)
    images = L.Sequential([L.Conv2D(4, 3, strides=2, padding="same", activation="tanh"),
                           L.AvgPool2D(2, padding="same"), L.MaxPool2D(1), L.Flatten(), L.Dense(2, "sigmoid")],
                          seed=0)
    for model, x, y in ((text, ids, ids.sum(1) % 3),
                        (images, rng.normal(size=(64, 2, 6, 6)).astype(np.float32), rng.uniform(size=(64, 2)))):
        model.compile(gc.train.Adam(0.01), "sparse_categorical_crossentropy" if model is text else "mse")
        model.build(x.shape[1:], gc.int64 if model is text else None)
        before = model.get_weights()
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        for w, old, new in zip(model.weights, before, model.get_weights()):
            assert not np.allclose(old, new), f"'{w.name}' did not change"
        assert history.history["loss"][-1] < history.history["loss"][0]


def test_every_epoch_reuses_one_compiled_train_program():
    x, y = blobs(n=70)
    model = small_model(dropout=0.2)
    model.compile(gc.train.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)   # 32 + 32 + a partial batch of 6
    programs = len(model.session._cache)
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert len(model.session._cache) == programs


def test_other_losses_and_metrics():
    x, y = blobs(n=60)
    onehot = np.eye(3, dtype=np.float32)[y]
    model = L.Sequential([L.Dense(3)], seed=0)               # logits out
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, onehot, epochs=2, verbose=0)
    (kernel, bias) = (w.astype(np.float64) for w in model.get_weights())
    z = x @ kernel + bias
    log_p = z - z.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    loss, accuracy = model.evaluate(x, onehot)
    assert loss == pytest.approx(-(onehot * log_p).sum(1).mean(), rel=1e-4)
    assert accuracy == pytest.approx((z.argmax(1) == y).mean())

    regression = L.Sequential([L.Dense(1)], seed=0)
    regression.compile(gc.train.SGD(0.01), "mse")
    target = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 1).astype(np.float32)
    history = regression.fit(x, target, epochs=5, batch_size=10, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    kernel, bias = (w.astype(np.float64) for w in regression.get_weights())
    (mse,) = regression.evaluate(x, target)
    assert mse == pytest.approx(((x @ kernel + bias)[:, 0] - target).__pow__(2).mean(), rel=1e-4)

    custom = L.Sequential([L.Dense(1)], seed=0)
    custom.compile("sgd", loss=lambda t, p: gc.abs(t - p), metrics=[lambda t, p: gc.square(t - p)])
    mae, mse = custom.evaluate(x, target[:, None])
    kernel, bias = (w.astype(np.float64) for w in custom.get_weights())
    err = (x @ kernel + bias)[:, 0] - target
    assert mae == pytest.approx(np.abs(err).mean(), rel=1e-4) and mse == pytest.approx((err ** 2).mean(), rel=1e-4)


def test_cross_entropy_needs_logits_or_softmax():
    model = L.Sequential([L.Dense(3, "sigmoid")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="logits"):
        model.fit(*blobs(n=10), verbose=0)
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile("sgd", "hinge")
    with pytest.raises(ValueError, match="unknown optimizer"):
        model.compile("adagrad", "mse")


def test_save_load_round_trip(tmp_path):
    x, y = blobs(n=40)
    model = small_model(seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    path = model.save_weights(tmp_path / "weights")
    assert path.endswith(".npz")
    with np.load(path) as data:
        assert sorted(data.files) == ["dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel"]

    fresh = small_model(seed=5)
    fresh.build((4,))
    assert not np.allclose(fresh.predict(x), model.predict(x))
    fresh.load_weights(tmp_path / "weights.npz")
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


def test_load_errors_name_the_variable(tmp_path):
    model = L.Sequential([L.Dense(8, "relu"), L.Dense(3)], input_shape=(4,))
    path = model.save_weights(tmp_path / "w.npz")
    wider = L.Sequential([L.Dense(9, "relu"), L.Dense(3)], input_shape=(4,))
    with pytest.raises(ValueError, match=r"'dense/kernel' has shape \(4, 9\) in the model but \(4, 8\)"):
        wider.load_weights(path)
    deeper = L.Sequential([L.Dense(8, "relu"), L.Dense(3), L.Dense(3)], input_shape=(4,))
    with pytest.raises(ValueError, match="missing variable.*'dense_2/kernel'"):
        deeper.load_weights(path)
    with pytest.raises(RuntimeError, match="not built"):
        L.Sequential([L.Dense(3)]).load_weights(path)


def test_summary_counts_parameters():
    model = L.Sequential([L.Conv2D(4, 3, padding="same", activation="relu"), L.MaxPool2D(2), L.Flatten(),
                          L.Dropout(0.5), L.Dense(10)], input_shape=(1, 8, 8))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "conv2d (Conv2D)" in text and "(None, 4, 8, 8)" in text and "(None, 64)" in text
    conv, dense = 4 * 1 * 3 * 3 + 4, 64 * 10 + 10
    assert f"Total params: {conv + dense:,}" in text and "Non-trainable params: 0" in text
    assert model.count_params() == conv + dense


def test_progress_output(capsys):
    """Keras's format: "Epoch i/n", then the step counter, bar, time, time per step and logs."""
    x, y = blobs(n=40)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4                    # not a terminal: the header and the finished line per epoch
    assert lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"3/3 \[={30}\] - \d+s \d+(us|ms|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}", lines[3])
    model.fit(x, y, epochs=1, batch_size=16, verbose=2)
    header, line = capsys.readouterr().out.splitlines()
    assert header == "Epoch 1/1"
    assert re.fullmatch(r"3/3 - \d+s - \d+(us|ms|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}", line)

    from graphc.layers.progress import ProgressBar, format_eta, format_per_step

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    bar = ProgressBar(1, 1, 12, stream=term, interval=0)
    bar.update(2, {"loss": 0.5})
    bar.finish({"loss": 0.25})
    text = term.getvalue()
    assert text.startswith("Epoch 1/1\n\r 2/12 [====>.........................] - ETA: 0s - loss: 0.5000")
    assert text.endswith("- loss: 0.2500\n") and text.count("\r") == 2
    assert "12/12 [==============================] - 0s " in text
    assert [format_eta(s) for s in (0, 42.9, 61, 3599, 3661)] == ["0s", "42s", "1:01", "59:59", "1:01:01"]
    assert [format_per_step(s) for s in (2.4, 0.035, 0.00041)] == ["2s/step", "35ms/step", "410us/step"]
