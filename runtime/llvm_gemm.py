"""graphc's own float32 GEMM, generated as LLVM IR (hosts with AVX-512F).

``add_sgemm(module)`` defines in an llvmlite module

    void graphc_sgemm(i64 trans_a, i64 trans_b, i64 m, i64 n, i64 k,
                      ptr a, i64 lda, ptr b, i64 ldb, ptr c, i64 ldc)

computing C = op(A) @ op(B) (row-major, C overwritten; op(X) = X^T when trans_x != 0; k = 0
gives zeros), single-threaded: graphc's worker threads each call it on a share of the rows.
``sgemm_symbol()`` compiles it once per process in a module of its own (object code from the
disk cache when there) and registers its address, so kernel modules only declare it.

Design (BLIS style): for each nc-wide block of columns and kc-deep block of the sum (k split
into equal blocks of at most KC), op(B) is packed into NR-wide column panels ([kc][NR] each)
and, for each mc-tall block of rows, op(A) into MR-tall row panels ([kc][MR] each). Packing
absorbs the transposes (16x16 in-register transposes for a transposed B, shuffles of MR rows x
16 columns for a plain A, row chunks for a transposed A) and zero-pads the edges, kc included
(to a multiple of the k unroll). The micro-kernel keeps an MR x NR tile of C in MR*NR/16 zmm
accumulators (6 x 64: 24 of the 32) and per k step loads NR/16 vectors of packed B and
broadcasts MR packed A values into ``llvm.fma.v16f32`` (vbroadcastss + vfmadd231ps, no
spills). The macro-kernel walks B panels outside A panels (a B panel stays in L1, the A block
in L2). Full tiles are written straight to C (stored for the first kc block, added after),
edge tiles through a small buffer. Products at most 16 columns wide use an 8 x 16 tile; one-row
products (bias gradients) a packing-free row kernel. Packing buffers are malloc'ed per call.
"""
import ctypes
import functools
import threading

from llvmlite import ir

I1, I32, I64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
F32 = ir.FloatType()
PTR = ir.PointerType()
V16 = ir.VectorType(F32, 16)

SYMBOL = "graphc_sgemm"
SIGNATURE = [I64, I64, I64, I64, I64, PTR, I64, PTR, I64, PTR, I64]
UPDATE_SYMBOL = "graphc_sgemm_update"        # C += alpha * op(A) @ op(B): the same arguments, then alpha
UPDATE_SIGNATURE = SIGNATURE + [F32]
CORE_SIGNATURE = SIGNATURE + [F32, I64]       # ..., alpha, accumulate (into C from the first block on)
MR, NV = 6, 4            # micro-tile: MR rows x NV*16 columns (24 zmm accumulators)
NARROW = (8, 1)          # the micro-tile of products at most 16 columns wide
KU = 4                   # k unroll of the micro-kernel (kc is padded to a multiple)
KC, MC, NC = 384, 192, 3072


@functools.lru_cache(maxsize=None)
def available():
    """Whether the host has AVX-512F (the micro-kernel is written for 32 zmm registers)."""
    try:
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        return bool(llvm.get_host_cpu_features().get("avx512f", False))
    except Exception:
        return False


_lock = threading.Lock()
_compiled = []      # the JitModule holding graphc_sgemm, kept alive for the process


def sgemm_symbol():
    """The symbol of graphc's float32 GEMM for generated code to call (declared with
    ``declare_sgemm``), or None where the host lacks AVX-512F (graphc keeps OpenBLAS there).

    The GEMM is compiled once per process in a module of its own (object code from the disk
    cache when there) and its address registered with the JIT, so kernel modules only declare
    it: they stay quick to compile and their cache keys do not depend on it."""
    if not available():
        return None
    with _lock:
        if not _compiled:
            import llvmlite.binding as llvm
            from .llvm_jit import JitModule, target_machine
            module = ir.Module(name="graphc_sgemm")
            tm = target_machine()
            module.triple = tm.triple
            module.data_layout = str(tm.target_data)
            add_sgemm(module)
            try:
                jit = JitModule(str(module))
            except Exception:   # never worse than before: generated code keeps calling OpenBLAS
                _compiled.append(None)
                return None
            llvm.add_symbol(SYMBOL, jit.address(SYMBOL))
            llvm.add_symbol(UPDATE_SYMBOL, jit.address(UPDATE_SYMBOL))
            _compiled.append(jit)
    return SYMBOL if _compiled[0] is not None else None


