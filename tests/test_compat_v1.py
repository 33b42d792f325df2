"""graphc.compat.v1: TF1's names, signatures and semantics, each checked against numpy."""
import numpy as np
import pytest

import graphc as gc
import graphc.compat.v1 as tf
from test_nn import ref_avg_pool2d, ref_conv2d, ref_max_pool2d

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()


def run(fetches, feed=None):
    with tf.Session() as sess:
        return sess.run(fetches, feed)


def rand(*shape, dtype=np.float32):
    return RNG.normal(size=shape).astype(dtype)


# -- reductions and arg reductions ------------------------------------------------------------
@pytest.mark.parametrize("name, ref", [("reduce_sum", np.sum), ("reduce_mean", np.mean), ("reduce_max", np.max),
                                       ("reduce_min", np.min), ("reduce_prod", np.prod)])
def test_reductions_take_tf1_argument_names(name, ref):
    x = rand(3, 4, 5).astype(np.float64)
    fn = getattr(tf, name)
    got = run([fn(x), fn(x, 1), fn(x, [0, 2], keepdims=True), fn(x, reduction_indices=[1], keep_dims=True),
               fn(x, axis=-1)])
    want = [ref(x), ref(x, 1), ref(x, (0, 2), keepdims=True), ref(x, 1, keepdims=True), ref(x, -1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
        assert g.shape == np.shape(w)
    with pytest.raises(ValueError, match="both 'axis' and 'reduction_indices'"):
        fn(x, axis=0, reduction_indices=0)


def test_bool_reductions_and_logsumexp():
    b = RNG.random((4, 3)) < 0.5
    x = rand(4, 3).astype(np.float64)
    got = run([tf.reduce_any(b, 1), tf.reduce_all(b, 0), tf.reduce_any(np.zeros((0,), bool)),
               tf.reduce_all(np.zeros((0,), bool)), tf.reduce_logsumexp(x, 1)])
    np.testing.assert_array_equal(got[0], b.any(1))
    np.testing.assert_array_equal(got[1], b.all(0))
    assert not got[2] and got[3]
    np.testing.assert_allclose(got[4], np.log(np.exp(x).sum(1)), rtol=1e-12)


def test_argmax_axis_dimension_and_output_type():
    x = rand(4, 6)
    got = run([tf.argmax(x), tf.argmax(x, 1), tf.argmax(x, dimension=1), tf.argmin(x, axis=0, output_type=tf.int32)])
    np.testing.assert_array_equal(got[0], x.argmax(0))      # TF1: axis 0 when none is given
    np.testing.assert_array_equal(got[1], x.argmax(1))
    np.testing.assert_array_equal(got[2], x.argmax(1))
    assert got[0].dtype == np.int64 and got[3].dtype == np.int32
    np.testing.assert_array_equal(got[3], x.argmin(0))


def test_math_names():
    a, b = rand(3, 4), rand(4, 2)
    got = run([tf.matmul(a, b), tf.matmul(a.T, b, transpose_a=True), tf.matmul(a, b.T, transpose_b=True),
               tf.div(np.int32(7), np.int32(2)), tf.div(7.0, 2.0), tf.squared_difference(a, 1.0),
               tf.add_n([a, a, a]), tf.clip_by_value(a, -0.5, 0.5), tf.count_nonzero(np.array([0, 1, 2, 0]))])
    for g in got[:3]:
        np.testing.assert_allclose(g, a @ b, rtol=1e-5)
    assert got[3] == 3 and got[4] == 3.5
    np.testing.assert_allclose(got[5], (a - 1) ** 2, rtol=1e-6)
    np.testing.assert_allclose(got[6], 3 * a, rtol=1e-6)
    np.testing.assert_array_equal(got[7], np.clip(a, -0.5, 0.5))
    assert got[8] == 2


# -- tensors and shapes ---------------------------------------------------------------------------------
def test_constant_with_shape_follows_tf1():
    got = run([tf.constant(0.1, shape=[2, 3]), tf.constant([1, 2], shape=[2, 2]), tf.constant([[1, 2], [3, 4]],
                                                                                         shape=[4])])
    np.testing.assert_array_equal(got[0], np.full((2, 3), 0.1, np.float32))
    np.testing.assert_array_equal(got[1], [[1, 2], [2, 2]])   # a short list repeats its last element
    np.testing.assert_array_equal(got[2], [1, 2, 3, 4])
    with pytest.raises(gc.errors.ShapeError):
        tf.constant([1, 2, 3], shape=[2], verify_shape=True)


def test_creation_names():
    got = run([tf.zeros([2, 3]), tf.ones((2,), tf.int32), tf.fill([2, 2], 7), tf.eye(3, 2), tf.range(5),
               tf.range(1.0, 2.0, 0.25), tf.linspace(0.0, 1.0, 5), tf.zeros([0, 3]), tf.ones([])])
    np.testing.assert_array_equal(got[0], np.zeros((2, 3), np.float32))
    assert got[1].dtype == np.int32 and got[4].dtype == np.int32   # TF1 types integer ranges int32
    np.testing.assert_array_equal(got[2], np.full((2, 2), 7))
    np.testing.assert_array_equal(got[3], np.eye(3, 2))
    np.testing.assert_array_equal(got[4], np.arange(5))
    np.testing.assert_allclose(got[5], np.arange(1.0, 2.0, 0.25))
    np.testing.assert_allclose(got[6], np.linspace(0, 1, 5), rtol=1e-6)
    assert got[7].shape == (0, 3) and got[8].shape == () and got[8] == 1


def test_placeholder_with_default():
    default = rand(2, 3)
    p = tf.placeholder_with_default(default, shape=[None, 3])
    y = p * 2.0
    assert p.shape == (None, 3)
    fed = rand(5, 3)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y), default * 2)
        np.testing.assert_array_equal(sess.run(y, {p: fed}), fed * 2)
        with pytest.raises(gc.errors.FeedError, match="PlaceholderWithDefault"):
            sess.run(y, {p: rand(5, 4)})
    keep = tf.placeholder_with_default(1.0, shape=[])
    assert run(keep) == 1.0 and run(keep * 3, {keep: 0.5}) == 1.5
    with pytest.raises(gc.errors.ShapeError):
        tf.placeholder_with_default(default, shape=[None, 4])


