"""Convolution workloads of ``python -m graphc.bench``: single convolutions (+ bias + relu)
at the shapes of the convnet issue, a depthwise one, and a ResNet-18 for 32x32 inputs
(inference, batch 32, batch norm folded into the convolutions' weights and biases, as an
inference graph has it).

Each network is written once against a small set of ops (``Ops``): numpy (the float64
reference, cast to float32), jax.numpy, graphc, torch and ONNX each supply theirs.
"""
import math

import numpy as np

import graphc as gc


class Ops:
    """conv(x, w, b, stride, pad, groups), relu, add, mean over H and W, dense(x, w, b)."""

    def __init__(self, conv, relu, add, spatial_mean, dense):
        self.conv, self.relu, self.add, self.spatial_mean, self.dense = conv, relu, add, spatial_mean, dense


# -- the ops of each system ------------------------------------------------------------------
def _numpy_conv(x, w, b, stride, pad, groups):
    """Float64 convolution by one tensordot per kernel offset and group."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    w = w.astype(np.float64)
    o, cg, kh, kw = w.shape
    oh, ow = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    og = o // groups
    out = np.zeros((x.shape[0], o, oh, ow))
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                if groups == o and cg == 1:   # depthwise: one channel per filter
                    out[:, g:g + 1] += patch * w[g, 0, i, j]
                else:
                    out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    return out + b.astype(np.float64)[:, None, None]


def _jax_conv(x, w, b, stride, pad, groups):
    import jax
    y = jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)], feature_group_count=groups)
    return y + b[:, None, None]


def xp_ops(xp):
    if xp is np:
        return Ops(_numpy_conv, lambda x: np.maximum(x, 0), np.add, lambda x: x.mean(axis=(2, 3)),
                   lambda x, w, b: x @ w.astype(np.float64) + b)
    return Ops(_jax_conv, lambda x: xp.maximum(x, 0), xp.add, lambda x: x.mean(axis=(2, 3)), lambda x, w, b: x @ w + b)


GRAPHC = Ops(lambda x, w, b, stride, pad, groups: gc.nn.conv2d(x, w, stride, pad, groups=groups)
             + gc.reshape(b, (-1, 1, 1)),
             gc.relu, lambda a, b: a + b, lambda x: gc.mean(x, axis=(2, 3)), lambda x, w, b: x @ w + b)


def torch_ops(torch):
    f = torch.nn.functional
    return Ops(lambda x, w, b, stride, pad, groups: f.conv2d(x, w, b, stride, pad, groups=groups),
               torch.relu, torch.add, lambda x: x.mean(dim=(2, 3)), lambda x, w, b: x @ w + b)


def onnx_ops(g):
    def conv(x, w, b, stride, pad, groups):
        return g.op("Conv", x, w, b, strides=[stride, stride], pads=[pad] * 4, group=groups)
    return Ops(conv, lambda x: g.op("Relu", x), lambda a, b: g.op("Add", a, b),
               lambda x: g.op("Flatten", g.op("GlobalAveragePool", x)),
               lambda x, w, b: g.op("Add", g.op("MatMul", x, w), b))


def _as_float32(xp, y):
    return y.astype(np.float32) if xp is np else y


# -- single convolutions -----------------------------------------------------------------------
CONVS = {   # name: (x shape, w shape, stride, pad, groups)
    "conv3x3_64": ((16, 64, 32, 32), (64, 64, 3, 3), 1, 1, 1),
    "conv7x7_s2": ((8, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1),
    "conv3x3_128": ((32, 128, 16, 16), (128, 128, 3, 3), 1, 1, 1),
    "dwconv3x3_256": ((32, 256, 28, 28), (256, 1, 3, 3), 1, 1, 256),
}


def conv_workload(workload_class, name):
    """One convolution + bias + relu; the weights are Variables (initializers in ONNX)."""
    x_shape, w_shape, stride, pad, groups = CONVS[name]

    def inputs(rng):
        fan_in = int(np.prod(w_shape[1:]))
        params = {"w": (rng.standard_normal(w_shape) / math.sqrt(fan_in)).astype(np.float32),
                  "b": (rng.standard_normal(w_shape[0]) * 0.1).astype(np.float32)}
        return {"x": rng.standard_normal(x_shape).astype(np.float32)}, params

    def define(ops, x, w, b):
        return ops.relu(ops.conv(x, w, b, stride, pad, groups))

    k = f"{w_shape[2]}x{w_shape[3]}"
    kind = "depthwise " if groups > 1 else ""
    description = (f"{kind}conv {k} stride {stride} pad {pad} + bias + relu, x {'x'.join(map(str, x_shape))} "
                   f"-> {w_shape[0]} channels")
    return workload_class(name, description, inputs,
                          lambda xp, **a: _as_float32(xp, define(xp_ops(xp), **a)),
                          lambda **t: define(GRAPHC, **t),
                          lambda torch, **t: define(torch_ops(torch), **t),
                          lambda g, **names: define(onnx_ops(g), **names))


# -- ResNet-18 for 32x32 inputs ------------------------------------------------------------------
STAGES = (64, 128, 256, 512)
RESNET_BATCH = 32


def resnet_layout():
    """[(name, in channels, out channels, kernel, stride)] of every convolution, in order:
    the 3x3 stem, then per stage two basic blocks (conv a, conv b, and a 1x1 shortcut
    where the first block changes size)."""
    convs, c = [("stem", 3, 64, 3, 1)], 64
    for s, width in enumerate(STAGES):
        for block in range(2):
            stride = 2 if s > 0 and block == 0 else 1
            tag = f"s{s}b{block}"
            convs += [(f"{tag}a", c, width, 3, stride), (f"{tag}b", width, width, 3, 1)]
            if stride != 1 or c != width:
                convs.append((f"{tag}down", c, width, 1, stride))
            c = width
    return convs


def resnet_inputs(rng):
    params = {}
    for name, cin, cout, k, _ in resnet_layout():
        params[f"{name}_w"] = (rng.standard_normal((cout, cin, k, k)) / math.sqrt(cin * k * k)).astype(np.float32)
        params[f"{name}_b"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    params["fc_w"] = (rng.standard_normal((512, 10)) / math.sqrt(512)).astype(np.float32)
    params["fc_b"] = np.zeros(10, np.float32)
    return {"x": rng.standard_normal((RESNET_BATCH, 3, 32, 32)).astype(np.float32)}, params


def resnet_logits(ops, x, p, unit):
    """The ResNet-18 of ``resnet_layout``: ``unit(h, name, stride, pad)`` is one convolution
    with what follows it (its bias, or batch norm); basic blocks; logits."""
    h = ops.relu(unit(x, "stem", 1, 1))
    for s in range(len(STAGES)):
        for block in range(2):
            tag = f"s{s}b{block}"
            stride = 2 if s > 0 and block == 0 else 1
            inner = unit(ops.relu(unit(h, f"{tag}a", stride, 1)), f"{tag}b", 1, 1)
            shortcut = unit(h, f"{tag}down", stride, 0) if f"{tag}down_w" in p else h
            h = ops.relu(ops.add(inner, shortcut))
    return ops.dense(ops.spatial_mean(h), p["fc_w"], p["fc_b"])


def resnet18(ops, x, **p):
    """Logits of the ResNet-18 (basic blocks; batch norm folded into each convolution)."""
    return resnet_logits(ops, x, p, lambda h, name, stride, pad: ops.conv(h, p[f"{name}_w"], p[f"{name}_b"], stride,
                                                                          pad, 1))


def resnet_workload(workload_class):
    return workload_class("resnet18_infer", f"ResNet-18 inference, batch {RESNET_BATCH}, 3x32x32 inputs, "
                                            "batch norm folded into the convolutions; weights are Variables",
                          resnet_inputs, lambda xp, **a: _as_float32(xp, resnet18(xp_ops(xp), **a)),
                          lambda **t: resnet18(GRAPHC, **t), lambda torch, **t: resnet18(torch_ops(torch), **t),
                          lambda g, **names: resnet18(onnx_ops(g), **names), time_numpy=False)


def workloads(workload_class):
    return [conv_workload(workload_class, name) for name in CONVS] + [resnet_workload(workload_class)]
