"""Structurally equal kernels share one native function (runtime.kernel.structure_key):
N identical layers compile once, and kernels that differ in anything their code depends
on (an op, a constant's bits, a dtype, a shape, an index map, a reduction) never share."""
import ctypes
import re

import numpy as np
import pytest

import graphc as gc
from graphc.ops.registry import ELEMENTWISE, all_ops, get_op
from graphc.runtime import kernel as K
from conftest import assert_close


def _kernels(fetches, feeds):
    with gc.Session(device="reference") as sess:
        compiled = sess.compile(fetches, feeds)
    lowered = K.lower_kernels(compiled.call_plan.kernels(), lambda kernel: None)
    return compiled, {node.name: kernel for node, (kernel, _) in lowered.items()}


def test_identical_layers_share_one_function_and_give_numpys_numbers():
    rng = np.random.default_rng(0)
    x = gc.placeholder(gc.float64, (16, 32), name="x")
    weights = [rng.standard_normal((32, 32)) / 6 for _ in range(6)]
    h, want = x, rng.standard_normal((16, 32))
    a = want.copy()
    for i, w in enumerate(weights):
        h = gc.nn.layer_norm(gc.tanh(h @ gc.constant(w, name=f"w{i}"))) + h
        t = np.tanh(want @ w)
        want = (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, keepdims=True) + 1e-5) + want
    with gc.Session() as sess:
        got = sess.run(h, {x: a})
        compiled = sess.compile(h, {x: a})
    assert_close(got, want)
    addresses = {ctypes.cast(kernel.fn, ctypes.c_void_p).value for kernel in compiled._executor.kernels.values()}
    kernels = len(compiled._executor.kernels)
    defined = re.findall(r'define void @"?(k_[0-9a-f]+)"?\(', compiled.llvm_ir())
    assert kernels >= 12 and len(addresses) == len(defined) <= kernels // 4   # six layers, one set of functions


def test_constants_keep_their_values_whether_or_not_kernels_share():
    """A scalar constant is part of the code (``x * 2`` and ``x * 3`` are two functions); a
    larger one is a buffer, and kernels differing only in its values share the function."""
    x = gc.placeholder(gc.float32, (5, 7), name="x")
    rows = [np.arange(7, dtype=np.float32), -np.arange(7, dtype=np.float32)]
    fetches = [x * 2.0, x * 3.0, x * -0.0, x + gc.constant(rows[0]), x + gc.constant(rows[1])]
    _, kernels = _kernels(fetches, {x: (5, 7)})
    keys = [K.structure_key(k) for k in kernels.values()]
    assert len(set(keys[:3])) == 3 and keys[3] == keys[4] and len(kernels) == 5
    a = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)
    with gc.Session() as sess:
        got = sess.run(fetches, {x: a})
    np.testing.assert_array_equal(got[0], a * 2)
    np.testing.assert_array_equal(got[1], a * 3)
    assert np.array_equal(np.signbit(got[2]), np.signbit(a * -0.0))
    np.testing.assert_array_equal(got[3], a + rows[0])
    np.testing.assert_array_equal(got[4], a + rows[1])


def test_the_same_op_on_other_buffers_is_the_same_kernel():
    x = gc.placeholder(gc.float32, (5, 7), name="x")
    y = gc.placeholder(gc.float32, (5, 7), name="y")
    _, kernels = _kernels([gc.exp(x) * 2.0, gc.exp(y) * 2.0], {x: (5, 7), y: (5, 7)})
    keys = {K.structure_key(k) for k in kernels.values()}
    assert len(kernels) == 2 and len(keys) == 1


@pytest.mark.parametrize("build", [
    lambda x, y: [gc.exp(x) * 2.0, gc.exp(y) * 3.0],                  # an inlined constant's value
    lambda x, y: [gc.exp(x) * 0.0, gc.exp(y) * -0.0],                 # an inlined constant's bits
    lambda x, y: [gc.exp(x), gc.log(y)],                              # the op
    lambda x, y: [x + y, gc.transpose(x) + gc.reshape(y, (7, 5))],   # an index map (via shape (7,5))
    lambda x, y: [gc.sum(x, axis=0), gc.sum(y, axis=1)],              # the reduced axis
    lambda x, y: [gc.sum(x, axis=1), gc.max(y, axis=1)],              # the combiner
    lambda x, y: [gc.exp(gc.cast(x, gc.float64)), gc.exp(y)],         # a dtype
    lambda x, y: [gc.exp(x) + y, gc.exp(x) + y[:, ::-1]],             # a strided read
    lambda x, y: [gc.argmax(x, axis=1), gc.argmin(y, axis=1)],        # arg reductions
])
def test_kernels_that_differ_never_share(build):
    x = gc.placeholder(gc.float32, (5, 7), name="x")
    y = gc.placeholder(gc.float32, (5, 7), name="y")
    _, kernels = _kernels(build(x, y), {x: (5, 7), y: (5, 7)})
    keys = [K.structure_key(k) for k in kernels.values()]
    assert len(keys) == len(set(keys)) == len(kernels) >= 2


def test_every_elementwise_op_has_its_own_key():
    x = gc.placeholder(gc.float64, (4, 3), name="x")
    y = gc.placeholder(gc.float64, (4, 3), name="y")
    fetches = []
    for op in sorted(n for n in all_ops() if get_op(n).kind == ELEMENTWISE and n not in ("cast", "where")):
        arity = get_op(op).arity
        if arity in (1, 2):
            try:
                fetches.append(gc.get_default_graph().tensor(
                    gc.get_default_graph().add_node(op, [x.node] if arity == 1 else [x.node, y.node])))
            except (gc.GraphcError, TypeError):
                continue   # (an op that takes other dtypes, or attributes)
    _, kernels = _kernels(fetches, {x: (4, 3), y: (4, 3)})
    keys = [K.structure_key(k) for k in kernels.values()]
    assert len(kernels) >= 30 and len(set(keys)) == len(keys)

