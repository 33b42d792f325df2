"""graphc.passes: the optimization pipeline, pure graph-to-graph rewrites.

``PIPELINE`` is the ordered list of passes; ``Session(optimize=..., passes=...,
disable=...)`` selects among them by name.
"""
from .pipeline import PASS_NAMES, PIPELINE, Pass, run_pipeline, select_passes
from .verify import verify

__all__ = ["PIPELINE", "PASS_NAMES", "Pass", "run_pipeline", "select_passes", "verify"]
