"""``graphc run model.onnx``: an ONNX model compiled and run by graphc, its outputs printed
(or saved), optionally compared with onnxruntime and timed fused, unfused and against it."""
import os
import statistics

import numpy as np

from ..errors import GraphcError


def add_arguments(p):
    p.add_argument("model", help="an ONNX model file")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input's value (repeatable); inputs not given get random data of their declared shape")
    p.add_argument("--device", default="cpu", help="the device to compile for (default cpu)")
    p.add_argument("--save", metavar="DIR", help="write each output to DIR/NAME.npy")
    p.add_argument("--bench", action="store_true", help="time graphc fused and unfused, and onnxruntime if installed")
    p.add_argument("--repeats", type=int, default=20, help="timed runs for --bench (median; default 20)")


def _feeds(inputs, given):
    """The feeds: ``--input`` files, and random data for the rest (by declared shape)."""
    values = {}
    for item in given:
        name, sep, path = item.partition("=")
        if not sep:
            raise GraphcError(f"--input {item!r}: write NAME=FILE.npy")
        if name not in inputs:
            raise GraphcError(f"--input {name!r}: the model's inputs are {', '.join(inputs)}")
        if not os.path.exists(path):
            raise GraphcError(f"--input {name}: no file {path!r}")
        values[name] = np.load(path)
    rng = np.random.default_rng(0)
    for name, tensor in inputs.items():
        if name in values:
            continue
        if any(d is None for d in tensor.shape):
            raise GraphcError(f"input {name!r} has dynamic dims {tensor.shape}: give it with --input {name}=FILE.npy")
        if tensor.dtype.kind == "f":
            values[name] = rng.standard_normal(tensor.shape).astype(tensor.dtype)
        elif tensor.dtype.kind == "b":
            values[name] = rng.random(tensor.shape) < 0.5
        else:
            values[name] = rng.integers(0, 4, tensor.shape).astype(tensor.dtype)
    return values


def _onnxruntime(path):
    try:
        import onnxruntime
    except ImportError:
        return None
    sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return lambda feeds: sess.run(None, feeds)


def _median_ms(run, repeats):
    from ..bench import samples
    return statistics.median(samples(run, repeats, 1, warmup=2)) * 1e3


def run(args):
    """The report of ``graphc run`` as text."""
    import graphc as gc
    if not os.path.exists(args.model):
        raise GraphcError(f"no file {args.model!r}")
    graph, inputs, outputs = gc.onnx.load(args.model)
    values = _feeds(inputs, args.input)
    feeds = {inputs[n]: v for n, v in values.items()}
    names = [o.name for o in _model_outputs(args.model)]
    lines = []
    with gc.Session(graph, device=args.device) as sess:
        results = sess.run(outputs, feeds)
        reference = _onnxruntime(args.model)
        theirs = reference(values) if reference else None
        for i, (name, value) in enumerate(zip(names, results)):
            line = f"{name}: {value.dtype}{list(value.shape)}"
            if theirs is not None:
                diff = np.abs(value.astype(np.float64) - np.asarray(theirs[i], np.float64))
                line += f"  max |graphc - onnxruntime| {diff.max() if diff.size else 0.0:.3g}"
            lines.append(line + "\n  " + np.array2string(value.reshape(-1)[:8], precision=5)
                         + (" ..." if value.size > 8 else ""))
            if args.save:
                os.makedirs(args.save, exist_ok=True)
                np.save(os.path.join(args.save, f"{name}.npy"), value)
        if args.bench:
            lines.append("")
            lines.append(f"median of {args.repeats} runs:")
            lines.append(f"  graphc fused     {_median_ms(lambda: sess.run(outputs, feeds), args.repeats):9.3f} ms")
    if args.bench:
        with gc.Session(graph, device=args.device, optimize=False) as plain:
            lines.append(f"  graphc unfused   {_median_ms(lambda: plain.run(outputs, feeds), args.repeats):9.3f} ms")
        if reference:
            lines.append(f"  onnxruntime      {_median_ms(lambda: reference(values), args.repeats):9.3f} ms")
    return "\n".join(lines)


def _model_outputs(path):
    import onnx
    return onnx.load(path, load_external_data=False).graph.output
