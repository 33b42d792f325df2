"""Renders kernel IR (runtime.kernel) as CUDA C: the sibling of the LLVM renderer.

Each kernel becomes ``extern "C" __global__ void name(T0 *p0, ..., Tout *out)``, its
parameters in the kernel's order (the output last), and a :class:`Launch` saying how to
start it:

- ``elementwise`` (no reduction): a grid-stride loop over the flat output index, each
  thread computing whole output elements;
  where the output and the inputs read at its index are aligned, VECTOR_BYTES per load
  and store (``g_vec``), the plain loop taking the rest;
- a row kernel (softmax, layer_norm, a reduction): the loops that the reductions'
  indices use are the *row*; each reduction is computed once per row by the row's
  threads (accumulating in the kernel IR's accumulator type, float64 for float32 sums),
  then the row's outputs. How the threads share a row (a block, a warp, 32 rows per
  block, two stages) is chosen per kernel: runtime/cuda/rows.py. A value a sum reads
  and the output reads again (softmax's exp, ``Kernel.stashes``) is stored by the
  reduction's loop and read back; it, and the inputs several passes over the row read,
  stay in shared memory where the row fits (runtime/cuda/row_cache.py).

A reduction whose index depends on another reduction's variables runs as a loop inside
each thread. A kernel with a GEMM renders only its epilogue (nothing when the output is
the product as computed): the product runs through cuBLAS first. Index arithmetic is
32-bit unless a buffer or loop needs 64 bits.
"""
import numpy as np

from .. import kernel as K
from .cuda_ops import ELEMENTWISE, REDUCTIONS, truth
from .launch import Launch
from .prelude import PRELUDE
from .rows import RowKernels

C_TYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int32): "int",
          np.dtype(np.int64): "i64", np.dtype(np.bool_): "bool"}
VECTOR_BYTES = 16     # an elementwise kernel's contiguous buffers move 16 bytes per load and store


def check_renderable(kernel):
    """Raise Unsupported unless this backend renders every part of ``kernel``."""
    if kernel.conv is not None:
        raise K.Unsupported("no CUDA convolution kernel yet (it runs by the reference)")
    K.check_supported(kernel, ELEMENTWISE, REDUCTIONS, "CUDA", dtypes=C_TYPE, nodes=(K.Random, K.Gathered, K.Kernel))
    if kernel.accumulate and np.dtype(kernel.params[-1][1]) == np.bool_:
        raise K.Unsupported("no CUDA atomic add of bool")


def lower_and_render(kernel_nodes, private_products=()):
    """Lower every kernel node that this backend renders; returns ({node: (symbol, Kernel,
    constants)}, the module's CUDA C source, {symbol: Launch}). Nodes it cannot express
    (runtime.kernel.Unsupported) are left out: the executor runs them by the reference."""
    lowered = {node: (f"k{i}", kernel, constants) for i, (node, (kernel, constants))
               in enumerate(K.lower_kernels(kernel_nodes, check_renderable, private_products).items())}
    source, launches = render_module({symbol: kernel for symbol, kernel, _ in lowered.values()})
    return lowered, source, launches


def render_module(kernels):
    """CUDA C source of ``kernels`` ({symbol: Kernel}) and their Launches ({symbol: Launch})."""
    parts, launches = [PRELUDE], {}
    for symbol, kernel in kernels.items():
        texts, launch = KernelRenderer(kernel, symbol).render()
        launches[symbol] = launch
        parts.extend(texts)
    return "\n".join(parts), launches


def _is_product_only(kernel):
    value, out = kernel.value, len(kernel.params) - 1
    return isinstance(value, K.Load) and value.param == out and value.index is kernel.store_index


