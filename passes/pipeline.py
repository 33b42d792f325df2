"""The optimization pipeline: one explicit, ordered list of named passes.

Each pass is a pure function ``Graph -> Graph`` (or ``-> (Graph, info)`` when it also
produces data, such as the fusion decisions or the memory plan). The Session runs
the selected passes in this order after ``specialize``; ``optimize=False`` keeps only
scheduling and memory planning, so every op is its own kernel (the unfused baseline).
"""
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import GraphcError
from .cse import cse, dce
from .fold import fold_constants
from .fold_scale import fold_batch_norm
from .fuse import fuse
from .layout import sink_transposes
from .memory import plan_memory
from .schedule import schedule
from .simplify import simplify
from .verify import verify


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable
    summary: str


PIPELINE = (
    Pass("sink_transposes", sink_transposes, "move transposes below elementwise ops and reductions, so pairs cancel"),
    Pass("fold_constants", fold_constants, "evaluate subgraphs whose inputs are all constants (size-capped)"),
    Pass("fold_batch_norm", fold_batch_norm, "fold per-channel scales (inference batch norm) into constant conv/matmul weights"),
    Pass("simplify", simplify, "algebraic rewrites that are exact for NaN, Inf and -0.0"),
    Pass("cse", cse, "merge structurally equal nodes (never variables or placeholders)"),
    Pass("dce", dce, "drop nodes no output needs"),
    Pass("fuse", fuse, "group ops into kernels; record why each edge is or is not fused"),
    Pass("schedule", schedule, "order kernels depth-first from the outputs to shorten live ranges"),
    Pass("plan_memory", plan_memory, "place every intermediate in one arena (liveness, best fit, in place)"),
)
PASS_NAMES = tuple(p.name for p in PIPELINE)
UNOPTIMIZED = ("schedule", "plan_memory")


def select_passes(optimize=True, passes=None, disable=()):
    """The pass names to run, in pipeline order."""
    for name in list(passes or ()) + list(disable):
        if name not in PASS_NAMES:
            raise GraphcError(f"unknown pass {name!r}; passes are {', '.join(PASS_NAMES)}")
    chosen = set(passes) if passes is not None else set(PASS_NAMES if optimize else UNOPTIMIZED)
    return tuple(n for n in PASS_NAMES if n in chosen and n not in set(disable))


@dataclass
class Stage:
    """One stage of a compilation: the IR after it, what it produced, and what it cost."""
    name: str
    graph: object
    info: object = None
    seconds: float = 0.0
    nodes_before: int = 0
    nodes_after: int = 0


def run_pipeline(graph, names, verify_each=False):
    """Run the named passes on ``graph``; returns the list of Stages (specialize first)."""
    stages = [Stage("specialize", graph, nodes_before=len(graph), nodes_after=len(graph))]
    if verify_each:
        verify(graph, "after specialize")
    by_name = {p.name: p for p in PIPELINE}
    for name in names:
        start = time.perf_counter()
        result = by_name[name].run(graph)
        new, info = result if isinstance(result, tuple) else (result, None)
        stage = Stage(name, new, info, time.perf_counter() - start, len(graph), len(new))
        if verify_each:
            verify(new, f"after {name}")
        stages.append(stage)
        graph = new
    return stages


def stage_text(stage, blobs=False):
    """The IR after a stage under a header line (time, node counts), with what the pass
    produced (fusion decisions, memory plan) as // comments; still parseable."""
    text = (f"// graphc IR after {stage.name}: {stage.seconds * 1e3:.3f} ms, "
            f"nodes {stage.nodes_before} -> {stage.nodes_after}\n") + stage.graph.to_text(blobs=blobs)
    if stage.info is not None:
        text += "".join(f"// {line}\n" for line in str(stage.info).splitlines())
    return text
