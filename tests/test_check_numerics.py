"""check_numerics: a checked run raises at the first NaN/Inf an op produces, naming the op,
its op type, its kernel and the user's line, also inside fused kernels; it runs the same
compiled program (no unfusing), a passing checked run gives the unchecked results bit for
bit, and a failed one changes no Variable."""
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.errors import ExecutionError, NumericsError
from graphc.runtime.numerics import NumericsCheck

HERE = "test_check_numerics.py"


def here():
    """The caller's current line number."""
    return sys._getframe(1).f_lineno


def checked_error(sess, fetches, feed_dict=None):
    """The NumericsError a checked run of ``fetches`` raises."""
    with pytest.raises(NumericsError) as info:
        sess.run(fetches, feed_dict, check_numerics=True)
    return info.value


def kernel_of(compiled, name):
    """The compiled program's kernel that covers op ``name``."""
    (kernel,) = [k for k in compiled.kernels if name in k.nodes]
    return kernel


def assert_points_at(err, line, op_name, op_type, what):
    assert (err.op_name, err.op_type, err.what) == (op_name, op_type, what)
    assert err.loc is not None and err.loc.endswith(f"{HERE}:{line}"), err.loc
    msg = str(err)
    assert f"{op_type} '{op_name}'" in msg and f"{HERE}:{line}" in msg, msg


# -- inside fused kernels ------------------------------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "reference"])
def test_exp_overflow_in_a_fused_softmax_names_the_exp_not_the_divide(device):
    x = gc.placeholder(gc.float32, (2, 4), name="x")
    line = here() + 1
    e = gc.exp(x)
    p = e / gc.sum(e, axis=1, keepdims=True)     # no max subtracted: exp(100) overflows
    xv = np.array([[1, 2, 3, 100], [0, 1, 2, 3]], np.float32)
    with gc.Session(device=device) as sess:
        compiled = sess.compile(p, {x: xv})
        (kernel,) = compiled.kernels
        assert kernel.kind == "reduction" and {e.name, p.name} <= set(kernel.nodes)
        unchecked = sess.run(p, {x: xv})
        assert np.isnan(unchecked[0, 3])          # what is fetched is the divide's inf/inf
        err = checked_error(sess, p, {x: xv})
    assert_points_at(err, line, e.name, "exp", "inf")
    assert err.kernel == kernel.name and not err.fed and isinstance(err, ExecutionError)
    msg = str(err)
    assert f"fused kernel '{kernel.name}'" in msg and "index (0, 3)" in msg and "from finite inputs" in msg


def test_log_of_zero_in_a_fused_chain_is_reported_as_the_log():
    x = gc.placeholder(gc.float32, (3,), name="x")
    line = here() + 1
    lg = gc.log(x)
    y = lg * 2.0 + 1.0
    with gc.Session() as sess:
        compiled = sess.compile(y, {x: (3,)})
        kernel = kernel_of(compiled, lg.name)
        assert len(kernel.nodes) == 3             # log, multiply, add: one kernel
        err = checked_error(sess, y, {x: np.array([1.0, 0.0, 2.0], np.float32)})
    assert_points_at(err, line, lg.name, "log", "inf")   # log(0) = -inf is reported, as TF's check does
    assert err.kernel == kernel.name
    assert "-inf (1 of 3 values, the first at index (1,))" in str(err)


def test_sqrt_gradient_at_zero_in_a_fused_backward_kernel():
    x = gc.placeholder(gc.float32, (3,), name="x")
    mask = gc.constant(np.array([0.0, 1.0, 1.0], np.float32))
    y = gc.sqrt(x)
    line = here() + 1
    (g,) = gc.gradients(gc.sum(y * mask), [x])   # mask * (0.5 / sqrt(x)): 0 * (0.5 / 0) = nan
    xv = np.array([0.0, 1.0, 4.0], np.float32)
    with gc.Session() as sess:
        unchecked = sess.run(g, {x: xv})
        assert np.isnan(unchecked[0]) and np.array_equal(unchecked[1:], [0.5, 0.25])
        compiled = sess.compile(g, {x: xv})
        err = checked_error(sess, g, {x: xv})
    kernel = kernel_of(compiled, err.op_name)
    assert len(kernel.nodes) > 1 and err.kernel == kernel.name   # inside a fused kernel
    assert err.op_name != g.name                                 # not the multiply that made the nan
    assert_points_at(err, line, err.op_name, "divide", "inf")     # the 0.5 / sqrt(0) of the gradient


