"""State ops: ``assign`` (a variable's next value) and ``group`` (run several at once).

Neither reaches a compiled program as an op: the compiler turns each fetched (or
depended-on) ``assign`` into an update that the session commits at the end of the
run, and expands a ``group`` into what it groups (runtime.updates).
"""
from ..errors import ShapeError
from .registry import EFFECT, register
from .shapes import fmt_shape

UPDATE = "update"   # an assign: its value is the variable's new value


def _assign_infer(inputs):
    var, value = inputs
    if var.op != "variable":
        raise ShapeError(f"assign needs a Variable, got '{var.name}' ({var.op})")
    if value.dtype != var.dtype:
        raise ShapeError(f"assign to '{var.name}' {var.type}: value has dtype {value.dtype}")
    if len(value.shape) != len(var.shape) or any(a is not None and a != b for a, b in zip(value.shape, var.shape)):
        raise ShapeError(f"assign to '{var.name}' {fmt_shape(var.shape)}: value has shape {fmt_shape(value.shape)}")
    return var.dtype, tuple(var.shape)


register("assign", UPDATE, _assign_infer, lambda values: values[1], arity=2)
register("group", EFFECT, lambda inputs: (None, None), lambda values: None)
