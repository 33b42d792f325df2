"""``Sequential``: a stack of layers with Keras's compile / fit / evaluate / predict.

The model owns a private ``gc.Graph`` and one ``gc.Session`` on it; nothing goes into
the default graph. Built once, on the first call that knows the input shape:

* inference: placeholder ``x`` (batch None) -> layers (training=False) -> ``outputs``;
  ``predict`` and ``evaluate`` run it (each distinct batch size compiles once, so a
  last partial batch adds one program).
* training (first ``fit``, per batch size B): placeholders of static batch B, the
  layers again with training=True (sharing the Variables), the loss, the optimizer's
  update and the step counter's increment, grouped into one train op. The batch is
  static so that every step runs one compiled program; the last partial
  batch is padded to B with repeated rows of weight 0 and the loss is the
  weighted mean over the real rows, so every epoch runs one compiled program and
  still trains on every example.
"""
import numpy as np

from .. import dtypes as dt
from ..ir.graph import Graph
from ..placeholders import placeholder
from ..runtime import Session
from ..tensor import Variable
from . import losses, saving
from .base import Layer
from .core import Dropout, _Activated
from .progress import History, ProgressBar

_SEED_STRIDE = 1_000_003   # dropout seed = step * stride + per-layer salt: distinct per layer and step


class _TrainStep:
    """The training graph for one static batch size."""

    def __init__(self, x, y, w, train_op, loss, metrics):
        self.x, self.y, self.w = x, y, w
        self.fetches = [train_op, loss] + metrics
        self.full_weights = np.ones(x.shape[0], np.float32)


