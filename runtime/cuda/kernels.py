"""A program's kernels for a device: lowered, rendered into one CUDA C module, compiled and
loaded by the device (runtime/cuda/device.py on a GPU, runtime/cuda/host.py on the host),
each run as its GEMM (if any) and then its generated code."""
import numpy as np

from .executor import DeviceExecutor
from .render import lower_and_render


class DeviceKernel:
    """One kernel on the device: its GEMM (through the device), its generated function (and
    a first stage's, for a two-stage reduction: launch.first), its own buffers."""

    def __init__(self, kernel, constants, functions, launch, device):
        self.kernel, self.launch, self.device = kernel, launch, device
        self.function, self.first = functions
        self.constants = {i: device.to_device(a) for i, a in constants.items()}
        self.sources = [None if i in constants else s for i, s in enumerate(kernel.sources[:-1])]
        self.scratch = {}   # the device's buffers for this kernel's GEMM (a product kept apart)
        self.error = self._flag() if launch.checks else None   # set by an index out of range
        self.parts = self._parts()   # a two-stage reduction's partial results

    def clone(self):
        """A twin for a run at the same time: its own scratch buffers (a private product)."""
        twin = object.__new__(DeviceKernel)
        twin.__dict__.update(self.__dict__)
        twin.constants = {i: a.copy() for i, a in self.constants.items()}
        twin.scratch = {}
        twin.error = twin._flag() if self.error is not None else None
        twin.parts = twin._parts()
        return twin

    def _flag(self):
        return self.device.to_device(np.zeros(1, np.int32))

    def _parts(self):
        return [self.device.empty((count,), dtype) for dtype, count in self.launch.scratch]

    def run(self, env, out):
        buffers = [self.constants[i] if node is None else env[node] for i, node in enumerate(self.sources)] + [out]
        if self.kernel.gemm is not None:
            self.device.gemm(self.kernel.gemm, buffers, self.scratch)
        if self.launch.zeroes:
            self.device.fill(out, 0)
        if self.function is not None and self.launch.size:
            buffers += self.parts + ([self.error] if self.error is not None else [])
            if self.first is not None:
                self.device.launch(self.first, self.launch.first, buffers)
            self.device.launch(self.function, self.launch, buffers)
        return out

    def failed(self):
        """Whether an index was out of range since the last call (the flag is cleared)."""
        if self.error is None or not self.device.to_host(self.error)[0]:
            return False
        self.device.fill(self.error, 0)
        return True


class ModuleCode:
    """The module's CUDA C source (``Compiled.source()``)."""

    def __init__(self, source):
        self.source = self.optimized = source


def executor(device, graph, plan, poison=False, updates=()):
    """A DeviceExecutor for ``plan`` with every kernel the renderer expresses compiled for ``device``."""
    lowered, source, launches = lower_and_render(plan.kernels())
    kernels, code = {}, None
    if lowered:
        symbols = [la.symbol for la in launches.values() if la.symbol]
        module = device.load(source, symbols + [la.first.symbol for la in launches.values() if la.first])
        for node, (symbol, kernel, constants) in lowered.items():
            launch = launches[symbol]
            functions = (module.get(launch.symbol), module[launch.first.symbol] if launch.first else None)
            kernels[node] = DeviceKernel(kernel, {i: np.asarray(a, order="C") for i, a in constants.items()},
                                         functions, launch, device)
        code = ModuleCode(source)
    run = DeviceExecutor(graph, plan, device, kernels, poison, updates)
    run.code = code
    return run
