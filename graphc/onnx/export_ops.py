"""ONNX renderings of graphc's primitive ops, one emitter each (registered with ``emits``
from :mod:`graphc.onnx.export_builder`), each keeping the semantics of the op's numpy
reference: its operand casts and dtype rules, numpy's floor division and remainder,
graphc's float->int cast; where an onnxruntime kernel is missing or inexact (double
Softplus, int64 Relu, Sigmoid's tails) a composite of other ops stands in."""
import numpy as np
from onnx import numpy_helper

from .. import dtypes as dt
from ..ops.elementwise import BINARY
from .export_builder import emit, emits, onnx_type


# -- sources and fused kernels ------------------------------------------------------------
@emits("constant")
def _constant(cx):
    return cx.b.initializer(cx.node.attrs["value"], cx.out)


@emits("fused")
def _fused(cx, *inputs):
    """A fused kernel: its body, rendered in place (its parameters are the kernel's inputs)."""
    body = cx.node.attrs["body"]
    (root,) = body.outputs
    env = dict(zip([n for n in body.nodes if n.op == "placeholder"], inputs))
    for n in body.nodes:
        if n not in env:
            env[n] = emit(cx.b, n, [env[x] for x in n.inputs], cx.out if n is root else cx.b.fresh(n.name))
    return env[root]


# -- unary elementwise --------------------------------------------------------------------
_DIRECT_UNARY = {"neg": "Neg", "sign": "Sign", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
                 "reciprocal": "Reciprocal", "sin": "Sin", "cos": "Cos", "tanh": "Tanh",
                 "erf": "Erf"}   # (no double Erf kernel in onnxruntime's CPU provider)
_FLOAT_ONLY = {"floor": "Floor", "ceil": "Ceil", "round": "Round"}   # identity on integers


def _unary(fn):
    """Wrap ``fn(cx, x)`` so ``x`` arrives in the op's result dtype (float-valued ops on
    integers compute in float32, as their reference does)."""
    return lambda cx, x: fn(cx, cx.operand(0, x, cx.dtype))


for _op, _onnx in _DIRECT_UNARY.items():
    emits(_op)(_unary(lambda cx, x, _onnx=_onnx: cx.add(_onnx, x)))
for _op, _onnx in _FLOAT_ONLY.items():
    emits(_op)(_unary(lambda cx, x, _onnx=_onnx: cx.add(_onnx, x) if dt.is_float(cx.dtype) else x))


@emits("stop_gradient", "identity")
def _identity(cx, x):
    return x


@emits("shape")
def _shape(cx, x):
    """ONNX's Shape is int64; graphc's shape op may be int32 (TF1's default)."""
    shape = cx.add("Shape", x)
    return shape if cx.dtype == dt.int64 else cx.add("Cast", shape, to=onnx_type(cx.dtype))


@emits("abs")
@_unary
def _abs(cx, x):
    return x if dt.is_bool(cx.dtype) else cx.add("Abs", x)


@emits("square")
@_unary
def _square(cx, x):
    return cx.add("Mul", x, x)


@emits("rsqrt")
@_unary
def _rsqrt(cx, x):
    return cx.add("Reciprocal", cx.add("Sqrt", x))


@emits("relu")
@_unary
def _relu(cx, x):
    # (onnxruntime has no int64 Relu kernel, and Relu takes no integers before opset 14)
    return cx.add("Relu", x) if dt.is_float(cx.dtype) else cx.add("Max", x, cx.const(0))


@emits("expm1")
@_unary
def _expm1(cx, x):
    """Kahan's ``(u - 1) * x / log(u)``, u = exp(x): accurate where exp(x) - 1 cancels."""
    u = cx.add("Exp", x)
    um1 = cx.add("Sub", u, cx.const(1))
    ratio = cx.add("Div", cx.add("Mul", um1, x), cx.add("Log", u))
    ratio = cx.where(cx.add("IsInf", u, detect_negative=0), u, ratio)
    ratio = cx.where(cx.add("Equal", um1, cx.const(-1)), cx.const(-1), ratio)
    return cx.where(cx.add("Equal", u, cx.const(1)), x, ratio)


def _log1p_of(cx, x):
    """Kahan's ``log(u) * x / (u - 1)``, u = 1 + x: accurate where log(1 + x) loses x."""
    u = cx.add("Add", x, cx.const(1))
    ratio = cx.add("Div", cx.add("Mul", cx.add("Log", u), x), cx.add("Sub", u, cx.const(1)))
    ratio = cx.where(cx.add("IsInf", u, detect_negative=0), u, ratio)
    return cx.where(cx.add("Equal", u, cx.const(1)), x, ratio)