def test_shape_size_rank_with_unknown_batch():
    x = tf.placeholder(tf.float32, [None, 4, 2])
    s, n, r = tf.shape(x), tf.size(x), tf.rank(x)
    flat = tf.reshape(x, [tf.shape(x)[0], 8])
    value = rand(3, 4, 2)
    got = run([s, n, r, flat, tf.shape(x, out_type=tf.int64)], {x: value})
    np.testing.assert_array_equal(got[0], [3, 4, 2])
    assert got[0].dtype == np.int32 and got[4].dtype == np.int64
    assert got[1] == 24 and got[2] == 3
    np.testing.assert_array_equal(got[3], value.reshape(3, 8))
    assert run(tf.shape(x), {x: np.zeros((0, 4, 2))}).tolist() == [0, 4, 2]   # size 0
    assert run(tf.shape(tf.constant(1.0))).shape == (0,)                       # rank 0


def test_shape_names():
    x = rand(2, 1, 3)
    got = run([tf.squeeze(x, squeeze_dims=[1]), tf.expand_dims(x, dim=0), tf.transpose(x),
               tf.one_hot([0, 2, 5], 3, on_value=5.0, off_value=-1.0), tf.one_hot([1, 0], 2, axis=0),
               tf.identity(x), tf.gather(x, [1, 0]), tf.pad(x, [[0, 0], [1, 1], [0, 0]]), tf.tile(x, [1, 2, 1])])
    assert got[0].shape == (2, 3) and got[1].shape == (1, 2, 1, 3)
    np.testing.assert_array_equal(got[2], x.T)
    np.testing.assert_array_equal(got[3], [[5, -1, -1], [-1, -1, 5], [-1, -1, -1]])
    np.testing.assert_array_equal(got[4], [[0, 1], [1, 0]])
    np.testing.assert_array_equal(got[5], x)
    np.testing.assert_array_equal(got[6], x[[1, 0]])
    np.testing.assert_array_equal(got[7], np.pad(x, [(0, 0), (1, 1), (0, 0)]))
    np.testing.assert_array_equal(got[8], np.tile(x, (1, 2, 1)))


