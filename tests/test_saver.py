"""gc.train.Saver: TF1 checkpoints (graphc/saver.py, docs/training.md "Checkpoints")."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc import saver as saver_module
from graphc.errors import CheckpointError, GraphcError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def same(a, b):
    """Bit-identical arrays: dtype, shape and bytes (NaN payloads and -0.0 included)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def values_of(sess, variables):
    return [np.array(v) for v in sess.run(list(variables))]


def set_values(sess, variables, values):
    sess.run(gc.group(*[gc.assign(v, x) for v, x in zip(variables, values)]))


# -- round trips -----------------------------------------------------------------------------
EDGES = {
    "f32": np.array([[1.5, np.nan, -0.0], [np.inf, -np.inf, 1e-45]], np.float32),   # 1e-45: a denormal
    "f64": np.array([np.pi, -0.0, 5e-324, np.nan, 1e308]),
    "i32": np.array([np.iinfo(np.int32).min, -1, 0, np.iinfo(np.int32).max], np.int32),
    "i64": np.array([[np.iinfo(np.int64).min], [np.iinfo(np.int64).max]], np.int64),
    "flags": np.array([True, False, True]),
    "scalar": np.float32(2.75),
    "scalar_i64": np.int64(-12345678901234),
    "empty": np.zeros((0, 3), np.float64),
    "empty_i32": np.zeros((2, 0), np.int32),
    "one": np.array([7.0], np.float32),
}


def test_round_trip_is_bit_identical_for_every_dtype_and_shape(tmp_path):
    variables = {k: gc.Variable(v, name=k) for k, v in EDGES.items()}
    saver = gc.train.Saver()
    with gc.Session() as sess:
        prefix = saver.save(sess, str(tmp_path / "model.ckpt"))
        assert prefix == str(tmp_path / "model.ckpt")
        set_values(sess, [variables[k] for k in EDGES if np.size(EDGES[k])],
                   [np.ones_like(EDGES[k]) for k in EDGES if np.size(EDGES[k])])
        assert not same(sess.run(variables["f32"]), EDGES["f32"])
        saver.restore(sess, prefix)
        for k, expected in EDGES.items():
            assert same(sess.run(variables[k]), expected), k
    with np.load(prefix + ".npz", allow_pickle=False) as data:   # a plain .npz, as documented
        assert data.files == ["__graphc_checkpoint__"] + list(EDGES)
        for k, expected in EDGES.items():
            assert same(data[k], expected), k
        meta = json.loads(data["__graphc_checkpoint__"].tobytes())
    assert meta["format"] == "graphc-checkpoint" and meta["version"] == 1 and meta["graphc"] == gc.__version__
    assert meta["global_step"] is None
    assert meta["variables"]["i64"] == {"dtype": "int64", "shape": [2, 1]}
    assert meta["variables"]["scalar"] == {"dtype": "float32", "shape": []}
    assert meta["variables"]["empty"] == {"dtype": "float64", "shape": [0, 3]}


def test_a_new_session_and_a_new_graph_restore_the_values(tmp_path):
    w = gc.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
    with gc.Session() as sess:
        sess.run(gc.assign(w, w * 3.0 - 0.1))
        saved = sess.run(w)
        prefix = gc.train.Saver().save(sess, str(tmp_path / "m"))
    with gc.Session() as sess:   # starts w at its initial value
        gc.train.Saver().restore(sess, prefix)
        assert same(sess.run(w), saved)
    with gc.Graph().as_default():
        w2 = gc.Variable(np.zeros((2, 3), np.float32), name="w")
        with gc.Session() as sess:
            gc.train.Saver().restore(sess, prefix + ".npz")   # the file itself is accepted too
            assert same(sess.run(w2), saved)


