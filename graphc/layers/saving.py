"""Weights to and from ``.npz`` files, keyed by variable name (``dense/kernel``), and the
atomic writes that every file of gc.layers uses."""
import contextlib
import os
import tempfile

import numpy as np


def npz_path(path):
    """``path`` with the ``.npz`` suffix numpy adds when it is missing."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


@contextlib.contextmanager
def atomic_write(path):
    """A binary file to write that replaces ``path`` only once it is complete: a crash or
    an error mid-write leaves what was at ``path`` before untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # (mkstemp's file is private; a saved file gets the usual mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save(path, names, values):
    """Write ``{name: value}`` to ``path`` (``.npz`` appended when missing); returns the path."""
    path = npz_path(path)
    with atomic_write(path) as f:
        np.savez(f, **dict(zip(names, values)))
    return path


def load(path, expected):
    """The arrays of ``path`` in the order of ``expected`` [(name, shape)], after checking
    that the file holds exactly these variables with these shapes (errors name them)."""
    path = npz_path(path)
    with np.load(path, allow_pickle=False) as data:
        stored = {name: data[name] for name in data.files}
    problems = mismatches(expected, stored)
    if problems:
        raise ValueError(f"load_weights('{path}'): {'; '.join(problems)}")
    return [stored[name] for name, _ in expected]


def mismatches(expected, stored):
    """What differs between the variables ``expected`` [(name, shape)] and the arrays
    ``stored`` {name: array}: one phrase per missing, extra or reshaped variable."""
    names = {name for name, _ in expected}
    missing = [n for n, _ in expected if n not in stored]
    extra = [n for n in stored if n not in names]
    return ([f"missing variable(s) {', '.join(repr(n) for n in missing)}"] if missing else []) + \
        ([f"variable(s) the model does not have: {', '.join(repr(n) for n in extra)}"] if extra else []) + \
        [f"variable '{n}' has shape {tuple(s)} in the model but {stored[n].shape} in the file"
         for n, s in expected if n in stored and stored[n].shape != tuple(s)]
