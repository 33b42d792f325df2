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


# -- the CUDA source of every kernel the pass and fuzzer tests compile ------------------------
# (on whatever device they run): collected here and compiled to CUBIN for sm_80 and sm_90 in
# a worker process while the tests go on (NVRTC is slow; this machine's other core is
# mostly idle), CHUNK distinct kernels to a module; test_cuda_compile.py's
# test_every_collected_kernel_compiles, which runs last, checks every module's report.
COLLECT_FROM = ("test_pass_", "test_fuzz", "test_pipeline", "test_miscompiles", "test_regressions", "test_gemm")
COLLECTED_LAST = "test_every_collected_kernel_compiles"


class CudaKernels:
    """The distinct kernel texts collected (symbol GRAPHC_SYMBOL), and the compile jobs."""
    CHUNK = 400

    def __init__(self):
        self.first_test = {}   # text -> the first test that made it
        self.pending, self.jobs, self.pool = [], [], None

    def add(self, text, test):
        if text not in self.first_test:
            self.first_test[text] = test
            self.pending.append(text)
            if len(self.pending) == self.CHUNK:
                self.submit()

    def submit(self):
        if not self.pending:
            return
        if self.pool is None:
            import concurrent.futures
            import multiprocessing
            self.pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        from cuda_compile_worker import compile_chunk
        start = len(self.first_test) - len(self.pending)
        self.jobs.append((self.pending, self.pool.submit(compile_chunk, self.pending, start)))
        self.pending = []

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def results(self):
        """[(texts, {arch: {symbol: FunctionReport}} or the error text)] for every chunk."""
        self.submit()
        return [(texts, job.result()) for texts, job in self.jobs]


CUDA_KERNELS = CudaKernels()


def _collect_cuda(plan, test):
    from graphc.runtime.cuda.render import KernelRenderer, check_renderable
    from graphc.runtime.kernel import lower_kernels
    for kernel, _ in lower_kernels(plan.kernels(), check_renderable).values():
        texts, _ = KernelRenderer(kernel, "GRAPHC_SYMBOL").render()
        if texts:
            CUDA_KERNELS.add("\n".join(texts), test)


@pytest.fixture(autouse=True)
def collect_cuda_kernels(request, monkeypatch):
    if request.module.__name__.startswith(COLLECT_FROM):
        from graphc.runtime import compiler
        build = compiler.make_executor

        def recording(graph, plan, device, **options):
            if plan is not None:
                _collect_cuda(plan, request.node.nodeid)
            return build(graph, plan, device, **options)
        monkeypatch.setattr(compiler, "make_executor", recording)
    yield


def pytest_sessionfinish(session):
    CUDA_KERNELS.close()


def pytest_collection_modifyitems(items):
    """The check of the collected kernels runs after every test that collects them."""
    items.sort(key=lambda item: item.name == COLLECTED_LAST)
