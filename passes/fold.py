"""Stub: replaced by the real pass."""


def fold_constants(graph):
    return graph
