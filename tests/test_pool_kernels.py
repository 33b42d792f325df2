"""The pooling ops as compiled loop kernels (runtime/kernel/pool.py) on the CPU backend:
max_pool2d, avg_pool2d and their backward ops, against a float64 reference written here
window by window (independent of graphc/ops/conv.py), and checked to run natively (not by
the numpy reference).

Max pools select values: their results must match exactly (the backward op's sums of a
few gradients to float rounding). Sums are checked against the forward-error bound of a
sum of K terms, |got - exact| <= 2 K eps * sum |terms| (+ the smallest normal).
"""
import shutil

import numpy as np
import pytest

import graphc as gc
from graphc.builder import make

from conftest import assert_close

EPS = {np.float32: np.finfo(np.float32).eps, np.float64: np.finfo(np.float64).eps}


# -- the reference: loops over windows, in float64 ------------------------------------------------
def _out(size, kernel, stride, pads, dilation):
    return tuple((n + p0 + p1 - d * (k - 1) - 1) // s + 1
                 for n, k, s, (p0, p1), d in zip(size, kernel, stride, pads, dilation))


def _taps(o, k, s, before, d, size):
    """The (offset, input position) pairs of window o along one axis that are real positions."""
    return [(r, o * s + r * d - before) for r in range(k) if 0 <= o * s + r * d - before < size]


def ref_max_pool(x, kernel, stride, pads, dilation):
    n, c, h, w = x.shape
    oh, ow = _out((h, w), kernel, stride, pads, dilation)
    out = np.empty((n, c, oh, ow), x.dtype)
    for a in range(oh):
        for b in range(ow):
            rows = [p for _, p in _taps(a, kernel[0], stride[0], pads[0][0], dilation[0], h)]
            cols = [p for _, p in _taps(b, kernel[1], stride[1], pads[1][0], dilation[1], w)]
            window = x[:, :, rows][:, :, :, cols].reshape(n, c, len(rows) * len(cols))
            nan = np.isnan(window).any(axis=2) if x.dtype.kind == "f" else np.zeros((n, c), bool)
            out[:, :, a, b] = np.where(nan, np.nan, window.max(axis=2)) if x.dtype.kind == "f" else window.max(axis=2)
    return out


def _lowest(dtype):
    return -np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min


def ref_max_pool_backward(x, dy, kernel, stride, pads, dilation):
    """Each window's gradient to its first maximum, row-major over the whole window (padded
    positions holding the lowest value: a window of lowest values sends it to the padding,
    where it is dropped); a NaN is the maximum, the first NaN the first maximum."""
    n, c, h, w = x.shape
    oh, ow = dy.shape[2:]
    (kh, kw), (sh, sw), ((top, _), (left, _)), (dh, dw) = kernel, stride, pads, dilation
    dx = np.zeros(x.shape)
    for ni in range(n):
        for ci in range(c):
            for a in range(oh):
                for b in range(ow):
                    best, at = _lowest(x.dtype), None
                    for i in range(kh):
                        for j in range(kw):
                            p, q = a * sh + i * dh - top, b * sw + j * dw - left
                            v = x[ni, ci, p, q] if 0 <= p < h and 0 <= q < w else _lowest(x.dtype)
                            if at is None or (not _isnan(best) and (v > best or _isnan(v))):
                                best, at = v, (p, q)
                    p, q = at
                    if 0 <= p < h and 0 <= q < w:
                        dx[ni, ci, p, q] += dy[ni, ci, a, b]
    return dx


def _isnan(v):
    return isinstance(v, (float, np.floating)) and np.isnan(v)


def _counts(size, kernel, stride, pads, count_include_pad):
    oh, ow = _out(size, kernel, stride, pads, (1, 1))
    if count_include_pad:
        return np.full((oh, ow), float(kernel[0] * kernel[1]))
    return np.array([[len(_taps(a, kernel[0], stride[0], pads[0][0], 1, size[0]))
                      * len(_taps(b, kernel[1], stride[1], pads[1][0], 1, size[1])) for b in range(ow)]
                     for a in range(oh)], float)


