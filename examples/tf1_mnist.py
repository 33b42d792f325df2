"""TensorFlow 1.x's two MNIST tutorials, as TF1 wrote them, run by graphc.

    import graphc.compat.v1 as tf

The only changes to the tutorials' code are the data and the number of steps:
scikit-learn's bundled 8x8 digits (no download), each image scaled up 3x to 24x24 and
padded to 28x28, so the programs keep MNIST's 784 pixels and their layer sizes.

  1. "MNIST for ML beginners": softmax regression trained by gradient descent;
  2. "Deep MNIST for experts": two 5x5 convolutions with 2x2 max pooling in NHWC, a
     1024-unit layer with dropout, Adam; then a tf.train.Saver round trip: the trained
     variables are saved, restored into a fresh Session and give the same accuracy.

Needs scikit-learn (``pip install -e '.[examples]'``). Run: python examples/tf1_mnist.py
[--steps N] [--out DIR]
"""
import argparse
import os
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphc.compat.v1 as tf


class Digits:
    """The tutorials' ``mnist.train`` / ``mnist.test``: images (n, 784) and one-hot labels."""

    def __init__(self, images, labels):
        self.images, self.labels, self._next = images, labels, 0

    def next_batch(self, n):
        if self._next + n > len(self.images):
            order = np.random.default_rng(self._next).permutation(len(self.images))
            self.images, self.labels, self._next = self.images[order], self.labels[order], 0
        batch = self.images[self._next:self._next + n], self.labels[self._next:self._next + n]
        self._next += n
        return batch


def read_data_sets():
    digits = load_digits()
    big = np.kron(digits.images / 16.0, np.ones((3, 3)))          # 24x24
    images = np.pad(big, ((0, 0), (2, 2), (2, 2))).reshape(-1, 784).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[digits.target]
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=0.25, random_state=0,
                                                        stratify=digits.target)
    return Digits(x_train, y_train), Digits(x_test, y_test)


def beginners(train, test, steps):
    """https://www.tensorflow.org/versions/r1.15/... "MNIST For ML Beginners"."""
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 784])
    W = tf.Variable(tf.zeros([784, 10]))
    b = tf.Variable(tf.zeros([10]))
    y = tf.nn.softmax(tf.matmul(x, W) + b)
    y_ = tf.placeholder(tf.float32, [None, 10])
    cross_entropy = tf.reduce_mean(-tf.reduce_sum(y_ * tf.log(y), reduction_indices=[1]))
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)
    sess = tf.InteractiveSession()
    tf.global_variables_initializer().run()
    for _ in range(steps):
        batch_xs, batch_ys = train.next_batch(100)
        sess.run(train_step, feed_dict={x: batch_xs, y_: batch_ys})
    correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    result = sess.run(accuracy, feed_dict={x: test.images, y_: test.labels})
    sess.close()
    return result


def weight_variable(shape):
    initial = tf.truncated_normal(shape, stddev=0.1)
    return tf.Variable(initial)


def bias_variable(shape):
    initial = tf.constant(0.1, shape=shape)
    return tf.Variable(initial)


def conv2d(x, W):
    return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding='SAME')


def max_pool_2x2(x):
    return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding='SAME')


def deep(train, test, steps, checkpoint_dir):
    """ "Deep MNIST for Experts" (Adam at 1e-3 instead of 1e-4: a few hundred steps, not 20000)."""
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, shape=[None, 784])
    y_ = tf.placeholder(tf.float32, shape=[None, 10])
    W_conv1 = weight_variable([5, 5, 1, 32])
    b_conv1 = bias_variable([32])
    x_image = tf.reshape(x, [-1, 28, 28, 1])
    h_conv1 = tf.nn.relu(conv2d(x_image, W_conv1) + b_conv1)
    h_pool1 = max_pool_2x2(h_conv1)
    W_conv2 = weight_variable([5, 5, 32, 64])
    b_conv2 = bias_variable([64])
    h_conv2 = tf.nn.relu(conv2d(h_pool1, W_conv2) + b_conv2)
    h_pool2 = max_pool_2x2(h_conv2)
    W_fc1 = weight_variable([7 * 7 * 64, 1024])
    b_fc1 = bias_variable([1024])
    h_pool2_flat = tf.reshape(h_pool2, [-1, 7 * 7 * 64])
    h_fc1 = tf.nn.relu(tf.matmul(h_pool2_flat, W_fc1) + b_fc1)
    keep_prob = tf.placeholder(tf.float32)
    h_fc1_drop = tf.nn.dropout(h_fc1, keep_prob)
    W_fc2 = weight_variable([1024, 10])
    b_fc2 = bias_variable([10])
    y_conv = tf.matmul(h_fc1_drop, W_fc2) + b_fc2
    cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
    train_step = tf.train.AdamOptimizer(1e-3).minimize(cross_entropy)
    correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    saver = tf.train.Saver(max_to_keep=2)
    test_feed = {x: test.images, y_: test.labels, keep_prob: 1.0}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        start = time.perf_counter()
        for i in range(steps):
            batch = train.next_batch(50)
            if i % 50 == 0:
                train_accuracy = accuracy.eval(feed_dict={x: batch[0], y_: batch[1], keep_prob: 1.0})
                print('step %d, training accuracy %g' % (i, train_accuracy))
            train_step.run(feed_dict={x: batch[0], y_: batch[1], keep_prob: 0.5})
        seconds = time.perf_counter() - start
        trained = accuracy.eval(feed_dict=test_feed)
        path = saver.save(sess, os.path.join(checkpoint_dir, "model.ckpt"), global_step=steps)
    print('trained %d steps in %.1f s (%.1f ms/step); checkpoint %s' % (steps, seconds, 1e3 * seconds / steps, path))
    with tf.Session() as sess:                     # a fresh Session: everything from the checkpoint
        saver.restore(sess, tf.train.latest_checkpoint(checkpoint_dir))
        restored = accuracy.eval(feed_dict=test_feed)
    return trained, restored


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps of the deep program")
    parser.add_argument("--out", default=None, help="checkpoint folder (default: a temporary one)")
    args = parser.parse_args()
    train, test = read_data_sets()
    print("beginners: test accuracy %.3f" % beginners(train, test, steps=300))
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or scratch
        os.makedirs(out, exist_ok=True)
        trained, restored = deep(train, test, args.steps, out)
    print("deep: test accuracy %.3f, after restoring the checkpoint %.3f" % (trained, restored))
    if restored != trained:
        raise SystemExit("the restored model does not give the trained model's accuracy")


if __name__ == "__main__":
    main()
