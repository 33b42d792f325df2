"""``graph_def(source)``: a graph as a TensorBoard ``GraphDef`` (the Graphs dashboard).

A node per IR node, named as in graphc (``dense/matmul``: TensorBoard groups the ``/``
scopes), with ``op``, ``input`` (its producers; ``^name`` for control inputs) and attrs
``dtype``, ``_output_shapes`` (unknown dims as -1), ``loc`` (the user's ``file:line``) and
the op's own simple attributes. In a compiled program every fused kernel becomes a scope,
``kernel_<i>_<kind>`` (``i``: its position, from 000, in the kernels a run executes, as
``Compiled.kernels`` lists them), holding its body's ops (constants included) wired to the
producers outside; consumers outside read the scope's output node, e.g.
``kernel_003_matmul/dense/relu``. The body's ops carry attrs ``fused_in`` (the kernel's IR
name) and ``fused_kind``.

tensorboard is imported here only when a proto is made (``tensorboard_modules``).
"""
import types

import numpy as np

from .errors import GraphcError, GraphError
from .ir.analysis import runs_kernel
from .ir.graph import Graph

_INSTALL = "pip install 'graphc[tensorboard]'"


class TensorBoardMissingError(GraphcError, ImportError):
    """gc.summary was used where the tensorboard package is not installed."""


def tensorboard_modules(what, writer=False):
    """The tensorboard proto modules (and ``EventFileWriter`` if ``writer``) as a namespace;
    without tensorboard a :class:`TensorBoardMissingError` saying that ``what`` needs it."""
    try:
        from tensorboard.compat.proto import (attr_value_pb2, event_pb2, graph_pb2, node_def_pb2, summary_pb2,
                                              tensor_shape_pb2, types_pb2)
        found = dict(attr_value_pb2=attr_value_pb2, event_pb2=event_pb2, graph_pb2=graph_pb2,
                     node_def_pb2=node_def_pb2, summary_pb2=summary_pb2, tensor_shape_pb2=tensor_shape_pb2,
                     types_pb2=types_pb2)
        if writer:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
            found["EventFileWriter"] = EventFileWriter
    except ImportError as e:
        raise TensorBoardMissingError(f"{what} needs the tensorboard package: {_INSTALL}") from e
    return types.SimpleNamespace(**found)


def graph_def(source):
    """The ``GraphDef`` of ``source``: a ``gc.Graph`` (as built) or a compiled program
    (``sess.compile(...)``: its final, optimized IR, fused kernels as scopes)."""
    graph = source if isinstance(source, Graph) else getattr(source, "graph", None)
    if not isinstance(graph, Graph):
        raise GraphcError(f"graph_def takes a gc.Graph or a compiled program (sess.compile), "
                          f"not {type(source).__name__}")
    tb = tensorboard_modules("gc.summary.graph_def")
    out = tb.graph_pb2.GraphDef()
    taken = set()   # every name emitted or to come, and every scope above one
    for node in graph.nodes:
        if node.op != "fused":   # (a kernel's own name is not emitted: its scope is)
            _take(taken, node.name)
    _Emitter(tb, out, taken).emit(graph, "", {})
    _check(out)
    return out


