"""Acceptance tests for ``gc.gradients``: every gradient rule against finite differences,
the documented tie rules against hand-computed gradients, TF1 semantics, and a 3-layer
MLP's backward pass against an independent numpy implementation.

The table :data:`CASES` drives ``gc.testing.check_gradients`` (float64 central
differences of a randomly projected output, Theano's ``verify_grad``) over every rule in
``graphc.grad_rules.RULES``; ``test_cases_cover_every_rule`` fails when a rule has no
case. Where finite differences cannot decide (ties, kinks, stop_gradient, NaN labels) the
expected gradient is written out by hand from the documented rule.
"""
import inspect
import math
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import graphc as gc
from graphc.builder import make
from graphc import grad_rules
from conftest import F32, F64

HERE = os.path.basename(__file__)
RNG = np.random.default_rng(20240611)


# -- inputs --------------------------------------------------------------------------------------
def normal(*shape):
    return RNG.normal(size=shape)


def positive(*shape, lo=0.5, hi=2.0):
    return RNG.uniform(lo, hi, size=shape)


def nonzero(*shape, lo=0.3, hi=1.5):
    """Values away from 0 (for kinks at 0, and divisors)."""
    return RNG.uniform(lo, hi, size=shape) * RNG.choice([-1.0, 1.0], size=shape)


def off_grid(*shape, lo=-3, hi=3):
    """Values at least 0.1 away from every multiple of 0.5 (floor, ceil, round, mod...)."""
    return RNG.integers(2 * lo, 2 * hi, size=shape) / 2 + RNG.uniform(0.1, 0.4, size=shape)


def dyadic(*shape):
    """Multiples of 1/16 in [-2, 2): exactly representable in float32, as are x +- 2**-8."""
    return RNG.integers(-32, 32, size=shape) / 16


def ints(values):
    return np.asarray(values, dtype=np.int64)


def check_gradients(f, inputs, **kwargs):
    """gc.testing.check_gradients, and both gradients finite: check_gradients compares with
    ``error.max() > 0``, which a NaN gradient passes (NaN > 0 is False)."""
    analytic, numeric = gc.testing.check_gradients(f, inputs, **kwargs)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        assert np.isfinite(a).all() and np.isfinite(n).all(), (i, a, n)
    return analytic, numeric


# -- the case table ------------------------------------------------------------------------------
@dataclass
class Case:
    """``fn(*tensors)`` builds a Tensor or a list of them from one placeholder per input;
    ``check`` holds overrides for check_gradients (wrt, eps)."""

    id: str
    fn: Callable
    inputs: tuple
    check: dict = field(default_factory=dict)


CASES = []


def case(id, fn, *inputs, **check):
    CASES.append(Case(id, fn, tuple(np.asarray(a) for a in inputs), check))


# binary ops with broadcasting: same shape, scalar either side, size-1 axes, leading axes
BROADCAST_SHAPES = {
    "same": ((2, 3), (2, 3)),
    "scalar_b": ((2, 3), ()),
    "scalar_a": ((), (2, 3)),
    "size1": ((2, 1), (1, 3)),
    "leading_a": ((4, 2, 3), (3,)),
    "leading_b": ((3,), (2, 2, 3)),
    "mixed": ((3, 1, 4), (2, 1)),
}
BINARY = {
    # op: (fn, a's values, b's values)
    "add": (gc.add, normal, normal),
    "subtract": (gc.subtract, normal, normal),
    "multiply": (gc.multiply, normal, normal),
    "divide": (gc.divide, normal, nonzero),
    "power": (gc.power, positive, lambda *s: RNG.uniform(-2, 2, size=s)),
    "maximum": (gc.maximum, normal, normal),     # continuous values: no ties
    "minimum": (gc.minimum, normal, normal),
    "mod": (gc.mod, lambda *s: RNG.uniform(-3, 3, size=s), lambda *s: nonzero(*s, lo=0.7, hi=2.0)),
}
for _op, (_fn, _va, _vb) in BINARY.items():
    for _key, (_sa, _sb) in BROADCAST_SHAPES.items():
        case(f"{_op}-{_key}", _fn, _va(*_sa), _vb(*_sb))

case("mod-a-only-depends-on-a", lambda a: gc.mod(a, 1.5), off_grid(2, 3))
case("divide-by-itself-plus", lambda a, b: (a + b) / (a * b), nonzero(2, 3), nonzero(3))
case("operator-sugar", lambda a, b: (a - b) * (a + 1.0) / (b ** 2 + 1.0) - a % 0.75, normal(2, 3), normal(2, 1))

# power: constant exponents (the rule gives the exponent no gradient), negative bases
case("power-const-2", lambda a: a ** 2, normal(2, 3))
case("power-const-0.5", lambda a: a ** 0.5, positive(2, 3))
case("power-const-minus1", lambda a: a ** -1, nonzero(2, 3))
case("power-const-3", lambda a: a ** 3, normal(2, 3))
case("power-const-3-negative-base", lambda a: gc.power(a, 3.0), -positive(4))
case("power-const-base", lambda b: 2.0 ** b + gc.power(0.5, b), normal(2, 3))
case("power-tensor-exponent", lambda a, b: a ** b, positive(2, 3), normal(2, 3))
case("power-tensor-exponent-scalar-base", lambda a, b: a ** b, positive(), normal(2, 3))
# a < 0 with integral exponents: real powers, d/da only (d/db needs log(a))
case("power-negative-base-int-exponent", lambda a, b: a ** b, -positive(2, 3), np.array([1.0, 2.0, 3.0]),
     wrt=[0])

# where: the condition gets no gradient; broadcasting in each operand
case("where-same", lambda c, a, b: gc.where(c, a, b), RNG.random((2, 3)) < 0.5, normal(2, 3), normal(2, 3))
case("where-broadcast", lambda c, a, b: gc.where(c, a, b), RNG.random((2, 3)) < 0.5, normal(2, 1), normal(3))
case("where-scalar-branch", lambda c, a, b: gc.where(c, a, b), RNG.random((4, 3)) < 0.5, normal(), normal(4, 1))
case("where-cond-from-x", lambda x: gc.where(x > 0.0, x * x, -3.0 * x), nonzero(2, 3))

