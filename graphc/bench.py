"""Benchmark: graphc (fused and unfused) against numpy and, where installed, JAX,
ONNX Runtime, OpenVINO and PyTorch, on a few float32 CPU workloads.

    python -m graphc.bench                       # everything, default repeats
    python -m graphc.bench --quick               # a quick check (few repeats)
    python -m graphc.bench --only softmax,tiny --repeats 50 --markdown out.md

Every system of a workload gets the same input arrays; each output is checked
against the numpy result before it is timed (a mismatch is reported loudly and
flagged in the table). A time is the median of ``repeats`` measurements taken
after warm-up; for ``tiny`` each measurement is the mean of a batch of calls.
The ``startup`` measurement runs a fresh Python process that imports graphc,
builds ``gelu_chain`` and runs it once: first with an empty cache directory
(``GRAPHC_CACHE_DIR``), then again with the same, now warm, one; "to first result" is its
wall time less the time it spends making the random inputs, with Python's bytecode cache
on as an installed package has it (``bench_compile.child_environment``). The graphc
backend is whatever the environment selects (e.g. ``GRAPHC_NATIVE=1``).
"""
import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

import graphc as gc
from graphc import bench_cnn, bench_conv, bench_resnet, bench_train

RTOL, ATOL = 1e-4, 1e-5
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class Unavailable(Exception):
    """A peer system is not installed: its cells read "n/a"."""


# -- workloads: one numpy-style definition (numpy and jax.numpy), graphc, torch, ONNX --------------
def gelu_chain_xp(xp, x, a, b):
    """gelu(x*a + b), tanh form, written against a numpy-like namespace ``xp``."""
    y = x * a + b
    return 0.5 * y * (1.0 + xp.tanh(SQRT_2_OVER_PI * (y + 0.044715 * (y * y * y))))


def softmax_xp(xp, x):
    """Softmax over the last axis, shifted by the row maximum."""
    e = xp.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax_xp(xp, x):
    """Log-softmax over the last axis: x - max - log(sum(exp(x - max)))."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def layer_norm_xp(xp, x, gamma, beta):
    """Layer norm over the last axis (population variance, eps 1e-5)."""
    centered = x - x.mean(axis=-1, keepdims=True)
    var = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / xp.sqrt(var + 1e-5) * gamma + beta


def mlp_infer_xp(xp, x, w1, b1, w2, b2, w3, b3):
    """784 -> 1024 -> 1024 -> 10 with relu, then softmax."""
    h = xp.maximum(x @ w1 + b1, 0.0)
    h = xp.maximum(h @ w2 + b2, 0.0)
    return softmax_xp(xp, h @ w3 + b3)


def tiny_xp(xp, x):
    """(x + 1) * 2 - 3."""
    return (x + 1.0) * 2.0 - 3.0


def mlp_infer_graphc(x, w1, b1, w2, b2, w3, b3):
    """The MLP in graphc (the weights are Variables)."""
    h = gc.relu(x @ w1 + b1)
    h = gc.relu(h @ w2 + b2)
    return gc.nn.softmax(h @ w3 + b3)


def mlp_infer_torch(torch, x, w1, b1, w2, b2, w3, b3):
    """The MLP in PyTorch."""
    h = torch.relu(x @ w1 + b1)
    h = torch.relu(h @ w2 + b2)
    return torch.softmax(h @ w3 + b3, dim=-1)


def mlp_infer_onnx(g, x, w1, b1, w2, b2, w3, b3):
    """The MLP as ONNX nodes."""
    h = g.op("Relu", g.op("Add", g.op("MatMul", x, w1), b1))
    h = g.op("Relu", g.op("Add", g.op("MatMul", h, w2), b2))
    return g.op("Softmax", g.op("Add", g.op("MatMul", h, w3), b3), axis=-1)


def tiny_onnx(g, x):
    """(x + 1) * 2 - 3 as ONNX nodes."""
    return g.op("Sub", g.op("Mul", g.op("Add", x, g.const(1.0)), g.const(2.0)), g.const(3.0))


def _normal(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _mlp_inputs(rng):
    """Feeds ``x``; parameters scaled by 1/sqrt(fan_in) so the logits stay moderate."""
    params = {}
    for i, (n_in, n_out) in enumerate([(784, 1024), (1024, 1024), (1024, 10)], start=1):
        params[f"w{i}"] = _normal(rng, (n_in, n_out), 1 / math.sqrt(n_in))
        params[f"b{i}"] = _normal(rng, (n_out,), 0.1)
    return {"x": _normal(rng, (512, 784))}, params


@dataclass
class Workload:
    """One benchmark: its inputs (feeds, and parameters that are Variables/initializers) and
    its definition for each kind of system. ``micro`` workloads are reported in µs."""
    name: str
    description: str
    inputs: Callable        # rng -> (feeds, params), dicts of float32 arrays
    xp: Callable            # (xp, **arrays) -> array: numpy (the reference) and jax.numpy
    graphc: Callable        # (**tensors) -> Tensor
    torch: Callable         # (torch, **tensors) -> Tensor
    onnx: Callable          # (OnnxBuilder, **names) -> output name
    micro: bool = False
    time_numpy: bool = True   # False: numpy is the reference only (too slow to time)


def _row_workload(name, xp, graphc_fn, torch_name, onnx_op):
    """``name`` over the last axis of an 8192x1024 ``x``: graphc's, torch's and ONNX's op."""
    return Workload(name, f"{name} over the last axis of 8192x1024",
                    lambda rng: ({"x": _normal(rng, (8192, 1024))}, {}), xp,
                    lambda x: graphc_fn(x, axis=-1),
                    lambda torch, x: getattr(torch, torch_name)(x, dim=-1),
                    lambda g, x: g.op(onnx_op, x, axis=-1))