def ref_avg_pool(x, kernel, stride, pads, count_include_pad):
    """(the average, the average of |x|: the error bound's sum of |terms|)."""
    n, c, h, w = x.shape
    oh, ow = _out((h, w), kernel, stride, pads, (1, 1))
    total, size = np.zeros((n, c, oh, ow)), np.zeros((n, c, oh, ow))
    for a in range(oh):
        for b in range(ow):
            for i, p in _taps(a, kernel[0], stride[0], pads[0][0], 1, h):
                for j, q in _taps(b, kernel[1], stride[1], pads[1][0], 1, w):
                    total[:, :, a, b] += x[:, :, p, q]
                    size[:, :, a, b] += abs(x[:, :, p, q])
    counts = _counts((h, w), kernel, stride, pads, count_include_pad)
    return total / counts, size / counts


def ref_avg_pool_backward(dy, size, kernel, stride, pads, count_include_pad):
    """(dx, the same of |dy|)."""
    n, c, oh, ow = dy.shape
    share = dy / _counts(size, kernel, stride, pads, count_include_pad)
    dx, mag = np.zeros((n, c) + tuple(size)), np.zeros((n, c) + tuple(size))
    for a in range(oh):
        for b in range(ow):
            for i, p in _taps(a, kernel[0], stride[0], pads[0][0], 1, size[0]):
                for j, q in _taps(b, kernel[1], stride[1], pads[1][0], 1, size[1]):
                    dx[:, :, p, q] += share[:, :, a, b]
                    mag[:, :, p, q] += abs(share[:, :, a, b])
    return dx, mag


def _check_sum(got, exact, magnitude, terms, dtype):
    assert got.dtype == dtype and got.shape == exact.shape, (got.dtype, got.shape, exact.shape)
    err = np.abs(got.astype(np.float64) - exact)
    bound = 2 * (terms + 1) * EPS[dtype] * magnitude + np.finfo(dtype).tiny
    assert (err <= bound).all(), f"max error {err.max():.3g} (bound {bound.max():.3g})"


def _native(compiled, count=None):
    """The window (pooling) kernels of a compiled program, each checked to run natively."""
    kernels = [k for k in compiled.kernels if k.kind == "window"]
    assert kernels, compiled.kernels
    assert all(compiled.graph.node(k.name) in compiled._executor.kernels for k in kernels), kernels
    if count is not None:
        assert len(kernels) == count, kernels
    return kernels


def _run(fetches, feeds, count=None):
    with gc.Session(device="cpu") as sess:
        got = sess.run(fetches, feeds)
        _native(sess.compile(fetches, feeds), count)
    return got


# -- the cases ------------------------------------------------------------------------------------
class Case:
    def __init__(self, x, kernel, stride=None, pads=((0, 0), (0, 0)), dilation=(1, 1), id=""):
        self.x, self.kernel = tuple(x), tuple(kernel)
        self.stride = self.kernel if stride is None else tuple(stride)
        self.pads, self.dilation, self.id = tuple(map(tuple, pads)), tuple(dilation), id

    def out(self, dilation=None):
        return _out(self.x[2:], self.kernel, self.stride, self.pads, dilation or self.dilation)

    def attrs(self, dilation=True):
        a = {"kernel": self.kernel, "stride": self.stride, "pads": self.pads}
        return {**a, "dilation": self.dilation} if dilation else a


CASES = [
    Case((2, 3, 5, 6), (1, 1), id="1x1"),
    Case((2, 3, 7, 6), (1, 1), (2, 3), id="1x1-strided"),
    Case((2, 3, 8, 8), (2, 2), id="2x2-stride2"),
    Case((2, 3, 7, 9), (2, 2), (2, 2), id="2x2-stride2-odd"),
    Case((2, 3, 7, 7), (2, 2), (1, 1), id="2x2-stride1-overlapping"),
    Case((2, 3, 9, 8), (3, 3), (1, 1), ((1, 1), (1, 1)), id="3x3-same"),
    Case((2, 3, 9, 8), (3, 3), (2, 2), ((1, 1), (1, 1)), id="3x3-stride2-overlapping"),
    Case((2, 3, 10, 10), (3, 3), (3, 3), ((2, 0), (0, 2)), id="3x3-stride3-asymmetric"),
    Case((2, 3, 9, 10), (2, 3), (1, 2), ((1, 0), (0, 2)), id="2x3-unequal-stride"),
    Case((1, 2, 8, 9), (2, 3), (3, 1), ((0, 1), (2, 1)), id="2x3-stride31"),
    Case((2, 3, 9, 11), (3, 3), (2, 2), ((2, 1), (1, 2)), dilation=(2, 2), id="dilation2"),
    Case((2, 2, 8, 10), (2, 3), (1, 2), ((1, 1), (0, 2)), dilation=(2, 1), id="dilation21"),
    Case((2, 2, 9, 9), (3, 2), (1, 1), ((0, 2), (1, 0)), dilation=(1, 3), id="dilation13-stride1"),
    Case((2, 3, 1, 6), (1, 3), (1, 2), ((0, 0), (1, 1)), id="H1"),
    Case((2, 3, 5, 1), (2, 1), (1, 1), ((1, 0), (0, 0)), id="W1"),
    Case((2, 3, 1, 1), (1, 1), id="1x1-image"),
    Case((1, 3, 4, 5), (4, 5), id="output-1-global"),
    Case((1, 2, 3, 3), (3, 3), (2, 2), ((1, 1), (1, 1)), id="output-2-padded"),
    Case((1, 1, 6, 6), (2, 2), (2, 2), ((1, 1), (1, 1)), id="batch1-padded"),
]
DTYPES = [np.float32, np.float64]


