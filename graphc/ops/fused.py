"""``fused``: a kernel whose ``body`` is a subgraph of primitives.

The body's placeholders are the kernel's inputs, in order; its single output is the
kernel's value. The numpy reference interprets the body, so any fusion decision is
executable before a backend renders it. ``kind`` says how a backend should loop:
``elementwise``, ``reduction`` (row-wise: reductions over one set of axes and the
elementwise work around them), or ``matmul`` (a matmul with its epilogue).
"""
from ..errors import GraphError
from ..ir.interpret import run_graph
from .registry import register

FUSED = "fused"


def _params(body):
    return [n for n in body.nodes if n.op == "placeholder"]


def _infer(inputs, kind, body):
    params = _params(body)
    if len(params) != len(inputs):
        raise GraphError(f"fused kernel takes {len(params)} inputs, got {len(inputs)}")
    (out,) = body.outputs
    return out.dtype, out.shape


def _compute(values, kind, body):
    """The body interpreted node by node with each op's own numpy reference (errors name
    the body's op)."""
    feeds = {p.name: v for p, v in zip(_params(body), values)}
    return run_graph(body, feeds, {})[0]


register("fused", FUSED, _infer, _compute, differentiable=False)
