"""graphc's own float32 GEMM, generated as LLVM IR (hosts with AVX-512F).

``add_sgemm(module)`` defines in an llvmlite module

    void graphc_sgemm(i64 trans_a, i64 trans_b, i64 m, i64 n, i64 k,
                      ptr a, i64 lda, ptr b, i64 ldb, ptr c, i64 ldc)

computing C = op(A) @ op(B) (row-major, C overwritten; op(X) = X^T when trans_x is 1; k = 0
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

``trans_b = PREPACKED_B``: B arrives in the wide tile's panel layout (``prepacked_index``),
written there by its producer (a convolution packs input patches straight into it), and the
micro-kernel reads it in place: no copy of B. It is 64-byte aligned, its rows are padded with
zeros to ``ldb`` (a multiple of the k unroll); its last panel's columns past n may hold any
values (each column of C reads only its own column of B, and those are never stored).
``trans_a = PREPACKED_A``: likewise A, in MR-row panels (``prepacked_a_index``), rows past
k zero to ``lda``, rows past m any values (a convolution packs its weights once per call).
"""
import ctypes
import functools
import threading

from llvmlite import ir

from . import gemm_tune
from .llvm_gemm_pack import pack_a, pack_b
from .llvm_util import F32, I32, I64, PTR, V16, Fn, c64, declare, fma, host_has, lane_masks, masked_load, masked_store, splat

SYMBOL = "graphc_sgemm"
BLOCKING_SYMBOL = "graphc_sgemm.blocking"     # [kc, mc], chosen per host by ``tune``
PEAK_SYMBOL = "graphc_fma_peak"               # void(i64 iterations, ptr out): 384 flops an iteration
SIGNATURE = [I64, I64, I64, I64, I64, PTR, I64, PTR, I64, PTR, I64]
UPDATE_SYMBOL = "graphc_sgemm_update"        # C += alpha * op(A) @ op(B): the same arguments, then alpha
UPDATE_SIGNATURE = SIGNATURE + [F32]
PACK_A_SYMBOL = "graphc_sgemm_pack_a"        # void(i64 trans_a, ptr a, i64 lda, i64 m, i64 k, i64 rows, ptr buf)
PACK_A_SIGNATURE = [I64, PTR, I64, I64, I64, I64, PTR]
CORE_SIGNATURE = SIGNATURE + [F32, I64]       # ..., alpha, accumulate (into C from the first block on)
MR, NV = 6, 4            # micro-tile: MR rows x NV*16 columns (24 zmm accumulators)
PANEL = 16 * NV          # the wide tile's column-panel width (prepacked B comes in these)
PREPACKED_B = 2          # trans_b value: B is already packed (``prepacked_index``)
PREPACKED_A = 2          # trans_a value: A is already packed (``prepacked_a_index``)
NARROW = (8, 1)          # the micro-tile of products at most 16 columns wide
KU = 4                   # k unroll of the micro-kernel (kc is padded to a multiple)
KC, MC, NC = 384, 192, 3072


@functools.lru_cache(maxsize=None)
def available():
    """Whether the host has AVX-512F (the micro-kernel is written for 32 zmm registers)."""
    return host_has("avx512f")


SGEMM_PROTO = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 5 + [ctypes.c_void_p, ctypes.c_int64] * 3))
PEAK_PROTO = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p)
_lock = threading.Lock()
_compiled = []      # the JitModule holding graphc_sgemm, kept alive for the process
_pending = []       # the thread compiling it (``start``)
_tuning = {}        # the blocking chosen for this host and its GFLOP/s (gemm_tune)
_peak_module = []   # the JitModule of graphc_fma_peak, once asked for


def blocking():
    """The live [kc, mc] of graphc's GEMM (a ctypes array over the code's own global), or None."""
    if sgemm_symbol() is None:
        return None
    return (ctypes.c_int64 * 2).from_address(_compiled[0].global_address(BLOCKING_SYMBOL))


def tuning():
    """The GEMM's blocking on this host and what it measured (``gemm_tune.tune``), or {}
    where graphc's GEMM is not used."""
    return dict(_tuning) if sgemm_symbol() is not None else {}


