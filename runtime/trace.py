"""Per-kernel timings of a run: ``sess.run(..., options=gc.RunOptions(trace=True),
run_metadata=md)`` fills ``md`` (TF1's RunOptions/RunMetadata), and ``md.chrome_trace()``
is a Chrome trace (Perfetto and chrome://tracing open it) with a slice per kernel.

A traced run takes the step-by-step path of the same compiled program (each kernel called
on its own, as ``check_numerics`` does) and reads the clock around every kernel: the
kernels' times are their own; the bound run's savings between them are not in them.
"""
import json
import os
import statistics
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunOptions:
    """Options of one ``Session.run``: ``trace`` times every kernel into the RunMetadata."""
    trace: bool = False


@dataclass(frozen=True)
class KernelTime:
    """One kernel's call in a traced run: what it computes and covers, and when it ran."""
    name: str          # the kernel's node (a fused kernel is named after its last op)
    op: str            # "fused", or the single op
    covers: tuple      # the user's ops it computes
    loc: str | None    # the source line of its node
    start_ns: int      # time.perf_counter_ns() when it started
    duration_ns: int
    run: int = 0       # which traced run (0, 1, ...) of this RunMetadata


@dataclass
class RunMetadata:
    """What traced runs recorded: ``kernels`` (KernelTime, in call order, over every run)."""
    kernels: list = field(default_factory=list)
    runs: int = 0

    def record(self, timings):
        """Add one run's [(node, covers, start_ns, end_ns)] (runtime.executor)."""
        for node, covers, start, end in timings:
            self.kernels.append(KernelTime(node.name, node.op, tuple(covers), node.loc, start, end - start, self.runs))
        self.runs += 1

    def chrome_trace(self):
        """The Chrome trace event format (a dict; ``json.dump`` it, or ``write_chrome_trace``):
        a complete ("X") event per kernel call, in microseconds from the first call."""
        origin = min((k.start_ns for k in self.kernels), default=0)
        events = [{"name": f"{k.name} ({', '.join(k.covers)})" if len(k.covers) > 1 else k.name,
                   "cat": k.op, "ph": "X", "pid": os.getpid(), "tid": 1,
                   "ts": (k.start_ns - origin) / 1000, "dur": k.duration_ns / 1000,
                   "args": {"kernel": k.name, "covers": list(k.covers), "source": k.loc, "run": k.run}}
                  for k in self.kernels]
        return {"traceEvents": events, "displayTimeUnit": "ms",
                "otherData": {"producer": "graphc", "runs": self.runs}}

    def write_chrome_trace(self, path):
        with open(path, "w") as f:
            json.dump(self.chrome_trace(), f)

    def summary(self):
        """[(kernel name, covers, loc, calls, median ns, share of the kernels' total time)],
        the slowest first."""
        by_name = {}
        for k in self.kernels:
            by_name.setdefault(k.name, []).append(k)
        total = sum(k.duration_ns for k in self.kernels) or 1
        rows = []
        for name, calls in by_name.items():
            times = [k.duration_ns for k in calls]
            rows.append((name, calls[0].covers, calls[0].loc, len(calls), statistics.median(times), sum(times) / total))
        return sorted(rows, key=lambda r: -r[5])

