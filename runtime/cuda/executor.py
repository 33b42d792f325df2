"""The CUDA executor: a compiled program's call plan run on a device.

One device arena per program, from the memory plan. Feeds that are device arrays are
used in place, host arrays are copied to the device once per run; Variables stay on the
device between runs (the session stores the device arrays a run's updates produce, and a
host value is copied up once and kept while the session holds the same array); fetched
values are device arrays, which the session copies to the host unless asked not to.
Views are device views. A kernel runs as the module's generated code (a GEMM first, for a
product); one the renderer cannot express runs its numpy reference through a host round
trip, so every graph runs.

The device is an object with a small interface (``runtime/cuda/device.py``: CuPy on a
GPU; ``runtime/cuda/host.py``: numpy and the generated code compiled for the host), so
the executor's logic is the same, and tested, without a GPU.
"""
import copy

import numpy as np

from ...ir.interpret import compute
from ..executor import POISON_BYTE, Role


class DeviceExecutor:
    def __init__(self, graph, plan, device, kernels, poison=False):
        self.graph, self.plan, self.device, self.kernels, self.poison = graph, plan, device, kernels, poison
        self.bound, self.code = None, None   # (no bound run yet: every run walks the plan)
        self._arena = None
        self._uploaded = {}   # node -> (the host array given for it, its device copy): constants, variables

    def twin(self):
        twin = copy.copy(self)
        twin._arena, twin._uploaded = None, {}
        twin.kernels = {node: kernel.clone() for node, kernel in self.kernels.items()}
        return twin

    def arena(self):
        if self._arena is None:
            self._arena = self.device.empty((self.plan.arena_bytes,), np.uint8)
            if self.poison:
                self.device.fill(self._arena, POISON_BYTE)
        return self._arena

    def _on_device(self, node, array):
        """``array`` (the value of source ``node``) as a device array: itself if it is one,
        else a copy kept while the same host array is given (a constant, a variable the
        session holds on the host)."""
        if self.device.is_device_array(array):
            return array
        kept = self._uploaded.get(node)
        if kept is None or kept[0] is not array:
            kept = self._uploaded[node] = (array, self.device.to_device(np.asarray(array, order="C")))
        return kept[1]

    def _source(self, node, feeds, variables):
        if node.op == "placeholder":
            value = feeds[node.name]
            return value if self.device.is_device_array(value) else self.device.to_device(np.asarray(value, order="C"))
        if node.op == "variable":
            return self._on_device(node, variables[node.name])
        return self._on_device(node, node.attrs["value"])

    def run(self, feeds, variables, check_numerics=False):
        """The outputs' values as device arrays (effects' values: host values)."""
        if check_numerics:
            from ...errors import GraphcError
            raise GraphcError("check_numerics is not supported on the CUDA devices yet; run the program on "
                              'device="cpu" to find the op')
        arena, device = self.arena(), self.device
        env, given = {}, {}   # given: values that are not the run's own (sources and views of them)
        for step in self.plan.steps:
            node, role = step.node, step.role
            if role == Role.SOURCE:
                env[node] = self._source(node, feeds, variables)
                given[node] = True
            elif role == Role.VIEW:   # the op's reference on device arrays gives a device view
                env[node] = node.opdef.compute([env[x] for x in node.inputs], **node.attrs)
                given[node] = given.get(node.inputs[0], False)
            elif role == Role.EFFECT:
                env[node] = compute(node, [device.to_host(env[x]) for x in node.inputs])
            else:
                if role == Role.FRESH:
                    out = device.empty(node.shape, node.dtype)
                else:
                    offset, size = step.region
                    out = device.region(arena, offset, node.shape, node.dtype)
                kernel = self.kernels.get(node)
                if kernel is not None:
                    kernel.run(env, out)
                else:   # the reference, through the host
                    value = compute(node, [device.to_host(env[x]) for x in node.inputs])
                    device.copy_from_host(out, np.asarray(value, order="C"))
                env[node] = out
            for x in step.frees:
                del env[x]
            if self.poison:
                for offset, size in step.dead:
                    device.fill(arena[offset:offset + size], POISON_BYTE)
        # a fetched source (or a view of one) is a copy: the caller must not hold the variable's
        # device copy, a constant or a feed
        return [device.copy(env[n]) if given.get(n) else env[n] for n in self.graph.outputs]
