"""graphc.runtime: the Session, compilation of fetches, and the executors."""
from .compiler import Compiled
from .feeds import TensorSpec
from .session import InteractiveSession, Session

__all__ = ["Session", "InteractiveSession", "Compiled", "TensorSpec"]
