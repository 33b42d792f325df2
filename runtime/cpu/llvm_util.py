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
        nxt = b.add(i, step if isinstance(step, ir.Value) else c64(step))
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
        return self.b.gep(ptr, [idx if isinstance(idx, ir.Value) else c64(idx)], source_etype=typ)

    def min(self, x, y):
        return self.b.select(self.b.icmp_signed("<", x, y), x, y)


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
