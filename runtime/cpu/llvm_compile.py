"""LLVM IR text to object code for this host: the target machine, the O3 pipeline, code
generation. Imports llvmlite only (no graphc), because it is also the compile worker's
program (``llvm_pool``): run as a script with ``--worker``, it reads jobs from stdin and
writes results to stdout, each a length-prefixed pickle: ``(ir_text, unroll, speed)`` in,
``("ok", (object code, optimized IR text))`` or ``("error", message)`` out.
"""
import functools
import pickle
import struct
import sys

import llvmlite.binding as llvm

_LENGTH = struct.Struct("<Q")


def new_target_machine():
    """A host target machine. An MCJIT engine takes ownership of the one it is given,
    so each engine gets its own."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
                                        opt=3, jit=True)


@functools.lru_cache(maxsize=None)
def target_machine():
    """The shared host target machine, for triples, data layouts and optimization only."""
    return new_target_machine()


@functools.lru_cache(maxsize=None)
def host_layout():
    """(triple, data layout text) of the host target (asked of LLVM once: a call into LLVM
    waits for any other thread's, such as the GEMM compiling in the background)."""
    tm = target_machine()
    return tm.triple, str(tm.target_data)


def new_module(name):
    """An empty llvmlite module for this host (its triple and data layout)."""
    from llvmlite import ir
    module = ir.Module(name=name)
    module.triple, module.data_layout = host_layout()
    return module


def optimize(module_ref, unroll=True, speed=3):
    """LLVM's O``speed`` pipeline (O3 for kernels; O2 where the IR is vectorized by hand);
    ``unroll=False`` leaves out the loop unroller (the vectorizer still interleaves), which
    halves a kernel module's optimization and code generation time."""
    tm = target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=speed)
    pto.loop_unrolling = unroll
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module_ref, pb)


def compile_module(ir_text, unroll=True, speed=3):
    """(object code, optimized IR text) of one module's IR text (``optimize``'s options)."""
    tm = target_machine()
    module_ref = llvm.parse_assembly(ir_text)
    module_ref.triple = tm.triple
    module_ref.data_layout = str(tm.target_data)
    module_ref.verify()
    optimize(module_ref, unroll, speed)
    optimized = str(module_ref)
    return tm.emit_object(module_ref), optimized


def write_message(stream, value):
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_message(stream):
    """The next message, or None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (n,) = _LENGTH.unpack(head)
    data = stream.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


def _worker():
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        job = read_message(source)
        if job is None:
            return
        try:
            reply = ("ok", compile_module(*job))
        except Exception as e:   # (an LLVM verifier error, say: the parent raises it)
            reply = ("error", f"{type(e).__name__}: {e}")
        write_message(sink, reply)


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _worker()
