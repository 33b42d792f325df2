"""ONNX convolution, pooling and normalizations, lowered to graphc's primitives (gc.nn's
conv2d and pools; 1-D ones as 2-D with a unit height)."""
import numpy as np

from .. import array_ops as a
from .. import math_ops as m
from .. import nn
from ..builder import constant, make
from .converters import converts, static_shape


def _spatial_rank(cx, x):
    rank = x.ndim - 2
    if rank not in (1, 2):
        raise cx.error(f"{rank}-D {cx.node.op_type} is not supported (graphc has 1-D and 2-D windows)")
    return rank


def _as_2d(x, rank):
    return a.expand_dims(x, 2) if rank == 1 else x


def _from_2d(y, rank):
    return a.squeeze(y, 2) if rank == 1 else y


def _kernel(cx, w_shape):
    """The kernel's spatial dims from the weights, checked against ``kernel_shape`` if given."""
    kernel = list(w_shape[2:])
    given = cx.attr("kernel_shape")
    if given is not None and list(given) != kernel:
        raise cx.error(f"kernel_shape {list(given)} differs from the weights' {kernel}")
    return kernel


def _spatial_size(cx, x):
    """The spatial dims of NC... ``x``, which must be known (the batch may be dynamic)."""
    if any(d is None for d in x.shape[2:]):
        raise cx.error(f"input '{x.name}' has unknown spatial dims {x.shape}; graphc needs them known "
                       "when the model is imported")
    return tuple(int(d) for d in x.shape[2:])


def _ints(cx, name, rank, default):
    value = cx.attr(name)
    return [default] * rank if value is None else list(value)


