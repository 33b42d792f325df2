"""The loop-level kernel IR: what a backend renders, free of anything CPU-specific.

A kernel computes one value over an index space. Its parameters are contiguous
row-major buffers (kernel inputs, the output, constants); every load goes through an
index map written as integer arithmetic on the loop variables, so broadcast,
transpose, slice, reshape, pad and concat cost no copies. Scalars form an expression
tree of the op table's elementwise op names. A row-wise kernel first computes its
reductions for each outer index (each a loop over the reduced axes with a combiner),
then the elementwise work that reads them. A matmul kernel runs a GEMM into its
output and then its epilogue in place.

Lowering starts from a fused node's body (or a single op) and walks it from the
output, carrying the index each value is read at; equal subexpressions are shared.
"""
from dataclasses import dataclass, field

import numpy as np

from ..dtypes import promote
from ..ops import ELEMENTWISE, REDUCTION
from ..ops.elementwise import BINARY, UNARY
from ..passes.memory import view_base


# -- integer index expressions -------------------------------------------------
@dataclass(frozen=True)
class Var:
    name: str
    extent: int


@dataclass(frozen=True)
class IConst:
    value: int


@dataclass(frozen=True)
class IBin:
    op: str          # add, mul, div (floor, non-negative), mod, min, max
    a: object
    b: object


def iadd(a, b):
    if isinstance(a, IConst) and a.value == 0:
        return b
    if isinstance(b, IConst) and b.value == 0:
        return a
    if isinstance(a, IConst) and isinstance(b, IConst):
        return IConst(a.value + b.value)
    return IBin("add", a, b)


def imul(a, b):
    if isinstance(b, IConst):
        a, b = b, a
    if isinstance(a, IConst):
        if a.value == 0:
            return IConst(0)
        if a.value == 1:
            return b
        if isinstance(b, IConst):
            return IConst(a.value * b.value)
    return IBin("mul", a, b)


def idiv(a, n):
    return a if n == 1 else IConst(0) if extent_of(a) <= n else IBin("div", a, IConst(n))


def imod(a, n):
    return IConst(0) if n == 1 else a if extent_of(a) <= n else IBin("mod", a, IConst(n))


def extent_of(e):
    """An upper bound (exclusive) of a non-negative index expression."""
    if isinstance(e, Var):
        return e.extent
    if isinstance(e, IConst):
        return e.value + 1
    if e.op == "add":
        return extent_of(e.a) + extent_of(e.b) - 1
    if e.op == "mul":
        return (extent_of(e.a) - 1) * (extent_of(e.b) - 1) + 1
    if e.op == "div":
        return (extent_of(e.a) - 1) // e.b.value + 1
    if e.op == "mod":
        return min(extent_of(e.a), e.b.value)
    return max(extent_of(e.a), extent_of(e.b))


def flat_index(index, shape):
    """Row-major offset of ``index`` into a contiguous buffer of ``shape``."""
    offset, stride = IConst(0), 1
    for i, d in zip(reversed(index), reversed(shape)):
        if d != 1:
            offset = iadd(offset, imul(IConst(stride), i))
        stride *= d
    return offset


def unflatten(offset, shape):
    if 0 in shape:   # an empty tensor: no index into it is ever read
        return tuple(IConst(0) for _ in shape)
    out, stride = [], 1
    for d in reversed(shape):
        out.append(IConst(0) if d == 1 else imod(idiv(offset, stride), d))
        stride *= d
    return tuple(reversed(out))


# -- scalar expressions ----------------------------------------------------------
@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class Load:
    param: int
    index: object        # flat offset
    dtype: np.dtype


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class Const:
    value: object
    dtype: np.dtype


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class Op:
    op: str              # an elementwise op name, "cast" or "where"
    args: tuple
    dtype: np.dtype


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class IndexValue:
    """An index expression used as a scalar (an int64), e.g. for argmax."""
    index: object