class Sequential:
    """A linear stack of layers: ``Sequential([Dense(64, "relu"), Dense(10)])``.

    ``input_shape``: the shape of one example (no batch axis). The model is built (its
    graph, weights and Session made) when first needed: by ``build``, ``fit``,
    ``predict``, ``evaluate``, or, given ``input_shape``, by ``summary``/weights calls.
    ``seed`` seeds the weight initialization of layers without a seed of their own
    (and the dropout masks); ``gc.layers.set_seed`` sets the default.
    """

    def __init__(self, layers=(), input_shape=None, name="sequential", seed=None):
        self.name = name
        self.seed = seed
        self.layers = []
        for layer in layers:
            self.add(layer)
        self.graph = Graph()
        self.session = None
        self.built = False
        self.optimizer = self.loss = None
        self.metrics = []
        self.history = None
        self._input_shape = None if input_shape is None else tuple(input_shape)
        self._labels = None       # (dtype, shape) of the label placeholders
        self._train_steps = {}
        self._eval = None
        self._setter = None
        self._step = None

    # -- building ------------------------------------------------------------------------
    def add(self, layer):
        """Append a layer (before the model is built)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes gc.layers Layers, got {layer!r}")
        if getattr(self, "built", False):
            raise RuntimeError("cannot add layers to a model that is already built")
        self.layers.append(layer)

    def build(self, input_shape=None, dtype=None):
        """Build the inference graph for examples of ``input_shape`` (no batch axis, or a
        full shape with a leading None) and start the model's Session."""
        if self.built:
            return
        shape = self._input_shape if input_shape is None else tuple(input_shape)
        if shape is None:
            raise ValueError(f"model '{self.name}' has no input shape: pass input_shape= or call build(shape), "
                             "fit or predict first")
        if shape and shape[0] is None:
            shape = shape[1:]
        if not self.layers:
            raise ValueError("a Sequential model needs at least one layer")
        if dtype is None:
            from .core import Embedding
            dtype = dt.int64 if isinstance(self.layers[0], Embedding) else dt.float32
        for layer in self.layers:
            if layer.seed is None and self.seed is not None:
                layer.seed = self.seed
        self._output_shapes = []   # per layer, batch None (the inference forward)
        with self.graph.as_default():
            self.inputs = placeholder(dtype, (None,) + tuple(int(d) for d in shape), name="x")
            self.outputs, self.logits = self._forward(self.inputs, training=False)
        self._input_shape = tuple(shape)
        self.session = Session(self.graph)
        self.built = True

    def _forward(self, x, training, step=None):
        """``(outputs, logits)``: logits are the outputs when the last layer has no
        activation, its pre-softmax values when it ends in softmax, else None."""
        h = x
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dropout):
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

    def _ensure_built(self, x):
        if not self.built:
            self.build(None if self._input_shape is not None else x.shape[1:],
                       dt.int64 if x.dtype.kind in "iu" else dt.float32)
        if tuple(x.shape[1:]) != self._input_shape:
            raise ValueError(f"model '{self.name}' takes examples of shape {self._input_shape}, "
                             f"got data of shape {x.shape}")
        return np.ascontiguousarray(x, dtype=self.inputs.dtype)

    # -- compile ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=()):
        """Choose the optimizer (a ``gc.train`` optimizer or "sgd", "adam", "rmsprop" with
        Keras's default learning rates), the loss ("sparse_categorical_crossentropy",
        "categorical_crossentropy", "mse" or a callable ``(y_true, y_pred) -> per-example
        loss`` on the model's outputs) and metrics ("accuracy" or callables).

        Cross-entropy losses are computed from logits (``from_logits``): the last layer
        must have no activation (its outputs are the logits) or ``activation="softmax"``
        (the loss uses the pre-softmax values, stably; ``predict`` gives probabilities).
        """
        from .. import train
        if isinstance(optimizer, str):
            makers = {"sgd": lambda: train.SGD(0.01), "adam": lambda: train.Adam(0.001),
                      "rmsprop": lambda: train.RMSProp(0.001)}
            if optimizer.lower() not in makers:
                raise ValueError(f"unknown optimizer {optimizer!r}; use one of {sorted(makers)} "
                                 "or a gc.train optimizer")
            optimizer = makers[optimizer.lower()]()
        if loss is None:
            raise ValueError("compile needs a loss")
        self.optimizer = optimizer
        self.loss = losses.check_loss(loss)
        self.metrics = [losses.check_metric(m) for m in ([metrics] if isinstance(metrics, str) else metrics)]
        self._labels, self._train_steps, self._eval = None, {}, None

    def _label_spec(self, y):
        if self.loss is None:
            raise RuntimeError(f"model '{self.name}' is not compiled: call compile(optimizer, loss) first")
        if self._labels is None:
            self._labels = losses.label_spec(self.loss, self.outputs.shape, y)
        return self._labels

    def _loss_and_metrics(self, y, outputs, logits, weights=None):
        """The batch loss and metrics: plain means, or means weighted by ``weights``."""
        terms = [losses.per_example_loss(self.loss, y, outputs, logits)]
        terms += [losses.per_example_metric(m, self.loss, y, outputs) for m in self.metrics]
        if weights is None:
            return [t.mean() for t in terms]
        total = weights.sum()
        return [(t * weights).sum() / total for t in terms]

    def _train_step(self, batch_size, y):
        if batch_size not in self._train_steps:
            dtype, shape = self._label_spec(y)
            with self.graph.as_default():
                if self._step is None:
                    self._step = Variable(np.int64(0), name="step", trainable=False)
                b = batch_size
                x = placeholder(self.inputs.dtype, (b,) + self._input_shape, name="train_x")
                yp = placeholder(dtype, (b,) + tuple(shape[1:]), name="train_y")
                w = placeholder(dt.float32, (b,), name="train_weights")
                outputs, logits = self._forward(x, training=True, step=self._step)
                loss, *metrics = self._loss_and_metrics(yp, outputs, logits, w)
                from ..state import assign_add, group
                update = self.optimizer.minimize(loss, var_list=self.trainable_weights)
                train_op = group(update, assign_add(self._step, 1), name="train_op")
            self._train_steps[batch_size] = _TrainStep(x, yp, w, train_op, loss, metrics)
        return self._train_steps[batch_size]

    def _eval_fetches(self, y):
        if self._eval is None:
            dtype, shape = self._label_spec(y)
            with self.graph.as_default():
                self._eval_y = placeholder(dtype, shape, name="y")
                self._eval = self._loss_and_metrics(self._eval_y, self.outputs, self.logits)
        return self._eval

    def _metric_names(self):
        return ["loss"] + [losses.metric_name(m) for m in self.metrics]

    # -- training and inference ------------------------------------------------------------
    def fit(self, x, y, epochs=1, batch_size=32, validation_data=None, shuffle=True, verbose=1, seed=None):
        """Train for ``epochs`` passes over ``(x, y)`` in batches of ``batch_size``
        (reshuffled every epoch when ``shuffle``, from ``np.random.default_rng(seed)``).

        ``verbose``: 0 silent, 1 a progress line per epoch (redrawn in place on a
        terminal), 2 one line per epoch. ``validation_data=(x_val, y_val)`` is evaluated
        after each epoch. Returns a ``History`` whose ``history`` maps "loss", each metric
        and "val_..." to per-epoch values (loss and metrics averaged over the epoch's
        examples, measured in training mode, as Keras does).
        """
        x = self._ensure_built(np.asarray(x))
        y = losses.prepare_labels(self.loss, y, self._label_spec(y))
        n = len(x)
        if len(y) != n:
            raise ValueError(f"x has {n} examples but y has {len(y)}")
        if n == 0:
            raise ValueError("fit needs at least one example")
        b = min(int(batch_size), n)
        step = self._train_step(b, y)
        steps = -(-n // b)
        rng = np.random.default_rng(seed)
        names = self._metric_names()
        history = History({"epochs": epochs, "batch_size": b, "steps": steps})
        for epoch in range(epochs):
            order = rng.permutation(n) if shuffle else np.arange(n)
            bar = ProgressBar(epoch + 1, epochs, steps) if verbose else None
            if bar is not None and verbose != 1:
                bar.tty = False
            sums, seen = np.zeros(len(names)), 0
            for s in range(steps):
                idx, weights = order[s * b:(s + 1) * b], step.full_weights
                k = len(idx)
                if k < b:   # the last partial batch: pad with repeated rows of weight 0
                    idx = np.resize(idx, b)
                    weights = np.zeros(b, np.float32)
                    weights[:k] = 1.0
                values = self.session.run(step.fetches, {step.x: x[idx], step.y: y[idx], step.w: weights})
                sums += np.array(values[1:], dtype=np.float64) * k
                seen += k
                if bar is not None:
                    bar.update(s + 1, dict(zip(names, sums / seen)))
            logs = dict(zip(names, (sums / seen).tolist()))
            if validation_data is not None:
                val = self.evaluate(*validation_data, batch_size=batch_size)
                logs.update({f"val_{k}": v for k, v in zip(names, val)})
            if bar is not None:
                bar.finish(logs)
            history.append(epoch, logs)
        self.history = history
        return history

    def evaluate(self, x, y, batch_size=32, verbose=0):
        """``[loss, metric, ...]`` over ``(x, y)`` in inference mode (dropout off),
        averaged over all examples."""
        x = self._ensure_built(np.asarray(x))
        fetches = self._eval_fetches(y)
        y = losses.prepare_labels(self.loss, y, self._labels)
        n, b = len(x), max(int(batch_size), 1)
        sums = np.zeros(len(fetches))
        for s in range(0, n, b):
            values = self.session.run(fetches, {self.inputs: x[s:s + b], self._eval_y: y[s:s + b]})
            sums += np.array(values, dtype=np.float64) * len(x[s:s + b])
        result = (sums / max(n, 1)).tolist()
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in zip(self._metric_names(), result)))
        return result

    def predict(self, x, batch_size=32):
        """The model's outputs for ``x`` (inference mode), computed in batches: class
        probabilities when the last layer ends in softmax, logits when it has no activation."""
        x = self._ensure_built(np.asarray(x))
        b = max(int(batch_size), 1)
        parts = [self.session.run(self.outputs, {self.inputs: np.ascontiguousarray(x[s:s + b])})
                 for s in range(0, len(x), b)]
        if not parts:
            return np.zeros((0,) + tuple(self.outputs.shape[1:]), self.outputs.dtype)
        return np.concatenate(parts)

    # -- weights ---------------------------------------------------------------------------
    @property
    def weights(self):
        """All layer Variables, in layer order (shared layers once)."""
        seen, out = set(), []
        for layer in self.layers:
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable]

    def _check_built(self, what):
        if not self.built and self._input_shape is not None:
            self.build()
        if not self.built:
            raise RuntimeError(f"{what}: model '{self.name}' is not built yet; pass input_shape=, call "
                               "build(shape), or fit/predict first")

    def get_weights(self):
        """The values of ``weights`` as numpy arrays."""
        self._check_built("get_weights")
        return self.session.run(self.weights)

    def set_weights(self, values):
        """Set every weight (in ``weights`` order) in one run of assignments."""
        self._check_built("set_weights")
        values = list(values)
        weights = self.weights
        if len(values) != len(weights):
            raise ValueError(f"set_weights: the model has {len(weights)} weights, got {len(values)} arrays")
        for w, v in zip(weights, values):
            if np.shape(v) != w.shape:
                raise ValueError(f"set_weights: variable '{w.name}' has shape {w.shape}, got {np.shape(v)}")
        if self._setter is None:
            from ..state import assign, group
            with self.graph.as_default():
                feeds = [placeholder(w.dtype, w.shape, name=f"{w.name}/value") for w in weights]
                self._setter = (feeds, group(*[assign(w, f) for w, f in zip(weights, feeds)], name="set_weights"))
        feeds, op = self._setter
        self.session.run(op, dict(zip(feeds, (np.asarray(v) for v in values))))

    def save_weights(self, path):
        """Write the weights to ``path`` (``.npz``, keys are variable names); returns the path."""
        self._check_built("save_weights")
        return saving.save(path, [w.name for w in self.weights], self.get_weights())

    def load_weights(self, path):
        """Read weights written by ``save_weights``. The file must hold exactly this model's
        variables with the same shapes; errors name the variables that differ."""
        self._check_built("load_weights")
        self.set_weights(saving.load(path, [(w.name, w.shape) for w in self.weights]))

    # -- description -------------------------------------------------------------------------
    def count_params(self):
        self._check_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print):
        """Print each layer with its output shape and parameter count, and the totals."""
        self._check_built("summary")
        rows = [(f"{layer.name} ({type(layer).__name__})", _fmt(shape), f"{layer.count_params():,}")
                for layer, shape in zip(self.layers, self._output_shapes)]
        widths = [max(len(h), *(len(r[i]) for r in rows)) + 4 for i, h in
                  enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = lambda cells: "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        total = sum(int(np.prod(w.shape, dtype=np.int64)) for w in self.weights)
        trainable = sum(int(np.prod(w.shape, dtype=np.int64)) for w in self.trainable_weights)
        rule = "_" * sum(widths)
        print_fn("\n".join([f'Model: "{self.name}"', rule, line(("Layer (type)", "Output Shape", "Param #")),
                            "=" * sum(widths)] + [line(r) for r in rows] + [
            "=" * sum(widths), f"Total params: {total:,}", f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}", rule]))


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
