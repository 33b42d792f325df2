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
    y = gc.gather(table, x, axis=0) * 2.0 + gc.expand_dims(gc.cast(x ** 2, gc.float32), 1)   # (the reference)
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
