"""``tf.nn`` with TF1's signatures: NHWC images and HWIO filters by default.

graphc's convolution and pooling work in NCHW with OIHW weights (graphc.nn); for NHWC
the functions here transpose on the way in and out. Those transposes cost no pass over
memory of their own: the fuser reads a transpose as index arithmetic inside the kernel
next to it (the im2col gather, the bias-and-relu epilogue, the pooling windows), so an
NHWC network runs the kernels of the NCHW one (docs/tf1.md has the measurement).
"""
import numpy as np

from ... import dtypes as dt
from ... import math_ops as m
from ... import nn as gnn
from ...array_ops import transpose
from ...builder import as_tensor, located
from ...errors import ShapeError
from ...math_ops import relu, sigmoid, softplus, tanh  # noqa: F401  (tf.nn names)
from ...ops.shapes import fmt_shape
from ...tensor import Tensor
from .random import stateful_seed

__all__ = ["relu", "relu6", "elu", "selu", "leaky_relu", "sigmoid", "tanh", "softplus", "softsign", "softmax",
           "log_softmax", "bias_add", "dropout", "l2_loss", "moments", "batch_normalization",
           "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
           "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits", "conv2d",
           "depthwise_conv2d", "conv2d_transpose", "fused_batch_norm", "max_pool", "avg_pool", "max_pool2d",
           "avg_pool2d", "embedding_lookup", "l2_normalize", "swish", "silu", "gelu"]

_TO_NCHW, _TO_NHWC, _HWIO_TO_OIHW = (0, 3, 1, 2), (0, 2, 3, 1), (3, 2, 0, 1)


@located
def relu6(features, name=None):
    """``min(max(x, 0), 6)``."""
    return m.clip(features, 0, 6, name=name)


@located
def elu(features, name=None):
    """``x`` for x > 0, ``exp(x) - 1`` otherwise."""
    x = as_tensor(features)
    return m.where(m.greater(x, 0), x, m.expm1(m.minimum(x, 0)), name=name)