def test_the_op_named_is_on_the_path_to_the_kernels_output():
    x = gc.placeholder(gc.float32, (3,), name="x")
    safe_log = gc.where(x > 0.0, gc.log(x), 0.0)  # log's nan for x < 0 never leaves the kernel
    line = here() + 1
    e = gc.exp(x * 100.0)
    y = safe_log + e
    with gc.Session() as sess:
        compiled = sess.compile(y, {x: (3,)})
        kernel = kernel_of(compiled, e.name)
        assert {"log", "where", y.name} <= set(kernel.nodes)
        err = checked_error(sess, y, {x: np.array([-1.0, 1.0, 2.0], np.float32)})
    assert_points_at(err, line, e.name, "exp", "inf")      # not the earlier, masked log
    assert err.kernel == kernel.name


def test_inputs_the_kernel_overwrites_are_saved_for_the_re_run():
    x = gc.placeholder(gc.float32, (4, 4), name="x")
    w = gc.Variable(np.eye(4, dtype=np.float32), name="w")
    h = x @ w
    a = h @ w
    line = here() + 1
    e = gc.exp(h)
    b = e * 2.0
    z = a + b @ w
    xv = np.ones((4, 4), np.float32)
    xv[1, 2] = 100.0
    with gc.Session() as sess:
        compiled = sess.compile(z, {x: xv})
        location = compiled.memory_plan.location()
        assert kernel_of(compiled, e.name).name == b.name
        assert location[b.name] == location[h.name]      # the exp kernel writes over its input
        err = checked_error(sess, z, {x: xv})
    assert_points_at(err, line, e.name, "exp", "inf")
    assert err.kernel == b.name and "from finite inputs" in str(err)


def test_matmul_overflow_in_a_fused_matmul_kernel():
    x = gc.placeholder(gc.float32, (2, 3), name="x")
    w = gc.Variable(np.full((3, 2), 1e20, np.float32), name="w")
    b = gc.Variable(np.zeros(2, np.float32), name="b")
    line = here() + 1
    prod = x @ w
    h = gc.relu(prod + b)
    xv = np.full((2, 3), 1e20, np.float32)        # 3e40 overflows float32
    with gc.Session() as sess:
        compiled = sess.compile(h, {x: xv})
        kernel = kernel_of(compiled, prod.name)
        assert kernel.kind == "matmul" and h.name in kernel.nodes
        err = checked_error(sess, h, {x: xv})
    assert_points_at(err, line, prod.name, "matmul", "inf")
    assert err.kernel == kernel.name


# -- values that come in ---------------------------------------------------------------------
def test_nan_fed_by_the_user_is_reported_as_fed():
    line = here() + 1
    images = gc.placeholder(gc.float32, (2, 2), name="images")
    y = gc.exp(images) * 3.0
    bad = np.array([[1.0, np.nan], [0.0, 1.0]], np.float32)
    with gc.Session() as sess:
        err = checked_error(sess, y, {images: bad})
    assert_points_at(err, line, "images", "placeholder", "nan")
    assert err.fed and err.kernel is None
    assert "fed" in str(err) and "index (0, 1)" in str(err)


def test_nan_in_a_variable_is_reported_as_its_stored_value():
    line = here() + 1
    w = gc.Variable(np.array([1.0, 2.0], np.float32), name="w")
    poison = gc.assign(w, w * np.float32(np.nan))
    y = gc.exp(w) + 1.0
    with gc.Session() as sess:
        sess.run(poison)                          # an unchecked run stores the nan
        err = checked_error(sess, y)
    assert_points_at(err, line, "w", "variable", "nan")
    assert not err.fed and err.kernel is None and "stored value" in str(err)


# -- unfused and plan-less programs --------------------------------------------------------
def test_non_fused_program_names_the_op_and_its_own_kernel():
    x = gc.placeholder(gc.float32, (4,), name="x")
    line = here() + 1
    e = gc.exp(x)
    y = e - e                                     # inf - inf = nan in the next kernel
    with gc.Session(optimize=False) as sess:
        compiled = sess.compile(y, {x: (4,)})
        assert all(len(k.nodes) == 1 for k in compiled.kernels)
        err = checked_error(sess, y, {x: np.array([0.0, 1.0, 200.0, 2.0], np.float32)})
    assert_points_at(err, line, e.name, "exp", "inf")
    assert err.kernel == e.name and "a kernel of its own" in str(err)


