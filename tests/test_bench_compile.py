"""The compile-latency benchmark's programs compute what they claim: graphc's first loss of
the transformer encoder (forward, and the training step's loss) and of the chain against a
float64 numpy evaluation of the same formulas; one fresh-process measurement runs."""
import importlib.util

import numpy as np
import pytest

from graphc import bench_compile as bc
from graphc.runtime.cpu.llvm_jit import LazyModule


class NumpyNN:
    @staticmethod
    def layer_norm(x, g=None, b=None):
        c = x - x.mean(-1, keepdims=True)
        y = c / np.sqrt((c * c).mean(-1, keepdims=True) + 1e-5)
        return y if g is None else y * g + b

    @staticmethod
    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    @staticmethod
    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _numpy_loss(program, layers):
    rng = np.random.default_rng(0)
    if program == "chain":
        ws = [(rng.standard_normal((bc.D, bc.D)) / np.sqrt(bc.D)).astype(np.float32) for _ in range(bc.CHAIN_BLOCKS)]
        x = rng.standard_normal((64, bc.D)).astype(np.float32)
        return bc.chain(np, NumpyNN, x.astype(np.float64), [w.astype(np.float64) for w in ws]).mean()
    x, y, params = bc.parameters(layers, rng)
    params = [{k: v.astype(np.float64) for k, v in p.items()} for p in params]
    return np.mean((bc.encoder(np, NumpyNN, x.astype(np.float64), params) - y) ** 2)


@pytest.mark.parametrize("program, layers, train", [("transformer", 1, False), ("transformer", 2, True),
                                                    ("chain", 0, False)])
def test_graphc_loss_is_numpys(program, layers, train):
    got = bc._graphc(program, layers, train)
    assert got["seconds"] > 0 and got["run"] > 0
    if program == "chain":   # the size the issue names (a 2,590-node chain)
        assert got["nodes"] == 2589
    assert got["loss"] == pytest.approx(_numpy_loss(program, layers), rel=2e-5)


def test_a_fresh_process_measurement(tmp_path):
    result = bc.measure("graphc", "transformer_fwd", 1, {"GRAPHC_CACHE_DIR": str(tmp_path)})
    assert "error" not in result, result
    assert result["loss"] == pytest.approx(_numpy_loss("transformer", 1), rel=2e-5)


def test_kernel_modules_skip_the_unroller_and_key_on_it():
    text = "define void @f() {\n  ret void\n}\n"
    assert LazyModule((), text, unroll=False).cache_key() != LazyModule((), text).cache_key()
    assert LazyModule(("a",), text, unroll=False).cache_key() != LazyModule(("a",), text).cache_key()


def test_the_gemm_table_states_gflops_against_the_peak():
    """``python -m graphc.bench --only gemm``: every MLP product shape (checked against numpy
    inside), graphc's GFLOP/s and its share of the FMA peak measured here."""
    from graphc import bench
    from graphc.runtime.cpu import llvm_gemm
    lines = bench.gemm_table(repeats=1)
    if not llvm_gemm.available():
        assert lines == []
        return
    rows = [line for line in lines if line.startswith("| ") and " x " in line and "product" not in line]
    assert len(rows) == len(bench.GEMM_SHAPES)
    for line in rows:
        ours, share = line.split("|")[2:4]
        assert float(ours) > 0 and (share.strip() == "n/a" or 0 < float(share.strip().rstrip("%")) <= 150)


def test_the_memory_figures_are_the_steps_intermediates():
    """graphc's figure lies between the largest intermediate the step must keep (an ffn
    activation, read again by the backward pass) and the bytes of every value it computes;
    XLA's (where jax is installed) is positive and below the same total."""
    b, t, ffn = bc.MEMORY_SHAPE["b"], bc.MEMORY_SHAPE["t"], bc.MEMORY_SHAPE["ffn"]
    got = bc.graphc_memory(layers=1)
    import graphc as gc
    x0, y0, params = bc.parameters(1, np.random.default_rng(0), **bc.MEMORY_SHAPE)
    x = gc.placeholder(gc.float32, x0.shape, name="x")
    y = gc.placeholder(gc.float32, y0.shape, name="y")
    variables = [{k: gc.Variable(v) for k, v in p.items()} for p in params]
    loss = gc.mean(gc.square(bc.encoder(gc, gc.nn, x, variables) - y))
    with gc.Session(optimize=False) as sess:   # every op its own buffer: an upper bound
        graph = sess.compile([loss, gc.train.Adam(1e-3).minimize(loss)], {x: x0, y: y0}).graph
    total = sum(int(np.prod(n.shape)) * np.dtype(n.dtype).itemsize for n in graph.nodes
                if n.dtype is not None and n.op not in ("placeholder", "variable", "constant"))
    assert b * t * ffn * 4 <= got <= total
    if importlib.util.find_spec("jax") is not None:
        assert 0 < bc.xla_memory(layers=1) <= total


def test_measured_processes_keep_pythons_bytecode_cache(monkeypatch):
    """A measured fresh process gets this environment and its extras, less
    PYTHONDONTWRITEBYTECODE (an installed package has its bytecode compiled)."""
    from graphc.bench_compile import child_environment
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("GRAPHC_SOMETHING", "kept")
    env = child_environment(GRAPHC_CACHE_DIR="/tmp/x")
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["GRAPHC_SOMETHING"] == "kept" and env["GRAPHC_CACHE_DIR"] == "/tmp/x"


def test_startup_table_reports_time_to_first_result_without_making_the_inputs():
    from graphc.bench import startup_table
    row = {"wall": 0.5, "to_result": 0.4, "import": 0.1, "feeds": 0.1, "build_and_run": 0.2}
    lines = startup_table({"warm cache": row, "cold cache": None})
    assert lines[0].startswith("| fresh process (gelu_chain) | to first result ms |")
    assert lines[2] == "| warm cache | 400 | 100 | 200 | 100 | 500 |"
    assert lines[3] == "| cold cache | error | error | error | error | error |"
