"""schedule, plan_memory and the arena executor.

* schedule: IR text before and after, a valid topological order, the same numbers;
* the memory plan's invariants on every graph of the op table and on the example models,
  checked against liveness computed here, independently of the planner;
* in-place reuse: where it happens, and that it is safe (an output element never depends
  on an input element the kernel has already overwritten);
* the poison run: every arena region is filled with NaN the moment its buffer dies, and
  every op of the table, the nn composites and an MLP still give the reference's numbers;
* fetched results never alias each other, the arena, or the next run.
"""
import textwrap

import numpy as np
import pytest

import graphc as gc
from models import mlp
from conftest import F32, assert_close
from graphc.passes import verify
from graphc.ir.analysis import is_view, view_base
from graphc.passes.memory import ALIGN, nbytes, plan_memory
from graphc.passes.schedule import dfs_postorder, in_order, schedule
from graphc.runtime.executor import CallPlan, Executor
from graphc.ir.interpret import compute, run_graph
from test_ops import CASES, build

pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")


def ir(text):
    return gc.ir.parse(textwrap.dedent(text))


def bits(a):
    a = np.asarray(a)
    return a.reshape(-1).view(f"u{a.itemsize}") if a.dtype.kind == "f" else a.reshape(-1)


def assert_same_bits(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape)
    np.testing.assert_array_equal(bits(actual), bits(expected))


