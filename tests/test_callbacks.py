"""Keras callbacks and fit's arguments: each callback's behaviour as Keras 3 documents it
(when training stops, which weights come back, which checkpoints are written, when the
learning rate drops), and sample/class weights against a float64 numpy step."""
import csv
import math

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.layers import callbacks as C


def blobs(n=64, classes=3, features=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.normal(size=(n, features))).astype(np.float32), y


def model(optimizer="sgd", seed=0, dropout=0.0, metrics=("accuracy",)):
    m = L.Sequential([L.Dense(8, "relu"), L.Dropout(dropout), L.Dense(3)], seed=seed, input_shape=(4,))
    m.compile(optimizer, "sparse_categorical_crossentropy", metrics=list(metrics))
    return m


class Scripted(C.Callback):
    """Overwrites ``logs[key]`` at each epoch's end with the next scripted value (placed
    before the callback under test, which then sees these values) and records the
    weights after every epoch."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values, self.weights = key, list(values), []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def run_scripted(values, callback, key="val_loss", epochs=None):
    x, y = blobs()
    m = model()
    script = Scripted(key, values)
    history = m.fit(x, y, epochs=epochs or len(values), batch_size=16, verbose=0, shuffle=False,
                    callbacks=[script, callback])
    return m, script, history


# -- EarlyStopping -------------------------------------------------------------------------
@pytest.mark.parametrize("values, kwargs, stopped", [
    ([1.0, 0.9, 0.95, 0.96, 0.97, 0.5], dict(patience=2), 3),          # two epochs without improvement
    ([1.0, 0.9, 0.95, 0.96, 0.97, 0.5], dict(patience=0), 2),          # patience 0: the first miss
    ([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], dict(patience=1), 0),             # always improving: never stops
    ([1.0, 0.995, 0.99, 0.985, 0.98], dict(patience=1, min_delta=0.01), 1),   # improvements below min_delta
    ([0.9, 0.95, 0.96, 0.97], dict(patience=2, baseline=0.5), 1),      # never beats the baseline
    ([1.0, 1.1, 1.2, 1.3, 1.4, 1.5], dict(patience=1, start_from_epoch=3), 4),   # epochs 0-2 not watched
])
def test_early_stopping_epoch(values, kwargs, stopped):
    stop = C.EarlyStopping(**kwargs)
    _, _, history = run_scripted(values, stop)
    assert stop.stopped_epoch == stopped
    assert history.epoch == list(range(stopped + 1 if stopped else len(values)))


def test_early_stopping_mode_auto_maximizes_accuracy():
    stop = C.EarlyStopping(monitor="val_accuracy", patience=1)
    _, _, history = run_scripted([0.5, 0.6, 0.55, 0.7], stop, key="val_accuracy")
    assert stop.stopped_epoch == 2 and len(history.epoch) == 3
    stop = C.EarlyStopping(monitor="val_accuracy", patience=1, mode="min")
    run_scripted([0.5, 0.6, 0.55, 0.7], stop, key="val_accuracy")
    assert stop.stopped_epoch == 1
    with pytest.raises(ValueError, match="mode"):
        C.EarlyStopping(mode="lowest")


def test_early_stopping_restores_the_best_epochs_weights():
    stop = C.EarlyStopping(patience=2, restore_best_weights=True)
    m, script, _ = run_scripted([1.0, 0.7, 0.9, 0.95, 0.5], stop)
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1
    for restored, best, last in zip(m.get_weights(), script.weights[1], script.weights[3]):
        np.testing.assert_array_equal(restored, best)
        assert not np.array_equal(best, last)
    # training that ends without stopping early gets its best weights back too (Keras 3)
    stop = C.EarlyStopping(patience=5, restore_best_weights=True)
    m, script, _ = run_scripted([1.0, 0.6, 0.9], stop)
    assert stop.stopped_epoch == 0
    for restored, best in zip(m.get_weights(), script.weights[1]):
        np.testing.assert_array_equal(restored, best)


def test_early_stopping_on_a_real_plateau():
    """A model that cannot improve (learning rate 0) stops after ``patience`` epochs."""
    x, y = blobs()
    m = model(gc.train.SGD(0.0))
    stop = C.EarlyStopping(monitor="loss", patience=2)
    history = m.fit(x, y, epochs=20, batch_size=16, verbose=0, shuffle=False, callbacks=[stop])
    assert stop.stopped_epoch == 2 and len(history.history["loss"]) == 3


# -- ModelCheckpoint ---------------------------------------------------------------------------
def test_checkpoint_written_only_on_improvement(tmp_path):
    ckpt = C.ModelCheckpoint(str(tmp_path / "w-{epoch:02d}-{val_loss:.2f}.npz"), save_best_only=True,
                             save_weights_only=True)
    m, script, _ = run_scripted([1.0, 1.2, 0.8, 0.9, 0.8], ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w-01-1.00.npz", "w-03-0.80.npz"]
    fresh = model(seed=9)
    fresh.load_weights(tmp_path / "w-03-0.80.npz")
    for loaded, saved in zip(fresh.get_weights(), script.weights[2]):
        np.testing.assert_array_equal(loaded, saved)


def test_checkpoint_every_epoch_as_model_files_and_every_n_batches(tmp_path):
    ckpt = C.ModelCheckpoint(tmp_path / "m-{epoch}.gcmodel")
    m, script, _ = run_scripted([1.0, 1.2, 0.8], ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-1.gcmodel", "m-2.gcmodel", "m-3.gcmodel"]
    loaded = L.load_model(tmp_path / "m-2.gcmodel")
    for a, b in zip(loaded.get_weights(), script.weights[1]):
        np.testing.assert_array_equal(a, b)
    # save_freq=N: after every N batches (4 batches per epoch, 2 epochs -> batches 3 and 6 -> epochs 1, 2)
    x, y = blobs()
    saved = []
    every = C.ModelCheckpoint(tmp_path / "b-{epoch}.npz", save_weights_only=True, save_freq=3)
    count = C.LambdaCallback(on_batch_end=lambda batch, logs: saved.append(len(list(tmp_path.glob("b-*")))))
    model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[every, count])
    assert saved == [0, 0, 1, 1, 1, 2, 2, 2]
    assert sorted(p.name for p in tmp_path.glob("b-*")) == ["b-1.npz", "b-2.npz"]
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint("x", save_freq=0)


def test_checkpoint_best_only_with_threshold_and_missing_monitor(tmp_path, capsys):
    ckpt = C.ModelCheckpoint(tmp_path / "best.npz", save_best_only=True, save_weights_only=True,
                             initial_value_threshold=0.85)
    run_scripted([1.0, 0.9, 0.86], ckpt)
    assert not (tmp_path / "best.npz").exists()
    ckpt = C.ModelCheckpoint(tmp_path / "best.npz", monitor="val_auc", save_best_only=True, save_weights_only=True)
    run_scripted([1.0, 0.9], ckpt)
    assert not (tmp_path / "best.npz").exists()
    assert "'val_auc' is not in the logs" in capsys.readouterr().err


# -- ReduceLROnPlateau ---------------------------------------------------------------------------
def test_reduce_lr_on_plateau_schedule():
    """Keras's rule with patience 2 and cooldown 1 on a flat curve: reduce at epochs 2, 4 and
    6 (the cooldown epoch after each does not count), never below min_lr, then no more.
    The logs show the rate each epoch trained with."""
    reduce = C.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.002)
    m, _, history = run_scripted([1.0] * 10, reduce)
    expected = [0.01] * 3 + [0.005] * 2 + [0.0025] * 2 + [0.002] * 3
    np.testing.assert_allclose(history.history["learning_rate"], np.float32(expected), rtol=1e-7)
    assert m.learning_rate == pytest.approx(0.002)
    with pytest.raises(ValueError, match="factor"):
        C.ReduceLROnPlateau(factor=1.0)


def test_learning_rate_is_a_variable_changed_without_recompiling():
    x, y = blobs(n=16)
    a, b = model(), model()
    a.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    b.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    programs = len(b.session._cache)
    b.learning_rate = 0.005
    start = [w.astype(np.float64) for w in a.get_weights()]
    a.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    b.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    assert len(b.session._cache) == programs + 1   # + the learning rate's own read, not a train program
    for w0, wa, wb in zip(start, a.get_weights(), b.get_weights()):
        # SGD: half the step, up to the float32 rounding of weights below 1 (ulp 1.2e-7)
        np.testing.assert_allclose(wb - w0, 0.5 * (wa - w0), rtol=1e-4, atol=1.2e-7)
    schedule = L.Sequential([L.Dense(3)], input_shape=(4,))
    lr = gc.placeholder(gc.float32, (), name="lr")
    schedule.compile(gc.train.SGD(lr), "mse")
    with pytest.raises(gc.GraphcError, match="'lr'.*cannot be read or set"):
        schedule.learning_rate = 0.1


# -- CSVLogger, LambdaCallback, TerminateOnNaN, the hook order ------------------------------------
def test_csv_logger(tmp_path):
    x, y = blobs()
    path = tmp_path / "log.csv"
    m = model()
    h = m.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.25, callbacks=[C.CSVLogger(path)])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    for r, i in zip(rows[1:], range(3)):
        assert [float(v) for v in r[1:]] == [h.history[k][i] for k in rows[0][1:]]
    m.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[C.CSVLogger(path, append=True, separator=",")])
    rows = list(csv.reader(open(path)))
    assert len(rows) == 6 and rows.count(rows[0]) == 1   # one header, 3 + 2 rows


def test_hooks_run_in_keras_order_with_params():
    x, y = blobs(n=40)
    calls = []

    class Recorder(C.Callback):
        def on_train_begin(self, logs=None):
            calls.append(("train_begin", self.params["epochs"], self.params["steps"]))

        def on_test_begin(self, logs=None):
            calls.append("test_begin")

    lam = C.LambdaCallback(on_epoch_begin=lambda e, logs: calls.append(("epoch_begin", e)),
                           on_epoch_end=lambda e, logs: calls.append(("epoch_end", e, sorted(logs))),
                           on_batch_begin=lambda b, logs: calls.append(("batch_begin", b)),
                           on_batch_end=lambda b, logs: calls.append(("batch_end", b, sorted(logs))),
                           on_train_end=lambda logs: calls.append(("train_end", sorted(logs))))
    model().fit(x, y, epochs=2, batch_size=16, verbose=0, validation_data=(x, y), callbacks=[Recorder(), lam])
    batch = [("batch_begin", 0), ("batch_end", 0, ["accuracy", "loss"]), ("batch_begin", 1),
             ("batch_end", 1, ["accuracy", "loss"]), ("batch_begin", 2), ("batch_end", 2, ["accuracy", "loss"])]
    epoch_end = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert calls == [("train_begin", 2, 3), ("epoch_begin", 0), *batch, "test_begin", ("epoch_end", 0, epoch_end),
                     ("epoch_begin", 1), *batch, "test_begin", ("epoch_end", 1, epoch_end), ("train_end", epoch_end)]
    with pytest.raises(TypeError, match="unknown hook"):
        C.LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match="Callback instances"):
        model().fit(x, y, verbose=0, callbacks=[print])


def test_batch_logs_are_running_means_of_the_epoch():
    x, y = blobs(n=40)
    seen = []
    m = model()
    h = m.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False,
              callbacks=[C.LambdaCallback(on_batch_end=lambda b, logs: seen.append(dict(logs)))])
    assert seen[-1] == {k: v[0] for k, v in h.history.items()}
    assert len(seen) == 3 and seen[0] != seen[1]


def test_terminate_on_nan_stops_after_the_bad_batch(capsys):
    x, y = blobs(n=64)
    x[40] = np.nan   # batch 2 of 16
    batches = []
    m = model()
    h = m.fit(x, y, epochs=5, batch_size=16, verbose=0, shuffle=False,
              callbacks=[C.TerminateOnNaN(), C.LambdaCallback(on_batch_end=lambda b, logs: batches.append(b))])
    assert batches == [0, 1, 2] and h.epoch == [0] and math.isnan(h.history["loss"][0])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


def test_stop_training_from_a_callback_ends_after_that_batch():
    x, y = blobs(n=64)

    class StopAt(C.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    steps = []
    h = model().fit(x, y, epochs=3, batch_size=16, verbose=0,
                    callbacks=[StopAt(), C.LambdaCallback(on_batch_end=lambda b, logs: steps.append(b))])
    assert steps == [0, 1] and h.epoch == [0]


# -- fit's data arguments -------------------------------------------------------------------------
def test_validation_split_takes_the_last_examples_before_shuffling():
    x, y = blobs(n=40)
    a, b = model(), model()
    h = a.fit(x, y, epochs=1, batch_size=30, verbose=0, validation_split=0.25, shuffle=False)
    b.fit(x[:30], y[:30], epochs=1, batch_size=30, verbose=0, shuffle=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert h.history["val_loss"][0] == pytest.approx(a.evaluate(x[30:], y[30:])[0], rel=1e-6)
    with pytest.raises(ValueError, match="no validation examples"):
        model().fit(x[:2], y[:2], verbose=0, validation_split=0.1)
    with pytest.raises(ValueError, match="validation_split"):
        model().fit(x, y, verbose=0, validation_split=1.5)


def np_sgd_step(x, y, sample_weight, kernel, bias, lr):
    """One SGD step of softmax regression on sum(loss_i * w_i) / n, in float64."""
    z = x.astype(np.float64) @ kernel + bias
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    w = sample_weight / len(x)
    loss = float(np.sum(-np.log(p[np.arange(len(x)), y]) * w))
    g = (p - np.eye(3)[y]) * w[:, None]
    return kernel - lr * (x.T @ g), bias - lr * g.sum(0), loss


@pytest.mark.parametrize("n, batch", [(20, 20), (23, 20)])   # one full batch; a full and a partial one
def test_sample_weights_against_numpy(n, batch):
    x, y = blobs(n=n)
    sw = np.random.default_rng(1).uniform(0, 3, n).astype(np.float32)
    sw[3] = 0.0
    m = L.Sequential([L.Dense(3)], input_shape=(4,), seed=0)
    m.compile(gc.train.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    kernel, bias = [w.astype(np.float64) for w in m.get_weights()]
    h = m.fit(x, y, epochs=1, batch_size=batch, verbose=0, shuffle=False, sample_weight=sw)
    losses, hits, weights = [], [], []
    for s in range(0, n, batch):
        xb, yb, wb = x[s:s + batch], y[s:s + batch], sw[s:s + batch].astype(np.float64)
        z = xb @ kernel + bias
        hits.append(float(np.sum((z.argmax(1) == yb) * wb)))
        weights.append(wb.sum())
        kernel, bias, loss = np_sgd_step(xb, yb, wb, kernel, bias, 0.1)
        losses.append(loss * len(xb))
    got_kernel, got_bias = m.get_weights()
    np.testing.assert_allclose(got_kernel, kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_bias, bias, rtol=1e-5, atol=1e-6)
    assert h.history["loss"][0] == pytest.approx(sum(losses) / n, rel=1e-5)
    assert h.history["accuracy"][0] == pytest.approx(sum(hits) / sum(weights), rel=1e-5)


def test_class_weight_is_sample_weight_by_label():
    x, y = blobs(n=40)
    a, b = model(), model()
    a.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=3, class_weight={0: 0.5, 2: 4.0})
    b.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=3,
          sample_weight=np.array([{0: 0.5, 1: 1.0, 2: 4.0}[c] for c in y]))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(ValueError, match="not both"):
        model().fit(x, y, verbose=0, class_weight={0: 1.0}, sample_weight=np.ones(40))
    with pytest.raises(ValueError, match="one value per example"):
        model().fit(x, y, verbose=0, sample_weight=np.ones(39))
    with pytest.raises(ValueError, match="non-negative"):
        model().fit(x, y, verbose=0, sample_weight=-np.ones(40))


def test_evaluate_sample_weight_and_return_dict():
    x, y = blobs(n=30)
    m = model()
    sw = np.random.default_rng(2).uniform(0.5, 2, 30)
    out = m.evaluate(x, y, batch_size=8, sample_weight=sw, return_dict=True)
    p = m.predict(x).astype(np.float64)
    p = np.exp(p - p.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    per_example = -np.log(p[np.arange(30), y])
    batch_losses = [np.sum(per_example[s:s + 8] * sw[s:s + 8]) for s in range(0, 30, 8)]   # sum / n per batch, x n
    assert out["loss"] == pytest.approx(sum(batch_losses) / 30, rel=1e-5)
    assert out["accuracy"] == pytest.approx(np.sum((p.argmax(1) == y) * sw) / sw.sum(), rel=1e-5)


def test_initial_epoch_continues_the_count(capsys):
    x, y = blobs(n=32)
    h = model().fit(x, y, epochs=5, initial_epoch=3, batch_size=16, verbose=1)
    assert h.epoch == [3, 4]
    out = capsys.readouterr().out
    assert "Epoch 4/5" in out and "Epoch 5/5" in out and "Epoch 3/5" not in out
