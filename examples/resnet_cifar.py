"""Train a CIFAR-style ResNet on CIFAR-shaped images (3x32x32), with nothing downloaded.

The images are scikit-learn's bundled 8x8 digits, upscaled 4x (smoothly) and tinted with a
random colour per image plus noise, so the network sees 3x32x32 inputs as on CIFAR-10. The
model is He et al.'s CIFAR ResNet (6n+2 layers: a 16-filter stem, three stages of n basic
blocks with 16, 32 and 64 filters, global average pooling, a dense layer), with batch norm
after every convolution, built from gc.layers and trained in a TF1-style loop:
placeholders, SGD with momentum, the batch norms' moving averages updated by the step.

It then reports test accuracy in inference mode (the moving statistics), checks that the
fused and unfused compilations of the training step compute the same loss, and times both,
with the inference pass, as a small fused-against-unfused table.

Needs scikit-learn (``pip install -e '.[examples]'``).
Run: python examples/resnet_cifar.py [--blocks N] [--epochs E] [--batch B]
"""
import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphc as gc

L = gc.layers


def cifar_shaped_digits(seed=0):
    """(x_train, x_test, y_train, y_test): digits as float32 (N, 3, 32, 32) images,
    standardized per channel with the training set's statistics."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    small = digits.images / 16.0                                   # (N, 8, 8) in 0..1
    big = np.kron(small, np.ones((4, 4)))                           # (N, 32, 32), nearest
    for axis in (1, 2):                                            # a 1-2-1 blur each way: smooth edges
        big = (np.roll(big, 1, axis) + 2 * big + np.roll(big, -1, axis)) / 4
    tint = rng.uniform(0.3, 1.0, (len(big), 3, 1, 1))              # a colour per image
    background = rng.uniform(0.0, 0.3, (len(big), 3, 1, 1))
    images = background + tint * big[:, None] + rng.normal(0, 0.05, (len(big), 3, 32, 32))
    x_train, x_test, y_train, y_test = train_test_split(images.astype(np.float32), digits.target, test_size=0.25,
                                                        random_state=seed, stratify=digits.target)
    mean, std = x_train.mean(axis=(0, 2, 3), keepdims=True), x_train.std(axis=(0, 2, 3), keepdims=True)
    return (x_train - mean) / std, (x_test - mean) / std, y_train, y_test


class BasicBlock:
    """conv3x3-BN-relu, conv3x3-BN, plus the shortcut (a 1x1 conv and BN where the shape
    changes), then relu."""

    def __init__(self, filters, stride, project):
        self.conv1 = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)
        self.bn1 = L.BatchNormalization(axis=1, momentum=0.9)
        self.conv2 = L.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn2 = L.BatchNormalization(axis=1, momentum=0.9)
        self.shortcut = [L.Conv2D(filters, 1, strides=stride, use_bias=False),
                         L.BatchNormalization(axis=1, momentum=0.9)] if project else []

    def __call__(self, x, training):
        h = gc.relu(self.bn1(self.conv1(x), training=training))
        h = self.bn2(self.conv2(h), training=training)
        s = x
        for layer in self.shortcut:
            s = layer(s, training=training)
        return gc.relu(h + s)

    def layers(self):
        return [self.conv1, self.bn1, self.conv2, self.bn2] + self.shortcut


class ResNet:
    """The CIFAR ResNet with ``blocks`` basic blocks per stage (1: ResNet-8, 3: ResNet-20)."""

    def __init__(self, blocks, classes=10):
        L.set_seed(0)
        self.stem = [L.Conv2D(16, 3, padding="same", use_bias=False), L.BatchNormalization(axis=1, momentum=0.9)]
        self.blocks = []
        channels = 16
        for filters in (16, 32, 64):
            for i in range(blocks):
                stride = 2 if filters != 16 and i == 0 else 1
                self.blocks.append(BasicBlock(filters, stride, project=filters != channels))
                channels = filters
        self.head = L.Dense(classes)

    def __call__(self, x, training):
        h = gc.relu(self.stem[1](self.stem[0](x), training=training))
        for block in self.blocks:
            h = block(h, training)
        return self.head(gc.mean(h, axis=(2, 3)))

    def updates(self):
        """The moving-average assigns of every batch norm's last training call."""
        layers = self.stem + [layer for block in self.blocks for layer in block.layers()]
        return [op for layer in layers for op in layer.updates]


