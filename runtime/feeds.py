"""Checking feeds before anything runs: every error names the tensor."""
import numpy as np

from .. import dtypes as dt
from ..errors import FeedError
from ..tensor import Operation, Tensor


class TensorSpec:
    """A feed stand-in for ``Session.compile``: just a shape and a dtype."""

    def __init__(self, shape, dtype=None):
        self.shape = tuple(shape)
        self.dtype = None if dtype is None else dt.as_dtype(dtype)

    def __repr__(self):
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype})"


def feed_node(key, graph):
    """The node a feed_dict key names (a Tensor of ``graph`` or a tensor name)."""
    if isinstance(key, str):
        try:
            key = graph.tensor(key[:-2] if key.endswith(":0") else key)  # checked below like a Tensor
        except Exception:
            raise FeedError(f"cannot feed {key!r}: no tensor of that name in the session's graph") from None
    if isinstance(key, Operation):
        raise FeedError(f"cannot feed operation '{key.name}': it has no value")
    if not isinstance(key, Tensor):
        raise FeedError(f"feed_dict keys must be Tensors or tensor names, got {type(key).__name__} {key!r}")
    if key.graph is not graph:
        raise FeedError(f"cannot feed '{key.name}': it belongs to another graph than the session's")
    return key.node


def _describe(node):
    return f"'{node.name}' {node.type}" + (f" (built at {node.loc})" if node.loc else "")


def check_shape(node, shape):
    if len(shape) != len(node.shape) or any(d is not None and d != s for d, s in zip(node.shape, shape)):
        raise FeedError(f"feed for {_describe(node)} has shape {tuple(shape)}, "
                        f"which does not match {tuple('?' if d is None else d for d in node.shape)}")


def convert_feed(node, value):
    """``value`` as an array of the node's dtype, checked against its shape. A device array
    (a CuPy array, for device="cuda") stays one: the program reads it in place."""
    if hasattr(value, "__cuda_array_interface__"):
        if not np.can_cast(value.dtype, node.dtype, casting="same_kind"):
            raise FeedError(f"feed for {_describe(node)} has dtype {value.dtype}, which cannot be safely "
                            f"converted to {node.dtype}")
        check_shape(node, value.shape)
        value = value if value.dtype == node.dtype else value.astype(node.dtype)
        return value if value.flags.c_contiguous else value.copy()
    try:
        array = np.asarray(value)
    except Exception as e:
        raise FeedError(f"feed for {_describe(node)} is not array-like: {e}") from None
    if array.dtype.kind not in "biuf":
        raise FeedError(f"feed for {_describe(node)} has unsupported dtype {array.dtype}")
    if not np.can_cast(array.dtype, node.dtype, casting="same_kind"):
        raise FeedError(f"feed for {_describe(node)} has dtype {array.dtype}, which cannot be safely "
                        f"converted to {node.dtype}")
    check_shape(node, array.shape)
    if array.dtype.kind in "iu" and dt.is_int(node.dtype) and array.size:
        info = np.iinfo(node.dtype)
        if array.min() < info.min or array.max() > info.max:
            raise FeedError(f"feed for {_describe(node)} holds values outside the range of {node.dtype}")
    return np.asarray(array, dtype=node.dtype, order="C")   # not ascontiguousarray: it makes 0-d 1-d


def feed_nodes(feed_dict, graph, convert):
    """{node: convert(node, value)} for every feed_dict entry, keys checked first."""
    return {(node := feed_node(key, graph)): convert(node, value) for key, value in (feed_dict or {}).items()}


def feed_spec(node, value):
    """(dtype, shape) of a feed given as an array, a TensorSpec-like object or a shape tuple."""
    if isinstance(value, tuple) and all(isinstance(d, (int, np.integer)) for d in value):
        shape, dtype = tuple(int(d) for d in value), node.dtype
    elif hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.ndarray):
        shape, dtype = tuple(value.shape), node.dtype if value.dtype is None else dt.as_dtype(value.dtype)
    else:
        array = convert_feed(node, value)
        return array.dtype, array.shape
    if dtype != node.dtype:
        raise FeedError(f"feed spec for {_describe(node)} has dtype {dtype}, expected {node.dtype}")
    check_shape(node, shape)
    return dtype, shape