# casts: float64 -> float32 -> float64. Dyadic inputs and eps make the float32 arithmetic exact.
case("cast-f64-f32", lambda x: gc.square(gc.cast(x, gc.float32)) * 0.5, dyadic(2, 3), eps=2.0 ** -8)
case("cast-f64-f32-f64", lambda x: gc.cast(gc.cast(x, gc.float32), gc.float64) ** 2 - x, dyadic(2, 3), eps=2.0 ** -8)
case("cast-to-int-stops", lambda x: x * gc.cast(gc.cast(x, gc.int32), gc.float64), off_grid(2, 3))

# piecewise-constant ops (no gradient): checked where the function is locally constant
case("floor", lambda x: x * gc.floor(x), off_grid(2, 3))
case("ceil", lambda x: x * gc.ceil(x), off_grid(2, 3))
case("round", lambda x: x * gc.round(x), off_grid(2, 3))
case("sign", lambda x: x * gc.sign(x), nonzero(2, 3))
case("floor_divide", lambda a, b: a * gc.floor_divide(a, b), off_grid(2, 3), np.array([1.0, -1.0, 1.0]))
case("full_like", lambda x: x * gc.full_like(x, 3.0) + gc.ones_like(x), normal(2, 3))
case("random", lambda x: x * gc.random.normal((2, 3), dtype=gc.float64, seed=7), normal(2, 3))
def _shifted_logsumexp(x):
    """The value does not depend on the shift, so finite differences agree with a stopped shift."""
    shift = gc.stop_gradient(gc.max(x, axis=1, keepdims=True))
    return gc.log(gc.sum(gc.exp(x - shift), axis=1, keepdims=True)) + shift


case("stop_gradient-shift", _shifted_logsumexp, normal(2, 3))

# unary ops (grad_rules.UNARY_DERIVATIVES, neg, relu) on domains where they are smooth
UNARY_DOMAINS = {
    "abs": nonzero, "exp": normal, "expm1": normal, "log": positive, "log1p": positive,
    "sqrt": positive, "rsqrt": positive, "square": normal, "reciprocal": nonzero, "sin": normal,
    "cos": normal, "tanh": normal, "sigmoid": normal, "softplus": normal, "erf": normal, "neg": normal,
    "relu": nonzero,
}
for _op, _domain in UNARY_DOMAINS.items():
    case(f"{_op}", getattr(gc, _op), _domain(2, 3))
case("tanh-scalar", gc.tanh, normal())
case("log1p-near-minus-one", gc.log1p, RNG.uniform(-0.9, -0.5, size=4))
case("exp-of-exp", lambda x: gc.exp(gc.sin(x)) * gc.log(gc.square(x) + 1.0), normal(3, 2))

# reductions: every axis form, keepdims both ways
REDUCE_AXES = {"all": None, "1": 1, "neg1": -1, "tuple-0-neg1": (0, -1), "tuple-trailing": (-2, -1)}
REDUCE_INPUTS = {
    "sum": normal, "mean": normal, "max": normal, "min": normal,
    "prod": lambda *s: nonzero(*s, lo=0.6, hi=1.4),     # products of 24 stay O(1)
}
for _op, _values in REDUCE_INPUTS.items():
    for _key, _axis in REDUCE_AXES.items():
        for _keep in (False, True):
            case(f"{_op}-axis{_key}-keepdims{_keep}",
                 lambda x, _o=_op, _a=_axis, _k=_keep: getattr(gc, _o)(x, axis=_a, keepdims=_k), _values(2, 3, 4))
case("reductions-of-a-scalar", lambda x: gc.max(x) * gc.prod(x) + gc.mean(x, keepdims=True) - gc.min(x), normal())
case("sum-empty", lambda x, y: gc.sum(x * 2.0, axis=0) + gc.mean(y ** 2, axis=0), np.zeros((0, 3)), normal(2, 3))
case("sum-method", lambda x: x.sum(axis=1, keepdims=True) * x.mean(axis=0) + x.max(), normal(2, 3))
case("prod-one-zero", lambda x: gc.prod(x, axis=-1), np.array([[0.0, 1.5, -2.0, 0.5], [1.0, 0.5, 2.0, -1.5]]))
case("prod-two-zeros", lambda x: gc.prod(x, axis=-1), np.array([[0.0, 1.5, 0.0, 0.5], [0.0, 0.0, 0.0, 2.0]]))
case("prod-all-with-zero", lambda x: gc.prod(x), np.array([[1.5, -0.5], [0.0, 2.0]]))
case("logsumexp-all", gc.logsumexp, normal(2, 3))
case("logsumexp-axis1-keepdims", lambda x: gc.logsumexp(x, axis=1, keepdims=True), normal(2, 3, 2))
case("logsumexp-tuple", lambda x: gc.logsumexp(x, axis=(0, 2)), normal(2, 3, 2) * 10)

# clip (maximum then minimum); bounds constants or tensors
case("clip-const", lambda x: gc.clip(x, -0.5, 0.7), normal(3, 4))
case("clip-tensor-bounds", lambda x, lo, hi: gc.clip(x, lo, hi), normal(3, 4), -positive(4), positive(3, 1))

# matmul: every rank combination the rule distinguishes
MATMUL_SHAPES = {
    "2d": ((3, 4), (4, 2)),
    "1d-2d": ((4,), (4, 2)),
    "2d-1d": ((3, 4), (4,)),
    "1d-1d": ((4,), (4,)),
    "batched": ((2, 3, 4), (2, 4, 5)),
    "broadcast-batch": ((2, 1, 3, 4), (5, 4, 2)),
    "2d-batched": ((3, 4), (2, 4, 5)),
    "batched-1d": ((2, 3, 4), (4,)),
    "1d-batched": ((4,), (2, 4, 5)),
}
for _key, (_sa, _sb) in MATMUL_SHAPES.items():
    case(f"matmul-{_key}", gc.matmul, normal(*_sa), normal(*_sb))
case("matmul-same-operand", lambda a: a @ a.T, normal(3, 4))
case("dot-nd", gc.dot, normal(2, 3), normal(2, 3, 2))

# movement
case("reshape", lambda x: gc.reshape(x, (3, -1)) * gc.constant(normal(3, 4)), normal(2, 6))
case("identity", lambda x: make("identity", (x,), {}) * gc.constant(normal(2, 3)), normal(2, 3))
case("identity-relaxed-shape",   # placeholder_with_default: a declared shape with unknown sizes
     lambda x: make("identity", (x,), {"shape": (None, 3)}) * gc.constant(normal(2, 3)), normal(2, 3))
