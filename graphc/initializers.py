"""gc.initializers: TF1-style initializer objects for ``gc.get_variable`` (and for use alone).

An initializer is a callable ``init(shape, dtype=None, partition_info=None) -> Tensor``
that builds the initial value in the default graph; ``dtype=None`` means the dtype given
to the constructor (float32 by default). ``get_config()`` returns the constructor
arguments and ``Cls.from_config(config)`` rebuilds the initializer, as in TF1::

    w = gc.get_variable("w", (784, 256), initializer=gc.initializers.he_normal(seed=0))
    b = gc.get_variable("b", (256,), initializer=gc.initializers.zeros_initializer())

Random initializers draw with ``gc.random`` (counter-based Philox numbers): an int
``seed`` gives the same values every time, in any graph or process; ``seed=None`` takes
the graph's next unseeded-draw seed, so two unseeded initializers differ, and a graph
rebuilt the same way gets the same values again. The numbers are graphc's own, not
TensorFlow's: the distributions are TF1's, the streams are not.

Names: TF1 spells each initializer both as a class (``Zeros``, ``GlorotUniform``, ...) and
as a lower-case alias of that class (``zeros_initializer``, ``glorot_uniform_initializer``);
``he_normal``, ``he_uniform``, ``lecun_normal`` and ``lecun_uniform`` are functions that
return a :class:`VarianceScaling`. The short ``tf.initializers.*`` names (``zeros``,
``glorot_uniform``, ...) are aliases too.
"""
import math

import numpy as np

from . import dtypes as dt
from .array_ops import broadcast_to
from .builder import constant as _constant
from .errors import DTypeError, GraphcError, ShapeError
from .ir.graph import get_default_graph
from .tensor import Tensor

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "TruncatedNormal", "RandomUniform",
           "VarianceScaling", "GlorotUniform", "GlorotNormal", "Orthogonal", "Identity",
           "zeros_initializer", "ones_initializer", "constant_initializer", "random_normal_initializer",
           "truncated_normal_initializer", "random_uniform_initializer", "variance_scaling_initializer",
           "glorot_uniform_initializer", "glorot_normal_initializer", "orthogonal_initializer",
           "identity_initializer", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
           "compute_fans"]

# The standard deviation of a standard normal truncated to [-2, 2] (what TF's
# VarianceScaling divides by so that its truncated draws have the variance asked for).
TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a weight of ``shape``, as TF computes them.

    ``()``: (1, 1); ``(n,)``: (n, n); ``(in, out)``: (in, out); a convolution kernel in
    TF's layout (spatial dims..., in_channels, out_channels), e.g. HWIO: the receptive
    field (product of the spatial dims) times in_channels and times out_channels.
    """
    shape = _shape(shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2], dtype=np.int64))
    return shape[-2] * receptive, shape[-1] * receptive


def _shape(shape):
    """A static shape as a tuple of ints (a list, a tuple, or one int for 1-D)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if isinstance(shape, Tensor) or not isinstance(shape, (tuple, list)):
        raise ShapeError(f"an initializer's shape must be a tuple or list of static ints, got {shape!r}")
    for d in shape:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < 0:
            raise ShapeError(f"an initializer's shape must be a tuple or list of static non-negative ints, "
                             f"got {tuple(shape)!r}")
    return tuple(int(d) for d in shape)


def _dtype_name(dtype):
    return None if dtype is None else dt.as_dtype(dtype).name


def _float_dtype(dtype, who):
    dtype = dt.as_dtype(dtype)
    if not dt.is_float(dtype):
        raise DTypeError(f"{who} draws floating-point values (float32 or float64), got dtype {dtype}")
    return dtype


def _value_array(value, dtype, who):
    """``value`` (a number, list or array) as a numpy array of ``dtype``; refuses lossy
    conversions across kinds (a float to an int), as TF1 refuses them."""
    if isinstance(value, Tensor):
        raise DTypeError(f"{who} takes a number, list or numpy array, not the Tensor '{value.name}'")
    natural = np.asarray(value)
    if natural.dtype.kind not in "biuf":
        raise DTypeError(f"{who}: value {value!r} is not numeric")
    if not np.can_cast(natural.dtype, dtype, casting="same_kind"):
        raise DTypeError(f"{who}: value of dtype {natural.dtype} cannot be converted to {dtype} "
                         "without losing its fractional part")
    return natural.astype(dtype)


