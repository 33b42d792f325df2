"""TF1 programs written as TF1 wrote them, run by tests/test_tf1_programs.py under
graphc.compat.v1 and, where TensorFlow is installed, under tensorflow.compat.v1 too.

Each takes the ``tf`` module, the data and the initial values as numpy arrays (so both
frameworks start from the same weights) and returns what the run produced."""
import numpy as np


def digits(n=512, seed=0):
    """scikit-learn's 8x8 digits (no download): float32 images in [0, 1], int labels."""
    from sklearn.datasets import load_digits
    data = load_digits()
    order = np.random.default_rng(seed).permutation(len(data.target))[:n]
    return (data.data[order] / 16.0).astype(np.float32), data.target[order].astype(np.int64)


def one_hot(labels, classes=10):
    return np.eye(classes, dtype=np.float32)[labels]


def softmax_regression(tf, images, labels, steps=30, batch=64, lr=0.5):
    """The TF1 "MNIST for beginners" program (64 pixels instead of 784)."""
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 64])
    W = tf.Variable(tf.zeros([64, 10]))
    b = tf.Variable(tf.zeros([10]))
    y = tf.nn.softmax(tf.matmul(x, W) + b)
    y_ = tf.placeholder(tf.float32, [None, 10])
    cross_entropy = tf.reduce_mean(-tf.reduce_sum(y_ * tf.log(y), reduction_indices=[1]))
    train_step = tf.train.GradientDescentOptimizer(lr).minimize(cross_entropy)
    correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for i in range(steps):
            lo = (i * batch) % (len(images) - batch)
            feed = {x: images[lo:lo + batch], y_: one_hot(labels[lo:lo + batch])}
            loss, _ = sess.run([cross_entropy, train_step], feed_dict=feed)
            losses.append(loss)
        acc = accuracy.eval(feed_dict={x: images, y_: one_hot(labels)})
        weights = sess.run(W)
    return np.array(losses), float(acc), weights


def cnn_initial_values(seed=0):
    """Initial values of the deep-MNIST-style CNN (truncated normal weights, 0.1 biases)."""
    rng = np.random.default_rng(seed)

    def weight(*shape):
        return np.clip(rng.normal(0, 0.1, shape), -0.2, 0.2).astype(np.float32)

    return {"W_conv1": weight(3, 3, 1, 8), "b_conv1": np.full(8, 0.1, np.float32),
            "W_conv2": weight(3, 3, 8, 16), "b_conv2": np.full(16, 0.1, np.float32),
            "W_fc1": weight(2 * 2 * 16, 32), "b_fc1": np.full(32, 0.1, np.float32),
            "W_fc2": weight(32, 10), "b_fc2": np.full(10, 0.1, np.float32)}


def deep_cnn(tf, images, labels, init, steps=12, batch=32, keep=0.5, eval_keep=1.0, first_step=0, restore=None,
             save=None, logdir=None, lr=1e-3):
    """The TF1 "Deep MNIST for experts" program (NHWC, two conv+pool blocks, dropout)
    on 8x8 digits. Returns the training losses (computed with ``keep``), the accuracy
    (with ``eval_keep``) and the final weights. ``restore``/``save``: checkpoint paths
    for a tf.train.Saver before and after training; ``logdir``: summaries of the loss
    and a weight histogram, one per step."""
    tf.reset_default_graph()

    def conv2d(x, W):
        return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding='SAME')

    def max_pool_2x2(x):
        return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding='SAME')

    x = tf.placeholder(tf.float32, shape=[None, 64])
    y_ = tf.placeholder(tf.float32, shape=[None, 10])
    v = {name: tf.Variable(value, name=name) for name, value in init.items()}
    x_image = tf.reshape(x, [-1, 8, 8, 1])
    h_conv1 = tf.nn.relu(conv2d(x_image, v["W_conv1"]) + v["b_conv1"])
    h_pool1 = max_pool_2x2(h_conv1)
    h_conv2 = tf.nn.relu(tf.nn.bias_add(conv2d(h_pool1, v["W_conv2"]), v["b_conv2"]))
    h_pool2 = max_pool_2x2(h_conv2)
    h_pool2_flat = tf.reshape(h_pool2, [-1, 2 * 2 * 16])
    h_fc1 = tf.nn.relu(tf.matmul(h_pool2_flat, v["W_fc1"]) + v["b_fc1"])
    keep_prob = tf.placeholder(tf.float32)
    h_fc1_drop = tf.nn.dropout(h_fc1, keep_prob)
    y_conv = tf.matmul(h_fc1_drop, v["W_fc2"]) + v["b_fc2"]
    cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
    train_step = tf.train.AdamOptimizer(lr).minimize(cross_entropy)
    correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    if logdir:
        tf.summary.scalar("cross_entropy", cross_entropy)
        tf.summary.histogram("W_fc2", v["W_fc2"])
        merged = tf.summary.merge_all()
    saver = tf.train.Saver()
    losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        if restore:
            saver.restore(sess, restore)
        writer = tf.summary.FileWriter(logdir, sess.graph) if logdir else None
        for i in range(first_step, first_step + steps):
            lo = (i * batch) % (len(images) - batch)
            feed = {x: images[lo:lo + batch], y_: one_hot(labels[lo:lo + batch]), keep_prob: keep}
            if writer is not None:
                summary, loss, _ = sess.run([merged, cross_entropy, train_step], feed_dict=feed)
                writer.add_summary(summary, i)
            else:
                loss, _ = sess.run([cross_entropy, train_step], feed_dict=feed)
            losses.append(loss)
        if writer is not None:
            writer.close()
        if save:
            saver.save(sess, save)
        acc = accuracy.eval(feed_dict={x: images, y_: one_hot(labels), keep_prob: eval_keep})
        weights = sess.run(v)
    return np.array(losses), float(acc), weights