emits("log1p")(_unary(_log1p_of))


@emits("sigmoid")
@_unary
def _sigmoid(cx, x):
    """``1 / (1 + e)`` for x >= 0, else ``e / (1 + e)``, e = exp(-|x|), as the reference
    (onnxruntime's Sigmoid gives 0 below about -17 in float32, and is 1e-3 off in float64)."""
    e = cx.add("Exp", cx.add("Neg", cx.add("Abs", x)))
    den = cx.add("Add", e, cx.const(1))
    return cx.where(cx.add("GreaterOrEqual", x, cx.const(0)), cx.add("Reciprocal", den), cx.add("Div", e, den))


@emits("softplus")
@_unary
def _softplus(cx, x):
    """``max(x, 0) + log1p(exp(-|x|))`` (onnxruntime has no double Softplus kernel)."""
    return cx.add("Add", cx.add("Max", x, cx.const(0)), _log1p_of(cx, cx.add("Exp", cx.add("Neg", cx.add("Abs", x)))))


@emits("logical_not")
def _logical_not(cx, x):
    return cx.add("Not", cx.operand(0, x, dt.bool_))


@emits("isnan")
def _isnan(cx, x):
    return cx.add("IsNaN", x) if dt.is_float(cx.node.inputs[0].dtype) else cx.filled(x, False, dt.bool_)


@emits("isfinite")
def _isfinite(cx, x):
    if not dt.is_float(cx.node.inputs[0].dtype):
        return cx.filled(x, True, dt.bool_)
    return cx.add("Not", cx.add("Or", cx.add("IsNaN", x), cx.add("IsInf", x)))


# -- binary elementwise -------------------------------------------------------------------
def _binary(fn):
    """Wrap ``fn(cx, a, b)`` so the operands arrive in the dtype the reference computes in:
    the result's (arithmetic), the promoted one (comparisons) or bool (logical ops)."""
    def wrapped(cx, a, b):
        rule = BINARY[cx.node.op].rule
        x, y = cx.node.inputs
        work = dt.bool_ if rule == "logical" else dt.promote(x.dtype, y.dtype) if rule == "compare" else cx.dtype
        return fn(cx, cx.operand(0, a, work), cx.operand(1, b, work))
    return wrapped


_DIRECT_BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "power": "Pow",
                  "equal": "Equal", "logical_and": "And", "logical_or": "Or"}
_ORDERED = {"less": "Less", "less_equal": "LessOrEqual", "greater": "Greater", "greater_equal": "GreaterOrEqual"}

for _op, _onnx in _DIRECT_BINARY.items():
    emits(_op)(_binary(lambda cx, a, b, _onnx=_onnx: cx.add(_onnx, a, b)))


@emits(*_ORDERED)
@_binary
def _ordered(cx, a, b):
    if dt.is_bool(cx.node.inputs[0].dtype):   # ONNX orders numbers only: False < True as 0 < 1
        a, b = (cx.add("Cast", v, to=onnx_type(dt.int32)) for v in (a, b))
    return cx.add(_ORDERED[cx.node.op], a, b)


@emits("not_equal")
@_binary
def _not_equal(cx, a, b):
    return cx.add("Not", cx.add("Equal", a, b))


@emits("maximum", "minimum")
@_binary
def _extremum(cx, a, b):
    big = cx.node.op == "maximum"
    if dt.is_bool(cx.dtype):
        return cx.add("Or" if big else "And", a, b)
    return cx.add("Max" if big else "Min", a, b)


def _int_divisor(cx, b):
    """``b`` with 0 and -1 replaced by 1: integer Div/Mod trap on x / 0 and INT_MIN / -1."""
    bad = cx.add("Or", cx.add("Equal", b, cx.const(0)), cx.add("Equal", b, cx.const(-1)))
    return cx.where(bad, cx.const(1), b)


