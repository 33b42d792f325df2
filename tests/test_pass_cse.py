"""cse and dce: before and after as IR text, checked bit for bit; what must never merge."""
import base64

import numpy as np
import pytest

import graphc as gc
from graphc.passes.cse import canonical, cse, dce
from passcheck import MODELS, assert_same_bits, check_pass, check_session, check_unchanged, ir


def f32_blob(index, values):
    """A blob line holding exact float32 bit patterns (NaN payloads survive, unlike inline text)."""
    data = np.array(values, dtype="<u4").tobytes()
    return f'blob {index}: f32[{len(values)}] = "{base64.b64encode(data).decode()}"'


def test_equal_subtrees_merge_keeping_the_first_name():
    check_pass(cse, """
        %x: f32[2,3] = placeholder()
        %y: f32[2,3] = placeholder()
        %a: f32[2,3] = add(%x, %y)  # model.py:1
        %b: f32[2,3] = add(%x, %y)  # model.py:2
        %ea: f32[2,3] = exp(%a)  # model.py:3
        %eb: f32[2,3] = exp(%b)  # model.py:4
        %s: f32[2,3] = subtract(%ea, %eb)
        outputs(%s)
    """, """
        %x: f32[2,3] = placeholder()
        %y: f32[2,3] = placeholder()
        %a: f32[2,3] = add(%x, %y)  # model.py:1
        %ea: f32[2,3] = exp(%a)  # model.py:3
        %s: f32[2,3] = subtract(%ea, %ea)
        outputs(%s)
    """)


def test_outputs_follow_the_merge():
    check_pass(cse, """
        %x: f32[4] = placeholder()
        %a: f32[4] = tanh(%x)
        %b: f32[4] = tanh(%x)
        outputs(%a, %b)
    """, """
        %x: f32[4] = placeholder()
        %a: f32[4] = tanh(%x)
        outputs(%a, %a)
    """)


def test_operand_order_and_attributes_matter():
    check_unchanged(cse, """
        %x: f32[3,3] = placeholder()
        %y: f32[3,3] = placeholder()
        %a: f32[3,3] = subtract(%x, %y)
        %b: f32[3,3] = subtract(%y, %x)
        %t: f32[3,3] = transpose(%a) {perm=(1, 0)}
        %u: f32[3,3] = transpose(%a) {perm=(0, 1)}
        %s: f32[3] = sum(%b) {axes=(0,), keepdims=False}
        %r: f32[3] = sum(%b) {axes=(1,), keepdims=False}
        %k: f32[1,3] = sum(%b) {axes=(0,), keepdims=True}
        %c: i32[3,3] = cast(%x) {dtype=i32}
        %d: i64[3,3] = cast(%x) {dtype=i64}
        outputs(%t, %u, %s, %r, %k, %c, %d)
    """)


def test_equal_constants_merge_by_bytes():
    check_pass(cse, """
        %x: f32[3] = placeholder()
        %a: f32[] = constant() {value=2.0}
        %b: f32[] = constant() {value=2.0}
        %c: f32[3] = constant() {value=[1.0, -0.0, nan]}
        %d: f32[3] = constant() {value=[1.0, -0.0, nan]}
        %p: f32[3] = multiply(%x, %a)
        %q: f32[3] = multiply(%x, %b)
        %r: f32[3] = add(%p, %c)
        %s: f32[3] = add(%q, %d)
        outputs(%r, %s)
    """, """
        %x: f32[3] = placeholder()
        %a: f32[] = constant() {value=2.0}
        %c: f32[3] = constant() {value=[1.0, -0.0, nan]}
        %p: f32[3] = multiply(%x, %a)
        %r: f32[3] = add(%p, %c)
        outputs(%r, %r)
    """)


def test_zero_and_negative_zero_never_merge():
    check_unchanged(cse, """
        %x: f32[3] = placeholder()
        %z: f32[] = constant() {value=0.0}
        %n: f32[] = constant() {value=-0.0}
        %a: f32[3] = add(%x, %z)
        %b: f32[3] = add(%x, %n)
        outputs(%a, %b)
    """)


def test_constants_of_other_dtype_or_shape_never_merge():
    check_unchanged(cse, """
        %a: f32[] = constant() {value=1.0}
        %b: f64[] = constant() {value=1.0}
        %c: f32[1] = constant() {value=[1.0]}
        %d: i32[] = constant() {value=1}
        %e: i64[] = constant() {value=1}
        %f: bool[] = constant() {value=True}
        outputs(%a, %b, %c, %d, %e, %f)
    """)


def test_nan_payloads_never_merge():
    quiet, payload, negative = 0x7FC00000, 0x7FC00123, 0xFFC00000
    before = f"""
        %a: f32[2] = constant() {{value=blob(0)}}
        %b: f32[2] = constant() {{value=blob(1)}}
        %c: f32[2] = constant() {{value=blob(2)}}
        %d: f32[2] = constant() {{value=blob(3)}}
        outputs(%a, %b, %c, %d)
        {f32_blob(0, [quiet, quiet])}
        {f32_blob(1, [quiet, payload])}
        {f32_blob(2, [quiet, negative])}
        {f32_blob(3, [quiet, quiet])}
    """
    graph = ir(before)
    after = cse(graph)
    assert [n.name for n in after.nodes] == ["a", "b", "c"]      # only the identical %d merges
    assert [n.name for n in after.outputs] == ["a", "b", "c", "a"]
    for new, old in zip(after.outputs, graph.outputs):
        assert_same_bits(new.attrs["value"], old.attrs["value"])


