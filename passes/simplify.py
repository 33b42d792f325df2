"""Algebraic simplification: a table of rewrite rules, one per line.

Every rule is exact: the rewritten graph computes the same bits as the original for
every input, NaN (and its sign), +-Inf and -0.0 included. So there is no ``x*0 -> 0``
(NaN*0 is NaN, -1*0 is -0.0), no ``x-x -> 0`` for floats (Inf-Inf is NaN), no
``x+0.0 -> x`` for floats (-0.0+0.0 is +0.0; ``x+(-0.0)`` is the exact float identity),
no ``x**0.5 -> sqrt(x)`` (pow(-0.0, 0.5) is +0.0, sqrt(-0.0) is -0.0; pow(-inf, 0.5) is
+inf), no reassociation. A rule never changes a node's dtype or shape: a replacement
of another type (e.g. ``x*1`` where the constant 1 broadcasts ``x`` to a larger shape
or promotes it to float64) is skipped.

A constant "equal to 1" (or 0, 2) means every element of the constant node equals it
after conversion to the dtype the op computes in (the node's dtype), which is what
the op's numpy reference does with it.

The pass is one topological sweep: a node's inputs are rewritten before the node, so a
rewrite that exposes another (``--(x*1)``, ``transpose(transpose(transpose(x)))``) is
caught when the outer node is visited. A rule that builds a new node (``x**2 -> x*x``)
has the rules run again on that node before it is added.
"""
import numpy as np

from ..errors import GraphcError
from ..ops import LAYOUT_VIEW, get_op
from .rewrite import Rewriter


class Term:
    """A node to be: ``op`` on ``inputs`` (nodes of the new graph) with ``attrs``, typed."""

    __slots__ = ("op", "inputs", "attrs", "dtype", "shape")

    def __init__(self, op, inputs, attrs, dtype=None, shape=None):
        self.op, self.inputs, self.attrs = op, tuple(inputs), dict(attrs)
        if dtype is None:
            dtype, shape = get_op(op).infer(list(inputs), **self.attrs)
        self.dtype, self.shape = dtype, tuple(shape)


# -- what rules look at ---------------------------------------------------------------
def _as_computed(c, t):
    """The elements of constant node ``c`` as ``t``'s op computes with them (in t's dtype)."""
    if c.op != "constant":
        return None
    with np.errstate(all="ignore"):
        return c.attrs["value"].astype(t.dtype, copy=False)


def _all(c, t, test):
    v = _as_computed(c, t)
    return v is not None and bool(np.all(test(v)))


def one(c, t):
    """Every element is 1."""
    return _all(c, t, lambda v: v == 1)


def two(c, t):
    """Every element is 2."""
    return _all(c, t, lambda v: v == 2)


def add_identity(c, t):
    """``x + c == x`` for every x: 0 for integers, -0.0 for floats (-0.0 + 0.0 is +0.0)."""
    return _all(c, t, lambda v: (v == 0) & np.signbit(v) if v.dtype.kind == "f" else v == 0)


def sub_identity(c, t):
    """``x - c == x`` for every x: 0 for integers, +0.0 for floats (-0.0 - (-0.0) is +0.0)."""
    return _all(c, t, lambda v: (v == 0) & ~np.signbit(v) if v.dtype.kind == "f" else v == 0)


# cast A -> B -> A gives back every value of A (NaN, Inf and -0.0 included)
EXACT_CASTS = {
    (np.dtype(np.bool_), np.dtype(np.int32)), (np.dtype(np.bool_), np.dtype(np.int64)),
    (np.dtype(np.bool_), np.dtype(np.float32)), (np.dtype(np.bool_), np.dtype(np.float64)),
    (np.dtype(np.int32), np.dtype(np.int64)), (np.dtype(np.int32), np.dtype(np.float64)),
    (np.dtype(np.float32), np.dtype(np.float64)),
}


def is_identity(perm):
    return tuple(perm) == tuple(range(len(perm)))


def keeps_layout(x):
    """Whether ``x`` keeps the row-major order of the elements (a reshape, squeeze or
    expand_dims): a reshape of it is one reshape, and a chain of them that ends at the
    shape it started from is the identity."""
    return x.opdef.view == LAYOUT_VIEW


def source_of(x, op):
    """The input of ``x`` if ``x`` is an ``op``."""
    return x.inputs[0] if x.op == op else None


def merged(t, x, test):
    """``t``'s op applied directly to the input of ``x`` when ``test(x)``."""
    return Term(t.op, x.inputs, t.attrs) if test(x) else None