case("transpose-2d", lambda x: x.T @ gc.constant(normal(2, 3)), normal(2, 4))
case("transpose-perm", lambda x: gc.transpose(x, (2, 0, 1)) * gc.constant(normal(4, 2, 3)), normal(2, 3, 4))
case("expand_dims", lambda x: gc.expand_dims(x, (0, -1)) * gc.constant(normal(2, 1, 3, 2)), normal(3))
case("squeeze", lambda x: gc.squeeze(x) * gc.constant(normal(3, 2)), normal(1, 3, 1, 2))
case("squeeze-axis", lambda x: gc.squeeze(x, 2) * gc.constant(normal(2, 3)), normal(2, 3, 1))
case("broadcast_to", lambda x: gc.broadcast_to(x, (2, 3, 4)) * gc.constant(normal(2, 3, 4)), normal(3, 1))
case("broadcast_to-scalar", lambda x: gc.broadcast_to(x, (2, 3)) * gc.constant(normal(2, 3)), normal())
case("tile", lambda x: gc.tile(x, (2, 1, 3)) * gc.constant(normal(2, 2, 9)), normal(2, 3))
case("concat", lambda a, b: gc.concat([a, b, a], axis=1), normal(2, 3), normal(2, 1))
case("concat-neg-axis", lambda a, b, c: gc.concat([a, b, c], axis=-3),
     normal(1, 2, 2), normal(3, 2, 2), normal(2, 2, 2))
case("split-equal", lambda x: [p * (i + 1.0) for i, p in enumerate(gc.split(x, 3, axis=1))], normal(2, 6))
case("split-sizes", lambda x: gc.split(x, [1, 3], axis=0)[1] * 2.0 + gc.split(x, [1, 3], axis=0)[0], normal(4, 3))
case("stack", lambda a, b: gc.stack([a, b, a * b], axis=1), normal(2, 3), normal(2, 3))
case("unstack", lambda x: [p * float(i + 1) for i, p in enumerate(gc.unstack(x, axis=1))], normal(2, 3))
case("pad", lambda x: gc.pad(x, ((1, 2), (0, 3))) * gc.constant(normal(5, 6)), normal(2, 3))
case("pad-value", lambda x: gc.pad(x, 1, constant_values=2.0) ** 2, normal(2, 3))
SLICES = {
    "step2-step3": lambda x: x[::2, 1::3],
    "reverse": lambda x: x[::-1],
    "3:0:-2": lambda x: x[3:0:-2],
    "neg-start-stop": lambda x: x[-4:-1, :5],
    "inner-neg-step": lambda x: x[1:-1, ::-2],
    "5:1:-3": lambda x: x[:, 5:1:-3],
    "-1:-6:-2": lambda x: x[-1:-6:-2, -2],
    "int-and-newaxis": lambda x: x[..., None, 2],
    "past-the-end": lambda x: x[2:100:2, -100:3],
    "empty": lambda x: gc.concat([x[3:1], x[1:2]], axis=0),
    "step-larger-than-dim": lambda x: x[1::7, ::9],
}
for _key, _fn in SLICES.items():
    case(f"slice-{_key}", _fn, normal(5, 7))
case("slice-3d", lambda x: x[:, ::-1, 1:3], normal(2, 3, 4))
case("gather-repeated", lambda x: gc.gather(x, ints([0, 2, 0, 3, 0])), normal(4, 3))
case("gather-axis1-2d-indices", lambda x: gc.gather(x, ints([[0, 0], [2, 1]]), axis=1), normal(3, 4))
case("gather-negative", lambda x: gc.gather(x, ints([-1, 0, -1]), axis=-1), normal(2, 3))
case("take-flat", lambda x: gc.take(x, ints([5, 5, 0, 3])), normal(2, 3))
case("gather-fed-indices", lambda x, i: gc.gather(x, i), normal(4, 2), ints([3, 3, 1]))
# sum_to: what gradients use where a dim is unknown until run time (resolved at compile time)
case("sum_to", lambda g, x: make("sum_to", (g, x)) * x, normal(2, 3, 4), normal(3, 1))
# scatter_add appears in the gradient of gather: differentiate that gradient (second order)
case("scatter_add", lambda x, u: gc.gradients(gc.sum(gc.gather(x, ints([1, 1, 3])) * u), [x])[0] * x,
     normal(4, 2), normal(3, 2))

# gc.nn composites
case("softmax", gc.nn.softmax, normal(2, 4))
case("softmax-axis0", lambda x: gc.nn.softmax(x, axis=0), normal(3, 2))
case("log_softmax", gc.nn.log_softmax, normal(2, 4))
case("log_softmax-large", gc.nn.log_softmax, normal(2, 4) * 30)
case("layer_norm", gc.nn.layer_norm, normal(2, 5))
case("layer_norm-gamma-beta", lambda x, g, b: gc.nn.layer_norm(x, g, b), normal(3, 4), normal(4), normal(4))
case("layer_norm-axes", lambda x, g: gc.nn.layer_norm(x, g, axis=(-2, -1)), normal(2, 2, 3), normal(2, 3))
case("gelu-tanh", gc.nn.gelu, normal(2, 3) * 2)
case("gelu-none", lambda x: gc.nn.gelu(x, approximate="none"), normal(2, 3) * 2)
case("silu", gc.nn.silu, normal(2, 3) * 2)
case("nn-sigmoid-tanh-relu", lambda x: gc.nn.sigmoid(x) * gc.nn.tanh(x) + gc.nn.relu(x), nonzero(2, 3))
case("softmax_cross_entropy", gc.nn.softmax_cross_entropy, normal(3, 4), RNG.dirichlet(np.ones(4), size=3))
case("softmax_cross_entropy-axis0", lambda z, p: gc.nn.softmax_cross_entropy(z, p, axis=0),
     normal(4, 2), RNG.dirichlet(np.ones(4), size=2).T)
case("sparse_softmax_cross_entropy", gc.nn.sparse_softmax_cross_entropy, normal(3, 4), ints([1, 0, 3]))

