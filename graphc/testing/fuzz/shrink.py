"""Shrinking a failing program and keeping it as a regression file.

The shrinker's moves: keep only the failing output; then, newest step first, replace a
step by an input fed with its exact value (so everything before it disappears); keep a
move when the program still fails in the same pipeline. A regression is the shrunk
graph as IR text (``gc.ir.parse``-able, ``//`` comment lines saying what failed) plus an
``.npz`` beside it holding the feeds and each output's float64 value and error bound.
"""
import os
import re

import numpy as np

import graphc as gc

from .program import Program
from .runner import CONFIGS, Failure, check
from .values import Val, mismatch


def shrink(program, failure, budget=200):
    """A smaller program failing like ``failure`` (in the same pipeline), within ``budget`` checks."""
    configs = [c for c in CONFIGS if c[0] == failure.config] or CONFIGS
    fails = lambda p: any(f.config == failure.config for f in check(p, configs)[0])   # noqa: E731
    if isinstance(failure.output, int) and failure.output >= 0 and len(program.outputs) > 1:
        candidate = Program.of(program.steps, [program.outputs[failure.output]])
        if fails(candidate):
            program = candidate
    progress = True
    while progress and budget > 0:
        progress = False
        for k in reversed(range(len(program.steps))):
            if program.steps[k].op == "input" or budget <= 0:
                continue
            budget -= 1
            try:
                candidate = program.replaced(k)
            except Exception:
                continue
            if len(candidate.steps) < len(program.steps) and fails(candidate):
                program, progress = candidate, True
                break
    return program


def write_regression(program, failure, directory, name=None):
    """Write ``<name>.ir`` and ``<name>.npz`` into ``directory``; returns the IR path."""
    os.makedirs(directory, exist_ok=True)
    graph = gc.Graph()
    tensors, feeds = program.build(graph)
    graph.outputs = tuple(tensors[i].node for i in program.outputs)
    name = name or f"fuzz_{abs(hash(graph.to_text(blobs=True))) % 10 ** 10:010d}"
    header = [f"// graphc fuzzer regression: {failure.config}, output {failure.output}"]
    header += ["// " + line for line in str(failure.detail).strip().splitlines()[-6:]]
    ir_path = os.path.join(directory, name + ".ir")
    with open(ir_path, "w") as f:
        f.write("\n".join(header) + "\n" + graph.to_text(blobs=True))
    arrays = {f"feed:{t.node.name}": a for t, a in feeds.items()}
    for k, i in enumerate(program.outputs):
        arrays[f"value:{k}"] = program.vals[i].value
        arrays[f"bound:{k}"] = program.vals[i].bound
        arrays[f"dtype:{k}"] = np.array(program.vals[i].dtype.str)
    np.savez(os.path.join(directory, name + ".npz"), **arrays)
    return ir_path


def replay(ir_path, configs=CONFIGS):
    """Failures of a regression file over ``configs`` (empty when it passes)."""
    with open(ir_path) as f:
        graph = gc.ir.parse(f.read())
    data = np.load(re.sub(r"\.ir$", ".npz", ir_path))
    feeds = {graph.tensor(graph.node(k.split(":", 1)[1])): data[k] for k in data.files if k.startswith("feed:")}
    fetches = [graph.tensor(n) for n in graph.outputs]
    expected = [Val(data[f"value:{k}"], data[f"bound:{k}"], np.dtype(str(data[f"dtype:{k}"])))
                for k in range(len(fetches))]
    failures = []
    for label, device, opts in configs:
        try:
            with gc.Session(graph, device=device, **opts) as sess:
                results = sess.run(fetches, feeds)
        except Exception as e:
            failures.append(Failure(label, -1, repr(e)))
            continue
        for k, (got, want) in enumerate(zip(results, expected)):
            if mismatch(got, want).any():
                failures.append(Failure(label, k, "outside the bound"))
    return failures
