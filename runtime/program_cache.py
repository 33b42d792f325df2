"""Whole optimized programs on disk, so a fresh process skips the passes.

A program's entry (in ``disk_cache``, beside the kernels' object code) holds the final IR
stage (the scheduled, memory-planned graph), what each pass reported (the fusion decisions,
the memory plan) and each stage's time and node counts. Its key is a sha256 over everything
``specialize`` and the passes read: every node the fetches need (op, name, attrs with
constant values by content, the input names, the user's source line), the fed dtypes and
shapes, the fetches and updates, the pass list and device, and the source of graphc's IR,
ops, passes and runtime (so an edited compiler misses). A hit builds the executor from the
cached graph as a compile would (each kernel's object code comes from its own entry); the
IR of the earlier stages is recomputed only when asked for (``Compiled.stage``).

The cache is skipped for an attr value of a type the key does not know (it could not say
whether two graphs agree), with ``verify`` or ``GRAPHC_DUMP`` (both need every stage), and
when ``GRAPHC_PROGRAM_CACHE=0`` (or the disk cache is off: ``GRAPHC_CACHE=0``).
"""
import functools
import hashlib
import os
import pickle
import struct
import sys

import numpy as np

from ..ir.analysis import reachable
from . import disk_cache

FORMAT = 2   # bump when the entry's layout changes, or a fix changes what an entry computes (2: constants C-ordered)
_SCALARS = (bool, int, float, complex, str, bytes, type(None))


def enabled():
    return disk_cache.enabled() and os.environ.get("GRAPHC_PROGRAM_CACHE", "1").strip().lower() not in (
        "0", "off", "false", "no")


@functools.lru_cache(maxsize=None)
def _code_version():
    """sha256 over the source of graphc's IR, ops, passes and runtime, and the versions of
    graphc, Python and numpy (pickles and folded constants depend on them)."""
    from .. import __version__, ir, ops, passes
    h = hashlib.sha256(f"{FORMAT} {__version__} {sys.version} {np.__version__}".encode())
    runtime = os.path.dirname(os.path.abspath(__file__))
    for folder in [os.path.dirname(os.path.abspath(m.__file__)) for m in (ir, ops, passes)] + [runtime]:
        for base, _, files in sorted(os.walk(folder)):
            for name in sorted(f for f in files if f.endswith(".py")):
                with open(os.path.join(base, name), "rb") as f:
                    h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


class _Unkeyable(Exception):
    """An attr value the key cannot describe: the program is not cached."""


def _put(h, value):
    """Feed ``value`` (an attr) to hasher ``h``, typed, so 1, 1.0 and True differ."""
    if isinstance(value, np.ndarray):
        array = value if value.flags.c_contiguous else value.copy(order="C")   # (ascontiguousarray makes 0-d 1-d)
        h.update(f"a{array.dtype.str}{array.shape}".encode())
        h.update(memoryview(array).cast("B") if array.size else b"")
    elif isinstance(value, _SCALARS) or isinstance(value, np.generic):
        h.update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, np.dtype):
        h.update(f"d{value.str};".encode())
    elif isinstance(value, (tuple, list)):
        h.update(f"{type(value).__name__}{len(value)}(".encode())
        for item in value:
            _put(h, item)
    else:
        raise _Unkeyable(type(value).__name__)


def program_key(graph, run_plan, feed_specs, device, passes):
    """The entry's key for compiling ``run_plan``'s outputs of ``graph`` with these feeds,
    or None when the program cannot be keyed (or the cache is off)."""
    if not enabled():
        return None
    h = hashlib.sha256(f"{_code_version()}|{device}|{passes}|".encode())
    needed = reachable(run_plan.outputs, stop=feed_specs)
    try:
        for node in graph.nodes:
            if node not in needed:
                continue
            spec = feed_specs.get(node)
            h.update(f"\n{node.op} {node.name} @{node.loc} <{','.join(x.name for x in node.inputs)}>".encode())
            if spec is not None:
                h.update(f" fed {np.dtype(spec[0]).str}{tuple(spec[1])}".encode())
                continue
            for name in sorted(node.attrs):
                h.update(f" {name}=".encode())
                _put(h, node.attrs[name])
    except (_Unkeyable, TypeError, ValueError):   # (an attr it cannot describe, or bytes it cannot read)
        return None
    h.update(f"\nfetch {[n.name for n in run_plan.outputs]} {list(run_plan.updates)} {run_plan.fetched}".encode())
    return h.hexdigest()


def store(key, stages):
    """Keep the final stage's graph and every stage's report, time and node counts."""
    summaries = [(s.name, s.info, s.seconds, s.nodes_before, s.nodes_after) for s in stages]
    try:
        payload = pickle.dumps((stages[-1].graph, summaries), protocol=5)
    except Exception:   # (something in a report that does not pickle: the program is just not cached)
        return
    disk_cache.store(key, struct.pack("<I", FORMAT) + payload)


def load(key):
    """(final graph, [(stage name, info, seconds, nodes before, after)]), or None on a miss
    (an entry that does not unpickle is dropped: the program is compiled again)."""
    payload = disk_cache.load(key)
    if payload is None:
        return None
    try:
        (version,) = struct.unpack_from("<I", payload)
        if version != FORMAT:
            raise ValueError(f"format {version}")
        graph, summaries = pickle.loads(payload[4:])
    except Exception:   # (written by another graphc: compile afresh, and overwrite it)
        disk_cache.reject(key)
        return None
    return graph, summaries