def _values(case, dtype, seed, ties=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.x)
    if ties:
        x = np.round(x)   # many equal values in a window
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_max_pool2d_and_its_backward(case, dtype):
    for seed, ties in ((1, False), (2, True)):
        gc.reset_default_graph()
        xv = _values(case, dtype, seed, ties)
        dyv = np.random.default_rng(seed + 10).standard_normal(case.x[:2] + case.out()).astype(dtype)
        x, dy = gc.placeholder(dtype, xv.shape), gc.placeholder(dtype, dyv.shape)
        y = make("max_pool2d", (x,), case.attrs())
        dx = make("max_pool2d_backward", (x, dy), case.attrs())
        got_y, got_dx = _run([y, dx], {x: xv, dy: dyv}, count=2)
        x64, dy64 = xv.astype(np.float64), dyv.astype(np.float64)
        assert_close(got_y, ref_max_pool(x64, case.kernel, case.stride, case.pads, case.dilation), dtype)
        exact = ref_max_pool_backward(x64, dy64, case.kernel, case.stride, case.pads, case.dilation)
        windows = int(np.ceil(case.kernel[0] * case.dilation[0] / case.stride[0])
                      * np.ceil(case.kernel[1] * case.dilation[1] / case.stride[1]))
        magnitude = ref_max_pool_backward(x64, abs(dy64), case.kernel, case.stride, case.pads, case.dilation)
        _check_sum(got_dx, exact, magnitude, windows, dtype)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in CASES if c.dilation == (1, 1)],
                         ids=[c.id for c in CASES if c.dilation == (1, 1)])
def test_avg_pool2d_and_its_backward(case, dtype, count_include_pad):
    xv = _values(case, dtype, 3)
    dyv = np.random.default_rng(4).standard_normal(case.x[:2] + case.out()).astype(dtype)
    x, dy = gc.placeholder(dtype, xv.shape), gc.placeholder(dtype, dyv.shape)
    a = {**case.attrs(dilation=False), "count_include_pad": count_include_pad}
    y = make("avg_pool2d", (x,), a)
    dx = make("avg_pool2d_backward", (dy,), {**a, "size": case.x[2:]})
    got_y, got_dx = _run([y, dx], {x: xv, dy: dyv}, count=2)
    terms = case.kernel[0] * case.kernel[1]
    exact, magnitude = ref_avg_pool(xv.astype(np.float64), case.kernel, case.stride, case.pads, count_include_pad)
    _check_sum(got_y, exact, magnitude, terms, dtype)
    exact, magnitude = ref_avg_pool_backward(dyv.astype(np.float64), case.x[2:], case.kernel, case.stride, case.pads,
                                             count_include_pad)
    _check_sum(got_dx, exact, magnitude, terms, dtype)


def test_the_counts_by_hand():
    """A 2x2 window over a padded 2x2 image, stride 1: corners hold 1 real element of 4."""
    xv = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
    x = gc.placeholder(gc.float32, xv.shape)
    a = {"kernel": (2, 2), "stride": (1, 1), "pads": ((1, 1), (1, 1))}
    with_pad = make("avg_pool2d", (x,), {**a, "count_include_pad": True})
    without = make("avg_pool2d", (x,), {**a, "count_include_pad": False})
    got = _run([with_pad, without], {x: xv}, count=2)
    assert got[0][0, 0].tolist() == [[0.25, 0.75, 0.5], [1.0, 2.5, 1.5], [0.75, 1.75, 1.0]]
    assert got[1][0, 0].tolist() == [[1.0, 1.5, 2.0], [2.0, 2.5, 3.0], [3.0, 3.5, 4.0]]


