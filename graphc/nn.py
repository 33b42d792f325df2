"""gc.nn: neural-network ops, as composites of primitives (so fusion sees through them) or,
for convolution and pooling, as primitives of their own (graphc/ops/conv.py).

Convolution and pooling use NCHW tensors and (out, in/groups, kh, kw) weights, as
ONNX and PyTorch do. Spatial sizes and channels must be static; the batch may be None.
"""
import functools
import math

import numpy as np

from . import dtypes as dt
from .array_ops import one_hot
from .builder import as_tensor, located, make
from .errors import DTypeError, ShapeError
from . import math_ops as m
from .math_ops import cast, erf, exp, log, matmul, mean, relu, rsqrt, sigmoid, softplus, square, tanh
from .ops.shapes import fmt_shape

__all__ = ["relu", "sigmoid", "softplus", "tanh", "gelu", "silu", "softmax", "log_softmax", "layer_norm",
           "softmax_cross_entropy", "sparse_softmax_cross_entropy",
           "conv2d", "max_pool2d", "avg_pool2d"]


def _scoped(fn):
    """Build the composite's nodes under a name scope named after it (softmax/exp, ...)."""
    @located
    @functools.wraps(fn)
    def wrapper(x, *args, **kwargs):
        x = as_tensor(x)
        with x.graph.name_scope(fn.__name__):
            return fn(x, *args, **kwargs)
    return wrapper


def _float(x):
    x = as_tensor(x)
    return x if dt.is_float(x.dtype) else cast(x, dt.float_result(x.dtype))


@_scoped
def gelu(x, approximate="tanh"):
    """GELU. ``approximate="tanh"`` (the JAX default) or ``"none"`` (exact, erf-based).

    The tanh form ``0.5 x (1 + tanh(u))``, u = sqrt(2/pi) (x + 0.044715 x^3), is computed as
    ``x sigmoid(2u)``, the same function (1 + tanh(u) = 2 sigmoid(2u)) with one exp and one
    division instead of tanh's expm1, division and selects: within 3e-7 relative of the
    float64 tanh form on the benchmark's inputs, as the tanh form is, and 12% faster."""
    x = _float(x)
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * (x * x * x))
        return x * sigmoid(2.0 * inner)
    if approximate == "none":
        return 0.5 * x * (1.0 + erf(x * (1 / math.sqrt(2))))
    raise ValueError(f"gelu approximate must be 'tanh' or 'none', got {approximate!r}")


@_scoped
def silu(x):
    """SiLU (swish): ``x * sigmoid(x)``."""
    x = _float(x)
    return x * sigmoid(x)


@_scoped
def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, shifted by the maximum for stability."""
    x = _float(x)
    e = exp(x - _shift(x, axis))
    return e / m.sum(e, axis, keepdims=True)


@_scoped
def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, computed stably."""
    x = _float(x)
    shifted = x - _shift(x, axis)
    return shifted - log(m.sum(exp(shifted), axis, keepdims=True))


def _shift(x, axis):
    """The row maximum that softmax subtracts for stability. The result does not depend
    on it, so gradients do not flow through it (exact, and no tie handling needed)."""
    return m.stop_gradient(m.max(x, axis, keepdims=True))


@_scoped
def softmax_cross_entropy(logits, labels, axis=-1):
    """Per-example cross-entropy ``-sum(labels * log_softmax(logits))`` along ``axis``
    (TF1 ``softmax_cross_entropy_with_logits``): ``labels`` are probabilities (one-hot
    or soft), ``logits`` unnormalized. Stable for large logits."""
    labels = cast(as_tensor(labels), logits.dtype if dt.is_float(as_tensor(logits).dtype) else dt.float32)
    return -m.sum(labels * log_softmax(logits, axis), axis)


@_scoped
def sparse_softmax_cross_entropy(logits, labels):
    """Per-example cross-entropy of ``logits`` (batch..., classes) against integer class
    ``labels`` (batch...). A label outside [0, classes) gives a NaN loss and NaN
    gradients for its example (as TF does on GPU), so it cannot go unnoticed."""
    logits = _float(logits)
    labels = as_tensor(labels)
    if not dt.is_int(labels.dtype):
        raise DTypeError(f"sparse_softmax_cross_entropy labels must be integers, got '{labels.name}' {labels.dtype}")
    classes = logits.shape[-1]
    if classes is None:
        raise ShapeError(f"sparse_softmax_cross_entropy needs a static number of classes, got '{logits.name}' "
                         f"{fmt_shape(logits.shape)}")
    hot = one_hot(labels, classes, dtype=logits.dtype)
    valid = m.stop_gradient(m.sum(hot, -1))
    return -m.sum(hot * log_softmax(logits), -1) / valid


