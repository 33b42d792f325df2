"""Shared test setup: a fresh default graph per test, and the tolerances, stated once."""
import os

import numpy as np
import pytest

import graphc as gc

# float32 results are compared with these; float64 and integer results must match exactly
# or to float64 rounding (F64).
F32 = dict(rtol=2e-5, atol=1e-6)
F64 = dict(rtol=1e-12, atol=1e-12)


def tol(dtype):
    """The stated tolerance for results of ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return F32
    if dtype == np.float64:
        return F64
    return dict(rtol=0, atol=0)


def assert_close(actual, expected, dtype=None):
    """``actual`` matches ``expected`` in dtype, shape and value (NaNs in the same places)."""
    expected = np.asarray(expected)
    if dtype is not None:
        assert actual.dtype == np.dtype(dtype), (actual.dtype, dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, equal_nan=True, **tol(actual.dtype))


def run(fetches, feed_dict=None, device="reference"):
    """Run ``fetches`` in a fresh Session on the default graph."""
    with gc.Session(device=device) as sess:
        return sess.run(fetches, feed_dict)


def central_differences(sess, loss, x, value, step=1e-6):
    """d loss / d x at ``value`` by central differences, one element at a time (float64)."""
    numeric = np.zeros_like(value)
    for i in np.ndindex(value.shape):
        e = np.zeros_like(value)
        e[i] = step
        numeric[i] = (sess.run(loss, {x: value + e}) - sess.run(loss, {x: value - e})) / (2 * step)
    return numeric


@pytest.fixture(autouse=True, scope="session")
def private_compile_cache(tmp_path_factory):
    """Tests fill a disk cache of their own, not the user's ~/.cache/graphc."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GRAPHC_CACHE_DIR", str(tmp_path_factory.mktemp("graphc-cache")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def fresh_graph():
    gc.reset_default_graph()
    yield
    gc.reset_default_graph()


# -- the CUDA source of every kernel the pass and fuzzer tests compile ------------------------
# (on whatever device they run) is surveyed (runtime/cuda/survey.py: compiled to CUBIN for
# sm_80 and sm_90 in a worker process while the tests go on); test_cuda_compile.py's
# test_every_collected_kernel_compiles, which runs last, checks ptxas's reports.
COLLECT_FROM = ("test_pass_", "test_fuzz")
SURVEY_ALL = bool(os.environ.get("GRAPHC_SURVEY_ALL"))   # every test module's kernels (a one-off run)
COLLECTED_LAST = "test_every_collected_kernel_compiles"
CUDA_SURVEY = []   # the session's Survey, once a test that collects has run


@pytest.fixture(autouse=True)
def survey_cuda_kernels(request):
    if not (SURVEY_ALL or request.module.__name__.startswith(COLLECT_FROM)):
        yield
        return
    from graphc.runtime import compiler
    from graphc.runtime.cuda.survey import Survey, kernel_texts
    if not CUDA_SURVEY:
        CUDA_SURVEY.append(Survey())

    def hook(compiled):
        if compiled.call_plan is not None:
            CUDA_SURVEY[0].add(kernel_texts(compiled.call_plan), request.node.nodeid)
    compiler.PROGRAM_HOOKS.append(hook)
    yield
    compiler.PROGRAM_HOOKS.remove(hook)


def pytest_sessionfinish(session):
    if CUDA_SURVEY:
        CUDA_SURVEY[0].close()


def pytest_collection_modifyitems(items):
    """The check of the surveyed kernels runs after every test that collects them."""
    items.sort(key=lambda item: item.name == COLLECTED_LAST)