# -- integers, NaN, ties --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_max_pool(dtype):
    case = Case((2, 3, 7, 8), (3, 2), (2, 1), ((1, 2), (1, 0)), dilation=(1, 2))
    info = np.iinfo(dtype)
    xv = np.random.default_rng(5).integers(info.min, info.max, case.x, dtype=dtype, endpoint=True)
    xv[0, 0] = info.min            # windows of the lowest value: padding ties with them
    xv[1, 1, :3] = 7               # equal values
    dyv = np.random.default_rng(6).standard_normal(case.x[:2] + case.out()).astype(np.float32)
    x, dy = gc.placeholder(dtype, xv.shape), gc.placeholder(gc.float32, dyv.shape)
    y = make("max_pool2d", (x,), case.attrs())
    dx = make("max_pool2d_backward", (x, dy), case.attrs())
    got_y, got_dx = _run([y, dx], {x: xv, dy: dyv}, count=2)
    assert got_y.dtype == dtype and (got_y == ref_max_pool(xv, case.kernel, case.stride, case.pads,
                                                           case.dilation)).all()
    exact = ref_max_pool_backward(xv, dyv.astype(np.float64), case.kernel, case.stride, case.pads, case.dilation)
    magnitude = ref_max_pool_backward(xv, abs(dyv.astype(np.float64)), case.kernel, case.stride, case.pads,
                                      case.dilation)
    _check_sum(got_dx, exact, magnitude, 6, np.float32)


