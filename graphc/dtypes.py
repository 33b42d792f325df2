"""graphc dtypes: numpy dtype objects, short IR names, and promotion rules.

graphc's dtypes *are* numpy dtypes, so ``t.dtype == np.float32`` and
``t.dtype == "float32"`` both hold. Promotion follows numpy between tensors and
NEP 50 for Python scalars, which are *weak*: ``x * 2.0`` keeps x's dtype.
Python floats default to float32 and Python ints to int64.
"""
import numpy as np

from .errors import DTypeError

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

ALL = (bool_, int32, int64, float32, float64)
SHORT_NAMES = {bool_: "bool", int32: "i32", int64: "i64", float32: "f32", float64: "f64"}
BY_SHORT_NAME = {v: k for k, v in SHORT_NAMES.items()}

DEFAULT_FLOAT = float32
DEFAULT_INT = int64


def as_dtype(dtype):
    """Normalize a graphc/numpy dtype, numpy scalar type or string to a supported dtype."""
    if isinstance(dtype, str) and dtype in BY_SHORT_NAME:
        return BY_SHORT_NAME[dtype]
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise DTypeError(f"not a dtype: {dtype!r}") from e
    if dt not in SHORT_NAMES:
        supported = ", ".join(str(d) for d in ALL)
        raise DTypeError(f"unsupported dtype {dt}; graphc supports {supported}")
    return dt


def short_name(dtype):
    return SHORT_NAMES[dtype]


def is_float(dtype):
    return dtype.kind == "f"


def is_int(dtype):
    return dtype.kind == "i"


def is_bool(dtype):
    return dtype.kind == "b"


def promote(*dtypes):
    """numpy promotion between strong (tensor) dtypes."""
    return as_dtype(np.result_type(*dtypes))


def weak_scalar_dtype(value, other):
    """dtype a weak Python scalar takes next to a tensor of dtype ``other`` (NEP 50)."""
    if isinstance(value, (bool, np.bool_)):
        return other
    if isinstance(value, int):
        if other.kind in "if":
            info = np.iinfo(other) if other.kind == "i" else None
            if info is not None and not info.min <= value <= info.max:
                raise DTypeError(f"Python int {value} does not fit in {other}")
            return other
        return DEFAULT_INT
    if isinstance(value, float):
        return other if is_float(other) else DEFAULT_FLOAT
    raise DTypeError(f"not a Python scalar: {value!r}")


def default_dtype_for(value):
    """dtype a value gets as a constant: numpy arrays and scalars keep theirs;
    Python floats (and lists of them) give float32, Python ints int64."""
    if isinstance(value, (np.ndarray, np.generic)):
        return as_dtype(value.dtype)
    kind = np.asarray(value).dtype.kind
    if kind == "f":
        return DEFAULT_FLOAT
    if kind in "iu":
        return DEFAULT_INT
    return as_dtype(np.asarray(value).dtype)


def float_result(dtype):
    """dtype of a float-valued op (exp, divide, mean) on ``dtype``: ints and bool give float32."""
    return dtype if is_float(dtype) else DEFAULT_FLOAT
