"""Native kernels for the CPU executor: lower each kernel, render LLVM, JIT once.

Kernels the lowering cannot express (gather, integer matmul, integer power, ...)
are left to the numpy reference, one kernel at a time, so every graph runs.
"""
import ctypes

import numpy as np
from llvmlite import ir

from . import kernel_ir
from .llvm_codegen import KernelBuilder
from .llvm_jit import JitModule, blas_available, target_machine
from .llvm_ops import ScalarOps

try:
    from . import llvm_math
except ImportError:  # the vectorized math library is optional until it lands
    llvm_math = None

KERNEL_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class NativeKernel:
    """A JIT-compiled kernel: ``run(input_arrays, out)``."""

    def __init__(self, kernel, constants, fn):
        self.kernel, self.constants, self.fn = kernel, constants, fn
        self.n_params = len(kernel.params)

    def run(self, inputs, out):
        arrays = [np.ascontiguousarray(a) for a in inputs] + self.constants + [out]
        pointers = (ctypes.c_void_p * self.n_params)(*(a.ctypes.data for a in arrays))
        self.fn(ctypes.addressof(pointers))
        return out


def build_native(kernel_nodes):
    """{node: NativeKernel} for the kernels that lower; IR texts for the dump."""
    module = ir.Module(name="graphc")
    tm = target_machine()
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    ops = ScalarOps(module, llvm_math)
    built, symbols = {}, {}
    for i, node in enumerate(kernel_nodes):
        try:
            kernel, constants = _lower(node)
            if kernel.gemm is not None and not blas_available():
                raise kernel_ir.Unsupported("no BLAS in the process")
            KernelBuilder(module, kernel, f"k{i}", ops).build()
        except (kernel_ir.Unsupported, NotImplementedError):
            continue
        built[node], symbols[node] = (kernel, constants), f"k{i}"
    if not built:
        return {}, None
    jit = JitModule(str(module))
    result = {node: NativeKernel(k, c, KERNEL_FN(jit.address(symbols[node]))) for node, (k, c) in built.items()}
    return result, jit


def _lower(node):
    if node.op == "fused":
        body = node.attrs["body"]
        params = [n for n in body.nodes if n.op == "placeholder"]
        kernel = kernel_ir.lower(node, params, body)
        owner = {n.name: n for n in body.nodes}
    else:
        kernel = kernel_ir.lower(node, list(node.inputs))
        owner = {x.name: x for x in node.inputs}
    n_inputs = len(node.inputs)
    constants = [np.ascontiguousarray(owner[name].attrs["value"]) for name, _, _ in kernel.params[n_inputs:-1]]
    return kernel, constants
