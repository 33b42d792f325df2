"""gc.onnx.load on models built with onnx.helper: results against onnxruntime and numpy,
dynamic dims, trainable initializers, constant inputs, and the errors' wording."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import graphc as gc  # noqa: E402
from graphc.onnx.importer import OnnxImportError  # noqa: E402

F32 = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "m", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _onnxruntime(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _graphc(model, feeds, **kwargs):
    graph, inputs, outputs = gc.onnx.load(model, **kwargs)
    with gc.Session(graph) as sess:
        return sess.run(outputs, {inputs[k]: v for k, v in feeds.items()})


def _cnn(rng):
    """Conv + BatchNormalization + Relu + MaxPool, twice, then GlobalAveragePool, Flatten, Gemm."""
    p = {"w1": rng.normal(size=(8, 3, 3, 3)) * 0.3, "b1": rng.normal(size=8) * 0.1,
         "s1": rng.uniform(0.5, 1.5, 8), "o1": rng.normal(size=8) * 0.1, "m1": rng.normal(size=8) * 0.1,
         "v1": rng.uniform(0.5, 2.0, 8),
         "w2": rng.normal(size=(16, 8, 3, 3)) * 0.2, "s2": rng.uniform(0.5, 1.5, 16), "o2": rng.normal(size=16) * 0.1,
         "m2": rng.normal(size=16) * 0.1, "v2": rng.uniform(0.5, 2.0, 16),
         "fc": rng.normal(size=(10, 16)) * 0.3, "fcb": rng.normal(size=10) * 0.1}
    p = {k: v.astype(np.float32) for k, v in p.items()}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s1", "o1", "m1", "v1"], ["n1"], name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2", strides=[2, 2], auto_pad="SAME_UPPER"),
        helper.make_node("BatchNormalization", ["c2", "s2", "o2", "m2", "v2"], ["n2"], name="bn2"),
        helper.make_node("Relu", ["n2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], name="fc", transB=1),
    ]
    x = helper.make_tensor_value_info("x", F32, ["batch", 3, 16, 16])
    y = helper.make_tensor_value_info("y", F32, ["batch", 10])
    return _model(nodes, [x], [y], p.items())


def _encoder_layer(rng, d=32, heads=4, ffn=64):
    """One post-norm transformer encoder layer: attention with Softmax, LayerNormalization, Gelu."""
    hd = d // heads
    p = {"wq": rng.normal(size=(d, d)), "wk": rng.normal(size=(d, d)), "wv": rng.normal(size=(d, d)),
         "wo": rng.normal(size=(d, d)), "w1": rng.normal(size=(d, ffn)), "w2": rng.normal(size=(ffn, d))}
    p = {k: (v / np.sqrt(v.shape[0])).astype(np.float32) for k, v in p.items()}
    p.update({"g1": np.ones(d, np.float32), "be1": np.zeros(d, np.float32), "g2": rng.uniform(0.5, 1.5, d).astype(np.float32),
              "be2": rng.normal(size=d).astype(np.float32) * 0.1, "b1": np.zeros(ffn, np.float32),
              "split_shape": np.array([0, 0, heads, hd], np.int64), "merge_shape": np.array([0, 0, d], np.int64),
              "scale": np.array(1 / np.sqrt(hd), np.float32)})
    nodes = []
    for name in "qkv":
        nodes += [helper.make_node("MatMul", ["x", f"w{name}"], [f"{name}0"]),
                  helper.make_node("Reshape", [f"{name}0", "split_shape"], [f"{name}1"]),
                  helper.make_node("Transpose", [f"{name}1"], [name], perm=[0, 2, 1, 3] if name != "k" else [0, 2, 3, 1])]
    nodes += [helper.make_node("MatMul", ["q", "k"], ["s0"]), helper.make_node("Mul", ["s0", "scale"], ["s"]),
              helper.make_node("Softmax", ["s"], ["a"], axis=-1), helper.make_node("MatMul", ["a", "v"], ["h0"]),
              helper.make_node("Transpose", ["h0"], ["h1"], perm=[0, 2, 1, 3]),
              helper.make_node("Reshape", ["h1", "merge_shape"], ["h2"]),
              helper.make_node("MatMul", ["h2", "wo"], ["o"]), helper.make_node("Add", ["x", "o"], ["r1"]),
              helper.make_node("LayerNormalization", ["r1", "g1", "be1"], ["n1"], axis=-1, epsilon=1e-5),
              helper.make_node("MatMul", ["n1", "w1"], ["f0"]), helper.make_node("Add", ["f0", "b1"], ["f1"]),
              helper.make_node("Gelu", ["f1"], ["f2"]), helper.make_node("MatMul", ["f2", "w2"], ["f3"]),
              helper.make_node("Add", ["n1", "f3"], ["r2"]),
              helper.make_node("LayerNormalization", ["r2", "g2", "be2"], ["y"], axis=-1, epsilon=1e-5)]
    x = helper.make_tensor_value_info("x", F32, [2, 8, d])
    y = helper.make_tensor_value_info("y", F32, [2, 8, d])
    return _model(nodes, [x], [y], p.items(), opset=20)


def test_cnn_with_batch_norm_matches_onnxruntime_at_two_batch_sizes():
    rng = np.random.default_rng(0)
    model = _cnn(rng)
    graph, inputs, outputs = gc.onnx.load(model)
    assert inputs["x"].shape == (None, 3, 16, 16) and outputs[0].shape == (None, 10)
    with gc.Session(graph) as sess:
        for batch in (1, 5):
            x = rng.normal(size=(batch, 3, 16, 16)).astype(np.float32)
            (ours,) = sess.run(outputs, {inputs["x"]: x})
            (theirs,) = _onnxruntime(model, {"x": x})
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
        folded = sess.compile(outputs, {inputs["x"]: x}).stage("fold_batch_norm").graph
    # both batch norms went into their convolution's weights: no multiply is left
    assert [n.op for n in folded.nodes].count("conv2d") == 2 and "multiply" not in [n.op for n in folded.nodes]


def test_transformer_encoder_layer_matches_onnxruntime():
    rng = np.random.default_rng(1)
    model = _encoder_layer(rng)
    x = rng.normal(size=(2, 8, 32)).astype(np.float32)
    (ours,) = _graphc(model, {"x": x})
    (theirs,) = _onnxruntime(model, {"x": x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_node_names_are_kept_and_initializers_become_constants():
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                   [helper.make_tensor_value_info("x", F32, [4, 3])],
                   [helper.make_tensor_value_info("y", F32, [4, 2])], [("w", w)])
    graph, inputs, outputs = gc.onnx.load(model.SerializeToString())
    assert graph.has_node("w") and graph.node("w").op == "constant"
    assert inputs["x"].name == "x"
    x = np.ones((4, 3), np.float32)
    with gc.Session(graph) as sess:
        np.testing.assert_array_equal(sess.run(outputs[0], {inputs["x"]: x}), x @ w)


def test_trainable_initializers_are_variables_that_gradients_update():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(3, 1)).astype(np.float32)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                   [helper.make_tensor_value_info("x", F32, [8, 3])],
                   [helper.make_tensor_value_info("y", F32, [8, 1])], [("w", w)])
    graph, inputs, (y,) = gc.onnx.load(model, trainable=True)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    target = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    with graph.as_default():
        loss = gc.mean(gc.square(y - target))
        (w_var,) = gc.trainable_variables()
        (grad,) = gc.gradients(loss, [w_var])
        step = gc.assign_sub(w_var, grad * 0.1)
    with gc.Session(graph) as sess:
        g, _ = sess.run([grad, step], {inputs["x"]: x})
        expected = 2 * x.T.astype(np.float64) @ (x @ w - target) / 8
        np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sess.run(w_var), w - 0.1 * expected, rtol=1e-5, atol=1e-6)


def test_shape_inputs_fed_as_graph_inputs_need_constant_inputs():
    model = _model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="rs")],
                   [helper.make_tensor_value_info("x", F32, [2, 6]),
                    helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                   [helper.make_tensor_value_info("y", F32, [3, 4])])
    with pytest.raises(OnnxImportError, match=r"ONNX node 'rs' \(Reshape, opset 17\).*graph inputs \['shape'\]"):
        gc.onnx.load(model)
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    (y,) = _graphc(model, {"x": x}, constant_inputs={"shape": np.array([3, 4])})
    np.testing.assert_array_equal(y, x.reshape(3, 4))


def test_an_unsupported_op_names_the_node_and_opset():
    model = _model([helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk_node")],
                   [helper.make_tensor_value_info("x", F32, [4])],
                   [helper.make_tensor_value_info("v", F32, [2]), helper.make_tensor_value_info("i", TensorProto.INT64, [2])],
                   [("k", np.array([2], np.int64))])
    with pytest.raises(OnnxImportError, match=r"ONNX node 'topk_node' \(TopK, opset 17\): op TopK is not supported"):
        gc.onnx.load(model)


def test_an_unsupported_dtype_names_the_tensor():
    model = _model([helper.make_node("Relu", ["x"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [4])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [4])])
    with pytest.raises(OnnxImportError, match=r"graph input 'x' has ONNX type FLOAT16"):
        gc.onnx.load(model)


def test_a_graphc_error_inside_a_node_carries_the_onnx_node():
    # a 3-D convolution: the converter refuses it by the node's name
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv3d")],
                   [helper.make_tensor_value_info("x", F32, [1, 1, 4, 4, 4])],
                   [helper.make_tensor_value_info("y", F32, [1, 1, 2, 2, 2])],
                   [("w", np.ones((1, 1, 3, 3, 3), np.float32))])
    with pytest.raises(OnnxImportError, match=r"ONNX node 'conv3d' \(Conv, opset 17\): 3-D Conv"):
        gc.onnx.load(model)


def test_built_nodes_carry_the_onnx_node_as_their_location():
    model = _model([helper.make_node("LeakyRelu", ["x"], ["y"], name="act", alpha=0.1)],
                   [helper.make_tensor_value_info("x", F32, [3])], [helper.make_tensor_value_info("y", F32, [3])])
    graph, _, (y,) = gc.onnx.load(model)
    assert "ONNX node 'act' (LeakyRelu, opset 17)" in y.node.loc


def test_graphc_run_prints_saves_and_compares_with_onnxruntime(tmp_path, capsys):
    from graphc.tools.cli import main
    rng = np.random.default_rng(3)
    model = _cnn(rng)
    path, x_path = tmp_path / "cnn.onnx", tmp_path / "x.npy"
    onnx.save(model, path)
    x = rng.normal(size=(2, 3, 16, 16)).astype(np.float32)
    np.save(x_path, x)
    assert main(["run", str(path), "--input", f"x={x_path}", "--save", str(tmp_path / "out"),
                 "--bench", "--repeats", "2"]) == 0
    text = capsys.readouterr().out
    assert "y: float32[2, 10]  max |graphc - onnxruntime|" in text
    assert "graphc fused" in text and "graphc unfused" in text and "onnxruntime" in text
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), _onnxruntime(model, {"x": x})[0],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("argv, message", [
    ([], "input 'x' has dynamic dims (None, 3, 16, 16): give it with --input x=FILE.npy"),
    (["--input", "z=a.npy"], "--input 'z': the model's inputs are x"),
    (["--input", "x=missing.npy"], "--input x: no file 'missing.npy'"),
])
def test_graphc_run_bad_input_is_one_line(tmp_path, capsys, argv, message):
    from graphc.tools.cli import main
    path = tmp_path / "cnn.onnx"
    onnx.save(_cnn(np.random.default_rng(0)), path)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(path)] + argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"graphc: error: {message}\n"


def test_a_graphc_model_exported_and_loaded_back_gives_the_same_result():
    rng = np.random.default_rng(4)
    x = gc.placeholder(gc.float32, (None, 6), name="x")
    w = gc.Variable(rng.normal(size=(6, 5)).astype(np.float32), name="w")
    y = gc.nn.layer_norm(gc.nn.gelu(x @ w, approximate="none"), axis=-1)
    out = gc.nn.log_softmax(y * 2.0)
    data = rng.normal(size=(3, 6)).astype(np.float32)
    with gc.Session() as sess:
        ours = sess.run(out, {x: data})
        model = gc.onnx.export(out, inputs=[x], session=sess)
    (back,) = _graphc(model, {"x": data})
    np.testing.assert_allclose(back, ours, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back, _onnxruntime(model, {"x": data})[0], rtol=1e-5, atol=1e-6)


def test_an_attribute_graphc_does_not_read_is_an_error():
    # Constant's value_string: a string tensor (graphc has none)
    model = _model([helper.make_node("Constant", [], ["c"], name="text", value_string="hello"),
                    helper.make_node("Identity", ["x"], ["y"])],
                   [helper.make_tensor_value_info("x", F32, [1])], [helper.make_tensor_value_info("y", F32, [1])])
    with pytest.raises(OnnxImportError, match=r"ONNX node 'text' \(Constant, opset 17\): attribute"):
        gc.onnx.load(model)


def test_a_kernel_shape_that_contradicts_the_weights_is_an_error():
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[2, 2])],
                   [helper.make_tensor_value_info("x", F32, [1, 1, 4, 4])],
                   [helper.make_tensor_value_info("y", F32, [1, 1, 2, 2])],
                   [("w", np.ones((1, 1, 3, 3), np.float32))])
    with pytest.raises(OnnxImportError, match=r"ONNX node 'c' \(Conv, opset 17\): kernel_shape \[2, 2\] differs "
                                              r"from the weights' \[3, 3\]"):
        gc.onnx.load(model)


def test_onnx_names_graphc_does_not_allow_are_made_valid():
    model = _model([helper.make_node("Relu", ["input::0"], ["y"])],
                   [helper.make_tensor_value_info("input::0", F32, [2])], [helper.make_tensor_value_info("y", F32, [2])])
    graph, inputs, (y,) = gc.onnx.load(model)
    assert inputs["input::0"].name == "input__0"
    with gc.Session(graph) as sess:
        np.testing.assert_array_equal(sess.run(y, {inputs["input::0"]: np.array([-1.0, 2.0], np.float32)}), [0.0, 2.0])


def _window_model(node, x_shape, initializers, opset=17):
    """One window op on input ``x`` (batch dynamic), output ``y`` of unknown dims."""
    x = helper.make_tensor_value_info("x", F32, ["batch"] + list(x_shape[1:]))
    y = helper.make_tensor_value_info("y", F32, [None] * len(x_shape))
    return _model([node], [x], [y], initializers, opset=opset)


def _round_trip(model, feeds, rtol=1e-5, atol=1e-5):
    """graphc's result of ``model`` and onnxruntime's of its export, against onnxruntime's
    of the model; returns the imported graph."""
    (want,) = _onnxruntime(model, feeds)
    graph, inputs, outputs = gc.onnx.load(model)
    with gc.Session(graph) as sess:
        (ours,) = sess.run(outputs, {inputs[k]: v for k, v in feeds.items()})
    np.testing.assert_allclose(ours, want, rtol=rtol, atol=atol)
    back = gc.onnx.export(outputs, inputs=[inputs[k] for k in feeds])
    onnx.checker.check_model(back, full_check=True)
    (theirs,) = _onnxruntime(back, {inputs[k].name: v for k, v in feeds.items()})
    np.testing.assert_allclose(theirs, want, rtol=rtol, atol=atol)
    return graph


_CONV_TRANSPOSES = {   # id: (x shape, weights' shape, attributes)
    "plain": ((2, 4, 5, 4), (4, 3, 3, 3), {}),
    "stride2-pads-output-padding": ((2, 4, 5, 4), (4, 3, 3, 2), dict(strides=[2, 2], pads=[1, 0, 1, 1],
                                                                      output_padding=[1, 0])),
    "stride3-asymmetric": ((2, 4, 4, 5), (4, 2, 3, 3), dict(strides=[3, 2], pads=[2, 0, 0, 1],
                                                             output_padding=[2, 1])),
    "output-padding-past-the-pads": ((1, 4, 4, 4), (4, 2, 2, 2), dict(strides=[2, 2], output_padding=[1, 1])),
    "dilation2": ((2, 4, 5, 5), (4, 3, 3, 2), dict(dilations=[2, 2], pads=[1, 2, 0, 1])),
    "groups2": ((2, 4, 5, 4), (4, 3, 3, 3), dict(group=2, strides=[2, 1], pads=[1, 1, 0, 1])),
    "depthwise": ((2, 4, 5, 4), (4, 1, 3, 3), dict(group=4, strides=[2, 2], pads=[1, 1, 1, 1])),
    "1x1-stride2": ((2, 4, 3, 3), (4, 5, 1, 1), dict(strides=[2, 2])),
    "output-shape": ((2, 4, 3, 4), (4, 2, 3, 3), dict(strides=[2, 2], output_shape=[8, 9])),
    "same-upper": ((2, 4, 3, 4), (4, 2, 3, 2), dict(strides=[2, 2], auto_pad="SAME_UPPER")),
    "1-d": ((2, 4, 6), (4, 3, 3), dict(strides=[2], pads=[1, 0], output_padding=[1])),
}


@pytest.mark.parametrize("case", sorted(_CONV_TRANSPOSES))
def test_conv_transpose_is_one_transposed_convolution(case):
    """ConvTranspose imports as graphc's conv2d_backward_input (strides, pads, output_padding,
    dilations, groups, output_shape, auto_pad, 1-D), matches onnxruntime, and exports back."""
    x_shape, w_shape, attrs = _CONV_TRANSPOSES[case]
    rng = np.random.default_rng(5)
    w = rng.normal(size=w_shape).astype(np.float32)
    b = rng.normal(size=w_shape[1] * attrs.get("group", 1)).astype(np.float32)
    model = _window_model(helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="ct", **attrs), x_shape,
                          [("w", w), ("b", b)])
    graph = _round_trip(model, {"x": rng.normal(size=x_shape).astype(np.float32)})
    assert "conv2d_backward_input" in {n.op for n in graph.nodes}


_WINDOW_NODES = {   # id: (op type, attributes, weights' shape or None)
    "conv-stride2-pads": ("Conv", dict(strides=[2, 2], pads=[1, 0, 2, 1]), (6, 4, 3, 3)),
    "conv-dilation2-groups2": ("Conv", dict(dilations=[2, 2], group=2, pads=[2, 1, 2, 3]), (6, 2, 3, 3)),
    "conv-depthwise-1x1": ("Conv", dict(group=4), (4, 1, 1, 1)),
    "maxpool-dilation2": ("MaxPool", dict(kernel_shape=[2, 3], strides=[1, 2], pads=[1, 1, 0, 1],
                                          dilations=[2, 2]), None),
    "maxpool-ceil": ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), None),
    "avgpool-include-pad": ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 0],
                                                count_include_pad=1), None),
    "avgpool-exclude-pad": ("AveragePool", dict(kernel_shape=[3, 2], pads=[1, 0, 1, 1]), None),
    "avgpool-same-lower": ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_LOWER"), None),
    "avgpool-ceil": ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, pads=[1, 1, 1, 1],
                                         count_include_pad=1), None),
    "avgpool-dilation2": ("AveragePool", dict(kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 0, 0]), None),
}


@pytest.mark.parametrize("case", sorted(_WINDOW_NODES))
def test_conv_and_pools_round_trip_through_export(case):
    """An ONNX Conv, MaxPool or AveragePool imported into graphc and exported again gives
    onnxruntime's numbers for the original model (at opset 19, AveragePool's dilations)."""
    op_type, attrs, w_shape = _WINDOW_NODES[case]
    rng = np.random.default_rng(6)
    inits = [] if w_shape is None else [("w", rng.normal(size=w_shape).astype(np.float32))]
    node = helper.make_node(op_type, ["x"] + [k for k, _ in inits], ["y"], name="window", **attrs)
    model = _window_model(node, (2, 4, 9, 8), inits, opset=19)
    graph = _round_trip(model, {"x": rng.normal(size=(2, 4, 9, 8)).astype(np.float32)})
    primitives = {"Conv": "conv2d", "MaxPool": "max_pool2d", "AveragePool": None}
    assert primitives[op_type] is None or primitives[op_type] in {n.op for n in graph.nodes}


def test_cnn_with_batch_norm_round_trips_through_export():
    rng = np.random.default_rng(0)
    _round_trip(_cnn(rng), {"x": rng.normal(size=(3, 3, 16, 16)).astype(np.float32)}, rtol=1e-4)


def test_conv_transpose_output_padding_past_the_stride():
    """output_padding >= stride (which dilations allow; onnxruntime and onnx's reference
    evaluator refuse it): ONNX's formula, zeros past the transposed convolution's end."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=(4, 2, 2, 2)).astype(np.float32)
    model = _window_model(helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="ct", dilations=[3, 2],
                                           output_padding=[2, 1], pads=[0, 1, 0, 0]), (1, 4, 4, 4), [("w", w)])
    x = rng.normal(size=(1, 4, 4, 4)).astype(np.float32)
    full = np.zeros((1, 2, 4 + 3 + 2, 4 + 2 + 1))      # s*(n-1) + d*(k-1) + 1, then output_padding
    for i in range(2):
        for j in range(2):
            full[:, :, 3 * i:3 * i + 4, 2 * j:2 * j + 4] += np.einsum("nchw,co->nohw", x, w[:, :, i, j])
    (ours,) = _graphc(model, {"x": x})
    np.testing.assert_allclose(ours, full[:, :, :, 1:], rtol=1e-5, atol=1e-5)
    assert ours.shape == (1, 2, 9, 6) and not ours[:, :, 7:].any()
