"""``random``: counter-based random numbers (Philox4x32-10), the primitive under ``gc.random``.

    %r: f32[2,3] = random(%seed) {distribution='normal', dtype=f32, shape=(2, 3)}
    %m: f32[?,3] = random(%seed, %x) {distribution='uniform', dtype=f32, shape=None}

The first input is the seed, an int64 scalar; a second input, if present, gives the
shape to draw (its values are never read: the shape of ``x``, unknown dims included, as
``tf.random.uniform(tf.shape(x))`` does), else the attributes fix it. They fix the distribution
(``'uniform'`` on [0, 1) or standard ``'normal'``), the dtype (float32 or float64) and the
static shape. The value is a pure function of (seed, distribution, dtype, shape), and
element ``i`` (in C order) is a function of (seed, distribution, dtype, i) alone: the
numbers never depend on how a kernel is split, on threads, on fusion or on the backend.

The generator is Philox4x32 with 10 rounds (Salmon et al., "Parallel random numbers: as
easy as 1, 2, 3", SC 2011; the Random123 library), written here in vectorized numpy
uint64 arithmetic and checked against Random123's known-answer vectors. Its key is the
64-bit seed (taken modulo 2**64) split into two 32-bit words, low word first. Block ``b``
(counter words ``(b mod 2**32, b div 2**32, 0, 0)``) gives four 32-bit words; the blocks
in order form one stream of words, and element ``i`` takes the ``k`` words
``[i*k, (i+1)*k)`` of it:

  uniform float32 (k=1)  the top 24 bits of the word, times 2**-24: exactly in [0, 1)
  uniform float64 (k=2)  27 bits of the first word and 26 of the second, times 2**-53
  normal float32 (k=2)   Box-Muller from two 32-bit uniforms u1, u2 (each word times 2**-32)
  normal float64 (k=4)   Box-Muller from two 53-bit uniforms (words 0-1 and 2-3)

Box-Muller: ``z = sqrt(-2 log(1 - u1)) * cos(2 pi u2)``, computed in float64 and rounded
to the dtype (only the cosine half, so one element never depends on its neighbour);
``1 - u1`` lies in (0, 1], so the logarithm is finite and ``|z|`` is at most about 6.7
(float32) or 8.6 (float64). The uniforms are exact integer arithmetic, identical on
every machine; the normals go through numpy's float64 ``log`` and ``cos``, so on another
CPU or numpy build a float64 normal may differ in its last bit (a float32 normal almost
never does). On one machine every run, session and backend gives the same bits.

Kind ``random``: a kernel of its own that no pass fuses (``passes/fuse.py`` fuses only
elementwise, reduction, matmul and index-map ops) and that the LLVM backend does not
lower, so on ``device="cpu"`` it runs this numpy reference, as ``device="reference"``
does; the CUDA backend renders it (runtime/cuda/prelude.py's g_philox: the same words). It is deterministic, so constant folding (within the fold size cap) and CSE of
two equal ops (same seed, same attributes: the same numbers by definition) are exact.
"""
import numpy as np

from .. import dtypes as dt
from ..errors import DTypeError, GraphError, ShapeError
from .registry import EXPENSIVE, register
from .shapes import fmt_shape

RANDOM = "random"   # the op's kind: computed from its seed alone, never fused

DISTRIBUTIONS = ("uniform", "normal")
DTYPES = (dt.float32, dt.float64)

# Philox4x32 constants (Random123, philox.h)
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57      # round multipliers
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85      # Weyl key increments
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def philox4x32(counter, key, rounds=10):
    """Philox4x32-``rounds`` of counter words ``(c0, c1, c2, c3)`` (scalars or arrays that
    broadcast together, values taken modulo 2**32) under the key ``(k0, k1)`` (ints).

    Returns four uint32 arrays, the output words. ``rounds=10`` is the standard Philox.
    """
    words = np.broadcast_arrays(*(np.asarray(c).astype(np.uint64) & _MASK32 for c in counter))
    c0, c1, c2, c3 = (np.array(w) for w in words)
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + PHILOX_W0) & 0xFFFFFFFF, (k1 + PHILOX_W1) & 0xFFFFFFFF
        p0, p1 = c0 * m0, c2 * m1            # 32 x 32 -> 64 bits: exact in uint64
        c0, c1, c2, c3 = ((p1 >> _SHIFT32) ^ c1 ^ np.uint64(k0), p1 & _MASK32,
                          (p0 >> _SHIFT32) ^ c3 ^ np.uint64(k1), p0 & _MASK32)
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


