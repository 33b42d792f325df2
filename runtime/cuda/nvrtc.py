"""CUDA C to CUBIN with NVRTC, for a real architecture (``sm_XX``: a PTX from an NVRTC newer
than the driver would be rejected), without fast math and without FMA contraction (so
results round as the CPU's do). NVRTC needs no GPU: the tests compile every kernel here.

NVRTC comes from ``cuda-bindings`` (with the ``nvidia-cuda-nvrtc`` wheel) or, where CuPy is
installed, from CuPy. Modules are cached in memory and in graphc's disk cache, keyed by
the source, the architecture and the NVRTC version.
"""
import functools
import hashlib
import re
from dataclasses import dataclass

from .. import disk_cache

OPTIONS = ("--std=c++17", "--fmad=false", "-Xptxas=-v")


class NvrtcUnavailable(RuntimeError):
    """No NVRTC library could be loaded."""


class CompileError(RuntimeError):
    """NVRTC rejected the source; the message holds its log."""


@dataclass(frozen=True)
class FunctionReport:
    """What ptxas said of one kernel."""
    name: str
    registers: int
    spill_stores: int
    spill_loads: int
    stack_bytes: int


@functools.lru_cache(maxsize=None)
def _binding():
    try:
        from cuda.bindings import nvrtc
        nvrtc.nvrtcVersion()
        return nvrtc
    except Exception:
        raise NvrtcUnavailable("NVRTC is not available: pip install cuda-bindings nvidia-cuda-nvrtc "
                               "(or CuPy for your CUDA version)") from None


def version():
    err, major, minor = _binding().nvrtcVersion()
    return major, minor


def _check(result, what, prog=None):
    err = result[0] if isinstance(result, tuple) else result
    if int(err) != 0:
        log = _log(prog) if prog is not None else ""
        raise CompileError(f"NVRTC {what} failed ({err}):\n{log}")
    return result[1:] if isinstance(result, tuple) and len(result) > 1 else None


def _log(prog):
    nvrtc = _binding()
    _, size = nvrtc.nvrtcGetProgramLogSize(prog)
    text = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, text)
    return text.decode(errors="replace").rstrip("\x00 ")


_memory = {}


def compile_cubin(source, arch):
    """``(cubin bytes, ptxas log)`` of ``source`` for ``arch`` (e.g. "sm_90")."""
    key = disk_cache.make_key("cuda-cubin", hashlib.sha256(source.encode()).hexdigest(), arch, *map(str, version()))
    if key in _memory:
        return _memory[key]
    payload = disk_cache.load(key)
    if payload is not None:
        cubin, _, log = payload.partition(b"\0graphc-log\0")
        _memory[key] = (cubin, log.decode())
        return _memory[key]
    nvrtc = _binding()
    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), b"graphc.cu", 0, [], [])
    _check(err, "create")
    try:
        options = [o.encode() for o in OPTIONS + (f"--gpu-architecture={arch}",)]
        _check(nvrtc.nvrtcCompileProgram(prog, len(options), options), "compile", prog)
        log = _log(prog)
        _, size = nvrtc.nvrtcGetCUBINSize(prog)
        cubin = b" " * size
        _check(nvrtc.nvrtcGetCUBIN(prog, cubin), "get CUBIN")
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
    disk_cache.store(key, cubin + b"\0graphc-log\0" + log.encode())
    _memory[key] = (cubin, log)
    return _memory[key]


_FUNCTION = re.compile(r"Compiling entry function '(\w+)'")
_SPILLS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGISTERS = re.compile(r"Used (\d+) registers")


def reports(log):
    """{kernel name: FunctionReport} from a ptxas ``-v`` log."""
    found, name, spills = {}, None, (0, 0, 0)
    for line in log.splitlines():
        if (m := _FUNCTION.search(line)):
            name, spills = m.group(1), (0, 0, 0)
        elif (m := _SPILLS.search(line)) and name:
            spills = tuple(int(g) for g in m.groups())
        elif (m := _REGISTERS.search(line)) and name:
            found[name] = FunctionReport(name, int(m.group(1)), spills[1], spills[2], spills[0])
    return found
