"""From a user graph, fetches and feed specs to a :class:`Compiled` program.

Stage ``specialize`` keeps only what the fetches need (fed tensors cut the graph
there and become placeholders) and re-infers every shape with the fed shapes, so
the compiled IR is static throughout; the optimization pipeline (graphc.passes)
then runs its selected passes, each one a further stage.
"""
import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import FeedError, GraphcError, ShapeError
from ..ir import Graph
from ..ir.analysis import fresh_name, reachable, runs_kernel
from ..ops.reductions import sum_to_steps
from ..ops.shapes import fmt_shape
from ..passes.pipeline import Stage, run_pipeline, stage_text
from . import program_cache
from .dump import dump, dump_requested
from .executor import CallPlan, make_executor
from .inplace import inplace_updates

# callables run with each Compiled program as it is made (the CUDA kernel survey of the
# tests and the fuzzer reads every program's call plan: runtime/cuda/survey.py)
PROGRAM_HOOKS = []


@dataclass(frozen=True)
class KernelInfo:
    """One kernel a run executes: the node it computes and the primitive nodes it covers."""
    name: str
    kind: str
    nodes: tuple
    inputs: tuple

    def __repr__(self):
        return f"KernelInfo({self.name!r}, {self.kind}, covers {len(self.nodes)} ops, reads {list(self.inputs)})"


