"""The kernel IR's kernels: what one kernel computes, over which loops, from which
buffers (and, for a product, the GEMM that runs first)."""
from dataclasses import dataclass, field

import numpy as np

from .expr import BASE_NODES, Load, Op, Reduce, free_vars, reductions_of, walk
from .index import Gathered, gathered_in


@dataclass
class Kernel:
    """One kernel. ``params`` are (name, dtype, shape) of contiguous buffers; the last
    one is the output. ``loops`` are the Vars of the output index space, outermost
    first; ``value`` is the expression stored at ``out[store_index]``. For a matmul
    kernel ``gemm`` describes the product written before the epilogue runs."""
    name: str
    params: list
    loops: tuple
    value: object
    store_index: object
    gemm: object = None
    sources: list = field(default_factory=list)
    stashes: dict = field(default_factory=dict)   # Reduce -> (param, index) its body values are stored at
    accumulate: bool = False   # the output starts at zero and each value is added at store_index (scatter_add)
    conv: object = None        # a convolution (Conv) written before the epilogue runs


@dataclass(frozen=True)
class Gemm:
    """out[b] = a[b] @ bmat[b] for every batch index b (offsets per batch in elements)."""
    a: int
    b: int
    trans_a: bool
    trans_b: bool
    m: int
    n: int
    k: int
    batch: tuple          # (a offset, b offset, out offset) per batch item
    dtype: np.dtype
    out: int              # the parameter the product is written to
    alpha: float = 1.0    # out = alpha * product (+ the accumulated parameter's values)
    onto: int | None = None   # out = onto + alpha * product (onto is usually out itself: an in-place update)


@dataclass(frozen=True)
class Conv:
    """A convolution op (graphc/ops/conv.py) computed as GEMMs over patches of its input:
    ``op`` is conv2d (x, w -> y), conv2d_backward_input (dy, w -> dx) or
    conv2d_backward_filter (x, dy -> dw); ``a`` and ``b`` are its operands' parameters, read
    from element offsets ``a_offset`` and ``b_offset``; ``out`` the parameter written. The
    geometry is the forward convolution's: ``batch`` images of ``channels`` x ``size``,
    ``filters`` x ``kernel`` weights, outputs of ``out_size``."""
    op: str
    a: int
    a_offset: int
    b: int
    b_offset: int
    out: int
    batch: int
    channels: int
    size: tuple
    filters: int
    kernel: tuple
    out_size: tuple
    stride: tuple
    pads: tuple
    dilation: tuple
    groups: int
    dtype: np.dtype


@dataclass(frozen=True)
class OwnBuffer:
    """The source of a parameter whose buffer the kernel owns: uninitialized (a matmul's
    private product) or filled with ``fill`` (the ones of a column sum)."""
    fill: float | None = None


PRIVATE_PRODUCT = OwnBuffer()


def split_safe(kernel):
    """Whether ``kernel`` may be run as shares of its outermost loop ([begin, end) ranges
    on several threads). Not when a reduction is computed before that loop (a full
    reduction such as a 1-D softmax's sum): every share would recompute it whole, and a
    stash of its body values would write outside the share, over another share's output."""
    if not kernel.loops:
        return False
    outer = kernel.loops[0]
    return all(outer in free_vars(r) for r in reductions_of(kernel.value))


class Unsupported(Exception):
    """The kernel uses something the lowering or a backend cannot express: the executor
    runs it by the reference instead."""


def check_supported(kernel, elementwise, reductions, backend, dtypes=None, nodes=()):
    """Raise Unsupported unless a backend renders every part of ``kernel``: each elementwise
    op has an entry in its table ``elementwise`` (op -> a rule with ``floats_only``) for its
    operands' dtype, each reduction is in ``reductions``, each value's dtype in ``dtypes``
    (when given), and each expression or index node is of a class every backend renders
    or of one in ``nodes`` (Random, Gathered; Kernel itself for an accumulating kernel).
    Backends call it before rendering anything of the kernel."""
    nodes = BASE_NODES + tuple(nodes)
    if kernel.accumulate and Kernel not in nodes:
        raise Unsupported(f"no {backend} lowering for an accumulating kernel (scatter_add)")
    indices = [kernel.store_index]
    for e in walk(kernel.value):
        if not isinstance(e, nodes):
            raise Unsupported(f"no {backend} lowering for {type(e).__name__.lower()}")
        if isinstance(e, Load):
            indices.append(e.index)
        if isinstance(e, Op) and e.op not in ("cast", "where"):
            rule, dtype = elementwise.get(e.op), np.dtype(e.args[0].dtype)
            if rule is None or (rule.floats_only and dtype.kind != "f"):
                raise Unsupported(f"no {backend} lowering for {e.op}" + ("" if rule is None else f" on {dtype}"))
        elif isinstance(e, Reduce) and e.op not in reductions:
            raise Unsupported(f"no {backend} combiner for the reduction {e.op}")
        if dtypes is not None and np.dtype(e.dtype) not in dtypes:
            raise Unsupported(f"no {backend} type for {e.dtype}")
    if Gathered not in nodes and any(gathered_in(i) for i in indices):
        raise Unsupported(f"no {backend} lowering for an index read from the data (gather)")
