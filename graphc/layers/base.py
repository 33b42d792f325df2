"""The Layer base class: lazy weights, per-graph unique names, activations, initializers."""
import re
import weakref
import zlib

import numpy as np

from .. import math_ops, nn
from ..errors import GraphError
from ..tensor import Tensor, Variable

# layer names taken in each graph (dense, dense_1, ...): names are unique per graph, so two
# models built the same way get the same variable names (what save/load_weights matches on)
_names = weakref.WeakKeyDictionary()
_default_seed = [0]


def set_seed(seed):
    """The seed of layers built without ``seed=`` (and of models without ``seed=``); default 0."""
    _default_seed[0] = int(seed)


def _snake(name):
    """Keras's rule: Dense -> dense, Conv2D -> conv2d, MaxPool2D -> max_pool2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique_layer_name(graph, base, exact):
    taken = _names.setdefault(graph, set())
    if exact:
        if base in taken:
            raise GraphError(f"a layer named {base!r} already exists in this graph")
        name = base
    else:
        name, n = base, 0
        while name in taken:
            n += 1
            name = f"{base}_{n}"
    taken.add(name)
    return name


# -- activations ------------------------------------------------------------
ACTIVATIONS = {
    "relu": math_ops.relu,
    "tanh": math_ops.tanh,
    "sigmoid": math_ops.sigmoid,
    "gelu": lambda x: nn.gelu(x, approximate="none"),   # Keras's default: the exact, erf-based GELU
    "softmax": nn.softmax,
    "linear": lambda x: x,
}


def get_activation(activation):
    """An activation function from a name ("relu", "tanh", "sigmoid", "gelu", "softmax"),
    a callable (used as is) or None (identity)."""
    if activation is None or callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)}, "
                         "None or a callable") from None


# -- initializers (Keras defaults) ------------------------------------------
def glorot_uniform(rng, shape, fan_in, fan_out):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


class Layer:
    """Base class of the layers: ``layer(x, training=False)`` returns a Tensor.

    Weights are ``gc.Variable``s made on the first call from the input's static shape
    (``build``), named under the layer's name scope (``dense/kernel``). A layer built
    once reuses its weights on later calls (e.g. a training and an inference forward
    pass of one model). ``seed`` fixes the weight initialization (default: the
    model's seed, else ``gc.layers.set_seed``'s, 0).
    """

    def __init__(self, name=None, seed=None):
        self._given_name = name
        self.name = name
        self.seed = seed
        self.built = False
        self.graph = None
        self.weights = []          # the layer's Variables, in creation order
        self.input_shape = None
        self.output_shape = None   # static shape of the last call's output (None = any size)
        self.updates = []          # the state updates (assign ops) of the last training call
        self._call_updates = None

    # -- subclass hooks -------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (static shape, batch may be None)."""

    def call(self, x, training=False):
        """The forward computation on Tensor ``x``."""
        raise NotImplementedError

    # -- machinery ---------------------------------------------------------------
    def __call__(self, x, training=False):
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__} expects a graphc Tensor, got {type(x).__name__}")
        if not self.built:
            self.graph = x.graph
            self.name = _unique_layer_name(x.graph, self._given_name or _snake(type(self).__name__),
                                           exact=self._given_name is not None)
            with x.graph.as_default(), x.graph.name_scope(self.name):
                self.build(x.shape)
            self.input_shape = x.shape
            self.built = True
        elif x.graph is not self.graph:
            raise GraphError(f"layer '{self.name}' was built in another graph; it cannot be called "
                             f"on '{x.name}'")
        self._call_updates = []
        with x.graph.as_default(), x.graph.name_scope(self.name):
            out = self.call(x, training=training)
        if self._call_updates or isinstance(training, Tensor) or bool(training):
            self.updates = self._call_updates
        self._call_updates = None
        self.output_shape = out.shape
        return out

    def add_update(self, op):
        """Record a state update (an assign op) that this call needs run with every training
        step, as Keras's ``add_update``: after a call with ``training=True``, ``updates``
        holds that call's updates (``Sequential`` groups them into its train op; run them
        yourself in a graph of your own, e.g. ``gc.group(train_op, *layer.updates)``)."""
        if self._call_updates is None:
            raise GraphError(f"layer '{self.name}': add_update is for use inside call()")
        self._call_updates.append(op)
        return op

    def add_weight(self, name, value, trainable=True):
        """A Variable named ``<layer>/<name>`` holding ``value`` (created inside ``build``)."""
        var = Variable(np.asarray(value, dtype=np.float32), name=name, trainable=trainable)
        self.weights.append(var)
        return var

    def rng(self, weight_name):
        """A numpy Generator for one weight, seeded by the layer seed and the weight's name,
        so initial values do not depend on the order or number of other layers."""
        seed = _default_seed[0] if self.seed is None else int(self.seed)
        return np.random.default_rng([seed, zlib.crc32(f"{self.name}/{weight_name}".encode())])

    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable]

    def get_config(self):
        """The constructor arguments that rebuild this layer (``type(layer)(**config)``), as
        plain JSON values; ``model.save`` stores them."""
        return {"name": self.name, **self._config()}

    def _config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def count_params(self):
        """The number of scalars in the layer's weights."""
        return int(sum(np.prod(w.shape, dtype=np.int64) for w in self.weights))

    def __repr__(self):
        return f"<{type(self).__name__} '{self.name}'>"
