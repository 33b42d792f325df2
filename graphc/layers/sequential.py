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
from . import losses, saving
from .base import Layer
from .trainer import Trainer


class Sequential(Trainer):
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
        self._setters = {}        # variable names -> (value placeholders, the grouped assigns)
        self._step = None
        self.stop_training = False

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
        self._assign(weights, values)

    def _assign(self, variables, values):
        """Set ``variables`` to ``values`` in one run of assignments (built once per set)."""
        key = tuple(v.name for v in variables)
        if key not in self._setters:
            from ..state import assign, group
            with self.graph.as_default():
                feeds = [placeholder(v.dtype, v.shape, name=f"{v.name}/value") for v in variables]
                self._setters[key] = (feeds, group(*[assign(v, f) for v, f in zip(variables, feeds)],
                                                   name="set_values"))
        feeds, op = self._setters[key]
        self.session.run(op, {f: np.asarray(v, dtype=f.dtype) for f, v in zip(feeds, values)})

    def save_weights(self, path):
        """Write the weights to ``path`` (``.npz``, keys are variable names); returns the path."""
        self._check_built("save_weights")
        return saving.save(path, [w.name for w in self.weights], self.get_weights())

    def load_weights(self, path):
        """Read weights written by ``save_weights``. The file must hold exactly this model's
        variables with the same shapes; errors name the variables that differ."""
        self._check_built("load_weights")
        self.set_weights(saving.load(path, [(w.name, w.shape) for w in self.weights]))

    def save(self, path):
        """Write the whole model to ``path``: architecture, weights, optimizer state and
        compile settings (``gc.layers.load_model`` reads it back without this code;
        layers/model_file.py has the format). Returns the path."""
        from .model_file import save_model
        return save_model(self, path)

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
