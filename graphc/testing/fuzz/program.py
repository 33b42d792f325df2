"""A generated program: a list of steps, each one graphc call and its float64 evaluation.

A :class:`Step` names a fuzzer op (a key of :data:`OPS`), the earlier steps it reads and
its parameters. The same steps build a graphc graph (``build``) and evaluate
independently in numpy (``evaluate``), so a program can be re-run, shrunk (a step
replaced by an input fed with its value) and printed.
"""
from dataclasses import dataclass, field

import numpy as np

import graphc as gc
from graphc.builder import make

from . import elementwise as E
from . import structural as S
from .values import Val, exact


@dataclass(frozen=True)
class Step:
    op: str
    args: tuple = ()
    params: dict = field(default_factory=dict)


def _input_eval(vals, value, dtype, unknown=()):
    return exact(value, dtype)


def _input_build(ts, value, dtype, index, unknown=()):
    """A placeholder; the axes in ``unknown`` are declared None (known only when fed)."""
    shape = tuple(None if k in unknown else d for k, d in enumerate(value.shape))
    return gc.placeholder(np.dtype(dtype), shape, name=f"x{index}")


def _const_build(ts, value, dtype, index):
    return gc.constant(value, dtype=np.dtype(dtype), name=f"c{index}")


def _variable_build(ts, value, dtype, index):
    return gc.Variable(value.astype(dtype), name=f"v{index}")


def _random_eval(vals, seed, distribution, shape, dtype):
    from ...ops.random import sample
    return exact(sample(seed, distribution, tuple(shape), np.dtype(dtype)), dtype)


def _random_build(ts, seed, distribution, shape, dtype):
    draw = gc.random.uniform if distribution == "uniform" else gc.random.normal
    return draw(tuple(shape), dtype=np.dtype(dtype), seed=seed)


def _unary(name):
    fn = getattr(gc, name) if hasattr(gc, name) else getattr(gc.nn, name)
    return (lambda vals: E.unary(name, vals[0])), (lambda ts: fn(ts[0]))


def _binary(name):
    fn = getattr(gc, name)
    return (lambda vals: E.binary(name, vals[0], vals[1])), (lambda ts: fn(ts[0], ts[1]))


def _reduction(name):
    fn = getattr(gc, name)
    return ((lambda vals, axis, keepdims: S.reduce(name, vals[0], axis, keepdims)),
            (lambda ts, axis, keepdims: fn(ts[0], axis=axis, keepdims=keepdims)))


def _np_index(slices):
    return tuple(slice(*s) for s in slices)


def _gelu64(v):
    x = v.value
    inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
    y = 0.5 * x * (1 + np.tanh(inner))
    return Val(y, 1.2 * v.bound + 16 * E.eps(v.dtype) * (np.abs(y) + np.abs(x)) + E.rounded(y, v.dtype), v.dtype)


def _silu64(v):
    x = v.value
    y = x / (1 + np.exp(-x))
    return Val(y, 1.1 * v.bound + 12 * E.eps(v.dtype) * (np.abs(y) + np.abs(x)) + E.rounded(y, v.dtype), v.dtype)


def _logsumexp64(v, axis):
    x = v.value
    m = np.max(x, axis=axis, keepdims=True)
    y = np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis))
    n = x.shape[axis]
    scale = np.abs(np.squeeze(m, axis)) + np.abs(y) + 1
    return Val(y, np.max(v.bound, axis=axis) + (E.ULPS_MATH + S.sum_terms(n, v.dtype)) * E.eps(v.dtype) * scale, v.dtype)


def _clip64(x, lo, hi):
    """min(max(x, lo), hi), as gc.clip builds it; a kink at either bound counts."""
    low = E.binary("maximum", x, lo)
    out = E.binary("minimum", low, hi)
    out.kink = out.kink or low.kink
    return out


def _one_hot64(v, depth):
    out = (v.value[..., None] == np.arange(depth)).astype(np.float64)
    unknown = np.broadcast_to(~np.isfinite(v.bound)[..., None], out.shape)
    return Val(out, np.where(unknown, np.inf, 0.0), np.dtype(np.float32))


