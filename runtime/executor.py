"""Runs a compiled graph over its memory plan.

On ``device="cpu"`` each kernel runs as native code (runtime.native); a kernel the
LLVM backend cannot express yet, and every kernel on ``device="reference"``, is
evaluated by its numpy reference (a fused kernel by interpreting its body). Results
are written into the kernel's arena region (or into a fresh array when fetched). Views are numpy views of their input. With ``poison``,
each region is filled with NaN bytes the moment its buffer dies, so a planner that
reuses memory too early shows up as wrong results.
"""
import copy
import sys

import numpy as np

from ..ops import EFFECT, SOURCE
from ..passes.memory import is_view
from .pairing import pair_kernels
from .numerics import NumericsCheck, run_graph_checked
from .reference import compute, read_only, run_graph

POISON_BYTE = 0xFF   # all-ones: NaN in every float format


class Executor:
    """Runs ``graph`` over its memory plan; on ``device="cpu"`` kernels run as native code.

    An executor runs one run at a time (its arena, the kernels' parameter tables and the
    fast path's reused outputs are state of the run); runs at the same time on other
    threads each take a :meth:`twin` (runtime.compiler.Compiled keeps them)."""

    def __init__(self, graph, plan, poison=False, device="reference", inplace=None):
        """``inplace``: {kernel node: (variable name, private product)} of updates the
        fast path writes straight into the variable's buffer (runtime.inplace)."""
        self.graph, self.plan, self.poison = graph, plan, poison
        inplace = inplace or {}
        self._arena = None
        self.native, self.jit = {}, None
        if plan is not None:
            self._steps = self._prepare()
            if device == "cpu":
                from .native import build_native
                kernels = [node for node, role, *_ in self._steps if role in ("arena", "fresh")]
                private = {node for node, (_, product) in inplace.items() if product}
                self.native, self.jit = build_native(kernels, private)
        self._fast = _FastPath.build(self, inplace) if self.native and not poison else None
        self._inplace = inplace

    def twin(self):
        """An executor of the same program for a run at the same time as this one's: the
        plan and compiled kernels are shared, each with its own arena, parameter tables,
        scratch buffers and reused outputs (no recompiling)."""
        twin = copy.copy(self)
        twin._arena = None
        twin.native = {node: kernel.clone() for node, kernel in self.native.items()}
        twin._fast = _FastPath.build(twin, self._inplace) if self._fast is not None else None
        return twin

    def _prepare(self):
        nodes, outputs = self.graph.nodes, set(self.graph.outputs)
        location = self.plan.location()
        dies_at = {}
        for b in self.plan.buffers:
            dies_at.setdefault(b.end, []).append((b.offset, b.size))
        last_use = {}
        for i, node in enumerate(nodes):
            for x in node.inputs:
                last_use[x] = i
                while is_view(x):   # native kernels read a view's base buffer directly
                    x = x.inputs[0]
                    last_use[x] = i
        steps = []
        for i, node in enumerate(nodes):
            kind = node.opdef.kind
            role = ("source" if kind == SOURCE else "effect" if kind == EFFECT else
                    "view" if is_view(node) else "fresh" if node in outputs else "arena")
            free = [x for x, last in last_use.items() if last == i and x not in outputs]
            steps.append((node, role, location.get(node.name), free, dies_at.get(i, [])))
        return steps

    def run(self, feeds, variables, check_numerics=False):
        """The outputs' values. ``check_numerics`` takes the step-by-step path with a
        runtime.numerics check, which raises at the first NaN/Inf an op produces."""
        if self._fast is not None and not check_numerics:
            return self._fast.run(feeds, variables)
        if self.plan is None:
            return (run_graph_checked if check_numerics else run_graph)(self.graph, feeds, variables)
        if self._arena is None:
            self._arena = np.empty(self.plan.peak_bytes, np.uint8)
            if self.poison:
                self._arena.fill(POISON_BYTE)
        env = {}
        check = NumericsCheck(self.graph, feeds, variables) if check_numerics else None
        with np.errstate(all="ignore"):
            for node, role, where, free, dead_regions in self._steps:
                if role == "source":
                    env[node] = _source_value(node, feeds, variables)
                elif role in ("view", "effect"):
                    env[node] = compute(node, [env[x] for x in node.inputs])
                else:
                    out = np.empty(node.shape, node.dtype) if role == "fresh" else self._region(node, where)
                    saved = check.inputs(node, env, out) if check else None
                    native = self.native.get(node)
                    if native is not None:
                        native.run(env, out)
                    else:
                        np.copyto(out, compute(node, [env[x] for x in node.inputs]))
                    env[node] = out
                    if check:
                        check.output(node, out, saved)
                for x in free:
                    del env[x]
                if self.poison:
                    for offset, size in dead_regions:
                        self._arena[offset:offset + size] = POISON_BYTE
        return [env[n] for n in self.graph.outputs]

    def _region(self, node, where):
        offset, size = where
        return self._arena[offset:offset + size].view(node.dtype).reshape(node.shape)


