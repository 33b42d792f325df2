"""Lowering products to GEMM kernels: a matmul (with transposed operands read in place
and its epilogue after the product), an in-place update ``v + c * (A @ B)`` as one GEMM
that adds onto ``v``, and a column sum as the one-row product ``ones @ x``.

Each function takes a fresh ``Lowering`` (runtime.kernel.lower) and returns a Kernel, or
None when the kernel is not one of these (then the general loop lowering runs).
"""
import dataclasses

import numpy as np

from ...ir.analysis import view_offset
from ...ops import ELEMENTWISE
from .expr import Load
from .index import flat_index
from .kernel import PRIVATE_PRODUCT, Gemm, Kernel, OwnBuffer, Unsupported


def lower_gemm(lw, kernel_node, body, root, private_product=False):
    """The kernel as a GEMM kernel, or None. ``private_product``: the output is also an
    input (an update written in place), so the product needs a buffer of its own unless
    the whole kernel is one GEMM adding onto it."""
    if body is None and _is_column_sum(root) and gemm_operand(lw, root.inputs[0]) is not None:
        return _lower_column_sum(lw, kernel_node, root)
    is_gemm = root.op == "matmul" or (body is not None and kernel_node.attrs.get("kind") == "matmul")
    if not (is_gemm and _float_matmul(body, root)):
        return None
    try:
        return _lower_matmul(lw, kernel_node, body, root, private_product)
    except Unsupported:   # e.g. an operand that is a strided view: loop it (a sum over k)
        return None


COLUMN_SUM_ROWS = 4096   # a column sum as a GEMV sums at most this many rows (one float32 block)


def _lower_matmul(lw, kernel_node, body, root, private_product):
    nodes = body.nodes if body is not None else [root]
    (mm,) = [n for n in nodes if n.op == "matmul"]
    if mm.dtype.kind != "f":
        raise Unsupported("integer matmul")
    constant_params(lw, nodes)
    a, b = mm.inputs
    trans = []
    for operand in (a, b):
        operand, t = _transposed(operand)
        read = gemm_operand(lw, operand)
        if read is None:
            raise Unsupported("matmul operand is computed inside the kernel or a strided view")
        trans.append((*read, t, operand.shape))
    update = _scaled_update(root, mm, lw) if private_product else None
    if update is not None:   # v - c * (A @ B) written in place: one GEMM that adds onto v
        onto, alpha = update
        out = lw.add_param(kernel_node.name, root.dtype, root.shape, kernel_node)
        gemm = dataclasses.replace(_gemm(trans, mm, out), alpha=alpha, onto=onto)
        loops = tuple(lw.fresh("i", d) for d in root.shape)
        index = flat_index(loops, root.shape)
        return Kernel(kernel_node.name, lw.params, loops, Load(out, index, root.dtype), index, gemm=gemm,
                      sources=lw.sources)
    # the epilogue reads the product from the output buffer, or from a buffer of its own
    # when the output is also an input (an update written in place) or when writing an
    # output element could overwrite product elements not read yet
    own = private_product or not epilogue_in_place(nodes, mm, root)
    product = lw.add_param(f"{mm.name}/product", mm.dtype, mm.shape, PRIVATE_PRODUCT) if own else None
    out = lw.add_param(kernel_node.name, root.dtype, root.shape, kernel_node)
    gemm = _gemm(trans, mm, out if product is None else product)
    lw.param_of[mm] = out if product is None else product
    loops = tuple(lw.fresh("i", d) for d in root.shape)
    value = lw.value(root, loops)
    return Kernel(kernel_node.name, lw.params, loops, value, flat_index(loops, root.shape), gemm=gemm,
                  sources=lw.sources)


def constant_params(lw, nodes):
    """The body's constant arrays as parameters, first (an operand may be one; the output
    must stay last)."""
    for n in nodes:
        if n.op == "constant" and n.attrs["value"].size > 1 and n not in lw.param_of:
            lw.param_of[n] = lw.add_param(n.name, n.dtype, n.shape, n)


def epilogue_in_place(nodes, mm, root):
    """Whether the epilogue can compute in the product's buffer: the output has the
    product's dtype (so the same bytes per element) and shape, and every op between them
    is elementwise at that shape, so output element i reads only product element i.
    (A cast to int64, a broadcast to more rows or a reshape of the product would write
    over product elements that later output elements still read.)"""
    if root.dtype != mm.dtype or root.shape != mm.shape:
        return False
    reached = {mm}
    for n in nodes:
        if n is not mm and any(x in reached for x in n.inputs):
            if n.opdef.kind != ELEMENTWISE or n.shape != root.shape:
                return False
            reached.add(n)
    return True


def _scaled_update(root, mm, lw):
    """``(param of v, alpha)`` when the kernel computes ``v + alpha * mm`` for a buffer ``v``
    of mm's shape and a constant scalar alpha (``v - c*mm``, ``v + mm*c``, ``v - mm``...)."""
    def scale(t):
        if t is mm:
            return 1.0
        if t.op == "multiply":
            a, b = t.inputs
            c = a if b is mm else b if a is mm else None
            if c is not None and c.op == "constant" and c.attrs["value"].size == 1:
                return float(c.attrs["value"].reshape(()))
        if t.op == "neg" and t.inputs[0] is mm:
            return -1.0
        return None

    if root.op not in ("add", "subtract") or root.dtype != mm.dtype or root.shape != mm.shape:
        return None
    v, t = root.inputs
    sign = -1.0 if root.op == "subtract" else 1.0
    if root.op == "add" and scale(t) is None:
        v, t = t, v
    alpha = scale(t)
    if alpha is None or v.shape != root.shape or v.dtype != root.dtype or v not in lw.param_of:
        return None
    return lw.param_of[v], sign * alpha


