"""Runs a compiled program's call plan.

The call plan is one :class:`Step` per node of the scheduled graph: its :class:`Role`,
its arena region, the values no later step reads and the arena regions whose buffers
die there (both from the memory plan). On a device with a backend (runtime.backends)
each kernel runs as the backend's code; a kernel the backend does not lower, and every
kernel on ``device="reference"``, is evaluated by its numpy reference (a fused kernel
by interpreting its body). Results are written into the kernel's arena region (or
into a fresh array when fetched); views are numpy views of their input. With
``poison``, each region is filled with NaN bytes the moment its buffer dies, so a
planner that reuses memory too early shows up as wrong results.

When every kernel has native code, nothing has an effect and every fetch is a kernel's
result, the backend binds the whole plan once (its ``BoundRun``) and a run only writes
the feeds' and results' addresses and calls the kernels.
"""
import copy
import enum
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..ir.analysis import runs_kernel, view_base
from ..ir.interpret import compute, read_only, run_graph
from ..ops import EFFECT, SOURCE
from .backends import backend_of
from .numerics import NumericsCheck, run_graph_checked

POISON_BYTE = 0xFF   # all-ones: NaN in every float format
PREFAULT_BYTES = 8 << 20   # an arena this large is allocated and touched while the kernels compile
PAGE = 4096


class Role(enum.Enum):
    SOURCE = "source"   # a placeholder, variable or constant: its value is given
    EFFECT = "effect"   # an initializer: its reference gives the values the session commits
    VIEW = "view"       # a numpy view of another value (no kernel, no buffer)
    ARENA = "arena"     # a kernel writing its arena region
    FRESH = "fresh"     # a kernel writing a fresh array (a fetched result)


@dataclass(frozen=True, eq=False)
class Step:
    node: object
    role: Role
    region: tuple | None   # (offset, size) in the arena, for an ARENA step
    frees: tuple           # values no later step reads: dropped after this one
    dead: tuple            # (offset, size) of the arena buffers that die here


@dataclass(frozen=True, eq=False)
class CallPlan:
    """What a run does, step by step, and the arena it needs."""
    steps: tuple
    arena_bytes: int

    @classmethod
    def build(cls, graph, memory_plan):
        location = memory_plan.location()
        dies = {}
        for b in memory_plan.buffers:
            dies.setdefault(b.end, []).append((b.offset, b.size))
        outputs = set(graph.outputs)
        steps = tuple(Step(node, _role(node, outputs), location.get(node.name), frees, tuple(dies.get(i, ())))
                      for i, (node, frees) in enumerate(zip(graph.nodes, memory_plan.frees)))
        return cls(steps, memory_plan.peak_bytes)

    def kernels(self):
        """The nodes whose steps run a kernel, in order."""
        return [s.node for s in self.steps if s.role in (Role.ARENA, Role.FRESH)]


def output_sharing(plan, inplace):
    """``{kernel node: the inputs stored at its output's own address}`` for every kernel whose
    other inputs overlap none of its output's memory. The shared ones are read only at the
    output's own position: an input whose arena buffer the kernel writes over (memory
    planning's in-place chains) or the variable an update is written into (``inplace``). A
    backend may load them through the output's pointer and tell its compiler that the
    output's accesses alias none of the other inputs' loads (the CPU backend's alias scopes);
    wherever such an update's output is not the variable's buffer (the step-by-step path, a
    variable whose array is read-only) the variable's values are copied into it first."""
    region = {s.node: s.region for s in plan.steps if s.region is not None}
    sharing = {}
    for s in plan.steps:
        if s.role not in (Role.ARENA, Role.FRESH):
            continue
        shared, overlapping = set(), False
        for x in s.node.inputs:
            base = view_base(x)
            other = region.get(base)
            if s.node in inplace and base.op == "variable" and base.name == inplace[s.node][0]:
                if base is x:
                    shared.add(base)
                else:
                    overlapping = True
            elif s.region is not None and other is not None and other[0] < s.region[0] + s.region[1] \
                    and s.region[0] < other[0] + other[1]:
                if other[0] == s.region[0] and base is x:
                    shared.add(base)
                else:
                    overlapping = True
        if not overlapping:
            sharing[s.node] = frozenset(shared)
    return sharing


def _role(node, outputs):
    if runs_kernel(node):
        return Role.FRESH if node in outputs else Role.ARENA
    kind = node.opdef.kind
    return Role.SOURCE if kind == SOURCE else Role.EFFECT if kind == EFFECT else Role.VIEW


def make_executor(graph, plan, device, poison=False, inplace=None, updates=()):
    """The executor of a program on ``device``: the backend's own when it has one (the CUDA
    backend's keeps the program on the device; it is told the run's ``updates``,
    (variable name, output position) pairs), else :class:`Executor`."""
    backend = backend_of(device) if plan is not None else None
    own = getattr(backend, "executor", None)
    if own is not None:
        return own(graph, plan, poison=poison, inplace=inplace, updates=updates)
    return Executor(graph, plan, device, poison=poison, inplace=inplace)


