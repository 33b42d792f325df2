"""The ``cnn_train`` benchmark: one SGD step (forward, backward, update) of a small CNN on
28x28 one-channel images, batch 64: conv 3x3 (16 filters) -> relu -> 2x2 max pool ->
dense 2704 -> 10, mean softmax cross-entropy (NCHW, as graphc's conv2d).

As ``mlp_train`` (graphc/bench_train.py): every system starts from the same parameters
and batch, its first step is checked against a float64 numpy step (the loss and every
updated parameter) before it is timed, and a timed call is one whole step.
"""
import math

import numpy as np

import graphc as gc
from graphc.bench_train import jax_trainer, numpy_trainer, torch_trainer, trainer_systems

BATCH, FILTERS, SIDE, LR = 64, 16, 28, 0.05
POOLED = (SIDE - 2) // 2                     # 13: the pooled side
FLAT = FILTERS * POOLED * POOLED              # 2704
DESCRIPTION = (f"one SGD step, batch {BATCH}, conv 3x3x{FILTERS} + relu + 2x2 max pool + dense {FLAT}->10 "
               "on 1x28x28 images, softmax cross-entropy")


def inputs(rng):
    """(x, labels, params): float32 arrays, params as [conv w, conv b, dense w, dense b]."""
    params = [(rng.standard_normal((FILTERS, 1, 3, 3)) / 3).astype(np.float32),
              (rng.standard_normal(FILTERS) * 0.1).astype(np.float32),
              (rng.standard_normal((FLAT, 10)) / math.sqrt(FLAT)).astype(np.float32),
              (rng.standard_normal(10) * 0.1).astype(np.float32)]
    x = rng.standard_normal((BATCH, 1, SIDE, SIDE)).astype(np.float32)
    return x, rng.integers(0, 10, BATCH), params


def numpy_step(x, labels, params, dtype=np.float32):
    """Forward, hand-written backward and SGD update in numpy; returns (loss, new params)."""
    w, b, v, c = (a.astype(dtype) for a in params)
    x = x.astype(dtype)
    patches = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))   # (n, 1, 26, 26, 3, 3)
    z = np.einsum("ncijkl,ockl->noij", patches, w) + b[:, None, None]
    a = np.maximum(z, 0)
    windows = a.reshape(len(x), FILTERS, POOLED, 2, POOLED, 2)
    pooled = windows.max(axis=(3, 5))
    flat = pooled.reshape(len(x), FLAT)
    logits = flat @ v + c
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -log_probs[rows, labels].mean()
    d_logits = np.exp(log_probs)
    d_logits[rows, labels] -= 1
    d_logits /= len(labels)
    d_pooled = (d_logits @ v.T).reshape(pooled.shape)
    winner = windows == pooled[:, :, :, None, :, None]   # (random data: one winner per window where it counts)
    d_a = (winner * d_pooled[:, :, :, None, :, None]).reshape(a.shape)
    d_z = d_a * (z > 0)
    grads = [np.einsum("ncijkl,noij->ockl", patches, d_z), d_z.sum((0, 2, 3)), flat.T @ d_logits, d_logits.sum(0)]
    return loss, [p - LR * g for p, g in zip((w, b, v, c), grads)]


# -- systems: each returns (step() -> loss, params() -> list of arrays) ------------------------------
def graphc_system(x, labels, params, optimize=True):
    graph = gc.Graph()
    with graph.as_default():
        xs = gc.placeholder(gc.float32, (None, 1, SIDE, SIDE), name="x")
        ys = gc.placeholder(gc.int64, (None,), name="labels")
        w, b, v, c = (gc.Variable(p, name=n) for p, n in zip(params, ("conv_w", "conv_b", "dense_w", "dense_b")))
        h = gc.relu(gc.nn.conv2d(xs, w) + gc.reshape(b, (FILTERS, 1, 1)))
        h = gc.reshape(gc.nn.max_pool2d(h, 2), (-1, FLAT))
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(h @ v + c, ys))
        train_op = gc.train.SGD(LR).minimize(loss)
    sess = gc.Session(graph, optimize=optimize)
    feeds, variables = {xs: x, ys: labels}, [w, b, v, c]
    return (lambda: sess.run([train_op, loss], feeds)[1]), (lambda: sess.run(variables))


def numpy_system(x, labels, params):
    return numpy_trainer(numpy_step, x, labels, params)


def jax_system(x, labels, params):
    import jax
    import jax.numpy as jnp

    def loss_fn(p, x, labels):
        z = jax.lax.conv_general_dilated(x, p[0], (1, 1), "VALID") + p[1][:, None, None]
        a = jnp.maximum(z, 0.0)
        pooled = jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        log_probs = jax.nn.log_softmax(pooled.reshape(x.shape[0], FLAT) @ p[2] + p[3])
        return -jnp.take_along_axis(log_probs, labels[:, None], 1).mean()
    return jax_trainer(loss_fn, x, labels, params, LR)


def _torch_system(x, labels, params, compiled):
    import torch

    def forward(p, xt, yt):
        h = torch.relu(torch.nn.functional.conv2d(xt, p[0], p[1]))
        h = torch.nn.functional.max_pool2d(h, 2).reshape(xt.shape[0], FLAT)
        return torch.nn.functional.cross_entropy(h @ p[2] + p[3], yt)
    return torch_trainer(forward, x, labels, params, LR, compiled)


SYSTEMS = trainer_systems(graphc_system, numpy_system, jax_system, _torch_system)
