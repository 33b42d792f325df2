"""Reductions, matmul, data movement and the gc.nn composites, evaluated in float64 with
error bounds (see values.py for the rules). Data movement is exact: the value and its
bound move together."""
import numpy as np

from .elementwise import F32, float_result
from .values import ULPS_MATH, Val, clean, eps, rounded, sum_terms, undecided


def _axes(axis, rank):
    return tuple(range(rank)) if axis is None else tuple(a % rank for a in (axis if isinstance(axis, tuple) else (axis,)))


def reduce(op, a, axis, keepdims):
    axes = _axes(axis, a.value.ndim)
    n = int(np.prod([a.shape[k] for k in axes])) if axes else 1
    x, b = a.value, a.bound
    kw = dict(axis=axes, keepdims=keepdims)
    if op in ("argmax", "argmin"):
        return _arg(op, a, axis, keepdims)
    if not a.is_float:
        dtype = a.dtype if op in ("max", "min") else (F32 if op == "mean" else
                                                      np.result_type(a.dtype, np.int64) if a.dtype != np.bool_ else
                                                      np.dtype(np.int64))
        if op == "mean":
            v = x.astype(np.float64).mean(**kw) if n else np.full(np.sum(x, **kw).shape, np.nan)
            return Val(v, clean(np.max(b, initial=0, **kw)) + rounded(v, F32, 4), F32)
        with np.errstate(all="ignore"):
            fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}[op]
            v = fn(x.astype(dtype) if op in ("sum", "prod") else x, **kw).astype(dtype)
        return Val(v, np.zeros(v.shape) + np.max(b, initial=0, **kw), dtype)
    with np.errstate(all="ignore"):
        if op in ("sum", "mean"):
            v = np.sum(x, **kw)
            total_abs = np.sum(np.abs(x), **kw)
            bound = clean(np.sum(b, **kw)) + sum_terms(n, a.dtype) * eps(a.dtype) * total_abs + rounded(v, a.dtype)
            if op == "mean":
                v, bound = (v / n, bound / n + rounded(v / n, a.dtype)) if n else \
                    (np.full(v.shape, np.nan), np.full(v.shape, np.inf))
            return Val(v, bound, a.dtype)
        if op == "prod":
            v = np.prod(x, **kw)
            rel = np.sum(clean(b / np.abs(x)), **kw) + (n + 1) * eps(a.dtype)
            return Val(v, clean(rel * np.abs(v)) + rounded(v, a.dtype), a.dtype)
        v = (np.max if op == "max" else np.min)(x, **kw)
        return Val(v, np.max(b, **kw), a.dtype, _tie(x, b, v if keepdims else np.expand_dims(v, axes), axes))


def _tie(x, b, extreme, axes):
    """Whether some reduced group has two candidates for its max/min within their bounds."""
    if x.size == 0:
        return False
    reach = np.max(b, axis=axes, keepdims=True) + b
    return bool(np.any(np.sum((np.abs(x - extreme) <= reach) & (reach > 0), axis=axes) > 1))


def _arg(op, a, axis, keepdims):
    """argmax/argmin: undecidable unless the winner beats every rival by their bounds
    (exact ties between exactly known values resolve to the first, as in numpy)."""
    x, b = a.value, a.bound
    rank = x.ndim
    if axis is None:
        x, b, axis = x.reshape(-1), b.reshape(-1), 0
    sign = 1 if op == "argmax" else -1
    idx = np.argmax(sign * x, axis=axis) if op == "argmax" else np.argmin(x, axis=axis)
    best = np.take_along_axis(x, np.expand_dims(idx, axis), axis)
    best_b = np.take_along_axis(b, np.expand_dims(idx, axis), axis)
    rival = (sign * (x - best) >= -(b + best_b))
    exact_tie = (x == best) & (b == 0) & (best_b == 0)
    ambiguous = np.sum(rival & ~exact_tie, axis=axis) > 0   # the winner itself is an exact tie
    if a.dtype.kind != "f":
        ambiguous = ~np.isfinite(np.max(b, axis=axis, initial=0))
    if keepdims:
        keep = (1,) * rank if x.ndim != rank or rank == 0 else None   # a full reduction keeps every axis
        idx, ambiguous = ((idx.reshape(keep), ambiguous.reshape(keep)) if keep is not None else
                          (np.expand_dims(idx, axis), np.expand_dims(ambiguous, axis)))
    return Val(idx.astype(np.int64), undecided(np.zeros(idx.shape), ambiguous), np.dtype(np.int64))


def matmul(a, b):
    dtype = np.result_type(a.dtype, b.dtype)
    x, y = a.value, b.value
    if dtype.kind != "f":
        with np.errstate(all="ignore"):
            z = np.matmul(x.astype(dtype), y.astype(dtype))
        unknown = not (np.isfinite(a.bound).all() and np.isfinite(b.bound).all())
        return Val(z, np.full(z.shape, np.inf if unknown else 0.0), dtype)
    k = x.shape[-1]
    ax, ay = np.abs(x), np.abs(y)
    with np.errstate(all="ignore"):
        z = np.matmul(x, y)
        bound = clean(np.matmul(ax, b.bound) + np.matmul(a.bound, ay) + np.matmul(a.bound, b.bound)) \
            + (k + 2) * eps(dtype) * np.matmul(ax, ay) + rounded(z, dtype)
    return Val(z, bound, dtype)


