"""``graphc bench``: the standard workloads (graphc.bench) or the user's own graph, each as
graphc fused, graphc unfused, numpy and the peers that are installed, with the numbers that
say why one is faster: median and spread, kernels, bytes moved per run and the bandwidth
that achieves against a copy measured in the same run, arena bytes, the first run's time.

Every system gets the same inputs, and its output is checked against numpy's before it is
timed (graphc.bench). A time is the median of ``--repeat`` runs after warm-up; the spread
is the interquartile range as a share of the median.
"""
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import GraphcError

COPY_BYTES = 64 * 2 ** 20   # the copy that measures this machine's memory bandwidth
GRAPHC_SYSTEMS = ("graphc fused", "graphc unfused")


@dataclass
class Result:
    """One system on one workload (times in seconds; graphc's program facts where known)."""
    workload: str
    system: str
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    note: str = ""                  # "n/a (...)", "error: ...", "MISMATCH: ..."
    kernels: int | None = None
    bytes_moved: int | None = None
    arena_bytes: int | None = None
    first_run: float | None = None  # the first call: compiling (or the compile cache) and one run
    per_kernel: list | None = None  # --graph: [(kernel, covers, median s, bytes, share)]

    @property
    def spread(self):
        return (self.q3 - self.q1) / self.median if self.median else None


def copy_bandwidth(repeats=5):
    """Bytes per second of np.copyto over COPY_BYTES (read + write counted), median of repeats."""
    src = np.ones(COPY_BYTES // 4, np.float32)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - start)
    return 2 * COPY_BYTES / statistics.median(times[1:])


def _timed(result, run, repeats, inner):
    from ..bench import samples
    times = samples(run, repeats, inner)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    result.median, result.q1, result.q3 = statistics.median(times), q[0], q[2]


def _programs():
    """A list the compiler appends every program it makes to, while ``with`` lasts."""
    from ..runtime import compiler

    class Hooked(list):
        def __enter__(self):
            compiler.PROGRAM_HOOKS.append(self.append)
            return self

        def __exit__(self, *exc):
            compiler.PROGRAM_HOOKS.remove(self.append)
    return Hooked()


def _program_facts(result, programs):
    """Kernels, bytes and arena of the program the system runs: the largest it compiled (a
    training step's, not its initializer's or the variables' fetch)."""
    if programs:
        facts = max(programs, key=lambda c: len(c.kernels)).explain()
        result.kernels, result.bytes_moved, result.arena_bytes = facts.kernels, facts.bytes_moved, facts.arena_bytes


def bench_workload(w, opts, progress):
    """[Result] of every system on standard workload ``w`` (graphc.bench.WORKLOADS)."""
    from .. import bench as standard
    from .. import bench_train
    training = standard.TRAINING.get(w.name)
    if training:
        x, labels, params = training.inputs(np.random.default_rng(0))
        reference = training.numpy_step(x, labels, params, dtype=np.float64)
        factories = training.SYSTEMS
    else:
        feeds, params = w.inputs(np.random.default_rng(0))
        reference = w.xp(np, **feeds, **params)
    out = []
    for system in standard.SYSTEMS:
        progress(f"{w.name}: {system}")
        result = Result(w.name, system)
        out.append(result)
        try:
            with _programs() as programs:
                start = time.perf_counter()
                if training:
                    if system not in factories:
                        raise standard.Unavailable("no training API")
                    run, get_params = factories[system](x, labels, params)
                    problem = bench_train.check_first_step(run, get_params, reference)
                else:
                    run = _device_runner(standard, system, w, feeds, params, opts.device)
                    problem = standard.check(run(), reference)
                result.first_run = time.perf_counter() - start
            if problem:
                result.note = f"MISMATCH: {problem}"
            _timed(result, run, opts.repeat, opts.tiny_inner if w.micro else 1)
            if system in GRAPHC_SYSTEMS:
                _program_facts(result, programs)
        except (standard.Unavailable, ImportError) as e:
            result.note = f"n/a ({e})"
        except Exception as e:  # noqa: BLE001  (a broken peer must not stop the benchmark)
            result.note = f"error: {type(e).__name__}: {str(e)[:200]}"
    return out


def _device_runner(standard, system, w, feeds, params, device):
    """The system's runner; graphc's on ``device`` (the peers run on the CPU)."""
    if system in GRAPHC_SYSTEMS:
        return standard.graphc_runner(w, feeds, params, optimize=system == "graphc fused", device=device)
    return standard.SYSTEMS[system](w, feeds, params)


def bench_graph(program, opts, progress):
    """[Result] of the user's graph: graphc fused (with a per-kernel breakdown), graphc
    unfused, and numpy eager (the reference device: numpy op by op)."""
    import graphc as gc
    systems = [("graphc fused", dict(device=opts.device)), ("graphc unfused", dict(device=opts.device, optimize=False)),
               ("numpy eager", dict(device="reference"))]
    out, reference, label = [], None, os.path.basename(program.path)
    for system, options in systems:
        progress(f"{label}: {system}")
        result = Result(label, system)
        out.append(result)
        with gc.Session(graph=program.graph, **options) as sess, _programs() as programs:
            start = time.perf_counter()
            values = sess.run(program.fetches, program.feeds)
            result.first_run = time.perf_counter() - start
            reference = reference if reference is not None else values
            problem = _compare(values, reference)
            if problem:
                result.note = f"MISMATCH: {problem}"
            _timed(result, lambda: sess.run(program.fetches, program.feeds), opts.repeat, 1)
            _program_facts(result, programs)
            if system == "graphc fused":
                result.per_kernel = _per_kernel(sess, program, opts.repeat)
    return out


def _compare(values, reference):
    for got, want in zip(values, reference):
        if got is None or want is None:
            continue
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-5, equal_nan=True):
            return f"differs from graphc fused (max abs {np.nanmax(np.abs(got.astype(float) - want)):.3g})"
    return None


