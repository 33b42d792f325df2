"""Losses and metrics of ``Sequential.compile``, by name or callable.

Cross-entropy losses always work on logits, as Keras's ``from_logits=True`` does:
when the model's last layer has no activation its outputs *are* the logits; when it
ends in ``activation="softmax"`` the loss uses the pre-softmax logits (stable, no
``log(softmax)``), while ``predict`` returns the probabilities. Any other final
activation with a cross-entropy loss is an error.
"""
import numpy as np

from .. import dtypes as dt, math_ops as m, nn

CROSS_ENTROPY = ("sparse_categorical_crossentropy", "categorical_crossentropy")
LOSSES = CROSS_ENTROPY + ("mse",)
_ALIASES = {"mean_squared_error": "mse", "acc": "accuracy"}


def check_loss(loss):
    """The canonical name of a loss name, or the callable itself."""
    if callable(loss):
        return loss
    name = _ALIASES.get(loss, loss)
    if name not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; use one of {list(LOSSES)} or a callable "
                         "(y_true, y_pred) -> per-example loss")
    return name


def check_metric(metric):
    if callable(metric):
        return metric
    name = _ALIASES.get(metric, metric)
    if name != "accuracy":
        raise ValueError(f"unknown metric {metric!r}; use 'accuracy' or a callable (y_true, y_pred) -> "
                         "per-example values")
    return name


def metric_name(metric):
    return metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")


def label_spec(loss, output_shape, y):
    """(dtype, shape with batch None) of the label placeholder for labels like ``y``."""
    rest = tuple(output_shape[1:])
    if loss == "sparse_categorical_crossentropy":
        return dt.int64, (None,) + rest[:-1]
    if loss in ("categorical_crossentropy", "mse"):
        return dt.float32, (None,) + rest
    y = np.asarray(y)
    dtype = dt.int64 if y.dtype.kind in "iu" else dt.float32
    return dtype, (None,) + y.shape[1:]


def prepare_labels(loss, y, spec):
    """``y`` as a C-contiguous array of the placeholder's dtype; (N, 1) and (N,) interchange."""
    dtype, shape = spec
    y = np.asarray(y)
    if y.ndim == len(shape) + 1 and y.shape[-1] == 1:
        y = y[..., 0]
    elif y.ndim == len(shape) - 1 and shape[-1] == 1:
        y = y[..., None]
    if y.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, y.shape)):
        raise ValueError(f"labels of shape {y.shape} do not fit the model's outputs for loss "
                         f"{metric_name(loss)!r} (expected {tuple('None' if s is None else s for s in shape)})")
    if dtype == dt.int64 and y.dtype.kind == "f":
        if not np.array_equal(y, np.round(y)):
            raise ValueError("sparse labels must be integers")
    return np.ascontiguousarray(y, dtype=dtype)


def per_example_loss(loss, y_true, outputs, logits):
    """The loss of each example (shape (batch,)); ``logits`` is None when the last layer's
    activation makes them unavailable."""
    if loss in CROSS_ENTROPY:
        if logits is None:
            raise ValueError(f"loss {loss!r} needs logits: end the model with activation=None (logits) "
                             "or activation='softmax'")
        if loss == "sparse_categorical_crossentropy":
            return nn.sparse_softmax_cross_entropy(logits, y_true)
        return nn.softmax_cross_entropy(logits, y_true)
    if loss == "mse":
        return _mean_rest(m.square(outputs - y_true))
    return _mean_rest(loss(y_true, outputs))


def per_example_metric(metric, loss, y_true, outputs):
    """Values whose mean is the metric. "accuracy": the argmax of the outputs matches the
    label (sparse), the argmax of the labels (one-hot / multi-output), or for one output
    per example, both sides of 0.5 agree."""
    if metric != "accuracy":
        return m.cast(_mean_rest(metric(y_true, outputs)), dt.float32)
    if loss == "sparse_categorical_crossentropy":
        hit = m.equal(m.argmax(outputs, -1), y_true)
    elif outputs.shape[-1] not in (None, 1):
        hit = m.equal(m.argmax(outputs, -1), m.argmax(y_true, -1))
    else:
        hit = m.equal(outputs > 0.5, y_true > 0.5)
    return m.cast(_mean_rest(m.cast(hit, dt.float32)), dt.float32)


def _mean_rest(t):
    """Mean over every axis but the batch axis."""
    return m.mean(t, tuple(range(1, t.ndim))) if t.ndim > 1 else t