def _float_divmod(cx, a, b):
    """numpy's ``npy_divmod`` for floats: (floor quotient, remainder with b's sign)."""
    zero, one = cx.const(0), cx.const(1)
    mod = cx.add("Mod", a, b, fmod=1)
    div = cx.add("Div", cx.add("Sub", a, mod), b)
    mod_is_zero = cx.add("Equal", mod, zero)
    flip = cx.add("And", cx.add("Not", mod_is_zero),
                  cx.add("Xor", cx.add("Less", b, zero), cx.add("Less", mod, zero)))
    div = cx.where(flip, cx.add("Sub", div, one), div)
    signed_zero = cx.where(cx.add("Less", b, zero), cx.const(-0.0), zero)
    mod = cx.where(flip, cx.add("Add", mod, b), cx.where(mod_is_zero, signed_zero, mod))
    floor = cx.add("Floor", div)
    snapped = cx.where(cx.add("Greater", cx.add("Sub", div, floor), cx.const(0.5)), cx.add("Add", floor, one), floor)
    quotient = cx.add("Div", a, b)
    snapped = cx.where(cx.add("Equal", div, zero), cx.add("Mul", quotient, zero), snapped)   # copysign(0, a/b)
    b_is_zero = cx.add("Equal", b, zero)
    return cx.where(b_is_zero, quotient, snapped), cx.where(b_is_zero, cx.add("Mod", a, b, fmod=1), mod)


@emits("floor_divide")
@_binary
def _floor_divide(cx, a, b):
    if dt.is_float(cx.dtype):
        return _float_divmod(cx, a, b)[0]
    # integers: truncating Div, then one less where the remainder's sign differs from b's;
    # numpy gives 0 for x // 0 and wraps INT_MIN // -1 to INT_MIN (as Neg does)
    safe = _int_divisor(cx, b)
    q = cx.add("Div", a, safe)
    r = cx.add("Sub", a, cx.add("Mul", q, safe))
    zero = cx.const(0)
    off = cx.add("And", cx.add("Not", cx.add("Equal", r, zero)),
                 cx.add("Xor", cx.add("Less", r, zero), cx.add("Less", safe, zero)))
    q = cx.add("Sub", q, cx.add("Cast", off, to=onnx_type(cx.dtype)))
    q = cx.where(cx.add("Equal", b, cx.const(-1)), cx.add("Neg", a), q)
    return cx.where(cx.add("Equal", b, zero), zero, q)


@emits("mod")
@_binary
def _mod(cx, a, b):
    if dt.is_float(cx.dtype):
        return _float_divmod(cx, a, b)[1]
    return cx.add("Mod", a, _int_divisor(cx, b), fmod=0)   # x % 0 and x % -1 are 0 in numpy


@emits("where")
def _where(cx, cond, a, b):
    return cx.where(cond, cx.operand(1, a, cx.dtype), cx.operand(2, b, cx.dtype))


@emits("cast")
def _cast(cx, x):
    src = cx.node.inputs[0].dtype
    if not (dt.is_float(src) and dt.is_int(cx.dtype)):
        return cx.cast(x, src, cx.dtype)
    # float -> int: toward zero; NaN, ±Inf and out-of-range values give INT_MIN (the reference)
    bound = 2.0 ** (8 * cx.dtype.itemsize - 1)
    inside = cx.add("And", cx.add("GreaterOrEqual", x, cx.const(-bound, src)), cx.add("Less", x, cx.const(bound, src)))
    cast = cx.add("Cast", cx.where(inside, x, cx.const(0, src)), to=onnx_type(cx.dtype))
    return cx.where(inside, cast, cx.const(np.iinfo(cx.dtype).min))


@emits("full_like")
def _full_like(cx, x):
    return cx.filled(x, cx.node.attrs["value"], cx.dtype)


# -- reductions ---------------------------------------------------------------------------
def _reduce(cx, op_type, x, axes, keepdims):
    """``op_type`` over ``axes`` (none: ``x`` itself), axes as an input where the opset
    takes them so (ReduceSum from 13, the others from 18)."""
    if not axes:
        return x
    if op_type == "ReduceSum" or cx.opset >= 18:
        return cx.add(op_type, x, cx.ints(axes), keepdims=int(keepdims))
    return cx.add(op_type, x, axes=list(axes), keepdims=int(keepdims))


@emits("sum", "prod")
def _sum_prod(cx, x):
    x = cx.operand(0, x, cx.dtype)   # bool and int32 accumulate in int64, as numpy
    return _reduce(cx, "ReduceSum" if cx.node.op == "sum" else "ReduceProd", x, **cx.node.attrs)


@emits("mean")
def _mean(cx, x):
    axes, shape = cx.node.attrs["axes"], cx.node.inputs[0].shape
    total = _reduce(cx, "ReduceSum", cx.operand(0, x, cx.dtype), **cx.node.attrs)
    if not axes:
        return total
    dims = [shape[a] for a in axes]
    if None in dims:   # the count from the run-time shape
        dims = cx.add("Gather", cx.add("Shape", x), cx.ints(axes))
        count = cx.add("Cast", _reduce(cx, "ReduceProd", dims, (0,), False), to=onnx_type(cx.dtype))
    else:
        count = cx.const(int(np.prod(dims)))
    return cx.add("Div", total, count)


