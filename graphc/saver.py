"""``gc.train.Saver``: TF1-style checkpoints of Variables, and the ``checkpoint`` state file.

    saver = gc.train.Saver(max_to_keep=3)          # every global Variable (optimizer slots too)
    with gc.Session() as sess:
        for step in range(1000):
            sess.run(train_op)
            if step % 100 == 0:
                saver.save(sess, "runs/model.ckpt", global_step=step)   # runs/model.ckpt-<step>
    with gc.Session() as sess:
        saver.restore(sess, gc.train.latest_checkpoint("runs"))

The files of the checkpoint with prefix ``P`` (``runs/model.ckpt-100``):

- ``P.npz``: a zip archive that ``np.load`` reads, entries stored (not compressed):
  ``__graphc_checkpoint__.npy`` first, a 1-D uint8 array holding UTF-8 JSON
  ``{"format": "graphc-checkpoint", "version": 1, "graphc": "<version>",
  "global_step": <int or null>, "variables": {"<name>": {"dtype": "float32", "shape": [..]}}}``,
  then one ``<name>.npy`` per variable, under its checkpoint name, in the Saver's order.
- ``P.meta`` (``write_meta_graph=True``): the graph as a graph file (``gc.save_graph``), which
  ``gc.load_graph`` reads back, the counterpart of TF1's ``import_meta_graph``.
- ``checkpoint`` in P's directory: TF's text state file, one ``key: "value"`` per line,
  ``model_checkpoint_path: "<latest>"`` then ``all_model_checkpoint_paths: "<path>"`` for
  each kept checkpoint, oldest first (paths relative to the directory when inside it).

Each file is written to a temporary file and renamed over the old one, so a crash or an
error mid-save leaves the earlier checkpoints and the earlier state file as they were.
``restore`` reads and checks the whole file before it changes anything, then sets every
variable in one run (one group of assigns, built with the Saver).
"""
import io
import json
import os
import re
import struct
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from .errors import CheckpointError
from .file_io import atomic_write, mismatches
from .graph_file import graphc_version, save_graph
from .placeholders import placeholder
from .state import assign, global_variables, group
from .tensor import Tensor, Variable

FORMAT = "graphc-checkpoint"
VERSION = 1
METADATA = "__graphc_checkpoint__"   # the entry (without ".npy") holding the JSON metadata
STATE_FILE = "checkpoint"
# what zipfile, zlib and numpy raise on a truncated, corrupted or foreign file
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, TypeError, IndexError,
           struct.error, NotImplementedError, RuntimeError, OverflowError)


def _now():
    return time.time()


