"""Example models shared by the test files."""
import numpy as np

import graphc as gc


def mlp(sizes=(128, 256, 256, 10), seed=0):
    """A 3-layer MLP forward pass with bias and relu, then softmax; Variables hold the weights.
    The batch is None: each test feeds the size it wants."""
    rng = np.random.default_rng(seed)
    x = gc.placeholder(gc.float32, (None, sizes[0]), name="x")
    h = x
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        with gc.name_scope(f"dense{i}"):
            w = gc.Variable(rng.normal(0, m ** -0.5, (m, n)).astype(np.float32), name="w")
            b = gc.Variable(rng.normal(0, 0.1, n).astype(np.float32), name="b")
            h = h @ w + b
            if i < len(sizes) - 2:
                h = gc.relu(h)
    return x, gc.nn.softmax(h)
