"""TF1 variable sharing: ``gc.get_variable``, ``gc.variable_scope`` and ``gc.AUTO_REUSE``.

    def tower(x):
        with gc.variable_scope("dense", reuse=gc.AUTO_REUSE):
            w = gc.get_variable("w", (4, 3))            # "dense/w", created once
            b = gc.get_variable("b", (3,), initializer=gc.initializers.zeros_initializer())
            return x @ w + b                            # "dense/add", then "dense_1/add"

    y1, y2 = tower(x1), tower(x2)                       # the same w and b

The semantics are TF1's:

* A variable made by :func:`get_variable` is named exactly ``<scope>/<name>`` after the
  enclosing variable scopes (never uniquified); ``gc.name_scope`` does not change it.
* Ops built inside a variable scope go under its name scope, which is uniquified as
  TF1's name scopes are: entering ``"foo"`` again gives ``foo_1/add`` while the variables
  stay ``foo/v``. ``default_name`` gives uniquified scopes (``dense``, ``dense_1``).
* ``reuse``: None inherits the enclosing scope's; True: the variables must exist;
  :data:`AUTO_REUSE`: made if missing, else reused. Reuse is inherited by every scope
  inside (``reuse=False`` there does not turn it off). Re-entering a scope by passing its
  :class:`VariableScope` object takes that scope's name (ignoring the enclosing scopes)
  and its reuse flag (unless ``reuse`` is given).
* One variable store per graph: a name made by ``gc.Variable`` is not a shared variable
  (getting it says it "does not exist, or was not created with tf.get_variable()").

What graphc does not have: collections (``collections=`` is accepted and ignored: every
variable is in ``gc.global_variables()``, and ``trainable`` decides
``gc.trainable_variables()``), resource vs ref variables (``use_resource`` is ignored),
partitioned variables, custom getters, caching devices, variable constraints and
``validate_shape=False`` (these raise :class:`NotSupportedError`). Regularization losses
are kept per graph: :func:`get_regularization_losses`, :func:`get_regularization_loss`.
"""
import inspect
import re
import weakref
from contextlib import ExitStack, contextmanager, nullcontext

import numpy as np

from . import builder
from . import dtypes as dt
from . import initializers as inits
from .errors import GraphcError, GraphError
from .ir.graph import NAME_RE, get_default_graph
from .tensor import Tensor

__all__ = ["AUTO_REUSE", "VariableScope", "variable_scope", "get_variable", "get_variable_scope",
           "get_regularization_losses", "get_regularization_loss", "VariableScopeError", "NotSupportedError"]


class VariableScopeError(GraphError):
    """A variable could not be created or shared (TF1's ValueErrors: exists, does not
    exist, shape or dtype mismatch, bad shape or initializer). A ValueError too."""


class NotSupportedError(GraphcError, NotImplementedError):
    """A TF1 variable feature graphc does not have (partitioner, custom_getter, ...)."""


class _ReuseMode:
    """The type of :data:`AUTO_REUSE` (true in a boolean context, as TF1's)."""

    def __repr__(self):
        return "AUTO_REUSE"

    def __reduce__(self):
        return "AUTO_REUSE"


AUTO_REUSE = _ReuseMode()
"""``reuse=gc.AUTO_REUSE``: get_variable creates a variable if it does not exist, else returns it."""


# -- the per-graph store ----------------------------------------------------------------------
class _Store:
    def __init__(self):
        self.variables = {}       # full name -> Variable made by get_variable
        self.scope = VariableScope(False)
        self.scope_counts = {}    # variable scope name -> times opened (default_name uniquifying)
        self.regularization_losses = []


_stores = weakref.WeakKeyDictionary()   # graph -> _Store


def _store(graph):
    store = _stores.get(graph)
    if store is None:
        store = _stores[graph] = _Store()
    return store


def _unsupported(**given):
    for arg, value in given.items():
        if value is not None:
            raise NotSupportedError(f"{arg}={value!r} is not supported by graphc (it has no "
                                    f"{_WHAT[arg]}); pass {arg}=None")