CONV = {
    "valid": dict(),
    "stride2-same": dict(stride=2, padding="SAME"),
    "same-stride1": dict(padding="SAME"),
    "explicit-pads": dict(padding=((1, 0), (0, 2))),
    "int-pad-stride": dict(padding=1, stride=(2, 1)),
    "dilation2": dict(dilation=2, padding=1),
}
for _key, _kw in CONV.items():
    case(f"conv2d-{_key}", lambda x, w, _kw=_kw: gc.nn.conv2d(x, w, **_kw), normal(1, 2, 5, 5), normal(2, 2, 3, 3))
case("conv2d-groups2", lambda x, w: gc.nn.conv2d(x, w, groups=2, padding="SAME"),
     normal(1, 4, 4, 4), normal(4, 2, 2, 2))
case("conv2d-batch2-1x1", gc.nn.conv2d, normal(2, 3, 3, 3), normal(2, 3, 1, 1))
POOL = {
    "k2": dict(kernel=2),
    "k3-s1-overlap": dict(kernel=3, stride=1),
    "k3-s2-same": dict(kernel=3, stride=2, padding="SAME"),
    "k2-pad1": dict(kernel=(2, 3), stride=(1, 2), padding=1),
}
for _key, _kw in POOL.items():
    case(f"max_pool2d-{_key}", lambda x, _kw=_kw: gc.nn.max_pool2d(x, **_kw), normal(1, 2, 5, 5))
    for _incl in (True, False):
        case(f"avg_pool2d-{_key}-count_include_pad{_incl}",
             lambda x, _kw=_kw, _i=_incl: gc.nn.avg_pool2d(x, count_include_pad=_i, **_kw), normal(1, 2, 5, 5))

# the backward primitives themselves (second derivatives of convolutions and pools)
_GEOMETRY = dict(stride=(2, 1), pads=((1, 0), (0, 1)), dilation=(1, 2))
case("conv2d_backward_input", lambda dy, w: make("conv2d_backward_input", (dy, w), dict(_GEOMETRY, groups=2, size=(5, 5))),
     normal(1, 4, 2, 4), normal(4, 1, 3, 2))
case("conv2d_backward_filter", lambda x, dy: make("conv2d_backward_filter", (x, dy), dict(_GEOMETRY, groups=1, kernel=(3, 2))),
     normal(2, 2, 5, 5), normal(2, 3, 2, 4))
case("max_pool2d_backward", lambda x, dy: make("max_pool2d_backward", (x, dy), dict(_GEOMETRY, kernel=(2, 2))),
     normal(1, 2, 5, 5), normal(1, 2, 3, 4))
for _incl in (True, False):
    case(f"avg_pool2d_backward-count_include_pad{_incl}",
         lambda dy, _i=_incl: make("avg_pool2d_backward", (dy,), dict(kernel=(2, 3), stride=(2, 1), pads=((1, 0), (0, 1)),
                                                                       count_include_pad=_i, size=(5, 5))),
         normal(1, 2, 3, 4))

CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "case ids must be unique"


# Every case runs on the reference device (the ops' numpy definitions: ~5 ms a case). The
# last (most involved) case of each op family also runs on the native CPU backend, whose
# LLVM compile costs ~0.1 s a case; test_devices_and_unoptimized_agree compares the two
# devices, fused and unfused, on a larger backward graph.
_LAST_OF_FAMILY = {c.id.split("-")[0]: c for c in CASES}
CPU_CASES = [c for c in CASES if _LAST_OF_FAMILY[c.id.split("-")[0]] is c]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_gradient_matches_finite_differences(case):
    analytic, numeric = check_gradients(case.fn, case.inputs, device="reference", **case.check)
    assert analytic and len(analytic) == len(numeric)


# Failures of the native backend (not of a gradient rule: the same graphs pass on the
# reference device and on the CPU with optimize=False), strict so a fix is noticed.
@pytest.mark.parametrize("case", CPU_CASES, ids=[c.id for c in CPU_CASES])
def test_gradient_matches_finite_differences_cpu(case):
    check_gradients(case.fn, case.inputs, device="cpu", **case.check)


def _on_path_ops(case):
    """Ops of ``case``'s graph that lie on a float path from an input to an output (the
    ones whose rule gc.gradients applies), and every op of the graph."""
    with gc.Graph().as_default() as g:
        xs = [gc.placeholder(a.dtype if a.dtype.kind != "f" else np.float64, a.shape) for a in case.inputs]
        out = case.fn(*xs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
    reaches_out, stack = set(), [t.node for t in outs]
    while stack:
        node = stack.pop()
        if node not in reaches_out:
            reaches_out.add(node)
            stack.extend(node.inputs)
    from_x = {x.node for x in xs if x.dtype.kind == "f"}
    for node in g.nodes:   # creation order is topological
        if node.dtype is not None and node.dtype.kind == "f" and any(i in from_x for i in node.inputs):
            from_x.add(node)
    return {n.op for n in from_x & reaches_out}, {n.op for n in g.nodes}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_dtypes_and_shapes_follow_the_inputs(dtype):
    """Every rule gives each input a gradient of its own shape and dtype: no float64
    constant promotes a float32 backward pass, no broadcast is left unreduced."""
    for c in CASES:
        with gc.Graph().as_default():
            xs = [gc.placeholder(dtype if a.dtype.kind == "f" else a.dtype, a.shape) for a in c.inputs]
            out = c.fn(*xs)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            floats = [x for x in xs if x.dtype.kind == "f"]
            gs = gc.gradients([gc.sum(gc.cast(y, gc.float64)) for y in outs], floats)
            for x, g in zip(floats, gs):
                if g is not None:
                    assert (g.dtype, g.shape) == (x.dtype, x.shape), (c.id, x, g)


def test_cases_cover_every_rule():
    on_path, anywhere = set(), set()
    for c in CASES:
        p, a = _on_path_ops(c)
        on_path |= p
        anywhere |= a
    # random's only input is its int seed and stop_gradient cuts the path by definition:
    # they can only appear in a differentiated graph, never on its path
    off_path = {"random", "stop_gradient"}
    missing = set(grad_rules.RULES) - off_path - on_path
    assert not missing, f"rules without a gradient case: {sorted(missing)}"
    assert off_path <= anywhere, off_path - anywhere
    assert set(grad_rules.UNARY_DERIVATIVES) <= on_path


# -- helpers for hand-checked gradients ------------------------------------------------------------
def grads(fn, arrays, wrt=None, grad_ys=None, device="cpu", **options):
    """Run ``gc.gradients(fn(*placeholders), placeholders[wrt])``; returns (y values, gradient values).
    A None gradient comes back as None."""
    with gc.Graph().as_default() as g:
        xs = [gc.placeholder(np.asarray(a).dtype, np.shape(a)) for a in arrays]
        ys = fn(*xs)
        wrt = range(len(xs)) if wrt is None else wrt
        gs = gc.gradients(ys, [xs[i] for i in wrt], grad_ys=grad_ys)
        with gc.Session(g, device=device, **options) as sess:
            feed = dict(zip(xs, arrays))
            values = sess.run([ys, [t for t in gs if t is not None]], feed)
    it = iter(values[1])
    return values[0], [None if t is None else next(it) for t in gs]


def assert_exact(actual, expected):
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, **F64)


