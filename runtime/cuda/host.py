"""The CUDA backend on the host, for tests without a GPU: device ``"cuda-host"``.

The program runs through the CUDA executor (runtime/cuda/executor.py) on a device whose
arrays are numpy arrays: the module's CUDA C is compiled as C++ with ``GRAPHC_HOST``
defined (the prelude then runs each kernel on one block of 64 host threads, two warps,
with __syncthreads, shared memory and warp shuffles emulated; the grid is one block, so
grid-stride loops take every row and element in turn) and each kernel is called through
ctypes; a GEMM runs through numpy. So the executor, and the index arithmetic, scalar
semantics, casts, block reductions across threads, barriers and stashes of the generated
code, are tested against the op definitions on any machine. What this cannot test: the
launch configuration on a real grid, the GPU's memory model beyond the barriers, the
CuPy calls (runtime/cuda/device.py) and speed.
"""
import contextlib
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading

import numpy as np

from . import kernels

_built = {}   # (source hash, threads) -> loaded library (kept for the process)
# the emulated block's threads and barriers, compiled once per process (the modules call it)
HOST_RUNTIME = r"""
#include <barrier>
#include <thread>
#include <vector>
struct graphc_dim3 { unsigned x, y, z; };
thread_local graphc_dim3 threadIdx = {0, 0, 0};
static std::barrier<> *block_barrier, *warp_barrier[2];
extern "C" void g_block_sync() { block_barrier->arrive_and_wait(); }
extern "C" void g_warp_sync() { warp_barrier[threadIdx.x >> 5]->arrive_and_wait(); }
extern "C" void g_run_block(void (*kernel)(void **), void **args, unsigned threads) {
  std::barrier<> block(threads), warp0(threads < 32 ? threads : 32), warp1(32);
  block_barrier = &block;
  warp_barrier[0] = &warp0;
  warp_barrier[1] = &warp1;
  std::vector<std::thread> team;
  for (unsigned t = 0; t < threads; ++t)
    team.emplace_back([t, kernel, args] { threadIdx.x = t; kernel(args); });
  for (auto &t : team) t.join();
}
"""
THREADS = 64  # threads of the emulated block: two warps, so block reductions cross warps (1: one thread)
# GRAPHC_CUDA_HOST_CUBIN="sm_80,sm_90": every module run here is also compiled by NVRTC for
# those architectures (the fuzzer's --cubin), and what ptxas reported is counted here
CUBIN_ARCHES = tuple(a for a in os.environ.get("GRAPHC_CUDA_HOST_CUBIN", "").split(",") if a)
cubin_stats = {"modules": 0, "kernels": 0, "max_registers": 0, "spilling_kernels": 0}


def _gxx(source, flags, mode=ctypes.DEFAULT_MODE, std="c++17"):
    """``source`` compiled by g++ into a shared library, loaded."""
    folder = tempfile.mkdtemp(prefix="graphc-cuda-host-")
    src, lib = os.path.join(folder, "module.cpp"), os.path.join(folder, "module.so")
    with open(src, "w") as f:
        f.write(source)
    try:
        subprocess.run(["g++", f"-std={std}", "-O1", "-pthread", "-ffp-contract=off", "-fwrapv", "-shared", "-fPIC",
                        "-w", *flags, src, "-o", lib], check=True, capture_output=True, text=True)
        return ctypes.CDLL(lib, mode=mode)
    finally:
        shutil.rmtree(folder, ignore_errors=True)   # (a loaded library needs no file)


def _compile(source):
    if "runtime" not in _built:   # its symbols serve every module loaded after it
        _built["runtime"] = _gxx(HOST_RUNTIME, [], mode=ctypes.RTLD_GLOBAL, std="c++20")
    key = (hashlib.sha256(source.encode()).hexdigest(), THREADS)
    if key not in _built:
        _built[key] = _gxx(source, ["-DGRAPHC_HOST", f"-DHOST_THREADS={THREADS}"])
    return _built[key]


def _compile_cubin(source, symbols):
    from . import nvrtc
    cubin_stats["modules"] += 1
    for arch in CUBIN_ARCHES:
        _, log = nvrtc.compile_cubin(source, arch)
        found = nvrtc.reports(log)
        missing = set(symbols) - set(found)
        if missing:
            raise nvrtc.CompileError(f"ptxas reported no {sorted(missing)} for {arch}:\n{log}")
        for name in symbols:
            r = found[name]
            cubin_stats["kernels"] += 1
            cubin_stats["max_registers"] = max(cubin_stats["max_registers"], r.registers)
            cubin_stats["spilling_kernels"] += bool(r.spill_stores or r.spill_loads)