OPS = {
    "input": (_input_eval, _input_build),
    "const": (_input_eval, _const_build),
    "variable": (_input_eval, _variable_build),
    "random": (_random_eval, _random_build),
    **{f"{n}": _unary(n) for n in list(E.UNARY) + list(E.PIECEWISE) + list(E.PREDICATES)},
    **{f"{n}": _binary(n) for n in E.BINARY},
    **{f"{n}": _reduction(n) for n in ("sum", "prod", "mean", "max", "min", "argmax", "argmin")},
    "where": (lambda vals: E.where(*vals), lambda ts: gc.where(*ts)),
    "cast": (lambda vals, dtype: E.cast(vals[0], dtype), lambda ts, dtype: gc.cast(ts[0], np.dtype(dtype))),
    "clip": (lambda vals, lo, hi: _clip64(*vals),
             lambda ts, lo, hi: gc.clip(ts[0], ts[1], ts[2])),
    "matmul": (lambda vals: S.matmul(*vals), lambda ts: gc.matmul(*ts)),
    "reshape": (lambda vals, shape: S.move(lambda x: x.reshape(shape), vals[0]),
                lambda ts, shape: gc.reshape(ts[0], shape)),
    "transpose": (lambda vals, perm: S.move(lambda x: np.transpose(x, perm), vals[0]),
                  lambda ts, perm: gc.transpose(ts[0], perm)),
    "expand_dims": (lambda vals, axis: S.move(lambda x: np.expand_dims(x, axis), vals[0]),
                    lambda ts, axis: gc.expand_dims(ts[0], axis)),
    "squeeze": (lambda vals, axis: S.move(lambda x: np.squeeze(x, axis), vals[0]),
                lambda ts, axis: gc.squeeze(ts[0], axis)),
    "broadcast_to": (lambda vals, shape: S.move(lambda x: np.broadcast_to(x, shape), vals[0]),
                     lambda ts, shape: gc.broadcast_to(ts[0], shape)),
    "slice": (lambda vals, slices: S.move(lambda x: x[_np_index(slices)], vals[0]),
              lambda ts, slices: ts[0][_np_index(slices)]),
    "concat": (lambda vals, axis: S.concat(vals, axis), lambda ts, axis: gc.concat(list(ts), axis)),
    "stack": (lambda vals, axis: S.move(lambda *xs: np.stack(xs, axis), *vals),
              lambda ts, axis: gc.stack(list(ts), axis)),
    "split": (lambda vals, axis, parts, index: S.move(lambda x: np.split(x, parts, axis)[index], vals[0]),
              lambda ts, axis, parts, index: gc.split(ts[0], parts, axis)[index]),
    "tile": (lambda vals, reps: S.move(lambda x: np.tile(x, reps), vals[0]),
             lambda ts, reps: gc.tile(ts[0], reps)),
    "pad": (lambda vals, pads, value: S.pad(vals[0], pads, value),
            lambda ts, pads, value: gc.pad(ts[0], pads, constant_values=value)),
    "gather": (lambda vals, indices, axis: S.gather(vals[0], indices, axis),
               lambda ts, indices, axis: gc.gather(ts[0], gc.constant(indices), axis)),
    "one_hot": (lambda vals, depth: _one_hot64(vals[0], depth), lambda ts, depth: gc.one_hot(ts[0], depth)),
    "zeros_like": (lambda vals: exact(np.zeros(vals[0].shape), vals[0].dtype), lambda ts: gc.zeros_like(ts[0])),
    # identity and shape specialize away before any pass (graphc/ops/static.py)
    "identity": (lambda vals: S.move(lambda x: x, vals[0]), lambda ts: make("identity", (ts[0],), {})),
    "shape": (lambda vals, dtype: exact(np.array(vals[0].shape), np.dtype(dtype)),
              lambda ts, dtype: make("shape", (ts[0],), {"dtype": np.dtype(dtype)})),
    "softmax": (lambda vals, axis: S.softmax(vals[0], axis), lambda ts, axis: gc.nn.softmax(ts[0], axis)),
    "log_softmax": (lambda vals, axis: S.log_softmax(vals[0], axis), lambda ts, axis: gc.nn.log_softmax(ts[0], axis)),
    "layer_norm": (lambda vals: S.layer_norm(vals[0], -1, 1e-5), lambda ts: gc.nn.layer_norm(ts[0])),
    "gelu": (lambda vals: _gelu64(vals[0]), lambda ts: gc.nn.gelu(ts[0])),
    "silu": (lambda vals: _silu64(vals[0]), lambda ts: gc.nn.silu(ts[0])),
    "logsumexp": (lambda vals, axis: _logsumexp64(vals[0], axis), lambda ts, axis: gc.logsumexp(ts[0], axis)),
    "conv2d": (lambda vals, stride, pads, groups, dilation: S.conv2d(vals[0], vals[1], stride, pads, groups, dilation),
               lambda ts, stride, pads, groups, dilation: gc.nn.conv2d(ts[0], ts[1], stride, pads, dilation, groups)),
    "max_pool2d": (lambda vals, kernel, stride, pads: S.pool(vals[0], "max", kernel, stride, pads),
                   lambda ts, kernel, stride, pads: gc.nn.max_pool2d(ts[0], kernel, stride, pads)),
    "avg_pool2d": (lambda vals, kernel, stride, pads: S.pool(vals[0], "avg", kernel, stride, pads),
                   lambda ts, kernel, stride, pads: gc.nn.avg_pool2d(ts[0], kernel, stride, pads)),
}
SOURCES = ("input", "const", "variable")


