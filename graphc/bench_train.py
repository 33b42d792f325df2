"""The ``mlp_train`` benchmark: one SGD step (forward, backward, update) of the
784 -> 1024 -> 1024 -> 10 relu MLP with mean softmax cross-entropy, batch 256.

Each system starts from the same parameters and batch; its first step is checked
against a float64 numpy step (the loss, and every updated parameter) before it is
timed. A timed call is one whole training step, parameters updated in place of the
old ones, the loss returned to Python. Used by ``python -m graphc.bench``.
"""
import math

import numpy as np

import graphc as gc

LAYERS = [(784, 1024), (1024, 1024), (1024, 10)]
BATCH, LR = 256, 0.01
DESCRIPTION = "one SGD step, batch 256, 784->1024->1024->10 relu MLP, softmax cross-entropy"


def inputs(rng):
    """(x, labels, params): float32 arrays, params as [w1, b1, w2, b2, w3, b3]."""
    params = []
    for n_in, n_out in LAYERS:
        params.append((rng.standard_normal((n_in, n_out)) / math.sqrt(n_in)).astype(np.float32))
        params.append((rng.standard_normal(n_out) * 0.1).astype(np.float32))
    x = rng.standard_normal((BATCH, 784)).astype(np.float32)
    return x, rng.integers(0, 10, BATCH), params


def numpy_step(x, labels, params, dtype=np.float32):
    """Forward, hand-written backward and SGD update in numpy; returns (loss, new params)."""
    p = [a.astype(dtype) for a in params]
    x = x.astype(dtype)
    h1 = np.maximum(x @ p[0] + p[1], 0)
    h2 = np.maximum(h1 @ p[2] + p[3], 0)
    logits = h2 @ p[4] + p[5]
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    loss = -log_probs[np.arange(len(labels)), labels].mean()
    d_logits = np.exp(log_probs)
    d_logits[np.arange(len(labels)), labels] -= 1
    d_logits /= len(labels)
    d_h2 = (d_logits @ p[4].T) * (h2 > 0)
    d_h1 = (d_h2 @ p[2].T) * (h1 > 0)
    grads = [x.T @ d_h1, d_h1.sum(0), h1.T @ d_h2, d_h2.sum(0), h2.T @ d_logits, d_logits.sum(0)]
    return loss, [a - LR * g for a, g in zip(p, grads)]


# -- systems: each returns (step() -> loss, params() -> list of arrays) ------------------------------
def graphc_system(x, labels, params, optimize=True):
    graph = gc.Graph()
    with graph.as_default():
        xs = gc.placeholder(gc.float32, (None, 784), name="x")
        ys = gc.placeholder(gc.int64, (None,), name="labels")
        variables = [gc.Variable(p, name=f"p{i}") for i, p in enumerate(params)]
        h = xs
        for i in range(3):
            h = h @ variables[2 * i] + variables[2 * i + 1]
            h = gc.relu(h) if i < 2 else h
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(h, ys))
        train_op = gc.train.SGD(LR).minimize(loss)
    sess = gc.Session(graph, optimize=optimize)
    feeds = {xs: x, ys: labels}
    fetches = [train_op, loss]
    return (lambda: sess.run(fetches, feeds)[1]), (lambda: sess.run(variables))


def numpy_trainer(numpy_step, x, labels, params):
    """A system of a workload's numpy step (forward, hand-written backward, update)."""
    state = [p.copy() for p in params]

    def step():
        loss, new = numpy_step(x, labels, state)
        state[:] = new
        return loss
    return step, lambda: state


