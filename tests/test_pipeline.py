"""The pass pipeline: selecting passes, stages and their IR, GRAPHC_DUMP, the verifier, and a
differential test of every example model under every pipeline variant."""
import importlib
import os
import re
import textwrap

import numpy as np
import pytest

import graphc as gc
from conftest import assert_close
from graphc.errors import GraphcError, GraphError
from graphc.ir import Graph
from graphc.ir.node import Node
from graphc.passes import PASS_NAMES, PIPELINE, verify
from graphc.ir.analysis import is_view

pipeline_module = importlib.import_module("graphc.passes.pipeline")

HEADER = re.compile(r"// graphc IR after (\w+): (\d+\.\d{3}) ms, nodes (\d+) -> (\d+)\Z")


def ir(text):
    return gc.ir.parse(textwrap.dedent(text))


def small_model():
    """x -> layer_norm(relu(x @ w + b)) -> softmax, plus a constant subexpression to fold."""
    rng = np.random.default_rng(0)
    x = gc.placeholder(gc.float32, (None, 12), name="x")
    w = gc.Variable(rng.normal(size=(12, 8)).astype(np.float32), name="w")
    b = gc.Variable(rng.normal(size=8).astype(np.float32), name="b")
    scale = gc.exp(gc.constant(np.full(8, 0.5, np.float32)))       # folds to a constant
    h = gc.nn.layer_norm(gc.relu(x @ w + b)) * scale
    return x, gc.nn.softmax(h)


# -- selecting passes ---------------------------------------------------------------------
def test_pass_names_are_the_pipeline_in_order():
    assert PASS_NAMES == ("sink_transposes", "fold_constants", "fold_batch_norm", "simplify", "cse", "dce", "fuse",
                          "schedule", "plan_memory")
    assert [p.name for p in PIPELINE] == list(PASS_NAMES)
    assert all(p.summary for p in PIPELINE)


def test_optimize_false_is_specialize_schedule_plan_memory_with_one_kernel_per_op():
    x, probs = small_model()
    with gc.Session(optimize=False) as sess:
        compiled = sess.compile(probs, {x: (4, 12)})
    assert compiled.stages == ["specialize", "schedule", "plan_memory"]
    assert compiled.fusion is None and compiled.memory_plan is not None
    ops = [n for n in compiled.stage("specialize").graph.nodes
           if n.opdef.kind not in ("source", "effect") and not is_view(n)]
    kernels = compiled.kernels
    assert len(kernels) == len(ops)
    assert sorted(k.name for k in kernels) == sorted(n.name for n in ops)
    for k in kernels:
        assert k.nodes == (k.name,)
    assert not any(n.op == "fused" for n in compiled.graph.nodes)


def test_default_runs_every_pass():
    x, probs = small_model()
    with gc.Session() as sess:
        compiled = sess.compile(probs, {x: (4, 12)})
    assert compiled.stages == ["specialize", *PASS_NAMES]
    assert compiled.fusion is not None and compiled.memory_plan is not None


@pytest.mark.parametrize("options, stages", [
    (dict(passes=["fuse", "schedule"]), ["fuse", "schedule"]),
    (dict(passes=["plan_memory", "fuse"]), ["fuse", "plan_memory"]),           # pipeline order
    (dict(passes=[]), []),
    (dict(disable=["fuse"]), [p for p in PASS_NAMES if p != "fuse"]),
    (dict(disable=["fold_constants", "cse"]), ["sink_transposes", "fold_batch_norm", "simplify", "dce", "fuse", "schedule",
                                              "plan_memory"]),
    (dict(optimize=False, disable=["schedule"]), ["plan_memory"]),
    (dict(passes=["cse", "dce", "fuse"], disable=["dce"]), ["cse", "fuse"]),
    (dict(optimize=False, passes=["fuse"]), ["fuse"]),
])
def test_passes_and_disable_select_by_name(options, stages):
    x, probs = small_model()
    with gc.Session(**options) as sess:
        compiled = sess.compile(probs, {x: (4, 12)})
        value = sess.run(probs, {x: np.ones((4, 12), np.float32)})
    assert compiled.stages == ["specialize", *stages]
    assert compiled.memory_plan is None or "plan_memory" in stages
    assert (compiled.fusion is not None) == ("fuse" in stages)
    np.testing.assert_allclose(value.sum(axis=1), np.ones(4), rtol=1e-5)


