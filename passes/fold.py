"""Constant folding: evaluate nodes whose inputs are all constants.

Each such node is computed once, at compile time, with its op's numpy reference (the
same function the reference executor would run, so the folded value is bit for bit
the value a run would produce) and replaced by a ``constant`` node with the same name
and source location. Folding walks the graph in topological order, so a chain of
constant ops folds completely.

Size cap: a fold that would *create* a large array is not done. A node folds only
when its result has at most ``FOLD_LIMIT`` elements or no more elements than its
constant inputs together: ``transpose(weight)`` or ``reshape(weight)`` fold whatever
the weight's size, ``broadcast_to(2.0, (4096, 4096))`` stays an op (folding it would
turn a scalar into 64 MiB of constant data).

``full_like(x, v)`` never reads ``x``: once its shape is static it becomes the scalar
constant ``v`` broadcast to that shape (a view, or folded when small), so ``x`` need
not be computed for it.

Never folded: sources (placeholders and variables get their values at run time),
effect ops (``init_variables``), ``fused`` kernels, and nodes whose reference raises
(e.g. a gather index out of range): those keep failing at run time, where the error
is reported.
"""
import numpy as np

from ..ops import EFFECT, SOURCE
from ..ops.fused import FUSED
from ..ops.shapes import num_elements
from .rewrite import Rewriter

FOLD_LIMIT = 4096  # elements a fold may create beyond what its inputs already hold


def foldable(node, inputs):
    """Whether ``node`` (with rewritten ``inputs``) may be evaluated now."""
    if node.opdef.kind in (SOURCE, EFFECT, FUSED) or node.dtype is None:
        return False
    if not inputs or any(x.op != "constant" for x in inputs):
        return False
    size = num_elements(node.shape)
    if size is None:
        return False
    return size <= FOLD_LIMIT or size <= sum(x.attrs["value"].size for x in inputs)


def evaluate(node, inputs):
    """The node's value from its constant inputs as a read-only array, or None."""
    try:
        with np.errstate(all="ignore"):
            value = node.opdef.compute([x.attrs["value"] for x in inputs], **node.attrs)
        value = np.asarray(value)
    except Exception:  # the run reports it, at the node, as an ExecutionError
        return None
    if value.dtype != node.dtype or value.shape != node.shape:
        return None  # an inconsistent op definition: the executor reports it
    value = np.array(value, copy=True, order="C")  # own memory: no view of an input, no broadcast strides
    value.setflags(write=False)
    return value


def _fill(rw, node):
    """``full_like`` as a constant (small) or a broadcast scalar constant (a view)."""
    small = num_elements(node.shape) <= FOLD_LIMIT
    value = np.full(node.shape if small else (), node.attrs["value"], node.dtype)
    value.setflags(write=False)
    if small:
        return rw.out.add_node("constant", (), {"value": value}, name=node.name, loc=node.loc, exact_name=True)
    scalar = rw.add("constant", (), {"value": value}, node, hint=f"{node.name}/value")
    return rw.out.add_node("broadcast_to", (scalar,), {"shape": node.shape}, name=node.name,
                           loc=node.loc, exact_name=True)


def fold_constants(graph):
    rw = Rewriter(graph)
    for node in graph.nodes:
        inputs = rw.inputs_of(node)
        if node.op == "full_like" and num_elements(node.shape) is not None:
            rw.mapping[node] = _fill(rw, node)
            continue
        value = evaluate(node, inputs) if foldable(node, inputs) else None
        if value is None:
            rw.copy(node, inputs)
        else:
            rw.mapping[node] = rw.out.add_node("constant", (), {"value": value}, name=node.name,
                                               loc=node.loc, exact_name=True)
    return rw.finish()
