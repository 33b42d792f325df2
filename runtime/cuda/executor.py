"""The CUDA executor: a compiled program's call plan run on a device.

One device arena per program, from the memory plan. Feeds that are device arrays are
used in place, host arrays are copied to the device once per run; Variables stay on the
device between runs (the session stores the device arrays a run's updates produce, and a
host value is copied up once and kept while the session holds the same array); fetched
values are device arrays, which the session copies to the host unless asked not to.
Views are device views. A kernel runs as the module's generated code (a GEMM first, for a
product); one the renderer cannot express runs its numpy reference through a host round
trip, so every graph runs. The first run walks the plan; a program without host round
trips is then captured and replayed (runtime/cuda/replay.py). A gather or scatter_add
index out of range sets its kernel's flag, read after the run: the reference's
IndexError, nothing committed. ``check_numerics`` walks the plan, checking each
kernel's output on the host (runtime/numerics.py).

The device is an object with a small interface (``runtime/cuda/device.py``: CuPy on a
GPU; ``runtime/cuda/host.py``: numpy and the generated code compiled for the host), so
the executor's logic is the same, and tested, without a GPU.
"""
import copy
import time

import numpy as np

from ...errors import ExecutionError
from ...ir.interpret import compute
from ..executor import POISON_BYTE, Role
from ..numerics import NumericsCheck

_NOTHING = np.empty(0)   # (host copies of a kernel's inputs share no memory with its output)


