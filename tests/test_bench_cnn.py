"""The cnn_train benchmark's own check: its hand-written float64 numpy step is the loss's
gradient (against central differences), and graphc's training step (fused and unfused)
agrees with it."""
import numpy as np
import pytest

from graphc import bench_cnn, bench_train


@pytest.fixture(scope="module")
def problem():
    x, labels, params = bench_cnn.inputs(np.random.default_rng(0))
    return x, labels, params, bench_cnn.numpy_step(x, labels, params, dtype=np.float64)


def test_the_numpy_step_follows_the_gradient(problem):
    x, labels, params, (loss, updated) = problem
    params = [p.astype(np.float64) for p in params]
    rng = np.random.default_rng(1)
    for k, p in enumerate(params):   # a few entries of each parameter
        grad = (p - updated[k]) / bench_cnn.LR
        for index in [tuple(rng.integers(0, n) for n in p.shape) for _ in range(4)]:
            def loss_at(delta):
                shifted = [q.copy() for q in params]
                shifted[k][index] += delta
                return bench_cnn.numpy_step(x, labels, shifted, dtype=np.float64)[0]
            numeric = (loss_at(1e-6) - loss_at(-1e-6)) / 2e-6
            assert abs(numeric - grad[index]) <= 1e-6 + 1e-5 * abs(numeric), (k, index, numeric, grad[index])
    assert np.isfinite(loss) and loss > 0


@pytest.mark.parametrize("optimize", [True, False], ids=["fused", "unfused"])
def test_graphc_step_matches_the_numpy_step(problem, optimize):
    x, labels, params, reference = problem
    step, get_params = bench_cnn.graphc_system(x, labels, params, optimize=optimize)
    assert bench_train.check_first_step(step, get_params, reference) is None
