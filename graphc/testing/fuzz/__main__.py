"""``python -m graphc.testing.fuzz``: the fuzzer's fast seeded loop (``make fuzz N=20000``).

Every graph runs on every device and pipeline (graphc.testing.fuzz.runner); a failure is
shrunk and written to the regressions folder, which tests/test_regressions.py replays.
Prints a progress bar, then a summary table: graphs and gradient graphs per size regime,
programs run, failures, and how often each primitive op of the op table occurred.
"""
import argparse
import collections
import multiprocessing
import os
import sys
import time

import graphc as gc
from graphc.ops import all_ops

from .generator import RandomChooser, generate
from .gradients import check_gradients, gradient_program
from ...runtime.backends import ALL_DEVICES
from .runner import check, device_configs
from .shrink import shrink, write_regression

DEFAULT_REGRESSIONS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "regressions")


def _primitives(program, gradients=False):
    """The primitive ops of the program's graph (and of its backward pass)."""
    graph = gc.Graph()
    tensors, _ = program.build(graph)
    with graph.as_default():
        if program.updates:
            gc.group(*[gc.assign(tensors[v], tensors[x]) for v, x in program.updates])
            gc.global_variables_initializer()
        if gradients:
            xs = [tensors[i] for i, s in enumerate(program.steps)
                  if s.op in ("input", "variable") and program.vals[i].is_float]
            loss = sum(gc.sum(gc.cast(tensors[o], gc.float64)) for o in program.outputs if program.vals[o].is_float)
            gc.gradients(loss, xs)
    return {n.op for n in graph.nodes}


def _one(job):
    kind, seed, regressions, devices = job
    cubin = _cubin_stats()
    texts = _surveyed(kind, seed, devices, regressions)
    result = _run_one(kind, seed, regressions, devices, cubin)
    result["cuda_texts"] = texts() if texts else []
    return result


def _surveyed(kind, seed, devices, regressions):
    """With --cuda-survey: a function giving the CUDA C of every kernel this job's programs
    compiled (runtime/cuda/survey.py), else None."""
    if not os.environ.get("GRAPHC_FUZZ_CUDA_SURVEY"):
        return None
    from ...runtime import compiler
    from ...runtime.cuda.survey import kernel_texts
    found = []
    compiler.PROGRAM_HOOKS[:] = [lambda compiled: found.extend(kernel_texts(compiled.call_plan))
                                 if compiled.call_plan is not None else None]
    return lambda: found


def _run_one(kind, seed, regressions, devices, cubin):
    try:
        program = generate(RandomChooser(seed)) if kind == "graph" else gradient_program(seed)
    except Exception as e:   # a fault of the generator: reported, and the loop goes on
        return dict(kind=kind, seed=seed, regime="generator", programs=0, ops=set(), written=[],
                    failures=[f"generator error: {e!r}"], description="", drawer_errors=[])
    if kind == "graph":
        failures, programs = check(program, device_configs(devices)) if devices else check(program)
    else:
        failures, programs = check_gradients(program, seed, devices) if devices else check_gradients(program, seed)
    written = []
    if failures and regressions and kind == "graph":
        small = shrink(program, failures[0])
        written.append(write_regression(small, failures[0], regressions, name=f"fuzz_seed{seed}"))
    ops = set()
    for with_gradients in ((True, False) if kind == "gradient" else (False,)):
        try:
            ops = _primitives(program, with_gradients)
            break
        except Exception:
            continue
    return dict(kind=kind, seed=seed, regime=program.regime, programs=programs, ops=ops,
                failures=[str(f) for f in failures], description=program.describe() if failures else "",
                written=written, drawer_errors=program.drawer_errors,
                cubin={k: v - cubin.get(k, 0) if k != "max_registers" else v for k, v in _cubin_stats().items()})


def _cubin_stats():
    """runtime/cuda/host.py's CUBIN counters so far in this process ({} when it is not loaded)."""
    host = sys.modules.get("graphc.runtime.cuda.host")
    return dict(host.cubin_stats) if host is not None and host.CUBIN_ARCHES else {}


