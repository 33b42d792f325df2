"""Compile latency: graphc against jax.jit on the same programs, each measured in a fresh
process (``python -m graphc.bench_compile``).

Programs:
- ``transformer`` (training step) and ``transformer_fwd`` (its loss alone): a pre-norm
  transformer encoder, batch 8 x 64 tokens, d = 128, 4 heads, ffn 512 with tanh-gelu, a mean
  squared error against a target, Adam; ``--layers`` 4 by default (16 for the scaling target);
- ``chain``: 2,589 nodes of ``relu(layer_norm(tanh(h @ w)))`` blocks on 64 x 128, forward.

graphc's time is graph-built to first result (``Session.run`` of a fresh Session: passes,
codegen, LLVM, variable initialization, one run) with an empty disk cache ("cold"), then in
a second fresh process over the cache the first filled ("warm"). jax's is ``jax.jit(f)`` to
its first result (tracing, lowering, XLA compilation, one run) with no persistent cache.
Each process runs with Python's bytecode cache on (``child_environment``), as an installed
package does, whatever the calling environment says.
Every process builds the same parameters from one seed and prints its first loss, which
the report compares across systems (float32; the step's values agree to ~1e-5 relative).
After the first result each process also times the compiled program (``run``: the median
of RUNS more calls), so a compile win is never bought with a slower program.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

B, T, D, HEADS, FFN = 8, 64, 128, 4, 512
RUNS = 10            # calls timed after the first, for the compiled program's speed
CHAIN_BLOCKS = 199   # 13 nodes a block (layer_norm is 8): 2,589 nodes with the input and the mean


def parameters(layers, rng, b=B, t=T, d=D, ffn=FFN):
    """Per layer: ln1 (g, b), wq, wk, wv, wo (+ biases), ln2 (g, b), w1, b1, w2, b2."""
    def dense(n_in, n_out):
        return (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32), \
            (rng.standard_normal(n_out) * 0.02).astype(np.float32)
    params = []
    for _ in range(layers):
        layer = {"g1": np.ones(d, np.float32), "b1": np.zeros(d, np.float32),
                 "g2": np.ones(d, np.float32), "b2": np.zeros(d, np.float32)}
        for name, (n_in, n_out) in {"q": (d, d), "k": (d, d), "v": (d, d), "o": (d, d),
                                    "f1": (d, ffn), "f2": (ffn, d)}.items():
            layer["w" + name], layer["c" + name] = dense(n_in, n_out)
        params.append(layer)
    x = rng.standard_normal((b, t, d)).astype(np.float32)
    y = rng.standard_normal((b, t, d)).astype(np.float32)
    return x, y, params


def encoder(xp, nn, h, params):
    """The encoder's loss input, written once for graphc (``xp = gc``) and jax.numpy."""
    b, t, d = h.shape
    dh = d // HEADS

    def heads(v):
        return xp.transpose(xp.reshape(v, (b, t, HEADS, dh)), (0, 2, 1, 3))

    for p in params:
        a = nn.layer_norm(h, p["g1"], p["b1"])
        q, k, v = (heads(a @ p["w" + n] + p["c" + n]) for n in "qkv")
        scores = nn.softmax(q @ xp.transpose(k, (0, 1, 3, 2)) * float(1.0 / np.sqrt(dh)))   # (a Python float: float32 stays)
        attended = xp.reshape(xp.transpose(scores @ v, (0, 2, 1, 3)), (b, t, d))
        h = h + attended @ p["wo"] + p["co"]
        a = nn.layer_norm(h, p["g2"], p["b2"])
        h = h + nn.gelu(a @ p["wf1"] + p["cf1"]) @ p["wf2"] + p["cf2"]
    return h


def chain(xp, nn, h, ws):
    for w in ws:
        h = xp.maximum(nn.layer_norm(xp.tanh(h @ w)), 0.0)
    return h


# -- one measurement, in this process -----------------------------------------------------------
def _graphc(program, layers, train):
    import graphc as gc
    with gc.Graph().as_default():   # (a graph of its own: "nodes" counts this program's)
        return _graphc_in_graph(gc, program, layers, train)


