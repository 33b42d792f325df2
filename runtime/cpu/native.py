"""Native kernels for the CPU: lower each kernel, check that this backend renders all of
it, render each into an LLVM module of its own, compile the modules (each cached on disk
under its kernel's structure) and link them into one engine. Kernels that compute the same function of their
parameter table (``structure_key``: N identical layers) share one function: each distinct
kernel is built, optimized and compiled once.

A kernel the lowering cannot express (gather, integer matmul, ...) or that holds an op
without an entry in this backend's lowering table (llvm_ops.ELEMENTWISE; integer power)
raises ``Unsupported`` before anything is rendered, and is left to the numpy reference,
one kernel at a time, so every graph runs.
"""
import ctypes
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import kernel as K
from . import llvm_conv, llvm_gemm, llvm_math, work_pool
from .llvm_codegen import KernelBuilder, gemm_share
from .llvm_compile import new_module
from .llvm_jit import JitModule, LazyModule, blas_available, codegen_version, single_threaded_blas
from .llvm_ops import ELEMENTWISE, REDUCTIONS, ScalarOps

KERNEL_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
# (thresholds measured against graphc's native pool, whose handoff costs about a microsecond)
SHARE_WORK = 1 << 13           # estimated element operations of the smallest share worth handing out
PARALLEL_WORK = 2 * SHARE_WORK  # element operations from which a kernel is shared
PARALLEL_GEMM_WORK = 1 << 19   # multiply-adds from which a GEMM is shared (below, packing twice costs more)
SMALL_PRODUCTS_SLOWER = 4      # batched small products run at about 1/4 of one big GEMM's rate: shared sooner
SHARES_PER_CORE = 4            # the most shares of a row or elementwise kernel, per core
CORES = work_pool.CORES
_pool = None
_pool_lock = threading.Lock()


