"""``structure_key``: one hashable value per kernel *function*, so a backend compiles
kernels that compute the same thing from their parameter table once (N identical layers
cost one function)."""
import numpy as np

from .expr import Const, IndexValue, Load, Op, Random, Reduce
from .index import Gathered, IBin, IConst, Var


def structure_key(kernel):
    """Equal for two kernels exactly when one compiled function serves both: the same
    parameters' dtypes and shapes, loops, expression DAG (constants by their bits), store
    index, stashes, GEMM, accumulation and convolution; their names and the buffers they are given
    (``sources``) play no part."""
    walk = _Canonical()
    stashes = tuple((walk.expr(r), param, walk.index(index)) for r, (param, index) in kernel.stashes.items())
    return (tuple((np.dtype(dtype).str, tuple(shape)) for _, dtype, shape in kernel.params),
            tuple(walk.var(v) for v in kernel.loops), walk.expr(kernel.value), walk.index(kernel.store_index),
            stashes, kernel.gemm, kernel.accumulate, kernel.conv)


class _Canonical:
    """Vars numbered by first appearance; a shared subexpression written once, then referred to."""

    def __init__(self):
        self.vars, self.seen = {}, {}

    def var(self, v):
        number = self.vars.setdefault(v, len(self.vars))
        return ("v", number, v.extent)

    def index(self, e):
        if isinstance(e, Var):
            return self.var(e)
        if isinstance(e, IConst):
            return ("c", e.value)
        if isinstance(e, IBin):
            return (e.op, self.index(e.a), self.index(e.b))
        if isinstance(e, Gathered):
            return ("gather", self.expr(e.value), e.extent, tuple(sorted(self.var(v) for v in e.vars)))
        raise TypeError(f"not an index expression: {e!r}")

    def expr(self, e):
        if isinstance(e, tuple):   # (argmax/argmin bodies: value and index)
            return ("tuple",) + tuple(self.expr(x) for x in e)
        if id(e) in self.seen:
            return ("ref", self.seen[id(e)])
        out = self._node(e)
        self.seen[id(e)] = len(self.seen)
        return out

    def _node(self, e):
        if isinstance(e, Load):
            return ("load", e.param, self.index(e.index), np.dtype(e.dtype).str)
        if isinstance(e, Const):
            dtype = np.dtype(e.dtype)
            return ("const", dtype.str, np.asarray(e.value, dtype).tobytes())
        if isinstance(e, Op):
            return ("op", e.op, np.dtype(e.dtype).str) + tuple(self.expr(a) for a in e.args)
        if isinstance(e, IndexValue):
            return ("indexvalue", self.index(e.index))
        if isinstance(e, Reduce):
            rvars = tuple(self.var(v) for v in e.rvars)
            return ("reduce", e.op, rvars, np.dtype(e.dtype).str, np.dtype(e.acc_dtype).str, self.expr(e.body))
        if isinstance(e, Random):
            return ("random", e.distribution, self.expr(e.seed), self.index(e.index), np.dtype(e.dtype).str)
        raise TypeError(f"not a kernel expression: {e!r}")