@dataclass(frozen=True, eq=False)   # identity: lowering shares equal subexpressions
class Reduce:
    op: str              # sum, prod, mean, max, min, argmax, argmin
    body: object         # expression over the reduction variables
    rvars: tuple         # Vars looped over
    dtype: np.dtype      # result dtype
    acc_dtype: np.dtype  # accumulator dtype


@dataclass
class Kernel:
    """One kernel. ``params`` are (name, dtype, shape) of contiguous buffers; the last
    one is the output. ``loops`` are the Vars of the output index space, outermost
    first; ``value`` is the expression stored at ``out[store_index]``. For a matmul
    kernel ``gemm`` describes the product written before the epilogue runs."""
    name: str
    params: list
    loops: tuple
    value: object
    store_index: object
    gemm: object = None
    sources: list = field(default_factory=list)
    stashes: dict = field(default_factory=dict)   # Reduce -> (param, index) its body values are stored at


@dataclass(frozen=True)
class Gemm:
    """out[b] = a[b] @ bmat[b] for every batch index b (offsets per batch in elements)."""
    a: int
    b: int
    trans_a: bool
    trans_b: bool
    m: int
    n: int
    k: int
    batch: tuple          # (a offset, b offset, out offset) per batch item
    dtype: np.dtype
    out: int              # the parameter the product is written to
    alpha: float = 1.0    # out = alpha * product (+ the accumulated parameter's values)
    onto: int | None = None   # out = onto + alpha * product (onto is usually out itself: an in-place update)


# -- analysis (what every renderer needs to know about a kernel) ------------------------
def children(e):
    if isinstance(e, Op):
        return e.args
    if isinstance(e, Reduce):
        return e.body if isinstance(e.body, tuple) else (e.body,)
    return ()


def reductions_of(e, found=None):
    """Reductions in ``e``, innermost first (a reduction's body may hold others)."""
    found = [] if found is None else found
    for c in children(e):
        reductions_of(c, found)
    if isinstance(e, Reduce) and e not in found:
        found.append(e)
    return found


def _index_vars(e, out):
    if isinstance(e, Var):
        out.add(e)
    elif isinstance(e, IBin):
        _index_vars(e.a, out)
        _index_vars(e.b, out)


def free_vars(e, out=None):
    """Loop variables an expression depends on (a reduction's own variables excluded)."""
    out = set() if out is None else out
    if isinstance(e, Load):
        _index_vars(e.index, out)
    elif isinstance(e, IndexValue):
        _index_vars(e.index, out)
    elif isinstance(e, Reduce):
        inner = set()
        for c in children(e):
            free_vars(c, inner)
        out |= inner - set(e.rvars)
    else:
        for c in children(e):
            free_vars(c, out)
    return out


def split_safe(kernel):
    """Whether ``kernel`` may be run as shares of its outermost loop ([begin, end) ranges
    on several threads). Not when a reduction is computed before that loop (a full
    reduction such as a 1-D softmax's sum): every share would recompute it whole, and a
    stash of its body values would write outside the share, over another share's output."""
    if not kernel.loops:
        return False
    outer = kernel.loops[0]
    return all(outer in free_vars(r) for r in reductions_of(kernel.value))


class Unsupported(Exception):
    """The kernel uses something this lowering cannot express (the executor falls back)."""