def two_towers(tf, images, labels, kernel, bias, steps=10, lr=0.1):
    """Variable sharing: two towers (the two halves of each batch) through one set of
    get_variable weights, trained with momentum."""
    tf.reset_default_graph()

    def tower(inputs):
        w = tf.get_variable("w", shape=kernel.shape, initializer=tf.constant_initializer(kernel))
        b = tf.get_variable("b", shape=bias.shape, initializer=tf.constant_initializer(bias))
        return tf.matmul(inputs, w) + b

    x = [tf.placeholder(tf.float32, [None, 64]) for _ in range(2)]
    y = [tf.placeholder(tf.int64, [None]) for _ in range(2)]
    with tf.variable_scope("model"):
        logits_a = tower(x[0])
    with tf.variable_scope("model", reuse=True):
        logits_b = tower(x[1])
    loss = tf.add_n([tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=l, logits=g))
                     for l, g in ((y[0], logits_a), (y[1], logits_b))])
    step = tf.train.MomentumOptimizer(lr, momentum=0.9).minimize(loss)
    names = sorted(v.name.split(":")[0] for v in tf.trainable_variables())
    losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for i in range(steps):
            lo = (i * 64) % (len(images) - 64)
            feed = {x[0]: images[lo:lo + 32], x[1]: images[lo + 32:lo + 64],
                    y[0]: labels[lo:lo + 32], y[1]: labels[lo + 32:lo + 64]}
            losses.append(sess.run([loss, step], feed)[0])
    return np.array(losses), names


def optimizer_steps(tf, make_optimizer, x_data, y_data, w0, steps=8):
    """Linear least squares trained by ``make_optimizer(tf)``: the loss of every step."""
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, x_data.shape[1]])
    y = tf.placeholder(tf.float32, [None, 1])
    w = tf.Variable(w0)
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y))
    step = make_optimizer(tf).minimize(loss)
    out = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            out.append(sess.run([loss, step], {x: x_data, y: y_data})[0])
        out.append(sess.run(loss, {x: x_data, y: y_data}))
    return np.array(out)


def layers_cnn(tf, images, labels, init, steps=8, batch=32):
    """A tf.layers CNN (conv2d, max_pooling2d, flatten, dense, dropout with a bool
    placeholder) trained on tf.losses.sparse_softmax_cross_entropy with RMSProp."""
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 64])
    y = tf.placeholder(tf.int64, [None])
    training = tf.placeholder(tf.bool, [])
    h = tf.reshape(x, [-1, 8, 8, 1])
    h = tf.layers.conv2d(h, 8, 3, padding="same", activation=tf.nn.relu,
                         kernel_initializer=tf.constant_initializer(init["W_conv1"]))
    h = tf.layers.max_pooling2d(h, 2, 2)
    h = tf.layers.flatten(h)
    h = tf.layers.dense(h, 32, activation=tf.nn.relu,
                        kernel_initializer=tf.constant_initializer(init["W_dense"]))
    h = tf.layers.dropout(h, rate=0.5, training=training)
    logits = tf.layers.dense(h, 10, kernel_initializer=tf.constant_initializer(init["W_out"]), name="logits")
    loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=logits)
    step = tf.train.RMSPropOptimizer(1e-3).minimize(loss)
    names = sorted(v.name.split(":")[0] for v in tf.trainable_variables())
    losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for i in range(steps):
            lo = (i * batch) % (len(images) - batch)
            losses.append(sess.run([loss, step], {x: images[lo:lo + batch], y: labels[lo:lo + batch],
                                                  training: False})[0])
    return np.array(losses), names


def layers_initial_values(seed=0):
    rng = np.random.default_rng(seed)
    return {"W_conv1": rng.normal(0, 0.2, (3, 3, 1, 8)).astype(np.float32),
            "W_dense": rng.normal(0, 0.1, (4 * 4 * 8, 32)).astype(np.float32),
            "W_out": rng.normal(0, 0.1, (32, 10)).astype(np.float32)}