def start():
    """Begin compiling graphc's GEMM on a thread of its own (LLVM runs without the GIL), so
    the kernels' IR is rendered meanwhile; ``sgemm_symbol`` waits for it. Once per process,
    on hosts with AVX-512F."""
    if not available():
        return
    with _lock:
        if _compiled or _pending:
            return
        from .llvm_compile import host_layout
        host_layout()   # (what the kernels' modules ask of LLVM, asked before it is busy)
        from .llvm_jit import Background
        _pending.append(Background(_compile, "graphc-gemm-compile"))   # (None if it raised: OpenBLAS then)


def _compile():
    """The JitModule holding graphc_sgemm (object code from the disk cache when there)."""
    from .llvm_jit import JitModule, LazyModule, codegen_version
    texts = []

    def render(i):
        if not texts:
            texts.extend(sgemm_parts())
        return texts[i]
    # (keyed by the generator's version: a hit renders no IR. Hand-written vector code: the
    # unroller buys it nothing measurable and costs a tenth of its compile, and O2 makes the
    # same code as O3 in three quarters of the time)
    return JitModule([LazyModule(("graphc_sgemm", part, codegen_version()), functools.partial(render, i),
                                 unroll=False, speed=2) for i, part in enumerate(PARTS)], parallel=True)


def sgemm_symbol():
    """The symbol of graphc's float32 GEMM for generated code to call (declared with
    ``declare_sgemm``), or None where the host lacks AVX-512F (graphc keeps OpenBLAS there).

    The GEMM is compiled once per process in a module of its own (``start``, or here) and its
    address registered with the JIT, so kernel modules only declare it: they stay quick to
    compile and their cache keys do not depend on it. Its blocking is tuned here, on the
    calling thread, once the code is there."""
    if not available():
        return None
    start()
    with _lock:
        if not _compiled:
            import llvmlite.binding as llvm
            compiling = _pending[0]
            compiling.join()
            jit = compiling.result
            if jit is None:   # never worse than before: generated code keeps calling OpenBLAS
                _compiled.append(None)
                return None
            _tuning.update(gemm_tune.tune(SGEMM_PROTO(jit.address(SYMBOL)), jit.global_address(BLOCKING_SYMBOL)))
            llvm.add_symbol(SYMBOL, jit.address(SYMBOL))
            llvm.add_symbol(UPDATE_SYMBOL, jit.address(UPDATE_SYMBOL))
            llvm.add_symbol(PACK_A_SYMBOL, jit.address(PACK_A_SYMBOL))
            _compiled.append(jit)
    return SYMBOL if _compiled[0] is not None else None


@functools.lru_cache(maxsize=None)
def fma_peak_gflops():
    """One core's float32 FMA peak in GFLOP/s, measured here (``graphc_fma_peak``, compiled on
    first use in a module of its own: reports and benchmarks ask, a first run does not), or
    None without AVX-512F."""
    if not available():
        return None
    from .llvm_compile import new_module
    from .llvm_jit import JitModule, LazyModule, codegen_version

    def render():
        module = new_module(PEAK_SYMBOL)
        add_fma_peak(module)
        return str(module)
    jit = JitModule(LazyModule((PEAK_SYMBOL, codegen_version()), render, unroll=False))
    _peak_module.append(jit)
    return round(gemm_tune.fma_peak(PEAK_PROTO(jit.address(PEAK_SYMBOL))), 1)


def uses_own_gemm(dtype):
    """Whether a product of ``dtype`` runs graphc's own GEMM (float32 on AVX-512F hosts)
    rather than the BLAS already in the process (OpenBLAS, with threads of its own). While
    the GEMM still compiles (``start``) the answer is the host's; it is checked once the
    code is there (``sgemm_symbol``), before anything that calls it is linked."""
    if str(dtype) != "float32":
        return False
    if not _compiled and _pending:   # (started: the host has AVX-512F)
        return True
    return sgemm_symbol() is not None


def declare_sgemm(module, update=False):
    """``graphc_sgemm`` (or, with ``update``, ``graphc_sgemm_update``) declared in ``module`` (once)."""
    symbol, signature = (UPDATE_SYMBOL, UPDATE_SIGNATURE) if update else (SYMBOL, SIGNATURE)
    return declare(module, symbol, ir.VoidType(), signature)


