"""The CUDA C of many programs' kernels compiled to CUBIN in few NVRTC calls, without a GPU.

This is what keeps the CUDA backend's code from rotting where no GPU runs it: the test
suite surveys every kernel its pass and fuzzer tests compile (tests/conftest.py), and the
fuzzer surveys its graphs' (``python -m graphc.testing.fuzz --cuda-survey``). Each kernel
the renderer expresses is rendered on its own (symbol ``GRAPHC_SYMBOL``); the distinct
texts are compiled CHUNK to a module for each architecture, in a worker process while
the caller goes on, and ptxas's report of every function is checked: none missing, none
spilling to local memory.
"""
import concurrent.futures
import multiprocessing

import numpy as np

PLACEHOLDER = "GRAPHC_SYMBOL"
CHUNK = 400
ARCHES = ("sm_80", "sm_90")


def kernel_texts(plan):
    """The CUDA C of each kernel of call plan ``plan`` that the renderer expresses."""
    from ..kernel import lower_kernels
    from .render import KernelRenderer, check_renderable
    texts = []
    for kernel, _ in lower_kernels(plan.kernels(), check_renderable).values():
        functions, _ = KernelRenderer(kernel, PLACEHOLDER).render()
        if functions:
            texts.append("\n".join(functions))
    return texts


def symbol(index):
    return f"kernel{index}"


def compile_chunk(texts, start, arches=ARCHES):
    """{arch: {function name: nvrtc.FunctionReport}} of ``texts`` (named kernel<start + i>),
    or NVRTC's error text."""
    from . import nvrtc
    from .prelude import PRELUDE
    source = "\n".join([PRELUDE] + [t.replace(PLACEHOLDER, symbol(start + i)) for i, t in enumerate(texts)])
    try:
        return {arch: nvrtc.reports(nvrtc.compile_cubin(source, arch)[1]) for arch in arches}
    except nvrtc.CompileError as e:
        return str(e)


class Survey:
    """Distinct kernel texts, each with where it came from first, compiled as they arrive."""

    def __init__(self, arches=ARCHES):
        self.arches = arches
        self.origin = {}   # text -> where it was first made (a test, a fuzzer seed)
        self.pending, self.jobs, self.pool = [], [], None

    def add(self, texts, origin):
        for text in texts:
            if text not in self.origin:
                self.origin[text] = origin
                self.pending.append(text)
                if len(self.pending) == CHUNK:
                    self._submit()

    def _submit(self):
        if not self.pending:
            return
        if self.pool is None:   # (spawned: the caller may hold threads and LLVM state)
            self.pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        start = len(self.origin) - len(self.pending)
        try:
            job = self.pool.submit(compile_chunk, self.pending, start, self.arches)
        except Exception as e:   # (a broken worker: reported by check, not by the caller that made the kernels)
            job = concurrent.futures.Future()
            job.set_result(f"the survey's worker failed: {e!r}")
        self.jobs.append((start, self.pending, job))
        self.pending = []

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def check(self):
        """Wait for every chunk; returns {"kernels", "errors": [(origin, text)], "spilling":
        [(arch, origin, report)], "missing": [(arch, origin)], "registers": {arch: (min, median, max)}}."""
        self._submit()
        out = dict(kernels=len(self.origin), errors=[], spilling=[], missing=[], registers={})
        registers = {arch: [] for arch in self.arches}
        for start, texts, job in self.jobs:
            try:
                found = job.result()
            except Exception as e:   # (the worker died)
                found = f"the survey's worker failed: {e!r}"
            if isinstance(found, str):
                out["errors"].append((self.origin[texts[0]], found))
                continue
            for arch in self.arches:
                for i, text in enumerate(texts):
                    name = symbol(start + i)
                    if name not in found[arch]:
                        out["missing"].append((arch, self.origin[text]))
                    out["spilling"] += [(arch, self.origin[text], r) for n, r in found[arch].items()
                                        if n in (name, name + "_part") and (r.spill_stores or r.spill_loads)]
                registers[arch] += [r.registers for r in found[arch].values()]
        out["registers"] = {arch: (min(r), int(np.median(r)), max(r)) for arch, r in registers.items() if r}
        return out

    def summary(self, result):
        """One line of :meth:`check`'s result."""
        regs = ", ".join(f"{a} {lo}-{hi} registers (median {mid})" for a, (lo, mid, hi) in result["registers"].items())
        return (f"CUDA survey: {result['kernels']} distinct kernels compiled for {', '.join(self.arches)}: {regs}; "
                f"{len(result['errors'])} compile errors, {len(result['missing'])} missing, "
                f"{len(result['spilling'])} spilling")
