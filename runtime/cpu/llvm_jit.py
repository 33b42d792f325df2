"""JIT compilation with llvmlite: host target, the new pass manager at O3, MCJIT.

BLAS symbols (numpy's bundled OpenBLAS, ILP64 ``scipy_cblas_?gemm64_``) are made
visible to generated code when the library can be found in the process.

A program is one module per distinct kernel, each compiled to object code on its own (in
worker processes when there are many: ``llvm_pool``), and the objects are linked into one
MCJIT engine built over an empty module. Object code is kept in an on-disk cache
(``disk_cache``) per module, keyed by what decides it (``LazyModule``: a kernel's structure
and the code generator's version, or else the IR text), the host CPU name and features,
the llvmlite and LLVM versions and ``JIT_CACHE_VERSION``, so a changed program reuses every
kernel it shares with one compiled before. On a hit no LLVM IR is rendered and no LLVM
optimization or code generation runs for that module, and the optimized IR text for dumps
comes from the same entry.
"""
import ctypes
import functools
import glob
import hashlib
import os
import struct
import sys
import threading
import zlib

import llvmlite
import llvmlite.binding as llvm
import numpy as np

from .. import disk_cache
from . import llvm_pool
from .llvm_compile import new_target_machine, target_machine

# Bump when anything that shapes the object code changes without changing the IR text
# (the pass pipeline, target machine options, the entry payload layout).
JIT_CACHE_VERSION = "2:newpm-O3:emit_object:obj+zlib-ir"


@functools.lru_cache(maxsize=None)
def _blas_library():
    """numpy's OpenBLAS (ctypes handle), or None."""
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
            getattr(lib, "scipy_cblas_sgemm64_")
            return lib
        except (OSError, AttributeError):
            continue
    return None


BLAS_GEMM = {np.dtype(np.float32): "scipy_cblas_sgemm64_", np.dtype(np.float64): "scipy_cblas_dgemm64_"}


@functools.lru_cache(maxsize=None)
def blas_available():
    """Register numpy's OpenBLAS gemm symbols with the JIT; False if they cannot be found."""
    lib = _blas_library()
    if lib is None:
        return False
    for name in BLAS_GEMM.values():
        llvm.add_symbol(name, ctypes.cast(getattr(lib, name), ctypes.c_void_p).value)
    return True


def single_threaded_blas():
    """Make BLAS calls from the calling thread run on that thread alone (OpenBLAS's
    per-thread setting; numpy's own calls elsewhere keep their threads). graphc's worker
    threads split a large GEMM between them instead: threads that sleep when idle share
    a busy machine far better than BLAS threads that spin."""
    lib = _blas_library()
    setter = getattr(lib, "openblas_set_num_threads_local", None) if lib is not None else None
    if setter is not None:
        setter(1)
    return setter is not None


@functools.lru_cache(maxsize=None)
def host_fingerprint():
    """What besides the IR text decides the object code: host CPU, features, triple, versions."""
    llvm.initialize_native_target()
    return "\n".join([JIT_CACHE_VERSION, llvm.get_default_triple(), llvm.get_host_cpu_name(),
                      llvm.get_host_cpu_features().flatten(), llvmlite.__version__,
                      ".".join(map(str, llvm.llvm_version_info))])


@functools.lru_cache(maxsize=None)
def codegen_version():
    """A sha256 over the source of the code that turns kernel IR into LLVM IR (this package
    and the kernel IR's): part of a ``LazyModule``'s key, so a changed generator misses."""
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.join(os.path.dirname(here), "kernel")):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), "rb") as f:
                    h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


def cache_key(ir_text):
    """The disk-cache key of the object code for unoptimized ``ir_text`` on this host."""
    return disk_cache.make_key(host_fingerprint(), ir_text)


def _pack(obj, optimized_ir):
    return struct.pack("<Q", len(obj)) + obj + zlib.compress(optimized_ir.encode("utf-8"), 1)


