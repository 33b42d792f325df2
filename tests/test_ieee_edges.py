"""IEEE 754 and integer edge cases through native kernels, bit for bit against numpy.

Every case runs three ways: ``device="cpu"`` with fusion (the op between two ``where`` on a
fed True, which fusion makes one kernel with it: checked), ``device="cpu"`` with
``optimize=False`` (the op is a kernel of its own) and ``device="reference"``; and, where g++
is installed, a fourth: ``device="cuda-host"``, the CUDA backend's generated code, fused. Each runs at
rank 0 and on vectors of sizes 1, 15, 16, 17 and 33 (both sides of a 16-lane vector, and of
the 8- and 4-lane loops LLVM makes for AVX2 or a 256-bit AVX-512 preference); a program is
run once per row of its inputs, the rows together holding every combination of the special
values, so each one is met in a vector lane or in the loop's scalar tail. (A 2-D input would
not do: LLVM unrolls a short static inner loop into scalar code.) Results are compared with
the numpy expression computed here, not with graphc's references: floats by their bits
(-0.0 is not 0.0), NaNs by position only (IEEE 754 leaves a NaN's sign and payload to the
platform). Only graphc's own transcendental approximations get a tolerance: the ulp bounds of
tests/test_llvm_math.py for finite results, exact NaN/Inf/zero results. The behaviours
stated in docs/backend.md ("IEEE and integer edge cases") are each tested here by name.
"""
import math
import platform
import re
import shutil

import numpy as np
import pytest

import graphc as gc
from graphc.ops.elementwise import BINARY, UNARY
from test_llvm_math import F32_ULP_LIMIT, F64_ULP_LIMIT, ulp_distance

MODES = {"fused": ("cpu", True), "unfused": ("cpu", False), "reference": ("reference", True)}
if shutil.which("g++"):   # the CUDA backend's generated code, fused, run on the host (runtime/cuda/host.py)
    MODES["cuda-host"] = ("cuda-host", True)


@pytest.fixture(autouse=True, scope="module")
def one_host_thread():
    """Scalar semantics need one thread of the emulated block (tests/test_op_table.py runs two
    warps); thread start-up would otherwise dominate these many small runs."""
    from graphc.runtime.cuda import host
    saved, host.THREADS = host.THREADS, 1
    yield
    host.THREADS = saved
SIZES = (1, 15, 16, 17, 33)
FLOATS = (np.float32, np.float64)
INTS = (np.int32, np.int64)
NAN, INF = np.nan, np.inf
X86 = platform.machine().lower() in ("x86_64", "amd64")


def float_specials(dtype):
    fi = np.finfo(dtype)
    return np.array([NAN, -NAN, INF, -INF, -0.0, 0.0, fi.smallest_subnormal, -1e-40, 1e-40, fi.tiny, -fi.tiny,
                     fi.max, -fi.max, 0.5, -0.5, 1.5, -2.5, 2.5, 1.0, -1.0, 100.0, -100.0], dtype)


def int_specials(dtype):
    ii = np.iinfo(dtype)
    return np.array([ii.min, ii.min + 1, -7, -3, -1, 0, 1, 3, 7, ii.max - 1, ii.max], dtype)


def specials(dtype):
    return float_specials(dtype) if np.dtype(dtype).kind == "f" else int_specials(dtype)


# -- comparing ----------------------------------------------------------------------------

def _bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def same_bits(actual, expected):
    """Elementwise: identical bits (two NaNs count as equal, whatever their sign and payload)."""
    if actual.dtype.kind != "f":
        return actual == expected
    nan = np.isnan(actual)
    return np.where(nan | np.isnan(expected), nan & np.isnan(expected), _bits(actual) == _bits(expected))


def _report(what, ok, actual, expected, inputs):
    bad = np.flatnonzero(~ok)[:6]
    rows = [f"  {tuple(x.ravel()[k] for x in inputs)} -> {actual.ravel()[k]!r}, want {expected.ravel()[k]!r}"
            for k in bad]
    return f"{what}: {int((~ok).sum())} of {ok.size} differ\n" + "\n".join(rows)


