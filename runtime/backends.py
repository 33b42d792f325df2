"""The devices a Session runs on, and the backend package behind each.

A backend package (``runtime/cpu/``; the CUDA backend adds ``runtime/cuda/``) reads only
the kernel IR (runtime.kernel) and the op traits, never another backend, and provides:

- ``build(kernel_nodes, private_products, sharing) -> ({node: kernel}, code)``: its kernels for
  the nodes it lowers (an op without an entry in its lowering table raises
  ``Unsupported`` before anything is rendered, and that node is left out: the executor
  runs it by the reference), each with ``run(env, out)`` and ``clone()``; ``code`` is the
  compiled module (``source`` and ``optimized`` texts), or None; ``sharing`` says which
  inputs share each kernel's output memory, where that is all it overlaps
  (``executor.output_sharing``);
- ``BoundRun(graph, steps, kernels, arena, inplace)``: the whole call plan bound once,
  for programs whose every kernel it built, with ``run(feeds, variables)`` and
  ``lean(feed_names)`` (a function of the feed arrays for a repeated run, or None);

or, instead of both, ``executor(graph, plan, poison, inplace)``: an executor of its own
(the CUDA backend's keeps the program's buffers on the device), with ``run`` and ``lean``
as the generic executor has them.

``device="reference"`` has no backend: every kernel runs by the graph interpreter.
``"cuda"`` needs an NVIDIA GPU and CuPy (runtime/cuda); ``"cuda-host"`` runs the CUDA
backend's generated code on the host, one thread, to test it without a GPU.
"""
import importlib

BACKENDS = {"cpu": "graphc.runtime.cpu", "cuda": "graphc.runtime.cuda", "cuda-host": "graphc.runtime.cuda.host"}
DEVICES = ("cpu", "reference")                 # what every test and the fuzzer run on, on any machine
ALL_DEVICES = DEVICES + ("cuda", "cuda-host")  # what a Session accepts


def backend_of(device):
    """The backend module of ``device`` (imported on first use), or None for "reference"."""
    name = BACKENDS.get(device)
    return importlib.import_module(name) if name else None
