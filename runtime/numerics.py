"""check_numerics: name the op that first produced a NaN or Inf in a run.

``gc.Session(check_numerics=True)``, or ``sess.run(..., check_numerics=True)`` for one
run, runs the *same* compiled program (same kernels, same memory plan) on the executor's
step-by-step path with a :class:`NumericsCheck` watching it; unchecked runs never touch
this module. In a checked run:

1. Every float feed and every float variable the program reads is checked before
   anything runs: a NaN/Inf there is reported as fed (naming the placeholder) or as the
   variable's stored value, never blamed on an op.
2. After each kernel, its float output is checked. Constants are not checked (a ``-inf``
   constant is deliberate), nor are the outputs of ops that only move values (reshape,
   slice, concat, pad, gather, ...: a value they move was checked where it was computed;
   max_pool2d's ``-inf`` padding is such a move, so it passes).
3. The first kernel whose output is not finite is where the value appeared. A single op
   is reported as itself. A fused kernel's body is re-run op by op with the numpy
   references over the kernel's own inputs (copied before the call where the output
   overwrites them), and the op reported is the first one, in the body's order, that
   computes (does not just move) a non-finite value the kernel's output is made from.
   If the re-run gives a finite output (native code and reference differ), the kernel
   itself is reported.

Any non-finite result of a computing op is reported, including ones that are
mathematically right (``log(0) = -inf``, ``exp(89.0)`` in float32), as TF's
check_numerics does. A non-finite value that never leaves one fused kernel (masked by a
``where`` inside it) is not seen; in an unfused program the same value is a kernel
output, and is reported.
"""
import numpy as np

from ..errors import NumericsError
from ..ir.interpret import compute, run_graph
from ..ops import EFFECT, SOURCE


class NumericsCheck:
    """The check of one run: the executor calls :meth:`inputs` before each kernel and
    :meth:`output` after it. Creating it checks the feeds and the variables."""

    def __init__(self, graph, feeds, variables):
        for node in graph.nodes:
            if node.op == "placeholder":
                _check_source(node, feeds[node.name], fed=True)
            elif node.op == "variable":
                _check_source(node, variables[node.name], fed=False)

    def inputs(self, node, env, out):
        """The input values of kernel ``node`` as they are before it runs (those that
        share memory with ``out`` are copied), or None when its output is not checked."""
        if not _checked(node):
            return None
        values = [env[x] for x in node.inputs]
        return [np.array(v) if np.may_share_memory(v, out) else v for v in values]

    def output(self, node, value, inputs):
        """Raise :class:`NumericsError` if kernel ``node`` made ``value`` non-finite from
        its ``inputs`` (what :meth:`inputs` returned)."""
        if inputs is None or _finite(value):
            return
        if node.op != "fused":
            _raise_op(node, value, dict(zip(node.inputs, inputs)), kernel=node)
        body = node.attrs["body"]
        values = _interpret(body, inputs)
        origin = _origin(body, values)
        if origin is _DIFFERS:
            what, desc = _describe(value)
            covered = ", ".join(f"'{n.name}'" for n in body.nodes if n.op not in ("placeholder", "constant"))
            raise NumericsError(
                f"check_numerics: fused kernel '{node.name}'{_at(node)} produced {desc} from finite inputs, "
                f"but the numpy references of its ops ({covered}) give finite values over the same inputs: "
                "the native code and the reference differ here",
                op_name=node.name, op_type=node.op, kernel=node.name, loc=node.loc, what=what)
        if origin is not None:
            _raise_op(origin, values[origin], values, kernel=node)
        # else: only moved, deliberate non-finite values (a constant, a -inf padding) reach the output


def run_graph_checked(graph, feeds, variables):
    """``graphc.ir.interpret.run_graph`` with the check: for programs compiled without a memory plan."""
    check = NumericsCheck(graph, feeds, variables)
    return run_graph(graph, feeds, variables,
                     after=lambda node, value, inputs: check.output(node, value, inputs if _checked(node) else None))


_DIFFERS = object()   # _origin's answer when the re-run's output is finite


def _checked(node):
    """Whether ``node``'s output is checked: a float value computed by an op."""
    kind = node.opdef.kind
    return (kind not in (SOURCE, EFFECT) and not _moves_values(node)
            and node.dtype is not None and node.dtype.kind == "f")


def _moves_values(node):
    """Ops that only move their inputs' values (and pad's fill value), computing none."""
    return node.opdef.moves_only


def _finite(value):
    return value.dtype.kind != "f" or bool(np.isfinite(value).all())


def _interpret(body, inputs):
    """Every value of a fused kernel's body, computed with the ops' numpy references."""
    params = [n for n in body.nodes if n.op == "placeholder"]
    values = dict(zip(params, inputs))
    with np.errstate(all="ignore"):
        for node in body.nodes:
            if node not in values:
                values[node] = compute(node, [values[x] for x in node.inputs])
    return values


def _origin(body, values):
    """The first body op that computes a non-finite value the output is made from; None
    when only moved values are non-finite; _DIFFERS when the output is finite."""
    bad = {n for n, v in values.items() if not _finite(np.asarray(v))}
    (root,) = body.outputs
    if root not in bad:
        return _DIFFERS
    reached, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node not in reached:
            reached.add(node)
            stack.extend(x for x in node.inputs if x in bad)
    return next((n for n in body.nodes if n in reached and _checked(n)), None)


def _raise_op(op, value, values, kernel):
    """Report op ``op`` (a program node or a fused body's) of ``kernel``, which made
    ``value``; ``values`` holds its inputs' values."""
    what, desc = _describe(np.asarray(value))
    odd = [f"'{x.name}' ({x.op})" for x in dict.fromkeys(op.inputs) if not _finite(np.asarray(values[x]))]
    inputs = f" reading the non-finite {', '.join(odd)}" if odd else " from finite inputs"
    if kernel is op:
        place = ", in a kernel of its own"
    else:
        n = sum(1 for m in kernel.attrs["body"].nodes if m.op not in ("placeholder", "constant"))
        place = f", inside fused kernel '{kernel.name}' ({kernel.attrs['kind']}, {n} ops)"
    raise NumericsError(f"check_numerics: {op.where()} produced {desc}{inputs}{place}",
                        op_name=op.name, op_type=op.op, kernel=kernel.name, loc=op.loc, what=what)


def _check_source(node, value, fed):
    value = np.asarray(value)
    if _finite(value):
        return
    what, desc = _describe(value)
    if fed:
        message = (f"check_numerics: the value fed for placeholder '{node.name}'{_at(node)} holds {desc}: "
                   "it was fed by the caller, not produced by an op")
    else:
        message = (f"check_numerics: variable '{node.name}'{_at(node)} holds {desc} before this run "
                   "(its stored value, from its initial value or an earlier run)")
    raise NumericsError(message, op_name=node.name, op_type=node.op, kernel=None, loc=node.loc, what=what,
                        fed=fed)


def _describe(value):
    """('nan' or 'inf', text saying which non-finite values, how many and the first index)."""
    masks = (("nan", np.isnan(value)), ("inf", np.isposinf(value)), ("-inf", np.isneginf(value)))
    kinds = [name for name, mask in masks if mask.any()]
    bad = ~np.isfinite(value)
    text = " and ".join(kinds)
    if value.ndim:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        text += f" ({int(bad.sum())} of {value.size} values, the first at index {first})"
    return ("nan" if "nan" in kinds else "inf"), text


def _at(node):
    return f" (built at {node.loc})" if node.loc else ""
