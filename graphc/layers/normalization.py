"""BatchNormalization: Keras's layer, on NCHW activations (channels on axis 1) by default."""
import numpy as np

from .. import array_ops, math_ops, nn
from ..errors import ShapeError
from ..state import assign
from ..tensor import Tensor
from .base import Layer
from .core import _float


class BatchNormalization(Layer):
    """Batch normalization (Keras's ``BatchNormalization``): per channel on ``axis`` (an int
    or a tuple; default 1, the channels of NCHW images, also right for (batch, features)),

        y = (x - mean) / sqrt(variance + epsilon) * gamma + beta

    Weights: ``gamma`` (ones) and ``beta`` (zeros), trainable (``scale=False`` /
    ``center=False`` leave them out); ``moving_mean`` (zeros) and ``moving_variance``
    (ones), not trainable. The shapes are the sizes of ``axis``.

    ``training=True``: mean and variance of this batch over every axis but ``axis`` (the
    biased variance, ``mean((x - mean)**2)``, as Keras), and the call adds the updates

        moving_mean     = moving_mean * momentum + mean * (1 - momentum)
        moving_variance = moving_variance * momentum + variance * (1 - momentum)

    (assign ops) to ``layer.updates``; ``Sequential.fit`` runs them with every step.
    ``training=False`` (the default): the moving statistics. ``training`` may also be a
    bool scalar Tensor (a placeholder): both forms are built, it picks one per run, and the
    updates leave the moving statistics unchanged on a run where it is False.

    ``mask`` (call argument, Keras 3's): where the batch statistics are taken, a 0/1 or
    bool Tensor broadcastable to ``x``, or of shape (batch,) for whole examples;
    ``Sequential`` passes the rows that are real examples (not the padding of a last
    partial batch), so the statistics are those of the real batch.
    """

    batch_statistics = True   # (Sequential passes the mask of a padded batch's real rows)

    def __init__(self, axis=1, momentum=0.99, epsilon=1e-3, center=True, scale=True, name=None):
        super().__init__(name=name)
        self.axis = int(axis) if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self._call_mask = None

    def _config(self):
        return {"axis": self.axis if isinstance(self.axis, int) else list(self.axis), "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}

    def build(self, input_shape):
        rank = len(input_shape)
        axes = (self.axis,) if isinstance(self.axis, int) else self.axis
        if any(not -rank <= a < rank for a in axes):
            raise ShapeError(f"BatchNormalization '{self.name}': axis {self.axis} is out of range for inputs of "
                             f"shape {input_shape}")
        self.axes = tuple(sorted({a % rank for a in axes}))
        dims = tuple(input_shape[a] for a in self.axes)
        if any(d is None for d in dims):
            raise ShapeError(f"BatchNormalization '{self.name}' needs static sizes on axis {self.axis}, got "
                             f"inputs of shape {input_shape}")
        self.reduction_axes = tuple(a for a in range(rank) if a not in self.axes)
        # the statistics broadcast against x: the normalized axes keep their size, the others are 1
        self.broadcast_shape = tuple(input_shape[a] if a in self.axes else 1 for a in range(rank))
        self.gamma = self.add_weight("gamma", np.ones(dims)) if self.scale else None
        self.beta = self.add_weight("beta", np.zeros(dims)) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", np.zeros(dims), trainable=False)
        self.moving_variance = self.add_weight("moving_variance", np.ones(dims), trainable=False)

    def __call__(self, x, training=False, mask=None):
        self._call_mask = mask
        try:
            return super().__call__(x, training=training)
        finally:
            self._call_mask = None

    def _shaped(self, v):
        return v if v is None or v.shape == self.broadcast_shape else array_ops.reshape(v, self.broadcast_shape)

    def _batch_moments(self, x):
        """(mean, variance) over the reduction axes, keeping them (size 1), of the masked rows."""
        if self._call_mask is None:
            return nn.moments(x, self.reduction_axes, keepdims=True)
        mask = self._call_mask
        if not isinstance(mask, Tensor):
            from ..builder import constant
            mask = constant(np.asarray(mask), graph=x.graph)
        if mask.ndim == 1 and x.ndim > 1:
            mask = array_ops.reshape(mask, (-1,) + (1,) * (x.ndim - 1))
        weights = math_ops.cast(mask, x.dtype) * array_ops.ones_like(x)   # (x's shape, its batch unknown or not)
        axes = self.reduction_axes
        count = math_ops.sum(weights, axes, keepdims=True)
        mean = math_ops.sum(weights * x, axes, keepdims=True) / count
        centered = x - math_ops.stop_gradient(mean)
        variance = math_ops.sum(weights * math_ops.square(centered), axes, keepdims=True) / count
        return mean, variance

    def _normalize(self, x, mean, variance):
        return nn.batch_normalization(x, mean, variance, self._shaped(self.beta), self._shaped(self.gamma),
                                      self.epsilon)

    def call(self, x, training=False):
        x = _float(x)
        moving_mean, moving_variance = self._shaped(self.moving_mean), self._shaped(self.moving_variance)
        if isinstance(training, Tensor) or training:
            mean, variance = self._batch_moments(x)
            y = self._normalize(x, mean, variance)
            if isinstance(training, Tensor):
                y = math_ops.where(training, y, self._normalize(x, moving_mean, moving_variance))
            for name, var, stat in (("moving_mean", self.moving_mean, mean),
                                    ("moving_variance", self.moving_variance, variance)):
                stat = array_ops.reshape(stat, var.shape)
                if stat.dtype != var.dtype:
                    stat = math_ops.cast(stat, var.dtype)
                new = var * self.momentum + stat * (1.0 - self.momentum)
                if isinstance(training, Tensor):
                    new = math_ops.where(training, new, var)
                self.add_update(assign(var, new, name=f"{name}_update"))
            return y
        return self._normalize(x, moving_mean, moving_variance)


__all__ = ["BatchNormalization"]
