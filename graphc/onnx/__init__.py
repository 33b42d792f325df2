"""ONNX interop: ``gc.onnx.load`` (an ONNX model as a graphc graph), ``gc.onnx.export``
(graphc tensors as an ONNX model) and an ONNX backend (``graphc.onnx.backend``) over
graphc sessions. Needs the ``onnx`` package (``pip install graphc[onnx]``); imported
lazily, so ``import graphc`` does not load it. docs/onnx.md."""


def load(model, trainable=False, constant_inputs=None):
    """An ONNX model (a path, bytes or a ``ModelProto``) as ``(graph, inputs, outputs)``:
    a new :class:`graphc.Graph`, ``{onnx input name: placeholder}`` and ``[output tensor]``
    in the model's order. See :func:`graphc.onnx.importer.load`."""
    from .importer import load as _load
    return _load(model, trainable=trainable, constant_inputs=constant_inputs)


def export(fetches, path=None, inputs=None, session=None, opset=None):
    """graphc tensors as an ONNX model (checked by onnx.checker, shapes inferred). See
    :func:`graphc.onnx.exporter.export`."""
    from .exporter import export as _export
    return _export(fetches, path, inputs=inputs, session=session, opset=opset)
