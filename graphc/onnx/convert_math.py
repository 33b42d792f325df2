"""ONNX elementwise ops, activations, reductions, MatMul/Gemm and the softmax family."""
import numpy as np

from .. import array_ops as a
from .. import dtypes as dt
from .. import math_ops as m
from .. import nn
from ..builder import constant
from .converters import axes_of, converts
from .importer import numpy_dtype

_UNARY = {"Abs": m.abs, "Neg": m.neg, "Exp": m.exp, "Log": m.log, "Sqrt": m.sqrt,
          "Reciprocal": m.reciprocal, "Floor": m.floor, "Ceil": m.ceil, "Round": m.round,
          "Sign": m.sign, "Sin": m.sin, "Cos": m.cos, "Tanh": m.tanh, "Sigmoid": m.sigmoid,
          "Erf": m.erf, "Relu": m.relu, "Softplus": m.softplus, "IsNaN": m.isnan,
          "Not": m.logical_not}
_BINARY = {"Add": m.add, "Sub": m.subtract, "Mul": m.multiply, "Equal": m.equal, "Less": m.less,
           "LessOrEqual": m.less_equal, "Greater": m.greater, "GreaterOrEqual": m.greater_equal,
           "And": m.logical_and, "Or": m.logical_or, "Xor": m.not_equal}
_VARIADIC = {"Max": m.maximum, "Min": m.minimum, "Sum": m.add}


def _scalar(value, like):
    """A 0-d constant of ``like``'s dtype."""
    return constant(np.asarray(value, dtype=like.dtype), graph=like.graph)


for _name, _fn in _UNARY.items():
    converts(_name)(lambda cx, fn=_fn: fn(cx.input(0)))
for _name, _fn in _BINARY.items():
    converts(_name)(lambda cx, fn=_fn: fn(cx.input(0), cx.input(1)))
for _name, _fn in _VARIADIC.items():
    def _fold(cx, fn=_fn):
        out = cx.input(0)
        for x in cx.inputs()[1:]:
            out = fn(out, x)
        return out
    converts(_name)(_fold)


@converts("Identity")
def _identity(cx):
    return cx.input(0)


@converts("Mean")
def _mean(cx):
    xs = cx.inputs()
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total / _scalar(len(xs), total) if len(xs) > 1 else total


@converts("Div")
def _div(cx):
    x, y = cx.input(0), cx.input(1)
    if dt.is_float(x.dtype):
        return m.divide(x, y)
    # integers: C's division, truncating toward zero
    q, r = m.floor_divide(x, y), m.mod(x, y)
    adjust = m.logical_and(m.not_equal(r, 0), m.not_equal(m.less(x, 0), m.less(y, 0)))
    return q + m.cast(adjust, q.dtype)


@converts("Mod")
def _mod(cx):
    x, y = cx.input(0), cx.input(1)
    r = m.mod(x, y)
    if not cx.attr("fmod", 0):
        return r
    # C's fmod: the remainder takes x's sign
    wrong_sign = m.logical_and(m.not_equal(r, 0), m.not_equal(m.less(r, 0), m.less(x, 0)))
    return m.where(wrong_sign, r - y, r)


@converts("Pow")
def _pow(cx):
    x, y = cx.input(0), cx.input(1)
    if dt.is_float(x.dtype):
        return m.power(x, m.cast(y, x.dtype) if y.dtype != x.dtype else y)
    return m.cast(m.power(m.cast(x, np.float64), m.cast(y, np.float64)), x.dtype)


@converts("Tan")
def _tan(cx):
    return m.sin(cx.input(0)) / m.cos(cx.input(0))


@converts("Sinh")
def _sinh(cx):
    x = cx.input(0)
    return (m.expm1(x) - m.expm1(-x)) * 0.5


@converts("Cosh")
def _cosh(cx):
    x = cx.input(0)
    return (m.exp(x) + m.exp(-x)) * 0.5


@converts("Asinh")
def _asinh(cx):
    x = cx.input(0)
    ax = m.abs(x)
    return m.sign(x) * m.log1p(ax + ax * ax / (1.0 + m.sqrt(ax * ax + 1.0)))


