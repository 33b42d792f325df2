"""Convolution and pooling over NCHW tensors, forward and backward, as primitive ops.

Weights are (out, in/groups, kh, kw), as in ONNX and PyTorch. Every op takes the window
geometry as attributes: ``stride`` (sh, sw), ``pads`` ((top, bottom), (left, right)),
``dilation`` (dh, dw); a convolution also ``groups``, a pooling op ``kernel`` (kh, kw).
Output sizes follow ``(size + pads - dilation*(k-1) - 1) // stride + 1``. The backward ops
produce what the forward op's gradient needs: ``conv2d_backward_input`` (dy, w) -> dx (the
transposed convolution, given the input's spatial ``size``), ``conv2d_backward_filter``
(x, dy) -> dw (given the filter's ``kernel``), ``max_pool2d_backward`` (x, dy) -> dx (each
window's gradient goes to its first maximum, row-major, as in TF, PyTorch and JAX) and
``avg_pool2d_backward`` (dy) -> dx (spread evenly over each window's divisor).

The numpy references below are the ops' meaning; backends are tested against them.
"""
import numpy as np

from .. import dtypes as dt
from ..errors import DTypeError, ShapeError
from .registry import register
from .shapes import fmt_shape

CONV = "conv"        # the kind of convolutions: a product over windows (epilogues fuse after it)
WINDOW = "window"    # the kind of pooling ops: a reduction over each window


def out_size(size, kernel, stride, pads, dilation):
    """The output spatial size (oh, ow) of a window op (a size < 1 where it does not fit)."""
    return tuple((n + p0 + p1 - d * (k - 1) - 1) // s + 1
                 for n, k, s, (p0, p1), d in zip(size, kernel, stride, pads, dilation))


def _check_geometry(what, kernel, stride, pads, dilation):
    if any(k < 1 for k in kernel) or any(s < 1 for s in stride) or any(d < 1 for d in dilation):
        raise ShapeError(f"{what}: kernel {kernel}, stride {stride} and dilation {dilation} must be positive")
    if any(p < 0 for pair in pads for p in pair):
        raise ShapeError(f"{what}: negative padding {pads}")


def _spatial_out(what, shape, size, kernel, stride, pads, dilation):
    out = out_size(size, kernel, stride, pads, dilation)
    if min(out) < 1:
        raise ShapeError(f"{what}: window {tuple(kernel)} (dilation {tuple(dilation)}) does not fit the input "
                         f"{fmt_shape(shape)} with padding {pads}")
    return out


def _nchw(what, shape):
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        raise ShapeError(f"{what} needs an NCHW tensor with static C, H, W, got {fmt_shape(shape)}")


def _numeric(what, *xs):
    dtype = dt.promote(*(x.dtype for x in xs))
    if dt.is_bool(dtype):
        raise DTypeError(f"{what} is not defined for bool")
    return dtype


def _conv_channels(what, c, w_shape, groups):
    o, cg = w_shape[0], w_shape[1]
    if groups < 1 or c % groups or o % groups or c // groups != cg:
        raise ShapeError(f"{what}: input channels {c}, weight {fmt_shape(w_shape)} and groups={groups} "
                         f"do not fit (need in/groups == {cg})")


def _weights(what, w):
    if len(w.shape) != 4 or any(d is None for d in w.shape):
        raise ShapeError(f"{what} weights must be static (out, in/groups, kh, kw), got {fmt_shape(w.shape)}")


# -- inference ------------------------------------------------------------------------------------
def _conv_infer(inputs, stride, pads, dilation, groups):
    x, w = inputs
    _nchw("conv2d", x.shape)
    _weights("conv2d", w)
    _check_geometry("conv2d", w.shape[2:], stride, pads, dilation)
    _conv_channels("conv2d", x.shape[1], w.shape, groups)
    oh, ow = _spatial_out("conv2d", x.shape, x.shape[2:], w.shape[2:], stride, pads, dilation)
    return _numeric("conv2d", x, w), (x.shape[0], w.shape[0], oh, ow)


def _backward_input_infer(inputs, stride, pads, dilation, groups, size):
    dy, w = inputs
    _nchw("conv2d_backward_input", dy.shape)
    _weights("conv2d_backward_input", w)
    _check_geometry("conv2d_backward_input", w.shape[2:], stride, pads, dilation)
    if dy.shape[1] != w.shape[0] or w.shape[0] % groups:
        raise ShapeError(f"conv2d_backward_input: gradient {fmt_shape(dy.shape)} does not have the "
                         f"{w.shape[0]} output channels of weight {fmt_shape(w.shape)} (groups={groups})")
    out = _spatial_out("conv2d_backward_input", dy.shape, size, w.shape[2:], stride, pads, dilation)
    if out != tuple(dy.shape[2:]):
        raise ShapeError(f"conv2d_backward_input: an input of size {tuple(size)} gives outputs {out}, "
                         f"not the gradient's {tuple(dy.shape[2:])}")
    return _numeric("conv2d_backward_input", dy, w), (dy.shape[0], w.shape[1] * groups) + tuple(size)