@located
def selu(features, name=None):
    """Scaled ELU with TF's constants."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    x = as_tensor(features)
    return m.multiply(scale, m.where(m.greater(x, 0), x, alpha * m.expm1(m.minimum(x, 0))), name=name)


@located
def leaky_relu(features, alpha=0.2, name=None):
    """``max(x, alpha * x)`` (TF1's default alpha 0.2)."""
    x = as_tensor(features)
    return m.where(m.greater(x, 0), x, x * alpha, name=name)


@located
def softsign(features, name=None):
    """``x / (1 + |x|)``."""
    x = as_tensor(features)
    return m.divide(x, 1 + m.abs(x), name=name)


@located
def swish(features, beta=1.0, name=None):
    """``x * sigmoid(beta * x)``."""
    x = as_tensor(features)
    return m.multiply(x, m.sigmoid(x * beta), name=name)


silu = swish


@located
def gelu(features, approximate=False, name=None):
    """GELU, exact (erf) unless ``approximate`` (tanh form), as TF's default."""
    return gnn.gelu(features, "tanh" if approximate else "none")


def _axis_arg(axis, dim, default=-1):
    if axis is not None and dim is not None:
        raise ValueError("cannot specify both 'axis' and 'dim'")
    return default if axis is None and dim is None else int(axis if axis is not None else dim)


@located
def softmax(logits, axis=None, name=None, dim=None):
    """``tf.nn.softmax`` along ``axis`` (TF1's old ``dim``), the last by default."""
    return gnn.softmax(logits, _axis_arg(axis, dim))


@located
def log_softmax(logits, axis=None, name=None, dim=None):
    """``tf.nn.log_softmax`` along ``axis`` (TF1's old ``dim``), the last by default."""
    return gnn.log_softmax(logits, _axis_arg(axis, dim))


@located
def bias_add(value, bias, data_format=None, name=None):
    """``value + bias`` along the channel axis: the last (NHWC, the default) or axis 1 (NCHW)."""
    value, bias = as_tensor(value), as_tensor(bias)
    if bias.ndim != 1:
        raise ShapeError(f"bias_add: bias '{bias.name}' must be 1-D, got {fmt_shape(bias.shape)}")
    channels_first = data_format is not None and data_format.upper().startswith("NC")
    axis = 1 if channels_first else value.ndim - 1
    if value.ndim < 2 or value.shape[axis] not in (None, bias.shape[0]):
        raise ShapeError(f"bias_add: '{value.name}' {fmt_shape(value.shape)} has no channel axis of size "
                         f"{bias.shape[0]} for bias '{bias.name}' ({data_format or 'NHWC'})")
    if channels_first:
        bias = bias.reshape((bias.shape[0],) + (1,) * (value.ndim - 2))
    return m.add(value, bias, name=name)


@located
def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """``tf.nn.dropout``: each element is kept with probability ``keep_prob`` (or ``1 - rate``)
    and scaled by ``1/keep_prob``, with a new mask every run (compat.v1.random). ``keep_prob``
    may be a number or a scalar Tensor (a placeholder fed 1.0 for evaluation)."""
    from ... import random as gc_random
    x = as_tensor(x)
    if (keep_prob is None) == (rate is None):
        raise ValueError("dropout needs exactly one of keep_prob and rate")
    keep = (1 - rate) if keep_prob is None else keep_prob
    if isinstance(keep, (int, float)) and not 0 < keep <= 1:
        raise ValueError(f"dropout keep_prob must be in (0, 1], got {keep}")
    keep = m.cast(as_tensor(keep, dtype=x.dtype, graph=x.graph), x.dtype)
    with x.graph.name_scope(name or "dropout"), stateful_seed(seed, x.graph) as s:
        shape = None if noise_shape is None else tuple(int(d) for d in noise_shape)
        kept = gc_random.bernoulli(shape, p=m.cast(keep, dt.float32), seed=s, like=x if shape is None else None)
        return m.where(kept, x / keep, m.cast(0, x.dtype))


@located
def l2_loss(t, name=None):
    """``sum(t**2) / 2``."""
    return m.multiply(m.sum(m.square(t)), 0.5, name=name)


@located
def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """``x / sqrt(max(sum(x**2, axis), epsilon))``."""
    axis = _axis_arg(axis, dim, None)
    x = as_tensor(x)
    return m.multiply(x, m.rsqrt(m.maximum(m.sum(m.square(x), axis, keepdims=True), epsilon)), name=name)


@located
def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """(mean, variance) over ``axes`` (the biased variance, as TF; ``gc.nn.moments``)."""
    keep = bool(keepdims if keepdims is not None else keep_dims)
    return gnn.moments(x, tuple(int(a) for a in axes), keepdims=keep)


@located
def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """TF's ``x * inv + (offset - mean * inv)``, ``inv = scale / sqrt(variance + eps)``
    (offset and scale may be None; ``gc.nn.batch_normalization``)."""
    return gnn.batch_normalization(x, mean, variance, offset, scale, variance_epsilon)


@located
def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon=0.001, data_format="NHWC",
                     is_training=True, name=None, exponential_avg_factor=1.0):
    """``tf.nn.fused_batch_norm`` on a 4-D ``x`` (channels last for NHWC, on axis 1 for NCHW):
    ``(y, mean, variance)``. Training (``is_training=True``): ``x`` normalized by its batch
    statistics (biased variance), and the returned variance is the unbiased one
    (n/(n-1), the one TF's kernel hands to the moving averages); with
    ``exponential_avg_factor`` f < 1 both come back averaged into ``mean``/``variance``
    (``(1-f)*old + f*batch``). Inference: normalized by ``mean`` and ``variance``, which come
    back as given. As TF, ``epsilon`` is raised to at least 1.001e-5."""
    fmt = _format(data_format)
    x = as_tensor(x)
    if x.ndim != 4:
        raise ShapeError(f"fused_batch_norm needs a 4-D input, got '{x.name}' {fmt_shape(x.shape)}")
    epsilon = max(float(epsilon), 1.001e-5)
    axis = 3 if fmt == "NHWC" else 1
    shape = (1, 1, 1, -1) if fmt == "NHWC" else (1, -1, 1, 1)
    reduce = tuple(a for a in range(4) if a != axis)
    scale, offset = as_tensor(scale, graph=x.graph), as_tensor(offset, graph=x.graph)
    if not is_training:
        if mean is None or variance is None:
            raise ValueError("fused_batch_norm with is_training=False needs mean and variance")
        mean, variance = as_tensor(mean, graph=x.graph), as_tensor(variance, graph=x.graph)
        y = gnn.batch_normalization(x, mean.reshape(shape), variance.reshape(shape), offset.reshape(shape),
                                    scale.reshape(shape), epsilon)
        return y, mean, variance
    batch_mean, batch_var = gnn.moments(x, reduce, keepdims=True)
    y = gnn.batch_normalization(x, batch_mean, batch_var, offset.reshape(shape), scale.reshape(shape), epsilon)
    count = 1
    for a in reduce:
        if x.shape[a] is None:
            raise ShapeError(f"fused_batch_norm in training needs the static shape of '{x.name}' "
                             f"{fmt_shape(x.shape)} (for the unbiased variance)")
        count *= x.shape[a]
    batch_mean = batch_mean.reshape((-1,))
    unbiased = batch_var.reshape((-1,)) * (count / max(count - 1, 1))
    f = float(exponential_avg_factor)
    if f != 1.0:
        if mean is None or variance is None:
            raise ValueError("fused_batch_norm with exponential_avg_factor != 1 needs mean and variance")
        batch_mean = as_tensor(mean, graph=x.graph) * (1 - f) + batch_mean * f
        unbiased = as_tensor(variance, graph=x.graph) * (1 - f) + unbiased * f
    return y, batch_mean, unbiased


