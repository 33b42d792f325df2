"""Folding per-channel scales into constant weights: inference batch norm for free.

Inference batch norm is ``y = P * s + t`` where ``P`` is a convolution or matmul and
``s``, ``t`` hold one value per output channel (``fold_constants`` has already turned
``scale / sqrt(variance + eps)`` of constant statistics into such constants). This
pass moves ``s`` into the weights, computed once at compile time:

    conv2d(x, W) * s        ->  conv2d(x, W * s[:, None, None, None])
    matmul(x, W) * s        ->  matmul(x, W * s[None, :])
    (P(x, W) + b) * s       ->  P(x, W * s) + b * s

so the product's epilogue is a bias add, as in ONNX Runtime, OpenVINO and TF's grappler.
``s`` may be either operand of the multiply, ``b`` either operand of the add.

The one pass that is not bit-exact: ``sum(x * (w * s))`` rounds differently from
``sum(x * w) * s`` (by a few units in the last place, as a different summation order
would). It applies only when the weight and ``s`` are constants of the product's float
dtype, ``s`` is finite and broadcasts along the output-channel axis only (axis 1 of a
convolution, the last axis of a matmul with a 2-D weight), the scaled weight stays
finite, and nothing else reads the product (or the bias add). Turn it off with
``Session(disable=("fold_batch_norm",))``.
"""
from typing import NamedTuple

import numpy as np

from .. import dtypes as dt
from ..ir.analysis import consumers
from .rewrite import Rewriter


def _channel_axis(product):
    """The output-channel axis of ``product``'s result, or None if it cannot be folded."""
    weight = product.inputs[1]
    if weight.op != "constant" or weight.dtype != product.dtype or not dt.is_float(product.dtype):
        return None
    if product.op == "conv2d":
        return 1
    if product.op == "matmul" and len(weight.shape) == 2:
        return len(product.shape) - 1
    return None


def _per_channel(scale, product, axis):
    """``scale``'s value as one factor per output channel (a 1-D array), or None."""
    if scale.op != "constant":
        return None
    value = scale.attrs["value"]
    rank = len(product.shape)
    if value.ndim > rank:
        return None
    value = value.astype(product.dtype, copy=False).reshape((1,) * (rank - value.ndim) + value.shape)
    channels = product.shape[axis]
    if any(n != 1 for i, n in enumerate(value.shape) if i != axis) or value.shape[axis] not in (1, channels):
        return None
    if not np.all(np.isfinite(value)):
        return None
    return np.broadcast_to(value.reshape(-1), (channels,))


def _scaled_weight(product, factors):
    weight = product.inputs[1].attrs["value"]
    with np.errstate(all="ignore"):
        scaled = weight * (factors[:, None, None, None] if product.op == "conv2d" else factors[None, :])
    scaled = np.ascontiguousarray(scaled, dtype=weight.dtype)
    if not np.all(np.isfinite(scaled)):
        return None
    scaled.setflags(write=False)
    return scaled


class _Match(NamedTuple):
    """``mul`` = (product [+ bias]) * scale: what the rewrite needs."""
    product: object
    bias: object          # the constant added before the scale, or None
    factors: np.ndarray   # one per output channel
    scaled: np.ndarray    # the new weight


def _split(node, test):
    """``(a, b)`` of binary ``node`` with ``test(a)`` true, trying both orders, or None."""
    x, y = node.inputs
    return (x, y) if test(x) else (y, x) if test(y) else None


def _match(mul, readers, outputs):
    """The foldable ``(P [+ b]) * s`` ending at ``mul``, or None."""
    if mul.op != "multiply" or len(set(mul.inputs)) != 2:
        return None

    def alone(n):   # read by one node only, and not fetched
        return len(readers[n]) == 1 and n not in outputs

    def product_like(n):
        return n.op in ("conv2d", "matmul") and alone(n) and _channel_axis(n) is not None

    def biased(n):
        if n.op != "add" or not alone(n) or n.dtype != mul.dtype or n.shape != mul.shape:
            return False
        pair = _split(n, product_like)
        return pair is not None and pair[1].op == "constant"

    pair = _split(mul, product_like) or _split(mul, biased)
    if pair is None or pair[0].shape != mul.shape or pair[0].dtype != mul.dtype:
        return None
    head, scale = pair
    product, bias = (head, None) if head.op != "add" else _split(head, product_like)
    factors = _per_channel(scale, product, _channel_axis(product))
    scaled = None if factors is None else _scaled_weight(product, factors)
    return None if scaled is None else _Match(product, bias, factors, scaled)


def fold_batch_norm(graph):
    rw = Rewriter(graph)
    readers, outputs = consumers(graph.nodes), set(graph.outputs)
    for node in graph.nodes:
        m = _match(node, readers, outputs)
        if m is None:
            rw.copy(node)
            continue
        p = m.product
        weight = rw.add("constant", (), {"value": m.scaled}, p.inputs[1], hint=f"{p.inputs[1].name}/scaled")
        x = rw.mapping[p.inputs[0]]
        if m.bias is None:
            rw.mapping[node] = rw.out.add_node(p.op, (x, weight), p.attrs, name=node.name, loc=p.loc, exact_name=True)
            continue
        product = rw.add(p.op, (x, weight), p.attrs, p, hint=f"{p.name}/scaled")
        factors = _shaped(m.factors, node, _channel_axis(p))
        with np.errstate(all="ignore"):
            shift = np.asarray(m.bias.attrs["value"].astype(node.dtype, copy=False) * factors, dtype=node.dtype)
        shift.setflags(write=False)
        shift = rw.add("constant", (), {"value": shift}, m.bias, hint=f"{m.bias.name}/scaled")
        rw.mapping[node] = rw.out.add_node("add", (product, shift), {}, name=node.name, loc=node.loc,
                                           exact_name=True)
    return rw.finish()


def _shaped(factors, node, axis):
    """``factors`` shaped to broadcast along ``axis`` of ``node``'s result."""
    shape = [1] * len(node.shape)
    shape[axis] = factors.size
    return factors.reshape(shape)
