"""Fusion: group ops into kernels, and record why every edge is or is not fused.

The pass decides which values are *materialized* (kernel outputs, written to a
buffer); every other op is computed inside each kernel that reads it (recomputed,
as XLA does, when it is cheap and read by several kernels). A kernel is a
materialized node plus its unmaterialized ancestors. Kernel inputs are always
materialized values or sources, which sit earlier in the graph, so the kernel
graph can never have a cycle.

Kinds of kernel:
  elementwise  a tree of elementwise ops, broadcasts, casts, where and index maps
               (reshape, transpose, slice, ... read as index arithmetic)
  reduction    row-wise: reductions over one set of axes of one shape, with the
               elementwise producers and the consumers at that shape (softmax,
               layer_norm: one kernel each)
  matmul       a matmul, its transposed operands read in place, and its
               elementwise epilogue (bias, activation, scale)
  conv         a convolution (or its input gradient) and its elementwise epilogue
               (bias, activation, residual add), as a matmul's
Every other op (concat, pad, gather) is a kernel of its own; a lone movement op
between buffers is a view (passes.memory.is_view) and runs no kernel.
"""
from dataclasses import dataclass

from ..ir.analysis import consumers, is_view, view_offset
from ..ops import EFFECT, ELEMENTWISE, EXPENSIVE, MATMUL, REDUCTION, SOURCE
from ..ops.conv import CONV
from .rewrite import Rewriter

CONV_PRODUCTS = ("conv2d", "conv2d_backward_input")   # convolutions that take an epilogue

MAX_RECOMPUTE = 4         # a cheap op is recomputed in at most this many kernels
MAX_REMATERIALIZE = 2     # an expensive one (exp, sigmoid, ...) in at most this many, when that saves a buffer
MAX_KERNEL_INPUTS = 32    # a kernel never reads more buffers than this
INLINE_CONSTANT = 16      # constants up to this many elements are copied into kernel bodies


@dataclass(frozen=True)
class Decision:
    producer: str
    consumer: str
    fused: bool
    reason: str

    def __str__(self):
        verdict = "fused" if self.fused else "not fused"
        return f"%{self.producer} -> %{self.consumer}: {verdict}" + (f" ({self.reason})" if self.reason else "")


class FusionReport:
    """The decision for every edge, and the kernels formed (name -> covered op names)."""

    def __init__(self, decisions, kernels):
        self.decisions = list(decisions)
        self.kernels = dict(kernels)

    def __str__(self):
        lines = [f"fusion: {len(self.kernels)} kernels"]
        lines += [f"kernel %{name}: {', '.join(ops)}" for name, ops in self.kernels.items()]
        lines += [str(d) for d in self.decisions]
        return "\n".join(lines)


def _is_source(node):
    return node.opdef.kind == SOURCE


def _is_index_map(node):
    return is_view(node)


def _is_fusible_elementwise(node):
    return node.opdef.kind == ELEMENTWISE or _is_index_map(node)


def _is_matmul_transpose(node):
    """transpose that swaps the last two axes: a matmul reads its input in place, strided."""
    perm = node.attrs.get("perm") if node.op == "transpose" else None
    n = len(perm or ())
    return n >= 2 and tuple(perm) == tuple(range(n - 2)) + (n - 1, n - 2)


def _is_product(node):
    """A matmul, or a convolution whose epilogue fuses after it as a matmul's does (not the
    filter gradient: its output rows are shared between threads, its images summed)."""
    return node.opdef.kind == MATMUL or node.op in CONV_PRODUCTS


def _inlined(node):
    return node.op == "constant" and node.attrs["value"].size <= INLINE_CONSTANT