class Executor:
    """Runs ``graph`` by its call plan (the whole graph by the interpreter when there is
    none: a program compiled without memory planning).

    An executor runs one run at a time (its arena, the kernels' parameter tables and the
    bound run's reused outputs are state of the run); runs at the same time on other
    threads each take a :meth:`twin` (runtime.compiler.Compiled keeps them)."""

    def __init__(self, graph, plan, device="reference", poison=False, inplace=None):
        """``inplace``: {kernel node: (variable name, private product)} of updates the
        bound run writes straight into the variable's buffer (runtime.inplace)."""
        self.graph, self.plan, self.poison = graph, plan, poison
        self._inplace = inplace or {}
        self._arena = None
        self._backend = backend_of(device) if plan is not None else None
        self._faulting = None
        if self._backend is not None and plan.arena_bytes >= PREFAULT_BYTES and not poison:
            self._faulting = threading.Thread(target=self.arena, name="graphc-arena-prefault", daemon=True)
            self._faulting.start()
        self.kernels, self.code = {}, None   # node -> the backend's kernel; its compiled code
        self._seeded = {}
        if self._backend is not None:
            private = {node for node, (_, product) in self._inplace.items() if product}
            sharing = output_sharing(plan, self._inplace)
            self.kernels, self.code = self._backend.build(plan.kernels(), private, sharing)
            # updates whose kernel may read the variable through its output (output_sharing)
            self._seeded = {node: var for node in self._inplace for var in sharing.get(node, ()) if var.op == "variable"}
        self.bound = self._bind()
        self.writes_in_place = bool(self._inplace) and self.bound is not None   # (runtime.inplace)

    def _bind(self):
        if not self.kernels or self.poison or getattr(self._backend, "BoundRun", None) is None:
            return None
        steps, outputs = self.plan.steps, set(self.graph.outputs)
        if any(s.role == Role.EFFECT or (s.role in (Role.ARENA, Role.FRESH) and s.node not in self.kernels)
               or (s.node in outputs and s.role != Role.FRESH) for s in steps):
            return None
        return self._backend.BoundRun(self.graph, steps, self.kernels, self.arena(), self._inplace)

    def twin(self):
        """An executor of the same program for a run at the same time as this one's: the
        plan and compiled kernels are shared, each with its own arena, parameter tables,
        scratch buffers and reused outputs (no recompiling)."""
        twin = copy.copy(self)
        twin._arena, twin._faulting = None, None
        twin.kernels = {node: kernel.clone() for node, kernel in self.kernels.items()}
        twin.bound = twin._bind() if self.bound is not None else None
        return twin

    def lean(self, feed_names):
        """The bound run's lean function for these feeds (``BoundRun.lean``), or None."""
        return self.bound.lean(list(feed_names)) if self.bound is not None else None

    def arena(self):
        """The arena (allocated on first use; poisoned from the start with ``poison``)."""
        faulting = self._faulting
        if faulting is not None and faulting is not threading.current_thread():
            faulting.join()
            self._faulting = None
        if self._arena is None:
            arena = np.empty(self.plan.arena_bytes, np.uint8)
            if faulting is not None:   # (every page touched once, while the kernels compile)
                arena[::PAGE] = 0
            self._arena = arena
            if self.poison:
                self._arena.fill(POISON_BYTE)
        return self._arena

    def run(self, feeds, variables, check_numerics=False, trace=None):
        """The outputs' values. ``check_numerics`` takes the step-by-step path with a
        runtime.numerics check, which raises at the first NaN/Inf an op produces; so does
        ``trace`` (a list), which gets (node, start ns, end ns) of every kernel step."""
        if self.bound is not None and not check_numerics and trace is None:
            return self.bound.run(feeds, variables)
        if self.plan is None:
            return (run_graph_checked if check_numerics else run_graph)(self.graph, feeds, variables)
        arena = self.arena()
        env = {}
        check = NumericsCheck(self.graph, feeds, variables) if check_numerics else None
        with np.errstate(all="ignore"):
            for step in self.plan.steps:
                node, role = step.node, step.role
                if role == Role.SOURCE:
                    env[node] = _source_value(node, feeds, variables)
                elif role in (Role.VIEW, Role.EFFECT):
                    env[node] = compute(node, [env[x] for x in node.inputs])
                else:
                    if role == Role.FRESH:
                        out = np.empty(node.shape, node.dtype)
                    else:
                        offset, size = step.region
                        out = arena[offset:offset + size].view(node.dtype).reshape(node.shape)
                    saved = check.inputs(node, env, out) if check else None
                    kernel = self.kernels.get(node)
                    start = time.perf_counter_ns() if trace is not None else 0
                    if kernel is not None:
                        if node in self._seeded:   # (a fresh output: the variable's values first)
                            np.copyto(out, env[self._seeded[node]])
                        kernel.run(env, out)
                    else:
                        np.copyto(out, compute(node, [env[x] for x in node.inputs]))
                    if trace is not None:
                        trace.append((node, start, time.perf_counter_ns()))
                    env[node] = out
                    if check:
                        check.output(node, out, saved)
                for x in step.frees:
                    del env[x]
                if self.poison:
                    for offset, size in step.dead:
                        arena[offset:offset + size] = POISON_BYTE
        return [env[n] for n in self.graph.outputs]


def _source_value(node, feeds, variables):
    if node.op == "placeholder":
        return read_only(feeds[node.name])
    if node.op == "variable":
        return read_only(variables[node.name])
    return node.attrs["value"]