def declare_sgemm(module, update=False):
    """``graphc_sgemm`` (or, with ``update``, ``graphc_sgemm_update``) declared in ``module`` (once)."""
    symbol, signature = (UPDATE_SYMBOL, UPDATE_SIGNATURE) if update else (SYMBOL, SIGNATURE)
    fn = module.globals.get(symbol)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), signature), name=symbol)
    return fn


def sgemm_function():
    """A ctypes function for graphc_sgemm (tests, benchmarks), or None without AVX-512F."""
    if sgemm_symbol() is None:
        return None
    proto = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 5 + [ctypes.c_void_p, ctypes.c_int64] * 3))
    return proto(_compiled[0].address(SYMBOL))


def sgemm_update_function():
    """A ctypes function for graphc_sgemm_update (C += alpha * op(A) @ op(B)), or None."""
    if sgemm_symbol() is None:
        return None
    proto = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 5 + [ctypes.c_void_p, ctypes.c_int64] * 3 + [ctypes.c_float]))
    return proto(_compiled[0].address(UPDATE_SYMBOL))


def _c64(v):
    return ir.Constant(I64, v)


class _Fn:
    """A function under construction with a few loop helpers."""

    def __init__(self, module, name, args, linkage="internal", ret=ir.VoidType(), small=False):
        self.fn = ir.Function(module, ir.FunctionType(ret, args), name=name)
        if linkage:
            self.fn.linkage = linkage
            self.fn.attributes.add("noinline")
        self.fn.attributes.add("nounwind")
        if small:   # no unrolling or vectorizing of the (cold, scalar) loops: quick to compile
            self.fn.attributes.add("optsize")
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))

    def loop(self, start, stop, step, body, carried=()):
        """for (i = start; i < stop; i += step) carried = body(i, carried); returns carried."""
        b = self.b
        pre = b.block
        head = b.append_basic_block("head")
        body_bb = b.append_basic_block("body")
        exit_bb = b.append_basic_block("exit")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64)
        i.add_incoming(start, pre)
        phis = []
        for v in carried:
            p = b.phi(v.type)
            p.add_incoming(v, pre)
            phis.append(p)
        b.cbranch(b.icmp_signed("<", i, stop), body_bb, exit_bb)
        b.position_at_end(body_bb)
        new = body(i, list(phis)) or []
        nxt = b.add(i, step if isinstance(step, ir.Value) else _c64(step))
        latch = b.block
        b.branch(head)
        i.add_incoming(nxt, latch)
        for p, v in zip(phis, new):
            p.add_incoming(v, latch)
        b.position_at_end(exit_bb)
        return phis

    def if_else(self, cond, then, otherwise=None):
        b = self.b
        with b.if_else(cond) as (t, o):
            with t:
                then()
            with o:
                if otherwise is not None:
                    otherwise()

    def gep(self, ptr, idx, typ=F32):
        return self.b.gep(ptr, [idx if isinstance(idx, ir.Value) else _c64(idx)], source_etype=typ)

    def min(self, x, y):
        return self.b.select(self.b.icmp_signed("<", x, y), x, y)


def _fma(module):
    fn = module.globals.get("llvm.fma.v16f32")
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(V16, [V16, V16, V16]), name="llvm.fma.v16f32")
    return fn


def _masked_load(module):
    fn = module.globals.get("llvm.masked.load.v16f32.p0")
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(V16, [PTR, I32, ir.VectorType(I1, 16), V16]),
                         name="llvm.masked.load.v16f32.p0")
    return fn


def _masked_store(module):
    fn = module.globals.get("llvm.masked.store.v16f32.p0")
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [V16, PTR, I32, ir.VectorType(I1, 16)]),
                         name="llvm.masked.store.v16f32.p0")
    return fn


def _lane_masks(b, count, nvec):
    """<16 x i1> masks of lanes 16v + l < count, v < nvec."""
    i32x16 = ir.VectorType(I32, 16)
    splat = b.insert_element(ir.Constant(i32x16, None), b.trunc(count, I32), ir.Constant(I32, 0))
    splat = b.shuffle_vector(splat, splat, ir.Constant(i32x16, [0] * 16))
    return [b.icmp_signed("<", ir.Constant(i32x16, list(range(16 * v, 16 * v + 16))), splat) for v in range(nvec)]