def declare_pack_a(module):
    """``graphc_sgemm_pack_a`` declared in ``module``: op(A) (m x k) into the prepacked A
    layout of ``rows`` rows (``prepacked_a_index``; zeros past m and k), the GEMM's own vector
    packer, for an operand packed once and multiplied many times (``PREPACKED_A``)."""
    return declare(module, PACK_A_SYMBOL, ir.VoidType(), PACK_A_SIGNATURE)


def sgemm_function():
    """A ctypes function for graphc_sgemm (tests, benchmarks), or None without AVX-512F."""
    if sgemm_symbol() is None:
        return None
    return SGEMM_PROTO(_compiled[0].address(SYMBOL))


def sgemm_update_function():
    """A ctypes function for graphc_sgemm_update (C += alpha * op(A) @ op(B)), or None."""
    if sgemm_symbol() is None:
        return None
    proto = ctypes.CFUNCTYPE(None, *(SGEMM_PROTO._argtypes_ + (ctypes.c_float,)))
    return proto(_compiled[0].address(UPDATE_SYMBOL))


def _gemv(module, name, nvec=8):
    """void gemv(i64 trans_a, i64 n, i64 k, ptr a, i64 lda, ptr b, i64 ldb, ptr c): the one-row product
    c[0:n] = op(A)[0, :] @ B (B not transposed), straight from B in blocks of 16*nvec columns."""
    f = Fn(module, name, [I64, I64, I64, PTR, I64, PTR, I64, PTR])
    ta, n, k, a, lda, bm, ldb, c = f.fn.args
    b = f.b
    fmadd, zero = fma(module), ir.Constant(V16, [0.0] * 16)
    step_a = b.select(b.icmp_signed("!=", ta, c64(0)), lda, c64(1))

    def block(jb, _):
        masks = lane_masks(b, b.sub(n, jb), nvec)

        def term(p, accs):
            av = splat(b, b.load(f.gep(a, b.mul(p, step_a)), typ=F32))
            row = f.gep(bm, b.add(b.mul(p, ldb), jb))
            return [b.call(fmadd, [av, b.call(masked_load(module), [f.gep(row, 16 * v), ir.Constant(I32, 4), masks[v], zero]),
                                 accs[v]]) for v in range(nvec)]
        accs = f.loop(c64(0), k, 1, term, [zero] * nvec)
        for v in range(nvec):
            b.call(masked_store(module), [accs[v], f.gep(c, b.add(jb, c64(16 * v))), ir.Constant(I32, 4), masks[v]])
    f.loop(c64(0), n, 16 * nvec, block)
    b.ret_void()
    return f.fn


def _edge_store(module, nr_full, name):
    """void edge(ptr tile, ptr c, i64 ldc, i64 mr, i64 nr, i64 accumulate): C[0:mr, 0:nr] (+)= tile."""
    f = Fn(module, name, [PTR, PTR, I64, I64, I64, I64], small=True)
    tile, c, ldc, mr, nr, accumulate = f.fn.args
    b = f.b
    acc_flag = b.icmp_signed("!=", accumulate, c64(0))

    def row(i, _):
        def col(j, _):
            dst = f.gep(c, b.add(b.mul(i, ldc), j))
            val = b.load(f.gep(tile, b.add(b.mul(i, c64(nr_full)), j)), typ=F32)
            old = b.load(dst, typ=F32)
            b.store(b.select(acc_flag, b.fadd(old, val), val), dst)
        f.loop(c64(0), nr, 1, col)
    f.loop(c64(0), mr, 1, row)
    b.ret_void()
    return f.fn


