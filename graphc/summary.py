"""``gc.summary``: TensorBoard event files, as TF1's ``tf.summary``.

    gc.summary.scalar("loss", loss)
    gc.summary.histogram("dense/kernel", dense.kernel)
    merged = gc.summary.merge_all()
    with gc.summary.FileWriter("logs/run1", graph=sess.compile([train_op, loss], feed)) as writer:
        for step in range(100):
            summary, _ = sess.run([merged, train_op], feed)
            writer.add_summary(summary, step)

A summary is no node of the graph: it names the Tensors it reads, and ``sess.run`` of it
(alone or anywhere in a fetch structure) fetches them in that same run and returns the
serialized ``Summary`` protobuf (bytes), as TF1 does. Tags are the name under the
enclosing ``name_scope`` (``train/loss``), made unique per graph (``loss_1``).

The ``tensorboard`` package writes the files; it is imported only when a summary or a
writer is made, so ``import graphc`` works without it.
"""
import collections
import os
import time
import weakref

import numpy as np

from .builder import as_tensor, located
from .errors import GraphcError, GraphError, ShapeError
from .ir.graph import get_default_graph
from .summary_graph import TensorBoardMissingError, graph_def, tensorboard_modules

__all__ = ["FileWriter", "SummaryOp", "scalar", "histogram", "merge", "merge_all", "graph_def",
           "TensorBoardMissingError"]

# graph -> the scalar and histogram summaries made in it, in order (names only: an entry
# holding a Tensor would keep its graph alive through this weak-keyed map)
_registry = weakref.WeakKeyDictionary()
_Entry = collections.namedtuple("_Entry", "tag kind tensor bins")


class SummaryOp:
    """What ``scalar``, ``histogram`` and ``merge`` return: ``sess.run`` of it gives the
    serialized ``Summary`` protobuf (bytes) of the values it reads in that run, for
    ``FileWriter.add_summary``. ``tags``: the tags it writes, in order."""

    def __init__(self, graph, entries):
        self.graph = graph
        self._entries = tuple(entries)
        self._tensors = [graph.tensor(e.tensor) for e in self._entries]

    @property
    def tags(self):
        return [e.tag for e in self._entries]

    def __repr__(self):
        return f"<graphc.summary.SummaryOp {', '.join(self.tags)}>"

    def _graphc_fetch(self):   # (runtime.structure: fetch the Tensors, then serialize their values)
        return list(self._tensors), self._serialize

    def _serialize(self, values):
        tb = tensorboard_modules("gc.summary")
        out = tb.summary_pb2.Summary()
        for entry, value in zip(self._entries, values):
            if entry.kind == "scalar":
                out.value.add(tag=entry.tag, simple_value=_scalar_value(entry, value, self.graph))
            else:
                out.value.add(tag=entry.tag, histo=_histogram(tb, value, entry.bins))
        return out.SerializeToString()


@located
def scalar(name, tensor):
    """A summary of one value (rank 0, or one element): TensorBoard's Scalars dashboard."""
    tensor = as_tensor(tensor)
    if any(d is not None and d != 1 for d in tensor.shape):
        raise ShapeError(f"summary {name!r}: tensor {_where(tensor.node)} is not one value; a scalar "
                         "summary needs rank 0 (or one element): reduce it (gc.mean) or use gc.summary.histogram")
    return _add(tensor, name, "scalar", None)


@located
def histogram(name, values, bins=30):
    """A summary of the distribution of ``values`` (any shape): the Histograms and
    Distributions dashboards. ``bins`` as in ``FileWriter.add_histogram``."""
    return _add(as_tensor(values), name, "histogram", _bins(bins))


@located
def merge(summaries):
    """One summary writing every tag of ``summaries`` (made by scalar/histogram/merge)."""
    summaries = list(summaries)
    if not summaries:
        raise GraphcError("merge: no summaries given")
    for s in summaries:
        if not isinstance(s, SummaryOp):
            raise GraphcError(f"merge takes summaries made by gc.summary.scalar/histogram/merge, got {s!r}")
    graph = summaries[0].graph
    if any(s.graph is not graph for s in summaries):
        raise GraphError("merge: the summaries come from different graphs")
    entries = {}   # by tag: the same summary twice is written once
    for s in summaries:
        for e in s._entries:
            entries.setdefault(e.tag, e)
    return SummaryOp(graph, entries.values())


def merge_all(graph=None):
    """One summary of every scalar and histogram summary made in ``graph`` (the default
    graph when None), or None if there is none (as TF1)."""
    graph = graph if graph is not None else get_default_graph()
    entries = _registry.get(graph)
    return SummaryOp(graph, entries) if entries else None


def _add(tensor, name, kind, bins):
    if not isinstance(name, str) or not name:
        raise GraphcError(f"a summary's name must be a non-empty string, got {name!r}")
    tensorboard_modules(f"gc.summary.{kind}")   # (missing tensorboard: say so now, not at the first run)
    graph = tensor.graph
    entries = _registry.setdefault(graph, [])
    scope = graph.current_scope
    base = f"{scope}/{name}" if scope else name
    taken = {e.tag for e in entries}
    tag, n = base, 0
    while tag in taken:
        n += 1
        tag = f"{base}_{n}"
    entry = _Entry(tag, kind, tensor.name, bins)
    entries.append(entry)
    return SummaryOp(graph, [entry])


def _where(node):
    return f"'{node.name}' {node.type}" + (f" (built at {node.loc})" if node.loc else "")


