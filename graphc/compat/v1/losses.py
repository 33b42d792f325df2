"""``tf.losses``: TF1's weighted losses, reduced as TF1 reduces them (by default the sum
over the elements divided by the number of nonzero weights)."""
from ... import dtypes as dt
from ... import math_ops as m
from ... import nn as gnn
from ...array_ops import ones_like
from ...builder import as_tensor, located
from ...variable_scope import get_regularization_loss, get_regularization_losses  # noqa: F401  (tf.losses names)

__all__ = ["Reduction", "compute_weighted_loss", "softmax_cross_entropy", "sparse_softmax_cross_entropy",
           "sigmoid_cross_entropy", "mean_squared_error", "absolute_difference", "huber_loss", "log_loss",
           "get_losses", "get_regularization_loss", "get_regularization_losses", "get_total_loss", "add_loss"]


class Reduction:
    NONE = "none"
    SUM = "weighted_sum"
    MEAN = "weighted_mean"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"


LOSSES = "losses"


@located
def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """``losses * weights`` (weights broadcast to the losses' shape), reduced by ``reduction``;
    the result joins ``loss_collection`` (``get_losses``, ``get_total_loss``)."""
    losses = as_tensor(losses)
    losses = losses if dt.is_float(losses.dtype) else m.cast(losses, dt.float32)
    weights = m.cast(as_tensor(weights, graph=losses.graph), losses.dtype)
    weighted = m.multiply(losses, weights)
    if reduction == Reduction.NONE:
        loss = weighted
    else:
        total = m.sum(weighted)
        if reduction == Reduction.SUM:
            loss = total
        elif reduction == Reduction.MEAN:
            loss = _safe_div(total, m.sum(weights * ones_like(losses)))
        elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
            from .array import size
            loss = _safe_div(total, m.cast(size(weighted), losses.dtype))
        elif reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
            present = m.cast(m.not_equal(weights * ones_like(losses), 0.0), losses.dtype)
            loss = _safe_div(total, m.sum(present))
        else:
            raise ValueError(f"unknown reduction {reduction!r}")
    if loss_collection:
        from . import add_to_collection
        add_to_collection(loss_collection, loss)
    return loss


def _safe_div(a, b):
    """``a / b``, 0 where b is 0 (TF1's losses return 0 for all-zero weights)."""
    return m.where(m.greater(b, 0), a / m.maximum(b, 1e-30), m.multiply(a, 0.0))


def _weighted(fn):
    """The TF1 loss signature: ``..., weights=1.0, scope=None, loss_collection, reduction``."""
    def call(*args, weights=1.0, scope=None, loss_collection=LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
             **kwargs):
        return compute_weighted_loss(fn(*args, **kwargs), weights, scope, loss_collection, reduction)
    call.__name__ = call.__qualname__ = fn.__name__
    call.__doc__ = fn.__doc__
    return located(call)


def _smoothed(labels, smoothing, classes):
    labels = as_tensor(labels)
    return labels if not smoothing else labels * (1.0 - smoothing) + smoothing / classes


@_weighted
def softmax_cross_entropy(onehot_labels, logits, label_smoothing=0):
    """Per-example softmax cross-entropy of ``logits`` against one-hot (or soft) labels,
    smoothed toward uniform by ``label_smoothing``."""
    logits = as_tensor(logits)
    labels = m.cast(as_tensor(onehot_labels), logits.dtype)
    return gnn.softmax_cross_entropy(logits, m.stop_gradient(_smoothed(labels, label_smoothing, logits.shape[-1])))


@_weighted
def sparse_softmax_cross_entropy(labels, logits):
    """Per-example softmax cross-entropy of ``logits`` against integer class labels."""
    return gnn.sparse_softmax_cross_entropy(logits, labels)


@_weighted
def sigmoid_cross_entropy(multi_class_labels, logits, label_smoothing=0):
    """Elementwise sigmoid cross-entropy (labels smoothed toward 1/2 by ``label_smoothing``)."""
    x = as_tensor(logits)
    z = m.cast(as_tensor(multi_class_labels), x.dtype)
    if label_smoothing:
        z = z * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return m.maximum(x, 0) - x * z + m.log1p(m.exp(-m.abs(x)))


@_weighted
def mean_squared_error(labels, predictions):
    """Elementwise ``(predictions - labels)**2``."""
    p = as_tensor(predictions)
    return m.square(p - m.cast(as_tensor(labels), p.dtype))


@_weighted
def absolute_difference(labels, predictions):
    """Elementwise ``|predictions - labels|``."""
    p = as_tensor(predictions)
    return m.abs(p - m.cast(as_tensor(labels), p.dtype))


@_weighted
def huber_loss(labels, predictions, delta=1.0):
    """Elementwise Huber loss: quadratic within ``delta`` of the label, linear beyond."""
    p = as_tensor(predictions)
    error = m.abs(p - m.cast(as_tensor(labels), p.dtype))
    quadratic = m.minimum(error, delta)
    return 0.5 * m.square(quadratic) + delta * (error - quadratic)


@_weighted
def log_loss(labels, predictions, epsilon=1e-7):
    """Elementwise ``-labels log(p + eps) - (1 - labels) log(1 - p + eps)``."""
    p = as_tensor(predictions)
    y = m.cast(as_tensor(labels), p.dtype)
    return -(y * m.log(p + epsilon)) - (1.0 - y) * m.log(1.0 - p + epsilon)


def get_losses(scope=None, loss_collection=LOSSES):
    """The losses the functions above added to ``loss_collection``."""
    from . import get_collection
    return get_collection(loss_collection, scope)


@located
def add_loss(loss, loss_collection=LOSSES):
    """Add ``loss`` to ``loss_collection``."""
    from . import add_to_collection
    add_to_collection(loss_collection, loss)


@located
def get_total_loss(add_regularization_losses=True, name="total_loss", scope=None):
    """The sum of ``get_losses()`` and (by default) the regularization losses."""
    terms = get_losses(scope) + (get_regularization_losses(scope) if add_regularization_losses else [])
    if not terms:
        raise ValueError("No losses to add: make a tf.losses loss (or add_loss) first")
    total = terms[0]
    for t in terms[1:]:
        total = m.add(total, t)
    return m.add(total, 0.0, name=name)


def __getattr__(name):
    from .unsupported import feature_error
    raise feature_error(name, "tf.losses")