class Compiled:
    """A compiled program for one (fetches, feed shapes/dtypes, device, options).

    ``stages`` names the IR stages in order and ``ir(stage)`` prints one (the last by
    default); ``graph`` is the final IR, whose ``outputs`` are the fetches;
    ``kernels`` lists what a run executes; ``memory_plan`` and ``fusion`` hold what
    those passes decided (None when the pass did not run); ``call_plan`` is what a run
    does, step by step (runtime.executor; None without a memory plan).

    ``run`` may be called from many threads at once: one run at a time uses the program's
    executor, any other at the same time a twin of it (own arena and parameter tables,
    the same compiled code), taken from a pool that keeps as many as ever ran at once.
    """

    def __init__(self, stages, device, run_plan, poison=False, recompute=None):
        """``stages``: the pipeline's Stages; from the program cache only the last has its
        graph, and ``recompute`` (a function returning them all) fills the others in when one
        is asked for. ``from_cache`` says which."""
        self._stages = {s.name: s for s in stages}
        self._recompute = recompute
        self.from_cache = recompute is not None
        self.graph = stages[-1].graph
        self.device = device
        self.memory_plan = self._info("plan_memory")
        self.fusion = self._info("fuse")
        self.feed_names = tuple(n.name for n in self.graph.nodes if n.op == "placeholder")
        self._variable_names = tuple(n.name for n in self.graph.nodes if n.op == "variable")
        # what the fetches mean (runtime.updates): its updates, (variable name, output
        # position), are what the session commits after a run
        self.run_plan = run_plan
        self.updates = tuple(run_plan.updates)
        self.inplace = inplace_updates(self.graph, self.updates, run_plan.fetched) if self.memory_plan else {}
        self.call_plan = CallPlan.build(self.graph, self.memory_plan) if self.memory_plan else None
        for hook in PROGRAM_HOOKS:
            hook(self)
        self._executor = make_executor(self.graph, self.call_plan, device, poison=poison, inplace=self.inplace,
                                       updates=self.updates)
        self._busy = threading.Lock()   # held while a run uses self._executor
        self._twins = []                # idle twins of it, for runs at the same time
        # what a run does to the session's variables (runtime.session serializes on these)
        self.reads_variables = bool(self._variable_names)
        self.writes_variables = bool(self.updates) or any(n.op == "init_variables" for n in self.graph.outputs)
        self.writes_in_place = self._executor.writes_in_place

    def _info(self, name):
        stage = self._stages.get(name)
        return stage.info if stage else None

    @property
    def stages(self):
        return list(self._stages)

    def stage(self, name):
        """The :class:`~graphc.passes.pipeline.Stage` record (graph, time, node counts)."""
        if name not in self._stages:
            raise KeyError(f"no stage {name!r}; stages are {self.stages}")
        if self._stages[name].graph is None:   # a program from the cache: run the passes again, for their IR
            final = self.stages[-1]
            self._stages = {s.name: self._stages[final] if s.name == final else s for s in self._recompute()}
        return self._stages[name]

    def ir(self, stage=None, blobs=False):
        """IR text after ``stage`` (the last when None), parseable with ``gc.ir.parse``;
        large constants elided unless ``blobs``."""
        return self.stage(self.stages[-1] if stage is None else stage).graph.to_text(blobs=blobs)

    def llvm_ir(self, optimized=False):
        """The LLVM IR generated for this program's native kernels (None when none run
        natively), before or after LLVM's O3 optimization."""
        code = self._executor.code
        if code is None:
            return None
        return code.optimized if optimized else code.source

    def source(self):
        """The generated code of the program's native kernels (LLVM IR on "cpu", CUDA C on
        the CUDA devices), or None when none runs natively."""
        code = self._executor.code
        return None if code is None else code.source

    def dump(self, blobs=False):
        """Every stage's IR in order, each headed by its pass time and node counts, with
        what the pass decided (fusion decisions, memory plan) as ``//`` comments, then
        the generated LLVM IR before and after optimization."""
        parts = [stage_text(self.stage(name), blobs=blobs) for name in self.stages]
        return "\n".join(parts + [f"; LLVM IR ({label})\n{text}" for label, text in self._llvm_texts()])

    def _llvm_texts(self):
        if self._executor.code is None:
            return []
        return [("generated", self.llvm_ir()), ("optimized at O3", self.llvm_ir(optimized=True))]

    def __str__(self):
        return self.dump()

    def to_networkx(self):
        """The final IR as a ``networkx.DiGraph``: fused kernels are nodes with ``covers`` and
        ``body`` (Graph.to_networkx)."""
        return self.graph.to_networkx()

    def explain(self):
        """What the compiler decided (runtime.explain.Explanation): every edge not fused and
        why, every buffer's size, offset and live range, the peak-memory point, totals;
        ``str()`` of it is ``graphc explain``'s report."""
        from .explain import explain
        return explain(self)

    @property
    def kernels(self):
        """The kernels a run executes, in order (sources, views and effects run none)."""
        return [kernel_of(n) for n in self.graph.nodes if runs_kernel(n)]

    def variable_names(self):
        return list(self._variable_names)

    def lean(self, feed_names, fed):
        """A function of a feed mapping (None for no feeds) that returns the single output,
        owned by the caller, for a repeated run with the feeds of ``fed``, one (key, array)
        per name of ``feed_names``: it reads each feed at its key and checks it (exactly
        these keys, each an ndarray of its array's dtype by identity, shape and C-order
        strides) and returns None for anything else or when the program is busy on another
        thread (run it the usual way then). None instead of a function for programs without
        a lean path (see ``BoundRun.lean``)."""
        run = self._executor.lean(feed_names) if self.call_plan is not None else None
        if run is None:
            return None
        busy, ndarray = self._busy, np.ndarray
        specs = [(key, array.dtype, array.shape, _c_strides(array)) for key, array in fed]
        count = len(specs)

        def call_with(feeds):   # (one closure: a tiny program's run is mostly these lines)
            if len(feeds or ()) != count:
                return None
            values = []
            for key, dtype, shape, strides in specs:
                value = feeds.get(key)
                if type(value) is not ndarray or value.dtype is not dtype or value.shape != shape \
                        or value.strides != strides:
                    return None
                values.append(value)
            if not busy.acquire(False):
                return None
            try:
                return run(values)
            finally:
                busy.release()
        return call_with

    def run(self, feeds, variables, check_numerics=False, trace=None):
        """Values of the outputs, given feed arrays (by name) and variable arrays (by name);
        ``check_numerics`` raises NumericsError at the first NaN/Inf (runtime.numerics);
        ``trace`` (a runtime.trace.RunMetadata) gets every kernel's time.
        Thread-safe; runs at the same time run side by side on twins of the executor."""
        if trace is not None and self.call_plan is None:
            raise GraphcError("RunOptions(trace=True) is not supported for a program compiled without memory "
                              "planning (the interpreter runs it whole)")
        timings = None if trace is None else []
        if self._busy.acquire(False):
            try:
                values = self._executor.run(feeds, variables, check_numerics, timings)
            finally:
                self._busy.release()
        else:
            try:
                executor = self._twins.pop()
            except IndexError:
                executor = self._executor.twin()
            try:
                values = executor.run(feeds, variables, check_numerics, timings)
            finally:
                self._twins.append(executor)
        if trace is not None:
            trace.record([(node, kernel_of(node).nodes, start, end) for node, start, end in timings])
        return values

    def __repr__(self):
        return (f"<graphc.Compiled stages={self.stages} kernels={len(self.kernels)} "
                f"device={self.device!r}>")