class Saver:
    """Saves and restores Variables as checkpoints (TF1's ``tf.train.Saver``).

    ``var_list``: None (every global variable of the default graph: weights, optimizer
    slots and step counters), a list of Variables (saved under their names) or a dict
    ``{checkpoint name: Variable}``. ``max_to_keep``: how many recent checkpoints ``save``
    keeps (older files are deleted; None or 0 keeps every file and lists only the latest
    in the state file). ``keep_checkpoint_every_n_hours``: a checkpoint leaving the
    ``max_to_keep`` window is kept on disk anyway when it is at least this many hours
    newer than the last one kept so (the first: this many hours after the Saver was made).
    ``name``: the name scope of the restore ops (default "save"). ``allow_empty``: allow a
    Saver without variables (save writes nothing and returns None). ``pad_step_number``:
    the step in the prefix has 8 digits (``model-00000100``).

    The restore ops (one placeholder per variable and one group of assigns) are added to
    the variables' graph here, once.
    """

    def __init__(self, var_list=None, max_to_keep=5, keep_checkpoint_every_n_hours=10000.0, name=None,
                 allow_empty=False, pad_step_number=False):
        self._names, self._variables = _named_variables(var_list)
        if not self._variables and not allow_empty:
            raise CheckpointError("Saver: no variables to save (pass allow_empty=True for an empty Saver)")
        self.max_to_keep = max_to_keep
        self.keep_checkpoint_every_n_hours = float(keep_checkpoint_every_n_hours)
        self._pad_step_number = bool(pad_step_number)
        self._last = []   # [(prefix, time saved)], oldest first
        self._next_kept_time = _now() + self.keep_checkpoint_every_n_hours * 3600
        self._graph = self._variables[0].graph if self._variables else None
        self._feeds, self._restore_op = [], None
        if self._variables:
            with self._graph.as_default(), self._graph.name_scope(name or "save"):
                self._feeds = [placeholder(v.dtype, v.shape, name=v.name) for v in self._variables]
                self._restore_op = group(*[assign(v, f) for v, f in zip(self._variables, self._feeds)],
                                         name="restore_all")

    # -- saving ------------------------------------------------------------------------------
    def save(self, sess, save_path, global_step=None, latest_filename=None, write_meta_graph=True,
             write_state=True):
        """Write the variables' values to the checkpoint ``save_path`` (``save_path-<step>``
        when ``global_step`` is given: an int, or a Variable/Tensor, read in the same run as
        the variables) and return its prefix. ``write_state``: record it in the directory's
        state file (``latest_filename``, default "checkpoint") and delete the checkpoints
        ``max_to_keep`` lets go. ``write_meta_graph``: also write the graph to ``<prefix>.meta``.
        The values are read in one run of the Session: a consistent snapshot."""
        self._check_session(sess, "save")
        save_path = os.fspath(save_path)
        folder = os.path.dirname(save_path)
        if not os.path.isdir(folder or "."):
            raise CheckpointError(f"Parent directory of {save_path} doesn't exist, can't save.")
        if not self._variables:
            return None
        step_in_run = isinstance(global_step, Tensor)
        values = sess.run(self._variables + ([global_step] if step_in_run else []))
        step = None if global_step is None else _step_number(values.pop() if step_in_run else global_step)
        prefix = save_path if step is None else \
            f"{save_path}-{step:08d}" if self._pad_step_number else f"{save_path}-{step}"
        _write(prefix + ".npz", self._names, [_on_host(v) for v in values], step)
        if write_meta_graph:
            with atomic_write(prefix + ".meta") as f:
                save_graph(self._graph, f)
        if write_state:
            dropped = self._record(prefix)
            update_checkpoint_state(folder, prefix, self.last_checkpoints, latest_filename)
            for old in dropped:
                _delete(old)
        return prefix

    @property
    def last_checkpoints(self):
        """The prefixes of the checkpoints this Saver keeps, oldest first."""
        return [prefix for prefix, _ in self._last]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time):
        """Set the kept checkpoints: ``[(prefix, time saved as from time.time())]``, oldest first."""
        self._last = [(os.fspath(p), float(t)) for p, t in last_checkpoints_with_time]

    def recover_last_checkpoints(self, checkpoint_paths):
        """Take over checkpoints saved earlier (``get_checkpoint_state(dir).all_model_checkpoint_paths``),
        so that ``max_to_keep`` deletes them in turn; their times are the files' mtimes and
        those whose files are gone are skipped."""
        kept = []
        for prefix in checkpoint_paths:
            try:
                kept.append((os.fspath(prefix), os.path.getmtime(os.fspath(prefix) + ".npz")))
            except OSError:
                continue
        self.set_last_checkpoints_with_time(kept)

    def _record(self, prefix):
        """Add ``prefix`` as the newest kept checkpoint; the prefixes whose files go."""
        now = _now()
        self._last = [(p, t) for p, t in self._last if p != prefix] + [(prefix, now)]
        if not self.max_to_keep:   # keep every file, list the latest
            self._last = self._last[-1:]
            return []
        dropped = []
        while len(self._last) > self.max_to_keep:
            old, saved = self._last.pop(0)
            if saved >= self._next_kept_time:   # kept on disk: one every keep_checkpoint_every_n_hours
                self._next_kept_time = saved + self.keep_checkpoint_every_n_hours * 3600
            else:
                dropped.append(old)
        return dropped

    # -- restoring ---------------------------------------------------------------------------
    def restore(self, sess, save_path):
        """Set the variables to the values of the checkpoint ``save_path`` (a prefix, as
        ``save`` and ``latest_checkpoint`` return; its ``.npz`` file is accepted too).

        The whole file is read and checked first: it must be an undamaged graphc
        checkpoint of this format version holding every variable of the Saver with the
        same shape and dtype (variables the file holds beyond those are ignored, as in
        TF1). Any problem raises ``CheckpointError`` and changes nothing; otherwise every
        variable is set, bit for bit, in one run."""
        if save_path is None:
            raise CheckpointError("restore: save_path is None (gc.train.latest_checkpoint found no checkpoint?)")
        self._check_session(sess, "restore")
        save_path = os.fspath(save_path)
        stored = read_checkpoint(save_path)
        expected = list(zip(self._names, self._variables))
        present = {name: stored[name] for name, _ in expected if name in stored}
        problems = mismatches([(name, v.shape) for name, v in expected], present, where="the graph")
        problems += [f"variable '{name}' has dtype {v.dtype} in the graph but {present[name].dtype} in the file"
                     for name, v in expected if name in present and present[name].dtype.name != v.dtype.name]
        if problems:
            raise CheckpointError(f"checkpoint '{save_path}' does not match the Saver's variables: "
                                  f"{'; '.join(problems)}")
        if self._variables:
            sess.run(self._restore_op, {f: np.asarray(present[name], dtype=v.dtype, order="C")
                                        for f, (name, v) in zip(self._feeds, expected)})

    def _check_session(self, sess, what):
        graph = getattr(sess, "graph", None)
        if self._graph is not None and graph is not None and graph is not self._graph:
            raise CheckpointError(f"Saver.{what}: the Session runs another graph than the one of the "
                                  "Saver's variables")