def _backward_filter_infer(inputs, stride, pads, dilation, groups, kernel):
    x, dy = inputs
    _nchw("conv2d_backward_filter", x.shape)
    _nchw("conv2d_backward_filter", dy.shape)
    _check_geometry("conv2d_backward_filter", kernel, stride, pads, dilation)
    c, o = x.shape[1], dy.shape[1]
    if groups < 1 or c % groups or o % groups:
        raise ShapeError(f"conv2d_backward_filter: channels {c} -> {o} do not split into groups={groups}")
    out = _spatial_out("conv2d_backward_filter", x.shape, x.shape[2:], kernel, stride, pads, dilation)
    if out != tuple(dy.shape[2:]) or (None not in (x.shape[0], dy.shape[0]) and x.shape[0] != dy.shape[0]):
        raise ShapeError(f"conv2d_backward_filter: input {fmt_shape(x.shape)} gives outputs {out}, "
                         f"not the gradient's {fmt_shape(dy.shape)}")
    return _numeric("conv2d_backward_filter", x, dy), (o, c // groups) + tuple(kernel)


def _pool_infer(what, shape, kernel, stride, pads, dilation):
    _nchw(what, shape)
    _check_geometry(what, kernel, stride, pads, dilation)
    if any(p >= k for (p0, p1), k in zip(pads, kernel) for p in (p0, p1)):
        raise ShapeError(f"{what}: padding {pads} must be smaller than the kernel {tuple(kernel)} "
                         "(a window must hold an input element)")
    return _spatial_out(what, shape, shape[2:], kernel, stride, pads, dilation)


def _max_pool_infer(inputs, kernel, stride, pads, dilation):
    (x,) = inputs
    oh, ow = _pool_infer("max_pool2d", x.shape, kernel, stride, pads, dilation)
    _numeric("max_pool2d", x)
    return x.dtype, tuple(x.shape[:2]) + (oh, ow)


def _max_pool_backward_infer(inputs, kernel, stride, pads, dilation):
    x, dy = inputs
    out = _pool_infer("max_pool2d_backward", x.shape, kernel, stride, pads, dilation)
    if tuple(dy.shape[1:]) != tuple(x.shape[1:2]) + out or len(dy.shape) != 4:
        raise ShapeError(f"max_pool2d_backward: gradient {fmt_shape(dy.shape)} is not the pool's output "
                         f"of {fmt_shape(x.shape)}")
    return _float_result("max_pool2d_backward", dy), x.shape


def _avg_pool_infer(inputs, kernel, stride, pads, count_include_pad):
    (x,) = inputs
    oh, ow = _pool_infer("avg_pool2d", x.shape, kernel, stride, pads, (1, 1))
    return _float_result("avg_pool2d", x), tuple(x.shape[:2]) + (oh, ow)


def _avg_pool_backward_infer(inputs, kernel, stride, pads, count_include_pad, size):
    (dy,) = inputs
    _nchw("avg_pool2d_backward", dy.shape)
    out = _pool_infer("avg_pool2d_backward", tuple(dy.shape[:2]) + tuple(size), kernel, stride, pads, (1, 1))
    if out != tuple(dy.shape[2:]):
        raise ShapeError(f"avg_pool2d_backward: an input of size {tuple(size)} gives outputs {out}, "
                         f"not the gradient's {tuple(dy.shape[2:])}")
    return _float_result("avg_pool2d_backward", dy), tuple(dy.shape[:2]) + tuple(size)


def _float_result(what, x):
    if dt.is_bool(x.dtype):
        raise DTypeError(f"{what} is not defined for bool")
    return x.dtype if dt.is_float(x.dtype) else dt.float_result(x.dtype)


# -- numpy references -----------------------------------------------------------------------------
def windows(x, kernel, stride, pads, dilation, fill):
    """The (N, C, KH, KW, OH, OW) windows of NCHW ``x`` padded with ``fill`` (a strided view)."""
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(map(tuple, pads)), constant_values=fill)
    oh, ow = out_size(x.shape[2:], kernel, stride, pads, dilation)
    n, c, hp, wp = xp.shape
    s0, s1, s2, s3 = xp.strides
    (sh, sw), (dh, dw) = stride, dilation
    return np.lib.stride_tricks.as_strided(xp, (n, c, kernel[0], kernel[1], oh, ow),
                                           (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw), writeable=False)


def _scatter_windows(cols, size, stride, pads, dilation):
    """The adjoint of ``windows``: (N, C, KH, KW, OH, OW) values summed into an (N, C, H, W) array."""
    n, c, kh, kw, oh, ow = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    out = np.zeros((n, c, size[0] + pads[0][0] + pads[0][1], size[1] + pads[1][0] + pads[1][1]), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw] += cols[:, :, i, j]
    return out[:, :, pads[0][0]:pads[0][0] + size[0], pads[1][0]:pads[1][0] + size[1]]