def build(blocks, lr):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float32, (None, 3, 32, 32), name="images")
        y = gc.placeholder(gc.int64, (None,), name="labels")
        net = ResNet(blocks)
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(net(x, training=True), y), name="loss")
        step = gc.group(gc.train.SGD(lr, momentum=0.9).minimize(loss), *net.updates(), name="train_step")
        predictions = gc.argmax(net(x, training=False), axis=-1)   # the moving statistics
    return graph, x, y, loss, step, predictions


def median_ms(fn, repeats):
    fn()   # compiled, and warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def fused_against_unfused(graph, x, y, loss, step, predictions, x_train, y_train, batch, repeats):
    """The first step's loss under both compilations (same initial weights), and the median
    times of a training step and of inference on one batch."""
    xb, yb = x_train[:batch], y_train[:batch]
    rows = {}
    for name, optimize in (("fused", True), ("unfused", False)):
        with gc.Session(graph, optimize=optimize) as sess:
            start = time.perf_counter()
            first_loss = float(sess.run([loss, step], {x: xb, y: yb})[0])
            compile_s = time.perf_counter() - start
            kernels = len(sess.compile([loss, step], {x: xb, y: yb}).kernels)
            train_ms = median_ms(lambda: sess.run(step, {x: xb, y: yb}), repeats)
            infer_ms = median_ms(lambda: sess.run(predictions, {x: xb}), repeats)
        rows[name] = (first_loss, compile_s, kernels, train_ms, infer_ms)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1, help="basic blocks per stage: 1 is ResNet-8, 3 ResNet-20")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell of the table")
    args = parser.parse_args()

    x_train, x_test, y_train, y_test = cifar_shaped_digits()
    print(f"CIFAR-shaped digits: {len(x_train)} training and {len(x_test)} test images of {x_train.shape[1:]}")
    graph, x, y, loss, step, predictions = build(args.blocks, args.lr)
    print(f"ResNet-{6 * args.blocks + 2}: {sum(int(np.prod(v.shape)) for v in gc.trainable_variables(graph)):,} "
          f"trainable parameters")

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with gc.Session(graph) as sess:
        for epoch in range(args.epochs):
            order, losses = rng.permutation(len(x_train)), []
            for i in range(0, len(order), args.batch):
                idx = order[i:i + args.batch]
                losses.append(float(sess.run([loss, step], {x: x_train[idx], y: y_train[idx]})[0]))
            train_accuracy = np.mean(sess.run(predictions, {x: x_train[:512]}) == y_train[:512])
            print(f"epoch {epoch + 1}/{args.epochs}: mean loss {np.mean(losses):.4f}, "
                  f"training accuracy {train_accuracy:.3f}")
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(sess.run(predictions, {x: x_test}) == y_test))
    print(f"test accuracy: {accuracy:.4f} (training {seconds:.1f} s, compilation included)")

    rows = fused_against_unfused(graph, x, y, loss, step, predictions, x_train, y_train, 32, args.repeats)
    (fused_loss, *_), (unfused_loss, *_) = rows["fused"], rows["unfused"]
    print(f"first step's loss: fused {fused_loss:.6f}, unfused {unfused_loss:.6f}, "
          f"|difference| {abs(fused_loss - unfused_loss):.2e}")
    print("\n| batch 32 | compile + first step (s) | kernels | training step (ms) | inference (ms) |")
    print("|---|---:|---:|---:|---:|")
    for name, (_, compile_s, kernels, train_ms, infer_ms) in rows.items():
        print(f"| graphc {name} | {compile_s:.2f} | {kernels} | {train_ms:.1f} | {infer_ms:.1f} |")
    f, u = rows["fused"], rows["unfused"]
    print(f"| fused speedup | | | {u[3] / f[3]:.2f}x | {u[4] / f[4]:.2f}x |")
    return accuracy, rows


if __name__ == "__main__":
    main()