def _nan_mask(cx, x, axes, keepdims):
    """Whether each reduced slice of float ``x`` holds a NaN (as bool), and x's NaN map as
    int32 (onnxruntime's ReduceMax/ArgMax do not propagate NaN, numpy does)."""
    nans = cx.add("Cast", cx.add("IsNaN", x), to=onnx_type(dt.int32))
    return cx.cast(_reduce(cx, "ReduceMax", nans, axes, keepdims), dt.int32, dt.bool_), nans


@emits("max", "min")
def _max_min(cx, x):
    op_type = "ReduceMax" if cx.node.op == "max" else "ReduceMin"
    axes, keepdims = cx.node.attrs["axes"], cx.node.attrs["keepdims"]
    if dt.is_bool(cx.dtype):   # any / all
        return cx.cast(_reduce(cx, op_type, cx.cast(x, dt.bool_, dt.int32), axes, keepdims), dt.int32, dt.bool_)
    out = _reduce(cx, op_type, x, axes, keepdims)
    if not dt.is_float(cx.dtype) or not axes:
        return out
    return cx.where(_nan_mask(cx, x, axes, keepdims)[0], cx.const(np.nan), out)


@emits("argmax", "argmin")
def _arg(cx, x):
    """The first extreme's index along ``axis`` (the flattened tensor's when None); the
    first NaN's where there is one, as numpy."""
    axis, keepdims = cx.node.attrs["axis"], cx.node.attrs["keepdims"]
    op_type = "ArgMax" if cx.node.op == "argmax" else "ArgMin"
    src, rank = cx.node.inputs[0].dtype, len(cx.node.inputs[0].shape)
    x = cx.operand(0, x, dt.int32) if dt.is_bool(src) else x
    if axis is None:
        x, axis, keep = cx.add("Reshape", x, cx.ints([-1])), 0, False
    else:
        keep = keepdims
    out = cx.add(op_type, x, axis=axis, keepdims=int(keep))
    if dt.is_float(src):
        any_nan, nans = _nan_mask(cx, x, (axis,), keep)
        out = cx.where(any_nan, cx.add("ArgMax", nans, axis=axis, keepdims=int(keep)), out)
    if cx.node.attrs["axis"] is None and keepdims and rank:
        out = cx.add("Reshape", out, cx.ints([1] * rank))
    return out


@emits("sum_to")
def _sum_to(cx, g, x):
    """``g`` summed (keepdims) over its leading axes and the axes where ``x`` has size 1,
    then reshaped to ``x``'s shape; whether an unknown dim of ``x`` is 1 is decided when
    the model runs (Compress picks those axes out)."""
    g_shape, x_shape = cx.node.inputs[0].shape, cx.node.inputs[1].shape
    lead = len(g_shape) - len(x_shape)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(x_shape) if d == 1 and g_shape[lead + i] != 1]
    unknown = [i for i, d in enumerate(x_shape) if d is None]
    if not unknown:
        return cx.add("Reshape", _reduce(cx, "ReduceSum", g, axes, True), cx.ints(x_shape)) if axes else g
    x_shape = cx.add("Shape", x)
    ones = cx.add("Equal", cx.add("Gather", x_shape, cx.ints(unknown)), cx.ints([1]))
    picked = cx.add("Compress", cx.ints([lead + i for i in unknown]), ones, axis=0)
    total = cx.add("ReduceSum", g, cx.add("Concat", cx.ints(axes), picked, axis=0), keepdims=1, noop_with_empty_axes=1)
    return cx.add("Reshape", total, x_shape)


# -- linear algebra and movement ----------------------------------------------------------
@emits("matmul")
def _matmul(cx, a, b):
    return cx.add("MatMul", cx.operand(0, a, cx.dtype), cx.operand(1, b, cx.dtype))


@emits("reshape")
def _reshape(cx, x):
    shape = cx.node.attrs["shape"]
    if 0 not in shape:
        return cx.add("Reshape", x, cx.ints(shape))
    if cx.opset >= 14:
        return cx.add("Reshape", x, cx.ints(shape), allowzero=1)
    # before allowzero a 0 copies the input's dim; an empty result needs no input values
    return cx.add("ConstantOfShape", cx.ints(shape), value=numpy_helper.from_array(np.zeros(1, cx.dtype)))


@emits("transpose")
def _transpose(cx, x):
    return cx.add("Transpose", x, perm=list(cx.node.attrs["perm"]))


