"""The on-disk cache of whole optimized programs (runtime.program_cache): a fresh process
skips the passes, a changed graph misses, a bad entry is compiled again."""
import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc
from conftest import assert_close
from graphc.runtime import disk_cache, program_cache


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(directory))
    for name in ("GRAPHC_CACHE", "GRAPHC_PROGRAM_CACHE", "GRAPHC_DUMP"):
        monkeypatch.delenv(name, raising=False)
    return directory


def mlp(w_value=None):
    """A small graph: ((x @ w + b) -> tanh -> softmax), mean-reduced, over fed x."""
    rng = np.random.default_rng(3)
    w_value = rng.standard_normal((6, 5)).astype(np.float32) if w_value is None else w_value
    x = gc.placeholder(gc.float32, (None, 6), name="x")
    w = gc.constant(w_value)
    b = gc.Variable(np.linspace(-1, 1, 5).astype(np.float32), name="b")
    h = gc.nn.softmax(gc.tanh(x @ w + b))
    return x, w_value, b, h


def reference(x_value, w_value, b_value):
    h = np.tanh(x_value.astype(np.float64) @ w_value + b_value)
    e = np.exp(h - h.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


X = np.random.default_rng(4).standard_normal((7, 6)).astype(np.float32)
B = np.linspace(-1, 1, 5).astype(np.float32)


def compile_and_run(fetch, feeds):
    with gc.Session() as sess:
        compiled = sess.compile(fetch, feeds)
        return compiled, sess.run(fetch, feeds)


def test_second_compile_comes_from_the_cache_with_the_same_result(cache_dir):
    x, w, _, h = mlp()
    first, value = compile_and_run(h, {x: X})
    second, again = compile_and_run(h, {x: X})
    assert not first.from_cache and second.from_cache
    assert_close(value, reference(X, w, B))
    assert_close(again, reference(X, w, B))
    assert second.ir() == first.ir()
    assert str(second.explain()) == str(first.explain())
    assert [k.name for k in second.kernels] == [k.name for k in first.kernels]


def test_earlier_stages_are_recomputed_when_asked_for(cache_dir):
    x, _, _, h = mlp()
    first, _ = compile_and_run(h, {x: X})
    second, _ = compile_and_run(h, {x: X})
    assert second.from_cache and second.stages == first.stages
    for name in first.stages:
        assert second.ir(name) == first.ir(name)
    assert str(second.fusion) == str(first.fusion)
    assert second.dump().count("// graphc IR after") == len(first.stages)


@pytest.mark.parametrize("change", ["constant", "feed shape", "fetch", "passes"])
def test_a_changed_program_misses(cache_dir, change):
    x, w, _, h = mlp()
    compile_and_run(h, {x: X})
    fetch, feeds, options = h, {x: X}, {}
    if change == "constant":
        gc.reset_default_graph()
        x, w2, _, h = mlp(w + np.float32(1e-3))
        fetch, feeds = h, {x: X}
    elif change == "feed shape":
        feeds = {x: X[:3]}
    elif change == "fetch":
        fetch = gc.tanh(h)
    elif change == "passes":
        options = {"optimize": False}
    with gc.Session(**options) as sess:
        compiled = sess.compile(fetch, feeds)
        assert not compiled.from_cache
        value = sess.run(fetch, feeds)
    if change == "constant":
        assert_close(value, reference(X, w2, B))
    elif change == "feed shape":
        assert_close(value, reference(X[:3], w, B))


def test_a_training_step_from_the_cache_trains_the_same(cache_dir):
    """Two fresh graphs and sessions, one compiled and one from the cache, take the same
    three Adam steps: the same losses and variable values."""
    def train():
        gc.reset_default_graph()
        x, _, b, h = mlp()
        loss = gc.mean(gc.square(h - 0.25))
        step = gc.train.Adam(0.1).minimize(loss)
        with gc.Session() as sess:
            losses = [sess.run([loss, step], {x: X})[0] for _ in range(3)]
            return sess.compile([loss, step], {x: X}).from_cache, losses, sess.run(b)
    cold, warm = train(), train()
    assert not cold[0] and warm[0]
    np.testing.assert_array_equal(warm[1], cold[1])
    np.testing.assert_array_equal(warm[2], cold[2])
    assert not np.array_equal(cold[2], B)   # (the steps moved it)


def test_a_bad_entry_is_dropped_and_compiled_again(cache_dir):
    x, w, _, h = mlp()
    first, _ = compile_and_run(h, {x: X})
    with gc.Session() as sess:
        key = program_cache.program_key(gc.get_default_graph(), *_plan_of(sess, h, x))
    assert disk_cache.load(key) is not None
    disk_cache.store(key, b"\x01\x00\x00\x00 not a pickle")
    second, value = compile_and_run(h, {x: X})
    assert not second.from_cache
    assert_close(value, reference(X, w, B))
    third, _ = compile_and_run(h, {x: X})   # (the bad entry was replaced)
    assert third.from_cache


def _plan_of(sess, fetch, x):
    from graphc.runtime.updates import plan_run
    return plan_run(sess.graph, (fetch.node,)), {x.node: (np.dtype(np.float32), X.shape)}, sess.device, sess.passes


def test_switched_off_by_the_environment(cache_dir, monkeypatch):
    monkeypatch.setenv("GRAPHC_PROGRAM_CACHE", "0")
    x, _, _, h = mlp()
    compile_and_run(h, {x: X})
    second, _ = compile_and_run(h, {x: X})
    assert not second.from_cache


def test_verify_skips_the_cache(cache_dir):
    x, _, _, h = mlp()
    compile_and_run(h, {x: X})
    with gc.Session(verify=True) as sess:
        assert not sess.compile(h, {x: X}).from_cache


def test_an_attr_the_key_cannot_describe_is_not_cached(cache_dir, monkeypatch):
    x, w, _, h = mlp()
    with gc.Session() as sess:
        plan = _plan_of(sess, h, x)
    assert program_cache.program_key(gc.get_default_graph(), *plan) is not None
    for value in (object(), {"a": 1}, lambda: 1):
        with pytest.raises(program_cache._Unkeyable):
            program_cache._put(hashlib.sha256(), value)

    def unkeyable(h, value):
        raise program_cache._Unkeyable("test")
    monkeypatch.setattr(program_cache, "_put", unkeyable)
    assert program_cache.program_key(gc.get_default_graph(), *plan) is None
    second, value = compile_and_run(h, {x: X})   # (compiled, not cached)
    assert not second.from_cache
    assert_close(value, reference(X, w, B))


def test_attr_values_of_other_types_key_apart():
    """1, 1.0, True, (1,) and [1] and arrays of other dtypes or shapes (a 0-d array and its
    1-d twin, a found regression: the hypothesis test of movement ops met it) differ in the key."""
    def digest(value):
        h = hashlib.sha256()
        program_cache._put(h, value)
        return h.hexdigest()
    values = [1, 1.0, True, (1,), [1], "1", None, np.float32(1), np.int64(1),
              np.ones(2, np.float32), np.ones(2, np.float64), np.ones((2, 1), np.float32), np.zeros(0, np.float32),
              np.array(3.0, np.float32), np.array([3.0], np.float32), np.array([[3.0]], np.float32),
              np.zeros((0, 2), np.float32), np.zeros((2, 0), np.float32), np.arange(6.0).reshape(2, 3).T]
    assert len({digest(v) for v in values}) == len(values)


def test_a_fresh_process_runs_from_the_cache(cache_dir, tmp_path):
    """The use the cache is for: the same script in a new process skips the passes."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, graphc as gc
        x = gc.placeholder(gc.float32, (4, 8), name="x")
        w = gc.constant(np.arange(64, dtype=np.float32).reshape(8, 8) / 64)
        y = gc.max(gc.relu(x @ w), 1)
        with gc.Session() as sess:
            value = sess.run(y, {x: np.ones((4, 8), np.float32)})
            print(sess.compile(y, {x: np.ones((4, 8), np.float32)}).from_cache, repr(value.tolist()))
    """))
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(cache_dir)}
    runs = [subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, check=True)
            for _ in range(2)]
    (cold, cold_value), (warm, warm_value) = (r.stdout.split(" ", 1) for r in runs)
    expected = np.maximum(np.ones((4, 8)) @ (np.arange(64).reshape(8, 8) / 64), 0).max(1)
    assert (cold, warm) == ("False", "True")
    assert eval(cold_value) == eval(warm_value)
    np.testing.assert_allclose(eval(warm_value), expected, rtol=1e-6)


