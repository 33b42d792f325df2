"""The op table: one :class:`OpDef` per primitive op of the IR.

An op definition is the single place that says what an op means and how passes and
backends may treat it: its kind and traits (below), how its output dtype and shape
follow from its inputs and attributes, and its numpy reference implementation, which
is the semantic definition every backend is tested against. Passes and backends read
the traits; none of them keeps a list of op names of its own, except a backend's
lowering table (which says how *it* renders an op, and falls back to the reference
for an op it has no entry for).
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

# Cost classes: whether fusion may compute an op again in each kernel that reads it.
CHEAP = "cheap"              # an add, a compare, a select: recomputing beats a buffer
EXPENSIVE = "expensive"      # a transcendental or a division: computed once, then read

# Views: movement ops that read their input's buffer in place (no kernel, no buffer).
LAYOUT_VIEW = "layout"       # the same bytes in the same order (reshape, squeeze, expand_dims)
STRIDED_VIEW = "strided"     # an index map over the input's buffer (transpose, slice, broadcast_to)

# Operand rules of elementwise ops: the dtype each operand is converted to before the op
# computes (what its numpy reference does), so a backend computes in the same dtype.
TO_RESULT = "result"         # the op's result dtype (arithmetic, float-valued functions)
TO_COMMON = "common"         # the operands' promoted dtype (comparisons: the result is bool)
TO_TRUTH = "truth"           # each operand's truth value (logical ops)
AS_GIVEN = "given"           # used as they are (cast, isnan, isfinite)
SELECT = "select"            # where: the condition as given, the two values to the result

_OPS = {}


@dataclass(frozen=True)
class OpDef:
    """A primitive op.

    ``infer(inputs, **attrs) -> (dtype, shape)`` gets objects with ``.dtype`` and
    ``.shape`` (shape entries may be None) and raises ShapeError/DTypeError on
    bad operands. ``compute(values, **attrs) -> ndarray`` is the numpy reference.

    Traits: ``cost`` (CHEAP or EXPENSIVE to recompute), ``view`` (None, LAYOUT_VIEW or
    STRIDED_VIEW), ``operands`` (an elementwise op's operand rule), ``differentiable``
    (gc.gradients needs a rule for it; False: no gradient flows through it),
    ``moves_only`` (every output value is one of its input values: nothing to check
    for NaN), ``runtime_value`` (its value arrives when the program runs, a feed or
    session state: two such nodes are never the same value), ``block_offset``
    (a strided view's ``fn(in_shape, **attrs)``: the element offset of its result in the
    input's buffer when the result is one contiguous block of it, else None).
    """

    name: str
    kind: str
    infer: Callable
    compute: Callable
    arity: int | None = None  # None: any number of inputs
    cost: str = EXPENSIVE
    view: str | None = None
    operands: str | None = None
    differentiable: bool = True
    moves_only: bool = False
    runtime_value: bool = False
    block_offset: Callable | None = None


def register(name, kind, infer, compute, arity=None, **traits):
    """Add an op to the table (``traits``: the OpDef fields after ``arity``). An op is
    EXPENSIVE to recompute unless it says CHEAP (a view always is cheap: it is index
    arithmetic); an elementwise op's operands default to TO_RESULT; a movement op moves
    values only unless it says otherwise."""
    if name in _OPS:
        raise GraphError(f"op {name!r} registered twice")
    if traits.get("view") is not None:
        traits.setdefault("cost", CHEAP)
    if kind == ELEMENTWISE:
        traits.setdefault("operands", TO_RESULT)
    if kind == MOVEMENT:
        traits.setdefault("moves_only", True)
    _OPS[name] = OpDef(name, kind, infer, compute, arity, **traits)
    return _OPS[name]


def registrar(table):
    """A decorator factory filling ``table``: ``@registrar(T)("a", "b")`` stores the decorated
    function under each key (gradient rules, ONNX converters and emitters use one each)."""
    def keys(*names):
        def register(fn):
            for name in names:
                table[name] = fn
            return fn
        return register
    return keys


def unregister(name):
    """Remove an op from the table (tests and extensions that register ops of their own)."""
    _OPS.pop(name, None)


def get_op(name):
    try:
        return _OPS[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}") from None


def all_ops():
    return dict(_OPS)
