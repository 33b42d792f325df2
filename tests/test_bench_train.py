"""The mlp_train benchmark's own check: graphc's training step (fused and unfused) agrees
with the float64 numpy step the benchmark verifies every system against, and that check
does catch a wrong step."""
import numpy as np
import pytest

from graphc import bench_train


@pytest.fixture(scope="module")
def problem():
    x, labels, params = bench_train.inputs(np.random.default_rng(0))
    return x, labels, params, bench_train.numpy_step(x, labels, params, dtype=np.float64)


@pytest.mark.parametrize("optimize", [True, False], ids=["fused", "unfused"])
def test_graphc_step_matches_the_numpy_step(problem, optimize):
    x, labels, params, reference = problem
    step, get_params = bench_train.graphc_system(x, labels, params, optimize=optimize)
    assert bench_train.check_first_step(step, get_params, reference) is None


def test_the_check_catches_a_wrong_update(problem):
    x, labels, params, reference = problem
    step, get_params = bench_train.numpy_system(x, labels, params)
    assert bench_train.check_first_step(step, get_params, reference) is None
    step, get_params = bench_train.numpy_system(x, labels, params)
    wrong = lambda: [p * 1.001 for p in get_params()]   # noqa: E731
    assert "parameter 0 differs" in bench_train.check_first_step(step, wrong, reference)