# -- lowering ------------------------------------------------------------------------
class _Lowering:
    def __init__(self, name, inputs, out_node, sources):
        self.name = name
        self.params = []               # (name, dtype, shape)
        self.sources = []              # per param: the outer node (or constant node) it reads
        self.param_of = {}             # node -> param index
        self.alias = {}                # body placeholder -> outer view node it stands for
        self.memo = {}
        self.reduced = []              # (Reduce, reduced node, its index, its value expression)
        self.counter = 0
        for node, source in zip(inputs, sources):
            base = view_base(source)
            if base is source:
                self.param_of[node] = self._add_param(node.name, node.dtype, node.shape, source)
            else:   # read the view's base buffer through the view's index map
                if node is not source:   # a body placeholder standing for the view
                    self.alias[node] = source
                if base not in self.param_of:
                    self.param_of[base] = self._add_param(base.name, base.dtype, base.shape, base)
        self.out_node = out_node

    def _add_param(self, name, dtype, shape, source=None):
        self.params.append((name, dtype, tuple(shape)))
        self.sources.append(source)
        return len(self.params) - 1

    def fresh(self, prefix, extent):
        self.counter += 1
        return Var(f"{prefix}{self.counter}", extent)

    def value(self, node, index):
        key = (node, index)
        if key not in self.memo:
            self.memo[key] = self._value(node, tuple(index))
        return self.memo[key]

    def _value(self, node, index):
        if node in self.param_of:
            return Load(self.param_of[node], flat_index(index, node.shape), node.dtype)
        if node in self.alias:
            return self.value(self.alias[node], index)
        op, attrs = node.op, node.attrs
        if op == "constant":
            value = attrs["value"]
            if value.size == 1:
                return Const(value.reshape(()).item(), node.dtype)
            self.param_of[node] = self._add_param(node.name, node.dtype, node.shape, node)
            return self._value(node, index)
        if op == "full_like":   # never reads its input
            return Const(node.dtype.type(attrs["value"]).item(), node.dtype)
        if node.opdef.kind == ELEMENTWISE:
            args = tuple(self.value(x, broadcast_index(index, node.shape, x.shape)) for x in node.inputs)
            work = operand_dtype(node)
            if work is not None:   # the reference computes in this dtype too
                args = tuple(a if a.dtype == work or (op == "where" and k == 0) else Op("cast", (a,), work)
                             for k, a in enumerate(args))
            return Op(op, args, node.dtype)
        if op in MOVES:
            return MOVES[op](self, node, index)
        if node.opdef.kind == REDUCTION:
            return self.reduce(node, index)
        if op == "matmul":
            return self.dot_product(node, index)
        raise Unsupported(f"{op} inside a kernel")

    def dot_product(self, node, index):
        """A matmul element as a sum over k (integer matmul: no BLAS; wraps like numpy)."""
        a, b = node.inputs
        k = self.fresh("r", a.shape[-1])
        # numpy's rule: a 1-D operand gains a unit axis (dropped again in the output)
        a2 = (1,) + a.shape if len(a.shape) == 1 else a.shape
        b2 = b.shape + (1,) if len(b.shape) == 1 else b.shape
        idx = list(index)
        if len(b.shape) == 1:
            idx.append(IConst(0))
        if len(a.shape) == 1:
            idx.insert(len(idx) - 1, IConst(0))
        batch_shape = node.shape[:len(idx) - 2]
        batch, i, j = tuple(idx[:-2]), idx[-2], idx[-1]
        a_index = broadcast_index(batch, batch_shape, a2[:-2]) + (i, k)
        b_index = broadcast_index(batch, batch_shape, b2[:-2]) + (k, j)
        a_index = a_index[1:] if len(a.shape) == 1 else a_index
        b_index = b_index[:-1] if len(b.shape) == 1 else b_index
        product = Op("multiply", (self.value(a, a_index), self.value(b, b_index)), node.dtype)
        return Reduce("sum", product, (k,), node.dtype, node.dtype)

    def reduce(self, node, index):
        (x,) = node.inputs
        axes = node.attrs.get("axes")
        if axes is None:
            axis = node.attrs["axis"]
            axes = tuple(range(len(x.shape))) if axis is None else (axis,)
        keep = node.attrs["keepdims"]
        rvars = tuple(self.fresh("r", x.shape[a]) for a in axes)
        it, full = iter(index), []
        for a in range(len(x.shape)):
            if a in axes:
                if keep:
                    next(it)
                full.append(rvars[axes.index(a)])
            else:
                full.append(next(it))
        if node.op in ("argmax", "argmin"):
            flat = flat_index(tuple(rvars), tuple(x.shape[a] for a in axes))
            body = (self.value(x, tuple(full)), IndexValue(flat))
            return Reduce(node.op, body, rvars, node.dtype, x.dtype)
        acc = np.dtype(np.float64) if node.dtype == np.float32 and node.op in ("sum", "mean") else node.dtype
        reduced = body = self.value(x, tuple(full))
        if body.dtype != acc:
            body = Op("cast", (body,), acc)
        r = Reduce(node.op, body, rvars, node.dtype, acc)
        self.reduced.append((r, x, tuple(full), reduced))
        return r

    def stash(self, root, loops, value, out):
        """Row-wise kernels: a value that a reduction sums and the output reads again at the
        same positions (softmax's exp) is written into the output row by the reduction's
        loop and read back by the output loop instead of being computed twice.
        Returns the rewritten output expression and {Reduce: (out param, flat index)}."""
        for r, x, full, reduced in reversed(self.reduced):
            if x.shape != root.shape or x.dtype != root.dtype or root.dtype.kind != "f" \
                    or r.op not in ("sum", "mean"):
                continue          # (only float sums run the blocked loop that stores the stash)
            if not r.rvars:
                continue          # a sum over no axes runs no loop that could store it
            if any(not isinstance(f, Var) or (f not in r.rvars and f is not l) for f, l in zip(full, loops)):
                continue
            reduced_at = [k for k, f in enumerate(full) if f in r.rvars]
            if reduced_at != list(range(len(full) - len(reduced_at), len(full))):
                continue          # the reduced axes must be the innermost: computed once per row
            again = self.memo.get((x, loops))
            if again is None or isinstance(again, Load):
                continue          # nothing to save by reading it back
            # one stash per kernel: a second would overwrite the output row before it is read
            load = Load(out, flat_index(loops, root.shape), root.dtype)
            return _substitute(value, {again: load}), {r: (out, flat_index(full, root.shape))}
        return value, {}


