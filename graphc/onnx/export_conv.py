"""ONNX renderings of graphc's convolution and pooling primitives (graphc/ops/conv.py), in
the style of :mod:`graphc.onnx.export_ops` and keeping the numpy references' semantics.

- ``conv2d`` is a Conv; ``conv2d_backward_input`` a ConvTranspose (graphc's weights are
  its (C_in, C_out/group, kh, kw) layout), with the ``output_padding`` that gives the
  attr ``size``; ``conv2d_backward_filter`` a Conv with the roles swapped (the input's
  batch and channel axes exchanged, ``dy`` as the weights, stride and dilation exchanged).
- ``max_pool2d`` is a MaxPool, with a second MaxPool over a code of each element (NaN,
  -inf, other) where onnxruntime's differs: it skips NaN and gives the lowest finite value
  for a window of -inf. On integers (no ONNX MaxPool) a ReduceMax over the windows.
- ``avg_pool2d`` is an AveragePool; ``avg_pool2d_backward`` a depthwise ConvTranspose of
  ``dy`` divided by each window's divisor with a kernel of ones.
- ``max_pool2d_backward``: the windows of ``x`` (one strided Slice per kernel tap), the
  first maximum of each (ArgMax, NaN first as numpy), ``dy`` at it and zero elsewhere,
  scattered back by a depthwise ConvTranspose with one-hot kernels.

ONNX's Conv, ConvTranspose and AveragePool take floats only: those ops on integers are an
:class:`UnsupportedOpError`. (onnxruntime's CPU provider has no float64 Conv,
ConvTranspose or AveragePool kernels: a float64 model is valid ONNX that it cannot run.)
"""
import numpy as np

from .. import dtypes as dt
from ..ops.conv import divisors, lowest, out_size
from .export_builder import emits, onnx_type
from .export_ops import _nan_mask, _reduce


def _pads(pads):
    """graphc's ((top, bottom), (left, right)) as ONNX's [top, left, bottom, right]."""
    (t, b), (l, r) = pads
    return [int(t), int(l), int(b), int(r)]


def _ints(values):
    return [int(v) for v in values]


def _floats_only(cx, onnx_op):
    if not dt.is_float(cx.dtype):
        raise cx.unsupported(f"ONNX's {onnx_op} is defined for floats only, and this node computes {cx.dtype}")


def _output_padding(size, kernel, stride, pads, dilation, out):
    """Per axis, the input rows past the last window of a forward op (each < its stride):
    the ConvTranspose ``output_padding`` that makes its output ``size`` again."""
    return [n + p0 + p1 - d * (k - 1) - 1 - s * (o - 1)
            for n, k, s, (p0, p1), d, o in zip(size, kernel, stride, pads, dilation, out)]


def _transpose_conv(cx, dy, w, kernel, stride, pads, dilation, groups, size, out):
    """The adjoint of a Conv of an input of spatial ``size`` (``out``: its output's) applied
    to ``dy``: a ConvTranspose."""
    extra = _output_padding(size, kernel, stride, pads, dilation, out)
    return cx.add("ConvTranspose", dy, w, strides=_ints(stride), pads=_pads(pads), dilations=_ints(dilation),
                  group=int(groups), kernel_shape=_ints(kernel), output_padding=extra)


# -- convolutions -------------------------------------------------------------------------
@emits("conv2d")
def _conv2d(cx, x, w):
    _floats_only(cx, "Conv")
    a = cx.node.attrs
    return cx.add("Conv", cx.operand(0, x, cx.dtype), cx.operand(1, w, cx.dtype), strides=_ints(a["stride"]),
                  pads=_pads(a["pads"]), dilations=_ints(a["dilation"]), group=int(a["groups"]),
                  kernel_shape=_ints(cx.node.inputs[1].shape[2:]))


@emits("conv2d_backward_input")
def _conv2d_backward_input(cx, dy, w):
    _floats_only(cx, "ConvTranspose")
    a = cx.node.attrs
    return _transpose_conv(cx, cx.operand(0, dy, cx.dtype), cx.operand(1, w, cx.dtype),
                           cx.node.inputs[1].shape[2:], a["stride"], a["pads"], a["dilation"], a["groups"], a["size"],
                           cx.node.inputs[0].shape[2:])