# -- nn: NHWC convolution and pooling against numpy's NCHW reference ---------------------------------------
def nhwc(f, x, *args, **kwargs):
    return f(x.transpose(0, 3, 1, 2), *args, **kwargs).transpose(0, 2, 3, 1)


CONV_CASES = [  # (N, H, W, C), (kh, kw, in, out), strides, padding, dilations
    ((2, 7, 6, 3), (3, 3, 3, 4), [1, 1, 1, 1], "SAME", [1, 1, 1, 1]),
    ((1, 8, 8, 2), (3, 2, 2, 5), [1, 2, 3, 1], "SAME", [1, 1, 1, 1]),
    ((2, 9, 9, 1), (3, 3, 1, 2), [1, 2, 2, 1], "VALID", [1, 1, 1, 1]),
    ((1, 9, 8, 2), (2, 3, 2, 3), [1, 1, 1, 1], "SAME", [1, 2, 2, 1]),
    ((1, 5, 5, 2), (1, 1, 2, 3), [1, 1, 1, 1], "VALID", [1, 1, 1, 1]),
    ((3, 6, 5, 4), (3, 3, 4, 2), [1, 1, 1, 1], [[0, 0], [1, 2], [0, 1], [0, 0]], [1, 1, 1, 1]),
    ((1, 1, 1, 1), (1, 1, 1, 1), [1, 1, 1, 1], "SAME", [1, 1, 1, 1]),
]


@pytest.mark.parametrize("xs, ws, strides, padding, dilations", CONV_CASES)
def test_conv2d_nhwc_hwio(xs, ws, strides, padding, dilations):
    x, w = rand(*xs, dtype=np.float64), rand(*ws, dtype=np.float64)
    got = run(tf.nn.conv2d(x, w, strides=strides, padding=padding, dilations=dilations))
    pads = padding if isinstance(padding, str) else [tuple(p) for p in padding[1:3]]
    want = nhwc(ref_conv2d, x, w.transpose(3, 2, 0, 1), stride=tuple(strides[1:3]), padding=pads,
                dilation=tuple(dilations[1:3]))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    nchw = run(tf.nn.conv2d(x.transpose(0, 3, 1, 2), w, strides=[1, 1] + strides[1:3], data_format="NCHW",
                            padding=padding if isinstance(padding, str) else [[0, 0], [0, 0]] + padding[1:3],
                            dilations=[1, 1] + dilations[1:3]))
    np.testing.assert_allclose(nchw, want.transpose(0, 3, 1, 2), rtol=1e-10, atol=1e-12)


def test_conv2d_gradients_match_finite_differences():
    x, w = rand(2, 5, 4, 2, dtype=np.float64), rand(3, 3, 2, 3, dtype=np.float64)
    r = rand(2, 3, 2, 3, dtype=np.float64)
    xv, wv = tf.Variable(x), tf.Variable(w)
    loss = tf.reduce_sum(tf.nn.conv2d(xv, wv, [1, 2, 2, 1], "SAME") * r)
    gx, gw = run(tf.gradients(loss, [xv, wv]))

    def f(xa, wa):
        return np.sum(nhwc(ref_conv2d, xa, wa.transpose(3, 2, 0, 1), stride=(2, 2), padding="SAME") * r)
    for g, arr, which in ((gx, x, 0), (gw, w, 1)):
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            d = np.zeros_like(arr)
            d[i] = 1e-6
            plus, minus = ((x + d, w), (x - d, w)) if which == 0 else ((x, w + d), (x, w - d))
            num[i] = (f(*plus) - f(*minus)) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_depthwise_conv2d():
    x, f = rand(2, 6, 5, 3, dtype=np.float64), rand(3, 3, 3, 2, dtype=np.float64)
    got = run(tf.nn.depthwise_conv2d(x, f, [1, 1, 1, 1], "SAME"))
    want = np.concatenate([nhwc(ref_conv2d, x[..., c:c + 1], f[:, :, c:c + 1, :].transpose(3, 2, 0, 1),
                                padding="SAME") for c in range(3)], axis=-1)   # channel c*2 + k
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, ksize, strides, padding", [
    ((2, 7, 6, 3), [1, 2, 2, 1], [1, 2, 2, 1], "SAME"), ((1, 8, 8, 2), [1, 3, 3, 1], [1, 2, 2, 1], "VALID"),
    ((1, 5, 7, 1), [1, 3, 2, 1], [1, 1, 2, 1], "SAME"), ((1, 1, 1, 1), [1, 1, 1, 1], [1, 1, 1, 1], "VALID")])
