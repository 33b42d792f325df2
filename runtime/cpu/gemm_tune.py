"""The float32 GEMM's cache blocking, chosen per host at first use.

The micro-kernel is fixed (6 x 64 on AVX-512); the best kc (depth of a packed block) and mc
(rows of a packed A block) depend on the core's cache sizes and on how its L2 is shared,
which differ between the AMD Zen 4, Zen 5 and Intel Xeon machines graphc meets (measured:
kc 384 / mc 192 best on Zen 5, kc 256 / mc 48 about 20% faster than that on a Xeon). So the
first process on a host times a few candidates on one product (best of two runs each, some
40 ms in all: it is on the path of a cold start), keeps the fastest, and stores the choice in
the disk cache under the host's fingerprint and the GEMM's version; later processes read it.
``fma_peak`` measures the core's FMA peak (a register-only kernel) so the GEMM's speed can be
stated as a fraction of it. ``GRAPHC_GEMM_BLOCKING=kc,mc`` fixes the choice (no timing).

Where the choice is known not to matter, no time is spent on it: on AMD Zen 4 (LLVM's
``znver4``) the six candidates came within noise of each other, one thread, on every
product tried (86-98 GFLOP/s at 256x1024x512, 512x512x1024, 512x128x128, 512x512x128 and
128x128x1024, twice over, the order changing between runs), so it takes ``KNOWN``'s and
skips the 40 ms of timing on the path of a cold start. On Zen 5 (``znver5``) 384/192 is
known best (the products above, and the convolutions, which a tuning done while the machine
was busy slowed by a third with 256/48), so it is taken without timing too.
"""
import ctypes
import json
import os
import time

import llvmlite.binding as llvm
import numpy as np

from .. import disk_cache
from .llvm_jit import codegen_version, host_fingerprint

CANDIDATES = ((384, 192), (256, 192), (384, 96), (256, 96), (256, 48), (512, 48))
# m, n, k: 0.27 GFLOP, where every candidate blocks differently (k = 1024 in 3 blocks of
# 342, 4 of 256 or 2 of 512; m = 256 in 192 + 64, 96 + 96 + 64 or 6 x 48 rows)
SHAPES = ((256, 512, 1024),)
RUNS = 2
# LLVM's host CPU name -> (kc, mc) where timing at start-up is not needed: the candidates tie
# (Zen 4), or one is known best and a first-use timing on a busy machine picks worse (Zen 5:
# 384/192 gave the convolutions 1.3x what a loaded tuning's 256/48 did)
KNOWN = {"znver4": (256, 96), "znver5": (384, 192)}
PEAK_ITERATIONS = 1 << 16                        # 384 flops each: ~25 Mflop


def tune(sgemm, blocking_address):
    """Set the blocking at ``blocking_address`` for this host and return what was chosen:
    {"kc", "mc", "source" (tuned, cached, environment or known for the CPU), "gflops"
    (single-threaded, on SHAPES; when tuned)}."""
    blocking = (ctypes.c_int64 * 2).from_address(blocking_address)
    setting = os.environ.get("GRAPHC_GEMM_BLOCKING", "").strip()
    if setting:
        try:
            kc, mc = (int(v) for v in setting.split(","))
            blocking[0], blocking[1] = kc, mc
            return {"kc": kc, "mc": mc, "source": "environment"}
        except ValueError:
            pass
    cpu = llvm.get_host_cpu_name()
    if cpu in KNOWN:
        blocking[0], blocking[1] = KNOWN[cpu]
        return {"kc": KNOWN[cpu][0], "mc": KNOWN[cpu][1], "source": f"known for {cpu}"}
    key = disk_cache.make_key(host_fingerprint(), codegen_version(), "gemm blocking")
    stored = disk_cache.load(key) if disk_cache.enabled() else None
    if stored is not None:
        try:
            choice = json.loads(stored)
            blocking[0], blocking[1] = int(choice["kc"]), int(choice["mc"])
            return {**choice, "source": "cached"}
        except (ValueError, KeyError, TypeError):
            disk_cache.reject(key)
    choice = _measure(sgemm, blocking)
    if disk_cache.enabled():
        disk_cache.store(key, json.dumps(choice).encode())
    return {**choice, "source": "tuned"}


def _measure(sgemm, blocking):
    operands = []
    for m, n, k in SHAPES:
        a, b = np.full((m, k), 0.5, np.float32), np.full((k, n), 0.25, np.float32)
        operands.append((m, n, k, a, b, np.empty((m, n), np.float32)))
    flops = sum(2 * m * n * k for m, n, k, *_ in operands)
    best = None
    for kc, mc in CANDIDATES:
        blocking[0], blocking[1] = kc, mc
        seconds = 0.0
        for m, n, k, a, b, c in operands:
            runs = []
            for _ in range(RUNS):
                start = time.perf_counter()
                sgemm(0, 0, m, n, k, a.ctypes.data, k, b.ctypes.data, n, c.ctypes.data, n)
                runs.append(time.perf_counter() - start)
            seconds += min(runs)
        if best is None or seconds < best[0]:
            best = (seconds, kc, mc)
    seconds, kc, mc = best
    blocking[0], blocking[1] = kc, mc
    return {"kc": kc, "mc": mc, "gflops": round(flops / seconds / 1e9, 1)}


def fma_peak(peak):
    """One core's float32 FMA throughput in GFLOP/s (best of five runs of the peak kernel)."""
    out = np.zeros(16, np.float32)
    peak(1024, out.ctypes.data)
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        peak(PEAK_ITERATIONS, out.ctypes.data)
        runs.append(time.perf_counter() - start)
    return PEAK_ITERATIONS * 384 / min(runs) / 1e9
