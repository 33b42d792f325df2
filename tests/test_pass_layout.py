"""sink_transposes: transposes move below elementwise ops and reductions, so an NHWC
program's layout pairs cancel; values are unchanged (bit for bit for elementwise ops)."""
import numpy as np
import pytest

import graphc as gc
import graphc.compat.v1 as tf
from graphc.ir.interpret import run_graph
from graphc.passes.layout import sink_transposes
from passcheck import check_pass, check_unchanged, ir, special_feeds

BIAS_RELU = """
    %x: f32[2,3,4,5] = placeholder()
    %b: f32[3] = placeholder()
    %t: f32[2,4,5,3] = transpose(%x) {perm=(0, 2, 3, 1)}
    %a: f32[2,4,5,3] = add(%t, %b)
    %r: f32[2,4,5,3] = relu(%a)
    %back: f32[2,3,4,5] = transpose(%r) {perm=(0, 3, 1, 2)}
    %y: f32[2,3,4,5] = exp(%back)
    outputs(%y)
"""


def test_a_transpose_pair_around_elementwise_ops_cancels():
    check_pass(sink_transposes, BIAS_RELU, """
        %x: f32[2,3,4,5] = placeholder()
        %b: f32[3] = placeholder()
        %a/reshape: f32[1,1,1,3] = reshape(%b) {shape=(1, 1, 1, 3)}
        %a/transpose: f32[1,3,1,1] = transpose(%a/reshape) {perm=(0, 3, 1, 2)}
        %a/unpermuted: f32[2,3,4,5] = add(%x, %a/transpose)
        %r/unpermuted: f32[2,3,4,5] = relu(%a/unpermuted)
        %y: f32[2,3,4,5] = exp(%r/unpermuted)
        outputs(%y)
    """)


def test_a_value_used_in_the_permuted_layout_is_transposed_once_under_its_name():
    check_pass(sink_transposes, """
        %x: f32[4,3] = placeholder()
        %t: f32[3,4] = transpose(%x) {perm=(1, 0)}
        %e: f32[3,4] = exp(%t)
        %m: f32[3,3] = matmul(%e, %x)
        %n: f32[3,4] = neg(%e)
        outputs(%m, %n)
    """, """
        %x: f32[4,3] = placeholder()
        %e/unpermuted: f32[4,3] = exp(%x)
        %e: f32[3,4] = transpose(%e/unpermuted) {perm=(1, 0)}
        %m: f32[3,3] = matmul(%e, %x)
        %n/unpermuted: f32[4,3] = neg(%e/unpermuted)
        %n: f32[3,4] = transpose(%n/unpermuted) {perm=(1, 0)}
        outputs(%m, %n)
    """)


def test_transposes_compose_and_an_identity_disappears():
    check_pass(sink_transposes, """
        %x: f32[2,3,4] = placeholder()
        %a: f32[3,4,2] = transpose(%x) {perm=(1, 2, 0)}
        %b: f32[4,2,3] = transpose(%a) {perm=(1, 2, 0)}
        %c: f32[2,3,4] = transpose(%b) {perm=(1, 2, 0)}
        %y: f32[2,3,4] = sigmoid(%c)
        outputs(%y, %b)
    """, """
        %x: f32[2,3,4] = placeholder()
        %b: f32[4,2,3] = transpose(%x) {perm=(2, 0, 1)}
        %y: f32[2,3,4] = sigmoid(%x)
        outputs(%y, %b)
    """)


@pytest.mark.parametrize("case", ["two perms", "large other operand", "rank-raising broadcast"])
def test_what_does_not_sink(case):
    before = {
        "two perms": """
            %x: f32[2,3] = placeholder()
            %z: f32[3,2] = placeholder()
            %t: f32[3,2] = transpose(%x) {perm=(1, 0)}
            %w: f32[2,3] = transpose(%z) {perm=(1, 0)}
            %u: f32[3,2] = transpose(%w) {perm=(1, 0)}
            %s: f32[3,2] = add(%t, %z)
            outputs(%s, %u)
        """,
        "large other operand": """
            %x: f32[4,8] = placeholder()
            %z: f32[8,4] = placeholder()
            %t: f32[8,4] = transpose(%x) {perm=(1, 0)}
            %s: f32[8,4] = multiply(%t, %z)
            outputs(%s)
        """,
        "rank-raising broadcast": """
            %x: f32[2,3] = placeholder()
            %z: f32[5,3,2] = placeholder()
            %t: f32[3,2] = transpose(%x) {perm=(1, 0)}
            %s: f32[5,3,2] = add(%t, %z)
            outputs(%s)
        """}[case]
    after = sink_transposes(ir(before))
    if case == "two perms":   # %u is %z again (its two transposes compose away); the add keeps its operands
        assert "%u" not in after.to_text() and "add(%t, %z)" in after.to_text()
        return
    check_unchanged(sink_transposes, before)


def _values(graph):
    feeds = special_feeds(graph)[0]
    for name, value in list(feeds.items()):
        if value.dtype.kind == "f":   # finite values, so sums in two orders are comparable
            feeds[name] = np.random.default_rng(len(name)).normal(size=value.shape).astype(value.dtype)
    return feeds


@pytest.mark.parametrize("op, keepdims", [("sum", False), ("sum", True), ("mean", False), ("max", False),
                                          ("min", True), ("prod", False)])
