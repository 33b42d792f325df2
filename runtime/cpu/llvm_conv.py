"""Convolutions (runtime.kernel.Conv) as GEMMs over patches, emitted into a kernel function.

Per image and group, the patches of the input are copied into a scratch matrix of
(channels/groups * kh * kw) rows by a chunk of output positions (``im2col``, a chunk
sized to stay in the L2 cache with the GEMM's packed copy of it), and the GEMM (graphc's
own, or the process's BLAS) multiplies the weights into the output:

  conv2d                  y[n, g] = w[g] @ patches(x[n, g])          shares: images
  conv2d_backward_input   dx[n, g] = col2im(w[g]^T @ dy[n, g])       shares: images
  conv2d_backward_filter  dw[g] += dy[n, g] @ patches(x[n, g])^T     shares: patch rows (or channels)

A 1x1 convolution with stride 1 and no padding reads x itself as the patch matrix. The
patch copies loop over (channel, kernel row) with one unrolled copy per kernel column,
whose in-bounds output range is known, so the inner loop is a plain strided copy (a
contiguous one at stride 1) that LLVM vectorizes, with zeros written around it.
"""
import math

import numpy as np
from llvmlite import ir

from . import llvm_gemm
from .llvm_conv_patches import PatchCopies
from .llvm_conv_plane import PlaneSum
from .llvm_jit import BLAS_GEMM
from .llvm_util import F32, I1, I32, I64, PTR, c64, counted_loop, declare

F64 = ir.DoubleType()
ELEMENT = {np.dtype(np.float32): F32, np.dtype(np.float64): F64}
PATCH_BUDGET = 1 << 20            # bytes of patches per GEMM call (with the GEMM's packed copy: L2-sized)
PANEL_BUDGET = 3 << 18            # bytes of prepacked patches in one k block of the GEMM (L2-sized)
BATCH_COLUMNS = 256              # small images: this many output positions (of several images) per GEMM
FILTER_SHARE_PAIRS = 16          # filter gradients with this many (c, i) pairs a group share them, else rows
MIN_FILTER_CHUNK = 256            # backward filter: at least this long a sum per call (each adds into dw)


def work(conv):
    """Multiply-adds of the convolution (for the decision to share it between threads)."""
    g = Geometry(conv)
    return g.n * g.o * g.k * g.p