def move(fn, *vals, dtype=None):
    """A data movement: the same function moves values and bounds."""
    value = fn(*[v.value for v in vals])
    bound = fn(*[v.bound for v in vals])
    return Val(np.array(value, order="C"), np.array(bound, dtype=np.float64, order="C"),
               dtype or vals[0].dtype)


def concat(vals, axis):
    dtype = np.result_type(*[v.dtype for v in vals])
    value = np.concatenate([v.value.astype(np.float64 if dtype.kind == "f" else dtype) for v in vals], axis)
    return Val(value, np.concatenate([v.bound for v in vals], axis), dtype)


def pad(a, pads, value):
    return Val(np.pad(a.value, pads, constant_values=value), np.pad(a.bound, pads), a.dtype)


def gather(a, indices, axis):
    return Val(np.take(a.value, indices, axis=axis), np.take(a.bound, indices, axis=axis), a.dtype)


# -- gc.nn composites --------------------------------------------------------------
def softmax(a, axis):
    a = _as_float(a)
    x = a.value
    n = x.shape[axis]
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    db = np.max(a.bound, axis=axis, keepdims=True)
    bound = clean(2 * y * db) + (ULPS_MATH + sum_terms(n, a.dtype) + 4) * eps(a.dtype) * y + rounded(y, a.dtype)
    return Val(y, bound, a.dtype)


def log_softmax(a, axis):
    a = _as_float(a)
    x = a.value
    n = x.shape[axis]
    shifted = x - x.max(axis=axis, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    y = shifted - lse
    db = np.max(a.bound, axis=axis, keepdims=True)
    scale = np.abs(x).max(axis=axis, keepdims=True) + np.abs(lse)
    bound = clean(2 * db) + (ULPS_MATH + sum_terms(n, a.dtype) + 4) * eps(a.dtype) * (np.abs(y) + scale + 1)
    return Val(y, bound, a.dtype)


def layer_norm(a, axis, epsilon):
    a = _as_float(a)
    x = a.value
    n = x.shape[axis]
    mu = x.mean(axis=axis, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axis, keepdims=True)
    sigma = np.sqrt(var + epsilon)
    y = (x - mu) / sigma
    db = np.max(a.bound, axis=axis, keepdims=True)
    scale = (np.abs(x).max(axis=axis, keepdims=True) + np.abs(mu)) / sigma
    bound = clean((2 + 2 * np.abs(y)) * db / sigma) \
        + (2 * sum_terms(n, a.dtype) + ULPS_MATH) * eps(a.dtype) * (np.abs(y) + scale) * (1 + scale)
    return Val(y, bound, a.dtype)


def _as_float(a):
    return a if a.is_float else Val(a.value.astype(np.float64), a.bound, float_result(a.dtype))


def windows(x, kernel, stride, pads, fill, dilation=(1, 1)):
    """(N, C, KH, KW, OH, OW) windows of an NCHW array, padded with ``fill``."""
    xp = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]), constant_values=fill)
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.empty(x.shape[:2] + (kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
    return out


def conv2d(a, w, stride, pads, groups, dilation=(1, 1)):
    """A direct convolution (no im2col): out[n,o,p,q] = sum over c, i, j."""
    dtype = np.result_type(a.dtype, w.dtype)

    def conv(x, k):
        cols = windows(x, k.shape[2:], stride, pads, 0.0, dilation)   # N C KH KW OH OW
        n, c = cols.shape[:2]
        cols = cols.reshape(n, groups, c // groups, *cols.shape[2:])
        kk = k.reshape(groups, k.shape[0] // groups, *k.shape[1:])   # G O/G C/G KH KW
        out = np.einsum("ngcijpq,gocij->ngopq", cols, kk)
        return out.reshape(n, k.shape[0], *out.shape[3:])

    x, k = a.value, w.value
    z = conv(x, k)
    terms = (k.shape[1] * k.shape[2] * k.shape[3]) + 2
    bound = clean(conv(np.abs(x), w.bound) + conv(a.bound, np.abs(k)) + conv(a.bound, w.bound)) \
        + terms * eps(dtype) * conv(np.abs(x), np.abs(k)) + rounded(z, dtype)
    return Val(z, bound, dtype)


def pool(a, kind, kernel, stride, pads):
    fill = -np.inf if kind == "max" else 0.0
    cols = windows(a.value, kernel, stride, pads, fill)
    bcols = windows(a.bound, kernel, stride, pads, 0.0)
    if kind == "max":
        best = cols.max(axis=(2, 3))
        return Val(best, bcols.max(axis=(2, 3)), a.dtype,
                   _tie(cols, bcols, best[:, :, None, None], (2, 3)))
    area = kernel[0] * kernel[1]
    v = cols.sum(axis=(2, 3)) / area
    bound = bcols.sum(axis=(2, 3)) / area + (area + 4) * eps(a.dtype) * np.abs(cols).sum(axis=(2, 3)) / area
    return Val(v, bound, a.dtype)
