"""ONNX constants, shape and movement ops: Constant, Shape, Reshape, Transpose, Squeeze,
Unsqueeze, Flatten, Expand, Concat, Split, Slice, Gather, Pad, Tile, ConstantOfShape, Range,
OneHot, EyeLike, Trilu, Dropout (inference), DepthToSpace and SpaceToDepth."""
import numpy as np

from .. import array_ops as a
from .. import math_ops as m
from ..builder import constant
from ..ops.shapes import broadcast_shapes
from .converters import axes_of, converts, static_shape
from .importer import numpy_dtype


def _const(value, like=None, dtype=None):
    return constant(np.asarray(value, dtype=dtype), graph=None if like is None else like.graph)


@converts("Constant")
def _constant(cx):
    attrs = cx.attrs
    cx.ignore(*attrs)   # each one is a form of the value, read below (or refused)
    if "value" in attrs:
        value = attrs["value"]
        tensor = next(at.t for at in cx.node.attribute if at.name == "value")
        return _const(value, dtype=numpy_dtype(tensor.data_type, f"{cx.where}'s value"))
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return _const(attrs[key], dtype=dtype)
    raise cx.error(f"attribute {sorted(attrs)} is not supported (graphc has no string or sparse tensors)")


@converts("Shape")
def _shape(cx):
    x = cx.input(0)
    start, end = cx.attr("start", 0), cx.attr("end", x.ndim)
    dims = x.shape[slice(start, end)]
    if any(d is None for d in dims):
        raise cx.error(f"the shape of '{x.name}' has unknown dims {x.shape}; graphc compiles static shapes")
    return _const(list(dims), dtype=np.int64)


@converts("Size")
def _size(cx):
    return _const(int(np.prod(static_shape(cx, cx.input(0)))), dtype=np.int64)


@converts("Reshape")
def _reshape(cx):
    x, shape = cx.input(0), cx.ints(1)
    if not cx.attr("allowzero", 0):   # 0: keep the input's dim
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
        shape = [-1 if d is None else d for d in shape]
    return a.reshape(x, shape)


@converts("Transpose")
def _transpose(cx):
    perm = cx.attr("perm")
    return a.transpose(cx.input(0), None if perm is None else list(perm))


@converts("Squeeze")
def _squeeze(cx):
    x = cx.input(0)
    return a.squeeze(x, axes_of(cx, x.ndim))


@converts("Unsqueeze")
def _unsqueeze(cx):
    x, axes = cx.input(0), cx.ints(1)
    rank = x.ndim + len(axes)
    return a.expand_dims(x, tuple(sorted(ax % rank for ax in axes)))


@converts("Flatten")
def _flatten(cx):
    x = cx.input(0)
    axis = cx.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    head, tail = x.shape[:axis], x.shape[axis:]
    known = [int(np.prod(part)) if None not in part else None for part in (head, tail)]
    if known.count(None) == 2:   # one unknown part becomes -1; two cannot
        static_shape(cx, x)
    return a.reshape(x, [-1 if k is None else k for k in known])


@converts("Expand")
def _expand(cx):
    x, shape = cx.input(0), cx.ints(1)
    return a.broadcast_to(x, broadcast_shapes(static_shape(cx, x), tuple(shape)))


@converts("Concat")
def _concat(cx):
    xs = [x for x in cx.inputs() if x is not None]
    return a.concat(xs, axis=cx.attr("axis")) if len(xs) > 1 else xs[0]