_WHAT = {"caching_device": "caching devices", "partitioner": "partitioned variables",
         "custom_getter": "custom getters", "constraint": "variable constraints (optimizers would not apply them)",
         "synchronization": "distributed variables", "aggregation": "distributed variables"}


class VariableScope:
    """A variable scope: the name prefix and defaults of :func:`get_variable` calls.

    ``name``: the scope's full name ("outer/inner", "" at the root); ``reuse``: False,
    True or :data:`AUTO_REUSE`; ``original_name_scope``: the name scope opened the first
    time the scope was entered (``"outer/inner/"``); ``initializer``, ``regularizer``,
    ``dtype`` (float32 by default) and ``use_resource``: defaults for get_variable.
    ``caching_device``, ``partitioner``, ``custom_getter`` and ``constraint`` are always
    None (graphc has none of them). Get the current one with :func:`get_variable_scope`;
    pass one to :class:`variable_scope` to re-enter it.
    """

    def __init__(self, reuse, name="", initializer=None, regularizer=None, caching_device=None,
                 partitioner=None, custom_getter=None, name_scope="", dtype=dt.float32, use_resource=None,
                 constraint=None):
        _unsupported(caching_device=caching_device, partitioner=partitioner, custom_getter=custom_getter,
                     constraint=constraint)
        self._name = name
        self._reuse = reuse
        self._initializer = initializer
        self._regularizer = regularizer
        self._name_scope = name_scope
        self._dtype = dt.as_dtype(dtype)
        self._use_resource = use_resource

    name = property(lambda self: self._name, doc="The scope's full name (\"\" at the root).")
    original_name_scope = property(lambda self: self._name_scope,
                                   doc="The name scope opened when the scope was first entered (\"foo/\").")
    reuse = property(lambda self: self._reuse, doc="False, True or AUTO_REUSE.")
    initializer = property(lambda self: self._initializer, doc="The default initializer (None: TF1's rule).")
    regularizer = property(lambda self: self._regularizer, doc="The default regularizer (None: none).")
    dtype = property(lambda self: self._dtype, doc="The default dtype of new variables (float32).")
    use_resource = property(lambda self: self._use_resource, doc="Kept for TF1 code; graphc ignores it.")
    caching_device = partitioner = custom_getter = constraint = property(lambda self: None)

    def reuse_variables(self):
        """From now on, get_variable in this scope (and scopes entered inside it) reuses."""
        self._reuse = True

    def set_initializer(self, initializer):
        """Set the default initializer of this scope."""
        self._initializer = initializer

    def set_regularizer(self, regularizer):
        """Set the default regularizer of this scope."""
        self._regularizer = regularizer

    def set_dtype(self, dtype):
        """Set the default dtype of this scope's new variables."""
        self._dtype = dt.as_dtype(dtype)

    def set_use_resource(self, use_resource):
        """Kept for TF1 code (graphc has one kind of variable)."""
        self._use_resource = use_resource

    def set_caching_device(self, caching_device):
        """Not supported (graphc has no caching devices) unless None."""
        _unsupported(caching_device=caching_device)

    def set_partitioner(self, partitioner):
        """Not supported (graphc has no partitioned variables) unless None."""
        _unsupported(partitioner=partitioner)

    def set_custom_getter(self, custom_getter):
        """Not supported (graphc has no custom getters) unless None."""
        _unsupported(custom_getter=custom_getter)

    def global_variables(self, graph=None):
        """The variables of ``graph`` (the default graph) whose names start with this scope's."""
        from .state import global_variables
        return [v for v in global_variables(graph) if self._contains(v.name)]

    def trainable_variables(self, graph=None):
        """The trainable variables of ``graph`` (the default graph) inside this scope."""
        from .state import trainable_variables
        return [v for v in trainable_variables(graph) if self._contains(v.name)]

    def _contains(self, name):
        return not self._name or name.startswith(self._name + "/")

    def __repr__(self):
        return f"<graphc.VariableScope {self._name!r} reuse={self._reuse!r}>"


def get_variable_scope():
    """The current :class:`VariableScope` of the default graph (the root one, named "",
    outside any ``gc.variable_scope``)."""
    return _store(get_default_graph()).scope


