"""Lowering a kernel (a fused node's body, or one op) to the kernel IR.

The lowering walks the body from its output, carrying the index each value is read at;
equal subexpressions are shared. ``LOWERINGS`` is its table, keyed by op (then by the
op's kind for elementwise ops and reductions): an op it has no entry for raises
:class:`Unsupported` and the kernel runs through the reference. Elementwise ops become
``Op`` nodes of their own name, their operands converted as the op's ``operands``
trait says; whether a backend renders a given ``Op`` is the backend's own table.
"""
import numpy as np

from ...dtypes import promote
from ...ir.analysis import view_base
from ...ops import AS_GIVEN, ELEMENTWISE, LAYOUT_VIEW, REDUCTION, SELECT, TO_COMMON, TO_TRUTH
from .expr import Const, IndexValue, Load, Op, Random, Reduce, free_vars, reductions_of, substitute
from .conv import lower_conv
from .gemm import lower_gemm
from .index import Gathered, IBin, IConst, Var, broadcast_index, flat_index, iadd, imul, unflatten
from .kernel import Kernel, OwnBuffer, Unsupported
from .pool import POOL_LOWERINGS


class Lowering:
    """The state of one kernel's lowering: its parameters (buffers), the expressions made
    so far, and the reductions met (for the stash of a row-wise kernel)."""

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
            if node is source and _scalar_constant(source):
                continue   # (read as a constant of the code, as in a fused body: ``constant`` below)
            if base is source:
                self.param_of[node] = self.add_param(node.name, node.dtype, node.shape, source)
            else:   # read the view's base buffer through the view's index map
                if node is not source:   # a body placeholder standing for the view
                    self.alias[node] = source
                if base not in self.param_of:
                    self.param_of[base] = self.add_param(base.name, base.dtype, base.shape, base)
        self.out_node = out_node

    def add_param(self, name, dtype, shape, source=None):
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
        rule = LOWERINGS.get(node.op) or KIND_LOWERINGS.get(node.opdef.kind)
        if rule is None:
            raise Unsupported(f"{node.op} inside a kernel")
        return rule(self, node, index)

    def elementwise(self, node, index):
        args = tuple(self.value(x, broadcast_index(index, node.shape, x.shape)) for x in node.inputs)
        work = operand_dtype(node)
        if work is not None:   # the reference computes in this dtype too
            skip = node.opdef.operands == SELECT   # (where's condition is read as it is)
            args = tuple(a if a.dtype == work or (skip and k == 0) else Op("cast", (a,), work)
                         for k, a in enumerate(args))
        return Op(node.op, args, node.dtype)

    def constant(self, node, index):
        value = node.attrs["value"]
        if value.size == 1:
            return Const(value.reshape(()).item(), node.dtype)
        self.param_of[node] = self.add_param(node.name, node.dtype, node.shape, node)
        return self._value(node, index)

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
            if not {l for f, l in zip(full, loops) if f not in r.rvars} <= free_vars(r):
                continue          # the same for every row (constant rows): computed once, before any row loop
            again = self.memo.get((x, loops))
            if again is None or isinstance(again, Load):
                continue          # nothing to save by reading it back
            # one stash per kernel: a second would overwrite the output row before it is read
            load = Load(out, flat_index(loops, root.shape), root.dtype)
            return substitute(value, {again: load}), {r: (out, flat_index(full, root.shape))}
        return value, {}


def _scalar_constant(node):
    return node.op == "constant" and node.attrs["value"].size == 1


def operand_dtype(node):
    """The dtype an elementwise op's operands are converted to before it computes (as
    its numpy reference does, by its ``operands`` trait), or None when used as they are."""
    rule = node.opdef.operands
    if rule == AS_GIVEN:
        return None
    if rule == TO_TRUTH:
        return np.dtype(bool)   # the truth of each operand
    if rule == TO_COMMON:
        return promote(*(x.dtype for x in node.inputs))
    return node.dtype           # TO_RESULT, and SELECT's two values


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


def _full_like(lw, node, index):   # never reads its input
    return Const(node.dtype.type(node.attrs["value"]).item(), node.dtype)


def _take_index(lw, indices, index, extent):
    """The Gathered index of ``indices`` (a node) read at ``index``, into an axis of ``extent``."""
    if extent == 0:   # every index is out of range: the reference raises numpy's IndexError
        raise Unsupported("a gather from an empty axis")
    value = lw.value(indices, index)
    return Gathered(value, extent, frozenset(free_vars(value)))


def _gather(lw, node, index):
    x, indices = node.inputs
    axis, k = node.attrs["axis"], len(indices.shape)
    taken = _take_index(lw, indices, index[axis:axis + k], x.shape[axis])
    return lw.value(x, index[:axis] + (taken,) + index[axis + k:])


def scatter_kernel(lw, node):
    """scatter_add as an accumulating kernel: over the updates' index space, each update
    added at its gathered position of the zeroed output (``x`` gives only the shape)."""
    x, indices, updates = node.inputs
    axis, k = node.attrs["axis"], len(indices.shape)
    loops = tuple(lw.fresh("i", d) for d in updates.shape)
    value = lw.value(updates, loops)
    if 0 in updates.shape:
        target = tuple(IConst(0) for _ in node.shape)
    else:
        target = loops[:axis] + (_take_index(lw, indices, loops[axis:axis + k], x.shape[axis]),) + loops[axis + k:]
    lw.add_param(node.name, node.dtype, node.shape, node)   # the output
    return Kernel(node.name, lw.params, loops, value, flat_index(target, node.shape), sources=lw.sources,
                  accumulate=True)


