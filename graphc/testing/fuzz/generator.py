"""Grows random, valid, domain-safe programs op by op (NNSmith's way: each op is chosen
among those whose constraints the existing tensors meet, and inputs that fall outside
an op's domain pass through an adapter first).

All randomness comes from a *chooser*: :class:`RandomChooser` (a seeded numpy
generator, for the fast loop) or the hypothesis front end's (``strategies.py``), whose
draws shrink toward the first option, fewer ops and smaller numbers.

Shapes straddle every size threshold of the CPU backend and the passes; each regime
names the thresholds it aims at (:data:`REGIMES`), read from the code they govern.
"""
import numpy as np

from ...passes.fold import FOLD_LIMIT
from ...passes.fuse import INLINE_CONSTANT, MAX_KERNEL_INPUTS, MAX_RECOMPUTE
from ...runtime.kernel.gemm import COLUMN_SUM_ROWS
from ...runtime.cpu.llvm_codegen import SUM_BLOCK_MAX, SUM_BLOCK_MIN
from ...runtime.cpu.llvm_gemm import KC, MC, MR, NC, NV
from ...runtime.cpu.native import PARALLEL_GEMM_WORK, PARALLEL_WORK, SMALL_PRODUCTS_SLOWER
from . import elementwise as E
from .program import Program

VECTOR_LANES = 16      # float32 lanes of a zmm register (8 on AVX2): loops and tails straddle both
around = lambda n: [n - 1, n, n + 1]   # noqa: E731

