"""Gradient fuzzing: ``gc.gradients`` of a random scalar projection of a program's outputs,
on every device, against float64 central differences of the fuzzer's own numpy
evaluation (not graphc's).

The programs are grown in float64. The scalar is ``L = sum_k sum(out_k * R_k)`` with
fixed random ``R_k``. For a few random directions ``d`` over all float inputs, the
analytic directional derivative ``sum_i <dL/dx_i, d_i>`` must match the central
difference ``(L(x + h d) - L(x - h d)) / 2h``, Richardson-extrapolated from h = 1e-6 and h/2,
within ten times the difference of the two estimates plus the float64 rounding noise
of L divided by h. A direction along which some discrete decision (a comparison, floor,
argmax) changes within the step, or along which a kink (relu, abs, maximum or a max
reduction at a tie) lies within it, is skipped: the evaluation's bounds and kink marks
(values.py) say so.
"""
import traceback

import numpy as np

import graphc as gc

from .generator import RandomChooser, generate
from .program import Program
from .runner import Failure, build_failures
from .values import Val

from ...runtime.backends import DEVICES
DIRECTIONS = 3
STEP = 1e-6


def _float_inputs(program):
    return [i for i, s in enumerate(program.steps) if s.op in ("input", "variable") and program.vals[i].is_float]


def _evaluate(program, shifted):
    """The program's values with the float inputs replaced by ``shifted`` {step: Val}."""
    vals = []
    with np.errstate(all="ignore"):
        for i, step in enumerate(program.steps):
            if i in shifted:
                vals.append(shifted[i])
            elif step.op == "stop_gradient":   # gc.gradients sends nothing through it: hold it still
                vals.append(program.vals[i])
            else:
                vals.append(Program._evaluate(step, vals))
    return vals


def _loss(program, vals, projections):
    total, bound = 0.0, 0.0
    for o, r in zip(program.outputs, projections):
        v = vals[o]
        if not v.is_float:
            continue
        terms = v.value * r
        total += float(np.sum(terms))
        # the outputs' own bounds, and the rounding of this float64 sum itself
        bound += float(np.sum(v.bound * np.abs(r))) + (terms.size + 2) * 2.0 ** -53 * float(np.sum(np.abs(terms)))
    return total, bound


def gradient_program(seed, max_ops=8):
    """A float64 program for gradient checks."""
    return generate(RandomChooser(seed), max_ops=max_ops, float_dtypes=("float64",))


def check_gradients(program, seed=0, devices=DEVICES):
    """Failures of ``gc.gradients`` on ``program`` (empty when every device agrees with
    central differences); also returns how many directions were checked."""
    rng = np.random.default_rng(seed)
    xs = _float_inputs(program)
    if not xs:
        return [], 0
    projections = [rng.uniform(0.5, 1.5, program.vals[o].shape) * rng.choice([-1.0, 1.0], program.vals[o].shape)
                   for o in program.outputs]
    graph = gc.Graph()
    try:
        tensors, feeds = program.build(graph)
        with graph.as_default():
            terms = [gc.sum(gc.cast(tensors[o], gc.float64) * gc.constant(r)) for o, r in zip(program.outputs, projections)
                     if program.vals[o].is_float]
            if not terms:
                return [], 0
            loss = terms[0]
            for t in terms[1:]:
                loss = loss + t
            grads = gc.gradients(loss, [tensors[i] for i in xs])
    except Exception as e:
        return build_failures(program, e, "gradients:build"), 0
    analytic = {}
    for device in devices:
        try:
            with gc.Session(graph, device=device) as sess:
                wanted = [g for g in grads if g is not None]
                values = iter(sess.run(wanted, {t: a for t, a in feeds.items() if t.node.op == "placeholder"})
                              if wanted else [])
                analytic[device] = [np.zeros(program.vals[i].shape) if g is None else next(values)
                                    for i, g in zip(xs, grads)]
        except Exception:
            return [Failure(f"gradients:{device}", -1, traceback.format_exc(limit=6))], 0
    failures, checked = [], 0
    for _ in range(DIRECTIONS):
        d = {i: rng.standard_normal(program.vals[i].shape) for i in xs}
        estimate = _directional(program, xs, d, projections)
        if estimate is None:
            continue                          # a discrete decision changes along d: skip it
        checked += 1
        fd, tolerance = estimate
        for device, gs in analytic.items():
            got = float(sum(np.sum(g * d[i]) for g, i in zip(gs, xs)))
            if not abs(got - fd) <= tolerance:
                failures.append(Failure(f"gradients:{device}", -1,
                                        f"directional derivative {got!r}, central differences {fd!r} "
                                        f"(tolerance {tolerance:.3g})"))
    return failures, checked


def _directional(program, xs, d, projections):
    """(Richardson central difference of L along d, its tolerance), or None when some
    decision in the program is not stable within the step."""
    estimates, noise = [], 0.0
    for h in (STEP, STEP / 2):
        values = []
        for sign in (1, -1):
            moved = {i: program.vals[i].value + sign * h * d[i] for i in xs}
            # with bounds spanning the whole step, a decision that is not stable shows as inf
            wide = _evaluate(program, {i: Val(moved[i], np.abs(2 * h * d[i]), program.vals[i].dtype) for i in xs})
            if any(not np.isfinite(wide[o].bound).all() or wide[o].kink for o in program.outputs if wide[o].is_float):
                return None
            exact = _evaluate(program, {i: Val(moved[i], np.zeros(moved[i].shape), program.vals[i].dtype) for i in xs})
            loss, rounding = _loss(program, exact, projections)
            noise = max(noise, rounding)
            values.append(loss)
        estimates.append((values[0] - values[1]) / (2 * h))
    coarse, fine = estimates
    richardson = (4 * fine - coarse) / 3
    tolerance = 10 * abs(fine - coarse) + 8 * noise / (STEP / 2) + 1e-9 * (1 + abs(richardson))
    return richardson, tolerance
