"""``fit``, ``evaluate`` and ``predict`` of ``Sequential``, with Keras's callbacks.

Training graphs have a static batch size B (one compiled program for every step). Each
batch feeds per-example weights ``w``: the sample weight over the number of real rows,
0 for the rows that pad a last partial batch to B. The batch loss is ``sum(loss * w)``
(Keras's ``sum_over_batch_size``: weighted losses over the batch size) and each metric
the weighted mean ``sum(metric * w) / sum(w)``. Epoch logs average the batch losses
over the examples and the metrics over the sample weights, as Keras's trackers do.
"""
import numpy as np

from .. import dtypes as dt
from ..errors import GraphcError
from ..placeholders import placeholder
from ..tensor import Tensor, Variable
from . import losses
from .callbacks import CallbackList, History, ProgbarLogger
from .data import example_weights, split_validation

_SEED_STRIDE = 1_000_003   # dropout seed = step * stride + per-layer salt: distinct per layer and step


class _TrainStep:
    """The training graph for one static batch size."""

    def __init__(self, x, y, w, train_op, loss, metrics, rows=None):
        self.x, self.y, self.w = x, y, w
        self.rows = rows   # the (B,) 0/1 mask of real rows (not padding), where a layer takes batch statistics
        self.fetches = [train_op, loss] + metrics
        self.uniform = np.full(x.shape[0], 1.0 / x.shape[0], np.float32)   # a full batch, unweighted
        self.all_rows = np.ones(x.shape[0], np.float32)

    def feeds(self, x, y, w, k):
        """The feed_dict of a step on rows ``x``, ``y`` (padded to B) of which the first ``k`` are real."""
        feeds = {self.x: x, self.y: y, self.w: w}
        if self.rows is not None:
            feeds[self.rows] = self.all_rows if k == len(self.all_rows) else \
                (np.arange(len(self.all_rows)) < k).astype(np.float32)
        return feeds