def test_pooling_nhwc(shape, ksize, strides, padding):
    x = rand(*shape, dtype=np.float64)
    got_max, got_avg = run([tf.nn.max_pool(x, ksize, strides, padding), tf.nn.avg_pool(x, ksize, strides, padding)])
    k, s = tuple(ksize[1:3]), tuple(strides[1:3])
    np.testing.assert_array_equal(got_max, nhwc(ref_max_pool2d, x, k, s, padding))
    # TF's SAME average counts only the real elements of each window
    np.testing.assert_allclose(got_avg, nhwc(ref_avg_pool2d, x, k, s, padding, count_include_pad=False), rtol=1e-12)


def test_conv_and_pool_argument_errors():
    x, w = rand(1, 4, 4, 1), rand(3, 3, 1, 1)
    with pytest.raises(ValueError, match="batch and channel"):
        tf.nn.conv2d(x, w, strides=[2, 1, 1, 1], padding="SAME")
    with pytest.raises(ValueError, match="needs padding"):
        tf.nn.conv2d(x, w, strides=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="data_format"):
        tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "SAME", data_format="NWHC")


def test_bias_add():
    x, b = rand(2, 3, 4), rand(4)
    got = run([tf.nn.bias_add(x, b), tf.nn.bias_add(x.transpose(0, 2, 1), b, data_format="NCHW")])
    np.testing.assert_allclose(got[0], x + b, rtol=1e-6)
    np.testing.assert_allclose(got[1], x.transpose(0, 2, 1) + b[:, None], rtol=1e-6)
    with pytest.raises(gc.errors.ShapeError, match="bias_add"):
        tf.nn.bias_add(x, rand(3))


def test_activations_and_losses():
    x = rand(4, 5, dtype=np.float64)
    labels = np.eye(5)[[0, 3, 1, 4]]
    ints = np.array([0, 3, 1, 4])
    got = run([tf.nn.softmax(x, dim=0), tf.nn.log_softmax(x), tf.nn.relu6(6 * x), tf.nn.elu(x),
               tf.nn.leaky_relu(x), tf.nn.l2_loss(x),
               tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=x),
               tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ints, logits=x),
               tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=30 * x)])
    e = np.exp(x - x.max(0))
    np.testing.assert_allclose(got[0], e / e.sum(0), rtol=1e-12)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    np.testing.assert_allclose(got[1], logp, rtol=1e-12)
    np.testing.assert_array_equal(got[2], np.clip(6 * x, 0, 6))
    np.testing.assert_allclose(got[3], np.where(x > 0, x, np.expm1(x)), rtol=1e-12)
    np.testing.assert_allclose(got[4], np.where(x > 0, x, 0.2 * x), rtol=1e-12)
    np.testing.assert_allclose(got[5], (x ** 2).sum() / 2, rtol=1e-12)
    np.testing.assert_allclose(got[6], -(labels * logp).sum(1), rtol=1e-12)
    np.testing.assert_allclose(got[7], -logp[range(4), ints], rtol=1e-12)
    z = 30 * x   # large logits: the stable form, no overflow
    np.testing.assert_allclose(got[8], np.logaddexp(0, z) - z * labels, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="by name"):
        tf.nn.softmax_cross_entropy_with_logits(labels, x)


def test_v1_cross_entropy_sends_no_gradient_into_labels():
    logits, labels = tf.Variable(rand(3, 4, dtype=np.float64)), tf.Variable(np.full((3, 4), 0.25))
    v1 = tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    v2 = tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits))
    assert tf.gradients(v1, [labels]) == [None]
    (g,) = run(tf.gradients(v2, [labels]))
    with tf.Session() as sess:
        lg = sess.run(logits)
    np.testing.assert_allclose(g, -(lg - np.log(np.exp(lg).sum(1, keepdims=True))), rtol=1e-12)


