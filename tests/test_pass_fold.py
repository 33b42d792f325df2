"""fold_constants: before and after as IR text, the folded values bit for bit, the size cap,
and what never folds."""
import base64
import warnings

import numpy as np
import pytest

from graphc.errors import ExecutionError
from graphc.passes.fold import FOLD_LIMIT, fold_constants
from graphc.ir.interpret import run_graph
from passcheck import MODELS, assert_same_bits, check_pass, check_session, check_unchanged, ir


def blob(index, array):
    """The IR text line of a large constant (base64 of its little-endian bytes)."""
    dtype = {np.float32: "f32", np.float64: "f64", np.int32: "i32", np.int64: "i64"}[array.dtype.type]
    data = base64.b64encode(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()).decode()
    return f'blob {index}: {dtype}[{",".join(map(str, array.shape))}] = "{data}"'


def test_chain_folds_and_keeps_names_and_locations():
    check_pass(fold_constants, """
        %x: f32[3] = placeholder()
        %a: f32[] = constant() {value=3.0}  # model.py:1
        %b: f32[3] = constant() {value=[1.0, 2.0, 4.0]}  # model.py:2
        %c: f32[3] = add(%a, %b)  # model.py:3
        %d: f32[3] = sqrt(%c)  # model.py:4
        %y: f32[3] = multiply(%x, %d)  # model.py:5
        outputs(%y)
    """, """
        %x: f32[3] = placeholder()
        %d: f32[3] = constant() {value=[2.0, 2.236068, 2.6457512]}  # model.py:4
        %y: f32[3] = multiply(%x, %d)  # model.py:5
        outputs(%y)
    """)


