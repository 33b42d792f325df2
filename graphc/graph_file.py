"""Graph files: ``gc.save_graph`` writes a graph, its fetches and its feeds to one file that
``gc.load_graph`` (and the ``graphc`` command) reads back in any program.

A graph file is a zip archive (numpy's ``.npz`` is one too):

- ``graphc.json``: the format's name and version, the graphc that wrote it, the names of
  the fetches and of the feeds;
- ``graph.ir``: the IR text (``Graph.to_text``: names, types, attributes, each node's
  source line), its large constants elided;
- ``blobs/<i>.npy``: those constants (variables' initial values among them).

A file written by a newer format version is refused with an error saying so.
"""
import os
from dataclasses import dataclass

import numpy as np

from .errors import GraphcError
from .ir import Graph
from .ir.text import parse, text_and_blobs

FORMAT = "graphc-graph"
VERSION = 1
_SOURCES = ("placeholder", "variable", "constant")


@dataclass
class GraphFile:
    """A loaded graph file: the graph, its fetches (Tensors) and feeds (placeholders)."""
    graph: Graph
    fetches: list
    feeds: list


def save_graph(graph_or_fetches, path, *, fetches=None, feeds=None):
    """Write a graph file to ``path``.

    ``graph_or_fetches`` is a Graph, or a Tensor (or list of them) whose graph is saved
    with those as its fetches. ``fetches`` (Tensors or names) default to the given tensors,
    else to the graph's results that nothing reads; ``feeds`` default to every placeholder.
    """
    import io
    import json
    import zipfile   # (here, not at import: `import graphc` stays as fast as before graph files)
    graph, given = _graph_and_fetches(graph_or_fetches)
    fetch_names = [_name(f) for f in (fetches if fetches is not None else given or graph_results(graph))]
    feed_names = [_name(f) for f in feeds] if feeds is not None else \
        [n.name for n in graph.nodes if n.op == "placeholder"]
    for name in fetch_names + feed_names:
        graph.node(name)   # (an unknown name is an error here, not when the file is read)
    text, blobs = text_and_blobs(graph)
    meta = {"format": FORMAT, "version": VERSION, "graphc": graphc_version(), "fetches": fetch_names, "feeds": feed_names}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("graphc.json", json.dumps(meta, indent=1))
        archive.writestr("graph.ir", text)
        for i, arr in enumerate(blobs):
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(arr), allow_pickle=False)
            archive.writestr(f"blobs/{i}.npy", buffer.getvalue())


def load_graph(path):
    """Read a graph file written by :func:`save_graph`; returns a :class:`GraphFile`."""
    import io
    import json
    import zipfile
    if not os.path.exists(path):
        raise GraphcError(f"{path}: no such graph file")
    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("graphc.json"))
            if meta.get("format") != FORMAT:
                raise GraphcError(f"{path}: not a graphc graph file (format {meta.get('format')!r})")
            if meta.get("version", 0) > VERSION:
                raise GraphcError(f"{path}: written in graph file format version {meta['version']} (by graphc "
                                  f"{meta.get('graphc', '?')}); this graphc reads versions up to {VERSION}: "
                                  "upgrade graphc to read it")
            blobs = {int(name[len("blobs/"):-len(".npy")]): np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
                     for name in archive.namelist() if name.startswith("blobs/") and name.endswith(".npy")}
            text = archive.read("graph.ir").decode()
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise GraphcError(f"{path}: not a graphc graph file ({e})") from None
    graph = parse(text, blobs=blobs)
    return GraphFile(graph, [graph.tensor(n) for n in meta["fetches"]], [graph.tensor(n) for n in meta["feeds"]])


def _graph_and_fetches(value):
    if isinstance(value, Graph):
        return value, []
    tensors = list(value) if isinstance(value, (list, tuple)) else [value]
    if not tensors or not all(hasattr(t, "graph") and hasattr(t, "name") for t in tensors):
        raise GraphcError("save_graph takes a Graph, or a Tensor or a list of Tensors of one graph")
    graph = tensors[0].graph
    if any(t.graph is not graph for t in tensors):
        raise GraphcError("save_graph: the fetches belong to different graphs")
    return graph, tensors


def graph_results(graph):
    """The value nodes that no other node reads (a model's outputs, a loss)."""
    read = {x for n in graph.nodes for x in n.inputs}
    return [n.name for n in graph.nodes if n not in read and n.op not in _SOURCES and n.dtype is not None]


def _name(fetch):
    return fetch if isinstance(fetch, str) else fetch.name


def graphc_version():
    """The version of the graphc writing a file (``graphc.__version__``)."""
    from . import __version__
    return __version__
