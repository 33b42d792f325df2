"""One drawer per fuzzer op: picks inputs that meet the op's constraints (shape, dtype,
domain, value range), chooses its attributes, and adds the step. A drawer returns
False when nothing in the program fits."""
import numpy as np

from . import elementwise as E

FLOAT = lambda v: v.dtype.kind == "f"                      # noqa: E731
NUMERIC = lambda v: v.dtype != np.bool_                    # noqa: E731
RANKED = lambda v: v.value.ndim > 0                        # noqa: E731
NONEMPTY = lambda v: v.value.size > 0                      # noqa: E731
INT_SAFE = ("neg", "abs", "square", "sign", "relu", "floor", "ceil", "round")


def _unary(name):
    domain = E.UNARY[name][2] if name in E.UNARY else E.ANY

    def draw(g):
        if name in INT_SAFE and g.c.chance(0.3):
            x = g.pick_tensor(lambda v: v.dtype.kind == "i")
        elif name == "logical_not":
            x = g.pick_tensor()
        else:
            x = g.pick_tensor(NUMERIC)
        if name not in INT_SAFE and name not in E.PREDICATES:
            x = g.adapt(x, domain)
        elif g.p.vals[x].dtype.kind == "f" and np.abs(g.p.vals[x].value).max(initial=0) > 1e4:
            x = g.adapt(x, E.ANY)
        g.p.add(name, (x,))
        return True
    return draw


def _partner(g, x, dtype_pred=NUMERIC):
    """A second operand for ``x``: a tensor that broadcasts with it, or a new constant."""
    vx = g.p.vals[x]
    c = g.c

    def fits(v):
        try:
            return dtype_pred(v) and np.broadcast_shapes(v.shape, vx.shape) is not None \
                and int(np.prod(np.broadcast_shapes(v.shape, vx.shape))) <= max(vx.value.size, 1) * 64
        except ValueError:
            return False
    options = g.pool(fits)
    if options and c.chance(0.7):
        return c.pick(options[::-1])
    shape = g.broadcastable(vx.shape) if c.chance(0.6) else ()
    dtype = vx.dtype if c.chance(0.8) or vx.dtype == np.bool_ else c.pick(["float32", "float64", "int32", "int64"])
    dtype = g.floats[0] if np.dtype(dtype).kind == "f" and np.dtype(dtype) not in g.floats else dtype
    return g.source(shape, dtype, c.pick(("const", "input")))


def _binary(name):
    def draw(g):
        c = g.c
        if name in E.LOGICAL:
            bools = g.pool(lambda v: v.dtype == np.bool_)
            x = g.c.pick(bools) if bools else g.pick_tensor()
            y = _partner(g, x, lambda v: True)
        else:
            x = g.pick_tensor(NUMERIC)
            y = _partner(g, x)
        vx, vy = g.p.vals[x], g.p.vals[y]
        common = np.result_type(vx.dtype, vy.dtype)
        if name == "divide" or (name in E.INT_DIVISION and common.kind == "f"):
            y = g.adapt(y, E.POSITIVE)
            if c.chance(0.5):
                y = g.p.add("neg", (y,))
        elif name == "power":
            x, y = g.adapt(x, E.POSITIVE), g.adapt(y, E.BOUNDED)
            y = g.p.add("multiply", (g.p.add("tanh", (y,)), g.const(2.0, g.p.vals[y].dtype)))
            if np.abs(g.p.vals[x].value).max(initial=1) > 100:
                return False
        elif name == "multiply" and common.kind == "f":
            for v in (x, y):
                if np.abs(g.p.vals[v].value).max(initial=0) > 300:
                    return False
        if c.chance(0.5) and name not in E.LOGICAL and name not in ("divide", "power", "floor_divide", "mod"):
            x, y = y, x
        g.p.add(name, (x, y))
        return True
    return draw