def _check_sentinel(sentinel, fn):
    if sentinel is not None:
        raise ValueError(f"{fn} takes labels= and logits= by name only (TF1's rule)")


@located
def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None):
    """Per-example cross-entropy of ``logits`` against probability ``labels``; as in TF1,
    no gradient flows into ``labels`` (the _v2 function lets it)."""
    _check_sentinel(_sentinel, "softmax_cross_entropy_with_logits")
    return gnn.softmax_cross_entropy(logits, m.stop_gradient(as_tensor(labels)), _axis_arg(axis, dim))


@located
def softmax_cross_entropy_with_logits_v2(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None):
    """Per-example cross-entropy of ``logits`` against probability ``labels`` (gradients
    flow into both)."""
    _check_sentinel(_sentinel, "softmax_cross_entropy_with_logits_v2")
    return gnn.softmax_cross_entropy(logits, labels, _axis_arg(axis, dim))


@located
def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Per-example cross-entropy of ``logits`` against integer class ``labels``; a label
    outside [0, classes) gives NaN (TF1 on GPU; TF1 on CPU raises)."""
    _check_sentinel(_sentinel, "sparse_softmax_cross_entropy_with_logits")
    return gnn.sparse_softmax_cross_entropy(logits, labels)


@located
def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """``max(x, 0) - x*z + log(1 + exp(-|x|))``, TF's stable form."""
    _check_sentinel(_sentinel, "sigmoid_cross_entropy_with_logits")
    x = as_tensor(logits)
    z = m.cast(as_tensor(labels), x.dtype)
    return m.add(m.maximum(x, 0) - x * z, m.log1p(m.exp(-m.abs(x))), name=name)


@located
def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True, max_norm=None):
    """Rows ``ids`` of one ``params`` tensor (a list of shards is not supported)."""
    from ...array_ops import gather
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            from .unsupported import UnsupportedError
            raise UnsupportedError("embedding_lookup over sharded params (a list of several tensors)")
        params = params[0]
    return gather(params, ids, 0, name=name)


# -- convolution and pooling ---------------------------------------------------------------
def _format(data_format):
    fmt = (data_format or "NHWC").upper()
    if fmt not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    return fmt


def _spatial_list(values, fmt, what, default=1):
    """TF's per-axis lists ([1, sh, sw, 1] in NHWC), ints or pairs, as (h, w) pairs; the
    batch and channel entries must be 1."""
    if values is None:
        return (default, default)
    if isinstance(values, int):
        return (values, values)
    values = [int(v) for v in values]
    if len(values) == 1:
        return (values[0], values[0])
    if len(values) == 2:
        return tuple(values)
    if len(values) != 4:
        raise ValueError(f"{what} must have 1, 2 or 4 entries, got {values}")
    outer = (values[0], values[3]) if fmt == "NHWC" else (values[0], values[1])
    if outer != (1, 1):
        raise ValueError(f"{what} {values}: graphc (like TF on CPU) needs 1 for the batch and channel entries")
    return tuple(values[1:3]) if fmt == "NHWC" else tuple(values[2:4])


