"""Array creation with numpy's names and signatures: zeros, ones, full, eye, arange, linspace.

    a = gc.zeros((4096, 4096))          # float32, a scalar constant broadcast: no 64 MB blob
    i = gc.arange(10)                   # int64 [0 .. 9]
    x = gc.linspace(0.0, 1.0, num=5)    # float32 [0, .25, .5, .75, 1]

Shapes are static: an int or a tuple/list of ints (``()`` for a scalar, zero sizes
allowed). dtypes follow graphc's constant rules (``gc.constant``): Python floats give
float32, Python ints int64, numpy scalars keep their dtype, and a Python number next to a
numpy one is weak (NEP 50). ``zeros``/``ones``/``full`` are one scalar constant broadcast
to the shape (``broadcast_to``, a view); ``eye``/``arange``/``linspace`` are constants
computed with numpy, which is their reference.
"""
import math

import numpy as np

from . import dtypes as dt
from .array_ops import broadcast_to
from .builder import constant, graph_of, located
from .errors import DTypeError, ShapeError
from .math_ops import cast
from .tensor import Tensor

__all__ = ["zeros", "ones", "full", "eye", "arange", "linspace"]


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _static_shape(shape):
    """``shape`` as a tuple of non-negative Python ints, or a ShapeError."""
    if isinstance(shape, Tensor):
        raise ShapeError(f"shape must be static (an int or a tuple of ints), got Tensor '{shape.name}'; "
                         "graphc builds these with a shape known when the graph is built")
    if _is_int(shape):
        shape = (shape,)
    elif isinstance(shape, np.ndarray) and shape.ndim == 1 and shape.dtype.kind in "iu":
        shape = tuple(shape.tolist())
    elif isinstance(shape, list):
        shape = tuple(shape)
    if not isinstance(shape, tuple) or not all(_is_int(d) for d in shape):
        what = next((f"Tensor '{d.name}'" for d in shape if isinstance(d, Tensor)), None) \
            if isinstance(shape, tuple) else None
        raise ShapeError(f"shape must be an int or a tuple/list of ints (static), got "
                         f"{what + ' in ' + repr(shape) if what else repr(shape)}")
    if any(d < 0 for d in shape):
        raise ShapeError(f"negative dimensions are not allowed, got shape {shape}")
    return tuple(int(d) for d in shape)


def _count(value, what):
    """A non-negative Python int (``N``, ``M``, ``num``), or a ShapeError."""
    if isinstance(value, Tensor):
        raise ShapeError(f"{what} must be a static int, got Tensor '{value.name}'")
    if not _is_int(value):
        raise ShapeError(f"{what} must be an int, got {value!r}")
    if value < 0:
        raise ShapeError(f"{what} must be non-negative, got {value}")
    return int(value)


def _number(value, what):
    """A Python or numpy real number (a static bound of arange/linspace)."""
    if isinstance(value, Tensor):
        raise ShapeError(f"{what} must be a static number (it fixes the result's shape), got Tensor '{value.name}'")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DTypeError(f"{what} must be a real number, got {value!r}")
    return value


def _dtype_of(values):
    """The dtype ``gc.constant`` rules give to these numbers together: numpy scalars are
    strong (promoted as numpy does), Python numbers weak (``dt.weak_scalar_dtype``)."""
    strong = [dt.as_dtype(v.dtype) for v in values if isinstance(v, np.generic)]
    result = dt.promote(*strong) if strong else None
    for v in values:
        if not isinstance(v, np.generic):
            result = dt.default_dtype_for(v) if result is None else dt.weak_scalar_dtype(v, result)
    return result


def _filled(shape, value, dtype, name, default_name):
    """``value`` (a number, array or Tensor) broadcast to ``shape`` in ``dtype``: one small
    constant (named ``name/value``) and a ``broadcast_to`` view named ``name``."""
    shape = _static_shape(shape)
    graph = graph_of(value)
    base = name or default_name
    if isinstance(value, Tensor):
        x = value if dtype is None else cast(value, dt.as_dtype(dtype))
        return x if tuple(x.shape) == shape and name is None else broadcast_to(x, shape, name=base)
    dtype = dt.as_dtype(dtype) if dtype is not None else dt.default_dtype_for(value)
    if np.ndim(value) == 0 and shape == ():
        return constant(value, dtype=dtype, name=base, graph=graph)
    with graph.name_scope(base):
        x = constant(value, dtype=dtype, name="value", graph=graph)
    return broadcast_to(x, shape, name=base)


@located
def zeros(shape, dtype=dt.float32, name=None):
    """A tensor of zeros of static ``shape`` (an int or tuple of ints) and ``dtype``
    (numpy.zeros; default float32). Built as a scalar broadcast, so it costs no memory in
    the graph whatever its size."""
    return _filled(shape, 0, dt.as_dtype(dtype), name, "zeros")


