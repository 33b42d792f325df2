"""Renders kernel IR (runtime.kernel) as LLVM IR with llvmlite.

Each kernel becomes ``void @name(ptr %params)``, ``params`` an array of buffer
pointers in the kernel's parameter order (the output last). Loops are plain
counted loops with the output index innermost-contiguous, which LLVM's loop
vectorizer widens; a reduction is computed in the loop nest at the depth where all
the variables its index uses are bound (for softmax: once per row, before the row's
elementwise loop). A GEMM calls graphc's own float32 GEMM (runtime.cpu.llvm_gemm, on hosts with
AVX-512F) or else the BLAS already in the process (numpy's OpenBLAS).
"""
import numpy as np
from llvmlite import ir

from .. import kernel as K
from . import llvm_conv, llvm_gemm
from .llvm_jit import BLAS_GEMM as GEMM_SYMBOL
from .llvm_util import counted_loop, declare

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
PTR = ir.PointerType()

MEMORY_TYPE = {np.dtype(np.float32): F32, np.dtype(np.float64): F64, np.dtype(np.int32): I32,
               np.dtype(np.int64): I64, np.dtype(np.bool_): I8}
REGISTER_TYPE = {**MEMORY_TYPE, np.dtype(np.bool_): I1}


def _alias_scopes(module, kernel, shared):
    """``{param: (alias.scope, noalias)}`` of a kernel whose output overlaps none of its inputs
    but the ``shared`` ones (loaded through the output's pointer): the output's loads and
    stores ("out") and the other read-only parameters' loads ("in"), each noalias to the other. Other
    parameters the kernel writes (a product's own buffer) get none: LLVM keeps their order
    as before. (An access without a scope would put every pointer back in one alias set.)"""
    def md(*operands):
        return module.add_metadata(list(operands))
    domain = md(ir.MetaDataString(module, "graphc.kernel"))
    out, inputs = md(ir.MetaDataString(module, "graphc.out"), domain), md(ir.MetaDataString(module, "graphc.in"), domain)
    last = len(kernel.params) - 1
    written = {last} | {param for param, _ in kernel.stashes.values()}
    if kernel.gemm is not None:
        written |= {kernel.gemm.out} | ({kernel.gemm.onto} if kernel.gemm.onto is not None else set())
    reads = {param: (md(inputs), md(out)) for param in set(range(last)) - written - set(shared)}
    return {**reads, last: (md(out), md(inputs))}   # param -> (its scope, the scope it does not alias)


def _is_float(dtype):
    return np.dtype(dtype).kind == "f"


