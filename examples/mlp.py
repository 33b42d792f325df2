"""A two-layer MLP forward pass on random data: build, inspect the IR, run, check.

Run it with `make demo`.
"""
import numpy as np

import graphc as gc

rng = np.random.default_rng(0)
batch, n_in, n_hidden, n_out = 64, 784, 256, 10

x = gc.placeholder(gc.float32, (None, n_in), name="x")
with gc.name_scope("dense1"):
    w1 = gc.Variable(rng.normal(0, n_in ** -0.5, (n_in, n_hidden)).astype(np.float32), name="w")
    b1 = gc.Variable(np.zeros(n_hidden, np.float32), name="b")
    h = gc.relu(x @ w1 + b1)
with gc.name_scope("dense2"):
    w2 = gc.Variable(rng.normal(0, n_hidden ** -0.5, (n_hidden, n_out)).astype(np.float32), name="w")
    b2 = gc.Variable(np.zeros(n_out, np.float32), name="b")
    logits = h @ w2 + b2
probs = gc.nn.softmax(logits)
predictions = gc.argmax(probs, axis=-1)

data = rng.normal(size=(batch, n_in)).astype(np.float32)
with gc.Session() as sess:
    compiled = sess.compile([probs, predictions], {x: data})
    print("== compiled IR (stage %r) ==" % compiled.stages[-1])
    print(compiled.ir())
    p, pred = sess.run([probs, predictions], {x: data})
    w1v, b1v, w2v, b2v = (v.astype(np.float64) for v in sess.run([w1, b1, w2, b2]))

# The same forward pass in numpy, in float64, as an independent check.
z = np.maximum(data @ w1v + b1v, 0) @ w2v + b2v
expected = np.exp(z - z.max(-1, keepdims=True))
expected /= expected.sum(-1, keepdims=True)
print("probabilities of the first 3 rows:\n", np.round(p[:3], 3))
print("predicted classes:", pred[:16])
print("max |graphc - numpy float64| =", float(np.abs(p - expected).max()))
assert np.allclose(p, expected, atol=1e-5)
