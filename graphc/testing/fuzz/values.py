"""The fuzzer's independent evaluation: float64 numpy values with running error bounds.

Every tensor of a generated program is a :class:`Val`: its exact value computed in
float64 (integers and bools exactly, in their own dtype), the dtype graphc computes it
in, and ``bound``, an elementwise bound on how far a correct float32 (or float64)
computation may be from that value. ``inf`` in the bound means "cannot be decided": a
comparison, floor or argmax whose operands lie within their bounds of a decision edge.
Such elements are not compared, and everything computed from them inherits the mark.

The bounds are first-order running error bounds (Wilkinson; Higham, "Accuracy and
Stability of Numerical Algorithms", ch. 3-4), one rule per op, with the rounding of each
op's own result stated once here:

================  ==========================================================
op class          own rounding, in units of eps(dtype) * |result|
================  ==========================================================
+ - * / sqrt      ``ULPS_BASIC`` (correctly rounded: 1/2 ulp, stated as 1)
exp log tanh ...  ``ULPS_MATH`` (graphc's inline approximations; tests/test_llvm_math.py)
sum, mean         ``sum_terms(n, dtype) * eps * sum|x|`` (blocked, vectorized partial sums)
matmul            ``k * eps * (|A| @ |B|)`` (Higham's gamma_k, any summation order)
================  ==========================================================

and a comparison tolerance ``SAFETY`` times the bound (first-order terms dropped,
compounded roundings). eps is 2**-24 for float32 and 2**-53 for float64.
"""
from dataclasses import dataclass

import numpy as np

from ...runtime.cpu.llvm_codegen import SUM_BLOCK_MAX, SUM_BLOCK_MIN

EPS = {np.dtype(np.float32): 2.0 ** -24, np.dtype(np.float64): 2.0 ** -53}
TINY = {np.dtype(np.float32): 2.0 ** -126, np.dtype(np.float64): 2.0 ** -1022}   # smallest normals
ULPS_BASIC = 1.0
ULPS_MATH = 8.0
SAFETY = 4.0


def sum_terms(n, dtype=np.float32):
    """Rounding terms of a float sum of n values as graphc's CPU backend computes it:
    blocks (a divisor of n in [256, 4096], or n itself up to 65536 when there is none,
    else single elements) summed in the input's precision in >= 8 vector lanes, then the
    n / block block totals added one after another into a float64 accumulator: for
    float32 inputs that adds nothing (29 more bits), for float64 ones it adds n / block
    terms. numpy's pairwise sum (device="reference") is well inside this."""
    block = n if n <= SUM_BLOCK_MAX else next(
        (b for b in range(SUM_BLOCK_MAX, SUM_BLOCK_MIN - 1, -1) if n % b == 0), 1 if n > 1 << 16 else n)
    sequential = n / max(block, 1) if np.dtype(dtype) == np.float64 else 0
    return block / 8 + 16 + sequential


@dataclass
class Val:
    value: np.ndarray      # float64 for float dtypes; the dtype itself for ints and bools
    bound: np.ndarray      # float64, same shape: |graphc - value| <= SAFETY * bound where finite
    dtype: np.dtype        # the dtype graphc computes in
    kink: bool = False     # a kink (relu, abs, max at a tie) lies within the bound: no derivative there

    @property
    def shape(self):
        return self.value.shape

    @property
    def is_float(self):
        return self.dtype.kind == "f"


def eps(dtype):
    return EPS.get(np.dtype(dtype), 0.0)


def clean(bound):
    """NaN (inf * 0) means undecidable too."""
    return np.where(np.isnan(bound), np.inf, bound)


def rounded(value, dtype, ulps=ULPS_BASIC):
    """The rounding of an op's own float result."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return np.zeros(np.shape(value))
    return ulps * EPS[dtype] * np.abs(value) + TINY[dtype]


def exact(value, dtype):
    """A value graphc computes exactly (a feed, an integer op, a data movement)."""
    value = np.asarray(value)
    value = value.astype(np.float64) if np.dtype(dtype).kind == "f" else value.astype(dtype)
    return Val(value, np.zeros(value.shape), np.dtype(dtype))


def near_kink(distance, bound):
    """Whether some value that can move (a positive bound) lies within it of a kink
    (``distance`` from it)."""
    return bool(np.any((np.abs(distance) <= bound) & (bound > 0)))


def undecided(bound, mask):
    """``bound`` with the elements of ``mask`` marked undecidable."""
    return np.where(mask, np.inf, bound)


def near_integer_edge(x, b, edge=0.0):
    """Where ``floor(x - edge)`` may differ between x - b and x + b (a floor/trunc edge)."""
    return np.floor(x - b - edge) != np.floor(x + b - edge)


def mismatch(got, want):
    """Elementwise: where ``got`` (graphc's array) is outside the bound of ``want`` (a Val).
    Undecidable elements never mismatch; non-finite results always do."""
    got = np.asarray(got)
    if got.shape != want.shape:
        return np.ones((1,), bool)
    decided = np.isfinite(want.bound)
    if want.dtype.kind != "f":
        return decided & (got != want.value)
    g = got.astype(np.float64)
    err = np.abs(g - want.value)
    return decided & ~(err <= SAFETY * want.bound)   # NaN in got fails too
