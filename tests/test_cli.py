"""The ``graphc`` command as a user runs it (a subprocess of the installed console script), on
the examples and on saved graphs; ``Compiled.explain()`` against numbers worked out by hand."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRAPHC = os.path.join(os.path.dirname(sys.executable), "graphc")


def graphc(*args, env=None):
    """Run the command; returns (exit status, stdout, stderr)."""
    result = subprocess.run([GRAPHC, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, **(env or {})})
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def saved_mlp(tmp_path):
    rng = np.random.default_rng(0)
    x = gc.placeholder(gc.float32, (None, 8), name="x")
    w = gc.Variable(rng.standard_normal((8, 4)).astype(np.float32), name="w")
    probs = gc.nn.softmax(gc.relu(x @ w))
    path = tmp_path / "mlp.gcg"
    gc.save_graph(probs, path)
    return path, probs.name


def test_info_names_the_versions_the_cpu_and_the_cache(tmp_path):
    status, out, err = graphc("info", env={"GRAPHC_CACHE_DIR": str(tmp_path)})
    assert status == 0, err
    assert f"graphc    {gc.__version__}" in out and "llvmlite" in out and "LLVM " in out
    assert re.search(r"cores\s+\d+", out) and "cupy" in out
    assert re.search(r"^  name\s+\S", out, re.M) and re.search(r"vector features\s+\S", out)   # the host CPU
    assert str(tmp_path) in out and re.search(r"entries\s+0", out)
    from graphc.runtime.cpu import llvm_gemm
    if llvm_gemm.available():   # the GEMM's blocking for this host, and one core's FMA peak
        assert re.search(r"blocking\s+kc \d+, mc \d+ \((tuned|cached|environment|known for \w+)\)", out), out
        assert re.search(r"FMA peak(?: of)?\s+[\d.]+ GFLOP/s", out), out   # (and one thread's, where tuned)
    else:
        assert "OpenBLAS" in out


def test_dump_every_stage_one_stage_the_code_and_dot(saved_mlp, tmp_path):
    path, fetch = saved_mlp
    status, out, err = graphc("dump", path, "--feed", "x=16,8")
    assert status == 0, err
    stages = re.findall(r"^// graphc IR after (\w+):", out, re.M)
    assert stages[0] == "specialize" and stages[-1] == "plan_memory" and "fuse" in stages
    assert "; LLVM IR (generated)" in out and "memory plan: arena" in out
    status, out, _ = graphc("dump", path, "--feed", "x=16,8", "--stage", "fuse")
    assert status == 0 and out.startswith("// graphc IR after fuse") and "= fused(" in out
    status, out, _ = graphc("dump", path, "--feed", "x=16,8", "--stage", "input")
    assert status == 0 and "%x: f32[?,8] = placeholder()" in out and "test_cli.py" in out   # names, source lines
    status, out, _ = graphc("dump", path, "--feed", "x=16,8", "--stage", "code")
    assert status == 0 and "define " in out   # LLVM IR
    status, out, _ = graphc("dump", path, "--feed", "x=16,8", "--format", "dot", "-o", tmp_path / "g.dot")
    dot = (tmp_path / "g.dot").read_text()
    assert status == 0 and out == "" and dot.startswith("digraph") and dot.rstrip().endswith("}")
    loaded = gc.load_graph(path)
    with gc.Session(graph=loaded.graph) as sess:
        compiled = sess.compile(loaded.fetches, {loaded.feeds[0]: (16, 8)})
    fused = [n for n in compiled.graph.nodes if n.op == "fused"]
    assert dot.count("subgraph \"cluster_") == len(fused) >= 1
    assert dot.count("->") >= len(compiled.graph.nodes) - 2


def test_explain_reports_what_compiled_explain_holds(saved_mlp):
    path, _ = saved_mlp
    status, out, err = graphc("explain", path, "--feed", "x=16,8")
    assert status == 0, err
    loaded = gc.load_graph(path)
    with gc.Session(graph=loaded.graph) as sess:
        explained = sess.compile(loaded.fetches, {loaded.feeds[0]: (16, 8)}).explain()
    assert str(explained) == out.rstrip("\n")
    assert out.startswith(f"{explained.kernels} kernels") and "not fused" in out and "peak:" in out


def test_a_script_is_taken_at_its_first_run_of_a_value():
    status, out, err = graphc("explain", "examples/mlp.py")
    assert status == 0, err
    assert "examples/mlp.py:16" in out   # the buffers' source lines
    assert "== compiled IR" in err and "== compiled IR" not in out   # the script's prints go to stderr


def test_a_script_without_a_run_gives_its_default_graph(tmp_path):
    script = tmp_path / "build.py"
    script.write_text("import graphc as gc\nx = gc.placeholder(gc.float64, (3,), name='x')\n"
                      "y = gc.exp(x, name='y') * 2\n")
    status, out, err = graphc("dump", script, "--stage", "input")
    assert status == 0, err
    assert "%y: f64[3] = exp(%x)" in out
    status, out, err = graphc("explain", script, "--fetch", "y")
    assert status == 0 and out.startswith("1 kernels"), err


@pytest.mark.parametrize("args, message", [
    (("explain", "missing.gcg"), "missing.gcg: no such file"),
    (("explain", "{path}", "--fetch", "nope"), "no tensor named 'nope' to fetch"),
    (("explain", "{path}", "--feed", "x=3,5"), "shape (3, 5) does not fit 'x' f32[?,8]"),
    (("explain", "{path}", "--feed", "y=3,8"), "no tensor named 'y' to feed (placeholders: x)"),
    (("explain", "{path}", "--feed", "x=3,8:int32"), "'x' is f32[?,8], not int32"),
    (("explain", "{path}",), "placeholder 'x' f32[?,8] has an unknown dimension: give its shape with --feed x="),
    (("dump", "{path}", "--feed", "x=2,8", "--stage", "nope"), "no stage 'nope'"),
    (("dump", "{text}"), "not a graphc graph file"),
    (("profile", "missing.py"), "missing.py: no such file"),
    (("profile", "{path}", "--feed", "x=4,8", "--fetch", "nope"), "no tensor named 'nope' to fetch"),
    (("bench", "--graph", "{path}", "--feed", "x=4"), "shape (4,) does not fit 'x' f32[?,8]"),
])
def test_bad_input_is_one_line_and_exit_status_2(saved_mlp, tmp_path, args, message):
    path, _ = saved_mlp
    (tmp_path / "text.gcg").write_text("hello")
    status, out, err = graphc(*[a.format(path=path, text=tmp_path / "text.gcg") for a in args])
    assert status == 2 and out == ""
    assert err.startswith("graphc: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err


def test_cache_clear_removes_the_entries(tmp_path):
    env = {"GRAPHC_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", "import graphc as gc, numpy as np\n"
                    "x = gc.placeholder(gc.float32, (4,))\n"
                    "gc.Session().run(gc.exp(x) + 1, {x: np.ones(4, np.float32)})"],
                   check=True, env={**os.environ, **env}, timeout=300)
    entries = len([name for name in os.listdir(tmp_path / "cache") if name.endswith(".gcobj")])
    assert entries > 0
    status, out, err = graphc("cache", "clear", env=env)
    assert status == 0 and f"removed {entries} entries" in out, (out, err)
    assert os.listdir(tmp_path / "cache") == []


def test_explain_counts_bytes_flops_and_the_peak():
    """One fused elementwise kernel and a product, worked out by hand."""
    x = gc.placeholder(gc.float32, (64, 32), name="x")
    w = gc.placeholder(gc.float32, (32, 16), name="w")
    h = gc.exp(x) + 1.0                       # one kernel: reads x (8 KiB), writes h (8 KiB); 2 FLOPs each
    y = gc.matmul(h, w)                       # reads h and w (2 KiB), writes y (4 KiB); 2*64*16*32 FLOPs
    with gc.Session() as sess:
        explained = sess.compile(y, {x: (64, 32), w: (32, 16)}).explain()
    assert explained.kernels == 2
    assert explained.bytes_moved == 8192 + 8192 + (8192 + 2048 + 4096)
    assert explained.flops == 2 * 64 * 32 + 2 * 64 * 16 * 32
    (buffer,) = explained.buffers                # h: the only intermediate (y is fetched: fresh memory)
    assert buffer.size == 8192 and buffer.values[0] == h.name and "test_cli.py" in buffer.locs[0]
    assert explained.arena_bytes >= 8192 and explained.live_at_peak == [buffer]
    assert explained.peak_live_bytes == 8192
    assert [d.producer for d in explained.unfused] and all(d.reason for d in explained.unfused)


def test_profile_writes_a_chrome_trace_with_a_slice_per_kernel_call(saved_mlp, tmp_path):
    path, _ = saved_mlp
    trace = tmp_path / "trace.json"
    status, out, err = graphc("profile", path, "--feed", "x=16,8", "--runs", "3", "-o", trace)
    assert status == 0, err
    events = json.loads(trace.read_text())["traceEvents"]
    loaded = gc.load_graph(path)
    with gc.Session(graph=loaded.graph) as sess:
        kernels = [k.name for k in sess.compile(loaded.fetches, {loaded.feeds[0]: (16, 8)}).kernels]
    assert [e["args"]["kernel"] for e in events] == kernels * 3
    assert [e["args"]["run"] for e in events] == sorted([0, 1, 2] * len(kernels))
    assert all(e["ph"] == "X" and e["dur"] >= 0 and e["ts"] >= 0 for e in events)
    assert all(b["ts"] >= a["ts"] + a["dur"] for a, b in zip(events, events[1:]))   # one after another
    assert out.startswith(f"{len(kernels)} kernels, 3 runs") and all(k in out for k in kernels)


def test_a_traced_run_gives_the_same_numbers_and_every_kernels_time():
    x = gc.placeholder(gc.float32, (32, 16), name="x")
    w = gc.Variable(np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32), name="w")
    y = gc.nn.softmax(gc.relu(x @ w))
    a = np.random.default_rng(1).standard_normal((32, 16)).astype(np.float32)
    metadata = gc.RunMetadata()
    with gc.Session() as sess:
        plain = sess.run(y, {x: a})
        traced = [sess.run(y, {x: a}, options=gc.RunOptions(trace=True), run_metadata=metadata) for _ in range(2)]
        kernels = sess.compile(y, {x: a}).kernels
        with pytest.raises(gc.GraphcError, match="run_metadata"):
            sess.run(y, {x: a}, options=gc.RunOptions(trace=True))
    assert all(np.array_equal(t, plain) for t in traced)
    assert [k.name for k in metadata.kernels] == [k.name for k in kernels] * 2 and metadata.runs == 2
    assert [k.covers for k in metadata.kernels[:len(kernels)]] == [k.nodes for k in kernels]
    assert all(k.duration_ns > 0 and "test_cli.py" in k.loc for k in metadata.kernels)
    shares = [row[5] for row in metadata.summary()]
    assert abs(sum(shares) - 1) < 1e-9 and shares == sorted(shares, reverse=True)


def test_a_traced_run_on_the_cuda_backend_times_every_kernel():
    """The CUDA executor's traced run (on the host: device="cuda-host") walks the plan with
    the device synchronized around each kernel; the numbers are the untraced run's."""
    x = gc.placeholder(gc.float32, (8, 40), name="x")
    fetches = [gc.nn.softmax(x * 2.0), gc.sum(gc.exp(x), axis=0)]
    a = np.random.default_rng(2).standard_normal((8, 40)).astype(np.float32)
    metadata = gc.RunMetadata()
    with gc.Session(device="cuda-host") as sess:
        plain = sess.run(fetches, {x: a})
        replayed = sess.run(fetches, {x: a})   # (the second run replays the captured first)
        traced = sess.run(fetches, {x: a}, options=gc.RunOptions(trace=True), run_metadata=metadata)
        kernels = [k.name for k in sess.compile(fetches, {x: a}).kernels]
    assert all(np.array_equal(p, t) and np.array_equal(p, r) for p, r, t in zip(plain, replayed, traced))
    assert [k.name for k in metadata.kernels] == kernels and len(kernels) >= 2