@pytest.mark.parametrize("options", [dict(passes=["fuse", "fusion"]), dict(disable=["inline"]),
                                     dict(passes=["Fuse"])])
def test_unknown_pass_name_names_the_valid_passes(options):
    with pytest.raises(GraphcError) as info:
        gc.Session(**options)
    message = str(info.value)
    assert "unknown pass" in message
    for name in PASS_NAMES:
        assert name in message


# -- stages and their IR --------------------------------------------------------------------
@pytest.mark.parametrize("optimize", [True, False])
def test_every_stage_prints_parseable_ir(optimize):
    x, probs = small_model()
    with gc.Session(optimize=optimize) as sess:
        compiled = sess.compile(probs, {x: (4, 12)})
    assert compiled.ir() == compiled.ir(compiled.stages[-1])
    for stage in compiled.stages:
        text = compiled.ir(stage)
        assert gc.ir.parse(text).to_text() == text, stage
        full = compiled.ir(stage, blobs=True)
        assert gc.ir.parse(full).to_text() == full
        assert text.rstrip().splitlines()[-1].startswith("outputs(")
        verify(gc.ir.parse(text), stage)
    with pytest.raises(KeyError):
        compiled.ir("no_such_stage")


def test_large_constants_need_blobs_to_parse_back():
    x = gc.placeholder(gc.float32, (4, 32), name="x")
    y = x * gc.constant(np.linspace(0, 1, 32, dtype=np.float32))
    with gc.Session() as sess:
        compiled = sess.compile(y, {x: (4, 32)})
    for stage in compiled.stages:
        full = compiled.ir(stage, blobs=True)
        assert gc.ir.parse(full).to_text() == full
    with pytest.raises(gc.errors.IRParseError, match="elided"):
        gc.ir.parse(compiled.ir("specialize"))


def test_dump_has_every_stage_with_its_header():
    x, probs = small_model()
    with gc.Session() as sess:
        compiled = sess.compile(probs, {x: (4, 12)})
    dump = compiled.dump()
    headers = [HEADER.match(line) for line in dump.splitlines() if line.startswith("// graphc IR after")]
    assert all(headers)
    assert [h.group(1) for h in headers] == compiled.stages
    for h in headers:
        stage = compiled.stage(h.group(1))
        assert (int(h.group(3)), int(h.group(4))) == (stage.nodes_before, stage.nodes_after)
    assert "// fusion: " in dump and "// memory plan: arena" in dump
    assert str(compiled) == dump
    # then the generated LLVM IR, before and after O3
    dump, llvm = dump.split("; LLVM IR (generated)\n")
    generated, optimized = llvm.split("; LLVM IR (optimized at O3)\n")
    assert generated.strip() == compiled.llvm_ir().strip()
    assert optimized.strip() == compiled.llvm_ir(optimized=True).strip()
    assert "define void @" in generated and "define void @" in optimized
    # each stage's part of the dump is still IR text: the comments are skipped
    parts = re.split(r"(?m)^(?=// graphc IR after )", dump)
    parts = [p for p in parts if p.strip()]
    assert len(parts) == len(compiled.stages)
    for part, stage in zip(parts, compiled.stages):
        assert gc.ir.parse(part).to_text() == compiled.ir(stage)


def test_stage_node_counts_chain():
    x, probs = small_model()
    with gc.Session() as sess:
        compiled = sess.compile(probs, {x: (4, 12)})
    previous = None
    for name in compiled.stages:
        stage = compiled.stage(name)
        assert stage.nodes_after == len(stage.graph)
        if previous is not None:
            assert stage.nodes_before == previous.nodes_after
        assert stage.seconds >= 0
        previous = stage
    assert compiled.stage("fold_constants").nodes_after < compiled.stage("specialize").nodes_after