WORKLOADS = [
    Workload("gelu_chain", "gelu(x*a+b) tanh form, x 4096x4096, a, b (4096,)",
             lambda rng: ({"x": _normal(rng, (4096, 4096)), "a": _normal(rng, (4096,)),
                           "b": _normal(rng, (4096,))}, {}),
             gelu_chain_xp,
             lambda x, a, b: gc.nn.gelu(x * a + b, approximate="tanh"),
             lambda torch, x, a, b: torch.nn.functional.gelu(x * a + b, approximate="tanh"),
             lambda g, x, a, b: g.op("Gelu", g.op("Add", g.op("Mul", x, a), b), approximate="tanh")),
    _row_workload("softmax", softmax_xp, gc.nn.softmax, "softmax", "Softmax"),
    _row_workload("log_softmax", log_softmax_xp, gc.nn.log_softmax, "log_softmax", "LogSoftmax"),
    Workload("layer_norm", "layer norm over the last axis of 8192x1024, gamma, beta (1024,)",
             lambda rng: ({"x": _normal(rng, (8192, 1024)), "gamma": _normal(rng, (1024,)),
                           "beta": _normal(rng, (1024,))}, {}),
             layer_norm_xp,
             lambda x, gamma, beta: gc.nn.layer_norm(x, gamma, beta, axis=-1, eps=1e-5),
             lambda torch, x, gamma, beta: torch.nn.functional.layer_norm(x, x.shape[-1:], gamma, beta, eps=1e-5),
             lambda g, x, gamma, beta: g.op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=1e-5)),
    Workload("mlp_infer", "batch 512, 784->1024->1024->10, relu, softmax; weights are Variables",
             _mlp_inputs, mlp_infer_xp, mlp_infer_graphc, mlp_infer_torch, mlp_infer_onnx),
    Workload("mlp_train", bench_train.DESCRIPTION, None, None, None, None, None),
    Workload("cnn_train", bench_cnn.DESCRIPTION, None, None, None, None, None),
    Workload("tiny", "(x+1)*2-3 on 16 floats (per-run overhead)",
             lambda rng: ({"x": _normal(rng, (16,))}, {}),
             tiny_xp, lambda x: (x + 1.0) * 2.0 - 3.0,
             lambda torch, x: (x + 1.0) * 2.0 - 3.0, tiny_onnx, micro=True),
    *bench_conv.workloads(Workload),
    Workload("resnet18_train", bench_resnet.DESCRIPTION, None, None, None, None, None),
]