def test_a_dict_var_list_saves_under_other_names(tmp_path):
    w = gc.Variable(np.float64([1.0, 2.0]), name="w")
    with gc.Session() as sess:
        prefix = gc.train.Saver({"encoder/kernel": w}).save(sess, str(tmp_path / "m"), write_meta_graph=False)
    with np.load(prefix + ".npz") as data:
        assert sorted(data.files) == ["__graphc_checkpoint__", "encoder/kernel"]
    with gc.Graph().as_default():
        other = gc.Variable(np.zeros(2), name="decoder/kernel")
        with gc.Session() as sess:
            gc.train.Saver({"encoder/kernel": other}).restore(sess, prefix)
            assert same(sess.run(other), np.float64([1.0, 2.0]))


def test_a_subset_restores_only_its_variables_and_extras_in_the_file_are_ignored(tmp_path):
    a = gc.Variable(np.float32([1, 2]), name="a")
    b = gc.Variable(np.int64([3, 4]), name="b")
    with gc.Session() as sess:
        everything = gc.train.Saver().save(sess, str(tmp_path / "all"))
        only_a = gc.train.Saver([a]).save(sess, str(tmp_path / "a"))
        with np.load(only_a + ".npz") as data:
            assert sorted(data.files) == ["__graphc_checkpoint__", "a"]
        set_values(sess, [a, b], [np.float32([9, 9]), np.int64([8, 8])])
        gc.train.Saver([a]).restore(sess, only_a)
        assert same(sess.run(a), np.float32([1, 2])) and same(sess.run(b), np.int64([8, 8]))
        set_values(sess, [a], [np.float32([5, 5])])
        gc.train.Saver([a]).restore(sess, everything)   # the file also holds b: ignored, as in TF1
        assert same(sess.run(a), np.float32([1, 2])) and same(sess.run(b), np.int64([8, 8]))


def test_the_restore_ops_are_built_once_with_the_saver(tmp_path):
    gc.Variable(np.float32([1, 2]), name="a")
    saver = gc.train.Saver()
    graph = gc.get_default_graph()
    with gc.Session() as sess:
        prefix = saver.save(sess, str(tmp_path / "m"), write_meta_graph=False)
        size = len(graph.nodes)
        for _ in range(3):
            saver.save(sess, prefix, write_meta_graph=False)
            saver.restore(sess, prefix)
        assert len(graph.nodes) == size
    assert [n.name for n in graph.nodes if n.op == "placeholder"] == ["save/a"]


# -- global_step, max_to_keep, the state file ------------------------------------------------------
def state_lines(folder):
    with open(os.path.join(folder, "checkpoint")) as f:
        return f.read().splitlines()


def test_global_step_as_int_numpy_int_and_variable(tmp_path):
    step = gc.Variable(np.int64(0), name="global_step", trainable=False)
    saver = gc.train.Saver()
    base = str(tmp_path / "model.ckpt")
    with gc.Session() as sess:
        assert saver.save(sess, base, global_step=3) == base + "-3"
        assert saver.save(sess, base, global_step=np.int32(4)) == base + "-4"
        sess.run(gc.assign(step, 17))
        assert saver.save(sess, base, global_step=step) == base + "-17"
        assert gc.train.Saver(pad_step_number=True).save(sess, base, global_step=step) == base + "-00000017"
        with pytest.raises(CheckpointError, match="global_step"):
            saver.save(sess, base, global_step=np.float32(1.5))
    with np.load(base + "-17.npz") as data:
        assert json.loads(data["__graphc_checkpoint__"].tobytes())["global_step"] == 17
        assert same(data["global_step"], np.int64(17))


def test_max_to_keep_deletes_the_older_checkpoints(tmp_path):
    v = gc.Variable(np.float32(0), name="v")
    saver = gc.train.Saver(max_to_keep=2)
    base = str(tmp_path / "m")
    with gc.Session() as sess:
        for step in range(5):
            sess.run(gc.assign(v, float(step)))
            saver.save(sess, base, global_step=step)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-3.meta", "m-3.npz", "m-4.meta", "m-4.npz"]
    assert state_lines(tmp_path) == ['model_checkpoint_path: "m-4"', 'all_model_checkpoint_paths: "m-3"',
                                     'all_model_checkpoint_paths: "m-4"']
    assert saver.last_checkpoints == [base + "-3", base + "-4"]
    state = gc.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == base + "-4"
    assert state.all_model_checkpoint_paths == [base + "-3", base + "-4"]
    with gc.Session() as sess:
        saver.restore(sess, gc.train.latest_checkpoint(str(tmp_path)))
        assert sess.run(v) == 4.0


