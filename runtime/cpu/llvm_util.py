"""Small helpers for writing vector code with llvmlite: types, declarations of intrinsics
and external functions, and a function builder with counted loops."""
import functools

from llvmlite import ir

I1, I32, I64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
F32 = ir.FloatType()
PTR = ir.PointerType()
V16 = ir.VectorType(F32, 16)


@functools.lru_cache(maxsize=None)
def host_has(feature):
    """Whether the host CPU has ``feature`` (an LLVM feature name, e.g. "avx512f")."""
    try:
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        return bool(llvm.get_host_cpu_features().get(feature, False))
    except Exception:
        return False


def declare(module, name, ret, args):
    """The function ``name`` of ``module``, declared as ``ret(args)`` if it is not there yet."""
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, ir.FunctionType(ret, args), name=name)


def c64(v):
    return ir.Constant(I64, v)


class Fn:
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
        return counted_loop(self.b, start, stop, step, body, carried)

    def if_else(self, cond, then, otherwise=None):
        b = self.b
        with b.if_else(cond) as (t, o):
            with t:
                then()
            with o:
                if otherwise is not None:
                    otherwise()

    def gep(self, ptr, idx, typ=F32):
        return self.b.gep(ptr, [idx if isinstance(idx, ir.Value) else c64(idx)], source_etype=typ)

    def min(self, x, y):
        return self.b.select(self.b.icmp_signed("<", x, y), x, y)


def counted_loop(b, start, stop, step, body, carried=()):
    """At builder ``b``: for (i = start; i < stop; i += step) carried = body(i, carried);
    returns the final carried values (``start``/``stop``/``step``: i64 values or ints)."""
    start, stop = (v if isinstance(v, ir.Value) else c64(v) for v in (start, stop))
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
    nxt = b.add(i, step if isinstance(step, ir.Value) else c64(step))
    latch = b.block
    b.branch(head)
    i.add_incoming(nxt, latch)
    for p, v in zip(phis, new):
        p.add_incoming(v, latch)
    b.position_at_end(exit_bb)
    return phis


def fma(module):
    return declare(module, "llvm.fma.v16f32", V16, [V16, V16, V16])


def masked_load(module):
    return declare(module, "llvm.masked.load.v16f32.p0", V16, [PTR, I32, ir.VectorType(I1, 16), V16])


def masked_store(module):
    return declare(module, "llvm.masked.store.v16f32.p0", ir.VoidType(), [V16, PTR, I32, ir.VectorType(I1, 16)])


def lane_masks(b, count, nvec):
    """<16 x i1> masks of lanes 16v + l < count, v < nvec."""
    i32x16 = ir.VectorType(I32, 16)
    splat = b.insert_element(ir.Constant(i32x16, None), b.trunc(count, I32), ir.Constant(I32, 0))
    splat = b.shuffle_vector(splat, splat, ir.Constant(i32x16, [0] * 16))
    return [b.icmp_signed("<", ir.Constant(i32x16, list(range(16 * v, 16 * v + 16))), splat) for v in range(nvec)]


def splat(b, x):
    v = b.insert_element(ir.Constant(V16, ir.Undefined), x, ir.Constant(I32, 0))
    return b.shuffle_vector(v, ir.Constant(V16, ir.Undefined), ir.Constant(ir.VectorType(I32, 16), [0] * 16))


def constant_table(module, name, element_type, values):
    """The module's internal constant array ``name`` of ``values`` (created on first use),
    64-byte aligned."""
    g = module.globals.get(name)
    if g is None:
        aty = ir.ArrayType(element_type, len(values))
        g = ir.GlobalVariable(module, aty, name=name)
        g.global_constant = True
        g.linkage = "internal"
        g.initializer = ir.Constant(aty, list(values))
        g.align = 64
    return g


class _VectorGEP(ir.Instruction):
    """getelementptr [N x T], ptr @table, i64 0, <L x iK> %idx -> <L x ptr> (llvmlite's gep
    takes scalar indices only)."""

    def __init__(self, parent, table, idx, typ, name=""):
        super().__init__(parent, typ, "getelementptr", [table, idx], name=name)

    def descr(self, buf):
        table, idx = self.operands
        buf.append(f"getelementptr inbounds {table.type.pointee}, {table.type} "
                   f"{table.get_reference()}, i64 0, {idx.type} {idx.get_reference()}\n")


def table_load(builder, table, idx):
    """``table[idx]`` for an integer index, or for a vector of indices (in range) one
    ``llvm.masked.gather`` of every lane."""
    b, element = builder, table.type.pointee.element
    name = {ir.DoubleType: "f64", ir.FloatType: "f32"}.get(type(element)) or f"i{element.width}"
    size = 8 if name == "f64" else 4 if name == "f32" else element.width // 8
    if not isinstance(idx.type, ir.VectorType):
        return b.load(b.gep(table, [c64(0), idx], inbounds=True), align=size)
    n = idx.type.count
    if size == 8 and n in (8, 16) and len(table.initializer.constant) in (16, 32) and host_has("avx512f"):
        return _permute_load(b, table, idx)
    pty, vty, mty = ir.VectorType(PTR, n), ir.VectorType(element, n), ir.VectorType(I1, n)
    ptrs = _VectorGEP(b.block, table, idx, pty)
    b._insert(ptrs)
    gather = declare(b.module, f"llvm.masked.gather.v{n}{name}.v{n}p0", vty, [pty, I32, mty, vty])
    return b.call(gather, [ptrs, ir.Constant(I32, size), ir.Constant(mty, [1] * n), ir.Constant(vty, [0] * n)])



def _permute_load(b, table, idx):
    """``table[idx]`` for 8 or 16 indices into a table of 16 or 32 64-bit words, with
    AVX-512's two-table permutes (vpermi2pd: one instruction per 8 lanes and 16 words) of the
    words as constant vectors, in place of a gather, which costs about a cycle per lane on
    AMD Zen 4."""
    element, n = table.type.pointee.element, idx.type.count
    words = [c.constant for c in table.initializer.constant]
    i64x8 = ir.VectorType(I64, 8)
    vty = ir.VectorType(element, 8)
    suffix = "pd" if isinstance(element, ir.DoubleType) else "q"
    permute = declare(b.module, f"llvm.x86.avx512.vpermi2var.{suffix}.512", vty, [vty, i64x8, vty])
    rows = [ir.Constant(vty, words[k:k + 8]) for k in range(0, len(words), 8)]
    idx = b.zext(idx, ir.VectorType(I64, n)) if idx.type.element.width < 64 else idx
    halves = []
    for h in range(n // 8):
        part = b.shuffle_vector(idx, idx, ir.Constant(ir.VectorType(I32, 8), list(range(8 * h, 8 * h + 8)))) if n > 8 else idx
        value = b.call(permute, [rows[0], part, rows[1]])
        if len(rows) == 4:   # index bit 4 picks the upper 16 words
            upper = b.call(permute, [rows[2], part, rows[3]])
            high = b.icmp_unsigned("!=", b.and_(part, ir.Constant(i64x8, [16] * 8)), ir.Constant(i64x8, [0] * 8))
            value = b.select(high, upper, value)
        halves.append(value)
    if n == 8:
        return halves[0]
    return b.shuffle_vector(halves[0], halves[1], ir.Constant(ir.VectorType(I32, 16), list(range(16))))
