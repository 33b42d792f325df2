"""Convolution and pooling layers on NCHW tensors (as gc.nn: weights (out, in, kh, kw))."""
import numpy as np

from .. import array_ops, nn
from ..errors import ShapeError
from ..nn import _pair
from .base import Layer, glorot_uniform
from .core import _Activated, _float


def _padding(padding):
    mode = str(padding).lower()
    if mode not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return mode.upper()


class Conv2D(_Activated):
    """2-D convolution of NCHW inputs: ``activation(conv2d(x, kernel) + bias)``.

    kernel (filters, in_channels, kh, kw): glorot_uniform (fans in*kh*kw, filters*kh*kw);
    bias (filters,): zeros. ``padding`` "valid" or "same" (TF rule: output ceil(in/stride)).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True,
                 name=None, seed=None):
        super().__init__(activation, name=name, seed=seed)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = _padding(padding)
        self.use_bias = bool(use_bias)

    def _config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding.lower(), "use_bias": self.use_bias, **super()._config()}

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None:
            raise ShapeError(f"Conv2D '{self.name}' needs NCHW inputs with static channels, got {input_shape}")
        c, (kh, kw) = input_shape[1], self.kernel_size
        shape = (self.filters, c, kh, kw)
        self.kernel = self.add_weight("kernel", glorot_uniform(self.rng("kernel"), shape, c * kh * kw,
                                                               self.filters * kh * kw))
        self.bias = self.add_weight("bias", np.zeros(self.filters)) if self.use_bias else None

    def call(self, x, training=False):
        z = nn.conv2d(_float(x), self.kernel, stride=self.strides, padding=self.padding)
        if self.bias is not None:
            z = z + array_ops.reshape(self.bias, (self.filters, 1, 1))
        return self._activate(z)


class _Pool2D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name=name)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides, "strides")
        self.padding = _padding(padding)

    def _config(self):
        return {"pool_size": list(self.pool_size), "strides": list(self.strides), "padding": self.padding.lower()}


class MaxPool2D(_Pool2D):
    """Max over ``pool_size`` windows of NCHW inputs (``strides`` default: ``pool_size``)."""

    def call(self, x, training=False):
        return nn.max_pool2d(x, self.pool_size, self.strides, padding=self.padding)


class AvgPool2D(_Pool2D):
    """Mean over ``pool_size`` windows of NCHW inputs; with "same" padding each window is
    averaged over its real (unpadded) elements, as Keras does."""

    def call(self, x, training=False):
        return nn.avg_pool2d(x, self.pool_size, self.strides, padding=self.padding,
                             count_include_pad=False)
