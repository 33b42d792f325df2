"""gc.random: counter-based random numbers (Philox4x32-10), reproducible by construction.

    noise = gc.random.normal((64, 128), stddev=0.1, seed=0)
    mask = gc.random.bernoulli((64, 128), p=0.9, seed=step)   # step: an int64 scalar Tensor

Every draw is one ``random`` op (``graphc/ops/random.py``) whose single input is the
seed; the scaling and shifting (``mean + stddev * z``, ``minval + (maxval - minval) * u``,
``u < p``) are ordinary elementwise ops on top of it, which fusion merges with their
consumers (``truncated_normal`` too: the inverse normal CDF of the uniform draw, a
composite of elementwise ops whose log1p/erf/exp are each backend's own, so its last bit
or two may differ between devices). The numbers are a pure function of the seed, the
distribution, the dtype and the shape, and element ``i`` (in C order) depends on the seed and ``i`` alone: they are
the same on ``device="cpu"`` and ``device="reference"``, fused or not, on any number of
threads, in every run and every Session.

Seeds (JAX key semantics):

* an ``int`` (taken modulo 2**64): the same seed, shape, dtype and distribution always
  give the same numbers, in this graph, another graph or another process. A seeded
  graph gives the same numbers every run.
* an integer scalar Tensor (int64, or int32, cast): a placeholder you feed, or a
  ``gc.Variable(0)`` you advance between steps (``sess.run(gc.assign_add(step, 1))``, or
  by feeding it): how a training loop gets fresh noise or dropout masks each step.
* ``None``: a fixed seed from a per-graph counter: the N-th unseeded random op built in
  a graph always gets the seed ``default_seed(N)``. Two unseeded ops differ, and a
  graph (or the same program run again) gives the same numbers every time.

Draws with the same seed and distribution share their prefix: element ``i`` of a draw of
shape (n,) is element ``i`` of the draw of shape (m,), m > n, and a (2, 3) draw is the
(6,) draw reshaped. Use distinct seeds for values that must be independent.
"""
import math
import weakref

import numpy as np

from . import dtypes as dt
from . import math_ops as m
from .builder import constant, graph_of, located, make
from .errors import DTypeError, GraphError, ShapeError
from .ops.random import check_attrs, philox4x32, sample, seed_key  # noqa: F401  (re-exported)
from .tensor import Tensor

__all__ = ["normal", "uniform", "bernoulli", "truncated_normal", "default_seed", "philox4x32"]

_unseeded = weakref.WeakKeyDictionary()   # graph -> how many unseeded random ops it has


def default_seed(n):
    """The seed of the ``n``-th (from 0) unseeded random op of a graph: SplitMix64 of
    ``n``, as an int64, so unseeded ops do not collide with small user seeds."""
    z = (n + 0x9E3779B97F4A7C15) % (1 << 64)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % (1 << 64)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % (1 << 64)
    z ^= z >> 31
    return z - (1 << 64) if z >= 1 << 63 else z


def _shape(shape):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if isinstance(shape, list):
        shape = tuple(shape)
    if (not isinstance(shape, tuple)
            or any(isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape)):
        raise ShapeError(f"shape must be a tuple of non-negative ints (static), got {shape!r}")
    return tuple(int(d) for d in shape)


def _dtype(dtype):
    dtype = dt.as_dtype(dtype)
    if dtype not in (dt.float32, dt.float64):
        raise DTypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _seed(seed, graph):
    """The seed as an int64 scalar Tensor of ``graph`` (a constant for an int or None)."""
    if isinstance(seed, Tensor):
        if not dt.is_int(seed.dtype):
            raise DTypeError(f"a seed Tensor must be int64 or int32, got '{seed.name}' {seed.dtype}")
        if tuple(seed.shape) != ():
            raise ShapeError(f"a seed Tensor must be a scalar, got '{seed.name}' of shape {seed.shape}")
        return m.cast(seed, dt.int64)
    if seed is None:
        n = _unseeded.get(graph, 0)
        _unseeded[graph] = n + 1
        seed = default_seed(n)
    elif isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise DTypeError(f"seed must be an int, an integer scalar Tensor or None, got {seed!r}")
    seed = int(seed)
    if not -(1 << 63) <= seed < 1 << 64:
        raise DTypeError(f"seed {seed} does not fit in 64 bits")
    if seed >= 1 << 63:
        seed -= 1 << 64
    return constant(np.int64(seed), name="seed", graph=graph)


def _number(value):
    """numpy scalars as Python numbers, so they stay weak (``x * 2.0`` keeps x's dtype)."""
    return value.item() if isinstance(value, (np.integer, np.floating)) else value


