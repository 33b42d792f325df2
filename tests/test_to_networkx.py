"""Graph.to_networkx() / Compiled.to_networkx(): the IR as a networkx.DiGraph, and networkx
kept off the Session.run path."""
import subprocess
import sys

import networkx as nx
import numpy as np

import graphc as gc


def test_the_graph_as_a_digraph_with_its_attributes():
    x = gc.placeholder(gc.float32, (None, 8), name="x")
    w = gc.Variable(np.ones((8, 3), np.float32), name="w")
    h = gc.matmul(x, w)
    y = gc.nn.softmax(h * h)
    g = gc.get_default_graph().to_networkx()
    assert set(g.nodes) == {n.name for n in gc.get_default_graph().nodes}
    assert nx.is_directed_acyclic_graph(g)
    assert g.nodes["x"]["type"] == "f32[?,8]" and g.nodes["x"]["kind"] == "source"
    assert g.nodes["x"]["loc"].endswith(f"test_to_networkx.py:{x.node.loc.rsplit(':', 1)[1]}")
    assert g.nodes[y.name]["op"] == "divide" and g.nodes[y.name]["dtype"] == "float32"
    square = next(n for n in gc.get_default_graph().nodes if n.op == "multiply")
    assert g.edges[h.name, square.name] == {"slots": [0, 1], "shape": (None, 3)}   # h * h: one edge, two slots
    assert nx.ancestors(g, y.name) >= {"x", "w"}


def test_a_compiled_program_shows_its_kernels_and_what_they_cover():
    x = gc.placeholder(gc.float32, (4, 8), name="x")
    y = gc.nn.softmax(x * x)
    with gc.Session() as sess:
        g = sess.compile(y, {x: (4, 8)}).to_networkx()
    kernels = [n for n, d in g.nodes(data=True) if d["op"] == "fused"]
    assert len(kernels) == 1
    data = g.nodes[kernels[0]]
    assert {"multiply", "softmax/exp", "softmax/sum"} <= set(data["covers"])
    assert set(data["body"].nodes) >= set(data["covers"]) and list(g.predecessors(kernels[0])) == ["x"]


def test_a_run_does_not_import_networkx():
    code = ("import sys, numpy as np, graphc as gc\n"
            "x = gc.placeholder(gc.float32, (3,))\n"
            "gc.Session().run(gc.exp(x), {x: np.ones(3, np.float32)})\n"
            "print('networkx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "False"
