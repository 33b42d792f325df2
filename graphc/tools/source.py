"""What a ``graphc`` subcommand works on: a graph file (``gc.save_graph``) or a Python script,
with its fetches and feeds.

A script runs (as ``__main__``, its folder on ``sys.path``, what it prints going to stderr) until its first ``Session.run``
that fetches a value; that run's graph, fetches and feed values are taken and the script
stops there (initializer runs before it go through). A script that never makes such a run
runs to its end, and its default graph is taken, with the fetches named by ``--fetch`` (or
its results that nothing reads). ``--fetch NAME`` replaces the fetches either way;
``--feed NAME=SHAPE[:DTYPE]`` feeds random data of that shape; a placeholder the fetches
need and nothing feeds gets random data when its shape is fully known.
"""
import contextlib
import os
import re
import runpy
import sys
from dataclasses import dataclass

import numpy as np

from .. import dtypes as dt
from ..errors import GraphcError
from ..graph_file import graph_results, load_graph
from ..ir import reset_default_graph
from ..ir.analysis import reachable
from ..ir.node import type_str


@dataclass
class Program:
    """A graph with the fetches to compute and a feed array for every placeholder they need."""
    graph: object
    fetches: list       # Tensors and Operations
    feeds: dict         # placeholder Tensor -> array
    origin: str         # where it came from, for messages
    path: str = ""      # the graph file or script


class _Captured(BaseException):   # (not an Exception: the script's own handlers let it pass)
    def __init__(self, graph, fetches, feeds):
        super().__init__()
        self.graph, self.fetches, self.feeds = graph, fetches, feeds


def load_program(src, fetch_names=(), feed_args=(), seed=0):
    """The :class:`Program` of graph file or script ``src`` (see the module's docstring)."""
    if not os.path.exists(src):
        raise GraphcError(f"{src}: no such file")
    if src.endswith(".py"):
        graph, fetches, feeds, origin = _from_script(src)
    else:
        loaded = load_graph(src)
        graph, fetches, feeds, origin = loaded.graph, loaded.fetches, {}, src
    if fetch_names:
        fetches = [_named(graph, name, src, "fetch") for name in fetch_names]
    if not fetches:
        raise GraphcError(f"{src}: nothing to fetch: name the tensors with --fetch NAME")
    rng = np.random.default_rng(seed)
    for arg in feed_args:
        tensor, array = parse_feed(graph, arg, rng)
        feeds[tensor] = array
    fed = {t.node for t in feeds}
    for node in reachable([f.node for f in fetches], stop=fed):
        if node.op == "placeholder" and node not in fed:
            if node.shape is None or None in node.shape:
                raise GraphcError(f"placeholder '{node.name}' {type_str(node.dtype, node.shape)} has an unknown "
                                  f"dimension: give its shape with --feed {node.name}=SHAPE")
            feeds[graph.tensor(node)] = random_array(rng, node.dtype, node.shape)
    return Program(graph, fetches, feeds, origin, src)


def parse_feed(graph, arg, rng):
    """(placeholder Tensor, random array) of a ``NAME=SHAPE[:DTYPE]`` argument, e.g.
    ``x=32,784``, ``ids=8x16:int64``, ``t=`` (a scalar)."""
    m = re.fullmatch(r"([^=]+)=\(?([0-9, x]*)\)?(?::(\w+))?", arg)
    if not m:
        raise GraphcError(f"--feed {arg}: expected NAME=SHAPE[:DTYPE], e.g. x=32,784:float32")
    name, dims, dtype = m.group(1), m.group(2), m.group(3)
    tensor = _named(graph, name, None, "feed")
    node = tensor.node
    shape = tuple(int(d) for d in re.split(r"[,x ]+", dims.strip(", x")) if d) if dims.strip(", x") else ()
    want = dt.as_dtype(dtype) if dtype else node.dtype
    if want != node.dtype:
        raise GraphcError(f"--feed {arg}: '{name}' is {type_str(node.dtype, node.shape)}, not {np.dtype(want).name}")
    if node.shape is not None and (len(shape) != len(node.shape)
                                   or any(d is not None and d != s for d, s in zip(node.shape, shape))):
        raise GraphcError(f"--feed {arg}: shape {shape} does not fit '{name}' {type_str(node.dtype, node.shape)}")
    return tensor, random_array(rng, node.dtype, shape)


def random_array(rng, dtype, shape):
    """Data to feed: standard normal floats, integers in [0, 10), random bools."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    return rng.integers(0, 10, shape).astype(dtype)


def _named(graph, name, src, what):
    if not graph.has_node(name):
        candidates = [n.name for n in graph.nodes if n.op == "placeholder"] if what == "feed" else \
            graph_results(graph)
        hint = f" ({'placeholders' if what == 'feed' else 'results'}: {', '.join(candidates[:8])}" \
               f"{', ...' if len(candidates) > 8 else ''})" if candidates else ""
        raise GraphcError(f"{src + ': ' if src else ''}no tensor named '{name}' to {what}{hint}")
    return graph.tensor(name)


def _from_script(src):
    """Run the script up to its first Session.run of a value (module docstring)."""
    from ..runtime.session import Session
    from ..runtime.structure import flatten
    from ..tensor import Tensor
    original = Session.run

    def capturing_run(self, fetches, feed_dict=None, **kwargs):
        leaves, _ = flatten(fetches, self.graph)
        if not any(isinstance(t, Tensor) for t in leaves):   # (an initializer, a training step alone)
            return original(self, fetches, feed_dict, **kwargs)
        feeds = {(self.graph.tensor(k) if isinstance(k, str) else k): np.asarray(v)
                 for k, v in (feed_dict or {}).items()}
        raise _Captured(self.graph, leaves, feeds)

    reset_default_graph()
    argv, path = sys.argv, list(sys.path)
    sys.argv, Session.run = [src], capturing_run
    sys.path.insert(0, os.path.dirname(os.path.abspath(src)))
    try:
        with contextlib.redirect_stdout(sys.stderr):   # (the command's own output stays clean on stdout)
            runpy.run_path(src, run_name="__main__")
    except _Captured as captured:
        return captured.graph, captured.fetches, captured.feeds, f"{src} (its first Session.run)"
    except SystemExit as e:
        if e.code not in (None, 0):
            raise GraphcError(f"{src} exited with status {e.code} before its first Session.run") from None
    except GraphcError:
        raise
    except Exception as e:
        raise GraphcError(f"{src} failed before its first Session.run: {type(e).__name__}: {e}") from None
    finally:
        sys.argv, sys.path, Session.run = argv, path, original
    from ..ir import get_default_graph
    graph = get_default_graph()
    return graph, [graph.tensor(n) for n in graph_results(graph)], {}, src