# -- documented tie rules --------------------------------------------------------------------------
def test_reduction_max_min_share_ties_equally():
    x = np.array([[1.0, 3.0, 3.0, 0.0],
                  [2.0, 2.0, 2.0, 2.0],
                  [5.0, -1.0, 4.0, 5.0]])
    w = np.array([1.0, 6.0, -2.0])
    # max over rows: row 0 ties twice, row 1 four times, row 2 twice; each tie gets g / count
    _, (g,) = grads(lambda x: gc.sum(gc.max(x, axis=1) * w), [x])
    assert_exact(g, [[0, 0.5, 0.5, 0], [1.5, 1.5, 1.5, 1.5], [-1, 0, 0, -1]])
    _, (g,) = grads(lambda x: gc.sum(gc.min(x, axis=-1, keepdims=True) * w[:, None]), [x])
    assert_exact(g, [[0, 0, 0, 1], [1.5, 1.5, 1.5, 1.5], [0, -2, 0, 0]])
    # global max: 5 appears twice in the whole tensor
    _, (g,) = grads(lambda x: gc.max(x) * 4.0, [x])
    assert_exact(g, np.where(x == 5.0, 2.0, 0.0))
    # a tuple of axes: the ties are counted over all reduced axes
    x3 = np.array([[[1.0, 7.0], [7.0, 0.0]], [[2.0, 2.0], [1.0, 2.0]]])
    _, (g,) = grads(lambda x: gc.sum(gc.max(x, axis=(1, 2)) * np.array([1.0, 3.0])), [x3])
    assert_exact(g, [[[0, 0.5], [0.5, 0]], [[1, 1], [0, 1]]])


def test_elementwise_maximum_minimum_ties_go_to_first_operand():
    a = np.array([1.0, 2.0, 3.0, -1.0])
    b = np.array([1.0, 0.0, 3.0, 4.0])
    _, (ga, gb) = grads(lambda a, b: gc.maximum(a, b), [a, b])
    assert_exact(ga, [1, 1, 1, 0])
    assert_exact(gb, [0, 0, 0, 1])
    _, (ga, gb) = grads(lambda a, b: gc.minimum(a, b), [a, b])
    assert_exact(ga, [1, 0, 1, 1])
    assert_exact(gb, [0, 1, 0, 0])
    # the same with the operands swapped: now b is first and takes the ties
    _, (gb, ga) = grads(lambda b, a: gc.maximum(b, a), [b, a])
    assert_exact(gb, [1, 0, 1, 1])
    assert_exact(ga, [0, 1, 0, 0])
    # broadcast tie against a scalar: maximum(x, 0) at x == 0 passes the gradient to x
    x = np.array([[-1.0, 0.0], [0.0, 2.0]])
    _, (gx, gz) = grads(lambda x, z: gc.maximum(x, z) * 3.0, [x, np.array(0.0)])
    assert_exact(gx, [[0, 3], [3, 3]])
    assert_exact(gz, 3.0)


def test_clip_passes_gradient_at_its_bounds():
    x = np.array([-2.0, -1.0, -0.5, 0.0, 1.0, 1.5])
    _, (g,) = grads(lambda x: gc.clip(x, -1.0, 1.0) * 2.0, [x])
    assert_exact(g, [0, 2, 2, 2, 2, 0])          # x == lo and x == hi: gradient 1 (times 2)
    lo, hi = np.full(6, -1.0), np.full(6, 1.0)
    _, (gx, glo, ghi) = grads(lambda x, lo, hi: gc.clip(x, lo, hi), [x, lo, hi])
    assert_exact(gx, [0, 1, 1, 1, 1, 0])
    assert_exact(glo, [1, 0, 0, 0, 0, 0])        # the bounds only get it strictly outside
    assert_exact(ghi, [0, 0, 0, 0, 0, 1])


def test_prod_with_zeros_is_the_product_of_the_others():
    x = np.array([[0.0, 1.5, -2.0, 0.5],     # one zero: only it gets a gradient
                  [0.0, 1.5, 0.0, 0.5],      # two zeros: no gradient anywhere
                  [1.0, 0.5, 2.0, -1.5],     # none
                  [-0.0, 3.0, 2.0, 1.0]])    # a negative zero is a zero
    expected = np.array([[np.prod(np.delete(row, j)) for j in range(row.size)] for row in x])
    assert expected[0, 0] == -1.5 and not expected[1].any()
    _, (g,) = grads(lambda x: gc.sum(gc.prod(x, axis=-1)), [x])
    assert_exact(g, expected)
    # over all axes, with keepdims, with one zero in the whole tensor
    y = np.array([[1.5, -0.5], [0.0, 2.0]])
    _, (g,) = grads(lambda y: gc.prod(y, keepdims=True), [y])
    assert_exact(g, [[0, 0], [-1.5, 0]])


def test_gather_repeated_indices_accumulate():
    x = normal(4, 3)
    _, (g,) = grads(lambda x: gc.sum(gc.gather(x, ints([0, 2, 0, 0]))), [x])
    assert_exact(g, np.array([3.0, 0.0, 1.0, 0.0])[:, None] * np.ones(3))
    _, (g,) = grads(lambda x: gc.sum(gc.take(x, ints([5, 5, -1]))), [x])
    expected = np.zeros(12)
    expected[5], expected[11] = 2.0, 1.0              # flat index 5 twice, -1 (= 11) once
    assert_exact(g, expected.reshape(4, 3))


