"""The ONNX backend node cases graphc does not run, each with its reason: one file, read by
tests/test_onnx_backend.py and ``python -m graphc.onnx.conformance``. A case is excluded
when its model computes with a dtype graphc lacks, uses an op graphc does not import, or is
named below for a feature of a supported op that graphc lacks. Every other case must pass."""
import re

# element types graphc does not compute with (it has float32, float64, int32, int64, bool)
UNSUPPORTED_DTYPES = {
    "FLOAT16": "16-bit floats", "BFLOAT16": "16-bit floats", "INT8": "8-bit integers",
    "UINT8": "unsigned integers", "UINT16": "unsigned integers", "UINT32": "unsigned integers",
    "UINT64": "unsigned integers", "INT16": "16-bit integers", "STRING": "strings",
    "INT4": "4-bit integers", "UINT4": "4-bit integers", "INT2": "2-bit integers",
    "UINT2": "2-bit integers", "FLOAT8E4M3FN": "8-bit floats", "FLOAT8E4M3FNUZ": "8-bit floats",
    "FLOAT8E5M2": "8-bit floats", "FLOAT8E5M2FNUZ": "8-bit floats", "FLOAT8E8M0": "8-bit floats",
    "FLOAT4E2M1": "4-bit floats", "COMPLEX64": "complex numbers", "COMPLEX128": "complex numbers",
}

_CONTROL = "control flow (graphc compiles static graphs; no If, Loop or Scan)"
_SEQUENCES = "sequences and optionals (graphc values are tensors)"
_RANDOM = "random sampling inside the model (gc.random has its own ops)"
_TRAINING = "ONNX training ops (graphc trains with gc.gradients and gc.train)"
_QUANTIZED = "quantized ops (graphc has no 8-bit types)"
_RECURRENT = "recurrent layers (they need loops over time)"
_SIGNAL = "signal processing ops (DFT family)"
_DYNAMIC = "outputs whose shape depends on the values (graphc needs shapes at compile time)"
_NO_PRIMITIVE = "no graphc primitive yet"
UNSUPPORTED_OPS = {
    "If": _CONTROL, "Loop": _CONTROL, "Scan": _CONTROL,
    "SequenceMap": _SEQUENCES, "SequenceInsert": _SEQUENCES, "SequenceEmpty": _SEQUENCES,
    "SplitToSequence": _SEQUENCES, "OptionalGetElement": _SEQUENCES, "OptionalHasElement": _SEQUENCES,
    "Bernoulli": _RANDOM, "RandomUniformLike": _RANDOM, "RandomNormalLike": _RANDOM,
    "Adagrad": _TRAINING, "Adam": _TRAINING, "Momentum": _TRAINING,
    "QuantizeLinear": _QUANTIZED, "DequantizeLinear": _QUANTIZED, "DynamicQuantizeLinear": _QUANTIZED,
    "QLinearConv": _QUANTIZED, "QLinearMatMul": _QUANTIZED, "ConvInteger": _QUANTIZED,
    "MatMulInteger": _QUANTIZED,
    "RNN": _RECURRENT, "GRU": _RECURRENT, "LSTM": _RECURRENT,
    "DFT": _SIGNAL, "STFT": _SIGNAL, "MelWeightMatrix": _SIGNAL, "BlackmanWindow": _SIGNAL,
    "HammingWindow": _SIGNAL, "HannWindow": _SIGNAL,
    "NonZero": _DYNAMIC, "Compress": _DYNAMIC, "Unique": _DYNAMIC, "NonMaxSuppression": _DYNAMIC,
    "BitShift": "bitwise ops (graphc has no bitwise primitives)",
    "BitwiseAnd": "bitwise ops (graphc has no bitwise primitives)",
    "BitwiseOr": "bitwise ops (graphc has no bitwise primitives)",
    "BitwiseXor": "bitwise ops (graphc has no bitwise primitives)",
    "BitwiseNot": "bitwise ops (graphc has no bitwise primitives)",
    "BitCast": "reinterpreting bits (graphc has no bitcast primitive)",
    "Acos": "inverse trigonometric functions (" + _NO_PRIMITIVE + ": no arctangent)",
    "Asin": "inverse trigonometric functions (" + _NO_PRIMITIVE + ": no arctangent)",
    "Atan": "inverse trigonometric functions (" + _NO_PRIMITIVE + ": no arctangent)",
    "Det": "linear algebra beyond matmul (" + _NO_PRIMITIVE + ")",
    "Attention": "fused attention ops of opset 23+ (not yet lowered)",
    "FlexAttention": "fused attention ops of opset 23+ (not yet lowered)",
    "LinearAttention": "fused attention ops of opset 23+ (not yet lowered)",
    "RotaryEmbedding": "rotary embeddings of opset 23+ (not yet lowered)",
    "SwiGLU": "SwiGLU of opset 24+ (not yet lowered)",
    "CausalConvWithState": "stateful causal convolution (not yet lowered)",
    "DeformConv": "deformable convolution (" + _NO_PRIMITIVE + ")",
    "MaxUnpool": "unpooling (needs pooling indices)",
    "Upsample": "resizing and interpolation (not yet lowered)",
    "GridSample": "grid sampling (" + _NO_PRIMITIVE + ")",
    "AffineGrid": "affine grids (not yet lowered)",
    "RoiAlign": "region pooling (" + _NO_PRIMITIVE + ")",
    "Col2Im": "col2im (not yet lowered; a scatter-add of patches)",
    "ScatterND": "scatter (graphc's scatter_add sums; ONNX's replaces)",
    "ScatterElements": "scatter (graphc's scatter_add sums; ONNX's replaces)",
    "Scatter": "scatter (graphc's scatter_add sums; ONNX's replaces)",
    "TensorScatter": "scatter (graphc's scatter_add sums; ONNX's replaces)",
    "TopK": "top-k selection (" + _NO_PRIMITIVE + ": no sort)",
    "ReverseSequence": "per-batch sequence reversal (not yet lowered)",
    "CumProd": "cumulative products (not yet lowered)",
    "ImageDecoder": "image decoding", "RegexFullMatch": "strings", "StringConcat": "strings",
    "StringNormalizer": "strings", "StringSplit": "strings", "TfIdfVectorizer": "strings",
    "LabelEncoder": "ONNX-ML ops", "TreeEnsemble": "ONNX-ML ops", "Binarizer": "ONNX-ML ops",
    "ArrayFeatureExtractor": "ONNX-ML ops",
}

