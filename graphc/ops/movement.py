"""Data-movement primitives: reshape, transpose, expand_dims, squeeze, broadcast_to,
slice, concat, pad and gather. Later passes lower most of them to index maps (views)."""
import numpy as np

from .. import dtypes as dt
from ..errors import DTypeError, ShapeError
from .registry import LAYOUT_VIEW, MOVEMENT, STRIDED_VIEW, register
from .shapes import broadcast_shapes, fmt_shape, num_elements


def _reshape_infer(inputs, shape):
    (x,) = inputs
    if sum(d == -1 for d in shape) > 1 or any(d < -1 for d in shape):
        raise ShapeError(f"reshape target {tuple(shape)} may hold one -1 and no other negative dim")
    size, known = num_elements(x.shape), num_elements([d for d in shape if d != -1])
    if -1 in shape:
        if size is None:
            out = tuple(None if d == -1 else d for d in shape)
        elif known == 0 or size % known:
            raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} into {tuple(shape)}")
        else:
            out = tuple(size // known if d == -1 else d for d in shape)
    else:
        if size is not None and size != known:
            raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} ({size} elements) into {tuple(shape)}")
        out = tuple(shape)
    return x.dtype, out


register("reshape", MOVEMENT, _reshape_infer,
         lambda v, shape: v[0].reshape(shape), arity=1, view=LAYOUT_VIEW)


def _transpose_infer(inputs, perm):
    (x,) = inputs
    if sorted(perm) != list(range(len(x.shape))):
        raise ShapeError(f"transpose perm {tuple(perm)} is not a permutation of the axes of {fmt_shape(x.shape)}")
    return x.dtype, tuple(x.shape[p] for p in perm)


register("transpose", MOVEMENT, _transpose_infer,
         lambda v, perm: np.transpose(v[0], perm), arity=1, view=STRIDED_VIEW)


def _expand_dims_infer(inputs, axes):
    (x,) = inputs
    rank = len(x.shape) + len(axes)
    if any(not 0 <= a < rank for a in axes) or len(set(axes)) != len(axes):
        raise ShapeError(f"expand_dims axes {tuple(axes)} invalid for an output of rank {rank}")
    rest = iter(x.shape)
    return x.dtype, tuple(1 if i in axes else next(rest) for i in range(rank))


register("expand_dims", MOVEMENT, _expand_dims_infer,
         lambda v, axes: np.expand_dims(v[0], tuple(axes)), arity=1, view=LAYOUT_VIEW)


def _squeeze_infer(inputs, axes):
    (x,) = inputs
    for a in axes:
        if not 0 <= a < len(x.shape):
            raise ShapeError(f"squeeze axis {a} is out of range for {fmt_shape(x.shape)}")
        if x.shape[a] not in (1, None):
            raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]} in {fmt_shape(x.shape)}")
    return x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes)


register("squeeze", MOVEMENT, _squeeze_infer,
         lambda v, axes: np.squeeze(v[0], tuple(axes)), arity=1, view=LAYOUT_VIEW)


def _broadcast_to_infer(inputs, shape):
    (x,) = inputs
    out = broadcast_shapes(x.shape, shape)
    # an unknown input dim broadcasts to any target dim (the feed must make it fit)
    if len(out) != len(shape) or any(o is not None and o != s for o, s in zip(out, shape)):
        raise ShapeError(f"cannot broadcast {fmt_shape(x.shape)} to {fmt_shape(shape)}")
    return x.dtype, tuple(shape)


register("broadcast_to", MOVEMENT, _broadcast_to_infer,
         lambda v, shape: np.broadcast_to(v[0], shape), arity=1, view=STRIDED_VIEW)


def slice_length(dim, start, stop, step):
    if dim is None:
        return None
    return len(range(*slice(start, stop, step).indices(dim)))


def _slice_infer(inputs, slices):
    (x,) = inputs
    if len(slices) != len(x.shape):
        raise ShapeError(f"slice needs one (start, stop, step) per axis of {fmt_shape(x.shape)}")
    if any(step == 0 for _, _, step in slices):
        raise ShapeError("slice step cannot be zero")
    return x.dtype, tuple(slice_length(d, *s) for d, s in zip(x.shape, slices))


