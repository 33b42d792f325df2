"""Weights to and from ``.npz`` files, keyed by variable name (``dense/kernel``). The atomic
writes that every file of gc.layers uses live in graphc/file_io.py (also reachable here)."""
import os

import numpy as np

from ..file_io import atomic_write, mismatches  # noqa: F401  (moved to graphc/file_io.py; kept here by name)


def npz_path(path):
    """``path`` with the ``.npz`` suffix numpy adds when it is missing."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


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
