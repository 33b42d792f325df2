"""``gc.Session``: compiles what a ``run`` needs (cached) and executes it."""
import numpy as np

from ..errors import FeedError, GraphcError, GraphError
from ..ir.graph import get_default_graph
from ..passes.pipeline import select_passes
from .compiler import compile_program
from .feeds import convert_feed, feed_nodes, feed_spec
from ..ops import EFFECT
from ..tensor import Tensor, Variable
from .structure import flatten
from .updates import RunPlan, plan_run

DEVICES = ("cpu", "reference")


class Session:
    """Runs graphs. ``gc.Session(graph=None, device="cpu")``, usable as a context manager.

    Variables live here: each starts at its initial value when first needed (all
    of the graph's variables are initialized when the Session is created), keeps
    its value across runs, and changes only when a run succeeds.
    """

    def __init__(self, graph=None, device="cpu", optimize=True, passes=None, disable=(), verify=False,
                 poison=False, check_numerics=False):
        """``optimize=False`` runs every op as its own kernel (the unfused baseline);
        ``passes``/``disable`` pick pipeline passes by name (see graphc.passes.PASS_NAMES);
        ``verify`` runs the IR verifier after every pass; ``poison`` fills every arena
        region with NaN when its buffer dies (a check of the memory planner);
        ``check_numerics`` makes every run raise ``NumericsError`` at the first NaN/Inf an
        op produces (runtime.numerics; ``run(..., check_numerics=...)`` overrides it)."""
        if device not in DEVICES:
            raise GraphcError(f"unknown device {device!r}; available: {', '.join(DEVICES)}")
        self.graph = graph if graph is not None else get_default_graph()
        self.device = device
        self.passes = select_passes(optimize, passes, disable)
        self.verify = bool(verify)
        self.poison = bool(poison)
        self.check_numerics = bool(check_numerics)
        self._variables = {}
        self._cache = {}
        self._fast = {}
        self._plans = {}
        self._closed = False
        self._initialize([n for n in self.graph.variables()], strict=False)

    # -- public API ---------------------------------------------------------
    def run(self, fetches, feed_dict=None, check_numerics=None):
        """Evaluate ``fetches`` (a Tensor, Operation, name, or nesting of them) with ``feed_dict``.

        Returns numpy arrays in the same structure (None for Operations). Only the
        subgraph the fetches need runs. A failed run changes no Variable.
        ``check_numerics`` (None: the Session's setting) raises ``NumericsError`` naming the
        op, its kernel and source line at the first NaN/Inf an op produces; the program
        run is the same compiled one, taken step by step.
        """
        check = self.check_numerics if check_numerics is None else bool(check_numerics)
        if not check:
            fast = self._fast_run(fetches, feed_dict)
            if fast is not None:
                return fast
        self._check_open()
        leaves, rebuild = flatten(fetches, self.graph)
        feeds = feed_nodes(feed_dict, self.graph, convert_feed)
        plan = self._plan(tuple(t.node for t in leaves))
        compiled = self._compile(plan, {n: (a.dtype, a.shape) for n, a in feeds.items()})
        self._initialize([self.graph.node(n) for n in compiled.variable_names() if n not in self._variables])
        values = compiled.run({n.name: a for n, a in feeds.items()}, self._variables, check)
        owned = set()
        results = [None if p is None else _result(values[p], owned) for p in plan.fetched]
        self._commit(compiled, values, plan, owned)
        if not plan.updates and len(plan.outputs) == 1:
            self._remember_fast(fetches, feed_dict, compiled, feeds)
        return rebuild(results)

    def _plan(self, fetch_nodes):
        plan = self._plans.get(fetch_nodes)
        if plan is None:
            plan = self._plans[fetch_nodes] = plan_run(self.graph, fetch_nodes)
        return plan

    def _fast_run(self, fetches, feed_dict):
        """The common case, a Tensor fetched with the same feed keys, dtypes and shapes as a
        run before it, skips flattening, feed conversion and the cache key."""
        if type(fetches) not in (Tensor, Variable) or self._closed:
            return None
        entry = self._fast.get((fetches, tuple(feed_dict) if feed_dict else ()))
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
        (value,) = compiled.run(feeds, self._variables)
        return _result(value, set())

    def _remember_fast(self, fetches, feed_dict, compiled, feeds):
        if type(fetches) in (Tensor, Variable) and all(isinstance(k, Tensor) for k in feed_dict or ()) \
                and not any(n.opdef.kind == EFFECT for n in compiled.graph.outputs):
            expected = [(k.node.name, feeds[k.node].dtype, feeds[k.node].shape) for k in feed_dict or ()]
            self._fast[(fetches, tuple(feed_dict) if feed_dict else ())] = (compiled, expected)

    def compile(self, fetches, feed_dict=None):
        """The compiled program ``run`` would use; feed values may be arrays, shapes or TensorSpecs."""
        self._check_open()
        leaves, _ = flatten(fetches, self.graph)
        plan = self._plan(tuple(t.node for t in leaves))
        return self._compile(plan, feed_nodes(feed_dict, self.graph, feed_spec))

    def close(self):
        self._closed = True
        self._cache.clear()
        self._fast.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ----------------------------------------------------------
    def _check_open(self):
        if self._closed:
            raise GraphcError("this Session is closed")

    def _compile(self, plan, specs):
        key = (plan.outputs, tuple(sorted(((n.name, d.str, s) for n, (d, s) in specs.items()))), plan.fetched)
        if key not in self._cache:
            self._cache[key] = compile_program(self.graph, plan.outputs, specs, self.device, self.passes,
                                               verify=self.verify, poison=self.poison,
                                               updates=plan.updates, fetched=plan.fetched)
        return self._cache[key]

    def _initialize(self, variable_nodes, strict=True):
        """Set variables to their initial values (those that need feeds wait if not strict)."""
        for var in variable_nodes:
            try:
                init = self._initial_value_node(var)
                # the initial value alone: no control inputs or updates of the graph around it
                compiled = self._compile(RunPlan((init,), (), (0,)), {})
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
            self._variables[var.name] = np.array(value, dtype=var.dtype)

    def _initial_value_node(self, var):
        try:
            return self.graph.node(var.attrs["initial_value"])
        except GraphError:
            # e.g. a parsed compiled program, whose initializers were pruned away
            raise FeedError(f"variable '{var.name}' has no initial value in this graph "
                            f"(node '{var.attrs['initial_value']}' is missing)") from None

    def _commit(self, compiled, values, plan, fetched):
        """Apply the effects of a successful run: initializers, then updates. An update's
        array becomes the variable's storage unless the caller got it or it is shared."""
        for node, value in zip(compiled.graph.outputs, values):
            if node.op == "init_variables":
                for name, v in zip(node.attrs["variables"], value):
                    self._variables[name] = np.array(v, dtype=self._variables_dtype(name))
        for name, position in plan.updates:
            value = values[position]
            if value is self._variables.get(name):
                continue    # written in place (runtime.inplace)
            owned = type(value) is np.ndarray and value.flags.owndata and value.flags.writeable \
                and id(value) not in fetched and sum(v is value for v in values) == 1
            self._variables[name] = value if owned else np.array(value, dtype=self._variables_dtype(name))

    def _variables_dtype(self, name):
        return self.graph.node(name).dtype


def _result(value, owned):
    """A fetched value the caller owns: never a view of session or constant memory, and
    never the same array as another fetch of the same run (``owned`` tracks those)."""
    array = np.asarray(value)
    if not array.flags.writeable or not array.flags.owndata or id(array) in owned:
        array = array.copy()
    owned.add(id(array))
    return array
