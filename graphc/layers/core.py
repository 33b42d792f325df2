"""Core layers: Dense, Flatten, Dropout, LayerNorm, Embedding."""
import numpy as np

from .. import array_ops, dtypes as dt, math_ops, nn
from ..builder import constant
from ..errors import ShapeError
from .base import Layer, get_activation, glorot_uniform


class _Activated(Layer):
    """A layer ending in an optional activation. ``pre_activation`` is the Tensor before it
    from the latest call: a model whose last layer ends in softmax computes its
    cross-entropy from these logits (stable), not from the probabilities."""

    def __init__(self, activation=None, name=None, seed=None):
        super().__init__(name=name, seed=seed)
        self.activation_name = activation if isinstance(activation, str) or activation is None \
            else getattr(activation, "__name__", "callable")
        self.activation = get_activation(activation)
        self.pre_activation = None

    def _config(self):
        if self.activation_name == "<lambda>":
            raise ValueError(f"layer '{self.name}': a lambda activation cannot be saved; use a named function "
                             "(given to load_model's custom_objects)")
        return {"activation": self.activation_name, "seed": self.seed}

    def _activate(self, z):
        self.pre_activation = z
        return z if self.activation is None else self.activation(z)


class Dense(_Activated):
    """``activation(x @ kernel + bias)`` over the last axis of ``x``.

    kernel (in, units): glorot_uniform; bias (units,): zeros.
    """

    def __init__(self, units, activation=None, use_bias=True, name=None, seed=None):
        super().__init__(activation, name=name, seed=seed)
        self.units = int(units)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        n_in = input_shape[-1] if input_shape else None
        if n_in is None:
            raise ShapeError(f"Dense layer '{self.name}' needs a static last input dimension, "
                             f"got shape {input_shape}")
        self.kernel = self.add_weight("kernel", glorot_uniform(self.rng("kernel"), (n_in, self.units),
                                                               n_in, self.units))
        self.bias = self.add_weight("bias", np.zeros(self.units)) if self.use_bias else None

    def _config(self):
        return {"units": self.units, "use_bias": self.use_bias, **super()._config()}

    def call(self, x, training=False):
        z = math_ops.matmul(_float(x), self.kernel)
        if self.bias is not None:
            z = z + self.bias
        return self._activate(z)


class Flatten(Layer):
    """Reshape (batch, d1, d2, ...) to (batch, d1*d2*...); the trailing sizes must be static."""

    def call(self, x, training=False):
        rest = x.shape[1:]
        if any(d is None for d in rest):
            raise ShapeError(f"Flatten '{self.name}' needs static non-batch dimensions, got {x.shape}")
        return array_ops.reshape(x, (-1, int(np.prod(rest, dtype=np.int64))))


class Dropout(Layer):
    """Inverted dropout: with ``training=True`` each element is zeroed with probability
    ``rate`` and the others are scaled by 1/(1-rate); with ``training=False`` (the
    default) it is the identity.

    The mask comes from ``gc.random.bernoulli`` (counter-based), keyed by ``seed``: an int
    or an int scalar Tensor. A Tensor seed that changes every step (a model's step counter,
    advanced by its train op) gives a new mask every step; a fixed seed gives the same
    mask every run. ``Sequential`` passes its step counter; standalone, pass ``seed=``
    to the call or the constructor. The mask takes the input's shape as the program runs
    (``gc.random.bernoulli(like=x)``), so the batch may be unknown.
    """

    def __init__(self, rate, seed=None, name=None):
        super().__init__(name=name)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.mask_seed = seed

    def _config(self):
        return {"rate": self.rate, "seed": self.mask_seed}

    def __call__(self, x, training=False, seed=None):
        self._call_seed = seed
        return super().__call__(x, training=training)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        seed = self._call_seed if self._call_seed is not None else self.mask_seed
        if seed is None:
            seed = 0
        from .. import random
        x = _float(x)
        keep = random.bernoulli(p=1.0 - self.rate, seed=seed, like=x)   # a mask in x's shape, batch unknown or not
        return math_ops.where(keep, x * (1.0 / (1.0 - self.rate)), constant(0.0, x.dtype, graph=x.graph))


class LayerNorm(Layer):
    """Layer normalization over ``axis`` (int or tuple) with learnable ``gamma`` (ones) and
    ``beta`` (zeros) of the normalized axes' shape: ``(x - mean) / sqrt(var + eps) * gamma + beta``."""

    def __init__(self, axis=-1, eps=1e-5, name=None):
        super().__init__(name=name)
        self.axis = axis
        self.eps = float(eps)

    def _config(self):
        return {"axis": self.axis if isinstance(self.axis, int) else list(self.axis), "eps": self.eps}

    def build(self, input_shape):
        rank = len(input_shape)
        axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        self.axes = tuple(sorted(a % rank for a in axes))
        dims = [input_shape[a] for a in self.axes]
        if any(d is None for d in dims):
            raise ShapeError(f"LayerNorm '{self.name}' needs static sizes on axes {self.axes}, got {input_shape}")
        # parameters broadcast against x: the normalized axes keep their size, the others are 1
        self.param_shape = tuple(input_shape[a] if a in self.axes else 1 for a in range(min(self.axes), rank))
        self.gamma = self.add_weight("gamma", np.ones(dims))
        self.beta = self.add_weight("beta", np.zeros(dims))

    def call(self, x, training=False):
        gamma, beta = self.gamma, self.beta
        if gamma.shape != self.param_shape:
            gamma, beta = array_ops.reshape(gamma, self.param_shape), array_ops.reshape(beta, self.param_shape)
        return nn.layer_norm(x, gamma, beta, axis=self.axes, eps=self.eps)


class Embedding(Layer):
    """Rows of an (input_dim, output_dim) table for integer indices: (batch, ...) ->
    (batch, ..., output_dim). Table initialized uniform(-0.05, 0.05)."""

    def __init__(self, input_dim, output_dim, name=None, seed=None):
        super().__init__(name=name, seed=seed)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)

    def _config(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "seed": self.seed}

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            "embeddings", self.rng("embeddings").uniform(-0.05, 0.05, (self.input_dim, self.output_dim)))

    def call(self, x, training=False):
        if not dt.is_int(x.dtype):
            x = math_ops.cast(x, dt.int64)
        return array_ops.gather(self.embeddings, x, axis=0)


def _float(x):
    return x if dt.is_float(x.dtype) else math_ops.cast(x, dt.float32)


__all__ = ["Dense", "Flatten", "Dropout", "LayerNorm", "Embedding"]
