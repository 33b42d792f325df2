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


class CheckpointError(GraphcError, ValueError):
    """A checkpoint (``gc.train.Saver``) is missing, damaged, of another format or version,
    or does not match the Saver's variables; or a save cannot go where it was asked to."""


class ExecutionError(GraphcError, RuntimeError):
    """An op failed while running (e.g. a gather index out of range); names the op."""


class NumericsError(ExecutionError):
    """A checked run (``check_numerics=True``) met a NaN or Inf: where it first appeared.

    ``op_name``/``op_type``: the op that produced it (the placeholder or variable when it
    came in that way); ``kernel``: the name of the kernel that ran the op (the fused
    kernel's name when the op sits inside one; None for a feed or a variable); ``loc``: the
    user's ``file:line`` that built the op; ``what``: ``'nan'`` or ``'inf'`` (NaN wins when
    both occur); ``fed``: True when the value was fed by the caller, not computed.
    """

    def __init__(self, message, *, op_name, op_type, kernel, loc, what, fed=False):
        super().__init__(message)
        self.op_name, self.op_type, self.kernel, self.loc = op_name, op_type, kernel, loc
        self.what, self.fed = what, fed
