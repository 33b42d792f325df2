"""The per-epoch progress line of ``fit`` and the History it returns."""
import sys
import time


class History:
    """What ``fit`` returns: ``history`` maps "loss", each metric, and with validation data
    "val_loss" and "val_<metric>" to one value per epoch; ``epoch`` lists epoch indices."""

    def __init__(self, params=None):
        self.history = {}
        self.epoch = []
        self.params = dict(params or {})

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


def format_logs(logs):
    return "".join(f" - {k}: {v:.4f}" for k, v in logs.items())


class ProgressBar:
    """``Epoch 3/10  [=====>....] 45/57 - loss: 0.1234 - accuracy: 0.9712``.

    On a terminal the line is redrawn in place (``\\r``, at most every ``interval``
    seconds); otherwise only the finished line of each epoch is written.
    """

    def __init__(self, epoch, epochs, steps, stream=None, width=30, interval=0.05):
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.prefix = f"Epoch {epoch}/{epochs}  "
        self.steps, self.width, self.interval = steps, width, interval
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_len = 0

    def _bar(self, step):
        filled = int(self.width * step / max(self.steps, 1))
        if step >= self.steps:
            return "=" * self.width
        return "=" * max(filled - 1, 0) + ">" + "." * (self.width - max(filled, 1))

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
        if now - self._last_draw < self.interval:
            return
        self._last_draw = now
        self._draw(f"{self.prefix}[{self._bar(step)}] {step}/{self.steps}{format_logs(logs)}", "")

    def finish(self, logs):
        """The final line of the epoch, with its wall time."""
        seconds = time.perf_counter() - self.start
        self._draw(f"{self.prefix}[{self._bar(self.steps)}] {self.steps}/{self.steps} - {seconds:.2f}s"
                   f"{format_logs(logs)}", "\n")
