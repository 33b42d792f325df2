"""``gc.testing``: checking gradients against finite differences.

``check_gradients`` follows Theano's ``verify_grad``: it reduces the function's output
to a scalar with a random projection (so every output element and every gradient
path counts, with no cancellation by symmetry), then compares ``gc.gradients`` of that
scalar with central finite differences, all in float64.
"""
import numpy as np

from .. import dtypes as dt
from ..gradients import gradients
from ..ir import Graph
from ..math_ops import sum as reduce_sum
from ..placeholders import placeholder


def check_gradients(f, inputs, wrt=None, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0, device="cpu", **session_options):
    """Assert that ``gc.gradients`` of ``f`` agrees with finite differences.

    ``f(*tensors)`` builds a Tensor (or list of Tensors) from one placeholder per array
    of ``inputs``; float arrays are fed as float64, others keep their dtype. ``wrt``
    lists the positions of the inputs to check (default: every float input). Raises
    AssertionError naming the input, the element and both values on a mismatch;
    returns ``(analytic, numeric)``, lists of arrays, on success.
    """
    from ..runtime import Session
    arrays = [np.asarray(a, np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in inputs]
    wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"] if wrt is None else list(wrt)
    graph = Graph()
    with graph.as_default():
        xs = [placeholder(a.dtype, a.shape, name=f"x{i}") for i, a in enumerate(arrays)]
        ys = f(*xs)
        ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
        rng = np.random.default_rng(seed)
        projections = [rng.uniform(0.5, 1.5, y.shape) * rng.choice([-1.0, 1.0], y.shape) for y in ys]
        scalar = None
        for y, r in zip(ys, projections):
            term = reduce_sum(y.astype(dt.float64) * r)
            scalar = term if scalar is None else scalar + term
        grads = gradients(scalar, [xs[i] for i in wrt])
    with Session(graph, device=device, **session_options) as sess:
        def value(values):
            return float(sess.run(scalar, dict(zip(xs, values))))

        feed = dict(zip(xs, arrays))
        analytic = sess.run([g if g is not None else scalar for g in grads], feed)
        analytic = [np.zeros_like(arrays[i]) if g is None else a for i, g, a in zip(wrt, grads, analytic)]
        numeric = []
        for i in wrt:
            estimate = np.zeros_like(arrays[i])
            for index in np.ndindex(arrays[i].shape):
                values = [a.copy() for a in arrays]
                values[i][index] += eps
                up = value(values)
                values[i][index] -= 2 * eps
                estimate[index] = (up - value(values)) / (2 * eps)
            numeric.append(estimate)
    for i, a, n in zip(wrt, analytic, numeric):
        if a.shape != n.shape:
            raise AssertionError(f"gradient of input {i} has shape {a.shape}, expected {n.shape}")
        bad = ~(np.abs(a - n) <= atol + rtol * np.abs(n))    # NaN anywhere is a failure too
        if bad.any():
            error = np.where(bad, np.nan_to_num(np.abs(a - n), nan=np.inf), 0.0)
            at = np.unravel_index(int(np.argmax(error)), error.shape)
            raise AssertionError(f"gradient of input {i} disagrees with finite differences at {tuple(map(int, at))}: "
                                 f"gc.gradients gives {a[at]!r}, finite differences {n[at]!r} "
                                 f"(max abs error {np.abs(a - n).max():.3g})")
    return analytic, numeric
