"""TF1's tensor-making and shape functions with TF1's signatures, over graphc's ops."""
import builtins

import numpy as np

from ... import array_ops as a
from ... import dtypes as dt
from ... import math_ops as m
from ...builder import as_tensor, constant as gc_constant, constant_array, located, make
from ...errors import ShapeError
from ...ops.shapes import fmt_shape
from ...tensor import Tensor

__all__ = ["constant", "placeholder", "placeholder_with_default", "identity", "shape", "size", "rank",
           "reshape", "transpose", "expand_dims", "squeeze", "concat", "stack", "unstack", "split", "tile",
           "pad", "gather", "one_hot", "zeros", "ones", "fill", "zeros_like", "ones_like", "eye", "range",
           "linspace"]


def static_shape(shape, what):
    """A TF1 shape argument (list, tuple, int, or a constant shape Tensor) as a tuple of ints;
    graphc's shapes are static, so a computed shape Tensor is an error naming ``what``."""
    if isinstance(shape, Tensor):
        if shape.op != "constant":
            raise ShapeError(f"{what}: graphc needs a static shape, got the computed tensor '{shape.name}'")
        shape = shape.node.attrs["value"].tolist()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(d) for d in shape)


@located
def constant(value, dtype=None, shape=None, name="Const", verify_shape=False):
    """``tf.constant``: with ``shape``, a scalar is repeated and a shorter list is padded with
    its last element (TF1's rule); ``verify_shape`` makes a size mismatch an error."""
    if shape is None:
        return gc_constant(value, dtype, name=name)
    shape = static_shape(shape, "constant")
    flat = constant_array(value, dtype).reshape(-1)   # (graphc's dtype rule: a Python float is float32)
    size = int(np.prod(shape))
    if flat.size == size:
        return gc_constant(flat.reshape(shape), dtype, name=name)
    if verify_shape or flat.size == 0 or flat.size > size:
        raise ShapeError(f"constant '{name}': {flat.size} values do not fit the shape {shape}")
    filled = np.concatenate([flat, np.repeat(flat[-1:], size - flat.size)])
    return gc_constant(filled.reshape(shape), dtype, name=name)


@located
def placeholder(dtype, shape=None, name=None):
    """``tf.placeholder``. ``shape=None`` (unknown rank) is taken as a scalar: graphc needs
    every rank; give a shape for anything else (docs/tf1.md)."""
    from ...placeholders import placeholder as gc_placeholder
    return gc_placeholder(dtype, () if shape is None else [None if d is None else int(d) for d in shape], name=name)


@located
def placeholder_with_default(input, shape, name=None):  # noqa: A002  (TF1's argument name)
    """``input`` unless the run feeds another value, which may have any size where
    ``shape`` has None (``tf.placeholder_with_default``)."""
    input = as_tensor(input)
    return make("identity", (input,), {"shape": tuple(None if d is None else int(d) for d in shape)},
                name=name or "PlaceholderWithDefault")


@located
def identity(input, name=None):  # noqa: A002
    """A new tensor with ``input``'s value (``tf.identity``)."""
    return make("identity", (as_tensor(input),), {}, name=name or "Identity")


@located
def shape(input, name=None, out_type=dt.int32):  # noqa: A002
    """``tf.shape``: the shape as a 1-D int tensor (known once the program is specialized)."""
    x = as_tensor(input)
    if all(d is not None for d in x.shape):
        return gc_constant(np.array(x.shape, dtype=dt.as_dtype(out_type)), name=name or "Shape", graph=x.graph)
    return make("shape", (x,), {"dtype": dt.as_dtype(out_type)}, name=name or "Shape")


@located
def size(input, name=None, out_type=dt.int32):  # noqa: A002
    """``tf.size``: the number of elements as a scalar int tensor."""
    return m.prod(shape(input, out_type=out_type), name=name or "Size")


@located
def rank(input, name=None):  # noqa: A002
    """``tf.rank``: graphc's ranks are static, so a constant int32."""
    x = as_tensor(input)
    return gc_constant(np.int32(x.ndim), name=name or "Rank", graph=x.graph)


def _deprecated(value, old, name, old_name):
    """TF1's renamed arguments (``reduction_indices``, ``keep_dims``, ``dim``): either, not both."""
    if old is not None:
        if value is not None:
            raise ValueError(f"cannot specify both '{name}' and '{old_name}'")
        return old
    return value


@located
def reshape(tensor, shape, name=None):
    """``tf.reshape``; a shape may hold one -1 (and TF1's shape Tensors when constant)."""
    if isinstance(shape, (list, tuple)) and any(isinstance(d, Tensor) for d in shape):
        shape = [_static_dim(d) for d in shape]
        if shape.count(-1) > 1:
            raise ShapeError(f"reshape to {shape}: graphc's shapes are static, so a computed size (a Tensor "
                             "such as tf.shape(x)[0]) stands for the one size reshape infers, like -1; "
                             "give every other size as a number")
    return a.reshape(tensor, static_shape(shape, "reshape"), name=name)


def _static_dim(d):
    if isinstance(d, Tensor):
        if d.op == "constant":
            return int(d.node.attrs["value"])
        return -1   # a computed size (tf.shape(x)[0]): the one size reshape infers
    return int(d)


@located
def transpose(a_, perm=None, name="transpose", conjugate=False):
    """``tf.transpose``: reverses the axes when ``perm`` is None."""
    return a.transpose(a_, None if perm is None else static_shape(perm, "transpose perm"), name=name)


