"""Whole-model files: model.save / gc.layers.load_model in this and in a fresh process
(the next training step bit-identical), clear errors for damaged and foreign files,
atomic writes, custom objects, and the training-curve plot."""
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L


def digits_like(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 1, 6, 6)).astype(np.float32), rng.integers(0, 4, n)


def cnn(seed=0, optimizer=None):
    m = L.Sequential([L.Conv2D(4, 3, padding="same", activation="relu"), L.MaxPool2D(2), L.Flatten(),
                      L.Dropout(0.3), L.Dense(16, "gelu"), L.LayerNorm(), L.Dense(4, "softmax")], seed=seed)
    m.compile(optimizer or gc.train.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def state(model):
    """Every Variable of the model's graph by name (weights, slots, counters, learning rate)."""
    variables = [model.graph.tensor(v) for v in model.graph.variables()]
    return dict(zip([v.name for v in variables], model.session.run(variables)))


def test_round_trip_restores_architecture_weights_optimizer_state(tmp_path):
    x, y = digits_like()
    model = cnn()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=0)
    model.learning_rate = 0.004
    path = model.save(tmp_path / "cnn.gcmodel")
    loaded = L.load_model(path)
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert [a.name for a in loaded.layers] == [b.name for b in model.layers]
    assert type(loaded.optimizer) is gc.train.Adam and loaded.optimizer.beta2 == 0.999
    assert loaded.loss == model.loss and loaded.metrics == ["accuracy"]
    original, restored = state(model), state(loaded)
    assert sorted(original) == sorted(restored)
    assert "dense/kernel/Adam/m" in original and "learning_rate" in original and "step" in original
    for name in original:
        np.testing.assert_array_equal(restored[name], original[name], err_msg=name)
    assert loaded.learning_rate == pytest.approx(0.004)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    # and they train on identically (the dropout masks are keyed by the restored step counter)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, seed=5)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0, seed=5)
    assert_same(loaded.get_weights(), model.get_weights())


RESUME = textwrap.dedent("""
    import sys
    import numpy as np
    import graphc as gc
    sys.path.insert(0, {tests!r})
    from test_model_file import digits_like
    model = gc.layers.load_model({path!r})
    x, y = digits_like()
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0, seed=11)
    np.savez({out!r}, loss=history.history["loss"], *model.get_weights())
""")


def test_training_continues_bit_identically_in_a_fresh_process(tmp_path):
    x, y = digits_like()
    model = cnn(optimizer=gc.train.RMSProp(0.01, momentum=0.9))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=0)
    path = model.save(tmp_path / "resume.gcmodel")
    script = RESUME.format(tests=os.path.dirname(__file__), path=str(path), out=str(tmp_path / "next.npz"))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0, seed=11)
    with np.load(tmp_path / "next.npz") as other:
        assert other["loss"].tolist() == history.history["loss"]
        assert_same([other[f"arr_{i}"] for i in range(len(model.weights))], model.get_weights())


def test_uncompiled_and_compile_false(tmp_path):
    x, _ = digits_like(n=5)
    plain = L.Sequential([L.Flatten(), L.Dense(3, "tanh")], input_shape=(1, 6, 6), seed=2)
    loaded = L.load_model(plain.save(tmp_path / "plain.gcmodel"))
    assert loaded.optimizer is None
    np.testing.assert_array_equal(loaded.predict(x), plain.predict(x))
    trained = cnn()
    trained.fit(*digits_like(), epochs=1, verbose=0)
    weights_only = L.load_model(trained.save(tmp_path / "t.gcmodel"), compile=False)
    assert weights_only.optimizer is None
    np.testing.assert_array_equal(weights_only.predict(x), trained.predict(x))


def my_loss(y_true, y_pred):
    return gc.abs(y_pred - y_true)


def mean_error(y_true, y_pred):
    return y_pred - y_true


def swish(z):
    return z * gc.sigmoid(z)