def test_program_without_a_memory_plan_is_checked_too():
    x = gc.placeholder(gc.float32, (2, 4), name="x")
    line = here() + 1
    e = gc.exp(x)
    p = e / gc.sum(e, axis=1, keepdims=True)
    with gc.Session(passes=["fuse"]) as sess:
        assert sess.compile(p, {x: (2, 4)}).memory_plan is None
        err = checked_error(sess, p, {x: np.full((2, 4), 100.0, np.float32)})
    assert_points_at(err, line, e.name, "exp", "inf")
    assert err.kernel == p.name


# -- what is and is not reported -----------------------------------------------------------
def test_deliberate_minus_inf_through_where_is_reported_as_the_where():
    x = gc.placeholder(gc.float32, (3,), name="x")
    line = here() + 1
    masked = gc.where(x > 0.0, x, -np.inf)
    y = masked * 2.0
    with gc.Session() as sess:
        err = checked_error(sess, y, {x: np.array([1.0, -1.0, 2.0], np.float32)})
    assert_points_at(err, line, masked.name, "where", "inf")
    assert "reading the non-finite" in str(err) and "(constant)" in str(err)


def test_max_pool_minus_inf_padding_is_moved_not_computed_and_passes():
    x = gc.placeholder(gc.float32, (1, 1, 4, 4), name="x")
    y = gc.nn.max_pool2d(x, 3, stride=1, padding="SAME")
    xv = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    for optimize in (True, False):               # unfused, the -inf padding is a kernel's output
        with gc.Session(optimize=optimize) as sess:
            assert np.array_equal(sess.run(y, {x: xv}, check_numerics=True), sess.run(y, {x: xv}))


def test_integer_and_bool_outputs_are_not_checked():
    x = gc.placeholder(gc.float32, (2,), name="x")
    finite = gc.isfinite(gc.exp(x))               # the inf stays inside one fused kernel
    with gc.Session() as sess:
        assert sess.run(finite, {x: np.array([0.0, 100.0], np.float32)}, check_numerics=True).tolist() == [True, False]


def test_native_and_reference_disagreeing_reports_the_kernel():
    x = gc.placeholder(gc.float32, (3,), name="x")
    line = here() + 1
    y = gc.exp(x) * 2.0
    xv = np.ones(3, np.float32)
    with gc.Session() as sess:
        compiled = sess.compile(y, {x: xv})
    (node,) = [n for n in compiled.graph.nodes if n.op == "fused"]
    check = NumericsCheck(compiled.graph, {"x": xv}, {})
    out = np.full(3, np.nan, np.float32)          # as if the native code had produced nan
    inputs = check.inputs(node, {compiled.graph.node("x"): xv}, out)
    with pytest.raises(NumericsError) as info:
        check.output(node, out, inputs)
    err = info.value
    assert (err.op_name, err.op_type, err.kernel, err.what) == (y.name, "fused", y.name, "nan")
    assert err.loc.endswith(f"{HERE}:{line}") and "native code and the reference differ" in str(err)


# -- the same program, and no cost to what it does --------------------------------------------
def mlp_step(seed=0):
    rng = np.random.default_rng(seed)
    x = gc.placeholder(gc.float32, (64, 784), name="x")
    labels = gc.placeholder(gc.int64, (64,), name="labels")
    w1 = gc.Variable(rng.normal(0, 0.05, (784, 256)).astype(np.float32), name="w1")
    b1 = gc.Variable(np.zeros(256, np.float32), name="b1")
    w2 = gc.Variable(rng.normal(0, 0.05, (256, 10)).astype(np.float32), name="w2")
    logits = gc.relu(x @ w1 + b1) @ w2
    loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits, labels))
    train = gc.train.SGD(0.1, momentum=0.9).minimize(loss)
    feeds = [{x: rng.normal(size=(64, 784)).astype(np.float32), labels: rng.integers(0, 10, 64)}
             for _ in range(3)]
    return x, (w1, b1, w2), logits, loss, train, feeds