class _Emitter:
    def __init__(self, tb, out, taken):
        self.tb, self.out, self.taken = tb, out, taken

    def emit(self, graph, scope, outer, kernel=None):
        """Add ``graph``'s nodes under ``scope``; ``outer`` names what its placeholders stand
        for (a fused body's: the kernel's producers). Returns {node: name of its value}."""
        names = {}
        index = 0   # position among the nodes that run a kernel
        for node in graph.nodes:
            if node.op == "placeholder" and node.name in outer:
                names[node] = outer[node.name]
            elif node.op == "fused":
                names[node] = self.fused(node, scope, index, names)
            else:
                control = ["^" + names[c] for c in graph.control_inputs.get(node, ()) if c in names]
                names[node] = self.node(node, scope + node.name, [names[x] for x in node.inputs], control, kernel)
            index += runs_kernel(node)
        return names

    def fused(self, node, scope, index, names):
        """A fused kernel's body as a scope (``names``: the graph around it, so far); the
        name of the body's output node."""
        body, kind = node.attrs["body"], node.attrs.get("kind", "fused")
        prefix = _fresh(self.taken, f"{scope}kernel_{index:03d}_{kind}")
        by_name = {x.name: x for x in node.inputs}
        outer = {}
        for i, p in enumerate(n for n in body.nodes if n.op == "placeholder"):
            source = by_name.get(p.name, node.inputs[i] if i < len(node.inputs) else None)   # (else by position)
            if source is not None:
                outer[p.name] = names[source]
        inner = self.emit(body, prefix + "/", outer, kernel=(node.name, kind))
        return inner[body.outputs[0] if body.outputs else body.nodes[-1]]

    def node(self, node, name, inputs, control, kernel):
        AttrValue = self.tb.attr_value_pb2.AttrValue
        _take(self.taken, name)
        nd = self.out.node.add(name=name, op=node.op, input=inputs + control)
        for key, value in node.attrs.items():
            attr = _attr(self.tb, key, value)
            if attr is not None:
                nd.attr[key].CopyFrom(attr)
        if node.dtype is not None:
            nd.attr["dtype"].CopyFrom(AttrValue(type=_dtype_enum(self.tb, node.dtype)))
        if node.shape is not None:
            nd.attr["_output_shapes"].CopyFrom(AttrValue(list=AttrValue.ListValue(shape=[_shape(self.tb, node.shape)])))
        if node.loc:
            nd.attr["loc"].CopyFrom(AttrValue(s=node.loc.encode()))
        if kernel is not None:
            nd.attr["fused_in"].CopyFrom(AttrValue(s=kernel[0].encode()))
            nd.attr["fused_kind"].CopyFrom(AttrValue(s=str(kernel[1]).encode()))
        return name


def _take(taken, name):
    """Mark ``name`` and every scope above it as used."""
    parts = name.split("/")
    for i in range(1, len(parts) + 1):
        taken.add("/".join(parts[:i]))


def _fresh(taken, base):
    """``base``, or ``base_1``, ``base_2``...: a scope no name uses yet (reserved)."""
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    _take(taken, name)
    return name


def _check(out):
    """Every name unique, every input an existing node (a bug here, never the user's)."""
    names = [n.name for n in out.node]
    if len(set(names)) != len(names):
        raise GraphError("graph_def: duplicate node names")
    known = set(names)
    for n in out.node:
        for x in n.input:
            if x.lstrip("^") not in known:
                raise GraphError(f"graph_def: node {n.name!r} reads {x!r}, which is not in the GraphDef")


_DTYPES = {"bool": "DT_BOOL", "int32": "DT_INT32", "int64": "DT_INT64", "float32": "DT_FLOAT",
           "float64": "DT_DOUBLE"}


def _dtype_enum(tb, dtype):
    return tb.types_pb2.DataType.Value(_DTYPES.get(np.dtype(dtype).name, "DT_INVALID"))


def _shape(tb, shape):
    Dim = tb.tensor_shape_pb2.TensorShapeProto.Dim
    return tb.tensor_shape_pb2.TensorShapeProto(dim=[Dim(size=-1 if d is None else int(d)) for d in shape])


def _attr(tb, key, value):
    """An op attribute as an AttrValue (None to leave it out: a fused body, None)."""
    AttrValue = tb.attr_value_pb2.AttrValue
    if value is None or isinstance(value, Graph):
        return None
    if isinstance(value, (bool, np.bool_)):
        return AttrValue(b=bool(value))
    if isinstance(value, (int, np.integer)) and -2**63 <= int(value) < 2**63:
        return AttrValue(i=int(value))
    if isinstance(value, (float, np.floating)):
        return AttrValue(f=float(value))
    if isinstance(value, str):
        return AttrValue(s=value.encode())
    if isinstance(value, np.dtype):
        return AttrValue(type=_dtype_enum(tb, value))
    if isinstance(value, np.ndarray):   # a constant: its type, and its values when few
        text = f"array {value.dtype.name}{list(value.shape)}"
        if value.size <= 16:
            text += " " + np.array2string(value, threshold=16, separator=", ")
        return AttrValue(s=text.encode())
    if isinstance(value, (tuple, list)):
        items = list(value)
        if key == "shape" and all(d is None or isinstance(d, (int, np.integer)) for d in items):
            return AttrValue(shape=_shape(tb, items))
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
               and -2**63 <= int(v) < 2**63 for v in items):
            return AttrValue(list=AttrValue.ListValue(i=[int(v) for v in items]))
        if all(isinstance(v, str) for v in items):
            return AttrValue(list=AttrValue.ListValue(s=[v.encode() for v in items]))
        if all(isinstance(v, (float, np.floating)) for v in items):
            return AttrValue(list=AttrValue.ListValue(f=[float(v) for v in items]))
    return AttrValue(s=repr(value)[:200].encode())
