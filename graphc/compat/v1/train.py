"""``tf.train``: TF1's optimizers with TF1's signatures, the global step, learning-rate
decay, and the checkpoint Saver (graphc.saver)."""
import numpy as np

from ... import dtypes as dt
from ... import math_ops as m
from ... import train as gc_train
from ...saver import Saver, checkpoint_exists, get_checkpoint_state, latest_checkpoint  # noqa: F401  (tf.train names)
from ...builder import as_tensor, located
from ...ir.graph import get_default_graph
from ...tensor import Variable

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer", "RMSPropOptimizer",
           "AdagradOptimizer", "get_global_step", "get_or_create_global_step", "create_global_step",
           "exponential_decay", "piecewise_constant", "Saver", "latest_checkpoint", "get_checkpoint_state",
           "checkpoint_exists"]


class Optimizer:
    """TF1's optimizer API over a graphc optimizer: ``minimize(loss, global_step=None,
    var_list=None)`` (TF1's argument order), ``compute_gradients``, ``apply_gradients``,
    ``get_slot``, ``get_name``. ``use_locking`` and the gating arguments change nothing in
    graphc (a step's updates always commit together)."""

    def __init__(self, impl, name):
        self._impl, self._name = impl, name

    def get_name(self):
        return self._name

    @located
    def compute_gradients(self, loss, var_list=None, gate_gradients=1, aggregation_method=None,
                          colocate_gradients_with_ops=False, grad_loss=None):
        """``[(gradient or None, variable)]`` for ``var_list`` (default: trainable variables)."""
        if grad_loss is not None:
            from ...gradients import gradients
            var_list = list(var_list) if var_list is not None else _trainable(loss)
            return list(zip(gradients(loss, var_list, grad_ys=grad_loss), var_list))
        return self._impl.compute_gradients(loss, var_list)

    @located
    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """One Operation applying the gradients (and adding 1 to ``global_step``)."""
        return self._impl.apply_gradients(list(grads_and_vars), global_step, name or self._name)

    @located
    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=1, aggregation_method=None,
                 colocate_gradients_with_ops=False, name=None, grad_loss=None):
        """One Operation: a training step that lowers ``loss``."""
        return self.apply_gradients(self.compute_gradients(loss, var_list, grad_loss=grad_loss), global_step, name)

    def get_slot(self, var, name):
        """The slot Variable ``name`` of ``var`` (TF1's names: "momentum", "m", "v", "rms", "accumulator")."""
        return self._impl.get_slot(var, _SLOT_NAMES.get(name, name))

    def get_slot_names(self):
        return [next((k for k, v in _SLOT_NAMES.items() if v == s), s) for s in self._impl._slot_names]

    def variables(self):
        """The optimizer's own Variables (slots and step)."""
        own = list(self._impl._slots.values())
        return own + ([self._impl._step] if self._impl._step is not None else [])


_SLOT_NAMES = {"rms": "ms"}   # TF1's slot name -> graphc's


def _trainable(loss):
    from ...state import trainable_variables
    return trainable_variables(as_tensor(loss).graph)


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * grad``."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(gc_train.SGD(learning_rate), name)


class MomentumOptimizer(Optimizer):
    """``accum = momentum * accum + grad; var -= learning_rate * accum`` (Nesterov:
    ``var -= learning_rate * (grad + momentum * accum)``)."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum", use_nesterov=False):
        super().__init__(gc_train.SGD(learning_rate, momentum, use_nesterov), name)


class _TF1Adam(gc_train.Adam):
    """TF1's kernel rounds ``1 - beta`` in the variable's dtype."""

    _complements_in_dtype = True


class AdamOptimizer(Optimizer):
    """TF1's Adam: ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``,
    ``var -= lr_t * m / (sqrt(v) + epsilon)``."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08, use_locking=False, name="Adam"):
        super().__init__(_TF1Adam(learning_rate, beta1, beta2, epsilon), name)


