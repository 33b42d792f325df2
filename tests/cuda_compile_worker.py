"""Compiles a chunk of collected CUDA kernels (tests/conftest.py) in a worker process."""
ARCHES = ("sm_80", "sm_90")


def symbol(index):
    return f"kernel{index}"


def compile_chunk(texts, start):
    """{arch: {function name: FunctionReport}} of the kernels ``texts`` (named kernel<start + i>),
    or NVRTC's error text."""
    from graphc.runtime.cuda import nvrtc
    from graphc.runtime.cuda.prelude import PRELUDE
    source = "\n".join([PRELUDE] + [t.replace("GRAPHC_SYMBOL", symbol(start + i)) for i, t in enumerate(texts)])
    try:
        return {arch: nvrtc.reports(nvrtc.compile_cubin(source, arch)[1]) for arch in ARCHES}
    except nvrtc.CompileError as e:
        return str(e)