@_scoped
def layer_norm(x, gamma=None, beta=None, axis=-1, eps=1e-5):
    """``(x - mean) / sqrt(var + eps) * gamma + beta`` with statistics over ``axis`` (int or tuple)."""
    x = _float(x)
    centered = x - mean(x, axis, keepdims=True)
    y = centered * rsqrt(mean(square(centered), axis, keepdims=True) + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


# -- convolution and pooling -------------------------------------------------
def _pair(v, what):
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"{what} must be an int or a pair, got {v}")
    return v


def _spatial(x, what):
    if x.ndim != 4 or any(d is None for d in x.shape[1:]):
        raise ShapeError(f"{what} needs an NCHW input with static C, H, W, got '{x.name}' "
                         f"{fmt_shape(x.shape)}")
    return x.shape[2], x.shape[3]


def _padding(padding, size, kernel, stride, dilation):
    """((top, bottom), (left, right)) for "VALID", "SAME" (TF rule), an int, a pair or two pairs."""
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return (0, 0), (0, 0)
        if mode != "SAME":
            raise ValueError(f"padding must be 'VALID', 'SAME' or ints, got {padding!r}")
        pads = []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            out = -(-n // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 2, (int(padding),) * 2
    padding = tuple(padding)
    if all(isinstance(p, (int, np.integer)) for p in padding):
        ph, pw = _pair(padding, "padding")
        return (ph, ph), (pw, pw)
    return tuple(_pair(p, "padding") for p in padding)


def _geometry(x, kernel, stride, dilation, padding, what):
    """(stride, dilation, pads) of a window op on NCHW ``x`` with an explicit padding."""
    size = _spatial(x, what)
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = tuple(tuple(p) for p in _padding(padding, size, kernel, stride, dilation))
    return stride, dilation, pads


@_scoped
def conv2d(x, w, stride=1, padding="VALID", dilation=1, groups=1):
    """2-D convolution (cross-correlation) of NCHW ``x`` with ``w`` of shape (out, in/groups, kh, kw).

    ``padding``: "VALID", "SAME" (TF rule: output = ceil(input / stride)), an int,
    (ph, pw), or ((top, bottom), (left, right)). One primitive op (``conv2d``); its
    gradients are the primitives ``conv2d_backward_input`` and ``conv2d_backward_filter``.
    """
    x, w = as_tensor(x), as_tensor(w)
    if w.ndim != 4 or any(d is None for d in w.shape):
        raise ShapeError(f"conv2d weights must be static (out, in/groups, kh, kw), got '{w.name}' "
                         f"{fmt_shape(w.shape)}")
    stride, dilation, pads = _geometry(x, w.shape[2:], stride, dilation, padding, "conv2d")
    return make("conv2d", (x, w), {"stride": stride, "pads": pads, "dilation": dilation, "groups": int(groups)})


@_scoped
def max_pool2d(x, kernel, stride=None, padding="VALID", dilation=1):
    """Max over kernel windows of NCHW ``x``; padded positions never win. Its gradient goes
    to each window's first maximum (row-major), as in TF, PyTorch and JAX."""
    x = as_tensor(x)
    kernel = _pair(kernel, "kernel")
    stride = kernel if stride is None else stride
    if dt.is_bool(x.dtype):
        raise DTypeError(f"max_pool2d of bool tensor '{x.name}': cast it to a number first")
    stride, dilation, pads = _geometry(x, kernel, stride, dilation, padding, "max_pool2d")
    return make("max_pool2d", (x,), {"kernel": kernel, "stride": stride, "pads": pads, "dilation": dilation})


@_scoped
def avg_pool2d(x, kernel, stride=None, padding="VALID", count_include_pad=True):
    """Mean over kernel windows of NCHW ``x``.

    ``count_include_pad=True`` (PyTorch's default) divides by the kernel area;
    False divides by the number of real (unpadded) elements, as TF's "SAME" does.
    """
    x = _float(x)
    kernel = _pair(kernel, "kernel")
    stride = kernel if stride is None else stride
    stride, _, pads = _geometry(x, kernel, stride, 1, padding, "avg_pool2d")
    return make("avg_pool2d", (x,), {"kernel": kernel, "stride": stride, "pads": pads,
                                     "count_include_pad": bool(count_include_pad)})
