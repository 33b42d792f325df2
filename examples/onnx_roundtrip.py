"""ONNX both ways: a graphc model exported and run by onnxruntime, and an ONNX model (a small
CNN with batch norm, exported by torch where it is installed, else built with onnx.helper)
loaded by graphc, its optimized IR printed, its output compared with onnxruntime's.

    python examples/onnx_roundtrip.py        (needs onnx and onnxruntime: the dev extra)
"""
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import graphc as gc

rng = np.random.default_rng(0)
folder = tempfile.mkdtemp()

# 1. graphc -> ONNX: a two-layer MLP with trained-looking weights, exported from its session
x = gc.placeholder(gc.float32, (None, 16), name="x")
w1 = gc.Variable(rng.normal(size=(16, 32)).astype(np.float32) * 0.3, name="w1")
w2 = gc.Variable(rng.normal(size=(32, 4)).astype(np.float32) * 0.3, name="w2")
probs = gc.nn.softmax(gc.nn.gelu(x @ w1) @ w2)
batch = rng.normal(size=(8, 16)).astype(np.float32)
with gc.Session() as sess:
    sess.run(gc.assign(w2, w2 * 2.0))                 # the exported model has the session's values
    ours = sess.run(probs, {x: batch})
    mlp_path = os.path.join(folder, "mlp.onnx")
    gc.onnx.export(probs, mlp_path, inputs=[x], session=sess)
(theirs,) = ort.InferenceSession(mlp_path, providers=["CPUExecutionProvider"]).run(None, {"x": batch})
print(f"exported {mlp_path}: {len(onnx.load(mlp_path).graph.node)} ONNX nodes")
print(f"graphc -> onnxruntime: max |graphc - onnxruntime| = {np.abs(ours - theirs).max():.2e}")


# 2. ONNX -> graphc: a CNN with batch norm
def torch_cnn(path):
    import torch
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10)).eval()
    kwargs = dict(input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                  opset_version=17)
    try:   # the TorchScript exporter (the dynamo one needs onnxscript)
        torch.onnx.export(net, torch.zeros(1, 3, 16, 16), path, dynamo=False, **kwargs)
    except TypeError:   # a torch without the dynamo switch
        torch.onnx.export(net, torch.zeros(1, 3, 16, 16), path, **kwargs)
    return "torch.onnx.export"


def helper_cnn(path):
    def init(name, *shape, scale=0.3):
        return numpy_helper.from_array((rng.normal(size=shape) * scale).astype(np.float32), name)
    inits = [init("w1", 8, 3, 3, 3), init("b1", 8), init("w2", 16, 8, 3, 3), init("b2", 16), init("fc", 10, 16),
             init("fcb", 10), numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "scale"),
             init("shift", 8, scale=0.1), init("mean", 8, scale=0.1),
             numpy_helper.from_array(rng.uniform(0.5, 2, 8).astype(np.float32), "var")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "scale", "shift", "mean", "var"], ["n1"], name="bn1"),
             helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return "onnx.helper"


cnn_path = os.path.join(folder, "cnn.onnx")
try:
    made_by = torch_cnn(cnn_path)
except ImportError:
    made_by = helper_cnn(cnn_path)
graph, inputs, outputs = gc.onnx.load(cnn_path)
images = rng.normal(size=(4, 3, 16, 16)).astype(np.float32)
with gc.Session(graph) as sess:
    compiled = sess.compile(outputs, {inputs["x"]: images})
    print(f"\n== {cnn_path} (made by {made_by}): optimized IR")
    print(compiled.ir())
    (ours,) = sess.run(outputs, {inputs["x"]: images})
(theirs,) = ort.InferenceSession(cnn_path, providers=["CPUExecutionProvider"]).run(None, {"x": images})
print(f"ONNX -> graphc: max |graphc - onnxruntime| = {np.abs(ours - theirs).max():.2e}")
assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-5)
