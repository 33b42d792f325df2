"""The loop-level kernel IR: what a backend renders, free of anything device-specific.

A kernel computes one value over an index space. Its parameters are contiguous
row-major buffers (kernel inputs, the output, constants); every load goes through an
index map written as integer arithmetic on the loop variables (``index``), so
broadcast, transpose, slice, reshape, pad and concat cost no copies. Scalars form an
expression tree (``expr``) of the op table's elementwise op names. A row-wise kernel
first computes its reductions for each outer index (each a loop over the reduced axes
with a combiner), then the elementwise work that reads them. A matmul kernel runs a
GEMM into its output and then its epilogue (``kernel``). ``lower`` builds kernels from
the graph IR; ``gemm`` is its part for products.
"""
from .expr import Const, IndexValue, Load, Op, Random, Reduce, children, free_vars, reductions_of, substitute, walk
from .index import Gathered, IBin, IConst, Var, broadcast_index, extent_of, flat_index, iadd, idiv, imod, imul, gathered_in, unflatten
from .kernel import PRIVATE_PRODUCT, Conv, Gemm, Kernel, OwnBuffer, Unsupported, check_supported, split_safe
from .lower import LOWERINGS, lower, lower_kernel, lower_kernels, operand_dtype
from .structure import structure_key

__all__ = ["Const", "IndexValue", "Load", "Op", "Random", "Reduce", "children", "free_vars", "reductions_of", "substitute", "walk",
           "Gathered", "gathered_in", "IBin", "IConst", "Var", "broadcast_index", "extent_of", "flat_index", "iadd", "idiv", "imod", "imul",
           "unflatten", "PRIVATE_PRODUCT", "Conv", "Gemm", "Kernel", "OwnBuffer", "Unsupported", "check_supported", "split_safe", "LOWERINGS",
           "lower", "lower_kernel", "lower_kernels", "operand_dtype", "structure_key"]