# -- entering scopes --------------------------------------------------------------------------
def _open_name_scope(stack, graph, base):
    """Enter a uniquified name scope ``base`` under the current one ("foo", then "foo_1");
    returns its full name with a trailing "/"."""
    full = graph.unique_name(base)
    graph._name_counts.setdefault(full, 0)   # "foo_1" itself is taken now (as TF1 marks it)
    current = graph.current_scope
    relative = full[len(current) + 1:] if current else full
    stack.enter_context(graph.name_scope(relative))
    return full + "/"


@contextmanager
def _root_name_scope(graph, path):
    """Build with the name scope ``path`` (absolute) and, as TF1's init_scope, outside any
    ``control_dependencies`` block."""
    with graph.at_root(), (graph.name_scope(path) if path else nullcontext()):
        yield


class variable_scope:
    """``with gc.variable_scope(name_or_scope, ...) as scope:``: a scope for get_variable.

    ``name_or_scope``: a name (nested under the current variable scope) or a
    :class:`VariableScope` to re-enter (its full name, whatever the current scope).
    ``default_name``: used when ``name_or_scope`` is None, made unique ("dense",
    "dense_1"; counted afresh inside each entry of the enclosing scope, as TF1).
    ``values``: tensors whose graph becomes the default graph inside the block.
    ``initializer``, ``regularizer``, ``dtype``: defaults for get_variable inside, inherited
    by inner scopes. ``reuse``: None (inherit), True, False (same as None: reuse cannot be
    turned off inside a reusing scope) or :data:`AUTO_REUSE`. ``auxiliary_name_scope=False``
    enters no name scope (op names are left as they are). ``use_resource`` is ignored;
    ``caching_device``, ``partitioner``, ``custom_getter`` and ``constraint`` must be None.

    The block's ops get the scope's name scope, uniquified on each entry ("foo",
    "foo_1"); variables get the variable scope's exact name.
    """

    def __init__(self, name_or_scope, default_name=None, values=None, initializer=None, regularizer=None,
                 caching_device=None, partitioner=None, custom_getter=None, reuse=None, dtype=None,
                 use_resource=None, constraint=None, auxiliary_name_scope=True):
        _unsupported(caching_device=caching_device, partitioner=partitioner, custom_getter=custom_getter,
                     constraint=constraint)
        if name_or_scope is None and default_name is None:
            raise TypeError("If default_name is None then name_or_scope is required")
        if name_or_scope is not None and not isinstance(name_or_scope, (str, VariableScope)):
            raise TypeError(f"VariableScope: name_or_scope must be a string or VariableScope, got {name_or_scope!r}")
        if isinstance(name_or_scope, str) and not NAME_RE.match(name_or_scope):
            raise VariableScopeError(f"invalid variable scope name {name_or_scope!r}: use letters, digits "
                                     "and _ . / -")
        if name_or_scope is None and not NAME_RE.match(str(default_name)):
            raise VariableScopeError(f"invalid variable scope default_name {default_name!r}")
        if reuse is False:
            reuse = None   # no scope turns reuse off inside a reusing one (TF1)
        if not (reuse is None or reuse is True or reuse is AUTO_REUSE):
            raise ValueError("The reuse parameter must be True or False or None.")
        if name_or_scope is None and reuse:
            raise ValueError("reuse=True cannot be used without a name_or_scope")
        if not isinstance(auxiliary_name_scope, bool):
            raise TypeError(f"auxiliary_name_scope must be True or False, got {auxiliary_name_scope!r}")
        self._name_or_scope, self._default_name, self._values = name_or_scope, default_name, values
        self._initializer, self._regularizer, self._reuse = initializer, regularizer, reuse
        self._dtype = None if dtype is None else dt.as_dtype(dtype)
        self._use_resource, self._auxiliary = use_resource, auxiliary_name_scope
        self._entries = []

    def __enter__(self):
        stack = ExitStack()
        try:
            scope, restore = self._enter(stack)
        except BaseException:
            stack.close()
            raise
        self._entries.append((stack, restore))
        return scope

    def __exit__(self, *exc):
        stack, restore = self._entries.pop()
        try:
            restore()
        finally:
            stack.close()
        return False

    def _enter(self, stack):
        values = [v for v in (self._values or ()) if isinstance(v, Tensor)]
        if values:
            graph = builder.graph_of(*values)
            stack.enter_context(graph.as_default())
        else:
            graph = get_default_graph()
        store = _store(graph)
        old = store.scope
        given = self._name_or_scope
        if isinstance(given, VariableScope):
            name_scope = (_open_name_scope(stack, graph, given.name.split("/")[-1])
                          if self._auxiliary and given.name else None)
            scope = VariableScope(self._reuse or given.reuse, name=given.name,
                                  initializer=given.initializer, regularizer=given.regularizer,
                                  name_scope=given.original_name_scope,
                                  dtype=given.dtype, use_resource=given.use_resource)
            store.scope_counts[scope.name] = store.scope_counts.get(scope.name, 0) + 1
            saved_counts = dict(store.scope_counts)   # (TF1: restored on exit, this entry counted)

            def restore_counts():
                store.scope_counts = saved_counts
        else:
            if given is None:
                name_scope = _open_name_scope(stack, graph, self._default_name) if self._auxiliary else None
                base = self._default_name
                prefix = f"{old.name}/{base}" if old.name else base
                if store.scope_counts.get(prefix, 0):
                    n = 1
                    while store.scope_counts.get(f"{prefix}_{n}", 0):
                        n += 1
                    base = f"{base}_{n}"
            else:
                name_scope = _open_name_scope(stack, graph, given) if self._auxiliary else None
                base = given
            new_name = f"{old.name}/{base}" if old.name else base
            scope = VariableScope(self._reuse or old.reuse, name=new_name, initializer=old.initializer,
                                  regularizer=old.regularizer, name_scope=name_scope or new_name + "/",
                                  dtype=old.dtype, use_resource=old.use_resource)

            store.scope_counts[new_name] = store.scope_counts.get(new_name, 0) + 1

            def restore_counts():   # subscopes are counted afresh in the next entry (TF1)
                for key in store.scope_counts:
                    if key.startswith(new_name + "/"):
                        store.scope_counts[key] = 0
        if self._initializer is not None:
            scope.set_initializer(self._initializer)
        if self._regularizer is not None:
            scope.set_regularizer(self._regularizer)
        if self._dtype is not None:
            scope.set_dtype(self._dtype)
        if self._use_resource is not None:
            scope.set_use_resource(self._use_resource)
        store.scope = scope

        def restore():
            store.scope = old
            restore_counts()
        return scope, restore


