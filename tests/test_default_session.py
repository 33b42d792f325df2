"""The default session (TF1): ``Session.as_default``, ``with gc.Session() as sess``,
``gc.InteractiveSession``, ``gc.get_default_session``; ``Tensor.eval``, ``Operation.run``,
``Variable.load``; nesting, thread-locality and the errors (no default, closed, another
graph), which name the tensor and the user's line."""
import os
import threading

import numpy as np
import pytest

import graphc as gc
from graphc.errors import FeedError, GraphcError

HERE = os.path.relpath(__file__)


@pytest.fixture(autouse=True)
def no_default_left_over():
    assert gc.get_default_session() is None
    yield
    assert gc.get_default_session() is None   # every test leaves the stack as it found it


def test_eval_and_run_inside_as_default():
    x = gc.constant([1.0, 2.0]) * 3.0
    v = gc.Variable(np.float32(1), name="v")
    bump = gc.group(gc.assign_add(v, 1.0))
    sess = gc.Session()
    with sess.as_default() as entered:
        assert entered is sess and gc.get_default_session() is sess
        assert np.array_equal(x.eval(), [3.0, 6.0])
        assert bump.run() is None
        assert v.eval() == 2.0
    assert gc.get_default_session() is None
    assert not sess.closed and sess.run(v) == 2.0      # as_default does not close
    sess.close()
    assert sess.closed


def test_with_session_makes_it_the_default_and_closes_it():
    x = gc.constant(2.0) + 1.0
    with gc.Session() as sess:
        assert gc.get_default_session() is sess
        assert x.eval() == 3.0
    assert gc.get_default_session() is None and sess.closed
    with pytest.raises(GraphcError, match="closed"):
        x.eval(session=sess)


def test_with_session_pops_on_an_exception():
    with pytest.raises(ZeroDivisionError):
        with gc.Session():
            1 / 0
    assert gc.get_default_session() is None


def test_interactive_session():
    x = gc.constant([1, 2]) * 2
    sess = gc.InteractiveSession()
    assert isinstance(sess, gc.Session) and gc.get_default_session() is sess
    assert x.eval().tolist() == [2, 4]
    with gc.Session() as inner:   # a newer default wins while it lasts
        assert gc.get_default_session() is inner
    assert gc.get_default_session() is sess
    sess.close()
    assert gc.get_default_session() is None and sess.closed
    with pytest.raises(GraphcError, match="no default session is registered"):
        x.eval()
    sess.close()   # twice is fine


def test_interactive_session_takes_session_arguments():
    g = gc.Graph()
    with g.as_default():
        y = gc.constant(5.0) * 2.0
    sess = gc.InteractiveSession(graph=g, device="reference")
    try:
        assert sess.graph is g and sess.device == "reference" and y.eval() == 10.0
    finally:
        sess.close()


def test_nested_defaults_innermost_wins_and_is_restored():
    x = gc.placeholder(gc.float32, (), name="x")
    a, b = gc.Session(), gc.Session(device="reference")
    with a.as_default():
        assert gc.get_default_session() is a
        with b.as_default():
            assert gc.get_default_session() is b
            with a.as_default():
                assert gc.get_default_session() is a
            assert gc.get_default_session() is b
            assert x.eval({x: 4.0}) == 4.0
        assert gc.get_default_session() is a
    assert gc.get_default_session() is None
    a.close(), b.close()


def test_explicit_session_beats_the_default():
    v = gc.Variable(np.float32(0), name="v")
    load_a = gc.Session()
    other = gc.Session()
    with load_a.as_default():
        v.load(7.0)
        v.load(3.0, session=other)
        assert v.eval() == 7.0 and v.eval(session=other) == 3.0
        gc.group(gc.assign(v, 9.0)).run(session=other)
        assert v.eval() == 7.0 and v.eval(session=other) == 9.0
    load_a.close(), other.close()


def test_feed_dict_through_eval_and_run():
    x = gc.placeholder(gc.float32, (None,), name="x")
    v = gc.Variable(np.float32(0), name="v")
    store = gc.group(gc.assign(v, gc.sum(x)))
    with gc.Session():
        assert np.array_equal((x * 2.0).eval({x: [1.0, 2.0]}), [2.0, 4.0])
        assert np.array_equal((x * 2.0).eval(feed_dict={"x": np.ones(3, np.float32)}), [2.0, 2.0, 2.0])
        store.run({x: [1.0, 2.0, 3.0]})
        assert v.eval() == 6.0
        with pytest.raises(FeedError, match="'x'"):
            (x + 1.0).eval()   # the missing feed is the run's own error


def test_variable_load_then_eval():
    w = gc.Variable(np.zeros((2, 3), np.float32), name="w")
    n = gc.Variable(np.int32(0), name="n")
    doubled = w * 2.0
    with gc.Session():
        assert np.array_equal(doubled.eval(), np.zeros((2, 3)))   # (its lean fast path is remembered)
        value = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
        w.load(value)
        assert np.array_equal(w.eval(), value.astype(np.float32))
        assert np.array_equal(doubled.eval(), value.astype(np.float32) * np.float32(2))
        w.load([[1, 2, 3], [4, 5, 6]])
        assert w.eval().tolist() == [[1, 2, 3], [4, 5, 6]]
        n.load(41)
        gc.group(gc.assign_add(n, 1)).run()
        assert n.eval() == 42 and n.eval().dtype == np.int32
        mine = np.ones((2, 3), np.float32)
        w.load(mine)
        mine[:] = 5                                   # the session keeps its own copy
        assert np.array_equal(w.eval(), np.ones((2, 3)))


