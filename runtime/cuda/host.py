"""The CUDA backend's kernels run on the host, for tests without a GPU.

The CUDA C of a program (runtime.cuda.render) is compiled as C++ with ``GRAPHC_HOST``
defined (the prelude then gives one block of one thread: grid-stride and block-strided
loops run every iteration in turn, a block reduction is the thread's own value) and each
kernel is called through ctypes on the executor's numpy buffers; a GEMM runs through
numpy first. So the index arithmetic, scalar semantics, casts, reductions' identities,
combiners and stashes of the generated code are tested against the op definitions on any
machine. What this cannot test is the parallel part: warp shuffles, shared memory and the
launch configuration run only on a GPU.

It is a backend like any other (``build``, no bound run), used as the device
``"cuda-host"`` by tests (runtime.backends.TEST_BACKENDS).
"""
import ctypes
import hashlib
import os
import subprocess
import tempfile

import numpy as np

from .render import lower_and_render

_built = {}   # source hash -> loaded library (kept for the process)


def _compile_host(source):
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    if key not in _built:
        folder = tempfile.mkdtemp(prefix="graphc-cuda-host-")
        src, lib = os.path.join(folder, "module.cpp"), os.path.join(folder, "module.so")
        with open(src, "w") as f:
            f.write(source)
        subprocess.run(["g++", "-std=c++17", "-O1", "-ffp-contract=off", "-fwrapv", "-DGRAPHC_HOST", "-shared",
                        "-fPIC", "-w", src, "-o", lib], check=True, capture_output=True, text=True)
        _built[key] = ctypes.CDLL(lib)
    return _built[key]


def _gemm(g, buffers):
    """``buffers[g.out] (+)= alpha * op(A) @ op(B)`` for each batch item, in numpy."""
    a_all, b_all, c_all = buffers[g.a].reshape(-1), buffers[g.b].reshape(-1), buffers[g.out].reshape(-1)
    onto = buffers[g.onto].reshape(-1) if g.onto is not None else None
    for a_off, b_off, c_off in g.batch:
        a = a_all[a_off:a_off + g.m * g.k].reshape((g.k, g.m) if g.trans_a else (g.m, g.k))
        b = b_all[b_off:b_off + g.k * g.n].reshape((g.n, g.k) if g.trans_b else (g.k, g.n))
        product = g.dtype.type(g.alpha) * ((a.T if g.trans_a else a) @ (b.T if g.trans_b else b))
        block = slice(c_off, c_off + g.m * g.n)
        base = onto[block].copy() if onto is not None else 0
        c_all[block] = (base + product.reshape(-1)).astype(g.dtype)


class HostKernel:
    def __init__(self, kernel, constants, fn):
        self.kernel, self.constants, self.fn = kernel, constants, fn
        self.sources = [None if i in constants else s for i, s in enumerate(kernel.sources[:-1])]

    def clone(self):
        return HostKernel(self.kernel, {i: a.copy() for i, a in self.constants.items()}, self.fn)

    def run(self, env, out):
        buffers = [self.constants[i] if node is None else np.ascontiguousarray(env[node])
                   for i, node in enumerate(self.sources)] + [out]
        if self.kernel.gemm is not None:
            _gemm(self.kernel.gemm, buffers)
        if self.fn is not None:
            self.fn(*[ctypes.c_void_p(b.ctypes.data) for b in buffers])
        return out


def build(kernel_nodes, private_products=()):
    lowered, source, launches = lower_and_render(kernel_nodes, private_products)
    if not lowered:
        return {}, None
    library = _compile_host(source)
    kernels = {}
    for node, (symbol, kernel, constants) in lowered.items():
        fn = getattr(library, symbol) if launches[symbol].symbol else None
        if fn is not None:
            fn.restype = None
        kernels[node] = HostKernel(kernel, constants, fn)
    return kernels, HostCode(source)


class HostCode:
    """The module's CUDA C source (``Compiled.llvm_ir`` reads ``source``/``optimized``)."""

    def __init__(self, source):
        self.source = self.optimized = source


BoundRun = None   # every run takes the executor's step-by-step path
