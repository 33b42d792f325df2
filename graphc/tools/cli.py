"""The ``graphc`` command: ``graphc dump|explain|bench|profile|run|info|cache`` (docs/tools.md).

Bad input (a missing file, an unknown fetch or feed name, a feed shape that does not fit)
is one line on stderr, ``graphc: error: ...``, and exit status 2, without a traceback.
"""
import argparse
import sys

from ..errors import GraphcError

STAGE_INPUT = "input"   # the graph as built, before any pass
STAGE_CODE = "code"     # the generated LLVM IR or CUDA C


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        text = args.command(args)
    except GraphcError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        parser.exit(2, f"graphc: error: {first}\n")
    if text is None:
        return 0
    if getattr(args, "output", None):
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _parser():
    parser = argparse.ArgumentParser(prog="graphc", description="Inspect graphc graphs: their optimized IR, "
                                     "the compiler's decisions, the machine.")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    dump = commands.add_parser("dump", help="the IR at each stage, and the generated code")
    _source_arguments(dump)
    dump.add_argument("--stage", default="all", help=f"a pass's name, {STAGE_INPUT!r}, {STAGE_CODE!r} "
                      "(the generated code) or 'all' (default)")
    dump.add_argument("--format", choices=("text", "dot", "html"), default="text",
                      help="html: one self-contained page, before and after side by side (docs/tools.md)")
    dump.add_argument("-o", "--output", help="write here instead of to stdout")
    dump.set_defaults(command=_dump)

    explain = commands.add_parser("explain", help="why edges were not fused, buffers and their live "
                                  "ranges, the peak-memory point, totals")
    _source_arguments(explain)
    explain.add_argument("-o", "--output", help="write here instead of to stdout")
    explain.set_defaults(command=_explain)

    bench = commands.add_parser("bench", help="the standard workloads or your graph: graphc fused, unfused, "
                                "numpy and the installed peers")
    bench.add_argument("workloads", nargs="*", metavar="WORKLOAD", help="standard workloads (default: all; "
                       "none with --graph)")
    bench.add_argument("--graph", metavar="SRC", help="also your graph file or script, with a per-kernel breakdown")
    bench.add_argument("--fetch", action="append", default=[], metavar="NAME", help="with --graph: a tensor to compute")
    bench.add_argument("--feed", action="append", default=[], metavar="NAME=SHAPE[:DTYPE]",
                       help="with --graph: random data of this shape")
    bench.add_argument("--ops", action="store_true", help="also a table of every elementwise op's ns per element "
                       "(graphc and numpy; none of the workloads unless named)")
    bench.add_argument("--device", default="cpu", help="graphc's device (peers run on the CPU)")
    bench.add_argument("--repeat", type=int, default=20, help="timed runs per system (default 20)")
    bench.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    bench.add_argument("--plot", metavar="PATH", help="also draw a bar chart (needs matplotlib)")
    bench.add_argument("-o", "--output", help="write the table here instead of to stdout")
    bench.set_defaults(command=_bench, tiny_inner=200)

    profile = commands.add_parser("profile", help="time every kernel over repeated runs; a Chrome trace")
    _source_arguments(profile)
    profile.add_argument("--runs", type=int, default=10, help="traced runs after one warm-up run (default 10)")
    profile.add_argument("-o", "--output", dest="trace", default="trace.json",
                         help="the Chrome trace to write (default trace.json; Perfetto opens it)")
    profile.set_defaults(command=_profile)

    run = commands.add_parser("run", help="run an ONNX model: its outputs, against onnxruntime, --bench times")
    from .run_onnx import add_arguments
    add_arguments(run)
    run.set_defaults(command=_run_onnx)

    info = commands.add_parser("info", help="versions, the CPU, CUDA, the compile cache")
    info.set_defaults(command=_info)

    cache = commands.add_parser("cache", help="the compile cache: graphc cache clear")
    cache.add_argument("action", choices=("clear",))
    cache.set_defaults(command=_cache)
    return parser