def test_folded_special_values_are_exact_and_quiet():
    before = """
        %zero: f32[] = constant() {value=0.0}
        %nzero: f32[] = constant() {value=-0.0}
        %one: f32[] = constant() {value=1.0}
        %neg: f32[] = neg(%zero)
        %nan: f32[] = divide(%zero, %zero)
        %ninf: f32[] = divide(%one, %nzero)
        %log0: f32[] = log(%zero)
        %sum: f32[] = add(%nzero, %nzero)
        %sqrt: f32[] = sqrt(%nzero)
        outputs(%neg, %nan, %ninf, %log0, %sum, %sqrt)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # folding happens silently, as running does
        after = check_pass(fold_constants, before, """
            %neg: f32[] = constant() {value=-0.0}
            %nan: f32[] = constant() {value=nan}
            %ninf: f32[] = constant() {value=-inf}
            %log0: f32[] = constant() {value=-inf}
            %sum: f32[] = constant() {value=-0.0}
            %sqrt: f32[] = constant() {value=-0.0}
            outputs(%neg, %nan, %ninf, %log0, %sum, %sqrt)
        """)
    for node, want in zip(after.outputs, run_graph(ir(before), {}, {})):
        assert_same_bits(node.attrs["value"], want)   # the NaN's bits too, not just its text


def test_integer_overflow_wraps_as_it_does_when_run():
    check_pass(fold_constants, """
        %a: i32[2] = constant() {value=[2147483647, -2147483648]}
        %b: i32[] = constant() {value=1}
        %c: i32[2] = add(%a, %b)
        %d: f32[2] = cast(%c) {dtype=f32}
        outputs(%c, %d)
    """, """
        %c: i32[2] = constant() {value=[-2147483648, -2147483647]}
        %d: f32[2] = constant() {value=[-2147483648.0, -2147483648.0]}
        outputs(%c, %d)
    """)


def test_movement_reduction_matmul_fold():
    check_pass(fold_constants, """
        %x: f32[2] = placeholder()
        %m: f32[2,3] = constant() {value=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}
        %t: f32[3,2] = transpose(%m) {perm=(1, 0)}
        %s: f32[2] = sum(%t) {axes=(0,), keepdims=False}
        %v: f32[2] = constant() {value=[1.0, -1.0]}
        %p: f32[3] = matmul(%v, %m)
        %r: f32[3,1] = reshape(%p) {shape=(3, 1)}
        %g: i64[1] = constant() {value=[2]}
        %h: f32[1,1] = gather(%r, %g) {axis=0}
        %y: f32[2] = add(%x, %s)
        outputs(%y, %h)
    """, """
        %x: f32[2] = placeholder()
        %s: f32[2] = constant() {value=[6.0, 15.0]}
        %h: f32[1,1] = constant() {value=[-3.0]}
        %y: f32[2] = add(%x, %s)
        outputs(%y, %h)
    """)


def test_huge_broadcast_stays_unfolded():
    check_unchanged(fold_constants, """
        %c: f32[] = constant() {value=2.5}
        %b: f32[4096,4096] = broadcast_to(%c) {shape=(4096, 4096)}
        outputs(%b)
    """)


def test_fold_limit_boundary():
    side = int(np.sqrt(FOLD_LIMIT))
    assert side * side == FOLD_LIMIT
    check_pass(fold_constants, f"""
        %c: f32[] = constant() {{value=2.5}}
        %b: f32[{side},{side}] = broadcast_to(%c) {{shape=({side}, {side})}}
        outputs(%b)
    """, f"""
        %b: f32[{side},{side}] = constant() {{value=blob(0)}}
        outputs(%b)
        {blob(0, np.full((side, side), 2.5, np.float32))}
    """)
    check_unchanged(fold_constants, f"""
        %c: f32[] = constant() {{value=2.5}}
        %b: f32[{side + 1},{side}] = broadcast_to(%c) {{shape=({side + 1}, {side})}}
        outputs(%b)
    """)


def test_large_results_fold_when_no_larger_than_their_inputs():
    w = np.arange(100 * 100, dtype=np.float32).reshape(100, 100) / 7
    u = np.arange(3000, dtype=np.int64)
    after = check_pass(fold_constants, f"""
        %w: f32[100,100] = constant() {{value=blob(0)}}
        %t: f32[100,100] = transpose(%w) {{perm=(1, 0)}}
        %one: f32[] = constant() {{value=1.0}}
        %s: f32[100,100] = add(%t, %one)
        %u: i64[3000] = constant() {{value=blob(1)}}
        %c: i64[6000] = concat(%u, %u) {{axis=0}}
        %r: i64[2,3000] = reshape(%c) {{shape=(2, 3000)}}
        outputs(%s, %r)
        {blob(0, w)}
        {blob(1, u)}
    """, f"""
        %s: f32[100,100] = constant() {{value=blob(0)}}
        %r: i64[2,3000] = constant() {{value=blob(1)}}
        outputs(%s, %r)
        {blob(0, w.T + np.float32(1))}
        {blob(1, np.concatenate([u, u]).reshape(2, 3000))}
    """)
    value = after.node("s").attrs["value"]
    assert not value.flags.writeable and value.flags.c_contiguous and value.flags.owndata


def test_folded_constants_are_read_only_and_not_views():
    graph = ir("""
        %m: f32[2,3] = constant() {value=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}
        %t: f32[3,2] = transpose(%m) {perm=(1, 0)}
        %c: f32[] = constant() {value=1.5}
        %b: f32[4,3] = broadcast_to(%c) {shape=(4, 3)}
        outputs(%t, %b)
    """)
    after = fold_constants(graph)
    for node in after.outputs:
        value = node.attrs["value"]
        assert node.op == "constant" and not value.flags.writeable
        assert value.flags.owndata and value.flags.c_contiguous   # no view of %m, no zero strides
        with pytest.raises(ValueError):
            value[...] = 0


def test_placeholders_and_variables_never_fold():
    check_unchanged(fold_constants, """
        %x: f32[3] = placeholder()
        %v: f32[3] = variable() {initial_value='v/initial_value', trainable=True}
        %c: f32[] = constant() {value=2.0}
        %a: f32[3] = multiply(%x, %c)
        %b: f32[3] = multiply(%v, %c)
        %y: f32[3] = add(%a, %b)
        outputs(%y, %v, %x)
    """)


def test_effects_never_fold():
    check_pass(fold_constants, """
        %c: f32[3] = constant() {value=[1.0, 2.0, 3.0]}
        %d: f32[3] = neg(%c)
        %init: none = init_variables(%c, %d) {variables=('v', 'w')}
        outputs(%init)
    """, """
        %c: f32[3] = constant() {value=[1.0, 2.0, 3.0]}
        %d: f32[3] = constant() {value=[-1.0, -2.0, -3.0]}
        %init: none = init_variables(%c, %d) {variables=('v', 'w')}
        outputs(%init)
    """)


def test_fused_kernels_never_fold():
    check_pass(fold_constants, """
        %c: f32[3] = constant() {value=[1.0, 2.0, 3.0]}
        %two: f32[] = constant() {value=2.0}
        %d: f32[3] = multiply(%c, %two)
        %k: f32[3] = fused(%d) {kind='elementwise'}
            %p: f32[3] = placeholder()
            %e: f32[3] = exp(%p)
            %n: f32[3] = neg(%e)
            outputs(%n)
        outputs(%k)
    """, """
        %d: f32[3] = constant() {value=[2.0, 4.0, 6.0]}
        %k: f32[3] = fused(%d) {kind='elementwise'}
            %p: f32[3] = placeholder()
            %e: f32[3] = exp(%p)
            %n: f32[3] = neg(%e)
            outputs(%n)
        outputs(%k)
    """)


def test_failing_op_is_left_to_fail_at_run_time():
    before = """
        %x: f32[3] = constant() {value=[1.0, 2.0, 3.0]}
        %i: i64[1] = constant() {value=[7]}
        %g: f32[1] = gather(%x, %i) {axis=0}
        outputs(%g)
    """
    graph = ir(before)
    after = fold_constants(graph)
    assert after.to_text() == graph.to_text()
    for g in (graph, after):
        with pytest.raises(ExecutionError, match="gather"):
            run_graph(g, {}, {})


def test_linear_in_graph_size():
    # 5000 chained constant ops fold in one sweep (no recursion, no re-visits)
    lines = ["%c0: f32[4] = constant() {value=[1.0, 2.0, 3.0, 4.0]}", "%h: f32[] = constant() {value=0.5}"]
    lines += [f"%c{i}: f32[4] = multiply(%c{i - 1}, %h)" for i in range(1, 5001)]
    graph = ir("\n".join(lines) + "\noutputs(%c5000)\n")
    after = fold_constants(graph)
    assert [n.name for n in after.nodes] == ["c5000"]
    assert_same_bits(after.nodes[0].attrs["value"], run_graph(graph, {}, {})[0])


@pytest.mark.parametrize("model", list(MODELS))
def test_session(model):
    compiled = check_session("fold_constants", model)
    assert compiled.stages == ["specialize", "fold_constants"]
    if model == "redundant":  # sqrt(4) * arange(6) became one constant
        assert "sqrt" not in [n.op for n in compiled.graph.nodes]