@emits("conv2d_backward_filter")
def _conv2d_backward_filter(cx, x, dy):
    """dw[o, c, i, j] = sum over n, p, q of xpad[n, c, i*d + p*s, j*d + q*s] * dy[n, o, p, q]: a Conv
    of x with the batch as channels (and the channels as batch, per group) by dy as the weights,
    with stride ``d`` and dilation ``s``; then (C/groups, O, kh, kw) transposed to (O, C/groups, kh, kw)."""
    _floats_only(cx, "Conv")
    a = cx.node.attrs
    (_, c, h, w_), (_, _, oh, ow) = cx.node.inputs[0].shape, cx.node.inputs[1].shape
    groups, kernel, stride, dilation = a["groups"], a["kernel"], a["stride"], a["dilation"]
    x, dy = cx.operand(0, x, cx.dtype), cx.operand(1, dy, cx.dtype)
    if groups == 1:
        xt = cx.add("Transpose", x, perm=[1, 0, 2, 3])                      # (C, N, H, W)
    else:                                                                   # (C/G, G*N, H, W)
        xt = cx.add("Reshape", x, cx.ints([-1, groups, c // groups, h, w_]))
        xt = cx.add("Transpose", xt, perm=[2, 1, 0, 3, 4])
        xt = cx.add("Reshape", xt, cx.ints([c // groups, -1, h, w_]))
    # an end pad past the last row a tap reaches only makes rows that are cut off: drop it
    pads, got = [], []
    for size, k, s, (p0, p1), d, m in zip((h, w_), kernel, stride, a["pads"], dilation, (oh, ow)):
        span = size + p0 - s * (m - 1) - 1
        p1 = min(p1, max((k - 1) * d - span, 0))
        pads.append((p0, p1))
        got.append((span + p1) // d + 1)
    dw = cx.add("Conv", xt, cx.add("Transpose", dy, perm=[1, 0, 2, 3]), strides=_ints(dilation),
                pads=_pads(pads), dilations=_ints(stride), group=int(groups), kernel_shape=[int(oh), int(ow)])
    if tuple(got) != tuple(kernel):
        dw = cx.add("Slice", dw, cx.ints([0, 0]), cx.ints(kernel), cx.ints([2, 3]))
    return cx.add("Transpose", dw, perm=[1, 0, 2, 3])


# -- pooling ------------------------------------------------------------------------------
def _windows(cx, x, kernel, stride, pads, dilation, fill):
    """The (N, C, KH*KW, OH, OW) windows of NCHW ``x`` padded with ``fill``, row-major over
    each window: one strided Slice per kernel tap, concatenated."""
    shape = cx.node.inputs[0].shape
    if any(map(any, pads)):
        value = cx.const(fill, cx.node.inputs[0].dtype)
        x = cx.add("Pad", x, cx.ints([0, 0, pads[0][0], pads[1][0], 0, 0, pads[0][1], pads[1][1]]), value,
                   mode="constant")
    oh, ow = out_size(shape[2:], kernel, stride, pads, dilation)
    (sh, sw), (dh, dw) = stride, dilation
    taps = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            view = cx.add("Slice", x, cx.ints([i * dh, j * dw]),
                          cx.ints([i * dh + sh * (oh - 1) + 1, j * dw + sw * (ow - 1) + 1]),
                          cx.ints([2, 3]), cx.ints([sh, sw]))
            taps.append(cx.add("Unsqueeze", view, cx.ints([2])))
    return taps[0] if len(taps) == 1 else cx.add("Concat", *taps, axis=2)


def _pool_attrs(cx):
    a = cx.node.attrs
    return dict(kernel_shape=_ints(a["kernel"]), strides=_ints(a["stride"]), pads=_pads(a["pads"]))


@emits("max_pool2d")
def _max_pool2d(cx, x):
    a = cx.node.attrs
    geometry = (a["kernel"], a["stride"], a["pads"], a["dilation"])
    if not dt.is_float(cx.dtype):   # (ONNX's MaxPool takes no int32/int64)
        return _reduce(cx, "ReduceMax", _windows(cx, x, *geometry, lowest(cx.dtype)), (2,), False)
    attrs = dict(_pool_attrs(cx), dilations=_ints(a["dilation"]))
    y = cx.add("MaxPool", x, **attrs)
    # numpy's max: NaN if the window holds one; -inf for a window of -inf (onnxruntime's
    # MaxPool skips NaN and starts from the lowest finite value). Code 2 NaN, 0 -inf, 1 else.
    code = cx.where(cx.add("IsNaN", x), cx.const(2.0),
                    cx.where(cx.add("Equal", x, cx.const(-np.inf)), cx.const(0.0), cx.const(1.0)))
    top = cx.add("MaxPool", code, **attrs)
    y = cx.where(cx.add("Equal", top, cx.const(0.0)), cx.const(-np.inf), y)
    return cx.where(cx.add("Equal", top, cx.const(2.0)), cx.const(np.nan), y)


@emits("avg_pool2d")
def _avg_pool2d(cx, x):
    _floats_only(cx, "AveragePool")
    return cx.add("AveragePool", cx.operand(0, x, cx.dtype), count_include_pad=int(cx.node.attrs["count_include_pad"]),
                  **_pool_attrs(cx))


@emits("avg_pool2d_backward")
def _avg_pool2d_backward(cx, dy):
    """Each window's share ``dy / divisor`` summed into its positions: a depthwise ConvTranspose
    by ones (the divisors, fixed by the static spatial size, are a constant)."""
    a = cx.node.attrs
    kernel, stride, pads, size = a["kernel"], a["stride"], a["pads"], a["size"]
    c = cx.node.inputs[0].shape[1]
    share = cx.add("Div", cx.operand(0, dy, cx.dtype), cx.const(divisors(size, kernel, stride, pads,
                                                                         a["count_include_pad"])))
    ones = cx.const(np.ones((c, 1) + tuple(kernel)))
    return _transpose_conv(cx, share, ones, kernel, stride, pads, (1, 1), c, size, cx.node.inputs[0].shape[2:])


@emits("max_pool2d_backward")
def _max_pool2d_backward(cx, x, dy):
    """``dy`` at each window's first maximum of ``x`` (a NaN first, as numpy's argmax), zero at
    its other taps, summed into the input's positions by a depthwise ConvTranspose whose kernel
    for tap k is one-hot at k."""
    a = cx.node.attrs
    kernel, stride, pads, dilation = a["kernel"], a["stride"], a["pads"], a["dilation"]
    _, c, h, w = cx.node.inputs[0].shape
    oh, ow = cx.node.inputs[1].shape[2:]
    taps = kernel[0] * kernel[1]
    src = cx.node.inputs[0].dtype
    cols = _windows(cx, x, kernel, stride, pads, dilation, lowest(src))
    first = cx.add("ArgMax", cols, axis=2, keepdims=1)
    if dt.is_float(src):
        any_nan, nans = _nan_mask(cx, cols, (2,), True)
        first = cx.where(any_nan, cx.add("ArgMax", nans, axis=2, keepdims=1), first)
    hot = cx.add("Cast", cx.add("Equal", first, cx.ints(np.arange(taps).reshape(1, 1, taps, 1, 1))),
                 to=onnx_type(cx.dtype))
    grads = cx.add("Mul", hot, cx.add("Unsqueeze", cx.operand(1, dy, cx.dtype), cx.ints([2])))
    grads = cx.add("Reshape", grads, cx.ints([0, c * taps, oh, ow]))   # (0: the batch, as it is)
    eye = np.eye(taps).reshape(taps, 1, *kernel)
    kernels = cx.const(np.broadcast_to(eye[None], (c,) + eye.shape).reshape(c * taps, 1, *kernel))
    return _transpose_conv(cx, grads, kernels, kernel, stride, pads, dilation, c, (h, w), (oh, ow))
