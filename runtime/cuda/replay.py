"""A program's whole run captured once as a device graph (a CUDA graph on a GPU) and replayed.

After a program's first run walked its plan, :func:`capture` walks it once more with the
device capturing instead of executing: every kernel launch, GEMM and copy is recorded
with the addresses it uses, so a replayed run is one graph launch. The addresses must
then be the same every run, so the replay owns a buffer for each feed and each variable
the program reads or updates, and for each output:

- before the launch, each feed is copied into its buffer (host to device, or device to
  device for a CuPy feed), and each variable whose storage is not already its buffer;
- the graph ends by copying each update's value into its variable's buffer, and the run
  returns that buffer for the update: the session keeps it as the variable's storage,
  so the next run copies nothing for it (the variable is updated in place, and
  runtime/session.py keeps readers out meanwhile: ``writes_in_place``);
- every other output is copied out of the replay's buffer after the launch, so what a
  caller holds is never overwritten by the next run.

A program that needs the host between kernels (a kernel the renderer cannot express, an
effect) or asks for poisoning is never captured; a capture the device refuses leaves the
program walking its plan. ``GRAPHC_CUDA_GRAPHS=0`` turns capture off.
"""
import os

CAPTURE = os.environ.get("GRAPHC_CUDA_GRAPHS", "1") != "0"


class Replay:
    def __init__(self, executor):
        device, graph = executor.device, executor.graph
        self.device = device
        sources = [s.node for s in executor.plan.steps if s.node.op in ("placeholder", "variable")]
        self.feeds = {n.name: device.empty(n.shape, n.dtype) for n in sources if n.op == "placeholder"}
        self.variables = {n.name: device.empty(n.shape, n.dtype) for n in sources if n.op == "variable"}
        for name, position in executor.updates:   # (an update of a variable the program does not read)
            node = graph.outputs[position]
            self.variables.setdefault(name, device.empty(node.shape, node.dtype))
        # updates written into the variables' buffers (not when the run may still fail: an index check)
        self.updated = {position: name for name, position in executor.updates} if executor.writes_in_place else {}

        def source(node):
            if node.op == "placeholder":
                return self.feeds[node.name]
            if node.op == "variable":
                return self.variables[node.name]
            return executor.on_device(node, node.attrs["value"])   # (kept by the executor)

        def run_once():
            env, _ = executor.walk(source)
            outputs = []
            for position, node in enumerate(graph.outputs):
                if position in self.updated:
                    outputs.append(None)
                    continue
                out = device.empty(node.shape, node.dtype)   # (a source or a view is copied too)
                device.copy_into(out, env[node])
                outputs.append(out)
            for position, name in self.updated.items():   # after every read of the old values
                device.copy_into(self.variables[name], env[graph.outputs[position]])
            return outputs

        self.graph, self.outputs = device.capture(run_once)

    def run(self, feeds, variables):
        device = self.device
        for name, buffer in self.feeds.items():
            device.copy_into(buffer, feeds[name])
        for name, buffer in self.variables.items():
            value = variables.get(name)
            if value is not None and value is not buffer:
                device.copy_into(buffer, value)
        device.replay(self.graph)
        return [self.variables[self.updated[p]] if p in self.updated else device.copy(out)
                for p, out in enumerate(self.outputs)]


def capture(executor):
    """A :class:`Replay` of ``executor``'s program, or None when capture is off or the
    device could not capture it (the program then keeps walking its plan)."""
    if not CAPTURE:
        return None
    try:
        return Replay(executor)
    except executor.device.CaptureFailed:
        return None
