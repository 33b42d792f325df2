"""Train digit classifiers on scikit-learn's bundled 8x8 digits (1797 images, no download).

Three ways to train with graphc:
  1. an MLP with the Keras-style API (gc.layers.Sequential: compile / fit / evaluate),
  2. a small CNN with the same API (NCHW inputs, 1x8x8),
  3. the plain TF1-style loop: placeholders, layers, an optimizer's train op and
     ``sess.run([train_op, loss], feed_dict=...)``.

The MLP trains with Keras's callbacks: EarlyStopping on a validation split (best weights
restored), ModelCheckpoint (the best model, reloaded with gc.layers.load_model) and
TensorBoard (``tensorboard --logdir runs/train_digits/tensorboard``); its training curves
go to ``runs/train_digits/mlp_history.png``.

Needs scikit-learn, and for the logs and the plot tensorboard and matplotlib
(``pip install -e '.[examples]'``). Run: python examples/train_digits.py [--out DIR]
"""
import argparse
import importlib.util
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphc as gc

L = gc.layers


def load_data():
    """A fixed, stratified 75/25 split; pixels scaled from 0..16 to 0..1."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return train_test_split(x, digits.target, test_size=0.25, random_state=0, stratify=digits.target)


def have(package):
    return importlib.util.find_spec(package) is not None


def train_mlp(x_train, y_train, x_test, y_test, out):
    # standardize each pixel with the training set's statistics (+0.1: constant border pixels)
    mu, sd = x_train.mean(0), x_train.std(0) + 0.1
    model = L.Sequential([
        L.Dense(128, activation="relu"),
        L.Dropout(0.2),
        L.Dense(10, activation="softmax"),   # the loss uses the pre-softmax logits
    ], seed=0)
    model.compile(gc.train.Adam(0.002), "sparse_categorical_crossentropy", metrics=["accuracy"])
    best_path = os.path.join(out, "mlp-best.gcmodel")
    callbacks = [L.EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True, verbose=1),
                 L.ModelCheckpoint(best_path, monitor="val_accuracy", save_best_only=True)]
    if have("tensorboard"):
        callbacks.append(L.TensorBoard(os.path.join(out, "tensorboard"), histogram_freq=5))
    else:
        print("(tensorboard is not installed: no TensorBoard logs; pip install 'graphc[tensorboard]')")
    start = time.perf_counter()
    history = model.fit((x_train - mu) / sd, y_train, epochs=60, batch_size=32, verbose=2, seed=0,
                        validation_split=0.2, callbacks=callbacks)
    seconds = time.perf_counter() - start
    model.summary()
    if have("matplotlib"):
        history.plot(os.path.join(out, "mlp_history.png"))
        print(f"training curves: {os.path.join(out, 'mlp_history.png')}")
    best = L.load_model(best_path)   # the checkpoint of the best validation accuracy, rebuilt without this code
    print(f"best checkpoint {best_path}: test accuracy {best.evaluate((x_test - mu) / sd, y_test)[1]:.4f}")
    return model.evaluate((x_test - mu) / sd, y_test)[1], seconds


def train_cnn(x_train, y_train, x_test, y_test, out):
    model = L.Sequential([
        L.Conv2D(16, 3, padding="same", activation="relu"),   # (N, 16, 8, 8)
        L.MaxPool2D(2),                                         # (N, 16, 4, 4)
        L.Conv2D(32, 3, padding="same", activation="relu"),   # (N, 32, 4, 4)
        L.MaxPool2D(2),                                         # (N, 32, 2, 2)
        L.Flatten(),
        L.Dense(64, activation="relu"),
        L.Dense(10),                                            # logits
    ], seed=0)
    model.compile(gc.train.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    images = lambda x: x.reshape(-1, 1, 8, 8)   # noqa: E731  (NCHW)
    start = time.perf_counter()
    model.fit(images(x_train), y_train, epochs=15, batch_size=32, verbose=1, seed=0,
              validation_data=(images(x_test), y_test))
    seconds = time.perf_counter() - start
    model.summary()
    return model.evaluate(images(x_test), y_test)[1], seconds


def train_tf1_style(x_train, y_train, x_test, y_test, out, epochs=40, batch_size=32):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float32, (None, 64), name="x")
        y = gc.placeholder(gc.int64, (None,), name="y")
        hidden = L.Dense(64, activation="tanh", seed=1)(x)
        logits = L.Dense(10, seed=1)(hidden)
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits, y))
        train_op = gc.train.SGD(0.1, momentum=0.9).minimize(loss)
        predictions = gc.argmax(logits, axis=-1)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with gc.Session(graph) as sess:
        for epoch in range(epochs):
            order = rng.permutation(len(x_train))
            for i in range(0, len(order), batch_size):   # batch dim None: the last, smaller batch works too
                idx = order[i:i + batch_size]
                _, batch_loss = sess.run([train_op, loss], feed_dict={x: x_train[idx], y: y_train[idx]})
            if (epoch + 1) % 10 == 0:
                print(f"TF1-style epoch {epoch + 1}/{epochs} - last batch loss: {float(batch_loss):.4f}")
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(sess.run(predictions, {x: x_test}) == y_test))
    return accuracy, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("runs", "train_digits"),
                        help="where checkpoints, TensorBoard logs and the plot go (default: %(default)s)")
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    x_train, x_test, y_train, y_test = load_data()
    print(f"digits: {len(x_train)} training and {len(x_test)} test images")
    results = {}
    for name, train in (("MLP", train_mlp), ("CNN", train_cnn), ("TF1-style", train_tf1_style)):
        print(f"\n== {name} ==")
        results[name] = train(x_train, y_train, x_test, y_test, out)
    print()
    for name, (accuracy, seconds) in results.items():
        print(f"{name} test accuracy: {accuracy:.4f} (training time {seconds:.2f} s, compilation included)")
    return results


if __name__ == "__main__":
    main()
