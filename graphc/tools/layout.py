"""A layered (Sugiyama-style) layout of a DAG of boxes, computed with networkx: the viewer's
layout engine (graphc/tools/viewer.py).

Layers by longest path from the sources, each source then moved down to just above its first
reader (so a training graph's many variables do not make one wide first row), order within a layer by a few barycenter sweeps (the crossing reduction of
Graphviz's ``dot``, in its simplest form), then x by order and box widths, y by layer.
Boxes may hold an inner layout (a fused kernel's ops, a name scope's): their size is their
content's.
"""
from dataclasses import dataclass, field

SWEEPS = 4        # barycenter passes (down, up, down, up)
GAP_X, GAP_Y = 24, 46
PAD = 14          # inside a compound box, around its content, below its title


@dataclass
class Box:
    key: str
    width: float
    height: float
    x: float = 0.0      # top-left, relative to the enclosing layout
    y: float = 0.0
    inner: "Layout | None" = None
    count: int = 0      # a collapsed group: how many boxes it stands for


@dataclass
class Layout:
    boxes: dict = field(default_factory=dict)   # key -> Box
    edges: list = field(default_factory=list)   # (from key, to key)
    width: float = 0.0
    height: float = 0.0


def layered(boxes, edges):
    """Place ``boxes`` ({key: Box}) for DAG ``edges`` [(from, to)]; returns the Layout."""
    import networkx as nx
    g = nx.DiGraph()
    g.add_nodes_from(boxes)
    g.add_edges_from((a, b) for a, b in edges if a != b and a in boxes and b in boxes)
    rank = {}
    for key in nx.topological_sort(g):
        rank[key] = max((rank[p] + 1 for p in g.predecessors(key)), default=0)
    for key in g:   # a box with no inputs (a feed, a variable) sits just above its first reader
        if g.in_degree(key) == 0 and g.out_degree(key):
            rank[key] = min(rank[s] for s in g.successors(key)) - 1
    layers = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for key in boxes:   # (first order: the boxes' own, i.e. program order)
        layers[rank[key]].append(key)
    _reduce_crossings(g, layers)
    layout = Layout(dict(boxes), [(a, b) for a, b in g.edges])
    y = 0.0
    for layer in layers:
        x, tallest = 0.0, 0.0
        for key in layer:
            box = boxes[key]
            box.x, box.y = x, y
            x += box.width + GAP_X
            tallest = max(tallest, box.height)
        layout.width = max(layout.width, x - GAP_X)
        y += tallest + GAP_Y
    layout.height = max(y - GAP_Y, 0.0)
    _center_layers(layers, boxes, layout.width)
    return layout


def _reduce_crossings(g, layers):
    position = {key: i for layer in layers for i, key in enumerate(layer)}
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        for layer in (layers[1:] if down else reversed(layers[:-1])):
            neighbours = g.predecessors if down else g.successors

            def barycenter(key):
                near = [position[n] for n in neighbours(key)]
                return sum(near) / len(near) if near else position[key]
            layer.sort(key=barycenter)
            position.update({key: i for i, key in enumerate(layer)})


def _center_layers(layers, boxes, width):
    for layer in layers:
        if layer:
            last = boxes[layer[-1]]
            shift = (width - (last.x + last.width)) / 2
            for key in layer:
                boxes[key].x += shift


def compound(key, title_height, inner):
    """A box around ``inner`` (a Layout), with room for a title."""
    return Box(key, max(inner.width + 2 * PAD, 120), inner.height + 2 * PAD + title_height, inner=inner)