def test_integer_average_pools_are_float32():
    xv = np.arange(2 * 2 * 5 * 5, dtype=np.int32).reshape(2, 2, 5, 5) - 40
    x = gc.placeholder(gc.int32, xv.shape)
    a = {"kernel": (3, 3), "stride": (2, 2), "pads": ((1, 1), (1, 1)), "count_include_pad": False}
    y = make("avg_pool2d", (x,), a)
    (got,) = _run([y], {x: xv}, count=1)
    exact, magnitude = ref_avg_pool(xv.astype(np.float64), (3, 3), (2, 2), a["pads"], False)
    _check_sum(got, exact, magnitude, 9, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates_and_takes_the_gradient(dtype):
    case = Case((2, 2, 6, 7), (3, 3), (2, 2), ((1, 1), (1, 1)))
    xv = _values(case, dtype, 7)
    xv[0, 0, 2, 3] = np.nan
    xv[0, 0, 3, 3] = np.nan        # two NaNs in some windows: the first takes the gradient
    xv[1, 1, 0, 0] = np.nan
    xv[1, 0, 4, :] = np.inf
    xv[1, 0, 5, :] = -np.inf
    dyv = np.random.default_rng(8).standard_normal(case.x[:2] + case.out()).astype(dtype)
    x, dy = gc.placeholder(dtype, xv.shape), gc.placeholder(dtype, dyv.shape)
    y = make("max_pool2d", (x,), case.attrs())
    dx = make("max_pool2d_backward", (x, dy), case.attrs())
    got_y, got_dx = _run([y, dx], {x: xv, dy: dyv}, count=2)
    expected = ref_max_pool(xv.astype(np.float64), case.kernel, case.stride, case.pads, case.dilation)
    assert np.isnan(got_y).sum() == np.isnan(expected).sum() > 0
    assert_close(got_y, expected, dtype)
    exact = ref_max_pool_backward(xv.astype(np.float64), dyv.astype(np.float64), case.kernel, case.stride, case.pads,
                                  case.dilation)
    magnitude = ref_max_pool_backward(xv.astype(np.float64), abs(dyv.astype(np.float64)), case.kernel, case.stride,
                                      case.pads, case.dilation)
    _check_sum(got_dx, exact, magnitude, 4, dtype)


def test_all_lowest_windows_send_their_gradient_to_the_padding():
    """A window whose real elements are all -inf: its first maximum is its first position,
    padding where the window starts in the padding (the gradient is dropped), as in the
    reference; else its first real element (only window (1, 1) starts at a real one)."""
    xv = np.full((1, 1, 3, 3), -np.inf)
    x, dy = gc.placeholder(gc.float64, xv.shape), gc.placeholder(gc.float64, (1, 1, 2, 2))
    a = {"kernel": (2, 2), "stride": (2, 2), "pads": ((1, 0), (1, 0)), "dilation": (1, 1)}
    y = make("max_pool2d", (x,), a)
    dx = make("max_pool2d_backward", (x, dy), a)
    dyv = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    got_y, got_dx = _run([y, dx], {x: xv, dy: dyv}, count=2)
    assert (got_y == -np.inf).all()
    assert got_dx[0, 0].tolist() == [[0, 0, 0], [0, 4, 0], [0, 0, 0]]
    assert (got_dx == ref_max_pool_backward(xv, dyv, (2, 2), (2, 2), a["pads"], (1, 1))).all()


@pytest.mark.parametrize("stride", [(1, 1), (2, 2), (1, 2)])
def test_ties_go_to_the_first_maximum(stride):
    """A constant input: each window's gradient goes to its first element; with stride 1 the
    overlapping windows add into the elements they start at."""
    xv = np.full((2, 2, 5, 6), 3.0)
    case = Case(xv.shape, (2, 3), stride, ((1, 0), (0, 2)))
    dyv = np.random.default_rng(9).standard_normal(case.x[:2] + case.out())
    x, dy = gc.placeholder(gc.float64, xv.shape), gc.placeholder(gc.float64, dyv.shape)
    dx = make("max_pool2d_backward", (x, dy), case.attrs())
    (got,) = _run([dx], {x: xv, dy: dyv}, count=1)
    exact = ref_max_pool_backward(xv, dyv, case.kernel, case.stride, case.pads, case.dilation)
    np.testing.assert_allclose(got, exact, rtol=1e-15, atol=0)
    assert np.count_nonzero(got) == np.count_nonzero(exact)


def test_relu_then_pool_ties_among_zeros():
    rng = np.random.default_rng(10)
    xv = rng.standard_normal((2, 3, 8, 8))
    x = gc.placeholder(gc.float64, xv.shape)
    y = gc.nn.max_pool2d(gc.nn.relu(x), 3, 1, padding=((1, 1), (1, 1)))
    r = rng.standard_normal((2, 3, 8, 8))
    (gx,) = gc.gradients(gc.sum(y * gc.constant(r)), [x])
    got_y, got_gx = _run([y, gx], {x: xv})
    relu = np.maximum(xv, 0)
    pads = ((1, 1), (1, 1))
    assert_close(got_y, ref_max_pool(relu, (3, 3), (1, 1), pads, (1, 1)), np.float64)
    exact = ref_max_pool_backward(relu, r, (3, 3), (1, 1), pads, (1, 1)) * (xv > 0)
    magnitude = ref_max_pool_backward(relu, abs(r), (3, 3), (1, 1), pads, (1, 1))
    _check_sum(got_gx, exact, magnitude, 9, np.float64)
    # windows of only zeros send their gradient to their first zero, which relu then drops
    assert (exact == 0).sum() > xv.size // 2


# -- shapes: fed and empty batches, thread shares -------------------------------------------------
@pytest.mark.parametrize("batch", [0, 1, 3])
def test_a_fed_batch_of_any_size(batch):
    x = gc.placeholder(gc.float32, (None, 3, 7, 7))
    m = gc.nn.max_pool2d(x, 3, 2, padding=1)
    v = gc.nn.avg_pool2d(x, 2, 1, padding=((1, 0), (0, 1)), count_include_pad=False)
    loss = gc.sum(m * m) + gc.sum(v)
    (gx,) = gc.gradients(loss, [x])
    xv = np.random.default_rng(batch).standard_normal((batch, 3, 7, 7)).astype(np.float32)
    with gc.Session(device="cpu") as sess:
        got_m, got_v, got_gx = sess.run([m, v, gx], {x: xv})
        _native(sess.compile([m, v, gx], {x: xv}))
    x64 = xv.astype(np.float64)
    pm, pv = ((1, 1), (1, 1)), ((1, 0), (0, 1))
    exact_m = ref_max_pool(x64, (3, 3), (2, 2), pm, (1, 1))
    assert got_m.shape == (batch, 3, 4, 4) and got_v.shape == (batch, 3, 7, 7) and got_gx.shape == xv.shape
    assert_close(got_m, exact_m, np.float32)
    exact_v, mag_v = ref_avg_pool(x64, (2, 2), (1, 1), pv, False)
    _check_sum(got_v, exact_v, mag_v, 4, np.float32)
    gm = ref_max_pool_backward(x64, 2 * exact_m, (3, 3), (2, 2), pm, (1, 1))
    gv, mag = ref_avg_pool_backward(np.ones((batch, 3, 7, 7)), (7, 7), (2, 2), (1, 1), pv, False)
    _check_sum(got_gx, gm + gv, ref_max_pool_backward(x64, 2 * abs(exact_m), (3, 3), (2, 2), pm, (1, 1)) + mag,
               8, np.float32)


def test_large_pools_run_in_shares_and_agree():
    """Enough work to be split between threads (shares of the batch)."""
    xv = np.random.default_rng(11).standard_normal((8, 16, 33, 32)).astype(np.float32)
    x = gc.placeholder(gc.float32, xv.shape)
    m = gc.nn.max_pool2d(x, 3, 2, padding=1)
    v = gc.nn.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False)
    r = np.random.default_rng(12).standard_normal(m.shape).astype(np.float32)
    rp, ones = gc.placeholder(gc.float32, r.shape), gc.placeholder(gc.float32, v.shape)
    gm, gv = gc.gradients([gc.sum(m * rp)], [x])[0], gc.gradients(gc.sum(v * ones), [x])[0]
    got_m, got_v, got_gm, got_gv = _run([m, v, gm, gv], {x: xv, rp: r, ones: np.ones(v.shape, np.float32)}, count=4)
    x64, p = xv.astype(np.float64), ((1, 1), (1, 1))
    assert_close(got_m, ref_max_pool(x64, (3, 3), (2, 2), p, (1, 1)), np.float32)
    exact, mag = ref_avg_pool(x64, (3, 3), (2, 2), p, False)
    _check_sum(got_v, exact, mag, 9, np.float32)
    r64 = r.astype(np.float64)
    exact = ref_max_pool_backward(x64, r64, (3, 3), (2, 2), p, (1, 1))
    _check_sum(got_gm, exact, ref_max_pool_backward(x64, abs(r64), (3, 3), (2, 2), p, (1, 1)), 4, np.float32)
    exact, mag = ref_avg_pool_backward(np.ones(m.shape), (33, 32), (3, 3), (2, 2), p, False)
    _check_sum(got_gv, exact, mag, 4, np.float32)


