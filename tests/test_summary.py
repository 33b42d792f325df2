"""gc.summary: event files written with tensorboard's writer, read back with its EventAccumulator."""
import ast
import builtins
import glob
import inspect
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.compat.proto import summary_pb2, types_pb2  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent


def read(logdir):
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def line_of(marker):
    """The line of this file holding ``marker`` (a source location errors must name)."""
    lines = inspect.getsource(sys.modules[__name__]).splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text and "line_of" not in text)


def check_histogram(h, values):
    finite = np.asarray(values, np.float64).ravel()
    finite = finite[np.isfinite(finite)]
    assert h.num == finite.size
    assert sum(h.bucket) == finite.size
    assert len(h.bucket) == len(h.bucket_limit)
    if finite.size:
        assert h.min == pytest.approx(finite.min()) and h.max == pytest.approx(finite.max())
        assert h.sum == pytest.approx(finite.sum())
        assert h.sum_squares == pytest.approx(np.sum(finite ** 2))
        assert h.bucket_limit[-1] == pytest.approx(finite.max())
        assert list(h.bucket_limit) == sorted(h.bucket_limit)


# -- FileWriter ---------------------------------------------------------------------
def test_add_scalar_values_and_steps(tmp_path):
    with gc.summary.FileWriter(tmp_path / "run") as writer:
        assert writer.get_logdir() == str(tmp_path / "run")
        for step, value in [(0, 1.5), (10, 0.25), (20, -3.0)]:
            writer.add_scalar("loss", value, step)
        writer.add_scalar("lr", np.array([0.1], np.float32))   # one element; no step: 0, as TF1
    acc = read(tmp_path / "run")
    loss = acc.Scalars("loss")
    assert [e.step for e in loss] == [0, 10, 20]
    assert [e.value for e in loss] == [1.5, 0.25, -3.0]
    (lr,) = acc.Scalars("lr")
    assert lr.step == 0 and lr.value == pytest.approx(0.1)


def test_add_histogram_matches_numpy(tmp_path):
    values = np.random.default_rng(0).normal(size=(40, 25)).astype(np.float32)
    with gc.summary.FileWriter(tmp_path) as writer:
        writer.add_histogram("w", values, 3)
        writer.add_histogram("w5", values, 3, bins=5)
    acc = read(tmp_path)
    (event,) = acc.Histograms("w")
    assert event.step == 3
    check_histogram(event.histogram_value, values)
    assert len(event.histogram_value.bucket) == 30
    counts, _ = np.histogram(values.astype(np.float64), bins=5)
    assert acc.Histograms("w5")[0].histogram_value.bucket == counts.tolist()


def test_add_histogram_edge_cases(tmp_path):
    cases = {"empty": np.zeros((0, 3)), "one": np.array([2.5]), "constant": np.full((4, 4), -1.0),
             "nonfinite": np.array([1.0, np.nan, np.inf, -np.inf, 3.0]), "allnan": np.array([np.nan])}
    with gc.summary.FileWriter(tmp_path) as writer:
        for tag, values in cases.items():
            writer.add_histogram(tag, values, 1)
    acc = read(tmp_path)
    h = {tag: acc.Histograms(tag)[0].histogram_value for tag in cases}
    for tag, values in cases.items():
        check_histogram(h[tag], values)
    assert h["empty"].num == 0 and h["empty"].bucket == [] and h["empty"].min == h["empty"].max == 0
    assert h["allnan"].num == 0 and h["allnan"].bucket == []
    assert (h["one"].min, h["one"].max, h["one"].bucket_limit, h["one"].bucket) == (2.5, 2.5, [2.5], [1.0])
    assert (h["constant"].min, h["constant"].max, h["constant"].bucket) == (-1.0, -1.0, [16.0])
    assert (h["nonfinite"].min, h["nonfinite"].max, h["nonfinite"].num) == (1.0, 3.0, 2)


def test_writer_arguments_and_closing(tmp_path):
    writer = gc.summary.FileWriter(tmp_path / "a" / "b", flush_secs=1, filename_suffix=".graphc")
    (path,) = glob.glob(str(tmp_path / "a" / "b" / "events.out.tfevents.*"))
    assert path.endswith(".graphc")
    proto = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="acc", simple_value=0.5)])
    writer.add_summary(proto, 7)
    writer.flush()
    assert read(tmp_path / "a" / "b").Scalars("acc")[0].step == 7
    with pytest.raises(gc.GraphcError, match="not the summary itself"):
        writer.add_summary(gc.summary.scalar("s", 1.0))
    with pytest.raises(gc.GraphcError, match="bins"):
        writer.add_histogram("h", [1.0], bins=0)
    with pytest.raises(gc.GraphcError, match="one value"):
        writer.add_scalar("s", [1.0, 2.0])
    writer.close()
    writer.close()
    with pytest.raises(gc.GraphcError, match="closed"):
        writer.add_scalar("acc", 1.0, 8)


