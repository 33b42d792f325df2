"""The CUDA backend: the kernel IR rendered as CUDA C (render.py, with its lowering table
cuda_ops.ELEMENTWISE), compiled by NVRTC to CUBIN for the device's architecture
(nvrtc.py), run by the CUDA executor (executor.py) on the GPU through CuPy (device.py).
``host.py`` runs the same executor and generated code on the host, for tests.

It reads only the kernel IR and the op traits and never imports the CPU backend."""
from . import kernels, nvrtc
INSTALL = ("install CuPy for your CUDA driver: pip install 'graphc[cuda]' (cupy-cuda12x), or "
           "pip install cupy-cuda13x for CUDA 13 drivers")


def check_available():
    """Raise GraphcError naming what ``device="cuda"`` lacks here: CuPy, a CUDA driver, a GPU."""
    from ...errors import GraphcError
    try:
        import cupy
    except ImportError:
        raise GraphcError(f'device="cuda" needs CuPy, which is not installed: {INSTALL}') from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:   # no driver, or a driver older than CuPy's CUDA
        raise GraphcError(f'device="cuda" found no usable CUDA driver ({type(e).__name__}: {e}); '
                          f"install the NVIDIA driver, or {INSTALL}") from None
    if count == 0:
        raise GraphcError('device="cuda" found no GPU on this machine')
    try:
        nvrtc.version()
    except nvrtc.NvrtcUnavailable as e:
        raise GraphcError(f'device="cuda": {e}') from None


_device = []


def executor(graph, plan, poison=False, inplace=None, updates=()):
    """The program on the GPU (runtime/cuda/executor.py over runtime/cuda/device.py)."""
    if not _device:
        from .device import CupyDevice
        _device.append(CupyDevice())
    return kernels.executor(_device[0], graph, plan, poison, updates)
