"""The ``TensorBoard`` callback: scalars, weight histograms and the compiled training step
as event files that TensorBoard reads (written by gc.summary.FileWriter, i.e. the
``tensorboard`` package's own writer and protos; ``pip install 'graphc[tensorboard]'``)."""
import os

from .callbacks import Callback


class TensorBoard(Callback):
    """Keras's layout: ``log_dir/train`` and ``log_dir/validation`` hold one event file each.

    - every epoch: ``epoch_loss``, ``epoch_<metric>`` and ``epoch_learning_rate`` in train,
      ``epoch_loss`` and ``epoch_<metric>`` of the validation data in validation (step: epoch);
    - ``update_freq="batch"`` (or an int N: every N batches): ``batch_loss``,
      ``batch_<metric>`` (the epoch's running means, as the progress line) and
      ``batch_learning_rate`` in train (step: the batch count since training began);
    - ``histogram_freq=N``: a histogram of every weight (tag: its name, ``dense/kernel``)
      every N epochs;
    - ``write_graph``: the compiled training step (``model.train_program()``), its fused
      kernels as scopes, in the Graphs dashboard.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, update_freq="epoch"):
        super().__init__()
        if update_freq not in ("epoch", "batch") and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int, "
                             f"got {update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph = int(histogram_freq), bool(write_graph)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers = {}
        self._batches = 0

    def _writer(self, which):
        if which not in self._writers:
            from ..summary import FileWriter
            self._writers[which] = FileWriter(os.path.join(self.log_dir, which))
        return self._writers[which]

    def _learning_rate(self):
        try:
            return self.model.learning_rate
        except Exception:   # (a learning rate that is a graph Tensor has no single value to log)
            return None

    def on_train_begin(self, logs=None):
        self._writer("train")
        if self.write_graph:
            self._writer("train").add_graph(self.model.train_program())
            self._writer("train").flush()

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.update_freq == "epoch" or self._batches % self.update_freq:
            return
        values = dict(logs or {})
        if "learning_rate" not in values:
            values["learning_rate"] = self._learning_rate()
        for key, value in values.items():
            if value is not None:
                self._writer("train").add_scalar(f"batch_{key}", value, self._batches)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if "learning_rate" not in logs:
            logs["learning_rate"] = self._learning_rate()
        for key, value in logs.items():
            if value is None:
                continue
            which, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(which).add_scalar(f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for weight, value in zip(self.model.weights, self.model.get_weights()):
                self._writer("train").add_histogram(weight.name, value, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
