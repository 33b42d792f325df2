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


# -- transposed convolution --------------------------------------------------
def _transposed_axis(n, k, s, d, pads, extra):
    """One spatial axis of a transposed convolution: (pads, size, trail) of the primitive
    ``conv2d_backward_input`` (the gradient of a convolution of the same geometry) and the
    zeros to append after it. The full transposed convolution has ``F = (n-1)s + d(k-1) + 1``
    positions; the output is positions ``[t, F - b + extra)`` of it (zeros past F). With
    ``extra < s`` that is the primitive with the forward pads (t, b) and ``size`` the output
    size; a larger ``extra`` (allowed where it is below the dilation) crops less at the
    bottom instead, or appends the zero rows no window reaches."""
    (t, b) = pads
    full = (n - 1) * s + d * (k - 1) + 1
    out = full - t - b + extra
    if extra < s:
        return (t, b), out, 0
    if b >= extra:
        return (t, b - extra), out, 0
    return (t, 0), full - t, extra - b


@_scoped
def conv2d_transpose(x, w, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Transposed 2-D convolution of NCHW ``x`` with ``w`` of shape (in, out/groups, kh, kw),
    as ``torch.nn.functional.conv_transpose2d``: the gradient of ``conv2d`` with respect to
    its input, for a convolution of the same stride, padding, dilation and groups.

    Output size per axis: ``(H - 1)*stride - pad_total + dilation*(k - 1) + output_padding + 1``.
    ``padding``: an int, (ph, pw), ((top, bottom), (left, right)), "VALID" (none) or
    "SAME" (TF's rule: the pads of a "SAME" convolution of an ``H*stride`` input, so the
    output is ``H*stride``, plus ``output_padding``). ``output_padding`` (int or pair) adds
    rows and columns at the bottom and right; each must be below the stride or the
    dilation, as in PyTorch. One primitive op, ``conv2d_backward_input`` (whose weight
    layout is this one's), so its gradients are ``conv2d`` and ``conv2d_backward_filter``.
    """
    x, w = as_tensor(x), as_tensor(w)
    if w.ndim != 4 or any(d is None for d in w.shape):
        raise ShapeError(f"conv2d_transpose weights must be static (in, out/groups, kh, kw), got '{w.name}' "
                         f"{fmt_shape(w.shape)}")
    size = _spatial(x, "conv2d_transpose")
    groups = int(groups)
    if groups < 1 or x.shape[1] != w.shape[0] or w.shape[0] % groups:
        raise ShapeError(f"conv2d_transpose: input '{x.name}' {fmt_shape(x.shape)} has {x.shape[1]} channels; "
                         f"weight '{w.name}' {fmt_shape(w.shape)} takes {w.shape[0]} (in, out/groups, kh, kw), "
                         f"which must split into groups={groups}")
    kernel = tuple(w.shape[2:])
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    extra = _pair(output_padding, "output_padding")
    if min(stride) < 1 or min(dilation) < 1:
        raise ShapeError(f"conv2d_transpose of '{x.name}': stride {stride} and dilation {dilation} must be positive")
    for e, s, d in zip(extra, stride, dilation):
        if e < 0 or (e >= s and e >= d):
            raise ShapeError(f"conv2d_transpose of '{x.name}': output_padding {extra} must be non-negative and "
                             f"smaller than the stride {stride} or the dilation {dilation} (per axis)")
    if isinstance(padding, str) and padding.upper() == "SAME":
        pads = _padding("SAME", tuple(n * s for n, s in zip(size, stride)), kernel, stride, dilation)
        # (a kernel narrower than the stride reaches short of H*stride: the rest are zeros, as in TF)
        extra = tuple(e + n * s - ((n - 1) * s + d * (k - 1) + 1 - t - b)
                      for e, n, s, d, k, (t, b) in zip(extra, size, stride, dilation, kernel, pads))
    else:
        pads = _padding(padding, size, kernel, stride, dilation)
    pads = tuple(tuple(int(p) for p in pair) for pair in pads)
    if len(pads) != 2 or any(p < 0 for pair in pads for p in pair):
        raise ShapeError(f"conv2d_transpose of '{x.name}': padding {padding!r} must be non-negative, one pair per "
                         "spatial axis")
    axes = [_transposed_axis(*args) for args in zip(size, kernel, stride, dilation, pads, extra)]
    for _, out, trail in axes:
        if out < 1 or (trail and out - trail < 1):
            raise ShapeError(f"conv2d_transpose of '{x.name}' {fmt_shape(x.shape)}: padding {pads} crops away "
                             f"the whole output (kernel {kernel}, stride {stride}, dilation {dilation}, "
                             f"output_padding {extra})")
    y = make("conv2d_backward_input", (x, w), {
        "stride": stride, "pads": tuple(p for p, _, _ in axes), "dilation": dilation, "groups": groups,
        "size": tuple(out for _, out, _ in axes)})
    trail = tuple(t for _, _, t in axes)
    if any(trail):
        from .array_ops import pad
        y = pad(y, ((0, 0), (0, 0), (0, trail[0]), (0, trail[1])))
    return y


# -- moments and batch normalization ----------------------------------------
def _axes(axes, rank, what):
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    out = []
    for a in axes:
        a = int(a)
        if not -rank <= a < rank:
            raise ShapeError(f"{what}: axis {a} is out of range for rank {rank}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axes}")
    return tuple(sorted(out))


@_scoped
def moments(x, axes, keepdims=False):
    """``(mean, variance)`` of ``x`` over ``axes`` (int or tuple), as ``tf.nn.moments``: the
    biased variance ``mean((x - mean)**2)``. No gradient flows through the mean inside the
    variance (it would be zero: the centered values sum to zero)."""
    x = _float(x)
    axes = _axes(axes, x.ndim, "moments")
    mu = mean(x, axes, keepdims=True)
    variance = mean(square(x - m.stop_gradient(mu)), axes, keepdims=True)
    if not keepdims:
        from .array_ops import squeeze
        mu, variance = squeeze(mu, axes), squeeze(variance, axes)
    return mu, variance


@_scoped
def batch_normalization(x, mean, variance, offset, scale, variance_epsilon):
    """TF's ``tf.nn.batch_normalization``: ``x * inv + (offset - mean * inv)`` with
    ``inv = scale / sqrt(variance + variance_epsilon)``; ``offset`` and ``scale`` may be
    None. The statistics broadcast against ``x`` (shape them so: (C, 1, 1) for NCHW)."""
    x = _float(x)
    inv = rsqrt(as_tensor(variance, graph=x.graph) + variance_epsilon)
    if scale is not None:
        inv = inv * as_tensor(scale, graph=x.graph)
    centered = as_tensor(mean, graph=x.graph) * inv
    shift = -centered if offset is None else as_tensor(offset, graph=x.graph) - centered
    return x * _cast_like(inv, x) + _cast_like(shift, x)


def _cast_like(t, x):
    t = as_tensor(t, graph=x.graph)
    return t if t.dtype == x.dtype else cast(t, x.dtype)


__all__ += ["conv2d_transpose", "moments", "batch_normalization"]


def _transpose_to_size(size, out, kernel, stride, dilation, padding, what):
    """``(pads, output_padding)`` that make ``conv2d_transpose`` of an input of spatial ``size``
    give the spatial size ``out``, by TF's rule (``tf.nn.conv2d_transpose(output_shape=...)``):
    "VALID" no padding, "SAME" the pads of a "SAME" convolution of an ``out``-sized input;
    that convolution must give back ``size``. ``padding`` may also be explicit pairs."""
    pads = tuple(tuple(int(p) for p in pair) for pair in _padding(padding, out, kernel, stride, dilation))
    extra = []
    for n, o, k, s, d, (t, b) in zip(size, out, kernel, stride, dilation, pads):
        reach = d * (k - 1) + 1
        if o < 1 or (o + t + b - reach) // s + 1 != n or o + t + b < reach:
            raise ShapeError(f"{what}: an output of spatial size {tuple(out)} does not fit an input of size "
                             f"{tuple(size)} (kernel {tuple(kernel)}, strides {tuple(stride)}, dilation "
                             f"{tuple(dilation)}, padding {padding!r}): a convolution of the output would not "
                             "give the input's size back")
        extra.append(o - ((n - 1) * s + reach - t - b))
    return pads, tuple(extra)