def jax_trainer(loss_fn, x, labels, params, lr):
    """jax.jit of ``loss_fn(params, x, labels)``'s value_and_grad and the SGD update."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def step_fn(p, x, labels):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, labels)
        return [a - lr * g for a, g in zip(p, grads)], loss

    state = {"p": [jnp.asarray(a) for a in params]}
    xj, yj = jnp.asarray(x), jnp.asarray(labels)

    def step():
        state["p"], loss = step_fn(state["p"], xj, yj)
        return float(loss)
    return step, lambda: [np.asarray(a) for a in state["p"]]


def torch_trainer(forward, x, labels, params, lr, compiled):
    """PyTorch autograd of ``forward(p, x, labels) -> loss`` (torch.compile'd when
    ``compiled``) and an in-place SGD update."""
    import torch
    p = [torch.tensor(a, requires_grad=True) for a in params]
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)

    def forward_backward():
        loss = forward(p, xt, yt)
        loss.backward()
        return loss

    fb = torch.compile(forward_backward) if compiled else forward_backward

    def step():
        loss = fb()
        with torch.no_grad():
            for a in p:
                a -= lr * a.grad
                a.grad = None
        return float(loss.detach())
    return step, lambda: [a.detach().numpy().copy() for a in p]


def numpy_system(x, labels, params):
    return numpy_trainer(numpy_step, x, labels, params)


def jax_system(x, labels, params):
    import jax
    import jax.numpy as jnp

    def loss_fn(p, x, labels):
        h = jnp.maximum(x @ p[0] + p[1], 0.0)
        h = jnp.maximum(h @ p[2] + p[3], 0.0)
        log_probs = jax.nn.log_softmax(h @ p[4] + p[5])
        return -jnp.take_along_axis(log_probs, labels[:, None], 1).mean()
    return jax_trainer(loss_fn, x, labels, params, LR)


def _torch_system(x, labels, params, compiled):
    import torch

    def forward(p, xt, yt):
        h = torch.relu(xt @ p[0] + p[1])
        h = torch.relu(h @ p[2] + p[3])
        return torch.nn.functional.cross_entropy(h @ p[4] + p[5], yt)
    return torch_trainer(forward, x, labels, params, LR, compiled)


def tf1_system(x, labels, params):
    """TensorFlow's TF1 API (tf.compat.v1): a graph, Variables, GradientDescentOptimizer and a
    Session, the program TF1 users wrote (peer for mlp_train only)."""
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        xs = v1.placeholder(tf.float32, (None, 784))
        ys = v1.placeholder(tf.int64, (None,))
        variables = [tf.Variable(p) for p in params]
        h = xs
        for i in range(3):
            h = tf.matmul(h, variables[2 * i]) + variables[2 * i + 1]
            h = tf.nn.relu(h) if i < 2 else h
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ys, logits=h))
        train_op = v1.train.GradientDescentOptimizer(LR).minimize(loss)
        init = v1.global_variables_initializer()
    sess = v1.Session(graph=graph)
    sess.run(init)
    feeds = {xs: x, ys: labels}
    return (lambda: sess.run([train_op, loss], feeds)[1]), (lambda: sess.run(variables))


def trainer_systems(graphc, numpy, jax, torch):
    """{system name: factory(x, labels, params) -> (step, params)} of a training workload."""
    return {
        "graphc fused": lambda *a: graphc(*a, optimize=True),
        "graphc unfused": lambda *a: graphc(*a, optimize=False),
        "numpy": numpy,
        "jax.jit": jax,
        "torch eager": lambda *a: torch(*a, compiled=False),
        "torch.compile": lambda *a: torch(*a, compiled=True),
    }


SYSTEMS = {
    **trainer_systems(graphc_system, numpy_system, jax_system, _torch_system),
    "TF1 Session": tf1_system,
}


def check_first_step(step, get_params, reference):
    """None when one step's loss and parameters match the float64 numpy step, else why not."""
    loss = step()
    ref_loss, ref_params = reference
    if not np.allclose(loss, ref_loss, rtol=1e-4):
        return f"loss {float(loss)!r}, expected {float(ref_loss)!r}"
    for i, (got, want) in enumerate(zip(get_params(), ref_params)):
        if not np.allclose(np.asarray(got, np.float64), want, rtol=1e-4, atol=1e-5):
            return f"parameter {i} differs by up to {np.abs(np.asarray(got, np.float64) - want).max():.3g}"
    return None