# -- cross-entropy losses -----------------------------------------------------------------------------
def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_softmax_cross_entropy_value_and_gradient():
    z = normal(5, 4) * 3
    p = RNG.dirichlet(np.ones(4), size=5)
    loss, (gz, gp) = grads(lambda z, p: gc.nn.softmax_cross_entropy(z, p), [z, p])
    log_softmax = z - np.log(np.exp(z).sum(-1, keepdims=True))
    assert_exact(loss, -(p * log_softmax).sum(-1))
    # d/dz = softmax(z) * sum(p) - p (soft labels summing to 1: softmax - p); d/dp = -log_softmax
    assert_exact(gz, _softmax(z) - p)
    assert_exact(gp, -log_softmax)
    # large logits stay finite and exact (the shift by the row max)
    z = np.array([[1000.0, 0.0, -1000.0], [50.0, 50.0, 50.0]])
    onehot = np.eye(3)[[0, 2]]
    loss, (gz,) = grads(lambda z, p: gc.nn.softmax_cross_entropy(z, p), [z, onehot], wrt=[0])
    assert_exact(loss, [0.0, math.log(3.0)])
    assert_exact(gz, _softmax(z) - onehot)


def test_sparse_softmax_cross_entropy_value_gradient_and_bad_labels():
    z = normal(6, 5) * 2
    labels = ints([0, 4, 2, 2, 1, 3])
    onehot = np.eye(5)[labels]
    loss, (gz,) = grads(lambda z, y: gc.nn.sparse_softmax_cross_entropy(z, y), [z, labels], wrt=[0])
    log_softmax = z - np.log(np.exp(z).sum(-1, keepdims=True))
    assert_exact(loss, -log_softmax[np.arange(6), labels])
    assert_exact(gz, _softmax(z) - onehot)
    # mean over the batch: (softmax - onehot) / batch
    _, (gz,) = grads(lambda z, y: gc.mean(gc.nn.sparse_softmax_cross_entropy(z, y)), [z, labels], wrt=[0])
    assert_exact(gz, (_softmax(z) - onehot) / 6)
    # a label out of range (5, or negative) gives a NaN loss for its row; the other rows are unaffected
    bad = ints([0, 5, 2, -1, 1, 3])
    loss, (gz,) = grads(lambda z, y: gc.nn.sparse_softmax_cross_entropy(z, y), [z, bad], wrt=[0])
    assert np.isnan(loss[[1, 3]]).all()
    ok = [0, 2, 4, 5]
    assert_exact(loss[ok], -log_softmax[ok, bad[ok]])
    assert_exact(gz[ok], _softmax(z)[ok] - np.eye(5)[bad[ok]])


# -- semantics -------------------------------------------------------------------------------------
def test_none_for_unconnected_and_non_differentiable_paths():
    x = gc.placeholder(gc.float64, (3,), name="x")
    u = gc.placeholder(gc.float64, (3,), name="u")
    y = gc.sum(gc.sin(x))
    assert gc.gradients(y, [u]) == [None]                                   # y does not read u
    through_int = gc.cast(gc.argmax(u), gc.float64) + gc.cast(gc.greater(u, 0.0), gc.float64) \
        + gc.cast(gc.cast(u, gc.int32), gc.float64)                         # argmax, comparison, cast to int
    assert gc.gradients(gc.sum(through_int), [u]) == [None]
    assert gc.gradients(gc.sum(gc.stop_gradient(u) * 2.0), [u]) == [None]  # stop_gradient
    gx, gu = gc.gradients(gc.sum(through_int * x) + y, [x, u])              # x connected, u only via ints
    assert gx is not None and gu is None
    ids = gc.placeholder(gc.int64, (3,), name="ids")
    assert gc.gradients(gc.sum(gc.gather(x, ids)), [ids]) == [None]         # int x: None
    assert gc.gradients(gc.argmax(x), [x]) == [None]                        # int y: None
    assert gc.gradients(gc.sum(gc.gather(x, gc.argmax(u, keepdims=True))), [u]) == [None]


def test_stop_gradient_blocks_one_path_only():
    x0 = np.array([0.5, -1.0, 2.0])
    # d/dx (x * stop(x)) = stop(x) = x, not 2x
    _, (g,) = grads(lambda x: x * gc.stop_gradient(x), [x0])
    assert_exact(g, x0)
    _, (g,) = grads(lambda x: gc.exp(gc.stop_gradient(x * 3.0)) + x * x, [x0])
    assert_exact(g, 2 * x0)


def test_gradient_with_respect_to_a_stop_gradient_output():
    # stop_gradient stops what flows *through* it, not a gradient taken with respect to it (TF1)
    x = gc.placeholder(gc.float64, (3,), name="x")
    s = gc.stop_gradient(x)
    y = gc.sum(3.0 * s * s)
    gs, gx = gc.gradients(y, [s, x])
    assert gx is None and gs is not None
    x0 = np.array([0.5, -1.0, 2.0])
    with gc.Session() as sess:
        assert_exact(sess.run(gs, {x: x0}), 6 * x0)


def test_list_of_ys_sums_their_gradients():
    x0 = normal(2, 3)
    _, (g,) = grads(lambda x: [gc.sum(gc.sin(x)), gc.sum(x * x), gc.sum(x, axis=0)], [x0])
    assert_exact(g, np.cos(x0) + 2 * x0 + 1)
    # the same y twice counts twice
    _, (g,) = grads(lambda x: [gc.sum(x * 3.0)] * 2, [x0])
    assert_exact(g, np.full((2, 3), 6.0))


def test_grad_ys_seed_the_backward_pass():
    x0, seed = normal(2, 3), normal(2, 3)
    _, (g,) = grads(lambda x: gc.tanh(x), [x0], grad_ys=[seed])
    assert_exact(g, seed * (1 - np.tanh(x0) ** 2))
    # one seed per y; a numpy scalar seed for a scalar y
    with gc.Graph().as_default():
        x = gc.placeholder(gc.float64, (2, 3))
        a, b = gc.exp(x), gc.sum(x * x)
        (g,) = gc.gradients([a, b], [x], grad_ys=[seed, np.float64(-2.0)])
        with gc.Session() as sess:
            assert_exact(sess.run(g, {x: x0}), seed * np.exp(x0) - 4 * x0)
    # a float32 y takes its seed in its dtype
    with gc.Graph().as_default():
        x = gc.placeholder(gc.float32, (3,))
        (g,) = gc.gradients(x * x, [x], grad_ys=np.array([1.0, 2.0, 3.0]))
        assert g.dtype == np.float32
        with gc.Session() as sess:
            np.testing.assert_allclose(sess.run(g, {x: np.array([1, 1, 2], np.float32)}), [2, 4, 12], **F32)