def test_a_graph_from_the_cache_has_numpys_own_dtypes_and_takes_the_lean_path(cache_dir):
    """An unpickled dtype is a copy of numpy's; the graph's are made numpy's own again, so
    the repeated run's checks by identity pass and it takes the lean path."""
    for _ in range(2):
        gc.reset_default_graph()
        x = gc.placeholder(gc.float32, (3, 4), name="x")
        y = gc.tanh(x) * 2.0
        value = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
        with gc.Session() as sess:
            compiled = sess.compile(y, {x: value})
            first = sess.run(y, {x: value})
            again = sess.run(y, {x: value})
            lean = sess._leans[y]
            assert lean({x: value}) is not None
    assert compiled.from_cache
    assert all(n.dtype is np.dtype(np.float32) for n in compiled.graph.nodes if n.dtype is not None)
    assert_close(first, np.tanh(value) * 2)
    assert_close(again, np.tanh(value) * 2)


def _movement_program(x, perm, reps, axis):
    """(key, specialized IR text) of constant x through transpose, reshape, tile, expand_dims."""
    from graphc.runtime.compiler import specialize
    from graphc.runtime.updates import plan_run
    graph = gc.Graph()
    with graph.as_default():
        t = gc.constant(x)
        outs = [gc.transpose(t, perm), gc.reshape(t, (-1,)) if x.size else gc.reshape(t, (0,)),
                gc.tile(t, reps), gc.expand_dims(t, axis - x.ndim - 1), gc.sum(t * 2.0)]
    plan = plan_run(graph, tuple(o.node for o in outs))
    key = program_cache.program_key(graph, plan, {}, "cpu", ("simplify",))
    return key, specialize(graph, plan.outputs, {}).to_text()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_two_programs_share_a_key_only_when_they_are_the_same(data):
    """Pairs of programs built by the same lines (the same names and source locations) from
    other constants (values, shapes, dtypes, rank 0 included) and attrs: equal keys exactly
    when the specialized programs are equal."""
    def draw():
        dtype = data.draw(st.sampled_from([np.float32, np.float64, np.int32]))
        x = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
                                 elements=st.integers(-3, 3)))
        perm = tuple(data.draw(st.permutations(range(x.ndim))))
        reps = tuple(data.draw(st.lists(st.integers(0, 2), max_size=3)))
        return x, perm, reps, data.draw(st.integers(0, x.ndim))
    (key_a, text_a), (key_b, text_b) = _movement_program(*draw()), _movement_program(*draw())
    assert (key_a == key_b) == (text_a == text_b)


def test_a_program_that_does_not_pickle_is_compiled_and_not_cached(cache_dir, monkeypatch):
    """The cache is an optimization: a pass report that cannot be pickled leaves the
    program compiled, correct and uncached."""
    import pickle

    def refuse(*args, **kwargs):
        raise pickle.PicklingError("not this one")
    x, w, _, h = mlp()
    with monkeypatch.context() as patched:
        patched.setattr(program_cache.pickle, "dumps", refuse)
        first, value = compile_and_run(h, {x: X})
    second, _ = compile_and_run(h, {x: X})   # (nothing was stored: compiled again, and stored now)
    third, _ = compile_and_run(h, {x: X})
    assert not first.from_cache and not second.from_cache and third.from_cache
    assert_close(value, reference(X, w, B))
