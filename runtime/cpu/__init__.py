"""The CPU backend: kernel IR rendered as LLVM IR (llvmlite), optimized at O3 and
compiled by MCJIT for the host CPU; products run graphc's own AVX-512 GEMM or the BLAS
in the process. Its lowering table is ``llvm_ops.ELEMENTWISE`` (and ``REDUCTIONS``);
docs/backend.md describes it."""
from .bound import BoundRun
from .native import build_native as build

__all__ = ["build", "BoundRun"]
