"""Scalar expressions of the kernel IR: loads, constants, elementwise ops (the op table's
names, plus ``cast`` and ``where``), index values and reductions, and what renderers
need to know about them. Nodes compare by identity: lowering shares equal subexpressions."""
from dataclasses import dataclass

import numpy as np

from .index import gathered_in, index_vars


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class Load:
    param: int
    index: object        # flat offset
    dtype: np.dtype


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class Const:
    value: object
    dtype: np.dtype


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class Op:
    op: str              # an elementwise op name, "cast" or "where"
    args: tuple
    dtype: np.dtype


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class IndexValue:
    """An index expression used as a scalar (an int64), e.g. for argmax."""
    index: object
    dtype = np.dtype(np.int64)   # (a class attribute, not a field)


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class Reduce:
    op: str              # sum, prod, mean, max, min, argmax, argmin
    body: object         # expression over the reduction variables
    rvars: tuple         # Vars looped over
    dtype: np.dtype      # result dtype
    acc_dtype: np.dtype  # accumulator dtype


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class Random:
    """Element ``index`` (a flat index expression) of the draw ``random(seed)`` of
    ``distribution`` and ``dtype``: Philox4x32-10 as graphc/ops/random.py defines it."""
    distribution: str    # uniform, normal
    seed: object         # an int64 expression
    index: object
    dtype: np.dtype


BASE_NODES = (Load, Const, Op, IndexValue, Reduce)   # what every backend renders


# -- analysis (what every renderer needs to know about an expression) ---------------------
def children(e):
    """The scalar expressions ``e`` reads: operands, a reduction's body, a seed, and the
    values of the data-dependent indices (Gathered) it loads at."""
    if isinstance(e, Op):
        return e.args
    if isinstance(e, Random):
        return (e.seed,)
    if isinstance(e, Load):
        return tuple(g.value for g in gathered_in(e.index))
    if isinstance(e, Reduce):
        return e.body if isinstance(e.body, tuple) else (e.body,)
    return ()


def walk(e):
    """Every distinct subexpression of ``e`` (``e`` included), each once."""
    seen, stack = set(), [e]
    while stack:
        x = stack.pop()
        if id(x) not in seen:
            seen.add(id(x))
            yield x
            stack.extend(children(x))


def reductions_of(e, found=None):
    """Reductions in ``e``, innermost first (a reduction's body may hold others)."""
    found = [] if found is None else found
    for c in children(e):
        reductions_of(c, found)
    if isinstance(e, Reduce) and e not in found:
        found.append(e)
    return found


def free_vars(e, out=None):
    """Loop variables an expression depends on (a reduction's own variables excluded)."""
    out = set() if out is None else out
    if isinstance(e, (Load, IndexValue)):
        index_vars(e.index, out)
    elif isinstance(e, Random):
        index_vars(e.index, out)
        free_vars(e.seed, out)
    elif isinstance(e, Reduce):
        inner = set()
        for c in children(e):
            free_vars(c, inner)
        out |= inner - set(e.rvars)
    else:
        for c in children(e):
            free_vars(c, out)
    return out


def substitute(e, replace):
    """``e`` with the subexpressions in ``replace`` (by identity) swapped out."""
    if e in replace:
        return replace[e]
    if isinstance(e, Op):
        args = tuple(substitute(a, replace) for a in e.args)
        return e if all(a is b for a, b in zip(args, e.args)) else Op(e.op, args, e.dtype)
    return e