def composed_transpose(t, x):
    """transpose(transpose(y, p), q) as one transpose of y (perm p[q[i]])."""
    if x.op != "transpose":
        return None
    return Term("transpose", x.inputs, {"perm": tuple(x.attrs["perm"][i] for i in t.attrs["perm"])})


def undone_reshape(t, x):
    """The start of a chain of reshapes that ends at the shape it started from."""
    return x.inputs[0] if keeps_layout(x) and x.inputs[0].shape == t.shape else None


def undone_cast(t, x):
    """y for cast(cast(y, wider), y.dtype) when every value of y survives the wider type."""
    if x.op == "cast" and x.inputs[0].dtype == t.dtype and (t.dtype, x.dtype) in EXACT_CASTS:
        return x.inputs[0]
    return None


# -- the rules: (op, rewrite(t, *inputs) -> a node of the new graph, a Term, or None) ----
# t is the node being rewritten (its op, attrs, dtype, shape); its inputs are already rewritten.
RULES = (
    ("multiply", lambda t, x, c: x if one(c, t) else None),                          # x*1 -> x
    ("multiply", lambda t, c, x: x if one(c, t) else None),                          # 1*x -> x
    ("divide", lambda t, x, c: x if one(c, t) else None),                            # x/1 -> x
    ("add", lambda t, x, c: x if add_identity(c, t) else None),                      # x+(-0.0) -> x; x+0 -> x (ints)
    ("add", lambda t, c, x: x if add_identity(c, t) else None),                      # (-0.0)+x -> x; 0+x -> x (ints)
    ("subtract", lambda t, x, c: x if sub_identity(c, t) else None),                 # x-0 -> x (+0.0 for floats)
    ("power", lambda t, x, c: x if one(c, t) else None),                             # x**1 -> x
    ("power", lambda t, x, c: Term("multiply", (x, x), {}) if two(c, t) else None),  # x**2 -> x*x
    ("neg", lambda t, x: source_of(x, "neg")),                                       # --x -> x
    ("logical_not", lambda t, x: source_of(x, "logical_not")),                       # !!x -> x (bool x)
    ("transpose", lambda t, x: x if is_identity(t.attrs["perm"]) else None),         # transpose(x, identity) -> x
    ("transpose", composed_transpose),                                               # transpose(transpose(x)) -> transpose(x)
    ("reshape", lambda t, x: x if x.shape == t.shape else None),                     # reshape(x, x.shape) -> x
    ("reshape", lambda t, x: merged(t, x, keeps_layout)),                            # reshape(reshape(x)) -> reshape(x)
    ("broadcast_to", lambda t, x: x if x.shape == t.shape else None),                # broadcast_to(x, x.shape) -> x
    ("broadcast_to", lambda t, x: merged(t, x, lambda y: y.op == "broadcast_to")),   # broadcast_to twice -> once
    ("cast", lambda t, x: x if x.dtype == t.dtype else None),                        # cast(x, x.dtype) -> x
    ("cast", undone_cast),                                                           # cast(cast(x, wider), x.dtype) -> x
    ("stop_gradient", lambda t, x: x),                                               # stop_gradient(x) -> x (it only steers gc.gradients)
    ("squeeze", undone_reshape),                                                     # squeeze(expand_dims(x)) -> x
    ("expand_dims", undone_reshape),                                                 # expand_dims(squeeze(x)) -> x
)

RULES_BY_OP = {}
for _op, _rule in RULES:
    RULES_BY_OP.setdefault(_op, []).append(_rule)

MAX_STEPS = 32  # rewrites of one node (each rule strictly shrinks its term; this is a guard)


def rewrite_term(t):
    """``t`` after its rules: an existing node, or a (possibly new) Term of the same type."""
    for _ in range(MAX_STEPS):
        for rule in RULES_BY_OP.get(t.op, ()):
            try:
                result = rule(t, *t.inputs)
            except GraphcError:      # a new Term its op rejects: the rule does not apply
                result = None
            if result is not None and (result.dtype, result.shape) == (t.dtype, t.shape):
                break
        else:
            return t
        if not isinstance(result, Term):
            return result
        t = result
    return t


def simplify(graph):
    rw = Rewriter(graph)
    for node in graph.nodes:
        inputs = rw.inputs_of(node)
        if node.op not in RULES_BY_OP:
            rw.copy(node, inputs)
            continue
        original = Term(node.op, inputs, node.attrs, node.dtype, node.shape)
        result = rewrite_term(original)
        if result is original:
            rw.copy(node, inputs)
        elif isinstance(result, Term):
            rw.mapping[node] = rw.out.add_node(result.op, result.inputs, result.attrs, name=node.name,
                                               loc=node.loc, exact_name=True)
        else:
            rw.mapping[node] = result
    return rw.finish()