def _threads():
    """Python threads for shares of kernels that call OpenBLAS (one pool per process, made on
    first use by any thread; every other kernel's shares run on work_pool)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="graphc",
                                           initializer=single_threaded_blas)
    return _pool


class NativeFunction:
    """A JIT-compiled kernel. Its parameter table lives as long as the kernel: fixed
    buffers (arena regions, constants) are written into it once, the others (feeds,
    variables, fetched results) before each call. A large kernel's outer loop is split into
    shares that graphc's threads (work_pool) claim one at a time."""

    def __init__(self, kernel, constants, fn, by_columns=False, parts=None):
        """``by_columns``: ``fn`` takes a range of the output's columns, not rows (see
        gemm_by_columns); ``parts``: how many shares threads split it into (``share_count``,
        when the caller knows it already)."""
        self.kernel, self.fn = kernel, fn
        self.constants = dict(constants)     # param index -> array travelling with the kernel
        self.sources = [None if i in constants else node for i, node in enumerate(kernel.sources[:-1])]
        self.table = (ctypes.c_void_p * len(kernel.params))()
        self.address = ctypes.addressof(self.table)
        for i, array in self.constants.items():
            self.table[i] = array.ctypes.data
        self.extent = kernel.loops[0].extent if kernel.loops else 1
        self.fn_address = ctypes.cast(fn, ctypes.c_void_p).value
        g = kernel.gemm
        self.parts = share_count(kernel) if parts is None else parts
        self.cuts = [self.extent * i // self.parts for i in range(self.parts + 1)]
        if by_columns:   # column shares in whole micro-tile widths
            self.extent = g.n
            inner = {g.n * i // CORES // 64 * 64 for i in range(1, CORES)} - {0, g.n}
            self.cuts = [0] + sorted(c for c in inner if c < g.n) + [g.n]
            self.parts = len(self.cuts) - 1
        # shares run on graphc's native pool, the calling thread's included, unless the kernel
        # calls OpenBLAS, whose own threads would then compete with graphc's: those shares go
        # to Python threads set to single-threaded BLAS while the caller waits
        dtype = g.dtype if g is not None else kernel.conv.dtype if kernel.conv is not None else None
        self.on_pool = dtype is None or llvm_gemm.uses_own_gemm(dtype)
        self.shares = self._shares()

    def bind(self, slot, address):
        self.table[slot] = address

    def clone(self):
        """A twin for a run on another thread at the same time: the same compiled function
        and work split, its own parameter table and scratch buffers (a private product, the
        ones of a column sum); constants the function only reads are shared."""
        twin = object.__new__(NativeFunction)
        twin.__dict__.update(self.__dict__)
        twin.constants = {i: array.copy() if isinstance(self.kernel.sources[i], K.OwnBuffer) else array
                          for i, array in self.constants.items()}
        twin.table = (ctypes.c_void_p * len(self.kernel.params))()
        twin.address = ctypes.addressof(twin.table)
        for i, array in twin.constants.items():
            twin.table[i] = array.ctypes.data
        twin.shares = twin._shares()
        return twin

    def whole(self):
        """The call (work_pool's row) of the whole kernel on one thread."""
        return (self.fn_address, self.address, 0, self.extent)

    def share_calls(self):
        """The calls of its shares (one, the whole kernel, when it is not shared)."""
        return [(self.fn_address, self.address, lo, hi) for lo, hi in zip(self.cuts[:-1], self.cuts[1:])]

    def _shares(self):
        return work_pool.CallList(self.share_calls()) if self.parts > 1 and self.on_pool else None

    def call(self):
        if self.parts == 1:
            self.fn(self.address, 0, self.extent)
        elif self.shares is not None:
            work_pool.run(self.shares)
        else:   # (a kernel calling OpenBLAS: see on_pool)
            jobs = [_threads().submit(self.fn, self.address, lo, hi) for lo, hi in zip(self.cuts[:-1], self.cuts[1:])]
            for job in jobs:
                job.result()

    def run(self, env, out):
        """Run with the buffers of ``env`` (node -> array) as inputs, writing ``out``."""
        for i, node in enumerate(self.sources):
            if node is not None:
                self.table[i] = env[node].ctypes.data
        self.table[len(self.sources)] = out.ctypes.data
        self.call()
        return out


def share_count(kernel):
    """How many shares graphc's threads split ``kernel`` into (1: it runs whole on the calling
    thread). A kernel is shared when it has enough work to pay for a handoff and a split that
    is safe (an elementwise or row kernel), or is a GEMM that shares; a GEMM in one share per
    core (each share packs its operand), other kernels in up to SHARES_PER_CORE per core of
    at least SHARE_WORK each, so a thread the OS has taken away holds up only a small one."""
    extent = kernel.loops[0].extent if kernel.loops else 1
    g = kernel.gemm
    if kernel.conv is not None:   # shares of images (of output channels for a filter gradient)
        return min(CORES, extent) if llvm_conv.work(kernel.conv) >= PARALLEL_GEMM_WORK else 1
    if g is None:
        work = _work(kernel) if K.split_safe(kernel) else 0
        if work < PARALLEL_WORK:
            return 1
        return max(2, min(CORES * SHARES_PER_CORE, extent, work // SHARE_WORK)) if CORES > 1 and extent > 1 else 1
    share, items = gemm_share(kernel), len(g.batch)
    work = g.m * g.n * g.k * items * (SMALL_PRODUCTS_SLOWER if share and share[0] == "items" else 1)
    shared = share is not None and (work >= PARALLEL_GEMM_WORK or g.m * g.n * items >= PARALLEL_WORK)
    return min(CORES, extent) if shared else 1


def _work(kernel):
    """Estimated element operations of one call: the output's elements plus, per reduction,
    its evaluations (one per value of the variables it depends on: a row's mean is computed
    once per row, not once per output element) times the elements it reads."""
    reductions = K.reductions_of(kernel.value)
    extent = {v: v.extent for v in kernel.loops}
    extent.update((v, v.extent) for r in reductions for v in r.rvars)
    total = int(np.prod([v.extent for v in kernel.loops]))
    for r in reductions:
        evaluations = int(np.prod([extent[v] for v in K.free_vars(r) if v in extent]))
        total += evaluations * int(np.prod([v.extent for v in r.rvars]))
    return total


def _kernel_module(kernel, columns, shared=None):
    """(symbol, LazyModule) of a module holding ``kernel``'s function alone. Symbol and cache
    key come from the kernel's structure and the code generator's version, so the same kernel
    has the same module in every program (one disk-cache entry), and a hit renders no IR.
    ``shared``: the parameters stored at the output's address, where the others overlap none
    of it (``KernelBuilder``); None where that is not known."""
    # (a product's module calls graphc's GEMM when the host has one: loaded and its symbol
    # registered here, before any object that calls it is linked, a hit or not)
    product = kernel.gemm or kernel.conv
    own_gemm = product is not None and llvm_gemm.uses_own_gemm(product.dtype)
    parts = ("kernel", codegen_version(), repr(K.structure_key(kernel)), repr(columns), repr(own_gemm),
             repr(shared))
    symbol = "k_" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]

    def render():
        module = new_module(symbol)
        KernelBuilder(module, kernel, symbol, ScalarOps(module, llvm_math), columns, shared).build()
        return str(module)
    return symbol, LazyModule(parts, render, unroll=False)   # (unrolling buys a kernel loop nothing measurable)


def build_native(kernel_nodes, private_products=(), sharing=None):
    """{node: NativeFunction} for the kernels that lower, and the JIT module holding them.
    Matmul kernels in ``private_products`` compute their product into a buffer of their own;
    ``sharing``: {kernel node: its inputs stored at its output's address} for the kernels whose
    other inputs overlap none of the output's memory (runtime.executor.output_sharing)."""
    lowered = K.lower_kernels(kernel_nodes, check_renderable, private_products)
    if not lowered:
        return {}, None
    work_pool.start()   # (its native code compiles on its own thread while the kernels' IR renders)
    products = any(kernel.gemm is not None or kernel.conv is not None for kernel, _ in lowered.values())
    if products:
        llvm_gemm.start()   # (compiled on its own thread while the kernels' IR is rendered)
    own = products and llvm_gemm.uses_own_gemm("float32")
    built, modules = _modules(lowered, sharing or {})
    try:   # (the GEMM's symbol is registered before anything that calls it is linked)
        jit = JitModule(list(modules.values()), before_link=_own_gemm_ready if own else None)
    except _NoOwnGemm:   # it failed to compile after all: OpenBLAS's calls instead
        built, modules = _modules(lowered, sharing or {})
        jit = JitModule(list(modules.values()))
    parts = {}   # symbol -> share_count (kernels of one structure decide alike)
    for k, _, _, symbol in built.values():
        if symbol not in parts:
            parts[symbol] = share_count(k)
    result = {node: NativeFunction(k, c, KERNEL_FN(jit.address(symbol)), columns, parts[symbol])
              for node, (k, c, columns, symbol) in built.items()}
    return result, jit


class _NoOwnGemm(Exception):
    pass


def _own_gemm_ready():
    if llvm_gemm.sgemm_symbol() is None:
        raise _NoOwnGemm()


def _modules(lowered, sharing):
    """{node: (kernel, constants, columns, symbol)} and {symbol: LazyModule} (each distinct
    kernel once)."""
    built, modules = {}, {}
    for node, (kernel, constants) in lowered.items():
        columns = gemm_by_columns(kernel)
        shared = sharing.get(node)
        if shared is not None:
            shared = tuple(i for i, source in enumerate(kernel.sources) if source is not None and source in shared)
        symbol, module = _kernel_module(kernel, columns, shared)
        modules.setdefault(symbol, module)
        built[node] = (kernel, constants, columns, symbol)
    return built, modules


def check_renderable(kernel):
    """Raise Unsupported unless this backend renders every part of ``kernel`` (its lowering
    table, the reduction combiners) and its GEMM has a library to call."""
    if (kernel.gemm is not None or kernel.conv is not None) and not blas_available():
        raise K.Unsupported("no BLAS in the process")
    K.check_supported(kernel, ELEMENTWISE, REDUCTIONS, "LLVM")


def gemm_by_columns(kernel):
    """Whether threads share the kernel by columns of its output (product and epilogue):
    a big float32 product (graphc's own GEMM) with fewer rows than columns, where a split
    by rows would have every thread pack all of B."""
    g = kernel.gemm
    return (g is not None and CORES > 1 and len(kernel.loops) == 2 and gemm_share(kernel) == ("rows", 1)
            and g.m < g.n
            and g.m * g.n * g.k >= PARALLEL_GEMM_WORK and llvm_gemm.uses_own_gemm(g.dtype))