def _padded_rows(k):
    """k rounded up to the GEMM's k unroll: the rows of its prepacked operands."""
    return -(-k // llvm_gemm.KU) * llvm_gemm.KU


class Geometry:
    """The convolution's sizes as plain ints: per group ``cg`` input and ``og`` output
    channels, ``k`` = cg*kh*kw patch rows, ``p`` = oh*ow output positions, ``hw`` = h*w."""

    def __init__(self, conv):
        self.n, self.c, (self.h, self.w) = conv.batch, conv.channels, conv.size
        self.o, (self.kh, self.kw), (self.oh, self.ow) = conv.filters, conv.kernel, conv.out_size
        (self.sh, self.sw), ((self.pt, _), (self.pl, _)), (self.dh, self.dw) = conv.stride, conv.pads, conv.dilation
        self.groups, self.op = conv.groups, getattr(conv, "op", "conv2d")
        self.cg, self.og = self.c // self.groups, self.o // self.groups
        self.k, self.p, self.hw = self.cg * self.kh * self.kw, self.oh * self.ow, self.h * self.w
        self.direct = (self.kh, self.kw, self.sh, self.sw) == (1, 1, 1, 1) and not any(map(any, conv.pads))

    def columns_inside(self, offset):
        """[lo, hi): the output columns ow whose input column ow*sw + offset lies in [0, w)."""
        lo = max(0, -(offset // self.sw))
        return lo, min(self.ow, max(0, -((offset - self.w) // self.sw)))

    def prepacks(self, dtype):
        """Whether the forward patches go straight into graphc's GEMM's panels: float32 on its
        GEMM, stride 1 or 2 (vector row copies), and output rows that tile a panel (each row
        in one panel: the copies stay one per row). Otherwise row-major patches, which the
        GEMM (or the BLAS) packs again."""
        return (llvm_gemm.uses_own_gemm(dtype) and not self.direct and self.sw in (1, 2)
                and llvm_gemm.PANEL % self.ow == 0)

    def images_per_call(self, dtype):
        """Images that share one GEMM call: 1, or, for images under BATCH_COLUMNS output
        positions, enough for that many columns side by side, so the weights are packed once
        for them all and the panels are full. The forward batches prepacked patches only,
        within the panels' budget; the input gradient where an image has fewer positions
        than the group has output channels (packing the weights, og x k, outweighs the
        image's product); the filter gradient never (measured slower: ResNet-18's 4x4 and
        8x8 stages, and the small CNN's)."""
        if self.direct or self.p == 0:
            return 1
        if self.op == "conv2d_backward_filter":
            return 1
        if self.op == "conv2d_backward_input":   # (where packing the weights costs more than an image)
            return max(1, -(-BATCH_COLUMNS // self.p)) if self.p < min(BATCH_COLUMNS, self.og) else 1
        if not self.prepacks(dtype) or self.p >= BATCH_COLUMNS:
            return 1
        fit = PANEL_BUDGET // (min(self.k, llvm_gemm.KC) * np.dtype(dtype).itemsize)   # positions in budget
        return max(1, min(-(-BATCH_COLUMNS // self.p), fit // self.p))

    def prepacked_chunk(self, itemsize):
        """``chunk`` for patches prepacked into the GEMM's panels, where one k block of them
        (at most llvm_gemm.KC rows) is what must stay in L2."""
        return self.chunk(itemsize, PANEL_BUDGET * self.k // min(self.k, llvm_gemm.KC))

    def chunk(self, itemsize, budget, least=64):
        """Output positions per GEMM call: all of them when their patches fit ``budget``,
        else the fewest equal parts that fit, each rounded up to a multiple of 64 (the
        GEMM's panel width; of 64 and ow where that is no longer than the part, so chunks
        hold whole output rows), at least ``least``."""
        if self.direct or self.k * self.p * itemsize <= budget:
            return max(self.p, 1)
        parts = -(-self.k * self.p * itemsize // budget)
        share = -(-self.p // parts)
        unit = math.lcm(64, self.ow) if math.lcm(64, self.ow) <= share else 64
        return min(self.p, max(least, -(-share // unit) * unit))


class ConvEmitter(PatchCopies):
    """Emits ``conv`` at builder ``b`` of a kernel function whose [begin, end) share is
    a range of images (or, for the backward filter, of output channels)."""

    def __init__(self, b, module, conv, ptrs, begin, end, packed_weights=None):
        """``packed_weights``: ``pack_weights()``'s buffer, made once for a kernel that emits
        the convolution image by image (else each emit packs them itself)."""
        self.b, self.module, self.conv, self.g = b, module, conv, Geometry(conv)
        self.packed_weights = packed_weights
        self.dtype = np.dtype(conv.dtype)
        self.t = ELEMENT[self.dtype]
        self.size = self.dtype.itemsize
        self.a = self._at(ptrs[conv.a], c64(conv.a_offset))
        self.bm = self._at(ptrs[conv.b], c64(conv.b_offset))
        self.out = ptrs[conv.out]
        self.begin, self.end = begin, end
        self.planes = PlaneSum(b, module, self.t)

    def pack_weights(self):
        """The forward convolution's weights in graphc's GEMM's prepacked A layout, every
        group's (llvm_gemm.prepacked_a_index; rows past k zero), in a buffer malloc'ed here
        (``free_packed``), or None where the forward does not prepack (``Geometry.prepacks``)."""
        g, b = self.g, self.b
        if self.conv.op != "conv2d" or not g.prepacks(self.dtype):
            return None
        rows, mr = _padded_rows(g.k), llvm_gemm.MR
        per_group = -(-g.og // mr) * rows * mr
        packed = self._malloc(g.groups * per_group)
        pack = llvm_gemm.declare_pack_a(self.module)

        def group(gi, _):   # (the GEMM's own vector packer)
            w = self._at(self.bm, self._mul(gi, g.og * g.k))
            b.call(pack, [c64(0), w, c64(g.k), c64(g.og), c64(g.k), c64(rows), self._at(packed, self._mul(gi, per_group))])
        counted_loop(b, 0, g.groups, 1, group)
        return packed

    def free_packed(self, packed):
        self._free(packed)

    def _packed_group(self, gi):
        """(A, ta, lda) of group ``gi``'s weights for the GEMM: prepacked, or w as it is."""
        g = self.g
        if self.packed_weights is None:
            return self._at(self.bm, self._mul(gi, g.og * g.k)), False, g.k
        rows = _padded_rows(g.k)
        per_group = -(-g.og // llvm_gemm.MR) * rows * llvm_gemm.MR
        return self._at(self.packed_weights, self._mul(gi, per_group)), llvm_gemm.PREPACKED_A, rows

    def emit(self):
        g, forward = self.g, self.conv.op == "conv2d"
        # one input channel per group, without a GEMM, where that measured faster: depthwise
        # (one output channel per group), and a one-channel image's forward at stride 1
        if g.cg == 1 and self.conv.op != "conv2d_backward_filter" and \
                (g.og == 1 or forward and (g.sh, g.sw) == (1, 1)):
            self._one_channel_groups(forward)
        else:
            getattr(self, "_" + self.conv.op)()

    # -- one input channel per group (depthwise; a one-channel image): no GEMM --------------------
    def _one_channel_groups(self, forward):
        """Each output channel from one input plane. At stride 1 each plane is a sum of
        shifted planes in vector code (llvm_conv_plane); otherwise, per kernel offset, a row
        of the output (forward) or of the input gradient adds the weight times a row of the
        other."""
        g, b = self.g, self.b

        def image(n, _):
            def group(gi, _):
                x = self._plane(self.a if forward else self.out, n, g.c, gi, g.hw)

                def plane_of(o):
                    oc = self._add(self._mul(gi, g.og), o)
                    y = self._plane(self.out if forward else self.a, n, g.o, oc, g.p)
                    return y, [(i, j, b.load(self._at(self.bm, self._add(self._mul(oc, g.k), c64(i * g.kw + j))),
                                             typ=self.t)) for i in range(g.kh) for j in range(g.kw)]

                if (g.sh, g.sw) == (1, 1):   # vector code, sums in registers
                    def channel(o, _):
                        y, taps = plane_of(o)
                        if forward:
                            self.planes.emit(y, g.oh, g.ow, [(x, w, i * g.dh - g.pt, j * g.dw - g.pl)
                                                             for i, j, w in taps], g.h, g.w)
                        else:   # (one output channel per group: the plane's whole gradient)
                            self.planes.emit(x, g.h, g.w, [(y, w, g.pt - i * g.dh, g.pl - j * g.dw)
                                                           for i, j, w in taps], g.oh, g.ow)
                    counted_loop(b, 0, g.og, 1, channel)
                    return
                if not forward:
                    self._zero(x, c64(g.hw))

                def channel(o, _):
                    y, taps = plane_of(o)
                    if forward:
                        self._zero(y, c64(g.p))
                    for i, j, wv in taps:
                        self._tap_rows(x, y, i, j, wv, forward)
                counted_loop(b, 0, g.og, 1, channel)
            counted_loop(b, 0, g.groups, 1, group)
        counted_loop(b, self.begin, self.end, 1, image)

    def _tap_rows(self, x, y, i, j, wv, forward):
        """For every output row: y[oh, ow] += wv * x[h, w] (forward) or x[h, w] += wv * y[oh, ow]
        over the in-bounds ow of kernel offset (i, j)."""
        g, b = self.g, self.b
        offset = j * g.dw - g.pl
        lo, hi = g.columns_inside(offset)
        if lo >= hi:
            return

        def out_row(oh, _):
            h = b.add(b.mul(oh, c64(g.sh)), c64(i * g.dh - g.pt))
            with b.if_then(b.icmp_unsigned("<", h, c64(g.h))):
                yrow = self._at(y, b.mul(oh, c64(g.ow)))
                xrow = self._at(x, b.add(b.mul(h, c64(g.w)), c64(offset)))

                def element(ow, _):
                    at_y, at_x = self._at(yrow, ow), self._at(xrow, b.mul(ow, c64(g.sw)))
                    acc, other = (at_y, at_x) if forward else (at_x, at_y)
                    b.store(b.fadd(b.load(acc, typ=self.t), b.fmul(wv, b.load(other, typ=self.t))), acc)
                counted_loop(b, lo, hi, 1, element)
        counted_loop(b, 0, g.oh, 1, out_row)

    # -- the three ops -------------------------------------------------------------------------
    def _conv2d(self):
        g, b = self.g, self.b
        own_pack = self.packed_weights is None and g.prepacks(self.dtype)
        if own_pack:
            self.packed_weights = self.pack_weights()
        # graphc's GEMM reads patches packed straight into its panels (no second copy): then
        # what must stay in L2 is one k block of them, not the whole chunk
        rows = _padded_rows(g.k) if g.prepacks(self.dtype) else None
        chunk = g.chunk(self.size, PATCH_BUDGET) if rows is None else g.prepacked_chunk(self.size)
        batch = g.images_per_call(self.dtype)
        if batch > 1:
            chunk = batch * g.p
        raw = scratch = None
        if not g.direct and rows is None:
            raw = scratch = self._malloc(g.k * chunk)
        elif not g.direct:
            panels = -(-chunk // llvm_gemm.PANEL)
            raw = self._malloc(panels * rows * llvm_gemm.PANEL)
            scratch = self._aligned(raw)
            for panel in range(panels):   # the rows past k stay zero (the GEMM multiplies them by A's zeros)
                self._zero(self._at(scratch, c64((panel * rows + g.k) * llvm_gemm.PANEL)),
                           c64((rows - g.k) * llvm_gemm.PANEL))
        if batch > 1:
            self._conv2d_images(batch, rows, scratch)
            self._free(raw)
            self._own_packing_done(own_pack)
            return

        def image(n, _):
            def group(gi, _):
                x = self._plane(self.a, n, g.c, self._mul(gi, g.cg), g.hw)
                w = self._at(self.bm, self._mul(gi, g.og * g.k))
                y = self._plane(self.out, n, g.o, self._mul(gi, g.og), g.p)
                if g.direct:
                    self._gemm(False, False, g.og, g.p, g.k, w, g.k, x, g.hw, y, g.p)
                    return

                def part(q0, _):
                    nc = self._min(c64(chunk), b.sub(c64(g.p), q0))
                    self._patches(x, scratch, q0, nc, gather=True, packed_rows=rows, whole=chunk % g.ow == 0)
                    if rows is None:
                        self._gemm(False, False, g.og, nc, g.k, w, g.k, scratch, nc, self._at(y, q0), g.p)
                    else:
                        wa, ta, lda = self._packed_group(gi)
                        self._gemm(ta, llvm_gemm.PREPACKED_B, g.og, nc, g.k, wa, lda, scratch, rows,
                                   self._at(y, q0), g.p)
                counted_loop(b, 0, g.p, chunk, part)
            counted_loop(b, 0, g.groups, 1, group)
        counted_loop(b, self.begin, self.end, 1, image)
        self._free(raw)
        self._own_packing_done(own_pack)

    def _own_packing_done(self, own_pack):
        if own_pack:
            self.free_packed(self.packed_weights)
            self.packed_weights = None

    def _conv2d_images(self, batch, rows, scratch):
        """The forward convolution of ``batch`` small images per GEMM call: image t's patches
        fill the panel columns [t*p, (t+1)*p), the product goes to a buffer of its own, and
        each image's block of it is copied into the output."""
        g, b = self.g, self.b
        product = self._malloc(g.og * batch * g.p)

        def images(n0, _):
            count = self._min(c64(batch), b.sub(self.end, n0))
            columns = self._mul(count, g.p)

            def group(gi, _):
                wa, ta, lda = self._packed_group(gi)

                def patches(t, _):
                    x = self._plane(self.a, b.add(n0, t), g.c, self._mul(gi, g.cg), g.hw)
                    self._patches(x, scratch, c64(0), c64(g.p), gather=True, packed_rows=rows,
                                  col0=self._mul(t, g.p), whole=True)
                counted_loop(b, 0, count, 1, patches)
                self._gemm(ta, llvm_gemm.PREPACKED_B, g.og, columns, g.k, wa, lda, scratch, rows, product, columns)

                def channel(o, _):
                    def image(t, _):
                        y = self._plane(self.out, b.add(n0, t), g.o, b.add(self._mul(gi, g.og), o), g.p)
                        src = self._at(product, b.add(self._mul(o, columns), self._mul(t, g.p)))
                        self._copy(y, src, c64(g.p))
                    counted_loop(b, 0, count, 1, image)
                counted_loop(b, 0, g.og, 1, channel)
            counted_loop(b, 0, g.groups, 1, group)
        counted_loop(b, self.begin, self.end, batch, images)
        self._free(product)

    def _conv2d_backward_input(self):
        g, b = self.g, self.b
        batch = g.images_per_call(self.dtype)
        if batch > 1:
            self._backward_input_images(batch)
            return
        chunk = g.chunk(self.size, PATCH_BUDGET)
        scratch = None if g.direct else self._malloc(g.k * chunk)

        def image(n, _):
            dx = self._at(self.out, self._mul(n, g.c * g.hw))
            if not g.direct:   # (col2im adds into it; positions no window reaches stay 0)
                self._zero(dx, c64(g.c * g.hw))

            def group(gi, _):
                dy = self._plane(self.a, n, g.o, self._mul(gi, g.og), g.p)
                w = self._at(self.bm, self._mul(gi, g.og * g.k))
                dxg = self._at(dx, self._mul(gi, g.cg * g.hw))
                if g.direct:
                    self._gemm(True, False, g.cg, g.hw, g.og, w, g.k, dy, g.p, dxg, g.hw)
                    return

                def part(q0, _):
                    nc = self._min(c64(chunk), b.sub(c64(g.p), q0))
                    self._gemm(True, False, g.k, nc, g.og, w, g.k, self._at(dy, q0), g.p, scratch, nc)
                    self._patches(dxg, scratch, q0, nc, gather=False, whole=chunk % g.ow == 0)
                counted_loop(b, 0, g.p, chunk, part)
            counted_loop(b, 0, g.groups, 1, group)
        counted_loop(b, self.begin, self.end, 1, image)
        self._free(scratch)

    def _backward_input_images(self, batch):
        """The input gradient of ``batch`` small images per GEMM call: their dy side by side
        (columns [t*p, (t+1)*p) for image t), one product into a patch matrix as wide, and
        each image's columns of it added back into its dx (col2im)."""
        g, b = self.g, self.b
        columns_max = batch * g.p
        scratch, dys = self._malloc(g.k * columns_max), self._malloc(g.og * columns_max)

        def images(n0, _):
            count = self._min(c64(batch), b.sub(self.end, n0))
            columns = self._mul(count, g.p)
            self._zero(self._at(self.out, self._mul(n0, g.c * g.hw)), self._mul(count, g.c * g.hw))

            def group(gi, _):
                self._side_by_side(dys, self.a, n0, count, g.o, self._mul(gi, g.og), g.og, columns)
                w = self._at(self.bm, self._mul(gi, g.og * g.k))
                self._gemm(True, False, g.k, columns, g.og, w, g.k, dys, columns, scratch, columns)

                def image(t, _):
                    dx = self._plane(self.out, b.add(n0, t), g.c, self._mul(gi, g.cg), g.hw)
                    self._patches(dx, self._at(scratch, self._mul(t, g.p)), c64(0), c64(g.p), gather=False, whole=True,
                                  ld=columns)
                counted_loop(b, 0, count, 1, image)
            counted_loop(b, 0, g.groups, 1, group)
        counted_loop(b, self.begin, self.end, batch, images)
        self._free(scratch)
        self._free(dys)

    def _side_by_side(self, dst, base, n0, count, per_image, first, planes, columns):
        """dst[r, t*p + q] = plane first + r of image n0 + t, position q (r < planes, t < count):
        the planes of ``count`` images side by side in a matrix ``columns`` = count*p wide."""
        g, b = self.g, self.b

        def plane(r, _):
            def image(t, _):
                src = self._plane(base, b.add(n0, t), per_image, b.add(first, r), g.p)
                self._copy(self._at(dst, b.add(self._mul(r, columns), self._mul(t, g.p))), src, c64(g.p))
            counted_loop(b, 0, count, 1, image)
        counted_loop(b, 0, planes, 1, plane)

    def _conv2d_backward_filter(self):
        if not self.g.direct and self.g.cg * self.g.kh >= FILTER_SHARE_PAIRS:
            self._backward_filter_by_columns()
            return
        g, b = self.g, self.b
        chunk = g.chunk(self.size, PATCH_BUDGET, MIN_FILTER_CHUNK)
        scratch = None if g.direct else self._malloc(g.k * chunk)
        rows = b.sub(self.end, self.begin)
        self._zero(self._at(self.out, self._mul(self.begin, g.k)), self._mul(rows, g.k))
        first_group = b.sdiv(self.begin, c64(g.og))
        last_group = b.add(b.sdiv(b.sub(self.end, c64(1)), c64(g.og)), c64(1))

        def group(gi, _):
            r0 = self._max(self.begin, self._mul(gi, g.og))
            r1 = self._min(self.end, self._mul(b.add(gi, c64(1)), g.og))
            m = b.sub(r1, r0)
            dw = self._at(self.out, self._mul(r0, g.k))

            def image(n, _):
                x = self._plane(self.a, n, g.c, self._mul(gi, g.cg), g.hw)
                dy = self._plane(self.bm, n, g.o, r0, g.p)
                if g.direct:   # (1x1, stride 1, no padding: x is the patch matrix)
                    self._gemm(False, True, m, g.k, g.p, dy, g.p, x, g.hw, dw, g.k, accumulate=True)
                    return

                def part(q0, _):   # (each share copies every patch row: few of them here)
                    nc = self._min(c64(chunk), b.sub(c64(g.p), q0))
                    self._patches(x, scratch, q0, nc, gather=True, whole=chunk % g.ow == 0)
                    self._gemm(False, True, m, g.k, nc, self._at(dy, q0), g.p, scratch, nc, dw, g.k, accumulate=True)
                counted_loop(b, 0, g.p, chunk, part)
            counted_loop(b, 0, g.n, 1, image)
        with b.if_then(b.icmp_signed("<", self.begin, self.end)):
            counted_loop(b, first_group, last_group, 1, group)
        self._free(scratch)

    def _backward_filter_by_columns(self):
        """The filter gradient with patches: this share's [begin, end) of the output channels
        stands for the same part of the patch rows, (c, i) pairs [ci0, ci1) of every group, so
        each share copies only its own rows of every image's patches (none twice) and
        multiplies all of the group's output channels into its columns of dw."""
        g, b = self.g, self.b
        chunk = g.chunk(self.size, PATCH_BUDGET, MIN_FILTER_CHUNK)
        scratch = self._malloc(g.k * chunk)
        pairs = g.cg * g.kh
        ci0, ci1 = (b.sdiv(self._mul(v, pairs), c64(g.o)) for v in (self.begin, self.end))
        width = self._mul(b.sub(ci1, ci0), g.kw)              # this share's columns of dw
        first = self._mul(ci0, g.kw)

        def clear(o, _):
            self._zero(self._at(self.out, b.add(self._mul(o, g.k), first)), width)
        counted_loop(b, 0, g.o, 1, clear)

        def group(gi, _):
            dw = self._at(self.out, b.add(self._mul(gi, g.og * g.k), first))

            def image(n, _):
                x = self._plane(self.a, n, g.c, self._mul(gi, g.cg), g.hw)
                dy = self._plane(self.bm, n, g.o, self._mul(gi, g.og), g.p)

                def part(q0, _):
                    nc = self._min(c64(chunk), b.sub(c64(g.p), q0))
                    self._patches(x, scratch, q0, nc, gather=True, whole=chunk % g.ow == 0, pairs=(ci0, ci1))
                    self._gemm(False, True, g.og, width, nc, self._at(dy, q0), g.p, scratch, nc, dw, g.k,
                               accumulate=True)
                counted_loop(b, 0, g.p, chunk, part)
            counted_loop(b, 0, g.n, 1, image)
        with b.if_then(b.icmp_signed("<", ci0, ci1)):
            counted_loop(b, 0, g.groups, 1, group)
        self._free(scratch)

    # -- GEMM ------------------------------------------------------------------------------------
    def _gemm(self, ta, tb, m, n, k, a, lda, bm, ldb, c, ldc, accumulate=False):
        """C (+)= op(A) @ op(B), row-major (graphc's GEMM, or the BLAS's)."""
        sizes = [v if isinstance(v, ir.Value) else c64(v) for v in (m, n, k)]
        lds = [c64(v) if isinstance(v, int) else v for v in (lda, ldb, ldc)]
        if llvm_gemm.uses_own_gemm(self.dtype):
            fn = llvm_gemm.declare_sgemm(self.module, accumulate)
            args = [c64(int(ta)), c64(int(tb))] + sizes + [a, lds[0], bm, lds[1], c, lds[2]]
            self.b.call(fn, args + ([ir.Constant(F32, 1.0)] if accumulate else []))
            return
        fn = declare(self.module, BLAS_GEMM[self.dtype], ir.VoidType(),
                     [I32, I32, I32, I64, I64, I64, self.t, PTR, I64, PTR, I64, self.t, PTR, I64])
        trans = [ir.Constant(I32, 112 if t else 111) for t in (ta, tb)]
        self.b.call(fn, [ir.Constant(I32, 101)] + trans + sizes + [ir.Constant(self.t, 1.0), a, lds[0], bm, lds[1],
                                                                 ir.Constant(self.t, 1.0 if accumulate else 0.0), c,
                                                                 lds[2]])

    # -- memory and arithmetic -------------------------------------------------------------------
    def _malloc(self, elements):
        malloc = declare(self.module, "malloc", PTR, [I64])
        ptr = self.b.call(malloc, [c64(elements * self.size + 64)])
        failed = self.b.icmp_unsigned("==", ptr, ir.Constant(PTR, None))
        with self.b.if_then(failed, likely=False):   # (no scratch: stop loudly, never a wrong result)
            self.b.call(declare(self.module, "llvm.trap", ir.VoidType(), []), [])
        return ptr

    def _copy(self, dst, src, elements):
        memcpy = declare(self.module, "llvm.memcpy.p0.p0.i64", ir.VoidType(), [PTR, PTR, I64, I1])
        self.b.call(memcpy, [dst, src, self.b.mul(elements, c64(self.size)), ir.Constant(I1, 0)])

    def _aligned(self, ptr):
        """``ptr`` (from _malloc, 64 bytes to spare) rounded up to a multiple of 64."""
        b = self.b   # (a byte offset from ptr: provenance kept, so LLVM still vectorizes the copies)
        pad = b.and_(b.sub(c64(0), b.ptrtoint(ptr, I64)), c64(63))
        return b.gep(ptr, [pad], source_etype=ir.IntType(8))

    def _free(self, ptr):
        if ptr is not None:
            self.b.call(declare(self.module, "free", ir.VoidType(), [PTR]), [ptr])

    def _zero(self, ptr, elements):
        memset = declare(self.module, "llvm.memset.p0.i64", ir.VoidType(), [PTR, ir.IntType(8), I64, I1])
        self.b.call(memset, [ptr, ir.Constant(ir.IntType(8), 0), self.b.mul(elements, c64(self.size)),
                             ir.Constant(I1, 0)])

    def _plane(self, base, n, per_image, first, size):
        """The plane ``first`` (an i64 value) of image ``n`` in a buffer of ``per_image``
        planes of ``size`` elements each."""
        return self._at(base, self._mul(self._add(self._mul(n, per_image), first), size))
