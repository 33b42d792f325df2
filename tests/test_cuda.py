"""The CUDA backend as a user meets it: the executor on the host ("cuda-host": the same
executor and generated code as device="cuda", one thread), the clear error without a GPU,
and, with a GPU, the same checks on device="cuda" (marked ``cuda``: they skip without one).
"""
import shutil

import numpy as np
import pytest

import graphc as gc
from graphc.errors import GraphcError

HOST = pytest.mark.skipif(shutil.which("g++") is None, reason="cuda-host compiles the generated code with g++")


def _gpu_reason():
    try:
        import cupy
        return None if cupy.cuda.runtime.getDeviceCount() > 0 else "no GPU"
    except Exception as e:   # not installed, or no driver
        return f"no GPU here ({type(e).__name__})"


GPU = _gpu_reason()
CUDA = pytest.mark.cuda


def _train(device, steps=5):
    """A small MLP trained with SGD: (losses, final weights)."""
    rng = np.random.default_rng(0)
    x = gc.placeholder(gc.float32, (32, 20), name="x")
    t = gc.placeholder(gc.int64, (32,), name="t")
    w1 = gc.Variable((rng.standard_normal((20, 64)) * 0.2).astype(np.float32), name="w1")
    w2 = gc.Variable((rng.standard_normal((64, 5)) * 0.2).astype(np.float32), name="w2")
    logits = gc.nn.relu(gc.nn.layer_norm(x @ w1)) @ w2
    loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits, t))
    g1, g2 = gc.gradients(loss, [w1, w2])
    step = gc.group(gc.assign_sub(w1, 0.5 * g1), gc.assign_sub(w2, 0.5 * g2))
    feeds = {x: rng.standard_normal((32, 20)).astype(np.float32), t: rng.integers(0, 5, 32)}
    with gc.Session(device=device) as sess:
        losses = [sess.run([step, loss], feeds)[1] for _ in range(steps)]
        return np.array(losses), sess.run([w1, w2])


def test_cuda_without_a_gpu_names_what_is_missing():
    if GPU is None:
        pytest.skip("a GPU is present")
    with pytest.raises(GraphcError, match=r'device="cuda" (needs CuPy|found no)') as info:
        gc.Session(device="cuda")
    assert "cupy" in str(info.value).lower() or "driver" in str(info.value) or "GPU" in str(info.value)


@HOST
def test_training_on_cuda_host_follows_the_cpu():
    gc.reset_default_graph()
    cpu_losses, cpu_weights = _train("cpu")
    gc.reset_default_graph()
    losses, weights = _train("cuda-host")
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-4, atol=1e-5)
    for a, b in zip(weights, cpu_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@HOST
def test_cuda_host_runs_what_it_cannot_render_through_the_reference():
    x = gc.placeholder(gc.int32, (5,), name="x")
    table = gc.constant(np.arange(12, dtype=np.float32).reshape(6, 2))
    y = gc.gather(table, x, axis=0) * 2.0 + gc.expand_dims(gc.cast(x ** 2, gc.float32), 1)   # (power: the reference)
    with gc.Session(device="cuda-host") as sess:
        got = sess.run(y, {x: np.array([0, 5, 2, 2, 1], np.int32)})
    idx = np.array([0, 5, 2, 2, 1])
    np.testing.assert_array_equal(got, np.arange(12, dtype=np.float32).reshape(6, 2)[idx] * 2 + (idx ** 2)[:, None])


@HOST
def test_cuda_host_fetches_are_owned_and_variables_survive_a_failed_run():
    v = gc.Variable(np.ones(4, np.float32), name="v")
    x = gc.placeholder(gc.float32, (4,), name="x")
    step = gc.assign(v, v * x)
    with gc.Session(device="cuda-host") as sess:
        sess.run(step, {x: np.full(4, 2.0, np.float32)})
        first = sess.run(v)
        first[:] = -1.0                                      # the caller's copy, not the session's
        with pytest.raises(GraphcError):
            sess.run(step, {x: np.ones(3, np.float32)})      # a bad feed: nothing runs
        np.testing.assert_array_equal(sess.run(v), np.full(4, 2.0, np.float32))


@HOST
def test_a_run_is_captured_once_and_replayed():
    """The second run on replays the captured run (one graph launch on a GPU; on the host a
    record of every launch with the buffers it was given): new feeds, variables updated in
    place run after run, and what a caller holds from one run is not touched by the next."""
    rng = np.random.default_rng(5)
    x = gc.placeholder(gc.float32, (16, 8), name="x")
    w = gc.Variable(rng.standard_normal((8, 3)).astype(np.float32), name="w")
    b = gc.Variable(np.zeros(3, np.float32), name="b")
    y = gc.nn.softmax(x @ w + b)
    loss = gc.mean(y * y)
    gw, gb = gc.gradients(loss, [w, b])
    step = gc.group(gc.assign_sub(w, 0.5 * gw), gc.assign_sub(b, 0.5 * gb))
    feeds = [rng.standard_normal((16, 8)).astype(np.float32) for _ in range(4)]
    results = {}
    for device in ("cpu", "cuda-host"):
        with gc.Session(device=device) as sess:
            compiled = sess.compile([y, loss, step], {x: feeds[0]})
            held = [sess.run([y, loss, step], {x: f})[:2] for f in feeds]
            results[device] = held, sess.run([w, b])
            if device == "cuda-host":
                assert compiled._executor.replay is not None and compiled.writes_in_place
                assert sess.compile(y, {x: feeds[0]})._executor.replay is None   # (compiled, never run)
    (cpu_held, cpu_vars), (held, variables) = results["cpu"], results["cuda-host"]
    for got, want in zip(held, cpu_held):   # each run's own values, though later runs replayed
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-7)
    for got, want in zip(variables, cpu_vars):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(held[0][0], held[1][0])