def _filled(value, shape, dtype, name):
    """A Tensor of ``shape`` filled with the scalar ``value`` (a constant broadcast: the
    graph holds one number, and a variable starts from it without compiling anything)."""
    scalar = _constant(np.asarray(value, dtype=dtype), name=name if not shape else "Const")
    return broadcast_to(scalar, shape, name=name) if shape else scalar


class Initializer:
    """Base class: ``init(shape, dtype=None, partition_info=None) -> Tensor``.

    Subclasses define ``_build(shape, dtype)``. ``partition_info`` is accepted for TF1
    signatures and unused (graphc has no partitioned variables).
    """

    _config_keys = ()
    _float_only = False

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = dt.as_dtype(self.dtype if dtype is None else dtype)
        if self._float_only:
            dtype = _float_dtype(dtype, type(self).__name__)
        return self._build(_shape(shape), dtype)

    def _build(self, shape, dtype):
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments as plain values (``type(init)(**config)`` rebuilds it)."""
        config = {k: getattr(self, k) for k in self._config_keys}
        config["dtype"] = _dtype_name(self.dtype)
        return config

    @classmethod
    def from_config(cls, config):
        """An initializer of this class from :meth:`get_config`'s dict."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros (False for bool)."""

    def __init__(self, dtype=dt.float32):
        self.dtype = dt.as_dtype(dtype)

    def _build(self, shape, dtype):
        return _filled(0, shape, dtype, "zeros")


class Ones(Initializer):
    """All ones (True for bool)."""

    def __init__(self, dtype=dt.float32):
        self.dtype = dt.as_dtype(dtype)

    def _build(self, shape, dtype):
        return _filled(1, shape, dtype, "ones")


class Constant(Initializer):
    """A given value: a number fills the shape; a list or array is laid out in C order.

    As TF1: a list/array with as many elements as the shape is reshaped to it; with fewer
    elements its last element fills the rest; with more, it is an error.
    ``verify_shape=True`` requires the value's shape to equal the shape exactly. Values are
    converted to the dtype (an int to a float is fine; a float to an int is refused).
    """

    _config_keys = ("value", "verify_shape")

    def __init__(self, value=0, dtype=dt.float32, verify_shape=False):
        if isinstance(value, Tensor):
            raise DTypeError(f"constant_initializer takes a number, list or numpy array, not the "
                             f"Tensor '{value.name}'")
        self.value = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
        self.dtype = dt.as_dtype(dtype)
        self.verify_shape = bool(verify_shape)

    def _build(self, shape, dtype):
        array = _value_array(self.value, dtype, "constant_initializer")
        if self.verify_shape and array.shape != shape:
            raise ShapeError(f"constant_initializer (verify_shape=True): value of shape {array.shape} "
                             f"does not match the shape {shape}")
        if array.ndim == 0:
            return _filled(array, shape, dtype, "Const")
        size = int(np.prod(shape, dtype=np.int64))
        flat = array.reshape(-1)
        if flat.size > size:
            raise ShapeError(f"constant_initializer: too many elements provided: the shape {shape} needs "
                             f"{size}, the value has {flat.size}")
        if flat.size < size:
            if flat.size == 0:
                raise ShapeError(f"constant_initializer: an empty value cannot fill the shape {shape}")
            flat = np.concatenate([flat, np.full(size - flat.size, flat[-1], dtype=dtype)])
        return _constant(flat.reshape(shape), dtype=dtype, name="Const")


class RandomNormal(Initializer):
    """Normal numbers: ``mean + stddev * z`` (``gc.random.normal``)."""

    _config_keys = ("mean", "stddev", "seed")
    _float_only = True

    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=dt.float32):
        self.mean, self.stddev, self.seed = mean, stddev, seed
        self.dtype = dt.as_dtype(dtype)

    def _build(self, shape, dtype):
        from . import random
        return random.normal(shape, mean=self.mean, stddev=self.stddev, dtype=dtype, seed=self.seed,
                             name="random_normal")


