"""What ``fit`` does to its data first: per-example weights and the validation split."""
import math

import numpy as np

from . import losses


def example_weights(loss, y, sample_weight, class_weight):
    """float32 weights, one per example, or None when every weight is 1.

    ``sample_weight``: one non-negative number per example. ``class_weight``: {class index:
    weight}, applied through the example's label (its class index for sparse labels, the
    argmax of one-hot labels); classes not named weigh 1. As in Keras 3, not both.
    """
    if sample_weight is not None and class_weight is not None:
        raise ValueError("fit: give sample_weight or class_weight, not both (as Keras)")
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim == 2 and w.shape[1] == 1:
            w = w[:, 0]
        if w.shape != (len(y),):
            raise ValueError(f"sample_weight must have one value per example ({len(y)}), got shape {w.shape}")
    elif class_weight is not None:
        classes = _class_indices(loss, y)
        table = {int(k): float(v) for k, v in dict(class_weight).items()}
        w = np.array([table.get(int(c), 1.0) for c in classes], dtype=np.float64)
    else:
        return None
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample and class weights must be finite and non-negative")
    return w.astype(np.float32)


def _class_indices(loss, y):
    if loss == "sparse_categorical_crossentropy" or (y.ndim == 1 and y.dtype.kind in "iu"):
        return y
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):   # binary labels 0/1
        return np.round(y.reshape(-1)).astype(np.int64)
    raise ValueError(f"class_weight needs class labels; got labels of shape {y.shape} for loss "
                     f"{losses.metric_name(loss)!r}")


def split_validation(data, validation_split, validation_data):
    """``(training arrays, validation tuple or None)``. ``validation_data`` wins; else the
    last ``validation_split`` fraction of the examples (before any shuffling), as Keras."""
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
        return data, tuple(validation_data)
    split = float(validation_split or 0.0)
    if split == 0.0:
        return data, None
    if not 0.0 < split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    n = len(data[0])
    at = int(math.ceil(n * (1.0 - split)))
    if at == 0 or at == n:
        raise ValueError(f"validation_split={validation_split} of {n} examples leaves no "
                         f"{'training' if at == 0 else 'validation'} examples")
    x, y, w = data
    return (x[:at], y[:at], None if w is None else w[:at]), \
        (x[at:], y[at:]) + (() if w is None else (w[at:],))
