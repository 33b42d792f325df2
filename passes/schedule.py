"""Scheduling: the order kernels run in.

Depth-first post-order from the outputs (inputs in order) is the baseline: each value is
produced just before the kernels that read it (the order TensorFlow defaults to). On top of
it, a list scheduler watches memory, as XLA's does: among the nodes whose inputs are
ready it runs first one that frees more arena bytes than it takes (the last reader of a
buffer), then one that takes no more than it frees, and only then the next node of the
depth-first order. In a training step that runs each weight gradient, and the optimizer
update reading it, as soon as the activation gradient it needs is complete, instead of
keeping that activation gradient alive until the depth-first walk reaches the update.
Greedy choices are not always the better ones, so the pass keeps the plain depth-first
order where the memory planner gives it an arena no larger.

A variable's update that nothing reads (a sink) is held back until every other reader
of that variable has run, so it stays the variable's last reader and may be written in
place (runtime.inplace). Sources come first, as given.

The walks are a few lines of iterative code rather than networkx's, whose import alone
costs about 0.1 s of a fresh process's start-up budget.
"""
import heapq
from types import SimpleNamespace

from ..ir.analysis import is_view, runs_kernel, view_base
from ..ops import SOURCE
from .memory import nbytes, plan_memory
from .rewrite import Rewriter


def dfs_postorder(outputs, depth=None):
    """Nodes reachable from ``outputs``, each after all of its inputs (inputs in order, or
    with ``depth`` (``depths``) the input at the end of the longest path from a source first,
    as Sethi and Ullman order a tree: a short side branch, such as a transpose of a forward
    value that a backward product reads, then runs just before its reader, not before the
    long chain the reader also waits for)."""
    order, placed = [], set()
    for out in outputs:
        stack = [(out, _inputs(out, depth))]
        while stack:
            node, pending = stack[-1]
            child = next((x for x in pending if x not in placed), None)
            if child is not None:   # graphs are acyclic by construction (inputs precede users)
                stack.append((child, _inputs(child, depth)))
                continue
            stack.pop()
            if node not in placed:
                placed.add(node)
                order.append(node)
    return order


def depths(order):
    """node -> the length of the longest path to it from a node without inputs (``order``
    topological)."""
    depth = {}
    for n in order:
        depth[n] = 1 + max((depth[x] for x in n.inputs), default=-1)
    return depth


def _inputs(node, depth):
    if depth is None:
        return iter(node.inputs)
    return iter(sorted(node.inputs, key=lambda x: -depth[x]))   # (stable: ties in input order)


