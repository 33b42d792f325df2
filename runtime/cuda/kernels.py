"""A program's kernels for a device: lowered, rendered into one CUDA C module, compiled and
loaded by the device (runtime/cuda/device.py on a GPU, runtime/cuda/host.py on the host),
each run as its GEMM (if any) and then its generated code."""
import numpy as np

from .executor import DeviceExecutor
from .render import lower_and_render


class DeviceKernel:
    def __init__(self, kernel, constants, function, launch, device):
        self.kernel, self.function, self.launch, self.device = kernel, function, launch, device
        self.constants = {i: device.to_device(a) for i, a in constants.items()}
        self.sources = [None if i in constants else s for i, s in enumerate(kernel.sources[:-1])]
        self.scratch = {}   # the device's buffers for this kernel's GEMM (a product kept apart)
        self.error = self._flag() if launch.checks else None   # set by an index out of range

    def clone(self):
        """A twin for a run at the same time: its own scratch buffers (a private product)."""
        twin = object.__new__(DeviceKernel)
        twin.__dict__.update(self.__dict__)
        twin.constants = {i: a.copy() for i, a in self.constants.items()}
        twin.scratch = {}
        twin.error = twin._flag() if self.error is not None else None
        return twin

    def _flag(self):
        return self.device.to_device(np.zeros(1, np.int32))

    def run(self, env, out):
        buffers = [self.constants[i] if node is None else env[node] for i, node in enumerate(self.sources)] + [out]
        if self.kernel.gemm is not None:
            self.device.gemm(self.kernel.gemm, buffers, self.scratch)
        if self.launch.zeroes:
            self.device.fill(out, 0)
        if self.function is not None and self.launch.size:
            self.device.launch(self.function, self.launch, buffers + ([self.error] if self.error is not None else []))
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
        module = device.load(source, [s for s, launch in launches.items() if launch.symbol])
        for node, (symbol, kernel, constants) in lowered.items():
            launch = launches[symbol]
            function = module[symbol] if launch.symbol else None
            kernels[node] = DeviceKernel(kernel, {i: np.asarray(a, order="C") for i, a in constants.items()},
                                         function, launch, device)
        code = ModuleCode(source)
    run = DeviceExecutor(graph, plan, device, kernels, poison, updates)
    run.code = code
    return run