def test_custom_objects(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    target = x.sum(1, keepdims=True)
    model = L.Sequential([L.Dense(5, activation=swish), L.Dense(1)], seed=0)
    model.compile("sgd", my_loss, metrics=[mean_error])
    model.fit(x, target, epochs=2, batch_size=8, verbose=0)
    path = model.save(tmp_path / "custom.gcmodel")
    with pytest.raises(gc.GraphcError, match=r"custom activation 'swish'.*custom_objects"):
        L.load_model(path)
    with pytest.raises(gc.GraphcError, match=r"custom loss 'my_loss'"):
        L.load_model(path, custom_objects={"swish": swish})
    loaded = L.load_model(path, custom_objects={"swish": swish, "my_loss": my_loss, "mean_error": mean_error})
    assert loaded.evaluate(x, target) == model.evaluate(x, target)
    lam = L.Sequential([L.Dense(2, activation=lambda z: z)], input_shape=(3,))
    with pytest.raises(ValueError, match="lambda activation cannot be saved"):
        lam.save(tmp_path / "lambda.gcmodel")


def saved_model(tmp_path):
    model = L.Sequential([L.Dense(3)], input_shape=(2,), seed=0)
    model.compile("adam", "mse")
    model.fit(np.ones((4, 2), np.float32), np.zeros((4, 3), np.float32), epochs=1, verbose=0)
    return model, model.save(tmp_path / "m.gcmodel")


def rewrite(path, config=None, drop=None, variables=None):
    """Copy the archive at ``path`` with its config changed, a member dropped or replaced."""
    with zipfile.ZipFile(path) as src:
        members = {name: src.read(name) for name in src.namelist()}
    if config is not None:
        members["graphc_model.json"] = json.dumps(config(json.loads(members["graphc_model.json"])))
    if variables is not None:
        members["variables.npz"] = variables
    members.pop(drop, None)
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)


def test_damaged_and_foreign_files_are_clear_errors(tmp_path):
    _, path = saved_model(tmp_path)
    good = open(path, "rb").read()
    with pytest.raises(gc.GraphcError, match="no such model file"):
        L.load_model(tmp_path / "absent.gcmodel")
    open(path, "wb").write(good[: len(good) // 2])                                  # truncated
    with pytest.raises(gc.GraphcError, match="not a graphc model file, or a damaged one"):
        L.load_model(path)
    flipped = bytearray(good)
    start = good.index(b"variables.npz") + 200                                       # inside the deflated weights
    flipped[start:start + 8] = bytes(b ^ 0xFF for b in flipped[start:start + 8])
    open(path, "wb").write(bytes(flipped))
    with pytest.raises(gc.GraphcError, match="damaged"):
        L.load_model(path)
    open(path, "wb").write(b"hello, not a zip")
    with pytest.raises(gc.GraphcError, match="damaged"):
        L.load_model(path)
    for change, message in [
        (lambda c: {**c, "version": 2, "graphc": "9.9.0"},
         r"format version 2 by graphc 9\.9\.0; this graphc \(0\.1\.0\) reads version 1"),
        (lambda c: {**c, "format": "keras"}, "not a graphc model file"),
    ]:
        open(path, "wb").write(good)
        rewrite(path, config=change)
        with pytest.raises(gc.GraphcError, match=message):
            L.load_model(path)
    open(path, "wb").write(good)
    rewrite(path, drop="variables.npz")
    with pytest.raises(gc.GraphcError, match="damaged.*variables.npz"):
        L.load_model(path)
    # a file whose variables do not match its architecture names what differs
    import io
    buffer = io.BytesIO()
    np.savez(buffer, **{"dense/kernel": np.zeros((2, 4), np.float32), "dense/bias": np.zeros(3, np.float32)})
    open(path, "wb").write(good)
    rewrite(path, variables=buffer.getvalue())
    with pytest.raises(gc.GraphcError, match=r"'dense/kernel' has shape \(2, 3\) in the model but \(2, 4\) in the file"):
        L.load_model(path)


def test_a_failed_save_leaves_the_previous_file(tmp_path, monkeypatch):
    model, path = saved_model(tmp_path)
    before = open(path, "rb").read()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["m.gcmodel"]   # no temporary file left behind
    L.load_model(path)
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError):
        model.save_weights(tmp_path / "w.npz")
    assert sorted(os.listdir(tmp_path)) == ["m.gcmodel"]


def test_plot_history(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype(np.float32), rng.integers(0, 3, 40)
    model = L.Sequential([L.Dense(3)], seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, verbose=0, validation_split=0.25)
    fig = history.plot(tmp_path / "curves.png")
    assert open(tmp_path / "curves.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "loss" and acc_ax.get_title() == "accuracy"
    (train, val) = loss_ax.lines
    assert list(train.get_xdata()) == [1, 2, 3, 4]
    np.testing.assert_array_equal(train.get_ydata(), history.history["loss"])
    np.testing.assert_array_equal(val.get_ydata(), history.history["val_loss"])
    one = L.plot_history(history.history, tmp_path / "loss.svg", metrics=["loss"])
    assert len(one.axes) == 1 and (tmp_path / "loss.svg").stat().st_size > 0
    with pytest.raises(ValueError, match="no curve"):
        L.plot_history(history, metrics=["auc"])
