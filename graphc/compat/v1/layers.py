"""``tf.layers``: TF1's functional layers, their variables made by ``get_variable`` under a
variable scope named after the layer (``dense/kernel``, ``dense_1/bias``, ``conv2d/kernel``)."""
import numpy as np

from ... import math_ops as m
from ...array_ops import reshape
from ...builder import as_tensor, located
from ...ops.shapes import fmt_shape
from ...errors import ShapeError
from . import nn

__all__ = ["dense", "conv2d", "conv2d_transpose", "max_pooling2d", "average_pooling2d", "dropout", "flatten",
           "batch_normalization"]


def _scope(name, default, reuse):
    from ...variable_scope import variable_scope
    return variable_scope(name, default_name=default, reuse=reuse)


def _variable(name, shape, initializer, regularizer, trainable, dtype):
    from ...variable_scope import get_variable
    return get_variable(name, shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
                        trainable=trainable)


def _bias_initializer(initializer):
    from ... import initializers
    return initializers.zeros_initializer() if initializer is None else initializer


def _unsupported(**arguments):
    for name, value in arguments.items():
        if value is not None:
            from .unsupported import UnsupportedError
            raise UnsupportedError(f"tf.layers {name}: graphc's layers take no {name}")


@located
def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None, bias_initializer=None,
          kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
          bias_constraint=None, trainable=True, name=None, reuse=None):
    """``activation(inputs @ kernel + bias)`` over the last axis (kernel glorot-uniform, bias zeros)."""
    _unsupported(activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                 bias_constraint=bias_constraint)
    x = as_tensor(inputs)
    if x.shape[-1] is None:
        raise ShapeError(f"dense needs the last size of '{x.name}' {fmt_shape(x.shape)} to be known")
    with _scope(name, "dense", reuse):
        kernel = _variable("kernel", (x.shape[-1], int(units)), kernel_initializer, kernel_regularizer, trainable,
                           x.dtype)
        y = m.matmul(x, kernel) if x.ndim == 2 else reshape(m.matmul(reshape(x, (-1, x.shape[-1])), kernel),
                                                              tuple(-1 if d is None else d for d in x.shape[:-1])
                                                              + (int(units),))
        if use_bias:
            y = y + _variable("bias", (int(units),), _bias_initializer(bias_initializer), bias_regularizer,
                              trainable, x.dtype)
        return activation(y) if activation is not None else y


def _pair(v):
    return (int(v), int(v)) if isinstance(v, int) else tuple(int(a) for a in v)


def _data_format(data_format):
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return "NHWC" if data_format == "channels_last" else "NCHW"


@located
def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
           dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer=None, bias_initializer=None,
           kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
    """A 2-D convolution layer: an HWIO ``kernel`` and a ``bias`` per filter."""
    _unsupported(activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                 bias_constraint=bias_constraint)
    x = as_tensor(inputs)
    fmt = _data_format(data_format)
    channels = x.shape[3 if fmt == "NHWC" else 1]
    kh, kw = _pair(kernel_size)
    with _scope(name, "conv2d", reuse):
        kernel = _variable("kernel", (kh, kw, channels, int(filters)), kernel_initializer, kernel_regularizer,
                           trainable, x.dtype)
        y = nn.conv2d(x, kernel, strides=_pair(strides), padding=padding.upper(), data_format=fmt,
                      dilations=_pair(dilation_rate))
        return _bias_activation(y, filters, use_bias, bias_initializer, bias_regularizer, trainable, fmt, activation)


def _bias_activation(y, filters, use_bias, bias_initializer, bias_regularizer, trainable, fmt, activation):
    """A convolution layer's ``bias`` per filter (when ``use_bias``), then its activation."""
    if use_bias:
        bias = _variable("bias", (int(filters),), _bias_initializer(bias_initializer), bias_regularizer,
                         trainable, y.dtype)
        y = nn.bias_add(y, bias, data_format=fmt)
    return activation(y) if activation is not None else y


