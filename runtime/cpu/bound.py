"""A program whose every kernel is native code, bound once.

A run is then: find the feeds' and outputs' addresses, write them into the kernels'
parameter tables, call each kernel. Arena and constant addresses are written once. A
fetched array from the last run is reused when its caller has dropped it, so a
steady-state loop allocates nothing.
"""
import sys

import numpy as np

from .native import run_side_by_side
from .pairing import pair_kernels


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
                run_side_by_side(group[0][0], group[1][0])
        return [made[n] for n in self.results]