def _unpack(payload):
    """(object bytes, compressed optimized IR), or None if the payload does not split."""
    if len(payload) < 8:
        return None
    (n,) = struct.unpack_from("<Q", payload)
    if n == 0 or 8 + n > len(payload):
        return None
    return payload[8:8 + n], payload[8 + n:]


_ELF_HOST = struct.calcsize("P") == 8 and not any(
    name in llvm.get_default_triple() for name in ("darwin", "macos", "ios", "windows"))
_ELF_MACHINES = {"x86_64": 62, "aarch64": 183, "powerpc64le": 21, "s390x": 22, "riscv64": 243}
_ELF_BYTE_ORDER = "<" if sys.byteorder == "little" else ">"
_ELF_HEADER = struct.Struct(_ELF_BYTE_ORDER + "16sHHIQQQIHHHHHH")
_ELF_SECTION = struct.Struct(_ELF_BYTE_ORDER + "IIQQQQIIQQ")


def _object_ok(obj):
    """Whether cached object code is fit to hand to LLVM. Its loader trusts its input: on a
    malformed object it aborts or crashes the process instead of raising, so an entry's checksum
    is not the only guard. On 64-bit ELF hosts (Linux, the BSDs) the header must say ELF64, this
    byte order, relocatable, this machine, and every section must lie inside the bytes and name
    sections that exist. That stops garbage, not an object forged to pass it; other object
    formats rest on the checksum alone."""
    if not _ELF_HOST:
        return True
    if len(obj) < _ELF_HEADER.size:
        return False
    ident, kind, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx = _ELF_HEADER.unpack_from(obj)
    expected_machine = _ELF_MACHINES.get(llvm.get_default_triple().split("-")[0], machine)
    if (ident[:7] != b"\x7fELF\x02" + (b"\x01" if _ELF_BYTE_ORDER == "<" else b"\x02") + b"\x01"
            or kind != 1 or machine != expected_machine or shentsize != _ELF_SECTION.size
            or not 0 < shnum or shstrndx >= shnum or shoff + shnum * shentsize > len(obj)):
        return False
    for _, sh_type, _, _, offset, size, link, info, _, _ in _ELF_SECTION.iter_unpack(obj[shoff:shoff + shnum * shentsize]):
        if sh_type not in (0, 8) and offset + size > len(obj):  # SHT_NULL, SHT_NOBITS hold no bytes
            return False
        if link >= shnum or sh_type in (4, 9) and info >= shnum:  # SHT_RELA, SHT_REL: info is their target
            return False
    return True


class LazyModule:
    """A module whose IR text is rendered only when it must be compiled (or shown). Its cache
    key comes from ``key_parts`` (with the host's fingerprint) when they are given: whatever
    decides the text, such as a kernel's structure and a hash of the code generator, so a hit
    renders nothing; with no parts, from the text itself."""

    def __init__(self, key_parts, text, unroll=True, speed=3):
        """``text``: the IR text, or a function returning it; ``unroll``, ``speed``: see
        ``llvm_compile.optimize``."""
        self.key_parts, self._text, self.unroll, self.speed = tuple(key_parts), text, unroll, speed

    def text(self):
        if not isinstance(self._text, str):
            self._text = self._text()
        return self._text

    def job(self):
        """What ``llvm_compile.compile_module`` takes: (text, unroll, speed)."""
        return self.text(), self.unroll, self.speed

    def cache_key(self):
        options = (() if self.unroll else ("no unroll",)) + (() if self.speed == 3 else (f"O{self.speed}",))
        return disk_cache.make_key(host_fingerprint(), *options, *(self.key_parts or (self.text(),)))


