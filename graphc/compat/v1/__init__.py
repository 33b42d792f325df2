"""``graphc.compat.v1``: TensorFlow 1.x's API over graphc, so TF1 programs run with

    import graphc.compat.v1 as tf

TF1's names and signatures (old argument names included: ``reduction_indices``,
``keep_dims``, ``dimension``, ``dim``), NHWC images with HWIO filters in ``tf.nn``, TF1's
optimizer formulas in ``tf.train``, stateful random ops that draw new numbers every run
(compat.v1.random), ``tf.summary`` and ``tf.train.Saver``. What graphc cannot do yet
(``tf.cond``, ``tf.while_loop``, strings, ...) raises an UnsupportedError naming the
feature. docs/tf1.md lists every name and every known difference from TF1.
"""
import contextlib
import logging as _logging
import types
import weakref

import numpy as np

from ... import dtypes as _dt
from ... import runtime as _runtime
from ... import state as _state
from ...dtypes import bool_ as bool, float32, float64, int32, int64  # noqa: A004
from ...gradients import gradients
from ...ir import Graph, get_default_graph, reset_default_graph
from ...math_ops import stop_gradient
from ...state import assign, assign_add, assign_sub, control_dependencies, group
from ...tensor import Operation, Tensor
from ...tensor import Variable as _GraphcVariable
from ...variables import global_variables_initializer, variables_initializer
from . import array, layers, losses, math, nn, random, summary, train  # noqa: F401
from .array import *  # noqa: F401,F403
from .math import *  # noqa: F401,F403
from .random import get_seed, random_normal, random_uniform, set_random_seed, truncated_normal  # noqa: F401
from .unsupported import FUNCTIONS as _UNSUPPORTED_FUNCTIONS, UnsupportedError
from .unsupported import feature_error as _feature_error

globals().update(_UNSUPPORTED_FUNCTIONS)   # tf.cond, tf.while_loop, ...: clear errors when called

# the names defined or re-exported here (array.py, math.py and the namespaces have their own)
_OWN = ["bool", "float32", "float64", "int32", "int64", "DType", "as_dtype", "Graph", "get_default_graph",
        "reset_default_graph", "Session", "InteractiveSession", "get_default_session", "ConfigProto", "GPUOptions",
        "RunOptions", "RunMetadata", "Operation", "Tensor", "Variable", "global_variables", "trainable_variables",
        "all_variables", "local_variables", "global_variables_initializer", "initialize_all_variables",
        "variables_initializer", "initialize_variables", "local_variables_initializer", "tables_initializer",
        "is_variable_initialized", "report_uninitialized_variables", "assign", "assign_add", "assign_sub", "group",
        "no_op", "control_dependencies", "gradients", "stop_gradient", "name_scope", "device", "get_variable",
        "variable_scope", "get_variable_scope", "VariableScope", "AUTO_REUSE", "GraphKeys", "add_to_collection",
        "get_collection", "get_collection_ref", "random_normal", "random_uniform", "truncated_normal",
        "set_random_seed", "get_seed", "disable_v2_behavior", "disable_eager_execution", "executing_eagerly",
        "enable_eager_execution", "logging", "UnsupportedError", "initializers", "nn", "train", "summary", "random",
        "math", "layers", "losses"]

DType = np.dtype
as_dtype = _dt.as_dtype


# -- variables ---------------------------------------------------------------------------------
class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, _GraphcVariable)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, _GraphcVariable)


class Variable(metaclass=_VariableMeta):
    """``tf.Variable(initial_value, trainable=True, ..., name=None, dtype=None)`` in TF1's
    argument order; it makes a ``graphc.Variable`` (``isinstance`` works with either)."""

    def __new__(cls, initial_value=None, trainable=None, collections=None, validate_shape=True,
                caching_device=None, name=None, variable_def=None, dtype=None, expected_shape=None,
                import_scope=None, constraint=None, use_resource=None, synchronization=None, aggregation=None,
                shape=None):
        for arg, value in (("caching_device", caching_device), ("variable_def", variable_def),
                           ("constraint", constraint), ("import_scope", import_scope)):
            if value is not None:
                raise UnsupportedError(f"tf.Variable({arg}=...) is not supported by graphc")
        if callable(initial_value):
            initial_value = initial_value()
        return _GraphcVariable(initial_value, name=name, trainable=True if trainable is None else trainable,
                               dtype=dtype)