class _MemoryOrder:
    """The list scheduler over the depth-first order ``order`` of a graph with ``outputs``."""

    def __init__(self, order, outputs):
        self.rank = {n: i for i, n in enumerate(order)}
        fetched = set(outputs)
        # arena bytes of each node's own buffer (fetched results, sources and views take none)
        self.size = {n: nbytes(n) if runs_kernel(n) and n not in fetched else 0 for n in order}
        self.readers = {}   # buffer (a view's base) -> the kernels still to run that read it
        users = {}
        for n in order:
            for x in dict.fromkeys(n.inputs):
                users.setdefault(x, []).append(n)
                if not is_view(n):
                    self.readers.setdefault(view_base(x), set()).add(n)
        for out in outputs:   # (a fetched view keeps its buffer to the end)
            if is_view(out):
                self.readers.setdefault(view_base(out), set()).add(None)
        held = self._updates_last(order, users, fetched)
        self.blocks = {}   # a variable's reader -> the updates of that variable held until it ran
        for update, readers in held.items():
            for r in readers:
                self.blocks.setdefault(r, []).append(update)
        self.users = users
        self.waiting = {n: len(set(n.inputs)) + len(held.get(n, ())) for n in order}

    @staticmethod
    def _updates_last(order, users, fetched):
        """{sink output reading a variable: the variable's other readers, but sinks}, which
        run first (sinks wait for no sink: two of them reading one variable would wait for
        each other)."""
        sinks = {n for n in order if n in fetched and not users.get(n) and not is_view(n)}
        held = {}
        for n in sinks:
            for x in n.inputs:
                base = view_base(x)
                if base.op == "variable":
                    others = {r for v in _views_and_self(base, users) for r in users.get(v, ())
                              if r not in sinks and not is_view(r)}
                    held.setdefault(n, set()).update(others)
        return held

    def delta(self, n):
        """Arena bytes ``n`` frees (buffers it is the last to read) less those it takes."""
        if is_view(n):
            return 0
        freed = sum(self.size.get(b, 0) for b in {view_base(x) for x in n.inputs} if self.readers.get(b) == {n})
        return freed - self.size[n]

    def order(self, sources):
        """The non-source nodes in the order the list scheduler runs them."""
        self.done, self.heap, self.stamp, self.placed = [], [], {}, set(sources)
        for n, count in self.waiting.items():   # (a node of no inputs that is not a source: ready now)
            if count == 0 and n not in self.placed:
                self._push(n)
        for s in sources:
            self._finished(s)
        while self.heap:
            _, minus, _, n = heapq.heappop(self.heap)
            if n in self.placed or self.stamp[n] != -minus:
                continue   # (run already, or a stale entry: its delta has grown since)
            self.placed.add(n)
            self._finished(n)
        if len(self.done) != len(self.rank):
            raise RuntimeError(f"the scheduler placed {len(self.done)} of {len(self.rank)} nodes")   # (a bug)
        return self.done[len(sources):]

    def _push(self, n):
        """Queue ready ``n``: first what frees more than it takes, then what takes no more than it
        frees, then the rest, each by depth-first position."""
        d = self.stamp[n] = self.delta(n)
        heapq.heappush(self.heap, ((0 if d > 0 else 1 if d == 0 else 2), -d, self.rank[n], n))

    def _finished(self, n):
        self.done.append(n)
        for b in {view_base(x) for x in n.inputs}:
            left = self.readers.get(b)
            if left is not None and n in left:
                left.discard(n)
                if len(left) == 1:   # (the last reader left now frees b: its delta grew)
                    (last,) = left
                    if last is not None and self.waiting.get(last) == 0 and last not in self.placed:
                        self._push(last)
        for u in self.users.get(n, ()):
            self._release(u)
        for u in self.blocks.get(n, ()):
            self._release(u)

    def _release(self, n):
        self.waiting[n] -= 1
        if self.waiting[n] == 0:
            self._push(n)


def _views_and_self(node, users):
    """``node`` and every view of it, through chains of views."""
    found, stack = [], [node]
    while stack:
        v = stack.pop()
        found.append(v)
        stack.extend(u for u in users.get(v, ()) if is_view(u))
    return found


def memory_order(outputs, plain=None):
    """The nodes reachable from ``outputs`` in the list scheduler's order (sources first);
    ``plain``: their plain depth-first order, when the caller has it."""
    dfs = dfs_postorder(outputs, depths(plain or dfs_postorder(outputs)))
    sources = [n for n in dfs if n.opdef.kind == SOURCE]
    return sources + _MemoryOrder(dfs, outputs).order(sources)


def _sources_first(order):
    return [n for n in order if n.opdef.kind == SOURCE] + [n for n in order if n.opdef.kind != SOURCE]


def _peak(order, outputs):
    """The arena bytes the memory planner would give the graph in ``order``."""
    return plan_memory(SimpleNamespace(nodes=order, outputs=outputs))[1].peak_bytes


def best_order(outputs):
    """The list scheduler's order, or the plain depth-first one where that needs no larger an
    arena (a greedy choice is not always the better one: on small random graphs, about one
    in twenty needed more memory), each as the memory planner would place it."""
    dfs = dfs_postorder(outputs)
    plain, listed = _sources_first(dfs), memory_order(outputs, dfs)
    return listed if _peak(listed, outputs) < _peak(plain, outputs) else plain


def schedule(graph):
    """The same graph in the order of ``best_order``."""
    return in_order(graph, best_order(graph.outputs))


def in_order(graph, order):
    """A copy of ``graph`` holding the nodes of ``order`` in that order, sources first (in
    their given order)."""
    position = {n: i for i, n in enumerate(graph.nodes)}
    rw = Rewriter(graph)
    for node in sorted((n for n in order if n.opdef.kind == SOURCE), key=position.get):
        rw.copy(node)
    for node in order:
        if node.opdef.kind != SOURCE:
            rw.copy(node)
    return rw.finish()
