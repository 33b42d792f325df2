"""Models exported by ``torch.onnx.export`` (where torch is installed) run through gc.onnx.load
and checked against torch and onnxruntime: a small ResNet-style CNN with batch norm, and a
transformer encoder layer with attention. The same model shapes built with onnx.helper are
tested without torch in tests/test_onnx_import.py."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import graphc as gc  # noqa: E402


class _Residual(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(channels)
        self.conv2 = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(channels)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


class _Attention(torch.nn.Module):
    """A post-norm encoder layer written out (torch's own layer takes a fused path in eval)."""

    def __init__(self, d=32, heads=4, ffn=64):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.norm1, self.norm2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.ff1, self.ff2 = torch.nn.Linear(d, ffn), torch.nn.Linear(ffn, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
        h = (weights @ v).transpose(1, 2).reshape(b, t, d)
        x = self.norm1(x + self.out(h))
        return self.norm2(x + self.ff2(torch.nn.functional.gelu(self.ff1(x))))


def _export(net, example, path):
    net.eval()
    kwargs = dict(input_names=["x"], output_names=["y"], opset_version=17)
    try:   # the TorchScript exporter (the dynamo one needs onnxscript)
        torch.onnx.export(net, example, path, dynamo=False, **kwargs)
    except TypeError:   # a torch without the dynamo switch
        torch.onnx.export(net, example, path, **kwargs)
    with torch.no_grad():
        return net(example).numpy()


def _check(path, x, expected):
    graph, inputs, (y,) = gc.onnx.load(path)
    with gc.Session(graph) as sess:
        ours = sess.run(y, {inputs["x"]: x})
    (theirs,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)


def test_resnet_style_cnn_with_batch_norm(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              _Residual(8), torch.nn.MaxPool2d(2), _Residual(8), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 10))
    for m in net.modules():   # batch-norm statistics other than the defaults
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(4, 3, 16, 16)
    expected = _export(net, x, tmp_path / "cnn.onnx")
    _check(tmp_path / "cnn.onnx", x.numpy(), expected)


def test_transformer_encoder_layer_with_attention(tmp_path):
    torch.manual_seed(1)
    x = torch.randn(2, 8, 32)
    expected = _export(_Attention(), x, tmp_path / "encoder.onnx")
    _check(tmp_path / "encoder.onnx", x.numpy(), expected)
