"""Errors raised by graphc. Every one is a :class:`GraphcError`."""


class GraphcError(Exception):
    """Base class of every error graphc raises on bad input."""


class ShapeError(GraphcError, ValueError):
    """Operand shapes do not fit an op (raised where the op is built)."""


class DTypeError(GraphcError, TypeError):
    """Operand dtypes do not fit an op, or a dtype is unsupported."""


class FeedError(GraphcError, ValueError):
    """A feed is missing, of the wrong shape, of an unsafe dtype or not in the graph."""


class FetchError(GraphcError, TypeError):
    """A fetch is of an unknown type or belongs to another graph."""


class GraphError(GraphcError, ValueError):
    """A graph is malformed: bad names, cycles, parse errors, mixed graphs."""


class IRParseError(GraphError):
    """IR text could not be parsed."""


class ExecutionError(GraphcError, RuntimeError):
    """An op failed while running (e.g. a gather index out of range); names the op."""
