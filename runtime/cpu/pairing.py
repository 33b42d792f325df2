"""Running two independent large GEMM kernels at once, one per core.

A large GEMM shared between threads loses time to each thread packing its own copy of
an operand and to waiting for the other at the end; two independent GEMMs (in a
training step: the weight gradients of two layers) run better side by side, each on
one thread. Two kernels are independent when neither writes memory the other reads or
writes: arena regions are compared by offset and size (the planner reuses regions, so
a later kernel may write where an earlier one reads), variables updated in place by
name, feeds and fresh results by node.
"""
from ...ir.analysis import view_base

LOOKAHEAD = 6   # kernels searched past a GEMM for a partner


def _regions(node, location, inplace):
    """What memory ``node``'s value occupies: an arena range, a variable, or a node of its own."""
    node = view_base(node)
    if node in location:
        offset, size = location[node]
        return ("arena", offset, offset + size)
    if node in inplace:
        return ("variable", inplace[node])
    if node.op == "variable":
        return ("variable", node.name)
    return ("node", node.name)


def _overlap(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "arena":
        return a[1] < b[2] and b[1] < a[2]
    return a[1] == b[1]


def _conflict(first, second):
    """Whether running ``second`` at the same time as (or before) ``first`` could change a result."""
    (r1, w1), (r2, w2) = first, second
    return any(_overlap(w, x) for w in w1 for x in r2 | w2) or any(_overlap(w, x) for w in w2 for x in r1)


def pair_kernels(calls, location, inplace):
    """``calls`` ([(NativeFunction, node, dynamic slots)] in order; ``location``: node ->
    its arena (offset, size)) regrouped as a list of
    groups of one or two calls: a large GEMM kernel with the next one that may run beside it."""
    access = []
    for kernel, node, _ in calls:
        reads = {_regions(s, location, inplace) for s in kernel.sources if s is not None and s.op != "constant"}
        access.append((reads, {_regions(node, location, inplace)}))
    groups, taken = [], set()
    for i, call in enumerate(calls):
        if i in taken:
            continue
        group = [call]
        if _pairable(call[0]):
            between = (set(), set())
            for j in range(i + 1, min(len(calls), i + 1 + LOOKAHEAD)):
                if j in taken:
                    continue
                if _pairable(calls[j][0]) and not _conflict(access[i], access[j]) \
                        and not _conflict(between, access[j]):
                    group.append(calls[j])
                    taken.add(j)
                    break
                between[0].update(access[j][0])
                between[1].update(access[j][1])
        groups.append(group)
    return groups


def _pairable(kernel):
    """A GEMM big enough to be shared between threads, calling no BLAS library that
    brings threads of its own."""
    return kernel.kernel.gemm is not None and kernel.parts > 1 and kernel.on_pool