# -- the checkpoint file ---------------------------------------------------------------------
def _write(path, names, values, step):
    """Write the checkpoint file ``path`` (atomically)."""
    meta = {"format": FORMAT, "version": VERSION, "graphc": graphc_version(), "global_step": step,
            "variables": {n: {"dtype": v.dtype.name, "shape": list(v.shape)} for n, v in zip(names, values)}}
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA + ".npy", _npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)))
        for name, value in zip(names, values):
            archive.writestr(name + ".npy", _npy(value))


def _npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def read_checkpoint(save_path):
    """``{checkpoint name: array}`` of the checkpoint ``save_path`` (a prefix or its ``.npz``
    file), after checking that the file is whole and in this format and version."""
    save_path = os.fspath(save_path)
    file = _checkpoint_file(save_path)
    try:
        with zipfile.ZipFile(file) as archive:
            entries = archive.namelist()
            if METADATA + ".npy" not in entries:
                raise CheckpointError(f"'{save_path}' is not a graphc checkpoint, or a damaged one: its file "
                                      f"'{file}' has no '{METADATA}' entry (a .npz written by something else?)")
            meta = _array(archive, METADATA)
            if meta.dtype != np.uint8 or meta.ndim != 1:
                raise ValueError(f"its '{METADATA}' entry is a {meta.dtype} array of shape {meta.shape}, "
                                 "not UTF-8 bytes")
            meta = json.loads(meta.tobytes().decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise CheckpointError(f"'{save_path}' is not a graphc checkpoint (its metadata names the format "
                                      f"{meta.get('format') if isinstance(meta, dict) else None!r})")
            if meta.get("version") != VERSION:
                raise CheckpointError(f"checkpoint '{save_path}' is in checkpoint format version "
                                      f"{meta.get('version')!r} (written by graphc {meta.get('graphc', '?')}); "
                                      f"this graphc ({graphc_version()}) reads version {VERSION}")
            listed = meta["variables"]
            if len(set(entries)) != len(entries) or any(not e.endswith(".npy") for e in entries):
                raise ValueError(f"unexpected entries {sorted(entries)}")
            stored = {e[:-4]: _array(archive, e[:-4]) for e in entries if e != METADATA + ".npy"}
            if {n: (d["dtype"], tuple(d["shape"])) for n, d in listed.items()} != \
                    {n: (a.dtype.name, a.shape) for n, a in stored.items()}:
                raise ValueError("its arrays are not the ones its metadata lists")
    except CheckpointError:
        raise
    except _DAMAGE as e:
        raise CheckpointError(f"checkpoint '{save_path}' is damaged: {type(e).__name__}: {e}") from None
    return stored


def _array(archive, name):
    return np.lib.format.read_array(io.BytesIO(archive.read(name + ".npy")), allow_pickle=False)


def _checkpoint_file(save_path):
    """The ``.npz`` file of checkpoint ``save_path``; an error with a hint when there is none."""
    if os.path.isdir(save_path):
        latest = latest_checkpoint(save_path)
        hint = f"; its latest checkpoint is '{latest}' (use gc.train.latest_checkpoint({save_path!r}))" \
            if latest else "; it has no checkpoint state file naming a checkpoint"
        raise CheckpointError(f"'{save_path}' is a directory, not a checkpoint prefix{hint}")
    for file in (save_path + ".npz",) + ((save_path,) if save_path.endswith(".npz") else ()):
        if os.path.isfile(file):
            return file
    folder = os.path.dirname(save_path) or "."
    latest = latest_checkpoint(folder) if os.path.isdir(folder) else None
    hint = f"; the latest checkpoint in '{folder}' is '{latest}'" if latest else ""
    raise CheckpointError(f"no checkpoint '{save_path}': there is no file '{save_path}.npz'{hint}")


def checkpoint_exists(checkpoint_prefix):
    """Whether the checkpoint ``checkpoint_prefix`` (a prefix or its ``.npz`` file) exists."""
    path = os.fspath(checkpoint_prefix)
    return os.path.isfile(path + ".npz") or (path.endswith(".npz") and os.path.isfile(path))


def _delete(prefix):
    for file in (prefix + ".npz", prefix + ".meta"):
        try:
            os.remove(file)
        except FileNotFoundError:
            pass
        except OSError as e:
            warnings.warn(f"gc.train.Saver: could not delete the old checkpoint file '{file}': {e}", stacklevel=3)


def _on_host(value):
    return value.get() if hasattr(value, "__cuda_array_interface__") else np.asarray(value)


def _step_number(value):
    array = np.asarray(value)
    whole = array.dtype.kind in "iu" or (array.dtype.kind == "f" and np.isfinite(array) and array == np.floor(array))
    if array.shape != () or not whole:
        raise CheckpointError(f"save: global_step must be an integer scalar, got {value!r}")
    return int(array)


def _named_variables(var_list):
    """(checkpoint names, Variables) of a Saver's ``var_list``, checked."""
    if var_list is None:
        var_list = global_variables()
    items = list(var_list.items()) if isinstance(var_list, dict) else [(None, v) for v in var_list]
    names, variables, by_node = [], [], {}
    for name, v in items:
        if not isinstance(v, Variable):
            raise CheckpointError(f"Saver: var_list holds {v!r}, not a gc.Variable")
        name = v.name if name is None else name
        if not isinstance(name, str) or not name or "\0" in name or name == METADATA:
            raise CheckpointError(f"Saver: {name!r} cannot name variable '{v.name}' in a checkpoint")
        if v.node in by_node:
            raise CheckpointError(f"Saver: variable '{v.name}' is in var_list twice "
                                  f"(as '{by_node[v.node]}' and '{name}')")
        if name in names:
            raise CheckpointError(f"Saver: two variables are saved under the name '{name}'")
        if variables and v.graph is not variables[0].graph:
            raise CheckpointError(f"Saver: variables '{variables[0].name}' and '{v.name}' belong to different graphs")
        by_node[v.node] = name
        names.append(name)
        variables.append(v)
    return names, variables


# -- the state file --------------------------------------------------------------------------
@dataclass
class CheckpointState:
    """What a directory's ``checkpoint`` state file says: the latest checkpoint and every
    kept one, oldest first (relative paths joined to the directory)."""
    model_checkpoint_path: str
    all_model_checkpoint_paths: list = field(default_factory=list)


def update_checkpoint_state(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                            latest_filename=None):
    """Write the state file of ``save_dir`` (``latest_filename``, default "checkpoint"),
    atomically: ``model_checkpoint_path`` is the latest, and the last of the listed ones."""
    save_dir = os.fspath(save_dir)
    paths = [os.fspath(p) for p in all_model_checkpoint_paths or ()]
    model_checkpoint_path = os.fspath(model_checkpoint_path)
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    lines = [f"model_checkpoint_path: {_quote(_relative(model_checkpoint_path, save_dir))}"] + \
        [f"all_model_checkpoint_paths: {_quote(_relative(p, save_dir))}" for p in paths]
    with atomic_write(os.path.join(save_dir, latest_filename or STATE_FILE)) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The :class:`CheckpointState` of ``checkpoint_dir``'s state file, or None when there is
    none (an unreadable one is ignored with a warning, as in TF1)."""
    checkpoint_dir = os.fspath(checkpoint_dir)
    file = os.path.join(checkpoint_dir, latest_filename or STATE_FILE)
    try:
        with open(file, "rb") as f:
            fields = _parse_state(f.read().decode("utf-8"))
        if not fields.get("model_checkpoint_path"):
            raise ValueError("no model_checkpoint_path")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except (OSError, ValueError) as e:
        warnings.warn(f"ignoring the checkpoint state file '{file}': {e}", stacklevel=2)
        return None
    resolve = lambda p: p if os.path.isabs(p) else os.path.join(checkpoint_dir, p)  # noqa: E731
    return CheckpointState(resolve(fields["model_checkpoint_path"][-1]),
                           [resolve(p) for p in fields.get("all_model_checkpoint_paths", [])])


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the latest checkpoint that ``checkpoint_dir``'s state file names, or
    None when there is no state file or its checkpoint's file is gone."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not checkpoint_exists(state.model_checkpoint_path):
        return None
    return state.model_checkpoint_path


def _relative(path, folder):
    """``path`` as the state file of ``folder`` writes it: its name when it lies in ``folder``."""
    if os.path.dirname(os.path.abspath(path)) == os.path.abspath(folder):
        return os.path.basename(path)
    return os.path.abspath(path)


_LINE = re.compile(r"\s*([A-Za-z_]\w*)\s*:\s*(.*?)\s*\Z")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"\Z|\'((?:[^\'\\]|\\.)*)\'\Z', re.S)
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))", re.S)
_SIMPLE_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b'"': b'"', b"'": b"'", b"\\": b"\\"}


def _quote(text):
    """``text`` as a text-format string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") \
        .replace("\t", "\\t") + '"'


def _unquote(literal):
    """The string of a text-format literal (C escapes, octal and hex bytes, UTF-8)."""
    match = _STRING.match(literal)
    if match is None:
        raise ValueError(f"not a string: {literal}")

    def one(m):
        if m.group(1):
            code = int(m.group(1), 8)
            if code > 255:
                raise ValueError(f"bad escape \\{m.group(1).decode()}")
            return bytes([code])
        if m.group(2):
            return bytes([int(m.group(2), 16)])
        if m.group(3) not in _SIMPLE_ESCAPES:
            raise ValueError(f"bad escape \\{m.group(3).decode(errors='replace')}")
        return _SIMPLE_ESCAPES[m.group(3)]
    body = match.group(1) if match.group(1) is not None else match.group(2)
    return _ESCAPE.sub(one, body.encode("utf-8")).decode("utf-8")


def _parse_state(text):
    """{field: [string values]} of a state file's path fields (other fields, such as TF's
    timestamps, are skipped)."""
    fields = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"line {number} is not 'key: value': {line!r}")
        key, value = match.groups()
        if key in ("model_checkpoint_path", "all_model_checkpoint_paths"):
            fields.setdefault(key, []).append(_unquote(value))
    return fields
