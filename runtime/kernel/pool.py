"""Pooling ops (graphc/ops/conv.py) as loop kernels of the kernel IR.

- ``max_pool2d``: out[n, c, oh, ow] is a ``max`` reduction over the window offsets (i, j)
  of x at (oh*sh + i*dh - top, ow*sw + j*dw - left); a padded position reads the dtype's
  lowest value (the load itself at a clamped, in-range position), as ``_pad`` does.
- ``avg_pool2d``: a sum over the window (zeros outside, in float64 for float32) divided by
  the kernel area or by the window's count of real elements (index arithmetic).
- ``avg_pool2d_backward`` and ``max_pool2d_backward``: the gather form, each dx element a
  sum over the windows holding it. Per spatial axis the windows holding position h are
  enumerated by ``_windows_holding``: by the kernel offset r (window o = (h + top - r*d)/s
  where that is an exact, in-range integer), or, where fewer, by the t-th window back from
  the last one that can hold h (o = (h + top)//s - t; offset (h + top - o*s)/d where that is
  an exact offset in the kernel). A 2x2 stride-2 pool reads exactly one window per element.
  For the max pool each window's first maximum is an ``argmax`` reduction over it (the
  first maximum, the first NaN, row-major, as the reference's ``first_max``); the window's
  gradient is added where that is the element's own offset in the window. (An accumulating
  kernel scattering to the argmax would need ``Kernel.accumulate``, which only the CUDA
  backend renders.)
"""
import numpy as np

from ...ops.conv import lowest
from .expr import Const, IndexValue, Op, Reduce
from .index import IBin, IConst, Var, flat_index, iadd, idiv, imod, imul

BOOL, I64 = np.dtype(bool), np.dtype(np.int64)


def _compare(op, e, value):
    return Op(op, (IndexValue(e), Const(int(value), I64)), BOOL)


def _select(conds, inside, outside):
    """``inside`` where every condition holds, else ``outside``."""
    cond = None
    for c in conds:
        cond = c if cond is None else Op("logical_and", (cond, c), BOOL)
    return inside if cond is None else Op("where", (cond, inside, outside), inside.dtype)


def _clamp(e, lo, hi):
    """``e`` clamped into [lo, hi] (either bound None: not needed)."""
    if hi is not None:
        e = IBin("min", e, IConst(hi))
    if lo is not None:
        e = IBin("max", IConst(lo), e)
    return e


def _rvar(lw, extent):
    """A fresh reduction variable, or the constant 0 for an extent of 1 (no loop)."""
    return IConst(0) if extent == 1 else lw.fresh("r", extent)


def _rvars(*candidates):
    return tuple(v for v in candidates if isinstance(v, Var))


def _cast(e, *dtypes):
    """``e`` converted through each of ``dtypes`` in turn (the reference's astype steps)."""
    for dtype in dtypes:
        if e.dtype != dtype:
            e = Op("cast", (e,), dtype)
    return e


def _acc_dtype(dtype):
    """Float32 sums accumulate in float64, as Lowering.reduce has them."""
    return np.dtype(np.float64) if dtype == np.float32 else np.dtype(dtype)


def _geometry(node):
    a = node.attrs
    (top, _), (left, _) = a["pads"]
    dilation = a.get("dilation", (1, 1))
    return tuple(a["kernel"]), tuple(a["stride"]), (top, left), tuple(dilation)


# -- forward: the input positions one window reads ------------------------------------------------
def _tap(o, r, size, k, s, before, d, out):
    """(the input position o*s + r*d - before, clamped into [0, size), the conditions that it
    is a real (unpadded) position) for output o of ``out`` and window offset r."""
    pos = iadd(iadd(imul(IConst(s), o), imul(IConst(d), r)), IConst(-before))
    low, high = -before, (out - 1) * s + (k - 1) * d - before
    conds = []
    if low < 0:
        conds.append(_compare("greater_equal", pos, 0))
    if high > size - 1:
        conds.append(_compare("less_equal", pos, size - 1))
    return _clamp(pos, 0 if low < 0 else None, size - 1 if high > size - 1 else None), conds


