"""Shape arithmetic shared by the op definitions. ``None`` is an unknown dim."""
from ..errors import ShapeError


def fmt_shape(shape):
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def broadcast_shapes(*shapes):
    """numpy broadcasting of shapes that may hold unknown (None) dims."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(rank):
        dims = [s[len(s) - rank + axis] for s in shapes if len(s) - rank + axis >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError("cannot broadcast shapes " + " and ".join(fmt_shape(s) for s in shapes))
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def normalize_axis(axis, rank):
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def normalize_axes(axis, rank):
    """``axis`` (None, int or sequence) -> sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, int):
        axis = (axis,)
    axes = tuple(sorted(normalize_axis(int(a), rank) for a in axis))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"repeated axis in {tuple(axis)}")
    return axes


def num_elements(shape):
    n = 1
    for d in shape:
        if d is None:
            return None
        n *= d
    return n