def _per_kernel(sess, program, repeat):
    import graphc as gc
    from ..runtime.explain import bytes_moved
    metadata = gc.RunMetadata()
    for _ in range(repeat):
        sess.run(program.fetches, program.feeds, options=gc.RunOptions(trace=True), run_metadata=metadata)
    nodes = {n.name: n for n in sess.compile(program.fetches, program.feeds).graph.nodes}
    rows = []
    for name, covers, _, _, median, share in metadata.summary():
        node = nodes[name]
        moved = bytes_moved(node)
        rows.append((name, list(covers), median / 1e9, moved, share))
    return rows


OP_ELEMENTS = 1 << 20   # the per-op table's float32 input size


def op_table(repeat, progress, device="cpu"):
    """[(op, graphc ns/element, numpy ns/element)] of every unary and binary elementwise op
    of the op table on OP_ELEMENTS float32 values (positive, so every op is in its domain):
    an op far slower than its neighbours is a cliff to fix."""
    import graphc as gc
    from ..ops.elementwise import BINARY, UNARY
    rng = np.random.default_rng(0)
    a = (rng.random(OP_ELEMENTS) + 0.5).astype(np.float32)
    b = (rng.random(OP_ELEMENTS) + 0.5).astype(np.float32)
    rows = []
    for name in sorted(UNARY) + sorted(BINARY):
        progress(f"ops: {name}")
        graph = gc.Graph()
        with graph.as_default():
            x = gc.placeholder(gc.float32, a.shape, name="x")
            y = gc.placeholder(gc.float32, b.shape, name="y")
            try:
                node = graph.add_node(name, [x.node] if name in UNARY else [x.node, y.node])
            except (GraphcError, TypeError):
                continue   # (an op that needs attributes or other dtypes)
            out = graph.tensor(node)
        feeds = {x: a} if name in UNARY else {x: a, y: b}
        with gc.Session(graph, device=device) as sess:
            run = lambda: sess.run(out, feeds)   # noqa: E731
            run()
            graphc_s = statistics.median(_samples(run, repeat))
        compute = node.opdef.compute
        args = [a] if name in UNARY else [a, b]
        with np.errstate(all="ignore"):
            numpy_s = statistics.median(_samples(lambda: compute(args, **node.attrs), repeat))
        rows.append((name, graphc_s / OP_ELEMENTS * 1e9, numpy_s / OP_ELEMENTS * 1e9))
    return rows


def _samples(run, repeat):
    from ..bench import samples
    return samples(run, repeat, 1, warmup=1)


def op_table_text(rows):
    """The table, each op's graphc time also against the median op's (a cliff stands out)."""
    middle = statistics.median(r[1] for r in rows) if rows else 1.0
    lines = ["", f"elementwise ops, float32, {OP_ELEMENTS} elements (ns per element):",
             f"  {'op':<14} {'graphc':>8} {'numpy':>8} {'vs median op':>13}"]
    for name, ours, numpy_ns in rows:
        flag = "  <- a cliff" if ours > 4 * middle else ""
        lines.append(f"  {name:<14} {ours:>8.3f} {numpy_ns:>8.3f} {ours / middle:>12.1f}x{flag}")
    return lines