def test_passing_checked_run_is_bit_identical_to_an_unchecked_one():
    x, weights, logits, loss, train, feeds = mlp_step()
    results = {}
    for check in (False, True):
        with gc.Session() as sess:
            losses = [sess.run([train, loss], f, check_numerics=check)[1] for f in feeds]
            results[check] = losses + sess.run(list(weights)) + [sess.run(logits, {x: feeds[0][x]},
                                                                          check_numerics=check)]
    for unchecked, checked in zip(results[False], results[True]):
        assert np.array_equal(unchecked, checked)


def test_checked_runs_use_the_same_compiled_program():
    x, _, _, loss, train, feeds = mlp_step()
    with gc.Session() as sess:
        compiled = sess.compile([train, loss], feeds[0])
        kernels, plan = compiled.kernels, compiled.memory_plan
        assert any(len(k.nodes) > 1 for k in kernels)                 # fused
        sess.run([train, loss], feeds[0], check_numerics=True)
        bad = dict(feeds[1])
        bad[x] = np.full((64, 784), 3e38, np.float32)
        with pytest.raises(NumericsError):
            sess.run([train, loss], bad, check_numerics=True)
        sess.run([train, loss], feeds[2])
        assert sess.compile([train, loss], feeds[0]) is compiled       # no other program was built
        assert compiled.kernels == kernels and compiled.memory_plan is plan


def test_failed_checked_run_changes_no_variable_and_the_session_stays_usable():
    x, weights, _, loss, train, feeds = mlp_step()
    bad = dict(feeds[1])
    bad[x] = np.full((64, 784), 3e38, np.float32)   # the first GEMM overflows
    with gc.Session() as sess, gc.Session() as fresh:
        sess.run([train, loss], feeds[0])
        fresh.run([train, loss], feeds[0])
        before = sess.run(list(weights) + [v for v in gc.global_variables() if v not in weights])
        err = checked_error(sess, [train, loss], bad)
        assert err.op_type == "matmul"
        after = sess.run(list(weights) + [v for v in gc.global_variables() if v not in weights])
        assert all(np.array_equal(a, b) for a, b in zip(before, after))   # momentum slots too
        step = sess.run([train, loss], feeds[2], check_numerics=True)[1]
        assert step == fresh.run([train, loss], feeds[2])[1]


def test_per_run_option_overrides_the_sessions_setting():
    x = gc.placeholder(gc.float32, (2,), name="x")
    y = gc.log(x) + 1.0
    zero = {x: np.zeros(2, np.float32)}
    with gc.Session(check_numerics=True) as sess:
        with pytest.raises(NumericsError):
            sess.run(y, zero)
        assert np.array_equal(sess.run(y, zero, check_numerics=False), [-np.inf, -np.inf])
        with pytest.raises(NumericsError):
            sess.run(y, zero)                     # the fast path, remembered above, is not taken
    with gc.Session() as sess:
        assert np.array_equal(sess.run(y, zero), [-np.inf, -np.inf])
        assert np.array_equal(sess.run(y, zero), [-np.inf, -np.inf])   # the fast path
        with pytest.raises(NumericsError):
            sess.run(y, zero, check_numerics=True)
        assert sess.run(y, {x: np.ones(2, np.float32)}, check_numerics=True).tolist() == [1.0, 1.0]


def test_checked_runs_from_several_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor
    x = gc.placeholder(gc.float32, (64, 256), name="x")
    w = gc.Variable(np.random.default_rng(1).normal(0, 0.05, (256, 256)).astype(np.float32), name="w")
    line = here() + 1
    e = gc.exp(x @ w)
    y = e / gc.sum(e, axis=1, keepdims=True)
    good = np.random.default_rng(2).normal(size=(64, 256)).astype(np.float32)
    bad = good * 1e4
    with gc.Session() as sess:
        expected = sess.run(y, {x: good})

        def one(i):
            if i % 2:
                return np.array_equal(sess.run(y, {x: good}, check_numerics=True), expected)
            with pytest.raises(NumericsError) as info:
                sess.run(y, {x: bad}, check_numerics=True)
            return info.value.op_type == "exp" and info.value.loc.endswith(f"{HERE}:{line}")

        with ThreadPoolExecutor(4) as pool:
            assert all(pool.map(one, range(40)))