def global_variables(scope=None):
    """The default graph's Variables (those whose name starts with ``scope``, if given)."""
    return _scoped(_state.global_variables(), scope)


def trainable_variables(scope=None):
    """The default graph's trainable Variables (those whose name starts with ``scope``)."""
    return _scoped(_state.trainable_variables(), scope)


def _scoped(variables, scope):
    import re
    return variables if scope is None else [v for v in variables if re.match(scope, v.name)]


all_variables = global_variables
initialize_all_variables = global_variables_initializer
initialize_variables = variables_initializer


def local_variables(scope=None):
    """graphc has no local variables: always empty."""
    return []


def local_variables_initializer():
    """Nothing to initialize (graphc has no local variables): a no-op."""
    return no_op(name="init_local")


tables_initializer = local_variables_initializer


def no_op(name=None):
    """An Operation that does nothing."""
    return group(name=name or "NoOp")


def is_variable_initialized(variable):
    """graphc Sessions start every variable at its initial value: always True."""
    return constant(True)   # noqa: F405


def report_uninitialized_variables(var_list=None, name=None):
    """Nothing is uninitialized in a graphc Session: an empty list."""
    return []


# -- graph collections (the keys TF1 programs read) -------------------------------------------
class GraphKeys:
    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    UPDATE_OPS = "update_ops"
    REGULARIZATION_LOSSES = "regularization_losses"
    LOSSES = "losses"
    SUMMARIES = "summaries"
    GLOBAL_STEP = "global_step"
    TRAIN_OP = "train_op"


_collections = weakref.WeakKeyDictionary()   # graph -> {key: [values]}


def add_to_collection(name, value):
    """Append ``value`` to the default graph's collection ``name``."""
    _collections.setdefault(get_default_graph(), {}).setdefault(name, []).append(value)


def get_collection(key, scope=None):
    """The default graph's collection ``key``: variables for the variable keys, the global
    step, regularization losses (graphc.variable_scope), or what add_to_collection put there."""
    import re
    graph = get_default_graph()
    if key == GraphKeys.GLOBAL_VARIABLES:
        values = _state.global_variables(graph)
    elif key == GraphKeys.TRAINABLE_VARIABLES:
        values = _state.trainable_variables(graph)
    elif key == GraphKeys.GLOBAL_STEP:
        step = train.get_global_step(graph)
        values = [] if step is None else [step]
    elif key == GraphKeys.REGULARIZATION_LOSSES:
        from ...variable_scope import get_regularization_losses
        values = get_regularization_losses(graph=graph)
    else:
        values = []
    values = values + _collections.get(graph, {}).get(key, [])
    return values if scope is None else [v for v in values if hasattr(v, "name") and re.match(scope, v.name)]


get_collection_ref = get_collection


# -- sessions ------------------------------------------------------------------------------------
class ConfigProto:
    """Accepted and kept for TF1 programs; graphc's threads and devices come from the Session's
    own arguments and GRAPHC_* variables (docs/backend.md), so nothing here changes a run."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


GPUOptions = ConfigProto


class RunOptions(_runtime.trace.RunOptions):
    """TF1's ``RunOptions(trace_level=...)``: any trace level times every kernel."""

    NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE, FULL_TRACE = 0, 1, 2, 3

    def __init__(self, trace_level=0, timeout_in_ms=0, **ignored):
        super().__init__(trace=trace_level != 0)


RunMetadata = _runtime.trace.RunMetadata


def _session_args(target, config):
    if target:
        raise UnsupportedError(f"Session target {target!r}: graphc runs in-process only")