def test_gradient_with_respect_to_an_intermediate_tensor():
    x = gc.placeholder(gc.float64, (3,), name="x")
    h = x * 2.0
    y = gc.sum(gc.sin(h) * x)          # y reads x directly too: d y/d h counts only the paths through h
    gh, gx = gc.gradients(y, [h, x])
    x0 = np.array([0.3, -1.2, 2.0])
    with gc.Session() as sess:
        vh, vx = sess.run([gh, gx], {x: x0})
    assert_exact(vh, np.cos(2 * x0) * x0)
    assert_exact(vx, np.sin(2 * x0) + 2 * np.cos(2 * x0) * x0)
    # y itself: the gradient of y with respect to y is the seed (ones)
    (gy,) = gc.gradients(y, [y])
    with gc.Session() as sess:
        assert_exact(sess.run(gy, {x: x0}), 1.0)


def test_second_derivatives():
    x = gc.placeholder(gc.float64, (4,), name="x")
    x0 = np.array([0.5, -1.0, 2.0, 0.0])
    (d1,) = gc.gradients(x ** 3, [x])
    (d2,) = gc.gradients(d1, [x])
    (d3,) = gc.gradients(d2, [x])
    t = gc.tanh(x)
    (t1,) = gc.gradients(t, [x])
    (t2,) = gc.gradients(t1, [x])
    s = gc.nn.softmax(x)
    (s2,) = gc.gradients(gc.gradients(gc.sum(s * s), [x])[0], [x])    # through softmax's composite
    with gc.Session() as sess:
        v1, v2, v3, w1, w2 = sess.run([d1, d2, d3, t1, t2], {x: x0})
        check_s2 = sess.run(s2, {x: x0})
    assert_exact(v1, 3 * x0 ** 2)
    assert_exact(v2, 6 * x0)
    assert_exact(v3, np.full(4, 6.0))
    th = np.tanh(x0)
    assert_exact(w1, 1 - th ** 2)
    assert_exact(w2, -2 * th * (1 - th ** 2))
    # the Hessian-vector sum of sum(softmax^2), against central differences of its analytic gradient
    def grad_ss(v):   # d/dv sum(p^2) = 2 * J^T p, J = diag(p) - p p^T
        p = _softmax(v)
        return 2 * (p * p - p * (p @ p))
    eps = 1e-5
    numeric = np.array([(grad_ss(x0 + eps * e) - grad_ss(x0 - eps * e)).sum() / (2 * eps) for e in np.eye(4)])
    np.testing.assert_allclose(check_s2, numeric, rtol=1e-7, atol=1e-9)


def test_second_order_gradients_check_against_finite_differences():
    # check_gradients of a function that is itself a gradient (a Hessian-vector product)
    def grad_of(f):
        return lambda x: gc.gradients(f(x), [x])[0]
    check_gradients(grad_of(lambda x: gc.sum(gc.tanh(x) * gc.sin(x))), [normal(2, 3)])
    check_gradients(grad_of(lambda x: gc.sum(gc.nn.log_softmax(x) * gc.constant(normal(2, 4)))),
                    [normal(2, 4)])
    check_gradients(grad_of(lambda x: gc.sum(gc.nn.layer_norm(x) ** 3)), [normal(2, 4)])
    check_gradients(grad_of(lambda x: gc.sum(gc.prod(x, axis=1, keepdims=True) * gc.max(x, axis=0, keepdims=True))),
                    [nonzero(3, 4)])


def test_unknown_batch_dim():
    x = gc.placeholder(gc.float64, (None, 3), name="x")
    w = gc.placeholder(gc.float64, (3,), name="w")
    loss = gc.mean(gc.sum(gc.tanh(x * w + 1.0), axis=1))          # mean over the unknown batch
    gx, gw = gc.gradients(loss, [x, w])
    assert gx.shape == (None, 3) and gw.shape == (3,)
    w0 = normal(3)
    with gc.Session() as sess:
        for n in (1, 4, 7, 2):
            x0 = normal(n, 3)
            d = 1 - np.tanh(x0 * w0 + 1.0) ** 2
            vx, vw = sess.run([gx, gw], {x: x0, w: w0})
            assert_exact(vx, d * w0 / n)
            assert_exact(vw, (d * x0).sum(0) / n)
    check_gradients(lambda x, w: gc.mean(gc.sum(gc.tanh(x * w + 1.0), axis=1)), [normal(5, 3), w0])
    # slices and reshapes of the unknown dim
    y = gc.sum(x[1:] ** 2) + gc.sum(x[:, ::2] * w[::2]) + gc.sum(gc.reshape(x, (-1,)) * 2.0)
    (gx,) = gc.gradients(y, [x])
    assert gx.shape == (None, 3)
    with gc.Session() as sess:
        for n in (1, 5):
            x0 = normal(n, 3)
            expected = np.full((n, 3), 2.0)
            expected[1:] += 2 * x0[1:]
            expected[:, ::2] += w0[::2]
            assert_exact(sess.run(gx, {x: x0, w: w0}), expected)


def test_devices_and_unoptimized_agree():
    # (conv2d and pooling run on the CPU in the table above; their backward graphs take
    # seconds to compile unfused, so this model leaves them out)
    rng = np.random.default_rng(5)
    arrays = [rng.normal(size=(4, 6)), rng.normal(size=(6, 8)), rng.normal(size=(8,)), rng.normal(size=(4, 3)),
              ints([1, 0, 2, 2])]

    def model(x, w, gamma, w2, labels):
        h = gc.nn.layer_norm(gc.nn.gelu(x @ w), gamma)                                         # (4, 8)
        h = gc.maximum(h[:, ::2], h[:, 1::2]) + gc.gather(h, ints([0, 0, 3, 1]))[:, ::-2]     # (4, 4)
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(h @ w2, labels))
        return loss + gc.max(gc.prod(gc.tanh(x), axis=0)) + gc.sum(gc.nn.log_softmax(x) * gc.sigmoid(x))

    results = {}
    for name, options in {"cpu": dict(device="cpu"), "reference": dict(device="reference"),
                          "cpu-unoptimized": dict(device="cpu", optimize=False),
                          "reference-unoptimized": dict(device="reference", optimize=False)}.items():
        results[name] = grads(model, arrays, wrt=[0, 1, 2, 3], **options)
    ref_loss, ref_grads = results.pop("reference")
    assert all(g is not None for g in ref_grads)
    for name, (loss, gs) in results.items():
        np.testing.assert_allclose(loss, ref_loss, **F64, err_msg=name)
        for g, r in zip(gs, ref_grads):
            np.testing.assert_allclose(g, r, **F64, err_msg=name)
    check_gradients(model, arrays, device="reference")   # and the reference is right


