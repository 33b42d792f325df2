"""Every op of the op table on every device, and an op added with nothing but its definition.

Each primitive in ``gc.ops.all_ops()`` runs on every device (``runtime.backends.DEVICES``,
and ``"cuda-host"``: the CUDA backend's code on the host), fused and unfused, and must give what the op's own definition gives: the graph run by
``device="reference"`` with no passes, which evaluates each op's numpy reference (those
references are checked against numpy itself by test_ops.py). Inputs are fed, so no pass
folds them away. Elementwise ops come from the op table itself; every other op needs an
entry in ``EXAMPLES``, so a new op without one fails ``test_every_op_is_walked``.
"""
import shutil

import numpy as np
import pytest

import graphc as gc
from graphc.builder import make
from graphc.errors import DTypeError, GraphcError
from graphc.ops import AS_GIVEN, CHEAP, ELEMENTWISE, get_op, register, unregister
from graphc.ops.elementwise import BINARY, UNARY
from graphc.runtime.backends import DEVICES as EVERYWHERE

from conftest import assert_close

F32, F64, I32, I64, BOOL = (np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_))
INF, NAN = float("inf"), float("nan")
SPECIAL = [-INF, -100.0, -3.5, -1.0, -0.5, -0.0, 0.0, 0.25, 0.5, 1.0, 2.5, 3.0, 100.0, INF, NAN]
INTS = [-7, -3, -2, -1, 0, 1, 2, 3, 5]
PIPELINES = {"fused": {}, "unfused": {"optimize": False}}
# and the CUDA backend's generated code, run on the host (runtime/cuda/host.py), fused only (each op
# renders to the same C alone or inside a bigger kernel; compiling the host C is what costs time)
DEVICES = EVERYWHERE + (("cuda-host",) if shutil.which("g++") else ())


def pipelines(device):
    return {"fused": {}} if device == "cuda-host" else PIPELINES


def values_of(dtype, n=None):
    """A 1-D array of edge values of ``dtype`` (``n`` of them, cycled, when given)."""
    base = {BOOL: [True, False, True]}.get(dtype, INTS if dtype.kind == "i" else SPECIAL)
    values = np.array(base if n is None else [base[i % len(base)] for i in range(n)], dtype=dtype)
    return values


def definition(fetches, feeds):
    """What the ops' definitions give: the reference device, every pass off."""
    with gc.Session(device="reference", passes=()) as sess:
        return sess.run(fetches, feeds)


def assert_as_defined(actual, expected, exact):
    for a, e in zip(actual, expected):
        if exact:
            assert a.dtype == e.dtype and a.shape == e.shape
            np.testing.assert_array_equal(a, e)   # (NaNs in the same places)
        else:
            assert_close(a, e, e.dtype)


def check_everywhere(fetches, feeds, exact):
    expected = definition(fetches, feeds)
    for device in DEVICES:
        for options in pipelines(device).values():
            with gc.Session(device=device, **options) as sess:
                assert_as_defined(sess.run(fetches, feeds), expected, exact)


# -- elementwise ops: straight from the op table ---------------------------------------
def elementwise_case(dtype):
    """For every unary and binary op that accepts ``dtype``: the op on fed values, and the
    op on the sum of a fed value and a fed zero (fused with the add into one kernel)."""
    n = len(values_of(dtype)) ** 2
    a, b, e, zero = (gc.placeholder(dtype, (n,), name=k) for k in ("a", "b", "e", "zero"))
    grid = values_of(dtype)
    feeds = {a: np.repeat(grid, len(grid)), b: np.tile(grid, len(grid)), zero: np.zeros(n, dtype)}
    feeds[e] = np.abs(feeds[b]) if dtype.kind == "i" else feeds[b]   # (no negative integer powers)
    shifted = gc.logical_or(a, zero) if dtype == BOOL else a + zero
    fetches, exact = [], []
    for name in list(UNARY) + list(BINARY):
        operands = (a,) if name in UNARY else (a, e if name == "power" else b)
        try:
            fetches += [make(name, operands), make(name, (shifted,) + operands[1:])]
        except DTypeError:    # e.g. neg of bool
            continue
        exact += [get_op(name).cost == CHEAP] * 2
    return fetches, feeds, exact


@pytest.mark.parametrize("dtype", [F32, F64, I32, I64, BOOL], ids=str)
def test_every_elementwise_op(dtype):
    fetches, feeds, exact = elementwise_case(dtype)
    expected = definition(fetches, feeds)
    for device in DEVICES:
        for options in pipelines(device).values():
            with gc.Session(device=device, **options) as sess:
                for got, want, is_exact in zip(sess.run(fetches, feeds), expected, exact):
                    assert_as_defined([got], [want], is_exact)


