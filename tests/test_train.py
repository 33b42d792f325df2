"""Variables updates (assign, group, control_dependencies) and the optimizers of gc.train,
against numpy implementations of their formulas."""

import numpy as np
import pytest

import graphc as gc
from graphc.errors import ExecutionError, GraphcError
from graphc.runtime.cpu.native import CORES

from conftest import assert_close

RNG = np.random.default_rng(7)


def var(value, name=None, dtype=np.float32):
    return gc.Variable(np.asarray(value, dtype), name=name)


# -- assign semantics -------------------------------------------------------------------
def test_assign_returns_new_value_and_commits():
    v = var([1.0, 2.0], "v")
    with gc.Session() as sess:
        out = sess.run(gc.assign_add(v, [10.0, 20.0]))
        assert_close(out, [11.0, 22.0])
        out[0] = -1.0                       # the caller's array is not the variable's storage
        assert_close(sess.run(v), [11.0, 22.0])
        assert_close(sess.run(gc.assign_sub(v, 1.0)), [10.0, 21.0])
        assert_close(sess.run(gc.assign(v, 0.0)), [0.0, 0.0])


def test_reads_see_values_from_before_the_run():
    a, b = var(1.0, "a"), var(2.0, "b")
    swap = gc.group(gc.assign(a, b), gc.assign(b, a))
    with gc.Session() as sess:
        assert sess.run(swap) is None
        assert sess.run([a, b]) == [2.0, 1.0]
        # a read fetched beside the update sees the old value
        old, new = sess.run([a, gc.assign_add(a, 5.0)])
        assert (old, new) == (2.0, 7.0)
        assert sess.run(a) == 7.0


def test_updates_commit_in_place_of_each_other_not_in_order():
    v = var(3.0, "v")
    doubled = gc.assign(v, v * 2.0)
    w = var(0.0, "w")
    copy = gc.assign(w, v)     # reads v before the run, whatever doubled does
    with gc.Session() as sess:
        sess.run([doubled, copy])
        assert sess.run([v, w]) == [6.0, 3.0]


def test_one_update_per_variable_per_run():
    v = var(0.0, "v")
    with gc.Session() as sess:
        with pytest.raises(GraphcError, match="'v' is updated twice in one run"):
            sess.run([gc.assign(v, 1.0), gc.assign(v, 2.0)])
        assert sess.run(v) == 0.0


def test_a_failed_run_commits_nothing():
    v = var([1.0, 2.0, 3.0], "v")
    step = var(0.0, "step")
    index = gc.placeholder(gc.int64, (1,))
    bad = gc.gather(v, index)              # out-of-range index fails at run time
    update = gc.group(gc.assign_add(step, 1.0), gc.assign(v, v * 10.0))
    with gc.Session() as sess:
        with pytest.raises(ExecutionError):
            sess.run([update, bad], {index: [7]})
        assert sess.run(step) == 0.0
        assert_close(sess.run(v), [1.0, 2.0, 3.0])
        sess.run([update, bad], {index: [1]})
        assert sess.run(step) == 1.0


def test_control_dependencies_run_the_updates():
    counter = var(0.0, "counter")
    x = gc.placeholder(gc.float32, ())
    with gc.control_dependencies([gc.assign_add(counter, 1.0)]):
        y = x * 2.0
    z = x + 1.0                                 # built outside: no dependency
    with gc.Session() as sess:
        assert sess.run(y, {x: 3.0}) == 6.0
        assert sess.run(y, {x: 3.0}) == 6.0
        assert sess.run(z, {x: 3.0}) == 4.0
        assert sess.run(counter) == 2.0
        # a consumer of y depends on it, so the update runs for it too
        assert sess.run(y + 1.0, {x: 1.0}) == 3.0
        assert sess.run(counter) == 3.0


def test_an_assign_used_as_a_value_is_committed():
    v = var(1.0, "v")
    twice = gc.assign_add(v, 1.0) * 2.0
    with gc.Session() as sess:
        assert sess.run(twice) == 4.0
        assert sess.run(v) == 2.0