def _substitute(e, replace):
    """``e`` with the subexpressions in ``replace`` (by identity) swapped out."""
    if e in replace:
        return replace[e]
    if isinstance(e, Op):
        args = tuple(_substitute(a, replace) for a in e.args)
        return e if all(a is b for a, b in zip(args, e.args)) else Op(e.op, args, e.dtype)
    return e


def operand_dtype(node):
    """The dtype an elementwise op's operands are converted to before it computes (as
    its numpy reference does), or None when they are used as they are."""
    if node.op in ("cast", "isnan", "isfinite"):
        return None
    if node.op in ("logical_and", "logical_or", "logical_not"):
        return np.dtype(bool)   # the truth of each operand
    if node.op == "where":
        return node.dtype
    rule = (UNARY.get(node.op) or BINARY.get(node.op))[1]
    if rule in ("compare",):
        return promote(*(x.dtype for x in node.inputs))
    return node.dtype


def broadcast_index(index, out_shape, in_shape):
    lead = len(out_shape) - len(in_shape)
    return tuple(IConst(0) if d == 1 else index[lead + k] for k, d in enumerate(in_shape))


def _reshape(lw, node, index):
    (x,) = node.inputs
    return lw.value(x, unflatten(flat_index(index, node.shape), x.shape))


def _expand_dims(lw, node, index):
    axes = node.attrs["axes"]
    return lw.value(node.inputs[0], tuple(i for k, i in enumerate(index) if k not in axes))


def _squeeze(lw, node, index):
    (x,) = node.inputs
    it = iter(index)
    return lw.value(x, tuple(IConst(0) if k in node.attrs["axes"] else next(it) for k in range(len(x.shape))))


def _transpose(lw, node, index):
    perm = node.attrs["perm"]
    src = [None] * len(perm)
    for k, p in enumerate(perm):
        src[p] = index[k]
    return lw.value(node.inputs[0], tuple(src))


def _slice(lw, node, index):
    (x,) = node.inputs
    src = []
    for i, d, (start, stop, step) in zip(index, x.shape, node.attrs["slices"]):
        begin, _, stride = slice(start, stop, step).indices(d)
        src.append(iadd(IConst(begin), imul(IConst(stride), i)) if stride > 0 else
                   IBin("add", IConst(begin), imul(IConst(stride), i)))
    return lw.value(x, tuple(src))


