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


class Conv2DTranspose(_Activated):
    """Transposed 2-D convolution of NCHW inputs (Keras's ``Conv2DTranspose``):
    ``activation(conv2d_transpose(x, kernel) + bias)``, the gradient of a Conv2D.

    kernel (in_channels, filters, kh, kw) (``gc.nn.conv2d_transpose``'s layout, PyTorch's):
    glorot_uniform as Conv2D's; bias (filters,): zeros. The output size is Keras's: with
    ``output_padding=None``, ``H*stride + max(k - stride, 0)`` for "valid" and ``H*stride``
    for "same"; with ``output_padding`` (int or pair, below the strides),
    ``(H - 1)*stride + k - 2*pad + output_padding`` (pad 0 for "valid", ``k // 2`` for
    "same"), computed as TF computes it (k the dilated kernel size).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                 activation=None, use_bias=True, name=None, seed=None):
        super().__init__(activation, name=name, seed=seed)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = _padding(padding)
        self.output_padding = None if output_padding is None else _pair(output_padding, "output_padding")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        self.use_bias = bool(use_bias)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"Conv2DTranspose: output_padding {self.output_padding} must be smaller than the "
                             f"strides {self.strides}")

    def _config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding.lower(),
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "dilation_rate": list(self.dilation_rate), "use_bias": self.use_bias, **super()._config()}

    def build(self, input_shape):
        if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
            raise ShapeError(f"Conv2DTranspose '{self.name}' needs NCHW inputs with static C, H, W, got "
                             f"{input_shape}")
        c, (kh, kw) = input_shape[1], self.kernel_size
        shape = (c, self.filters, kh, kw)
        self.kernel = self.add_weight("kernel", glorot_uniform(self.rng("kernel"), shape, self.filters * kh * kw,
                                                               c * kh * kw))
        self.bias = self.add_weight("bias", np.zeros(self.filters)) if self.use_bias else None

    def output_size(self, size):
        """The output's spatial size for an input of spatial ``size`` (Keras's rule)."""
        out = []
        for i, n in enumerate(size):
            s, d = self.strides[i], self.dilation_rate[i]
            k = d * (self.kernel_size[i] - 1) + 1
            if self.output_padding is None:
                out.append(n * s + max(k - s, 0) if self.padding == "VALID" else n * s)
            else:
                pad = 0 if self.padding == "VALID" else k // 2
                out.append((n - 1) * s + k - 2 * pad + self.output_padding[i])
        return tuple(out)

    def call(self, x, training=False):
        x = _float(x)
        size = tuple(x.shape[2:])
        pads, extra = nn._transpose_to_size(size, self.output_size(size), self.kernel_size, self.strides,
                                            self.dilation_rate, self.padding,
                                            f"Conv2DTranspose '{self.name}' on '{x.name}'")
        z = nn.conv2d_transpose(x, self.kernel, stride=self.strides, padding=pads, output_padding=extra,
                                dilation=self.dilation_rate)
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