def _graphc_in_graph(gc, program, layers, train):
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    if program == "chain":
        ws = [(rng.standard_normal((D, D)) / np.sqrt(D)).astype(np.float32) for _ in range(CHAIN_BLOCKS)]
        x0 = rng.standard_normal((64, D)).astype(np.float32)
        x = gc.placeholder(gc.float32, x0.shape, name="x")
        loss = gc.mean(chain(gc, gc.nn, x, [gc.constant(w) for w in ws]))
        feeds, fetch = {x: x0}, loss
    else:
        x0, y0, params = parameters(layers, rng)
        x = gc.placeholder(gc.float32, x0.shape, name="x")
        y = gc.placeholder(gc.float32, y0.shape, name="y")
        variables = [{k: gc.Variable(v, name=f"l{i}_{k}") for k, v in p.items()} for i, p in enumerate(params)]
        loss = gc.mean(gc.square(encoder(gc, gc.nn, x, variables) - y))
        feeds = {x: x0, y: y0}
        fetch = [loss, gc.train.Adam(1e-3).minimize(loss)] if train else loss
    built = time.perf_counter()
    with gc.Session() as sess:
        value = sess.run(fetch, feeds)
        first = time.perf_counter()
        nodes = len(gc.get_default_graph().nodes)
        run = _median_run(lambda: sess.run(fetch, feeds))
    value = value[0] if isinstance(value, list) else value
    return {"seconds": first - built, "build": built - start, "loss": float(value), "nodes": nodes, "run": run}


def _median_run(call, runs=RUNS):
    """Seconds per call of ``call``, the median of ``runs`` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _jax_nn():
    import jax

    class nn:   # the same formulas as graphc's (layer_norm eps 1e-5, tanh gelu)
        @staticmethod
        def layer_norm(x, g=None, b=None):
            c = x - x.mean(-1, keepdims=True)
            y = c * jax.lax.rsqrt((c * c).mean(-1, keepdims=True) + 1e-5)
            return y if g is None else y * g + b

        @staticmethod
        def softmax(x):
            return jax.nn.softmax(x, axis=-1)

        @staticmethod
        def gelu(x):
            return jax.nn.gelu(x, approximate=True)
    return nn


def _jax_loss():
    import jax.numpy as jnp
    nn = _jax_nn()
    return lambda p, x, y: jnp.mean(jnp.square(encoder(jnp, nn, x, p) - y))


def _jax_step():
    """One Adam step (TF1 form, graphc.train.Adam's) of the encoder's loss."""
    import jax
    import jax.numpy as jnp
    loss_fn = _jax_loss()

    def step(p, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        t = t + 1
        lr = 1e-3 * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        p = jax.tree_util.tree_map(lambda p, m, v: p - lr * m / (jnp.sqrt(v) + 1e-8), p, m, v)
        return loss, p, m, v, t
    return step


def _jax(program, layers, train):
    import jax
    import jax.numpy as jnp
    nn = _jax_nn()
    rng = np.random.default_rng(0)
    if program == "chain":
        ws = [(rng.standard_normal((D, D)) / np.sqrt(D)).astype(np.float32) for _ in range(CHAIN_BLOCKS)]
        x0 = rng.standard_normal((64, D)).astype(np.float32)
        fn = jax.jit(lambda x: chain(jnp, nn, x, ws).mean())
        start = time.perf_counter()
        value = fn(x0).block_until_ready()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "loss": float(value), "run": _median_run(lambda: fn(x0).block_until_ready())}
    x0, y0, params = parameters(layers, rng)
    loss_fn, step = _jax_loss(), _jax_step()
    zeros = jax.tree_util.tree_map(np.zeros_like, params)
    start = time.perf_counter()
    fn = jax.jit(step if train else loss_fn)
    args = (params, zeros, zeros, 0.0, x0, y0) if train else (params, x0, y0)
    out = jax.block_until_ready(fn(*args))
    value = out[0] if train else out
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "loss": float(value), "run": _median_run(lambda: jax.block_until_ready(fn(*args)))}


# -- peak intermediate memory of a training step ---------------------------------------------------
MEMORY_SHAPE = dict(b=4, t=48, d=96, ffn=384)   # 4 x 48 tokens, d = 96, 4 layers


def graphc_memory(layers=4):
    """Bytes of the arena graphc's training step plans (intermediates only: parameters,
    optimizer slots, feeds and results live outside it)."""
    import graphc as gc
    x0, y0, params = parameters(layers, np.random.default_rng(0), **MEMORY_SHAPE)
    x = gc.placeholder(gc.float32, x0.shape, name="x")
    y = gc.placeholder(gc.float32, y0.shape, name="y")
    variables = [{k: gc.Variable(v, name=f"l{i}_{k}") for k, v in p.items()} for i, p in enumerate(params)]
    loss = gc.mean(gc.square(encoder(gc, gc.nn, x, variables) - y))
    step = [loss, gc.train.Adam(1e-3).minimize(loss)]
    with gc.Session() as sess:
        compiled = sess.compile(step, {x: x0, y: y0})
        sess.run(step, {x: x0, y: y0})
    return compiled.explain().arena_bytes


def xla_memory(layers=4):
    """XLA's ``temp_size_in_bytes`` for the same step (``compiled.memory_analysis()``)."""
    import jax
    x0, y0, params = parameters(layers, np.random.default_rng(0), **MEMORY_SHAPE)
    step = _jax_step()
    zeros = jax.tree_util.tree_map(np.zeros_like, params)
    compiled = jax.jit(step).lower(params, zeros, zeros, 0.0, x0, y0).compile()
    return compiled.memory_analysis().temp_size_in_bytes