def test_tracing_a_program_without_a_memory_plan_says_so():
    x = gc.placeholder(gc.float32, (4,), name="x")
    with gc.Session(passes=["fuse"]) as sess:
        with pytest.raises(gc.GraphcError, match="without memory planning"):
            sess.run(gc.exp(x), {x: np.ones(4, np.float32)}, options=gc.RunOptions(trace=True),
                     run_metadata=gc.RunMetadata())


def test_bench_a_workload_and_a_graph_with_json_and_a_plot(saved_mlp, tmp_path):
    from graphc import bench as standard
    path, _ = saved_mlp
    status, out, err = graphc("bench", "tiny", "--repeat", "3", "--graph", path, "--feed", "x=16,8",
                              "--json", tmp_path / "b.json", "--plot", tmp_path / "b.png")
    assert status == 0, err
    report = json.loads((tmp_path / "b.json").read_text())
    rows = {(r["workload"], r["system"]): r for r in report["results"]}
    assert {s for w, s in rows if w == "tiny"} == set(standard.SYSTEMS)
    fused = rows["tiny", "graphc fused"]
    assert fused["kernels"] == 1 and fused["bytes_moved"] == 2 * 16 * 4   # (x+1)*2-3 on 16 floats: one pass
    assert fused["q1"] <= fused["median"] <= fused["q3"] and fused["first_run"] > 0
    unfused = rows["tiny", "graphc unfused"]   # three kernels, their intermediates in the arena
    assert unfused["kernels"] == 3 and unfused["arena_bytes"] > 0 == fused["arena_bytes"]
    assert rows["tiny", "numpy"]["median"] > 0 and rows["tiny", "numpy"]["kernels"] is None
    graph = rows["mlp.gcg", "graphc fused"]
    assert [k[0] for k in graph["per_kernel"]] and abs(sum(k[4] for k in graph["per_kernel"]) - 1) < 1e-9
    assert rows["mlp.gcg", "numpy eager"]["note"] == "" and report["copy_bandwidth"] > 0
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "copy bandwidth" in out and "per kernel" in out and "tiny" in out


