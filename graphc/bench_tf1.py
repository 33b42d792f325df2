"""The NHWC benchmark: is a TF1 program in NHWC as fast as the same network in NCHW?

``python -m graphc.bench_tf1 [--repeats N]``. The network is "Deep MNIST for experts"
(examples/tf1_mnist.py): two 5x5 SAME convolutions (32 and 64 filters) with relu and 2x2
max pooling, a 1024-unit relu layer and a 10-way readout, batch 50 of 28x28 images, one
Adam step per call. Three systems, from the same weights and batch:

* ``graphc NHWC``: the TF1 program through graphc.compat.v1 (NHWC images, HWIO filters;
  tf.nn's layout transposes are fused into the kernels around them),
* ``graphc NHWC, no sink``: the same without the sink_transposes pass (passes/layout.py),
* ``graphc NCHW``: the same network written for graphc.nn (NCHW, OIHW),
* ``tensorflow NHWC``: the TF1 program under tensorflow.compat.v1, when it is installed.

The first step's loss of every system is checked against graphc NCHW's before timing;
steps alternate between the systems, so the medians share the machine's state.
"""
import argparse
import statistics
import time

import numpy as np

import graphc as gc

BATCH = 50


def weights(rng):
    """HWIO conv filters and (in, out) dense weights, as the TF1 program holds them."""
    def normal(*shape):
        return np.clip(rng.normal(0, 0.1, shape), -0.2, 0.2).astype(np.float32)
    return {"c1": normal(5, 5, 1, 32), "b1": np.full(32, 0.1, np.float32), "c2": normal(5, 5, 32, 64),
            "b2": np.full(64, 0.1, np.float32), "f1": normal(3136, 1024), "g1": np.full(1024, 0.1, np.float32),
            "f2": normal(1024, 10), "g2": np.full(10, 0.1, np.float32)}


def tf1_system(tf, w, images, labels, **session_args):
    """The TF1 program (NHWC) in ``tf``; returns step() -> loss and its kernel count."""
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 28, 28, 1])
    y = tf.placeholder(tf.float32, [None, 10])
    v = {k: tf.Variable(a) for k, a in w.items()}

    def block(h, c, b):
        h = tf.nn.relu(tf.nn.conv2d(h, v[c], strides=[1, 1, 1, 1], padding="SAME") + v[b])
        return tf.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    h = tf.reshape(block(block(x, "c1", "b1"), "c2", "b2"), [-1, 7 * 7 * 64])
    h = tf.nn.relu(tf.matmul(h, v["f1"]) + v["g1"])
    logits = tf.matmul(h, v["f2"]) + v["g2"]
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
    step = tf.train.AdamOptimizer(1e-3).minimize(loss)
    sess = tf.Session(**session_args)
    sess.run(tf.global_variables_initializer())
    feed = {x: images.transpose(0, 2, 3, 1), y: np.eye(10, dtype=np.float32)[labels]}
    kernels = len(sess.compile([step, loss], feed).kernels) if isinstance(sess, gc.Session) else None
    return (lambda: sess.run([step, loss], feed)[1]), kernels


def nchw_system(w, images, labels):
    """The same network in graphc.nn's NCHW layout."""
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float32, (None, 1, 28, 28))
        y = gc.placeholder(gc.int64, (None,))
        # OIHW filters; f1's rows from the NHWC flatten's (h, w, c) order into NCHW's (c, h, w)
        rows = np.arange(7 * 7 * 64).reshape(7, 7, 64).transpose(2, 0, 1).reshape(-1)
        nchw = {**w, "c1": w["c1"].transpose(3, 2, 0, 1), "c2": w["c2"].transpose(3, 2, 0, 1), "f1": w["f1"][rows]}
        v = {k: gc.Variable(a) for k, a in nchw.items()}

        def block(h, c, b):
            h = gc.relu(gc.nn.conv2d(h, v[c], padding="SAME") + gc.reshape(v[b], (-1, 1, 1)))
            return gc.nn.max_pool2d(h, 2, padding="SAME")
        h = gc.reshape(block(block(x, "c1", "b1"), "c2", "b2"), (-1, 7 * 7 * 64))
        h = gc.relu(h @ v["f1"] + v["g1"])
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(h @ v["f2"] + v["g2"], y))
        step = gc.train.Adam(1e-3).minimize(loss)
    sess = gc.Session(graph)
    feed = {x: images, y: labels}
    return (lambda: sess.run([step, loss], feed)[1]), len(sess.compile([step, loss], feed).kernels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    w = weights(rng)
    images = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH)
    import graphc.compat.v1 as gtf
    systems = {"graphc NCHW": nchw_system(w, images, labels), "graphc NHWC": tf1_system(gtf, w, images, labels),
               "graphc NHWC, no sink": tf1_system(gtf, w, images, labels, disable=("sink_transposes",))}
    try:
        import tensorflow.compat.v1 as tf
        tf.disable_v2_behavior()
        systems["tensorflow NHWC"] = tf1_system(tf, w, images, labels)
    except ImportError:
        pass
    first = {name: float(step()) for name, (step, _) in systems.items()}
    reference = first["graphc NCHW"]
    for name, loss in first.items():
        if not np.isclose(loss, reference, rtol=1e-4):
            raise SystemExit(f"{name}'s first loss {loss} differs from graphc NCHW's {reference}")
    times = {name: [] for name in systems}
    for _ in range(args.repeats):
        for name, (step, _) in systems.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["graphc NCHW"])
    print(f"Deep-MNIST CNN, one Adam step, batch {BATCH} (median of {args.repeats}; first losses agree: "
          f"{reference:.5f})")
    print(f"{'system':<22}{'ms':>9}{'vs NCHW':>9}{'kernels':>9}")
    for name, (_, kernels) in systems.items():
        median = statistics.median(times[name])
        print(f"{name:<22}{1e3 * median:>9.1f}{median / base:>9.2f}{kernels if kernels else '':>9}")


if __name__ == "__main__":
    main()