class DeviceExecutor:
    def __init__(self, graph, plan, device, kernels, poison=False, updates=()):
        self.graph, self.plan, self.device, self.kernels, self.poison = graph, plan, device, kernels, poison
        self.updates = tuple(updates)   # (variable name, output position): committed by the session
        self.bound, self.code = None, None   # (no bound run yet: every run walks the plan)
        self._arena = None
        self._uploaded = {}   # node -> (the host array given for it, its device copy): constants, variables
        self.replay = None    # the run captured as one device graph (runtime/cuda/replay.py)
        self._captured = False
        # kernels that report an index out of range (gather, scatter_add): known only after the run
        self.checked = [node for node, kernel in kernels.items() if kernel.error is not None]
        # a replay writes updates into the variables' device buffers (the session keeps readers out
        # meanwhile), unless the run can still fail after its kernels ran
        self.writes_in_place = bool(self.updates) and self.capturable() and not self.checked

    def capturable(self):
        """Whether a run can be captured once and replayed: every kernel is generated code
        (no host round trip), no effect runs on the host, the device captures and no
        poisoning between steps is asked for."""
        return self.device.captures and not self.poison and all(
            s.role in (Role.SOURCE, Role.VIEW) or (s.role != Role.EFFECT and s.node in self.kernels)
            for s in self.plan.steps)

    def twin(self):
        twin = copy.copy(self)
        twin._arena, twin._uploaded, twin.replay, twin._captured = None, {}, None, False
        twin.kernels = {node: kernel.clone() for node, kernel in self.kernels.items()}
        return twin

    def arena(self):
        if self._arena is None:
            self._arena = self.device.empty((self.plan.arena_bytes,), np.uint8)
            if self.poison:
                self.device.fill(self._arena, POISON_BYTE)
        return self._arena

    def on_device(self, node, array):
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
            return self.on_device(node, variables[node.name])
        return self.on_device(node, node.attrs["value"])

    def lean(self, feed_names):
        """No lean path on a device: a run goes through ``run`` (its arrays are device arrays)."""
        return None

    def run(self, feeds, variables, check_numerics=False, trace=None):
        """The outputs' values as device arrays (effects' values: host values). The first
        run walks the plan; a capturable program is then captured, and later runs replay it.
        A traced run walks the plan, the device synchronized around each kernel, and gets
        (node, start ns, end ns) of every kernel step."""
        with self.device.ordered():
            if check_numerics:
                return self._checked_run(feeds, variables)
            if trace is not None:
                env, given = self.walk(lambda node: self._source(node, feeds, variables), trace=trace)
                return self._reported(self._owned(env, given))
            if self.replay is not None:
                return self._reported(self.replay.run(feeds, variables))
            env, given = self.walk(lambda node: self._source(node, feeds, variables))
            outputs = self._reported(self._owned(env, given))
            if not self._captured and self.capturable():
                self._captured = True   # (once: a program whose capture fails keeps walking)
                from .replay import capture
                self.replay = capture(self)
            return outputs

    def _reported(self, outputs):
        """``outputs``, unless a kernel found an index out of range: then ExecutionError, as the
        reference's IndexError (the session then commits nothing)."""
        failed = [node for node in self.checked if self.kernels[node].failed()]   # (clears every flag)
        if failed:
            node = failed[0]
            x, axis = node.inputs[0], node.attrs["axis"]
            raise ExecutionError(f"{node.where()} failed: IndexError: an index of '{node.inputs[1].name}' is out "
                                 f"of bounds for axis {axis} with size {x.shape[axis]}")
        return outputs

    def _owned(self, env, given):
        """The outputs in order; a fetched source (or a view of one) is a copy: the caller must
        not hold the variable's device copy, a constant or a feed."""
        return [self.device.copy(env[n]) if given.get(n) else env[n] for n in self.graph.outputs]

    def walk(self, source, check=None, trace=None):
        """Run the plan's steps, ``source(node)`` giving each source's device array; returns
        the values of the outputs ({node: array}) and which of them are not the run's own
        (sources and views of them: {node: True}). ``check``: a NumericsCheck on host copies;
        ``trace``: a list to append (node, start ns, end ns) of each kernel step to."""
        arena, device = self.arena(), self.device
        env, given, outputs = {}, {}, set(self.graph.outputs)
        for step in self.plan.steps:
            node, role = step.node, step.role
            if role == Role.SOURCE:
                env[node] = source(node)
                given[node] = True
            elif role == Role.VIEW:   # the op's reference on device arrays gives a device view (or copy)
                env[node] = device.view(lambda xs, node=node: node.opdef.compute(xs, **node.attrs),
                                        [env[x] for x in node.inputs])
                given[node] = given.get(node.inputs[0], False)
            elif role == Role.EFFECT:
                env[node] = compute(node, [device.to_host(env[x]) for x in node.inputs])
            else:
                if role == Role.FRESH:
                    out = device.empty(node.shape, node.dtype)
                else:
                    offset, size = step.region
                    out = device.region(arena, offset, node.shape, node.dtype)
                saved = check.inputs(node, {x: device.to_host(env[x]) for x in node.inputs}, _NOTHING) if check else None
                kernel = self.kernels.get(node)
                if trace is not None:
                    device.synchronize()
                    start = time.perf_counter_ns()
                if kernel is not None:
                    kernel.run(env, out)
                else:   # the reference, through the host
                    value = compute(node, [device.to_host(env[x]) for x in node.inputs])
                    device.copy_from_host(out, np.asarray(value, order="C"))
                if trace is not None:
                    device.synchronize()
                    trace.append((node, start, time.perf_counter_ns()))
                env[node] = out
                if check:
                    check.output(node, device.to_host(out), saved)
            for x in step.frees:
                del env[x]
            if self.poison:
                for offset, size in step.dead:
                    device.fill(arena[offset:offset + size], POISON_BYTE)
        return {n: env[n] for n in outputs}, {n: True for n in outputs if given.get(n)}

    def _checked_run(self, feeds, variables):
        """The plan step by step, each kernel's output checked on the host for NaN/Inf
        (runtime/numerics.py: the error names the op, its kernel and its source line)."""
        host_variables = {name: self.device.to_host(v) for name, v in variables.items()}
        check = NumericsCheck(self.graph, {k: self.device.to_host(v) for k, v in feeds.items()}, host_variables)
        env, given = self.walk(lambda node: self._source(node, feeds, variables), check)
        return self._reported(self._owned(env, given))
