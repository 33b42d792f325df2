"""Source ops (no inputs) and the variable initializer effect."""
import numpy as np

from .. import dtypes as dt
from .registry import EFFECT, SOURCE, register


def _declared(inputs, dtype, shape, **_):
    return dt.as_dtype(dtype), tuple(shape)


def _fed_only(values, **attrs):
    raise RuntimeError("placeholders and variables get their values from the session")


register("placeholder", SOURCE, _declared, _fed_only, arity=0, runtime_value=True)
register("variable", SOURCE, _declared, _fed_only, arity=0, runtime_value=True)
register("constant", SOURCE,
         lambda inputs, value: (dt.as_dtype(value.dtype), value.shape),
         lambda values, value: value, arity=0)


def _init_infer(inputs, variables):
    return None, None


def _init_compute(values, variables):
    # The values of the initial-value inputs; the session commits them to `variables`.
    return tuple(np.asarray(v) for v in values)


register("init_variables", EFFECT, _init_infer, _init_compute, differentiable=False)