# -- every other op: an example each ---------------------------------------------------
def _fed(shape, dtype=F32, name="x"):
    x = gc.placeholder(dtype, shape, name=name)
    return x, {x: values_of(np.dtype(dtype), int(np.prod(shape))).reshape(shape)}


def _finite(shape, dtype=F32, name="x"):
    x = gc.placeholder(dtype, shape, name=name)
    return x, {x: (np.arange(int(np.prod(shape))) % 7 - 3).astype(dtype).reshape(shape) * dtype.type(0.75)}


def _reduction(op):
    def example():
        x, feeds = _fed((3, 5))
        y, more = _finite((4, 6), F64, "y")
        i, ints = _fed((3, 3), I32, "i")
        out = [make(op, (t,), {"axes": axes, "keepdims": keep})
               for t in (x, y, i) for axes, keep in (((1,), False), ((0, 1), True))]
        return out, {**feeds, **more, **ints}, False
    return example


def _arg(op):
    def example():
        x, feeds = _fed((3, 5))
        return [make(op, (x,), {"axis": 1, "keepdims": False}), make(op, (x,), {"axis": None, "keepdims": True})], \
            feeds, True
    return example


def _movement(build, shape=(2, 3, 4), dtype=F32, exact=True):
    def example():
        x, feeds = _fed(shape, dtype)
        return [build(x)], feeds, exact
    return example


def _matmul():
    a, fa = _finite((5, 3))
    b, fb = _finite((3, 4), name="b")
    c, fc = _finite((2, 5, 3), name="c")
    v, fv = _finite((3,), name="v")
    i, fi = _fed((4, 3), I32, "i")
    j, fj = _fed((3, 2), I32, "j")
    return [a @ b, gc.nn.relu(a @ b + 1.0), c @ b, b.T @ v, v @ b, i @ j], {**fa, **fb, **fc, **fv, **fi, **fj}, False


def _where():
    x, feeds = _fed((15,))
    y, more = _finite((15,), F32, "y")
    return [gc.where(x > y, x, y), gc.where(gc.isnan(x), y, x * 2.0)], {**feeds, **more}, True


def _cast():
    x, feeds = _fed((15,))
    i, ints = _fed((9,), I64, "i")
    return [gc.cast(x, t) for t in (F64, I32, I64, BOOL)] + [gc.cast(i, t) for t in (F32, I32, BOOL)], \
        {**feeds, **ints}, True


def _full_like():
    x, feeds = _fed((2, 3))
    return [make("full_like", (x,), {"value": 2.5, "dtype": F64}) + x], feeds, True


def _sum_to():
    x = gc.placeholder(F32, (None, 4), name="x")
    g = gc.placeholder(F32, (3, 2, 4), name="g")
    feeds = {x: np.ones((1, 4), F32), g: values_of(F32, 24).reshape(3, 2, 4)}
    return [make("sum_to", (g, x))], feeds, False


def _gather():
    x, feeds = _fed((4, 3))
    i = gc.placeholder(I64, (2, 2), name="i")
    return [gc.gather(x, i, axis=0), gc.gather(x, i, axis=1) * 2.0], {**feeds, i: np.array([[0, 2], [1, 1]])}, True


def _scatter_add():
    x, feeds = _fed((4, 3))
    i = gc.placeholder(I64, (3,), name="i")
    u, more = _finite((3, 3), F32, "u")
    return [make("scatter_add", (x, i, u), {"axis": 0})], {**feeds, **more, i: np.array([1, 3, 1])}, False


def _random():
    x, feeds = _fed((2, 3))
    return [gc.random.uniform((3, 4), seed=7), gc.random.normal((5,), seed=3, dtype=gc.float64),
            gc.random.uniform(like=x, seed=1) + x], feeds, True


def _sources():
    x, feeds = _fed((2, 3))
    w = gc.Variable(np.full((2, 3), 0.5, F32), name="w")
    return [x, x * gc.constant(values_of(F32, 6).reshape(2, 3)) + w], feeds, True


def _conv():
    """conv2d (alone and with an epilogue) and its two backward ops, grouped and strided."""
    x, fx = _finite((2, 4, 5, 6))
    w, fw = _finite((6, 2, 3, 2), name="w")
    dy, fdy = _finite((2, 6, 3, 6), name="dy")
    a = {"stride": (2, 1), "pads": ((1, 1), (0, 1)), "dilation": (1, 1), "groups": 2}
    return [make("conv2d", (x, w), a), gc.relu(make("conv2d", (x, w), a) + 1.0),
            make("conv2d_backward_input", (dy, w), {**a, "size": (5, 6)}),
            make("conv2d_backward_filter", (x, dy), {**a, "kernel": (3, 2)})], {**fx, **fw, **fdy}, False


