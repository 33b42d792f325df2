"""The ``resnet18_train`` benchmark: one SGD step (forward, backward, update) of a ResNet-18
for 32x32 images (CIFAR-shaped), batch 32, with batch normalization on batch statistics
after every convolution (the moving averages updated too, as a training step does), global
average pooling, a 512 -> 10 dense layer and mean softmax cross-entropy.

The layout is graphc/bench_conv.py's ResNet (``resnet_layout``); the convolutions have no
bias (batch norm follows). Every system starts from the same parameters and batch. The
first step is checked against a float64 step: torch's autograd where torch is installed,
else graphc's reference device (numpy, float64).
"""
import math

import numpy as np

import graphc as gc
from graphc.bench_conv import resnet_layout, resnet_logits
from graphc.bench_train import jax_trainer, torch_trainer, trainer_systems

BATCH, LR, EPS, MOMENTUM = 32, 0.01, 1e-5, 0.1
DESCRIPTION = (f"one SGD step of ResNet-18 (batch norm on batch statistics), batch {BATCH}, 3x32x32 images, "
               "softmax cross-entropy")


def parameter_names():
    names = []
    for name, *_ in resnet_layout():
        names += [f"{name}_w", f"{name}_gamma", f"{name}_beta"]
    return names + ["fc_w", "fc_b"]


def inputs(rng, batch=BATCH):
    """(x, labels, params): params in ``parameter_names`` order."""
    params = []
    for _, cin, cout, k, _ in resnet_layout():
        params += [(rng.standard_normal((cout, cin, k, k)) * math.sqrt(2 / (cin * k * k))).astype(np.float32),
                   (1 + 0.1 * rng.standard_normal(cout)).astype(np.float32),
                   (0.1 * rng.standard_normal(cout)).astype(np.float32)]
    params += [(rng.standard_normal((512, 10)) / math.sqrt(512)).astype(np.float32), np.zeros(10, np.float32)]
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    return x, rng.integers(0, 10, batch), params


def forward(ops, x, p):
    """Logits, with ``ops``: conv(x, w, stride, pad), bn(x, gamma, beta, name), relu, add,
    spatial_mean, dense(x, w, b)."""
    def unit(h, name, stride, pad):
        return ops.bn(ops.conv(h, p[f"{name}_w"], stride, pad), p[f"{name}_gamma"], p[f"{name}_beta"], name)
    return resnet_logits(ops, x, p, unit)


class _Ops:
    def __init__(self, **fns):
        self.__dict__.update(fns)


# -- graphc ----------------------------------------------------------------------------------------
def _graphc_bn(updates):
    def bn(h, gamma, beta, name):
        mean = gc.mean(h, axis=(0, 2, 3), keepdims=True)
        centered = h - mean
        var = gc.mean(centered * centered, axis=(0, 2, 3), keepdims=True)
        c = h.shape[1]
        moving_mean = gc.Variable(np.zeros(c, np.float32), name=f"{name}_moving_mean", trainable=False)
        moving_var = gc.Variable(np.ones(c, np.float32), name=f"{name}_moving_var", trainable=False)
        count = h.shape[0] * h.shape[2] * h.shape[3]
        updates.append(gc.assign(moving_mean, moving_mean * (1 - MOMENTUM) + gc.reshape(mean, (c,)) * MOMENTUM))
        updates.append(gc.assign(moving_var, moving_var * (1 - MOMENTUM)
                                 + gc.reshape(var, (c,)) * (MOMENTUM * count / (count - 1))))
        scale = gc.reshape(gamma, (c, 1, 1)) * gc.rsqrt(var + EPS)
        return centered * scale + gc.reshape(beta, (c, 1, 1))
    return bn


def graphc_model(dtype, updates):
    return _Ops(conv=lambda h, w, stride, pad: gc.nn.conv2d(h, w, stride, pad), bn=_graphc_bn(updates), relu=gc.relu,
                add=lambda a, b: a + b, spatial_mean=lambda h: gc.mean(h, axis=(2, 3)), dense=lambda h, w, b: h @ w + b)


