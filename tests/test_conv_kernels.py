"""The CPU backend's convolution kernels (runtime/cpu/llvm_conv.py): conv2d and its two
backward ops, run natively as GEMMs over patches, against a float64 numpy reference
written here loop by loop over the kernel offsets (independent of graphc/ops/conv.py).

Each result is checked against the forward-error bound of a sum of K products,
|got - exact| <= 2 K eps * sum |terms|, where K is the number of products in one output
element: a wrong index or a missed chunk gives errors of the size of the values.

The sizes cross every threshold of the kernels: one input channel per group (depthwise,
a one-channel image: no GEMM; vector code at stride 1, row loops otherwise; the GEMM path
for a multi-channel input gradient), the direct path (1x1, stride 1, no
padding: x is the patch matrix) and its near misses, patch chunks (PATCH_BUDGET: whole
multiples of 64 output positions) with output rows split across chunks, the backward
filter's least chunk (MIN_FILTER_CHUNK positions), groups and depthwise, dilation, stride
larger than the kernel, asymmetric and large padding, 1x1 and 1xW images, batch 0, 1
and fed, and thread shares (images; output channels across group boundaries).
"""
import numpy as np
import pytest

import graphc as gc
from graphc.builder import make
from graphc.runtime.cpu import llvm_conv, llvm_gemm
from graphc.runtime.cpu.native import CORES, PARALLEL_GEMM_WORK

EPS = {np.float32: np.finfo(np.float32).eps, np.float64: np.finfo(np.float64).eps}


# -- the reference: loops over kernel offsets, in float64 ----------------------------------------
def _padded(x, pads):
    return np.pad(x, ((0, 0), (0, 0)) + tuple(pads))


