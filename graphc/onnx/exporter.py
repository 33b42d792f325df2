"""``gc.onnx.export``: graphc tensors, and the sub-graph they depend on, as an ONNX model.

Placeholders become graph inputs (an unknown dim becomes the symbolic dim
``<placeholder>_dim<axis>``), constants become initializers, and so do variables, with
the values a Session holds. Every other node becomes one or more ONNX nodes
(:mod:`graphc.onnx.export_ops`), the one that gives its value named after it; the fetches
are the graph outputs, in order. The model passes ``onnx.checker`` (full check) and strict
shape inference before it is returned.
"""
import numpy as np
import onnx
from onnx import helper

from ..tensor import Tensor
from . import export_conv, export_ops  # noqa: F401  (they fill the emitter table)
from .export_builder import Builder, ExportError, UnsupportedOpError, emit, onnx_type

DEFAULT_OPSET = 17   # the opset an export targets unless ``opset=`` asks for another
MIN_OPSET = 13       # the first with Squeeze/Unsqueeze/ReduceSum axes as inputs

__all__ = ["export", "DEFAULT_OPSET", "MIN_OPSET", "ExportError", "UnsupportedOpError"]


def export(fetches, path=None, inputs=None, session=None, opset=None):
    """The ONNX model computing ``fetches`` (a Tensor or a list of Tensors).

    ``inputs``: placeholder Tensors, the model's inputs in this order (default: the
    placeholders the fetches depend on, in graph order; a listed one they do not need is
    an input all the same). ``session``: the ``gc.Session`` whose variable values the
    model holds (needed when the fetches depend on a variable). ``opset``: the default
    ONNX domain's opset, ``MIN_OPSET`` to the installed onnx's newest (default
    ``DEFAULT_OPSET``). ``path``: where to save the model, if given.

    Raises :class:`ExportError` (a ``GraphcError``) for bad arguments and
    :class:`UnsupportedOpError` for a node no ONNX op expresses (random numbers, state
    updates), naming the op, the node and the line that built it.
    """
    opset = _check_opset(opset)
    outputs = _fetch_nodes(fetches)
    graph = outputs[0].graph
    nodes = _needed(graph, outputs)
    params = _input_nodes(graph, nodes, inputs)

    b = Builder(opset, taken=[n.name for n in nodes] + [n.name for n in params])
    env = {}
    for node in nodes:
        if node.op == "placeholder":
            env[node] = node.name
        elif node.op == "variable":
            env[node] = b.initializer(_variable_value(node, session), node.name)
        else:
            env[node] = emit(b, node, [env[x] for x in node.inputs], node.name)

    out_infos, seen = [], set()
    made = {n.output[0] for n in b.nodes}
    for node in outputs:
        name = env[node]
        if name not in made or name in seen:   # each output a value of its own, made by a node
            name = b.add("Identity", [name], f"{node.name}/output")
        seen.add(name)
        out_infos.append(helper.make_tensor_value_info(name, onnx_type(node.dtype), list(node.shape)))
    in_infos = [helper.make_tensor_value_info(p.name, onnx_type(p.dtype), _dims(p)) for p in params]

    name = "_".join(n.name for n in outputs)[:200]
    model = _model(helper.make_graph(b.nodes, name, in_infos, out_infos, b.initializers), opset)
    if path is not None:
        onnx.save(model, path)
    return model


def _check_opset(opset):
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= newest:
        raise ExportError(f"opset must be an int from {MIN_OPSET} to {newest} (the installed onnx's newest), "
                          f"got {opset!r}")
    return int(opset)


def _fetch_nodes(fetches):
    """The nodes of ``fetches`` (a Tensor or a list/tuple of them), all of one graph."""
    items = list(fetches) if isinstance(fetches, (list, tuple)) else [fetches]
    if not items:
        raise ExportError("export needs at least one fetch")
    for t in items:
        if not isinstance(t, Tensor):
            raise ExportError(f"export fetches must be graphc Tensors, got {t!r}")
    if len({id(t.graph) for t in items}) > 1:
        raise ExportError("export fetches come from different graphs: " + ", ".join(f"'{t.name}'" for t in items))
    return [t.node for t in items]


def _needed(graph, outputs):
    """The nodes ``outputs`` depend on (through their inputs), in graph order."""
    needed, stack = set(), list(outputs)
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(node.inputs)
    return [n for n in graph.nodes if n in needed]


def _input_nodes(graph, nodes, inputs):
    """The model's inputs: ``inputs``' placeholders in order, or the needed ones in graph order."""
    needed = [n for n in nodes if n.op == "placeholder"]
    if inputs is None:
        return needed
    params = []
    for t in inputs:
        if not isinstance(t, Tensor) or t.node.op != "placeholder":
            raise ExportError(f"export inputs must be placeholder Tensors, got {t!r}")
        if t.graph is not graph:
            raise ExportError(f"export input '{t.name}' belongs to another graph than the fetches")
        if t.node in params:
            raise ExportError(f"export input '{t.name}' is listed twice")
        params.append(t.node)
    missing = [n.name for n in needed if n not in params]
    if missing:
        raise ExportError(f"the fetches depend on placeholders missing from inputs: {', '.join(missing)}")
    return params


def _dims(node):
    """A placeholder's ONNX dims: its sizes, an unknown one as ``<name>_dim<axis>``."""
    return [f"{node.name}_dim{i}" if d is None else d for i, d in enumerate(node.shape)]


def _variable_value(node, session):
    """The value ``session`` holds for the variable ``node``."""
    if session is None:
        raise ExportError(f"a session is needed to export {node.where()}: pass session= (a gc.Session), "
                          "whose value of it the model will hold")
    if session.graph is not node.graph:
        raise ExportError(f"the session runs another graph than the one variable '{node.name}' is in")
    value = np.asarray(session.run(node.graph.tensor(node)))
    return value.astype(node.dtype, copy=False).reshape(node.shape)


def _model(graph, opset):
    from .. import __version__
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="graphc", producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the exported model fails onnx's checks (a graphc exporter bug): {e}") from e
    return model
