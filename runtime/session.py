"""``gc.Session``: compiles what a ``run`` needs (cached) and executes it.

A Session may be run from many threads at once (docs/backend.md, "Threads and
robustness"): programs compile once, runs of one program run side by side on twins of
its executor, runs that update variables run one at a time, and every run reads the
variable values of one moment.
"""
import threading

import numpy as np

from .. import default_session as _default
from ..errors import FeedError, GraphcError, GraphError
from ..ir.graph import get_default_graph
from ..ir.interpret import compute
from ..ops import EFFECT
from ..passes.pipeline import select_passes
from ..tensor import Tensor, Variable
from .backends import ALL_DEVICES, backend_of
from .compiler import compile_program
from .feeds import convert_feed, feed_nodes, feed_spec
from .structure import flatten
from .updates import RunPlan, plan_run
# One compile at a time in the process: two threads asking for the same program compile it
# once, and LLVM (llvmlite's global context) is never entered from two threads at once.
_COMPILING = threading.Lock()


class Session:
    """Runs graphs. ``gc.Session(graph=None, device="cpu")``, usable as a context manager.

    Variables live here: each starts at its initial value when first needed (all
    of the graph's variables are initialized when the Session is created), keeps
    its value across runs, and changes only when a run succeeds.

    One Session may be run from many threads at once. Each run reads the variable values
    of one moment; runs that update variables run one at a time, so concurrent training
    steps give what some sequential order of them gives.
    """

    def __init__(self, graph=None, device="cpu", optimize=True, passes=None, disable=(), verify=False,
                 poison=False, check_numerics=False, return_device_arrays=False):
        """``optimize=False`` runs every op as its own kernel (the unfused baseline);
        ``passes``/``disable`` pick pipeline passes by name (see graphc.passes.PASS_NAMES);
        ``verify`` runs the IR verifier after every pass; ``poison`` fills every arena
        region with NaN when its buffer dies (a check of the memory planner);
        ``check_numerics`` makes every run raise ``NumericsError`` at the first NaN/Inf an
        op produces (runtime.numerics; ``run(..., check_numerics=...)`` overrides it);
        ``return_device_arrays`` (device="cuda"): fetched values stay on the GPU as CuPy
        arrays instead of coming back as numpy arrays."""
        if device not in ALL_DEVICES:
            raise GraphcError(f"unknown device {device!r}; available: {', '.join(ALL_DEVICES)}")
        check = getattr(backend_of(device), "check_available", None)
        if check is not None:
            check()   # e.g. "cuda" without CuPy, a driver or a GPU: a clear error now, not at the first run
        self.graph = graph if graph is not None else get_default_graph()
        self.device = device
        self.passes = select_passes(optimize, passes, disable)
        self.verify = bool(verify)
        self.poison = bool(poison)
        self.check_numerics = bool(check_numerics)
        self.return_device_arrays = bool(return_device_arrays)
        self._variables = {}
        # the one cache: each compiled program under (fetch nodes, feed specs), and under
        # ("call", fetched Tensor, feed keys) for the repeated run of one Tensor (_fast_run)
        self._cache = {}
        self._leans = {}   # fetched Tensor -> Compiled.lean's function of the feed dict (its last feed keys)
        self._closed = False
        self._access = _VariableAccess()
        self._initialize([n for n in self.graph.variables()], strict=False)

    # -- public API ---------------------------------------------------------
    def run(self, fetches, feed_dict=None, check_numerics=None, options=None, run_metadata=None):
        """Evaluate ``fetches`` (a Tensor, Operation, name, or nesting of them) with ``feed_dict``.

        Returns numpy arrays in the same structure (None for Operations). Only the
        subgraph the fetches need runs. A failed run changes no Variable.
        ``check_numerics`` (None: the Session's setting) raises ``NumericsError`` naming the
        op, its kernel and source line at the first NaN/Inf an op produces; the program
        run is the same compiled one, taken step by step. ``options=gc.RunOptions(trace=True)``
        records every kernel's time into ``run_metadata`` (a ``gc.RunMetadata``), as TF1 does.
        """
        if options is None and check_numerics is None and type(fetches) in (Tensor, Variable):
            lean = self._leans.get(fetches)   # (a repeated run of a lean program: its whole cost is here)
            if lean is not None:
                result = lean(feed_dict)
                if result is not None:
                    return result
        check = self.check_numerics if check_numerics is None else bool(check_numerics)
        tracing = options is not None and options.trace
        if not check and not tracing:   # (first: a repeated run's whole cost is what follows)
            fast = self._fast_run(fetches, feed_dict)
            if fast is not None:
                return fast
        if tracing and run_metadata is None:
            raise GraphcError("RunOptions(trace=True) needs a run_metadata=gc.RunMetadata() to record into")
        trace = run_metadata if tracing else None
        self._check_open()
        leaves, rebuild = flatten(fetches, self.graph)
        feeds = feed_nodes(feed_dict, self.graph, convert_feed)
        compiled = self._compile(tuple(t.node for t in leaves), {n: (a.dtype, a.shape) for n, a in feeds.items()})
        plan = compiled.run_plan
        self._initialize_missing(compiled)
        self._access.enter(compiled)
        try:
            values = compiled.run({n.name: a for n, a in feeds.items()}, self._variables, check, trace)
            owned = set()
            results = [None if p is None else _result(values[p], owned, self.return_device_arrays) for p in plan.fetched]
            if compiled.writes_variables:
                self._commit(compiled, values, plan, owned)
        finally:
            self._access.leave(compiled)
        if not plan.updates and len(plan.outputs) == 1:
            self._remember_fast(fetches, feed_dict, compiled, feeds)
        return rebuild(results)

    def _fast_run(self, fetches, feed_dict):
        """The common case, a Tensor fetched with the same feed keys, dtypes and shapes as a
        run before it, skips flattening, feed conversion and the cache key (a program with a
        lean run, ``Compiled.lean``, took ``_leans`` before this)."""
        if type(fetches) not in (Tensor, Variable) or self._closed:
            return None
        entry = self._cache.get(("call", fetches, tuple(feed_dict) if feed_dict else ()))
        if entry is None:
            return None
        compiled, expected = entry
        feeds = {}
        if feed_dict:
            for (name, dtype, shape), value in zip(expected, feed_dict.values()):
                if type(value) is not np.ndarray or value.dtype != dtype or value.shape != shape \
                        or not value.flags.c_contiguous:
                    return None
                feeds[name] = value
        if not compiled.reads_variables:
            (value,) = compiled.run(feeds, self._variables)
            return _result(value, set(), self.return_device_arrays)
        self._access.enter(compiled)
        try:
            (value,) = compiled.run(feeds, self._variables)
            return _result(value, set(), self.return_device_arrays)
        finally:
            self._access.leave(compiled)

    def _remember_fast(self, fetches, feed_dict, compiled, feeds):
        if type(fetches) in (Tensor, Variable) and all(isinstance(k, Tensor) for k in feed_dict or ()) \
                and not any(n.opdef.kind == EFFECT for n in compiled.graph.outputs):
            expected = [(k.node.name, feeds[k.node].dtype, feeds[k.node].shape) for k in feed_dict or ()]
            self._cache[("call", fetches, tuple(feed_dict) if feed_dict else ())] = (compiled, expected)
            lean = None if self.return_device_arrays or self.check_numerics else compiled.lean(
                [name for name, *_ in expected], fed=[(k, feeds[k.node]) for k in feed_dict or ()])
            if lean is not None:   # (the latest feed keys' program: another set of keys takes _fast_run)
                self._leans[fetches] = lean

    def compile(self, fetches, feed_dict=None):
        """The compiled program ``run`` would use; feed values may be arrays, shapes or TensorSpecs."""
        self._check_open()
        leaves, _ = flatten(fetches, self.graph)
        return self._compile(tuple(t.node for t in leaves), feed_nodes(feed_dict, self.graph, feed_spec))

    def close(self):
        """Free the compiled programs; later runs raise. A closed Session stays the default
        where it was made one with ``as_default()`` (as in TF1), so ``eval()`` there raises."""
        self._closed = True
        self._cache.clear()
        self._leans.clear()

    @property
    def closed(self):
        """True once :meth:`close` has run."""
        return self._closed

    def as_default(self):
        """A context manager making this Session the calling thread's default session
        (``gc.get_default_session()``, what ``Tensor.eval()``, ``Operation.run()`` and
        ``Variable.load()`` use) inside the ``with`` block. Blocks nest, the innermost
        wins; leaving one restores the previous default and does not close the Session
        (TF1)."""
        return _default.DefaultSession(self)

    def __enter__(self):
        """``with gc.Session() as sess:`` makes ``sess`` the default session inside the
        block (as ``as_default()``) and closes it at the end (TF1)."""
        _default.push(self)
        return self

    def __exit__(self, *exc):
        _default.pop(self)
        self.close()

    def _load_variable(self, variable, value):
        """Set ``variable`` (a Variable of this Session's graph) to ``value`` now, exactly:
        ``value`` must have its shape and a dtype that converts to its dtype safely
        (``Variable.load``). Waits for runs that update variables; runs reading them keep
        the values from before."""
        self._check_open()
        node = variable.node
        if variable.graph is not self.graph:
            raise GraphcError(f"cannot load variable '{variable.name}': it belongs to another graph than "
                              "the session's")
        try:
            array = convert_feed(node, value)
        except FeedError as e:
            raise FeedError(str(e).replace("feed for", "value loaded into variable", 1)) from None
        array = np.array(array, dtype=node.dtype, order="C")   # the Session's own copy
        with self._access.writer:
            variables = dict(self._variables)
            variables[node.name] = array
            self._variables = variables

    # -- internals ----------------------------------------------------------
    def _check_open(self):
        if self._closed:
            raise GraphcError("this Session is closed")

    def _compile(self, fetch_nodes, specs, plan=None):
        """The program computing ``fetch_nodes`` with feeds of ``specs`` ({node: (dtype,
        shape)}), compiled once. ``plan`` (runtime.updates.RunPlan) defaults to what
        fetching them means; an initializer's own plan is cached apart."""
        key = (fetch_nodes, tuple(sorted(((n.name, d.str, s) for n, (d, s) in specs.items()))), plan is None)
        compiled = self._cache.get(key)
        if compiled is None:
            with _COMPILING:
                compiled = self._cache.get(key)
                if compiled is None:
                    run_plan = plan_run(self.graph, fetch_nodes) if plan is None else plan
                    compiled = self._cache[key] = compile_program(
                        self.graph, run_plan, specs, self.device, self.passes, verify=self.verify,
                        poison=self.poison)
        return compiled

    def _initialize_missing(self, compiled):
        """Start the variables ``compiled`` reads that have no value yet (once, under the
        writers' lock; the values other runs read are not touched)."""
        names = compiled.variable_names()
        if all(n in self._variables for n in names):
            return
        with self._access.writer:
            self._initialize([self.graph.node(n) for n in names if n not in self._variables])

    def _initialize(self, variable_nodes, strict=True):
        """Set variables to their initial values (those that need feeds wait if not strict)."""
        for var in variable_nodes:
            try:
                init = self._initial_value_node(var)
                value = _exact_initial_value(init)
                if value is not None:   # a constant, or one reshaped or broadcast: nothing to compile
                    self._variables[var.name] = np.array(value, dtype=var.dtype)
                    continue
                # the initial value alone: no control inputs or updates of the graph around it
                compiled = self._compile((init,), {}, plan=RunPlan((init,), (), (0,)))
                # an initial value may read other variables: start those first
                needed = [self.graph.node(n) for n in compiled.variable_names() if n not in self._variables]
                self._initialize(needed, strict)
                if any(n.name not in self._variables for n in needed):
                    raise FeedError(f"variable '{var.name}' depends on uninitialized variables")
                (value,) = compiled.run({}, self._variables)
            except FeedError:
                if strict:
                    raise FeedError(f"variable '{var.name}' is uninitialized: its initial value needs "
                                    "feeds or is missing; run its initializer first") from None
                continue
            self._variables[var.name] = np.array(_on_host(value), dtype=var.dtype)

    def _initial_value_node(self, var):
        try:
            return self.graph.node(var.attrs["initial_value"])
        except GraphError:
            # e.g. a parsed compiled program, whose initializers were pruned away
            raise FeedError(f"variable '{var.name}' has no initial value in this graph "
                            f"(node '{var.attrs['initial_value']}' is missing)") from None

    def _commit(self, compiled, values, plan, fetched):
        """Apply the effects of a successful run: initializers, then updates. An update's
        array becomes the variable's storage unless the caller got it or it is shared.
        The variables' dict is replaced, never changed, so a run reading it meanwhile sees
        the values from before this one, all of them."""
        variables = dict(self._variables)
        for node, value in zip(compiled.graph.outputs, values):
            if node.op == "init_variables":
                for name, v in zip(node.attrs["variables"], value):
                    variables[name] = np.array(v, dtype=self._variables_dtype(name))
        for name, position in plan.updates:
            value = values[position]
            if value is variables.get(name):
                continue    # written in place (runtime.inplace)
            owned = type(value) is np.ndarray and value.flags.owndata and value.flags.writeable \
                and id(value) not in fetched and sum(v is value for v in values) == 1
            if _is_device_array(value):   # a GPU's update stays on the GPU (a view of a feed is copied)
                variables[name] = value if value.base is None and id(value) not in fetched else value.copy()
                continue
            variables[name] = value if owned else np.array(value, dtype=self._variables_dtype(name))
        self._variables = variables

    def _variables_dtype(self, name):
        return self.graph.node(name).dtype