def test_moments_and_batch_normalization():
    x = rand(8, 3, dtype=np.float64)
    mean, var = tf.nn.moments(x, [0])
    y = tf.nn.batch_normalization(x, mean, var, offset=1.0, scale=2.0, variance_epsilon=1e-3)
    got = run([mean, var, y])
    np.testing.assert_allclose(got[0], x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(got[1], x.var(0), rtol=1e-12)
    np.testing.assert_allclose(got[2], (x - x.mean(0)) * 2 / np.sqrt(x.var(0) + 1e-3) + 1, rtol=1e-12)


# -- stateful random numbers and dropout ------------------------------------------------------------------
def test_random_ops_draw_new_numbers_every_run_reproducibly():
    a = tf.random_normal([1000], stddev=2.0)
    u = tf.random_uniform([1000], 3, 7, dtype=tf.int32)
    t = tf.truncated_normal([1000], mean=1.0, stddev=0.5)
    with tf.Session() as sess:
        first, second = sess.run([a, u, t]), sess.run([a, u, t])
    with tf.Session() as sess:
        again = sess.run([a, u, t])
    assert not np.array_equal(first[0], second[0]) and not np.array_equal(first[1], second[1])
    for f, g in zip(first, again):
        np.testing.assert_array_equal(f, g)   # a fresh Session repeats the sequence
    assert abs(first[0].std() - 2.0) < 0.15 and set(np.unique(first[1])) <= {3, 4, 5, 6}
    assert first[1].min() == 3 and first[1].max() == 6
    assert np.all(np.abs(first[2] - 1.0) <= 1.0)
    assert "graphc_random/runs" in [v.name for v in tf.global_variables()]
    assert "graphc_random/runs" not in [v.name for v in tf.trainable_variables()]


def test_graph_seed_changes_the_numbers():
    draws = []
    for seed in (1, 1, 2):
        tf.reset_default_graph()
        tf.set_random_seed(seed)
        draws.append(run(tf.random_uniform([8])))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


def test_dropout():
    x = np.ones((200, 100), np.float32)
    keep_prob = tf.placeholder(tf.float32)
    y = tf.nn.dropout(x, keep_prob)
    with tf.Session() as sess:
        a, b = sess.run(y, {keep_prob: 0.5}), sess.run(y, {keep_prob: 0.5})
        np.testing.assert_array_equal(sess.run(y, {keep_prob: 1.0}), x)
    assert set(np.unique(a)) == {0.0, 2.0}                   # kept values scaled by 1/keep_prob
    assert abs((a == 2).mean() - 0.5) < 4 * 0.5 / np.sqrt(a.size)
    assert not np.array_equal(a, b)                          # a new mask every run
    z = tf.nn.dropout(x, rate=0.25, noise_shape=[200, 1])
    c = run(z)
    assert np.all(c == c[:, :1]) and set(np.unique(c)) <= {0.0, np.float32(1 / 0.75)}


def test_dropout_gradient_uses_the_runs_mask():
    x = tf.Variable(np.ones((50, 40), np.float32))
    y = tf.nn.dropout(x, 0.5)
    (g,) = tf.gradients(tf.reduce_sum(y), [x])
    with tf.Session() as sess:
        value, grad = sess.run([y, g])
    np.testing.assert_array_equal(grad, value)   # d sum(mask * x / keep) / dx = mask / keep = y here


# -- variables, sessions, collections, the global step -------------------------------------------------
def test_variable_takes_tf1_argument_order():
    v = tf.Variable(np.float32(3), False, name="v")
    assert isinstance(v, tf.Variable) and isinstance(v, gc.Variable) and not v.trainable
    assert tf.global_variables() == [v] and tf.trainable_variables() == []
    w = tf.Variable(lambda: np.zeros(2, np.float32), name="scope/w")
    assert [x.name for x in tf.global_variables("scope")] == ["scope/w"]
    assert run(w).tolist() == [0, 0] and tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES) == [v, w]
    tf.add_to_collection("mine", w)
    assert tf.get_collection("mine") == [w] and tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []


def test_session_arguments():
    x = tf.placeholder(tf.float32, [])
    with tf.Session(config=tf.ConfigProto(allow_soft_placement=True)) as sess:
        metadata = tf.RunMetadata()
        assert sess.run(tf.exp(x) * 3, {x: 0.0}, tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE), metadata) == 3
        assert metadata.kernels
    with pytest.raises(tf.UnsupportedError, match="in-process"):
        tf.Session("grpc://localhost:2222")