@located
def conv2d_transpose(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                     activation=None, use_bias=True, kernel_initializer=None, bias_initializer=None,
                     kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                     bias_constraint=None, trainable=True, name=None, reuse=None):
    """A transposed 2-D convolution layer: a ``kernel`` (height, width, filters, in_channels)
    and a ``bias`` per filter; the output is ``H*stride`` for "same", ``H*stride + max(k -
    stride, 0)`` for "valid", as TF1's layer computes it."""
    _unsupported(activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                 bias_constraint=bias_constraint)
    x = as_tensor(inputs)
    fmt = _data_format(data_format)
    if x.ndim != 4 or any(d is None for d in x.shape[1:]):
        raise ShapeError(f"conv2d_transpose needs a 4-D input with known sizes after the batch, got '{x.name}' "
                         f"{fmt_shape(x.shape)}")
    channels, size = (x.shape[3], x.shape[1:3]) if fmt == "NHWC" else (x.shape[1], x.shape[2:4])
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(strides)
    mode = padding.upper()
    if mode not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    out = [n * s if mode == "SAME" else n * s + max(k - s, 0) for n, k, s in zip(size, (kh, kw), (sh, sw))]
    with _scope(name, "conv2d_transpose", reuse):
        kernel = _variable("kernel", (kh, kw, int(filters), channels), kernel_initializer, kernel_regularizer,
                           trainable, x.dtype)
        shape = [-1] + (out + [int(filters)] if fmt == "NHWC" else [int(filters)] + out)
        y = nn.conv2d_transpose(x, kernel, shape, strides=(sh, sw), padding=mode, data_format=fmt)
        return _bias_activation(y, filters, use_bias, bias_initializer, bias_regularizer, trainable, fmt, activation)


@located
def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                        beta_initializer=None, gamma_initializer=None, moving_mean_initializer=None,
                        moving_variance_initializer=None, beta_regularizer=None, gamma_regularizer=None,
                        beta_constraint=None, gamma_constraint=None, training=False, trainable=True, name=None,
                        reuse=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99, fused=None,
                        virtual_batch_size=None, adjustment=None):
    """TF1's batch normalization layer over ``axis`` (default the last: NHWC channels).

    Variables ``gamma`` (ones), ``beta`` (zeros), ``moving_mean`` (zeros) and
    ``moving_variance`` (ones, these two not trainable) under a scope named after the layer.
    ``training`` (a Python bool or a bool Tensor): normalize by the batch's mean and
    (biased) variance and put the moving-average updates ``moving -= (moving - batch) *
    (1 - momentum)`` into ``tf.GraphKeys.UPDATE_OPS``, which the program runs (``with
    tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)): train_op = ...``);
    else normalize by the moving statistics (a bool Tensor picks per run, and the updates
    then change nothing on runs where it is False). As TF1, a 4-D input normalized on axis
    1 or 3 takes the fused path unless ``fused=False``: its moving variance averages the
    unbiased batch variance (n/(n-1)), other inputs' the biased one.
    """
    _unsupported(beta_constraint=beta_constraint, gamma_constraint=gamma_constraint,
                 renorm_clipping=renorm_clipping, virtual_batch_size=virtual_batch_size, adjustment=adjustment)
    if renorm:
        from .unsupported import UnsupportedError
        raise UnsupportedError("tf.layers.batch_normalization(renorm=True): batch renormalization")
    from ... import initializers as inits
    from ...state import assign_sub
    from ...tensor import Tensor
    x = as_tensor(inputs)
    rank = x.ndim
    axes = sorted({int(a) % rank for a in ([axis] if isinstance(axis, int) else axis)})
    dims = [x.shape[a] for a in axes]
    if any(d is None for d in dims):
        raise ShapeError(f"batch_normalization needs the size of axis {axis} of '{x.name}' {fmt_shape(x.shape)}")
    param_shape = tuple(dims)
    broadcast = tuple(x.shape[a] if a in axes else 1 for a in range(rank))
    reduce = tuple(a for a in range(rank) if a not in axes)
    fused = fused is not False and rank == 4 and axes in ([1], [3])
    with _scope(name, "batch_normalization", reuse):
        gamma = _variable("gamma", param_shape, gamma_initializer or inits.ones_initializer(), gamma_regularizer,
                          trainable, x.dtype) if scale else None
        beta = _variable("beta", param_shape, beta_initializer or inits.zeros_initializer(), beta_regularizer,
                         trainable, x.dtype) if center else None
        moving_mean = _variable("moving_mean", param_shape, moving_mean_initializer or inits.zeros_initializer(),
                                None, False, x.dtype)
        moving_variance = _variable("moving_variance", param_shape,
                                    moving_variance_initializer or inits.ones_initializer(), None, False, x.dtype)
        shaped = (lambda v: v if v is None or v.shape == broadcast else reshape(v, broadcast))

        def normalized(mean, variance):
            return nn.batch_normalization(x, mean, variance, shaped(beta), shaped(gamma), epsilon)

        if training is False:
            return normalized(shaped(moving_mean), shaped(moving_variance))
        mean, variance = nn.moments(x, reduce, keep_dims=True)
        y = normalized(mean, variance)
        if isinstance(training, Tensor):
            y = m.where(training, y, normalized(shaped(moving_mean), shaped(moving_variance)))
        if fused:   # TF1's fused kernel hands the moving average the unbiased variance
            if all(x.shape[a] is not None for a in reduce):
                count = int(np.prod([x.shape[a] for a in reduce]))
                variance = variance * (count / max(count - 1, 1))
            else:   # (the batch is known as the program runs)
                from ...array_ops import ones_like
                count = m.sum(ones_like(x), reduce, keepdims=True)
                variance = variance * (count / m.maximum(count - 1.0, 1.0))
        from . import add_to_collection, GraphKeys
        decay = 1.0 - float(momentum)
        for var, stat in ((moving_mean, mean), (moving_variance, variance)):
            delta = (var - reshape(stat, param_shape)) * decay
            if isinstance(training, Tensor):
                from ...array_ops import zeros_like
                delta = m.where(training, delta, zeros_like(delta))
            with x.graph.as_default():
                add_to_collection(GraphKeys.UPDATE_OPS, assign_sub(var, delta, name="AssignMovingAvg"))
        return y


