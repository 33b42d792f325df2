"""The primitive ops of the IR. Importing this package fills the op table."""
from .registry import (AS_GIVEN, CHEAP, EFFECT, ELEMENTWISE, EXPENSIVE, LAYOUT_VIEW, MATMUL, MOVEMENT, REDUCTION,
                       SELECT, SOURCE, STRIDED_VIEW, TO_COMMON, TO_RESULT, TO_TRUTH, OpDef, all_ops, get_op, register,
                       unregister)
from . import conv, elementwise, fused, linalg, movement, random, reductions, sources, state, static  # noqa: F401,E402

__all__ = ["OpDef", "get_op", "all_ops", "register", "unregister", "SOURCE", "ELEMENTWISE", "REDUCTION", "MATMUL",
           "MOVEMENT", "EFFECT", "CHEAP", "EXPENSIVE", "LAYOUT_VIEW", "STRIDED_VIEW", "TO_RESULT", "TO_COMMON",
           "TO_TRUTH", "AS_GIVEN", "SELECT"]
