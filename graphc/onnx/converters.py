"""The ONNX converter table: ONNX op type -> ``fn(cx) -> tensor or [tensors]``, where ``cx``
is an ``importer.NodeContext``. The ``convert_*`` modules fill it with ``@converts``."""
from ..ops.registry import registrar

CONVERTERS = {}
converts = registrar(CONVERTERS)   # @converts("OpType", ...): the converter of those ONNX ops


def axes_of(cx, rank, attr_before=None, input_index=1):
    """A node's ``axes``: an attribute before opset ``attr_before`` (None: always an input),
    else the optional input ``input_index``; normalized to [0, rank). None when absent."""
    if attr_before is not None and cx.opset < attr_before:
        axes = cx.attr("axes")
    else:
        axes = cx.ints(input_index)
    if axes is None:
        return None
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise cx.error(f"axis {a} is out of range for rank {rank}")
        out.append(a % rank)
    return tuple(out)


def static_shape(cx, tensor, what="input"):
    """``tensor``'s shape, every dim known, or a clear error."""
    if any(d is None for d in tensor.shape):
        raise cx.error(f"{what} '{tensor.name}' has unknown dims {tensor.shape}; this op needs "
                       "them known when the model is imported (give the graph input static dims)")
    return tuple(int(d) for d in tensor.shape)


from . import convert_math, convert_nn, convert_shape  # noqa: E402,F401  (they fill CONVERTERS)