def test_global_step_and_learning_rate_schedules():
    step = tf.train.get_or_create_global_step()
    assert tf.train.get_global_step() is not None and tf.train.get_or_create_global_step().name == step.name
    lr = tf.train.exponential_decay(0.5, step, decay_steps=10, decay_rate=0.5)
    stair = tf.train.exponential_decay(0.5, step, 10, 0.5, staircase=True)
    piece = tf.train.piecewise_constant(step, [5, 10], [1.0, 0.5, 0.1])
    bump = tf.assign_add(step, 7)
    with tf.Session() as sess:
        seen = []
        for _ in range(3):
            seen.append(sess.run([step, lr, stair, piece]))
            sess.run(bump)
    for s, a, b, c in seen:
        np.testing.assert_allclose(a, 0.5 * 0.5 ** (s / 10), rtol=1e-6)
        np.testing.assert_allclose(b, 0.5 * 0.5 ** (s // 10), rtol=1e-6)
        assert c == pytest.approx(1.0 if s <= 5 else 0.5 if s <= 10 else 0.1)
    with pytest.raises(ValueError, match="already exists"):
        tf.train.create_global_step()


def test_eval_and_run_use_the_default_session():
    v = tf.Variable(1.0)
    inc = tf.assign_add(v, 1.0)
    with tf.Session() as sess:
        tf.group(inc).run()
        assert v.eval() == 2.0
        assert inc.eval() == 3.0 and v.eval() == 3.0   # evaluating an update runs it, as in TF1
    sess = tf.InteractiveSession()
    try:
        assert (v * 10).eval() == 10.0   # a new Session starts at the initial value
    finally:
        sess.close()


def test_unsupported_features_name_themselves():
    with pytest.raises(tf.UnsupportedError, match="control flow"):
        tf.cond(tf.constant(True), lambda: 1.0, lambda: 2.0)
    with pytest.raises(tf.UnsupportedError, match="control flow"):
        tf.while_loop(lambda i: i < 3, lambda i: i + 1, [0])
    with pytest.raises(tf.UnsupportedError, match="uint8"):
        tf.uint8
    with pytest.raises(AttributeError, match="does not provide"):
        tf.no_such_function
    with pytest.raises(AttributeError, match="tf.nn.no_such_op: graphc.compat.v1 does not provide"):
        tf.nn.no_such_op
    with pytest.raises(tf.UnsupportedError, match="while_loop"):
        tf.nn.dynamic_rnn
    with pytest.raises(AttributeError, match="tf.layers.no_such_layer: graphc.compat.v1 does not provide"):
        tf.layers.no_such_layer
    assert not hasattr(tf.nn, "__wrapped__")   # (Python's own probes get a plain AttributeError)
    with pytest.raises(tf.UnsupportedError, match="data-dependent|depends on the values"):
        tf.where(tf.constant([True, False]))
    with pytest.raises(tf.UnsupportedError):
        tf.pad(tf.zeros([2]), [[1, 1]], mode="REFLECT")


def test_name_scope_and_device():
    with tf.name_scope("outer") as scope, tf.device("/cpu:0"):
        c = tf.constant(1.0, name="c")
    assert scope == "outer/" and c.name == "outer/c"


# -- tf.layers and tf.losses ----------------------------------------------------------------------------------
def test_layers_make_scoped_variables_and_compute_what_tf1_does():
    x = rand(4, 6, 5, 3, dtype=np.float64)
    images = tf.placeholder(tf.float64, [None, 6, 5, 3])
    c = tf.layers.conv2d(images, 4, 3, padding="same", activation=tf.nn.relu,
                         kernel_initializer=tf.random_normal_initializer(seed=1))
    p = tf.layers.max_pooling2d(c, 2, 2)
    a = tf.layers.average_pooling2d(c, 2, 2, padding="same")
    d = tf.layers.dense(tf.layers.flatten(p), 3, bias_initializer=tf.constant_initializer(0.5))
    d2 = tf.layers.dense(tf.layers.flatten(p), 3, name="second")
    names = [v.name for v in tf.global_variables()]
    assert names == ["conv2d/kernel", "conv2d/bias", "dense/kernel", "dense/bias", "second/kernel", "second/bias"]
    training = tf.placeholder(tf.bool, [])
    drop = tf.layers.dropout(d, rate=0.5, training=training)
    with tf.Session() as sess:
        kernel, dk, db, cv, pv, av, dv, off = sess.run(
            [tf.global_variables()[0], tf.global_variables()[2], tf.global_variables()[3], c, p, a, d, drop],
            {images: x, training: False})
    want_c = np.maximum(nhwc(ref_conv2d, x, kernel.transpose(3, 2, 0, 1), padding="SAME"), 0)
    np.testing.assert_allclose(cv, want_c, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(pv, nhwc(ref_max_pool2d, cv, (2, 2), (2, 2), "VALID"))
    np.testing.assert_allclose(av, nhwc(ref_avg_pool2d, cv, (2, 2), (2, 2), "SAME", count_include_pad=False),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dv, pv.reshape(4, -1) @ dk + db, rtol=1e-10, atol=1e-13)
    assert np.all(db == 0.5) and d2.shape == (None, 3)
    np.testing.assert_array_equal(off, dv)   # training=False: the identity
    with pytest.raises(gc.GraphcError, match="already exists"):
        tf.layers.dense(tf.layers.flatten(p), 3, name="second")


def test_losses_reduce_as_tf1():
    logits, labels = rand(6, 4, dtype=np.float64), np.array([0, 3, 1, 2, 2, 0])
    weights = np.array([1.0, 0.0, 2.0, 1.0, 0.0, 1.0])
    per = -(logits - np.log(np.exp(logits).sum(1, keepdims=True)))[range(6), labels]
    pred, target = rand(6, 2, dtype=np.float64), rand(6, 2, dtype=np.float64)
    got = run([tf.losses.sparse_softmax_cross_entropy(labels, logits),
               tf.losses.sparse_softmax_cross_entropy(labels, logits, weights=weights),
               tf.losses.softmax_cross_entropy(np.eye(4)[labels], logits, weights=weights,
                                               reduction=tf.losses.Reduction.SUM),
               tf.losses.mean_squared_error(target, pred), tf.losses.absolute_difference(target, pred, reduction="none",
                                                                                        loss_collection=None),
               tf.losses.huber_loss(target, 3 * pred), tf.losses.sparse_softmax_cross_entropy(
                   labels, logits, weights=np.zeros(6))])
    np.testing.assert_allclose(got[0], per.mean(), rtol=1e-12)
    np.testing.assert_allclose(got[1], (per * weights).sum() / 4, rtol=1e-12)   # over the 4 nonzero weights
    np.testing.assert_allclose(got[2], (per * weights).sum(), rtol=1e-12)
    np.testing.assert_allclose(got[3], ((pred - target) ** 2).mean(), rtol=1e-12)
    np.testing.assert_allclose(got[4], np.abs(pred - target), rtol=1e-12)
    e = np.abs(3 * pred - target)
    np.testing.assert_allclose(got[5], np.where(e < 1, 0.5 * e ** 2, e - 0.5).mean(), rtol=1e-12)
    assert got[6] == 0.0
    batch = tf.placeholder(tf.float64, [None, 2])   # the mean over an unknown number of elements
    over = tf.losses.mean_squared_error(target, batch, reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
                                        loss_collection=None)
    np.testing.assert_allclose(run(over, {batch: pred}), ((pred - target) ** 2).mean(), rtol=1e-12)
    assert len(tf.losses.get_losses()) == 6
    total = run(tf.losses.get_total_loss())
    np.testing.assert_allclose(total, sum(float(g) for i, g in enumerate(got) if i != 4), rtol=1e-10)


def test_docs_list_every_name():
    """docs/tf1.md lists every name graphc.compat.v1 and its namespaces provide."""
    import os
    text = open(os.path.join(os.path.dirname(__file__), "..", "docs", "tf1.md")).read()
    modules = {"": tf, "nn.": tf.nn, "train.": tf.train, "summary.": tf.summary, "random.": tf.random,
               "layers.": tf.layers, "losses.": tf.losses}
    import types
    missing = [prefix + name for prefix, module in modules.items() for name in module.__all__
               if f"`{name}`" not in text and not isinstance(getattr(module, name), types.ModuleType)]
    assert not missing, missing
