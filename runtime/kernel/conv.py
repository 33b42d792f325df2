"""Lowering convolutions (conv2d and its two backward ops) to kernels whose ``conv`` the
backend runs as GEMMs over patches (runtime.cpu.llvm_conv); the kernel's loops then run
the epilogue fused after it (bias, activation, residual add), reading the convolution's
result from the output buffer (or from a buffer of its own, as a matmul's epilogue does)."""
import numpy as np

from .expr import Load
from .gemm import constant_params, epilogue_in_place, gemm_operand
from .index import flat_index
from .kernel import PRIVATE_PRODUCT, Conv, Kernel

CONV_OPS = ("conv2d", "conv2d_backward_input", "conv2d_backward_filter")


def lower_conv(lw, kernel_node, body, root, private_product=False):
    """The kernel of a float convolution whose operands are buffers, alone or with its
    epilogue (a fused kernel of kind "conv"), or None. ``private_product``: the output is
    also an input (an update written in place), so the convolution writes a buffer of its own."""
    nodes = body.nodes if body is not None else [root]
    found = [n for n in nodes if n.op in CONV_OPS]
    if len(found) != 1 or (body is not None and kernel_node.attrs.get("kind") != "conv"):
        return None
    (node,) = found
    dtype = np.dtype(node.dtype)
    if dtype.kind != "f" or any(np.dtype(x.dtype) != dtype for x in node.inputs):
        return None   # (integer and mixed-dtype convolutions run by the reference)
    constant_params(lw, nodes)
    reads = [gemm_operand(lw, x) for x in node.inputs]
    if None in reads:
        return None
    (a, a_offset), (b, b_offset) = reads
    product = None if not private_product and epilogue_in_place(nodes, node, root) else \
        lw.add_param(f"{node.name}/product", node.dtype, node.shape, PRIVATE_PRODUCT)
    out = lw.add_param(kernel_node.name, root.dtype, root.shape, kernel_node)
    written = out if product is None else product
    lw.param_of[node] = written
    x_shape, w_shape = _geometry(node)
    attrs = node.attrs
    conv = Conv(node.op, a, a_offset, b, b_offset, written, x_shape[0], x_shape[1], tuple(x_shape[2:]), w_shape[0],
                tuple(w_shape[2:]), _out_size(node), tuple(attrs["stride"]), tuple(map(tuple, attrs["pads"])),
                tuple(attrs["dilation"]), int(attrs["groups"]), dtype)
    loops = tuple(lw.fresh("i", d) for d in root.shape)
    index = flat_index(loops, root.shape)
    value = Load(out, index, root.dtype) if node is root else lw.value(root, loops)
    return Kernel(kernel_node.name, lw.params, loops, value, index, sources=lw.sources, conv=conv)


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