def _ukernel(module, mr_full, nv, ku, name):
    """void ukernel(i64 kc, ptr pa, ptr pb, ptr c, i64 ldc, i64 mr, i64 nr, i64 accumulate, float alpha):
    C[0:mr, 0:nr] (+)= alpha * Apanel[kc][MR]^T-ish @ Bpanel[kc][NR]; kc a multiple of ku."""
    nr_full = 16 * nv
    f = Fn(module, name, [I64, PTR, PTR, PTR, I64, I64, I64, I64, F32])
    kc, pa, pb, c, ldc, mr, nr, accumulate, alpha = f.fn.args
    for a in (pa, pb, c):
        a.add_attribute("noalias")
    b = f.b
    fmadd = fma(module)
    zero = ir.Constant(V16, [0.0] * 16)

    def step(p, accs):
        accs = list(accs)
        for u in range(ku):
            pu = b.add(p, c64(u))
            bbase = f.gep(pb, b.mul(pu, c64(nr_full)))
            bv = [b.load(f.gep(bbase, 16 * v), typ=V16, align=64) for v in range(nv)]
            abase = f.gep(pa, b.mul(pu, c64(mr_full)))
            for i in range(mr_full):
                av = splat(b, b.load(f.gep(abase, i), typ=F32, align=4))
                for v in range(nv):
                    accs[i * nv + v] = b.call(fmadd, [av, bv[v], accs[i * nv + v]])
        return accs

    accs = f.loop(c64(0), kc, ku, step, [zero] * (mr_full * nv))
    scale = splat(b, alpha)
    accs = [b.fmul(acc, scale) for acc in accs]
    full = b.and_(b.icmp_signed("==", mr, c64(mr_full)), b.icmp_signed("==", nr, c64(nr_full)))
    acc_flag = b.icmp_signed("!=", accumulate, c64(0))

    def write_full():
        def store(add):
            for i in range(mr_full):
                row = f.gep(c, b.mul(c64(i), ldc))
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


def _naive(module, name):
    """graphc_sgemm as a plain triple loop (when the packing buffers cannot be allocated)."""
    f = Fn(module, name, CORE_SIGNATURE, small=True)
    ta, tb, m, n, k, a, lda, bm, ldb, c, ldc, alpha, accumulate = f.fn.args
    b = f.b
    ta_, tb_ = b.icmp_signed("==", ta, c64(1)), b.icmp_signed("==", tb, c64(1))
    a_packed = b.icmp_signed("==", ta, c64(PREPACKED_A))
    packed = b.icmp_signed("==", tb, c64(PREPACKED_B))
    acc_flag = b.icmp_signed("!=", accumulate, c64(0))

    def row(i, _):
        def col(j, _):
            def term(p, acc):
                at_a = b.select(ta_, b.add(b.mul(p, lda), i), b.add(b.mul(i, lda), p))
                x = b.load(f.gep(a, b.select(a_packed, _prepacked_a_offset(b, i, p, lda), at_a)), typ=F32)
                at = b.select(tb_, b.add(b.mul(j, ldb), p), b.add(b.mul(p, ldb), j))
                y = b.load(f.gep(bm, b.select(packed, _prepacked_offset(b, p, j, ldb), at)), typ=F32)
                return [b.fadd(acc[0], b.fmul(x, y))]
            (total,) = f.loop(c64(0), k, 1, term, [ir.Constant(F32, 0.0)])
            dst = f.gep(c, b.add(b.mul(i, ldc), j))
            total = b.fmul(total, alpha)
            b.store(b.select(acc_flag, b.fadd(b.load(dst, typ=F32), total), total), dst)
        f.loop(c64(0), n, 1, col)
    f.loop(c64(0), m, 1, row)
    b.ret_void()
    return f.fn


PARTS = ("packing", "wide", "narrow")   # the GEMM's modules (``sgemm_parts``)


