"""An ONNX backend (``onnx.backend.base.Backend``) over graphc sessions, so ONNX's own
backend test suite and tools that take a backend can run graphc.

    from graphc.onnx.backend import GraphcBackend
    rep = GraphcBackend.prepare(model, device="CPU")
    outputs = rep.run([x])

A model is compiled at its first run, for the shapes of the inputs it is given (dynamic
dims take the fed sizes) and with the values of inputs that ONNX ops need as constants
(a Reshape's shape fed as a graph input, say) built in; another shape or such value
compiles again, once each.
"""
import numpy as np
from onnx.backend.base import Backend, BackendRep

from .importer import NeedsConstant, load

_DEVICES = {"CPU": "cpu", "CUDA": "cuda"}


def graphc_device(device):
    """The graphc device of an ONNX device string ("CPU", "CUDA", "CUDA:0")."""
    kind = str(device).split(":")[0].upper()
    if kind not in _DEVICES:
        raise ValueError(f"ONNX device {device!r}: graphc runs 'CPU' and 'CUDA'")
    return _DEVICES[kind]


class GraphcRep(BackendRep):
    """A prepared model: ``run(inputs)`` takes a list (in the graph's input order) or a dict
    by name and returns the outputs as a tuple of numpy arrays."""

    def __init__(self, model, device="CPU"):
        self.model, self.device = model, graphc_device(device)
        initializers = {i.name for i in model.graph.initializer}
        self.input_names = [i.name for i in model.graph.input if i.name not in initializers]
        self.output_names = [o.name for o in model.graph.output]
        self._constant_names = set()
        self._programs = {}          # (shapes, dtypes, constant values) -> (session, placeholders, outputs)

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            feeds = {name: np.asarray(inputs[name]) for name in self.input_names}
        else:
            inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            if len(inputs) != len(self.input_names):
                raise ValueError(f"the model takes {len(self.input_names)} inputs {self.input_names}, "
                                 f"got {len(inputs)}")
            feeds = {name: np.asarray(v) for name, v in zip(self.input_names, inputs)}
        session, placeholders, outputs = self._program(feeds)
        values = session.run(outputs, {placeholders[n]: feeds[n] for n in placeholders})
        return tuple(np.asarray(v) for v in values)

    def _program(self, feeds):
        while True:
            key = tuple((n, v.shape, v.dtype.str, v.tobytes() if n in self._constant_names else None)
                        for n, v in feeds.items())
            if key in self._programs:
                return self._programs[key]
            try:
                program = self._build(feeds)
            except NeedsConstant as e:
                if not e.input_names or set(e.input_names) <= self._constant_names:
                    raise
                self._constant_names.update(e.input_names)
                continue
            self._programs[key] = program
            return program

    def _build(self, feeds):
        from .. import Session
        model = type(self.model)()
        model.CopyFrom(self.model)
        for value_info in model.graph.input:   # the fed sizes for dynamic dims
            if value_info.name in feeds and value_info.type.HasField("tensor_type"):
                dims = value_info.type.tensor_type.shape.dim
                shape = feeds[value_info.name].shape
                if len(dims) == len(shape):
                    for dim, size in zip(dims, shape):
                        dim.dim_value = int(size)
        constants = {n: feeds[n] for n in self._constant_names}
        graph, placeholders, outputs = load(model, constant_inputs=constants)
        return Session(graph, device=self.device), placeholders, outputs


class GraphcBackend(Backend):
    """graphc as an ONNX backend: ``prepare(model, device)`` gives a :class:`GraphcRep`."""

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        super().prepare(model, device, **kwargs)
        return GraphcRep(model, device)

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device):
        try:
            kind = graphc_device(device)
        except ValueError:
            return False
        if kind == "cpu":
            return True
        from ..errors import GraphcError
        from ..runtime.cuda import check_available
        try:
            check_available()
        except GraphcError:
            return False
        return True


prepare = GraphcBackend.prepare
run_model = GraphcBackend.run_model
supports_device = GraphcBackend.supports_device