def _gemv(module, name, nvec=8):
    """void gemv(i64 trans_a, i64 n, i64 k, ptr a, i64 lda, ptr b, i64 ldb, ptr c): the one-row product
    c[0:n] = op(A)[0, :] @ B (B not transposed), straight from B in blocks of 16*nvec columns."""
    f = _Fn(module, name, [I64, I64, I64, PTR, I64, PTR, I64, PTR])
    ta, n, k, a, lda, bm, ldb, c = f.fn.args
    b = f.b
    fma, zero = _fma(module), ir.Constant(V16, [0.0] * 16)
    step_a = b.select(b.icmp_signed("!=", ta, _c64(0)), lda, _c64(1))

    def block(jb, _):
        masks = _lane_masks(b, b.sub(n, jb), nvec)

        def term(p, accs):
            av = _splat(b, b.load(f.gep(a, b.mul(p, step_a)), typ=F32))
            row = f.gep(bm, b.add(b.mul(p, ldb), jb))
            return [b.call(fma, [av, b.call(_masked_load(module), [f.gep(row, 16 * v), ir.Constant(I32, 4), masks[v], zero]),
                                 accs[v]]) for v in range(nvec)]
        accs = f.loop(_c64(0), k, 1, term, [zero] * nvec)
        for v in range(nvec):
            b.call(_masked_store(module), [accs[v], f.gep(c, b.add(jb, _c64(16 * v))), ir.Constant(I32, 4), masks[v]])
    f.loop(_c64(0), n, 16 * nvec, block)
    b.ret_void()
    return f.fn


def _splat(b, x):
    v = b.insert_element(ir.Constant(V16, ir.Undefined), x, ir.Constant(I32, 0))
    return b.shuffle_vector(v, ir.Constant(V16, ir.Undefined), ir.Constant(ir.VectorType(I32, 16), [0] * 16))


def _transpose16(b, rows):
    """16 <16 x float> rows -> their transpose (4 stages of two-source shuffles)."""
    rows = list(rows)
    mask_t = ir.VectorType(I32, 16)
    h = 8
    while h >= 1:
        lo = ir.Constant(mask_t, [c if c & h == 0 else 16 + c - h for c in range(16)])
        hi = ir.Constant(mask_t, [c + h if c & h == 0 else 16 + c for c in range(16)])
        new = list(rows)
        for r in range(16):
            if r & h == 0:
                new[r] = b.shuffle_vector(rows[r], rows[r + h], lo)
                new[r + h] = b.shuffle_vector(rows[r], rows[r + h], hi)
        rows = new
        h //= 2
    return rows


