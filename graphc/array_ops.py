"""Shape and data-movement functions: reshape, transpose, slicing, concat, pad, gather..."""
import numpy as np

from . import dtypes as dt
from .builder import as_tensor, constant, graph_of, located, make
from .errors import ShapeError
from .math_ops import cast, coerce, equal
from .ops.shapes import fmt_shape, normalize_axes, normalize_axis


def _ints(values, what):
    try:
        return tuple(int(v) for v in values)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of Python ints, got {values!r}") from None


@located
def reshape(x, shape, name=None):
    """``x`` with a new shape (one entry may be -1), numpy C order."""
    x = as_tensor(x)
    shape = (int(shape),) if np.isscalar(shape) else _ints(shape, "reshape shape")
    if shape == x.shape:
        return x
    return make("reshape", (x,), {"shape": shape}, name=name)


@located
def transpose(x, perm=None, name=None):
    """Permute the axes of ``x`` (reverse them when ``perm`` is None)."""
    x = as_tensor(x)
    perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(normalize_axis(int(p), x.ndim) for p in perm)
    if perm == tuple(range(x.ndim)):
        return x
    return make("transpose", (x,), {"perm": perm}, name=name)


@located
def expand_dims(x, axis, name=None):
    """Insert size-1 axes at ``axis`` (int or tuple, positions in the output)."""
    x = as_tensor(x)
    rank = x.ndim + (1 if isinstance(axis, int) else len(axis))
    return make("expand_dims", (x,), {"axes": normalize_axes(axis, rank)}, name=name)


@located
def squeeze(x, axis=None, name=None):
    """Remove size-1 axes (all statically known ones when ``axis`` is None)."""
    x = as_tensor(x)
    axes = tuple(i for i, d in enumerate(x.shape) if d == 1) if axis is None else normalize_axes(axis, x.ndim)
    if not axes:
        return x
    return make("squeeze", (x,), {"axes": axes}, name=name)


@located
def broadcast_to(x, shape, name=None):
    """``x`` broadcast to ``shape`` (numpy.broadcast_to)."""
    x = as_tensor(x)
    shape = _ints(shape, "broadcast_to shape")
    if shape == x.shape:
        return x
    return make("broadcast_to", (x,), {"shape": shape}, name=name)


@located
def concat(values, axis=0, name=None):
    """Join tensors along an existing ``axis`` (numpy.concatenate)."""
    values = coerce(list(values), "any")
    if not values:
        raise ShapeError("concat needs at least one tensor")
    if len(values) == 1:
        return values[0]
    axis = normalize_axis(int(axis), values[0].ndim)
    return make("concat", values, {"axis": axis}, name=name)


@located
def stack(values, axis=0, name=None):
    """Join tensors along a new ``axis`` (numpy.stack)."""
    values = coerce(list(values), "any")
    if not values:
        raise ShapeError("stack needs at least one tensor")
    axis = normalize_axis(int(axis), values[0].ndim + 1)
    return concat([expand_dims(v, axis) for v in values], axis, name=name)


