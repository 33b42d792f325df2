"""A program whose every kernel is native code, bound once.

A run is then: find the feeds' and outputs' addresses, write them into the kernels'
parameter tables, and run the program's calls, stage after stage, in one native call
(``work_pool.Plan``; a kernel calling OpenBLAS on threads breaks the plan in two). Arena and
constant addresses are written once. A fetched array from the last run is reused when its
caller has dropped it, so a steady-state loop allocates nothing.
"""
import sys

import numpy as np

from .pairing import pair_kernels
from .work_pool import Plan


class BoundRun:
    def __init__(self, graph, steps, kernels, arena, inplace):
        """``steps``: the call plan (runtime.executor.Step); ``kernels``: node ->
        NativeFunction for every kernel step; ``inplace``: {kernel node: (variable name,
        private product)} of updates written into the variable's own buffer."""
        base = arena.ctypes.data
        location = {s.node: s.region for s in steps if s.region is not None}
        self.inputs = [n for n in graph.nodes if n.opdef.runtime_value]
        self.outputs = list(dict.fromkeys(graph.outputs))
        self.results = graph.outputs
        self.inplace = {node: name for node, (name, _) in inplace.items()}
        self.kept = [arena]     # memory the bound addresses point into
        calls = []
        for step in steps:
            kernel = kernels.get(step.node)
            if kernel is None:
                continue
            dynamic = []
            for slot, src in enumerate(kernel.sources + [step.node]):
                if src is None:
                    continue                                  # a constant of the kernel
                if src in location:
                    kernel.bind(slot, base + location[src][0])
                elif src.op == "constant":
                    self.kept.append(src.attrs["value"])
                    kernel.bind(slot, src.attrs["value"].ctypes.data)
                else:
                    dynamic.append((slot, src))               # feed, variable or fetched result
            calls.append((kernel, step.node, dynamic))
        # independent large GEMMs run side by side, one thread each (runtime.cpu.pairing)
        self.groups = [[kernel for kernel, _, _ in group] for group in pair_kernels(calls, location, self.inplace)]
        self.dynamic = [(kernel.table, dynamic) for kernel, _, dynamic in calls]
        self.segments, self.kept_plans = _segments(self.groups)
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
                if target is not None:   # (its kernel may read the variable through its output)
                    np.copyto(out, variables[target])
            made[node] = out
            address[node] = self._address(node, out)
        for table, dynamic in self.dynamic:
            for slot, node in dynamic:
                table[slot] = address[node]
        self._run_segments()
        return [made[n] for n in self.results]

    def _run_segments(self):
        for segment in self.segments:
            segment()

    def lean(self, feed_names):
        """A function of the feed arrays (in ``feed_names`` order: C-contiguous, of the planned
        dtypes and shapes, which the caller has checked) returning the one output, for a
        program that reads no variables and updates nothing; None for any other program. It
        writes into the parameter tables only what changed since the last call (a new feed
        array, a new output) and runs the plan: the whole per-run cost of a tiny program. The
        caller holds the program's lock."""
        if self.inplace or len(self.outputs) != 1 or any(n.op != "placeholder" for n in self.inputs):
            return None
        writes = {}
        for table, dynamic in self.dynamic:
            for slot, node in dynamic:
                writes.setdefault(node, []).append((table, slot))
        by_name = {n.name: n for n in self.inputs}
        if not set(by_name) <= set(feed_names):
            return None
        feed_writes = [writes.get(by_name.get(name), []) for name in feed_names]
        (out,) = self.outputs
        out_writes, shape, dtype = writes.get(out, []), out.shape, out.dtype
        plan = self.segments[0] if len(self.segments) == 1 else self._run_segments
        fed = list(enumerate(feed_writes))
        last_feeds, last_out, references = [None] * len(feed_names), [None], sys.getrefcount

        def run(values):
            for i, writes_i in fed:
                value = values[i]
                if value is not last_feeds[i]:   # (the last array is kept: its address cannot be reused)
                    address = value.ctypes.data
                    for table, slot in writes_i:
                        table[slot] = address
                    last_feeds[i] = value
            result = last_out[0]
            if result is None or references(result) > 3:   # the caller still holds the last one
                result = last_out[0] = np.empty(shape, dtype)
                address = result.ctypes.data
                for table, slot in out_writes:
                    table[slot] = address
            plan()
            return result
        return run


def _segments(groups):
    """The functions that run ``groups`` (lists of one NativeFunction, or two that run side by
    side, each whole on one thread) in order: one Plan's for every run of groups between
    kernels whose shares go to Python threads (NativeFunction.on_pool), and those kernels'
    calls; and the Plans, which must live as long as their functions may be called."""
    segments, plans, stages = [], [], []

    def close_plan():
        if stages:
            plans.append(Plan(stages))
            segments.append(plans[-1].run)
            stages.clear()
    for group in groups:
        (first, *more) = group
        if more:
            stages.append([kernel.whole() for kernel in group])
        elif first.parts == 1 or first.shares is not None:
            stages.append(first.share_calls())
        else:
            close_plan()
            segments.append(first.call)
    close_plan()
    return segments, plans

