"""Graph files (gc.save_graph / gc.load_graph): the graph, its fetches and feeds, its
variables' initial values and source lines come back, and bad files are refused clearly."""
import json
import zipfile

import numpy as np
import pytest

import graphc as gc
from graphc.graph_file import VERSION
from graphc.ir.text import IRParseError, parse, text_and_blobs
from conftest import assert_close


def _model():
    rng = np.random.default_rng(0)
    w, table = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((50, 3)).astype(np.float32)
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    logits = gc.matmul(x, gc.Variable(w, name="w")) + gc.sum(gc.constant(table, name="table"), axis=0)   # a blob
    return w, table, gc.nn.softmax(logits), logits


def _run(graph, fetches, feeds):
    with graph.as_default():
        init = gc.global_variables_initializer()
    with gc.Session(graph=graph) as sess:
        sess.run(init)
        return sess.run(fetches, feeds)


def test_a_saved_graph_runs_as_the_original(tmp_path):
    w, table, probs, logits = _model()
    path = tmp_path / "model.gcg"
    gc.save_graph([probs, logits], path)
    loaded = gc.load_graph(path)
    assert [t.name for t in loaded.fetches] == [probs.name, logits.name]
    assert [t.name for t in loaded.feeds] == ["x"]
    original = {n.name: (n.op, n.dtype, n.shape, n.loc) for n in probs.graph.nodes}
    assert {n.name: (n.op, n.dtype, n.shape, n.loc) for n in loaded.graph.nodes} == original
    assert all("test_graph_file.py" in loc for _, _, _, loc in original.values() if loc)
    a = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    want = a.astype(np.float64) @ w.astype(np.float64) + table.astype(np.float64).sum(0)
    e = np.exp(want - want.max(1, keepdims=True))
    got = _run(loaded.graph, loaded.fetches, {loaded.feeds[0]: a})
    assert_close(got[1], want)
    assert_close(got[0], e / e.sum(1, keepdims=True))


def test_a_graph_saved_whole_fetches_its_results(tmp_path):
    x = gc.placeholder(gc.float64, (3,), name="x")
    y = gc.placeholder(gc.float64, (3,), name="y")
    total = gc.sum(x * y, name="total")
    gc.exp(x, name="e")
    gc.save_graph(gc.get_default_graph(), tmp_path / "g.gcg")
    loaded = gc.load_graph(tmp_path / "g.gcg")
    assert {t.name for t in loaded.fetches} == {"total", "e"} and total.name == "total"
    assert [t.name for t in loaded.feeds] == ["x", "y"]
    gc.save_graph(gc.get_default_graph(), tmp_path / "h.gcg", fetches=["e"], feeds=[x])
    loaded = gc.load_graph(tmp_path / "h.gcg")
    assert [t.name for t in loaded.fetches] == ["e"] and [t.name for t in loaded.feeds] == ["x"]


def test_large_constants_stay_exact(tmp_path):
    values = {"f": np.array([np.nan, -0.0, np.inf, 1e-310] * 10), "i": np.arange(-40, 40, dtype=np.int64),
              "b": np.arange(30) % 3 == 0}
    fetches = [gc.constant(v, name=k) * 2 if k != "b" else gc.logical_not(gc.constant(v, name=k))
               for k, v in values.items()]
    gc.save_graph(fetches, tmp_path / "c.gcg")
    loaded = gc.load_graph(tmp_path / "c.gcg")
    got = _run(loaded.graph, loaded.fetches, {})
    np.testing.assert_array_equal(got[0], values["f"] * 2)
    assert np.signbit(got[0][1])
    np.testing.assert_array_equal(got[1], values["i"] * 2)
    np.testing.assert_array_equal(got[2], ~values["b"])


def test_bad_files_and_names_are_refused_with_the_reason(tmp_path):
    x = gc.placeholder(gc.float32, (2,), name="x")
    y = gc.exp(x, name="y")
    with pytest.raises(gc.GraphcError, match="no such graph file"):
        gc.load_graph(tmp_path / "missing.gcg")
    (tmp_path / "text.gcg").write_text("not a zip")
    with pytest.raises(gc.GraphcError, match="not a graphc graph file"):
        gc.load_graph(tmp_path / "text.gcg")
    with pytest.raises(gc.GraphcError, match="'nope'"):
        gc.save_graph(gc.get_default_graph(), tmp_path / "g.gcg", fetches=["nope"])
    gc.save_graph(y, tmp_path / "g.gcg")
    with zipfile.ZipFile(tmp_path / "g.gcg") as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    meta = json.loads(members["graphc.json"])
    meta["version"] = VERSION + 1
    with zipfile.ZipFile(tmp_path / "newer.gcg", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, json.dumps(meta) if name == "graphc.json" else data)
    with pytest.raises(gc.GraphcError, match=f"format version {VERSION + 1}.*upgrade graphc"):
        gc.load_graph(tmp_path / "newer.gcg")


def test_elided_blobs_parse_only_with_their_arrays():
    gc.constant(np.arange(40.0), name="c")
    text, blobs = text_and_blobs(gc.get_default_graph())
    assert '"..."' in text and len(blobs) == 1
    with pytest.raises(IRParseError, match="elided"):
        parse(text)
    with pytest.raises(IRParseError, match="the text says"):
        parse(text, blobs={0: blobs[0].astype(np.float32)})
    np.testing.assert_array_equal(parse(text, blobs={0: blobs[0]}).node("c").attrs["value"], np.arange(40.0))
