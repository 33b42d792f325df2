"""Other frameworks' APIs over graphc's ops: ``graphc.compat.v1`` is TensorFlow 1.x's.

    import graphc.compat.v1 as tf
"""
from . import v1  # noqa: F401