class InteractiveSession(Session):
    """A Session that makes itself the default session of the thread that creates it, for
    shells and notebooks (TF1 ``tf.InteractiveSession``)::

        sess = gc.InteractiveSession()
        x.eval()          # no `with` block needed
        sess.close()      # no longer the default

    It takes Session's arguments. ``close()`` closes it and removes it from the default
    stack; a ``with`` block inside it or a newer default keeps priority while it lasts."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._default_entry = _default.push(self)

    def close(self):
        """Close the Session and stop it being the default session."""
        super().close()
        entry = getattr(self, "_default_entry", None)
        if entry is not None:
            _default.remove(entry)
            self._default_entry = None


class _VariableAccess:
    """Which runs may use a Session's variables at the same time.

    Runs that read variables and update none share them. Runs that update variables (or
    run an initializer) hold ``writer``, one at a time, so each starts from the values the
    one before it committed. A run that writes updates into the variables' own buffers
    (runtime.inplace) also waits until no reader runs and keeps new readers out meanwhile;
    other writers commit a new dict of variables, so readers keep going beside them.

    Uncontended, nothing here waits: a reader appends itself to ``readers`` and checks
    ``writing``; an in-place writer sets ``writing`` and checks ``readers`` (list appends,
    pops and attribute writes are atomic, so one of the two always sees the other)."""

    def __init__(self):
        self.writer = threading.Lock()
        self.readers = []           # one entry per run reading the variables now
        self.writing = False        # an in-place writer runs, or waits for the readers to finish
        self._drained = threading.Event()   # a reader left while ``writing``

    def enter(self, compiled):
        """Wait until a run of ``compiled`` may start, and count it in."""
        if compiled.writes_variables:
            self.writer.acquire()
            if compiled.writes_in_place:
                self.writing = True
                while self.readers:
                    self._drained.wait(0.001)
                    self._drained.clear()
        elif compiled.reads_variables:
            self.readers.append(None)
            while self.writing:     # step aside (nothing read yet) until the writer is done
                self.readers.pop()
                self._drained.set()
                with self.writer:
                    pass
                self.readers.append(None)

    def leave(self, compiled):
        """The run of ``compiled`` that :meth:`enter` let in has finished (or failed)."""
        if compiled.writes_variables:
            if compiled.writes_in_place:
                self.writing = False
            self.writer.release()
        elif compiled.reads_variables:
            self.readers.pop()
            if self.writing:
                self._drained.set()


def _is_device_array(value):
    return hasattr(value, "__cuda_array_interface__")


# ops whose numpy reference moves or fills values without computing on them: an initial value
# made of these and constants is the same array on every device, so it needs no program
_EXACT_INIT_OPS = ("broadcast_to", "reshape", "expand_dims", "squeeze", "transpose", "full_like")


def _exact_initial_value(node, depth=0):
    """The value of initial-value ``node`` when it is a constant moved or filled by exact ops
    (a weight array, zeros broadcast for an optimizer's slot), else None."""
    if node.op == "constant":
        return node.attrs["value"]
    if node.op not in _EXACT_INIT_OPS or depth > 8:
        return None
    inputs = [_exact_initial_value(x, depth + 1) for x in node.inputs]
    if any(v is None for v in inputs):
        return None
    return compute(node, inputs)


def _on_host(value):
    """A device array's values as a numpy array (CuPy's ``get``); host values as they are."""
    return value.get() if _is_device_array(value) else value


def _result(value, owned, keep_device=False):
    """A fetched value the caller owns: never a view of session or constant memory, and
    never the same array as another fetch of the same run (``owned`` tracks those). A
    device array comes back to the host unless ``keep_device``."""
    if type(value) is not np.ndarray and _is_device_array(value):   # (numpy first: the hot path)
        if not keep_device:
            return _on_host(value)
        if value.base is not None or id(value) in owned:
            value = value.copy()
        owned.add(id(value))
        return value
    array = np.asarray(value)
    if not array.flags.writeable or not array.flags.owndata or id(array) in owned:
        array = array.copy()
    owned.add(id(array))
    return array