@emits("expand_dims")
def _expand_dims(cx, x):
    return cx.add("Unsqueeze", x, cx.ints(cx.node.attrs["axes"]))


@emits("squeeze")
def _squeeze(cx, x):
    axes = cx.node.attrs["axes"]
    return cx.add("Squeeze", x, cx.ints(axes)) if axes else x   # (no axes: Squeeze drops every 1)


@emits("broadcast_to")
def _broadcast_to(cx, x):
    return cx.add("Expand", x, cx.ints(cx.node.attrs["shape"]))


_BIG = np.iinfo(np.int64).max


def _slice_bounds(dim, start, stop, step):
    """ONNX (start, end) for a Python slice of an axis of size ``dim`` (None: unknown):
    exact bounds from ``slice.indices`` for a known size, else ONNX's clamping, which is
    Python's (but for a negative-step start below -dim: see _slice)."""
    if dim is not None:
        r = range(*slice(start, stop, step).indices(dim))
        if not r:
            return 0, 0
        return r.start, (r.stop if r.stop >= 0 else -_BIG - 1)   # (-1 would count from the end)
    start = (0 if step > 0 else _BIG) if start is None else start
    return start, (_BIG if step > 0 else -_BIG - 1) if stop is None else stop


@emits("slice")
def _slice(cx, x):
    """Python slices, one per axis, as one Slice over the axes that are not whole."""
    starts, ends, axes, steps, late = [], [], [], [], []
    for axis, (dim, (start, stop, step)) in enumerate(zip(cx.node.inputs[0].shape, cx.node.attrs["slices"])):
        step = 1 if step is None else step
        if (start, stop, step) == (None, None, 1):
            continue
        if dim is None and step < 0 and start is not None and start < 0:
            late.append(len(axes))
        start, end = _slice_bounds(dim, start, stop, step)
        starts.append(start)
        ends.append(end)
        axes.append(axis)
        steps.append(step if start != end else 1)
    if not axes:
        return x
    if late:
        # a negative-step start below -dim selects nothing in Python, where ONNX clamps it to
        # 0: there the end becomes 0 too (decided when the size is known)
        shape, pieces = cx.add("Shape", x), [cx.ints([e]) for e in ends]
        for i in late:
            below = cx.add("Less", cx.add("Add", cx.add("Gather", shape, cx.ints([axes[i]])), cx.ints([starts[i]])),
                           cx.ints([0]))
            pieces[i] = cx.where(below, cx.ints([0]), pieces[i])
        ends = cx.add("Concat", *pieces, axis=0)
    else:
        ends = cx.ints(ends)
    return cx.add("Slice", x, cx.ints(starts), ends, cx.ints(axes), cx.ints(steps))


@emits("concat")
def _concat(cx, *values):
    return cx.add("Concat", *(cx.operand(i, v, cx.dtype) for i, v in enumerate(values)), axis=cx.node.attrs["axis"])


@emits("pad")
def _pad(cx, x):
    pads = cx.node.attrs["pads"]
    if not any(b or a for b, a in pads):
        return x
    value = cx.const(np.asarray(cx.node.attrs["value"]).astype(cx.dtype))
    return cx.add("Pad", x, cx.ints([b for b, _ in pads] + [a for _, a in pads]), value, mode="constant")


@emits("gather")
def _gather(cx, x, indices):
    return cx.add("Gather", x, indices, axis=cx.node.attrs["axis"])


@emits("scatter_add")
def _scatter_add(cx, x, indices, updates):
    """Zeros like ``x`` plus each row of ``updates`` at its index: ScatterElements with
    reduction='add' (opset 16) over the flattened indices, broadcast to the rows."""
    if cx.opset < 16:
        raise cx.unsupported(f"ScatterElements adds (reduction='add') from opset 16; asked for {cx.opset}")
    axis, rank = cx.node.attrs["axis"], len(cx.node.inputs[0].shape)
    shape = cx.add("Shape", x)
    pieces = [cx.add("Slice", shape, cx.ints([0]), cx.ints([axis])), cx.ints([-1]),
              cx.add("Slice", shape, cx.ints([axis + 1]), cx.ints([rank]))]
    rows = cx.add("Reshape", updates, cx.add("Concat", *pieces, axis=0))
    flat = cx.add("Reshape", indices, cx.ints([1] * axis + [-1] + [1] * (rank - axis - 1)))
    index = cx.add("Expand", flat, cx.add("Shape", rows))
    zeros = cx.filled(x, 0, cx.dtype)
    return cx.add("ScatterElements", zeros, index, rows, axis=axis, reduction="add")