def _padding(padding, fmt):
    if isinstance(padding, str):
        return padding.upper()
    pads = [tuple(int(v) for v in p) for p in padding]   # TF's explicit [[0, 0], [t, b], [l, r], [0, 0]]
    if len(pads) != 4:
        raise ValueError(f"explicit padding needs 4 pairs, got {padding}")
    return tuple(pads[1:3]) if fmt == "NHWC" else tuple(pads[2:4])


def _to_nchw(x, fmt):
    return transpose(x, _TO_NCHW) if fmt == "NHWC" else x


def _from_nchw(y, fmt):
    return transpose(y, _TO_NHWC) if fmt == "NHWC" else y


@located
def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,  # noqa: A002
           data_format="NHWC", dilations=(1, 1, 1, 1), name=None, filters=None):
    """``tf.nn.conv2d``: ``input`` NHWC (or NCHW), ``filter`` HWIO (height, width, in, out),
    ``strides``/``dilations`` TF's 4-entry lists, ``padding`` "SAME", "VALID" or explicit pairs."""
    if filter is None:
        filter = filters
    if padding is None:
        raise ValueError("conv2d needs padding ('SAME', 'VALID' or explicit pairs)")
    fmt = _format(data_format)
    x, w = as_tensor(input), as_tensor(filter)
    if w.ndim != 4:
        raise ShapeError(f"conv2d filter '{w.name}' must be HWIO (height, width, in, out), got {fmt_shape(w.shape)}")
    channels = x.shape[3 if fmt == "NHWC" else 1] if x.ndim == 4 else None
    groups = 1 if channels is None or w.shape[2] in (None, channels) else channels // w.shape[2]
    y = gnn.conv2d(_to_nchw(x, fmt), transpose(w, _HWIO_TO_OIHW), _spatial_list(strides, fmt, "strides"),
                   _padding(padding, fmt), _spatial_list(dilations, fmt, "dilations"), groups)
    return _from_nchw(y, fmt)


@located
def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None, data_format=None,  # noqa: A002
                     dilations=None):
    """``tf.nn.depthwise_conv2d``: ``filter`` (h, w, in, multiplier); output channel
    ``c * multiplier + k`` convolves input channel c with filter ``[..., c, k]``."""
    fmt = _format(data_format)
    x, w = as_tensor(input), as_tensor(filter)
    kh, kw, cin, mult = w.shape
    oihw = transpose(w, (2, 3, 0, 1)).reshape((cin * mult, 1, kh, kw))
    dil = _spatial_list(rate if rate is not None else dilations, fmt, "dilations")
    y = gnn.conv2d(_to_nchw(x, fmt), oihw, _spatial_list(strides, fmt, "strides"), _padding(padding, fmt), dil,
                   groups=cin)
    return _from_nchw(y, fmt)


def _static_entries(shape, what):
    """The entries of ``shape`` (a list of ints and scalar Tensors, a numpy array, or a 1-D
    Tensor: a constant or a ``tf.stack`` of scalars), None where one is computed
    (``tf.shape(x)[0]``)."""
    if isinstance(shape, Tensor):
        node = shape.node
        if node.op == "constant":
            return [int(v) for v in np.asarray(node.attrs["value"]).reshape(-1)]
        if node.op == "concat" and all(i.op == "expand_dims" for i in node.inputs):
            return [_static_entry(shape.graph.tensor(i.inputs[0])) for i in node.inputs]
        raise ShapeError(f"{what} '{shape.name}' must be known when the graph is built (a list, or a tf.stack of "
                         "numbers; only the batch entry may be computed)")
    return [_static_entry(d) for d in np.asarray(shape, dtype=object).reshape(-1)]


def _static_entry(d):
    if isinstance(d, Tensor):
        return int(np.asarray(d.node.attrs["value"])) if d.op == "constant" else None
    return int(d)


