"""Kernels whose output overlaps none of their inputs carry LLVM alias scopes, and in-place
updates load the value they overwrite through the output's own pointer, so LLVM vectorizes
them without runtime overlap checks (whose scalar fallback is what an in-place update took:
its input and output addresses are equal). The values must stay right on every path a run
takes: bound and in place, step by step (check_numerics: a fresh output, seeded with the
variable's values), and a variable whose array cannot be written in place."""
import numpy as np
import pytest

import graphc as gc
from conftest import assert_close

CHECKS = ("found.conflict", "diff.check")   # LLVM's names for its runtime overlap checks


def _momentum_reference(w, c, steps, lr=0.05, mu=0.9):
    """SGD with momentum on sum(c * w^2) in float64: v = mu v + g, w -= lr v."""
    w, v = w.astype(np.float64), np.zeros_like(w, np.float64)
    for _ in range(steps):
        v = mu * v + 2.0 * c * w
        w = w - lr * v
    return w


def _momentum_step(n, seed):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(n).astype(np.float32)
    c0 = rng.uniform(0.5, 2.0, n).astype(np.float32)
    w = gc.Variable(w0, name="w")
    c = gc.placeholder(gc.float32, (n,), name="c")
    step = gc.train.SGD(0.05, momentum=0.9).minimize(gc.sum(c * gc.square(w)))
    return w, c, step, w0, c0


@pytest.mark.parametrize("n", [1, 15, 16, 17, 64, 1000, 4099])
def test_in_place_updates_are_scoped_right_and_unchecked(n):
    w, c, step, w0, c0 = _momentum_step(n, n)
    with gc.Session() as sess:
        compiled = sess.compile(step, {c: c0})
        assert "w" in {name for name, _ in compiled.inplace.values()}
        assert "alias.scope" in compiled.llvm_ir()
        optimized = compiled.llvm_ir(optimized=True)
        assert not any(check in optimized for check in CHECKS)
        for _ in range(3):
            sess.run(step, {c: c0})
        assert_close(sess.run(w), _momentum_reference(w0, c0, 3).astype(np.float32), np.float32)


def test_step_by_step_and_read_only_variables_seed_the_output():
    """check_numerics runs the same kernels step by step into fresh outputs; a variable
    whose array is read-only gets a fresh output on the bound path too: both copy the
    variable's values in before a kernel that reads them through its output."""
    w, c, step, w0, c0 = _momentum_step(333, 7)
    with gc.Session() as sess:
        sess.run(step, {c: c0})
        sess.run(step, {c: c0}, check_numerics=True)
        sess._variables["w"].flags.writeable = False
        sess.run(step, {c: c0})
        assert sess._variables["w"].flags.writeable   # (the update's fresh array is kept)
        sess.run(step, {c: c0}, check_numerics=True)
        assert_close(sess.run(w), _momentum_reference(w0, c0, 4).astype(np.float32), np.float32)


@pytest.mark.parametrize("n", [1, 16, 17, 1000])
def test_a_chain_written_over_its_input_in_the_arena(n):
    """Unfused, exp(x + b) -> neg -> relu writes each value over the one before it (an
    in-place chain of the memory plan): loaded through the output's pointer, unchecked, and
    numpy's numbers on both paths."""
    rng = np.random.default_rng(n)
    a, c = rng.standard_normal((3, n)).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    x = gc.placeholder(gc.float32, (3, n), name="x")
    b = gc.placeholder(gc.float32, (n,), name="b")
    out = gc.sum(gc.relu(-gc.exp(x + b)) + x, axis=1)
    want = (np.maximum(-np.exp(a.astype(np.float64) + c), 0) + a).sum(1).astype(np.float32)
    with gc.Session(optimize=False) as sess:
        compiled = sess.compile(out, {x: a, b: c})
        assert any(len(buffer.values) > 2 for buffer in compiled.memory_plan.buffers)
        assert not any(check in compiled.llvm_ir(optimized=True) for check in CHECKS)
        assert_close(sess.run(out, {x: a, b: c}), want, np.float32)
        assert_close(sess.run(out, {x: a, b: c}, check_numerics=True), want, np.float32)