def _pooling(pool, inputs, pool_size, strides, padding, data_format):
    fmt = _data_format(data_format)
    return pool(inputs, _pair(pool_size), _pair(strides), padding.upper(), data_format=fmt)


@located
def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    """2-D max pooling."""
    return _pooling(nn.max_pool, inputs, pool_size, strides, padding, data_format)


@located
def average_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    """2-D average pooling (a "same" window's mean counts only its real elements)."""
    return _pooling(nn.avg_pool, inputs, pool_size, strides, padding, data_format)


@located
def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """Dropout with ``rate`` when ``training`` (a Python bool or a bool Tensor, e.g. a
    placeholder), else the identity."""
    x = as_tensor(inputs)
    if training is False:
        return x
    dropped = nn.dropout(x, rate=rate, noise_shape=noise_shape, seed=seed, name=name)
    if training is True:
        return dropped
    return m.where(as_tensor(training, graph=x.graph), dropped, x)


@located
def flatten(inputs, name=None, data_format="channels_last"):
    """Every axis after the first, as one (in channels-last order: a channels_first input's
    channel axis is moved last first, as TF does)."""
    x = as_tensor(inputs)
    if data_format == "channels_first" and x.ndim >= 3:
        from ...array_ops import transpose
        x = transpose(x, (0,) + tuple(range(2, x.ndim)) + (1,))
    if any(d is None for d in x.shape[1:]):
        raise ShapeError(f"flatten needs the sizes after the batch of '{x.name}' {fmt_shape(x.shape)} to be known")
    n = 1
    for d in x.shape[1:]:
        n *= d
    return reshape(x, (-1, n), name=name)


def __getattr__(name):
    from .unsupported import feature_error
    raise feature_error(name, "tf.layers")
