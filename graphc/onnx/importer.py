"""``gc.onnx.load``: an ONNX model as a graphc graph.

The model is checked with ``onnx.checker`` and its shapes inferred with
``onnx.shape_inference``; then every ONNX node becomes graphc ops through the converter
table (``converters.CONVERTERS``, filled by the ``convert_*`` modules), built inside
``source_location`` so a graphc error names the ONNX node instead of a Python line.
Values an ONNX op needs as constants (Reshape's shape, Slice's starts, ...) must be
initializers, Constant nodes, or computed from them and from static shapes (Shape, Size);
the importer folds those with the ops' numpy references as it goes.
"""
import os
import re

import numpy as np

from .. import dtypes as dt
from ..builder import constant, source_location
from ..errors import GraphcError
from ..ir import Graph
from ..ir.analysis import reachable
from ..ir.interpret import compute
from ..placeholders import placeholder


class OnnxImportError(GraphcError):
    """An ONNX model graphc cannot import: an op, attribute, dtype or dynamic value it does
    not support. The message names the ONNX node, its op and the opset."""


class NeedsConstant(OnnxImportError):
    """An ONNX node needs a value computed from graph inputs (``names``) as a constant: pass
    them in ``constant_inputs`` (the ONNX backend does this with the values it is given)."""

    def __init__(self, message, names):
        super().__init__(message)
        self.input_names = tuple(names)


# ONNX TensorProto element types graphc computes with.
_DTYPES = {1: np.float32, 11: np.float64, 6: np.int32, 7: np.int64, 9: np.bool_}


def numpy_dtype(elem_type, what):
    """The numpy dtype of an ONNX element type, or a clear error naming ``what``."""
    import onnx
    if elem_type not in _DTYPES:
        name = onnx.TensorProto.DataType.Name(elem_type)
        raise OnnxImportError(f"{what} has ONNX type {name}; graphc supports float32, float64, "
                              "int32, int64 and bool")
    return np.dtype(_DTYPES[elem_type])


class NodeContext:
    """What a converter sees of one ONNX node: its inputs as graphc tensors, their constant
    values where known, its attributes, and the opset of its domain."""

    def __init__(self, importer, node, opset):
        self.importer, self.node, self.opset = importer, node, opset
        self.attrs = {a.name: _attribute(a) for a in node.attribute}
        self.read = set()           # the attributes the converter looked at


    @property
    def where(self):
        return f"ONNX node '{self.node.name or self.node.output[0]}' ({self.node.op_type}, opset {self.opset})"

    def error(self, message):
        return OnnxImportError(f"{self.where}: {message}")

    def attr(self, name, default=None):
        self.read.add(name)
        return self.attrs.get(name, default)

    def ignore(self, *names):
        """Attributes that do not change what graphc computes (a seed of inference dropout, a
        kernel_shape that the weights give too)."""
        self.read.update(names)

    def check_attributes(self):
        """An attribute the converter never read is one graphc does not support: an error."""
        unread = sorted(set(self.attrs) - self.read)
        if unread:
            raise self.error(f"attribute {', '.join(unread)} of {self.node.op_type} is not supported "
                             f"by graphc's ONNX importer")

    def has_input(self, i):
        return i < len(self.node.input) and self.node.input[i] != ""

    def input(self, i):
        """Input ``i`` as a graphc Tensor (None where the ONNX input is omitted)."""
        return self.importer.values[self.node.input[i]] if self.has_input(i) else None

    def inputs(self):
        return [self.input(i) for i in range(len(self.node.input))]

    def const(self, i, default=None):
        """Input ``i``'s value as a numpy array: it must be known when the model is imported."""
        if not self.has_input(i):
            return default
        value = self.importer.constant_value(self.input(i))
        if value is None:
            name = self.node.input[i]
            sources = self.importer.graph_inputs_under(self.input(i))
            raise NeedsConstant(f"{self.where}: input '{name}' must be known when the model is "
                                f"imported (graphc compiles static graphs), but it depends on graph "
                                f"inputs {sources}: make them initializers, or pass their values in "
                                "constant_inputs", sources)
        return value

    def ints(self, i, default=None):
        value = self.const(i)
        return default if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def node_name(onnx_name):
    """A graphc node name for an ONNX value name (``onnx::MatMul_95`` -> ``onnx__MatMul_95``):
    characters graphc names do not allow become ``_``."""
    name = re.sub(r"[^A-Za-z0-9_./-]", "_", onnx_name)
    return name if re.match(r"[A-Za-z0-9_.]", name) else "_" + name


def _attribute(attr):
    import onnx
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    return value


