"""Helpers shared by every file graphc writes or reads back: atomic writes and the
comparison of stored variables with the ones a graph expects."""
import contextlib
import os
import tempfile


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


def mismatches(expected, stored, where="the model"):
    """What differs between the variables ``expected`` [(name, shape)] and the arrays
    ``stored`` {name: array}: one phrase per missing, extra or reshaped variable.
    ``where`` names what expects them in the phrases ("the model", "the graph")."""
    names = {name for name, _ in expected}
    missing = [n for n, _ in expected if n not in stored]
    extra = [n for n in stored if n not in names]
    return ([f"missing variable(s) {', '.join(repr(n) for n in missing)}"] if missing else []) + \
        ([f"variable(s) {where} does not have: {', '.join(repr(n) for n in extra)}"] if extra else []) + \
        [f"variable '{n}' has shape {tuple(s)} in {where} but {stored[n].shape} in the file"
         for n, s in expected if n in stored and stored[n].shape != tuple(s)]