def add_sgemm(module, mr=MR, nv=NV, kc_max=KC, mc_max=MC, nc_max=NC, ku=KU, name=SYMBOL):
    """Define ``name`` (graphc_sgemm) and every part of it in ``module`` once; returns the
    function. Products at most 16 columns wide use a narrow (8 x 16) micro-tile instead."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return _add_parts({part: module for part in PARTS}, mr, nv, kc_max, mc_max, nc_max, ku, name)


def sgemm_parts():
    """The GEMM's IR as the texts of three modules: the B packer (shared by both tiles), the
    wide core, and the narrow core with the one-row product and the entry points. Each
    compiles on its own (side by side in worker processes where there are cores: together they
    are a cold start's longest compile) and they are linked into one engine; what one part
    calls in another is external there and declared in the caller."""
    from .llvm_compile import new_module
    modules = {part: new_module(f"{SYMBOL}.{part}") for part in PARTS}
    _add_parts(modules)
    return [str(modules[part]) for part in PARTS]


def _add_parts(modules, mr=MR, nv=NV, kc_max=KC, mc_max=MC, nc_max=NC, ku=KU, name=SYMBOL):
    home = modules["narrow"]
    packer = pack_b(modules["packing"], f"{name}.pack_b")
    blocking = _blocking(home, kc_max, mc_max)
    wide = _add_core(modules["wide"], mr, nv, kc_max, mc_max, nc_max, ku, f"{name}.wide", packer, blocking)
    _add_pack_a(modules["wide"], modules["wide"].globals[f"{name}.wide.pack_a"])
    narrow = _add_core(home, NARROW[0], NARROW[1], kc_max, mc_max, nc_max, ku, f"{name}.narrow", packer, blocking)
    wide = _shared(home, wide)
    f = Fn(home, name, SIGNATURE, linkage=None)
    gemv = _gemv(home, f"{name}.gemv")
    b = f.b
    ta, tb, m, n, k, a, lda, bm, ldb, c, ldc = f.fn.args
    one_row = b.and_(b.and_(b.icmp_signed("==", m, c64(1)), b.icmp_signed("==", tb, c64(0))),
                     b.icmp_signed("!=", ta, c64(PREPACKED_A)))
    with b.if_else(one_row) as (t, o):
        with t:     # one row (bias gradients: ones @ dY): no packing
            b.call(gemv, [ta, n, k, a, lda, bm, ldb, c])
        with o:
            _by_width(b, n, narrow, wide, list(f.fn.args) + [ir.Constant(F32, 1.0), c64(0)])
    b.ret_void()
    update = Fn(home, UPDATE_SYMBOL, UPDATE_SIGNATURE, linkage=None)
    _by_width(update.b, update.fn.args[3], narrow, wide, list(update.fn.args) + [c64(1)])
    update.b.ret_void()
    return f.fn


def _add_pack_a(module, packer_a):
    """``graphc_sgemm_pack_a``: the whole of op(A) through the wide tile's A packer."""
    f = Fn(module, PACK_A_SYMBOL, PACK_A_SIGNATURE, linkage=None)
    ta, a, lda, m, k, rows, buf = f.fn.args
    f.b.call(packer_a, [ta, a, lda, c64(0), m, c64(0), k, rows, buf])
    f.b.ret_void()


def _shared(module, value):
    """``value`` (a function or global defined in another part's module) as ``module`` refers
    to it: external where it is defined, declared in ``module``; itself within its own."""
    if value.parent is module:
        return value
    value.linkage = ""
    if isinstance(value, ir.Function):
        fn_type = value.function_type
        return declare(module, value.name, fn_type.return_type, list(fn_type.args))
    existing = module.globals.get(value.name)
    return existing if existing is not None else ir.GlobalVariable(module, value.value_type, name=value.name)


def add_fma_peak(module, chains=12):
    """``graphc_fma_peak(i64 iterations, ptr out)``: ``chains`` independent chains of
    ``llvm.fma.v16f32`` (enough to cover the FMA latency on every AVX-512 core), 2 * 16 *
    ``chains`` flops an iteration; the sum goes to ``out`` so nothing is optimized away."""
    f = Fn(module, PEAK_SYMBOL, [I64, PTR], linkage=None)
    iterations, out = f.fn.args
    b, fmadd = f.b, fma(module)
    x, y = ir.Constant(V16, [0.999] * 16), ir.Constant(V16, [0.001] * 16)
    start = [ir.Constant(V16, [float(i)] * 16) for i in range(chains)]
    accs = f.loop(c64(0), iterations, 1, lambda i, accs: [b.call(fmadd, [a, x, y]) for a in accs], start)
    total = accs[0]
    for a in accs[1:]:
        total = b.fadd(total, a)
    b.store(total, out, align=4)
    b.ret_void()


def prepacked_index(p, j, rows):
    """Where B[p, j] lies in a prepacked B of ``rows`` (padded) rows: panels of PANEL columns
    one after another, each row-major ``[rows][PANEL]``."""
    return (j // PANEL) * rows * PANEL + p * PANEL + j % PANEL


def prepacked_a_index(i, p, rows):
    """Where A[i, p] lies in a prepacked A of ``rows`` (padded) rows: panels of MR rows of A
    one after another, each ``[rows][MR]`` (p major)."""
    return (i // MR) * rows * MR + p * MR + i % MR


def _prepacked_a_offset(b, i, p, rows):
    panel, lane = b.sdiv(i, c64(MR)), b.srem(i, c64(MR))
    return b.add(b.mul(panel, b.mul(rows, c64(MR))), b.add(b.mul(p, c64(MR)), lane))


def _prepacked_offset(b, p, j, rows):
    panel, lane = b.sdiv(j, c64(PANEL)), b.srem(j, c64(PANEL))
    return b.add(b.mul(panel, b.mul(rows, c64(PANEL))), b.add(b.mul(p, c64(PANEL)), lane))


def _by_width(b, n, narrow, wide, args):
    """Call the narrow core for products at most 16 columns wide, else the wide one (and for
    a prepacked A or B, whose panels are the wide tile's)."""
    narrow_enough = b.icmp_signed("<=", n, c64(16 * NARROW[1]))
    unpacked = b.and_(b.icmp_signed("!=", args[1], c64(PREPACKED_B)), b.icmp_signed("!=", args[0], c64(PREPACKED_A)))
    with b.if_else(b.and_(narrow_enough, unpacked)) as (t, o):
        with t:
            b.call(narrow, args)
        with o:
            b.call(wide, args)


def _blocking(module, kc_max, mc_max):
    """``@graphc_sgemm.blocking``: {kc, mc} read by every call (``tune`` rewrites them)."""
    g = module.globals.get(BLOCKING_SYMBOL)
    if g is None:
        g = ir.GlobalVariable(module, ir.ArrayType(I64, 2), name=BLOCKING_SYMBOL)
        g.initializer = ir.Constant(ir.ArrayType(I64, 2), [kc_max, mc_max])
        g.align = 8
    return g


def _add_core(module, mr, nv, kc_max, mc_max, nc_max, ku, name, packer_b, blocking):
    """The GEMM of one micro-tile (``mr`` x 16 ``nv``) in ``module``: blocking, packing, the
    macro-kernel; ``packer_b`` and the ``blocking`` global may live in another part."""
    nr = 16 * nv
    nc_max = max(nr, nc_max // nr * nr)
    uk = _ukernel(module, mr, nv, ku, f"{name}.ukernel")
    packer_b = _shared(module, packer_b)
    blocking = _shared(module, blocking)
    packer_a = pack_a(module, mr, f"{name}.pack_a")
    malloc = declare(module, "malloc", PTR, [I64])
    free = declare(module, "free", ir.VoidType(), [PTR])

    f = Fn(module, name, CORE_SIGNATURE)
    ta, tb, m, n, k, a, lda, bm, ldb, c, ldc, alpha, accumulate = f.fn.args
    b = f.b
    done = f.fn.append_basic_block("done")
    work = f.fn.append_basic_block("work")
    b.cbranch(b.or_(b.icmp_signed("<=", m, c64(0)), b.icmp_signed("<=", n, c64(0))), done, work)
    b.position_at_end(work)
    zero_k = f.fn.append_basic_block("zero_k")
    gemm = f.fn.append_basic_block("gemm")
    b.cbranch(b.icmp_signed("<=", k, c64(0)), zero_k, gemm)

    b.position_at_end(zero_k)
    clear = f.fn.append_basic_block("clear")
    b.cbranch(b.icmp_signed("!=", accumulate, c64(0)), done, clear)   # C += 0: nothing to do
    b.position_at_end(clear)

    def zrow(i, _):
        def zcol(j, _):
            b.store(ir.Constant(F32, 0.0), f.gep(c, b.add(b.mul(i, ldc), j)))
        f.loop(c64(0), n, 1, zcol)
    f.loop(c64(0), m, 1, zrow)
    b.branch(done)

    b.position_at_end(gemm)
    # kc, mc: the blocking of this host (tune), rounded to what the tile needs
    kc_max = b.load(b.gep(blocking, [c64(0), c64(0)], inbounds=True), typ=I64)
    kc_max = b.select(b.icmp_signed("<", kc_max, c64(ku)), c64(ku), kc_max)
    mc_max = b.load(b.gep(blocking, [c64(0), c64(1)], inbounds=True), typ=I64)
    mc_max = b.mul(b.sdiv(mc_max, c64(mr)), c64(mr))
    mc_max = b.select(b.icmp_signed("<", mc_max, c64(mr)), c64(mr), mc_max)
    # kc: the sum split into equal blocks of at most kc_max, each padded to a multiple of ku
    nblocks = b.sdiv(b.add(k, b.sub(kc_max, c64(1))), kc_max)
    kc_blk = b.sdiv(b.add(k, b.sub(nblocks, c64(1))), nblocks)
    kc_blk = b.mul(b.sdiv(b.add(kc_blk, c64(ku - 1)), c64(ku)), c64(ku))   # (blocks start on the unroll)
    kcp_max = kc_blk
    mc_cap = f.min(mc_max, b.mul(b.sdiv(b.add(m, c64(mr - 1)), c64(mr)), c64(mr)))
    nc_cap = f.min(c64(nc_max), b.mul(b.sdiv(b.add(n, c64(nr - 1)), c64(nr)), c64(nr)))
    a_bytes = b.mul(b.mul(mc_cap, kcp_max), c64(4))
    b_bytes = b.mul(b.mul(nc_cap, kcp_max), c64(4))
    raw = b.call(malloc, [b.add(b.add(a_bytes, b_bytes), c64(128))])
    done_free = f.fn.append_basic_block("free")
    compute = f.fn.append_basic_block("compute")
    no_memory = f.fn.append_basic_block("no_memory")
    b.cbranch(b.icmp_unsigned("==", raw, ir.Constant(PTR, None)), no_memory, compute)
    b.position_at_end(no_memory)     # no packing buffers: the plain triple loop
    b.call(_naive(module, name + ".naive"), list(f.fn.args))
    b.branch(done)
    b.position_at_end(compute)
    prepacked = b.icmp_signed("==", tb, c64(PREPACKED_B))
    a_prepacked = b.icmp_signed("==", ta, c64(PREPACKED_A))
    base = b.and_(b.add(b.ptrtoint(raw, I64), c64(63)), c64(~63))
    abuf = b.inttoptr(base, PTR)
    bbuf = b.inttoptr(b.add(base, b.and_(b.add(a_bytes, c64(63)), c64(~63))), PTR)

    def jblock(jc, _):
        nc = f.min(c64(nc_max), b.sub(n, jc))

        def pblock(pc, _):
            kc = f.min(kc_blk, b.sub(k, pc))
            kcp = b.mul(b.sdiv(b.add(kc, c64(ku - 1)), c64(ku)), c64(ku))
            first = b.or_(b.zext(b.icmp_signed("!=", pc, c64(0)), I64), accumulate)
            with b.if_then(b.icmp_signed("!=", tb, c64(PREPACKED_B))):
                b.call(packer_b, [tb, bm, ldb, pc, kc, jc, nc, kcp, bbuf, c64(nr)])

            def iblock(ic, _):
                mc = f.min(mc_max, b.sub(m, ic))
                with b.if_then(b.icmp_signed("!=", ta, c64(PREPACKED_A))):
                    b.call(packer_a, [ta, a, lda, ic, mc, pc, kc, kcp, abuf])

                def jr_loop(jr, _):
                    nr_ = f.min(c64(nr), b.sub(nc, jr))
                    in_place = f.gep(bm, b.add(b.mul(b.sdiv(b.add(jc, jr), c64(nr)), b.mul(ldb, c64(nr))),
                                               b.mul(pc, c64(nr))))
                    bp = b.select(prepacked, in_place, f.gep(bbuf, b.mul(jr, kcp)))

                    def ir_loop(ir_, _):
                        mr_ = f.min(c64(mr), b.sub(mc, ir_))
                        a_in_place = f.gep(a, b.add(b.mul(b.sdiv(b.add(ic, ir_), c64(mr)), b.mul(lda, c64(mr))),
                                                    b.mul(pc, c64(mr))))
                        ap = b.select(a_prepacked, a_in_place, f.gep(abuf, b.mul(ir_, kcp)))
                        cp = f.gep(c, b.add(b.mul(b.add(ic, ir_), ldc), b.add(jc, jr)))
                        b.call(uk, [kcp, ap, bp, cp, ldc, mr_, nr_, first, alpha])
                    f.loop(c64(0), mc, mr, ir_loop)
                f.loop(c64(0), nc, nr, jr_loop)
            f.loop(c64(0), m, mc_max, iblock)
        f.loop(c64(0), k, kc_blk, pblock)
    f.loop(c64(0), n, nc_max, jblock)
    b.branch(done_free)
    b.position_at_end(done_free)
    b.call(free, [raw])
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()
    return f.fn
