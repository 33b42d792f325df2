"""Renders kernel IR (runtime.kernel) as CUDA C: the sibling of the LLVM renderer.

Each kernel becomes ``extern "C" __global__ void name(T0 *p0, ..., Tout *out)``, its
parameters in the kernel's order (the output last), and a :class:`Launch` saying how to
start it:

- ``elementwise`` (no reduction): a grid-stride loop over the flat output index, each
  thread computing whole output elements;
- ``rows`` (a row-wise kernel: softmax, layer_norm, a reduction over inner axes, a full
  reduction): the loops that the reductions' indices use are the *row*; one block per
  row (grid-stride over rows), each reduction computed once per row by the whole block
  (a block-strided loop accumulating in the kernel IR's accumulator type, float64 for
  float32 sums, then warp shuffles and shared memory), then the row's outputs in a
  block-strided loop. A value a sum reads and the output reads again (softmax's exp) is
  stored by the reduction's loop and read back, as on the CPU (``Kernel.stashes``).

A reduction whose index depends on another reduction's variables runs as a loop inside
each thread. A kernel with a GEMM renders only its epilogue (nothing when the output is
the product as computed): the product runs through cuBLAS first. Index arithmetic is
32-bit unless a buffer or loop needs 64 bits.
"""
from dataclasses import dataclass

import numpy as np

from .. import kernel as K
from .cuda_ops import ELEMENTWISE, REDUCTIONS, truth
from .prelude import BLOCK, PRELUDE, WARPS

C_TYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int32): "int",
          np.dtype(np.int64): "i64", np.dtype(np.bool_): "bool"}


VECTOR_BYTES = 16     # an elementwise kernel's contiguous buffers move 16 bytes per load and store
WARP_ROW_MAX = 1024   # a row kernel whose every loop over the row is this short: one warp per row
COLUMNS_MIN = 64      # a reduction over an outer axis with at least this many outputs: a warp's lanes per output


