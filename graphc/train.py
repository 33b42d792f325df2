"""``gc.train``: optimizers that turn a loss into one update Operation.

``opt.minimize(loss, var_list=None)`` builds the gradients (gc.gradients) and one
``assign`` per variable and slot, grouped into a single Operation, so the whole
training step (forward, backward, update) is one compiled, fused program. All reads
in a step see the values from before it; all updates commit together at its end.
Slot variables (momentum, Adam's moments) are ordinary non-trainable Variables named
``<var>/<Optimizer>/<slot>``. ``lr`` may be a float or a scalar Tensor (a schedule).
The update formulas are TF1's.
"""
import functools

import numpy as np

from .array_ops import broadcast_to
from .builder import as_tensor, constant, located
from .errors import GraphcError
from .gradients import gradients
from .math_ops import cast, power, sqrt, square
from .state import assign, assign_add, group, trainable_variables
from .tensor import Variable


class Optimizer:
    """Base class: subclasses define ``_slot_names`` and ``_update(var, grad, slots, step)``."""

    _slot_names = ()
    _slot_start = {}   # slot -> the number it starts at (0 unless named)
    _uses_step = False
    _config_keys = ()
    _complements_in_dtype = False

    def __init__(self, lr):
        self.lr = lr
        self._slots = {}
        self._step = None
        self._per_dtype = {}   # within one apply_gradients: what every variable of a dtype shares

    # -- TF1's three-part API ------------------------------------------------------------
    @located
    def compute_gradients(self, loss, var_list=None):
        """``[(gradient or None, variable), ...]`` for ``var_list`` (default: trainable variables)."""
        loss = as_tensor(loss)
        var_list = list(var_list) if var_list is not None else trainable_variables(loss.graph)
        if not var_list:
            raise GraphcError("optimizer: no variables to optimize")
        for v in var_list:
            if not isinstance(v, Variable):
                raise GraphcError(f"optimizer: var_list holds {v!r}, not a gc.Variable")
        return list(zip(gradients(loss, var_list), var_list))

    @located
    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """One Operation applying the gradients (and incrementing ``global_step`` if given)."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            names = ", ".join(f"'{v.name}'" for _, v in grads_and_vars)
            raise GraphcError(f"optimizer: no gradient reaches any of the variables {names}")
        graph = pairs[0][1].graph
        name = name or type(self).__name__
        updates = []
        slots = {v: [self._slot(v, s) for s in self._slot_names] for _, v in pairs}   # named after v, unscoped
        if self._uses_step and self._step is None:
            self._step = Variable(np.float32(0), name=f"{type(self).__name__}/step", trainable=False)
        self._per_dtype = {}
        with graph.name_scope(name):
            step = self._next_step(updates) if self._uses_step else None
            for g, v in pairs:
                for var, value in self._update(v, cast(g, v.dtype), slots[v], step):
                    updates.append(assign(var, value))
            if global_step is not None:
                updates.append(assign_add(global_step, 1))
        return group(*updates, name=name)

    @located
    def minimize(self, loss, var_list=None, global_step=None, name=None):
        """One Operation: a training step that lowers ``loss``."""
        return self.apply_gradients(self.compute_gradients(loss, var_list), global_step, name)

    def get_config(self):
        """The constructor arguments (``type(opt)(**config)``); ``lr`` is None when it is a
        Tensor (a schedule, a placeholder, or the learning-rate Variable of a model)."""
        lr = self.lr if isinstance(self.lr, (int, float, np.number)) else None
        return {"lr": None if lr is None else float(lr), **{k: getattr(self, k) for k in self._config_keys}}

    # -- state -------------------------------------------------------------------------------
    def get_slot(self, var, slot):
        """The slot Variable ``slot`` of ``var`` (e.g. "momentum", "m", "v")."""
        return self._slots[(var.node, slot)]

    def _slot(self, var, slot):
        key = (var.node, slot)
        if key not in self._slots:
            start = broadcast_to(constant(self._slot_start.get(slot, 0), dtype=var.dtype, graph=var.graph), var.shape)
            with var.graph.at_root():   # (named after var, wherever the optimizer is applied)
                self._slots[key] = Variable(start, name=f"{var.name}/{type(self).__name__}/{slot}", trainable=False)
        return self._slots[key]

    def _next_step(self, updates):
        """The step number of this update (1 on the first), kept in a float32 Variable."""
        step = self._step + 1.0
        updates.append(assign(self._step, step))
        return step

    def _lr(self, var):
        return self._shared(var, "lr", lambda: cast(as_tensor(self.lr, dtype=var.dtype, graph=var.graph), var.dtype))

    def _shared(self, var, what, make):
        """``make()``, built once per dtype in one apply_gradients and shared by its variables
        (a step size, a constant): the graph holds one copy, not one per variable."""
        key = (what, var.dtype)
        if key not in self._per_dtype:
            self._per_dtype[key] = make()
        return self._per_dtype[key]

    def _one_minus(self, var, value):
        """The constant ``1 - value``: from the exact float64 difference, or (TF1's kernels,
        ``_complements_in_dtype``) from the difference rounded in the variable's dtype."""
        if self._complements_in_dtype:
            return self._constant(var, float(var.dtype.type(1) - var.dtype.type(value)))
        return self._constant(var, 1.0 - value)

    def _constant(self, var, value):
        return self._shared(var, ("constant", value), lambda: constant(value, dtype=var.dtype, graph=var.graph))


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum (TF1 MomentumOptimizer):
    ``a = momentum*a + g; var -= lr*a`` (Nesterov: ``var -= lr*(g + momentum*a)``)."""

    _config_keys = ("momentum", "nesterov")

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False):
        super().__init__(lr)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self._slot_names = ("momentum",) if self.momentum else ()

    def _update(self, var, g, slots, step):
        lr = self._lr(var)
        if not self.momentum:
            return [(var, var - lr * g)]
        (accum,) = slots
        new_accum = self._constant(var, self.momentum) * accum + g
        direction = g + self._constant(var, self.momentum) * new_accum if self.nesterov else new_accum
        return [(accum, new_accum), (var, var - lr * direction)]


class Adam(Optimizer):
    """Adam (Kingma & Ba, TF1 form): bias correction folded into the step size,
    ``var -= lr*sqrt(1-beta2^t)/(1-beta1^t) * m / (sqrt(v) + eps)``."""

    _slot_names = ("m", "v")
    _uses_step = True

    _config_keys = ("beta1", "beta2", "eps")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _update(self, var, g, slots, step):
        m, v = slots
        c = functools.partial(self._constant, var)

        def step_size():
            t = cast(step, var.dtype)
            return self._lr(var) * sqrt(1.0 - power(c(self.beta2), t)) / (1.0 - power(c(self.beta1), t))
        new_m = c(self.beta1) * m + self._one_minus(var, self.beta1) * g
        new_v = c(self.beta2) * v + self._one_minus(var, self.beta2) * square(g)
        lr_t = self._shared(var, "step size", step_size)
        return [(m, new_m), (v, new_v), (var, var - lr_t * new_m / (sqrt(new_v) + c(self.eps)))]


class RMSProp(Optimizer):
    """RMSProp (TF1 form): ``ms = decay*ms + (1-decay)*g^2;
    mom = momentum*mom + lr*g/sqrt(ms + eps); var -= mom``."""

    _config_keys = ("decay", "momentum", "eps")

    def __init__(self, lr=0.001, decay=0.9, momentum=0.0, eps=1e-10):
        super().__init__(lr)
        self.decay, self.momentum, self.eps = float(decay), float(momentum), float(eps)
        self._slot_names = ("ms", "momentum") if self.momentum else ("ms",)

    def _update(self, var, g, slots, step):
        ms, c = slots[0], functools.partial(self._constant, var)
        new_ms = c(self.decay) * ms + self._one_minus(var, self.decay) * square(g)
        delta = self._lr(var) * g / sqrt(new_ms + c(self.eps))
        if not self.momentum:
            return [(ms, new_ms), (var, var - delta)]
        new_mom = c(self.momentum) * slots[1] + delta
        return [(ms, new_ms), (slots[1], new_mom), (var, var - new_mom)]


class Adagrad(Optimizer):
    """Adagrad (TF1 form): ``accum += g^2; var -= lr*g/sqrt(accum)``, the accumulator
    starting at ``initial_accumulator_value``."""

    _slot_names = ("accumulator",)
    _config_keys = ("initial_accumulator_value",)

    def __init__(self, lr=0.001, initial_accumulator_value=0.1):
        super().__init__(lr)
        if not initial_accumulator_value > 0:
            raise ValueError(f"Adagrad's initial_accumulator_value must be positive, got {initial_accumulator_value}")
        self.initial_accumulator_value = float(initial_accumulator_value)
        self._slot_start = {"accumulator": self.initial_accumulator_value}

    def _update(self, var, g, slots, step):
        (accum,) = slots
        new_accum = accum + square(g)
        return [(accum, new_accum), (var, var - self._lr(var) * g / sqrt(new_accum))]


GradientDescentOptimizer = SGD   # TF1 names
AdamOptimizer = Adam
RMSPropOptimizer = RMSProp

__all__ = ["Optimizer", "SGD", "Adam", "RMSProp", "Adagrad"]

from .saver import (CheckpointState, Saver, checkpoint_exists, get_checkpoint_state,  # noqa: E402
                    latest_checkpoint, update_checkpoint_state)

__all__ += ["Saver", "CheckpointState", "checkpoint_exists", "get_checkpoint_state", "latest_checkpoint",
            "update_checkpoint_state"]
