"""TF1 programs, written as TF1 wrote them (tests/tf1_programs.py), run unchanged through
graphc.compat.v1: they train, share variables, checkpoint across processes and write
summaries. Where TensorFlow is installed, the same programs from the same initial values
give the same losses under TensorFlow."""
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc.compat.v1 as gtf
import tf1_programs as programs

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = programs.digits()


@pytest.fixture(scope="module")
def real_tf():
    """tensorflow.compat.v1 in graph mode, or skip (CI has no TensorFlow)."""
    tf = pytest.importorskip("tensorflow.compat.v1")
    tf.disable_v2_behavior()
    return tf


def test_softmax_regression_learns():
    losses, accuracy, _ = programs.softmax_regression(gtf, *DATA, steps=60)
    assert losses[0] == pytest.approx(np.log(10), rel=1e-6)   # zero weights: the uniform distribution
    assert losses[-10:].mean() < 0.6 * losses[:10].mean()
    assert accuracy > 0.85


def test_softmax_regression_first_step_matches_numpy():
    """One GradientDescent step of the program, against its float64 numpy derivation."""
    images, labels = DATA
    losses, _, weights = programs.softmax_regression(gtf, images, labels, steps=1, batch=64, lr=0.5)
    x, y = images[:64].astype(np.float64), programs.one_hot(labels[:64]).astype(np.float64)
    grad_logits = (np.full((64, 10), 0.1) - y) / 64          # softmax of zero logits is uniform
    np.testing.assert_allclose(weights, -0.5 * x.T @ grad_logits, rtol=1e-5, atol=1e-7)


def test_deep_cnn_with_dropout_learns():
    losses, accuracy, _ = programs.deep_cnn(gtf, *DATA, programs.cnn_initial_values(), steps=150, keep=0.5, lr=1e-2)
    assert np.isfinite(losses).all()
    assert losses[-20:].mean() < 0.7 * losses[:20].mean()
    assert accuracy > 0.6


def test_two_towers_share_one_set_of_variables():
    rng = np.random.default_rng(1)
    kernel, bias = rng.normal(0, 0.1, (64, 10)).astype(np.float32), np.zeros(10, np.float32)
    losses, names = programs.two_towers(gtf, *DATA, kernel, bias, steps=10)
    assert names == ["model/b", "model/w"]
    assert losses[-1] < losses[0]


def test_saver_round_trip_across_processes_continues_bit_identically(tmp_path):
    """6 steps, a checkpoint, then 6 more in another process (dropout included: its run
    counter is one of the checkpoint's variables) equal 12 steps in one go."""
    init = programs.cnn_initial_values()
    whole_losses, _, whole = programs.deep_cnn(gtf, *DATA, init, steps=12, keep=0.5)
    script = (f"import sys, json, numpy as np; sys.path.insert(0, {HERE!r}); "
              "import graphc.compat.v1 as tf, tf1_programs as p; "
              "first, restore, save, out = sys.argv[1:]; "
              "losses, _, w = p.deep_cnn(tf, *p.digits(), p.cnn_initial_values(), steps=6, keep=0.5, "
              "first_step=int(first), restore=restore or None, save=save); "
              "np.savez(out, losses=losses, **w)")
    ckpt = str(tmp_path / "model.ckpt")
    for first, restore, out in ((0, "", "a.npz"), (6, ckpt, "b.npz")):
        subprocess.run([sys.executable, "-c", script, str(first), restore, ckpt, str(tmp_path / out)], check=True)
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(np.concatenate([a["losses"], b["losses"]]), whole_losses)
    for name, value in whole.items():
        np.testing.assert_array_equal(b[name], value)
    assert gtf.train.latest_checkpoint(str(tmp_path)) == ckpt


def test_summaries_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    losses, _, _ = programs.deep_cnn(gtf, *DATA, programs.cnn_initial_values(), steps=5, keep=1.0,
                                     logdir=str(tmp_path))
    events = EventAccumulator(str(tmp_path), size_guidance={"histograms": 0, "scalars": 0})
    events.Reload()
    scalars = events.Scalars("cross_entropy")
    assert [s.step for s in scalars] == list(range(5))
    np.testing.assert_allclose([s.value for s in scalars], losses, rtol=1e-6)
    assert len(events.Histograms("W_fc2")) == 5
    assert events.Graph() is not None


# -- TF1's optimizer formulas, against numpy in float64 ------------------------------------------------------
def _problem():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(32, 5)).astype(np.float32), rng.normal(size=(32, 1)).astype(np.float32),
            rng.normal(size=(5, 1)).astype(np.float32))


def _numpy_steps(update, state, steps=8):
    x, y, w = (a.astype(np.float64) for a in _problem())
    losses = []
    for t in range(1, steps + 1):
        residual = x @ w - y
        losses.append(np.mean(residual ** 2))
        w = update(w, 2 * x.T @ residual / len(x), state, t)
    losses.append(np.mean((x @ w - y) ** 2))
    return np.array(losses)


def _momentum(lr, mu, nesterov=False):
    def update(w, g, s, t):
        s["a"] = mu * s.get("a", 0) + g
        return w - lr * (g + mu * s["a"] if nesterov else s["a"])
    return update


def _adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    def update(w, g, s, t):
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        return w - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * s["m"] / (np.sqrt(s["v"]) + eps)
    return update