@pytest.mark.parametrize("args, message", [(("bench", "nope"), "unknown workload 'nope'"),
                                           (("bench", "tiny", "--repeat", "1"), "at least 2")])
def test_bench_refuses_bad_arguments(args, message):
    status, out, err = graphc(*args)
    assert status == 2 and message in err and "Traceback" not in err, err


def test_dump_html_writes_the_viewer_page(saved_mlp, tmp_path):
    path, _ = saved_mlp
    status, out, err = graphc("dump", path, "--feed", "x=16,8", "--format", "html", "-o", tmp_path / "g.html")
    page = (tmp_path / "g.html").read_text()
    assert status == 0 and page.startswith("<!DOCTYPE html>") and '<g class="kernel"' in page, err
    assert "memory plan" in page and "mlp.gcg" in page


@pytest.mark.parametrize("args", [("dump", "--stage", "fuse"), ("dump", "--format", "dot"), ("explain",),
                                  ("profile", "--runs", "2", "-o", "{tmp}/t.json"),
                                  ("bench", "--repeat", "2", "--graph")], ids=lambda a: " ".join(a[:2]))
def test_every_command_on_an_example_script(args, tmp_path):
    args = [a.format(tmp=tmp_path) for a in args] + ["examples/mlp.py"]
    status, out, err = graphc(*args)
    assert status == 0, err
    assert "dense1/relu" in out   # the example's first kernel, by name, in every report


def test_the_per_op_table_times_every_elementwise_op(monkeypatch):
    from graphc.ops.elementwise import BINARY, UNARY
    from graphc.tools import bench
    monkeypatch.setattr(bench, "OP_ELEMENTS", 4096)
    rows = bench.op_table(2, lambda what: None)
    names = [r[0] for r in rows]
    assert {"exp", "tanh", "add", "power", "floor_divide"} <= set(names) <= set(UNARY) | set(BINARY)
    assert all(g > 0 and n >= 0 for _, g, n in rows)
    text = "\n".join(bench.op_table_text([("slow", 10.0, 1.0)] + [(f"op{i}", 1.0, 1.0) for i in range(5)]))
    assert "slow" in text and text.count("<- a cliff") == 1   # (10x the median op)