def assert_bits(actual, expected, what="", inputs=()):
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, \
        (what, actual.dtype, expected.dtype, actual.shape, expected.shape)
    ok = same_bits(actual, expected)
    assert ok.all(), _report(what, ok, actual, expected, inputs)


def assert_ulps(actual, expected, what="", inputs=()):
    """graphc's own approximations: NaN, +-Inf and +-0 results exactly, others within the ulp
    bounds of tests/test_llvm_math.py (float64: against numpy, itself up to 1 ulp off)."""
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, (what, actual.dtype, expected.dtype)
    limit = F32_ULP_LIMIT if actual.dtype == np.float32 else F64_ULP_LIMIT + 1
    special = ~np.isfinite(actual) | ~np.isfinite(expected) | (actual == 0) | (expected == 0)
    ok = np.where(special, same_bits(actual, expected), ulp_distance(actual, expected) <= limit)
    assert ok.all(), _report(what, ok, actual, expected, inputs)


# -- running ------------------------------------------------------------------------------

def _zero(dtype):
    return False if dtype == np.bool_ else 0 if dtype.kind in "iu" else 0.0


def run_cases(cases, mode, one_kernel_each=True, wrap_out=True):
    """The results of ``cases`` [(fn, inputs)], all computed by one program on ``mode``. Each
    input has a leading axis of runs: run k feeds ``x[k]`` for every input x, and a result is
    the stack of its runs' results. When optimizing, fn is applied between ``where`` on a fed
    True (after it only if ``wrap_out``), which fusion puts in fn's kernel (checked when
    ``one_kernel_each``); unoptimized, fn alone is the kernel."""
    device, optimize = MODES[mode]
    graph = gc.Graph()
    with graph.as_default():
        keep = gc.placeholder(gc.bool, (), name="keep")
        places, outs = [], []
        for fn, inputs in cases:
            ps = [gc.placeholder(x.dtype, x.shape[1:]) for x in inputs]
            places.append(ps)
            if optimize:
                out = fn(*[gc.where(keep, p, _zero(p.dtype)) for p in ps])
                outs.append(gc.where(keep, out, _zero(out.dtype)) if wrap_out else out)
            else:
                outs.append(fn(*ps))

        def feeds(k):
            fd = {keep: True}
            for ps, (_, inputs) in zip(places, cases):
                fd.update(zip(ps, (x[k] for x in inputs)))
            return fd

        with gc.Session(device=device, optimize=optimize) as sess:
            if mode == "fused" and one_kernel_each:
                kernels = sess.compile(outs, feeds(0)).kernels
                assert len(kernels) == len(cases), kernels
            results = [sess.run(outs, feeds(k)) for k in range(len(cases[0][1][0]))]
    return [np.stack([r[c] for r in results]) for c in range(len(cases))]