def _window_value(lw, x, n, c, oh, ow, i, j, geometry, out, fill):
    """x at offset (i, j) of window (oh, ow), ``fill`` (a Const) at padded positions."""
    (kh, kw), (sh, sw), (top, left), (dh, dw) = geometry
    h, ch = _tap(oh, i, x.shape[2], kh, sh, top, dh, out[0])
    w, cw = _tap(ow, j, x.shape[3], kw, sw, left, dw, out[1])
    return _select(ch + cw, lw.value(x, (n, c, h, w)), fill)


def _lowest(dtype):
    value = lowest(dtype)
    return Const(float(value) if np.dtype(dtype).kind == "f" else int(value), np.dtype(dtype))


def max_pool(lw, node, index):
    (x,) = node.inputs
    geometry = _geometry(node)
    n, c, oh, ow = index
    i, j = _rvar(lw, geometry[0][0]), _rvar(lw, geometry[0][1])
    value = _window_value(lw, x, n, c, oh, ow, i, j, geometry, node.shape[2:], _lowest(x.dtype))
    rvars = _rvars(i, j)
    return Reduce("max", value, rvars, node.dtype, node.dtype) if rvars else value


def _count(o, size, k, s, before, out):
    """The number of real elements along one axis of window o: min(o*s - before + k, size)
    - max(o*s - before, 0) (the constant k where the window never leaves the input)."""
    start = iadd(imul(IConst(s), o), IConst(-before))
    clip_low, clip_high = before > 0, (out - 1) * s - before + k > size
    if not (clip_low or clip_high):
        return IConst(k)
    end = IBin("min", iadd(start, IConst(k)), IConst(size)) if clip_high else iadd(start, IConst(k))
    first = IBin("max", start, IConst(0)) if clip_low else start
    return iadd(end, imul(IConst(-1), first))


def _divisor(node, oh, ow, size, out, acc):
    """The (acc-typed) expression window (oh, ow)'s sum is divided by, or None for 1."""
    (kh, kw), (sh, sw), (top, left), _ = _geometry(node)
    if node.attrs["count_include_pad"]:
        count = IConst(kh * kw)
    else:
        count = imul(_count(oh, size[0], kh, sh, top, out[0]), _count(ow, size[1], kw, sw, left, out[1]))
    if isinstance(count, IConst):
        return None if count.value == 1 else Const(float(count.value), acc)
    return Op("cast", (IndexValue(count),), acc)


def _divided(value, divisor):
    return value if divisor is None else Op("divide", (value, divisor), value.dtype)


def avg_pool(lw, node, index):
    (x,) = node.inputs
    geometry = _geometry(node)
    acc = _acc_dtype(node.dtype)
    n, c, oh, ow = index
    i, j = _rvar(lw, geometry[0][0]), _rvar(lw, geometry[0][1])
    (kh, kw), (sh, sw), (top, left), (dh, dw) = geometry
    h, ch = _tap(oh, i, x.shape[2], kh, sh, top, dh, node.shape[2])
    w, cw = _tap(ow, j, x.shape[3], kw, sw, left, dw, node.shape[3])
    value = _select(ch + cw, _cast(lw.value(x, (n, c, h, w)), node.dtype, acc), Const(0.0, acc))
    rvars = _rvars(i, j)
    total = Reduce("sum", value, rvars, acc, acc) if rvars else value
    return _cast(_divided(total, _divisor(node, oh, ow, x.shape[2:], node.shape[2:], acc)), node.dtype)


