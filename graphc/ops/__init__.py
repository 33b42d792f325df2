"""The primitive ops of the IR. Importing this package fills the op table."""
from . import elementwise, fused, linalg, movement, random, reductions, sources, state  # noqa: F401  (registration)
from .registry import ELEMENTWISE, EFFECT, MATMUL, MOVEMENT, REDUCTION, SOURCE, OpDef, all_ops, get_op

__all__ = ["OpDef", "get_op", "all_ops", "SOURCE", "ELEMENTWISE", "REDUCTION", "MATMUL", "MOVEMENT", "EFFECT"]
