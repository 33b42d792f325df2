"""``gc.placeholder``: a graph input fed at run time."""
from . import dtypes as dt
from .builder import make


def placeholder(dtype, shape=None, name=None):
    """An input fed through ``feed_dict``. ``shape`` entries may be None (fixed when fed).

    ``shape=None`` is not supported (unknown rank): give one entry per axis.
    """
    if shape is None:
        raise TypeError("placeholder needs a shape (use None entries for unknown sizes)")
    dims = tuple(None if d is None else int(d) for d in shape)
    if any(d is not None and d < 0 for d in dims):
        raise ValueError(f"placeholder shape {tuple(shape)} has a negative size")
    return make("placeholder", (), {"dtype": dt.as_dtype(dtype), "shape": dims}, name=name or "Placeholder")