# -- GRAPHC_DUMP ------------------------------------------------------------------------------
def test_graphc_dump_writes_one_file_per_stage_per_compilation(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path))
    x = gc.placeholder(gc.float32, (None, 6), name="x")
    y = gc.nn.softmax(x * 2.0 + 1.0)
    z = gc.nn.layer_norm(x)
    compiled = []
    with gc.Session() as sess:
        compiled.append(sess.compile(y, {x: (3, 6)}))
        compiled.append(sess.compile(z, {x: (3, 6)}))
        sess.run(y, {x: np.ones((3, 6), np.float32)})        # cached: no new compilation
    with gc.Session(optimize=False) as sess:
        compiled.append(sess.compile(y, {x: (5, 6)}))
    folders = sorted(p for p in tmp_path.iterdir())
    assert len(folders) == len(compiled)
    numbers = [int(f.name.split("-")[0]) for f in folders]
    assert numbers == sorted(set(numbers))
    for folder, program in zip(folders, compiled):
        assert folder.name.endswith(program.graph.outputs[0].name.replace("/", "_"))
        files = sorted(os.listdir(folder))
        n = len(program.stages)
        # every stage, then the LLVM IR of the native kernels before and after optimization
        assert files == [f"{i:02d}-{stage}.txt" for i, stage in enumerate(program.stages)] + \
            [f"{n:02d}-llvm.ll", f"{n + 1:02d}-llvm-O3.ll"]
        assert (folder / files[-2]).read_text() == program.llvm_ir()
        files = files[:n]
        for name, stage in zip(files, program.stages):
            text = (folder / name).read_text()
            header = text.splitlines()[0]
            m = HEADER.match(header)
            assert m, header
            record = program.stage(stage)
            assert m.group(1) == stage
            assert (int(m.group(3)), int(m.group(4))) == (record.nodes_before, record.nodes_after)
            assert gc.ir.parse(text).to_text() == program.ir(stage, blobs=True)


def test_no_dump_without_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("GRAPHC_DUMP", raising=False)
    monkeypatch.chdir(tmp_path)
    x = gc.placeholder(gc.float32, (2,), name="x")
    with gc.Session() as sess:
        sess.run(gc.exp(x), {x: np.zeros(2, np.float32)})
    assert list(tmp_path.iterdir()) == []


# -- the verifier ---------------------------------------------------------------------------
def test_verifier_accepts_every_stage_of_a_session_with_verify():
    x, probs = small_model()
    with gc.Session(verify=True, poison=True) as sess:
        value = sess.run(probs, {x: np.ones((3, 12), np.float32)})
        compiled = sess.compile(probs, {x: (3, 12)})
    for stage in compiled.stages:
        verify(compiled.stage(stage).graph, stage)
    assert value.shape == (3, 8)


FUSED_OK = """
    %x: f32[8,4] = placeholder()
    %b: f32[4] = placeholder()
    %y: f32[8,4] = fused(%x, %b) {kind='elementwise'}
        %x: f32[8,4] = placeholder()
        %b: f32[4] = placeholder()
        %add: f32[8,4] = add(%x, %b)
        %y: f32[8,4] = relu(%add)
        outputs(%y)
    outputs(%y)
"""


def test_verifier_accepts_a_well_formed_fused_graph():
    verify(ir(FUSED_OK))


@pytest.mark.parametrize("text, message", [
    # a body placeholder whose type does not match the kernel's input
    (FUSED_OK.replace("        %b: f32[4] = placeholder()", "        %b: f32[1,4] = placeholder()"),
     "does not match body parameter"),
    (FUSED_OK.replace("        %b: f32[4] = placeholder()", "        %b: f64[4] = placeholder()")
             .replace("%add: f32[8,4]", "%add: f64[8,4]").replace("%y: f32[8,4] = relu", "%y: f64[8,4] = relu")
             .replace("%y: f32[8,4] = fused", "%y: f64[8,4] = fused"),
     "does not match body parameter"),
    # a body with a variable inside
    ("""
    %x: f32[4] = placeholder()
    %y: f32[4] = fused(%x) {kind='elementwise'}
        %x: f32[4] = placeholder()
        %v: f32[4] = variable() {initial_value='v/init', trainable=True}
        %y: f32[4] = add(%x, %v)
        outputs(%y)
    outputs(%y)
    """, "may not appear inside a fused body"),
    # a compiled graph must be static
    ("""
    %x: f32[?,4] = placeholder()
    %y: f32[?,4] = exp(%x)
    outputs(%y)
    """, "static shapes"),
])
def test_verifier_rejects_malformed_parsed_graphs(text, message):
    graph = ir(text)
    with pytest.raises(GraphError, match=message):
        verify(graph, "test")