class _TF1RMSProp(gc_train.RMSProp):
    """TF1 starts RMSProp's mean square at 1, not 0 (Keras starts it at 0), and its centered
    form subtracts the square of a running mean gradient."""

    _slot_start = {"ms": 1.0}
    _complements_in_dtype = True

    def __init__(self, lr, decay, momentum, eps, centered):
        super().__init__(lr, decay, momentum, eps)
        self.centered = bool(centered)
        if self.centered:
            self._slot_names = self._slot_names + ("mg",)

    def _update(self, var, g, slots, step):
        if not self.centered:
            return super()._update(var, g, slots, step)
        c = lambda v: self._constant(var, v)  # noqa: E731
        ms, mg = slots[0], slots[-1]
        new_ms = c(self.decay) * ms + self._one_minus(var, self.decay) * m.square(g)
        new_mg = c(self.decay) * mg + self._one_minus(var, self.decay) * g
        delta = self._lr(var) * g / m.sqrt(new_ms - m.square(new_mg) + c(self.eps))
        if not self.momentum:
            return [(ms, new_ms), (mg, new_mg), (var, var - delta)]
        new_mom = c(self.momentum) * slots[1] + delta
        return [(ms, new_ms), (mg, new_mg), (slots[1], new_mom), (var, var - new_mom)]


class RMSPropOptimizer(Optimizer):
    """TF1's RMSProp: ``ms = decay*ms + (1-decay)*g^2`` (ms starting at 1),
    ``mom = momentum*mom + lr*g/sqrt(ms + epsilon)``, ``var -= mom``; ``centered`` uses
    ``ms - mg^2`` with ``mg`` the running mean gradient."""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False, centered=False,
                 name="RMSProp"):
        super().__init__(_TF1RMSProp(learning_rate, decay, momentum, epsilon, centered), name)


class AdagradOptimizer(Optimizer):
    """``accum += g^2; var -= lr * g / sqrt(accum)``, accum starting at 0.1."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False, name="Adagrad"):
        super().__init__(gc_train.Adagrad(learning_rate, initial_accumulator_value), name)


# -- the global step --------------------------------------------------------------------------
def get_global_step(graph=None):
    """The graph's ``global_step`` Variable, or None."""
    graph = graph or get_default_graph()
    return graph.tensor("global_step") if graph.has_node("global_step") else None


def create_global_step(graph=None):
    """A new int64 ``global_step`` Variable starting at 0 (an error if there is one)."""
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError("'global_step' already exists")
    with graph.as_default(), graph.at_root():
        return Variable(np.int64(0), name="global_step", trainable=False)


def get_or_create_global_step(graph=None):
    """The graph's ``global_step`` Variable, made if missing."""
    step = get_global_step(graph)
    return create_global_step(graph) if step is None else step


@located
def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """``learning_rate * decay_rate ** (global_step / decay_steps)`` (the exponent floored
    when ``staircase``), a float32 scalar Tensor."""
    step = m.cast(as_tensor(global_step), dt.float32)
    p = step / float(decay_steps)
    if staircase:
        p = m.floor(p)
    return m.multiply(float(learning_rate), m.power(float(decay_rate), p), name=name)


@located
def piecewise_constant(x, boundaries, values, name=None):
    """``values[i]`` where ``boundaries[i-1] < x <= boundaries[i]`` (TF1's rule)."""
    if len(values) != len(boundaries) + 1:
        raise ValueError("piecewise_constant needs one more value than boundaries")
    x = as_tensor(x)
    out = as_tensor(values[-1], dtype=dt.float32, graph=x.graph)
    for bound, value in reversed(list(zip(boundaries, values[:-1]))):
        out = m.where(m.less_equal(x, bound), as_tensor(value, dtype=dt.float32, graph=x.graph), out)
    return out if name is None else m.add(out, 0.0, name=name)


def __getattr__(name):
    from .unsupported import feature_error
    raise feature_error(name, "tf.train")
