"""``llvm_util.table_load``: a constant table read at vector indices, by AVX-512 permutes
(tables of 16 or 32 64-bit words, 8 or 16 lanes) or by a gather (anything else, and hosts
without AVX-512), each checked against the table at every index, in every lane position."""
import ctypes

import numpy as np
import pytest

llvm = pytest.importorskip("llvmlite.binding")
from llvmlite import ir  # noqa: E402

from graphc.runtime.cpu import llvm_compile, llvm_util  # noqa: E402

I32, I64, F64 = ir.IntType(32), ir.IntType(64), ir.DoubleType()


def _lookup(words, element, lanes, permute):
    """A compiled ``void f(i32* idx, T* out)`` reading ``lanes`` indices and writing the
    table's words at them (one vector; the scalar path when lanes is 1)."""
    module = llvm_compile.new_module("table_test")
    table = llvm_util.constant_table(module, "t", element, words)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I32.as_pointer(), element.as_pointer()]), name="f")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    src, dst = fn.args
    if lanes == 1:
        value = llvm_util.table_load(b, table, b.load(src))
        b.store(value, dst)
    else:
        idx = b.load(b.bitcast(src, ir.VectorType(I32, lanes).as_pointer()), align=4)
        real = llvm_util.host_has
        llvm_util.host_has = (lambda feature: real(feature)) if permute else (lambda feature: False)
        try:
            value = llvm_util.table_load(b, table, idx)
        finally:
            llvm_util.host_has = real
        b.store(value, b.bitcast(dst, ir.VectorType(element, lanes).as_pointer()), align=8)
    b.ret_void()
    text = str(module)
    ref = llvm.parse_assembly(text)
    engine = llvm.create_mcjit_compiler(ref, llvm_compile.new_target_machine())
    engine.finalize_object()
    return engine, engine.get_function_address("f"), text


@pytest.mark.parametrize("size", [7, 16, 32, 33])
@pytest.mark.parametrize("lanes", [1, 4, 8, 16])
@pytest.mark.parametrize("element", ["f64", "i64"])
@pytest.mark.parametrize("permute", [True, False])
def test_every_index_in_every_lane(size, lanes, element, permute):
    rng = np.random.default_rng(size * lanes)
    if element == "f64":
        words, ltype, np_type = list(rng.standard_normal(size)), F64, np.float64
    else:
        words, ltype, np_type = [int(w) for w in rng.integers(-2 ** 62, 2 ** 62, size)], I64, np.int64
    engine, address, text = _lookup(words, ltype, lanes, permute)
    uses_permute = "vpermi2var" in text
    assert uses_permute == (permute and lanes in (8, 16) and size in (16, 32) and llvm_util.host_has("avx512f"))
    f = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(address)
    table = np.array(words, np_type)
    for start in range(0, size + lanes, max(1, lanes // 2)):   # every index in every lane
        idx = ((np.arange(lanes) + start) % size).astype(np.int32)
        idx[::3] = rng.integers(0, size, len(idx[::3]))
        out = np.zeros(lanes, np_type)
        f(idx.ctypes.data, out.ctypes.data)
        np.testing.assert_array_equal(out, table[idx])
    del engine
