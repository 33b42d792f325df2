"""graphc's differential fuzzer: random valid graphs, every device and pipeline, against
an independent float64 numpy evaluation with stated error bounds (docs/testing.md).

Front ends: ``python -m graphc.testing.fuzz`` (a fast seeded loop; ``make fuzz``) and
:func:`graphc.testing.fuzz.strategies.programs` (hypothesis, so failures shrink).
"""
from .generator import RandomChooser, generate
from .program import Program, Step
from .runner import CONFIGS, Failure, check

__all__ = ["RandomChooser", "generate", "Program", "Step", "CONFIGS", "Failure", "check"]