def ref_conv(x, w, stride, pads, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = _padded(x, pads)
    oh = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    og = o // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilation[0], j * dilation[1]
                patch = xp[:, g * cg:(g + 1) * cg, r0:r0 + stride[0] * (oh - 1) + 1:stride[0],
                           c0:c0 + stride[1] * (ow - 1) + 1:stride[1]]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    return y


def ref_backward_input(dy, w, size, stride, pads, dilation, groups):
    n, o, oh, ow = dy.shape
    _, cg, kh, kw = w.shape
    og = o // groups
    dxp = np.zeros((n, cg * groups, size[0] + sum(pads[0]), size[1] + sum(pads[1])))
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilation[0], j * dilation[1]
                dxp[:, g * cg:(g + 1) * cg, r0:r0 + stride[0] * (oh - 1) + 1:stride[0],
                    c0:c0 + stride[1] * (ow - 1) + 1:stride[1]] += \
                    np.einsum("nohw,oc->nchw", dy[:, g * og:(g + 1) * og], w[g * og:(g + 1) * og, :, i, j])
    return dxp[:, :, pads[0][0]:pads[0][0] + size[0], pads[1][0]:pads[1][0] + size[1]]


def ref_backward_filter(x, dy, kernel, stride, pads, dilation, groups):
    n, c, _, _ = x.shape
    _, o, oh, ow = dy.shape
    cg, og = c // groups, o // groups
    xp = _padded(x, pads)
    dw = np.zeros((o, cg) + tuple(kernel))
    for g in range(groups):
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                r0, c0 = i * dilation[0], j * dilation[1]
                patch = xp[:, g * cg:(g + 1) * cg, r0:r0 + stride[0] * (oh - 1) + 1:stride[0],
                           c0:c0 + stride[1] * (ow - 1) + 1:stride[1]]
                dw[g * og:(g + 1) * og, :, i, j] = np.einsum("nchw,nohw->oc", patch, dy[:, g * og:(g + 1) * og])
    return dw


# -- the cases --------------------------------------------------------------------------------
class Case:
    def __init__(self, x, w, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1, id=""):
        self.x, self.w = tuple(x), tuple(w)
        self.stride, self.pads, self.dilation, self.groups = tuple(stride), tuple(map(tuple, pads)), tuple(dilation), groups
        self.id = id

    @property
    def attrs(self):
        return {"stride": self.stride, "pads": self.pads, "dilation": self.dilation, "groups": self.groups}

    def out(self):
        h, w = self.x[2:]
        kh, kw = self.w[2:]
        return tuple((n + sum(p) - d * (k - 1) - 1) // s + 1
                     for n, p, d, k, s in zip((h, w), self.pads, self.dilation, (kh, kw), self.stride))


CASES = [
    Case((2, 3, 7, 7), (4, 3, 1, 1), id="direct-1x1"),
    Case((2, 3, 7, 7), (4, 3, 1, 1), stride=(2, 2), id="1x1-stride2"),
    Case((2, 3, 7, 7), (4, 3, 1, 1), pads=((1, 0), (0, 1)), id="1x1-padded"),
    Case((2, 4, 1, 1), (3, 4, 1, 1), id="1x1-image"),
    Case((1, 2, 1, 9), (3, 2, 1, 3), pads=((0, 0), (1, 1)), id="one-row-image"),
    Case((2, 3, 9, 8), (5, 3, 3, 3), pads=((1, 1), (1, 1)), id="3x3-same"),
    Case((2, 3, 9, 8), (5, 3, 3, 2), stride=(2, 1), pads=((1, 0), (2, 1)), dilation=(1, 2), id="asymmetric"),
    Case((1, 2, 6, 6), (2, 1, 3, 3), stride=(3, 3), pads=((2, 2), (2, 2)), groups=2, id="pad-larger-than-half"),
    Case((2, 2, 8, 8), (3, 2, 2, 2), stride=(3, 3), id="stride-over-kernel"),
    Case((2, 4, 9, 8), (6, 2, 3, 2), stride=(2, 1), pads=((1, 0), (2, 1)), dilation=(1, 2), groups=2, id="groups2"),
    Case((2, 6, 7, 7), (6, 1, 3, 3), pads=((1, 1), (1, 1)), groups=6, id="depthwise"),
    Case((2, 4, 7, 7), (8, 1, 3, 3), pads=((1, 1), (1, 1)), groups=4, id="depthwise-multiplier2"),
    Case((1, 3, 5, 5), (2, 3, 5, 5), id="kernel-is-image"),
    Case((3, 1, 9, 10), (5, 1, 3, 3), stride=(2, 1), pads=((1, 1), (0, 2)), id="one-input-channel"),
    Case((2, 1, 7, 19), (4, 1, 3, 3), pads=((1, 1), (2, 0)), dilation=(1, 2), id="one-input-channel-stride1"),
    Case((1, 3, 5, 33), (3, 1, 2, 5), pads=((1, 0), (4, 4)), groups=3, id="depthwise-rows-over-two-vectors"),
    Case((2, 4, 9, 9), (4, 1, 3, 3), stride=(2, 2), dilation=(2, 1), pads=((2, 1), (1, 1)), groups=4,
         id="depthwise-strided-dilated"),
    Case((2, 3, 12, 12), (4, 3, 3, 3), dilation=(3, 2), pads=((2, 1), (0, 3)), id="dilation"),
    Case((1, 2, 6, 5), (3, 2, 7, 1), pads=((1, 0), (0, 0)), dilation=(1, 1), stride=(1, 2), id="tall-kernel"),
    # patches in chunks: K = 64 * 9 = 576 rows fill PATCH_BUDGET from 456 positions on, split
    # into equal parts rounded up to 64 (468 -> 256, 529 -> 320, 896 -> 448, 1200 -> 448);
    # output rows of 13, 23 and 1200 positions split across chunks; sizes just below, at and
    # above a chunk multiple; the filter gradient's chunks of at least 256
    Case((2, 64, 36, 13), (8, 64, 3, 3), pads=((1, 1), (1, 1)), id="chunks-rows-of-13"),
    Case((1, 64, 23, 23), (4, 64, 3, 3), pads=((1, 1), (1, 1)), id="chunks-rows-of-23"),
    Case((1, 64, 1, 1200), (4, 64, 3, 3), pads=((1, 1), (1, 1)), id="chunks-row-longer-than-chunk"),
    Case((1, 64, 28, 32), (4, 64, 3, 3), pads=((1, 1), (1, 1)), id="chunks-exactly-896"),
    Case((1, 64, 1, 897), (4, 64, 3, 3), pads=((1, 1), (1, 1)), id="chunks-897-positions"),
    Case((1, 64, 895, 1), (4, 64, 3, 3), pads=((1, 1), (1, 1)), id="chunks-895-positions-in-a-column"),
    Case((1, 128, 30, 30), (4, 128, 3, 3), pads=((1, 1), (1, 1)), id="filter-chunks-900-positions"),
    # chunks of whole output rows where a multiple of 64 and ow fits a part (lcm(64, 96) = 192:
    # 1152 positions in 3 chunks of 4 rows), copied in unrolled vector code
    Case((1, 64, 12, 96), (4, 64, 3, 3), pads=((1, 1), (1, 1)), id="chunks-of-whole-rows"),
    # float32 forward patches packed straight into the GEMM's 64-wide panels: stride 1 and output
    # rows that tile a panel (ow 64, 32, 16, 1); K = 45 and 27 rows padded to 48 and 28; in chunks
    # (PANEL_BUDGET: K = 576 gives 512 positions), stride 2; near misses (ow 63, 65; stride 3) pack twice
    Case((2, 5, 12, 16), (7, 5, 3, 3), pads=((1, 1), (1, 1)), id="prepacked-rows-of-16"),
    Case((1, 3, 5, 64), (4, 3, 3, 3), pads=((1, 1), (1, 1)), id="prepacked-rows-of-64"),
    Case((2, 3, 9, 1), (4, 3, 3, 1), pads=((1, 1), (0, 0)), id="prepacked-rows-of-1"),
    Case((1, 64, 32, 32), (6, 64, 3, 3), pads=((1, 1), (1, 1)), id="prepacked-chunks-1024-positions"),
    Case((1, 64, 17, 32), (6, 64, 3, 3), pads=((1, 1), (1, 1)), id="prepacked-chunks-544-positions"),
    # small images share a GEMM call (BATCH_COLUMNS): 64 positions -> 4 images a call, 5 images
    # (4 + 1); 16 positions -> 16 a call, with groups; 9 images split between threads (5 and 4)
    Case((5, 3, 8, 8), (4, 3, 3, 3), pads=((1, 1), (1, 1)), id="prepacked-batched-4-then-1"),
    Case((3, 4, 4, 4), (6, 2, 3, 3), pads=((1, 1), (1, 1)), groups=2, id="prepacked-batched-groups"),
    Case((9, 64, 8, 8), (64, 64, 3, 3), pads=((1, 1), (1, 1)), id="prepacked-batched-threads"),
    # the input gradient of small images with many output channels, 4 images a call (5: 4 + 1)
    Case((5, 3, 8, 8), (96, 3, 3, 3), pads=((1, 1), (1, 1)), id="batched-input-gradient"),
    Case((3, 4, 2, 2), (40, 2, 3, 3), pads=((1, 1), (1, 1)), groups=2, id="batched-input-gradient-groups"),
    Case((1, 3, 4, 63), (2, 3, 3, 3), pads=((1, 1), (1, 1)), id="rows-of-63"),
    Case((1, 3, 4, 65), (2, 3, 3, 3), pads=((1, 1), (1, 1)), id="rows-of-65"),
    Case((1, 3, 9, 64), (2, 3, 3, 3), stride=(1, 2), pads=((1, 1), (1, 1)), id="prepacked-rows-of-32-at-stride-2"),
    Case((3, 3, 16, 32), (5, 3, 3, 3), stride=(2, 2), pads=((1, 1), (1, 1)), id="prepacked-batched-stride-2"),
    Case((1, 3, 5, 48), (2, 3, 3, 3), stride=(1, 3), pads=((1, 1), (1, 1)), id="rows-of-16-at-stride-3"),
    # stride 2: two vectors of a row loaded, odd lanes masked off, even lanes shuffled together
    Case((2, 3, 7, 41), (4, 3, 3, 3), stride=(2, 2), pads=((1, 1), (1, 1)), id="stride-2-rows-over-vectors"),
    Case((1, 2, 5, 70), (3, 2, 2, 3), stride=(1, 2), dilation=(1, 2), pads=((0, 1), (3, 0)),
         id="stride-2-dilated-asymmetric"),
    Case((1, 3, 9, 9), (2, 3, 3, 3), stride=(2, 2), id="stride-2-reads-the-last-element"),
]


def _bound(exact_abs, terms, dtype):
    return 2 * terms * EPS[dtype] * exact_abs + np.finfo(dtype).tiny


def _check(got, exact, exact_abs, terms, dtype):
    assert got.dtype == dtype and got.shape == exact.shape
    err = np.abs(got.astype(np.float64) - exact)
    assert (err <= _bound(exact_abs, terms, dtype)).all(), f"max error {err.max():.3g}"


def _native(compiled):
    """The conv kernels of a compiled program, each checked to run natively."""
    kernels = [k for k in compiled.kernels if k.kind == "conv"]
    assert kernels and all(compiled.graph.node(k.name) in compiled._executor.kernels for k in kernels)
    return kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conv_and_its_gradients_match_the_float64_reference(case, dtype):
    rng = np.random.default_rng(hash(case.id) % 2**32)
    x, w = rng.standard_normal(case.x), rng.standard_normal(case.w)
    dy = rng.standard_normal(case.x[:1] + case.w[:1] + case.out())
    xp, wp, dyp = (gc.placeholder(dtype, a.shape) for a in (x, w, dy))
    a = case.attrs
    y = make("conv2d", (xp, wp), a)
    dx = make("conv2d_backward_input", (dyp, wp), {**a, "size": case.x[2:]})
    dw = make("conv2d_backward_filter", (xp, dyp), {**a, "kernel": case.w[2:]})
    feeds = {xp: x.astype(dtype), wp: w.astype(dtype), dyp: dy.astype(dtype)}
    with gc.Session(device="cpu") as sess:
        got = sess.run([y, dx, dw], feeds)
        assert len(_native(sess.compile([y, dx, dw], feeds))) == 3
    xs, ws, dys = (a.astype(dtype).astype(np.float64) for a in (x, w, dy))   # the values fed, exactly
    geometry = (case.stride, case.pads, case.dilation, case.groups)
    cg, og, (kh, kw) = case.x[1] // case.groups, case.w[0] // case.groups, case.w[2:]
    _check(got[0], ref_conv(xs, ws, *geometry), ref_conv(abs(xs), abs(ws), *geometry), cg * kh * kw, dtype)
    _check(got[1], ref_backward_input(dys, ws, case.x[2:], *geometry),
           ref_backward_input(abs(dys), abs(ws), case.x[2:], *geometry), og * kh * kw, dtype)
    _check(got[2], ref_backward_filter(xs, dys, case.w[2:], *geometry),
           ref_backward_filter(abs(xs), abs(dys), case.w[2:], *geometry), case.x[0] * np.prod(case.out()), dtype)


def test_prepacked_patches_keep_inf_and_nan_where_they_belong():
    """K = 27 (padded to 28 rows of zeros the GEMM multiplies by A's zeros) with an Inf and a
    NaN in the image: only the outputs whose windows hold them are non-finite."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 8, 16)).astype(np.float32)
    x[0, 1, 3, 5], x[1, 2, 0, 15] = np.inf, np.nan
    w = rng.uniform(0.5, 1.0, (5, 3, 3, 3)).astype(np.float32)    # positive: inf * w + finite is +inf
    xp = gc.placeholder(gc.float32, x.shape)
    y = gc.nn.conv2d(xp, gc.constant(w), padding=1)
    with gc.Session() as sess:
        got = sess.run(y, {xp: x})
    want = ref_conv(x.astype(np.float64), w.astype(np.float64), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    assert finite.sum() == want.size - 2 * 9 * 5 + 5 * 5   # (the NaN's window is cut by the image edge)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-5)


def test_the_chunked_cases_use_more_than_one_chunk():
    """The chunk and prepacked cases above reach what they are named for (so a change of
    budget that makes them whole-image cases, or of the prepacking rule, is noticed)."""
    def conv_of(case):
        return type("C", (), dict(batch=case.x[0], channels=case.x[1], size=case.x[2:], filters=case.w[0],
                                  kernel=case.w[2:], out_size=case.out(), stride=case.stride, pads=case.pads,
                                  dilation=case.dilation, groups=case.groups))

    def geometry(case):
        return llvm_conv.Geometry(conv_of(case))
    for case in CASES:
        g = geometry(case)
        if case.id.startswith("chunks"):
            chunk = g.chunk(4, llvm_conv.PATCH_BUDGET)
            assert chunk % 64 == 0 and chunk < g.p, case.id
            if case.id == "chunks-of-whole-rows":
                assert chunk == 4 * g.ow and not g.prepacks(np.dtype(np.float32))
            if "row-longer" in case.id:
                assert chunk < g.ow, case.id
        if case.id.startswith("filter-chunks"):
            chunk = g.chunk(4, llvm_conv.PATCH_BUDGET, llvm_conv.MIN_FILTER_CHUNK)
            assert llvm_conv.MIN_FILTER_CHUNK == chunk < g.p, case.id   # (K = 1152: 227 would fit the budget)
        f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
        own_gemm = llvm_gemm.uses_own_gemm(f32)
        if case.id.startswith("prepacked"):   # (the panels need graphc's GEMM: AVX-512F)
            assert g.prepacks(f32) == own_gemm and not g.prepacks(f64), case.id
        if case.id.startswith("rows-of"):
            assert not g.prepacks(f32), case.id
        if case.id.startswith("prepacked-batched") and own_gemm:
            assert 1 < g.images_per_call(f32) and g.images_per_call(f64) == 1, case.id
            if case.id.endswith("4-then-1"):
                assert g.images_per_call(f32) == 4
        if case.id.startswith("batched-input-gradient"):   # (64 positions, 96 output channels: 4 a call)
            conv = conv_of(case)
            conv.op = "conv2d_backward_input"
            batch = llvm_conv.Geometry(conv).images_per_call(f64)
            assert batch == (4 if case.id == "batched-input-gradient" else 64), case.id
        if case.id == "prepacked-batched-threads":
            assert llvm_conv.work(conv_of(case)) >= PARALLEL_GEMM_WORK
        if case.id.startswith("prepacked-chunks"):
            chunk = g.prepacked_chunk(4)
            assert chunk % 64 == 0 and chunk < g.p and g.p % g.ow == 0, case.id
        if case.id == "direct-1x1":
            assert g.direct
        if case.id in ("1x1-stride2", "1x1-padded"):
            assert not g.direct


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_a_fed_batch_of_any_size(batch):
    x = gc.placeholder(gc.float32, (None, 3, 6, 6))
    w = gc.placeholder(gc.float32, (4, 3, 3, 3))
    y = gc.nn.conv2d(x, w, padding="SAME")
    loss = gc.sum(y * y)
    gx, gw = gc.gradients(loss, [x, w])
    rng = np.random.default_rng(batch)
    xv, wv = rng.standard_normal((batch, 3, 6, 6)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    with gc.Session(device="cpu") as sess:
        yv, gxv, gwv = sess.run([y, gx, gw], {x: xv, w: wv})
    geometry = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    exact = ref_conv(xv.astype(np.float64), wv.astype(np.float64), *geometry)
    _check(yv, exact, ref_conv(abs(xv).astype(np.float64), abs(wv).astype(np.float64), *geometry), 27, np.float32)
    assert gxv.shape == (batch, 3, 6, 6) and gwv.shape == (4, 3, 3, 3)
    dy = 2 * exact
    _check(gwv, ref_backward_filter(xv.astype(np.float64), dy, (3, 3), *geometry),
           ref_backward_filter(abs(xv).astype(np.float64), abs(dy), (3, 3), *geometry) + 1e-6,
           batch * 36 + 27, np.float32)
    if batch == 0:
        assert not gwv.any()


@pytest.mark.skipif(CORES < 2, reason="one core: nothing is shared")
@pytest.mark.parametrize("op", ["conv2d", "conv2d_backward_input", "conv2d_backward_filter"])
def test_large_convolutions_are_shared_between_threads_and_agree(op):
    """Shares of images, and of output channels for the filter gradient (6 (c, i) pairs a
    group: too few to share those), whose boundaries fall inside groups (6 groups of 5
    channels over the threads)."""
    case = Case((5, 12, 20, 20), (30, 2, 3, 3), pads=((1, 1), (1, 1)), groups=6)
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(case.x), rng.standard_normal(case.w)
    dy = rng.standard_normal(case.x[:1] + case.w[:1] + case.out())
    a = case.attrs
    inputs = {"conv2d": (x, w), "conv2d_backward_input": (dy, w), "conv2d_backward_filter": (x, dy)}[op]
    extra = {"conv2d": {}, "conv2d_backward_input": {"size": case.x[2:]}, "conv2d_backward_filter": {"kernel": case.w[2:]}}[op]
    ps = [gc.placeholder(gc.float32, v.shape) for v in inputs]
    out = make(op, ps, {**a, **extra})
    feeds = {p: v.astype(np.float32) for p, v in zip(ps, inputs)}
    with gc.Session(device="cpu") as sess:
        got = sess.run(out, feeds)
        (kernel,) = _native(sess.compile(out, feeds))
        native = sess.compile(out, feeds)._executor.kernels[sess.compile(out, feeds).graph.node(kernel.name)]
        assert native.parts == min(CORES, out.shape[0])
    vals = [v.astype(np.float32).astype(np.float64) for v in inputs]
    geometry = (case.stride, case.pads, case.dilation, case.groups)
    fn = {"conv2d": lambda a_, b_: ref_conv(a_, b_, *geometry),
          "conv2d_backward_input": lambda a_, b_: ref_backward_input(a_, b_, case.x[2:], *geometry),
          "conv2d_backward_filter": lambda a_, b_: ref_backward_filter(a_, b_, case.w[2:], *geometry)}[op]
    _check(got, fn(*vals), fn(*map(abs, vals)), 2000, np.float32)


@pytest.mark.skipif(CORES < 2, reason="one core: nothing is shared")
@pytest.mark.parametrize("channels, kh", [(5, 3), (16, 1), (7, 5)])
def test_filter_gradients_shared_by_patch_rows_or_by_channels(channels, kh):
    """Either side of FILTER_SHARE_PAIRS (16 (c, i) pairs): 15 pairs share output channels,
    16 and 35 share patch rows, each share its part of the pairs (boundaries inside a
    channel's kernel rows for 35), every output channel into its columns of dw."""
    case = Case((8, channels, 32, 32), (24, channels, kh, 3), pads=((kh // 2, kh // 2), (1, 1)))
    assert (channels * kh >= llvm_conv.FILTER_SHARE_PAIRS) == (channels * kh > 15)
    rng = np.random.default_rng(channels)
    x, dy = rng.standard_normal(case.x), rng.standard_normal(case.x[:1] + case.w[:1] + case.out())
    xp, dyp = gc.placeholder(gc.float32, x.shape), gc.placeholder(gc.float32, dy.shape)
    out = make("conv2d_backward_filter", (xp, dyp), {**case.attrs, "kernel": case.w[2:]})
    feeds = {xp: x.astype(np.float32), dyp: dy.astype(np.float32)}
    with gc.Session(device="cpu") as sess:
        got = sess.run(out, feeds)
        compiled = sess.compile(out, feeds)
        (kernel,) = _native(compiled)
        assert compiled._executor.kernels[compiled.graph.node(kernel.name)].parts == min(CORES, 24)
    vals = [v.astype(np.float32).astype(np.float64) for v in (x, dy)]
    geometry = (case.stride, case.pads, case.dilation, case.groups)
    _check(got, ref_backward_filter(*vals, case.w[2:], *geometry),
           ref_backward_filter(*map(abs, vals), case.w[2:], *geometry), 8 * 32 * 32, np.float32)


def test_a_strided_view_operand_is_copied_once_for_the_gemm():
    """An NHWC input transposed to NCHW is a strided view: fusion copies it into a buffer
    the convolution reads (the conv itself stays native)."""
    x = gc.placeholder(gc.float32, (2, 6, 5, 3))
    w = gc.placeholder(gc.float32, (4, 3, 3, 3))
    y = gc.nn.conv2d(gc.transpose(x, (0, 3, 1, 2)), w, padding=1)
    rng = np.random.default_rng(2)
    xv, wv = rng.standard_normal((2, 6, 5, 3)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    with gc.Session(device="cpu") as sess:
        got = sess.run(y, {x: xv, w: wv})
        compiled = sess.compile(y, {x: xv, w: wv})
        _native(compiled)
    geometry = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    xt = xv.transpose(0, 3, 1, 2).astype(np.float64)
    _check(got, ref_conv(xt, wv.astype(np.float64), *geometry), ref_conv(abs(xt), abs(wv).astype(np.float64), *geometry),
           27, np.float32)


def test_integer_convolutions_run_by_the_reference():
    x = gc.placeholder(gc.int32, (1, 2, 4, 4))
    w = gc.constant(np.arange(2 * 2 * 2 * 2, dtype=np.int32).reshape(2, 2, 2, 2))
    y = gc.nn.conv2d(x, w)
    xv = np.arange(32, dtype=np.int32).reshape(1, 2, 4, 4)
    with gc.Session(device="cpu") as sess:
        got = sess.run(y, {x: xv})
    expected = ref_conv(xv.astype(np.float64), w.node.attrs["value"].astype(np.float64), (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    assert got.dtype == np.int32 and (got == expected).all()


def _conv_inputs(rng):
    x = gc.placeholder(gc.float32, (2, 3, 8, 8))
    w = gc.placeholder(gc.float32, (4, 3, 3, 3))
    feeds = {x: rng.standard_normal((2, 3, 8, 8)).astype(np.float32),
             w: rng.standard_normal((4, 3, 3, 3)).astype(np.float32)}
    return x, w, feeds


def _exact_conv(feeds, x, w, pad=1):
    geometry = ((1, 1), ((pad, pad), (pad, pad)), (1, 1), 1)
    xs, ws = feeds[x].astype(np.float64), feeds[w].astype(np.float64)
    return ref_conv(xs, ws, *geometry), ref_conv(abs(xs), abs(ws), *geometry)


def test_bias_activation_and_residual_fuse_after_the_convolution():
    rng = np.random.default_rng(4)
    x, w, feeds = _conv_inputs(rng)
    b, r = gc.placeholder(gc.float32, (4, 1, 1)), gc.placeholder(gc.float32, (2, 4, 8, 8))
    feeds.update({b: rng.standard_normal((4, 1, 1)).astype(np.float32),
                  r: rng.standard_normal((2, 4, 8, 8)).astype(np.float32)})
    y = gc.relu(gc.nn.conv2d(x, w, padding=1) + b) + r
    with gc.Session(device="cpu") as sess:
        got = sess.run(y, feeds)
        compiled = sess.compile(y, feeds)
    (kernel,) = _native(compiled)
    assert len(compiled.kernels) == 1 and {"add", "relu", "add_1"} <= set(kernel.nodes)
    exact, size = _exact_conv(feeds, x, w)
    pre = exact + feeds[b]
    expected = np.maximum(pre, 0) + feeds[r]
    # (a value near the relu's kink may round to either side: compare where it is clear)
    clear = abs(pre) > _bound(size + abs(feeds[b]), 28, np.float32)
    assert clear.mean() > 0.95
    _check(np.where(clear, got, expected).astype(np.float32), expected, size + abs(feeds[b]) + abs(feeds[r]), 29,
           np.float32)


def test_an_epilogue_changing_the_dtype_reads_a_product_of_its_own():
    """A cast to float64 after a float32 convolution: output elements are wider than the
    product's, so the product cannot be written into the output buffer first."""
    rng = np.random.default_rng(5)
    x, w, feeds = _conv_inputs(rng)
    y = gc.cast(gc.nn.conv2d(x, w, padding=1), gc.float64) * 2.0
    with gc.Session(device="cpu") as sess:
        got = sess.run(y, feeds)
        _native(sess.compile(y, feeds))
    exact, size = _exact_conv(feeds, x, w)
    assert got.dtype == np.float64
    assert (abs(got - 2 * exact) <= 2 * _bound(size, 27, np.float32)).all()


def test_a_variable_updated_in_place_from_its_own_convolution_epilogue():
    """v <- 0.5 v + conv(x, w), written into v's buffer: the convolution writes a buffer of
    its own, or it would overwrite v before the epilogue reads it."""
    rng = np.random.default_rng(6)
    x, w, feeds = _conv_inputs(rng)
    start = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    v = gc.Variable(start)
    update = gc.assign(v, v * 0.5 + gc.nn.conv2d(x, w, padding=1))
    with gc.Session(device="cpu") as sess:
        sess.run(gc.global_variables_initializer())
        for _ in range(3):
            sess.run(update, feeds)
        got = sess.run(v)
    exact, size = _exact_conv(feeds, x, w)
    expected, bound = start.astype(np.float64), abs(start.astype(np.float64))
    for _ in range(3):
        expected, bound = 0.5 * expected + exact, 0.5 * bound + size
    assert (abs(got - expected) <= _bound(bound, 40, np.float32)).all()


def test_the_filter_gradient_takes_no_epilogue():
    """Its rows are shared between threads and its images summed: an SGD update after it
    is a kernel of its own."""
    rng = np.random.default_rng(8)
    x, w, feeds = _conv_inputs(rng)
    dw = gc.gradients(gc.sum(gc.nn.conv2d(x, w, padding=1)), [w])[0]
    step = w - 0.1 * dw
    with gc.Session(device="cpu") as sess:
        compiled = sess.compile(step, feeds)
    kinds = {compiled.graph.node(k.name).op: k.kind for k in compiled.kernels}
    assert "conv2d_backward_filter" in kinds and kinds["conv2d_backward_filter"] == "conv"