def random_feeds(graph, seed=0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            if node.dtype.kind == "f":
                value = rng.normal(size=node.shape) * 2
            elif node.dtype.kind in "iu":
                value = rng.integers(-4, 5, size=node.shape)
            else:
                value = rng.random(node.shape) < 0.5
            feeds[node.name] = np.asarray(value).astype(node.dtype)
    return feeds


# -- schedule ----------------------------------------------------------------------------
SCHEDULE_BEFORE = """
    %x: f32[4] = placeholder()
    %a: f32[4] = exp(%x)
    %b: f32[4] = neg(%x)
    %c: f32[4] = sin(%a)
    %d: f32[4] = cos(%b)
    %w: f32[4] = placeholder()
    %e: f32[4] = multiply(%b, %w)
    %y: f32[4] = add(%c, %d)
    %z: f32[4] = subtract(%e, %y)
    outputs(%y, %z)
"""
# depth-first post-order from the outputs (inputs in order), sources first in their order
SCHEDULE_AFTER = """
    %x: f32[4] = placeholder()
    %w: f32[4] = placeholder()
    %a: f32[4] = exp(%x)
    %c: f32[4] = sin(%a)
    %b: f32[4] = neg(%x)
    %d: f32[4] = cos(%b)
    %y: f32[4] = add(%c, %d)
    %e: f32[4] = multiply(%b, %w)
    %z: f32[4] = subtract(%e, %y)
    outputs(%y, %z)
"""


def test_schedule_is_depth_first_post_order_from_the_outputs():
    graph = ir(SCHEDULE_BEFORE)
    before = graph.to_text()
    after = schedule(graph)
    assert after.to_text() == ir(SCHEDULE_AFTER).to_text()
    assert graph.to_text() == before
    verify(after, "after schedule")
    for fs in (random_feeds(graph, 0), random_feeds(graph, 1)):
        for got, want in zip(run_graph(after, fs, {}), run_graph(graph, fs, {})):
            assert_same_bits(got, want)


def test_schedule_drops_nothing_needed_and_keeps_a_scheduled_graph():
    graph = ir(SCHEDULE_AFTER)
    assert schedule(graph).to_text() == graph.to_text()   # already in that order


def test_schedule_shortens_live_ranges():
    """Four big temporaries each reduced to a scalar, built all-big-first: the schedule
    reduces each one right after computing it, so only one big buffer is live at a time."""
    graph = ir("""
        %x: f32[1024] = placeholder()
        %b0: f32[1024] = exp(%x)
        %b1: f32[1024] = sin(%x)
        %b2: f32[1024] = cos(%x)
        %b3: f32[1024] = tanh(%x)
        %s0: f32[] = sum(%b0) {axes=(0,), keepdims=False}
        %s1: f32[] = sum(%b1) {axes=(0,), keepdims=False}
        %s2: f32[] = sum(%b2) {axes=(0,), keepdims=False}
        %s3: f32[] = sum(%b3) {axes=(0,), keepdims=False}
        %t1: f32[] = add(%s0, %s1)
        %t2: f32[] = add(%t1, %s2)
        %y: f32[] = add(%t2, %s3)
        outputs(%y)
    """)
    scheduled = schedule(graph)
    assert [n.name for n in scheduled.nodes] == ["x", "b0", "s0", "b1", "s1", "t1", "b2", "s2", "t2",
                                                 "b3", "s3", "y"]
    _, before = plan_memory(graph)
    _, after = plan_memory(scheduled)
    check_plan(graph, before)
    check_plan(scheduled, after)
    assert before.peak_bytes >= 4 * 4096
    assert after.peak_bytes < 2 * 4096


def dfs_scheduled(graph):
    """``graph`` in plain depth-first post-order from its outputs (sources first): the
    baseline the memory-watching schedule improves on."""
    return in_order(graph, dfs_postorder(graph.outputs))


def test_a_short_side_branch_runs_just_before_its_reader():
    """y = t * sum(exp(x)) with t = tanh(x): the deeper input (the sum) is computed first, so
    its big temporary is gone before t takes a buffer: one big buffer at a time, not two."""
    graph = ir("""
        %x: f32[1024] = placeholder()
        %t: f32[1024] = tanh(%x)
        %e: f32[1024] = exp(%x)
        %s: f32[] = sum(%e) {axes=(0,), keepdims=False}
        %y: f32[1024] = multiply(%t, %s)
        %z: f32[] = sum(%y) {axes=(0,), keepdims=False}
        outputs(%z)
    """)
    scheduled = schedule(graph)
    assert [n.name for n in scheduled.nodes] == ["x", "e", "s", "t", "y", "z"]
    assert [n.name for n in dfs_scheduled(graph).nodes] == ["x", "t", "e", "s", "y", "z"]
    (_, plain), (_, ours) = plan_memory(dfs_scheduled(graph)), plan_memory(scheduled)
    assert plain.peak_bytes >= 2 * 4096 > ours.peak_bytes


def _training_step(optimizer):
    rng = np.random.default_rng(0)
    x = gc.placeholder(gc.float32, (32, 64), name="x")
    h, weights = x, []
    for i in range(4):
        w = gc.Variable((rng.standard_normal((64, 64)) * 0.1).astype(np.float32), name=f"w{i}")
        weights.append(w)
        h = gc.tanh(h @ w)
    loss = gc.mean(gc.square(h))
    return x, weights, [loss, optimizer.minimize(loss)]


def test_weight_gradients_run_as_soon_as_their_activation_gradient_is_complete():
    """A 4-layer training step: depth-first from the outputs keeps every layer's activation
    gradient alive until the walk reaches that layer's update; the list scheduler runs each
    weight gradient and update right away, so the arena is smaller, with the same results."""
    x, weights, step = _training_step(gc.train.Adam(1e-2))
    feed = {x: np.random.default_rng(1).standard_normal((32, 64)).astype(np.float32)}
    with gc.Session() as sess:
        compiled = sess.compile(step, feed)
        fused = compiled.stage("fuse").graph
        (_, plain), (_, ours) = plan_memory(dfs_scheduled(fused)), plan_memory(schedule(fused))
        assert ours.peak_bytes < plain.peak_bytes
        assert compiled.memory_plan.peak_bytes == ours.peak_bytes
        with gc.Session(device="reference") as ref:   # (the losses of three steps; test_train checks weights)
            for _ in range(3):
                assert_close(sess.run(step, feed)[0], ref.run(step, feed)[0], np.float32)


def _random_program(seed):
    """A random graph of elementwise ops and full sums over three sizes (fetches: the last
    value and up to two others); its feeds."""
    rng = np.random.default_rng(seed)
    sizes = [64, 512, 4096]
    x = {n: gc.placeholder(gc.float32, (n,), name=f"x{n}") for n in sizes}
    values = list(x.values())
    for _ in range(rng.integers(3, 25)):
        a, r = values[rng.integers(len(values))], rng.random()
        if r < 0.35:
            v = [gc.exp, gc.tanh, gc.sin, gc.abs][rng.integers(4)](a)
        elif r < 0.7:
            peers = [v for v in values if v.shape == a.shape]
            v = a + peers[rng.integers(len(peers))] * 1.5
        else:
            v = gc.sum(a) + x[sizes[rng.integers(3)]]
        values.append(v)
    fetches = list(dict.fromkeys([values[-1]] + [values[rng.integers(3, len(values))] for _ in range(rng.integers(0, 3))]))
    return fetches, {v: np.ones(v.shape, np.float32) for v in x.values()}


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("optimize", [False, True])
def test_the_schedule_never_needs_a_larger_arena_than_depth_first(seed, optimize):
    """The list scheduler's greedy choices are not always better (about one random graph in
    twenty needed more memory than depth-first), so the pass keeps whichever needs less:
    never more than plain depth-first post-order, same results."""
    with gc.Graph().as_default():
        fetches, feeds = _random_program(seed)
        with gc.Session(optimize=optimize) as sess, gc.Session(device="reference") as ref:
            compiled = sess.compile(fetches, feeds)
            before = compiled.stage("fuse" if optimize else "specialize").graph
            (_, plain), (_, ours) = plan_memory(dfs_scheduled(before)), plan_memory(schedule(before))
            assert ours.peak_bytes <= plain.peak_bytes
            verify(compiled.graph)
            for got, want in zip(sess.run(fetches, feeds), ref.run(fetches, feeds)):
                assert_close(got, want, np.float32)


def test_an_update_stays_the_last_reader_of_its_variable():
    """SGD: each update runs after every other kernel reading its variable (so it may be
    written into the variable's buffer, runtime.inplace), though the list scheduler would
    otherwise run it as soon as its gradient is there."""
    x, weights, step = _training_step(gc.train.SGD(0.1))
    with gc.Session() as sess:
        compiled = sess.compile(step, {x: (32, 64)})
    graph = compiled.graph
    position = {n: i for i, n in enumerate(graph.nodes)}
    updates = [graph.outputs[p] for _, p in compiled.run_plan.updates]
    assert len(updates) == 4
    for name, p in compiled.run_plan.updates:
        update = graph.outputs[p]
        readers = [n for n in graph.nodes for i in n.inputs if not is_view(n)
                   and (i.op == "variable" and i.name == name or is_view(i) and view_base(i).name == name)]
        assert readers and all(position[r] <= position[update] for r in readers)
    assert compiled.writes_in_place


def test_two_fetches_reading_one_variable_are_both_scheduled():
    """Two results that nothing reads, both reading one variable: neither waits for the other."""
    v = gc.Variable(np.arange(6.0, dtype=np.float32), name="v")
    a, b = v * 2.0, v + 1.0
    with gc.Session() as sess:
        got = sess.run([a, b, gc.assign(v, v - 1.0)])
        np.testing.assert_array_equal(sess.run(v), np.arange(6.0) - 1)
    np.testing.assert_array_equal(got[0], np.arange(6.0) * 2)
    np.testing.assert_array_equal(got[1], np.arange(6.0) + 1)


@pytest.mark.parametrize("optimize", [True, False])
def test_scheduled_stage_is_a_topological_order(optimize):
    x, probs = mlp()
    with gc.Session(optimize=optimize) as sess:
        compiled = sess.compile(probs, {x: (8, 128)})
    graph = compiled.stage("schedule").graph
    verify(graph)
    seen = set()
    for node in graph.nodes:
        assert all(i in seen for i in node.inputs)
        seen.add(node)
    sources = [n.opdef.kind == "source" for n in graph.nodes]
    assert sources == sorted(sources, reverse=True)      # every source before every kernel


# -- memory plan invariants -----------------------------------------------------------------
def liveness(graph):
    """Independently of the planner: each value's base buffer (through views) and the last
    step at which that buffer is read (len(nodes) when a fetched result is a view of it)."""
    base, last = {}, {}
    for node in graph.nodes:
        if is_view(node):
            base[node] = base.get(node.inputs[0], node.inputs[0])
    for step, node in enumerate(graph.nodes):
        for x in node.inputs:
            b = base.get(x, x)
            last[b] = max(last.get(b, step), step)
    for out in graph.outputs:
        b = base.get(out, out)
        last[b] = len(graph.nodes)
    return base, last


def check_plan(graph, plan):
    """Every invariant of a memory plan, with liveness recomputed here."""
    nodes = graph.nodes
    step = {n.name: i for i, n in enumerate(nodes)}
    by_name = {n.name: n for n in nodes}
    outputs = set(graph.outputs)
    base, last = liveness(graph)

    # exactly the intermediates (computed, not views, not fetched) are in the arena, once each
    intermediates = [n.name for n in nodes
                     if n.opdef.kind not in ("source", "effect") and not is_view(n) and n not in outputs]
    located = [v for b in plan.buffers for v in b.values]
    assert sorted(located) == sorted(intermediates)
    assert len(set(located)) == len(located)
    for n in nodes:
        if n.opdef.kind == "source":
            assert n.name not in plan.location()       # variables, placeholders, constants
    for out in graph.outputs:
        assert out.name not in plan.location()       # fetched results get fresh memory
    assert plan.outputs == [n.name for n in graph.outputs
                            if n.opdef.kind not in ("source", "effect") and not is_view(n)]
    assert plan.allocations_per_run == 0

    assert plan.total_bytes == sum(-(-nbytes(by_name[v]) // ALIGN) * ALIGN for v in intermediates)
    assert plan.peak_bytes <= plan.total_bytes
    assert plan.peak_bytes == max((b.offset + b.size for b in plan.buffers), default=0)

    intervals = []
    for b in plan.buffers:
        values = [by_name[v] for v in b.values]
        assert b.offset >= 0 and b.offset + b.size <= plan.peak_bytes
        assert b.offset % ALIGN == 0
        assert all(nbytes(v) == b.size for v in values)
        # an in-place chain: each value written by the kernel that reads the previous one
        # for the last time, nothing reading that previous value later or through a view
        for prev, nxt in zip(values, values[1:]):
            assert step[prev.name] < step[nxt.name]
            assert prev in nxt.inputs
            assert last[prev] == step[nxt.name], (prev, nxt)
            aliases = [x for x in nxt.inputs if x is not prev and base.get(x, x) is prev]
            assert not aliases, (nxt, aliases)
        start = step[values[0].name]
        end = max(last.get(v, step[v.name]) for v in values)
        assert b.start <= start and b.end >= end       # the plan's range covers the true one
        intervals.append((start, end, b))
    for i, (s1, e1, b1) in enumerate(intervals):
        for s2, e2, b2 in intervals[i + 1:]:
            if s1 <= e2 and s2 <= e1 and b1.size and b2.size:   # live at the same step
                assert b1.offset + b1.size <= b2.offset or b2.offset + b2.size <= b1.offset, (
                    f"buffers {b1.values} and {b2.values} overlap while both are live")


def evaluate(graph, feeds, variables):
    """Every node's value (the reference)."""
    env = {}
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            if node.op == "placeholder":
                env[node] = feeds[node.name]
            elif node.op == "variable":
                env[node] = variables[node.name]
            else:
                env[node] = compute(node, [env[x] for x in node.inputs])
    return env


def rerun_over(graph, env, prev, changed, nxt):
    """``nxt`` computed again after ``prev``'s memory changed: every other input keeps its
    value, except the views of ``prev`` (they read the same memory)."""
    values = dict(env)
    values[prev] = changed
    touched = {prev}
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            if is_view(node) and node.inputs[0] in touched:
                values[node] = compute(node, [values[node.inputs[0]]])
                touched.add(node)
        return compute(nxt, [values[x] for x in nxt.inputs])


def check_in_place_is_safe(graph, plan, feeds, variables, probes=4):
    """For every in-place pair (%prev overwritten by %nxt): changing prev's memory at element
    i may change nxt only at element i, so writing nxt[i] over prev[i] in any order is safe."""
    by_name = {n.name: n for n in graph.nodes}
    pairs = [(by_name[p], by_name[n]) for b in plan.buffers for p, n in zip(b.values, b.values[1:])]
    if not pairs:
        return 0
    env = evaluate(graph, feeds, variables)
    rng = np.random.default_rng(0)
    for prev, nxt in pairs:
        value = np.asarray(env[prev])
        assert value.shape == nxt.shape
        for i in rng.choice(value.size, size=min(probes, value.size), replace=False):
            changed = value.copy().reshape(-1)
            if changed.dtype.kind == "b":
                changed[i] = not changed[i]
            else:
                changed[i] = changed[i] + 3 if np.isfinite(changed[i]) and abs(changed[i]) < 1e6 else 5
            again = rerun_over(graph, env, prev, changed.reshape(value.shape), nxt)
            before, after = bits(env[nxt]).copy(), bits(again).copy()
            before[i] = after[i] = 0
            np.testing.assert_array_equal(after, before, err_msg=f"%{nxt.name} in place over %{prev.name}")
    return len(pairs)


_STATIC = [c for c in CASES if c.args]


@pytest.mark.parametrize("optimize", [True, False], ids=["fused", "unfused"])
def test_plan_invariants_on_every_op(optimize):
    in_place = 0
    for case in _STATIC:
        with gc.Graph().as_default():
            outs, feed, _ = build(case, "static")
            with gc.Session(optimize=optimize) as sess:
                compiled = sess.compile(outs, feed)
            try:
                check_plan(compiled.graph, compiled.memory_plan)
                in_place += check_in_place_is_safe(compiled.graph, compiled.memory_plan,
                                                   {t.name: a for t, a in feed.items()}, {})
            except AssertionError as e:
                raise AssertionError(f"case {case.id}:\n{compiled.memory_plan}\n{e}") from None
    assert in_place > 0 or optimize   # the unfused table has elementwise chains (e.g. casts)


# -- example models -------------------------------------------------------------------------
def models():
    """name -> (fetches, feed_dict) on the default graph: the nn composites, conv2d, pooling, MLP."""
    rng = np.random.default_rng(1)
    x2 = rng.normal(size=(8, 32)).astype(np.float32) * 3
    img = rng.normal(size=(2, 3, 10, 9)).astype(np.float32)
    out = {}

    def ph(value, name):
        return gc.placeholder(gc.float32, value.shape, name=name)

    x = ph(x2, "x")
    out["softmax"] = (gc.nn.softmax(x), {x: x2})
    out["log_softmax"] = (gc.nn.log_softmax(x, axis=0), {x: x2})
    g, b = gc.Variable(rng.normal(size=32).astype(np.float32)), gc.Variable(rng.normal(size=32).astype(np.float32))
    out["layer_norm"] = (gc.nn.layer_norm(x, g, b), {x: x2})
    out["gelu"] = ([gc.nn.gelu(x), gc.nn.gelu(x, approximate="none"), gc.nn.silu(x)], {x: x2})
    i = ph(img, "img")
    k = gc.Variable(rng.normal(size=(4, 3, 3, 3)).astype(np.float32))
    kg = gc.Variable(rng.normal(size=(3, 1, 2, 2)).astype(np.float32))
    out["conv2d"] = ([gc.nn.conv2d(i, k, padding="SAME", stride=2), gc.nn.conv2d(i, kg, groups=3, dilation=2)],
                     {i: img})
    out["max_pool2d"] = ([gc.nn.max_pool2d(i, 3, stride=2, padding="SAME"), gc.nn.avg_pool2d(i, 2)], {i: img})
    xm, probs = mlp()
    out["mlp"] = (probs, {xm: rng.normal(size=(16, 128)).astype(np.float32)})
    out["mlp_net"] = ([probs, gc.argmax(probs, axis=1), gc.relu(gc.nn.layer_norm(x @ gc.transpose(x)))],
                      {xm: rng.normal(size=(16, 128)).astype(np.float32), x: x2})
    return out


MODEL_NAMES = ["softmax", "log_softmax", "layer_norm", "gelu", "conv2d", "max_pool2d", "mlp", "mlp_net"]


@pytest.mark.parametrize("optimize", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_plan_invariants_on_models(name, optimize):
    fetches, feed = models()[name]
    with gc.Session(optimize=optimize) as sess:
        compiled = sess.compile(fetches, feed)
        variables = {n: sess.run(n) for n in compiled.variable_names()}
    check_plan(compiled.graph, compiled.memory_plan)
    check_in_place_is_safe(compiled.graph, compiled.memory_plan, {t.name: a for t, a in feed.items()}, variables)


def test_mlp_unfused_arena_is_at_most_half_of_its_intermediates():
    x, probs = mlp()
    with gc.Session(optimize=False) as sess:
        unfused = sess.compile(probs, {x: (64, 128)})
    with gc.Session() as sess:
        fused = sess.compile(probs, {x: (64, 128)})
    plan = unfused.memory_plan
    check_plan(unfused.graph, plan)
    check_plan(fused.graph, fused.memory_plan)
    assert plan.peak_bytes <= 0.5 * plan.total_bytes, str(plan)
    assert any(len(b.values) > 1 for b in plan.buffers)       # bias and relu run in place
    assert fused.memory_plan.peak_bytes <= plan.peak_bytes
    assert fused.memory_plan.total_bytes < plan.total_bytes   # fusion removes intermediates
    assert "allocations per run" in str(plan) and "0 allocations per run" in str(plan)


def test_bigger_batch_mlp_arena():
    x, probs = mlp()
    with gc.Session(optimize=False) as sess:
        plan = sess.compile(probs, {x: (256, 128)}).memory_plan
    assert plan.peak_bytes <= 0.5 * plan.total_bytes


# -- in place ---------------------------------------------------------------------------------
def _plan(text, optimize):
    """Plan an IR graph the way a Session would (scheduled; fused first when ``optimize``)."""
    from graphc.passes.fuse import fuse
    graph = ir(text)
    if optimize:
        graph, _ = fuse(graph)
    graph = schedule(graph)
    graph, plan = plan_memory(graph)
    check_plan(graph, plan)
    check_in_place_is_safe(graph, plan, random_feeds(graph), {})
    return graph, plan


def chains(plan):
    return [b.values for b in plan.buffers if len(b.values) > 1]


def test_unfused_elementwise_chain_runs_in_place():
    _, plan = _plan("""
        %x: f32[64,32] = placeholder()
        %b: f32[32] = placeholder()
        %a: f32[64,32] = add(%x, %b)
        %e: f32[64,32] = exp(%a)
        %n: f32[64,32] = neg(%e)
        %r: f32[64,32] = relu(%n)
        %s: f32[64] = sum(%r) {axes=(1,), keepdims=False}
        outputs(%s)
    """, optimize=False)
    assert chains(plan) == [["a", "e", "n", "r"]]
    assert plan.peak_bytes == 64 * 32 * 4 and plan.total_bytes == 4 * 64 * 32 * 4


def test_x_plus_exp_x_writes_over_nothing_read_later():
    """%a is read again by %y after %e: %e must not take %a's buffer; %y may take %e's."""
    _, plan = _plan("""
        %x: f32[16] = placeholder()
        %a: f32[16] = sin(%x)
        %e: f32[16] = exp(%a)
        %n: f32[16] = neg(%e)
        %y: f32[16] = add(%n, %a)
        %z: f32[] = sum(%y) {axes=(0,), keepdims=False}
        outputs(%z)
    """, optimize=False)
    location = plan.location()
    assert location["a"][0] != location["e"][0]
    assert ["e", "n"] in [c[:2] for c in chains(plan)]


VIEW_READERS = {
    "transpose": ["%t: f32[4,4] = transpose(%a) {perm=(1, 0)}"],
    "slice": ["%t: f32[1,4] = slice(%a) {slices=((0, 1, None), (None, None, None))}"],
    "broadcast": ["%r: f32[1,4] = slice(%a) {slices=((2, 3, None), (None, None, None))}",
                  "%t: f32[4,4] = broadcast_to(%r) {shape=(4, 4)}"],
    "reshape-of-transpose": ["%r: f32[4,4] = transpose(%a) {perm=(1, 0)}",
                             "%t: f32[4,4] = reshape(%r) {shape=(4, 4)}"],
}


@pytest.mark.parametrize("optimize", [False, True], ids=["unfused", "fused"])
@pytest.mark.parametrize("reader", list(VIEW_READERS))
def test_no_in_place_over_a_buffer_read_through_a_view(reader, optimize):
    """The kernel reading %a directly also reads it through a view (at other indices): it
    must not write its result over %a (found by this test; fixed in passes/memory.py)."""
    views = "\n".join(VIEW_READERS[reader])
    graph, plan = _plan(f"""
%x: f32[4,4,3] = placeholder()
%a: f32[4,4] = sum(%x) {{axes=(2,), keepdims=False}}
{views}
%y: f32[4,4] = add(%a, %t)
%c: f32[8,4] = concat(%y, %y) {{axis=0}}
outputs(%c)
""", optimize=optimize)
    assert "y" in plan.location() and "a" in plan.location()
    assert not any("a" in c and "y" in c for c in chains(plan)), str(plan)


def test_in_place_still_happens_when_a_view_of_the_input_is_not_read():
    _, plan = _plan("""
        %x: f32[4,4,3] = placeholder()
        %a: f32[4,4] = sum(%x) {axes=(2,), keepdims=False}
        %b: f32[4,4] = sum(%x) {axes=(2,), keepdims=True}
        %t: f32[4,4] = transpose(%b) {perm=(1, 0)}
        %y: f32[4,4] = add(%a, %t)
        %c: f32[8,4] = concat(%y, %y) {axis=0}
        outputs(%c)
    """.replace("{axes=(2,), keepdims=True}", "{axes=(2,), keepdims=False}"), optimize=False)
    assert ["a", "y"] in chains(plan)


def test_no_in_place_when_the_kernel_transposes_what_it_read():
    """A fused elementwise kernel that reads %a and transposes something computed from it
    reads %a at other indices than it writes: no in place (found by this test)."""
    graph, plan = _plan("""
        %x: f32[4,4,3] = placeholder()
        %a: f32[4,4] = sum(%x) {axes=(2,), keepdims=False}
        %e: f32[4,4] = exp(%a)
        %t: f32[4,4] = transpose(%e) {perm=(1, 0)}
        %y: f32[4,4] = neg(%t)
        %c: f32[8,4] = concat(%y, %y) {axis=0}
        outputs(%c)
    """, optimize=True)
    assert [n.op for n in graph.nodes] == ["placeholder", "sum", "fused", "concat"]
    assert chains(plan) == []


def test_fused_elementwise_kernel_writes_over_its_dying_input():
    graph, plan = _plan("""
        %x: f32[4,4,3] = placeholder()
        %b: f32[4] = placeholder()
        %a: f32[4,4] = sum(%x) {axes=(2,), keepdims=False}
        %e: f32[4,4] = exp(%a)
        %y: f32[4,4] = add(%e, %b)
        %c: f32[8,4] = concat(%y, %y) {axis=0}
        outputs(%c)
    """, optimize=True)
    assert chains(plan) == [["a", "y"]]


def test_in_place_only_where_the_reader_is_elementwise_at_the_same_size():
    """%s (a reduction) and %d (a wider cast) cannot take %a's buffer; %m, the last reader of
    %a, can; %y reads %m only through a transpose, so it cannot take %m's."""
    _, plan = _plan("""
        %x: f32[8,4] = placeholder()
        %a: f32[8,4] = exp(%x)
        %s: f32[8,1] = sum(%a) {axes=(1,), keepdims=True}
        %d: f64[8,4] = cast(%a) {dtype=f64}
        %m: f32[8,4] = multiply(%a, %a)
        %r: f32[4,8] = transpose(%m) {perm=(1, 0)}
        %y: f32[4,8] = neg(%r)
        %c: f32[8,8] = concat(%y, %y) {axis=0}
        outputs(%s, %d, %c)
    """, optimize=False)
    assert chains(plan) == [["a", "m"]]


# -- poison -----------------------------------------------------------------------------------
def test_poison_catches_a_buffer_freed_too_early():
    """The harness works: a plan that ends a buffer's life before its reader runs gives NaN
    under poison (and happens to give the right numbers without it)."""
    graph, plan = _plan("""
        %x: f32[16] = placeholder()
        %a: f32[16] = exp(%x)
        %b: f32[16] = sin(%x)
        %y: f32[16] = add(%a, %b)
        outputs(%y)
    """, optimize=False)
    feeds = random_feeds(graph)
    want = run_graph(graph, feeds, {})[0]
    (early,) = [b for b in plan.buffers if b.values == ["a"]]
    early.end = early.start
    np.testing.assert_array_equal(Executor(graph, CallPlan.build(graph, plan), poison=False).run(feeds, {})[0], want)
    assert np.isnan(Executor(graph, CallPlan.build(graph, plan), poison=True).run(feeds, {})[0]).all()


# The arena executor with numpy kernels (device="reference" with the pipeline on) runs the
# very ops the reference runs: it must give the same bits. The default device (native
# kernels wherever they lower) must agree within conftest's tolerances.
ARENA_NUMPY = (dict(device="reference"), dict(device="reference", optimize=False))
DEFAULT_DEVICE = (dict(), dict(optimize=False))


def _check_against_reference(outs, feed, configurations, exact):
    with gc.Session(device="reference", optimize=False) as ref:
        want = ref.run(outs, feed)
    for options in configurations:
        with gc.Session(poison=True, verify=True, **options) as sess:
            for _ in range(2):   # the second run finds the arena full of the first run's poison
                got = sess.run(outs, feed)
                for g, w in zip(got, want):
                    assert_close(g, w, w.dtype)
                    if exact:
                        assert_same_bits(g, w)


@pytest.mark.parametrize("case", _STATIC, ids=[c.id for c in _STATIC])
def test_poisoned_arena_gives_the_reference_bits_for_every_op(case):
    outs, feed, _ = build(case, "static")
    _check_against_reference(outs, feed, ARENA_NUMPY, exact=True)


@pytest.mark.parametrize("case", _STATIC, ids=[c.id for c in _STATIC])
def test_poisoned_arena_on_the_default_device_for_every_op(case):
    outs, feed, _ = build(case, "static")
    _check_against_reference(outs, feed, DEFAULT_DEVICE, exact=False)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_poisoned_arena_gives_reference_results_for_models(name):
    fetches, feed = models()[name]
    fetches = fetches if isinstance(fetches, list) else [fetches]
    _check_against_reference(fetches, feed, ARENA_NUMPY, exact=True)
    _check_against_reference(fetches, feed, DEFAULT_DEVICE, exact=False)


# -- results never alias ------------------------------------------------------------------------
def test_fetched_results_are_fresh_every_run():
    x = gc.placeholder(gc.float32, (4, 6), name="x")
    e = gc.exp(x)
    fetches = [e, gc.reshape(e, (6, 4)), gc.neg(e), gc.transpose(gc.sin(x)), x]
    feed = {x: np.arange(24, dtype=np.float32).reshape(4, 6) / 10}
    with gc.Session(poison=True) as sess:
        first = sess.run(fetches, feed)
        kept = [a.copy() for a in first]
        second = sess.run(fetches, feed)
        for a, b in zip(first, second):
            assert a is not b and not np.shares_memory(a, b)
        for i, a in enumerate(first):
            for b in first[i + 1:]:
                assert not np.shares_memory(a, b)
        for a in first:
            a[...] = 99.0
        third = sess.run(fetches, feed)
        for a, b, k in zip(second, third, kept):
            np.testing.assert_array_equal(a, k)
            np.testing.assert_array_equal(b, k)
    np.testing.assert_array_equal(feed[x], np.arange(24, dtype=np.float32).reshape(4, 6) / 10)


def test_fetched_view_of_an_arena_buffer_is_a_copy():
    x = gc.placeholder(gc.float32, (8, 4), name="x")
    a = gc.sum(gc.exp(x), axis=1, keepdims=True)          # a reduction kernel ...
    v = gc.reshape(a, (2, 4))                             # ... fetched through a view
    y = gc.concat([a, a], 0)                              # and read by another kernel
    feed = {x: np.ones((8, 4), np.float32)}
    with gc.Session(poison=True) as sess:
        compiled = sess.compile([v, y], feed)
        r1 = sess.run([v, y], feed)
        r2 = sess.run([v, y], {x: np.zeros((8, 4), np.float32)})
    arena = compiled._executor._arena
    for r in r1 + r2:
        assert arena is None or not np.shares_memory(r, arena)
    np.testing.assert_allclose(r1[0], np.full((2, 4), 4 * np.e, np.float32), **F32)
    np.testing.assert_allclose(r2[0], np.full((2, 4), 4.0, np.float32), **F32)


def test_same_program_with_different_feeds_gives_independent_results():
    x, probs = mlp()
    rng = np.random.default_rng(5)
    feeds = [rng.normal(size=(32, 128)).astype(np.float32) for _ in range(3)]
    with gc.Session(device="reference", optimize=False) as ref:
        want = [ref.run(probs, {x: f}) for f in feeds]
    for options in (dict(poison=True), dict(optimize=False, poison=True)):
        with gc.Session(**options) as sess:
            got = [sess.run(probs, {x: f}) for f in feeds]
            assert sess.compile(probs, {x: feeds[0]}) is sess.compile(probs, {x: feeds[1]})
            got.append(sess.run(probs, {x: feeds[0]}))
        for g, w in zip(got, want + want[:1]):
            assert_close(g, w, np.float32)
        assert not np.array_equal(got[0], got[1])
        np.testing.assert_array_equal(got[0], got[3])


def test_a_large_arena_is_touched_while_the_kernels_compile(monkeypatch):
    """An arena of PREFAULT_BYTES or more is allocated and each page touched on a thread of
    its own during the build (a first run otherwise pays the page faults); the run that
    follows uses that arena and computes numpy's values, and so does a twin's own."""
    import threading

    from graphc.runtime import executor
    made_on = []   # the thread that allocated each arena
    real_arena = executor.Executor.arena

    def arena(self):
        if self._arena is None and threading.current_thread().name == "graphc-arena-prefault":
            made_on.append(self)
        return real_arena(self)
    monkeypatch.setattr(executor.Executor, "arena", arena)
    n = executor.PREFAULT_BYTES // 4 // 64 + 1   # rows of 64 floats: one intermediate over the line
    rng = np.random.default_rng(3)
    a = rng.standard_normal((n, 64)).astype(np.float32)
    x = gc.placeholder(gc.float32, a.shape, name="x")
    out = gc.sum(gc.exp(gc.tanh(x) @ gc.constant(np.eye(64, dtype=np.float32))), axis=1)
    with gc.Session() as sess:
        compiled = sess.compile(out, {x: a})
        ex = compiled._executor
        assert ex.plan.arena_bytes >= executor.PREFAULT_BYTES
        arena = ex.arena()
        assert made_on == [ex] and ex._faulting is None and arena.nbytes == ex.plan.arena_bytes
        got = sess.run(out, {x: a})
        assert ex.arena() is arena
        twin = ex.twin()
        assert twin.arena() is not arena
    assert_close(got, np.exp(np.tanh(a.astype(np.float64))).sum(1).astype(np.float32), np.float32)