@converts("Acosh")
def _acosh(cx):
    x = cx.input(0)
    return m.log(x + m.sqrt(x * x - 1.0))


@converts("Atanh")
def _atanh(cx):
    x = cx.input(0)
    return 0.5 * m.log1p(2.0 * x / (1.0 - x))


@converts("IsInf")
def _isinf(cx):
    x = cx.input(0)
    inf = m.logical_and(m.logical_not(m.isfinite(x)), m.logical_not(m.isnan(x)))
    positive, negative = cx.attr("detect_positive", 1), cx.attr("detect_negative", 1)
    if positive and negative:
        return inf
    if positive:
        return m.logical_and(inf, m.greater(x, 0.0))
    if negative:
        return m.logical_and(inf, m.less(x, 0.0))
    return m.logical_and(inf, m.logical_not(inf))


@converts("Where")
def _where(cx):
    return m.where(cx.input(0), cx.input(1), cx.input(2))


@converts("Clip")
def _clip(cx):
    x, lo, hi = cx.input(0), cx.input(1), cx.input(2)
    if lo is not None:
        x = m.maximum(x, lo)
    if hi is not None:
        x = m.minimum(x, hi)
    return x


@converts("Cast")
def _cast(cx):
    cx.ignore("saturate", "round_mode")   # (float8 conversions only)
    return m.cast(cx.input(0), numpy_dtype(cx.attr("to"), f"{cx.where}'s target type"))


@converts("CastLike")
def _cast_like(cx):
    cx.ignore("saturate", "round_mode")   # (float8 conversions only)
    return m.cast(cx.input(0), cx.input(1).dtype)


# activations
@converts("LeakyRelu")
def _leaky_relu(cx):
    x = cx.input(0)
    return m.where(m.less(x, 0.0), x * cx.attr("alpha", 0.01), x)


@converts("PRelu")
def _prelu(cx):
    x, slope = cx.input(0), cx.input(1)
    return m.where(m.less(x, 0.0), x * slope, x)


@converts("Elu")
def _elu(cx):
    x = cx.input(0)
    return m.where(m.less(x, 0.0), m.expm1(x) * cx.attr("alpha", 1.0), x)


@converts("Selu")
def _selu(cx):
    x = cx.input(0)
    alpha, gamma = cx.attr("alpha", 1.67326319217681884765625), cx.attr("gamma", 1.05070102214813232421875)
    return m.where(m.less_equal(x, 0.0), m.expm1(x) * alpha, x) * gamma


@converts("Celu")
def _celu(cx):
    x, alpha = cx.input(0), cx.attr("alpha", 1.0)
    return m.maximum(x, 0.0) + m.minimum(m.expm1(x / alpha) * alpha, 0.0)


def _hard_sigmoid(x, alpha, beta):
    return m.clip(x * alpha + beta, 0.0, 1.0)


@converts("HardSigmoid")
def _hard_sigmoid_op(cx):
    return _hard_sigmoid(cx.input(0), cx.attr("alpha", 0.2), cx.attr("beta", 0.5))


@converts("HardSwish")
def _hard_swish(cx):
    return cx.input(0) * _hard_sigmoid(cx.input(0), 1.0 / 6.0, 0.5)


@converts("Softsign")
def _softsign(cx):
    return cx.input(0) / (m.abs(cx.input(0)) + 1.0)


@converts("ThresholdedRelu")
def _thresholded_relu(cx):
    x = cx.input(0)
    return m.where(m.greater(x, cx.attr("alpha", 1.0)), x, 0.0)


@converts("Shrink")
def _shrink(cx):
    x, bias, lambd = cx.input(0), cx.attr("bias", 0.0), cx.attr("lambd", 0.5)
    return m.where(m.less(x, -lambd), x + bias, m.where(m.greater(x, lambd), x - bias, a.zeros_like(x)))


@converts("Mish")
def _mish(cx):
    return cx.input(0) * m.tanh(m.softplus(cx.input(0)))


@converts("Swish")
def _swish(cx):
    return cx.input(0) * m.sigmoid(cx.input(0) * cx.attr("alpha", 1.0))