def _hand_built(bad):
    """x -> exp -> neg, with one node replaced by hand (bypassing add_node's checks)."""
    g = Graph()
    x = g.add_node("placeholder", (), {"dtype": np.dtype(np.float32), "shape": (4,)}, name="x", exact_name=True)
    e = g.add_node("exp", [x], name="e", exact_name=True)
    if bad == "wrong type":
        node = Node(g, "neg", [e], {}, np.dtype(np.float64), (4,), "y", None)
    elif bad == "wrong shape":
        node = Node(g, "neg", [e], {}, np.dtype(np.float32), (2, 2), "y", None)
    elif bad == "duplicate name":
        node = Node(g, "neg", [e], {}, np.dtype(np.float32), (4,), "e", None)
    elif bad == "cycle":
        later = Node(g, "sin", [e], {}, np.dtype(np.float32), (4,), "later", None)
        node = Node(g, "neg", [later], {}, np.dtype(np.float32), (4,), "y", None)
    elif bad == "foreign input":
        other = Graph()
        z = other.add_node("placeholder", (), {"dtype": np.dtype(np.float32), "shape": (4,)}, name="z",
                           exact_name=True)
        node = Node(g, "neg", [z], {}, np.dtype(np.float32), (4,), "y", None)
    g._nodes.append(node)
    g.outputs = (node,)
    return g


@pytest.mark.parametrize("bad, message", [
    ("wrong type", "typed f64\\[4\\] but neg infers a different type"),
    ("wrong shape", "typed f32\\[2,2\\] but neg infers"),
    ("duplicate name", "duplicate name"),
    ("cycle", "not defined before it"),
    ("foreign input", "not defined before it"),
])
def test_verifier_rejects_hand_built_graphs(bad, message):
    with pytest.raises(GraphError, match=message):
        verify(_hand_built(bad), "test")


def test_parser_rejects_a_wrong_declared_type():
    with pytest.raises(GraphError, match="declared type"):
        ir("""
            %x: f32[4] = placeholder()
            %y: f64[4] = exp(%x)
            outputs(%y)
        """)


def test_fused_body_of_the_wrong_output_type_is_caught():
    """A fused node typed differently from its body's output (built by hand)."""
    good = ir(FUSED_OK)
    kernel = good.nodes[-1]
    g = Graph()
    x = g.add_node("placeholder", (), {"dtype": np.dtype(np.float32), "shape": (8, 4)}, name="x", exact_name=True)
    b = g.add_node("placeholder", (), {"dtype": np.dtype(np.float32), "shape": (4,)}, name="b", exact_name=True)
    bad = Node(g, "fused", [x, b], dict(kernel.attrs), np.dtype(np.float32), (4, 8), "y", None)
    g._nodes.append(bad)
    g.outputs = (bad,)
    with pytest.raises(GraphError, match="infers a different type"):
        verify(g)


