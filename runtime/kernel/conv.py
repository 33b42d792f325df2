"""Lowering convolutions (conv2d and its two backward ops) to kernels whose ``conv`` the
backend runs as GEMMs over patches (runtime.cpu.llvm_conv); the kernel's loops then only
read the result back (no epilogue yet)."""
import numpy as np

from .expr import Load
from .gemm import gemm_operand
from .index import flat_index
from .kernel import Conv, Kernel

CONV_OPS = ("conv2d", "conv2d_backward_input", "conv2d_backward_filter")


def lower_conv(lw, kernel_node, body, root):
    """The kernel of a lone float convolution op whose operands are buffers, or None."""
    if body is not None or root.op not in CONV_OPS:
        return None
    dtype = np.dtype(root.dtype)
    if dtype.kind != "f" or any(np.dtype(x.dtype) != dtype for x in root.inputs):
        return None   # (integer and mixed-dtype convolutions run by the reference)
    reads = [gemm_operand(lw, x) for x in root.inputs]
    if None in reads:
        return None
    (a, a_offset), (b, b_offset) = reads
    x_shape, w_shape = _geometry(root)
    a_ = root.attrs
    out = lw.add_param(kernel_node.name, root.dtype, root.shape, kernel_node)
    conv = Conv(root.op, a, a_offset, b, b_offset, out, x_shape[0], x_shape[1], tuple(x_shape[2:]), w_shape[0],
                tuple(w_shape[2:]), _out_size(root), tuple(a_["stride"]), tuple(map(tuple, a_["pads"])),
                tuple(a_["dilation"]), int(a_["groups"]), dtype)
    loops = tuple(lw.fresh("i", d) for d in root.shape)
    index = flat_index(loops, root.shape)
    return Kernel(kernel_node.name, lw.params, loops, Load(out, index, root.dtype), index, sources=lw.sources,
                  conv=conv)


def _geometry(node):
    """(x's shape, w's shape) of the forward convolution that ``node`` belongs to."""
    a, b = node.inputs
    if node.op == "conv2d":
        return a.shape, b.shape
    if node.op == "conv2d_backward_input":   # (dy, w) -> dx
        return node.shape, b.shape
    groups = node.attrs["groups"]             # (x, dy) -> dw
    return a.shape, node.shape[:1] + (a.shape[1] // groups,) + node.shape[2:]


def _out_size(node):
    """The forward convolution's output size: y's, or the size of dy (an operand)."""
    dy = {"conv2d": node, "conv2d_backward_input": node.inputs[0], "conv2d_backward_filter": node.inputs[1]}[node.op]
    return tuple(dy.shape[2:])