@converts("Gelu")
def _gelu(cx):
    return nn.gelu(cx.input(0), approximate=cx.attr("approximate", "none"))


# reductions
def _reduction(cx, axes_attr_before):
    x = cx.input(0)
    axes = axes_of(cx, x.ndim, axes_attr_before)
    noop = cx.attr("noop_with_empty_axes", 0)
    if not axes:
        axes = () if noop else None
    return x, axes, bool(cx.attr("keepdims", 1))


def _reducer(fn, back_to_input_dtype=False):
    def convert(cx):
        x, axes, keepdims = _reduction(cx, None if cx.node.op_type == "ReduceSum" else 18)
        if axes == ():
            return x
        out = fn(x, axes, keepdims)
        return m.cast(out, x.dtype) if back_to_input_dtype and out.dtype != x.dtype else out
    return convert


converts("ReduceSum")(_reducer(m.sum, True))
converts("ReduceMean")(_reducer(m.mean, True))
def _extreme(fn, lowest):
    """``fn`` (max, min or logsumexp) where, over an empty axis, ONNX's result is the
    identity: the dtype's lowest value (``lowest``, for max and logsumexp) or its highest."""
    def reduce(x, axes, keepdims):
        axes = tuple(range(x.ndim)) if axes is None else axes
        if not any(x.shape[i] == 0 for i in axes):
            return fn(x, axes, keepdims)
        if x.dtype == np.bool_:
            value = not lowest
        elif dt.is_float(x.dtype):
            value = -np.inf if lowest else np.inf
        else:
            value = np.iinfo(x.dtype).min if lowest else np.iinfo(x.dtype).max
        shape = [1 if i in axes else d for i, d in enumerate(x.shape) if keepdims or i not in axes]
        return constant(np.full(shape, value, dtype=x.dtype), graph=x.graph)
    return reduce


converts("ReduceMax")(_reducer(_extreme(m.max, True)))
converts("ReduceMin")(_reducer(_extreme(m.min, False)))
converts("ReduceProd")(_reducer(m.prod, True))
converts("ReduceL1")(_reducer(lambda x, ax, k: m.sum(m.abs(x), ax, k), True))
converts("ReduceL2")(_reducer(lambda x, ax, k: m.sqrt(m.sum(m.square(x), ax, k)), True))
converts("ReduceSumSquare")(_reducer(lambda x, ax, k: m.sum(m.square(x), ax, k), True))
converts("ReduceLogSum")(_reducer(lambda x, ax, k: m.log(m.sum(x, ax, k)), True))
converts("ReduceLogSumExp")(_reducer(_extreme(m.logsumexp, True), True))


def _arg(fn):
    def convert(cx):
        x = cx.input(0)
        axis, keepdims = cx.attr("axis", 0) % max(x.ndim, 1), bool(cx.attr("keepdims", 1))
        if not cx.attr("select_last_index", 0):
            return fn(x, axis, keepdims)
        # the last extreme: the first one of the reversed axis
        reverse = [slice(None)] * x.ndim
        reverse[axis] = slice(None, None, -1)
        first = fn(x[tuple(reverse)], axis, keepdims)
        return _scalar(x.shape[axis] - 1, first) - first
    return convert


converts("ArgMax")(_arg(m.argmax))
converts("ArgMin")(_arg(m.argmin))


# matrix products
@converts("MatMul")
def _matmul(cx):
    return m.matmul(cx.input(0), cx.input(1))


@converts("Gemm")
def _gemm(cx):
    x, w, c = cx.input(0), cx.input(1), cx.input(2)
    if cx.attr("transA", 0):
        x = a.transpose(x)
    if cx.attr("transB", 0):
        w = a.transpose(w)
    y = m.matmul(x, w)
    alpha, beta = cx.attr("alpha", 1.0), cx.attr("beta", 1.0)
    if alpha != 1.0:
        y = y * alpha
    if c is not None and beta != 0.0:
        y = y + (c * beta if beta != 1.0 else c)
    return y


# the softmax family (opset 13: one axis)
@converts("Softmax")
def _softmax(cx):
    return nn.softmax(cx.input(0), axis=cx.attr("axis", -1))