def grid(values, arity, n=None, runs=None):
    """``arity`` arrays of ``runs`` rows of n values each (rank 0: of one value): the
    combinations of ``values`` in order, row after row, wrapping around, so that each one
    appears at each size (in a vector lane or in the loop's tail). ``runs`` defaults to as
    few as hold every combination."""
    m = len(values)
    total, width = m ** arity, 1 if n is None else n
    runs = -(-total // width) if runs is None else runs
    combo = np.arange(runs * width).reshape(runs, width) % total
    picks = [values[combo // m ** (arity - 1 - a) % m] for a in range(arity)]
    return [p[:, 0] for p in picks] if n is None else picks


SHAPES = (None,) + SIZES      # rank 0, then the sizes


def shapes(mode):
    """The CUDA code has no vector lanes or loop tails: rank 0 and one odd size suffice there."""
    return (None, 17) if mode == "cuda-host" else SHAPES


def check(ops, values, arity=1, compare=assert_bits):
    """Each op of ``ops`` {label: (graphc fn, numpy fn)} over every combination of
    ``values`` at rank 0 and at each size, on every mode (one program each), compared with the
    numpy fn (under np.errstate(all='ignore')) on the same inputs."""
    values = np.asarray(values)
    inputs = [grid(values, arity, n, runs=len(values) ** arity) for n in SHAPES]
    labels = [(label, n, x) for label in ops for n, x in zip(SHAPES, inputs)]
    for mode in MODES:
        chosen = [entry for entry in labels if entry[1] in shapes(mode)]
        results = run_cases([(ops[label][0], x) for label, _, x in chosen], mode)
        for (label, n, x), got in zip(chosen, results):
            compare(got, numpy(ops[label][1])(*x), f"{label}, {mode}, {'rank 0' if n is None else f'size {n}'}", x)


def numpy(fn):
    """``fn`` under np.errstate(all='ignore'), its result as an array."""
    def call(*args, **kwargs):
        with np.errstate(all="ignore"):
            return np.asarray(fn(*args, **kwargs))
    return call


# -- the op table: every unary and binary op, float32 and float64 ---------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def _in_float64(fn):
    """fn computed in float64 and rounded to the inputs' dtype (for float32: the correctly
    rounded result but for a 2^-29 ulp chance, what tests/test_llvm_math.py compares with)."""
    return lambda *xs: np.asarray(fn(*(x.astype(np.float64) for x in xs))).astype(np.float64).astype(xs[0].dtype)


EXACT_UNARY = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "sqrt": np.sqrt, "square": np.square,
    "reciprocal": np.reciprocal, "relu": lambda x: np.maximum(x, x.dtype.type(0)), "floor": np.floor,
    "ceil": np.ceil, "round": np.round, "logical_not": np.logical_not, "isnan": np.isnan,
    "isfinite": np.isfinite, "stop_gradient": lambda x: x,
}
APPROX_UNARY = {   # graphc's own inline approximations (runtime/llvm_math.py)
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "rsqrt": lambda x: 1 / np.sqrt(x), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "erf": lambda x: _erf(x).astype(np.float64),
    "softplus": lambda x: np.where(x > 40, x, np.log1p(np.exp(np.minimum(x, 40)))),
}
EXACT_BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.true_divide,
    "floor_divide": np.floor_divide, "mod": np.mod, "maximum": np.maximum, "minimum": np.minimum,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or,
}
APPROX_BINARY = {"power": np.power}   # llvm.pow (libm) against numpy's own power loop


def test_the_tables_cover_every_elementwise_op():
    assert set(EXACT_UNARY) | set(APPROX_UNARY) == set(UNARY)
    assert set(EXACT_BINARY) | set(APPROX_BINARY) == set(BINARY)


def _op(name):
    return getattr(gc, name, None) or getattr(gc.nn, name)


_TABLE_CACHE = {}


def op_table(dtype, mode, arity):
    """{op name: [(inputs, result) at rank 0 and each size]} for every op of the table (the
    integer ops for an integer dtype), from one program per dtype, mode, arity and shape."""
    key = (np.dtype(dtype).name, mode, arity)
    if key not in _TABLE_CACHE:
        names = list(UNARY if arity == 1 else BINARY) if np.dtype(dtype).kind == "f" else INT_OPS[arity]
        table = {name: [] for name in names}
        for n in shapes(mode):
            x = grid(specials(dtype), arity, n)
            for name, got in zip(names, run_cases([(_op(name), x) for name in names], mode)):
                table[name].append((x, got))
        _TABLE_CACHE[key] = table
    return _TABLE_CACHE[key]


def _check_table(dtype, mode, arity, name, expect, compare):
    for inputs, got in op_table(dtype, mode, arity)[name]:
        compare(got, expect(*inputs), f"{name} {np.dtype(dtype).name} {mode}, runs x shape {inputs[0].shape}", inputs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_op_on_special_values(name, dtype, mode):
    if name in EXACT_UNARY:
        _check_table(dtype, mode, 1, name, numpy(EXACT_UNARY[name]), assert_bits)
    else:
        _check_table(dtype, mode, 1, name, numpy(_in_float64(APPROX_UNARY[name])), assert_ulps)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_on_special_values(name, dtype, mode):
    if name in EXACT_BINARY:
        _check_table(dtype, mode, 2, name, numpy(EXACT_BINARY[name]), assert_bits)
    else:
        _check_table(dtype, mode, 2, name, numpy(_in_float64(APPROX_BINARY[name])), assert_ulps)


# integer ops (float-valued ones compute in float32, as the cast tests cover; integer power
# runs numpy's reference)
INT_OPS = {
    1: [n for n in UNARY if UNARY[n][1] != "float"],
    2: [n for n in BINARY if n != "power"],
}
EXACT_INT_UNARY = {**EXACT_UNARY, "floor": lambda x: x, "ceil": lambda x: x, "round": lambda x: x}  # (kept as they are)
EXACT_INT_BINARY = {**EXACT_BINARY, "divide": lambda x, y: np.true_divide(x.astype(np.float32), y.astype(np.float32))}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", INT_OPS[1])
def test_integer_unary_op_on_extreme_values(name, dtype, mode):
    _check_table(dtype, mode, 1, name, numpy(EXACT_INT_UNARY[name]), assert_bits)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", INT_OPS[2])
def test_integer_binary_op_on_extreme_values(name, dtype, mode):
    _check_table(dtype, mode, 2, name, numpy(EXACT_INT_BINARY[name]), assert_bits)


# -- signed zeros ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_relu_of_negative_zero_is_positive_zero(dtype):
    """relu(x) = maximum(x, 0), and numpy's maximum of equal values gives the second one."""
    check({"relu": (gc.nn.relu, lambda x: np.maximum(x, x.dtype.type(0)))},
          np.array([-0.0, 0.0, NAN, -1.0, 2.0], dtype))
    assert not np.signbit(np.maximum(dtype(-0.0), dtype(0.0)))


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_sign_of_negative_zero_is_positive_zero(dtype):
    check({"sign": (gc.sign, np.sign)}, np.array([-0.0, 0.0, NAN, -INF, 3.0, -1e-40], dtype))
    assert not np.signbit(np.sign(dtype(-0.0)))


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_maximum_and_minimum_of_equal_zeros_give_the_second_operand(dtype):
    values = np.array([-0.0, 0.0, NAN, 1.0], dtype)
    check({"maximum": (gc.maximum, np.maximum), "minimum": (gc.minimum, np.minimum)}, values, arity=2)
    for fn in (np.maximum, np.minimum):   # the stated rule is numpy's (x86-64)
        assert list(np.signbit(fn(np.array([-0.0, 0.0], dtype), np.array([0.0, -0.0], dtype)))) == [False, True]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_clip_with_nan_and_zeros(dtype):
    values = np.array([NAN, -INF, -1.0, -0.0, 0.0, 1.0, INF], dtype)
    check({"clip": (gc.clip, np.clip)}, values, arity=3)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_where_passes_nans_and_signed_zeros(dtype):
    values = np.array([NAN, -0.0, 0.0, -INF, 1.5], dtype)
    check({"where-greater": (lambda x, y: gc.where(gc.greater(x, y), x, y), lambda x, y: np.where(x > y, x, y)),
           "where-isnan": (lambda x, y: gc.where(gc.isnan(x), y, x), lambda x, y: np.where(np.isnan(x), y, x))},
          values, arity=2)


SIGNED_ZERO_OPS = {
    "neg": (gc.neg, np.negative), "abs": (gc.abs, np.abs), "sqrt": (gc.sqrt, np.sqrt),
    "floor": (gc.floor, np.floor), "ceil": (gc.ceil, np.ceil), "round": (gc.round, np.round),
    "times-minus-zero": (lambda x: x * -0.0, lambda x: x * x.dtype.type(-0.0)),
    "plus-minus-zero": (lambda x: (-x) + (-0.0), lambda x: -x + x.dtype.type(-0.0)),
    "minus-zero-minus": (lambda x: -0.0 - x, lambda x: x.dtype.type(-0.0) - x),
}


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_signed_zero_results(dtype):
    values = np.array([-0.0, 0.0, -0.4, 0.4, -0.5, 0.5, -1.5, 2.5, -1e-40, NAN, INF, -INF], dtype)
    check(SIGNED_ZERO_OPS, values)


# -- infinities, NaN and denormals --------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_float_division_by_zero_and_infinity(dtype):
    values = np.array([0.0, -0.0, 1.0, -3.0, INF, -INF, NAN], dtype)
    check({"divide": (gc.divide, np.true_divide), "floor_divide": (gc.floor_divide, np.floor_divide),
           "mod": (gc.mod, np.mod)}, values, arity=2)


COMPOSITES = {   # built from graphc's ops; numpy's expression (in float64, rounded)
    "softplus-log1p": (lambda x: gc.log1p(gc.exp(x)), lambda x: np.log1p(np.exp(x))),
    "softplus-log": (lambda x: gc.log(1.0 + gc.exp(x)), lambda x: np.log(1 + np.exp(x))),
    "silu": (lambda x: x * gc.sigmoid(x), lambda x: x / (1 + np.exp(-x))),
    "exp-ratio": (lambda x: gc.exp(x) / gc.exp(x), lambda x: np.exp(x) / np.exp(x)),
    "tanh-of-exp": (lambda x: gc.tanh(gc.exp(x)), lambda x: np.tanh(np.exp(x))),
    "log-of-exp": (lambda x: gc.log(gc.exp(x)), lambda x: np.log(np.exp(x))),
}


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_transcendental_composites_at_infinities(dtype):
    values = np.array([INF, -INF, NAN, -0.0, 0.0, 1e4, -1e4, 2.0, -2.0], dtype)
    check({label: (fn, _in_float64(expect)) for label, (fn, expect) in COMPOSITES.items()}, values,
          compare=assert_ulps)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_logsumexp_of_infinite_and_nan_rows(dtype):
    rows = np.array([[-INF, -INF, -INF], [INF, 1.0, -INF], [NAN, 1.0, 2.0], [INF, INF, 0.0], [-INF, NAN, INF]], dtype)
    want = np.array([-INF, INF, NAN, INF, NAN], dtype)
    for mode in MODES:
        (got,) = run_cases([(lambda x: gc.logsumexp(x, axis=1), [rows[None]])], mode, one_kernel_each=False)
        assert_bits(got[0], want, mode)
    with np.errstate(all="ignore"):
        assert_bits(np.log(np.sum(np.exp(rows), axis=1)), want)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_denormals_are_neither_flushed_nor_treated_as_zero(dtype):
    fi = np.finfo(dtype)
    sub = np.array([fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny / 2, fi.tiny - fi.smallest_subnormal,
                    fi.tiny, 1.0, 0.5, -2.0], dtype)
    check({"multiply": (gc.multiply, np.multiply), "add": (gc.add, np.add), "subtract": (gc.subtract, np.subtract),
           "divide": (gc.divide, np.true_divide), "maximum": (gc.maximum, np.maximum), "less": (gc.less, np.less)},
          sub, arity=2)
    check({"sqrt": (gc.sqrt, np.sqrt), "neg": (gc.neg, np.negative), "floor": (gc.floor, np.floor),
           "sign": (gc.sign, np.sign), "bool": (lambda x: gc.cast(x, gc.bool), lambda x: x.astype(bool))}, sub)
    assert numpy(np.multiply)(sub, dtype(1.0))[0] == fi.smallest_subnormal   # (nor does numpy here)


def test_no_fast_math_flags_and_no_denormal_flushing_attributes():
    """Only the blocked float sums may reassociate; nothing assumes no NaN, no Inf, no signed
    zeros or flushes denormals, but the quick loop of a float max/min reduction, whose value
    is discarded (the exact loop runs) when a NaN was met or it is a zero: its compare and
    select (the vectorizer's maxnum/minnum) may say nnan and nsz, nothing else may."""
    x = gc.placeholder(gc.float32, (4, 33))
    y = gc.placeholder(gc.float64, (33,))
    fetches = [gc.exp(x) / gc.sum(x, axis=1, keepdims=True), gc.max(gc.tanh(x) * 2.0 - gc.sqrt(x)),
               gc.nn.softmax(y), gc.mean(gc.erf(y)), gc.cast(gc.sin(x), gc.int32), gc.floor_divide(y, 3.0)]
    with gc.Session() as sess:
        compiled = sess.compile(fetches, {x: (4, 33), y: (33,)})
    for optimized in (False, True):
        text = compiled.llvm_ir(optimized=optimized)
        flags = set(re.findall(r"\b(fast|nnan|ninf|nsz|arcp|contract|afn|reassoc)\b", text))
        assert flags <= {"reassoc", "nnan", "nsz"}, flags
        for line in (ln for ln in text.splitlines() if re.search(r"\b(nnan|nsz)\b", ln)):
            assert re.search(r"= (fcmp nnan nsz o[gl]t|select nnan nsz|(tail )?call nnan nsz (<\d+ x )?(float|double)>? "
                             r"@llvm\.((max|min)num|vector\.reduce\.f(max|min))\.)", line), line
        assert "denormal-fp-math" not in text and "unsafe-fp-math" not in text and "no-nans" not in text
    assert "reassoc" in compiled.llvm_ir()


# -- reductions -------------------------------------------------------------------------------

REDUCTIONS = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "max": np.max, "min": np.min,
              "argmax": np.argmax, "argmin": np.argmin}


def reduction_runs(n, dtype):
    """Runs of (n,) vectors of exactly summable values with NaN, +Inf or -Inf first, in the
    middle or last (the last beyond a multiple of 16 when n is 17 or 33), mixtures, and one of
    denormals (their sums exact too, their products zeros)."""
    base = np.resize(np.array([1.5, -2.0, 0.25, 3.0, -0.5], dtype), n)
    fi = np.finfo(dtype)
    runs = [base, np.resize(np.array([fi.smallest_subnormal, -fi.tiny / 64, fi.tiny / 128, -3 * fi.smallest_subnormal],
                                     dtype), n)]
    for special in (NAN, INF, -INF):
        for k in (0, n // 2, n - 1):
            runs.append(base.copy())
            runs[-1][k] = special
    for first, last in ((INF, -INF), (INF, NAN), (NAN, NAN), (0.0, INF), (-INF, NAN)):
        runs.append(base.copy())
        runs[-1][0], runs[-1][-1] = first, last
    return np.stack(runs)


def reduction_cases(n, dtype):
    """(fn, inputs, numpy axis of the stacked runs) for each reduction: over a vector, over
    the rows of a (3, n) array and over the columns of its (n, 3) transpose."""
    v = reduction_runs(n, dtype)
    rows = np.stack([v, np.broadcast_to(v[:1], v.shape), v[:, ::-1]], axis=1)       # (runs, 3, n)
    cols = np.ascontiguousarray(rows.transpose(0, 2, 1))                           # (runs, n, 3)
    for name in REDUCTIONS:
        op = getattr(gc, name)
        yield name, lambda x, op=op: op(x), v, 1
        yield name, lambda x, op=op: op(x, axis=1), rows, 2
        yield name, lambda x, op=op: op(x, axis=0), cols, 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_reductions_propagate_nan_and_infinities(dtype, mode):
    cases = [(name, fn, x, axis) for n in SIZES for name, fn, x, axis in reduction_cases(n, dtype)]
    # (a where after a reduction would be a kernel of its own)
    results = run_cases([(fn, [x]) for _, fn, x, _ in cases], mode, wrap_out=False)
    for (name, _, x, axis), got in zip(cases, results):
        want = numpy(REDUCTIONS[name])(x, axis=axis)
        assert_bits(got, want, f"{name} over axis {axis - 1} of {x.shape[1:]}", [x])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_reductions_of_signed_zeros(dtype, mode):
    """sum/mean of -0.0 give +0.0 and prod the sign of the product, as numpy; max/min of
    -0.0 alone give -0.0. Over both zeros, numpy's sign depends on its SIMD order: graphc's
    max gives +0.0 and min -0.0 natively (IEEE 754-2019 maximum/minimum)."""
    runs = np.stack([np.full(33, -0.0, dtype), np.resize(np.array([-0.0, 0.0], dtype), 33),
                     np.resize(np.array([0.0, -0.0, -0.0], dtype), 33)])
    names = ("sum", "mean", "prod", "max", "min")
    results = run_cases([(lambda x, op=getattr(gc, name), n=n: op(x[:n]), [runs]) for name in names for n in SIZES],
                        mode, wrap_out=False)
    for (name, n), got in zip([(name, n) for name in names for n in SIZES], results):
        want = numpy(REDUCTIONS[name])(runs[:, :n], axis=1)
        if name in ("max", "min") and n > 1:
            assert_bits(got[0], want[0], f"{name} of -0.0, size {n}")
            assert (got == 0).all()
            if mode != "reference":
                assert (np.signbit(got[1:]) == (name == "min")).all(), (name, n, got)
        else:
            assert_bits(got, want, f"{name} of zeros, size {n}")


@pytest.mark.parametrize("n", (1024, 1041))
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_long_max_and_min_rows_take_the_exact_loop_when_they_must(dtype, n):
    """A float max/min reduction runs a quick loop (x86's max) and, when a NaN was met or its
    result is a zero, the exact one: rows of n (vectorized, with a tail at 1041) whose answer
    is a negative number, -0.0 (only -0.0 among negatives), +0.0 (both zeros), NaN (one, in
    the middle of a vector), +Inf, or -Inf throughout; and each mirrored for min."""
    rng = np.random.default_rng(5)
    negative = -rng.uniform(0.5, 9.0, n).astype(dtype)
    rows = [negative.copy() for _ in range(6)] + [np.full(n, -INF, dtype)]
    rows[1][n // 3] = -0.0
    rows[2][n // 3], rows[2][n - 5] = -0.0, 0.0
    rows[3][700] = NAN
    rows[4][n - 1] = INF
    rows[5][::7] = -0.0
    x = np.stack(rows)
    maximum = [negative.max(), -0.0, 0.0, NAN, INF, -0.0, -INF]
    for name, data, want in (("max", x, maximum), ("min", -x, [-v for v in maximum])):
        with gc.Session() as sess:
            xs = gc.placeholder(np.dtype(dtype), x.shape)
            got = sess.run(getattr(gc, name)(xs, axis=1), {xs: data})
        assert_bits(got, np.array(want, dtype), f"{name} over rows of {n}", [data])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
def test_integer_reductions_wrap(dtype, mode):
    """Sums and products wrap around as numpy's do (int32 accumulates in int64)."""
    ii = np.iinfo(dtype)
    runs = []
    for n in SIZES:
        for fill in (ii.max, ii.min, -1, 3):
            v = np.resize(np.array([fill, 1, fill, -2, 7], dtype), 33)
            v[n - 1] = ii.min if fill == ii.max else ii.max     # the other extreme last (in the tail)
            runs.append((n, v))
    cases = [(name, n) for name in REDUCTIONS if name != "mean" for n in SIZES]
    stacked = np.stack([v for _, v in runs])
    results = run_cases([(lambda x, op=getattr(gc, name), n=n: op(x[:n]), [stacked]) for name, n in cases],
                        mode, wrap_out=False)
    for (name, n), got in zip(cases, results):
        assert_bits(got, numpy(REDUCTIONS[name])(stacked[:, :n], axis=1), f"{name}, size {n}")


# -- integer division and overflow -------------------------------------------------------------

@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
def test_integer_floor_divide_and_mod_by_zero_give_zero(dtype):
    values = np.array([0, 5, -5, np.iinfo(dtype).min, np.iinfo(dtype).max], dtype)
    check({"floor_divide": (lambda x: gc.floor_divide(x, x * 0), lambda x: np.floor_divide(x, x * 0)),
           "mod": (lambda x: gc.mod(x, x * 0), lambda x: np.mod(x, x * 0))}, values)
    assert (numpy(np.floor_divide)(values, 0) == 0).all() and (numpy(np.mod)(values, 0) == 0).all()   # numpy's rule


@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
def test_integer_floor_divide_and_mod_follow_python_signs(dtype):
    values = np.array([-7, -6, -1, 0, 1, 6, 7, 3, -3], dtype)
    check({"floor_divide": (gc.floor_divide, np.floor_divide), "mod": (gc.mod, np.mod)}, values, arity=2)
    assert [int(v) for v in np.floor_divide(values, 3)] == [int(v) // 3 for v in values]
    assert [int(v) for v in np.mod(values, -3)] == [int(v) % -3 for v in values]


@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
def test_int_min_floor_divide_minus_one_wraps(dtype):
    """INT_MIN // -1 is INT_MIN (the quotient wraps) and INT_MIN % -1 is 0, as numpy gives.
    An unguarded sdiv traps here (SIGFPE on x86-64)."""
    values = np.array([np.iinfo(dtype).min, -1, 1, np.iinfo(dtype).max], dtype)
    check({"floor_divide": (gc.floor_divide, np.floor_divide), "mod": (gc.mod, np.mod)}, values, arity=2)


@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
def test_integer_overflow_wraps(dtype):
    ii = np.iinfo(dtype)
    values = np.array([ii.min, ii.min + 1, -1, 0, 1, ii.max], dtype)
    check({"add": (gc.add, np.add), "subtract": (gc.subtract, np.subtract), "multiply": (gc.multiply, np.multiply)},
          values, arity=2)
    check({"neg": (gc.neg, np.negative), "abs": (gc.abs, np.abs), "square": (gc.square, np.square)}, values)
    assert numpy(np.negative)(values)[0] == ii.min and numpy(np.abs)(values)[0] == ii.min


# -- casts ------------------------------------------------------------------------------------

def float_to_int(x, dtype):
    """graphc's float -> integer cast: toward zero; NaN, +-Inf and values outside the type's
    range give its minimum (what numpy gives on x86-64, where C leaves it undefined)."""
    dtype = np.dtype(dtype)
    bound = 2.0 ** (8 * dtype.itemsize - 1)
    with np.errstate(all="ignore"):
        inside = (x >= -bound) & (x < bound)
        return np.where(inside, np.where(inside, x, 0).astype(dtype), np.iinfo(dtype).min).astype(dtype)


CAST_SOURCES = [NAN, -NAN, INF, -INF, -0.0, 0.0, 1e-40, -1e-310, 1.9, -1.9, 2.5, -2.5, 3e9, -3e9, 2.0 ** 31,
                2.0 ** 31 - 1, -2.0 ** 31, -2.0 ** 31 - 1, -2.0 ** 31 - 0.5, 2.0 ** 31 - 0.5, 2.0 ** 63, -2.0 ** 63,
                9.2e18, -9.3e18, 1e19, 1e30, 3.4e38, 1e39, -1e300]


CAST_TARGETS = (np.int32, np.int64, np.bool_, np.float32, np.float64)


def _cast_to(dst):
    return lambda x: gc.cast(x, dst)


@pytest.mark.parametrize("src", FLOATS, ids=lambda d: np.dtype(d).name)
def test_float_casts_of_nan_infinity_and_out_of_range_values(src):
    with np.errstate(all="ignore"):
        values = np.array(CAST_SOURCES, np.float64).astype(src)
    expects = {np.dtype(dst).name: (lambda x, dst=dst: float_to_int(x, dst)) if np.dtype(dst).kind == "i"
               else (lambda x, dst=dst: x.astype(dst)) for dst in CAST_TARGETS}
    check({name: (_cast_to(name), expects[name]) for name in expects}, values)
    if X86:   # the stated rule is numpy's own there
        for dst in (np.int32, np.int64):
            assert_bits(float_to_int(values, dst), numpy(lambda x: x.astype(dst))(values), np.dtype(dst).name)
    assert values[:2].astype(bool).all()     # NaN is true


@pytest.mark.parametrize("src", INTS, ids=lambda d: np.dtype(d).name)
def test_integer_casts_wrap_and_round(src):
    ii = np.iinfo(src)
    values = np.array([ii.min, ii.min + 1, -(2 ** 24) - 1, -1, 0, 1, 2 ** 24 + 1, 2 ** 31 - 1, ii.max - 1, ii.max]
                      + ([2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 1] if src == np.int64 else []), src)
    check({np.dtype(dst).name: (_cast_to(dst), lambda x, dst=dst: x.astype(dst)) for dst in CAST_TARGETS}, values)
