"""The kernel IR's index arithmetic (runtime.kernel.index): every simplification of a
floor division or a remainder gives the exact value at every loop position, for random
non-negative index expressions (strided, reversed-slice, reshaped) and for reshape
round trips, checked against Python's integers."""
import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.runtime.kernel.index import IBin, IConst, Var, extent_of, flat_index, idiv, imod, unflatten


def evaluate(e, env):
    if isinstance(e, Var):
        return env[e.name]
    if isinstance(e, IConst):
        return e.value
    a, b = evaluate(e.a, env), evaluate(e.b, env)
    return {"add": a + b, "mul": a * b, "div": a // b if b else 0, "mod": a % b if b else 0,
            "min": min(a, b), "max": max(a, b)}[e.op]


def positions(variables):
    names = [v.name for v in variables]
    for values in itertools.product(*(range(v.extent) for v in variables)):
        yield dict(zip(names, values))


@st.composite
def index_expressions(draw):
    """(expression, its loop variables): a sum of scaled variables, nested divisions and
    remainders, and reversed-slice terms ``begin - s * i`` that keep it non-negative."""
    variables = [Var(f"i{k}", draw(st.integers(1, 9))) for k in range(draw(st.integers(1, 3)))]
    e = IConst(draw(st.integers(0, 40)))
    for v in variables:
        kind = draw(st.sampled_from(["scaled", "scaled", "reversed", "div", "mod"]))
        c = draw(st.sampled_from([1, 2, 3, 4, 8, 12, 16, 32, 96]))
        if kind == "scaled":
            term = IBin("mul", IConst(c), v) if c != 1 else v
        elif kind == "reversed":   # what a slice with a negative step emits
            term = IBin("add", IConst(c * (v.extent - 1)), IBin("mul", IConst(-c), v))
        elif kind == "div":
            term = IBin("mul", IConst(c), IBin("div", v, IConst(draw(st.integers(1, 4)))))
        else:
            term = IBin("mul", IConst(c), IBin("mod", v, IConst(draw(st.integers(1, 4)))))
        e = IBin("add", e, term)
    return e, variables


@settings(max_examples=400, deadline=None)
@given(index_expressions(), st.sampled_from([1, 2, 3, 4, 5, 8, 16, 32, 64, 96, 128]))
def test_floor_division_and_remainder_are_exact(expression, n):
    e, variables = expression
    q, r = idiv(e, n), imod(e, n)
    for env in positions(variables):
        value = evaluate(e, env)
        assert value >= 0
        assert evaluate(q, env) == value // n, (e, n, env)
        assert evaluate(r, env) == value % n, (e, n, env)
        assert value < extent_of(e), (e, env)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.data())
def test_a_reshape_round_trip_reads_the_same_element(shape, data):
    """unflatten(flat_index(index, shape), other) is numpy's reshape at every position, and
    reshaping back to the loops' own shape gives the loop variables themselves."""
    size = int(np.prod(shape))
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    first = data.draw(st.sampled_from(divisors))
    other = (first, size // first)
    variables = [Var(f"i{k}", d) for k, d in enumerate(shape)]
    flat = flat_index(tuple(variables), tuple(shape))
    index = unflatten(flat, other)
    reference = np.arange(size).reshape(shape)
    for env in positions(variables):
        at = tuple(env[v.name] for v in variables)
        assert tuple(evaluate(i, env) for i in index) == np.unravel_index(reference[at], other)
    assert unflatten(flat, tuple(shape)) == tuple(IConst(0) if d == 1 else v for v, d in zip(variables, shape))


def test_merged_heads_index_has_no_division():
    """(b, t, h, d) of attention's merged heads, read through the reshape to (b, t, h*dh):
    the flat offset comes back without a division or a remainder."""
    b, t, h, d = Var("b", 8), Var("t", 64), Var("h", 4), Var("d", 32)
    flat = flat_index((b, t, h, d), (8, 64, 4, 32))
    assert unflatten(flat, (8, 64, 128)) == (b, t, IBin("add", d, IBin("mul", IConst(32), h)))

    def ops(e):
        return {e.op} | ops(e.a) | ops(e.b) if isinstance(e, IBin) else set()
    assert not {"div", "mod"} & set().union(*(ops(i) for i in unflatten(flat, (8, 64, 128))))