# -- systems: each prepares a zero-argument callable that returns the workload's output ----------
def _require(*modules):
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise Unavailable(f"{module} is not installed")


def graphc_runner(w, feeds, params, optimize, device="cpu"):
    """gc.Session(optimize=..., device=...) on a fresh graph: placeholders for feeds, Variables for params."""
    graph = gc.Graph()
    with graph.as_default():
        tensors = {k: gc.placeholder(gc.float32, v.shape, name=k) for k, v in feeds.items()}
        tensors.update({k: gc.Variable(v, name=k) for k, v in params.items()})
        out = w.graphc(**tensors)
    sess = gc.Session(graph, optimize=optimize, device=device)
    feed_dict = {tensors[k]: v for k, v in feeds.items()}
    return lambda: sess.run(out, feed_dict)


def numpy_runner(w, feeds, params):
    """The numpy-style definition with ``xp = numpy`` (this is also the reference)."""
    arrays = {**feeds, **params}
    return lambda: w.xp(np, **arrays)


def jax_runner(w, feeds, params):
    """jax.jit of the numpy-style definition; arrays are placed on the device once."""
    _require("jax")
    import jax
    import jax.numpy as jnp
    names = list(feeds) + list(params)
    arrays = [jnp.asarray(v) for v in {**feeds, **params}.values()]
    fn = jax.jit(lambda *args: w.xp(jnp, **dict(zip(names, args))))
    return lambda: fn(*arrays).block_until_ready()


def _torch_runner(w, feeds, params, compiled):
    _require("torch")
    import torch
    tensors = {k: torch.from_numpy(v) for k, v in {**feeds, **params}.items()}
    fn = (lambda **t: w.torch(torch, **t))
    if compiled:
        fn = torch.compile(fn)

    def run():
        with torch.inference_mode():
            return fn(**tensors)
    return run


def torch_eager_runner(w, feeds, params):
    """PyTorch eager mode on CPU tensors that share the numpy arrays' memory."""
    return _torch_runner(w, feeds, params, compiled=False)


def torch_compile_runner(w, feeds, params):
    """torch.compile (default inductor backend) of the PyTorch definition."""
    return _torch_runner(w, feeds, params, compiled=True)


class OnnxBuilder:
    """Collects ONNX nodes and scalar constants for a workload's ``onnx`` definition."""

    def __init__(self, helper):
        self.helper, self.nodes, self.initializers = helper, [], []

    def op(self, op_type, *inputs, **attrs):
        out = f"t{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def const(self, value):
        name = f"c{len(self.initializers)}"
        self.initializers.append(self.helper.make_tensor(name, 1, [], [float(value)]))  # 1: FLOAT
        return name