class _FastPath:
    """When every kernel is native, nothing has an effect and every fetch is a kernel's
    result, a run is: find the feeds' and outputs' addresses, write them into the
    kernels' parameter tables, call each kernel. Arena and constant addresses are
    written once. A fetched array from the last run is reused when its caller has
    dropped it, so a steady-state loop allocates nothing."""

    @classmethod
    def build(cls, executor, inplace):
        steps, outputs = executor._steps, executor.graph.outputs
        if any(role == "effect" or (role in ("arena", "fresh") and node not in executor.native)
               for node, role, *_ in steps):
            return None
        roles = {node: role for node, role, *_ in steps}
        if any(roles[n] != "fresh" for n in outputs):
            return None
        return cls(executor, inplace)

    def __init__(self, executor, inplace):
        plan = executor.plan
        executor._arena = np.empty(plan.peak_bytes, np.uint8)
        base = executor._arena.ctypes.data
        location = plan.location()
        self.inputs = [n for n in executor.graph.nodes if n.op in ("placeholder", "variable")]
        self.outputs = list(dict.fromkeys(executor.graph.outputs))
        self.results = executor.graph.outputs
        self.inplace = {node: name for node, (name, _) in inplace.items()}
        calls = []
        self.kept = []
        for node, role, *_ in executor._steps:
            kernel = executor.native.get(node)
            if kernel is None:
                continue
            dynamic = []
            for slot, src in enumerate(kernel.sources + [node]):
                if src is None:
                    continue                                  # a constant of the kernel
                if src.name in location:
                    kernel.bind(slot, base + location[src.name][0])
                elif src.op == "constant":
                    self.kept.append(src.attrs["value"])
                    kernel.bind(slot, src.attrs["value"].ctypes.data)
                else:
                    dynamic.append((slot, src))               # feed, variable or fetched result
            calls.append((kernel, node, dynamic))
        from .native import run_side_by_side   # (native code, and so llvmlite, loads only when used)
        self.side_by_side = run_side_by_side
        # independent large GEMMs run side by side, one thread each (runtime.pairing)
        self.groups = [[(kernel, dynamic) for kernel, _, dynamic in group]
                       for group in pair_kernels(calls, location, self.inplace)]
        self._last = {}

    def _address(self, node, array):
        last = self._last.get(node)
        if last is not None and last[0] is array:
            return last[1]
        address = array.ctypes.data
        self._last[node] = (array, address)
        return address

    def _output(self, node):
        last = self._last.get(node)
        if last is not None and sys.getrefcount(last[0]) == 2:   # only our tuple (and the argument) left
            return last[0]
        return np.empty(node.shape, node.dtype)

    def run(self, feeds, variables):
        address = {}
        for node in self.inputs:
            value = feeds[node.name] if node.op == "placeholder" else variables[node.name]
            address[node] = self._address(node, value)
        made = {}
        for node in self.outputs:
            target = self.inplace.get(node)
            out = variables[target] if target is not None else None
            if out is None or not out.flags.writeable or not out.flags.c_contiguous:
                out = self._output(node)
            made[node] = out
            address[node] = self._address(node, out)
        for group in self.groups:
            for kernel, dynamic in group:
                for slot, node in dynamic:
                    kernel.table[slot] = address[node]
            if len(group) == 1:
                group[0][0].call()
            else:
                self.side_by_side(group[0][0], group[1][0])
        return [made[n] for n in self.results]


def _source_value(node, feeds, variables):
    if node.op == "placeholder":
        return read_only(feeds[node.name])
    if node.op == "variable":
        return read_only(variables[node.name])
    return node.attrs["value"]