def test_session_verify_catches_a_broken_pass(monkeypatch):
    """With verify=True, a pass that produces a malformed graph is caught right after it."""
    def broken(graph):
        out = Graph()
        mapping = {}
        for node in graph.nodes:
            if node.op == "exp":   # claim the wrong dtype, bypassing inference
                new = Node(out, "exp", [mapping[x] for x in node.inputs], node.attrs, np.dtype(np.float64),
                           node.shape, node.name, node.loc)
                out._nodes.append(new)
                out._by_name[node.name] = new
            else:
                new = out.add_node(node.op, [mapping[x] for x in node.inputs], node.attrs, name=node.name,
                                   loc=node.loc, exact_name=True)
            mapping[node] = new
        out.outputs = tuple(mapping[n] for n in graph.outputs)
        return out

    pipeline = tuple(pipeline_module.Pass(p.name, broken, p.summary) if p.name == "simplify" else p
                     for p in PIPELINE)
    monkeypatch.setattr(pipeline_module, "PIPELINE", pipeline)
    x = gc.placeholder(gc.float32, (3,), name="x")
    y = gc.neg(gc.exp(x))
    with gc.Session(verify=True) as sess:
        with pytest.raises(GraphError, match="after simplify: node %exp"):
            sess.run(y, {x: np.zeros(3, np.float32)})


# -- differential: every pipeline variant computes the same ---------------------------------
def example(name):
    """(fetches, feed_dict) of one example model on the default graph."""
    rng = np.random.default_rng(7)
    if name == "mlp":
        x = gc.placeholder(gc.float32, (None, 128), name="x")
        h = x
        for i, (m, n) in enumerate([(128, 256), (256, 256), (256, 10)]):
            with gc.name_scope(f"dense{i}"):
                w = gc.Variable(rng.normal(0, m ** -0.5, (m, n)).astype(np.float32), name="w")
                b = gc.Variable(rng.normal(0, 0.1, n).astype(np.float32), name="b")
                h = h @ w + b
                h = gc.relu(h) if i < 2 else h
        return [gc.nn.softmax(h), gc.argmax(h, axis=1)], {x: rng.normal(size=(64, 128)).astype(np.float32)}
    if name == "conv2d":
        x = gc.placeholder(gc.float32, (None, 3, 12, 11), name="img")
        k = gc.Variable(rng.normal(size=(6, 3, 3, 3)).astype(np.float32))
        b = gc.Variable(rng.normal(size=(6, 1, 1)).astype(np.float32))
        c = gc.relu(gc.nn.conv2d(x, k, padding="SAME") + b)
        return ([gc.nn.max_pool2d(c, 2), gc.nn.avg_pool2d(c, 3, stride=2, padding=1)],
                {x: rng.normal(size=(2, 3, 12, 11)).astype(np.float32)})
    x = gc.placeholder(gc.float32, (None, 128), name="x")
    feed = {x: (rng.normal(size=(64, 128)) * 4).astype(np.float32)}
    if name == "softmax":
        return [gc.nn.softmax(x), gc.nn.log_softmax(x), gc.nn.softmax(x, axis=0)], feed
    if name == "layer_norm":
        g = gc.Variable(rng.normal(size=128).astype(np.float32))
        b = gc.Variable(rng.normal(size=128).astype(np.float32))
        return [gc.nn.layer_norm(x, g, b), gc.nn.layer_norm(x * 0.0 + 1.0)], feed
    if name == "gelu":
        a = gc.constant(rng.normal(size=128).astype(np.float32))
        b = gc.constant(rng.normal(size=128).astype(np.float32))
        return [gc.nn.gelu(x * a + b), gc.nn.gelu(x, approximate="none"), gc.nn.silu(x)], feed
    raise ValueError(name)


VARIANTS = ([("full", {}), ("unoptimized", dict(optimize=False))]
            + [(f"without-{p}", dict(disable=[p])) for p in PASS_NAMES])


@pytest.mark.parametrize("name", ["mlp", "softmax", "layer_norm", "gelu", "conv2d"])
def test_every_pipeline_variant_gives_the_reference_result(name):
    fetches, feed = example(name)
    with gc.Session(device="reference", optimize=False) as ref:
        want = ref.run(fetches, feed)
    for label, options in VARIANTS:
        with gc.Session(verify=True, poison=True, **options) as sess:
            got = sess.run(fetches, feed)
            compiled = sess.compile(fetches, feed)
        for g, w in zip(got, want):
            try:
                assert_close(g, w, w.dtype)
            except AssertionError as e:
                raise AssertionError(f"{name} with {label}: {e}") from None
        assert compiled.stages[0] == "specialize"
        expected_stages = options.get("disable", [])
        assert not set(expected_stages) & set(compiled.stages)