def _scalar_value(entry, value, graph):
    value = np.asarray(value)
    if value.size != 1:   # (a tensor of unknown shape: checked as it runs)
        raise ShapeError(f"scalar summary {entry.tag!r}: tensor {_where(graph.node(entry.tensor))} has "
                         f"shape {value.shape} in this run; a scalar summary needs one value")
    return float(value.reshape(()))


def _bins(bins):
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise GraphcError(f"bins must be a positive int, got {bins!r}")
    return int(bins)


def _histogram(tb, values, bins):
    """A ``HistogramProto`` of ``values`` in ``bins`` equal buckets between their min and max.

    NaN and +-inf values are left out (they have no place on the axis): min, max, num,
    sum, sum_squares and the buckets describe the finite values only. No values (an empty
    array, or all non-finite) give num=0, min=max=0 and no buckets; equal values (a
    constant array, one value) one bucket holding them all, its limit their value.
    ``bucket_limit[i]`` is bucket ``i``'s right edge (the last one the max), as TF1 writes them.
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        return tb.summary_pb2.HistogramProto(min=0.0, max=0.0, num=0, sum=0.0, sum_squares=0.0)
    lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        limits, counts = [hi], [a.size]
    else:
        counts, edges = np.histogram(a, bins=bins, range=(lo, hi))
        limits = edges[1:].tolist()
        limits[-1] = hi
    return tb.summary_pb2.HistogramProto(min=lo, max=hi, num=a.size, sum=float(a.sum()),
                                         sum_squares=float(np.dot(a, a)), bucket_limit=limits,
                                         bucket=[float(c) for c in counts])


class FileWriter:
    """Writes TensorBoard event files into ``logdir`` (TF1's ``tf.summary.FileWriter``).

    ``graph``: a ``gc.Graph`` or compiled program to write first (``add_graph``); events are
    queued and written by a background thread at least every ``flush_secs`` seconds, and
    on ``flush``/``close``. ``filename_suffix`` ends the event file's name. A step left
    out (None) is written as 0, as TF1 does. Usable as a context manager (closes on exit).
    """

    def __init__(self, logdir, graph=None, flush_secs=120, filename_suffix=""):
        self._tb = tensorboard_modules("gc.summary.FileWriter", writer=True)
        self._logdir = os.fspath(logdir)
        os.makedirs(self._logdir, exist_ok=True)
        writer = self._tb.EventFileWriter(self._logdir, flush_secs=flush_secs, filename_suffix=filename_suffix)
        self._writer = writer
        self._closer = weakref.finalize(self, writer.close)   # (also at exit: queued events are written)
        if graph is not None:
            self.add_graph(graph)

    def get_logdir(self):
        """The directory the event file is in."""
        return self._logdir

    def add_event(self, event, global_step=None):
        """Write an ``event_pb2.Event`` (its wall time set now if unset)."""
        self._check_open()
        if not event.wall_time:
            event.wall_time = time.time()
        if global_step is not None:
            event.step = int(global_step)
        self._writer.add_event(event)

    def add_summary(self, summary, global_step=None):
        """Write a summary: the bytes ``sess.run(summary_op)`` returned, or a ``Summary`` proto."""
        Summary = self._tb.summary_pb2.Summary
        if isinstance(summary, SummaryOp):
            raise GraphcError("add_summary takes what sess.run(summary) returned, not the summary itself")
        if isinstance(summary, (bytes, bytearray, memoryview)):
            summary = Summary.FromString(bytes(summary))
        elif not isinstance(summary, Summary):
            if not hasattr(summary, "SerializeToString"):
                raise GraphcError(f"add_summary takes serialized Summary bytes or a Summary proto, got {summary!r}")
            summary = Summary.FromString(summary.SerializeToString())   # (e.g. TensorFlow's own Summary class)
        self.add_event(self._tb.event_pb2.Event(summary=summary), global_step)

    def add_scalar(self, tag, value, step=None):
        """Write one value under ``tag`` (the Scalars dashboard)."""
        array = np.asarray(value)
        if array.size != 1:
            raise GraphcError(f"add_scalar {tag!r}: needs one value, got shape {array.shape}")
        self._add_value(dict(tag=tag, simple_value=float(array.reshape(()))), step)

    def add_histogram(self, tag, values, step=None, bins=30):
        """Write a histogram of ``values`` (any shape) in ``bins`` equal buckets between their
        min and max; NaN and +-inf values are left out, no values give an empty histogram,
        equal values one bucket."""
        self._add_value(dict(tag=tag, histo=_histogram(self._tb, values, _bins(bins))), step)

    def add_graph(self, graph, global_step=None):
        """Write a graph for the Graphs dashboard: a ``gc.Graph``, a compiled program (its
        fused kernels as scopes: ``graph_def``) or a ``GraphDef``."""
        gdef = graph if isinstance(graph, self._tb.graph_pb2.GraphDef) else graph_def(graph)
        self.add_event(self._tb.event_pb2.Event(graph_def=gdef.SerializeToString()), global_step)

    def flush(self):
        """Write every queued event to disk now."""
        self._check_open()
        self._writer.flush()

    def close(self):
        """Flush and close the event file (again: nothing)."""
        self._closer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _add_value(self, value, step):
        if not isinstance(value["tag"], str) or not value["tag"]:
            raise GraphcError(f"a tag must be a non-empty string, got {value['tag']!r}")
        summary = self._tb.summary_pb2.Summary(value=[self._tb.summary_pb2.Summary.Value(**value)])
        self.add_event(self._tb.event_pb2.Event(summary=summary), step)

    def _check_open(self):
        if not self._closer.alive:
            raise GraphcError(f"this FileWriter ({self._logdir}) is closed")