def test_missing_rule_names_the_op_and_its_line(monkeypatch):
    x = gc.placeholder(gc.float64, (3,), name="x")
    v = gc.Variable(np.zeros(3), name="v")
    update = gc.assign(v, x * 2.0); line = inspect.currentframe().f_lineno   # noqa: E702
    with pytest.raises(gc.GraphcError, match=rf"op 'assign' \('Assign', built at [^)]*{HERE}:{line}\)"):
        gc.gradients(update, [x])
    # a registered op whose rule is missing (as a new op without a rule would be)
    monkeypatch.delitem(grad_rules.RULES, "sin")
    y = gc.sin(x); line = inspect.currentframe().f_lineno   # noqa: E702
    with pytest.raises(gc.GraphcError, match=rf"op 'sin' .*built at [^)]*{HERE}:{line}\).*no gradient rule"):
        gc.gradients(gc.sum(y * 2.0), [x])


# -- a 3-layer MLP: gc.gradients against a numpy backward pass written out by hand --------------------
def numpy_mlp_backward(x, labels, params):
    """Loss and d loss/d params of relu(relu(x W1 + b1) W2 + b2) W3 + b3 with mean softmax
    cross-entropy, in float64."""
    w1, b1, w2, b2, w3, b3 = (np.asarray(p, np.float64) for p in params)
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    z1 = x @ w1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ w2 + b2
    h2 = np.maximum(z2, 0)
    z3 = h2 @ w3 + b3
    shifted = z3 - z3.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    onehot = np.zeros_like(z3)
    onehot[np.arange(n), labels] = 1
    loss = -(onehot * logp).sum() / n
    dz3 = (np.exp(logp) - onehot) / n
    dw3, db3 = h2.T @ dz3, dz3.sum(0)
    dz2 = (dz3 @ w3.T) * (z2 > 0)
    dw2, db2 = h1.T @ dz2, dz2.sum(0)
    dz1 = (dz2 @ w2.T) * (z1 > 0)
    dw1, db1 = x.T @ dz1, dz1.sum(0)
    return loss, [dw1, db1, dw2, db2, dw3, db3]


def _mlp_data(dtype, sizes=(20, 32, 16, 10), batch=8, seed=3):
    rng = np.random.default_rng(seed)
    params = []
    for m, n in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(0, m ** -0.5, (m, n)).astype(dtype), rng.normal(0, 0.1, n).astype(dtype)]
    return rng.normal(size=(batch, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], batch), params


def _graphc_mlp_gradients(dtype, sparse):
    x0, labels0, params0 = _mlp_data(dtype)
    x = gc.placeholder(dtype, (None, x0.shape[1]), name="x")
    labels = gc.placeholder(gc.int64, (None,), name="labels")
    params = [gc.Variable(p, name=f"p{i}") for i, p in enumerate(params0)]
    h = x
    for i in range(3):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < 2:
            h = gc.relu(h)
    if sparse:
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(h, labels))
    else:
        loss = gc.mean(gc.nn.softmax_cross_entropy(h, gc.one_hot(labels, 10, dtype=dtype)))
    gs = gc.gradients(loss, params)
    assert [g.shape for g in gs] == [p.shape for p in params0] and all(g.dtype == dtype for g in gs)
    with gc.Session() as sess:
        value, values = sess.run([loss, gs], {x: x0, labels: labels0})
    return (value, values), numpy_mlp_backward(x0, labels0, params0)


@pytest.mark.parametrize("sparse", [False, True], ids=["onehot", "sparse"])
def test_mlp_gradients_match_numpy_float64(sparse):
    (loss, gs), (ref_loss, ref_gs) = _graphc_mlp_gradients(np.float64, sparse)
    np.testing.assert_allclose(loss, ref_loss, **F64)
    for name, g, r in zip(["W1", "b1", "W2", "b2", "W3", "b3"], gs, ref_gs):
        assert np.abs(r).max() > 1e-3, name     # every layer gets a real gradient
        np.testing.assert_allclose(g, r, **F64, err_msg=name)


@pytest.mark.parametrize("sparse", [False, True], ids=["onehot", "sparse"])
def test_mlp_gradients_match_numpy_float32(sparse):
    (loss, gs), (ref_loss, ref_gs) = _graphc_mlp_gradients(np.float32, sparse)
    np.testing.assert_allclose(loss, ref_loss, **F32)
    for name, g, r in zip(["W1", "b1", "W2", "b2", "W3", "b3"], gs, ref_gs):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, r, **F32, err_msg=name)


def test_mlp_gradients_match_finite_differences():
    x0, labels0, params0 = _mlp_data(np.float64, sizes=(5, 4, 3, 3), batch=4)

    def loss(x, labels, w1, b1, w2, b2, w3, b3):
        h = gc.relu(x @ w1 + b1)
        h = gc.relu(h @ w2 + b2)
        return gc.mean(gc.nn.sparse_softmax_cross_entropy(h @ w3 + b3, labels))
    check_gradients(loss, [x0, labels0] + params0)


def test_unknown_dims_that_broadcast_from_one_at_run_time():
    """A placeholder (None, 3) fed one row while the other operand has four: the gradient
    is summed back to the fed shape (the decision waits for the fed shapes)."""
    x = gc.placeholder(gc.float32, (None, 3))
    b = gc.placeholder(gc.float32, (None, 3))
    (gb,) = gc.gradients(gc.sum(x * b), [b])
    x_val = RNG.standard_normal((4, 3)).astype(np.float32)
    with gc.Session() as sess:
        got = sess.run(gb, {x: x_val, b: np.ones((1, 3), np.float32)})
        assert got.shape == (1, 3)
        np.testing.assert_allclose(got, x_val.sum(0, keepdims=True), **F32)
        got = sess.run(gb, {x: x_val, b: np.ones((4, 3), np.float32)})
        np.testing.assert_allclose(got, x_val, **F32)