class HostDevice:
    """The device interface of runtime/cuda/executor.py, on the host. A capture records
    every launch, GEMM and copy (with the buffers it was given) instead of running it,
    and a replay runs the record, as a CUDA graph does: so a replayed run that depended
    on anything but the captured addresses gives wrong numbers here too."""

    captures = True

    class CaptureFailed(Exception):
        """(never raised on the host)"""

    def __init__(self):
        self._capturing = threading.local()   # .record: the calls recorded while this thread captures

    def ordered(self):
        return contextlib.nullcontext()

    def synchronize(self):
        """(every call has finished when it returns)"""

    def _do(self, call):
        record = getattr(self._capturing, "record", None)
        if record is None:
            call()
        else:
            record.append(call)

    def capture(self, fn):
        """(the record, fn's result): ``fn``'s launches, GEMMs and copies, recorded."""
        self._capturing.record = record = []
        try:
            result = fn()
            return tuple(record), result
        finally:
            self._capturing.record = None

    def replay(self, record):
        for call in record:
            call()

    def copy_into(self, out, array):
        self._do(lambda: np.copyto(out, array))

    def view(self, compute, inputs):
        """``compute(inputs)``: a view of an input, or (a reshape of a broadcast, say) a copy,
        which a capture records like any other copy: made again from the inputs at replay."""
        value = compute(inputs)
        if getattr(self._capturing, "record", None) is None or any(
                np.shares_memory(value, x) for x in inputs if isinstance(x, np.ndarray)):
            return value
        out = np.empty_like(value)
        self._do(lambda: np.copyto(out, compute(inputs)))
        return out

    def empty(self, shape, dtype):
        return np.empty(shape, dtype)

    def fill(self, array, byte):
        self._do(lambda: array.view(np.uint8).fill(byte))

    def is_device_array(self, value):
        return False     # (every array here is a host array: the executor keeps uploaded copies)

    def to_device(self, array):
        return np.array(array, order="C")

    def copy(self, array):
        return np.array(array, order="C")

    def to_host(self, array):
        return np.asarray(array)

    def copy_from_host(self, out, array):
        np.copyto(out, array)

    def region(self, arena, offset, shape, dtype):
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return arena[offset:offset + size].view(dtype).reshape(shape)

    def load(self, source, symbols):
        if CUBIN_ARCHES:
            _compile_cubin(source, symbols)
        library = _compile(source)
        functions = {}
        for symbol in symbols:
            functions[symbol] = getattr(library, f"launch_{symbol}")   # (a block of host threads)
            functions[symbol].restype = None
        return functions

    def launch(self, function, launch, buffers):
        args = (ctypes.c_void_p * len(buffers))(*[b.ctypes.data for b in buffers])   # (all C-contiguous)
        self._do(lambda: function(args))

    def gemm(self, g, buffers, scratch=None):
        self._do(lambda: self._gemm(g, buffers))

    def _gemm(self, g, buffers):
        """``buffers[g.out] = (onto +) alpha * op(A) @ op(B)`` for each batch item."""
        a_all, b_all, c_all = (buffers[i].reshape(-1) for i in (g.a, g.b, g.out))
        onto = buffers[g.onto].reshape(-1) if g.onto is not None else None
        for a_off, b_off, c_off in g.batch:
            a = a_all[a_off:a_off + g.m * g.k].reshape((g.k, g.m) if g.trans_a else (g.m, g.k))
            b = b_all[b_off:b_off + g.k * g.n].reshape((g.n, g.k) if g.trans_b else (g.k, g.n))
            product = g.dtype.type(g.alpha) * ((a.T if g.trans_a else a) @ (b.T if g.trans_b else b))
            block = slice(c_off, c_off + g.m * g.n)
            base = onto[block].copy() if onto is not None else 0
            c_all[block] = (base + product.reshape(-1)).astype(g.dtype)


DEVICE = HostDevice()


def executor(graph, plan, poison=False, inplace=None, updates=()):
    return kernels.executor(DEVICE, graph, plan, poison, updates)
