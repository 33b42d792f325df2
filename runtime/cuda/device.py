"""The device interface of the CUDA executor, on an NVIDIA GPU through CuPy.

Arrays are CuPy arrays; a module is compiled by NVRTC to CUBIN for the device's own
architecture (runtime/cuda/nvrtc.py) and loaded with ``cupy.RawModule``; products run
through cuBLAS (``cupy.matmul``; TF32 only when CuPy is told to use it, CUPY_TF32=1).
"""
import os
import tempfile

import numpy as np

from . import nvrtc
from .prelude import BLOCK


class CupyDevice:
    def __init__(self):
        import cupy
        self.cp = cupy
        device = cupy.cuda.Device()
        self.arch = f"sm_{device.compute_capability}"
        self.blocks = 32 * device.attributes["MultiProcessorCount"]   # enough blocks to fill every SM

    def empty(self, shape, dtype):
        return self.cp.empty(shape, dtype)

    def fill(self, array, byte):
        array.view(self.cp.uint8).fill(byte)

    def is_device_array(self, value):
        return isinstance(value, self.cp.ndarray)

    def to_device(self, array):
        return self.cp.asarray(array)

    def copy(self, array):
        return self.cp.array(array, order="C")

    def to_host(self, array):
        return self.cp.asnumpy(array) if self.is_device_array(array) else np.asarray(array)

    def copy_from_host(self, out, array):
        out.set(np.asarray(array, dtype=out.dtype, order="C"))   # (0-d stays 0-d)

    def region(self, arena, offset, shape, dtype):
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return arena[offset:offset + size].view(dtype).reshape(shape)

    def load(self, source, symbols):
        cubin, _ = nvrtc.compile_cubin(source, self.arch)
        with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as f:
            f.write(cubin)
        try:
            module = self.cp.RawModule(path=f.name)
            return {symbol: module.get_function(symbol) for symbol in symbols}
        finally:
            os.unlink(f.name)

    def launch(self, function, launch, buffers):
        grid = min(-(-launch.threads(BLOCK) // BLOCK), self.blocks)
        function((grid,), (BLOCK,), tuple(buffers))

    def gemm(self, g, buffers):
        """``buffers[g.out] = (onto +) alpha * op(A) @ op(B)`` for each batch item (cuBLAS)."""
        cp = self.cp
        a_all, b_all, c_all = (buffers[i].reshape(-1) for i in (g.a, g.b, g.out))
        onto = buffers[g.onto].reshape(-1) if g.onto is not None else None
        for a_off, b_off, c_off in g.batch:
            a = a_all[a_off:a_off + g.m * g.k].reshape((g.k, g.m) if g.trans_a else (g.m, g.k))
            b = b_all[b_off:b_off + g.k * g.n].reshape((g.n, g.k) if g.trans_b else (g.k, g.n))
            c = c_all[c_off:c_off + g.m * g.n].reshape(g.m, g.n)
            a, b = (a.T if g.trans_a else a), (b.T if g.trans_b else b)
            if onto is None and g.alpha == 1.0:
                cp.matmul(a, b, out=c)
                continue
            product = cp.matmul(a, b)
            base = onto[c_off:c_off + g.m * g.n].reshape(g.m, g.n) if onto is not None else 0
            c[...] = base + g.dtype.type(g.alpha) * product