# -- summary ops in sessions ------------------------------------------------------------
def test_tf1_loop_with_fed_scalar_and_histogram(tmp_path):
    x = gc.placeholder(gc.float32, (None,), name="x")
    mean_s = gc.summary.scalar("mean", gc.mean(x))
    hist_s = gc.summary.histogram("x", x)
    merged = gc.summary.merge([mean_s, hist_s])
    rng = np.random.default_rng(1)
    batches = [rng.normal(loc=step, size=10 + step).astype(np.float32) for step in range(4)]
    with gc.Session() as sess, gc.summary.FileWriter(tmp_path) as writer:
        for step, batch in enumerate(batches):
            value = sess.run(merged, {x: batch})
            assert isinstance(value, bytes)
            tags = [v.tag for v in summary_pb2.Summary.FromString(value).value]
            assert tags == ["mean", "x"]
            writer.add_summary(value, global_step=step)
    acc = read(tmp_path)
    scalars = acc.Scalars("mean")
    assert [e.step for e in scalars] == [0, 1, 2, 3]
    np.testing.assert_allclose([e.value for e in scalars], [b.mean() for b in batches], rtol=1e-6)
    histograms = acc.Histograms("x")
    assert [e.step for e in histograms] == [0, 1, 2, 3]
    for event, batch in zip(histograms, batches):
        check_histogram(event.histogram_value, batch)


def test_merge_all_collects_every_summary_with_tf1_tags():
    assert gc.summary.merge_all() is None
    w = gc.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
    with gc.name_scope("train"):
        gc.summary.scalar("loss", gc.sum(w))
        gc.summary.scalar("loss", gc.max(w))
    gc.summary.histogram("w", w)
    other = gc.Graph()
    with other.as_default():
        gc.summary.scalar("elsewhere", gc.constant(1.0))
    merged = gc.summary.merge_all()
    assert merged.tags == ["train/loss", "train/loss_1", "w"]
    assert gc.summary.merge_all(other).tags == ["elsewhere"]
    with gc.Session() as sess:
        summary = summary_pb2.Summary.FromString(sess.run(merged))
    values = {v.tag: v for v in summary.value}
    assert values["train/loss"].simple_value == 15.0 and values["train/loss_1"].simple_value == 5.0
    assert values["w"].histo.num == 6 and values["w"].histo.max == 5.0
    assert gc.summary.merge([merged, gc.summary.merge_all()]).tags == merged.tags   # (each tag once)


def test_summaries_nested_in_fetch_structures():
    x = gc.placeholder(gc.float32, (3,), name="x")
    y = x * 2.0
    s = gc.summary.scalar("first", x[0])
    h = gc.summary.histogram("y", y)
    feed = {x: np.array([1.0, 2.0, 3.0], np.float32)}
    with gc.Session() as sess:
        out = sess.run({"pair": [s, y], "nested": ({"h": h},), "both": gc.summary.merge([s, h])}, feed)
        np.testing.assert_array_equal(out["pair"][1], [2.0, 4.0, 6.0])
        assert summary_pb2.Summary.FromString(out["pair"][0]).value[0].simple_value == 1.0
        assert summary_pb2.Summary.FromString(out["nested"][0]["h"]).value[0].histo.sum == 12.0
        assert [v.tag for v in summary_pb2.Summary.FromString(out["both"]).value] == ["first", "y"]
        assert len(sess.compile([s, y], feed).graph.outputs) == 2   # compile takes them too
        np.testing.assert_array_equal(sess.run(y, feed), [2.0, 4.0, 6.0])   # plain fetches as before
    other = gc.Graph()
    with other.as_default():
        foreign = gc.summary.scalar("c", gc.constant(1.0))
    with gc.Session() as sess, pytest.raises(gc.errors.FetchError, match="another graph"):
        sess.run(foreign)