def table(results, bandwidth):
    """The text report: a row per (workload, system), then any per-kernel breakdown."""
    lines = [f"copy bandwidth (np.copyto of {COPY_BYTES // 2 ** 20} MiB, read + write): {bandwidth / 1e9:.1f} GB/s",
             "", f"{'workload':<12} {'system':<15} {'median':>10} {'spread':>7} {'kernels':>7} {'moved':>9} "
                 f"{'GB/s (of copy)':>15} {'arena':>9} {'first run':>9}"]
    for r in results:
        if r.median is None:
            lines.append(f"{r.workload[:12]:<12} {r.system:<15} {r.note}")
            continue
        gbs = f"{r.bytes_moved / r.median / 1e9:.1f} ({r.bytes_moved / r.median / bandwidth:.0%})" \
            if r.bytes_moved else "-"
        lines.append(f"{r.workload[:12]:<12} {r.system:<15} {_time(r.median):>10} {r.spread:>7.1%} "
                     f"{_or_dash(r.kernels):>7} {_mb(r.bytes_moved):>9} {gbs:>15} {_mb(r.arena_bytes):>9} "
                     f"{_time(r.first_run):>9}" + (f"  {r.note}" if r.note else ""))
    for r in results:
        if r.per_kernel:
            lines += ["", f"{r.workload} ({r.system}), per kernel:",
                      f"  {'kernel':<28} {'median':>10} {'moved':>9} {'GB/s':>7} {'share':>6}  covers"]
            for name, covers, median, moved, share in r.per_kernel:
                lines.append(f"  {name[:28]:<28} {_time(median):>10} {_mb(moved):>9} "
                             f"{moved / median / 1e9 if median else 0:>7.1f} {share:>6.1%}  {', '.join(covers)}")
    return "\n".join(lines)


def plot(results, path):
    """A bar chart of each workload's medians, fused vs unfused vs peers (matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GraphcError("--plot needs matplotlib: pip install 'graphc[plot]'") from None
    workloads = list(dict.fromkeys(r.workload for r in results))
    systems = list(dict.fromkeys(r.system for r in results if r.median))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(workloads)), 4))
    width = 0.8 / max(len(systems), 1)
    for i, system in enumerate(systems):
        xs, ys = [], []
        for j, w in enumerate(workloads):
            r = next((r for r in results if r.workload == w and r.system == system and r.median), None)
            if r:
                fused = next((f.median for f in results if f.workload == w and f.system == "graphc fused" and f.median),
                             r.median)
                xs.append(j + i * width)
                ys.append(r.median / fused)
        ax.bar(xs, ys, width, label=system)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(workloads))], workloads)
    ax.set_ylabel("time / graphc fused's (lower is faster)")
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def run(opts, progress_stream=sys.stderr):
    """The `graphc bench` command: returns the report's text (writes --json and --plot)."""
    from .. import bench as standard
    from .source import load_program
    names = [w.name for w in standard.WORKLOADS]
    unknown = [n for n in opts.workloads if n not in names]
    if unknown:
        raise GraphcError(f"unknown workload {unknown[0]!r}; workloads are {', '.join(names)}")
    if opts.repeat < 2:
        raise GraphcError(f"--repeat {opts.repeat}: at least 2 (a median and a spread)")
    program = load_program(opts.graph, opts.fetch, opts.feed) if opts.graph else None
    chosen = [w for w in standard.WORKLOADS if w.name in opts.workloads] if opts.workloads or program or opts.ops \
        else list(standard.WORKLOADS)
    total = len(chosen) * len(standard.SYSTEMS) + (3 if program else 0) + (60 if opts.ops else 0)
    done = [0]

    def progress(what):
        done[0] += 1
        bar = "#" * (30 * done[0] // max(total, 1))
        progress_stream.write(f"\r[{bar:<30}] {done[0]}/{total} {what[:50]:<50}")
        progress_stream.flush()
    bandwidth = copy_bandwidth()
    results = [r for w in chosen for r in bench_workload(w, opts, progress)]
    if program:
        results += bench_graph(program, opts, progress)
    ops = op_table(opts.repeat, progress, opts.device) if opts.ops else []
    progress_stream.write("\n")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"copy_bandwidth": bandwidth, "results": [asdict(r) for r in results],
                       "ops_ns_per_element": {name: {"graphc": g, "numpy": n} for name, g, n in ops}}, f, indent=1)
    if opts.plot:
        plot(results, opts.plot)
    return table(results, bandwidth) + ("\n".join([""] + op_table_text(ops)) if ops else "")


def _time(seconds):
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.0f} ns"


def _mb(n):
    return "-" if n is None else f"{n / 2 ** 20:.2f} MiB" if n >= 2 ** 16 else f"{n} B"


def _or_dash(v):
    return "-" if v is None else str(v)
