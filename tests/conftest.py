"""Shared test setup: a fresh default graph per test, and the tolerances, stated once."""
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