def _slice_block_offset(in_shape, slices):
    """A slice is one contiguous block of its input when the axes before some axis j keep
    one element, axis j is a step-1 range and every axis after it is whole (rows of a
    matrix, one batch item): the block's element offset, else None."""
    ranges = [range(*slice(*s).indices(d)) for d, s in zip(in_shape, slices)]
    j = next((i for i, r in enumerate(ranges) if len(r) != 1), len(ranges))
    if any(len(r) != d or r.step != 1 for r, d in zip(ranges[j + 1:], in_shape[j + 1:])) \
            or (j < len(ranges) and len(ranges[j]) > 1 and ranges[j].step != 1):
        return None
    offset, stride = 0, 1
    for r, d in reversed(list(zip(ranges, in_shape))):
        offset += (r.start if len(r) else 0) * stride
        stride *= d
    return offset


register("slice", MOVEMENT, _slice_infer,
         lambda v, slices: v[0][tuple(slice(*s) for s in slices)], arity=1, view=STRIDED_VIEW,
         block_offset=_slice_block_offset)


def _concat_infer(inputs, axis):
    if not inputs:
        raise ShapeError("concat needs at least one tensor")
    rank = len(inputs[0].shape)
    if any(len(x.shape) != rank for x in inputs):
        raise ShapeError("concat operands differ in rank: " + ", ".join(fmt_shape(x.shape) for x in inputs))
    if not 0 <= axis < rank:
        raise ShapeError(f"concat axis {axis} is out of range for rank {rank}")
    out = []
    for i in range(rank):
        dims = [x.shape[i] for x in inputs]
        if i == axis:
            out.append(None if None in dims else sum(dims))
            continue
        known = {d for d in dims if d is not None}
        if len(known) > 1:
            raise ShapeError(f"concat operands differ on axis {i}: " + ", ".join(fmt_shape(x.shape) for x in inputs))
        out.append(known.pop() if known else None)
    return dt.promote(*(x.dtype for x in inputs)), tuple(out)


def _concat_compute(values, axis):
    dtype = dt.promote(*(v.dtype for v in values))
    return np.concatenate([v.astype(dtype, copy=False) for v in values], axis=axis)


register("concat", MOVEMENT, _concat_infer, _concat_compute)


def _pad_infer(inputs, pads, value):
    (x,) = inputs
    if len(pads) != len(x.shape) or any(b < 0 or a < 0 for b, a in pads):
        raise ShapeError(f"pad needs one non-negative (before, after) per axis of {fmt_shape(x.shape)}, got {pads}")
    return x.dtype, tuple(None if d is None else d + b + a for d, (b, a) in zip(x.shape, pads))


register("pad", MOVEMENT, _pad_infer,
         lambda v, pads, value: np.pad(v[0], pads, constant_values=np.asarray(value).astype(v[0].dtype)), arity=1)


def _gather_infer(inputs, axis):
    x, indices = inputs
    if not dt.is_int(indices.dtype):
        raise DTypeError(f"gather indices must be integers, got {indices.dtype}")
    if not 0 <= axis < len(x.shape):
        raise ShapeError(f"gather axis {axis} is out of range for {fmt_shape(x.shape)}")
    return x.dtype, tuple(x.shape[:axis]) + tuple(indices.shape) + tuple(x.shape[axis + 1:])


register("gather", MOVEMENT, _gather_infer,
         lambda v, axis: np.take(v[0], v[1], axis=axis), arity=2)


def _scatter_add_infer(inputs, axis):
    x, indices, updates = inputs
    expected = _gather_infer((x, indices), axis)[1]
    if len(updates.shape) != len(expected) or any(
            a is not None and b is not None and a != b for a, b in zip(updates.shape, expected)):
        raise ShapeError(f"scatter_add updates {fmt_shape(updates.shape)} do not match the gathered "
                         f"shape {fmt_shape(expected)}")
    return updates.dtype, tuple(x.shape)


def _scatter_add_compute(values, axis):
    """Zeros shaped like ``x``, with each ``updates`` slice added at its index along
    ``axis`` (repeated indices accumulate): the adjoint of gather."""
    x, indices, updates = values
    out = np.zeros(x.shape, updates.dtype)
    index = np.asarray(indices).reshape(-1)
    moved = np.moveaxis(out, axis, 0)
    rows = updates.reshape(x.shape[:axis] + (index.size,) + x.shape[axis + 1:])
    np.add.at(moved, index, np.moveaxis(rows, axis, 0))
    return out


register("scatter_add", MOVEMENT, _scatter_add_infer, _scatter_add_compute, arity=3, moves_only=False)  # it sums