class Session(_runtime.Session):
    """``tf.Session(target='', graph=None, config=None)``; graphc's own keyword arguments
    (``device=``, ``optimize=``, ...) are accepted too."""

    def __init__(self, target="", graph=None, config=None, **kwargs):
        _session_args(target, config)
        super().__init__(graph=graph, **kwargs)

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """TF1's argument order: ``run(fetches, feed_dict, options, run_metadata)``."""
        return super().run(fetches, feed_dict, options=options, run_metadata=run_metadata)

    def __enter__(self):
        """As TF1: the default session, and its graph the default graph, inside the block."""
        self._graph_context = self.graph.as_default()
        self._graph_context.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            super().__exit__(*exc)
        finally:
            self._graph_context.__exit__(*exc)


# -- scopes, devices and modes -----------------------------------------------------------------------
@contextlib.contextmanager
def name_scope(name, default_name=None, values=None):
    """``tf.name_scope(name, default_name=None, values=None)``: yields the scope's prefix."""
    graph = get_default_graph()
    scope = name or default_name
    if not scope:
        yield ""
        return
    with graph.name_scope(scope.rstrip("/")) as prefix:
        yield prefix


@contextlib.contextmanager
def device(device_name_or_function):
    """Accepted so TF1 programs run: a graphc Session runs the whole graph on its own
    ``device=``, so this places nothing."""
    yield


def disable_v2_behavior():
    """Nothing to disable: graphc is always TF1's graph mode."""


disable_eager_execution = disable_v2_behavior


def executing_eagerly():
    """graphc never executes eagerly."""
    return False


def enable_eager_execution(*args, **kwargs):
    raise UnsupportedError("eager execution: graphc builds a graph and runs it in a Session")


def _log(level):
    return lambda msg, *args: _logging.getLogger("graphc.compat.v1").log(level, msg, *args)


logging = types.SimpleNamespace(
    DEBUG=_logging.DEBUG, INFO=_logging.INFO, WARN=_logging.WARNING, ERROR=_logging.ERROR, FATAL=_logging.FATAL,
    set_verbosity=lambda level: _logging.getLogger("graphc.compat.v1").setLevel(level),
    debug=_log(_logging.DEBUG), info=_log(_logging.INFO), warn=_log(_logging.WARNING),
    warning=_log(_logging.WARNING), error=_log(_logging.ERROR))


# names that live in modules other engineers own, imported when first used
_LAZY = {
    "get_variable": ("...variable_scope", "get_variable"),
    "variable_scope": ("...variable_scope", "variable_scope"),
    "get_variable_scope": ("...variable_scope", "get_variable_scope"),
    "VariableScope": ("...variable_scope", "VariableScope"),
    "AUTO_REUSE": ("...variable_scope", "AUTO_REUSE"),
    "initializers": ("...initializers", None),
    "get_default_session": ("...default_session", "get_default_session"),
}
for _name in ("zeros_initializer", "ones_initializer", "constant_initializer", "random_normal_initializer",
              "truncated_normal_initializer", "random_uniform_initializer", "glorot_uniform_initializer",
              "glorot_normal_initializer", "variance_scaling_initializer", "orthogonal_initializer",
              "identity_initializer"):
    _LAZY[_name] = ("...initializers", _name)


__all__ = sorted(set(_OWN + array.__all__ + math.__all__ + list(_UNSUPPORTED_FUNCTIONS) + list(_LAZY)))


def __getattr__(name):
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        value = importlib.import_module(module, __name__)
        return value if attr is None else getattr(value, attr)
    if name == "InteractiveSession":
        return _interactive_session()
    raise _feature_error(name)


def _interactive_session():
    from ... import InteractiveSession as _Interactive

    class InteractiveSession(_Interactive):
        """``tf.InteractiveSession(target='', graph=None, config=None)``: a Session that is
        the default session until closed."""

        def __init__(self, target="", graph=None, config=None, **kwargs):
            _session_args(target, config)
            super().__init__(graph=graph, **kwargs)

        def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
            """TF1's argument order: ``run(fetches, feed_dict, options, run_metadata)``."""
            return _runtime.Session.run(self, fetches, feed_dict, options=options, run_metadata=run_metadata)

    globals()["InteractiveSession"] = InteractiveSession
    return InteractiveSession