@located
def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME",  # noqa: A002
                     data_format="NHWC", name=None, input=None, filters=None, dilations=None):  # noqa: A002
    """``tf.nn.conv2d_transpose``: the gradient of ``conv2d`` with respect to its input.
    ``value`` NHWC (or NCHW); ``filter`` (height, width, out_channels, in_channels), TF's
    layout; ``output_shape`` the result's 4 sizes (its batch entry may be computed:
    ``tf.stack([tf.shape(x)[0], 14, 14, 32])``); ``strides``/``dilations`` TF's lists;
    ``padding`` "SAME", "VALID" or explicit pairs, TF's rule for the given output size."""
    value = input if value is None else value
    filter = filters if filter is None else filter
    if output_shape is None or strides is None:
        raise ValueError("conv2d_transpose needs output_shape and strides")
    fmt = _format(data_format)
    x, w = as_tensor(value), as_tensor(filter)
    if w.ndim != 4 or any(d is None for d in w.shape):
        raise ShapeError(f"conv2d_transpose filter '{w.name}' must be static (height, width, out_channels, "
                         f"in_channels), got {fmt_shape(w.shape)}")
    if x.ndim != 4:
        raise ShapeError(f"conv2d_transpose needs a 4-D input, got '{x.name}' {fmt_shape(x.shape)}")
    channels = x.shape[3 if fmt == "NHWC" else 1]
    if channels != w.shape[3]:
        raise ShapeError(f"conv2d_transpose: input '{x.name}' {fmt_shape(x.shape)} has {channels} channels but "
                         f"filter '{w.name}' {fmt_shape(w.shape)} takes {w.shape[3]} (its last axis)")
    out = _static_entries(output_shape, "conv2d_transpose output_shape")
    if len(out) != 4:
        raise ShapeError(f"conv2d_transpose output_shape must have 4 entries, got {out}")
    n, spatial, c = (out[0], out[1:3], out[3]) if fmt == "NHWC" else (out[0], out[2:4], out[1])
    if None in spatial or c is None:
        raise ShapeError(f"conv2d_transpose output_shape {out}: only the batch entry may be computed")
    if c != w.shape[2]:
        raise ShapeError(f"conv2d_transpose output_shape {out} has {c} channels but filter '{w.name}' "
                         f"{fmt_shape(w.shape)} makes {w.shape[2]} (its third axis)")
    if n is not None and n >= 0 and x.shape[0] is not None and n != x.shape[0]:
        raise ShapeError(f"conv2d_transpose output_shape {out} has batch {n}, the input '{x.name}' {x.shape[0]}")
    xc = _to_nchw(x, fmt)
    stride, dilation = _spatial_list(strides, fmt, "strides"), _spatial_list(dilations, fmt, "dilations")
    kernel = tuple(w.shape[:2])
    pads, extra = gnn._transpose_to_size(tuple(xc.shape[2:]), tuple(spatial), kernel, stride, dilation,
                                         _padding(padding, fmt), "conv2d_transpose")
    y = gnn.conv2d_transpose(xc, transpose(w, _HWIO_TO_OIHW), stride, pads, extra, dilation)
    return _from_nchw(y, fmt)


def _pool(gc_pool, value, ksize, strides, padding, data_format, extra=None):
    fmt = _format(data_format)
    kernel = _spatial_list(ksize, fmt, "ksize")
    stride = _spatial_list(strides, fmt, "strides")
    y = gc_pool(_to_nchw(as_tensor(value), fmt), kernel, stride, _padding(padding, fmt), **(extra or {}))
    return _from_nchw(y, fmt)


@located
def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):  # noqa: A002
    """``tf.nn.max_pool``: ``ksize``/``strides`` TF's lists ([1, kh, kw, 1] in NHWC)."""
    return _pool(gnn.max_pool2d, value if input is None else input, ksize, strides, padding, data_format)


@located
def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):  # noqa: A002
    """``tf.nn.avg_pool``: as TF, a "SAME" window's mean counts only its real elements."""
    return _pool(gnn.avg_pool2d, value if input is None else input, ksize, strides, padding, data_format,
                 {"count_include_pad": False})


max_pool2d = max_pool
avg_pool2d = avg_pool


def __getattr__(name):
    from .unsupported import feature_error
    raise feature_error(name, "tf.nn")