def onnx_model(w, feeds, params):
    """The workload as an ONNX model (opset 20): feeds are graph inputs, params initializers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    g = OnnxBuilder(helper)
    out = w.onnx(g, **{k: k for k in list(feeds) + list(params)})
    inputs = [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in feeds.items()]
    outputs = [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)]
    inits = g.initializers + [numpy_helper.from_array(v, k) for k, v in params.items()]
    graph = helper.make_graph(g.nodes, w.name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)   # fills in the output's shape
    onnx.checker.check_model(model)
    return model


def onnxruntime_runner(w, feeds, params):
    """ONNX Runtime InferenceSession, CPU provider, default graph optimizations."""
    _require("onnx", "onnxruntime")
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_model(w, feeds, params).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, feeds)[0]


def openvino_runner(w, feeds, params):
    """OpenVINO's CPU plugin on the workload's ONNX model, in float32 (its default on CPUs with
    bf16 units, such as AMX Xeons, is bfloat16: another precision than every other system's)."""
    _require("onnx", "openvino")
    import openvino as ov
    with tempfile.TemporaryDirectory(prefix="graphc-bench-ov-") as folder:
        path = os.path.join(folder, f"{w.name}.onnx")
        with open(path, "wb") as f:
            f.write(onnx_model(w, feeds, params).SerializeToString())
        compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    inputs = {name: feeds[name] for name in feeds}

    def run():
        request.infer(inputs)
        return request.get_output_tensor(0).data
    return run


def tf1_runner(w, feeds, params):
    """TensorFlow's TF1 Session is a peer on the training workload only."""
    raise Unavailable("TF1 Session is measured on mlp_train only")


SYSTEMS = {
    "graphc fused": lambda w, f, p: graphc_runner(w, f, p, optimize=True),
    "graphc unfused": lambda w, f, p: graphc_runner(w, f, p, optimize=False),
    "numpy": numpy_runner,
    "jax.jit": jax_runner,
    "onnxruntime": onnxruntime_runner,
    "OpenVINO": openvino_runner,
    "torch eager": torch_eager_runner,
    "torch.compile": torch_compile_runner,
    "TF1 Session": tf1_runner,
}
PEER_PACKAGES = ["numpy", "jax", "jaxlib", "onnx", "onnxruntime", "openvino", "torch", "tensorflow-cpu"]


# -- measuring -----------------------------------------------------------------------------------
@dataclass
class Cell:
    """One system's result on one workload: seconds per run, or why there is none."""
    seconds: float | None = None
    note: str = ""          # "n/a", "error", "MISMATCH"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def samples(run, repeats, inner=1, warmup=3):
    """``repeats`` measurements, each the mean time of ``inner`` consecutive calls, after warm-up."""
    for _ in range(warmup):
        run()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            run()
        out.append((time.perf_counter() - start) / inner)
    return out


def time_runner(run, repeats, inner, warmup):
    """Median over ``repeats`` of the mean time of ``inner`` consecutive calls, after warm-up."""
    return statistics.median(samples(run, repeats, inner, warmup))


def check(result, reference):
    """None if ``result`` matches the numpy reference within float32 tolerance, else why not."""
    result = np.asarray(result)
    if result.shape != reference.shape or result.dtype != reference.dtype:
        return f"got {result.dtype}{list(result.shape)}, expected {reference.dtype}{list(reference.shape)}"
    if not np.allclose(result, reference, rtol=RTOL, atol=ATOL):
        err = np.abs(result.astype(np.float64) - reference)
        return f"max abs error {np.nanmax(err):.3g} (rtol {RTOL}, atol {ATOL})"
    return None


def measure(w, system, prepare, verify, opts):
    """Prepare, verify and time one system on one workload: ``prepare()`` gives the callable
    to time, ``verify(run)`` None or what is wrong with its first result."""
    try:
        run = prepare()
        problem = verify(run)   # the first call also compiles
        inner = opts.tiny_inner if w.micro else 1
        seconds = time_runner(run, opts.repeats, inner, opts.warmup)
    except (Unavailable, ImportError) as e:
        log(f"  {system}: n/a ({e})")
        return Cell(note="n/a")
    except Exception as e:  # noqa: BLE001  (a broken peer must not stop the benchmark)
        log(f"!!! ERROR: {system} on {w.name}: {type(e).__name__}: {str(e)[:500]}")
        return Cell(note="error")
    if problem:
        log(f"!!! MISMATCH: {system} on {w.name}: {problem}")
    log(f"  {system}: {seconds * 1e3:.3f} ms")
    return Cell(seconds, "MISMATCH" if problem else "")


def run_workload(w, opts):
    """All systems on one workload with the same input arrays; {system: Cell}."""
    log(f"{w.name}: {w.description}")
    if w.name in TRAINING:
        return run_training(w, opts)
    feeds, params = w.inputs(np.random.default_rng(0))
    reference = w.xp(np, **feeds, **params)
    cells = {}
    for system in SYSTEMS:
        if system == "numpy" and not w.time_numpy:
            log("  numpy: n/a (the reference only)")
            cells[system] = Cell(note="n/a")
            continue
        cells[system] = measure(w, system, lambda s=system: SYSTEMS[s](w, feeds, params),
                                lambda run: check(run(), reference), opts)
    return cells


TRAINING = {"mlp_train": bench_train, "cnn_train": bench_cnn, "resnet18_train": bench_resnet}   # workload -> its module (inputs, numpy_step, SYSTEMS)


def run_training(w, opts):
    """mlp_train, cnn_train, resnet18_train: each system's step is checked against a float64
    step (numpy; torch's autograd for the ResNet), then timed."""
    module = TRAINING[w.name]
    x, labels, params = module.inputs(np.random.default_rng(0))
    reference = module.numpy_step(x, labels, params, dtype=np.float64)
    cells = {}
    for system in SYSTEMS:
        factory = module.SYSTEMS.get(system)
        if factory is None:
            log(f"  {system}: n/a (no training API)")
            cells[system] = Cell(note="n/a")
            continue
        made = {}

        def prepare(factory=factory):
            made["step"], made["params"] = factory(x, labels, params)
            return made["step"]
        cells[system] = measure(w, system, prepare,
                                lambda step: bench_train.check_first_step(step, made["params"], reference), opts)
    return cells


# -- fresh-process start-up ----------------------------------------------------------------------
STARTUP_CHILD = """
import json, time
t0 = time.perf_counter()
import numpy as np
import graphc as gc
t1 = time.perf_counter()
rng = np.random.default_rng(0)
feeds = {"x": rng.random((4096, 4096), dtype=np.float32), "a": rng.random(4096, dtype=np.float32),
         "b": rng.random(4096, dtype=np.float32)}
t2 = time.perf_counter()   # (making the inputs is not graphc's time)
x, a, b = (gc.placeholder(gc.float32, v.shape, name=k) for k, v in feeds.items())
y = gc.nn.gelu(x * a + b, approximate="tanh")
with gc.Session() as sess:
    sess.run(y, {x: feeds["x"], a: feeds["a"], b: feeds["b"]})
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "feeds": t2 - t1, "build_and_run": t3 - t2}))
"""


def startup_once(cache_dir):
    """Wall time of one fresh process (and the phases it reports) with GRAPHC_CACHE_DIR=cache_dir."""
    from .bench_compile import child_environment
    env = child_environment(GRAPHC_CACHE_DIR=cache_dir)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", STARTUP_CHILD], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        log(f"!!! ERROR: startup process failed:\n{proc.stderr[-2000:]}")
        return None
    phases = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall": wall, "to_result": wall - phases["feeds"], **phases}


def run_startup():
    """Cold (empty cache dir) then warm (the same dir again) fresh-process runs of gelu_chain."""
    log("startup: fresh process imports graphc, builds gelu_chain, runs it once")
    with tempfile.TemporaryDirectory(prefix="graphc-bench-cache-") as cache_dir:
        return {"cold cache": startup_once(cache_dir), "warm cache": startup_once(cache_dir)}


# -- report --------------------------------------------------------------------------------------
def fmt_cell(cell, micro):
    if cell.seconds is None:
        return cell.note
    value = cell.seconds * (1e6 if micro else 1e3)
    text = f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return f"{text} ({cell.note})" if cell.note else text


def speedup(cells):
    fused, unfused = cells["graphc fused"], cells["graphc unfused"]
    if fused.seconds and unfused.seconds:
        return f"{unfused.seconds / fused.seconds:.2f}x"
    return "n/a"


def results_table(results):
    """Markdown: one row per workload, one column per system, then fused/unfused speedup."""
    lines = ["| workload | unit | " + " | ".join(SYSTEMS) + " | fused speedup |",
             "|---|---|" + "---:|" * (len(SYSTEMS) + 1)]
    for w, cells in results:
        row = [fmt_cell(cells[s], w.micro) for s in SYSTEMS]
        lines.append(f"| {w.name} | {'µs' if w.micro else 'ms'} | " + " | ".join(row) + f" | {speedup(cells)} |")
    return lines


def startup_table(startup):
    lines = ["| fresh process (gelu_chain) | to first result ms | import numpy + graphc ms | build + first run ms "
             "| making the inputs ms | wall ms |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in startup.items():
        keys = ("to_result", "import", "build_and_run", "feeds", "wall")
        cells = ["error"] * len(keys) if r is None else [f"{r[k] * 1e3:.0f}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def environment():
    """One line on the machine, the graphc backend and the peers' versions."""
    versions = []
    for package in PEER_PACKAGES:
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    native = os.environ.get("GRAPHC_NATIVE")
    return (f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
            f"GRAPHC_NATIVE={native if native is not None else '(unset)'}; " + ", ".join(versions))


GEMM_SHAPES = [(512, 1024, 784), (512, 1024, 1024), (512, 10, 1024), (256, 1024, 784), (784, 1024, 256)]


def gemm_table(repeats=5):
    """graphc's float32 GEMM alone (one thread) on the MLP's product shapes, in GFLOP/s and
    as a fraction of one core's FMA peak measured here, beside numpy's OpenBLAS (its own
    threads); [] where graphc uses OpenBLAS itself (no AVX-512F)."""
    from .runtime.cpu import llvm_gemm
    sgemm = llvm_gemm.sgemm_function()
    if sgemm is None:
        return []
    tuned = llvm_gemm.tuning()
    peak = llvm_gemm.fma_peak_gflops()
    lines = [f"graphc GEMM blocking kc {tuned['kc']}, mc {tuned['mc']} ({tuned['source']}); one core's FMA peak "
             f"{peak} GFLOP/s", "",
             "| product m x n x k | graphc GFLOP/s (1 thread) | of the FMA peak | numpy GFLOP/s |",
             "|---|---:|---:|---:|"]
    rng = np.random.default_rng(0)
    for m, n, k in GEMM_SHAPES:
        a, b = _normal(rng, (m, k)), _normal(rng, (k, n))
        c = np.empty((m, n), np.float32)
        ours = _best(lambda: sgemm(0, 0, m, n, k, a.ctypes.data, k, b.ctypes.data, n, c.ctypes.data, n), repeats)
        np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)
        theirs = _best(lambda: a @ b, repeats)
        flops = 2 * m * n * k / 1e9
        share = f"{flops / ours / peak:.0%}" if peak else "n/a"
        lines.append(f"| {m} x {n} x {k} | {flops / ours:.0f} | {share} | {flops / theirs:.0f} |")
    return lines


def _best(fn, repeats):
    fn()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return min(runs)


def report(results, startup, opts):
    from .tools.info import _cpu_model
    lines = ["## graphc benchmark", "", f"CPU: {_cpu_model()}", "", environment(), "",
             f"Median of {opts.repeats} timed repeats after {opts.warmup} warm-up runs "
             f"(tiny: each repeat is the mean of {opts.tiny_inner} calls); float32, CPU. "
             "Outputs checked against numpy (rtol 1e-4, atol 1e-5) before timing. "
             "fused speedup = graphc unfused / graphc fused.", ""]
    if results:
        lines += results_table(results) + [""]
        lines += [f"- `{w.name}`: {w.description}" for w, _ in results] + [""]
    if startup:
        lines += startup_table(startup) + [""]
    if opts.gemm:
        lines += gemm_table() + [""]
    return "\n".join(lines)


# -- command line --------------------------------------------------------------------------------
def parse_args(argv=None):
    names = [w.name for w in WORKLOADS] + ["startup", "gemm"]
    parser = argparse.ArgumentParser(prog="python -m graphc.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated subset of: {','.join(names)}")
    parser.add_argument("--repeats", type=int, help="timed repeats per system (default 20; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="few repeats: a quick end-to-end check")
    parser.add_argument("--markdown", metavar="PATH", help="also write the report to PATH")
    opts = parser.parse_args(argv)
    opts.only = names if not opts.only else [n.strip() for n in opts.only.split(",") if n.strip()]
    unknown = sorted(set(opts.only) - set(names))
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    opts.repeats = opts.repeats or (3 if opts.quick else 20)
    if opts.repeats < 1:
        parser.error("--repeats must be at least 1")
    opts.warmup = 1 if opts.quick else 3
    opts.tiny_inner = 100 if opts.quick else 1000
    opts.gemm = "gemm" in opts.only
    return opts


def main(argv=None):
    """Run the selected workloads and the start-up measurement; print (and maybe write) the report."""
    opts = parse_args(argv)
    results = [(w, run_workload(w, opts)) for w in WORKLOADS if w.name in opts.only]
    startup = run_startup() if "startup" in opts.only else None
    text = report(results, startup, opts)
    print(text)
    if opts.markdown:
        with open(opts.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    bad = [w.name for w, cells in results if any(c.note in ("MISMATCH", "error") for c in cells.values())]
    return 1 if bad or (startup and None in startup.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