# -- the report -------------------------------------------------------------------------------------
CASES = [("transformer", True), ("transformer_fwd", False), ("chain", False)]


def child_environment(**extra):
    """The environment of a measured fresh process: this one's with ``extra``, and with
    Python's bytecode cache on (``PYTHONDONTWRITEBYTECODE`` removed), as an installed package
    has it; with it off every fresh process compiles graphc's sources again (about 45 ms of
    imports on the Zen 4 VM), which no installed copy does."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def measure(system, program, layers, env=None):
    """One fresh process's measurement (a dict), or {"error": ...}."""
    code = (f"import json, graphc.bench_compile as b; "
            f"print(json.dumps(b._{system}({('chain' if program == 'chain' else 'transformer')!r}, {layers}, "
            f"{program == 'transformer'})))")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                           env=child_environment(**(env or {})))
    if child.returncode != 0:
        return {"error": (child.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(child.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m graphc.bench_compile", description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--no-jax", action="store_true", help="graphc only")
    opts = parser.parse_args(argv)
    rows = []
    for program, _ in CASES:
        for layers in (opts.layers if program != "chain" else [0]):
            with tempfile.TemporaryDirectory() as cache:
                env = {"GRAPHC_CACHE_DIR": cache}
                cold = measure("graphc", program, layers, env)
                warm = measure("graphc", program, layers, env)
            jax = None if opts.no_jax else measure("jax", program, layers)
            rows.append((program, layers, cold, warm, jax))
            _print_row(rows[-1])
    shape = ", ".join(f"{k} {v}" for k, v in MEMORY_SHAPE.items())
    xla = "n/a" if opts.no_jax else f"{xla_memory() / 1e6:.2f} MB"
    print(f"peak intermediates of a 4-layer training step ({shape}): graphc arena "
          f"{graphc_memory() / 1e6:.2f} MB, XLA temp {xla}", flush=True)
    return rows


def _print_row(row):
    program, layers, cold, warm, jax = row
    def s(r):
        return "n/a" if r is None else (r.get("error", "")[:40] if "error" in r else f"{r['seconds']:.2f} s")
    ratio = (f"{cold['seconds'] / jax['seconds']:.2f}x" if jax and "error" not in jax and "error" not in cold else "")
    name = program + (f" ({layers} layers)" if layers else "")
    agree = ""
    if jax and "loss" in jax and "loss" in cold:
        agree = f"loss {cold['loss']:.6g} / {jax['loss']:.6g}"
    def ms(r):
        return f"{r['run'] * 1e3:.1f}" if r and "run" in r else "n/a"
    print(f"{name:28s} graphc cold {s(cold):>9s}  warm {s(warm):>9s}  jax.jit {s(jax):>9s}  {ratio:>6s}  "
          f"run graphc {ms(cold):>6s} ms, jax {ms(jax):>6s} ms  {agree}", flush=True)


if __name__ == "__main__":
    main()
