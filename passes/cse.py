"""Common-subexpression elimination and dead-code elimination.

``cse``: two nodes merge when they apply the same op, with the same attributes, to the
same (already merged) inputs; the first one in topological order is kept, with its name.
One sweep in topological order merges whole equal subtrees, since a node's inputs are
merged before the node is looked at. Constants are equal when their dtype, shape and
bytes are: ``-0.0`` and ``0.0``, or two NaNs with different payloads, stay distinct.
Attribute values compare by type and exact value (``1`` is not ``True``, ``0.0`` is not
``-0.0``). Never merged: placeholders and variables (each is its own input or state,
whatever its type), effect ops (each one happens), and nodes without a value.

``dce``: the graph restricted to what its outputs need.
"""
import hashlib
import struct

import numpy as np

from ..ir import Graph
from ..ops import EFFECT
from ..ir.analysis import reachable
from .rewrite import Rewriter


class ArrayKey:
    """An array as a dict key: equal to another exactly when dtype, shape and bytes are.

    Hashes a digest of the bytes and compares the bytes themselves, without copying the
    array (a large constant weight is not duplicated while CSE runs).
    """

    __slots__ = ("array", "_hash")

    def __init__(self, array):
        self.array = array if array.flags.c_contiguous else np.array(array, order="C")  # keeps 0-d 0-d
        digest = hashlib.blake2b(self._bytes(), digest_size=16).digest()
        self._hash = hash((self.array.dtype.str, self.array.shape, digest))

    def _bytes(self):
        return self.array.reshape(-1).view(np.uint8)

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return (isinstance(other, ArrayKey) and self._hash == other._hash
                and (self.array.dtype.str, self.array.shape) == (other.array.dtype.str, other.array.shape)
                and np.array_equal(self._bytes(), other._bytes()))


def canonical(value):
    """A hashable key that is equal for two attribute values exactly when they are the same value."""
    if isinstance(value, np.ndarray):
        return ("array", ArrayKey(value))
    if isinstance(value, np.generic):
        return ("scalar", canonical(np.asarray(value)))
    if isinstance(value, np.dtype):
        return ("dtype", value.str)
    if isinstance(value, (bool, int, str)) or value is None:
        return (type(value).__name__, value)
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))  # bit pattern: 0.0 != -0.0, NaN == same NaN
    if isinstance(value, (tuple, list)):
        return (type(value).__name__,) + tuple(canonical(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple(sorted((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, Graph):  # a fused body: equal when its nodes are, up to names
        return ("graph", graph_key(value))
    return ("object", id(value))  # unknown: equal only to itself


def graph_key(graph):
    index = {node: i for i, node in enumerate(graph.nodes)}
    nodes = tuple((n.op, tuple(index[x] for x in n.inputs), attrs_key(n.attrs), canonical(n.dtype),
                   n.shape) for n in graph.nodes)
    return nodes, tuple(index[n] for n in graph.outputs or ())


def attrs_key(attrs):
    return tuple(sorted((k, canonical(v)) for k, v in attrs.items()))


def mergeable(node):
    return not node.opdef.runtime_value and node.opdef.kind != EFFECT and node.dtype is not None


def cse(graph):
    rw = Rewriter(graph)
    seen = {}
    for node in graph.nodes:
        inputs = rw.inputs_of(node)
        if not mergeable(node):
            rw.copy(node, inputs)
            continue
        key = (node.op, tuple(inputs), attrs_key(node.attrs))
        if key in seen:
            rw.mapping[node] = seen[key]
        else:
            seen[key] = rw.copy(node, inputs)
    return rw.finish()


def dce(graph):
    live = reachable(graph.outputs or ())
    rw = Rewriter(graph)
    for node in graph.nodes:
        if node in live:
            rw.copy(node)
    return rw.finish()