class JitModule:
    """Compiled modules linked into one engine: ``address(symbol)``; keeps the engine (and the
    code) alive. ``ir_text`` is one module's text or a list of them (a program's kernels, one
    module each), each compiled to object code and cached on its own, so a changed program
    reuses the object code of every module it shares with one compiled before.

    A module is given as its text or as a ``LazyModule``.
    ``from_cache`` says whether every module's object code came from the disk cache and
    ``hits`` how many did; ``cache_keys`` are their keys (None when the cache is off),
    ``cache_key`` the first; ``source`` and ``optimized`` are the modules' IR texts, before and
    after optimization, joined.
    """

    def __init__(self, ir_text, cache=None, before_link=None, parallel=False):
        """``before_link``: called once the object code is there, before it is linked (what
        registers the symbols the modules call, such as graphc's GEMM); ``parallel``: compile
        the missing modules in worker processes even when they are few (``llvm_pool``)."""
        self.parallel = parallel
        modules = [ir_text] if isinstance(ir_text, (str, LazyModule)) else list(ir_text)
        self._modules = [LazyModule((), m) if isinstance(m, str) else m for m in modules]
        self._source = None
        use_cache = disk_cache.enabled() if cache is None else bool(cache) and disk_cache.enabled()
        self.cache_keys = [(m.cache_key() if use_cache else None) for m in self._modules]
        self.cache_key = self.cache_keys[0] if self.cache_keys else None
        units = [self._load_cached(key) if key is not None else None for key in self.cache_keys]
        cached = [u is not None for u in units]
        self.hits = sum(cached)
        self.from_cache = self.hits == len(modules)
        units = self._compile_missing(units)
        if before_link is not None:
            before_link()
        try:
            self.engine = _link([obj for obj, _ in units])
        except Exception:   # a cached object LLVM refuses (where it raises at all): drop those, compile all
            if not self.hits:
                raise
            for key in (k for k, hit in zip(self.cache_keys, cached) if hit):
                disk_cache.reject(key)
            units = self._compile_missing([None] * len(units))
            self.hits, self.from_cache = 0, False
            self.engine = _link([obj for obj, _ in units])
        self._texts = [optimized for _, optimized in units]   # str, or zlib bytes from the cache
        self._optimized = None

    @property
    def source(self):
        """The modules' IR texts (a module that came from the cache is rendered now)."""
        if self._source is None:
            self._source = "\n".join(m.text() for m in self._modules)
        return self._source

    def _compile_missing(self, units):
        """``units`` with every missing one (None) compiled, in worker processes when there
        are many (``llvm_pool``: each rendered while the ones before it compile), and stored
        in the cache."""
        missing = [i for i, u in enumerate(units) if u is None]
        compiled = llvm_pool.compile_modules([self._modules[i].job for i in missing], self.parallel)
        units = list(units)
        for i, (obj, optimized) in zip(missing, compiled):
            if self.cache_keys[i] is not None:
                disk_cache.store(self.cache_keys[i], _pack(obj, optimized))
            units[i] = (obj, optimized)
        return units

    @staticmethod
    def _load_cached(key):
        """(object code, compressed optimized IR) from the cache, or None."""
        payload = disk_cache.load(key)
        if payload is None:
            return None
        parts = _unpack(payload)
        if parts is None or not _object_ok(parts[0]):  # checksummed but malformed: written by something else
            disk_cache.reject(key)
            return None
        return parts

    @property
    def optimized(self):
        """The optimized IR text (decompressed on first use where it came from the cache)."""
        if self._optimized is None:
            self._optimized = "\n".join(t if isinstance(t, str) else zlib.decompress(t).decode("utf-8")
                                         for t in self._texts)
            self._texts = None
        return self._optimized

    def address(self, symbol):
        return self.engine.get_function_address(symbol)

    def global_address(self, symbol):
        return self.engine.get_global_value_address(symbol)


class Background(threading.Thread):
    """``work()`` on a thread of its own (a module compiling while the kernels' IR renders:
    LLVM runs without the GIL); ``result`` is its value, or None if it raised."""

    def __init__(self, work, name):
        super().__init__(name=name, daemon=True)
        self.work, self.result = work, None
        self.start()

    def run(self):
        try:
            self.result = self.work()
        except Exception:   # (the waiter decides what None means)
            pass


def _link(objects):
    """One MCJIT engine (over an empty module) holding ``objects``, finalized."""
    tm = target_machine()
    empty = llvm.parse_assembly("")
    empty.triple = tm.triple
    empty.data_layout = str(tm.target_data)
    engine = llvm.create_mcjit_compiler(empty, new_target_machine())
    for obj in objects:
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    return engine