@converts("LogSoftmax")
def _log_softmax(cx):
    return nn.log_softmax(cx.input(0), axis=cx.attr("axis", -1))


@converts("Hardmax")
def _hardmax(cx):
    x = cx.input(0)
    axis = cx.attr("axis", -1) % x.ndim
    first = m.argmax(x, axis, keepdims=True)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    positions = constant(np.arange(x.shape[axis], dtype=first.dtype).reshape(shape), graph=x.graph)
    return m.cast(m.equal(positions, first), x.dtype)


# losses
def _nll(cx, log_prob, target, weight):
    """ONNX's NegativeLogLikelihoodLoss of ``log_prob`` (N, C, d...) at int ``target`` (N, d...)."""
    classes = log_prob.shape[1]
    shape = [1] * log_prob.ndim
    shape[1] = classes
    positions = constant(np.arange(classes, dtype=target.dtype).reshape(shape), graph=target.graph)
    hot = m.equal(a.expand_dims(target, 1), positions)   # an out-of-range target picks nothing
    picked = m.sum(m.where(hot, log_prob, a.zeros_like(log_prob)), 1)
    if weight is None:
        weights = m.sum(m.cast(hot, log_prob.dtype), 1)
    else:
        weights = m.sum(m.where(hot, a.reshape(weight, shape), a.zeros_like(log_prob)), 1)
    ignore = cx.attr("ignore_index")
    if ignore is not None:
        weights = m.where(m.equal(target, ignore), a.zeros_like(weights), weights)
    loss = -picked * weights
    reduction = cx.attr("reduction", "mean")
    if reduction == "none":
        return loss
    if reduction == "sum":
        return m.sum(loss)
    if reduction == "mean":
        return m.sum(loss) / m.sum(weights)
    raise cx.error(f"reduction {reduction!r}")


@converts("NegativeLogLikelihoodLoss")
def _nll_loss(cx):
    return _nll(cx, cx.input(0), cx.input(1), cx.input(2))


@converts("SoftmaxCrossEntropyLoss")
def _softmax_cross_entropy_loss(cx):
    log_prob = nn.log_softmax(cx.input(0), axis=1)
    return [_nll(cx, log_prob, cx.input(1), cx.input(2)), log_prob]


@converts("Einsum")
def _einsum(cx):
    """Each operand transposed onto one label order (size-1 axes for labels it lacks),
    multiplied with broadcasting and summed over the contracted labels; fusion makes the
    product and the sum one kernel. Repeated labels in one operand (diagonals) are refused."""
    equation = cx.attr("equation").replace(" ", "")
    lhs, arrow, out = equation.partition("->")
    xs = cx.inputs()
    terms = lhs.split(",")
    ellipsis = max((x.ndim - len(t.replace("...", "")) for x, t in zip(xs, terms) if "..." in t), default=0)
    batch = [str(i) for i in range(ellipsis)]              # labels for the ellipsis dims
    labelled = []
    for x, term in zip(xs, terms):
        head, dots, tail = term.partition("...")
        labels = list(head) + (batch[ellipsis - (x.ndim - len(head) - len(tail)):] if dots else []) + list(tail)
        if len(set(labels)) != len(labels):
            raise cx.error(f"equation {equation!r}: a repeated label in one operand (a diagonal) is not supported")
        labelled.append((x, labels))
    counts = {}
    for _, labels in labelled:
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
    if arrow:
        head, dots, tail = out.partition("...")
        result = list(head) + (batch if dots else []) + list(tail)
    else:
        result = batch + sorted(k for k, n in counts.items() if n == 1 and not k.isdigit())
    order = result + [k for k in counts if k not in result]
    product = None
    for x, labels in labelled:
        x = a.transpose(x, [labels.index(k) for k in order if k in labels])
        shape = [x.shape[[k for k in order if k in labels].index(k)] if k in labels else 1 for k in order]
        x = a.reshape(x, [-1 if d is None else d for d in shape])
        product = x if product is None else product * x
    contracted = tuple(range(len(result), len(order)))
    return m.sum(product, contracted) if contracted else product