class Program:
    """Steps evaluated as they are added; ``outputs`` are the fetched steps."""

    def __init__(self):
        self.steps, self.vals, self.outputs = [], [], []
        self.updates = []      # (variable step, value step): gc.assign run with the fetches
        self.regime, self.drawer_errors = None, []   # set by the generator

    def add(self, op, args=(), **params):
        """Append a step and return its index (its value is evaluated now)."""
        step = Step(op, tuple(args), params)
        self.vals.append(self._evaluate(step, self.vals))
        self.steps.append(step)
        return len(self.steps) - 1

    def pop(self):
        self.steps.pop()
        self.vals.pop()

    @staticmethod
    def _evaluate(step, vals):
        fn = OPS[step.op][0]
        args = [vals[i] for i in step.args]
        with np.errstate(all="ignore"):
            out = fn(args, **step.params)
        out.kink = out.kink or any(a.kink for a in args)
        return out

    def has_unknown_dims(self):
        return any(s.op == "input" and s.params.get("unknown") for s in self.steps)

    def inputs(self):
        return [i for i, s in enumerate(self.steps) if s.op == "input"]

    def build(self, graph):
        """The graphc tensors of every step in ``graph`` and the feed dict."""
        tensors, feeds = [], {}
        with graph.as_default():
            for i, step in enumerate(self.steps):
                params = dict(step.params, index=i) if step.op in SOURCES else step.params
                t = OPS[step.op][1]([tensors[j] for j in step.args], **params)
                tensors.append(t)
                if step.op == "input":
                    feeds[t] = np.asarray(step.params["value"], np.dtype(step.params["dtype"]))
        return tensors, feeds

    def replaced(self, k):
        """This program with step ``k`` turned into an input fed with its exact value
        (rounded to its dtype): the shrinker's one move. Steps no output needs are dropped."""
        val = self.vals[k]
        steps = list(self.steps)
        steps[k] = Step("input", (), {"value": val.value.astype(val.dtype), "dtype": val.dtype.str})
        updates = [(v, x) for v, x in self.updates if steps[v].op == "variable"]
        return Program.of(steps, self.outputs, updates)

    @classmethod
    def of(cls, steps, outputs, updates=()):
        """A program of ``steps`` keeping only what ``outputs`` and ``updates`` need (renumbered)."""
        needed, stack = set(), list(outputs) + [i for pair in updates for i in pair]
        while stack:
            i = stack.pop()
            if i not in needed:
                needed.add(i)
                stack.extend(steps[i].args)
        order = sorted(needed)
        new_index = {old: new for new, old in enumerate(order)}
        p = cls()
        for old in order:
            s = steps[old]
            p.add(s.op, [new_index[a] for a in s.args], **s.params)
        p.outputs = [new_index[o] for o in outputs]
        p.updates = [(new_index[v], new_index[x]) for v, x in updates]
        return p

    def describe(self):
        """One line per step: what the program does, for failure reports."""
        lines = []
        for i, s in enumerate(self.steps):
            v = self.vals[i]
            params = {k: (f"array{np.shape(p)}" if isinstance(p, np.ndarray) else p) for k, p in s.params.items()}
            lines.append(f"  s{i}: {v.dtype}{list(v.shape)} = {s.op}({', '.join(f's{a}' for a in s.args)}) {params}")
        lines.append(f"  outputs: {', '.join(f's{o}' for o in self.outputs)}")
        lines.extend(f"  update: s{v} = s{x}" for v, x in self.updates)
        return "\n".join(lines)