def _source_arguments(p):
    p.add_argument("src", metavar="SRC", help="a graph file (gc.save_graph) or a Python script")
    p.add_argument("--fetch", action="append", default=[], metavar="NAME", help="a tensor to compute (repeatable)")
    p.add_argument("--feed", action="append", default=[], metavar="NAME=SHAPE[:DTYPE]",
                   help="feed random data of this shape, e.g. x=32,784 (repeatable)")
    p.add_argument("--device", default="cpu", help="the device to compile for (default cpu)")


def _compile(args):
    from ..runtime.session import Session
    from .source import load_program
    program = load_program(args.src, args.fetch, args.feed)
    with Session(graph=program.graph, device=args.device) as sess:
        return program, sess.compile(program.fetches, program.feeds)


def _dump(args):
    from ..passes.pipeline import stage_text
    from .dot import to_dot
    program, compiled = _compile(args)
    stages = [STAGE_INPUT] + compiled.stages + [STAGE_CODE]
    if args.stage not in stages + ["all"]:
        raise GraphcError(f"no stage {args.stage!r}; stages are {', '.join(stages)} or all")
    if args.format == "html":
        from .viewer import to_html
        return to_html(compiled, args.src)
    if args.format == "dot":
        if args.stage == STAGE_CODE:
            raise GraphcError("--format dot draws a graph: pick a stage other than 'code'")
        stage = compiled.stages[-1] if args.stage == "all" else args.stage
        graph = program.graph if stage == STAGE_INPUT else compiled.stage(stage).graph
        return to_dot(graph, f"{args.src} after {stage}" if stage != STAGE_INPUT else args.src)
    if args.stage == STAGE_INPUT:
        return f"// graphc IR as built: {program.origin}\n" + program.graph.to_text(blobs=False)
    if args.stage == STAGE_CODE:
        return compiled.source() or "// no kernel runs natively: nothing was generated\n"
    if args.stage == "all":
        return compiled.dump()
    return stage_text(compiled.stage(args.stage))


def _run_onnx(args):
    from .run_onnx import run
    return run(args)


def _explain(args):
    return str(_compile(args)[1].explain())


def _bench(args):
    from .bench import run
    return run(args)


def _profile(args):
    from ..runtime.session import Session
    from ..runtime.trace import RunMetadata, RunOptions
    from .source import load_program
    if args.runs < 1:
        raise GraphcError(f"--runs {args.runs}: at least one run")
    program = load_program(args.src, args.fetch, args.feed)
    metadata = RunMetadata()
    with Session(graph=program.graph, device=args.device) as sess:
        sess.run(program.fetches, program.feeds)   # (compiles; not traced)
        for _ in range(args.runs):
            sess.run(program.fetches, program.feeds, options=RunOptions(trace=True), run_metadata=metadata)
    metadata.write_chrome_trace(args.trace)
    rows = metadata.summary()
    total = sum(median for *_, median, _ in rows)
    lines = [f"{len(rows)} kernels, {args.runs} runs: {total / 1e3:.1f} us of kernels per run (medians); "
             f"trace written to {args.trace}", "",
             f"{'kernel':<28} {'median':>10} {'share':>6}  covers / source"]
    for name, covers, loc, _, median, share in rows:
        ops = ", ".join(covers) if len(covers) > 1 else ""
        lines.append(f"{name[:28]:<28} {median / 1e3:>8.1f}us {share:>6.1%}  {ops + '  ' if ops else ''}{loc or ''}")
    return "\n".join(lines)


def _info(args):
    from .info import info_text
    return info_text()


def _cache(args):
    from ..runtime import disk_cache
    directory = disk_cache.cache_dir()
    if directory is None:
        return "the compile cache is off (GRAPHC_CACHE=0): nothing to clear"
    removed, freed = disk_cache.clear(directory)
    return f"removed {removed} entries ({freed} bytes) from {directory}"


if __name__ == "__main__":
    sys.exit(main())