# -- gradients ------------------------------------------------------------------------------------
GRADIENT_CASES = [c for c in CASES if c.id in ("2x2-stride2-odd", "3x3-stride2-overlapping", "2x3-unequal-stride",
                                                "dilation2", "H1", "output-1-global")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[c.id for c in GRADIENT_CASES])
def test_gradients_of_pools_match_the_float64_backward(case, dtype):
    rng = np.random.default_rng(13)
    xv = rng.standard_normal(case.x).astype(dtype)
    x = gc.placeholder(dtype, xv.shape)
    m = gc.nn.max_pool2d(x, case.kernel, case.stride, case.pads, case.dilation)
    rm = rng.standard_normal(m.shape).astype(dtype)
    r = gc.placeholder(dtype, rm.shape)   # (fed: a constant would fold the average pools' gradients away)
    feeds = {x: xv, r: rm}
    terms = [(gc.gradients(gc.sum(m * r), [x])[0], None)]
    if case.dilation == (1, 1):
        for include in (True, False):
            v = gc.nn.avg_pool2d(x, case.kernel, case.stride, case.pads, count_include_pad=include)
            rv = rng.standard_normal(v.shape).astype(dtype)
            rp = gc.placeholder(dtype, rv.shape)
            feeds[rp] = rv
            terms.append((gc.gradients(gc.sum(v * rp), [x])[0], (include, rv)))
    got = _run([g for g, _ in terms], feeds, count=len(terms))   # (the backward ops: forwards are not fetched)
    x64 = xv.astype(np.float64)
    geometry = (case.kernel, case.stride, case.pads, case.dilation)
    r64 = rm.astype(np.float64)
    _check_sum(got[0], ref_max_pool_backward(x64, r64, *geometry), ref_max_pool_backward(x64, abs(r64), *geometry),
               9, dtype)
    for g, (_, (include, rv)) in zip(got[1:], terms[1:]):
        exact, mag = ref_avg_pool_backward(rv.astype(np.float64), case.x[2:], case.kernel, case.stride, case.pads,
                                           include)
        _check_sum(g, exact, mag, 9, dtype)


