"""User-facing handles on graph nodes: Tensor, Variable and Operation."""
import numpy as np

from .errors import DTypeError, GraphcError
from .ir.graph import Graph


class Tensor:
    """A symbolic value: the output of one node of a graph.

    Supports numpy-style operators (``+ - * / // % ** @``, comparisons, indexing)
    that build new nodes. ``==`` is identity as in TF1; use ``gc.equal``.
    """

    __array_priority__ = 100  # numpy scalars/arrays on the left defer to us

    def __init__(self, node):
        self.node = node

    # -- metadata ---------------------------------------------------------
    @property
    def graph(self):
        return self.node.graph

    @property
    def name(self):
        return self.node.name

    @property
    def op(self):
        return self.node.op

    @property
    def dtype(self):
        return self.node.dtype

    @property
    def shape(self):
        return self.node.shape

    @property
    def ndim(self):
        return len(self.node.shape)

    def __repr__(self):
        return f"<graphc.{type(self).__name__} '{self.name}' {self.node.type}>"

    def __bool__(self):
        raise GraphcError(f"the truth value of symbolic tensor '{self.name}' is unknown until it runs; "
                          "use gc.where / gc.logical_and / gc.equal")

    def __iter__(self):
        raise TypeError(f"symbolic tensor '{self.name}' is not iterable; use gc.split or gc.unstack")

    __hash__ = object.__hash__

    # -- operators --------------------------------------------------------
    def __add__(self, o): return math_ops.add(self, o)
    def __radd__(self, o): return math_ops.add(o, self)
    def __sub__(self, o): return math_ops.subtract(self, o)
    def __rsub__(self, o): return math_ops.subtract(o, self)
    def __mul__(self, o): return math_ops.multiply(self, o)
    def __rmul__(self, o): return math_ops.multiply(o, self)
    def __truediv__(self, o): return math_ops.divide(self, o)
    def __rtruediv__(self, o): return math_ops.divide(o, self)
    def __floordiv__(self, o): return math_ops.floor_divide(self, o)
    def __rfloordiv__(self, o): return math_ops.floor_divide(o, self)
    def __mod__(self, o): return math_ops.mod(self, o)
    def __rmod__(self, o): return math_ops.mod(o, self)
    def __pow__(self, o): return math_ops.power(self, o)
    def __rpow__(self, o): return math_ops.power(o, self)
    def __matmul__(self, o): return math_ops.matmul(self, o)
    def __rmatmul__(self, o): return math_ops.matmul(o, self)
    def __neg__(self): return math_ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return math_ops.abs(self)
    def __invert__(self): return math_ops.logical_not(_bool_operand(self, "~"))
    def __and__(self, o): return math_ops.logical_and(self, _bool_operand(o, "&", self))
    def __rand__(self, o): return math_ops.logical_and(_bool_operand(o, "&", self), self)
    def __or__(self, o): return math_ops.logical_or(self, _bool_operand(o, "|", self))
    def __ror__(self, o): return math_ops.logical_or(_bool_operand(o, "|", self), self)
    def __lt__(self, o): return math_ops.less(self, o)
    def __le__(self, o): return math_ops.less_equal(self, o)
    def __gt__(self, o): return math_ops.greater(self, o)
    def __ge__(self, o): return math_ops.greater_equal(self, o)

    def __getitem__(self, index):
        return array_ops.getitem(self, index)

    # -- numpy-style methods ----------------------------------------------
    @property
    def T(self):
        return array_ops.transpose(self)

    def reshape(self, *shape):
        return array_ops.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def astype(self, dtype):
        return math_ops.cast(self, dtype)

    def sum(self, axis=None, keepdims=False):
        return math_ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return math_ops.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return math_ops.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return math_ops.min(self, axis, keepdims)

    # -- running (TF1) ------------------------------------------------------
    def eval(self, feed_dict=None, session=None):
        """This tensor's value: ``session.run(self, feed_dict)`` with ``session`` or, when
        None, the default session (``with sess.as_default():``, ``with gc.Session() as
        sess:`` or a ``gc.InteractiveSession``). Raises GraphcError when there is none, when
        it is closed, or when its graph is not this tensor's."""
        return _session_for(self, session, "evaluate tensor", "eval").run(self, feed_dict)