def _where(g):
    bools = g.pool(lambda v: v.dtype == np.bool_)
    cond = g.c.pick(bools) if bools else None
    if cond is None:
        x = g.pick_tensor(NUMERIC)
        cond = g.p.add("greater", (x, _partner(g, x)))
    x = _partner(g, cond)
    y = _partner(g, cond)
    try:   # each broadcasts with the condition; all three must broadcast together
        np.broadcast_shapes(g.p.vals[cond].shape, g.p.vals[x].shape, g.p.vals[y].shape)
    except ValueError:
        return False
    g.p.add("where", (cond, x, y))
    return True


def _cast(g):
    x = g.pick_tensor()
    dtype = g.c.pick([d.name for d in dict.fromkeys(g.floats)] + ["int32", "int64", "bool"])
    if g.p.vals[x].dtype.kind == "f" and dtype in ("int32", "int64"):
        if np.abs(g.p.vals[x].value).max(initial=0) > 1e4:
            x = g.adapt(x, E.ANY)
    g.p.add("cast", (x,), dtype=dtype)
    return True


def _clip(g):
    x = g.pick_tensor(FLOAT)
    dtype = g.p.vals[x].dtype
    lo = g.c.pick([-1.0, -0.5, 0.0])
    g.p.add("clip", (x, g.const(lo, dtype), g.const(lo + g.c.pick([0.5, 1.0, 2.0]), dtype)), lo=lo, hi=None)
    return True


def _axis_choice(g, rank):
    c = g.c
    if rank == 0 or c.chance(0.25):
        return None
    if c.chance(0.7):
        a = c.integer(0, rank - 1)
        return a - rank if c.chance(0.3) else a          # negative axes too
    return tuple(sorted(set(c.integer(0, rank - 1) for _ in range(c.integer(1, rank)))))


def _reduction(name):
    def draw(g):
        x = g.pick_tensor(NUMERIC if name != "sum" else lambda v: True)
        v = g.p.vals[x]
        axis = _axis_choice(g, v.value.ndim)
        if name in ("argmax", "argmin") and isinstance(axis, tuple):
            axis = axis[0]                            # one axis or all of them
        axes = tuple(range(v.value.ndim)) if axis is None else tuple(np.atleast_1d(axis) % max(v.value.ndim, 1))
        n = int(np.prod([v.shape[a] for a in axes])) if axes else 1
        if n == 0 and name not in ("sum", "prod"):
            return False                              # max/argmax of nothing is an error; mean is NaN
        if name == "prod" and v.dtype.kind == "f":
            # values near 1 keep long products finite
            x = g.p.add("add", (g.p.add("multiply", (g.p.add("tanh", (g.adapt(x, E.ANY),)),
                                                     g.const(0.05 if n > 16 else 0.5, v.dtype))),
                                g.const(1.0, v.dtype)))
        elif name == "prod" and v.dtype.kind == "i" and n > 12:
            return False
        g.p.add(name, (x,), axis=axis, keepdims=g.c.chance(0.4))
        return True
    return draw


def _matmul(g):
    c = g.c
    a = g.pick_tensor(lambda v: NUMERIC(v) and RANKED(v) and v.value.ndim <= 3 and v.value.size <= 1 << 16)
    if a is None:
        return False
    va = g.p.vals[a]
    k = va.shape[-1]
    n = c.pick([1, 3, 16, 17, 64])
    shape = (k,) if c.chance(0.15) else ((k, n) if c.chance(0.7) or va.value.ndim < 3 else va.shape[:-2] + (k, n))
    dtype = va.dtype if c.chance(0.8) else c.pick(["float32", "float64"])
    b = g.source(shape, dtype, c.pick(("const", "input", "variable")))
    if c.chance(0.2) and va.value.ndim == 2:      # a new operand on the left instead
        a, b = g.source((c.pick([1, 2, 5]), va.shape[0]), va.dtype, c.pick(("const", "input"))), a
    g.p.add("matmul", (a, b))
    return True