def test_assign_checks_shape_and_variable():
    v = var(np.zeros((2, 3)), "v")
    with pytest.raises(GraphcError, match="assign"):
        gc.assign(v, np.zeros((3, 2), np.float32))
    with pytest.raises(GraphcError, match="Variable"):
        gc.assign(gc.constant(1.0), 2.0)


def test_assign_casts_to_the_variables_dtype():
    v = gc.Variable(np.zeros(2, np.float64), name="v")
    with gc.Session() as sess:
        out = sess.run(gc.assign(v, gc.constant([1.5, 2.5], gc.float32)))
        assert out.dtype == np.float64 and sess.run(v).dtype == np.float64


def test_variables_survive_a_steady_state_loop_unaliased():
    # updates reuse no memory that a caller still holds
    v = var(np.zeros(4), "v")
    inc = gc.assign_add(v, 1.0)
    with gc.Session() as sess:
        seen = [sess.run(inc) for _ in range(5)]
        assert [float(s[0]) for s in seen] == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert_close(sess.run(v), np.full(4, 5.0))


# -- optimizers against numpy -------------------------------------------------------------
def _problem():
    """A least-squares problem: loss = mean((x @ w + b - y)^2)."""
    x_val = RNG.standard_normal((16, 5))
    y_val = RNG.standard_normal((16, 2))
    w0, b0 = RNG.standard_normal((5, 2)) * 0.1, np.zeros(2)
    return x_val, y_val, w0, b0


def _numpy_grads(x, y, w, b):
    r = x @ w + b - y
    g = 2.0 * r / r.size
    return x.T @ g, g.sum(0)


def _sgd(p, g, s, lr, momentum=0.0, nesterov=False, **_):
    if not momentum:
        return p - lr * g
    s["a"] = momentum * s.get("a", 0.0) + g
    return p - lr * (g + momentum * s["a"] if nesterov else s["a"])


def _adam(p, g, s, lr, t, beta1=0.9, beta2=0.999, eps=1e-8):
    s["m"] = beta1 * s.get("m", 0.0) + (1 - beta1) * g
    s["v"] = beta2 * s.get("v", 0.0) + (1 - beta2) * g * g
    lr_t = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    return p - lr_t * s["m"] / (np.sqrt(s["v"]) + eps)


def _rmsprop(p, g, s, lr, decay=0.9, momentum=0.0, eps=1e-10, **_):
    s["ms"] = decay * s.get("ms", 0.0) + (1 - decay) * g * g
    delta = lr * g / np.sqrt(s["ms"] + eps)
    if not momentum:
        return p - delta
    s["mom"] = momentum * s.get("mom", 0.0) + delta
    return p - s["mom"]