def graphc_system(x, labels, params, optimize=True, dtype=np.float32, device="cpu"):
    graph = gc.Graph()
    with graph.as_default():
        xs = gc.placeholder(dtype, x.shape, name="x")   # (a static batch: batch norm's unbiased count)
        ys = gc.placeholder(gc.int64, labels.shape, name="labels")
        variables = [gc.Variable(a.astype(dtype), name=n) for a, n in zip(params, parameter_names())]
        updates = []
        logits = forward(graphc_model(dtype, updates), xs, dict(zip(parameter_names(), variables)))
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits, ys))
        train_op = gc.group(gc.train.SGD(LR).minimize(loss, var_list=variables), *updates)
    sess = gc.Session(graph, optimize=optimize, device=device)
    feeds = {xs: x.astype(dtype), ys: labels}
    return (lambda: sess.run([train_op, loss], feeds)[1]), (lambda: sess.run(variables))


# -- torch and jax -----------------------------------------------------------------------------
def _torch_forward(torch, stats):
    f = torch.nn.functional

    def bn(h, gamma, beta, name):
        mean, var = stats[name]
        return f.batch_norm(h, mean, var, gamma, beta, training=True, momentum=MOMENTUM, eps=EPS)
    return _Ops(conv=lambda h, w, stride, pad: f.conv2d(h, w, None, stride, pad), bn=bn, relu=torch.relu,
                add=torch.add, spatial_mean=lambda h: h.mean(dim=(2, 3)), dense=lambda h, w, b: h @ w + b)


def torch_system(x, labels, params, compiled=False, dtype=np.float32):
    import torch
    stats = {name: (torch.zeros(cout, dtype=torch.float64 if dtype == np.float64 else torch.float32),
                    torch.ones(cout, dtype=torch.float64 if dtype == np.float64 else torch.float32))
             for name, _, cout, _, _ in resnet_layout()}
    ops = _torch_forward(torch, stats)

    def loss(p, xt, yt):
        return torch.nn.functional.cross_entropy(forward(ops, xt, dict(zip(parameter_names(), p))), yt)
    return torch_trainer(loss, x.astype(dtype), labels, [a.astype(dtype) for a in params], LR, compiled)


def jax_system(x, labels, params):
    import jax
    import jax.numpy as jnp

    def bn(h, gamma, beta, name):   # (the moving averages are left out of the jitted step: jax is functional)
        mean = h.mean(axis=(0, 2, 3), keepdims=True)
        var = ((h - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
        return (h - mean) * (gamma[:, None, None] / jnp.sqrt(var + EPS)) + beta[:, None, None]
    ops = _Ops(conv=lambda h, w, stride, pad: jax.lax.conv_general_dilated(h, w, (stride, stride), [(pad, pad)] * 2),
               bn=bn, relu=lambda h: jnp.maximum(h, 0), add=jnp.add, spatial_mean=lambda h: h.mean(axis=(2, 3)),
               dense=lambda h, w, b: h @ w + b)

    def loss_fn(p, x, labels):
        log_probs = jax.nn.log_softmax(forward(ops, x, dict(zip(parameter_names(), p))))
        return -jnp.take_along_axis(log_probs, labels[:, None], 1).mean()
    return jax_trainer(loss_fn, x, labels, params, LR)


def numpy_step(x, labels, params, dtype=np.float64):
    """The float64 reference step: (loss, updated params) by torch's autograd, or graphc's
    reference device (numpy) where torch is not installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        step, get = graphc_system(x, labels, params, optimize=False, dtype=dtype, device="reference")
    else:
        step, get = torch_system(x, labels, params, dtype=dtype)
    loss = step()
    return loss, [np.asarray(a, np.float64) for a in get()]


SYSTEMS = trainer_systems(graphc_system, None, jax_system, torch_system)
SYSTEMS.pop("numpy")