def test_scalar_summary_of_non_scalar_names_tensor_and_line():
    x = gc.placeholder(gc.float32, (None, 3), name="features")   # FEATURES-LINE
    with pytest.raises(gc.errors.ShapeError) as info:
        gc.summary.scalar("bad", x)   # SCALAR-OF-MATRIX
    message = str(info.value)
    assert "'features'" in message and "f32[?,3]" in message and "'bad'" in message
    assert f"test_summary.py:{line_of('SCALAR-OF-MATRIX')}" in message
    assert f"test_summary.py:{line_of('FEATURES-LINE')}" in message   # where the tensor was built
    # a dimension unknown until the run: checked as it runs
    n = gc.placeholder(gc.float32, (None,), name="n")
    s = gc.summary.scalar("maybe", n)
    with gc.Session() as sess:
        assert summary_pb2.Summary.FromString(sess.run(s, {n: np.ones(1, np.float32)})).value[0].simple_value == 1
        with pytest.raises(gc.errors.ShapeError, match="'maybe'.*'n'.*shape \\(2,\\)"):
            sess.run(s, {n: np.ones(2, np.float32)})
    with pytest.raises(gc.GraphcError, match="non-empty string"):
        gc.summary.scalar("", gc.constant(1.0))
    with pytest.raises(gc.GraphcError, match="merge takes summaries"):
        gc.summary.merge([gc.constant(1.0)])


def test_missing_tensorboard_message(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.split(".")[0] == "tensorboard":
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ImportError) as info:
        gc.summary.FileWriter(tmp_path)
    assert isinstance(info.value, gc.GraphcError)
    assert str(info.value) == ("gc.summary.FileWriter needs the tensorboard package: "
                               "pip install 'graphc[tensorboard]'")
    with pytest.raises(gc.summary.TensorBoardMissingError, match="gc.summary.scalar needs the tensorboard"):
        gc.summary.scalar("loss", gc.constant(1.0))


def test_import_graphc_without_tensorboard():
    lazy = "import sys, graphc as gc\nassert 'tensorboard' not in sys.modules\ngc.summary.merge_all()\n"
    blocked = ("import sys; sys.modules['tensorboard'] = None\n"
               "import graphc as gc\n"
               "try:\n    gc.summary.FileWriter(sys.argv[1])\n"
               "except ImportError as e:\n    print(e)\n")
    for script in (lazy, blocked):
        proc = subprocess.run([sys.executable, "-c", script, os.devnull], capture_output=True, text=True,
                              cwd=REPO, timeout=120)
        assert proc.returncode == 0, proc.stderr
    expected = "gc.summary.FileWriter needs the tensorboard package: pip install 'graphc[tensorboard]'"
    assert proc.stdout.strip() == expected


def test_runtime_and_passes_never_import_summary():
    for folder in ("runtime", "passes"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                    assert not any("summary" in n.split(".") for n in names), (path, node.lineno)


# -- graphs -------------------------------------------------------------------------
def test_graph_def_of_a_plain_graph(tmp_path):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 4), name="x")
        with gc.name_scope("block"):
            w = gc.Variable(np.ones((4, 2), np.float32), name="w")
            y = gc.matmul(x, w)   # MATMUL-LINE
        z = gc.argmax(y, axis=1)
    with gc.summary.FileWriter(tmp_path, graph=g):
        pass
    nodes = {n.name: n for n in read(tmp_path).Graph().node}
    assert set(nodes) == {n.name for n in g.nodes}
    matmul = nodes[y.name]
    assert y.name == "block/matmul" and matmul.op == "matmul"
    assert list(matmul.input) == ["x", "block/w"]
    assert [d.size for d in matmul.attr["_output_shapes"].list.shape[0].dim] == [-1, 2]
    assert matmul.attr["dtype"].type == types_pb2.DT_FLOAT
    assert matmul.attr["loc"].s.decode().endswith(f"test_summary.py:{line_of('MATMUL-LINE')}")
    assert nodes[z.name].attr["dtype"].type == types_pb2.DT_INT64
    assert nodes["block/w"].op == "variable"
    for node in nodes.values():
        assert all(i.lstrip("^") in nodes for i in node.input)