# -- get_variable -----------------------------------------------------------------------------
def _static_shape(shape, what):
    """A shape as a tuple of ints and Nones (None: unknown), or None (no shape given)."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if isinstance(shape, Tensor) or not isinstance(shape, (tuple, list)):
        raise VariableScopeError(f"{what}: shape must be a tuple or list of ints, got {shape!r}")
    out = []
    for d in shape:
        if d is not None and (isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < 0):
            raise VariableScopeError(f"{what}: shape must be a tuple or list of non-negative ints, got {shape!r}")
        out.append(None if d is None else int(d))
    return tuple(out)


def _fmt_shape(shape):
    if shape is None:
        return "<unknown>"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _compatible(wanted, found):
    return wanted is None or (len(wanted) == len(found)
                              and all(w is None or w == f for w, f in zip(wanted, found)))


def _value_dtype(value):
    """The dtype a constant initializer carries itself (a Tensor's or numpy value's), or
    None for plain Python values (which convert to the dtype asked for)."""
    if isinstance(value, Tensor):
        return value.dtype
    if isinstance(value, (np.ndarray, np.generic)):
        return dt.as_dtype(value.dtype)
    return None


@builder.located
def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=None,
                 collections=None, caching_device=None, partitioner=None, validate_shape=True,
                 use_resource=None, custom_getter=None, constraint=None, synchronization=None,
                 aggregation=None):
    """The variable ``<current variable scope>/<name>``: created, or reused if the scope reuses.

    Creating (the scope's ``reuse`` is False, or AUTO_REUSE and it does not exist):

    * ``shape``: static and fully defined (a tuple/list of ints), unless ``initializer``
      is a value: a Tensor, numpy array or Python number/list, whose shape the variable
      takes (then giving ``shape`` too is an error, as TF1).
    * ``dtype``: this argument, else the scope's dtype, else float32. A value initializer
      keeps its own dtype (a Tensor or numpy value must match an explicit ``dtype``;
      Python values are converted to ``dtype`` when it is given).
    * ``initializer``: this argument, else the scope's, else ``glorot_uniform_initializer``
      for floats and ``zeros_initializer`` for ints and bools (TF1's rule). A callable is
      called as ``initializer(shape_list, dtype=dtype, partition_info=None)`` (an
      initializer class is instantiated first; a callable taking no arguments is called
      with none when no shape is given); it may return a Tensor or a numpy value. Its ops
      are named ``<name>/Initializer/...`` and built outside any control_dependencies.
    * ``regularizer``: this argument, else the scope's: ``regularizer(variable)`` is built
      (under ``<name>/Regularizer/``) and, unless None, kept in the graph's list of
      :func:`get_regularization_losses`.
    * ``trainable``: None means True.

    Reusing (the scope's ``reuse`` is True, or AUTO_REUSE and it exists) returns the same
    ``gc.Variable``; ``shape`` (where given) and the dtype must match it. Errors (a
    :class:`VariableScopeError`, a ValueError) use TF1's texts, with the ``file:line``
    of the call; the "already exists" error gives the first definition's.

    ``collections`` and ``use_resource`` are accepted and ignored (graphc has no
    collections and one kind of variable); ``caching_device``, ``partitioner``,
    ``custom_getter``, ``constraint``, ``synchronization``, ``aggregation`` and
    ``validate_shape=False`` raise :class:`NotSupportedError`.
    """
    _unsupported(caching_device=caching_device, partitioner=partitioner, custom_getter=custom_getter,
                 constraint=constraint, synchronization=synchronization, aggregation=aggregation)
    if validate_shape is not True:
        raise NotSupportedError("validate_shape=False is not supported by graphc (variables always have "
                                "a static, fully defined shape)")
    if not isinstance(name, str) or not name:
        raise VariableScopeError(f"get_variable needs a non-empty string name, got {name!r}")
    graph = get_default_graph()
    store = _store(graph)
    scope = store.scope
    full = f"{scope.name}/{name}" if scope.name else name
    if not NAME_RE.match(full) or "//" in full or full.endswith("/"):
        raise VariableScopeError(f"invalid variable name {full!r}: use letters, digits and _ . / -")
    shape = _static_shape(shape, f"variable {full}")

    explicit = None if dtype is None else dt.as_dtype(dtype)
    if explicit is not None and initializer is not None and not callable(initializer):
        own = _value_dtype(initializer)
        if own is not None and own != explicit:
            raise VariableScopeError(f"Initializer type '{own.name}' and explicit dtype '{explicit.name}' "
                                     "don't match.")
    if initializer is None:
        initializer = scope.initializer
    if regularizer is None:
        regularizer = scope.regularizer
    dtype = explicit if explicit is not None else scope.dtype
    from_value = initializer is not None and not callable(initializer)
    if shape is not None and from_value:
        raise VariableScopeError("If initializer is a constant, do not specify shape.")

    found = store.variables.get(full)
    if found is not None:
        if not scope.reuse:
            raise VariableScopeError(f"Variable {full} already exists, disallowed. Did you mean to set "
                                     "reuse=True or reuse=tf.AUTO_REUSE in VarScope? Originally defined at: "
                                     f"{found.node.loc}")
        if not _compatible(shape, found.shape):
            raise VariableScopeError(f"Trying to share variable {full}, but specified shape {_fmt_shape(shape)} "
                                     f"and found shape {_fmt_shape(found.shape)}.")
        if dtype != found.dtype:
            raise VariableScopeError(f"Trying to share variable {full}, but specified dtype {dtype.name} "
                                     f"and found dtype {found.dtype.name}.")
        return found

    other = graph.node(full) if graph.has_node(full) else None
    if scope.reuse is True:
        hint = "" if other is None else (f" (a '{other.op}' node named {full} exists, made at {other.loc} by "
                                         "gc.Variable or another op, not by get_variable)")
        raise VariableScopeError(f"Variable {full} does not exist, or was not created with tf.get_variable(). "
                                 f"Did you mean to set reuse=tf.AUTO_REUSE in VarScope?{hint}")
    if other is not None:
        raise VariableScopeError(f"cannot create variable {full}: the graph already has a '{other.op}' node of "
                                 f"that name (made at {other.loc}), not made by get_variable; rename one of them")

    if isinstance(initializer, type):
        initializer = initializer()
    if initializer is None:
        if dt.is_float(dtype):
            initializer = inits.GlorotUniform()
        else:
            initializer = inits.Zeros()
    loc = builder.user_location()
    with _root_name_scope(graph, full):
        init = _initial_value(graph, full, shape, dtype, explicit, initializer, from_value)
        attrs = {"dtype": init.dtype, "shape": init.shape, "trainable": True if trainable is None else bool(trainable),
                 "initial_value": init.name}
        node = graph.add_node("variable", (), attrs, name=full, loc=loc, exact_name=True)
    var = graph.tensor(node)
    store.variables[full] = var
    if regularizer is not None:
        with _root_name_scope(graph, f"{full}/Regularizer"):
            loss = regularizer(var)
        if loss is not None:
            store.regularization_losses.append(builder.as_tensor(loss, graph=graph))
    return var


def _initial_value(graph, full, shape, dtype, explicit, initializer, from_value):
    """The initial-value Tensor of a new variable (built under the name scope ``full``)."""
    if from_value:
        if isinstance(initializer, Tensor):
            if initializer.graph is not graph:
                raise VariableScopeError(f"variable {full}: the initializer Tensor '{initializer.name}' belongs "
                                         "to another graph")
            value = initializer
        else:
            own = _value_dtype(initializer)
            target = own or explicit or dt.default_dtype_for(initializer)
            array = inits._value_array(initializer, target, f"variable {full}")
            value = builder.constant(array, name="initial_value", graph=graph)
    else:
        if shape is None and _takes_no_arguments(initializer):
            with graph.name_scope("Initializer"):
                value = builder.as_tensor(initializer(), graph=graph)
        else:
            if shape is None or any(d is None for d in shape):
                raise VariableScopeError(f"Shape of a new variable ({full}) must be fully defined, but instead "
                                         f"was {_fmt_shape(shape)}.")
            with graph.name_scope("Initializer"):
                value = initializer(list(shape), dtype=dtype, partition_info=None)
                value = builder.as_tensor(value, dtype=None if isinstance(value, Tensor) else dtype, graph=graph)
            if value.dtype != dtype:
                raise VariableScopeError(f"variable {full}: the initializer gave dtype {value.dtype.name}, "
                                         f"not {dtype.name}")
            if tuple(value.shape) != shape:
                raise VariableScopeError(f"variable {full}: the initializer gave shape {_fmt_shape(value.shape)}, "
                                         f"not {_fmt_shape(shape)}")
    if any(d is None for d in value.shape):
        raise VariableScopeError(f"Shape of a new variable ({full}) must be fully defined, but instead was "
                                 f"{_fmt_shape(value.shape)}.")
    return value


def _takes_no_arguments(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


# -- regularization losses --------------------------------------------------------------------
def get_regularization_losses(scope=None, graph=None):
    """The regularization losses of ``graph`` (the default graph) that get_variable made,
    in creation order; ``scope``: keep those whose names match it (``re.match``, as TF1)."""
    losses = _store(graph or get_default_graph()).regularization_losses
    return [t for t in losses if scope is None or re.match(scope, t.name)]


def get_regularization_loss(scope=None, name="total_regularization_loss", graph=None):
    """The sum of :func:`get_regularization_losses` (``scope``) as one Tensor named
    ``name``; a float32 constant 0.0 when there are none."""
    from .math_ops import add, sum as reduce_sum
    graph = graph or get_default_graph()
    losses = get_regularization_losses(scope, graph)
    if not losses:
        return builder.constant(np.float32(0.0), name=name, graph=graph)
    total = losses[0]
    for loss in losses[1:]:
        total = add(total, loss)
    return reduce_sum(total, name=name)