class TruncatedNormal(RandomNormal):
    """Normal numbers with draws more than two standard deviations from the mean redrawn
    (``gc.random.truncated_normal``): values lie in ``[mean - 2 stddev, mean + 2 stddev]``
    and their standard deviation is ``stddev * 0.8796...`` (the truncation's)."""

    def _build(self, shape, dtype):
        return _truncated_normal(shape, self.mean, self.stddev, dtype, self.seed)


def _truncated_normal(shape, mean, stddev, dtype, seed):
    from . import random
    return random.truncated_normal(shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed,
                                   name="truncated_normal")


class RandomUniform(Initializer):
    """Uniform numbers in ``[minval, maxval)`` (``gc.random.uniform``); ``maxval=None``
    means 1. Floating-point dtypes only (graphc draws no random integers)."""

    _config_keys = ("minval", "maxval", "seed")
    _float_only = True

    def __init__(self, minval=0, maxval=None, seed=None, dtype=dt.float32):
        self.minval, self.maxval, self.seed = minval, maxval, seed
        self.dtype = dt.as_dtype(dtype)

    def _build(self, shape, dtype):
        from . import random
        maxval = 1.0 if self.maxval is None else self.maxval
        return random.uniform(shape, minval=self.minval, maxval=maxval, dtype=dtype, seed=self.seed,
                              name="random_uniform")


class VarianceScaling(Initializer):
    """Random values whose variance is ``scale / n``, n the fan chosen by ``mode``.

    ``mode``: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"`` ((fan_in + fan_out) / 2), with
    fans from :func:`compute_fans` (n is at least 1). ``distribution``:

    * ``"truncated_normal"`` (and its TF1 alias ``"normal"``): a normal truncated at two
      standard deviations, of stddev ``sqrt(scale / n) / 0.87962566103423978`` so that the
      truncated values have variance ``scale / n`` (as TF does);
    * ``"untruncated_normal"``: a normal of stddev ``sqrt(scale / n)``;
    * ``"uniform"``: uniform in ``[-limit, limit)`` with ``limit = sqrt(3 scale / n)``.
    """

    _config_keys = ("scale", "mode", "distribution", "seed")
    _float_only = True
    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("normal", "truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, dtype=dt.float32):
        if not isinstance(scale, (int, float, np.integer, np.floating)) or isinstance(scale, bool) or scale <= 0:
            raise GraphcError(f"variance_scaling_initializer: `scale` must be a positive float, got {scale!r}")
        if mode not in self._MODES:
            raise GraphcError(f"variance_scaling_initializer: invalid `mode` {mode!r}; use one of {self._MODES}")
        distribution = distribution.lower() if isinstance(distribution, str) else distribution
        if distribution not in self._DISTRIBUTIONS:
            raise GraphcError(f"variance_scaling_initializer: invalid `distribution` {distribution!r}; "
                              f"use one of {self._DISTRIBUTIONS}")
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed
        self.dtype = dt.as_dtype(dtype)

    def _variance(self, shape):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def _build(self, shape, dtype):
        from . import random
        variance = self._variance(shape)
        if self.distribution in ("normal", "truncated_normal"):
            return _truncated_normal(shape, 0.0, math.sqrt(variance) / TRUNCATED_STDDEV, dtype, self.seed)
        if self.distribution == "untruncated_normal":
            return random.normal(shape, stddev=math.sqrt(variance), dtype=dtype, seed=self.seed,
                                 name="random_normal")
        limit = math.sqrt(3.0 * variance)
        return random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=self.seed,
                              name="random_uniform")


class GlorotUniform(VarianceScaling):
    """Glorot/Xavier uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``
    (VarianceScaling(1.0, "fan_avg", "uniform")). ``gc.get_variable``'s default for floats."""

    _config_keys = ("seed",)

    def __init__(self, seed=None, dtype=dt.float32):
        super().__init__(1.0, "fan_avg", "uniform", seed, dtype)