def _is(value, number):
    """``value`` is the Python/numpy number ``number`` (a Tensor or array never is)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and value == number


def _draw(default_name, distribution, shape, dtype, seed, name, steps, like=None):
    """One ``random`` op and the elementwise ``steps`` [(fn, operand, label)] on top of it.

    Helpers (seed, draw, constants, intermediate steps) go under the scope ``name/``; the
    last node, the result, is named ``name`` itself (TF1 style: ``sess.run("noise")``).
    A number operand becomes a constant ``name/<label>`` of the draw's dtype; a None
    operand stays None (a step that is a function of the draw alone)."""
    if like is not None:   # draw in the shape of this tensor (known when the program runs)
        if shape is not None:
            raise ShapeError("pass a shape or like=, not both")
        if not isinstance(like, Tensor):
            raise DTypeError(f"like must be a Tensor, got {like!r}")
    shape, dtype = (None, _dtype(dtype)) if like is not None else (_shape(shape), _dtype(dtype))
    check_attrs(distribution, shape if like is None else (), dtype)
    graph = graph_of(seed, like, *(operand for _, operand, _ in steps))
    base = name or default_name
    attrs = {"distribution": distribution, "dtype": dtype, "shape": shape}
    with graph.name_scope(base):
        s = _seed(seed, graph)
        operands = [v if isinstance(v, Tensor) or v is None else constant(v, dtype=dtype, name=label, graph=graph)
                    for _, v, label in steps]
        inputs = (s,) if like is None else (s, like)
        if steps:
            x = make("random", inputs, attrs, name="random", graph=graph)
            for (fn, _, _), operand in zip(steps[:-1], operands):
                x = fn(x, operand)
    if not steps:
        return make("random", inputs, attrs, name=base, graph=graph)
    return steps[-1][0](x, operands[-1], name=base)


@located
def normal(shape=None, mean=0.0, stddev=1.0, dtype=dt.float32, seed=None, name=None, like=None):
    """Normally distributed numbers: ``mean + stddev * z`` with z standard normal.

    ``shape`` is a tuple of static ints (``()`` for a scalar, zero sizes allowed); or
    pass ``like=x`` (and no shape) to draw in the shape of Tensor ``x`` as the program
    runs, unknown dims included (like ``torch.rand_like``; x's values are not read);
    ``dtype`` float32 or float64. ``mean`` and ``stddev`` are numbers (scalar Tensors
    also work, broadcasting as ``mean + stddev * z`` does). ``z`` comes from
    Philox4x32-10 by Box-Muller, ``sqrt(-2 log(1 - u1)) cos(2 pi u2)``, with two 32-bit
    uniforms for float32 and two 53-bit ones for float64 (so ``|z| <= 6.7`` / ``8.6``).
    ``seed``: an int, an integer scalar Tensor or None (see the module docstring); the
    same int seed, shape and dtype give the same numbers. The result is named ``name``
    (default "normal"), its helper nodes ``name/seed``, ``name/random``, ...
    """
    mean, stddev = _number(mean), _number(stddev)
    steps = []
    if not _is(stddev, 1):
        steps.append((m.multiply, stddev, "stddev"))
    if not _is(mean, 0):
        steps.append((m.add, mean, "mean"))
    return _draw("normal", "normal", shape, dtype, seed, name, steps, like)


@located
def uniform(shape=None, minval=0.0, maxval=1.0, dtype=dt.float32, seed=None, name=None, like=None):
    """Uniformly distributed numbers in ``[minval, maxval)``.

    The standard draw u is exactly in [0, 1): the top 24 bits of a Philox word times
    2**-24 for float32, 53 bits of two words times 2**-53 for float64. Other bounds give
    ``minimum(minval + (maxval - minval) * u, largest value below maxval)``, since the
    rounding of the sum could otherwise reach ``maxval``. ``minval`` and ``maxval`` are
    numbers with ``minval < maxval`` (in ``dtype``). ``shape``, ``dtype``, ``seed`` and
    ``name`` (and ``like``) as for :func:`normal`.
    """
    dtype, minval, maxval = _dtype(dtype), _number(minval), _number(maxval)
    steps = []
    if not (_is(minval, 0) and _is(maxval, 1)):
        for bound in (minval, maxval):
            if isinstance(bound, (bool, np.bool_)) or not isinstance(bound, (int, float, np.integer, np.floating)):
                raise DTypeError(f"minval and maxval must be numbers, got {bound!r}")
        lo, hi = dtype.type(minval), dtype.type(maxval)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise GraphError(f"uniform needs finite minval < maxval, got [{minval}, {maxval})")
        if not _is(maxval - minval, 1):
            steps.append((m.multiply, float(maxval) - float(minval), "range"))
        if not _is(minval, 0):
            steps.append((m.add, float(minval), "minval"))
        steps.append((m.minimum, np.nextafter(hi, dtype.type(-np.inf)), "below_maxval"))
    return _draw("uniform", "uniform", shape, dtype, seed, name, steps, like)


@located
def bernoulli(shape=None, p=0.5, seed=None, name=None, like=None):
    """A bool tensor, each element True with probability ``p``: ``uniform(shape) < p``
    with the float32 uniform (JAX semantics; ``p`` a number or a float Tensor that
    broadcasts). ``p <= 0`` gives all False, ``p >= 1`` all True. ``shape`` (or
    ``like``), ``seed`` and ``name`` as for :func:`normal` (default name "bernoulli")."""
    p = _number(p)
    if not isinstance(p, Tensor) and (isinstance(p, (bool, np.bool_))
                                      or not isinstance(p, (int, float, np.integer, np.floating))):
        raise DTypeError(f"p must be a number or a Tensor, got {p!r}")
    return _draw("bernoulli", "uniform", shape, dt.float32, seed, name, [(m.less, p, "p")], like)


# -- truncated normal: the inverse CDF of one uniform ---------------------------------------
_TRUNC = 2.0                              # |z| <= 2: the truncation bound, in standard deviations
_ERF_BOUND = math.erf(_TRUNC / math.sqrt(2.0))    # P(|Z| <= 2) = erf(sqrt 2) = 0.9545
# M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2010), single precision,
# branch w = -log(1 - x^2) < 5: erfinv(x) = x * P(w - 2.5), coefficients highest first.
_GILES_W5 = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
             -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)


def _erfinv(v):
    """``erfinv(v)`` of a float Tensor with ``|v| <= erf(sqrt 2)``, built from elementwise
    ops (there is no erfinv op). ``w = -log1p(-v*v)`` is then at most 2.42, inside the
    ``w < 5`` branch of Giles' single-precision approximation, ``v * P(w - 2.5)`` (P of
    degree 8, relative error about 1.2e-7 on this range). float64 adds one Newton step on
    ``erf(x) = v``, ``x -= (erf(x) - v) * sqrt(pi)/2 * exp(x*x)``: the error squares, to
    about 2e-14. Outside the range the result is not erfinv (no other branch is built)."""
    w = m.neg(m.log1p(m.neg(v * v))) - 2.5
    p = w * _GILES_W5[0] + _GILES_W5[1]
    for c in _GILES_W5[2:]:
        p = p * w + c
    x = p * v
    if v.dtype == dt.float64:
        x = x - (m.erf(x) - v) * (math.sqrt(math.pi) / 2.0) * m.exp(x * x)
    return x


def _truncated_z(u, _unused=None):
    """Standard normal numbers truncated to [-2, 2] from the uniform draw ``u``, clipped
    below at -2 (the caller's next step clips above at 2).

    ``u`` is ``k * 2**-b`` (b = 24 float32, 53 float64), so ``t = 2u - 1 + 2**-b`` is exact
    and symmetric, in ``[-(1 - 2**-b), 1 - 2**-b]``: the midpoints of 2**b equal cells of
    (-1, 1), never an endpoint. ``v = erf(sqrt 2) * t`` and ``z = sqrt(2) * erfinv(v)``;
    ``|z| <= 2`` in exact arithmetic, but the float32 approximation and roundings could
    overshoot 2 by an ulp, hence the clip to [-2, 2] (it moves no value by more). Measured:
    on "reference" and "cpu" no float32 draw overshoots (all 2**24 values of u; the extremes
    are +-1.9999994) and the float64 extremes are +-1.9999999999999987, so the clip is a
    guard (other backends' log1p, contracted multiply-adds); it costs two fused ops."""
    bits = 24 if u.dtype == dt.float32 else 53
    t = u * 2.0 + (2.0 ** -bits - 1.0)
    z = _erfinv(t * _ERF_BOUND) * math.sqrt(2.0)
    return m.maximum(z, -_TRUNC)


@located
def truncated_normal(shape=None, mean=0.0, stddev=1.0, dtype=dt.float32, seed=None, name=None, like=None):
    """Normal numbers within two standard deviations of the mean (TF1
    ``tf.random.truncated_normal``): ``mean + stddev * z``, z standard normal conditioned
    on ``|z| <= 2``, so every value lies in ``[mean - 2*stddev, mean + 2*stddev]``.

    Where TF resamples values outside, graphc inverts the CDF of one uniform draw per
    element (``gc.random.uniform``'s, from the same seed): ``z = sqrt(2) * erfinv(v)``,
    ``v`` uniform in ``(-erf(sqrt 2), erf(sqrt 2))``, with erfinv a composite of
    elementwise ops (Giles' approximation; one Newton step for float64, accurate to about
    1e-13). So element ``i`` is a function of the seed and ``i`` alone, as for the other
    draws. ``z`` is clipped to [-2, 2] against an overshoot by rounding. Arguments as for
    :func:`normal` (default name "truncated_normal"). On ``device="cpu"`` the composite's
    ``log1p`` (and float64 ``erf``/``exp``) are the backend's own, so the numbers may differ
    from ``device="reference"`` in the last bit or two; a float32 value by at most about
    1e-6, a float64 one by about 1e-15.
    """
    mean, stddev = _number(mean), _number(stddev)
    steps = [(_truncated_z, None, "z"), (m.minimum, _TRUNC, "upper")]
    if not _is(stddev, 1):
        steps.append((m.multiply, stddev, "stddev"))
    if not _is(mean, 0):
        steps.append((m.add, mean, "mean"))
    return _draw("truncated_normal", "uniform", shape, dtype, seed, name, steps, like)