def _pools():
    """The pools and their gradients; the max pool on edge values (NaN, infinities, ties)."""
    x, fx = _fed((2, 3, 5, 6))
    f, ff = _finite((2, 3, 5, 6), name="f")
    dy, fdy = _finite((2, 3, 3, 3), name="dy")
    a = {"kernel": (2, 3), "stride": (2, 2), "pads": ((1, 0), (1, 1))}
    avg = {**a, "count_include_pad": False}
    return [make("max_pool2d", (x,), {**a, "dilation": (1, 1)}),
            make("max_pool2d_backward", (x, dy), {**a, "dilation": (1, 1)}),
            make("avg_pool2d", (f,), avg), make("avg_pool2d_backward", (dy,), {**avg, "size": (5, 6)})], \
        {**fx, **ff, **fdy}, False


def _static():
    """identity (here with a relaxed declared shape) and shape: replaced while specializing."""
    x = gc.placeholder(F32, (None, 3), name="x")
    d = make("identity", (gc.constant(values_of(F32, 6).reshape(2, 3)),), {"shape": (None, 3)})
    return [make("identity", (x,), {}) * 2.0, d + 1.0, make("shape", (x,), {"dtype": I64}) * 3,
            make("shape", (d,), {"dtype": I32})], {x: values_of(F32, 12).reshape(4, 3)}, True


EXAMPLES = {
    "identity": _static, "shape": _static,
    "where": _where, "cast": _cast, "full_like": _full_like,
    **{op: _reduction(op) for op in ("sum", "prod", "mean", "max", "min")},
    "argmax": _arg("argmax"), "argmin": _arg("argmin"), "sum_to": _sum_to,
    "matmul": _matmul,
    "reshape": _movement(lambda x: gc.reshape(x, (4, 6)) * 2.0),
    "transpose": _movement(lambda x: gc.transpose(x, (2, 0, 1)) + 1.0),
    "expand_dims": _movement(lambda x: gc.expand_dims(x, 1) * 3.0),
    "squeeze": _movement(lambda x: gc.squeeze(x, 1) - 1.0, shape=(4, 1, 3)),
    "broadcast_to": _movement(lambda x: gc.broadcast_to(x, (2, 2, 3, 4)) * 2.0),
    "slice": _movement(lambda x: x[:, 1:, ::-2] + 1.0),
    "concat": _movement(lambda x: gc.concat([x, x * 2.0, x[:, :1]], axis=1)),
    "pad": _movement(lambda x: gc.pad(x, [(1, 0), (0, 2), (1, 1)], constant_values=-1.0)),
    "gather": _gather, "scatter_add": _scatter_add, "random": _random,
    "conv2d": _conv, "conv2d_backward_input": _conv, "conv2d_backward_filter": _conv,
    "max_pool2d": _pools, "max_pool2d_backward": _pools, "avg_pool2d": _pools, "avg_pool2d_backward": _pools,
    "placeholder": _sources, "constant": _sources, "variable": _sources,
}
# ops whose every use is covered elsewhere here: fused kernels (every "fused" pipeline above),
# initializers and updates (test_every_state_op)
ELSEWHERE = {"fused", "init_variables", "assign", "group"}


def test_every_op_is_walked():
    generic = {name for name, op in gc.ops.all_ops().items() if name in UNARY or name in BINARY}
    assert generic == {n for n, op in gc.ops.all_ops().items() if op.kind == ELEMENTWISE} - set(EXAMPLES)
    missing = set(gc.ops.all_ops()) - generic - set(EXAMPLES) - ELSEWHERE
    assert not missing, f"ops without an example in tests/test_op_table.py: {sorted(missing)}"


@pytest.mark.parametrize("op", sorted(EXAMPLES))
def test_every_other_op(op):
    fetches, feeds, exact = EXAMPLES[op]()
    check_everywhere(fetches, feeds, exact)


