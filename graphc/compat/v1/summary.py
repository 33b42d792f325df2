"""``tf.summary``: TensorBoard event files through graphc.summary (TF1's signatures)."""
from ... import summary as gc_summary
from ...summary import FileWriter  # noqa: F401  (a tf.summary name)

__all__ = ["scalar", "histogram", "merge", "merge_all", "FileWriter", "FileWriterCache"]


def scalar(name, tensor, collections=None, family=None):
    """A scalar summary of ``tensor`` under the tag ``name`` (``family`` prefixes the tag)."""
    _no_collections(collections)
    return gc_summary.scalar(f"{family}/{name}" if family else name, tensor)


def histogram(name, values, collections=None, family=None):
    """A histogram summary of ``values`` under the tag ``name``."""
    _no_collections(collections)
    return gc_summary.histogram(f"{family}/{name}" if family else name, values)


def merge(inputs, collections=None, name=None):
    """One summary of several."""
    _no_collections(collections)
    return gc_summary.merge(inputs)


def merge_all(key="summaries", scope=None, name=None):
    """Every summary of the default graph (None when there is none, as TF1)."""
    if scope is not None:
        from .unsupported import UnsupportedError
        raise UnsupportedError("tf.summary.merge_all(scope=...): graphc merges all of the graph's summaries")
    return gc_summary.merge_all()


def _no_collections(collections):
    if collections:
        from .unsupported import UnsupportedError
        raise UnsupportedError("summaries in named collections: graphc keeps one list of summaries per graph")


class FileWriterCache:
    """``tf.summary.FileWriterCache``: one FileWriter per log directory."""

    _writers = {}

    @classmethod
    def get(cls, logdir):
        if logdir not in cls._writers:
            cls._writers[logdir] = FileWriter(logdir)
        return cls._writers[logdir]

    @classmethod
    def clear(cls):
        for writer in cls._writers.values():
            writer.close()
        cls._writers.clear()


def __getattr__(name):
    from .unsupported import feature_error
    raise feature_error(name, "tf.summary")