@located
def expand_dims(input, axis=None, name=None, dim=None):  # noqa: A002
    """``tf.expand_dims`` (``dim`` is TF1's old name of ``axis``)."""
    return a.expand_dims(input, int(_deprecated(axis, dim, "axis", "dim")), name=name)


@located
def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    """``tf.squeeze`` (``squeeze_dims`` is TF1's old name of ``axis``)."""
    axis = _deprecated(axis, squeeze_dims, "axis", "squeeze_dims")
    return a.squeeze(input, tuple(axis) if isinstance(axis, list) else axis, name=name)


@located
def concat(values, axis, name="concat"):
    """``tf.concat(values, axis)``."""
    return a.concat(list(values), int(axis), name=name)


@located
def stack(values, axis=0, name="stack"):
    """``tf.stack`` (TF1 also called it ``pack``)."""
    return a.stack(list(values), int(axis), name=name)


@located
def unstack(value, num=None, axis=0, name="unstack"):
    """``tf.unstack``; ``num`` must match the axis's static size when given."""
    value = as_tensor(value)
    if num is not None and value.shape[axis] != num:
        raise ShapeError(f"unstack: num={num} but '{value.name}' has {fmt_shape(value.shape)}")
    return a.unstack(value, int(axis), name=name)


@located
def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """``tf.split``: a number of equal parts or a list of sizes along ``axis``."""
    sizes = num_or_size_splits
    return a.split(value, list(sizes) if isinstance(sizes, (list, tuple)) else int(sizes), int(axis), name=name)


@located
def tile(input, multiples, name=None):  # noqa: A002
    """``tf.tile``."""
    return a.tile(input, static_shape(multiples, "tile multiples"), name=name)


@located
def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0):
    """``tf.pad`` in CONSTANT mode (REFLECT and SYMMETRIC are not supported by graphc)."""
    if str(mode).upper() != "CONSTANT":
        from .unsupported import UnsupportedError
        raise UnsupportedError(f"tf.pad mode {mode!r}: graphc pads with a constant only")
    pads = np.asarray(paddings.node.attrs["value"] if isinstance(paddings, Tensor) else paddings).tolist()
    return a.pad(tensor, [tuple(p) for p in pads], constant_values=constant_values, name=name)


@located
def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """``tf.gather`` along ``axis`` (0 by default); out-of-range indices are an error at run time."""
    if batch_dims:
        from .unsupported import UnsupportedError
        raise UnsupportedError("tf.gather with batch_dims: graphc gathers along one axis")
    return a.gather(params, indices, 0 if axis is None else int(axis), name=name)


@located
def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """``tf.one_hot``: ``on_value`` (1) where the index is, ``off_value`` (0) elsewhere, along a
    new axis ``axis`` (last by default); dtype from the values, else float32."""
    if dtype is None:
        given = next((v for v in (on_value, off_value) if v is not None), None)
        dtype = as_tensor(given).dtype if given is not None else dt.float32
    dtype = dt.as_dtype(dtype)
    hot = a.one_hot(indices, int(depth), dtype=dtype)
    if on_value is not None or off_value is not None:
        on = as_tensor(1 if on_value is None else on_value, dtype=dtype, graph=hot.graph)
        off = as_tensor(0 if off_value is None else off_value, dtype=dtype, graph=hot.graph)
        hot = m.where(m.cast(hot, dt.bool_), on, off)
    if axis is not None and axis != -1 and axis != hot.ndim - 1:
        perm = list(builtins.range(hot.ndim - 1))
        perm.insert(int(axis), hot.ndim - 1)
        hot = a.transpose(hot, tuple(perm))
    return identity(hot, name=name) if name else hot


def _creator(gc_name):
    def create(shape, dtype=dt.float32, name=None):
        from ... import creation
        return getattr(creation, gc_name)(static_shape(shape, f"tf.{gc_name}"), dtype=dtype, name=name)
    create.__name__ = gc_name
    create.__doc__ = f"``tf.{gc_name}(shape, dtype=tf.float32)``."
    return located(create)


zeros = _creator("zeros")
ones = _creator("ones")


@located
def fill(dims, value, name=None):
    """``tf.fill``: ``dims``'s shape filled with ``value`` (dtype from the value)."""
    from ... import creation
    return creation.full(static_shape(dims, "tf.fill"), value, name=name)


@located
def zeros_like(tensor, dtype=None, name=None, optimize=True):
    """``tf.zeros_like``."""
    return a.zeros_like(tensor, dtype, name=name)


@located
def ones_like(tensor, dtype=None, name=None, optimize=True):
    """``tf.ones_like``."""
    return a.ones_like(tensor, dtype, name=name)


@located
def eye(num_rows, num_columns=None, batch_shape=None, dtype=dt.float32, name=None):
    """``tf.eye``: an identity matrix (repeated over ``batch_shape``)."""
    from ... import creation
    out = creation.eye(int(num_rows), None if num_columns is None else int(num_columns), dtype=dtype, name=name)
    if batch_shape:
        out = a.broadcast_to(out, tuple(int(d) for d in batch_shape) + tuple(out.shape))
    return out


@located
def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001
    """``tf.range``: TF1 types integer arguments int32 (numpy would say int64)."""
    from ... import creation
    values = (start, limit, delta)
    if dtype is None and all(isinstance(v, (int, np.integer)) or v is None for v in values):
        dtype = dt.int32
    return creation.arange(start, limit, delta, dtype=dtype, name=name)


@located
def linspace(start, stop, num, name=None, axis=0):
    """``tf.linspace``: ``num`` evenly spaced values from start to stop, both included."""
    from ... import creation
    return creation.linspace(start, stop, int(num), name=name)