def seed_key(seed):
    """The Philox key of a 64-bit seed: (low 32 bits, high 32 bits) of ``seed mod 2**64``."""
    s = int(seed) % (1 << 64)
    return s & 0xFFFFFFFF, s >> 32


def random_words(seed, n, k):
    """``n`` rows of ``k`` uint32 words: row ``i`` is words ``[i*k, (i+1)*k)`` of the stream."""
    total = n * k
    blocks = -(-total // 4)
    b = np.arange(blocks, dtype=np.uint64)
    out = philox4x32((b & _MASK32, b >> _SHIFT32, 0, 0), seed_key(seed))
    return np.stack(out, axis=-1).reshape(-1)[:total].reshape(n, k)


_WORDS = {("uniform", dt.float32): 1, ("uniform", dt.float64): 2,
          ("normal", dt.float32): 2, ("normal", dt.float64): 4}


def _uniform53(hi, lo):
    """A float64 in [0, 1) from 27 bits of ``hi`` and 26 of ``lo`` (numpy's and Random123's recipe)."""
    return ((hi >> np.uint32(5)).astype(np.float64) * 67108864.0 + (lo >> np.uint32(6))) * 2.0 ** -53


def sample(seed, distribution, shape, dtype):
    """The values of ``random(seed) {distribution, shape, dtype}``."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    w = random_words(seed, n, _WORDS[distribution, dtype])
    if distribution == "uniform":
        if dtype == dt.float32:
            x = (w[:, 0] >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)
        else:
            x = _uniform53(w[:, 0], w[:, 1])
    else:
        if dtype == dt.float32:
            u1, u2 = w[:, 0] * 2.0 ** -32, w[:, 1] * 2.0 ** -32
        else:
            u1, u2 = _uniform53(w[:, 0], w[:, 1]), _uniform53(w[:, 2], w[:, 3])
        radius = np.sqrt(-2.0 * np.log(1.0 - u1) + 0.0)     # + 0.0: u1 = 0 gives +0.0, not -0.0
        x = (radius * np.cos((2.0 * np.pi) * u2)).astype(dtype)
    return x.astype(dtype, copy=False).reshape(shape)


def check_attrs(distribution, shape, dtype):
    """Raise ShapeError/DTypeError/GraphError unless the attributes describe a draw."""
    if distribution not in DISTRIBUTIONS:
        raise GraphError(f"random distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    if (not isinstance(shape, tuple)
            or any(isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape)):
        raise ShapeError(f"random shape must be a tuple of non-negative ints, got {shape!r}")
    if not isinstance(dtype, np.dtype) or dtype not in DTYPES:
        raise DTypeError(f"random {distribution} draws float32 or float64, not {dtype}")


def _infer(inputs, distribution, shape, dtype):
    if len(inputs) not in (1, 2):
        raise GraphError(f"random takes a seed and optionally a tensor whose shape it draws, got {len(inputs)} inputs")
    seed = inputs[0]
    if len(inputs) == 2:   # the shape of a tensor (unknown dims included), known when the program runs
        if shape is not None:
            raise ShapeError("random takes either a shape attribute or a tensor to draw the shape of, not both")
        check_attrs(distribution, (), dtype)
        shape = tuple(inputs[1].shape)
    if seed.dtype != dt.int64:
        raise DTypeError(f"random seed must be int64, got {seed.dtype}")
    if tuple(seed.shape) != ():
        raise ShapeError(f"random seed must be a scalar, got {fmt_shape(seed.shape)}")
    if len(inputs) == 1:
        check_attrs(distribution, shape, dtype)
    return dtype, shape


def _compute(values, distribution, shape, dtype):
    seed = values[0]
    shape = values[1].shape if len(values) == 2 else shape
    return sample(int(np.asarray(seed)), distribution, shape, dtype)


# inputs: the seed, and optionally a tensor whose shape is drawn (then the shape attribute is None)
register("random", RANDOM, _infer, _compute, cost=EXPENSIVE, differentiable=False)