@dataclass(frozen=True)
class Launch:
    """How to start a rendered kernel: ``kind`` "elementwise" over ``size`` outputs
    (``lanes`` of them per thread and step where the buffers are aligned), "rows" over
    ``size`` rows (a block each), "warp_rows" (a warp each) or "columns" (a block per 32
    rows, the rows' reductions read along an outer axis); ``symbol`` None when the kernel
    is its GEMM alone."""
    symbol: str | None
    kind: str
    size: int
    lanes: int = 1
    checks: bool = False   # takes one more parameter, an int set to 1 by an index out of range
    zeroes: bool = False   # the output is zeroed before the launch (an accumulating kernel)

    def threads(self, block):
        """How many threads the kernel can keep busy, at ``block`` threads per block."""
        if self.kind == "elementwise":
            return -(-self.size // self.lanes)
        if self.kind == "columns":
            return -(-self.size // 32) * block
        return self.size * (block if self.kind == "rows" else 32)


def check_renderable(kernel):
    """Raise Unsupported unless this backend renders every part of ``kernel``."""
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
        text, launch = KernelRenderer(kernel, symbol).render()
        launches[symbol] = launch
        if text:
            parts.append(text)
    return "\n".join(parts), launches


def _stride(index, var):
    """How far index expression ``index`` moves when ``var`` goes from 0 to 1, the other
    variables at 0 (None where that is not defined: past an extent of 1)."""
    if var.extent < 2:
        return None
    return _at(index, {var: 1}) - _at(index, {})


def _at(e, values):
    if isinstance(e, K.Var):
        return values.get(e, 0)
    if isinstance(e, K.IConst):
        return e.value
    a, b = _at(e.a, values), _at(e.b, values)
    return {"add": a + b, "mul": a * b, "div": a // b if b else 0, "mod": a % b if b else 0,
            "min": min(a, b), "max": max(a, b)}[e.op]


def _is_product_only(kernel):
    value, out = kernel.value, len(kernel.params) - 1
    return isinstance(value, K.Load) and value.param == out and value.index is kernel.store_index


class KernelRenderer:
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

    # -- output -------------------------------------------------------------------------
    def render(self):
        k = self.kernel
        if k.gemm is not None and _is_product_only(k):
            return "", Launch(None, "elementwise", 0)
        loops = list(k.loops)
        block = [r for r in K.reductions_of(k.value) if K.free_vars(r) <= set(loops)]
        row_depth = max((1 + max(loops.index(v) for v in K.free_vars(r)) if K.free_vars(r) else 0 for r in block),
                        default=None)
        if row_depth is None:
            size = int(np.prod([v.extent for v in loops]))
            lanes = self._elementwise(loops)
            launch = Launch(self.symbol, "elementwise", size, lanes, self.checks, k.accumulate)
        else:
            size = int(np.prod([v.extent for v in loops[:row_depth]]))
            lengths = [int(np.prod([v.extent for v in r.rvars])) for r in block]
            lengths.append(int(np.prod([v.extent for v in loops[row_depth:]])))
            if self._column_like(loops, row_depth, block):
                self.columns = True
                self._columns(loops, block)
                launch = Launch(self.symbol, "columns", size, 1, self.checks)
            else:
                self.warp = size > 1 and max(lengths) <= WARP_ROW_MAX
                self._rows(loops[:row_depth], loops[row_depth:], block)
                launch = Launch(self.symbol, "warp_rows" if self.warp else "rows", size, 1, self.checks)
        types = [C_TYPE[np.dtype(d)] for _, d, _ in k.params] + (["int"] if self.checks else [])
        names = [f"p{i}" for i in range(len(k.params))] + (["gerr"] if self.checks else [])
        params = ", ".join(f"{t} *{n}" for t, n in zip(types, names))
        head = f"GRAPHC_EXPORT void {self.symbol}({params}) {{"
        args = ", ".join(f"({t} *)a[{i}]" for i, t in enumerate(types))
        host = ["#ifdef GRAPHC_HOST   // runtime/cuda/host.py: the kernel on one block of host threads",
                f"static void body_{self.symbol}(void **a) {{ {self.symbol}({args}); }}",
                f"GRAPHC_LAUNCHER void launch_{self.symbol}(void **a) {{ g_run_block(body_{self.symbol}, a, HOST_THREADS); }}",
                "#endif"]
        return "\n".join([head] + self.lines + ["}"] + host), launch

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
        t = self.fresh("flat")
        self._open(f"for ({self.idx} {t} = {start} + ({self.idx})blockIdx.x * blockDim.x + threadIdx.x; {t} < {n}; "
                   f"{t} += ({self.idx})gridDim.x * blockDim.x)")
        self._bind(loops, t)
        self._store()
        self._close()
        return lanes or 1

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

    def _rows(self, row_loops, inner_loops, block_reductions):
        """One row per block, or per warp (``self.warp``: every lane of a warp takes the same
        rows, so its shuffles and __syncwarp see all 32 lanes)."""
        rows = int(np.prod([v.extent for v in row_loops]))
        row = self.fresh("row")
        first, step, sync = (("blockIdx.x * G_WARPS + G_WARP", "gridDim.x * G_WARPS", "__syncwarp()") if self.warp
                             else ("blockIdx.x", "gridDim.x", "__syncthreads()"))
        self._open(f"for ({self.idx} {row} = {first}; {row} < {rows}; {row} += {step})")
        self._bind(row_loops, row)
        for r in block_reductions:
            self.scopes[-1][r] = self._reduce(r, cooperative=True)
        if self.kernel.stashes:
            self.line(f"{sync};   // the stashed values, written by other threads")
        inner = int(np.prod([v.extent for v in inner_loops]))
        t = self.fresh("i")
        start, stride = self._team()
        self._open(f"for ({self.idx} {t} = {start}; {t} < {inner}; {t} += {stride})")
        self._bind(inner_loops, t)
        self._store()
        self._close()
        self.line(f"{sync};   // before the next row overwrites what this one read")
        self._close()

    def _team(self):
        """(this thread's first position, the stride) in a loop the row's threads share."""
        if self.columns:
            return "G_WARP", "G_WARPS"
        return ("G_LANE", "G_WARP_LANES") if self.warp else ("threadIdx.x", "blockDim.x")

    def _column_like(self, loops, row_depth, block):
        """Whether the kernel's rows are its whole output (no inner loop), at least
        COLUMNS_MIN of them, and its first reduction reads consecutive addresses for
        consecutive rows but not along its own axis: a reduction over an outer axis, read
        coalesced when a warp's lanes take 32 consecutive rows."""
        k = self.kernel
        if row_depth != len(loops) or k.stashes or int(np.prod([v.extent for v in loops])) < COLUMNS_MIN:
            return False
        r, last = block[0], loops[-1]
        for e in (x for body in (r.body if isinstance(r.body, tuple) else (r.body,)) for x in K.walk(body)):
            if isinstance(e, K.Load) and not K.gathered_in(e.index):
                used = K.free_vars(e)
                if last in used and set(r.rvars) & used:
                    inner = [v for v in r.rvars if v in used][-1]
                    return _stride(e.index, last) == 1 and _stride(e.index, inner) != 1
        return False

    def _columns(self, loops, block_reductions):
        """Each block takes 32 consecutive rows (a lane each) in turn; its warps split each
        row's reduction (every 8th element), combined per row in warp order through shared
        memory; the first warp stores the rows' values."""
        rows = int(np.prod([v.extent for v in loops]))
        group, row, live = self.fresh("group"), self.fresh("row"), self.fresh("live")
        self._open(f"for ({self.idx} {group} = blockIdx.x; {group} * G_WARP_LANES < {rows}; {group} += gridDim.x)")
        self.line(f"const {self.idx} {row} = {group} * G_WARP_LANES + G_LANE;")
        self.line(f"const bool {live} = {row} < {rows};")
        self._bind(loops, f"({live} ? {row} : 0)")
        for r in block_reductions:
            self.scopes[-1][r] = self._reduce(r, cooperative=True)
        self._open(f"if ({live} && G_WARP == 0)")
        self._store()
        self._close()
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
            return f"p{e.param}[{self.index(e.index)}]"
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

    # -- reductions --------------------------------------------------------------------------
    def _identity(self, op, dtype):
        dtype = np.dtype(dtype)
        if op in ("sum", "mean"):
            return self.const(0, dtype)
        if op == "prod":
            return self.const(1, dtype)
        high = op in ("max", "argmax")
        if dtype.kind == "f":
            return self.const(-np.inf if high else np.inf, dtype)
        if dtype == np.bool_:
            return "false" if high else "true"
        info = np.iinfo(dtype)
        return self.const(info.min if high else info.max, dtype)

    def _combine(self, op, dtype, a, b):
        fl = np.dtype(dtype).kind == "f"
        if op in ("sum", "mean"):
            return f"({a} + {b})" if fl else f"g_add({a}, {b})"
        if op == "prod":
            return f"({a} * {b})" if fl else f"g_mul({a}, {b})"
        if fl:
            return f"g_r{op}({a}, {b})"
        return f"({b} {'>' if op == 'max' else '<'} {a} ? {b} : {a})"

    def _reduce(self, r, cooperative):
        """The reduction's result as a C name: accumulated over its variables by this thread
        (or, ``cooperative``, by the block's threads in turn, then combined)."""
        acc_t, is_arg = self.ctype(r.acc_dtype), r.op in ("argmax", "argmin")
        acc = self.fresh("acc")
        self.line(f"{acc_t} {acc} = {self._identity(r.op, r.acc_dtype)};")
        at = self.fresh("at") if is_arg else None
        if is_arg:
            self.line(f"i64 {at} = 0;")
        count = int(np.prod([v.extent for v in r.rvars]))
        f = self.fresh("f")
        start, step = self._team() if cooperative else ("0", "1")
        self._open(f"for ({self.idx} {f} = {start}; {f} < {count}; {f} += {step})")
        self._bind(list(r.rvars), f)
        if is_arg:
            v, i = self.value(r.body[0]), self.value(r.body[1])
            best = "true" if r.op == "argmax" else "false"
            self.line(f"if (g_argbetter({best}, {v}, {i}, {acc}, {at})) {{ {acc} = {v}; {at} = {i}; }}")
        else:
            body = self.value(r.body)
            if r in self.kernel.stashes:   # kept for the output loop, in the value's own precision
                param, index = self.kernel.stashes[r]
                kept = r.body.args[0] if isinstance(r.body, K.Op) and r.body.op == "cast" else r.body
                self.line(f"p{param}[{self.index(index)}] = {self.value(kept)};")
            self.line(f"{acc} = {self._combine(r.op, r.acc_dtype, acc, body)};")
        self._close()
        if cooperative and self.columns:
            smem = self.fresh("smem")
            if is_arg:
                si = self.fresh("si")
                self.line(f"__shared__ {acc_t} {smem}[{BLOCK}]; __shared__ i64 {si}[{BLOCK}];")
                self.line(f"g_column_argreduce({'true' if r.op == 'argmax' else 'false'}, {acc}, {at}, {smem}, {si});")
            else:
                combine = self._combine(r.op, r.acc_dtype, "a", "b")
                self.line(f"__shared__ {acc_t} {smem}[{BLOCK}];")
                self.line(f"{acc} = g_column_reduce({acc}, []({acc_t} a, {acc_t} b) {{ return {combine}; }}, {smem});")
        elif cooperative and self.warp:
            if is_arg:
                self.line(f"g_warp_argreduce({'true' if r.op == 'argmax' else 'false'}, {acc}, {at});")
            else:
                combine = self._combine(r.op, r.acc_dtype, "a", "b")
                self.line(f"{acc} = g_warp_reduce({acc}, []({acc_t} a, {acc_t} b) {{ return {combine}; }});")
        elif cooperative:
            if is_arg:
                sv, si = self.fresh("sv"), self.fresh("si")
                self.line(f"__shared__ {acc_t} {sv}[{WARPS}]; __shared__ i64 {si}[{WARPS}];")
                self.line(f"g_block_argreduce({'true' if r.op == 'argmax' else 'false'}, {acc}, {at}, {sv}, {si});")
            else:
                smem = self.fresh("smem")
                self.line(f"__shared__ {acc_t} {smem}[{WARPS}];")
                combine = self._combine(r.op, r.acc_dtype, "a", "b")
                self.line(f"{acc} = g_block_reduce({acc}, []({acc_t} a, {acc_t} b) {{ return {combine}; }}, {smem});")
        result = self.fresh("red")
        if is_arg:
            self.line(f"const {self.ctype(r.dtype)} {result} = ({self.ctype(r.dtype)}){at};")
            return result
        value = acc
        if r.op == "mean" and np.dtype(r.acc_dtype).kind == "f":
            value = f"({acc} / {self.const(count, r.acc_dtype)})"
        self.line(f"const {self.ctype(r.dtype)} {result} = {self._cast(value, r.acc_dtype, r.dtype)};")
        return result