THRESHOLDS = {
    "vector": around(8) + around(16) + around(32) + around(64),
    "sum_block": around(SUM_BLOCK_MIN) + around(SUM_BLOCK_MAX) + [2 * SUM_BLOCK_MAX, 65537],  # 65537: prime, no block
    "column_sum_rows": around(COLUMN_SUM_ROWS),
    "gemm_rows": [1, MR - 1, MR, MR + 1, 2 * MR + 1, MC - 1, MC, MC + 1],
    "gemm_cols": [1, 15, 16, 17, 16 * NV - 1, 16 * NV, 16 * NV + 1, NC - 1, NC + 1],
    "gemm_depth": [1, 2, KC - 1, KC, KC + 1],
    "inline_constant": around(INLINE_CONSTANT),
    "fold_limit": around(FOLD_LIMIT),
}
# (m, n, k) on both sides of the GEMM-sharing threshold m * n * k = PARALLEL_GEMM_WORK, and
# of a 2-item batch's (SMALL_PRODUCTS_SLOWER * 2 * m * n * k: batched products are shared sooner)
GEMM_SHARED = [(256, 256, PARALLEL_GEMM_WORK // (256 * 256)), (255, 256, PARALLEL_GEMM_WORK // (256 * 256)),
               (64, 1024, PARALLEL_GEMM_WORK // (64 * 1024)), (63, 1024, PARALLEL_GEMM_WORK // (64 * 1024)),
               (64, 128, PARALLEL_GEMM_WORK // (2 * SMALL_PRODUCTS_SLOWER * 64 * 128)),
               (63, 128, PARALLEL_GEMM_WORK // (2 * SMALL_PRODUCTS_SLOWER * 64 * 128))]
# element counts on both sides of the threading threshold; rows of 128 where a row kernel
# with two reductions (3 element operations an element: layer_norm) crosses it
PARALLEL_SHAPES = [(512, PARALLEL_WORK // 512), (511, PARALLEL_WORK // 512), (PARALLEL_WORK,), (PARALLEL_WORK - 1,),
                   (2, PARALLEL_WORK // 2 + 1), (PARALLEL_WORK // 384 + 1, 128), (PARALLEL_WORK // 384, 128)]
SMALL_DIMS = [1, 2, 3, 4, 5, 7, 8]
REGIMES = ("small", "small", "small", "edge", "vector", "sum_block", "parallel", "gemm", "wide", "fanout", "conv")
FLOATS = (np.dtype(np.float32),) * 4 + (np.dtype(np.float64),)
LIMIT = 1e5            # no value grows beyond this (no float overflow anywhere)


class RandomChooser:
    """Choices from a seeded numpy generator."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def integer(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, options):
        return options[self.integer(0, len(options) - 1)]

    def chance(self, p):
        return self.rng.random() < p


def generate(chooser, max_ops=12, float_dtypes=None):
    """A random program; its outputs are the last step and a few others. ``float_dtypes``
    limits the float dtypes of its sources (gradient programs are float64)."""
    g = _Growing(chooser, float_dtypes)
    regime = chooser.pick(REGIMES)
    g.start(regime)
    for _ in range(chooser.integer(1, max_ops)):
        for _attempt in range(8):
            if g.grow(regime):
                break
    p = g.p
    outputs = [len(p.steps) - 1] + [chooser.integer(0, len(p.steps) - 1) for _ in range(chooser.integer(0, 2))]
    p.outputs = list(dict.fromkeys(outputs))
    variables = [i for i, s in enumerate(p.steps) if s.op == "variable"]
    updates = []
    if variables and chooser.chance(0.4):   # updates run with the fetches (assign, group)
        for v in variables[:2]:
            values = [i for i, x in enumerate(p.vals) if x.shape == p.vals[v].shape and x.dtype == p.vals[v].dtype
                      and i != v and p.steps[i].op != "variable"]
            if values:
                updates.append((v, chooser.pick(values)))
    program = Program.of(p.steps, p.outputs, updates)
    program.regime = regime
    program.drawer_errors = g.drawer_errors
    return program


class _Growing:
    def __init__(self, chooser, float_dtypes=None):
        self.c, self.p = chooser, Program()
        self.floats = tuple(np.dtype(d) for d in float_dtypes) if float_dtypes else FLOATS
        self.drawer_errors = []      # ops the generator drew wrongly (reported, then skipped)
        self.rng = np.random.default_rng(chooser.integer(0, 2 ** 31 - 1))   # feed values

    # -- sources ------------------------------------------------------------------------
    def values(self, shape, dtype):
        dtype = np.dtype(dtype)
        kind = self.c.integer(0, 3)
        if dtype == np.bool_:
            return self.rng.random(shape) < 0.5
        if dtype.kind == "i":
            return self.rng.integers(-9, 10, shape).astype(dtype)
        if kind == 0:
            v = self.rng.standard_normal(shape)
        elif kind == 1:
            v = self.rng.uniform(-3, 3, shape)
        elif kind == 2:   # small integers as floats: exact ties for max/argmax/equal
            v = self.rng.integers(-4, 5, shape).astype(np.float64)
        else:
            v = self.rng.standard_normal(shape) * 10 ** self.rng.uniform(-3, 2)
        return v.astype(dtype)

    def source(self, shape, dtype=None, kind=None):
        dtype = np.dtype(dtype or self.c.pick(self.floats))
        if dtype.kind == "f" and dtype not in self.floats:
            dtype = self.floats[0]
        kind = kind or self.c.pick(("input", "input", "input", "const", "variable"))
        if kind == "input" and shape and self.c.chance(0.15):   # a placeholder with unknown dims
            unknown = (0,) if self.c.chance(0.7) else tuple(range(len(shape)))
            return self.p.add(kind, value=self.values(shape, dtype), dtype=dtype.str, unknown=unknown)
        return self.p.add(kind, value=self.values(shape, dtype), dtype=dtype.str)

    def start(self, regime):
        c = self.c
        if regime == "edge":
            shape = c.pick([(), (0,), (1,), (3, 0), (1, 1), (0, 4), (1,) * 4, (5,)])
        elif regime == "vector":
            shape = (c.pick(THRESHOLDS["vector"]),) if c.chance(0.5) else (c.pick(SMALL_DIMS), c.pick(THRESHOLDS["vector"]))
        elif regime == "sum_block":
            n = c.pick(THRESHOLDS["sum_block"] + THRESHOLDS["column_sum_rows"])
            shape = (n,) if c.chance(0.5) or n > SUM_BLOCK_MAX else c.pick([(n, c.pick([1, 3, 8])), (2, n)])
        elif regime == "parallel":
            shape = c.pick(PARALLEL_SHAPES)
        elif regime == "gemm":
            shape = None
        else:
            shape = tuple(c.pick(SMALL_DIMS) for _ in range(c.integer(0, 4)))
        if regime == "gemm":
            self.start_gemm()
            return
        for _ in range(c.integer(1, 3)):
            self.source(self.broadcastable(shape))
        if c.chance(0.3):
            self.source(shape, c.pick(("int32", "int64")))
        if c.chance(0.2):
            self.source(shape, "bool")
        if regime == "wide":   # more buffers than one kernel may read
            xs = [self.source(shape, "float32", "input") for _ in range(c.pick(around(MAX_KERNEL_INPUTS)))]
            total = xs[0]
            for x in xs[1:]:
                total = self.p.add("add", (total, x))
        if regime == "fanout":  # one cheap intermediate read by kernels around the recompute limit
            first = self.pool(lambda v: v.dtype.kind == "f")[0]
            x = self.p.add("multiply", (first, first))
            for axis in range(c.pick(around(MAX_RECOMPUTE))):
                if self.p.vals[x].value.ndim:
                    self.p.add("sum", (x,), axis=axis % self.p.vals[x].value.ndim, keepdims=c.chance(0.5))

    def start_gemm(self):
        c = self.c
        if c.chance(0.2):
            m, n, k = c.pick(GEMM_SHARED)
        else:
            m, n, k = (c.pick(THRESHOLDS["gemm_rows"]), c.pick(THRESHOLDS["gemm_cols"]), c.pick(THRESHOLDS["gemm_depth"]))
        batch = c.pick([(), (), (2,), (1, 3)])
        dtype = c.pick(self.floats)
        view = c.pick([None, None, None, "rows", "columns", "moved"])   # A as a view of a bigger buffer
        a_shape = batch + ((k, m) if c.chance(0.3) and view is None else (m, k))
        r = len(batch)
        if view == "rows":       # whole rows (read in place when unbatched) or rows of each item
            a = self.source(batch + (m + 2, k), dtype)
            a = self.p.add("slice", (a,), slices=((None, None, None),) * r + ((1, m + 1, 1), (None, None, None)))
        elif view == "columns":  # a strided view: copied for the GEMM
            a = self.source(batch + (m, k + 3), dtype)
            a = self.p.add("slice", (a,), slices=((None, None, None),) * (r + 1) + ((2, k + 2, 1),))
        elif view == "moved":    # rows moved across the batch axes (attention's merged heads)
            a = self.source((m,) + batch + (k,), dtype)
            a = self.p.add("transpose", (a,), perm=tuple(range(1, r + 1)) + (0, r + 1))
        else:
            a = self.source(a_shape, dtype)
        if a_shape[-2:] == (k, m) and view is None:
            a = self.p.add("transpose", (a,), perm=tuple(range(r)) + (r + 1, r))
        b = self.source((batch if c.chance(0.5) else ()) + (k, n), dtype)
        self.p.add("matmul", (a, b))

    def broadcastable(self, shape):
        """``shape``, or a shape broadcasting to it (dims set to 1, leading dims dropped)."""
        c = self.c
        if not shape or c.chance(0.6):
            return shape
        shape = tuple(1 if c.chance(0.3) else d for d in shape)
        return shape[c.integer(0, len(shape)):] if c.chance(0.3) else shape

    # -- growth ---------------------------------------------------------------------------
    def pool(self, pred=lambda v: True):
        return [i for i, v in enumerate(self.p.vals) if pred(v)]

    def pick_tensor(self, pred=lambda v: True):
        options = self.pool(pred)
        if not options:
            raise _Reject()
        return self.c.pick(options[::-1])   # newest first: deeper graphs

    def grow(self, regime):
        """Add one op (and any adapters it needs); False if the drawn op did not fit."""
        from .draw import DRAWERS, WEIGHTED
        name = self.c.pick(WEIGHTED.get(regime, WEIGHTED["default"]))
        before = len(self.p.steps)
        try:
            ok = DRAWERS[name](self)
        except _Reject:
            ok = False
        except (ValueError, IndexError, TypeError) as e:   # a drawer's own mistake: never graphc's
            self.drawer_errors.append(f"{name}: {e!r}")
            ok = False
        if ok and len(self.p.steps) > before and self.sane(self.p.vals[-1]):
            return True
        while len(self.p.steps) > before:
            self.p.pop()
        return False

    @staticmethod
    def sane(v):
        if v.value.size == 0:
            return True
        if v.dtype.kind != "f":
            return v.dtype == np.bool_ or np.abs(v.value.astype(np.float64)).max() < 2 ** 40
        return bool(np.isfinite(v.value).all() and np.abs(v.value).max() <= LIMIT)

    def adapt(self, i, domain):
        """Step ``i``, or adapters of it whose values lie in ``domain`` (a float tensor)."""
        p = self.p
        if p.vals[i].dtype.kind != "f":
            i = p.add("cast", (i,), dtype=self.floats[0].name)
        if E.in_domain(domain, p.vals[i].value):
            return i
        dtype = p.vals[i].dtype
        if np.abs(p.vals[i].value).max(initial=0) > E.DOMAIN_LIMITS[domain] or domain in (E.BOUNDED, E.SMALL):
            scale = self.const(3.0 if domain in (E.BOUNDED, E.SMALL) else 10.0, dtype)
            i = p.add("multiply", (p.add("tanh", (i,)), scale))
        if domain == E.POSITIVE:
            i = p.add("add", (p.add("abs", (i,)), self.const(0.5, dtype)))
        elif domain == E.ABOVE_M1:
            i = p.add("subtract", (p.add("abs", (i,)), self.const(0.5, dtype)))
        if not E.in_domain(domain, p.vals[i].value):
            raise _Reject()
        return i

    def const(self, value, dtype, shape=()):
        return self.p.add("const", value=np.full(shape, value, np.dtype(dtype)), dtype=np.dtype(dtype).str)


class _Reject(Exception):
    """The drawn op does not fit here."""
