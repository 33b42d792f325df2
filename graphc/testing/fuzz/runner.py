"""Runs a program on every device and pipeline and compares with the float64 evaluation.

Pipelines (:data:`CONFIGS`): the default; ``optimize=False``; each pass disabled alone;
``poison=True``; ``verify=True``; on ``cpu`` and ``reference``. Two pipelines that
produce the same final IR text run the same program, so each distinct (device, IR,
poison) runs once — twice in fact: a first run and a second (the fast path), which
must agree bit for bit.
"""
import traceback
from dataclasses import dataclass

import numpy as np

import graphc as gc
from graphc.errors import GraphcError

from ...passes.pipeline import PASS_NAMES, run_pipeline, select_passes
from ...runtime.compiler import specialize
from ...runtime.backends import DEVICES
from ...runtime.updates import plan_run
from .values import mismatch


def _configs():
    out = [("default", {}), ("unfused", {"optimize": False}), ("poison", {"poison": True}),
           ("verify", {"verify": True})]
    out += [(f"no-{name}", {"disable": (name,)}) for name in PASS_NAMES]
    return [(f"{device}:{label}", device, opts) for device in DEVICES for label, opts in out]


CONFIGS = _configs()


def device_configs(devices):
    """The pipelines a device outside ``DEVICES`` is fuzzed in (``--devices``): the default and
    unfused, which is what differs between backends (the rest is the shared planner's)."""
    return [(f"{d}:{label}", d, opts) for d in devices for label, opts in (("default", {}),
                                                                          ("unfused", {"optimize": False}))]


@dataclass
class Failure:
    config: str
    output: int          # position in the program's outputs (-1: the whole program)
    detail: str

    def __str__(self):
        return f"[{self.config}] output {self.output}: {self.detail}"


def build_failures(program, error, label):
    """What ``error``, raised while building ``program``'s graph, means: nothing when graphc
    refused unknown dims as a user error (an op that needs static sizes, documented),
    else a failure of the build."""
    if isinstance(error, GraphcError) and program.has_unknown_dims():
        return []
    return [Failure(label, -1, "".join(traceback.format_exception(error, limit=4)))]


def _final_ir(graph, fetch_nodes, specs, opts):
    passes = select_passes(opts.get("optimize", True), None, opts.get("disable", ()))
    plan = plan_run(graph, fetch_nodes)
    stages = run_pipeline(specialize(graph, plan.outputs, specs), passes, verify_each=opts.get("verify", False))
    return stages[-1].graph.to_text(blobs=True)


def check(program, configs=CONFIGS):
    """Failures of ``program`` over ``configs`` (empty when every result is within bounds).
    Also returns the number of distinct programs that ran."""
    graph = gc.Graph()
    try:
        tensors, feeds = program.build(graph)
    except Exception as e:
        return build_failures(program, e, "build"), 0
    fetches = [tensors[i] for i in program.outputs]
    expected = [program.vals[i] for i in program.outputs]
    failures = []
    for k, (t, e) in enumerate(zip(fetches, expected)):
        if np.dtype(t.dtype) != e.dtype or len(t.shape) != len(e.shape) or \
                any(d is not None and d != w for d, w in zip(t.shape, e.shape)):
            failures.append(Failure("infer", k, f"graphc infers {t.dtype}{list(t.shape)}, "
                                                f"numpy gives {e.dtype}{list(e.shape)}"))
    if failures:
        return failures, 0
    with graph.as_default():
        run_fetches = fetches + ([gc.group(*[gc.assign(tensors[v], tensors[x]) for v, x in program.updates])]
                                 if program.updates else [])
        initializer = gc.global_variables_initializer() if program.updates else None
    specs = {t.node: (a.dtype, a.shape) for t, a in feeds.items()}
    seen = set()
    for label, device, opts in configs:
        try:
            key = (device, opts.get("poison", False), _final_ir(graph, [t.node for t in run_fetches], specs, opts))
            if key in seen:
                continue
            seen.add(key)
            with gc.Session(graph, device=device, **opts) as sess:
                if program.updates:   # the initializer resets what the Session started with
                    sess.run(initializer)
                first = sess.run(run_fetches, feeds)[:len(fetches)]
                if program.updates:   # the updated variables, then the same run from their new values
                    after = sess.run([tensors[v] for v, _ in program.updates])
                    again = first
                else:
                    again = sess.run(fetches, feeds)
        except Exception:
            failures.append(Failure(label, -1, traceback.format_exc(limit=6)))
            continue
        for k, (got, want, got2) in enumerate(zip(first, expected, again)):
            failures.extend(_compare(label, k, got, want, got2))
        for (v, x), got in zip(program.updates, after if program.updates else ()):
            failures.extend(_compare(label, f"update of s{v}", got, program.vals[x], got))
    return failures, len(seen)


def _compare(label, k, got, want, again):
    bad = mismatch(got, want)
    out = []
    if np.shape(got) != want.shape:
        out.append(Failure(label, k, f"shape {np.shape(got)}, expected {want.shape}"))
    elif bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0]) if np.ndim(bad) else ()
        g = np.asarray(got)
        value = g[at] if g.shape == want.shape else f"shape {g.shape}"
        out.append(Failure(label, k, f"{int(bad.sum())} of {bad.size} elements off; at {at}: got {value!r}, "
                                     f"expected {want.value[at]!r} (bound {want.bound[at]:.3g})"))
    if np.asarray(got).tobytes() != np.asarray(again).tobytes():
        out.append(Failure(label, k, "a second run gave different bits"))
    return out