def _interleave(b, rows):
    """R rows of 16 values -> the R vectors of their column-major flattening
    (flat[c*R + r] = rows[r][c]): two-source shuffles per pair of rows, then blends."""
    nrows = len(rows)
    mask_t = ir.VectorType(I32, 16)
    out = []
    for q in range(nrows):
        rowof = [(16 * q + lane) % nrows for lane in range(16)]
        colof = [(16 * q + lane) // nrows for lane in range(16)]
        vec = None
        for r0 in range(0, nrows, 2):
            pair = [r for r in (r0, r0 + 1) if r < nrows]
            lanes = [rowof[lane] in pair for lane in range(16)]
            if not any(lanes):
                continue
            second = rows[r0 + 1] if r0 + 1 < nrows else ir.Constant(V16, ir.Undefined)
            mask = [colof[lane] + (16 if rowof[lane] == r0 + 1 else 0) if lanes[lane] else 0 for lane in range(16)]
            part = b.shuffle_vector(rows[r0], second, ir.Constant(mask_t, mask))
            if vec is None:
                vec = part
            else:
                vec = b.select(ir.Constant(ir.VectorType(I1, 16), [int(x) for x in lanes]), part, vec)
        out.append(vec)
    return out


def _edge_store(module, nr_full, name):
    """void edge(ptr tile, ptr c, i64 ldc, i64 mr, i64 nr, i64 accumulate): C[0:mr, 0:nr] (+)= tile."""
    f = _Fn(module, name, [PTR, PTR, I64, I64, I64, I64], small=True)
    tile, c, ldc, mr, nr, accumulate = f.fn.args
    b = f.b
    acc_flag = b.icmp_signed("!=", accumulate, _c64(0))

    def row(i, _):
        def col(j, _):
            dst = f.gep(c, b.add(b.mul(i, ldc), j))
            val = b.load(f.gep(tile, b.add(b.mul(i, _c64(nr_full)), j)), typ=F32)
            old = b.load(dst, typ=F32)
            b.store(b.select(acc_flag, b.fadd(old, val), val), dst)
        f.loop(_c64(0), nr, 1, col)
    f.loop(_c64(0), mr, 1, row)
    b.ret_void()
    return f.fn


def _ukernel(module, mr_full, nv, ku, name):
    """void ukernel(i64 kc, ptr pa, ptr pb, ptr c, i64 ldc, i64 mr, i64 nr, i64 accumulate, float alpha):
    C[0:mr, 0:nr] (+)= alpha * Apanel[kc][MR]^T-ish @ Bpanel[kc][NR]; kc a multiple of ku."""
    nr_full = 16 * nv
    f = _Fn(module, name, [I64, PTR, PTR, PTR, I64, I64, I64, I64, F32])
    kc, pa, pb, c, ldc, mr, nr, accumulate, alpha = f.fn.args
    for a in (pa, pb, c):
        a.add_attribute("noalias")
    b = f.b
    fma = _fma(module)
    zero = ir.Constant(V16, [0.0] * 16)

    def step(p, accs):
        accs = list(accs)
        for u in range(ku):
            pu = b.add(p, _c64(u))
            bbase = f.gep(pb, b.mul(pu, _c64(nr_full)))
            bv = [b.load(f.gep(bbase, 16 * v), typ=V16, align=64) for v in range(nv)]
            abase = f.gep(pa, b.mul(pu, _c64(mr_full)))
            for i in range(mr_full):
                av = _splat(b, b.load(f.gep(abase, i), typ=F32, align=4))
                for v in range(nv):
                    accs[i * nv + v] = b.call(fma, [av, bv[v], accs[i * nv + v]])
        return accs

    accs = f.loop(_c64(0), kc, ku, step, [zero] * (mr_full * nv))
    scale = _splat(b, alpha)
    accs = [b.fmul(acc, scale) for acc in accs]
    full = b.and_(b.icmp_signed("==", mr, _c64(mr_full)), b.icmp_signed("==", nr, _c64(nr_full)))
    acc_flag = b.icmp_signed("!=", accumulate, _c64(0))

    def write_full():
        def store(add):
            for i in range(mr_full):
                row = f.gep(c, b.mul(_c64(i), ldc))
                for v in range(nv):
                    ptr = f.gep(row, 16 * v)
                    val = accs[i * nv + v]
                    if add:
                        val = b.fadd(b.load(ptr, typ=V16, align=4), val)
                    b.store(val, ptr, align=4)
        f.if_else(acc_flag, lambda: store(True), lambda: store(False))

    def write_edge():
        slot = b.alloca(ir.ArrayType(F32, mr_full * nr_full))
        slot.align = 64
        slot.type = PTR     # an opaque pointer for the typed-pointer checks of the ir layer
        for i in range(mr_full):
            for v in range(nv):
                b.store(accs[i * nv + v], f.gep(slot, i * nr_full + 16 * v), align=64)
        b.call(_edge_store(module, nr_full, name + ".edge"), [slot, c, ldc, mr, nr, accumulate])

    f.if_else(full, write_full, write_edge)
    b.ret_void()
    return f.fn


def _edge_pack(module, w, name):
    """void edge(ptr src, i64 base, i64 sp, i64 sq, i64 pstart, i64 kc, i64 kcp, i64 width, ptr dst):
    dst[p*w + q] = src[base + p*sp + q*sq] for p < kc, q < width, else 0 (p in [pstart, kcp), q < w)."""
    f = _Fn(module, name, [PTR, I64, I64, I64, I64, I64, I64, I64, PTR], small=True)
    src, base, sp, sq, pstart, kc, kcp, width, dst = f.fn.args
    b = f.b

    def prow(p, _):
        def col(q, _):
            inside = b.and_(b.icmp_signed("<", p, kc), b.icmp_signed("<", q, width))
            out = f.gep(dst, b.add(b.mul(p, _c64(w)), q))
            with b.if_else(inside) as (t, o):
                with t:
                    off = b.add(base, b.add(b.mul(p, sp), b.mul(q, sq)))
                    b.store(b.load(f.gep(src, off), typ=F32), out)
                with o:
                    b.store(ir.Constant(F32, 0.0), out)
        f.loop(_c64(0), _c64(w), 1, col)
    f.loop(pstart, kcp, 1, prow)
    b.ret_void()
    return f.fn


def _pack_b(module, nv, name):
    """void pack_b(i64 trans, ptr b, i64 ldb, i64 p0, i64 kc, i64 j0, i64 nc, i64 kcp, ptr buf):
    buf[jp][p][NR] = op(B)[p0+p, j0+jp*NR+j], zero outside kc x nc, p < kcp."""
    nr_full = 16 * nv
    f = _Fn(module, name, [I64, PTR, I64, I64, I64, I64, I64, I64, PTR])
    trans, src, ldb, p0, kc, j0, nc, kcp, buf = f.fn.args
    b = f.b
    zero = ir.Constant(V16, [0.0] * 16)
    npanels = b.sdiv(b.add(nc, _c64(nr_full - 1)), _c64(nr_full))
    is_trans = b.icmp_signed("!=", trans, _c64(0))
    edge = _edge_pack(module, nr_full, name + ".edge")

    def panel(jp, _):
        dst = f.gep(buf, b.mul(jp, b.mul(kcp, _c64(nr_full))))
        jj = b.add(j0, b.mul(jp, _c64(nr_full)))           # first column of the panel
        width = f.min(_c64(nr_full), b.sub(nc, b.mul(jp, _c64(nr_full))))
        full = b.icmp_signed("==", width, _c64(nr_full))

        def generic(pstart):
            base, sp, sq = (b.select(is_trans, b.add(b.mul(jj, ldb), p0), b.add(b.mul(p0, ldb), jj)),
                            b.select(is_trans, _c64(1), ldb), b.select(is_trans, ldb, _c64(1)))
            b.call(edge, [src, base, sp, sq, pstart, kc, kcp, width, dst])

        def vector_panel(partial):
            """The panel with vector loads; ``partial``: columns from ``width`` on are zero."""
            def plain():
                if partial:
                    masks = _lane_masks(b, width, nv)

                def prow(p, _):
                    row = f.gep(src, b.add(b.mul(b.add(p0, p), ldb), jj))
                    out = f.gep(dst, b.mul(p, _c64(nr_full)))
                    for v in range(nv):
                        if partial:
                            val = b.call(_masked_load(module), [f.gep(row, 16 * v), ir.Constant(I32, 4), masks[v], zero])
                        else:
                            val = b.load(f.gep(row, 16 * v), typ=V16, align=4)
                        b.store(val, f.gep(out, 16 * v), align=64)
                f.loop(_c64(0), kc, 1, prow)

                def zrow(p, _):
                    out = f.gep(dst, b.mul(p, _c64(nr_full)))
                    for v in range(nv):
                        b.store(zero, f.gep(out, 16 * v), align=64)
                f.loop(kc, kcp, 1, zrow)

            def transposed():
                k16 = b.mul(b.sdiv(kc, _c64(16)), _c64(16))

                def vblock(v, _):      # one 16 x 16 block at a time (no spills)
                    def pblock(p, _):
                        rows = []
                        for r in range(16):
                            j = b.add(v, _c64(r))
                            if partial:     # rows past the edge: read the first one, use zeros
                                valid = b.icmp_signed("<", j, width)
                                j = b.select(valid, j, _c64(0))
                            row = b.load(f.gep(src, b.add(b.mul(b.add(jj, j), ldb), b.add(p0, p))), typ=V16, align=4)
                            rows.append(b.select(valid, row, zero) if partial else row)
                        cols = _transpose16(b, rows)
                        for r in range(16):
                            out = f.gep(dst, b.add(b.mul(b.add(p, _c64(r)), _c64(nr_full)), v))
                            b.store(cols[r], out, align=64)
                    f.loop(_c64(0), k16, 16, pblock)
                f.loop(_c64(0), _c64(nr_full), 16, vblock)
                generic(k16)
            f.if_else(is_trans, transposed, plain)

        f.if_else(full, lambda: vector_panel(False), lambda: vector_panel(True))

    f.loop(_c64(0), npanels, 1, panel)
    b.ret_void()
    return f.fn


def _pack_a(module, mr_full, name):
    """void pack_a(i64 trans, ptr a, i64 lda, i64 i0, i64 mc, i64 p0, i64 kc, i64 kcp, ptr buf):
    buf[ip][p][MR] = op(A)[i0+ip*MR+i, p0+p], zero outside mc x kc, p < kcp."""
    f = _Fn(module, name, [I64, PTR, I64, I64, I64, I64, I64, I64, PTR])
    trans, src, lda, i0, mc, p0, kc, kcp, buf = f.fn.args
    b = f.b
    npanels = b.sdiv(b.add(mc, _c64(mr_full - 1)), _c64(mr_full))
    is_trans = b.icmp_signed("!=", trans, _c64(0))
    edge = _edge_pack(module, mr_full, name + ".edge")

    def panel(ip, _):
        dst = f.gep(buf, b.mul(ip, b.mul(kcp, _c64(mr_full))))
        ii = b.add(i0, b.mul(ip, _c64(mr_full)))
        height = f.min(_c64(mr_full), b.sub(mc, b.mul(ip, _c64(mr_full))))
        full = b.icmp_signed("==", height, _c64(mr_full))

        def generic(pstart):
            base, sp, sq = (b.select(is_trans, b.add(b.mul(p0, lda), ii), b.add(b.mul(ii, lda), p0)),
                            b.select(is_trans, lda, _c64(1)), b.select(is_trans, _c64(1), lda))
            b.call(edge, [src, base, sp, sq, pstart, kc, kcp, height, dst])

        def full_panel():
            def plain():    # op(A)[i, p] = a[i*lda + p]: 16 columns of MR rows at a time
                k16 = b.mul(b.sdiv(kc, _c64(16)), _c64(16))

                def pblock(p, _):
                    rows = [b.load(f.gep(src, b.add(b.mul(b.add(ii, _c64(i)), lda), b.add(p0, p))), typ=V16, align=4)
                            for i in range(mr_full)]
                    out = f.gep(dst, b.mul(p, _c64(mr_full)))
                    for q, vec in enumerate(_interleave(b, rows)):
                        b.store(vec, f.gep(out, 16 * q), align=4)
                f.loop(_c64(0), k16, 16, pblock)
                generic(k16)

            f.if_else(is_trans, lambda: generic(k8), plain)   # transposed: rows < k8 copied below

        f.if_else(full, full_panel, lambda: generic(_c64(0)))

    # op(A)[i, p] = a[p*lda + i]: MR contiguous values per p. Chunks of 8 rows of a across all
    # the full panels, so that the strided rows stay in L1 while each is read once.
    vec_t = ir.VectorType(F32, mr_full)
    k8 = b.mul(b.sdiv(kc, _c64(8)), _c64(8))
    nfull = b.sdiv(mc, _c64(mr_full))

    def transposed_rows():
        def chunk(p, _):
            def panel_rows(ip, _):
                dst = f.gep(buf, b.add(b.mul(ip, b.mul(kcp, _c64(mr_full))), b.mul(p, _c64(mr_full))))
                col = b.add(i0, b.mul(ip, _c64(mr_full)))
                for r in range(8):
                    row = f.gep(src, b.add(b.mul(b.add(p0, b.add(p, _c64(r))), lda), col))
                    b.store(b.load(row, typ=vec_t, align=4), f.gep(dst, r * mr_full), align=4)
            f.loop(_c64(0), nfull, 1, panel_rows)
        f.loop(_c64(0), k8, 8, chunk)
    f.if_else(is_trans, transposed_rows)

    f.loop(_c64(0), npanels, 1, panel)
    b.ret_void()
    return f.fn


def _naive(module, name):
    """graphc_sgemm as a plain triple loop (when the packing buffers cannot be allocated)."""
    f = _Fn(module, name, CORE_SIGNATURE, small=True)
    ta, tb, m, n, k, a, lda, bm, ldb, c, ldc, alpha, accumulate = f.fn.args
    b = f.b
    ta_, tb_ = b.icmp_signed("!=", ta, _c64(0)), b.icmp_signed("!=", tb, _c64(0))
    acc_flag = b.icmp_signed("!=", accumulate, _c64(0))

    def row(i, _):
        def col(j, _):
            def term(p, acc):
                x = b.load(f.gep(a, b.select(ta_, b.add(b.mul(p, lda), i), b.add(b.mul(i, lda), p))), typ=F32)
                y = b.load(f.gep(bm, b.select(tb_, b.add(b.mul(j, ldb), p), b.add(b.mul(p, ldb), j))), typ=F32)
                return [b.fadd(acc[0], b.fmul(x, y))]
            (total,) = f.loop(_c64(0), k, 1, term, [ir.Constant(F32, 0.0)])
            dst = f.gep(c, b.add(b.mul(i, ldc), j))
            total = b.fmul(total, alpha)
            b.store(b.select(acc_flag, b.fadd(b.load(dst, typ=F32), total), total), dst)
        f.loop(_c64(0), n, 1, col)
    f.loop(_c64(0), m, 1, row)
    b.ret_void()
    return f.fn


def add_sgemm(module, mr=MR, nv=NV, kc_max=KC, mc_max=MC, nc_max=NC, ku=KU, name=SYMBOL):
    """Define ``name`` (graphc_sgemm) in ``module`` once; returns the function.
    Products at most 16 columns wide use a narrow (8 x 16) micro-tile instead."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    wide = _add_core(module, mr, nv, kc_max, mc_max, nc_max, ku, f"{name}.wide")
    narrow = _add_core(module, NARROW[0], NARROW[1], kc_max, mc_max, nc_max, ku, f"{name}.narrow")
    f = _Fn(module, name, SIGNATURE, linkage=None)
    gemv = _gemv(module, f"{name}.gemv")
    b = f.b
    ta, tb, m, n, k, a, lda, bm, ldb, c, ldc = f.fn.args
    one_row = b.and_(b.icmp_signed("==", m, _c64(1)), b.icmp_signed("==", tb, _c64(0)))
    with b.if_else(one_row) as (t, o):
        with t:     # one row (bias gradients: ones @ dY): no packing
            b.call(gemv, [ta, n, k, a, lda, bm, ldb, c])
        with o:
            _by_width(b, n, narrow, wide, list(f.fn.args) + [ir.Constant(F32, 1.0), _c64(0)])
    b.ret_void()
    update = _Fn(module, UPDATE_SYMBOL, UPDATE_SIGNATURE, linkage=None)
    _by_width(update.b, update.fn.args[3], narrow, wide, list(update.fn.args) + [_c64(1)])
    update.b.ret_void()
    return f.fn


def _by_width(b, n, narrow, wide, args):
    """Call the narrow core for products at most 16 columns wide, else the wide one."""
    with b.if_else(b.icmp_signed("<=", n, _c64(16 * NARROW[1]))) as (t, o):
        with t:
            b.call(narrow, args)
        with o:
            b.call(wide, args)


def _add_core(module, mr, nv, kc_max, mc_max, nc_max, ku, name):
    nr = 16 * nv
    mc_max = max(mr, mc_max // mr * mr)
    nc_max = max(nr, nc_max // nr * nr)
    uk = _ukernel(module, mr, nv, ku, f"{name}.ukernel")
    pack_b = _pack_b(module, nv, f"{name}.pack_b")
    pack_a = _pack_a(module, mr, f"{name}.pack_a")
    malloc = module.globals.get("malloc") or ir.Function(module, ir.FunctionType(PTR, [I64]), name="malloc")
    free = module.globals.get("free") or ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name="free")

    f = _Fn(module, name, CORE_SIGNATURE)
    ta, tb, m, n, k, a, lda, bm, ldb, c, ldc, alpha, accumulate = f.fn.args
    b = f.b
    done = f.fn.append_basic_block("done")
    work = f.fn.append_basic_block("work")
    b.cbranch(b.or_(b.icmp_signed("<=", m, _c64(0)), b.icmp_signed("<=", n, _c64(0))), done, work)
    b.position_at_end(work)
    zero_k = f.fn.append_basic_block("zero_k")
    gemm = f.fn.append_basic_block("gemm")
    b.cbranch(b.icmp_signed("<=", k, _c64(0)), zero_k, gemm)

    b.position_at_end(zero_k)
    clear = f.fn.append_basic_block("clear")
    b.cbranch(b.icmp_signed("!=", accumulate, _c64(0)), done, clear)   # C += 0: nothing to do
    b.position_at_end(clear)

    def zrow(i, _):
        def zcol(j, _):
            b.store(ir.Constant(F32, 0.0), f.gep(c, b.add(b.mul(i, ldc), j)))
        f.loop(_c64(0), n, 1, zcol)
    f.loop(_c64(0), m, 1, zrow)
    b.branch(done)

    b.position_at_end(gemm)
    # kc: the sum split into equal blocks of at most kc_max, each padded to a multiple of ku
    nblocks = b.sdiv(b.add(k, _c64(kc_max - 1)), _c64(kc_max))
    kc_blk = b.sdiv(b.add(k, b.sub(nblocks, _c64(1))), nblocks)
    kcp_max = b.mul(b.sdiv(b.add(kc_blk, _c64(ku - 1)), _c64(ku)), _c64(ku))
    mc_cap = f.min(_c64(mc_max), b.mul(b.sdiv(b.add(m, _c64(mr - 1)), _c64(mr)), _c64(mr)))
    nc_cap = f.min(_c64(nc_max), b.mul(b.sdiv(b.add(n, _c64(nr - 1)), _c64(nr)), _c64(nr)))
    a_bytes = b.mul(b.mul(mc_cap, kcp_max), _c64(4))
    b_bytes = b.mul(b.mul(nc_cap, kcp_max), _c64(4))
    raw = b.call(malloc, [b.add(b.add(a_bytes, b_bytes), _c64(128))])
    done_free = f.fn.append_basic_block("free")
    compute = f.fn.append_basic_block("compute")
    no_memory = f.fn.append_basic_block("no_memory")
    b.cbranch(b.icmp_unsigned("==", raw, ir.Constant(PTR, None)), no_memory, compute)
    b.position_at_end(no_memory)     # no packing buffers: the plain triple loop
    b.call(_naive(module, name + ".naive"), list(f.fn.args))
    b.branch(done)
    b.position_at_end(compute)
    base = b.and_(b.add(b.ptrtoint(raw, I64), _c64(63)), _c64(~63))
    abuf = b.inttoptr(base, PTR)
    bbuf = b.inttoptr(b.add(base, b.and_(b.add(a_bytes, _c64(63)), _c64(~63))), PTR)

    def jblock(jc, _):
        nc = f.min(_c64(nc_max), b.sub(n, jc))

        def pblock(pc, _):
            kc = f.min(kc_blk, b.sub(k, pc))
            kcp = b.mul(b.sdiv(b.add(kc, _c64(ku - 1)), _c64(ku)), _c64(ku))
            first = b.or_(b.zext(b.icmp_signed("!=", pc, _c64(0)), I64), accumulate)
            b.call(pack_b, [tb, bm, ldb, pc, kc, jc, nc, kcp, bbuf])

            def iblock(ic, _):
                mc = f.min(_c64(mc_max), b.sub(m, ic))
                b.call(pack_a, [ta, a, lda, ic, mc, pc, kc, kcp, abuf])

                def jr_loop(jr, _):
                    nr_ = f.min(_c64(nr), b.sub(nc, jr))
                    bp = f.gep(bbuf, b.mul(jr, kcp))

                    def ir_loop(ir_, _):
                        mr_ = f.min(_c64(mr), b.sub(mc, ir_))
                        ap = f.gep(abuf, b.mul(ir_, kcp))
                        cp = f.gep(c, b.add(b.mul(b.add(ic, ir_), ldc), b.add(jc, jr)))
                        b.call(uk, [kcp, ap, bp, cp, ldc, mr_, nr_, first, alpha])
                    f.loop(_c64(0), mc, mr, ir_loop)
                f.loop(_c64(0), nc, nr, jr_loop)
            f.loop(_c64(0), m, mc_max, iblock)
        f.loop(_c64(0), k, kc_blk, pblock)
    f.loop(_c64(0), n, nc_max, jblock)
    b.branch(done_free)
    b.position_at_end(done_free)
    b.call(free, [raw])
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()
    return f.fn