class GlorotNormal(VarianceScaling):
    """Glorot/Xavier normal: a truncated normal of variance ``2 / (fan_in + fan_out)``
    (VarianceScaling(1.0, "fan_avg", "truncated_normal"), stddev corrected as TF's)."""

    _config_keys = ("seed",)

    def __init__(self, seed=None, dtype=dt.float32):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed, dtype)


def he_normal(seed=None):
    """He normal: VarianceScaling(2.0, "fan_in", "truncated_normal")."""
    return VarianceScaling(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed=None):
    """He uniform: VarianceScaling(2.0, "fan_in", "uniform"): limit ``sqrt(6 / fan_in)``."""
    return VarianceScaling(2.0, "fan_in", "uniform", seed)


def lecun_normal(seed=None):
    """LeCun normal: VarianceScaling(1.0, "fan_in", "truncated_normal")."""
    return VarianceScaling(1.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(seed=None):
    """LeCun uniform: VarianceScaling(1.0, "fan_in", "uniform"): limit ``sqrt(3 / fan_in)``."""
    return VarianceScaling(1.0, "fan_in", "uniform", seed)


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``, reshaped to ``shape`` (at least 2-D).

    The shape is flattened to (prod(shape[:-1]), shape[-1]); a standard normal matrix of
    that shape (transposed if it has fewer rows than columns) is QR-factored and Q, its
    columns' signs fixed by R's diagonal, is the result: ``Q^T Q = I`` when rows >= columns,
    else ``Q Q^T = I``. Computed with numpy when the graph is built, from the same normal
    numbers ``gc.random.normal(seed=seed)`` draws (``seed=None``: the graph's next unseeded
    seed), and stored in the graph as a constant: the graph holds every value of the matrix.
    """

    _config_keys = ("gain", "seed")
    _float_only = True

    def __init__(self, gain=1.0, seed=None, dtype=dt.float32):
        self.gain, self.seed = gain, seed
        self.dtype = dt.as_dtype(dtype)

    def _build(self, shape, dtype):
        if len(shape) < 2:
            raise ShapeError(f"orthogonal_initializer: the shape must be at least 2-D, got {shape}")
        rows, cols = int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]
        if rows == 0 or cols == 0:
            return _constant(np.zeros(shape, dtype), name="Const")
        flat = (cols, rows) if rows < cols else (rows, cols)
        a = _normal_numbers(self.seed, flat, dtype).astype(np.float64)
        q, r = np.linalg.qr(a)
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return _constant((self.gain * q).reshape(shape).astype(dtype), name="Const")


def _normal_numbers(seed, shape, dtype):
    """The values ``gc.random.normal(shape, dtype=dtype, seed=seed)`` would draw, in numpy."""
    from . import random
    from .ops.random import sample
    if seed is None:
        graph = get_default_graph()
        n = random._unseeded.get(graph, 0)
        random._unseeded[graph] = n + 1
        seed = random.default_seed(n)
    elif isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise DTypeError(f"orthogonal_initializer: seed must be an int or None, got {seed!r}")
    return sample(int(seed), "normal", shape, dtype).reshape(shape)


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; non-square: ones on the main
    diagonal, as ``numpy.eye(rows, cols)``)."""

    _config_keys = ("gain",)

    def __init__(self, gain=1.0, dtype=dt.float32):
        self.gain = gain
        self.dtype = dt.as_dtype(dtype)

    def _build(self, shape, dtype):
        if len(shape) != 2:
            raise ShapeError(f"identity_initializer works on 2-D shapes only, got {shape}")
        return _constant((self.gain * np.eye(*shape)).astype(dtype), name="Const")


# TF1's lower-case names (aliases of the classes, as in tf.*_initializer and tf.initializers.*)
zeros_initializer = zeros = Zeros
ones_initializer = ones = Ones
constant_initializer = constant = Constant
random_normal_initializer = random_normal = RandomNormal
truncated_normal_initializer = truncated_normal = TruncatedNormal
random_uniform_initializer = random_uniform = RandomUniform
variance_scaling_initializer = variance_scaling = VarianceScaling
glorot_uniform_initializer = glorot_uniform = GlorotUniform
glorot_normal_initializer = glorot_normal = GlorotNormal
orthogonal_initializer = orthogonal = Orthogonal
identity_initializer = identity = Identity
