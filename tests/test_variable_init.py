"""A variable whose initial value is a constant, or a constant reshaped, transposed or
broadcast (weights; an optimizer's zero slots), starts without compiling a program; any
other initial value is compiled and run as before. The values are the same either way."""
import numpy as np

import graphc as gc
from graphc.runtime import compiler


def _programs_made(build):
    made = []
    compiler.PROGRAM_HOOKS.append(made.append)
    try:
        return build(), made
    finally:
        compiler.PROGRAM_HOOKS.remove(made.append)


def test_constant_and_broadcast_initial_values_compile_nothing():
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    a = gc.Variable(w, name="a")
    b = gc.Variable(gc.broadcast_to(gc.constant(0.0, gc.float64), (5, 2)), name="b")
    c = gc.Variable(gc.transpose(gc.reshape(gc.constant(w), (4, 3))), name="c")
    sess, made = _programs_made(gc.Session)
    assert made == []
    with sess:
        got = sess.run([a, b, c])
    np.testing.assert_array_equal(got[0], w)
    np.testing.assert_array_equal(got[1], np.zeros((5, 2)))
    assert got[1].dtype == np.float64
    np.testing.assert_array_equal(got[2], w.reshape(4, 3).T)


def test_a_computed_initial_value_is_compiled_and_the_variable_owns_its_memory():
    w = np.ones((2, 2), np.float32)
    a = gc.Variable(gc.constant(w) * 3.0, name="a")
    b = gc.Variable(w, name="b")
    sess, made = _programs_made(gc.Session)
    assert len(made) == 1
    with sess:
        sess.run(gc.assign(b, b + 1.0))
        np.testing.assert_array_equal(sess.run(a), w * 3)
        np.testing.assert_array_equal(sess.run(b), w + 1)
    np.testing.assert_array_equal(w, np.ones((2, 2)))   # (the constant's array untouched)