class _Planner:
    """Decides the materialized set in one reverse-topological sweep."""

    def __init__(self, graph, forced):
        self.graph = graph
        self.order = {n: i for i, n in enumerate(graph.nodes)}   # graph position, for sorting
        self.consumers = consumers(graph.nodes)
        self.outputs = set(graph.outputs)
        self.forced = forced            # node -> reason, from the input-limit repair
        self.reason = {}                # materialized node -> why
        self.roots = {}                 # unmaterialized node -> the kernels (roots) computing it
        self.row = {}                   # root -> (shape, axes) of its reductions
        self.has_matmul = set()         # roots whose kernel holds a matmul
        self.reads = {}                 # root -> what its kernel's members decided so far read
        self._anchors = {}              # node -> the values it is computed from (see anchors)
        for node in reversed(graph.nodes):
            if not _is_source(node):
                self._decide(node)

    def _roots_of(self, node):
        roots = set()
        for c in self.consumers[node]:
            roots |= {c} if c in self.reason else self.roots[c]
        return roots

    def _decide(self, node):
        why = self._must_materialize(node)
        if why is None:
            roots = self._roots_of(node)
            why = self._check_group(node, roots)
        if why is not None:
            self.reason[node] = why
            self.reads[node] = set(node.inputs)
            if _is_product(node):
                self.has_matmul.add(node)
            if node.opdef.kind == REDUCTION:
                self.row[node] = (node.inputs[0].shape, _axes(node))
            return
        self.roots[node] = roots
        for r in roots:
            self.reads[r].update(node.inputs)
            if _is_product(node):
                self.has_matmul.add(r)
            if node.opdef.kind == REDUCTION:
                self.row.setdefault(r, (node.inputs[0].shape, _axes(node)))

    def _must_materialize(self, node):
        if node in self.forced:
            return self.forced[node]
        if node in self.outputs:
            return "graph output"
        kind = node.opdef.kind
        if not (kind in (ELEMENTWISE, REDUCTION, MATMUL) or _is_index_map(node) or _is_product(node)):
            return f"{node.op} is a kernel of its own"
        for c in self.consumers[node]:
            ckind = c.opdef.kind
            if ckind == EFFECT or not (ckind in (ELEMENTWISE, REDUCTION, MATMUL) or _is_index_map(c)):
                return f"read by {c.op} %{c.name}, which takes buffers"
            if ckind == MATMUL and not _is_matmul_transpose(node):
                return f"operand of matmul %{c.name}, which reads buffers"
            if _is_matmul_transpose(c) and all(k.opdef.kind == MATMUL for k in self.consumers[c]):
                return f"read in place by matmul through transpose %{c.name}"
        return None

    def anchors(self, node):
        """The values ``node`` is computed from through elementwise ops and index maps: the
        nearest ancestors that are neither (matmul and reduction results, kernels of their
        own), sources left out (they live outside the arena)."""
        found = self._anchors.get(node)
        if found is None:
            found = set()
            for x in node.inputs:
                if _is_source(x):
                    continue
                found |= self.anchors(x) if _is_fusible_elementwise(x) else {x}
            self._anchors[node] = found
        return found

    def _rematerialize(self, node, roots):
        """Whether an expensive elementwise ``node`` read by several kernels is computed in
        each of them instead of kept in a buffer: when every one of those kernels reads the
        values it is computed from anyway (gelu's sigmoid of the pre-activation, which the
        backward kernel reads too), so recomputing it keeps no buffer alive longer, and the
        buffer it would take (live from the forward pass to the backward one) is saved."""
        if len(roots) > MAX_REMATERIALIZE:
            return False
        needed = self.anchors(node)
        for r in roots:   # (what r reads, through elementwise values not yet decided: their anchors)
            covered = set()
            for x in self.reads[r]:
                if not _is_source(x):
                    covered |= self.anchors(x) if _is_fusible_elementwise(x) and x is not node else {x}
            if not needed <= covered:
                return False
        return True

    def _check_group(self, node, roots):
        """Why ``node`` cannot be computed inside the kernels ``roots``, or None."""
        kind = node.opdef.kind
        if len(roots) > 1:
            if kind == REDUCTION or _is_product(node) or node.opdef.cost == EXPENSIVE and \
                    not self._rematerialize(node, roots):
                return f"{node.op} read by {len(roots)} kernels is too costly to recompute"
            if len(roots) > MAX_RECOMPUTE:
                return f"read by {len(roots)} kernels, over the recompute limit {MAX_RECOMPUTE}"
            return None
        (root,) = roots
        if _is_product(node):
            if root in self.row:
                return f"kernel %{root.name} is a row-wise reduction, not a {node.op} epilogue"
            if root in self.has_matmul:
                return f"kernel %{root.name} already holds a matmul or convolution"
            if root.shape != node.shape or root.opdef.kind == REDUCTION:
                return f"kernel %{root.name} is not an elementwise epilogue at the {node.op}'s shape"
        if kind == REDUCTION:
            if root in self.has_matmul:
                return f"kernel %{root.name} holds a matmul"
            full = root.inputs[0].shape if root.opdef.kind == REDUCTION else root.shape
            if node.inputs[0].shape != full:
                return f"reduces a {node.inputs[0].type} while kernel %{root.name} iterates over {list(full)}"
            axes = self.row.get(root, (None, _axes(node)))[1]
            if axes != _axes(node):
                return f"reduces axes {_axes(node)} while kernel %{root.name} reduces {axes}"
        return None


def _strided_matmul_operand(planner, node, views):
    """Whether the view chain ``views`` (ending at ``node``) is read by a matmul or a
    convolution that cannot
    read it in place: a GEMM reads a buffer, a reshape or a slice of whole rows of one, or
    one through a transpose of its last two axes, never a strided view (heads merged by
    transpose-and-reshape, a slice of columns): that operand is copied once by a kernel of
    its own, not read by a loop."""
    if all(view_offset(v) is not None for v in views):
        return False
    readers = set(planner.consumers[node])
    readers |= {k for c in readers if _is_matmul_transpose(c) and c not in planner.reason
                for k in planner.consumers[c]}
    return any(r.opdef.kind in (MATMUL, CONV) for r in readers)