def _bar(done, total, failures, started):
    """A progress bar on a terminal; in a log, a line every 2% instead."""
    tty = sys.stderr.isatty()
    if not tty and done != total and done % max(total // 50, 1):
        return
    width = 30
    filled = int(width * done / max(total, 1))
    rate = (time.time() - started) / max(done, 1)
    sys.stderr.write(f"{chr(13) if tty else ''}[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  "
                     f"{failures} failing  {rate:.2f} s/graph{'' if tty else chr(10)}")
    sys.stderr.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m graphc.testing.fuzz", description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--graphs", type=int, default=200, help="random graphs to run")
    ap.add_argument("-g", "--gradients", type=int, default=None, help="gradient graphs (default: n / 10)")
    ap.add_argument("-s", "--seed", type=int, default=0, help="first seed (graph i uses seed + i)")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--regressions", default=DEFAULT_REGRESSIONS, help="where shrunk failures are written")
    ap.add_argument("--no-write", action="store_true", help="do not write regression files")
    ap.add_argument("--cubin", nargs="+", metavar="ARCH",
                    help="with --devices cuda-host: compile every module to CUBIN for these architectures too "
                         "(e.g. sm_80 sm_90) and summarize what ptxas reported")
    ap.add_argument("--cuda-survey", action="store_true",
                    help="also render every kernel the programs compile as CUDA C and compile the distinct ones to "
                         "CUBIN for sm_80 and sm_90 (runtime/cuda/survey.py); e.g. with --devices reference")
    ap.add_argument("--devices", nargs="+", choices=ALL_DEVICES,
                    help="fuzz these devices (default and unfused) instead of every pipeline on cpu and reference, "
                         "e.g. --devices cuda-host: the CUDA backend's code run on the host")
    args = ap.parse_args(argv)
    if args.cubin:   # (read by runtime/cuda/host.py when it is imported, in this process and the workers)
        os.environ["GRAPHC_CUDA_HOST_CUBIN"] = ",".join(args.cubin)
    survey = None
    if args.cuda_survey:   # (read by _surveyed in the workers)
        os.environ["GRAPHC_FUZZ_CUDA_SURVEY"] = "1"
        from ...runtime.cuda.survey import Survey
        survey = Survey()
    gradients = args.graphs // 10 if args.gradients is None else args.gradients
    out = None if args.no_write else os.path.abspath(args.regressions)
    devices = tuple(args.devices) if args.devices else None
    jobs = [("graph", args.seed + i, out, devices) for i in range(args.graphs)] + \
           [("gradient", args.seed + i, out, devices) for i in range(gradients)]
    from . import draw  # noqa: F401  (everything a worker needs is loaded before it forks)
    from ...runtime.cpu import native  # noqa: F401
    started = time.time()
    results = []
    pool = multiprocessing.Pool(args.jobs) if args.jobs > 1 else None
    stream = pool.imap_unordered(_one, jobs) if pool else map(_one, jobs)
    failing = 0
    for done, r in enumerate(stream, 1):
        results.append(r)
        if survey is not None:
            survey.add(r.pop("cuda_texts"), f"{r['kind']} seed {r['seed']}")
        if r["failures"]:
            failing += 1
            sys.stderr.write(f"\n{r['kind']} seed {r['seed']} ({r['regime']}): {r['failures'][0][:400]}\n")
        _bar(done, len(jobs), failing, started)
    if pool:
        pool.close()
    sys.stderr.write("\n")
    print(summary(results, time.time() - started))
    if survey is not None:
        found = survey.check()
        survey.close()
        print(survey.summary(found))
        for problem in found["errors"] + found["missing"] + found["spilling"]:
            print("  ", *problem)
        failing += bool(found["errors"] or found["missing"] or found["spilling"])
    return 1 if failing else 0


def summary(results, seconds):
    """The summary table (plain text)."""
    lines = [f"graphc fuzz: {len(results)} graphs in {seconds:.0f} s"]
    by = collections.defaultdict(lambda: [0, 0, 0])
    for r in results:
        row = by[(r["kind"], r["regime"])]
        row[0] += 1
        row[1] += r["programs"]
        row[2] += bool(r["failures"])
    lines.append(f"{'kind':<10}{'regime':<12}{'graphs':>8}{'checks':>14}{'failing':>9}")
    for (kind, regime), (n, programs, bad) in sorted(by.items()):
        lines.append(f"{kind:<10}{regime:<12}{n:>8}{programs:>14}{bad:>9}")
    total = [sum(v[i] for v in by.values()) for i in range(3)]
    lines.append(f"{'total':<22}{total[0]:>8}{total[1]:>14}{total[2]:>9}")
    lines.append("checks: distinct (device, IR, poison) programs run for a graph; directional derivatives "
                 "checked for a gradient graph")
    counts = collections.Counter(op for r in results for op in r["ops"])
    missing = sorted(set(all_ops()) - set(counts) - {"fused"})   # (fused: made by the fusion pass)
    lines.append("graphs containing each op: " + ", ".join(f"{op} {n}" for op, n in sorted(counts.items())))
    lines.append("ops never drawn: " + (", ".join(missing) if missing else "none"))
    drawer_errors = collections.Counter(e.split(":")[0] for r in results for e in r["drawer_errors"])
    lines.append("generator's own faults (ops drawn wrongly, skipped): "
                 + (", ".join(f"{op} {n}" for op, n in sorted(drawer_errors.items())) if drawer_errors else "none"))
    cubin = [r.get("cubin") or {} for r in results]
    if any(cubin):
        lines.append(f"CUBIN: {sum(c.get('modules', 0) for c in cubin)} modules, {sum(c.get('kernels', 0) for c in cubin)} "
                     f"kernel compilations, at most {max(c.get('max_registers', 0) for c in cubin)} registers, "
                     f"{sum(c.get('spilling_kernels', 0) for c in cubin)} spilling")
    for r in results:
        if r["failures"]:
            lines.append(f"FAIL {r['kind']} seed {r['seed']}: {r['failures'][0][:300]}")
            lines.extend(f"  wrote {w}" for w in r["written"])
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