def _is_column_sum(node):
    """A float sum over the leading axes of a buffer (e.g. a bias gradient): the kept
    elements are contiguous rows of the input, so a loop per output element would stride
    through memory."""
    if node.op != "sum" or node.dtype.kind != "f" or node.dtype != node.inputs[0].dtype:
        return False
    x, axes = node.inputs[0], node.attrs["axes"]
    rows = int(np.prod([x.shape[a] for a in axes])) if axes else 0
    return bool(axes) and tuple(axes) == tuple(range(len(axes))) and len(axes) < len(x.shape) \
        and 0 < rows <= COLUMN_SUM_ROWS


def _lower_column_sum(lw, kernel_node, root):
    """ones(1, R) @ x(R, C): BLAS reads the rows contiguously."""
    x, axes = root.inputs[0], root.attrs["axes"]
    rows = int(np.prod([x.shape[a] for a in axes]))
    cols = int(np.prod(x.shape[len(axes):]))
    ones = lw.add_param(f"{root.name}/ones", root.dtype, (1, rows), OwnBuffer(1.0))
    out = lw.add_param(kernel_node.name, root.dtype, root.shape, kernel_node)
    param, offset = gemm_operand(lw, x)
    gemm = Gemm(ones, param, False, False, 1, cols, rows, ((0, offset, 0),), root.dtype, out)
    loops = tuple(lw.fresh("i", d) for d in root.shape)
    index = flat_index(loops, root.shape)
    return Kernel(kernel_node.name, lw.params, loops, Load(out, index, root.dtype), index, gemm=gemm,
                  sources=lw.sources)


def _float_matmul(body, root):
    nodes = body.nodes if body is not None else [root]
    return any(n.op == "matmul" and n.dtype.kind == "f" for n in nodes)


def _transposed(operand):
    """(node the GEMM reads, whether as a transposed matrix): a transpose swapping the last
    two axes (batch axes in place) is read in place; an identity transpose is its input;
    any other transpose (one moving a batch axis) is left as it is, so the GEMM cannot
    read it and the kernel is lowered as loops instead."""
    if operand.op != "transpose":
        return operand, False
    perm, rank = tuple(operand.attrs["perm"]), len(operand.shape)
    if perm == tuple(range(rank)):
        return operand.inputs[0], False
    if rank >= 2 and perm == tuple(range(rank - 2)) + (rank - 1, rank - 2):
        return operand.inputs[0], True
    return operand, False


def gemm_operand(lw, operand):
    """(parameter, element offset) a GEMM reads ``operand`` from: its own buffer, or the
    buffer of a view of it with the same bytes in the same order (a reshape, a slice of
    whole rows), else None."""
    if operand in lw.param_of:
        return lw.param_of[operand], 0
    node, offset = lw.alias.get(operand, operand), 0
    while (step := view_offset(node)) is not None:
        offset += step
        node = node.inputs[0]
        if node in lw.param_of:
            return lw.param_of[node], offset
    return None


def _gemm(trans, mm, out):
    (pa, oa, ta, sa), (pb, ob, tb, sb) = trans
    a_shape, b_shape = mm.inputs[0].shape, mm.inputs[1].shape
    a2 = (1,) + a_shape if len(a_shape) == 1 else a_shape
    b2 = b_shape + (1,) if len(b_shape) == 1 else b_shape
    m, k, n = a2[-2], a2[-1], b2[-1]
    batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    items = []
    for idx in np.ndindex(*batch) if batch else [()]:
        def offset(shape, mat):
            lead = len(batch) - (len(shape) - 2)
            pos = 0
            for d, i in zip(shape[:-2], idx[lead:]):
                pos = pos * d + (0 if d == 1 else i)
            return pos * mat
        out_pos = 0
        for d, i in zip(batch, idx):
            out_pos = out_pos * d + i
        items.append((oa + offset(sa if len(sa) > 1 else (1,) + sa, m * k),
                      ob + offset(sb if len(sb) > 1 else sb + (1,), k * n),
                      out_pos * m * n))
    if _rows_of_one_product(items, ta, m, k, n):   # B shared: the items are rows of one product
        m, items = m * len(items), items[:1]
    return Gemm(pa, pb, ta, tb, m, n, k, tuple(items), mm.dtype, out)


def _rows_of_one_product(items, trans_a, m, k, n):
    """Whether batch items that all read the same B, with A's and the output's items one
    after another, are one (items * m) x k product (a 3-D activation times a weight matrix):
    one bigger GEMM, whose rows threads can share."""
    if len(items) < 2 or trans_a:
        return False
    a0, b0, _ = items[0]
    return all(a == a0 + i * m * k and b == b0 and c == i * m * n for i, (a, b, c) in enumerate(items))