def _axes(node):
    if "axes" in node.attrs:
        return tuple(node.attrs["axes"])
    axis = node.attrs.get("axis")
    return tuple(range(len(node.inputs[0].shape))) if axis is None else (axis,)


def _members(planner, root):
    """The nodes computed by ``root``'s kernel, in graph order, and its external inputs."""
    members, inputs, stack = {root}, {}, [root]
    while stack:
        for x in stack.pop().inputs:
            if x in members or x in inputs:
                continue
            if _is_source(x) or x in planner.reason:
                inputs[x] = None
                if _inlined(x):
                    members.add(x)
            else:
                members.add(x)
                stack.append(x)
    external = sorted((x for x in inputs if not _inlined(x)), key=planner.order.get)
    return sorted(members, key=planner.order.get), external


def _plan(graph):
    """Decide, then repair any kernel over the input limit by materializing inside it."""
    forced = {}
    while True:
        planner = _Planner(graph, forced)
        for root in planner.reason:
            members, inputs = _members(planner, root)
            inner = [x for x in root.inputs if x in members and not _is_source(x)]
            if len(inputs) > MAX_KERNEL_INPUTS and inner:  # split off the widest part of the kernel
                widest = max(inner, key=lambda x: len(_members(planner, x)[1]) if x in planner.reason
                             else len(_members_below(planner, x)))
                forced[widest] = f"kernel %{root.name} would read more than {MAX_KERNEL_INPUTS} buffers"
                break
        else:
            return planner


def _members_below(planner, node):
    """External inputs that ``node`` would bring into a kernel."""
    seen, found, stack = set(), set(), [node]
    while stack:
        for x in stack.pop().inputs:
            if x in seen:
                continue
            seen.add(x)
            if _is_source(x) or x in planner.reason:
                found.add(x)
            else:
                stack.append(x)
    return found


def _kind(members):
    kinds = {m.opdef.kind for m in members}
    if MATMUL in kinds:
        return "matmul"
    if CONV in kinds:
        return "conv"
    if REDUCTION in kinds:
        return "reduction"
    return "elementwise"


def _body(members, inputs, root):
    """The kernel body: one placeholder per input, then the members (names and lines kept)."""
    from ..ir import Graph
    body, mapping = Graph(), {}
    for x in inputs:
        mapping[x] = body.add_node("placeholder", (), {"dtype": x.dtype, "shape": x.shape},
                                   name=x.name, exact_name=True)
    for m in members:
        mapping[m] = body.add_node(m.op, [mapping[x] for x in m.inputs], m.attrs,
                                   name=m.name, loc=m.loc, exact_name=True)
    body.outputs = (mapping[root],)
    return body


def _decisions(planner):
    out = []
    for node in planner.graph.nodes:
        for x in dict.fromkeys(node.inputs):
            if _is_source(x):
                fused, why = _inlined(x), ("constant copied into the kernel" if _inlined(x)
                                          else f"{x.op} is read as a kernel input")
            elif x in planner.reason:
                fused, why = False, planner.reason[x]
            else:
                n = len(planner.roots[x])
                fused, why = True, (f"recomputed in {n} kernels" if n > 1 else "")
            out.append(Decision(x.name, node.name, fused, why))
    return out


def fuse(graph):
    """Group ops into kernels (``fused`` nodes); returns (graph, FusionReport)."""
    planner = _plan(graph)
    rw = Rewriter(graph)
    kernels = {}
    for node in graph.nodes:
        if _is_source(node):
            rw.copy(node)
        elif node in planner.reason:
            members, inputs = _members(planner, node)
            computed = [m for m in members if not _is_source(m)]
            views_only = all(_is_index_map(m) for m in computed)
            copied = views_only and _strided_matmul_operand(planner, node, computed)
            if copied:
                planner.reason[node] = "a strided view read by a matmul: copied to a buffer the GEMM reads"
            if views_only and not copied:   # a chain of views: no kernel at all
                for m in computed:
                    if m not in rw.mapping:
                        rw.copy(m)
            elif len(computed) == 1 and not copied:
                rw.copy(node)
            else:
                attrs = {"kind": _kind(computed), "body": _body(members, inputs, node)}
                rw.mapping[node] = rw.out.add_node("fused", [rw.mapping[x] for x in inputs], attrs,
                                                   name=node.name, loc=node.loc, exact_name=True)
            if node.opdef.kind != EFFECT and not _is_index_map(rw.mapping[node]):
                kernels[node.name] = [m.name for m in computed]
    return rw.finish(), FusionReport(_decisions(planner), kernels)