def _random(lw, node, index):   # (a second input gives only the shape: never read)
    seed = lw.value(node.inputs[0], ())
    return Random(node.attrs["distribution"], seed, flat_index(index, node.shape), node.dtype)


# op -> rule(lowering, node, index) -> expression; then by kind (elementwise ops, reductions)
LOWERINGS = {"constant": Lowering.constant, "full_like": _full_like, "matmul": Lowering.dot_product,
             "reshape": _reshape, "expand_dims": _expand_dims, "squeeze": _squeeze, "transpose": _transpose,
             "slice": _slice, "broadcast_to": _broadcast_to, "pad": _pad, "concat": _concat,
             "random": _random, "gather": _gather, **POOL_LOWERINGS}   # (pooling: runtime.kernel.pool)
KIND_LOWERINGS = {ELEMENTWISE: Lowering.elementwise, REDUCTION: Lowering.reduce}


def lower(kernel_node, input_nodes, body=None, private_product=False):
    """Lower one kernel (a fused node with its body, or a single op node) to a Kernel.

    ``input_nodes`` are the body's placeholders (or the node's inputs) in order, standing
    for the kernel node's inputs; an input that is a view of another buffer is read
    from that buffer through the view's index map. ``Kernel.sources`` names, per
    parameter, the outer node (or constant) whose buffer it is; the output is last.
    """
    root = body.outputs[0] if body is not None else kernel_node
    if root.op == "scatter_add" and body is None:
        return scatter_kernel(Lowering(kernel_node.name, input_nodes, root, list(kernel_node.inputs)), kernel_node)
    kernel = lower_conv(Lowering(kernel_node.name, input_nodes, root, list(kernel_node.inputs)),
                        kernel_node, body, root, private_product)
    if kernel is not None:   # a convolution, as GEMMs over patches (runtime.kernel.conv)
        return kernel
    kernel = lower_gemm(Lowering(kernel_node.name, input_nodes, root, list(kernel_node.inputs)),
                        kernel_node, body, root, private_product)
    if kernel is not None:   # a matmul, or a column sum, through a GEMM (runtime.kernel.gemm)
        return kernel
    lw = Lowering(kernel_node.name, input_nodes, root, list(kernel_node.inputs))
    at = _loop_node(root, body)
    loops = tuple(lw.fresh("i", d) for d in at.shape)
    value = lw.value(at, loops)
    out = lw.add_param(kernel_node.name, root.dtype, root.shape, kernel_node)
    value, stashes = lw.stash(root, loops, value, out)
    return Kernel(kernel_node.name, lw.params, _kept_first(loops, value), value, flat_index(loops, at.shape),
                  sources=lw.sources, stashes=stashes)


def _kept_first(loops, value):
    """The loop order of a kernel: the output's, except that the axes every reduction keeps
    go outermost. A row-wise kernel reducing over leading axes (batch norm's statistics over
    N, H, W of an NCHW tensor) then computes each reduction once per kept index (per
    channel) instead of once per index of every loop outside the kept one, and its threads
    share it by kept index. (The store index does not depend on the loop order.)"""
    reductions = reductions_of(value)
    if not reductions:
        return loops
    kept = set(loops)
    for r in reductions:
        kept &= free_vars(r)
    order = tuple(v for v in loops if v in kept) + tuple(v for v in loops if v not in kept)
    return order


def _loop_node(root, body):
    """The node whose shape an elementwise kernel loops over: the root, or, when the root
    only reshapes a value computed in the kernel (a layout view: the same elements in the
    same order), that value, so a copy that merges heads loops over (b, t, h, d) and reads
    each head row contiguously instead of dividing its flat position."""
    if body is None or any(n.opdef.kind == REDUCTION for n in body.nodes):
        return root
    node = root
    while node.opdef.view == LAYOUT_VIEW and node.inputs[0].op != "placeholder":
        node = node.inputs[0]
    return node



def lower_kernel(node, private_product=False):
    """The kernel IR of kernel ``node`` (a fused node or a single op) and the arrays of its
    constant parameters ({param index: array}): constants of its body, and buffers the
    kernel owns (a private product, the ones of a column sum)."""
    if node.op == "fused":
        body = node.attrs["body"]
        params = [n for n in body.nodes if n.op == "placeholder"]
        kernel = lower(node, params, body, private_product)
    else:
        kernel = lower(node, list(node.inputs), private_product=private_product)
    constants = {}
    for i, src in enumerate(kernel.sources[:-1]):
        if isinstance(src, OwnBuffer):
            _, dtype, shape = kernel.params[i]
            constants[i] = np.empty(shape, dtype) if src.fill is None else np.full(shape, src.fill, dtype)
        elif src.op == "constant" and src.graph is not node.graph:
            constants[i] = np.ascontiguousarray(src.attrs["value"])
    return kernel, constants


def lower_kernels(kernel_nodes, check, private_products=()):
    """{node: (Kernel, constants)} for the kernel nodes that lower and that ``check`` (a
    backend's, raising Unsupported) accepts, in order; the others are left out, for the
    executor to run by the reference. Matmul kernels in ``private_products`` compute their
    product into a buffer of their own."""
    lowered = {}
    for node in kernel_nodes:
        try:
            kernel, constants = lower_kernel(node, node in private_products)
            check(kernel)
        except Unsupported:
            continue
        lowered[node] = (kernel, constants)
    return lowered