def _rmsprop(lr, decay=0.9, mu=0.0, eps=1e-10, centered=False):
    def update(w, g, s, t):
        s["ms"] = decay * s.get("ms", 1.0) + (1 - decay) * g * g      # TF1 starts the mean square at 1
        s["mg"] = decay * s.get("mg", 0) + (1 - decay) * g
        denom = s["ms"] - s["mg"] ** 2 if centered else s["ms"]
        s["mom"] = mu * s.get("mom", 0) + lr * g / np.sqrt(denom + eps)
        return w - s["mom"]
    return update


def _adagrad(lr, start=0.1):
    def update(w, g, s, t):
        s["acc"] = s.get("acc", start) + g * g
        return w - lr * g / np.sqrt(s["acc"])
    return update


OPTIMIZERS = {
    "gradient_descent": (lambda tf: tf.train.GradientDescentOptimizer(0.1), _momentum(0.1, 0.0)),
    "momentum": (lambda tf: tf.train.MomentumOptimizer(0.05, 0.9), _momentum(0.05, 0.9)),
    "nesterov": (lambda tf: tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True), _momentum(0.05, 0.9, True)),
    "adam": (lambda tf: tf.train.AdamOptimizer(0.1), _adam(0.1)),
    "rmsprop": (lambda tf: tf.train.RMSPropOptimizer(0.05), _rmsprop(0.05)),
    "rmsprop_centered_momentum": (lambda tf: tf.train.RMSPropOptimizer(0.05, momentum=0.5, centered=True),
                                  _rmsprop(0.05, mu=0.5, centered=True)),
    "adagrad": (lambda tf: tf.train.AdagradOptimizer(0.3), _adagrad(0.3)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_follows_tf1_formula(name):
    make, update = OPTIMIZERS[name]
    got = programs.optimizer_steps(gtf, make, *_problem())
    np.testing.assert_allclose(got, _numpy_steps(update, {}), rtol=2e-5)


# -- the same programs under TensorFlow ------------------------------------------------------------------------
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_matches_tensorflow(real_tf, name):
    make, _ = OPTIMIZERS[name]
    np.testing.assert_allclose(programs.optimizer_steps(gtf, make, *_problem()),
                               programs.optimizer_steps(real_tf, make, *_problem()), rtol=1e-5)


def test_softmax_regression_matches_tensorflow(real_tf):
    ours, acc, w = programs.softmax_regression(gtf, *DATA)
    theirs, tf_acc, tf_w = programs.softmax_regression(real_tf, *DATA)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    np.testing.assert_allclose(w, tf_w, rtol=1e-4, atol=1e-6)
    assert acc == tf_acc


def test_deep_cnn_matches_tensorflow(real_tf):
    """Without dropout (the two frameworks draw different masks) the CNN's losses agree."""
    init = programs.cnn_initial_values()
    ours, _, w = programs.deep_cnn(gtf, *DATA, init, steps=12, keep=1.0)
    theirs, _, tf_w = programs.deep_cnn(real_tf, *DATA, init, steps=12, keep=1.0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    for name in w:
        np.testing.assert_allclose(w[name], tf_w[name], rtol=1e-3, atol=1e-5)


def test_two_towers_match_tensorflow(real_tf):
    rng = np.random.default_rng(1)
    kernel, bias = rng.normal(0, 0.1, (64, 10)).astype(np.float32), np.zeros(10, np.float32)
    ours, names = programs.two_towers(gtf, *DATA, kernel, bias)
    theirs, tf_names = programs.two_towers(real_tf, *DATA, kernel, bias)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert names == tf_names


def test_nhwc_ops_match_tensorflow(real_tf):
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(2, 9, 7, 3)).astype(np.float32), rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    dw = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)

    def build(tf):
        tf.reset_default_graph()
        out = [tf.nn.conv2d(x, w, [1, 2, 1, 1], "SAME"), tf.nn.conv2d(x, w, [1, 1, 1, 1], "VALID",
                                                                      dilations=[1, 2, 2, 1]),
               tf.nn.depthwise_conv2d(x, dw, [1, 1, 1, 1], "SAME"),
               tf.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME"), tf.nn.avg_pool(x, [1, 3, 2, 1], [1, 2, 2, 1], "SAME"),
               tf.nn.bias_add(x, w[0, 0, 0, :3])]
        with tf.Session() as sess:
            return sess.run(out)
    for ours, theirs in zip(build(gtf), build(real_tf)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_layers_and_losses_program_trains():
    losses, names = programs.layers_cnn(gtf, *DATA, programs.layers_initial_values(), steps=30)
    assert names == ["conv2d/bias", "conv2d/kernel", "dense/bias", "dense/kernel", "logits/bias", "logits/kernel"]
    assert losses[-5:].mean() < losses[:5].mean()


def test_layers_and_losses_program_matches_tensorflow(real_tf):
    init = programs.layers_initial_values()
    ours, names = programs.layers_cnn(gtf, *DATA, init)
    try:
        theirs, tf_names = programs.layers_cnn(real_tf, *DATA, init)
    except AttributeError as e:   # TF 2.16+ with Keras 3: tf.compat.v1.layers needs tf_keras
        pytest.skip(f"this TensorFlow has no tf.compat.v1.layers ({e}); install tf_keras, TF_USE_LEGACY_KERAS=1")
    assert names == tf_names
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