@located
def split(x, num_or_size_splits, axis=0, name=None):
    """Split along ``axis`` into N equal parts (an int) or parts of the given sizes (a list), as TF1."""
    x = as_tensor(x)
    axis = normalize_axis(int(axis), x.ndim)
    dim = x.shape[axis]
    if isinstance(num_or_size_splits, int):
        n = num_or_size_splits
        if dim is None or n <= 0 or dim % n:
            raise ShapeError(f"cannot divide axis {axis} of {fmt_shape(x.shape)} into {n} equal parts")
        sizes = (dim // n,) * n
    else:
        sizes = _ints(num_or_size_splits, "split sizes")
        if dim is not None and sum(sizes) != dim:
            raise ShapeError(f"sizes {sizes} do not add up to axis {axis} of {fmt_shape(x.shape)}")
    starts = np.cumsum((0,) + sizes[:-1])
    return [_slice_axis(x, axis, int(s), int(s) + size, 1, name) for s, size in zip(starts, sizes)]


@located
def unstack(x, axis=0, name=None):
    """The slices of ``x`` along ``axis``, each without that axis."""
    x = as_tensor(x)
    axis = normalize_axis(int(axis), x.ndim)
    if x.shape[axis] is None:
        raise ShapeError(f"unstack needs a static size on axis {axis}, got {fmt_shape(x.shape)}")
    return [squeeze(p, axis, name=name) for p in split(x, x.shape[axis], axis)]


def _slice_axis(x, axis, start, stop, step, name=None):
    slices = [(None, None, None)] * x.ndim
    slices[axis] = (start, stop, step)
    return make("slice", (x,), {"slices": tuple(slices)}, name=name)


def _pad_pairs(pad_width, rank):
    arr = np.asarray(pad_width, dtype=np.int64)
    if arr.ndim == 0:
        arr = np.full((rank, 2), int(arr))
    elif arr.shape == (2,) or arr.shape == (1, 2):
        arr = np.tile(arr.reshape(1, 2), (rank, 1))
    if arr.shape != (rank, 2):
        raise ShapeError(f"pad widths {pad_width!r} do not fit a tensor of rank {rank}")
    return tuple((int(b), int(a)) for b, a in arr)


@located
def pad(x, pad_width, mode="constant", constant_values=0, name=None):
    """numpy.pad in constant mode: ``pad_width`` is an int, (before, after), or one pair per axis."""
    if mode != "constant":
        raise NotImplementedError(f"pad mode {mode!r}: only 'constant' is supported")
    x = as_tensor(x)
    pads = _pad_pairs(pad_width, x.ndim)
    return make("pad", (x,), {"pads": pads, "value": float(constant_values)
                             if dt.is_float(x.dtype) else int(constant_values)}, name=name)


@located
def gather(x, indices, axis=0, name=None):
    """``take`` along ``axis`` with integer ``indices`` of any shape (negative ones wrap)."""
    graph = graph_of(x, indices)
    x = as_tensor(x, graph=graph)
    indices = as_tensor(indices, graph=graph)
    axis = normalize_axis(int(axis), x.ndim)
    return make("gather", (x, indices), {"axis": axis}, name=name)


@located
def take(x, indices, axis=None, name=None):
    """numpy.take: with ``axis=None`` indices address the flattened tensor."""
    if axis is None:
        return gather(reshape(x, (-1,)), indices, 0, name=name)
    return gather(x, indices, axis, name=name)


@located
def one_hot(indices, depth, dtype=dt.float32, name=None):
    """One-hot vectors along a new last axis; out-of-range indices give all zeros (TF1)."""
    indices = as_tensor(indices)
    positions = constant(np.arange(int(depth), dtype=indices.dtype), graph=indices.graph)
    return cast(equal(expand_dims(indices, -1), positions), dtype, name=name)


@located
def tile(x, reps, name=None):
    """Repeat ``x`` ``reps`` times along each axis (numpy.tile)."""
    x = as_tensor(x)
    reps = (int(reps),) if np.isscalar(reps) else _ints(reps, "tile reps")
    rank = max(x.ndim, len(reps))
    reps = (1,) * (rank - len(reps)) + reps
    if None in x.shape:  # unknown sizes: repeat by concatenation (broadcast_to needs static sizes)
        x = expand_dims(x, tuple(range(rank - x.ndim))) if rank > x.ndim else x
        axes = [(axis, r) for axis, r in enumerate(reps) if r != 1]
        for i, (axis, r) in enumerate(axes):
            last = name if i == len(axes) - 1 else None
            x = concat([x] * r, axis, name=last) if r else _slice_axis(x, axis, 0, 0, 1, last)
        return x
    x = reshape(x, (1,) * (rank - x.ndim) + x.shape) if rank > x.ndim else x
    # (a, b) -> (1, a, 1, b) -> (r0, a, r1, b) -> (r0*a, r1*b)
    interleaved = reshape(x, tuple(v for d in x.shape for v in (1, -1 if d is None else d)))
    wide = broadcast_to(interleaved, tuple(v for r, d in zip(reps, x.shape) for v in (r, d)))
    out = tuple(-1 if d is None else r * d for r, d in zip(reps, x.shape))
    return reshape(wide, out, name=name)


@located
def getitem(x, index):
    """``x[index]`` with ints, slices (any step), None and Ellipsis, numpy semantics."""
    if not isinstance(index, tuple):
        index = (index,)
    for item in index:
        # bool is an int subclass, but numpy reads x[True] as a mask, not as x[1]
        if isinstance(item, bool) or not (item is None or item is Ellipsis
                                          or isinstance(item, (int, np.integer, slice))):
            raise TypeError(f"cannot index tensor '{x.name}' with {type(item).__name__}: "
                            "use gc.gather for tensor/array indices")
        if isinstance(item, slice) and not all(v is None or isinstance(v, (int, np.integer))
                                               for v in (item.start, item.stop, item.step)):
            raise TypeError(f"slice indices must be integers or None, got {item!r}")
    if sum(item is Ellipsis for item in index) > 1:
        raise IndexError("an index can only have a single ellipsis")
    used = sum(1 for item in index if item is not None and item is not Ellipsis)
    if used > x.ndim:
        raise IndexError(f"too many indices for tensor '{x.name}' of rank {x.ndim}")
    if Ellipsis not in index:
        index = index + (Ellipsis,)
    at = index.index(Ellipsis)
    index = index[:at] + (slice(None),) * (x.ndim - used) + index[at + 1:]

    slices, squeeze_axes, new_axes, axis, out_axis = [], [], [], 0, 0
    for item in index:
        if item is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        dim = x.shape[axis]
        if isinstance(item, slice):
            slices.append((item.start, item.stop, item.step))
            out_axis += 1
        else:
            i = int(item)
            if dim is not None and not -dim <= i < dim:
                raise IndexError(f"index {i} is out of bounds for axis {axis} of '{x.name}' {fmt_shape(x.shape)}")
            stop = None if i == -1 else i + 1
            slices.append((i, stop, None))
            squeeze_axes.append(axis)
        axis += 1
    out = x
    if any(s != (None, None, None) for s in slices):
        slices = tuple(tuple(None if v is None else int(v) for v in s) for s in slices)
        out = make("slice", (out,), {"slices": slices})
    if squeeze_axes:
        out = squeeze(out, tuple(squeeze_axes))
    if new_axes:
        out = expand_dims(out, tuple(new_axes))
    return out


@located
def full_like(x, fill_value, dtype=None, name=None):
    """A tensor of ``fill_value`` with the shape of ``x`` (unknown dims included) and
    its dtype (or ``dtype``)."""
    x = as_tensor(x)
    dtype = dt.as_dtype(dtype) if dtype is not None else x.dtype
    value = bool(fill_value) if dt.is_bool(dtype) else int(fill_value) if dt.is_int(dtype) else float(fill_value)
    return make("full_like", (x,), {"value": value, "dtype": dtype}, name=name)


def zeros_like(x, dtype=None, name=None):
    """Zeros shaped like ``x``."""
    return full_like(x, 0, dtype, name)


def ones_like(x, dtype=None, name=None):
    """Ones shaped like ``x``."""
    return full_like(x, 1, dtype, name)
