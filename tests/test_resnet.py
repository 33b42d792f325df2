"""ResNet-18 for 32x32 inputs (graphc/bench_conv.py, graphc/bench_resnet.py): graphc's
inference output and training step against float64 references (numpy; torch's, with the
same weights, where torch is installed)."""
import numpy as np
import pytest

import graphc as gc
from graphc import bench_conv, bench_resnet


def _logits_graphc(feeds, params):
    x = gc.placeholder(gc.float32, feeds["x"].shape, name="x")
    variables = {k: gc.Variable(v, name=k) for k, v in params.items()}
    logits = bench_conv.resnet18(bench_conv.GRAPHC, x, **variables)
    with gc.Session(device="cpu") as sess:
        sess.run(gc.global_variables_initializer())
        return sess.run(logits, {x: feeds["x"]})


@pytest.fixture(scope="module")
def inference_inputs():
    feeds, params = bench_conv.resnet_inputs(np.random.default_rng(0))
    return {"x": feeds["x"][:3]}, params


def test_resnet18_inference_matches_numpy_in_float64(inference_inputs):
    feeds, params = inference_inputs
    got = _logits_graphc(feeds, params)
    exact = bench_conv.resnet18(bench_conv.xp_ops(np), feeds["x"], **params)
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, exact, rtol=1e-4, atol=1e-4 * np.abs(exact).max())


def test_resnet18_inference_matches_torch_with_the_same_weights(inference_inputs):
    torch = pytest.importorskip("torch")
    feeds, params = inference_inputs
    got = _logits_graphc(feeds, params)
    tensors = {k: torch.from_numpy(v.astype(np.float64)) for k, v in {**feeds, **params}.items()}
    with torch.no_grad():
        expected = bench_conv.resnet18(bench_conv.torch_ops(torch), **tensors).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.fixture(scope="module")
def training_step():
    """(x, labels, params) of a batch of 4 and the float64 reference step from them."""
    x, labels, params = bench_resnet.inputs(np.random.default_rng(1), batch=4)
    return (x, labels, params), bench_resnet.numpy_step(x, labels, params)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_resnet18_training_step_matches_a_float64_step(dtype, training_step):
    """Loss and every updated parameter (54 convolution, batch norm and dense tensors) after
    one SGD step, batch 4, against torch's float64 autograd (or graphc's numpy reference
    device). In float64 every update agrees to 1e-9 of its size. In float32 only the loss is
    compared: a pre-activation within float32 rounding of 0 (one in 262144 here, 4e-8) takes
    the other side of a relu than in float64 and changes every gradient below it by up to
    8% of its size, in graphc as in torch's own float32 step."""
    (x, labels, params), (ref_loss, ref_params) = training_step
    step, get = bench_resnet.graphc_system(x, labels, params, dtype=dtype)
    loss = step()
    assert abs(loss - ref_loss) <= (1e-12 if dtype == np.float64 else 1e-5) * abs(ref_loss)
    if dtype == np.float32:
        return
    got = get()
    assert len(got) == len(ref_params) == len(bench_resnet.parameter_names())
    for name, g, start, want in zip(bench_resnet.parameter_names(), got, params, ref_params):
        step_size = np.abs(want - start).max()   # the update itself, not the weights, is what is checked
        assert np.abs(g - want).max() <= 1e-9 * step_size, name