class Importer:
    """Builds one graphc graph from one ONNX graph."""

    def __init__(self, model, trainable, constant_inputs):
        self.model, self.trainable = model, trainable
        self.constant_inputs = dict(constant_inputs or {})
        self.graph = Graph()
        self.values = {}           # ONNX value name -> graphc Tensor
        self.graph_inputs = {}     # ONNX input name -> placeholder
        self._folded = {}          # graphc node -> numpy value (None: not constant)
        self.opsets = {imp.domain or "ai.onnx": imp.version for imp in model.opset_import}

    def run(self):
        from .converters import CONVERTERS
        g = self.model.graph
        with self.graph.as_default():
            for init in g.initializer:
                self._initializer(init)
            for value_info in g.input:
                if value_info.name not in self.values:
                    self._input(value_info)
            for node in g.node:
                self._convert(node, CONVERTERS)
            outputs = []
            for out in g.output:
                if out.name not in self.values:
                    raise OnnxImportError(f"ONNX graph output '{out.name}' is not computed by any node")
                outputs.append(self.values[out.name])
        return self.graph, self.graph_inputs, outputs

    def _initializer(self, init):
        import onnx
        from ..tensor import Variable
        value = onnx.numpy_helper.to_array(init)
        dtype = numpy_dtype(init.data_type, f"initializer '{init.name}'")
        value = np.asarray(value, dtype=dtype)
        with source_location(f"ONNX initializer '{init.name}'"):
            if self.trainable and dt.is_float(value.dtype) and value.ndim > 0:
                self.values[init.name] = Variable(value, name=node_name(init.name))
            else:
                self.values[init.name] = constant(value, name=node_name(init.name))

    def _input(self, value_info):
        what = f"ONNX graph input '{value_info.name}'"
        t = value_info.type.tensor_type
        if not value_info.type.HasField("tensor_type"):
            raise OnnxImportError(f"{what} is not a tensor (sequences, maps and optionals are not supported)")
        dtype = numpy_dtype(t.elem_type, what)
        with source_location(what):
            if value_info.name in self.constant_inputs:
                value = np.asarray(self.constant_inputs[value_info.name], dtype=dtype)
                self.values[value_info.name] = constant(value, name=node_name(value_info.name))
                return
            if not t.HasField("shape"):
                raise OnnxImportError(f"{what} has no shape (unknown rank); graphc needs the rank")
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
            tensor = placeholder(dtype, dims, name=node_name(value_info.name))
        self.values[value_info.name] = self.graph_inputs[value_info.name] = tensor

    def _convert(self, node, converters):
        domain = node.domain or "ai.onnx"
        opset = self.opsets.get(domain)
        key = node.op_type if domain == "ai.onnx" else f"{domain}.{node.op_type}"
        cx = NodeContext(self, node, opset)
        if key not in converters:
            raise cx.error(f"op {node.op_type} is not supported by graphc's ONNX importer")
        with source_location(cx.where):
            try:
                outputs = converters[key](cx)
            except OnnxImportError:
                raise
            except GraphcError as e:
                raise OnnxImportError(f"{cx.where}: {e}") from e
        cx.check_attributes()
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for name, tensor in zip(node.output, outputs):
            if name == "":
                continue
            if tensor is None:
                raise cx.error(f"output '{name}' is not supported")
            self.values[name] = tensor
        if len([n for n in node.output if n]) > len(outputs):
            raise cx.error(f"outputs {list(node.output[len(outputs):])} are not supported")

    def graph_inputs_under(self, tensor):
        """The names of the graph inputs ``tensor`` depends on."""
        ancestors = reachable([tensor.node])
        return sorted(name for name, t in self.graph_inputs.items() if t.node in ancestors)

    def constant_value(self, tensor):
        """``tensor``'s value if it follows from constants alone (folded with the ops' numpy
        references), else None."""
        node = tensor.node
        if node in self._folded:
            return self._folded[node]
        if node.op == "constant":
            value = node.attrs["value"]
        elif node.opdef.runtime_value or not node.inputs:
            value = None
        else:
            values = [self.constant_value(self.graph.tensor(x)) for x in node.inputs]
            value = None if any(v is None for v in values) else compute(node, values)
        self._folded[node] = value
        return value


def load(model, trainable=False, constant_inputs=None):
    """An ONNX model as ``(graph, inputs, outputs)``.

    ``model``: a path, serialized bytes or an ``onnx.ModelProto``. Each op is read at the
    model's opset (opset 13 and newer are supported; older forms of an op where its
    converter knows them). ``graph`` is a new :class:`graphc.Graph`; ``inputs`` maps each ONNX graph
    input (initializers excluded) to its placeholder, dynamic dims as None; ``outputs`` are
    the graph outputs' tensors in order. Initializers become constants, or with
    ``trainable=True`` float Variables (every Session starts them at the initializer's value, and
    ``gc.gradients`` can fine-tune them). ``constant_inputs`` maps graph input names
    to values to build in as constants (inputs that give shapes, axes or pads). ONNX names
    are kept as node names (characters graphc names do not allow become ``_``). Errors name the ONNX node, its op and the opset.
    """
    import onnx
    if isinstance(model, (str, os.PathLike)):
        model = onnx.load(os.fspath(model))
    elif isinstance(model, (bytes, bytearray)):
        model = onnx.load_from_string(bytes(model))
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(f"gc.onnx.load needs a path, bytes or an onnx.ModelProto, got {type(model).__name__}")
    onnx.checker.check_model(model)
    model = onnx.shape_inference.infer_shapes(model)
    return Importer(model, trainable, constant_inputs).run()
