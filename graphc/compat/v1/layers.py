"""``tf.layers``: TF1's functional layers, their variables made by ``get_variable`` under a
variable scope named after the layer (``dense/kernel``, ``dense_1/bias``, ``conv2d/kernel``)."""
from ... import math_ops as m
from ...array_ops import reshape
from ...builder import as_tensor, located
from ...ops.shapes import fmt_shape
from ...errors import ShapeError
from . import nn

__all__ = ["dense", "conv2d", "max_pooling2d", "average_pooling2d", "dropout", "flatten"]


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
        if use_bias:
            bias = _variable("bias", (int(filters),), _bias_initializer(bias_initializer), bias_regularizer,
                             trainable, x.dtype)
            y = nn.bias_add(y, bias, data_format=fmt)
        return activation(y) if activation is not None else y


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
