"""Sinking transposes: elementwise ops and reductions run in their inputs' own layout.

A layout change written as transposes (NHWC code over NCHW kernels, as graphc.compat.v1's
``tf.nn`` does) leaves chains like ``transpose(relu(transpose(y, p) + b), inverse of p)``
between the kernels that really need a layout. This pass carries a transpose down
through what does not care about layout, so such a pair meets and cancels:

* an elementwise op whose operands are ``transpose(x, p)`` (one perm ``p``) and small
  operands (a bias, a scalar, a constant) becomes the op on ``x`` and the small operands
  transposed by the inverse of ``p``, followed by ``transpose(., p)``;
* ``sum/mean/max/min/prod(transpose(x, p), axes)`` becomes the reduction of ``x`` over the
  permuted axes (it reads ``x`` in its own order), followed by a transpose of what is
  left (often none);
* transposes of a transpose compose; a perm that composes to the identity disappears.

A transpose is materialized only where a value is used by anything else (a matmul, a
movement op, an output), once per value. Elementwise results are exactly the same;
sums and means add the same terms in another order (as a different layout would).
"""
import numpy as np

from ..ops import ELEMENTWISE
from .rewrite import Rewriter

REORDERABLE = ("sum", "mean", "max", "min", "prod")   # reductions with ``axes`` and ``keepdims``
SMALL = 8   # an operand this many times smaller than the result is cheap to transpose


def _inverse(perm):
    return tuple(int(i) for i in np.argsort(perm))


def _is_identity(perm):
    return tuple(perm) == tuple(range(len(perm)))


class _Sinker:
    def __init__(self, graph):
        self.rw = Rewriter(graph)
        self.pending = {}        # source node -> (new base node, perm): its value is transpose(base, perm)
        self.materialized = {}   # source node -> its value as a node of the new graph

    def value(self, node):
        """``node``'s value as a node of the new graph (materializing its transpose once)."""
        if node not in self.pending:
            return self.rw.mapping[node]
        if node not in self.materialized:
            base, perm = self.pending[node]
            self.materialized[node] = self.rw.out.add_node(
                "transpose", [base], {"perm": perm}, name=self._name(node.name), loc=node.loc, exact_name=True)
        return self.materialized[node]

    def _name(self, name):
        """The value's own name (its node was sunk under a fresh one), unless taken."""
        return self.rw.fresh_name(f"{name}/transpose") if self.rw.out.has_node(name) else name

    def visit(self, node):
        if node.op == "transpose":
            x = node.inputs[0]
            base, perm = self.pending.get(x, (self.value(x), None))
            perm = node.attrs["perm"] if perm is None else tuple(perm[i] for i in node.attrs["perm"])
            self._result(node, base, perm)
            return
        if node.opdef.kind == ELEMENTWISE and self._sink_elementwise(node):
            return
        if node.op in REORDERABLE and node.inputs[0] in self.pending:
            self._sink_reduction(node)
            return
        self.rw.copy(node, [self.value(x) for x in node.inputs])

    def _result(self, node, base, perm):
        if _is_identity(perm):
            self.rw.mapping[node] = base
        else:
            self.pending[node] = (base, tuple(perm))
            self.rw.mapping[node] = None   # (never read: value() materializes)

    def _new(self, node, inputs, attrs):
        """``node``'s op on ``inputs`` under a fresh name (the node's own name is kept for its
        transposed value, should it be materialized)."""
        return self.rw.out.add_node(node.op, inputs, attrs, name=self.rw.fresh_name(f"{node.name}/unpermuted"),
                                    loc=node.loc, exact_name=True)

    def _sink_elementwise(self, node):
        perms = {self.pending[x][1] for x in node.inputs if x in self.pending}
        if len(perms) != 1:
            return False
        (perm,) = perms
        rank, inverse = len(node.shape), _inverse(perm)
        if len(perm) != rank:
            return False
        size = int(np.prod(node.shape)) if node.shape else 1
        inputs = []
        for x in node.inputs:
            if x in self.pending:
                base = self.pending[x][0]
                if tuple(base.shape[p] for p in perm) != x.shape:
                    return False
                inputs.append(base)
                continue
            small = x.op == "constant" or (int(np.prod(x.shape)) if x.shape else 1) * SMALL <= size
            if not small or len(x.shape) > rank:
                return False
            inputs.append(self._unpermute(self.value(x), rank, inverse, node))
        expected = tuple(node.shape[i] for i in inverse)
        if node.opdef.infer(inputs, **node.attrs)[1] != expected:
            return False
        self._result(node, self._new(node, inputs, node.attrs), perm)
        return True

    def _unpermute(self, x, rank, inverse, like):
        """A small operand of rank <= ``rank`` in the base layout: its axes aligned to the
        result's (leading ones added), then transposed by ``inverse``."""
        if len(x.shape) < rank:
            x = self.rw.add("reshape", [x], {"shape": (1,) * (rank - len(x.shape)) + tuple(x.shape)}, like)
        if not x.shape or _is_identity(inverse):
            return x
        return self.rw.add("transpose", [x], {"perm": inverse}, like)

    def _sink_reduction(self, node):
        x = node.inputs[0]
        base, perm = self.pending[x]
        axes, keepdims = tuple(node.attrs["axes"]), node.attrs["keepdims"]
        base_axes = tuple(sorted(perm[a] for a in axes))
        reduced = self._new(node, [base], {**node.attrs, "axes": base_axes})
        if keepdims:
            self._result(node, reduced, perm)
            return
        kept = [perm[i] for i in range(len(perm)) if i not in axes]   # base axes left, in the result's order
        order = sorted(kept)
        self._result(node, reduced, tuple(order.index(b) for b in kept))

    def finish(self):
        outputs = [self.value(n) for n in self.rw.source.outputs]
        for source, new in zip(self.rw.source.outputs, outputs):
            self.rw.mapping[source] = new
        return self.rw.finish()


def sink_transposes(graph):
    """The graph with transposes moved below layout-blind ops (see the module docstring)."""
    sinker = _Sinker(graph)
    for node in graph.nodes:
        sinker.visit(node)
    return sinker.finish()
