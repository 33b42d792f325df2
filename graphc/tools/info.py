"""``graphc info``: versions, the host CPU, CUDA, the compile cache (as data and as text)."""
import os
import platform
import sys


def info():
    """{section: {field: value}} of what graphc runs with here."""
    import llvmlite
    import llvmlite.binding as llvm
    import numpy as np

    from .. import __version__
    from ..runtime import disk_cache
    features = [f[1:] for f in llvm.get_host_cpu_features().flatten().split(",") if f.startswith("+")]
    directory = disk_cache.cache_dir()
    entries, size = disk_cache.contents(directory) if directory else (0, 0)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "versions": {"graphc": __version__, "python": platform.python_version(), "numpy": np.__version__,
                     "llvmlite": llvmlite.__version__, "LLVM": ".".join(map(str, llvm.llvm_version_info))},
        "cpu": {"name": _cpu_model(), "LLVM target": llvm.get_host_cpu_name(), "cores": cores,
                "vector features": " ".join(f for f in features if f.startswith(("avx", "sse4", "fma", "neon", "sve")))},
        "gemm": _gemm(),
        "cuda": _cuda(),
        "compile cache": {"directory": directory or "off (GRAPHC_CACHE=0)", "entries": entries, "bytes": size},
    }


def info_text():
    lines = []
    for section, fields in info().items():
        lines.append(f"{section}:")
        width = max(len(k) for k in fields)
        lines += [f"  {k:<{width}}  {v}" for k, v in fields.items()]
    return "\n".join(lines)


def _gemm():
    """graphc's float32 GEMM on this host: its blocking and one core's FMA peak."""
    from ..runtime.cpu import llvm_gemm
    tuned = llvm_gemm.tuning()
    if not tuned:
        return {"float32": "OpenBLAS (no AVX-512F: graphc's own GEMM is not used)"}
    fields = {"float32": "graphc's own (6x64 AVX-512 micro-kernel)",
              "blocking": f"kc {tuned['kc']}, mc {tuned['mc']} ({tuned['source']})"}
    peak = llvm_gemm.fma_peak_gflops()
    if tuned.get("gflops"):
        fields["one thread"] = f"{tuned['gflops']} GFLOP/s of an FMA peak of {peak} GFLOP/s per core"
    else:
        fields["FMA peak"] = f"{peak} GFLOP/s per core"
    return fields


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cuda():
    """Whether CuPy, a driver and a GPU are here (what device="cuda" would say)."""
    from ..errors import GraphcError
    from ..runtime.cuda import check_available
    try:
        import cupy
    except ImportError:
        cupy = None
    out = {"cupy": cupy.__version__ if cupy else "not installed"}
    try:
        check_available()
    except GraphcError as e:
        out["device"] = f"unavailable: {e}"
        return out
    props = cupy.cuda.runtime.getDeviceProperties(0)
    out["device"] = f"{props['name'].decode()} (sm_{props['major']}{props['minor']}), " \
                    f"{cupy.cuda.runtime.getDeviceCount()} GPU(s), driver {cupy.cuda.runtime.driverGetVersion()}"
    return out


if __name__ == "__main__":
    sys.stdout.write(info_text() + "\n")
