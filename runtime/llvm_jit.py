"""JIT compilation with llvmlite: host target, the new pass manager at O3, MCJIT.

BLAS symbols (numpy's bundled OpenBLAS, ILP64 ``scipy_cblas_?gemm64_``) are made
visible to generated code when the library can be found in the process.
"""
import ctypes
import functools
import glob
import os

import llvmlite.binding as llvm
import numpy as np


def new_target_machine():
    """A host target machine. An MCJIT engine takes ownership of the one it is given,
    so each engine gets its own."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
                                        opt=3, jit=True)


@functools.lru_cache(maxsize=None)
def target_machine():
    """The shared host target machine, for triples, data layouts and optimization only."""
    return new_target_machine()


@functools.lru_cache(maxsize=None)
def blas_available():
    """Register numpy's OpenBLAS gemm symbols with the JIT; False if they cannot be found."""
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
            for name in ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"):
                llvm.add_symbol(name, ctypes.cast(getattr(lib, name), ctypes.c_void_p).value)
            return True
        except (OSError, AttributeError):
            continue
    return False


def optimize(module_ref):
    tm = target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module_ref, pb)


class JitModule:
    """A compiled module: ``address(symbol)``; keeps the engine (and the code) alive."""

    def __init__(self, ir_text):
        tm = target_machine()
        self.source = ir_text
        module_ref = llvm.parse_assembly(ir_text)
        module_ref.triple = tm.triple
        module_ref.data_layout = str(tm.target_data)
        module_ref.verify()
        optimize(module_ref)
        self.optimized = str(module_ref)
        self.engine = llvm.create_mcjit_compiler(module_ref, new_target_machine())
        self.engine.finalize_object()

    def address(self, symbol):
        return self.engine.get_function_address(symbol)