def _broadcast_to(lw, node, index):
    x = node.inputs[0]
    return lw.value(x, broadcast_index(index, node.shape, x.shape))


def _in_range_select(lw, conds, inside, outside):
    cond = None
    for c in conds:
        cond = c if cond is None else Op("logical_and", (cond, c), np.dtype(bool))
    return inside if cond is None else Op("where", (cond, inside, outside), inside.dtype)


def _pad(lw, node, index):
    (x,) = node.inputs
    if 0 in x.shape:   # nothing to read: every element is padding (a select would still load)
        return Const(node.attrs["value"], node.dtype)
    src, conds = [], []
    for i, d, (before, _) in zip(index, x.shape, node.attrs["pads"]):
        if before == 0 and d == node.shape[len(src)]:
            src.append(i)
            continue
        shifted = IBin("add", i, IConst(-before))
        conds.append(Op("logical_and", (Op("greater_equal", (IndexValue(shifted), Const(0, np.dtype(np.int64))),
                                              np.dtype(bool)),
                                          Op("less", (IndexValue(shifted), Const(d, np.dtype(np.int64))),
                                             np.dtype(bool))), np.dtype(bool)))
        src.append(IBin("max", IConst(0), IBin("min", shifted, IConst(d - 1))))
    inside = lw.value(x, tuple(src))
    return _in_range_select(lw, conds, inside, Const(node.attrs["value"], node.dtype))


def _concat(lw, node, index):
    """Select the operand the index falls in, by binary search (depth log2 of the count)."""
    axis = node.attrs["axis"]
    parts, start = [], 0
    for x in node.inputs:
        size = x.shape[axis]
        if size == 0:   # an empty part is never selected (and a load from it would read nothing valid)
            continue
        local = IBin("add", index[axis], IConst(-start))
        clamped = IBin("max", IConst(0), IBin("min", local, IConst(max(size - 1, 0))))
        parts.append((start, lw.value(x, index[:axis] + (clamped,) + index[axis + 1:])))
        start += size
    if not parts:   # every part is empty: so is the output
        return Const(0, node.dtype)

    def pick(lo, hi):
        if hi - lo == 1:
            return parts[lo][1]
        mid = (lo + hi) // 2
        below = Op("less", (IndexValue(index[axis]), Const(parts[mid][0], np.dtype(np.int64))), np.dtype(bool))
        return Op("where", (below, pick(lo, mid), pick(mid, hi)), node.dtype)

    return pick(0, len(parts))


MOVES = {"reshape": _reshape, "expand_dims": _expand_dims, "squeeze": _squeeze, "transpose": _transpose,
         "slice": _slice, "broadcast_to": _broadcast_to, "pad": _pad, "concat": _concat}


def lower(kernel_node, input_nodes, body=None, private_product=False):
    """Lower one kernel (a fused node with its body, or a single op node) to a Kernel.

    ``input_nodes`` are the body's placeholders (or the node's inputs) in order, standing
    for the kernel node's inputs; an input that is a view of another buffer is read
    from that buffer through the view's index map. ``Kernel.sources`` names, per
    parameter, the outer node (or constant) whose buffer it is; the output is last.
    """
    root = body.outputs[0] if body is not None else kernel_node
    kernel = lower_gemm(_Lowering(kernel_node.name, input_nodes, root, list(kernel_node.inputs)),
                        kernel_node, body, root, private_product)
    if kernel is not None:   # a matmul, or a column sum, through a GEMM (runtime.gemm_lowering)
        return kernel
    lw = _Lowering(kernel_node.name, input_nodes, root, list(kernel_node.inputs))
    loops = tuple(lw.fresh("i", d) for d in root.shape)
    value = lw.value(root, loops)
    out = lw._add_param(kernel_node.name, root.dtype, root.shape, kernel_node)
    value, stashes = lw.stash(root, loops, value, out)
    return Kernel(kernel_node.name, lw.params, loops, value, flat_index(loops, root.shape), sources=lw.sources,
                  stashes=stashes)


from .gemm_lowering import lower_gemm  # noqa: E402  (it builds on the definitions above)
