"""TF1's stateful random numbers (``tf.random_normal``, ``tf.nn.dropout``'s mask, ...).

In TF1 a random op draws new numbers every time a run computes it. graphc's random ops
are pure functions of their seed (graphc.random), so here each draw is keyed by a seed
that changes every run: ``base + runs``, where ``runs`` is one int64 Variable per graph,
``graphc_random/runs``, that every run computing a TF1 random op advances by one (an
update attached to the draws as a control dependency, committed with the run). ``base``
comes from the graph-level seed (``set_random_seed``), the op's ``seed`` and, for ops
without one, the op's position among the graph's draws, so the numbers are reproducible:
the same program gives the same sequence in every fresh Session, and a Saver checkpoint,
which holds ``runs``, continues it exactly. TF1 gives other numbers (its generator is not
Philox), and without a graph seed TF1 is not reproducible at all.
"""
import contextlib
import weakref

import numpy as np

from ... import dtypes as dt
from ... import random as gc_random
from ...builder import as_tensor, located
from ...errors import DTypeError
from ...ir.graph import get_default_graph
from ...math_ops import cast, floor, minimum
from ...random import default_seed
from ...state import assign_add, control_dependencies
from ...tensor import Variable

__all__ = ["normal", "uniform", "truncated_normal", "set_random_seed", "get_seed", "random_normal",
           "random_uniform"]

_graphs = weakref.WeakKeyDictionary()   # graph -> _GraphRandom


class _GraphRandom:
    def __init__(self, graph):
        self.seed = None       # the graph-level seed (set_random_seed)
        self.draws = 0         # how many stateful draws the graph has
        with graph.as_default(), graph.at_root():
            self.runs = Variable(np.int64(0), name="graphc_random/runs", trainable=False)
            self.advance = assign_add(self.runs, np.int64(1), name="graphc_random/advance")


def _state(graph):
    if graph not in _graphs:
        _graphs[graph] = _GraphRandom(graph)
    return _graphs[graph]


def set_random_seed(seed):
    """The graph-level seed of the default graph (TF1 ``tf.set_random_seed``): every TF1
    random op built afterwards derives its numbers from it and its own seed."""
    _state(get_default_graph()).seed = int(seed)


def get_seed(op_seed):
    """(graph seed, op seed) as TF1's ``tf.get_seed`` gives them for the default graph."""
    state = _state(get_default_graph())
    if state.seed is None:
        return (None, None) if op_seed is None else (default_seed(0), int(op_seed))
    return state.seed, state.draws if op_seed is None else int(op_seed)


def _base(state, op_seed):
    """The seed of a draw's first run: a SplitMix64 mix of the graph seed and the op seed
    (or the draw's number), kept below 2**62 so ``base + runs`` never overflows."""
    graph_seed = 0 if state.seed is None else state.seed
    op = state.draws if op_seed is None else int(op_seed) + (1 << 40)
    state.draws += 1
    mixed = default_seed((graph_seed * 0x100000001B3 + op) % (1 << 64)) % (1 << 62)
    return np.int64(mixed)


@contextlib.contextmanager
def stateful_seed(seed=None, graph=None):
    """A block building one stateful draw: yields its seed Tensor (``base + runs``), and the
    nodes built inside advance ``runs`` whenever a run computes them."""
    graph = graph or get_default_graph()
    state = _state(graph)
    base = _base(state, seed)
    with graph.as_default(), control_dependencies([state.advance]):
        yield state.runs + base


@located
def normal(shape, mean=0.0, stddev=1.0, dtype=dt.float32, seed=None, name=None):
    """``tf.random.normal``: normal numbers, new ones every run."""
    with stateful_seed(seed) as s:
        return _scaled(gc_random.normal(_shape(shape), dtype=_float(dtype), seed=s, name=name), mean, stddev)


@located
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dt.float32, seed=None, name=None):
    """``tf.random.truncated_normal``: normal numbers within two standard deviations."""
    with stateful_seed(seed) as s:
        return _scaled(gc_random.truncated_normal(_shape(shape), dtype=_float(dtype), seed=s, name=name),
                       mean, stddev)


@located
def uniform(shape, minval=0, maxval=None, dtype=dt.float32, seed=None, name=None):
    """``tf.random.uniform``: floats in [minval, maxval) (maxval defaults to 1), or integers
    in [minval, maxval) for an integer dtype (maxval required, as in TF1)."""
    dtype = dt.as_dtype(dtype)
    with stateful_seed(seed) as s:
        if dt.is_float(dtype):
            return gc_random.uniform(_shape(shape), minval, 1.0 if maxval is None else maxval, dtype=dtype,
                                     seed=s, name=name)
        if not dt.is_int(dtype) or maxval is None:
            raise DTypeError(f"random_uniform of dtype {dtype} needs an integer dtype and a maxval")
        if not int(minval) < int(maxval):
            raise DTypeError(f"random_uniform needs minval < maxval, got [{minval}, {maxval})")
        u = gc_random.uniform(_shape(shape), dtype=dt.float64, seed=s)
        span = int(maxval) - int(minval)
        return cast(minimum(floor(u * float(span)), float(span - 1)) + float(minval), dtype, name=name)


random_normal = normal
random_uniform = uniform


def _scaled(z, mean, stddev):
    if not (isinstance(stddev, (int, float)) and stddev == 1):
        z = z * as_tensor(stddev, dtype=z.dtype, graph=z.graph)
    if not (isinstance(mean, (int, float)) and mean == 0):
        z = z + as_tensor(mean, dtype=z.dtype, graph=z.graph)
    return z


def _shape(shape):
    if hasattr(shape, "node"):
        from .array import static_shape
        return static_shape(shape, "a random op's shape")
    return tuple(int(d) for d in shape) if isinstance(shape, (list, tuple)) else (int(shape),)


def _float(dtype):
    dtype = dt.as_dtype(dtype)
    if not dt.is_float(dtype):
        raise DTypeError(f"this random op draws floats (float32 or float64), got dtype {dtype}")
    return dtype


def __getattr__(name):
    from .unsupported import feature_error
    raise feature_error(name, "tf.random")