def _bool_operand(value, symbol, other=None):
    """``& | ~`` are logical ops on bool tensors only (no silent bitwise/logical mix-up)."""
    for v in (value, other):
        dtype = v.dtype if isinstance(v, Tensor) else type(v) if isinstance(v, bool) else None
        if v is not None and dtype not in (bool, np.bool_, np.dtype(bool)):
            name = f"'{v.name}'" if isinstance(v, Tensor) else repr(v)
            raise DTypeError(f"'{symbol}' needs bool operands, got {name}; "
                             "graphc has no bitwise ops (use gc.logical_and/or/not on bools)")
    return value


class Variable(Tensor):
    """State that lives in the Session and persists across runs (a Tensor too).

    ``gc.Variable(initial_value, name=None, trainable=True, dtype=None)``; every
    Session starts it at ``initial_value``.
    """

    def __new__(cls, initial_value=None, name=None, trainable=True, dtype=None, *, _node=None):
        self = super().__new__(cls)
        if _node is None:
            from .variables import new_variable_node
            _node = new_variable_node(initial_value, name, trainable, dtype)
            _node.graph._tensors[_node] = self
        self.node = _node
        return self

    def __init__(self, *args, **kwargs):
        pass

    @property
    def trainable(self):
        return self.node.attrs["trainable"]

    @property
    def initial_value(self):
        return self.graph.tensor(self.node.attrs["initial_value"])

    def load(self, value, session=None):
        """Set this variable's value in ``session`` (None: the default session) to
        ``value`` now, without building any node (TF1 ``Variable.load``). The value is kept
        exactly: it must have the variable's shape and a dtype that converts to the
        variable's safely (the feed rules: ``[1.5, 2.0]`` loads into a float32 variable, a
        float into an int variable is an error). Waits for runs that update variables."""
        session = _session_for(self, session, "load variable", "load")
        try:
            session._load_variable(self, value)
        except GraphcError as e:
            from .builder import user_location
            loc = user_location()
            raise type(e)((f"load at {loc}: " if loc else "") + str(e)) from None


class Operation:
    """A node that yields no value but has an effect when run (e.g. an initializer).
    ``sess.run(op)`` returns None for it, as in TF1."""

    def __init__(self, node):
        self.node = node

    graph = Tensor.graph
    name = Tensor.name

    def __repr__(self):
        return f"<graphc.Operation '{self.name}' {self.node.op}>"

    def run(self, feed_dict=None, session=None):
        """Run this operation: ``session.run(self, feed_dict)`` with ``session`` or, when
        None, the default session (see ``Tensor.eval``). Returns None."""
        _session_for(self, session, "execute operation", "run").run(self, feed_dict)


def _session_for(handle, session, action, method):
    """The Session that ``handle.<method>()`` runs in: ``session``, else the calling
    thread's default session; a GraphcError naming the handle and the user's line when
    there is none, it is closed, or it runs another graph (TF1's checks)."""
    from . import default_session
    from .builder import user_location
    kind = "given" if session is not None else "default"
    session = session if session is not None else default_session.get_default_session()
    problem = None
    if session is None:
        problem = ("no default session is registered. Use `with sess.as_default():` or pass "
                   "session=sess")
    elif not (hasattr(session, "run") and hasattr(session, "graph")):
        problem = f"session= must be a gc.Session, got {type(session).__name__}"
    elif getattr(session, "closed", False):
        problem = f"the {kind} session is closed"
    elif session.graph is not handle.graph:
        problem = (f"the {kind} session's graph is different from the graph of '{handle.name}'. "
                   f"Pass a Session of that graph: {method}(session=gc.Session(graph=...))")
    if problem is None:
        return session
    loc = user_location()
    where = f"{method} at {loc}: " if loc else ""
    raise GraphcError(f"{where}Cannot {action} '{handle.name}' using {method}(): {problem}")


def wrap(node):
    if node.op == "variable":
        return Variable(_node=node)
    if node.dtype is None:
        return Operation(node)
    return Tensor(node)


Graph.wrap = staticmethod(wrap)

from . import array_ops, math_ops  # noqa: E402  (operators need the op builders)
