"""One output plane as a sum of shifted, weighted input planes, in explicit vector code: the
stride-1 convolutions with one input channel per group (depthwise ones) and their input
gradients (runtime.cpu.llvm_conv).

    dst[r, c] = sum over taps (src, w, dr, dc) of w * src[r + dr, c + dc]   (0 outside src)

A vector of 16 float32 (8 float64) output columns keeps its sum in a register across every
tap; each tap is one masked load (its lanes outside the source row, or a whole row outside
the source plane, read nothing) and one FMA; the sum is stored once.
"""
from llvmlite import ir

from .llvm_util import I1, I32, I64, PTR, c64, counted_loop, declare


class PlaneSum:
    """Emits plane sums at builder ``b`` for elements of type ``t`` (float or double)."""

    def __init__(self, b, module, t):
        self.b, self.module, self.t = b, module, t
        self.lanes = 16 if isinstance(t, ir.FloatType) else 8
        self.vt = ir.VectorType(t, self.lanes)
        self.mt = ir.VectorType(I1, self.lanes)
        name = "f32" if self.lanes == 16 else "f64"
        self.load = declare(module, f"llvm.masked.load.v{self.lanes}{name}.p0", self.vt, [PTR, I32, self.mt, self.vt])
        self.store = declare(module, f"llvm.masked.store.v{self.lanes}{name}.p0", ir.VoidType(),
                             [self.vt, PTR, I32, self.mt])
        self.fma = declare(module, f"llvm.fma.v{self.lanes}{name}", self.vt, [self.vt] * 3)
        self.index = ir.Constant(ir.VectorType(I64, self.lanes), list(range(self.lanes)))
        self.size = 4 if self.lanes == 16 else 8

    def emit(self, dst, rows, cols, taps, src_rows, src_cols):
        """``taps``: [(src pointer, weight value, dr, dc)] with int dr, dc; rows, cols and the
        source's sizes are ints."""
        b = self.b
        weights = [self._splat(w) for _, w, _, _ in taps]
        zero = ir.Constant(self.vt, [0.0] * self.lanes)

        def row(r, _):
            def block(c0, _):
                out = b.gep(dst, [b.add(b.mul(r, c64(cols)), c0)], source_etype=self.t)
                columns = self._between(c64(0), b.sub(c64(cols), c0))
                acc = zero
                for (src, _, dr, dc), wv in zip(taps, weights):
                    sr = b.add(r, c64(dr))
                    inside = b.icmp_unsigned("<", sr, c64(src_rows))
                    first = b.sub(c64(-dc), c0)                               # lanes before the row
                    last = self._min(b.sub(c64(src_cols - dc), c0), b.sub(c64(cols), c0))
                    last = b.select(inside, last, c64(0))
                    ptr = b.gep(src, [b.add(b.mul(b.select(inside, sr, c64(0)), c64(src_cols)), b.add(c0, c64(dc)))],
                                source_etype=self.t)
                    v = b.call(self.load, [ptr, ir.Constant(I32, self.size), self._between(first, last), zero])
                    acc = b.call(self.fma, [wv, v, acc])
                b.call(self.store, [acc, out, ir.Constant(I32, self.size), columns])
            counted_loop(b, 0, cols, self.lanes, block)
        counted_loop(b, 0, rows, 1, row)

    def _between(self, first, last):
        """Lanes l with first <= l < last."""
        b = self.b
        lo, hi = self._splat_index(first), self._splat_index(last)
        return b.and_(b.icmp_signed(">=", self.index, lo), b.icmp_signed("<", self.index, hi))

    def _splat(self, x):
        b = self.b
        v = b.insert_element(ir.Constant(self.vt, ir.Undefined), x, ir.Constant(I32, 0))
        return b.shuffle_vector(v, ir.Constant(self.vt, ir.Undefined), ir.Constant(ir.VectorType(I32, self.lanes), [0] * self.lanes))

    def _splat_index(self, x):
        b = self.b
        vt = ir.VectorType(I64, self.lanes)
        v = b.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(I32, 0))
        return b.shuffle_vector(v, ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(I32, self.lanes), [0] * self.lanes))

    def _min(self, x, y):
        return self.b.select(self.b.icmp_signed("<", x, y), x, y)