class KernelRenderer(RowKernels):
    """One kernel's CUDA C: ``render()`` gives its functions' texts and its Launch."""

    def __init__(self, kernel, symbol):
        self.kernel, self.symbol = kernel, symbol
        sizes = [int(np.prod(shape)) for _, _, shape in kernel.params]
        sizes.append(int(np.prod([v.extent for v in kernel.loops])))
        self.idx = "int" if max(sizes, default=0) < 2 ** 31 - 1 else "i64"
        self.lines, self.depth = [], 1
        self.scopes = [{}]          # expression -> C name, one dict per block scope
        self.names = {}             # Var -> C name
        self.counter = 0
        self.warp = False           # a row per warp (else per block)
        self.columns = False        # a block per 32 rows, each warp taking every 8th element of each
        self.checks = any(K.gathered_in(i) for i in
                          [kernel.store_index] + [e.index for e in K.walk(kernel.value) if isinstance(e, K.Load)])
        self.scratch = []           # (C name, C type) of the buffers two stages pass partials in
        self.functions = []         # the texts of the functions rendered so far
        self.cache = None           # a row kernel's RowCache (row_cache.py)
        self.cache_passes = {}      # its reductions -> their pass numbers
        self.passes = []            # the loops open: (pass, row position, values to keep) or None
        self.flushing = False

    # -- output -------------------------------------------------------------------------
    def render(self):
        k = self.kernel
        if k.gemm is not None and _is_product_only(k):
            return [], Launch(None, "elementwise", 0)
        loops = list(k.loops)
        block = [r for r in K.reductions_of(k.value) if K.free_vars(r) <= set(loops)]
        row_depth = max((1 + max(loops.index(v) for v in K.free_vars(r)) if K.free_vars(r) else 0 for r in block),
                        default=None)
        if row_depth is None:
            size = int(np.prod([v.extent for v in loops]))
            lanes = self._elementwise(loops)
            launch = Launch(self.symbol, "elementwise", size, lanes, self.checks, k.accumulate)
        else:
            launch = self._row_kernel(loops, row_depth, block)
        self.functions.append(self._function(self.symbol))
        return self.functions, launch

    def _function(self, symbol):
        """The lines rendered so far as the function ``symbol`` (the kernel's parameters, then
        any scratch buffers and the error flag), with its host launcher; starts anew."""
        k = self.kernel
        types = ([C_TYPE[np.dtype(d)] for _, d, _ in k.params] + [t for _, t in self.scratch]
                 + (["int"] if self.checks else []))
        names = [f"p{i}" for i in range(len(k.params))] + [n for n, _ in self.scratch] + (["gerr"] if self.checks else [])
        params = ", ".join(f"{t} *{n}" for t, n in zip(types, names))
        args = ", ".join(f"({t} *)a[{i}]" for i, t in enumerate(types))
        text = "\n".join([f"GRAPHC_EXPORT void {symbol}({params}) {{"] + self.lines + ["}"] + [
            "#ifdef GRAPHC_HOST   // runtime/cuda/host.py: the kernel on one block of host threads",
            f"static void body_{symbol}(void **a) {{ {symbol}({args}); }}",
            f"GRAPHC_LAUNCHER void launch_{symbol}(void **a) {{ g_run_block(body_{symbol}, a, HOST_THREADS); }}",
            "#endif"])
        self.lines, self.depth = [], 1
        return text

    def line(self, text):
        self.lines.append("  " * self.depth + text)

    def fresh(self, prefix="t"):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def ctype(self, dtype):
        return C_TYPE[np.dtype(dtype)]

    def const(self, value, dtype):
        """An exact C constant of ``dtype`` (bit patterns for floats: NaN, Inf and -0.0 too)."""
        dtype = np.dtype(dtype)
        if dtype == np.float32:
            return f"__int_as_float({int(np.array(value, np.float32).view(np.int32))})"
        if dtype == np.float64:
            return f"__longlong_as_double({int(np.array(value, np.float64).view(np.int64))}LL)"
        if dtype == np.bool_:
            return "true" if bool(value) else "false"
        v = int(value)
        if dtype == np.int32:
            return f"((int){v & 0xFFFFFFFF}u)" if v < 0 else f"{v}"
        return f"((i64){v & 0xFFFFFFFFFFFFFFFF}ull)"

    # -- loop structure ---------------------------------------------------------------------
    def _bind(self, loops, flat):
        """Declare each loop variable from the flat index ``flat`` over their extents."""
        stride = 1
        for v in reversed(loops):
            name = self.names[v] = self.fresh(v.name + "_")
            if v.extent == 1:
                self.line(f"const {self.idx} {name} = 0;")
            else:
                self.line(f"const {self.idx} {name} = ({flat} / {stride}) % {v.extent};")
            stride *= v.extent

    def _open(self, header):
        self.line(header + " {")
        self.depth += 1
        self.scopes.append({})

    def _close(self):
        self.scopes.pop()
        self.depth -= 1
        self.line("}")

    def _store(self):
        k = self.kernel
        out = len(k.params) - 1
        if k.accumulate:   # (threads may add at the same position)
            self.line(f"g_atomic_add(&p{out}[{self.index(k.store_index)}], {self.value(k.value)});")
        else:
            self.line(f"p{out}[{self.index(k.store_index)}] = {self.value(k.value)};")

    def _elementwise(self, loops):
        """The grid-stride loop; where the output and some inputs are read at the output's
        own flat index and every such buffer is aligned, a first loop moves VECTOR_BYTES
        per buffer and step (``lanes`` outputs), the plain loop doing the rest. Returns lanes."""
        n = int(np.prod([v.extent for v in loops]))
        lanes, vector_loads = self._vector_plan(loops, n)
        start = "0"
        if lanes:
            start = self.fresh("start")
            self.line(f"{self.idx} {start} = 0;")
            self._vector_loop(loops, n, lanes, vector_loads)
            self.line(f"  {start} = {n // lanes * lanes};")
            self._close()
        self._grid_stride_store(loops, n, start)
        return lanes or 1

    def _grid_stride_store(self, loops, n, start="0"):
        """Store the kernel's value at flat positions start.. n of ``loops``, over the whole grid."""
        t = self.fresh("flat")
        self._open(f"for ({self.idx} {t} = {start} + ({self.idx})blockIdx.x * blockDim.x + threadIdx.x; {t} < {n}; "
                   f"{t} += ({self.idx})gridDim.x * blockDim.x)")
        self._bind(loops, t)
        self._store()
        self._close()

    def _vector_plan(self, loops, n):
        """(lanes, the loads read at the store's index) when the kernel's contiguous buffers
        can move in vectors, else (0, ())."""
        k = self.kernel
        if k.gemm is not None or k.accumulate or k.store_index != K.flat_index(tuple(loops), tuple(v.extent for v in loops)):
            return 0, ()
        loads = [e for e in K.walk(k.value) if isinstance(e, K.Load) and e.index == k.store_index]
        widest = max(np.dtype(k.params[p][1]).itemsize for p in {e.param for e in loads} | {len(k.params) - 1})
        lanes = VECTOR_BYTES // widest
        return (lanes, loads) if lanes > 1 and n >= lanes else (0, ())

    def _vector_loop(self, loops, n, lanes, loads):
        k, out = self.kernel, len(self.kernel.params) - 1
        vtype = {p: f"g_vec<{self.ctype(d)}, {lanes}>" for p, (_, d, _) in enumerate(k.params)}
        params = sorted({e.param for e in loads} | {out})
        aligned = " && ".join(f"g_aligned(p{p}, {lanes * np.dtype(k.params[p][1]).itemsize})" for p in params)
        self._open(f"if ({aligned})")
        v = self.fresh("v")
        self._open(f"for ({self.idx} {v} = ({self.idx})blockIdx.x * blockDim.x + threadIdx.x; {v} < {n // lanes}; "
                   f"{v} += ({self.idx})gridDim.x * blockDim.x)")
        vectors = {}
        for p in sorted({e.param for e in loads}):
            vectors[p] = self.fresh("in")
            self.line(f"const {vtype[p]} {vectors[p]} = ((const {vtype[p]} *)p{p})[{v}];")
        result = self.fresh("o")
        self.line(f"{vtype[out]} {result};")
        for lane in range(lanes):
            self._open("")
            flat = self.fresh("flat")
            self.line(f"const {self.idx} {flat} = {v} * {lanes} + {lane};")
            self._bind(loops, flat)
            for e in loads:
                self.scopes[-1][e] = f"{vectors[e.param]}.v[{lane}]"
            self.line(f"{result}.v[{lane}] = {self.value(k.value)};")
            self._close()
        self.line(f"(({vtype[out]} *)p{out})[{v}] = {result};")
        self._close()

    # -- index expressions -----------------------------------------------------------------
    def index(self, e):
        if isinstance(e, K.Var):
            return self.names[e]
        if isinstance(e, K.IConst):
            return str(e.value)
        if isinstance(e, K.Gathered):   # wrapped when negative; out of range: reported through gerr
            return f"(({self.idx})g_take({self.value(e.value)}, {e.extent}, gerr))"
        a, b = self.index(e.a), self.index(e.b)
        ops = {"add": "+", "mul": "*", "div": "/", "mod": "%"}
        if e.op in ops:
            return f"({a} {ops[e.op]} {b})"
        return f"({a} {'<' if e.op == 'min' else '>'} {b} ? {a} : {b})"

    # -- scalar expressions ----------------------------------------------------------------
    def value(self, e):
        for scope in reversed(self.scopes):
            if e in scope:
                return scope[e]
        text = self._emit(e)
        if isinstance(e, K.Reduce):
            name = text
        else:
            name = self.fresh()
            self.line(f"const {self.ctype(e.dtype)} {name} = {text};")
        self.scopes[-1][e] = name
        return name

    def _emit(self, e):
        if isinstance(e, K.Load):
            return self._cached_load(e) or f"p{e.param}[{self.index(e.index)}]"
        if isinstance(e, K.Const):
            return self.const(e.value, e.dtype)
        if isinstance(e, K.IndexValue):
            return f"((i64){self.index(e.index)})"
        if isinstance(e, K.Reduce):
            return self._reduce(e, cooperative=False)
        if isinstance(e, K.Random):
            bits = "f32" if np.dtype(e.dtype) == np.float32 else "f64"
            return f"g_{e.distribution}_{bits}({self.value(e.seed)}, (u64){self.index(e.index)})"
        args = [self.value(a) for a in e.args]
        if e.op == "cast":
            return self._cast(args[0], e.args[0].dtype, e.dtype)
        if e.op == "where":
            return f"({args[0]} ? {args[1]} : {args[2]})"
        return ELEMENTWISE[e.op].emit(args, np.dtype(e.args[0].dtype), self)

    def _cast(self, v, src, dst):
        src, dst = np.dtype(src), np.dtype(dst)
        if src == dst:
            return v
        if dst == np.bool_:
            return truth(v, src)
        if src == np.bool_:
            return f"(({self.ctype(dst)})({v} ? 1 : 0))"
        if src.kind == "f" and dst.kind == "i":   # NaN, +-Inf and out of range give INT_MIN
            return f"g_ftoi<{self.ctype(dst)}>({v})"
        return f"(({self.ctype(dst)}){v})"
