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
    """floor(a / n) of a non-negative index ``a``; the terms of ``a`` that are multiples of
    ``n`` are divided exactly (``(64*t + c) // 32`` is ``2*t + c // 32``), so a reshape's
    flat offset, unflattened again, comes back as the loop variables themselves."""
    if n == 1:
        return a
    if extent_of(a) <= n:
        return IConst(0)
    multiple, rest = _split(a, n)
    if multiple is None:
        return IBin("div", a, IConst(n))
    return iadd(multiple, idiv(rest, n))


def imod(a, n):
    """a mod n of a non-negative index ``a`` (multiples of ``n`` in ``a`` dropped)."""
    if n == 1:
        return IConst(0)
    if extent_of(a) <= n:
        return a
    multiple, rest = _split(a, n)
    if multiple is None:
        return IBin("mod", a, IConst(n))
    return imod(rest, n)


def _split(a, n):
    """(m, rest) with a == n * m + rest, m the sum of a's terms that are multiples of n
    divided by n, when some are and the rest is non-negative; else (None, a)."""
    multiple, rest = IConst(0), IConst(0)
    for term in _terms(a):
        c, x = _scaled(term)
        if c % n == 0:
            multiple = iadd(multiple, imul(IConst(c // n), x))
        elif c > 0 and _non_negative(x):
            rest = iadd(rest, term)
        else:
            return None, a
    return (None, a) if multiple == IConst(0) else (multiple, rest)


def _scaled(term):
    """(c, x) with term == c * x, c an integer (imul puts a constant factor first)."""
    if isinstance(term, IBin) and term.op == "mul" and isinstance(term.a, IConst):
        return term.a.value, term.b
    if isinstance(term, IConst):
        return term.value, IConst(1)
    return 1, term


def _terms(e):
    if isinstance(e, IBin) and e.op == "add":
        return _terms(e.a) + _terms(e.b)
    return [e]


def _non_negative(e):
    if isinstance(e, IConst):
        return e.value >= 0
    if isinstance(e, IBin):
        return _non_negative(e.a) and (e.op in ("div", "mod") or _non_negative(e.b))
    return True   # a loop variable, a gathered index (wrapped into range)


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
        if not (_non_negative(e.a) and _non_negative(e.b)):
            return 1   # (a term at most 0: a reversed slice's begin - stride * i)
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