# -- backward: the windows that hold one input position -------------------------------------------
def _windows_holding(lw, h, size, k, s, before, d, out):
    """The windows along one axis that hold input position h, enumerated by a fresh
    reduction variable (or IConst(0) where there is one candidate): (that variable, the
    window's index clamped into [0, out), h's offset in it (an index expression, meaningful
    where the conditions hold), the conditions that the candidate is a window holding h)."""
    last = (k - 1) * d                  # the reach of a window past its first position
    back = last // s + 1                # candidates o = (h + before)//s - t, t < back
    shifted = iadd(h, IConst(before))   # h + before >= 0
    conds = []
    if back < k:   # by the t-th window back: o = (h + before)//s - t
        t = _rvar(lw, back)
        o = iadd(idiv(shifted, s), imul(IConst(-1), t))
        low, high = before // s - (back - 1), (size - 1 + before) // s
        if low < 0:
            conds.append(_compare("greater_equal", o, 0))
        if high > out - 1:
            conds.append(_compare("less_equal", o, out - 1))
        offset = iadd(imod(shifted, s), imul(IConst(s), t))   # h + before - o*s, in [0, s*back)
        if s - 1 + s * (back - 1) > last:
            conds.append(_compare("less_equal", offset, last))
        if d > 1:
            conds.append(_compare("equal", IBin("mod", offset, IConst(d)), 0))
            offset = IBin("div", offset, IConst(d))
        return t, _clamp(o, 0 if low < 0 else None, out - 1 if high > out - 1 else None), offset, conds
    # by the kernel offset r: the window o with o*s = h + before - r*d
    r = _rvar(lw, k)
    start = iadd(shifted, imul(IConst(-d), r))      # o*s where that is an exact, in-range multiple
    low, high = before - last, size - 1 + before
    if low < 0:
        conds.append(_compare("greater_equal", start, 0))
    if high > (out - 1) * s:
        conds.append(_compare("less_equal", start, (out - 1) * s))
    start = _clamp(start, 0 if low < 0 else None, (out - 1) * s if high > (out - 1) * s else None)
    if s > 1:
        conds.append(_compare("equal", IBin("mod", start, IConst(s)), 0))
        start = IBin("div", start, IConst(s))
    return r, start, r, conds


def avg_pool_backward(lw, node, index):
    (dy,) = node.inputs
    (kh, kw), (sh, sw), (top, left), _ = _geometry(node)
    size, out = node.shape[2:], dy.shape[2:]
    acc = _acc_dtype(node.dtype)
    n, c, h, w = index
    th, oh, _, ch = _windows_holding(lw, h, size[0], kh, sh, top, 1, out[0])
    tw, ow, _, cw = _windows_holding(lw, w, size[1], kw, sw, left, 1, out[1])
    share = _divided(_cast(lw.value(dy, (n, c, oh, ow)), node.dtype, acc), _divisor(node, oh, ow, size, out, acc))
    value = _select(ch + cw, share, Const(0.0, acc))
    rvars = _rvars(th, tw)
    total = Reduce("sum", value, rvars, acc, acc) if rvars else value
    return _cast(total, node.dtype)


def max_pool_backward(lw, node, index):
    x, dy = node.inputs
    geometry = _geometry(node)
    (kh, kw), (sh, sw), (top, left), (dh, dw) = geometry
    size, out = x.shape[2:], dy.shape[2:]
    acc = _acc_dtype(node.dtype)
    n, c, h, w = index
    th, oh, i, ch = _windows_holding(lw, h, size[0], kh, sh, top, dh, out[0])
    tw, ow, j, cw = _windows_holding(lw, w, size[1], kw, sw, left, dw, out[1])
    conds = ch + cw
    a, b = _rvar(lw, kh), _rvar(lw, kw)
    first = _rvars(a, b)
    if first:   # the window's first maximum is h's own offset in it
        value = _window_value(lw, x, n, c, oh, ow, a, b, geometry, out, _lowest(x.dtype))
        argmax = Reduce("argmax", (value, IndexValue(flat_index((a, b), (kh, kw)))), first, I64, x.dtype)
        conds.append(Op("equal", (argmax, IndexValue(flat_index((i, j), (kh, kw)))), BOOL))
    grad = _select(conds, _cast(lw.value(dy, (n, c, oh, ow)), node.dtype, acc), Const(0.0, acc))
    rvars = _rvars(th, tw)
    total = Reduce("sum", grad, rvars, acc, acc) if rvars else grad
    return _cast(total, node.dtype)


POOL_LOWERINGS = {"max_pool2d": max_pool, "avg_pool2d": avg_pool,
                  "max_pool2d_backward": max_pool_backward, "avg_pool2d_backward": avg_pool_backward}