def test_an_assign_operation_run_changes_the_variable():
    v = gc.Variable(np.array([1.0, 2.0], np.float32), name="v")
    set_v = gc.group(gc.assign(v, [10.0, 20.0]), name="set_v")
    init = gc.global_variables_initializer()
    assert isinstance(set_v, gc.Operation) and isinstance(init, gc.Operation)
    with gc.Session():
        set_v.run()
        assert v.eval().tolist() == [10.0, 20.0]
        init.run()
        assert v.eval().tolist() == [1.0, 2.0]


def test_load_checks_shape_and_dtype():
    w = gc.Variable(np.zeros(2, np.float32), name="w")
    k = gc.Variable(np.zeros(2, np.int32), name="k")
    with gc.Session() as sess:
        line = test_load_checks_shape_and_dtype.__code__.co_firstlineno
        for fn, words in ((lambda: w.load(np.zeros(3, np.float32)), "shape (3,)"),
                          (lambda: w.load(np.zeros((2, 1), np.float32)), "shape (2, 1)"),
                          (lambda: w.load(np.ones(2, np.complex64)), "dtype complex64"),
                          (lambda: w.load(["a", "b"]), "dtype"),
                          (lambda: k.load([1.5, 2.5]), "cannot be safely converted"),
                          (lambda: k.load([1, 2 ** 40]), "outside the range")):
            with pytest.raises(FeedError) as info:
                fn()
            msg = str(info.value)
            assert msg.startswith("load at ") and HERE in msg and words in msg, msg
            assert "'w'" in msg or "'k'" in msg
            assert int(msg.split(":")[1].split(":")[0]) > line
        assert sess.run(w).tolist() == [0, 0] and sess.run(k).tolist() == [0, 0]   # nothing changed


def test_errors_name_the_tensor_and_the_line():
    x = gc.constant(1.0, name="x")
    op = gc.group(x, name="noop")
    v = gc.Variable(np.float32(0), name="v")
    cases = [
        (lambda: x.eval(), "eval", "Cannot evaluate tensor 'x' using eval(): no default session is registered. "
                                   "Use `with sess.as_default():` or pass session=sess"),
        (lambda: op.run(), "run", "Cannot execute operation 'noop' using run(): no default session is registered"),
        (lambda: v.load(1.0), "load", "Cannot load variable 'v' using load(): no default session is registered"),
        (lambda: x.eval(session="sess"), "eval", "session= must be a gc.Session, got str"),
    ]
    for build, method, words in cases:
        line = build.__code__.co_firstlineno
        with pytest.raises(GraphcError) as info:
            build()
        msg = str(info.value)
        assert msg.startswith(f"{method} at {HERE}:{line}: ") and words in msg, msg


def test_closed_and_other_graph_errors():
    x = gc.constant(1.0, name="x")
    closed = gc.Session()
    closed.close()
    with closed.as_default():
        closed_msg = "Cannot evaluate tensor 'x' using eval\\(\\): the default session is closed"
        with pytest.raises(GraphcError, match=closed_msg):
            x.eval()
        with pytest.raises(GraphcError, match="the default session is closed"):
            gc.global_variables_initializer().run()
    g = gc.Graph()
    with g.as_default():
        elsewhere = gc.constant(2.0, name="y")
    with gc.Session():
        with pytest.raises(GraphcError, match="default session's graph is different from the graph of 'y'"):
            elsewhere.eval()
        with pytest.raises(GraphcError, match="given session's graph is different"):
            x.eval(session=gc.Session(graph=g))
        assert elsewhere.eval(session=gc.Session(graph=g)) == 2.0
        assert x.eval() == 1.0


def test_the_default_is_per_thread():
    x = gc.constant(3.0)
    seen, errors = {}, []

    def other_thread():
        seen["default"] = gc.get_default_session()
        try:
            x.eval()
        except GraphcError as e:
            errors.append(str(e))
        with gc.Session() as mine:        # its own default, invisible to the main thread
            seen["mine"] = gc.get_default_session() is mine
            seen["value"] = x.eval()
            main_default.wait(5)

    main_default = threading.Event()
    with gc.Session() as sess:
        t = threading.Thread(target=other_thread)
        t.start()
        assert gc.get_default_session() is sess      # the other thread's Session is not ours
        main_default.set()
        t.join()
        assert gc.get_default_session() is sess
    assert seen["default"] is None and seen["mine"] and seen["value"] == 3.0
    assert errors and "no default session is registered" in errors[0]


def test_interactive_session_is_the_default_only_in_its_thread():
    x = gc.constant(1.0)
    sess = gc.InteractiveSession()
    seen = []
    t = threading.Thread(target=lambda: seen.append(gc.get_default_session()))
    t.start(), t.join()
    assert seen == [None] and x.eval() == 1.0
    closer = threading.Thread(target=sess.close)   # closed from another thread: still uninstalled
    closer.start(), closer.join()
    assert gc.get_default_session() is None


def test_many_threads_eval_in_one_default_session_each():
    x = gc.placeholder(gc.float32, (None,), name="x")
    y = gc.sum(x * x)
    results, errors = {}, []

    def work(i):
        try:
            with gc.Session() as sess:
                for _ in range(5):
                    assert gc.get_default_session() is sess
                    results[i] = float(y.eval({x: np.full(4, i, np.float32)}))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == {i: 4.0 * i * i for i in range(6)}
