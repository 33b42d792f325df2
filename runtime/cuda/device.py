"""The device interface of the CUDA executor, on an NVIDIA GPU through CuPy.

Arrays are CuPy arrays; a module is compiled by NVRTC to CUBIN for the device's own
architecture (runtime/cuda/nvrtc.py) and loaded with ``cupy.RawModule``; products run
through cuBLAS (``cupy.matmul``; TF32 only when CuPy is told to use it, CUPY_TF32=1).
"""
import contextlib
import os
import tempfile
import threading

import numpy as np

from . import nvrtc
from .prelude import BLOCK


class CupyDevice:
    """Every call goes to one stream of the device's own (``ordered``: a blocking stream, so
    work on the default stream, e.g. CuPy's copies of the results, waits for it), one run at
    a time; a run is captured on it as a CUDA graph (runtime/cuda/replay.py)."""

    captures = True

    class CaptureFailed(Exception):
        """The driver refused to capture the run (the program keeps walking its plan)."""

    def __init__(self):
        import cupy
        self.cp = cupy
        self.stream = cupy.cuda.Stream(non_blocking=False)
        self._lock = threading.RLock()
        device = cupy.cuda.Device()
        self.arch = f"sm_{device.compute_capability}"
        self.blocks = 32 * device.attributes["MultiProcessorCount"]   # enough blocks to fill every SM

    @contextlib.contextmanager
    def ordered(self):
        """One run at a time on the stream (so a capture records only its own run's work)."""
        with self._lock, self.stream:
            yield

    def capture(self, fn):
        """((the CUDA graph, the memory pool of what was allocated meanwhile), fn's result).
        Allocations during the capture come from a pool of the graph's own, kept while the
        graph lives, so no address it uses is handed to anything else."""
        cp, pool = self.cp, self.cp.cuda.MemoryPool()
        try:
            with cp.cuda.using_allocator(pool.malloc):
                self.stream.begin_capture()
                try:
                    result = fn()
                finally:
                    graph = self.stream.end_capture()
        except Exception as e:   # (a refused capture, e.g. another thread used the default stream)
            raise self.CaptureFailed(f"{type(e).__name__}: {e}") from e
        return (graph, pool), result

    def replay(self, captured):
        captured[0].launch(stream=self.stream)

    def synchronize(self):
        """Wait for the stream's work (a traced run times each kernel between two of these)."""
        self.stream.synchronize()

    def view(self, compute, inputs):
        """``compute(inputs)`` on CuPy arrays: a view, or a copy (a kernel on the stream, so a
        capture records it)."""
        return compute(inputs)

    def copy_into(self, out, array):
        if self.is_device_array(array):
            self.cp.copyto(out, array)
        else:
            out.set(np.asarray(array, dtype=out.dtype, order="C"))

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

    def gemm(self, g, buffers, scratch):
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
            product = scratch.get("product")   # (the kernel's own: no allocation per run, none in a capture)
            if product is None:
                product = scratch["product"] = cp.empty((g.m, g.n), g.dtype)
            cp.matmul(a, b, out=product)
            cp.multiply(product, g.dtype.type(g.alpha), out=product)
            if onto is not None:
                cp.add(onto[c_off:c_off + g.m * g.n].reshape(g.m, g.n), product, out=c)
            else:
                cp.copyto(c, product)