def test_a_reduction_of_a_transpose_reads_the_untransposed_input(op, keepdims):
    kept = "1,1,1,3" if keepdims else "3"
    before = ir(f"""
        %x: f32[2,3,4,5] = placeholder()
        %t: f32[2,4,5,3] = transpose(%x) {{perm=(0, 2, 3, 1)}}
        %s: f32[{kept}] = {op}(%t) {{axes=(0, 1, 2), keepdims={keepdims}}}
        %c: f32[4,5] = {op}(%t) {{axes=(0, 3), keepdims=False}}
        outputs(%s, %c)
    """)
    after = sink_transposes(before)
    text = after.to_text()
    assert f"axes=(0, 2, 3), keepdims={keepdims}" in text and "axes=(0, 1), keepdims=False" in text
    assert text.count("transpose(") == (1 if keepdims else 0)   # keepdims: (1,3,1,1) transposed back to (1,1,1,3)
    feeds = _values(before)
    for got, want in zip(run_graph(after, feeds, {}), run_graph(before, feeds, {})):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5 if op in ("sum", "mean", "prod") else 0)


def test_reduction_left_axes_come_back_in_the_transposed_order():
    before = ir("""
        %x: f64[2,3,4] = placeholder()
        %t: f64[4,2,3] = transpose(%x) {perm=(2, 0, 1)}
        %s: f64[4,3] = sum(%t) {axes=(1,), keepdims=False}
        outputs(%s)
    """)
    after = sink_transposes(before)
    assert "transpose(%s/unpermuted) {perm=(1, 0)}" in after.to_text()
    feeds = _values(before)
    np.testing.assert_allclose(run_graph(after, feeds, {})[0], run_graph(before, feeds, {})[0], rtol=1e-14)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (0, 3, 2, 2), (2, 1, 3, 1), (3, 2)])
def test_edge_shapes_keep_their_values(shape):
    perm = tuple(reversed(range(len(shape))))
    out = tuple(shape[p] for p in perm)
    dims = ",".join(map(str, shape))
    odims = ",".join(map(str, out))
    before = ir(f"""
        %x: f32[{dims}] = placeholder()
        %c: f32[] = constant() {{value=2.0}}
        %t: f32[{odims}] = transpose(%x) {{perm={perm}}}
        %m: f32[{odims}] = multiply(%t, %c)
        %r: f32[{dims}] = transpose(%m) {{perm={perm}}}
        outputs(%r, %m)
    """)
    after = sink_transposes(before)
    feeds = _values(before)
    for got, want in zip(run_graph(after, feeds, {}), run_graph(before, feeds, {})):
        np.testing.assert_array_equal(got, want)


def test_random_chains_match_the_unsunk_graph():
    """Random elementwise chains over random perms, with reductions: the same numbers on
    the native backend as on the reference interpreter without the pass."""
    rng = np.random.default_rng(11)
    for trial in range(25):
        shape = tuple(int(d) for d in rng.integers(1, 5, rng.integers(2, 5)))
        perm = tuple(int(p) for p in rng.permutation(len(shape)))
        x = gc.placeholder(gc.float32, shape, name=f"x{trial}")
        b = gc.placeholder(gc.float32, (tuple(shape[p] for p in perm)[-1],), name=f"b{trial}")
        h = gc.transpose(x, perm)
        for step in range(rng.integers(1, 4)):
            h = [gc.tanh(h), h * 1.5 + b, gc.relu(h - b), gc.maximum(h, 0.25)][rng.integers(0, 4)]
        outs = [gc.transpose(h, tuple(int(i) for i in np.argsort(perm))), gc.sum(h, axis=0),
                gc.max(h, axis=-1, keepdims=True), h]
        feeds = {x: rng.normal(size=shape).astype(np.float32), b: rng.normal(size=b.shape).astype(np.float32)}
        got = gc.Session().run(outs, feeds)
        want = gc.Session(device="reference", optimize=False).run(outs, feeds)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)


def test_nhwc_cnn_compiles_without_layout_transposes():
    """The NHWC CNN of compat.v1 keeps no transpose of an activation or its gradient: what
    is left moves the input (read in place by the im2col kernel) and filter-sized values
    (HWIO filters to OIHW, their gradients back, the bias gradients' (1, C, 1, 1))."""
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    w1, w2 = tf.Variable(np.ones((3, 3, 1, 4), np.float32)), tf.Variable(np.ones((3, 3, 4, 6), np.float32))
    b1, b2 = tf.Variable(np.zeros(4, np.float32)), tf.Variable(np.zeros(6, np.float32))
    h = tf.nn.max_pool(tf.nn.relu(tf.nn.conv2d(x, w1, [1, 1, 1, 1], "SAME") + b1), [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, w2, [1, 1, 1, 1], "SAME"), b2))
    loss = tf.reduce_sum(h)
    step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        compiled = sess.compile([step, loss], {x: np.zeros((8, 8, 8, 1), np.float32)})
    def layout_transposes(graph):   # (not a matmul's operand transposed, which the GEMM reads in place)
        return [n for n in graph.nodes if n.op == "transpose" and n.inputs[0].op != "placeholder"
                and tuple(n.attrs["perm"][-2:]) != (len(n.shape) - 1, len(n.shape) - 2) and np.prod(n.shape) > 3 * 3 * 4 * 6]
    graph = compiled.stage("sink_transposes").graph
    assert not layout_transposes(graph), [(n.name, n.shape) for n in layout_transposes(graph)]
    with tf.Session(disable=("sink_transposes",)) as plain:
        before = plain.compile([step, loss], {x: np.zeros((8, 8, 8, 1), np.float32)})
    assert len(layout_transposes(before.stage("specialize").graph)) > 4   # what the pass removed