def test_max_to_keep_none_or_0_keeps_every_file(tmp_path):
    gc.Variable(np.float32(0), name="v")
    for keep in (None, 0):
        folder = tmp_path / str(keep)
        folder.mkdir()
        saver = gc.train.Saver(max_to_keep=keep)
        with gc.Session() as sess:
            for step in range(4):
                saver.save(sess, str(folder / "m"), global_step=step, write_meta_graph=False)
        assert sorted(os.listdir(folder)) == ["checkpoint"] + [f"m-{i}.npz" for i in range(4)]
        # as TF1: only the latest is listed in the state file
        assert state_lines(folder) == ['model_checkpoint_path: "m-3"', 'all_model_checkpoint_paths: "m-3"']
        assert saver.last_checkpoints == [str(folder / "m-3")]


def test_keep_checkpoint_every_n_hours_keeps_one_per_period(tmp_path, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(saver_module, "_now", lambda: clock[0] * 3600)
    gc.Variable(np.float32(0), name="v")
    saver = gc.train.Saver(max_to_keep=1, keep_checkpoint_every_n_hours=1.0)   # made at hour 0
    with gc.Session() as sess:
        for step, hour in enumerate([0.5, 1.2, 1.5, 2.0, 2.5, 3.0]):
            clock[0] = hour
            saver.save(sess, str(tmp_path / "m"), global_step=step, write_meta_graph=False)
    # m-0 (0.5h) goes; m-1 (1.2h, >= 1h) stays; m-2, m-3 (< 2.2h) go; m-4 (2.5h) stays
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-1.npz", "m-4.npz", "m-5.npz"]
    assert saver.last_checkpoints == [str(tmp_path / "m-5")]


def test_latest_checkpoint_across_savers_in_one_directory(tmp_path):
    folder = str(tmp_path)
    assert gc.train.latest_checkpoint(folder) is None and gc.train.get_checkpoint_state(folder) is None
    gc.Variable(np.float32(0), name="v")
    base = os.path.join(folder, "m")
    with gc.Session() as sess:
        first = gc.train.Saver(max_to_keep=3)
        for step in range(3):
            first.save(sess, base, global_step=step, write_meta_graph=False)
            assert gc.train.latest_checkpoint(folder) == f"{base}-{step}"
        assert gc.train.checkpoint_exists(base + "-1") and not gc.train.checkpoint_exists(base + "-7")
        # a fresh Saver (a restarted program) knows nothing of the earlier ones, as in TF1 ...
        second = gc.train.Saver(max_to_keep=3)
        second.save(sess, base, global_step=10, write_meta_graph=False)
        assert gc.train.latest_checkpoint(folder) == base + "-10"
        assert gc.train.get_checkpoint_state(folder).all_model_checkpoint_paths == [base + "-10"]
        assert gc.train.checkpoint_exists(base + "-0")   # ... and deletes none of them
        # ... unless told to take them over
        third = gc.train.Saver(max_to_keep=2)
        third.recover_last_checkpoints([f"{base}-{i}" for i in (0, 1, 2, 99)])   # 99: no file, skipped
        assert third.last_checkpoints == [base + "-0", base + "-1", base + "-2"]
        third.save(sess, base, global_step=11, write_meta_graph=False)
        assert third.last_checkpoints == [base + "-2", base + "-11"]
        assert not gc.train.checkpoint_exists(base + "-0") and not gc.train.checkpoint_exists(base + "-1")
        # saving the same prefix again moves it to the end, once
        third.save(sess, base, global_step=2, write_meta_graph=False)
        assert third.last_checkpoints == [base + "-11", base + "-2"]
        assert gc.train.latest_checkpoint(folder) == base + "-2"
    os.remove(base + "-2.npz")
    assert gc.train.latest_checkpoint(folder) is None   # the state file names a checkpoint that is gone


def test_state_files_as_tensorflow_writes_them_are_read(tmp_path):
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "model.ckpt-20"\n'
        'all_model_checkpoint_paths: "/abs/model.ckpt-10"\n'
        'all_model_checkpoint_paths: "model.ckpt-20"\n'
        "all_model_checkpoint_timestamps: 1712345678.25\n"
        "last_preserved_timestamp: 1712340000.5\n")
    state = gc.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == str(tmp_path / "model.ckpt-20")
    assert state.all_model_checkpoint_paths == ["/abs/model.ckpt-10", str(tmp_path / "model.ckpt-20")]
    (tmp_path / "other").write_text('model_checkpoint_path: "caf\\303\\251 \\"q\\"\\\\x"\n')   # TF's escapes
    assert gc.train.get_checkpoint_state(str(tmp_path), "other").model_checkpoint_path == \
        str(tmp_path / 'café "q"\\x')
    (tmp_path / "broken").write_text("this is not a state file\n")
    with pytest.warns(UserWarning, match="broken"):
        assert gc.train.get_checkpoint_state(str(tmp_path), "broken") is None