def _grouped(a, groups):
    """(N, C, ...) -> (N, G, C/G, ...)."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def _conv_compute(values, stride, pads, dilation, groups):
    x, w = values
    dtype = np.result_type(x.dtype, w.dtype)
    cols = _grouped(windows(x.astype(dtype, copy=False), w.shape[2:], stride, pads, dilation, 0), groups)
    kk = w.astype(dtype, copy=False).reshape(groups, w.shape[0] // groups, *w.shape[1:])
    out = np.einsum("ngcijpq,gocij->ngopq", cols, kk)
    return np.ascontiguousarray(out.reshape(x.shape[0], w.shape[0], *out.shape[3:]), dtype)


def _backward_input_compute(values, stride, pads, dilation, groups, size):
    dy, w = values
    dtype = np.result_type(dy.dtype, w.dtype)
    kk = w.astype(dtype, copy=False).reshape(groups, w.shape[0] // groups, *w.shape[1:])
    cols = np.einsum("ngopq,gocij->ngcijpq", _grouped(dy.astype(dtype, copy=False), groups), kk)
    cols = cols.reshape(dy.shape[0], groups * w.shape[1], *cols.shape[3:])
    return np.ascontiguousarray(_scatter_windows(cols, size, stride, pads, dilation), dtype)


def _backward_filter_compute(values, stride, pads, dilation, groups, kernel):
    x, dy = values
    dtype = np.result_type(x.dtype, dy.dtype)
    cols = _grouped(windows(x.astype(dtype, copy=False), kernel, stride, pads, dilation, 0), groups)
    dw = np.einsum("ngcijpq,ngopq->gocij", cols, _grouped(dy.astype(dtype, copy=False), groups))
    return np.ascontiguousarray(dw.reshape(dy.shape[1], x.shape[1] // groups, *kernel), dtype)


def lowest(dtype):
    """The value padding holds in a max pool: below every element."""
    return -np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min


def _max_pool_compute(values, kernel, stride, pads, dilation):
    (x,) = values
    cols = windows(x, kernel, stride, pads, dilation, lowest(x.dtype))
    return np.ascontiguousarray(cols.max(axis=(2, 3)))


def first_max(x, kernel, stride, pads, dilation):
    """Per window of ``x``, the one-hot (N, C, KH, KW, OH, OW) mask of its first maximum
    (row-major over the window; a NaN counts as the maximum, as numpy's argmax has it)."""
    cols = windows(x, kernel, stride, pads, dilation, lowest(x.dtype))
    n, c, kh, kw, oh, ow = cols.shape
    flat = np.moveaxis(cols.reshape(n, c, kh * kw, oh, ow), 2, -1)
    hot = np.arange(kh * kw) == np.argmax(flat, axis=-1)[..., None]
    return np.moveaxis(hot, -1, 2).reshape(cols.shape)


def _max_pool_backward_compute(values, kernel, stride, pads, dilation):
    x, dy = values
    dtype = _float_result("max_pool2d_backward", dy)
    cols = first_max(x, kernel, stride, pads, dilation) * dy.astype(dtype)[:, :, None, None]
    return np.ascontiguousarray(_scatter_windows(cols, x.shape[2:], stride, pads, dilation), dtype)


def divisors(size, kernel, stride, pads, count_include_pad):
    """The (OH, OW) number each window's sum is divided by in an average pool."""
    out = out_size(size, kernel, stride, pads, (1, 1))
    if count_include_pad:
        return np.full(out, float(kernel[0] * kernel[1]))
    ones = np.ones((1, 1) + tuple(size))
    return windows(ones, kernel, stride, pads, (1, 1), 0).sum(axis=(2, 3))[0, 0]


def _avg_pool_compute(values, kernel, stride, pads, count_include_pad):
    (x,) = values
    dtype = _float_result("avg_pool2d", x)
    total = windows(x.astype(dtype), kernel, stride, pads, (1, 1), 0).sum(axis=(2, 3))
    return np.ascontiguousarray(total / divisors(x.shape[2:], kernel, stride, pads, count_include_pad), dtype)


def _avg_pool_backward_compute(values, kernel, stride, pads, count_include_pad, size):
    (dy,) = values
    dtype = _float_result("avg_pool2d_backward", dy)
    share = dy.astype(dtype) / divisors(size, kernel, stride, pads, count_include_pad)
    cols = np.broadcast_to(share[:, :, None, None], share.shape[:2] + tuple(kernel) + share.shape[2:])
    return np.ascontiguousarray(_scatter_windows(cols, size, stride, pads, (1, 1)), dtype)


register("conv2d", CONV, _conv_infer, _conv_compute, arity=2)
register("conv2d_backward_input", CONV, _backward_input_infer, _backward_input_compute, arity=2)
register("conv2d_backward_filter", CONV, _backward_filter_infer, _backward_filter_compute, arity=2)
register("max_pool2d", WINDOW, _max_pool_infer, _max_pool_compute, arity=1, moves_only=True)
register("max_pool2d_backward", WINDOW, _max_pool_backward_infer, _max_pool_backward_compute, arity=2)
register("avg_pool2d", WINDOW, _avg_pool_infer, _avg_pool_compute, arity=1)
register("avg_pool2d_backward", WINDOW, _avg_pool_backward_infer, _avg_pool_backward_compute, arity=1)
