"""The CUDA backend's code compiles to CUBIN for sm_80 and sm_90, without a GPU.

Every kernel of the op-table walk (tests/test_op_table.py: every elementwise op as a kernel
of its own, every other op's example fused) and of the fused patterns users write (softmax, layer_norm, gelu, an MLP training step)
is rendered as CUDA C and compiled by NVRTC for both architectures; ptxas must report
every kernel, with no local-memory spills. (Whether the code gives the right numbers is
tested by running the same source on the host: device "cuda-host" in test_op_table.py,
test_ieee_edges.py and the fuzzer; on a GPU by the GPU tests.)
"""
import numpy as np
import pytest

import graphc as gc
from graphc.runtime.cuda import nvrtc
from graphc.runtime.cuda.render import lower_and_render

import test_op_table as walk

try:
    nvrtc.version()
except nvrtc.NvrtcUnavailable as e:   # the dev extra installs it; a bare install may not
    pytest.skip(str(e), allow_module_level=True)

ARCHES = ("sm_80", "sm_90")


def compile_program(fetches, feeds, **options):
    """Render every kernel of the program as CUDA C, compile it for each arch; returns the
    kernels rendered and, per arch, ptxas's report of each."""
    with gc.Session(device="reference", **options) as sess:
        compiled = sess.compile(fetches, feeds)
    lowered, source, launches = lower_and_render(compiled.call_plan.kernels())
    symbols = {s for s, launch in launches.items() if launch.symbol}
    found = {}
    for arch in ARCHES:
        cubin, log = nvrtc.compile_cubin(source, arch)
        assert cubin[:4] == b"\x7fELF", arch
        found[arch] = nvrtc.reports(log)
        assert symbols <= set(found[arch]), (arch, symbols - set(found[arch]))
        spilling = {n: r for n, r in found[arch].items() if r.spill_stores or r.spill_loads}
        assert not spilling, (arch, spilling)
    return lowered, found


def _programs():
    cases = {f"elementwise-{d}": lambda d=d: walk.elementwise_case(d)[:2] for d in ("float32", "float64", "int32",
                                                                                    "int64", "bool")}
    cases.update({op: (lambda op=op: walk.EXAMPLES[op]()[:2]) for op in walk.EXAMPLES})
    return cases


PROGRAMS = _programs()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_op_table_kernels_compile(name):
    """Unfused for the elementwise walk (every op a kernel of its own), fused for the rest."""
    dtype = name.split("-")[1] if name.startswith("elementwise-") else None
    fetches, feeds = walk.elementwise_case(np.dtype(dtype))[:2] if dtype else PROGRAMS[name]()
    compile_program(fetches, feeds, **({"optimize": False} if dtype else {}))


def test_fused_patterns_compile():
    rng = np.random.default_rng(0)
    x = gc.placeholder(gc.float32, (64, 512), name="x")
    g = gc.Variable(np.ones(512, np.float32), name="g")
    w = gc.Variable(rng.standard_normal((512, 128)).astype(np.float32), name="w")
    t = gc.placeholder(gc.int64, (64,), name="t")
    logits = gc.nn.gelu(gc.nn.layer_norm(x, g) @ w)
    loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits, t))
    step = gc.group(*[gc.assign_sub(v, 0.1 * d) for v, d in zip([g, w], gc.gradients(loss, [g, w]))])
    feeds = {x: rng.standard_normal((64, 512)).astype(np.float32), t: rng.integers(0, 128, 64)}
    lowered, reports = compile_program([gc.nn.softmax(x), gc.nn.log_softmax(x, axis=0), loss, step], feeds)
    assert len(lowered) >= 8 and len(reports["sm_90"]) == len(reports["sm_80"])


def test_every_collected_kernel_compiles():
    """The CUDA C of every distinct kernel the pass and fuzzer tests compiled (tests/conftest.py
    surveys it on whatever device they ran; a worker compiles it meanwhile) compiles for
    sm_80 and sm_90, each function reported by ptxas, none spilling."""
    from conftest import CUDA_SURVEY
    if not CUDA_SURVEY:
        pytest.skip("no pass or fuzzer test ran in this session")
    survey = CUDA_SURVEY[0]
    found = survey.check()
    assert found["kernels"] and set(survey.arches) == set(ARCHES)
    assert not found["errors"], found["errors"][0]
    assert not found["missing"], found["missing"][:5]
    assert not found["spilling"], found["spilling"][:5]
    print("\n" + survey.summary(found))