@converts("Split")
def _split(cx):
    x = cx.input(0)
    axis = cx.attr("axis", 0) % x.ndim
    dim = static_shape(cx, x)[axis]
    sizes = cx.ints(1) if cx.has_input(1) else cx.attr("split")
    if sizes is None:
        n = cx.attr("num_outputs", len(cx.node.output))
        step = -(-dim // n)
        sizes = [min(step, dim - i * step) for i in range(n)]
    if sum(sizes) != dim:
        raise cx.error(f"split sizes {list(sizes)} do not add up to dim {dim}")
    offsets = np.cumsum([0] + list(sizes))
    return [a._slice_axis(x, axis, int(lo), int(hi), 1) for lo, hi in zip(offsets[:-1], offsets[1:])]


@converts("Slice")
def _slice(cx):
    x = cx.input(0)
    starts, ends = cx.ints(1), cx.ints(2)
    axes = cx.ints(3, list(range(len(starts))))
    steps = cx.ints(4, [1] * len(starts))
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step == 0:
            raise cx.error("a slice step of 0")
        index[axis % x.ndim] = slice(start, end, step)
    return x[tuple(index)]


@converts("Gather")
def _gather(cx):
    x, indices = cx.input(0), cx.input(1)
    return a.gather(x, indices, axis=cx.attr("axis", 0))


@converts("Pad")
def _pad(cx):
    x = cx.input(0)
    pads = cx.ints(1)
    value = cx.const(2)
    axes = cx.ints(3, list(range(x.ndim)))
    n = len(axes)
    pairs = [(0, 0)] * x.ndim
    for i, axis in enumerate(axes):
        pairs[axis % x.ndim] = (pads[i], pads[i + n])
    mode = cx.attr("mode", "constant")
    if mode == "constant":
        fill = 0 if value is None else np.asarray(value).reshape(-1)[0].item()
        return _crop_negative(a.pad(x, [(max(p, 0), max(q, 0)) for p, q in pairs], constant_values=fill), pairs)
    if any(p < 0 or q < 0 for p, q in pairs):
        raise cx.error(f"negative pads {pads} with mode {mode!r}")
    for axis, (before, after) in enumerate(pairs):
        x = _pad_axis(cx, x, axis, before, after, mode)
    return x


def _crop_negative(x, pairs):
    """Negative ONNX pads remove elements."""
    if all(p >= 0 and q >= 0 for p, q in pairs):
        return x
    index = tuple(slice(-p if p < 0 else None, q if q < 0 else None) for p, q in pairs)
    return x[index]


def _pad_axis(cx, x, axis, before, after, mode):
    """``x`` padded along ``axis`` in "edge", "reflect" or "wrap" mode, by concatenation."""
    if not before and not after:
        return x
    dim = static_shape(cx, x)[axis]

    def take(start, stop, step=1):
        return a._slice_axis(x, axis, start, stop, step)
    if mode == "edge":
        parts = [take(0, 1)] * before + [x] + [take(dim - 1, dim)] * after
    elif mode == "reflect":
        if before >= dim or after >= dim:
            raise cx.error(f"reflect pads {before}, {after} need a dim larger than them, got {dim}")
        parts = [take(before, 0, -1)] * bool(before) + [x] + [take(dim - 2, dim - 2 - after, -1)] * bool(after)
    elif mode == "wrap":
        if before > dim or after > dim:
            raise cx.error(f"wrap pads {before}, {after} larger than dim {dim}")
        parts = [take(dim - before, dim)] * bool(before) + [x] + [take(0, after)] * bool(after)
    else:
        raise cx.error(f"pad mode {mode!r} is not supported")
    return a.concat(parts, axis=axis)


@converts("Tile")
def _tile(cx):
    return a.tile(cx.input(0), cx.ints(1))


@converts("ConstantOfShape")
def _constant_of_shape(cx):
    shape = cx.ints(0)
    value = cx.attr("value")
    if value is None:
        return _const(np.zeros(shape, np.float32))
    tensor = next(at.t for at in cx.node.attribute if at.name == "value")
    dtype = numpy_dtype(tensor.data_type, f"{cx.where}'s value")
    return _const(np.full(shape, np.asarray(value).reshape(-1)[0], dtype=dtype))


@converts("Range")
def _range(cx):
    cx.ignore("stash_type")
    start, limit, delta = (np.asarray(cx.const(i)) for i in range(3))
    count = max(int(np.ceil((limit - start) / delta)), 0)
    return _const(start + np.arange(count, dtype=start.dtype) * delta, dtype=start.dtype)


@converts("OneHot")
def _one_hot(cx):
    indices = cx.input(0)
    depth = int(np.asarray(cx.const(1)).reshape(-1)[0])
    off, on = np.asarray(cx.const(2)).reshape(-1)
    rank = indices.ndim + 1
    axis = cx.attr("axis", -1) % rank
    if indices.dtype.kind == "f":
        indices = m.cast(indices, np.int64)
    indices = m.where(m.less(indices, 0), indices + depth, indices)   # negative ones count from the end
    shape = [1] * rank
    shape[axis] = depth
    positions = _const(np.arange(depth).reshape(shape), like=indices, dtype=indices.dtype)
    hot = m.equal(a.expand_dims(indices, axis), positions)
    return m.where(hot, _const(on, like=indices, dtype=off.dtype), _const(off, like=indices, dtype=off.dtype))


@converts("EyeLike")
def _eye_like(cx):
    x = cx.input(0)
    rows, cols = static_shape(cx, x)
    dtype = numpy_dtype(cx.attr("dtype"), f"{cx.where}'s dtype") if cx.attr("dtype") is not None else x.dtype
    return _const(np.eye(rows, cols, k=cx.attr("k", 0), dtype=dtype))


@converts("Trilu")
def _trilu(cx):
    x = cx.input(0)
    k = int(np.asarray(cx.const(1, 0)).reshape(-1)[0])
    rows, cols = static_shape(cx, x)[-2:]
    keep = np.triu(np.ones((rows, cols), bool), k) if cx.attr("upper", 1) else np.tril(np.ones((rows, cols), bool), k)
    return m.where(_const(keep, like=x), x, a.zeros_like(x))


@converts("Dropout")
def _dropout(cx):
    cx.ignore("seed", "ratio")   # inference: the identity
    training = cx.const(2)
    if training is not None and bool(np.asarray(training).reshape(-1)[0]):
        raise cx.error("training_mode=True: graphc's ONNX import runs dropout in inference only")
    x = cx.input(0)
    return [x, _const(np.ones(static_shape(cx, x), bool), like=x)] if len(cx.node.output) > 1 else x


@converts("DepthToSpace")
def _depth_to_space(cx):
    x = cx.input(0)
    n, c, h, w = static_shape(cx, x)
    b = cx.attr("blocksize")
    if cx.attr("mode", "DCR") == "DCR":
        y = a.transpose(a.reshape(x, (n, b, b, c // (b * b), h, w)), (0, 3, 4, 1, 5, 2))
    else:
        y = a.transpose(a.reshape(x, (n, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return a.reshape(y, (n, c // (b * b), h * b, w * b))


@converts("SpaceToDepth")
def _space_to_depth(cx):
    x = cx.input(0)
    n, c, h, w = static_shape(cx, x)
    b = cx.attr("blocksize")
    perm = (0, 3, 5, 1, 2, 4) if cx.attr("mode", "DCR") == "DCR" else (0, 1, 3, 5, 2, 4)
    y = a.transpose(a.reshape(x, (n, c, h // b, b, w // b, b)), perm)
    return a.reshape(y, (n, c * b * b, h // b, w // b))


@converts("GatherElements")
def _gather_elements(cx):
    x, indices = cx.input(0), cx.input(1)
    shape, index_shape = static_shape(cx, x), static_shape(cx, indices, "indices")
    axis = cx.attr("axis", 0) % x.ndim
    strides = np.cumprod((1,) + shape[::-1])[:-1][::-1]
    grid = np.indices(index_shape)
    base = sum(grid[d] * strides[d] for d in range(x.ndim) if d != axis)
    indices = m.cast(indices, np.int64)
    along = m.where(m.less(indices, 0), indices + shape[axis], indices)   # negative ones count from the end
    flat = along * int(strides[axis]) + _const(base, like=indices, dtype=np.int64)
    return a.gather(a.reshape(x, (-1,)), flat)


@converts("CumSum")
def _cumsum(cx):
    x = cx.input(0)
    axis = int(np.asarray(cx.const(1)).reshape(-1)[0]) % x.ndim
    n = static_shape(cx, x)[axis]
    i, j = np.indices((n, n))
    exclusive, reverse = cx.attr("exclusive", 0), cx.attr("reverse", 0)
    keep = (i > j if exclusive else i >= j) if reverse else (i < j if exclusive else i <= j)
    # a sum along the last axis as a product with a triangular matrix (exact for integers)
    perm = [d for d in range(x.ndim) if d != axis] + [axis]
    moved = a.transpose(x, perm)
    work = np.float64 if x.dtype.kind in "iu" else x.dtype
    y = m.matmul(m.cast(moved, work), _const(keep, like=x, dtype=work))
    return a.transpose(m.cast(y, x.dtype), list(np.argsort(perm)))


@converts("GatherND")
def _gather_nd(cx):
    """Index tuples as offsets into the flattened trailing dims (per batch with batch_dims)."""
    x, indices = cx.input(0), cx.input(1)
    b = cx.attr("batch_dims", 0)
    shape, index_shape = static_shape(cx, x), static_shape(cx, indices, "indices")
    depth = index_shape[-1]
    indexed = shape[b: b + depth]
    strides = np.cumprod((1,) + indexed[::-1])[:-1][::-1]
    indices = m.cast(indices, np.int64)
    indices = m.where(m.less(indices, 0), indices + _const(indexed, like=indices, dtype=np.int64), indices)
    offsets = m.sum(indices * _const(strides, like=indices, dtype=np.int64), -1)    # index_shape[:-1]
    batch = int(np.prod(shape[:b]))
    inner = int(np.prod(indexed))
    rest = shape[b + depth:]
    flat = a.reshape(x, (batch * inner,) + rest)
    if b:   # each batch element reads its own block
        base = np.arange(batch).reshape(index_shape[:b] + (1,) * (len(index_shape) - 1 - b)) * inner
        offsets = offsets + _const(base, like=indices, dtype=np.int64)
    return a.gather(flat, offsets)


@converts("CenterCropPad")
def _center_crop_pad(cx):
    """Each axis cropped to a centred window, or zero padded around the input (the odd element
    goes at the end either way)."""
    x, targets = cx.input(0), cx.ints(1)
    shape = static_shape(cx, x)
    axes = cx.attr("axes", list(range(x.ndim)))
    index, pads = [slice(None)] * x.ndim, [(0, 0)] * x.ndim
    for axis, target in zip(axes, targets):
        axis %= x.ndim
        dim = shape[axis]
        if target < dim:
            start = (dim - target) // 2
            index[axis] = slice(start, start + target)
        elif target > dim:
            before = (target - dim) // 2
            pads[axis] = (before, target - dim - before)
    return a.pad(x[tuple(index)], pads)
