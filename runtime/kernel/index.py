"""Integer index expressions of the kernel IR: loop variables, constants and the
arithmetic that maps an output index to the flat offset an input is read at."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Var:
    name: str
    extent: int


@dataclass(frozen=True)
class IConst:
    value: int


@dataclass(frozen=True)
class IBin:
    op: str          # add, mul, div (floor, non-negative), mod, min, max
    a: object
    b: object


@dataclass(frozen=True)
class Gathered:
    """An index read from the data: the value of the integer scalar expression ``value``
    (runtime.kernel.expr), wrapped once when negative, as numpy's take does; a value
    outside [-extent, extent) is an error the backend must report (gather's IndexError).
    ``vars``: the loop variables ``value`` depends on."""
    value: object
    extent: int
    vars: frozenset


def iadd(a, b):
    if isinstance(a, IConst) and a.value == 0:
        return b
    if isinstance(b, IConst) and b.value == 0:
        return a
    if isinstance(a, IConst) and isinstance(b, IConst):
        return IConst(a.value + b.value)
    return IBin("add", a, b)


def imul(a, b):
    if isinstance(b, IConst):
        a, b = b, a
    if isinstance(a, IConst):
        if a.value == 0:
            return IConst(0)
        if a.value == 1:
            return b
        if isinstance(b, IConst):
            return IConst(a.value * b.value)
    return IBin("mul", a, b)


def idiv(a, n):
    return a if n == 1 else IConst(0) if extent_of(a) <= n else IBin("div", a, IConst(n))


def imod(a, n):
    return IConst(0) if n == 1 else a if extent_of(a) <= n else IBin("mod", a, IConst(n))


def extent_of(e):
    """An upper bound (exclusive) of a non-negative index expression."""
    if isinstance(e, Var):
        return e.extent
    if isinstance(e, IConst):
        return e.value + 1
    if isinstance(e, Gathered):
        return e.extent
    if e.op == "add":
        return extent_of(e.a) + extent_of(e.b) - 1
    if e.op == "mul":
        return (extent_of(e.a) - 1) * (extent_of(e.b) - 1) + 1
    if e.op == "div":
        return (extent_of(e.a) - 1) // e.b.value + 1
    if e.op == "mod":
        return min(extent_of(e.a), e.b.value)
    return max(extent_of(e.a), extent_of(e.b))


def flat_index(index, shape):
    """Row-major offset of ``index`` into a contiguous buffer of ``shape``."""
    offset, stride = IConst(0), 1
    for i, d in zip(reversed(index), reversed(shape)):
        if d != 1:
            offset = iadd(offset, imul(IConst(stride), i))
        stride *= d
    return offset


def unflatten(offset, shape):
    """The row-major index into ``shape`` of a flat ``offset`` (the inverse of flat_index)."""
    if 0 in shape:   # an empty tensor: no index into it is ever read
        return tuple(IConst(0) for _ in shape)
    out, stride = [], 1
    for d in reversed(shape):
        out.append(IConst(0) if d == 1 else imod(idiv(offset, stride), d))
        stride *= d
    return tuple(reversed(out))


def broadcast_index(index, out_shape, in_shape):
    """The index of an ``in_shape`` operand broadcast to ``out_shape`` at ``index``."""
    lead = len(out_shape) - len(in_shape)
    return tuple(IConst(0) if d == 1 else index[lead + k] for k, d in enumerate(in_shape))


def index_vars(e, out):
    """Add the loop variables index expression ``e`` uses to the set ``out``."""
    if isinstance(e, Var):
        out.add(e)
    elif isinstance(e, Gathered):
        out |= e.vars
    elif isinstance(e, IBin):
        index_vars(e.a, out)
        index_vars(e.b, out)


def gathered_in(e, out=None):
    """The Gathered nodes of index expression ``e``."""
    out = [] if out is None else out
    if isinstance(e, Gathered):
        out.append(e)
    elif isinstance(e, IBin):
        gathered_in(e.a, out)
        gathered_in(e.b, out)
    return out