def _pads(cx, size, kernel, strides, dilations, ceil_mode=False):
    """((before, after), ...) per spatial axis from ``pads`` or ``auto_pad``, with the extra
    end padding that ``ceil_mode`` needs (a window may not start in the right padding)."""
    rank = len(size)
    auto = cx.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = []
        for n, k, s, d in zip(size, kernel, strides, dilations):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small, large = total // 2, total - total // 2
            pairs.append((small, large) if auto == "SAME_UPPER" else (large, small))
        return pairs, pairs
    if auto == "VALID":
        pairs = [(0, 0)] * rank
    else:
        flat = _ints(cx, "pads", 2 * rank, 0)
        pairs = [(flat[i], flat[i + rank]) for i in range(rank)]
    padded = list(pairs)
    if ceil_mode:
        for i, (n, k, s, d) in enumerate(zip(size, kernel, strides, dilations)):
            span = n + sum(pairs[i]) - (k - 1) * d - 1
            out = -(-span // s) + 1
            if (out - 1) * s >= n + pairs[i][0]:
                out -= 1
            padded[i] = (pairs[i][0], pairs[i][1] + max((out - 1) * s - span, 0))
    return pairs, padded


def _pool_geometry(cx, x, rank):
    size = _spatial_size(cx, x)
    kernel = list(cx.attr("kernel_shape"))
    strides = _ints(cx, "strides", rank, 1)
    dilations = _ints(cx, "dilations", rank, 1)
    pairs, padded = _pads(cx, size, kernel, strides, dilations, bool(cx.attr("ceil_mode", 0)))
    if rank == 1:
        kernel, strides, dilations = [1] + kernel, [1] + strides, [1] + dilations
        pairs, padded, size = [(0, 0)] + pairs, [(0, 0)] + padded, (1,) + tuple(size)
    return size, kernel, strides, dilations, pairs, padded


@converts("Conv")
def _conv(cx):
    x, w, bias = cx.input(0), cx.input(1), cx.input(2)
    rank = _spatial_rank(cx, x)
    kernel = _kernel(cx, static_shape(cx, w, "weight"))
    strides, dilations = _ints(cx, "strides", rank, 1), _ints(cx, "dilations", rank, 1)
    _, pairs = _pads(cx, _spatial_size(cx, x), kernel, strides, dilations)
    if rank == 1:
        w, strides, dilations, pairs = a.expand_dims(w, 2), [1] + strides, [1] + dilations, [(0, 0)] + pairs
    y = nn.conv2d(_as_2d(x, rank), w, stride=tuple(strides), padding=tuple(pairs),
                  dilation=tuple(dilations), groups=cx.attr("group", 1))
    if bias is not None:
        y = y + a.reshape(bias, (1, -1, 1, 1))
    return _from_2d(y, rank)


@converts("MaxPool")
def _max_pool(cx):
    x = cx.input(0)
    if len([o for o in cx.node.output if o]) > 1:
        raise cx.error("the Indices output is not supported")
    if cx.attr("storage_order", 0):
        raise cx.error("storage_order=1 is not supported")
    rank = _spatial_rank(cx, x)
    _, kernel, strides, dilations, _, padded = _pool_geometry(cx, x, rank)
    y = nn.max_pool2d(_as_2d(x, rank), tuple(kernel), tuple(strides), tuple(padded), tuple(dilations))
    return _from_2d(y, rank)


def _window_counts(n, pads, padded, k, s, d, include_pad):
    """How many positions each output window of one axis averages over."""
    out = (n + sum(padded) - (k - 1) * d - 1) // s + 1
    lo, hi = (-pads[0], n + pads[1]) if include_pad else (0, n)
    counts = []
    for i in range(out):
        taps = [i * s - padded[0] + j * d for j in range(k)]
        counts.append(sum(lo <= t < hi for t in taps))
    return np.array(counts, dtype=np.float64)


def _window_sum(x, kernel, strides, dilations, padded):
    """The sum over each (dilated) window of NCHW ``x``, zero padded: a mean pool times the
    window's area, or with dilations a depthwise convolution by ones."""
    if all(d == 1 for d in dilations):
        return nn.avg_pool2d(x, tuple(kernel), tuple(strides), tuple(padded)) * float(np.prod(kernel))
    c = x.shape[1]
    ones = constant(np.ones((c, 1) + tuple(kernel)), dtype=x.dtype, graph=x.graph)
    return nn.conv2d(x, ones, stride=tuple(strides), padding=tuple(padded), dilation=tuple(dilations), groups=c)


@converts("AveragePool")
def _avg_pool(cx):
    x = cx.input(0)
    rank = _spatial_rank(cx, x)
    size, kernel, strides, dilations, pairs, padded = _pool_geometry(cx, x, rank)
    include = bool(cx.attr("count_include_pad", 0))
    if all(d == 1 for d in dilations) and pairs == padded:   # graphc's pool divides as ONNX's does
        return _from_2d(nn.avg_pool2d(_as_2d(x, rank), tuple(kernel), tuple(strides), tuple(padded),
                                      count_include_pad=include), rank)
    total = _window_sum(_as_2d(x, rank), kernel, strides, dilations, padded)
    counts = [_window_counts(n, p, q, k, s, d, include)
              for n, p, q, k, s, d in zip(size, pairs, padded, kernel, strides, dilations)]
    if any((c == 0).any() for c in counts):
        raise cx.error("padding leaves windows with no input element")
    scale = 1.0 / np.multiply.outer(counts[0], counts[1])
    return _from_2d(total * constant(scale, dtype=x.dtype, graph=x.graph), rank)


@converts("GlobalAveragePool")
def _global_avg_pool(cx):
    x = cx.input(0)
    return m.mean(x, tuple(range(2, x.ndim)), keepdims=True)


@converts("GlobalMaxPool")
def _global_max_pool(cx):
    x = cx.input(0)
    return m.max(x, tuple(range(2, x.ndim)), keepdims=True)


def _per_channel(v, rank):
    """A (C,) parameter shaped to broadcast over axis 1 of a rank-``rank`` tensor."""
    return a.reshape(v, (1, -1) + (1,) * (rank - 2))


@converts("BatchNormalization")
def _batch_norm(cx):
    if cx.attr("training_mode", 0):
        raise cx.error("training_mode=1 is not supported (graphc imports batch norm for inference)")
    cx.ignore("momentum")   # (training only)
    x, scale, bias, mean, var = cx.inputs()[:5]
    r = x.ndim
    inv = m.rsqrt(var + cx.attr("epsilon", 1e-5)) * scale
    return x * _per_channel(inv, r) + _per_channel(bias - mean * inv, r)


def _normalize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over ``axes``, with the mean and 1/std."""
    mean = m.mean(x, axes, keepdims=True)
    centered = x - mean
    inv = m.rsqrt(m.mean(m.square(centered), axes, keepdims=True) + eps)
    return centered * inv, mean, inv


@converts("InstanceNormalization")
def _instance_norm(cx):
    x, scale, bias = cx.inputs()[:3]
    y, _, _ = _normalize(x, tuple(range(2, x.ndim)), cx.attr("epsilon", 1e-5))
    return y * _per_channel(scale, x.ndim) + _per_channel(bias, x.ndim)


@converts("LayerNormalization")
def _layer_norm(cx):
    cx.ignore("stash_type")   # statistics in the input's dtype (float32 or more precise)
    x, scale, bias = cx.input(0), cx.input(1), cx.input(2)
    axis = cx.attr("axis", -1) % x.ndim
    eps = cx.attr("epsilon", 1e-5)
    axes = tuple(range(axis, x.ndim))
    extra = [o for o in cx.node.output[1:] if o]
    if not extra:
        return nn.layer_norm(x, scale, bias, axis=axes, eps=eps)
    y, mean, inv = _normalize(x, axes, eps)
    y = y * scale
    return [y + bias if bias is not None else y, mean, inv]


@converts("GroupNormalization")
def _group_norm(cx):
    cx.ignore("stash_type")   # statistics in the input's dtype (float32 or more precise)
    x, scale, bias = cx.inputs()[:3]
    groups = cx.attr("num_groups")
    shape = static_shape(cx, x)
    grouped = a.reshape(x, (shape[0], groups, -1))
    y, _, _ = _normalize(grouped, (2,), cx.attr("epsilon", 1e-5))
    y = a.reshape(y, shape)
    if cx.opset < 21:   # opset 18: scale and bias per group
        scale = a.reshape(a.broadcast_to(a.reshape(scale, (groups, 1)), (groups, shape[1] // groups)), (-1,))
        bias = a.reshape(a.broadcast_to(a.reshape(bias, (groups, 1)), (groups, shape[1] // groups)), (-1,))
    return y * _per_channel(scale, x.ndim) + _per_channel(bias, x.ndim)


@converts("RMSNormalization")
def _rms_norm(cx):
    cx.ignore("stash_type")   # statistics in the input's dtype (float32 or more precise)
    x, scale = cx.input(0), cx.input(1)
    axis = cx.attr("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    return x * m.rsqrt(m.mean(m.square(x), axes, keepdims=True) + cx.attr("epsilon", 1e-5)) * scale


@converts("LpNormalization")
def _lp_norm(cx):
    x = cx.input(0)
    axis, p = cx.attr("axis", -1) % x.ndim, cx.attr("p", 2)
    if p == 1:
        norm = m.sum(m.abs(x), axis, keepdims=True)
    elif p == 2:
        norm = m.sqrt(m.sum(m.square(x), axis, keepdims=True))
    else:
        raise cx.error(f"p={p} (ONNX allows 1 and 2)")
    return m.where(m.equal(norm, 0.0), a.zeros_like(x), x / norm)


@converts("MeanVarianceNormalization")
def _mean_variance_norm(cx):
    x = cx.input(0)
    axes = tuple(ax % x.ndim for ax in cx.attr("axes", [0, 2, 3]))
    mean = m.mean(x, axes, keepdims=True)
    std = m.sqrt(m.mean(m.square(x), axes, keepdims=True) - m.square(mean))
    return (x - mean) / (std + 1e-9)


@converts("LRN")
def _lrn(cx):
    x = cx.input(0)
    size = cx.attr("size")
    alpha, beta, bias = cx.attr("alpha", 1e-4), cx.attr("beta", 0.75), cx.attr("bias", 1.0)
    channels = static_shape(cx, x)[1]
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    pads = [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2)
    squares = a.pad(m.square(x), pads)
    total = squares[:, 0:channels]
    for k in range(1, size):
        total = total + squares[:, k: k + channels]
    return x / m.power(total * (alpha / size) + bias, beta)


@converts("LpPool")
def _lp_pool(cx):
    x = cx.input(0)
    rank = _spatial_rank(cx, x)
    _, kernel, strides, dilations, _, padded = _pool_geometry(cx, x, rank)
    p = float(cx.attr("p", 2))
    total = _window_sum(m.power(m.abs(_as_2d(x, rank)), p), kernel, strides, dilations, padded)
    return _from_2d(m.power(total, 1.0 / p), rank)


def _transposed_geometry(n, k, s, d, pads, extra):
    """One axis of a ConvTranspose as graphc's ``conv2d_backward_input``: (P0, P1, size, lead,
    trail). Output j is the full transposed convolution's position t = j + p0 (F positions,
    zero outside them, ``extra`` (output_padding) zeros more at the end, ``pads`` cropped);
    the op gives t in [P0, P0 + size) for pads P0, P1 >= 0 with F <= size + P0 + P1 < F + s,
    and zeros padded on (``lead``, ``trail``) make up the rest."""
    full = s * (n - 1) + (k - 1) * d + 1
    begin, end = pads[0], full + extra - pads[1]          # the output's range of t
    p0 = max(begin, 0)
    p1 = max(full - end, 0)
    if end - full >= s:                                    # more zeros at the end than the op makes
        return p0, p1, full - p0, p0 - begin, end - full
    return p0, p1, end - p0, p0 - begin, 0


@converts("ConvTranspose")
def _conv_transpose(cx):
    """A transposed convolution: graphc's ``conv2d_backward_input`` (the gradient of a
    convolution of the same geometry, whose weights (out, in/groups, kh, kw) are
    ConvTranspose's (C_in, C_out/group, kh, kw)), giving the output's size exactly."""
    x, w, bias = cx.input(0), cx.input(1), cx.input(2)
    rank = _spatial_rank(cx, x)
    size = _spatial_size(cx, x)
    w_shape = static_shape(cx, w, "weight")
    groups = cx.attr("group", 1)
    kernel = _kernel(cx, w_shape)
    strides, dilations = _ints(cx, "strides", rank, 1), _ints(cx, "dilations", rank, 1)
    extra = _ints(cx, "output_padding", rank, 0)
    reach = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    full = [s * (n - 1) + e + r for n, s, e, r in zip(size, strides, extra, reach)]
    auto, wanted = cx.attr("auto_pad", "NOTSET"), cx.attr("output_shape")
    if wanted is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        wanted = list(wanted)[-rank:] if wanted is not None else [n * s for n, s in zip(size, strides)]
        totals = [f - o for f, o in zip(full, wanted)]
        pairs = [(t // 2, t - t // 2) if auto == "SAME_UPPER" else (t - t // 2, t // 2) for t in totals]
    elif auto == "VALID":
        pairs = [(0, 0)] * rank
    else:
        flat = _ints(cx, "pads", 2 * rank, 0)
        pairs = [(flat[i], flat[i + rank]) for i in range(rank)]
    if rank == 1:
        x, w = a.expand_dims(x, 2), a.expand_dims(w, 2)
        size, kernel, strides, dilations = (1,) + size, [1] + kernel, [1] + strides, [1] + dilations
        pairs, extra = [(0, 0)] + pairs, [0] + extra
    axes = [_transposed_geometry(*args) for args in zip(size, kernel, strides, dilations, pairs, extra)]
    if any(out < 1 for _, _, out, _, _ in axes):
        raise cx.error(f"pads {pairs} crop away the whole output")
    y = make("conv2d_backward_input", (x, w), {
        "stride": tuple(strides), "pads": tuple((p0, p1) for p0, p1, _, _, _ in axes),
        "dilation": tuple(dilations), "groups": int(groups), "size": tuple(out for _, _, out, _, _ in axes)})
    if any(lead or trail for _, _, _, lead, trail in axes):
        y = a.pad(y, ((0, 0), (0, 0)) + tuple((lead, trail) for _, _, _, lead, trail in axes))
    if bias is not None:
        y = y + a.reshape(bias, (1, -1, 1, 1))
    return _from_2d(y, rank)


# Resize: each resized axis is a product with an (out, in) interpolation matrix plus a
# constant (tf_crop_and_resize's extrapolated points), computed at import time by ONNX's own
# reference evaluator on an identity matrix, so every mode, coordinate transform, cubic
# coefficient, antialias and exclude_outside setting is ONNX's by construction.
_RESIZE_OPSET = 19
_AXIS_FREE = ("mode", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
              "extrapolation_value", "nearest_mode", "antialias")


def _resize_axis_weights(cx, n, scale, size, roi):
    """(W, c) with W of shape (size, n) and c of shape (size,): the resize of a length-``n``
    axis is ``W @ v + c``."""
    import onnx
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator
    attrs = {k: cx.attr(k) for k in _AXIS_FREE if k in cx.attrs}
    inputs = ["x", "roi", "scales"] if size is None else ["x", "roi", "", "sizes"]
    node = helper.make_node("Resize", inputs, ["y"], **attrs)
    graph = helper.make_graph([node], "axis", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)], [
        onnx.numpy_helper.from_array(np.array([roi[0], 0.0, roi[1], 1.0] if roi else [], np.float32), "roi"),
        onnx.numpy_helper.from_array(np.array([scale, 1.0], np.float32), "scales") if size is None else
        onnx.numpy_helper.from_array(np.array([size, n], np.int64), "sizes")])
    evaluator = ReferenceEvaluator(helper.make_model(graph, opset_imports=[helper.make_opsetid("", _RESIZE_OPSET)]))
    offset = evaluator.run(None, {"x": np.zeros((n, n))})[0][:, 0]
    weights = evaluator.run(None, {"x": np.eye(n)})[0] - offset[:, None]
    return weights, offset


@converts("Resize")
def _resize(cx):
    x = cx.input(0)
    shape = static_shape(cx, x)
    rank = x.ndim
    axes = [ax % rank for ax in cx.attr("axes", list(range(rank)))]
    roi, scales, sizes = (cx.const(i) if cx.has_input(i) else None for i in (1, 2, 3))
    roi = None if roi is None or np.size(roi) == 0 else np.asarray(roi, np.float64).reshape(-1)
    scales = None if scales is None or np.size(scales) == 0 else np.asarray(scales, np.float64).reshape(-1)
    sizes = None if sizes is None or np.size(sizes) == 0 else np.asarray(sizes, np.int64).reshape(-1)
    policy = cx.attr("keep_aspect_ratio_policy", "stretch")
    if sizes is not None and policy != "stretch":
        ratios = [sizes[i] / shape[ax] for i, ax in enumerate(axes)]
        scale = min(ratios) if policy == "not_larger" else max(ratios)
        if any(int(shape[ax] * scale) != int(shape[ax] * scale + 0.5) for ax in axes):
            raise cx.error(f"keep_aspect_ratio_policy={policy!r} with sizes that round up is not supported")
        scales, sizes = np.full(len(axes), scale), None
    use_roi = cx.attr("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize"
    y = x
    work = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    for i, axis in enumerate(axes):
        n = shape[axis]
        size = None if sizes is None else int(sizes[i])
        scale = None if scales is None else float(scales[i])
        axis_roi = (roi[i], roi[len(axes) + i]) if use_roi and roi is not None else None
        if axis_roi is None and (size == n or (size is None and scale == 1.0)):
            continue
        weights, offset = _resize_axis_weights(cx, n, scale, size, axis_roi)
        perm = [d for d in range(rank) if d != axis] + [axis]
        moved = m.cast(a.transpose(y, perm), work) if y.dtype != work else a.transpose(y, perm)
        out = m.matmul(moved, constant(weights.T.astype(work), graph=x.graph))
        if np.any(offset):
            out = out + constant(offset.astype(work), graph=x.graph)
        y = a.transpose(out, list(np.argsort(perm)))
    if y.dtype != x.dtype:
        y = m.cast(m.round(y) if cx.attr("mode", "nearest") != "nearest" else y, x.dtype)
    return y