OPTIMIZERS = {
    "sgd": (lambda: gc.train.SGD(0.1), _sgd, {"lr": 0.1}),
    "momentum": (lambda: gc.train.SGD(0.05, momentum=0.9), _sgd, {"lr": 0.05, "momentum": 0.9}),
    "nesterov": (lambda: gc.train.SGD(0.05, momentum=0.8, nesterov=True), _sgd,
                 {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    "adam": (lambda: gc.train.Adam(0.01), _adam, {"lr": 0.01}),
    "adam-custom": (lambda: gc.train.Adam(0.02, beta1=0.8, beta2=0.99, eps=1e-6), _adam,
                    {"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}),
    "rmsprop": (lambda: gc.train.RMSProp(0.01), _rmsprop, {"lr": 0.01}),
    "rmsprop-momentum": (lambda: gc.train.RMSProp(0.01, decay=0.8, momentum=0.5, eps=1e-6), _rmsprop,
                         {"lr": 0.01, "decay": 0.8, "momentum": 0.5, "eps": 1e-6}),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("device", ["cpu", "reference"])
def test_optimizer_matches_numpy(name, device):
    make, reference, kwargs = OPTIMIZERS[name]
    x_val, y_val, w0, b0 = _problem()
    x = gc.placeholder(gc.float64, (None, 5))
    y = gc.placeholder(gc.float64, (None, 2))
    w, b = gc.Variable(w0, name="w"), gc.Variable(b0, name="b")
    loss = gc.mean(gc.square(x @ w + b - y))
    train_op = make().minimize(loss)
    ref_w, ref_b, state_w, state_b = w0.copy(), b0.copy(), {}, {}
    with gc.Session(device=device) as sess:
        for t in range(1, 6):
            _, loss_val = sess.run([train_op, loss], {x: x_val, y: y_val})
            assert_close(loss_val, np.mean((x_val @ ref_w + ref_b - y_val) ** 2), np.float64)
            gw, gb = _numpy_grads(x_val, y_val, ref_w, ref_b)
            extra = {"t": t} if reference is _adam else {}
            ref_w = reference(ref_w, gw, state_w, **kwargs, **extra)
            ref_b = reference(ref_b, gb, state_b, **kwargs, **extra)
            assert_close(sess.run(w), ref_w, np.float64)
            assert_close(sess.run(b), ref_b, np.float64)


def test_learning_rate_may_be_a_tensor():
    lr = gc.placeholder(gc.float32, ())
    w = var([1.0, -2.0], "w")
    train_op = gc.train.SGD(lr).minimize(gc.sum(gc.square(w)))
    with gc.Session() as sess:
        sess.run(train_op, {lr: 0.25})        # w -= 0.25 * 2w  -> w / 2
        assert_close(sess.run(w), [0.5, -1.0])
        sess.run(train_op, {lr: 0.0})
        assert_close(sess.run(w), [0.5, -1.0])


def test_slots_are_non_trainable_variables_and_global_step_advances():
    w = var(np.ones(3), "w")
    step = gc.Variable(np.int64(0), name="global_step", trainable=False)
    opt = gc.train.Adam(0.1)
    train_op = opt.minimize(gc.sum(w * w), global_step=step)
    m = opt.get_slot(w, "m")
    assert m.name == "w/Adam/m" and not m.trainable
    assert [v.name for v in gc.trainable_variables()] == ["w"]
    ref, state = np.ones(3), {}
    with gc.Session() as sess:
        for t in range(1, 4):
            sess.run(train_op)
            ref = _adam(ref, 2 * ref, state, 0.1, t)
        assert sess.run(step) == 3
        assert_close(sess.run(m), state["m"])
        assert_close(sess.run(w), ref)


def test_minimize_errors_name_the_problem():
    w = var(1.0, "w")
    unrelated = var(2.0, "unrelated")
    with pytest.raises(GraphcError, match="no gradient reaches any of the variables 'unrelated'"):
        gc.train.SGD(0.1).minimize(w * 2.0, var_list=[unrelated])
    with pytest.raises(GraphcError, match="not a gc.Variable"):
        gc.train.SGD(0.1).minimize(w * 2.0, var_list=[w * 1.0])


def test_training_an_mlp_lowers_the_loss():
    x_val = RNG.standard_normal((64, 4)).astype(np.float32)
    labels = (x_val[:, 0] + x_val[:, 1] > 0).astype(np.int64)
    x = gc.placeholder(gc.float32, (None, 4))
    y = gc.placeholder(gc.int64, (None,))
    w1 = gc.Variable(RNG.standard_normal((4, 16)).astype(np.float32) * 0.5, name="w1")
    w2 = gc.Variable(RNG.standard_normal((16, 2)).astype(np.float32) * 0.5, name="w2")
    logits = gc.relu(x @ w1) @ w2
    loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits, y))
    train_op = gc.train.Adam(0.05).minimize(loss)
    with gc.Session() as sess:
        first = sess.run(loss, {x: x_val, y: labels})
        for _ in range(100):
            sess.run(train_op, {x: x_val, y: labels})
        last, predicted = sess.run([loss, gc.argmax(logits, 1)], {x: x_val, y: labels})
    assert last < 0.2 * first
    assert (predicted == labels).mean() >= 0.95


# -- updates written in place ------------------------------------------------------------
def _storage_after_steps(sess, op, var, feed=None, steps=3):
    ids = set()
    for _ in range(steps):
        sess.run(op, feed)
        ids.add(id(sess._variables[var.name]))
    return ids


def test_sgd_updates_are_written_into_the_variables():
    x_val, y_val, w0, b0 = _problem()
    x = gc.placeholder(gc.float64, (None, 5))
    y = gc.placeholder(gc.float64, (None, 2))
    w, b = gc.Variable(w0, name="w"), gc.Variable(b0, name="b")
    loss = gc.mean(gc.square(x @ w + b - y))
    train_op = gc.train.SGD(0.1, momentum=0.5).minimize(loss)
    feed = {x: x_val, y: y_val}
    with gc.Session() as sess:
        compiled = sess.compile(train_op, feed)
        assert {name for name, _ in compiled.inplace.values()} >= {"w", "w/SGD/momentum"}
        assert len(_storage_after_steps(sess, train_op, w, feed)) == 1    # the same buffer every step
    with gc.Session(device="reference") as ref:
        for _ in range(3):
            ref.run(train_op, feed)
        expected = ref.run([w, b])
    with gc.Session() as sess:
        for _ in range(3):
            sess.run(train_op, feed)
        for got, want in zip(sess.run([w, b]), expected):
            assert_close(got, want, np.float64)


INPLACE_UNSAFE = {
    "transpose": lambda v: gc.transpose(v),                 # element (i, j) reads (j, i)
    "reduction": lambda v: v - gc.mean(v, 0, keepdims=True),
    "matmul-operand": lambda v: v @ v,
    "shifted-slice": lambda v: gc.concat([v[1:], v[:1]], 0),
}


@pytest.mark.parametrize("name", sorted(INPLACE_UNSAFE))
def test_updates_that_read_other_positions_are_not_in_place(name):
    start = RNG.standard_normal((4, 4))
    v = gc.Variable(start, name="v")
    update = gc.group(gc.assign(v, INPLACE_UNSAFE[name](v)))
    with gc.Session() as sess, gc.Session(device="reference") as ref:
        for _ in range(2):
            sess.run(update)
            ref.run(update)
        assert_close(sess.run(v), ref.run(v), np.float64)


def test_a_later_reader_keeps_the_old_value():
    v = gc.Variable(np.arange(4.0), name="v")
    w = gc.Variable(np.zeros(4), name="w")
    update = gc.group(gc.assign(v, v * 2.0), gc.assign(w, gc.exp(v) + v))
    with gc.Session() as sess:
        sess.run(update)
        assert_close(sess.run(v), np.arange(4.0) * 2, np.float64)
        assert_close(sess.run(w), np.exp(np.arange(4.0)) + np.arange(4.0), np.float64)


def test_independent_weight_gradients_run_side_by_side():
    """Two layers' weight-gradient GEMMs (independent, each written into its variable) run
    at once, one per thread, and give what the reference gives."""
    x_val = RNG.standard_normal((192, 160)).astype(np.float32)
    labels = RNG.integers(0, 10, 192)
    x = gc.placeholder(gc.float32, (None, 160))
    y = gc.placeholder(gc.int64, (None,))
    w1 = gc.Variable((RNG.standard_normal((160, 320)) * 0.1).astype(np.float32), name="w1")
    w2 = gc.Variable((RNG.standard_normal((320, 320)) * 0.1).astype(np.float32), name="w2")
    w3 = gc.Variable((RNG.standard_normal((320, 10)) * 0.1).astype(np.float32), name="w3")
    logits = gc.relu(gc.relu(x @ w1) @ w2) @ w3
    loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits, y))
    train_op = gc.train.SGD(0.1).minimize(loss)
    feed = {x: x_val, y: labels}
    with gc.Session() as sess, gc.Session(device="reference") as ref:
        fast = sess.compile([train_op, loss], feed)._executor.bound
        if CORES > 1 and fast is not None:
            assert any(len(group) == 2 for group in fast.groups)
        for _ in range(3):
            got = sess.run([train_op, loss], feed)[1]
            want = ref.run([train_op, loss], feed)[1]
            assert_close(got, want, np.float32)
        for v in (w1, w2, w3):
            assert_close(sess.run(v), ref.run(v), np.float32)


def test_an_update_gemm_outside_the_fast_path_starts_from_the_variable():
    """With a numpy-fallback kernel (gather) in the step there is no all-native fast path,
    so updates get fresh arrays: the update GEMM then copies the variable's values into its
    output before adding the scaled product."""
    table = gc.Variable(RNG.standard_normal((6, 5)).astype(np.float32), name="table")
    w = gc.Variable(RNG.standard_normal((5, 7)).astype(np.float32), name="w")
    ids = gc.placeholder(gc.int64, (None,))
    loss = gc.sum(gc.square(gc.gather(table, ids) @ w))
    train_op = gc.train.SGD(0.01).minimize(loss)
    feed = {ids: np.array([0, 3, 3, 5])}
    with gc.Session() as sess, gc.Session(device="reference") as ref:
        compiled = sess.compile(train_op, feed)
        assert compiled._executor.bound is None and "w" in {n for n, _ in compiled.inplace.values()}
        for _ in range(2):
            sess.run(train_op, feed)
            ref.run(train_op, feed)
        assert_close(sess.run(w), ref.run(w), np.float32)
        assert_close(sess.run(table), ref.run(table), np.float32)


def test_a_learning_rate_schedule_computed_in_the_graph():
    """lr = 0.1 * 0.5**step from the global step the same train op advances: each step
    uses the step count from before it."""
    step = gc.Variable(np.int64(0), name="global_step", trainable=False)
    lr = 0.1 * gc.power(0.5, gc.cast(step, gc.float32))
    w = var([1.0, -2.0], "w")
    train_op = gc.train.SGD(lr).minimize(gc.sum(gc.square(w)), global_step=step)   # gradient 2w
    expected = np.array([1.0, -2.0])
    with gc.Session() as sess:
        for t in range(3):
            sess.run(train_op)
            expected = expected - 0.1 * 0.5 ** t * 2 * expected
            assert_close(sess.run(w), expected)
        assert sess.run(step) == 3


def test_an_update_whose_fed_shape_does_not_fit_is_refused():
    v = var(np.zeros((2, 3)), "v")
    x = gc.placeholder(gc.float32, (None, 3))
    update = gc.assign(v, x * 2.0)
    with gc.Session() as sess:
        with pytest.raises(GraphcError, match=r"assign .* variable 'v' \(2, 3\) has shape \(4, 3\)"):
            sess.run(update, {x: np.ones((4, 3), np.float32)})
        assert sess.run(v).shape == (2, 3)
        assert_close(sess.run(update, {x: np.ones((2, 3), np.float32)}), np.full((2, 3), 2.0))


def test_a_variable_made_under_control_dependencies_initializes_alone():
    counter = var(0.0, "counter")
    with gc.control_dependencies([gc.assign_add(counter, 1.0)]):
        v = gc.Variable(np.float32(5.0), name="v")
    with gc.Session() as sess:
        assert sess.run(v) == 5.0
        assert sess.run(counter) == 1.0      # reading v ran its control input once


def test_optimizers_share_step_sizes_and_constants_across_variables():
    """Adam's bias-corrected step size (two powers of the step) and the hyperparameter
    constants are built once per dtype, not once per variable; the values are Adam's."""
    ws = [var(RNG.standard_normal(n), f"w{n}") for n in (3, 4, 5, 6)]
    loss = gc.sum(gc.stack([gc.sum(gc.square(w)) for w in ws]))
    graph = ws[0].graph
    before = len(graph.nodes)
    step = gc.train.Adam(0.05).minimize(loss)
    added = graph.nodes[before:]
    assert sum(n.op == "power" for n in added) == 2
    scalars = [float(n.attrs["value"]) for n in added if n.op == "constant" and n.shape == ()]
    for hyper in (0.9, 0.1, 0.999, 0.001, 1e-8):   # (each once, for all four variables)
        assert scalars.count(float(np.float32(hyper))) == 1, hyper
    with gc.Session() as sess:
        start = [sess.run(w).astype(np.float64) for w in ws]
        for _ in range(3):
            sess.run(step)
        got = [sess.run(w) for w in ws]
    for w0, w in zip(start, got):
        m = v = np.zeros_like(w0)
        for t in range(1, 4):
            g = 2 * w0
            m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
            w0 = w0 - 0.05 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-8)
        assert_close(w, w0.astype(np.float32), np.float32)