class Trainer:
    """The training and inference half of ``Sequential`` (a mixin)."""

    def _label_spec(self, y):
        if self.loss is None:
            raise RuntimeError(f"model '{self.name}' is not compiled: call compile(optimizer, loss) first")
        if self._labels is None:
            self._labels = losses.label_spec(self.loss, self.outputs.shape, y)
        return self._labels

    def _loss_and_metrics(self, y, outputs, logits, weights):
        """The batch loss ``sum(loss * weights)`` and the metrics' weighted means."""
        loss = (losses.per_example_loss(self.loss, y, outputs, logits) * weights).sum()
        total = weights.sum()
        return [loss] + [(losses.per_example_metric(m, self.loss, y, outputs) * weights).sum() / total
                         for m in self.metrics]

    def _learning_rate_variable(self):
        """The Variable holding the optimizer's learning rate in the model's graph (made
        from a numeric ``lr`` the first time), which ``learning_rate`` reads and sets."""
        if self.optimizer is None:
            raise RuntimeError(f"model '{self.name}' is not compiled: call compile(optimizer, loss) first")
        lr = self.optimizer.lr
        if isinstance(lr, Variable) and lr.graph is self.graph:
            return lr
        if isinstance(lr, Tensor):
            raise GraphcError(f"the learning rate of model '{self.name}' is the graph Tensor '{lr.name}' "
                              "(a schedule or placeholder): it cannot be read or set as a number")
        with self.graph.as_default():
            self.optimizer.lr = Variable(np.float32(lr), name="learning_rate", trainable=False)
        return self.optimizer.lr

    @property
    def learning_rate(self):
        """The optimizer's learning rate, a Variable of the graph: setting it (as
        ``ReduceLROnPlateau`` does) takes effect at the next step and recompiles nothing."""
        return float(self.session.run(self._learning_rate_variable()))

    @learning_rate.setter
    def learning_rate(self, value):
        self._assign([self._learning_rate_variable()], [np.float32(value)])

    def _train_step(self, batch_size, y):
        if batch_size not in self._train_steps:
            dtype, shape = self._label_spec(y)
            self._learning_rate_variable()   # (before minimize: the update reads the Variable)
            with self.graph.as_default():
                if self._step is None:
                    self._step = Variable(np.int64(0), name="step", trainable=False)
                b = batch_size
                x = placeholder(self.inputs.dtype, (b,) + self._input_shape, name="train_x")
                yp = placeholder(dtype, (b,) + tuple(shape[1:]), name="train_y")
                w = placeholder(dt.float32, (b,), name="train_weights")
                rows = placeholder(dt.float32, (b,), name="train_rows") \
                    if any(getattr(layer, "batch_statistics", False) for layer in self.layers) else None
                outputs, logits = self._forward(x, training=True, step=self._step, rows=rows)
                loss, *metrics = self._loss_and_metrics(yp, outputs, logits, w)
                from ..state import assign_add, group
                update = self.optimizer.minimize(loss, var_list=self.trainable_weights)
                # the layers' own state updates (BatchNormalization's moving statistics) run with every step
                layer_updates = [op for layer in _unique(self.layers) for op in layer.updates]
                train_op = group(update, assign_add(self._step, 1), *layer_updates, name="train_op")
            self._train_steps[batch_size] = _TrainStep(x, yp, w, train_op, loss, metrics, rows)
        return self._train_steps[batch_size]

    def train_program(self, batch_size=None):
        """The compiled training step (a ``gc.Compiled``: its ``ir()``, ``kernels``,
        ``dump()``) for ``batch_size`` (default: the latest ``fit``'s), compiled now if no
        step has run yet; the one program every step of that batch size runs."""
        if not self._train_steps:
            raise RuntimeError(f"model '{self.name}' has no training step yet: call fit first")
        step = self._train_steps[self._last_batch_size if batch_size is None else batch_size]
        from ..runtime import TensorSpec
        feeds = [t for t in (step.x, step.y, step.w, step.rows) if t is not None]
        return self.session.compile(step.fetches, {t: TensorSpec(t.shape, t.dtype) for t in feeds})

    def _eval_fetches(self, y):
        if self._eval is None:
            dtype, shape = self._label_spec(y)
            with self.graph.as_default():
                self._eval_y = placeholder(dtype, shape, name="y")
                self._eval_w = placeholder(dt.float32, (None,), name="weights")
                self._eval = self._loss_and_metrics(self._eval_y, self.outputs, self.logits, self._eval_w)
        return self._eval

    def _metric_names(self):
        return ["loss"] + [losses.metric_name(m) for m in self.metrics]

    def _callbacks(self, callbacks, verbose, params, history=None):
        """The user's callbacks, then the progress line and the History (Keras 3's order:
        what a callback prints at an epoch's end comes before that epoch's line)."""
        extra = [ProgbarLogger(verbose)] if verbose else []
        return CallbackList(list(callbacks or ()) + extra + ([history] if history is not None else []), self, params)

    # -- training and inference ------------------------------------------------------------
    def fit(self, x, y, epochs=1, batch_size=32, verbose=1, callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0, seed=None):
        """Train for epochs ``initial_epoch .. epochs-1`` over ``(x, y)`` in batches of
        ``batch_size`` (reshuffled every epoch when ``shuffle``, from
        ``np.random.default_rng(seed)``), calling ``callbacks`` (gc.layers.callbacks).

        ``verbose``: 0 silent, 1 a progress line (redrawn in place on a terminal), 2 one line
        per epoch. ``validation_data=(x_val, y_val[, sample_weight])`` or
        ``validation_split`` (the last fraction of ``x``, ``y``, taken before shuffling) is
        evaluated after each epoch. ``sample_weight`` (one per example) or ``class_weight``
        ({class: weight}) weight the loss and metrics. Returns the ``History``
        (``model.history``): "loss", each metric and "val_..." per epoch, loss and metrics
        averaged over the epoch's examples in training mode, as Keras does.
        """
        x = self._ensure_built(np.asarray(x))
        y = losses.prepare_labels(self.loss, y, self._label_spec(y))
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
        weights = example_weights(self.loss, y, sample_weight, class_weight)
        (x, y, weights), validation_data = split_validation((x, y, weights), validation_split, validation_data)
        n = len(x)
        if n == 0:
            raise ValueError("fit needs at least one example")
        b = min(int(batch_size), n)
        step = self._train_step(b, y)
        self._last_batch_size = b
        steps = -(-n // b)
        rng = np.random.default_rng(seed)
        names = self._metric_names()
        self.history = History()
        cbs = self._callbacks(callbacks, verbose, {"epochs": epochs, "steps": steps, "verbose": verbose,
                                                   "batch_size": b}, self.history)
        self.stop_training = False
        logs = {}
        cbs.on_train_begin(logs)
        for epoch in range(int(initial_epoch), int(epochs)):
            cbs.on_epoch_begin(epoch, {})
            order = rng.permutation(n) if shuffle else np.arange(n)
            loss_sum, seen = 0.0, 0
            metric_sums, weight_total = np.zeros(len(names) - 1), 0.0
            for s in range(steps):
                cbs.on_train_batch_begin(s, {})
                idx = order[s * b:(s + 1) * b]
                k = len(idx)
                if k == b and weights is None:
                    w, batch_weight = step.uniform, float(k)
                else:   # weighted, or the last partial batch: padded with repeated rows of weight 0
                    real = np.ones(k, np.float32) if weights is None else weights[idx]
                    batch_weight = float(real.sum(dtype=np.float64))
                    idx = np.resize(idx, b)
                    w = np.zeros(b, np.float32)
                    w[:k] = real / np.float32(k)
                values = self.session.run(step.fetches, step.feeds(x[idx], y[idx], w, k))
                loss_sum += float(values[1]) * k
                seen += k
                if batch_weight > 0:
                    metric_sums += np.array(values[2:], dtype=np.float64) * batch_weight
                    weight_total += batch_weight
                logs = {"loss": loss_sum / seen}
                logs.update(zip(names[1:], (metric_sums / weight_total if weight_total else metric_sums).tolist()))
                cbs.on_train_batch_end(s, logs)
                if self.stop_training:
                    break
            logs = dict(logs)
            if validation_data is not None:
                vx, vy, *vw = validation_data
                val = self._evaluate(vx, vy, batch_size, vw[0] if vw else None, cbs)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return self.history

    def evaluate(self, x, y, batch_size=32, verbose=0, sample_weight=None, callbacks=None, return_dict=False):
        """``[loss, metric, ...]`` (a dict with ``return_dict``) over ``(x, y)`` in inference
        mode (dropout off): the loss averaged over the examples, the metrics over the
        sample weights (``sample_weight``, default 1)."""
        b = max(int(batch_size), 1)
        cbs = self._callbacks(callbacks, 0, {"steps": -(-len(x) // b), "verbose": verbose})
        logs = self._evaluate(x, y, b, sample_weight, cbs)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return logs if return_dict else list(logs.values())

    def _evaluate(self, x, y, batch_size, sample_weight, cbs):
        """The logs {name: value} of evaluating ``(x, y)``, calling the ``on_test_*`` hooks of
        ``cbs`` (``fit``'s own list for its validation data)."""
        x = self._ensure_built(np.asarray(x))
        fetches = self._eval_fetches(y)
        y = losses.prepare_labels(self.loss, y, self._labels)
        weights = example_weights(self.loss, y, sample_weight, None)
        n, b = len(x), max(int(batch_size), 1)
        cbs.on_test_begin({})
        loss_sum, metric_sums, weight_total = 0.0, np.zeros(len(fetches) - 1), 0.0
        for i, s in enumerate(range(0, n, b)):
            cbs.on_test_batch_begin(i, {})
            k = len(x[s:s + b])
            real = np.ones(k, np.float32) if weights is None else weights[s:s + b]
            values = self.session.run(fetches, {self.inputs: x[s:s + b], self._eval_y: y[s:s + b],
                                                self._eval_w: real / np.float32(k)})
            loss_sum += float(values[0]) * k
            batch_weight = float(real.sum(dtype=np.float64))
            if batch_weight > 0:
                metric_sums += np.array(values[1:], dtype=np.float64) * batch_weight
                weight_total += batch_weight
            cbs.on_test_batch_end(i, {})
        metrics = metric_sums / weight_total if weight_total else metric_sums
        result = [loss_sum / max(n, 1)] + metrics.tolist()
        logs = dict(zip(self._metric_names(), result))
        cbs.on_test_end(logs)
        return logs

    def predict(self, x, batch_size=32, verbose=0, callbacks=None):
        """The model's outputs for ``x`` (inference mode), computed in batches: class
        probabilities when the last layer ends in softmax, logits when it has no activation."""
        x = self._ensure_built(np.asarray(x))
        b = max(int(batch_size), 1)
        cbs = self._callbacks(callbacks, 0, {"steps": -(-len(x) // b), "verbose": verbose})
        cbs.on_predict_begin({})
        parts = []
        for i, s in enumerate(range(0, len(x), b)):
            cbs.on_predict_batch_begin(i, {})
            parts.append(self.session.run(self.outputs, {self.inputs: np.ascontiguousarray(x[s:s + b])}))
            cbs.on_predict_batch_end(i, {"outputs": parts[-1]})
        cbs.on_predict_end({})
        if not parts:
            return np.zeros((0,) + tuple(self.outputs.shape[1:]), self.outputs.dtype)
        return np.concatenate(parts)

    def _forward(self, x, training, step=None, rows=None):
        """``(outputs, logits)``: logits are the outputs when the last layer has no
        activation, its pre-softmax values when it ends in softmax, else None. ``rows``: the
        (B,) mask of the batch's real rows, for the layers that take batch statistics."""
        from .core import Dropout, _Activated
        h = x
        for i, layer in enumerate(self.layers):
            if getattr(layer, "batch_statistics", False) and training and rows is not None:
                h = layer(h, training=training, mask=rows)
            elif isinstance(layer, Dropout):
                seed = None
                if training and step is not None:
                    salt = (layer.mask_seed if layer.mask_seed is not None else i) + 7919 * (self.seed or 0)
                    seed = step * _SEED_STRIDE + salt % _SEED_STRIDE
                h = layer(h, training=training, seed=seed)
            else:
                h = layer(h, training=training)
            if not training:
                self._output_shapes.append(h.shape)
        last = self.layers[-1]
        if not isinstance(last, _Activated) or last.activation is None:
            return h, h
        return h, (last.pre_activation if last.activation_name == "softmax" else None)


def _unique(layers):
    """``layers`` with each layer once (a layer used twice keeps its last call's updates)."""
    seen, out = set(), []
    for layer in layers:
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out
