"""Copying convolution patches (im2col) and adding them back (col2im), for ConvEmitter
(runtime/cpu/llvm_conv.py), which inherits these methods: rows of the patch matrix, row-major
or straight into graphc's GEMM's prepacked panels, one output row at a time; whole rows in
unrolled vector code with constant masks, partial ones in masked vector loops (stride 1 and
2, float32), anything else in scalar loops LLVM vectorizes where it can."""
from llvmlite import ir

from . import llvm_gemm
from .llvm_util import F32, I1, I32, I64, V16, c64, counted_loop, lane_masks, masked_load, masked_store

WHOLE_ROW_UNROLL = 128           # output rows up to this long, when whole, copy in unrolled vector code


class PatchCopies:
    """Needs ``b`` (the builder), ``module``, ``g`` (a llvm_conv.Geometry), ``t`` (the element
    type) and ``size`` (its bytes)."""

    def _patches(self, x, cols, q0, nc, gather, packed_rows=None, col0=None, ld=None, whole=False, pairs=None):
        """gather: cols[row, q - q0] = patch value of output position q (0 in the padding),
        for q in [q0, q0 + nc); else the adjoint: x[...] += cols[row, q - q0] (col2im).
        ``x`` points at one image's channels of this group; rows are (c, i, j) row-major.
        ``pairs``: (ci0, ci1), only the rows of (c, i) pairs ci0 <= c*kh + i < ci1, from row 0 of
        cols on. ``whole``: q0 and q0 + nc are multiples of ow (whole output rows only). ``ld``: the
        row-major matrix's row length (default nc). ``packed_rows``: cols is in the
        GEMM's prepacked panel layout of that many rows (llvm_gemm.prepacked_index, columns
        q - q0 + ``col0``) instead (gather only)."""
        g, b = self.g, self.b
        first_row = b.sdiv(q0, c64(g.ow))
        last_row = b.add(b.sdiv(b.sub(b.add(q0, nc), c64(1)), c64(g.ow)), c64(1))

        def channel_row(ci, _):      # ci = c * kh + i
            c, i = b.sdiv(ci, c64(g.kh)), b.srem(ci, c64(g.kh))
            plane = self._at(x, self._mul(c, g.hw))
            for j in range(g.kw):
                row = b.add(self._mul(ci if pairs is None else b.sub(ci, pairs[0]), g.kw), c64(j))
                offset = j * g.dw - g.pl
                lo, hi = g.columns_inside(offset)
                self._row_copies(plane, self._row_at(cols, row, q0, nc if ld is None else ld, packed_rows, col0), i,
                                 offset, lo, hi, q0, nc, first_row, last_row, gather, whole)
        counted_loop(b, *((0, g.cg * g.kh) if pairs is None else pairs), 1, channel_row)

    def _row_at(self, cols, row, q0, ld, packed_rows, col0):
        """start -> the pointer p with p[ow] the slot of patch ``row`` for output position
        start + ow (start the first position of an output row): row-major ``cols[row, q - q0]``
        (rows ``ld`` long),
        or, with ``packed_rows``, the prepacked panel holding that output row, column
        start - q0 + col0 (``prepacks``: the row lies in one panel, as q0 and col0 start rows
        at multiples of ow, which divides the panel width)."""
        b, width = self.b, llvm_gemm.PANEL
        if packed_rows is None:
            by_q = self._at(cols, b.sub(self._mul(row, ld), q0))
            return lambda start: self._at(by_q, start)

        def at(start):
            column = b.sub(start, q0) if col0 is None else b.add(b.sub(start, q0), col0)
            panel = b.udiv(column, c64(width))
            lane = b.sub(column, self._mul(panel, width))
            return self._at(cols, b.add(self._mul(b.add(self._mul(panel, packed_rows), row), width), lane))
        return at

    def _row_copies(self, plane, row_at, i, offset, lo, hi, q0, nc, first_row, last_row, gather, whole=False):
        """``whole``: the chunk holds only whole output rows (its ends are multiples of ow)."""
        g, b = self.g, self.b
        unrolled = whole and self.t is F32 and g.ow <= WHOLE_ROW_UNROLL and g.sw in ((1, 2) if gather else (1,))

        def out_row(oh, _):
            start = b.mul(oh, c64(g.ow))
            seg_a = b.sub(self._max(q0, start), start)                          # ow range of this chunk
            seg_b = b.sub(self._min(b.add(q0, nc), b.add(start, c64(g.ow))), start)
            h = b.add(b.mul(oh, c64(g.sh)), b.sub(b.mul(i, c64(g.dh)), c64(g.pt)))
            inside = b.icmp_unsigned("<", h, c64(g.h))
            row = row_at(start)
            if unrolled and gather:
                self._whole_row(row, self._at(plane, b.add(b.mul(h, c64(g.w)), c64(offset))), lo, hi, inside)
                return
            if unrolled:
                with b.if_then(inside):
                    self._whole_row_add(row, self._at(plane, b.add(b.mul(h, c64(g.w)), c64(offset))), lo, hi)
                return
            lo_ = self._clamp(c64(lo), seg_a, seg_b)
            hi_ = self._clamp(c64(hi), lo_, seg_b)
            if gather and g.sw in (1, 2) and self.t is F32:
                src = self._at(plane, b.add(b.mul(h, c64(g.w)), c64(offset)))
                self._masked_row(row, src, seg_a, seg_b, lo_, hi_, inside)
            elif gather:
                with b.if_else(inside) as (then, otherwise):
                    with then:
                        self._fill(row, seg_a, lo_)
                        src = self._at(plane, b.add(b.mul(h, c64(g.w)), c64(offset)))
                        self._strided(row, src, lo_, hi_, add=False)
                        self._fill(row, hi_, seg_b)
                    with otherwise:
                        self._fill(row, seg_a, seg_b)
            else:
                with b.if_then(inside):
                    src = self._at(plane, b.add(b.mul(h, c64(g.w)), c64(offset)))
                    self._strided(row, src, lo_, hi_, add=True)
        counted_loop(b, first_row, last_row, 1, out_row)

    def _whole_row(self, row, src, lo, hi, inside):
        """row[ow] = src[ow * sw] if lo <= ow < hi (known here) and ``inside`` else 0, for the
        whole output row: ``_masked_row`` unrolled with its masks constants."""
        b, sw, ow = self.b, self.g.sw, self.g.ow
        zero = ir.Constant(V16, [0.0] * 16)
        align = ir.Constant(I32, 4)
        i1x16, i32x16 = ir.VectorType(I1, 16), ir.VectorType(I32, 16)

        def store(value, v):
            lanes = [v + l < ow for l in range(16)]
            if all(lanes):
                b.store(value, self._at(row, c64(v)), align=4)
            else:
                b.call(masked_store(self.module), [value, self._at(row, c64(v)), align, ir.Constant(i1x16, lanes)])

        with b.if_else(inside) as (then, otherwise):
            with then:
                for v in range(0, ow, 16):
                    parts = []
                    for part in range(sw):   # source lane s holds output lane v + (16 part + s) / sw
                        lanes = [s % sw == 0 and lo <= v + (16 * part + s) // sw < hi for s in range(16)]
                        at = self._at(src, c64(v * sw + 16 * part))
                        parts.append(zero if not any(lanes) else
                                     b.call(masked_load(self.module), [at, align, ir.Constant(i1x16, lanes), zero]))
                    value = parts[0] if sw == 1 else b.shuffle_vector(parts[0], parts[1],
                                                                        ir.Constant(i32x16, list(range(0, 32, 2))))
                    store(value, v)
            with otherwise:
                for v in range(0, ow, 16):
                    store(zero, v)

    def _whole_row_add(self, row, dst, lo, hi):
        """dst[ow] += row[ow] for ow in [lo, hi) (known here; stride 1): col2im's adds for a
        whole output row, unrolled, masked where the range does not fill a vector."""
        b = self.b
        zero = ir.Constant(V16, [0.0] * 16)
        align = ir.Constant(I32, 4)
        for v in range(lo - lo % 16, hi, 16):
            lanes = [lo <= v + l < hi for l in range(16)]
            mask = ir.Constant(ir.VectorType(I1, 16), lanes)
            at_dst, at_row = self._at(dst, c64(v)), self._at(row, c64(v))
            if all(lanes):
                total = b.fadd(b.load(at_dst, typ=V16, align=4), b.load(at_row, typ=V16, align=4))
                b.store(total, at_dst, align=4)
            else:
                total = b.fadd(b.call(masked_load(self.module), [at_dst, align, mask, zero]),
                               b.call(masked_load(self.module), [at_row, align, mask, zero]))
                b.call(masked_store(self.module), [total, at_dst, align, mask])

    def _masked_row(self, row, src, seg_a, seg_b, lo, hi, inside):
        """row[ow] = src[ow * sw] if lo <= ow < hi and ``inside`` else 0, for ow in [seg_a, seg_b)
        (sw 1 or 2): 16 lanes at a time, masked loads and stores (no scalar tail; masked-off
        lanes of src are not read, so it may point before the plane). At stride 2 two vectors
        of src are loaded (their odd lanes masked off) and their even lanes shuffled together."""
        b, sw = self.b, self.g.sw
        zero = ir.Constant(V16, [0.0] * 16)
        align = ir.Constant(I32, 4)
        every = b.sext(inside, I64)   # (all ones when inside)
        i32x16 = ir.VectorType(I32, 16)

        def below(lanes, count):   # <16 x i1>: lanes[l] < count
            splat = b.insert_element(ir.Constant(i32x16, None), b.trunc(count, I32), ir.Constant(I32, 0))
            splat = b.shuffle_vector(splat, splat, ir.Constant(i32x16, [0] * 16))
            return b.icmp_signed("<", ir.Constant(i32x16, lanes), splat)

        def vector(v, _):
            (store,) = lane_masks(b, b.sub(seg_b, v), 1)
            parts = []
            for part in range(sw):   # source lane s of this part holds output lane (16 part + s) / sw
                lanes = [(16 * part + s) // sw if s % sw == 0 else 1 << 20 for s in range(16)]
                load = b.and_(below(lanes, b.and_(b.sub(hi, v), every)), b.not_(below(lanes, b.sub(lo, v))))
                at = self._at(src, b.add(self._mul(v, sw), c64(16 * part)))
                parts.append(b.call(masked_load(self.module), [at, align, load, zero]))
            value = parts[0] if sw == 1 else b.shuffle_vector(parts[0], parts[1],
                                                                ir.Constant(i32x16, list(range(0, 32, 2))))
            b.call(masked_store(self.module), [value, self._at(row, v), align, store])
        counted_loop(b, seg_a, seg_b, 16, vector)

    def _strided(self, row, plane, lo, hi, add):
        """gather: row[ow] = plane[ow * sw]; else plane[ow * sw] += row[ow]; ow in [lo, hi)."""
        b, sw = self.b, self.g.sw

        def element(ow, _):
            inner, outer = self._at(plane, b.mul(ow, c64(sw))), self._at(row, ow)
            if add:
                b.store(b.fadd(b.load(inner, typ=self.t), b.load(outer, typ=self.t)), inner)
            else:
                b.store(b.load(inner, typ=self.t), outer)
        counted_loop(b, lo, hi, 1, element)

    def _fill(self, row, lo, hi):
        zero = ir.Constant(self.t, 0.0)

        def element(ow, _):
            self.b.store(zero, self._at(row, ow))
        counted_loop(self.b, lo, hi, 1, element)

    # -- index arithmetic ------------------------------------------------------------------------
    def _at(self, ptr, index):
        return self.b.gep(ptr, [index], source_etype=self.t)

    def _mul(self, v, k):
        return self.b.mul(v, k if isinstance(k, ir.Value) else c64(k))

    def _add(self, x, y):
        return self.b.add(x, y)

    def _min(self, x, y):
        return self.b.select(self.b.icmp_signed("<", x, y), x, y)

    def _max(self, x, y):
        return self.b.select(self.b.icmp_signed(">", x, y), x, y)

    def _clamp(self, v, lo, hi):
        return self._min(self._max(v, lo), hi)
