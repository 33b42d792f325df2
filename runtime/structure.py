"""Fetch structures (nested lists, tuples, dicts, namedtuples) flattened and rebuilt.

Any other object may be fetched if it has a method ``_graphc_fetch(self)`` returning
``(inner_fetches, finish)``: ``inner_fetches`` is fetched in its place and ``finish``
turns their values into the result (``gc.summary``'s summaries; the runtime never
imports the modules that use it)."""
from ..errors import FetchError
from ..tensor import Operation, Tensor


def flatten(fetches, graph):
    """Leaves (Tensor/Operation) in order, and a function rebuilding the structure from values."""
    leaves = []

    def walk(item):
        if isinstance(item, str):
            item = _by_name(graph, item)
        if isinstance(item, (Tensor, Operation)):
            if item.graph is not graph:
                raise FetchError(f"cannot fetch '{item.name}': it belongs to another graph than the session's")
            leaves.append(item)
            index = len(leaves) - 1
            return lambda values: values[index]
        fetch = getattr(type(item), "_graphc_fetch", None)
        if fetch is not None:   # an object standing for other fetches (a summary)
            inner, finish = fetch(item)
            part = walk(inner)
            return lambda values: finish(part(values))
        if isinstance(item, tuple) and hasattr(item, "_fields"):  # namedtuple
            parts = [walk(v) for v in item]
            return lambda values: type(item)(*(p(values) for p in parts))
        if isinstance(item, (list, tuple)):
            parts = [walk(v) for v in item]
            return lambda values: type(item)(p(values) for p in parts)
        if isinstance(item, dict):
            parts = {k: walk(v) for k, v in item.items()}
            return lambda values: type(item)((k, p(values)) for k, p in parts.items())
        raise FetchError(f"cannot fetch {item!r} of type {type(item).__name__}: fetches are Tensors, "
                         "Operations, their names, or lists/tuples/dicts/namedtuples of them")

    rebuild = walk(fetches)
    return leaves, rebuild


def _by_name(graph, name):
    base = name[:-2] if name.endswith(":0") else name
    try:
        return graph.tensor(base)
    except Exception:
        raise FetchError(f"no tensor named {name!r} in the session's graph") from None
