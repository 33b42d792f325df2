"""Building nodes from user calls: the default graph, name scopes, source lines,
and turning Python values into constants."""
import contextlib
import functools
import os
import sys
import threading

import numpy as np

from . import dtypes as dt
from .errors import GraphcError, GraphError
from .ir.graph import get_default_graph

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_short_paths = {}


def _short_path(filename):
    if filename not in _short_paths:
        path = os.path.abspath(filename)
        rel = os.path.relpath(path) if path.startswith(os.getcwd() + os.sep) else path
        _short_paths[filename] = rel
    return _short_paths[filename]


_override = threading.local()


@contextlib.contextmanager
def source_location(text):
    """Nodes built inside the block carry ``text`` as their source location instead of the
    caller's ``file:line`` (the ONNX importer names the ONNX node a node came from)."""
    previous = getattr(_override, "text", None)
    _override.text = text
    try:
        yield
    finally:
        _override.text = previous


def user_location():
    """``file:line`` of the innermost caller outside the graphc package (or the text of an
    enclosing :func:`source_location` block)."""
    text = getattr(_override, "text", None)
    if text is not None:
        return text
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return None
    return f"{_short_path(frame.f_code.co_filename)}:{frame.f_lineno}"


def name_scope(name):
    """``with gc.name_scope("block"):`` prefixes the names of nodes built inside."""
    return get_default_graph().name_scope(name)


def graph_of(*values):
    """The graph that the tensors among ``values`` live in (the default graph if none)."""
    from .tensor import Tensor
    graphs = {id(v.graph): v.graph for v in values if isinstance(v, Tensor)}
    if len(graphs) > 1:
        names = ", ".join(f"'{v.name}'" for v in values if isinstance(v, Tensor))
        raise GraphError(f"tensors {names} come from different graphs" + _at())
    return next(iter(graphs.values())) if graphs else get_default_graph()


def _at():
    loc = user_location()
    return f" (at {loc})" if loc else ""


def make(op, inputs=(), attrs=None, name=None, graph=None):
    """Add an ``op`` node built from Tensors and return its Tensor."""
    graph = graph or graph_of(*inputs)
    node = graph.add_node(op, [t.node for t in inputs], attrs, name=name, loc=user_location())
    return graph.tensor(node)


def constant(value, dtype=None, name=None, graph=None):
    """A constant tensor. Python floats default to float32, Python ints to int64."""
    from .tensor import Tensor
    if isinstance(value, Tensor):
        raise GraphError(f"constant() got a Tensor '{value.name}'; use it directly or cast()" + _at())
    return make("constant", (), {"value": constant_array(value, dtype)}, name=name or "Const", graph=graph)


def constant_array(value, dtype=None):
    """A read-only numpy copy of ``value`` with graphc's default dtypes."""
    target = dt.as_dtype(dtype) if dtype is not None else dt.default_dtype_for(value)
    array = np.array(value, dtype=target, order="C")   # the backends read constants as C-ordered bytes
    array.setflags(write=False)
    return array


def as_tensor(value, dtype=None, graph=None):
    """A Tensor as is, or a Python/numpy value as a constant."""
    from .tensor import Tensor
    if isinstance(value, Tensor):
        return value
    return constant(value, dtype=dtype, graph=graph)


def located(fn):
    """Decorate a public op builder so its errors name it and the user's ``file:line``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GraphcError as e:
            if getattr(e, "located", False):
                raise
            loc = user_location()
            err = type(e)(f"{fn.__name__}" + (f" at {loc}" if loc else "") + f": {e}")
            err.located = True
            raise err from None
    return wrapper