def test_every_state_op():
    """init_variables, assign and group on every device: the same variable values."""
    results = []
    for device in DEVICES:
        gc.reset_default_graph()
        v = gc.Variable(np.arange(6, dtype=F32).reshape(2, 3), name="v")
        x = gc.placeholder(F32, (2, 3), name="x")
        step = gc.group(gc.assign(v, v * 2.0 + x), name="step")
        with gc.Session(device=device) as sess:
            sess.run(step, {x: np.ones((2, 3), F32)})
            sess.run(gc.global_variables_initializer())
            sess.run(step, {x: np.full((2, 3), 0.5, F32)})
            results.append(sess.run(v))
    for r in results:
        np.testing.assert_array_equal(r, np.arange(6, dtype=F32).reshape(2, 3) * 2.0 + 0.5)


# -- a primitive with nothing but a definition ---------------------------------------------
@pytest.fixture
def cube_op():
    """``cube``: registered with its definition, traits and numpy reference only (no
    gradient rule, no backend lowering), and removed again after the test."""
    def infer(inputs):
        (x,) = inputs
        if x.dtype.kind != "f":
            raise DTypeError(f"cube takes floats, got {x.dtype}")
        return x.dtype, tuple(x.shape)

    register("test_cube", ELEMENTWISE, infer, lambda values: values[0] * values[0] * values[0], arity=1)
    yield "test_cube"
    unregister("test_cube")


def test_an_op_with_only_a_definition_runs_fused_everywhere(cube_op):
    x = gc.placeholder(F32, (64, 33), name="x")
    y = gc.exp(make(cube_op, (x * 0.5 + 0.25,), name="cube_a")) - 1.0    # between other ops: one kernel
    s = gc.sum(make(cube_op, (gc.tanh(x),), name="cube_b"), axis=1)       # inside a reduction kernel
    feeds = {x: np.linspace(-2, 2, 64 * 33, dtype=F32).reshape(64, 33)}
    xs = feeds[x].astype(F64)
    want_y, want_s = np.exp((xs * 0.5 + 0.25) ** 3) - 1.0, np.sum(np.tanh(xs) ** 3, axis=1)
    for device in DEVICES:
        with gc.Session(device=device) as sess:
            kernels = {k.name: k for k in sess.compile([y, s], feeds).kernels}
            assert set(kernels) == {y.name, s.name}
            assert {"cube_a", "multiply", "add", "exp"} <= set(kernels[y.name].nodes)
            assert kernels[s.name].kind == "reduction" and {"cube_b", "tanh"} <= set(kernels[s.name].nodes)
            got_y, got_s = sess.run([y, s], feeds)
        np.testing.assert_allclose(got_y, want_y, rtol=2e-5, atol=1e-6)   # (exp(c) - 1 near c = 0: float32 rounding)
        np.testing.assert_allclose(got_s, want_s, rtol=2e-5, atol=1e-5)
    with gc.Session(device="cpu") as sess:   # the kernels holding it run through the reference
        assert not sess.compile([y, s], feeds)._executor.kernels


def test_an_op_without_a_backend_entry_falls_back_per_kernel(cube_op):
    x = gc.placeholder(F32, (16,), name="x")
    y = make(cube_op, (x + 1.0,))
    z = gc.sigmoid(x) * 3.0                                    # a kernel of its own, lowered natively
    with gc.Session() as sess:
        compiled = sess.compile([y, z], {x: np.zeros(16, F32)})
        native = {n.name for n in compiled._executor.kernels}
        assert len(compiled.kernels) == 2 and native == {compiled.graph.outputs[1].name}
        got_y, got_z = sess.run([y, z], {x: np.arange(16, dtype=F32)})
    np.testing.assert_allclose(got_y, (np.arange(16.0) + 1) ** 3, rtol=1e-6)
    np.testing.assert_allclose(got_z, 3 / (1 + np.exp(-np.arange(16.0))), rtol=2e-6)


def test_an_op_without_a_gradient_rule_is_a_clear_error(cube_op):
    x = gc.placeholder(F32, (3,), name="x")
    y = make(cube_op, (x,), name="cubed")
    with pytest.raises(GraphcError, match="test_cube.*cubed.*no gradient rule"):
        gc.gradients(gc.sum(y), [x])


def test_traits_are_consistent():
    """Every differentiable op that can carry a gradient has a rule; every elementwise op
    says how its operands are converted; every view is a movement op of one input."""
    from graphc.grad_rules import RULES
    for name, op in gc.ops.all_ops().items():
        if op.kind == ELEMENTWISE:
            assert op.operands is not None, name
        if op.view is not None:
            assert op.kind == "movement" and op.arity == 1 and op.cost == CHEAP, name
        if op.differentiable and op.kind not in ("source", "effect", "update", "fused"):
            assert name in RULES, f"{name} is differentiable but has no gradient rule"
    assert get_op("cast").operands == AS_GIVEN