class KernelBuilder:
    """Emits one kernel function into ``module``."""

    def __init__(self, module, kernel, symbol, math, by_columns=False, shared=None):
        """``by_columns``: [begin, end) is a range of the output's columns (its second
        loop) instead of its rows: a thread computes those columns of a wide product (so it
        packs only its part of B) and then their epilogue. ``shared``: the parameters stored
        at the output's own address (an in-place update), where every other one overlaps none
        of the output's memory (the caller knows from the memory plan); None where that is not
        known. The shared ones are loaded through the output's pointer, and the output's stores
        and the other inputs' loads get disjoint alias scopes, so LLVM vectorizes without
        runtime overlap checks (which send an in-place update down the scalar loop: its
        input and output addresses are equal)."""
        self.module, self.kernel, self.math, self.by_columns = module, kernel, math, by_columns
        self.shared = set(shared or ())
        self.scopes = _alias_scopes(module, kernel, self.shared) if shared is not None else None
        # void kernel(ptr params, i64 begin, i64 end): [begin, end) of the outermost loop,
        # so a large kernel can be split across threads
        self.fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64]), name=symbol)
        self.builder = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.var_values = {}
        self.cache = [{}]          # scoped expression cache (one dict per loop depth)

    # -- entry ------------------------------------------------------------------
    def build(self):
        b = self.builder
        self.ptrs = [b.load(b.gep(self.fn.args[0], [ir.Constant(I64, i)], source_etype=PTR), typ=PTR)
                     for i in range(len(self.kernel.params))]
        if self.kernel.gemm is not None:
            self._gemm(self.kernel.gemm, columns=self.by_columns)
        value, out = self.kernel.value, len(self.kernel.params) - 1
        epilogue = not (isinstance(value, K.Load) and value.param == out and value.index is self.kernel.store_index)
        conv = self.kernel.conv
        if conv is not None and epilogue and conv.op != "conv2d_backward_filter":
            # image by image (or by the few small images one GEMM call takes): each image's
            # epilogue right after its convolution, while it is in cache
            # (the weights packed once for the GEMM, for every image of this share)
            step, end = llvm_conv.Geometry(conv).images_per_call(conv.dtype), self.fn.args[2]
            whole = llvm_conv.ConvEmitter(b, self.module, conv, self.ptrs, *self.fn.args[1:3])
            packed = whole.pack_weights()

            def image(n, _):
                last = b.add(n, ir.Constant(I64, step))
                one = (n, b.select(b.icmp_signed("<", last, end), last, end))
                llvm_conv.ConvEmitter(b, self.module, conv, self.ptrs, *one, packed_weights=packed).emit()
                self.cache.append({})   # (values computed in this loop's body stay in it)
                self._loops(list(self.kernel.loops), K.reductions_of(value), outer=one)
                self.cache.pop()
            counted_loop(b, self.fn.args[1], end, step, image)
            if packed is not None:
                whole.free_packed(packed)
        else:
            if conv is not None:
                llvm_conv.ConvEmitter(b, self.module, conv, self.ptrs, *self.fn.args[1:3]).emit()
            if epilogue:   # (else no epilogue: out as computed)
                self._loops(list(self.kernel.loops), K.reductions_of(value))
        b.ret_void()
        return self.fn

    def _loops(self, loops, reductions, bound=(), outer=None):
        """The loop nest over ``loops`` (the outermost over this share, [begin, end), or over
        ``outer``), then the value stored."""
        ready = [r for r in reductions if K.free_vars(r) <= set(bound)]
        for r in ready:
            self._value(r)
        pending = [r for r in reductions if r not in ready]
        if not loops:
            out_param = len(self.kernel.params) - 1
            value = self._value(self.kernel.value)
            self._store(out_param, self.kernel.store_index, value, self.kernel.params[out_param][1])
            return
        var, rest = loops[0], loops[1:]
        bounds = (self.fn.args[1], self.fn.args[2]) if len(bound) == int(self.by_columns) else None
        if bounds is not None and outer is not None:
            bounds = outer
        self._for(var, lambda _: self._loops(rest, pending, bound + (var,)), bounds=bounds)

    def _for(self, var, body, carried=(), bounds=None):
        """for var in range(var.extent) (or range(*bounds)): carried = body(carried);
        returns the final carried values."""
        b = self.builder
        pre = b.block
        head = self.fn.append_basic_block(f"{var.name}.head")
        loop = self.fn.append_basic_block(f"{var.name}.body")
        done = self.fn.append_basic_block(f"{var.name}.done")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64, name=var.name)
        i.add_incoming(bounds[0] if bounds else ir.Constant(I64, 0), pre)
        phis = []
        for value in carried:
            phi = b.phi(value.type)
            phi.add_incoming(value, pre)
            phis.append(phi)
        b.cbranch(b.icmp_signed("<", i, bounds[1] if bounds else ir.Constant(I64, var.extent)), loop, done)
        b.position_at_end(loop)
        self.var_values[var] = i
        self.cache.append({})
        updated = body(phis) or ()
        self.cache.pop()
        del self.var_values[var]
        nxt = b.add(i, ir.Constant(I64, 1))
        i.add_incoming(nxt, b.block)
        for phi, value in zip(phis, updated):
            phi.add_incoming(value, b.block)
        b.branch(head)
        b.position_at_end(done)
        return phis

    # -- memory ---------------------------------------------------------------------
    def _addr(self, param, index, dtype):
        return self.builder.gep(self.ptrs[param], [self._index(index)], source_etype=MEMORY_TYPE[np.dtype(dtype)])

    def _store(self, param, index, value, dtype):
        if np.dtype(dtype) == np.bool_:
            value = self.builder.zext(value, I8)
        store = self.builder.store(value, self._addr(param, index, dtype))
        if param == len(self.kernel.params) - 1:   # (a stash into another parameter: unscoped)
            self._scope(store, param)

    def _load(self, node):
        param = len(self.kernel.params) - 1 if node.param in self.shared else node.param   # (the same address)
        v = self.builder.load(self._addr(param, node.index, node.dtype), typ=MEMORY_TYPE[np.dtype(node.dtype)])
        self._scope(v, param)
        return self.builder.trunc(v, I1) if np.dtype(node.dtype) == np.bool_ else v

    def _scope(self, instruction, param):
        scopes = self.scopes.get(param) if self.scopes is not None else None
        if scopes is not None:
            instruction.set_metadata("alias.scope", scopes[0])
            instruction.set_metadata("noalias", scopes[1])

    # -- index expressions ------------------------------------------------------------
    def _index(self, e):
        b = self.builder
        if isinstance(e, K.Var):
            return self.var_values[e]
        if isinstance(e, K.IConst):
            return ir.Constant(I64, e.value)
        a, c = self._index(e.a), self._index(e.b)
        if e.op == "add":
            return b.add(a, c)
        if e.op == "mul":
            return b.mul(a, c)
        if e.op == "div":
            return b.sdiv(a, c)
        if e.op == "mod":
            return b.srem(a, c)
        if e.op == "min":
            return b.select(b.icmp_signed("<", a, c), a, c)
        return b.select(b.icmp_signed(">", a, c), a, c)

    # -- scalar expressions -----------------------------------------------------------
    def _value(self, e):
        for scope in reversed(self.cache):
            if e in scope:
                return scope[e]
        v = self._emit(e)
        self.cache[-1][e] = v    # valid in this loop body and the loops inside it
        return v

    def _emit(self, e):
        if isinstance(e, K.Load):
            return self._load(e)
        if isinstance(e, K.Const):
            return _constant(e.value, e.dtype)
        if isinstance(e, K.IndexValue):
            return self._index(e.index)
        if isinstance(e, K.Reduce):
            return self._reduce(e)
        args = [self._value(a) for a in e.args]
        if e.op == "cast":
            return self._cast(args[0], e.args[0].dtype, e.dtype)
        if e.op == "where":
            return self.builder.select(args[0], args[1], args[2])
        return self.math.emit(self.builder, e.op, args, np.dtype(e.args[0].dtype), np.dtype(e.dtype))

    def _cast(self, v, src, dst):
        b, src, dst = self.builder, np.dtype(src), np.dtype(dst)
        if src == dst:
            return v
        if dst == np.bool_:
            return b.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0)) if _is_float(src) else \
                b.icmp_signed("!=", v, ir.Constant(v.type, 0))
        target = REGISTER_TYPE[dst]
        if src == np.bool_:
            return b.uitofp(v, target) if _is_float(dst) else b.zext(v, target)
        if _is_float(src) and _is_float(dst):
            return b.fpext(v, target) if dst.itemsize > src.itemsize else b.fptrunc(v, target)
        if _is_float(src):   # NaN, ±Inf and out-of-range values give INT_MIN (fptosi: poison)
            bound = float(2 ** (8 * dst.itemsize - 1))
            inside = b.and_(b.fcmp_ordered(">=", v, ir.Constant(v.type, -bound)),
                            b.fcmp_ordered("<", v, ir.Constant(v.type, bound)))
            return b.select(inside, b.fptosi(v, target), ir.Constant(target, -int(bound)))
        if _is_float(dst):
            return b.sitofp(v, target)
        return b.sext(v, target) if dst.itemsize > src.itemsize else b.trunc(v, target)

    def _reduce(self, r):
        """A loop nest over the reduction variables carrying the accumulator in phis (a small
        reduction, such as a pooling window, unrolled instead, unless its body values are
        stashed for the output loop: the stash is written by the sum's loop)."""
        b = self.builder
        acc_type = REGISTER_TYPE[np.dtype(r.acc_dtype)]
        is_arg = r.op in ("argmax", "argmin")
        state = [ir.Constant(acc_type, _identity(r.op, r.acc_dtype))] + ([ir.Constant(I64, 0)] if is_arg else [])
        rvars = list(r.rvars)

        def combine(acc):
            if is_arg:
                value, idx = self._value(r.body[0]), self._index(r.body[1].index)
                better = self.math.arg_better(b, r.op, value, acc[0], np.dtype(r.acc_dtype))
                return [b.select(better, value, acc[0]), b.select(better, idx, acc[1])]
            return [self.math.combine(b, r.op, acc[0], self._value(r.body), np.dtype(r.acc_dtype))]

        def loop_nest():   # (float sums blocked along the innermost reduction variable)
            if r.op in ("sum", "mean") and _is_float(r.acc_dtype) and rvars:
                return self._carried_loops(rvars[:-1], state, lambda acc: [self._blocked_sum(r, rvars[-1], acc[0])])
            return self._carried_loops(rvars, state, combine)

        if 0 < int(np.prod([v.extent for v in rvars])) <= UNROLLED_REDUCTION and r not in self.kernel.stashes:
            result = self._unrolled(rvars, state, combine)
            if is_arg:
                return result[1]
            value = result[0]
        elif r.op in ("max", "min") and _is_float(r.acc_dtype):
            value = self._float_extremum(r, loop_nest, state, acc_type)
        else:
            result = loop_nest()
            if is_arg:
                return result[1]
            value = result[0]
        if r.op == "mean":
            count = int(np.prod([v.extent for v in r.rvars]))
            value = b.fdiv(value, ir.Constant(acc_type, float(count))) if _is_float(r.acc_dtype) else value
        return self._cast(value, r.acc_dtype, r.dtype)

    def _unrolled(self, vars_, acc, combine):
        """``combine`` applied for every value of ``vars_`` in order, as straight-line code
        (no loop, no branch: the loop around it vectorizes); the exact combiners throughout."""
        for values in np.ndindex(*[v.extent for v in vars_]):
            for v, value in zip(vars_, values):
                self.var_values[v] = ir.Constant(I64, int(value))
            self.cache.append({})   # (values that depend on the reduction variables: this term's)
            acc = combine(acc)
            self.cache.pop()
        for v in vars_:
            del self.var_values[v]
        return acc

    def _carried_loops(self, vars_, acc, innermost):
        """A loop over each of ``vars_`` (outermost first) carrying ``acc``; ``innermost(acc)``
        gives the carried values' next ones. Returns the final ones."""
        if not vars_:
            return innermost(acc)
        return self._for(vars_[0], lambda phis: self._carried_loops(vars_[1:], phis, innermost), acc)

    def _float_extremum(self, r, exact, state, acc_type):
        """A float max (min) reduction as x86's max instruction runs it, ``v > acc ? v : acc``
        (one instruction on the accumulator's chain, against llvm.maximum's six), with a
        flag for NaNs met. Its result is the IEEE maximum's unless a NaN was met or it is a
        zero (of either sign: which one is IEEE's depends on the zeros met), and in those
        rare cases ``exact()`` (the llvm.maximum loop) runs again over the same elements."""
        b = self.builder
        bigger = ">" if r.op == "max" else "<"

        def quick(acc):
            value = self._value(r.body)
            # (no NaNs, no signed zeros: what makes it a max reduction the vectorizer knows;
            # a NaN makes it poison, and then the flag discards it)
            better = b.fcmp_ordered(bigger, value, acc[0], flags=("nnan", "nsz"))
            return [b.select(better, value, acc[0], flags=("nnan", "nsz")),
                    b.or_(acc[1], b.fcmp_unordered("uno", value, value))]

        value, unordered = self._carried_loops(list(r.rvars), state + [ir.Constant(I1, 0)], quick)
        # (a select, not an or: the zero test of a poison value must not reach the branch)
        rare = b.select(unordered, ir.Constant(I1, 1), b.fcmp_ordered("==", value, ir.Constant(acc_type, 0.0)))
        fast_block = b.block
        with b.if_then(rare, likely=False):
            (exact_value,) = exact()
            exact_block = b.block
        merged = b.phi(acc_type)
        merged.add_incoming(value, fast_block)
        merged.add_incoming(exact_value, exact_block)
        return merged

    def _blocked_sum(self, r, var, acc):
        """Blocked summation over ``var``: each block summed in the input's precision with
        reassociation allowed (so it vectorizes into many partial sums), block sums added
        into the wide accumulator ``acc``. float32 sums of 10^7 elements stay accurate."""
        b = self.builder
        body = r.body
        if isinstance(body, K.Op) and body.op == "cast" and _is_float(getattr(body.args[0], "dtype", np.int64)):
            body = body.args[0]   # accumulate blocks in the input's precision
        block_type = REGISTER_TYPE[np.dtype(body.dtype)] if _is_float(body.dtype) else REGISTER_TYPE[r.acc_dtype]
        size = _block_size(var.extent)
        blocks = K.Var(var.name + "b", var.extent // size)
        lane = K.Var(var.name + "l", size)

        def per_block(outer):
            start = b.mul(self.var_values[blocks], ir.Constant(I64, size))

            def per_element(inner):
                self.var_values[var] = b.add(start, self.var_values[lane])
                value = self._value(body)
                if r in self.kernel.stashes:   # keep the summed value for the output loop
                    param, index = self.kernel.stashes[r]
                    self._store(param, index, value, self.kernel.params[param][1])
                if value.type != block_type:
                    value = self._cast(value, body.dtype, r.acc_dtype)
                total = b.fadd(inner[0], value)
                total.flags.append("reassoc")
                del self.var_values[var]
                return [total]

            (partial,) = self._for(lane, per_element, [ir.Constant(block_type, 0.0)])
            if partial.type != outer[0].type:
                partial = b.fpext(partial, outer[0].type)
            return [b.fadd(outer[0], partial)]

        (total,) = self._for(blocks, per_block, [acc])
        return total

    def _gemm(self, g, columns=False):
        b = self.builder
        scalar = REGISTER_TYPE[np.dtype(g.dtype)]
        own = llvm_gemm.uses_own_gemm(g.dtype)
        update = g.onto is not None
        fn = llvm_gemm.declare_sgemm(self.module, update) if own else declare(
            self.module, GEMM_SYMBOL[np.dtype(g.dtype)], ir.VoidType(),
            [I32, I32, I32, I64, I64, I64, scalar, PTR, I64, PTR, I64, scalar, PTR, I64])
        share = None if columns else gemm_share(self.kernel)
        begin, end = self.fn.args[1], self.fn.args[2]
        for item, (a_off, b_off, c_off) in enumerate(g.batch):
            if share is not None and share[0] == "items":   # this share's items only
                outer = ir.Constant(I64, item // share[1])
                mine = b.and_(b.icmp_signed("<=", begin, outer), b.icmp_signed("<", outer, end))
                with b.if_then(mine):
                    self._gemm_call(g, fn, own, update, a_off, b_off, c_off, None)
            else:   # whole, or this share's columns or rows
                self._gemm_call(g, fn, own, update, a_off, b_off, c_off, "columns" if columns else share)

    def _gemm_call(self, g, fn, own, update, a_off, b_off, c_off, part):
        """One product of ``g``: whole, or ``part``: "columns" [begin, end) of it, or
        ("rows", R): its rows [begin*R, end*R)."""
        b = self.builder
        scalar = REGISTER_TYPE[np.dtype(g.dtype)]
        lda = g.m if g.trans_a else g.k
        ldb = g.k if g.trans_b else g.n
        typ = MEMORY_TYPE[np.dtype(g.dtype)]
        begin, end = self.fn.args[1], self.fn.args[2]
        m, n = ir.Constant(I64, g.m), ir.Constant(I64, g.n)
        a_ptr = self._addr(g.a, K.IConst(a_off), g.dtype)
        b_ptr = self._addr(g.b, K.IConst(b_off), g.dtype)
        c_ptr = self._addr(g.out, K.IConst(c_off), g.dtype)
        if part == "columns":   # columns [begin, end) of the product
            n = b.sub(end, begin)
            b_ptr = b.gep(b_ptr, [b.mul(begin, ir.Constant(I64, ldb if g.trans_b else 1))], source_etype=typ)
            c_ptr = b.gep(c_ptr, [begin], source_etype=typ)
        elif part is not None:   # rows [begin*R, end*R) of the output: a thread's share of the product
            rows = ir.Constant(I64, part[1])
            first = b.mul(begin, rows)
            m = b.mul(b.sub(end, begin), rows)
            a_ptr = b.gep(a_ptr, [b.mul(first, ir.Constant(I64, 1 if g.trans_a else lda))], source_etype=typ)
            c_ptr = b.gep(c_ptr, [b.mul(first, ir.Constant(I64, g.n))], source_etype=typ)
        if update:    # out = onto + alpha * product: start from onto's values unless out is onto
            self._copy_block(g.onto, g.out, c_ptr, m, n, g)
        args = [ir.Constant(I32, 101), ir.Constant(I32, 112 if g.trans_a else 111),
                ir.Constant(I32, 112 if g.trans_b else 111),
                m, n, ir.Constant(I64, g.k), ir.Constant(scalar, g.alpha),
                a_ptr, ir.Constant(I64, lda), b_ptr, ir.Constant(I64, ldb), ir.Constant(scalar, 1.0 if update else 0.0),
                c_ptr, ir.Constant(I64, g.n)]
        if own:     # graphc_sgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc) (, alpha)
            args = [ir.Constant(I64, int(g.trans_a)), ir.Constant(I64, int(g.trans_b))] + args[3:6] + args[7:11] \
                + args[12:] + ([ir.Constant(F32, g.alpha)] if update else [])
        b.call(fn, args)

    def _copy_block(self, src_param, dst_param, dst_ptr, rows, cols, g):
        """Copy the block of ``src`` that ``dst_ptr`` (rows x cols, row stride g.n) starts,
        when the two parameters are different buffers."""
        b = self.builder
        src_base, dst_base = self.ptrs[src_param], self.ptrs[dst_param]
        differ = b.icmp_unsigned("!=", b.ptrtoint(src_base, I64), b.ptrtoint(dst_base, I64))
        with b.if_then(differ):
            shift = b.sub(b.ptrtoint(dst_ptr, I64), b.ptrtoint(dst_base, I64))
            src_ptr = b.inttoptr(b.add(b.ptrtoint(src_base, I64), shift), PTR)
            size = np.dtype(g.dtype).itemsize
            memcpy = declare(self.module, "llvm.memcpy.p0.p0.i64", ir.VoidType(), [PTR, PTR, I64, I1])
            row = K.Var("copy_row", 0)

            def copy_row(_):
                step = b.mul(self.var_values[row], ir.Constant(I64, g.n * size))
                b.call(memcpy, [b.inttoptr(b.add(b.ptrtoint(dst_ptr, I64), step), PTR),
                                b.inttoptr(b.add(b.ptrtoint(src_ptr, I64), step), PTR),
                                b.mul(cols, ir.Constant(I64, size)), ir.Constant(I1, 0)])
            self._for(row, copy_row, bounds=(ir.Constant(I64, 0), rows))


def gemm_share(kernel):
    """How a GEMM kernel computes just a range [begin, end) of its outer loop, so threads
    can share it: ``("rows", R)``, one product whose outer index i is its rows
    [i*R, (i+1)*R) (a matrix, or batch items folded into rows); ``("items", P)``, batched
    products whose outer index i is items [i*P, (i+1)*P) (attention's heads); else None."""
    g = kernel.gemm
    loops = [v.extent for v in kernel.loops]
    if g is None or len(loops) < 2 or loops[-1] != g.n or 0 in loops:
        return None
    if len(g.batch) == 1 and int(np.prod(loops[:-1])) == g.m:
        return "rows", g.m // loops[0]
    if len(loops) >= 3 and loops[-2] == g.m and int(np.prod(loops[:-2])) == len(g.batch):
        return "items", len(g.batch) // loops[0]
    return None


UNROLLED_REDUCTION = 16   # reductions over at most this many elements are unrolled (pooling windows)
SUM_BLOCK_MIN, SUM_BLOCK_MAX = 256, 4096   # a float sum is blocked by a divisor of its length in this range


def _block_size(n, lo=SUM_BLOCK_MIN, hi=SUM_BLOCK_MAX):
    """A divisor of ``n`` to block a sum by: n itself when small, else the largest in [lo, hi]."""
    if n <= hi:
        return max(n, 1)
    for size in range(hi, lo - 1, -1):
        if n % size == 0:
            return size
    return 1 if n > 1 << 16 else n


def _constant(value, dtype):
    dtype = np.dtype(dtype)
    t = REGISTER_TYPE[dtype]
    if dtype == np.bool_:
        return ir.Constant(I1, int(bool(value)))
    return ir.Constant(t, float(value) if _is_float(dtype) else int(value))


def _identity(op, dtype):
    dtype = np.dtype(dtype)
    if op in ("sum", "mean"):
        return 0.0 if _is_float(dtype) else 0
    if op == "prod":
        return 1.0 if _is_float(dtype) else 1
    if op in ("max", "argmax"):
        return -np.inf if _is_float(dtype) else (0 if dtype == np.bool_ else int(np.iinfo(dtype).min))
    return np.inf if _is_float(dtype) else (1 if dtype == np.bool_ else int(np.iinfo(dtype).max))