def test_odd_paths_round_trip_through_the_state_file(tmp_path):
    folder = tmp_path / 'dir with "quotes" \\ and café'
    folder.mkdir()
    gc.Variable(np.float32(1), name="v")
    with gc.Session() as sess:
        prefix = gc.train.Saver().save(sess, str(folder / "m\tx"), global_step=1, write_meta_graph=False)
    assert gc.train.latest_checkpoint(str(folder)) == prefix


def test_save_needs_an_existing_parent_directory(tmp_path):
    gc.Variable(np.float32(1), name="v")
    with gc.Session() as sess, pytest.raises(ValueError, match="Parent directory of .*nope/m doesn't exist"):
        gc.train.Saver().save(sess, str(tmp_path / "nope" / "m"))
    assert os.listdir(tmp_path) == []


def test_the_meta_graph_file_is_a_graph_file(tmp_path):
    w = gc.Variable(np.float32([1, 2]), name="w")
    loss = gc.sum(w * w)
    with gc.Session() as sess:
        prefix = gc.train.Saver().save(sess, str(tmp_path / "m"))
        no_meta = gc.train.Saver().save(sess, str(tmp_path / "n"), write_meta_graph=False)
    assert not os.path.exists(no_meta + ".meta")
    loaded = gc.load_graph(prefix + ".meta")
    assert [n.name for n in loaded.graph.variables()] == ["w"]
    with gc.Session(loaded.graph) as sess:
        gc.train.Saver(gc.global_variables(loaded.graph)).restore(sess, prefix)
        assert sess.run(loaded.graph.tensor(loss.name)) == 5.0


def test_bad_var_lists_and_sessions_are_errors(tmp_path):
    a = gc.Variable(np.float32(1), name="a")
    with pytest.raises(CheckpointError, match="'a' is in var_list twice"):
        gc.train.Saver([a, a])
    with pytest.raises(CheckpointError, match="'a' is in var_list twice"):
        gc.train.Saver({"x": a, "y": a})
    with pytest.raises(CheckpointError, match="not a gc.Variable"):
        gc.train.Saver([a, a + 1])
    with pytest.raises(CheckpointError, match="__graphc_checkpoint__"):
        gc.train.Saver({"__graphc_checkpoint__": a})
    with gc.Graph().as_default():
        with pytest.raises(CheckpointError, match="no variables to save"):
            gc.train.Saver()
        b = gc.Variable(np.float32(1), name="b")
        with pytest.raises(CheckpointError, match="different graphs"):
            gc.train.Saver([a, b])
        other = gc.Session()
    with pytest.raises(CheckpointError, match="another graph"):
        gc.train.Saver([a]).save(other, str(tmp_path / "m"))
    with gc.Session() as sess:
        assert gc.train.Saver([], allow_empty=True).save(sess, str(tmp_path / "m")) is None


