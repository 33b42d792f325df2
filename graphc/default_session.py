"""The default Session (TF1): what ``Tensor.eval()``, ``Operation.run()`` and
``Variable.load()`` use when no ``session=`` is given.

Each thread has its own stack of default sessions; the innermost wins:

    with sess.as_default():          # push sess (the block does not close it)
        x.eval()                     # sess.run(x)
    with gc.Session() as sess:       # default inside the block, closed at its end
        x.eval()
    sess = gc.InteractiveSession()   # default from now on (in this thread) until sess.close()

A default set in one thread is not seen by another. This module only keeps the stacks;
it imports nothing from the runtime.
"""
import threading

__all__ = ["get_default_session", "push", "remove", "pop", "DefaultSession"]

_local = threading.local()


class _Entry:
    """One push of a session onto a thread's stack (removed by identity, not by session)."""
    __slots__ = ("session", "stack")

    def __init__(self, session, stack):
        self.session, self.stack = session, stack


def _stack():
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def get_default_session():
    """The innermost default session of the calling thread, or None (TF1
    ``tf.get_default_session``). A default session may have been closed meanwhile."""
    stack = _stack()
    return stack[-1].session if stack else None


def push(session):
    """Make ``session`` the calling thread's innermost default; returns the entry to
    :func:`remove` (from any thread) to undo exactly this push."""
    stack = _stack()
    entry = _Entry(session, stack)
    stack.append(entry)
    return entry


def remove(entry):
    """Undo the push that returned ``entry`` (nothing if already undone); the sessions
    pushed after it, if any, stay where they are."""
    try:
        entry.stack.remove(entry)
    except ValueError:
        pass


def pop(session):
    """Undo the calling thread's innermost push of ``session`` (what a ``with session:``
    block's exit does); nothing if there is none."""
    stack = _stack()
    for i in range(len(stack) - 1, -1, -1):
        if stack[i].session is session:
            del stack[i]
            return


class DefaultSession:
    """The context manager ``Session.as_default()`` returns: ``session`` is the calling
    thread's default inside the block. Leaving the block restores the previous default and
    does not close the session (TF1)."""

    def __init__(self, session):
        self.session = session
        self._entries = []

    def __enter__(self):
        self._entries.append(push(self.session))
        return self.session

    def __exit__(self, *exc):
        remove(self._entries.pop())
        return False
