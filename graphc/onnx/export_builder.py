"""The machinery of ONNX export: the ONNX nodes and initializers being built (``Builder``),
what an emitter sees of one graphc node (``NodeContext``), and the dispatch over the emitter
table (``emit``); the emitters themselves are in :mod:`graphc.onnx.export_ops`.

``EMITTERS[op](cx, *inputs)`` gets a :class:`NodeContext` and the ONNX value names of the
node's inputs, adds ONNX nodes and returns the name of the value that is the node's
result. Each rendering keeps the semantics of the op's numpy reference (``graphc/ops``):
its operand casts and dtype rules, numpy's floor division and remainder, graphc's
float->int cast; where an onnxruntime kernel is missing or inexact (double Softplus,
int64 Relu, Sigmoid's tails) a composite of other ops stands in. An op without a
rendering raises :class:`UnsupportedOpError`.
"""
import numpy as np
from onnx import helper, numpy_helper

from ..errors import GraphcError
from ..ops.registry import registrar


class ExportError(GraphcError, ValueError):
    """A graph cannot be exported to ONNX as asked (bad fetches, inputs or opset)."""


class UnsupportedOpError(ExportError):
    """A node's op has no ONNX rendering; the message names the op, node and source line."""


def onnx_type(dtype):
    """The ``TensorProto`` element type of a graphc dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Builder:
    """The ONNX nodes and initializers made so far, and the value names taken."""

    def __init__(self, opset, taken=()):
        self.opset = opset
        self.nodes, self.initializers = [], []
        self.taken = set(taken)
        self._consts = {}

    def fresh(self, base):
        """``base``, or ``base_1``, ``base_2``... : a value name not yet taken (now taken)."""
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def initializer(self, array, name):
        # (np.array, not np.ascontiguousarray, which makes a 0-d array 1-d)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def const(self, value, dtype, base):
        """An initializer holding ``value`` as ``dtype`` (one per distinct value)."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._consts:
            self._consts[key] = self.initializer(array, self.fresh(base))
        return self._consts[key]

    def add(self, op_type, inputs, base, **attrs):
        """One ONNX node (named after its output) and the name of its output."""
        out = self.fresh(base)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out


class NodeContext:
    """What an emitter sees: the builder, the graphc node, and helpers that name what they
    add after the node (``<node>/Cast``, ``<node>/axes``...)."""

    def __init__(self, builder, node, out):
        self.b, self.node, self.out, self.opset = builder, node, out, builder.opset

    @property
    def dtype(self):
        return self.node.dtype

    def add(self, op_type, *inputs, **attrs):
        return self.b.add(op_type, inputs, f"{self.node.name}/{op_type}", **attrs)

    def const(self, value, dtype=None):
        dtype = self.dtype if dtype is None else dtype
        return self.b.const(value, dtype, f"{self.node.name}/const")

    def ints(self, values):
        return self.b.const(list(values), np.int64, f"{self.node.name}/ints")

    def cast(self, x, src, dst):
        return x if np.dtype(src) == np.dtype(dst) else self.add("Cast", x, to=onnx_type(dst))

    def operand(self, i, x, dtype):
        """Input ``i`` (value ``x``) converted to ``dtype``."""
        return self.cast(x, self.node.inputs[i].dtype, dtype)

    def filled(self, like, value, dtype):
        """``value`` in the (run-time) shape of ``like``."""
        tensor = numpy_helper.from_array(np.array([value], dtype=dtype))
        return self.add("ConstantOfShape", self.add("Shape", like), value=tensor)

    def where(self, cond, a, b):
        return self.add("Where", cond, a, b)

    def unsupported(self, why):
        return UnsupportedOpError(f"cannot export {self.node.where()} to ONNX: {why}")


EMITTERS = {}
emits = registrar(EMITTERS)   # @emits("op", ...): the ONNX rendering of those graphc ops


def emit(builder, node, inputs, out):
    """Render ``node`` (``inputs``: ONNX value names) so its result is the value ``out``
    (a name already taken for it): the node that makes the result is renamed ``out``, or
    an Identity copies a result made before (an input, for an op that changes nothing)."""
    cx = NodeContext(builder, node, out)
    fn = EMITTERS.get(node.op)
    if fn is None:
        raise cx.unsupported(_UNSUPPORTED.get(node.op, "graphc has no ONNX rendering of this op"))
    first = len(builder.nodes)
    result = fn(cx, *inputs)
    if result == out:
        return out
    made = builder.nodes[first:]
    if not any(n.output[0] == result for n in made):
        builder.nodes.append(helper.make_node("Identity", [result], [out], name=out))
        return out
    for n in made:
        if n.output[0] == result:
            n.output[0] = n.name = out
        for i, name in enumerate(n.input):
            if name == result:
                n.input[i] = out
    return out


_UNSUPPORTED = {
    "random": "graphc's Philox4x32 numbers have no ONNX equivalent (RandomUniform/RandomNormal draw others)",
    "assign": "an ONNX model holds no state to update; export the value instead of the assign",
    "group": "an effect op (ONNX models are pure functions)",
    "init_variables": "an effect op (ONNX models are pure functions)",
    "placeholder": "a placeholder inside a fused body that is not one of its parameters",
}