# -- restore errors: each one changes nothing ----------------------------------------------------
@pytest.fixture
def trained(tmp_path):
    """Variables w, b, a checkpoint of them (values 1..), and a Session where they hold other values."""
    w = gc.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
    b = gc.Variable(np.float64([0.5, -0.5]), name="b")
    saver = gc.train.Saver()
    sess = gc.Session()
    prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=1)
    current = [np.full((3, 2), 7, np.float32), np.float64([8, 9])]
    set_values(sess, [w, b], current)
    yield saver, sess, prefix, [w, b], current
    sess.close()


def unchanged(sess, variables, current):
    return all(same(x, y) for x, y in zip(values_of(sess, variables), current))


def rewrite(path, transform):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(transform(data))


def write_npz(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def checkpoint_arrays(prefix):
    with np.load(prefix + ".npz") as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads(arrays["__graphc_checkpoint__"].tobytes())


def with_meta(arrays, meta):
    return {**arrays, "__graphc_checkpoint__": np.frombuffer(json.dumps(meta).encode(), np.uint8)}


def damage_truncate(prefix, tmp_path):
    rewrite(prefix + ".npz", lambda d: d[: len(d) // 2])
    return prefix, "is damaged"


def damage_flip(prefix, tmp_path):
    rewrite(prefix + ".npz", lambda d: d[: len(d) // 2] + bytes([d[len(d) // 2] ^ 0x10]) + d[len(d) // 2 + 1:])
    return prefix, "is damaged"


def damage_not_zip(prefix, tmp_path):
    rewrite(prefix + ".npz", lambda d: b"model_checkpoint_path: nothing here\n" * 10)
    return prefix, "is damaged: BadZipFile"


def damage_empty_file(prefix, tmp_path):
    rewrite(prefix + ".npz", lambda d: b"")
    return prefix, "is damaged"


def damage_foreign_npz(prefix, tmp_path):
    arrays, _ = checkpoint_arrays(prefix)
    del arrays["__graphc_checkpoint__"]
    write_npz(prefix + ".npz", arrays)   # the right arrays, but written by np.savez
    return prefix, "is not a graphc checkpoint, or a damaged one.*no '__graphc_checkpoint__' entry"


def damage_other_format(prefix, tmp_path):
    arrays, meta = checkpoint_arrays(prefix)
    write_npz(prefix + ".npz", with_meta(arrays, {**meta, "format": "something-else"}))
    return prefix, "is not a graphc checkpoint .*'something-else'"


def damage_format_version(prefix, tmp_path):
    arrays, meta = checkpoint_arrays(prefix)
    write_npz(prefix + ".npz", with_meta(arrays, {**meta, "version": 2, "graphc": "9.9"}))
    return prefix, r"format version 2 \(written by graphc 9.9\).*reads version 1"


def damage_metadata_lies(prefix, tmp_path):
    arrays, meta = checkpoint_arrays(prefix)
    arrays["w"] = arrays["w"][:2]
    write_npz(prefix + ".npz", arrays)   # metadata kept: it says w is (3, 2)
    return prefix, "is damaged: .*not the ones its metadata lists"


def damage_shape(prefix, tmp_path):
    arrays, meta = checkpoint_arrays(prefix)
    arrays["w"] = np.zeros((2, 3), np.float32)
    meta["variables"]["w"]["shape"] = [2, 3]
    write_npz(prefix + ".npz", with_meta(arrays, meta))
    return prefix, r"variable 'w' has shape \(3, 2\) in the graph but \(2, 3\) in the file"


def damage_dtype(prefix, tmp_path):
    arrays, meta = checkpoint_arrays(prefix)
    arrays["b"] = arrays["b"].astype(np.float32)
    meta["variables"]["b"]["dtype"] = "float32"
    write_npz(prefix + ".npz", with_meta(arrays, meta))
    return prefix, "variable 'b' has dtype float64 in the graph but float32 in the file"


def damage_missing_variable(prefix, tmp_path):
    arrays, meta = checkpoint_arrays(prefix)
    del arrays["b"], meta["variables"]["b"]
    write_npz(prefix + ".npz", with_meta(arrays, meta))
    return prefix, "does not match the Saver's variables: missing variable\\(s\\) 'b'"


def damage_missing_file(prefix, tmp_path):
    return str(tmp_path / "model.ckpt-2"), \
        r"no checkpoint '.*model.ckpt-2': there is no file .*the latest checkpoint in .* is '.*model.ckpt-1'"


def damage_directory(prefix, tmp_path):
    return str(tmp_path), r"is a directory, not a checkpoint prefix; its latest checkpoint is '.*model.ckpt-1'"


def damage_none(prefix, tmp_path):
    return None, "save_path is None"


@pytest.mark.parametrize("damage", [damage_truncate, damage_flip, damage_not_zip, damage_empty_file,
                                    damage_foreign_npz, damage_other_format, damage_format_version,
                                    damage_metadata_lies, damage_shape, damage_dtype, damage_missing_variable,
                                    damage_missing_file, damage_directory, damage_none],
                         ids=lambda f: f.__name__[len("damage_"):])
def test_a_failed_restore_names_the_problem_and_changes_nothing(trained, tmp_path, damage):
    saver, sess, prefix, variables, current = trained
    path, message = damage(prefix, tmp_path)
    with pytest.raises(CheckpointError, match=message) as info:
        saver.restore(sess, path)
    assert isinstance(info.value, GraphcError) and isinstance(info.value, ValueError)
    if path is not None:
        assert f"'{path}'" in str(info.value)
    assert unchanged(sess, variables, current)


def test_every_single_byte_flip_is_caught_or_harmless(trained):
    """Flip each byte of a checkpoint in turn: restore either fails (changing nothing) or, where
    the byte is one zip does not check and needs (a timestamp, a local copy of a size), restores
    exactly the saved values."""
    saver, sess, prefix, variables, current = trained
    with open(prefix + ".npz", "rb") as f:
        original = f.read()
    saved = [np.arange(6, dtype=np.float32).reshape(3, 2), np.float64([0.5, -0.5])]
    caught = 0
    for i in range(len(original)):
        with open(prefix + ".npz", "wb") as f:
            f.write(original[:i] + bytes([original[i] ^ 0xFF]) + original[i + 1:])
        try:
            saver.restore(sess, prefix)
        except CheckpointError:
            caught += 1
            assert unchanged(sess, variables, current), i
        else:
            assert all(same(x, y) for x, y in zip(values_of(sess, variables), saved)), i
            set_values(sess, variables, current)
    assert caught > 0.7 * len(original), (caught, len(original))   # the data and headers are CRC-checked


# -- a crash mid-save leaves the previous checkpoint -------------------------------------------
def test_a_crash_mid_save_leaves_the_previous_checkpoint(trained, tmp_path, monkeypatch):
    saver, sess, prefix, variables, current = trained
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    real_write_array = np.lib.format.write_array
    calls = []

    def half_then_crash(fp, array, *args, **kwargs):   # the second variable: half its bytes, then a crash
        calls.append(array.shape)
        if len(calls) == 3:
            fp.write(array.tobytes()[: array.nbytes // 2])
            raise OSError(28, "No space left on device")
        return real_write_array(fp, array, *args, **kwargs)
    monkeypatch.setattr(np.lib.format, "write_array", half_then_crash)
    with pytest.raises(OSError, match="No space left"):
        saver.save(sess, prefix)   # the same prefix: it would replace the earlier file
    monkeypatch.undo()
    assert len(calls) == 3
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == before   # no temp files

    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("the machine went down")))
    with pytest.raises(OSError, match="went down"):
        saver.save(sess, str(tmp_path / "model.ckpt"), global_step=2)
    monkeypatch.setattr(os, "replace", lambda src, dst: real_replace(src, dst) if dst.endswith(".npz")
                        else (_ for _ in ()).throw(OSError("the machine went down")))
    with pytest.raises(OSError, match="went down"):   # the data is written, the .meta is not
        saver.save(sess, str(tmp_path / "model.ckpt"), global_step=3)
    monkeypatch.undo()
    after = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    assert sorted(after) == sorted(before) + ["model.ckpt-3.npz"]   # nothing else, no temp files
    assert all(after[name] == data for name, data in before.items())
    assert gc.train.latest_checkpoint(str(tmp_path)) == prefix
    saver.restore(sess, prefix)
    assert same(sess.run(variables[0]), np.arange(6, dtype=np.float32).reshape(3, 2))


# -- resuming training in another process is bit-identical ----------------------------------------
TRAIN_SCRIPT = '''
import os, sys
import numpy as np
import graphc as gc


def run(mode, folder, steps, out):
    """mode: "start" (train, save), "resume" (restore the latest, train) or "full"."""
    rng = np.random.RandomState(0)
    x_data = rng.randn(32, 5).astype(np.float32)
    y_data = rng.randint(0, 3, 32)
    with gc.Graph().as_default():
        step = gc.Variable(np.int64(0), name="global_step", trainable=False)
        x = gc.constant(x_data) + gc.random.normal((32, 5), stddev=0.1, seed=step)   # new noise each step
        w1 = gc.Variable(rng.randn(5, 16).astype(np.float32) * 0.5, name="w1")
        b1 = gc.Variable(np.zeros(16, np.float32), name="b1")
        w2 = gc.Variable(rng.randn(16, 3).astype(np.float32) * 0.5, name="w2")
        b2 = gc.Variable(np.zeros(3, np.float32), name="b2")
        logits = gc.relu(x @ w1 + b1) @ w2 + b2
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits, gc.constant(y_data)))
        train = gc.train.Adam(0.05).minimize(loss, global_step=step)
        saver = gc.train.Saver()
        everything = gc.global_variables()
        with gc.Session() as sess:
            if mode == "resume":
                saver.restore(sess, gc.train.latest_checkpoint(folder))
            losses = [sess.run([train, loss])[1] for _ in range(steps)]
            if mode == "start":
                saver.save(sess, os.path.join(folder, "model.ckpt"), global_step=step)
            values = sess.run(everything)
    np.save(out + "-losses.npy", np.array(losses))
    np.savez(out + "-variables.npz", **{v.name.replace("/", "|"): a for v, a in zip(everything, values)})


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
'''


def test_training_resumed_in_a_fresh_process_is_bit_identical(tmp_path):
    script = tmp_path / "train_mlp.py"
    script.write_text(TRAIN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for mode, steps in (("start", 6), ("resume", 5)):
        subprocess.run([sys.executable, str(script), mode, str(tmp_path), str(steps), str(tmp_path / mode)],
                       check=True, env=env, timeout=120, cwd=str(tmp_path))
    assert gc.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-6")
    with np.load(tmp_path / "model.ckpt-6.npz") as data:   # Adam's slots and step are in it
        assert {"w1/Adam/m", "w1/Adam/v", "Adam/step", "global_step"} <= set(data.files)
    namespace = {}
    exec(compile(TRAIN_SCRIPT, str(script), "exec"), namespace)
    namespace["run"]("full", str(tmp_path), 11, str(tmp_path / "full"))

    full = np.load(tmp_path / "full-losses.npy")
    resumed = np.concatenate([np.load(tmp_path / "start-losses.npy"), np.load(tmp_path / "resume-losses.npy")])
    assert full.shape == (11,) and full[-1] < full[0]
    assert np.array_equal(resumed, full)
    with np.load(tmp_path / "full-variables.npz") as a, np.load(tmp_path / "resume-variables.npz") as b:
        assert sorted(a.files) == sorted(b.files) and len(a.files) == 14   # 4 weights, 8 slots, 2 steps
        for name in a.files:
            assert same(a[name], b[name]), name
        assert int(b["global_step"]) == 11
