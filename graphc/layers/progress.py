"""The progress line of ``fit``, in Keras's format.

verbose=1::

    Epoch 3/10
    45/57 [=======================>......] - ETA: 0s - loss: 0.1234 - accuracy: 0.9712
    57/57 [==============================] - 1s 9ms/step - loss: 0.1201 - accuracy: 0.9720

(on a terminal the step line is redrawn in place; elsewhere only the finished line is
written). verbose=2: the header and one line per epoch, ``57/57 - 1s - 9ms/step - loss: 0.1201 - ...``.
"""
import sys
import time


def format_logs(logs):
    return "".join(f" - {k}: {v:.4f}" for k, v in logs.items())


def format_eta(seconds):
    """Keras's ETA: ``1:02:03``, ``2:03`` or ``42s``."""
    seconds = int(seconds)
    if seconds > 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds > 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def format_per_step(seconds):
    """``2s/step``, ``35ms/step`` or ``410us/step``."""
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class ProgressBar:
    """One epoch's progress: ``update(step, logs)`` after each batch, ``finish(logs)`` at
    its end. On a terminal the step line is redrawn in place (``\\r``, at most every
    ``interval`` seconds)."""

    def __init__(self, epoch, epochs, steps, stream=None, width=30, interval=0.05, verbose=1):
        self.stream = stream or sys.stdout
        self.tty = verbose == 1 and bool(getattr(self.stream, "isatty", lambda: False)())
        self.steps, self.width, self.interval, self.verbose = steps, width, interval, verbose
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_len = 0
        self.stream.write(f"Epoch {epoch}/{epochs}\n")

    def _bar(self, step):
        counter = f"{step:{len(str(self.steps))}d}/{self.steps}"
        if step >= self.steps:
            return f"{counter} [{'=' * self.width}]"
        filled = int(self.width * step / max(self.steps, 1))
        return f"{counter} [{'=' * max(filled - 1, 0)}>{'.' * (self.width - max(filled, 1))}]"

    def _draw(self, text, end):
        pad = " " * max(self._last_len - len(text), 0)
        self.stream.write(("\r" if self.tty else "") + text + pad + end)
        self.stream.flush()
        self._last_len = len(text)

    def update(self, step, logs):
        """Redraw after ``step`` of ``steps`` batches (terminals only, throttled)."""
        if not self.tty:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.interval and step < self.steps:
            return
        self._last_draw = now
        eta = (now - self.start) / max(step, 1) * (self.steps - step)
        self._draw(f"{self._bar(step)} - ETA: {format_eta(eta)}{format_logs(logs)}", "")

    def finish(self, logs):
        """The epoch's final line: its wall time, the time per step, the logs."""
        seconds = time.perf_counter() - self.start
        per_step = format_per_step(seconds / max(self.steps, 1))
        if self.verbose == 2:
            text = f"{self.steps}/{self.steps} - {seconds:.0f}s - {per_step}"
        else:
            text = f"{self._bar(self.steps)} - {seconds:.0f}s {per_step}"
        self._draw(text + format_logs(logs), "\n")