# cases of supported ops that use a feature graphc lacks
EXCLUDED_CASES = [
    (r"test_(averagepool|maxpool|lppool)_3d_.*", "3-D pooling (graphc's windows are 1-D and 2-D)"),
    (r"test_convtranspose_3d", "3-D convolution (graphc's windows are 1-D and 2-D)"),
    (r"test_maxpool_with_argmax_.*", "MaxPool's Indices output"),
    (r"test_batchnorm_.*_training_mode", "batch norm in training mode (inference only)"),
    (r"test_training_dropout.*", "dropout in training mode (random masks inside the model)"),
    (r"test_identity_opt|test_identity_sequence", _SEQUENCES),
    (r"test_resize_downsample_sizes_nearest_not_smaller", "Resize's keep_aspect_ratio_policy with sizes that round up"),
    (r"test_einsum_batch_diagonal", "einsum with a repeated label in one operand (a diagonal)"),
]


def exclusion_reason(name, model=None):
    """Why the case ``name`` (with ``model``, its ModelProto) is excluded, or None."""
    name = re.sub(r"_(cpu|cuda)$", "", name)
    for pattern, reason in EXCLUDED_CASES:
        if re.fullmatch(pattern, name):
            return reason
    if model is None:
        return None
    ops = sorted({node.op_type for node in model.graph.node} & set(UNSUPPORTED_OPS))
    if ops:
        return f"op {ops[0]}: {UNSUPPORTED_OPS[ops[0]]}"
    dtypes = sorted(_element_types(model) & set(UNSUPPORTED_DTYPES))
    if dtypes:
        return f"dtype {dtypes[0]}: {UNSUPPORTED_DTYPES[dtypes[0]]}"
    return None


def _element_types(model):
    """The names of the element types of a model's inputs, outputs and initializers."""
    from onnx import TensorProto
    names = set()
    g = model.graph
    for value in list(g.input) + list(g.output) + list(g.value_info):
        t = value.type
        for kind in ("tensor_type", "sequence_type", "optional_type"):
            if t.HasField(kind):
                inner = getattr(t, kind)
                if kind == "tensor_type":
                    names.add(TensorProto.DataType.Name(inner.elem_type))
                else:
                    names.add("SEQUENCE")
    for init in g.initializer:
        names.add(TensorProto.DataType.Name(init.data_type))
    return names