def _reshape(g):
    x = g.pick_tensor()
    shape = g.p.vals[x].shape
    size = int(np.prod(shape))
    dims = [d for d in range(1, min(size, 64) + 1) if size % d == 0] if size else [0, 1]
    first = g.c.pick(dims)
    new = (first, size // first if first else g.c.pick([1, 3])) if g.c.chance(0.6) else (size,)
    if g.c.chance(0.3):
        new = (1,) + new
    g.p.add("reshape", (x,), shape=new)
    return True


def _transpose(g):
    x = g.pick_tensor(lambda v: v.value.ndim >= 2)
    rank = g.p.vals[x].value.ndim
    perm = tuple(int(i) for i in g.rng.permutation(rank))
    g.p.add("transpose", (x,), perm=perm)
    return True


def _expand_dims(g):
    x = g.pick_tensor()
    g.p.add("expand_dims", (x,), axis=g.c.integer(0, g.p.vals[x].value.ndim))
    return True


def _squeeze(g):
    x = g.pick_tensor(lambda v: 1 in v.shape)
    shape = g.p.vals[x].shape
    g.p.add("squeeze", (x,), axis=g.c.pick([i for i, d in enumerate(shape) if d == 1]))
    return True


def _broadcast_to(g):
    x = g.pick_tensor(lambda v: v.value.size <= 4096)
    shape = g.p.vals[x].shape
    new = tuple(g.c.pick([2, 3, 16, 17]) if d == 1 and g.c.chance(0.6) else d for d in shape)
    if g.c.chance(0.4):
        new = (g.c.pick([1, 2, 5]),) + new
    g.p.add("broadcast_to", (x,), shape=new)
    return True


def _slice(g):
    x = g.pick_tensor(RANKED)
    slices = []
    for d in g.p.vals[x].shape:
        step = g.c.pick([1, 1, 2, 3, -1, -2])
        start = g.c.integer(-d, d) if d and g.c.chance(0.5) else None
        stop = g.c.integer(-d, d) if d and g.c.chance(0.5) else None
        slices.append((start, stop, step))
    g.p.add("slice", (x,), slices=tuple(slices))
    return True


def _concat(g):
    x = g.pick_tensor(RANKED)
    v = g.p.vals[x]
    axis = g.c.integer(0, v.value.ndim - 1)
    parts = [x]
    for _ in range(g.c.integer(1, 3)):
        if g.c.chance(0.4):
            parts.append(x)                            # the same tensor twice
        else:
            shape = list(v.shape)
            shape[axis] = g.c.pick([0, 1, 2, 17])
            parts.append(g.source(tuple(shape), v.dtype, g.c.pick(("const", "input"))))
    g.p.add("concat", parts, axis=axis - v.value.ndim if g.c.chance(0.3) else axis)
    return True


def _stack(g):
    x = g.pick_tensor(lambda v: v.value.size <= 1 << 15)
    v = g.p.vals[x]
    others = g.pool(lambda w: w.shape == v.shape and w.dtype == v.dtype)
    parts = [x] + [g.c.pick(others) for _ in range(g.c.integer(1, 3))]
    g.p.add("stack", parts, axis=g.c.integer(0, v.value.ndim))
    return True


def _split(g):
    x = g.pick_tensor(lambda v: any(d > 1 for d in v.shape))
    shape = g.p.vals[x].shape
    axis = g.c.pick([i for i, d in enumerate(shape) if d > 1])
    parts = g.c.pick([p for p in range(2, min(shape[axis], 5) + 1) if shape[axis] % p == 0] or [1])
    g.p.add("split", (x,), axis=axis, parts=parts, index=g.c.integer(0, parts - 1))
    return True


def _tile(g):
    x = g.pick_tensor(lambda v: v.value.size <= 1024)
    reps = tuple(g.c.pick([1, 2, 3]) for _ in range(max(g.p.vals[x].value.ndim, 1)))
    g.p.add("tile", (x,), reps=reps)
    return True


def _pad(g):
    x = g.pick_tensor(lambda v: RANKED(v) and v.value.size <= 1 << 16)
    pads = tuple((g.c.integer(0, 2), g.c.integer(0, 3)) for _ in g.p.vals[x].shape)
    value = 0 if g.p.vals[x].dtype == np.bool_ else g.c.pick([0, 1, -2])
    g.p.add("pad", (x,), pads=pads, value=value)
    return True


def _gather(g):
    x = g.pick_tensor(lambda v: RANKED(v) and NONEMPTY(v))
    shape = g.p.vals[x].shape
    axis = g.c.integer(0, len(shape) - 1)
    count = g.c.pick([(), (1,), (3,), (2, 2), (7,)])
    indices = g.rng.integers(-shape[axis], shape[axis], count)   # negative indices count from the end
    g.p.add("gather", (x,), indices=indices, axis=axis)
    return True


def _one_hot(g):
    x = g.pick_tensor(lambda v: v.dtype.kind == "i" and v.value.size <= 4096)
    g.p.add("one_hot", (x,), depth=g.c.pick([1, 4, 10]))
    return True


def _zeros_like(g):
    g.p.add("zeros_like", (g.pick_tensor(),))
    return True


def _identity(g):
    g.p.add("identity", (g.pick_tensor(),))
    return True


def _shape(g):
    g.p.add("shape", (g.pick_tensor(),), dtype=g.c.pick(["int32", "int64"]))
    return True


def _random(g):
    shape = g.c.pick([(), (3,), (4, 17), (2, 3, 5)])
    g.p.add("random", seed=g.c.integer(0, 1000), distribution=g.c.pick(["uniform", "normal"]),
            shape=shape, dtype=g.c.pick(["float32", "float64"]))
    return True


def _row_op(name):
    def draw(g):
        x = g.pick_tensor(lambda v: FLOAT(v) and RANKED(v) and NONEMPTY(v))
        x = g.adapt(x, E.ANY)
        v = g.p.vals[x]
        if name == "layer_norm":
            if v.shape[-1] < 2 or float(np.var(v.value, axis=-1).min()) < 1e-2:
                return False
            g.p.add(name, (x,))
        elif name in ("gelu", "silu"):
            g.p.add(name, (x,))
        else:
            axis = g.c.integer(-v.value.ndim, v.value.ndim - 1)
            g.p.add(name, (x,), axis=axis)
        return True
    return draw


def _conv_input(g, channels):
    n, h, w = g.c.pick([1, 2]), g.c.pick([1, 4, 5, 8, 9]), g.c.pick([3, 4, 7, 17])
    return g.source((n, channels, h, w), "float32", g.c.pick(("input", "variable")))


def _pads(g, size, kernel, stride, dilation):
    if g.c.chance(0.3):   # "SAME" as TF computes it
        out = [-(-n // s) for n, s in zip(size, stride)]
        total = [max((o - 1) * s + (k - 1) * d + 1 - n, 0) for o, s, k, d, n in zip(out, stride, kernel, dilation, size)]
        return tuple((t // 2, t - t // 2) for t in total)
    return tuple((g.c.integer(0, 1), g.c.integer(0, 2)) for _ in range(2))


def _fits(size, kernel, stride, dilation, pads):
    return all((n + p[0] + p[1] - d * (k - 1) - 1) // s + 1 >= 1 and n + p[0] + p[1] >= d * (k - 1) + 1
               for n, k, s, d, p in zip(size, kernel, stride, dilation, pads))


def _conv2d(g):
    c = g.c
    groups = c.pick([1, 1, 2])
    cin = groups * c.pick([1, 2, 3])
    if c.chance(0.2):   # depthwise (one input channel per group: the direct kernels)
        groups = cin = c.pick([2, 3, 5])
    if c.chance(0.05):  # patches over the GEMM's chunk budget (runtime.cpu.llvm_conv.PATCH_BUDGET)
        groups, cin = 1, 64
    fits = g.pool(lambda v: FLOAT(v) and v.value.ndim == 4 and v.shape[1] == cin and v.value.size <= 1 << 14)
    x = c.pick(fits) if fits and c.chance(0.5) else \
        (g.source((1, 64, 23, 23), "float32", "input") if cin == 64 else _conv_input(g, cin))
    if g.p.vals[x].dtype.kind != "f":
        x = g.p.add("cast", (x,), dtype=g.floats[0].name)
    size = g.p.vals[x].shape[2:]
    kernel = (c.pick([1, 2, 3]), c.pick([1, 3]))
    stride, dilation = (c.pick([1, 2]), c.pick([1, 2])), (c.pick([1, 1, 2]), 1)
    pads = _pads(g, size, kernel, stride, dilation)
    if not _fits(size, kernel, stride, dilation, pads):
        return False
    w = g.source((groups * c.pick([1, 2, 4]), cin // groups) + kernel, "float32", c.pick(("const", "input", "variable")))
    g.p.add("conv2d", (x, w), stride=stride, pads=pads, groups=groups, dilation=dilation)
    return True


def _pool(kind):
    def draw(g):
        c = g.c
        fits = g.pool(lambda v: FLOAT(v) and v.value.ndim == 4 and v.value.size <= 1 << 14)
        x = c.pick(fits) if fits and c.chance(0.5) else _conv_input(g, c.pick([1, 3]))
        size = g.p.vals[x].shape[2:]
        kernel = (c.pick([1, 2, 3]), c.pick([2, 3]))
        stride = (c.pick([1, 2]), c.pick([1, 2, 3]))
        pads = tuple((min(c.integer(0, 1), k // 2), min(c.integer(0, 1), k // 2)) for k in kernel)
        if not _fits(size, kernel, stride, (1, 1), pads):
            return False
        g.p.add(kind, (x,), kernel=kernel, stride=stride, pads=pads)
        return True
    return draw


DRAWERS = {
    **{n: _unary(n) for n in list(E.UNARY) + list(E.PIECEWISE) + list(E.PREDICATES)},
    **{n: _binary(n) for n in E.BINARY},
    **{n: _reduction(n) for n in ("sum", "prod", "mean", "max", "min", "argmax", "argmin")},
    "where": _where, "cast": _cast, "clip": _clip, "matmul": _matmul, "reshape": _reshape,
    "transpose": _transpose, "expand_dims": _expand_dims, "squeeze": _squeeze, "broadcast_to": _broadcast_to,
    "slice": _slice, "concat": _concat, "stack": _stack, "split": _split, "tile": _tile, "pad": _pad,
    "gather": _gather, "one_hot": _one_hot, "zeros_like": _zeros_like, "random": _random,
    "identity": _identity, "shape": _shape,
    **{n: _row_op(n) for n in ("softmax", "log_softmax", "layer_norm", "gelu", "silu", "logsumexp")},
    "conv2d": _conv2d, "max_pool2d": _pool("max_pool2d"), "avg_pool2d": _pool("avg_pool2d"),
}
_REDUCTIONS = ["sum", "mean", "max", "min", "argmax", "softmax", "log_softmax", "layer_norm", "logsumexp"]
WEIGHTED = {
    "default": list(DRAWERS),
    "sum_block": list(DRAWERS) + _REDUCTIONS * 4 + ["exp", "tanh", "multiply", "divide"] * 3,
    "gemm": list(DRAWERS) + ["matmul", "add", "relu", "tanh", "transpose", "sum"] * 4,
    "small": list(DRAWERS) + ["conv2d", "max_pool2d", "avg_pool2d"] * 2,
    # convolutions and pools (their gradients in gradient programs) and the epilogues fused after them
    "conv": list(DRAWERS) + ["conv2d"] * 16 + ["max_pool2d", "avg_pool2d"] * 6 + ["relu", "add", "multiply"] * 4,
}