def test_placeholders_and_variables_never_merge():
    check_unchanged(cse, """
        %x: f32[3] = placeholder()
        %y: f32[3] = placeholder()
        %v: f32[3] = variable() {initial_value='v/initial_value', trainable=True}
        %w: f32[3] = variable() {initial_value='v/initial_value', trainable=True}
        %a: f32[3] = add(%x, %v)
        %b: f32[3] = add(%y, %w)
        outputs(%a, %b)
    """)


def test_effects_never_merge():
    check_unchanged(cse, """
        %c: f32[3] = constant() {value=[1.0, 2.0, 3.0]}
        %i: none = init_variables(%c) {variables=('v',)}
        %j: none = init_variables(%c) {variables=('v',)}
        outputs(%i, %j)
    """)


def test_equal_fused_kernels_merge():
    check_pass(cse, """
        %x: f32[3] = placeholder()
        %k: f32[3] = fused(%x) {kind='elementwise'}
            %p: f32[3] = placeholder()
            %e: f32[3] = exp(%p)
            outputs(%e)
        %l: f32[3] = fused(%x) {kind='elementwise'}
            %q: f32[3] = placeholder()
            %f: f32[3] = exp(%q)
            outputs(%f)
        %m: f32[3] = fused(%x) {kind='elementwise'}
            %q: f32[3] = placeholder()
            %f: f32[3] = log(%q)
            outputs(%f)
        %y: f32[3] = add(%k, %l)
        %z: f32[3] = add(%y, %m)
        outputs(%z)
    """, """
        %x: f32[3] = placeholder()
        %k: f32[3] = fused(%x) {kind='elementwise'}
            %p: f32[3] = placeholder()
            %e: f32[3] = exp(%p)
            outputs(%e)
        %m: f32[3] = fused(%x) {kind='elementwise'}
            %q: f32[3] = placeholder()
            %f: f32[3] = log(%q)
            outputs(%f)
        %y: f32[3] = add(%k, %k)
        %z: f32[3] = add(%y, %m)
        outputs(%z)
    """)


def test_canonical_attribute_keys():
    assert canonical(0.0) != canonical(-0.0)
    assert canonical(float("nan")) == canonical(float("nan"))
    assert canonical(1) != canonical(True) and canonical(1) != canonical(1.0)
    assert canonical((1, 2)) != canonical([1, 2]) and canonical((1, 2)) == canonical((1, 2))
    assert canonical(np.dtype("float32")) != canonical(np.dtype("float64"))
    assert canonical(np.zeros(2, np.float32)) != canonical(np.zeros(2, np.float64))
    assert canonical(np.zeros((2, 1))) != canonical(np.zeros((1, 2)))
    assert canonical(np.array(1.0)) != canonical(np.array([1.0]))
    assert canonical(np.arange(6.0)[::2]) == canonical(np.array([0.0, 2.0, 4.0]))  # a strided view
    assert canonical(np.array([0.0])) != canonical(np.array([-0.0]))
    hash(canonical({"a": (np.ones(3), np.dtype("int32"), None, "x")}))


def test_cse_is_linear_in_graph_size():
    # 3000 copies of one 3-node expression merge in one sweep
    lines = ["%x: f32[4] = placeholder()"]
    for i in range(3000):
        lines += [f"%a{i}: f32[4] = exp(%x)", f"%b{i}: f32[4] = neg(%a{i})", f"%c{i}: f32[4] = add(%b{i}, %x)"]
    lines.append(f"outputs({', '.join(f'%c{i}' for i in range(0, 3000, 100))})")
    after = cse(ir("\n".join(lines)))
    assert [n.name for n in after.nodes] == ["x", "a0", "b0", "c0"]


def test_dce_drops_what_no_output_needs():
    check_pass(dce, """
        %x: f32[3] = placeholder()
        %unused: f32[3] = placeholder()
        %a: f32[3] = exp(%x)
        %dead: f32[3] = log(%a)
        %deader: f32[3] = neg(%dead)
        %b: f32[3] = tanh(%a)
        outputs(%b)
    """, """
        %x: f32[3] = placeholder()
        %a: f32[3] = exp(%x)
        %b: f32[3] = tanh(%a)
        outputs(%b)
    """)


def test_dce_keeps_a_graph_that_is_all_live():
    graph = ir("""
        %x: f32[3] = placeholder()
        %a: f32[3] = exp(%x)
        outputs(%a, %x)
    """)
    after = check_unchanged(dce, graph.to_text())
    assert after is not graph


@pytest.mark.parametrize("pass_name", ["cse", "dce"])
@pytest.mark.parametrize("model", list(MODELS))
def test_session(pass_name, model):
    compiled = check_session(pass_name, model)
    if model == "redundant" and pass_name == "cse":   # exp(x * 1.0) twice became once
        assert [n.op for n in compiled.graph.nodes].count("exp") == 1


def test_session_cse_keeps_variables_apart():
    a = gc.Variable(np.ones(3, np.float32), name="a")
    b = gc.Variable(np.ones(3, np.float32), name="b")
    total = a + b
    with gc.Session(passes=["cse"], verify=True) as sess:
        compiled = sess.compile(total)
        assert compiled.variable_names() == ["a", "b"]
        assert [n.op for n in compiled.graph.nodes] == ["variable", "variable", "add"]
        np.testing.assert_array_equal(sess.run(total), np.full(3, 2.0, np.float32))
