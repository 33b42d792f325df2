"""Analyses of a graph that passes, the memory planner and the executors share.

Views and their bases, which nodes run a kernel, reachability, consumers, liveness
(the step at which each value is last read, and the values to drop after each step),
and fresh names. Everything here reads the op traits (graphc.ops), never op names.
"""
from ..ops.registry import EFFECT, LAYOUT_VIEW, SOURCE


def is_view(node):
    """A movement op that reads its input's buffer in place (no kernel, no buffer)."""
    return node.opdef.view is not None


def view_offset(node):
    """The element offset at which view ``node`` reads its input's buffer as the same bytes
    in the same order (a reshape: 0; a slice of whole rows: its first row's), or None when
    it reads it strided (a transpose, a broadcast, a slice of columns)."""
    view = node.opdef.view
    if view == LAYOUT_VIEW:
        return 0
    if view is not None and node.opdef.block_offset is not None:
        return node.opdef.block_offset(node.inputs[0].shape, **node.attrs)
    return None


def view_base(node):
    """The node whose buffer ``node`` reads, through any chain of views (node itself if none)."""
    while is_view(node):
        node = node.inputs[0]
    return node


def runs_kernel(node):
    """Whether a compiled program runs a kernel for ``node`` (sources, effects and views run none)."""
    return node.opdef.kind not in (SOURCE, EFFECT) and not is_view(node)


def reachable(roots, stop=()):
    """The nodes ``roots`` depend on (roots included); the inputs of a node in ``stop``
    are not followed (a fed tensor cuts the graph there)."""
    seen, stack = set(), list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            if node not in stop:
                stack.extend(node.inputs)
    return seen


def consumers(nodes):
    """node -> the nodes reading it, in order, each once."""
    readers = {n: [] for n in nodes}
    for n in nodes:
        for x in dict.fromkeys(n.inputs):
            readers[x].append(n)
    return readers


def last_reads(nodes, outputs=(), through_views=False):
    """node -> index of the last step (position in ``nodes``) that reads it; an output
    is read at ``len(nodes)``, after the last step. ``through_views``: a read of a view
    also reads its bases (the buffer a native kernel reads)."""
    last = {}
    for step, node in enumerate(nodes):
        for x in node.inputs:
            last[x] = step
            while through_views and is_view(x):
                x = x.inputs[0]
                last[x] = step
    for x in outputs:
        last[x] = len(nodes)
        while through_views and is_view(x):
            x = x.inputs[0]
            last[x] = len(nodes)
    return last


def frees_after(nodes, outputs=(), through_views=False):
    """Per step, the values no later step reads (to drop once the step has run); outputs
    are never dropped."""
    frees = [[] for _ in nodes]
    for node, step in last_reads(nodes, outputs, through_views).items():
        if step < len(nodes):
            frees[step].append(node)
    return [tuple(f) for f in frees]


def fresh_name(base, taken):
    """``base``, or ``base_1``, ``base_2``... the first one ``taken(name)`` is false for."""
    name, n = base, 0
    while taken(name):
        n += 1
        name = f"{base}_{n}"
    return name