@located
def ones(shape, dtype=dt.float32, name=None):
    """A tensor of ones of static ``shape`` and ``dtype`` (numpy.ones; default float32),
    a scalar broadcast like :func:`zeros`."""
    return _filled(shape, 1, dt.as_dtype(dtype), name, "ones")


@located
def full(shape, fill_value, dtype=None, name=None):
    """A tensor of static ``shape`` filled with ``fill_value`` (numpy.full).

    ``fill_value`` is a number, an array that broadcasts to ``shape``, or a Tensor (a
    scalar Tensor broadcast: the value is known when the program runs). ``dtype`` None:
    the value's own dtype under graphc's constant rules (a Python float gives float32, an
    int int64, a bool bool, a numpy scalar or array keeps its dtype; a Tensor keeps its)."""
    if isinstance(fill_value, (str, bytes)) or fill_value is None:
        raise DTypeError(f"fill_value must be a number, an array or a Tensor, got {fill_value!r}")
    return _filled(shape, fill_value, dtype, name, "full")


@located
def eye(N, M=None, k=0, dtype=dt.float32, name=None):
    """An ``N x M`` (``M`` defaults to ``N``) matrix with ones on diagonal ``k`` (0 the main
    diagonal, > 0 above it, < 0 below) and zeros elsewhere (numpy.eye; default float32).
    A constant computed with numpy."""
    n = _count(N, "N")
    m = n if M is None else _count(M, "M")
    if not _is_int(k):
        raise ShapeError(f"k must be an int, got {k!r}")
    return constant(np.eye(n, m, int(k), dtype=dt.as_dtype(dtype)), name=name or "eye")


@located
def arange(start, stop=None, step=1, dtype=None, name=None):
    """Evenly spaced values in ``[start, stop)`` with spacing ``step`` (numpy.arange):
    ``arange(stop)``, ``arange(start, stop)``, ``arange(start, stop, step)``; negative and
    fractional steps work, and an empty range gives shape ``(0,)``.

    The bounds are static numbers. ``dtype`` None: graphc's constant rule for the
    arguments together (all Python ints: int64; a Python float among them: float32; numpy
    scalars keep their dtype, promoted as numpy does). The length is numpy's,
    ``ceil((stop - start) / step)``. Float values are computed in float64 as numpy does
    and rounded once to ``dtype`` (``np.arange(..., dtype=float32)`` accumulates in float32
    and may differ in the last bit); an integer ``dtype`` with fractional arguments
    truncates those float64 values towards zero."""
    if stop is None:
        start, stop = 0, start
    start, stop, step = _number(start, "start"), _number(stop, "stop"), _number(step, "step")
    if step == 0:
        raise ShapeError("step must not be zero")
    if not all(math.isfinite(float(v)) for v in (start, stop, step)):
        raise ShapeError(f"needs finite start, stop and step, got ({start}, {stop}, {step})")
    target = dt.as_dtype(dtype) if dtype is not None else _dtype_of((start, stop, step))
    if all(_is_int(v) for v in (start, stop, step)):
        values = np.arange(int(start), int(stop), int(step), dtype=np.int64 if dt.is_int(target) else np.float64)
    else:
        values = np.arange(float(start), float(stop), float(step), dtype=np.float64)
    if dt.is_int(target) and values.size:
        info = np.iinfo(target)
        if values.min() < info.min or values.max() > info.max:
            raise DTypeError(f"arange values do not fit in {target}")
    return constant(values.astype(target), name=name or "arange")


@located
def linspace(start, stop, num=50, endpoint=True, dtype=None, name=None):
    """``num`` evenly spaced values from ``start`` to ``stop`` (included if ``endpoint``)
    (numpy.linspace): the step is ``(stop - start) / (num - 1)`` (``/ num`` without the
    endpoint). The bounds are static numbers, ``num`` a non-negative int.

    ``dtype`` None: float32, or float64 when a bound is a numpy float64 scalar (graphc's
    constant rules, then a float result as ``gc.divide`` gives). Values are computed by
    numpy in float64 and rounded to ``dtype``; an integer ``dtype`` rounds them down, as
    numpy does."""
    start, stop = _number(start, "start"), _number(stop, "stop")
    num = _count(num, "num")
    if not all(math.isfinite(float(v)) for v in (start, stop)):
        raise ShapeError(f"needs finite start and stop, got ({start}, {stop})")
    target = dt.as_dtype(dtype) if dtype is not None else dt.float_result(_dtype_of((start, stop)))
    values = np.linspace(float(start), float(stop), num, endpoint=bool(endpoint), dtype=np.float64)
    if dt.is_int(target):
        values = np.floor(values)
    return constant(values.astype(target), name=name or "linspace")