@HOST
def test_a_view_that_copies_is_made_again_in_every_replayed_run():
    """The fuzzer's seed 910284: tile is a reshape of a broadcast, a view op whose numpy (and
    CuPy) result is a copy; a replay must make it from the run's feed, not the captured one."""
    x = gc.placeholder(gc.float32, (383, 1), name="x")
    tiled = gc.tile(x, (3, 1))
    fetches = [tiled, tiled * 2.0]
    rng = np.random.default_rng(11)
    with gc.Session(device="cuda-host") as sess:
        for _ in range(3):
            a = rng.standard_normal((383, 1)).astype(np.float32)
            got, twice = sess.run(fetches, {x: a})
            np.testing.assert_array_equal(got, np.tile(a, (3, 1)))
            np.testing.assert_array_equal(twice, np.tile(a, (3, 1)) * 2)
        assert sess.compile(fetches, {x: a})._executor.replay is not None


@HOST
def test_replayed_runs_fetch_a_variable_beside_its_update_and_set_unread_variables():
    v = gc.Variable(np.arange(4, dtype=np.float32), name="v")
    u = gc.Variable(np.zeros(4, np.float32), name="u")
    x = gc.placeholder(gc.float32, (4,), name="x")
    fetches = [v, gc.assign(v, v + x), gc.assign(u, x * 2.0)]
    with gc.Session(device="cuda-host") as sess:
        for k in range(1, 4):
            old, new, _ = sess.run(fetches, {x: np.full(4, k, np.float32)})
            np.testing.assert_array_equal(old, np.arange(4) + sum(range(k)))
            np.testing.assert_array_equal(new, np.arange(4) + sum(range(k + 1)))
        np.testing.assert_array_equal(sess.run(v), np.arange(4) + 6.0)
        np.testing.assert_array_equal(sess.run(u), np.full(4, 6.0))


@HOST
def test_a_program_that_needs_the_host_between_kernels_is_not_captured():
    x = gc.placeholder(gc.int32, (3,), name="x")
    y = gc.cast(x ** 3, gc.float32) * 2.0   # (integer power: the reference, through the host)
    with gc.Session(device="cuda-host") as sess:
        for k in range(3):
            np.testing.assert_array_equal(sess.run(y, {x: np.array([k, 1, 5], np.int32)}), np.array([k, 1, 5]) ** 3 * 2.0)
        assert sess.compile(y, {x: np.zeros(3, np.int32)})._executor.replay is None


@HOST
def test_check_numerics_on_cuda_host_names_the_op():
    from graphc.errors import NumericsError
    x = gc.placeholder(gc.float32, (4,), name="x")
    y = gc.sqrt(x - 1.0, name="root") * 2.0
    with gc.Session(device="cuda-host") as sess:
        ok = np.full(4, 5.0, np.float32)
        np.testing.assert_array_equal(sess.run(y, {x: ok}, check_numerics=True), sess.run(y, {x: ok}))
        with pytest.raises(NumericsError) as info:
            sess.run(y, {x: np.array([5, 0, 2, 2], np.float32)}, check_numerics=True)
    assert info.value.op_name == "root" and "test_cuda.py" in str(info.value)


# -- on a GPU ---------------------------------------------------------------------------------
@CUDA
@pytest.mark.skipif(GPU is not None, reason=str(GPU))
def test_training_on_the_gpu_follows_the_cpu():
    gc.reset_default_graph()
    cpu_losses, cpu_weights = _train("cpu")
    gc.reset_default_graph()
    losses, weights = _train("cuda")
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-4, atol=1e-5)
    for a, b in zip(weights, cpu_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@CUDA
@pytest.mark.skipif(GPU is not None, reason=str(GPU))
def test_device_arrays_in_and_out():
    import cupy
    x = gc.placeholder(gc.float32, (1000, 300), name="x")
    y = gc.nn.softmax(x * 2.0)
    data = np.random.default_rng(1).standard_normal((1000, 300)).astype(np.float32)
    with gc.Session(device="cuda", return_device_arrays=True) as sess:
        got = sess.run(y, {x: cupy.asarray(data)})
    assert isinstance(got, cupy.ndarray)
    e = np.exp(2.0 * data.astype(np.float64) - 2.0 * data.max(axis=1, keepdims=True))
    np.testing.assert_allclose(cupy.asnumpy(got), e / e.sum(axis=1, keepdims=True), rtol=2e-5, atol=1e-7)


@CUDA
@pytest.mark.skipif(GPU is not None, reason=str(GPU))
def test_every_op_on_the_gpu():
    import test_op_table as walk
    for dtype in ("float32", "float64", "int32", "int64", "bool"):
        gc.reset_default_graph()
        fetches, feeds, exact = walk.elementwise_case(np.dtype(dtype))
        expected = walk.definition(fetches, feeds)
        with gc.Session(device="cuda") as sess:
            for got, want, is_exact in zip(sess.run(fetches, feeds), expected, exact):
                walk.assert_as_defined([got], [want], is_exact)
    for op, example in walk.EXAMPLES.items():
        gc.reset_default_graph()
        fetches, feeds, exact = example()
        expected = walk.definition(fetches, feeds)
        with gc.Session(device="cuda") as sess:
            walk.assert_as_defined(sess.run(fetches, feeds), expected, exact)