def test_graph_def_of_a_compiled_training_step(tmp_path):
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    labels = gc.placeholder(gc.float32, (None, 2), name="labels")
    hidden = gc.layers.Dense(8, activation="relu")(x)
    out = gc.layers.Dense(2)(hidden)
    loss = gc.mean(gc.square(out - labels))
    train_op = gc.train.SGD(0.1).minimize(loss)
    gc.summary.scalar("loss", loss)
    merged = gc.summary.merge_all()
    rng = np.random.default_rng(2)
    feed = {x: rng.normal(size=(5, 4)).astype(np.float32), labels: rng.normal(size=(5, 2)).astype(np.float32)}
    with gc.Session() as sess:
        compiled = sess.compile([train_op, loss], feed)
        with gc.summary.FileWriter(tmp_path, graph=compiled) as writer:
            for step in range(3):
                summary, _ = sess.run([merged, train_op], feed)
                writer.add_summary(summary, step)
    acc = read(tmp_path)
    losses = [e.value for e in acc.Scalars("loss")]
    assert len(losses) == 3 and losses[2] < losses[0]
    gdef = acc.Graph()
    nodes = {n.name: n for n in gdef.node}
    assert len(nodes) == len(gdef.node)   # unique names
    for node in gdef.node:
        assert all(i.lstrip("^") in nodes for i in node.input), node

    ir = compiled.graph
    emitted = {}   # IR node -> the GraphDef node consumers read
    fused = 0
    for index, kernel in enumerate(compiled.kernels):
        node = ir.node(kernel.name)
        if node.op != "fused":
            continue
        fused += 1
        scope = f"kernel_{index:03d}_{node.attrs['kind']}/"
        body = node.attrs["body"]
        inner = [n for n in body.nodes if n.op != "placeholder"]
        for b in inner:   # every body op (constants included) inside the kernel's scope
            nd = nodes[scope + b.name]
            assert nd.op == b.op and nd.attr["fused_in"].s.decode() == node.name
            assert [d.size for d in nd.attr["_output_shapes"].list.shape[0].dim] == list(b.shape)
            for i, producer in zip(nd.input, b.inputs):
                if producer.op == "placeholder":   # a producer outside the kernel
                    assert not i.startswith(scope) and producer.name in {x.name for x in node.inputs}
                else:
                    assert i == scope + producer.name
        emitted[node.name] = scope + body.outputs[0].name
        assert set(kernel.nodes) <= {b.name for b in inner}
    assert fused >= 3 and {n.attrs["kind"] for n in ir.nodes if n.op == "fused"} >= {"matmul", "elementwise"}
    for node in ir.nodes:   # outside the kernels: the IR's own names, reading the kernels' outputs
        if node.op == "fused":
            continue
        nd = nodes[node.name]
        assert nd.op == node.op
        assert list(nd.input) == [emitted.get(p.name, p.name) for p in node.inputs]
    # the body's placeholders are wired to the kernel's producers, as the outer names say
    first = next(n for n in ir.nodes if n.op == "fused" and any(p.op == "fused" for p in n.inputs))
    index = [k.name for k in compiled.kernels].index(first.name)
    scope = f"kernel_{index:03d}_{first.attrs['kind']}/"
    reads = {i for name, nd in nodes.items() if name.startswith(scope) for i in nd.input if not i.startswith(scope)}
    assert reads == {emitted.get(p.name, p.name) for p in first.inputs}


def test_graph_def_names_stay_unique_next_to_clashing_names():
    g = gc.Graph()
    with g.as_default():
        with gc.name_scope("kernel_000_elementwise"):   # the scope the first kernel would get
            a = gc.placeholder(gc.float32, (4,), name="a")
        b = gc.tanh(gc.exp(a))
    with gc.Session(g) as sess:
        compiled = sess.compile(b, {a: np.zeros(4, np.float32)})
    assert [n.op for n in compiled.graph.nodes] == ["placeholder", "fused"]
    gdef = gc.summary.graph_def(compiled)
    names = [n.name for n in gdef.node]
    assert names == ["kernel_000_elementwise/a", "kernel_000_elementwise_1/exp", "kernel_000_elementwise_1/tanh"]
    assert list(gdef.node[1].input) == ["kernel_000_elementwise/a"]
    with pytest.raises(gc.GraphcError, match="gc.Graph or a compiled program"):
        gc.summary.graph_def("not a graph")


def test_summaries_keep_no_graph_alive():
    import gc as collector
    import weakref
    g = gc.Graph()
    with g.as_default():
        x = gc.constant(1.0)
        gc.summary.scalar("a", x)
        gc.summary.histogram("h", x)
    alive = weakref.ref(g)
    del g, x
    collector.collect()
    assert alive() is None
