"""Whole-model files: ``model.save(path)`` and ``gc.layers.load_model(path)``.

A model file is a zip archive (written to a temporary file, then renamed over ``path``,
so a crash mid-save leaves any earlier file intact):

- ``graphc_model.json``: the format's name and version, the graphc that wrote it, the
  architecture (the model's name, seed, input shape and dtype, and each layer's class
  and ``get_config()``), the compile settings (optimizer class and config, loss,
  metrics), and the training state the graph needs (label spec, training batch sizes);
- ``variables.npz``: every Variable of the model's graph by name: the weights, the
  optimizer's slots and step, the learning rate and the model's step counter (which
  keys the dropout masks).

Loading rebuilds the model without its code, rebuilds the training step of every saved
batch size (so the optimizer slots exist), then sets every Variable: the next training
step is bit-identical to the one the saved model would have taken.
"""
import io
import json
import zipfile
import zlib

import numpy as np

from .. import dtypes as dt, train
from ..errors import GraphcError
from ..graph_file import graphc_version
from . import base, conv, core, losses, normalization, saving

FORMAT = "graphc-model"
VERSION = 1
_CONFIG = "graphc_model.json"
_VARIABLES = "variables.npz"
LAYER_CLASSES = {cls.__name__: cls for cls in (core.Dense, core.Flatten, core.Dropout, core.LayerNorm,
                                                core.Embedding, conv.Conv2D, conv.MaxPool2D, conv.AvgPool2D,
                                                conv.Conv2DTranspose, normalization.BatchNormalization)}
OPTIMIZERS = {cls.__name__: cls for cls in (train.SGD, train.Adam, train.RMSProp)}


def save_model(model, path):
    """Write ``model`` (built) to ``path``; returns the path."""
    model._check_built("save")
    config = {"format": FORMAT, "version": VERSION, "graphc": graphc_version(),
              "model": {"name": model.name, "seed": model.seed, "input_shape": list(model._input_shape),
                        "input_dtype": np.dtype(model.inputs.dtype).name,
                        "layers": [_layer_entry(layer) for layer in model.layers]},
              "compile": _compile_entry(model),
              "training": {"labels": None if model._labels is None else
                           [np.dtype(model._labels[0]).name, list(model._labels[1])],
                           "batch_sizes": sorted(model._train_steps)}}
    variables = [model.graph.tensor(v) for v in model.graph.variables()]
    values = model.session.run(variables)
    buffer = io.BytesIO()
    np.savez(buffer, **{v.name: a for v, a in zip(variables, values)})
    with saving.atomic_write(path) as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_CONFIG, json.dumps(config, indent=1))
        archive.writestr(_VARIABLES, buffer.getvalue())
    return str(path)


def load_model(path, custom_objects=None, compile=True):
    """A ``Sequential`` rebuilt from a file that ``model.save`` wrote, in any process.

    ``custom_objects`` maps the names of custom losses, metrics and activations (the
    functions' ``__name__``) to the functions. ``compile=False`` skips the optimizer and
    training state (weights only: for inference). A file that is not a graphc model, is
    damaged, or comes from a format version this graphc does not read is an error saying so.
    """
    from .sequential import Sequential
    config, stored = _read(path)
    custom = dict(custom_objects or {})
    spec = config["model"]
    model = Sequential([_layer(entry, custom, path) for entry in spec["layers"]], name=spec["name"],
                       seed=spec["seed"], input_shape=tuple(spec["input_shape"]))
    model.build(dtype=dt.as_dtype(spec["input_dtype"]))
    if compile and config["compile"] is not None:
        entry = config["compile"]
        optimizer = OPTIMIZERS[entry["optimizer"]["class"]](**entry["optimizer"]["config"])
        model.compile(optimizer, _named(entry["loss"], custom, "loss", path),
                      [_named(m, custom, "metric", path) for m in entry["metrics"]])
        labels = config["training"]["labels"]
        if labels is not None:
            model._labels = (dt.as_dtype(labels[0]), tuple(labels[1]))
            for b in config["training"]["batch_sizes"]:
                model._train_step(int(b), None)
    if compile:
        variables = [model.graph.tensor(v) for v in model.graph.variables()]
    else:   # the weights only: the file's optimizer state and counters are not wanted
        variables = model.weights
        stored = {v.name: stored[v.name] for v in variables if v.name in stored}
    problems = saving.mismatches([(v.name, v.shape) for v in variables], stored)
    if problems:
        raise GraphcError(f"{path}: the file does not match the model it describes: {'; '.join(problems)}")
    model._assign(variables, [stored[v.name] for v in variables])
    return model


def _layer_entry(layer):
    if type(layer).__name__ not in LAYER_CLASSES:
        raise GraphcError(f"cannot save layer '{layer.name}': {type(layer).__name__} is not a gc.layers class "
                          "that model files know")
    return {"class": type(layer).__name__, "config": layer.get_config()}


def _compile_entry(model):
    if model.optimizer is None:
        return None
    name = type(model.optimizer).__name__
    if name not in OPTIMIZERS:
        raise GraphcError(f"cannot save model '{model.name}': its optimizer {name} is not one of "
                          f"{sorted(OPTIMIZERS)}")
    opt = model.optimizer.get_config()
    if opt["lr"] is None:
        opt["lr"] = model.learning_rate   # (the model's learning-rate Variable; its value is restored too)
    return {"optimizer": {"class": name, "config": opt}, "loss": losses.metric_name(model.loss),
            "metrics": [losses.metric_name(m) for m in model.metrics]}


def _layer(entry, custom, path):
    cls = LAYER_CLASSES.get(entry["class"])
    if cls is None:
        raise GraphcError(f"{path}: unknown layer class {entry['class']!r}")
    config = dict(entry["config"])
    activation = config.get("activation")
    if activation is not None and activation not in base.ACTIVATIONS:
        config["activation"] = _named(activation, custom, "activation", path)
    return cls.from_config(config)


def _named(name, custom, what, path):
    """A built-in loss/metric/activation name as is, else the custom function of that name."""
    builtin = {"loss": losses.LOSSES, "metric": ("accuracy",), "activation": tuple(base.ACTIVATIONS)}[what]
    if name in builtin:
        return name
    if name not in custom:
        raise GraphcError(f"{path}: the model uses the custom {what} {name!r}; pass "
                          f"custom_objects={{{name!r}: function}} to load_model")
    return custom[name]


def _read(path):
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read(_CONFIG))
            if config.get("format") != FORMAT:
                raise GraphcError(f"{path}: not a graphc model file (format {config.get('format')!r})")
            if config.get("version") != VERSION:
                raise GraphcError(f"{path}: written in model file format version {config.get('version')} by graphc "
                                  f"{config.get('graphc', '?')}; this graphc ({graphc_version()}) reads version {VERSION}")
            with np.load(io.BytesIO(archive.read(_VARIABLES)), allow_pickle=False) as data:
                stored = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise GraphcError(f"{path}: no such model file") from None
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, zlib.error, OSError) as e:
        raise GraphcError(f"{path}: not a graphc model file, or a damaged one ({e})") from None
    return config, stored