def _c_strides(array):
    """The strides of a C-contiguous array of ``array``'s shape and dtype."""
    strides, step = [], array.dtype.itemsize
    for n in reversed(array.shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def kernel_of(node):
    if node.op == "fused":
        body = node.attrs["body"]
        covered = tuple(n.name for n in body.nodes if n.op != "placeholder" and n.op != "constant")
        return KernelInfo(node.name, node.attrs["kind"], covered, tuple(x.name for x in node.inputs))
    return KernelInfo(node.name, node.opdef.kind, (node.name,), tuple(x.name for x in node.inputs))


def _check_placeholders_fed(needed, fed, fetch_nodes):
    for node in needed:
        if node.op == "placeholder" and node not in fed:
            users = ", ".join(f"'{f.name}'" for f in fetch_nodes)
            raise FeedError(f"placeholder '{node.name}' {node.type}"
                            + (f" (built at {node.loc})" if node.loc else "")
                            + f" must be fed: fetches {users} depend on it")


def specialize(graph, fetch_nodes, feed_specs):
    """The pruned, statically shaped graph computing ``fetch_nodes``.

    ``feed_specs`` maps fed nodes to (dtype, shape).
    """
    needed = reachable(fetch_nodes, stop=feed_specs)
    for node in fetch_nodes:
        if node.op == "assign" and node in feed_specs:
            raise FeedError(f"update '{node.name}' cannot be fed")
    _check_placeholders_fed(needed, feed_specs, fetch_nodes)
    out = Graph()
    mapping = {}
    for node in graph.nodes:
        if node not in needed:
            continue
        if node.op == "assign":   # an update: the program computes its value; the session commits it
            value, var = mapping[node.inputs[1]], node.inputs[0]
            if value.shape != var.shape:
                raise ShapeError(f"assign '{node.name}'" + (f" (built at {node.loc})" if node.loc else "")
                                 + f": the value for variable '{var.name}' {fmt_shape(var.shape)} has shape "
                                 + f"{fmt_shape(value.shape)} with these feeds")
            mapping[node] = value
            continue
        if node.op == "sum_to" and node not in feed_specs:   # shapes are static now: a sum, or nothing
            mapping[node] = _sum_to(out, node, mapping[node.inputs[0]], mapping[node.inputs[1]], graph)
            continue
        if node.op in _STATIC_OPS and node not in feed_specs:   # (graphc/ops/static.py)
            mapping[node] = _STATIC_OPS[node.op](out, node, mapping[node.inputs[0]])
            continue
        if node in feed_specs:
            dtype, shape = feed_specs[node]
            new = out.add_node("placeholder", (), {"dtype": dtype, "shape": shape},
                               name=node.name, loc=node.loc, exact_name=True)
        else:
            new = out.add_node(node.op, [mapping[x] for x in node.inputs], node.attrs,
                               name=node.name, loc=node.loc, exact_name=True)
        mapping[node] = new
    out.outputs = tuple(mapping[n] for n in fetch_nodes)
    return out


def _identity(out, node, x):
    """An unfed identity is its input, whose shape must fit the declared one."""
    try:
        node.opdef.infer([x], **node.attrs)
    except ShapeError as e:
        raise ShapeError(f"'{node.name}'" + (f" (built at {node.loc})" if node.loc else "") + f": {e}") from None
    return x


def _shape_constant(out, node, x):
    """A shape, now that every shape is static, is a constant."""
    value = np.array(x.shape, dtype=node.dtype)
    return out.add_node("constant", (), {"value": value}, name=node.name, loc=node.loc, exact_name=True)


_STATIC_OPS = {"identity": _identity, "shape": _shape_constant}


def _sum_to(out, node, g, x, source):
    """``sum_to(g, x)`` with static shapes, as ops of ``out``: g itself, or a sum over the
    broadcast axes (then a squeeze of the leading ones)."""
    steps = sum_to_steps(g.shape, x.shape)
    for i, (op, attrs) in enumerate(steps):
        last = i == len(steps) - 1
        taken = lambda name: source.has_node(name) or out.has_node(name)   # noqa: E731
        name = node.name if last else fresh_name(f"{node.name}/{op}", taken)
        g = out.add_node(op, [g], attrs, name=name, loc=node.loc, exact_name=True)
    return g


def compile_program(graph, run_plan, feed_specs, device, passes, verify=False, poison=False):
    """Specialize ``graph`` to the outputs of ``run_plan`` (runtime.updates) and the fed
    shapes, run the selected ``passes``, and wrap the result as a Compiled program; the
    optimized program comes from the disk cache (runtime.program_cache) when it is there."""
    directory = dump_requested()

    def passes_run():
        return run_pipeline(specialize(graph, run_plan.outputs, feed_specs), passes, verify_each=verify)
    with _collector_paused():
        key = None if verify or directory else program_cache.program_key(graph, run_plan, feed_specs, device, passes)
        cached = program_cache.load(key) if key else None
        if cached is not None:   # (only the final stage's graph: passes_run gives the others when asked)
            final, summaries = cached
            stages = [Stage(name, final if i == len(summaries) - 1 else None, info, seconds, before, after)
                      for i, (name, info, seconds, before, after) in enumerate(summaries)]
            compiled = Compiled(stages, device, run_plan, poison=poison, recompute=passes_run)
        else:
            stages = passes_run()
            compiled = Compiled(stages, device, run_plan, poison=poison)
            if key:
                program_cache.store(key, stages)
    if directory:   # (never a cached program: GRAPHC_DUMP skips the cache)
        llvm = [("llvm.ll", compiled.llvm_ir()), ("llvm-O3.ll", compiled.llvm_ir(optimized=True))]
        dump(stages, directory, extra=llvm if compiled.llvm_ir() is not None else ())
    return compiled


@contextmanager
def _collector_paused():
    """Python's cycle collector off while compiling: a compile makes some 10^5 short-lived
    objects, which set off full collections over the user's graph (a fifth of a warm
    compile's time); the garbage they leave is collected once it is back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
