"""The op table: one :class:`OpDef` per primitive op of the IR.

An op definition is the single place that says what an op means: its kind (which
later passes use to decide fusion), how its output dtype and shape follow from
its inputs and attributes, and its numpy reference implementation, which is the
semantic definition every backend is tested against.
"""
from dataclasses import dataclass
from typing import Callable

from ..errors import GraphError

# Kinds: how passes and backends see an op.
SOURCE = "source"            # placeholder, constant, variable: no inputs
ELEMENTWISE = "elementwise"  # output[i] depends on input[i] after broadcasting
REDUCTION = "reduction"      # reduces `axes`
MATMUL = "matmul"
MOVEMENT = "movement"        # reshape, transpose, slice, pad, concat, gather...
EFFECT = "effect"            # no value; changes session state when run

_OPS = {}


@dataclass(frozen=True)
class OpDef:
    """A primitive op.

    ``infer(inputs, **attrs) -> (dtype, shape)`` gets objects with ``.dtype`` and
    ``.shape`` (shape entries may be None) and raises ShapeError/DTypeError on
    bad operands. ``compute(values, **attrs) -> ndarray`` is the numpy reference.
    """

    name: str
    kind: str
    infer: Callable
    compute: Callable
    arity: int | None = None  # None: any number of inputs


def register(name, kind, infer, compute, arity=None):
    if name in _OPS:
        raise GraphError(f"op {name!r} registered twice")
    _OPS[name] = OpDef(name, kind, infer, compute, arity)
    return _OPS[name]


def get_op(name):
    try:
        return _OPS[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}") from None


def all_ops():
    return dict(_OPS)
