"""Calls that LLVM's loop vectorizer widens although the callee branches.

A kernel's loop body is straight-line IR, which the loop vectorizer widens. An operation whose
common case is straight-line but whose rare case is not (fmod of a huge quotient, sin of a huge
argument) would stop the vectorizer if it branched inside the loop, and computing the rare case
for every element (a select) makes the common case slow. Such an operation is emitted as
functions of its own: a scalar one, kept out of line, which the loop calls, and vector variants
that the call names in LLVM's ``vector-function-abi-variant`` attribute (the vector function
ABI), so the vectorizer replaces the call with the variant of the width it picks. Inside a
variant, ``rare`` branches to the slow code only when some lane needs it.
"""
from llvmlite import ir

from .llvm_util import declare

# Every width the vectorizer may pick for 128-, 256- and 512-bit registers.
LANES = {32: (4, 8, 16), 64: (2, 4, 8)}


class _VariantAttribute(ir.instructions.CallInstrAttributes):
    """A call-site string attribute (llvmlite's attribute sets take known keywords only)."""

    def __init__(self, text):
        set.__init__(self, [f'"vector-function-abi-variant"="{text}"'])


def _bits(t):
    scalar = t.element if isinstance(t, ir.VectorType) else t
    return 32 if isinstance(scalar, ir.FloatType) else 64


def call(builder, name, body, args):
    """``body(builder, *args)`` as a call the loop vectorizer widens. ``body`` emits IR
    (branches allowed) for arguments of any float type, scalar or vector, and returns the
    result; it is emitted once per module and type. ``name`` names the operation."""
    module = builder.module
    scalar_type = args[0].type
    symbol = f"__graphc_{name}_f{_bits(scalar_type)}_{module.name}"   # (the module's name: unique in a program)
    fn = module.globals.get(symbol)
    if fn is None:
        fn = _define(module, symbol, body, scalar_type, len(args), inline=False)
        for n in LANES[_bits(scalar_type)]:
            _define(module, f"{symbol}_v{n}", body, ir.VectorType(scalar_type, n), len(args))
    instr = builder.call(fn, args)
    instr.attributes = _VariantAttribute(",".join(
        f"_ZGV_LLVM_N{n}{'v' * len(args)}_{symbol}({symbol}_v{n})" for n in LANES[_bits(scalar_type)]))
    return instr


def _define(module, symbol, body, ty, nargs, inline=True):
    """The scalar function is out of line (inlined into the loop, its branches would stop
    the vectorizer). All are external: dead-code elimination, which runs before the
    vectorizer, keeps the variants although only an attribute names them, and
    interprocedural passes leave the scalar function's signature as the attribute states it
    (an internal one loses a constant argument). The names carry the module's name (its
    kernel's hash), so the modules of a program, linked into one engine, do not clash."""
    fn = ir.Function(module, ir.FunctionType(ty, [ty] * nargs), name=symbol)
    fn.attributes.add("nounwind")
    if not inline:
        fn.attributes.add("noinline")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(body(b, *fn.args))
    return fn


def rare(builder, mask, fast, slow):
    """``fast`` (a value or a tuple of values) where ``mask`` is false, ``slow()``'s where it
    is true; ``slow`` is called to emit its code once, and that code runs only when some lane
    of ``mask`` is set."""
    b = builder
    fast_t = fast if isinstance(fast, tuple) else (fast,)
    anyone = mask
    if isinstance(mask.type, ir.VectorType):
        reduce = declare(b.module, f"llvm.vector.reduce.or.v{mask.type.count}i1", ir.IntType(1), [mask.type])
        anyone = b.call(reduce, [mask])
    entry = b.block
    slow_block = b.append_basic_block("rare")
    join = b.append_basic_block("rare.join")
    b.cbranch(anyone, slow_block, join)
    b.position_at_end(slow_block)
    slow_t = slow()
    slow_t = slow_t if isinstance(slow_t, tuple) else (slow_t,)
    chosen = [b.select(mask, s, f) for s, f in zip(slow_t, fast_t)]
    slow_end = b.block
    b.branch(join)
    b.position_at_end(join)
    out = []
    for f, c in zip(fast_t, chosen):
        phi = b.phi(f.type)
        phi.add_incoming(f, entry)
        phi.add_incoming(c, slow_end)
        out.append(phi)
    return tuple(out) if isinstance(fast, tuple) else out[0]
