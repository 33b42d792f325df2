"""TF1 features graphc does not have: each name exists and raises a clear error naming
the feature, so a TF1 program stops where it needs one instead of misbehaving."""
from ...errors import GraphcError


class UnsupportedError(GraphcError, NotImplementedError):
    """A TF1 feature graphc does not have (docs/tf1.md, "Not supported")."""


_MISSING = {
    "cond": "control flow (tf.cond): graphc graphs have no conditionals yet; compute both branches and "
            "pick one with tf.where",
    "case": "control flow (tf.case): graphc graphs have no conditionals yet; use tf.where",
    "while_loop": "control flow (tf.while_loop): graphc graphs have no loops yet; unroll the loop in Python",
    "map_fn": "control flow (tf.map_fn): graphc graphs have no loops yet; use batched ops or a Python loop",
    "scan": "control flow (tf.scan): graphc graphs have no loops yet; unroll it in Python",
    "foldl": "control flow (tf.foldl): graphc graphs have no loops yet",
    "foldr": "control flow (tf.foldr): graphc graphs have no loops yet",
    "py_func": "tf.py_func: graphc compiles whole graphs and cannot call Python from inside a run",
    "py_function": "tf.py_function: graphc compiles whole graphs and cannot call Python from inside a run",
    "numpy_function": "tf.numpy_function: graphc compiles whole graphs and cannot call Python from inside a run",
    "TensorArray": "tf.TensorArray: it needs control flow, which graphc does not have yet",
    "SparseTensor": "sparse tensors (tf.SparseTensor)",
    "sparse_placeholder": "sparse tensors (tf.sparse_placeholder)",
    "string": "string tensors (tf.string): graphc has float32, float64, int32, int64 and bool",
    "float16": "float16 tensors: graphc has float32, float64, int32, int64 and bool",
    "bfloat16": "bfloat16 tensors: graphc has float32, float64, int32, int64 and bool",
    "uint8": "uint8 tensors: graphc has float32, float64, int32, int64 and bool (cast images to float32)",
    "int8": "int8 tensors: graphc has float32, float64, int32, int64 and bool",
    "int16": "int16 tensors: graphc has float32, float64, int32, int64 and bool",
    "complex64": "complex tensors: graphc has float32, float64, int32, int64 and bool",
    "Print": "tf.Print: fetch the tensor with sess.run instead",
    "print": "tf.print: fetch the tensor with sess.run instead",
    "data": "tf.data input pipelines: feed numpy arrays through feed_dict",
    "estimator": "tf.estimator: write the training loop with a Session (or use gc.layers)",
    "contrib": "tf.contrib",
    "image": "tf.image",
    "string_to_number": "string tensors",
    "dynamic_rnn": "recurrent layers (tf.nn.dynamic_rnn needs tf.while_loop); unroll the cell in Python",
    "static_rnn": "recurrent cells (tf.nn.rnn_cell); unroll the cell in Python with tf.matmul",
    "bidirectional_dynamic_rnn": "recurrent layers (they need tf.while_loop)",
    "rnn_cell": "recurrent cells (tf.nn.rnn_cell); unroll the cell in Python with tf.matmul",
}


def feature_error(name, where="tf"):
    """The error for TF1 name ``where.name``: unsupported (naming the feature) or unknown."""
    if name in _MISSING:
        return UnsupportedError(f"{where}.{name}: graphc does not support {_MISSING[name]} (docs/tf1.md)")
    if name.startswith("__"):   # (Python's own probes: copy, pickle, doctest)
        return AttributeError(name)
    return AttributeError(f"{where}.{name}: graphc.compat.v1 does not provide this TF1 name "
                          "(docs/tf1.md lists every name it has)")


def _unsupported_function(name):
    def call(*args, **kwargs):
        raise feature_error(name)
    call.__name__ = name
    call.__doc__ = f"Not supported: raises UnsupportedError ({_MISSING[name]})."
    return call


# TF1 functions that exist as names and raise when called (a module attribute for a dtype or a
# namespace raises on access instead, from the package's __getattr__)
FUNCTIONS = {name: _unsupported_function(name)
             for name in ("cond", "case", "while_loop", "map_fn", "scan", "foldl", "foldr", "py_func",
                          "py_function", "numpy_function", "sparse_placeholder", "Print", "print",
                          "string_to_number")}