def test_second_order_through_avg_pool_backward():
    """d/d(dy) of sum(avg_pool2d_backward(dy) * q) is avg_pool2d(q): both run natively."""
    rng = np.random.default_rng(14)
    dyv, q = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 2, 7, 7))
    dy, qp = gc.placeholder(gc.float64, dyv.shape), gc.placeholder(gc.float64, q.shape)
    a = {"kernel": (3, 3), "stride": (2, 2), "pads": ((1, 1), (1, 1)), "count_include_pad": False}
    dx = make("avg_pool2d_backward", (dy,), {**a, "size": (7, 7)})
    (g,) = gc.gradients(gc.sum(dx * qp), [dy])
    got_dx, got_g = _run([dx, g], {dy: dyv, qp: q}, count=2)
    exact, mag = ref_avg_pool_backward(dyv, (7, 7), (3, 3), (2, 2), a["pads"], False)
    _check_sum(got_dx, exact, mag, 4, np.float64)
    exact, mag = ref_avg_pool(q, (3, 3), (2, 2), a["pads"], False)
    _check_sum(got_g, exact, mag, 9, np.float64)


# -- the same kernel IR through the CUDA renderer, on the host ------------------------------------
@pytest.mark.skipif(shutil.which("g++") is None, reason="cuda-host compiles the generated code with g++")
def test_the_cuda_renderer_computes_the_same_on_the_host():
    """One program of every pooling op over a few geometries (overlapping windows, ties,
    dilation, asymmetric padding, a NaN), run on "cuda-host": each kernel rendered, not run
    by the reference."""
    cases = [c for c in CASES if c.id in ("2x2-stride2-odd", "3x3-stride2-overlapping", "2x3-unequal-stride",
                                         "dilation21", "H1")]
    fetches, feeds, checks = [], {}, []
    for k, case in enumerate(cases):
        xv = _values(case, np.float32, 20 + k, ties=k % 2 == 1)
        xv[0, 0, 0, 0] = np.nan
        dyv = np.random.default_rng(30 + k).standard_normal(case.x[:2] + case.out()).astype(np.float32)
        x, dy = gc.placeholder(gc.float32, xv.shape), gc.placeholder(gc.float32, dyv.shape)
        feeds[x], feeds[dy] = xv, dyv
        x64, dy64 = xv.astype(np.float64), dyv.astype(np.float64)
        geometry = (case.kernel, case.stride, case.pads, case.dilation)
        fetches += [make("max_pool2d", (x,), case.attrs()), make("max_pool2d_backward", (x, dy), case.attrs())]
        checks += [(ref_max_pool(x64, *geometry), None, 0),
                   (ref_max_pool_backward(x64, dy64, *geometry), ref_max_pool_backward(x64, abs(dy64), *geometry), 9)]
        if case.dilation == (1, 1):
            a = {**case.attrs(dilation=False), "count_include_pad": k % 2 == 0}
            fetches += [make("avg_pool2d", (x,), a), make("avg_pool2d_backward", (dy,), {**a, "size": case.x[2:]})]
            y, mag = ref_avg_pool(x64, case.kernel, case.stride, case.pads, a["count_include_pad"])
            dx, dmag = ref_avg_pool_backward(dy64, case.x[2:], case.kernel, case.stride, case.pads,
                                             a["count_include_pad"])
            checks += [(y, mag, 9), (dx, dmag, 9)]
    with gc.Session(device="cuda-host") as sess:
        got = sess.run(fetches, feeds)
        compiled = sess.compile(fetches, feeds)
        windows = [k for k in compiled.kernels if k.kind == "window"]
        assert len(windows) == len(fetches)
        assert all(compiled.graph.node(k.name) in compiled._executor.kernels for k in windows)
    for value, (exact, magnitude, terms) in zip(got, checks):
        if magnitude is None:
            assert_close(value, exact, np.float32)
        else:   # (a NaN gradient where the reference has one: a NaN in the window's sum)
            assert (np.isnan(value) == np.isnan(exact)).all()
            keep = ~np.isnan(exact)
            _check_sum(value[keep], exact[keep], magnitude[keep], terms, np.float32)
