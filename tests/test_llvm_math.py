"""Accuracy, special values and vectorization of graphc.runtime.cpu.llvm_math.

Every function is compiled once (one module, O3, host CPU) as ``void f(T* in, T* out, i64 n)``
applying ``emit_math`` to scalars in a loop (which LLVM's loop vectorizer widens), and as the
same loop over explicit ``<8 x float>`` / ``<4 x double>`` vectors. Results are compared, in
ulps, with the correctly rounded value:

* float32: ``np.<f>(x.astype(np.float64)).astype(np.float32)`` (erf: ``math.erf``; sigmoid: a
  stable float64 formula) over every 1021st float32 bit pattern (about 4.2 million values,
  NaNs, denormals and huge values included) plus special values and dense sweeps of the
  delicate regions of each function; at most 4 ulp.
* float64: np.longdouble (80-bit) references rounded to float64 (erf: ``math.erf``, itself
  within 1 ulp, so 4 + 1 is allowed there) over random bit patterns, random values in the
  interesting ranges and special values; at most 4 ulp. The error against numpy's own
  float64 result is printed too.

The measured maxima are printed (``pytest -s``).
"""
import ctypes
import math
import platform
import re

import numpy as np
import pytest

llvm = pytest.importorskip("llvmlite.binding")
from llvmlite import ir  # noqa: E402

from graphc.runtime.cpu import llvm_math, llvm_vector_call as vector_call  # noqa: E402
from graphc.runtime.cpu.llvm_math import BRANCHING, MATH_FUNCTIONS, emit_math  # noqa: E402

F32_ULP_LIMIT = 4
F64_ULP_LIMIT = 4
VEC_LANES = {np.float32: 8, np.float64: 4}
_LLTYPE = {np.float32: ir.FloatType(), np.float64: ir.DoubleType()}


# ----------------------------------------------------------------------------------------
# JIT harness
# ----------------------------------------------------------------------------------------

def _loop_function(mod, name, fname, dtype, lanes):
    """void fname(T* in, T* out, i64 n): out[i] = name(in[i]); in `lanes`-wide steps if set."""
    elt = _LLTYPE[dtype]
    val_ty = ir.VectorType(elt, lanes) if lanes else elt
    i64 = ir.IntType(64)
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [elt.as_pointer(), elt.as_pointer(), i64]),
                     name=fname)
    src, dst, n = fn.args
    src.add_attribute("noalias")
    dst.add_attribute("noalias")
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    p_in, p_out = b.gep(src, [i], inbounds=True), b.gep(dst, [i], inbounds=True)
    if lanes:
        p_in = b.bitcast(p_in, val_ty.as_pointer())
        p_out = b.bitcast(p_out, val_ty.as_pointer())
    align = np.dtype(dtype).itemsize         # element alignment, also for vector accesses
    x = b.load(p_in, align=align)
    if name in BRANCHING and not lanes:   # as the CPU backend calls them (out of line, vectorizable)
        y = vector_call.call(b, name, lambda builder, v: emit_math(builder, name, v), [x])
    else:
        y = emit_math(b, name, x)
    b.store(y, p_out, align=align)
    i_next = b.add(i, ir.Constant(i64, lanes or 1))
    i.add_incoming(i_next, b.block)
    b.cbranch(b.icmp_signed("<", i_next, n), loop, done)
    b.position_at_end(done)
    b.ret_void()


class MathJit:
    """All functions, both dtypes, scalar loop and explicit-vector loop, in one O3 module."""

    def __init__(self, cpu=None, features=None, one_step=None):
        """``one_step``: emit exp's scaling by 2**n as one llvm.ldexp (default: when the
        target has AVX-512F, as kernels for the host do)."""
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        if cpu is None:
            cpu, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
        self.tm = target.create_target_machine(cpu=cpu, features=features or "", opt=3)
        mod = ir.Module(name="llvm_math_test")
        mod.triple = llvm.get_process_triple()
        self.names = []
        llvm_math.ONE_STEP_SCALE = "+avx512f" in (features or "").split(",") if one_step is None else one_step
        try:
            for name in MATH_FUNCTIONS:
                for dtype in (np.float32, np.float64):
                    for lanes in (None, VEC_LANES[dtype]):
                        fname = self.fname(name, dtype, lanes)
                        _loop_function(mod, name, fname, dtype, lanes)
                        self.names.append(fname)
        finally:
            llvm_math.ONE_STEP_SCALE = None
        llmod = llvm.parse_assembly(str(mod))
        llmod.verify()
        llmod.data_layout = str(self.tm.target_data)
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pb = llvm.create_pass_builder(self.tm, pto)
        pb.getModulePassManager().run(llmod, pb)
        self.optimized_ir = str(llmod)
        self.asm = self.tm.emit_assembly(llmod)
        self.engine = llvm.create_mcjit_compiler(llmod, self.tm)
        self.engine.finalize_object()
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
        self.funcs = {f: proto(self.engine.get_function_address(f)) for f in self.names}

    def asm_calls(self):
        """Calls in the generated machine code to anything but graphc's own functions: a
        direct call's target, or an indirect call in a module that takes the address of an
        outside symbol (the JIT's large code model calls through a register). There should
        be none."""
        outside = sorted({s for s in re.findall(r"movabsq\s+\$([A-Za-z_.][\w.]*)", self.asm)
                          if not s.startswith((".L", "__graphc_"))})
        calls = [ln.strip() for ln in self.asm.splitlines() if re.match(r"\s*(call[lq]?|blr?)\s", ln)]
        return [c for c in calls if "*" not in c and "__graphc_" not in c] + (outside if calls else [])

    @staticmethod
    def fname(name, dtype, lanes=None):
        return f"{name}_{np.dtype(dtype).name}" + (f"_v{lanes}" if lanes else "")

    def function_ir(self, fname):
        start = self.optimized_ir.index(f'@"{fname}"(') if f'@"{fname}"(' in self.optimized_ir \
            else self.optimized_ir.index(f"@{fname}(")
        end = self.optimized_ir.find("\ndefine ", start)
        return self.optimized_ir[start:end if end >= 0 else None]

    def __call__(self, name, x, vector=False):
        x = np.ascontiguousarray(x)
        dtype = x.dtype.type
        lanes = VEC_LANES[dtype] if vector else None
        n = x.size
        if lanes:   # pad to a multiple of the vector width
            x = np.concatenate([x, np.zeros((-n) % lanes, dtype)])
        out = np.empty_like(x)
        self.funcs[self.fname(name, dtype, lanes)](x.ctypes.data, out.ctypes.data, x.size)
        return out[:n]


@pytest.fixture(scope="module")
def jit():
    return MathJit()


# ----------------------------------------------------------------------------------------
# References and the ulp metric
# ----------------------------------------------------------------------------------------

_erf_obj = np.frompyfunc(math.erf, 1, 1)


def _sigmoid_ref(x):
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def reference(name, x):
    """``name`` of float64 or np.longdouble ``x`` in the same precision."""
    with np.errstate(all="ignore"):
        if name == "erf":
            return _erf_obj(x.astype(np.float64)).astype(np.float64).astype(x.dtype)
        if name == "sigmoid":
            return _sigmoid_ref(x)
        if name == "rsqrt":
            return 1 / np.sqrt(x)
        if name == "reciprocal":
            return 1 / x
        return getattr(np, name)(x)


def ulp_distance(y, ref):
    """Number of representable values between y and ref (ordered-integer distance)."""
    itype = np.int32 if y.dtype == np.float32 else np.int64
    mask = np.iinfo(itype).max

    def ordered(v):
        i = v.view(itype).astype(np.int64)
        return np.where(i < 0, -(i & mask), i)

    oy, orf = ordered(y), ordered(ref)
    opposite = (oy < 0) & (orf > 0) | (oy > 0) & (orf < 0)
    same = np.abs(np.where(opposite, 0, oy - orf)).astype(np.float64)
    far = np.abs(oy.astype(np.float64)) + np.abs(orf.astype(np.float64))
    return np.where(opposite, far, same)


def check(name, x, y, ref, limit):
    """Assert NaN/zero-sign agreement and max ulp <= limit; return (max ulp, worst x)."""
    nan_ref, nan_y = np.isnan(ref), np.isnan(y)
    bad = nan_ref != nan_y
    assert not bad.any(), f"{name}: NaN mismatch at x={x[bad][:5]} y={y[bad][:5]}"
    ok = ~nan_ref
    x, y, ref = x[ok], y[ok], ref[ok]
    zero = (ref == 0) & (y == 0)
    bad = zero & (np.signbit(ref) != np.signbit(y))
    assert not bad.any(), f"{name}: wrong zero sign at x={x[bad][:5]} y={y[bad][:5]}"
    bad = (ref == 0) & (y != 0) & (np.signbit(ref) != np.signbit(y))
    assert not bad.any(), f"{name}: wrong sign near zero at x={x[bad][:5]} y={y[bad][:5]}"
    d = ulp_distance(y, ref)
    k = int(np.argmax(d)) if d.size else 0
    worst = float(d[k]) if d.size else 0.0
    assert worst <= limit, (f"{name}: {worst} ulp at x={x[k]!r} ({float(x[k]).hex()}): "
                            f"got {y[k]!r}, want {ref[k]!r}")
    return worst, x[k]


# ----------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------

def _f32_bits(lo, hi, step=1):
    return np.arange(lo, hi, step, dtype=np.uint64).astype(np.uint32).view(np.float32)


def _around(values, ulps, dtype):
    """All floats within +-ulps of each value (both signs as given)."""
    values = np.asarray(values, dtype)
    itype = np.int32 if dtype == np.float32 else np.int64
    base = values.view(itype).astype(np.int64)
    offs = np.arange(-ulps, ulps + 1, dtype=np.int64)
    return (base[:, None] + offs[None, :]).ravel().astype(itype).view(dtype)


SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0]


def _specials(dtype):
    fi = np.finfo(dtype)
    v = SPECIAL + [fi.tiny, -fi.tiny, fi.smallest_subnormal, -fi.smallest_subnormal,
                   fi.max, -fi.max, fi.eps, -fi.eps, fi.tiny * 0.5, -fi.tiny * 0.75,
                   float(fi.tiny) - float(fi.smallest_subnormal)]
    return np.array(v, dtype)


# Delicate regions: (center, ulps) pairs swept densely, per function, for float32.
_PIO2_MULTIPLES = [k * math.pi / 2 for k in range(1, 400)] + \
                  [k * math.pi / 2 for k in (10 ** 4, 10 ** 5 + 1, 10 ** 6 + 3, 2 ** 24 + 1)]
_F32_FOCUS = {
    "exp": [(88.72283, 3000), (-87.33654, 3000), (-103.27893, 3000), (-103.972, 3000),
            (1e-3, 100000)],
    "expm1": [(88.72283, 3000), (-17.328, 3000), (1e-3, 100000), (-1e-3, 100000), (0.3466, 100000)],
    "log": [(1.0, 300000), (0.7071068, 3000), (1.4142135, 3000), (2.0, 3000)],
    "log1p": [(-1.0 + 2 ** -24, 30), (-0.5, 3000), (1e-3, 100000), (-1e-3, 100000),
              (0.4142135, 3000)],
    "tanh": [(0.5493061, 100000), (1e-3, 100000), (-1e-3, 100000), (9.01, 3000), (0.05, 100000)],
    "sigmoid": [(-88.7, 3000), (-103.28, 3000), (-103.97, 3000), (16.6, 3000), (1e-3, 100000)],
    "erf": [(1.0, 100000), (3.92, 100000), (1e-3, 100000), (0.5, 100000), (2.5, 100000)],
    "sin": [(m, 300) for m in _PIO2_MULTIPLES] + [(1e-3, 100000)],
    "cos": [(m, 300) for m in _PIO2_MULTIPLES] + [(1e-3, 100000)],
}


def f32_inputs(name):
    parts = [_f32_bits(0, 2 ** 32, 1021), _specials(np.float32),
             _f32_bits(0, 0x00100000, 7),                      # denormals
             _f32_bits(0x30000000, 0x3F800000, 211),           # 5e-10 .. 1, both signs below
             _f32_bits(0xB0000000, 0xBF800000, 211)]
    for center, ulps in _F32_FOCUS.get(name, []):
        parts.append(_around([center, -center], ulps, np.float32))
    if name in ("sin", "cos"):
        rng = np.random.default_rng(1)
        huge = rng.integers(0x48000000, 0x7F800000, 300000, dtype=np.uint64).astype(np.uint32)
        parts.append(huge.view(np.float32))
        parts.append(np.float32([1e30, -1e30, 3.4e38, 16367173.0 * 2.0 ** 72, 2.0 ** 19,
                                 2.0 ** 19 * 1.0000001]))
    return np.concatenate(parts)


def f64_inputs(name, rng):
    fi = np.finfo(np.float64)
    parts = [rng.integers(0, 2 ** 64, 200000, dtype=np.uint64).view(np.float64),
             _specials(np.float64)]
    ranges = {"exp": (-760, 720), "expm1": (-50, 720), "log": None, "log1p": (-1, 10),
              "tanh": (-25, 25), "sigmoid": (-760, 50), "erf": (-7, 7),
              "sin": (-1e7, 1e7), "cos": (-1e7, 1e7)}
    lohi = ranges.get(name)
    if lohi:
        parts.append(rng.uniform(*lohi, 200000))
    # log-uniform magnitudes, both signs
    mag = 2.0 ** rng.uniform(-1074, 1024, 200000)
    parts.append(mag * rng.choice([-1.0, 1.0], mag.size))
    small = 2.0 ** rng.uniform(-60, 3, 200000)
    parts.append(small * rng.choice([-1.0, 1.0], small.size))
    if name == "log1p":
        parts.append(-1 + 2.0 ** rng.uniform(-53, 0, 50000))
    if name in ("log", "rsqrt", "sqrt"):
        parts.append(1 + rng.uniform(-0.3, 0.5, 100000))
    if name in ("exp", "expm1", "sigmoid"):
        thresholds = [709.782712893384, -708.39641853226, -745.1332191019411, -744.44007192138,
                      -37.42994775023705, 36.7368005696771]
        parts.append(_around(thresholds, 2000, np.float64))
    if name in ("sin", "cos"):
        k = rng.integers(1, 2 ** 20, 20000).astype(np.float64)
        parts.append(_around(k * (np.pi / 2), 5, np.float64))
        parts.append(_around(np.arange(1, 3000) * (np.pi / 2), 5, np.float64))
        # the double closest to a multiple of pi/2 (Muller, "Elementary Functions")
        parts.append(np.array([6381956970095103.0 * 2.0 ** 797, -6381956970095103.0 * 2.0 ** 797,
                               1e300, 1e22, 2.0 ** 1023, fi.max, 2.0 ** 20, 2.0 ** 20 - 1e-9]))
        parts.append(2.0 ** rng.uniform(19, 1024, 200000))
    if name == "tanh":
        parts.append(_around([0.5493061443340549, 19.06154746539849], 2000, np.float64))
    if name == "erf":
        parts.append(_around([1.0, 1.5, 2.2, 3.2, 5.9215871957945], 2000, np.float64))
    return np.concatenate(parts)


# ----------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------

def _f32_check(jit, name, x, limit=F32_ULP_LIMIT):
    y = jit(name, x)
    with np.errstate(all="ignore"):
        ref = reference(name, x.astype(np.float64)).astype(np.float32)
    return y, check(name, x, y, ref, limit)


def _f64_reference(name, x):
    """Correctly rounded float64 reference: IEEE operations for sqrt and reciprocal, 80-bit
    long double otherwise (math.erf for erf)."""
    with np.errstate(all="ignore"):
        if name in ("sqrt", "reciprocal"):
            return reference(name, x)
        return reference(name, x.astype(np.longdouble)).astype(np.float64)


def _f64_limit(name):
    return F64_ULP_LIMIT + (1 if name == "erf" else 0)     # math.erf's own error


def test_api():
    assert set(MATH_FUNCTIONS) == {"exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "reciprocal",
                                   "tanh", "sigmoid", "erf", "sin", "cos"}
    b = ir.IRBuilder()
    with pytest.raises(KeyError):
        emit_math(b, "gamma", ir.Constant(ir.FloatType(), 1.0))
    with pytest.raises(TypeError):
        emit_math(b, "exp", ir.Constant(ir.IntType(32), 1))


@pytest.mark.parametrize("name", MATH_FUNCTIONS)
def test_float32(jit, name):
    x = f32_inputs(name)
    y, (worst, at) = _f32_check(jit, name, x)
    # the explicit-vector form computes exactly the same values
    sub, ysub = x[::7], y[::7]
    yv = jit(name, sub, vector=True)
    same = (yv.view(np.uint32) == ysub.view(np.uint32)) | (np.isnan(yv) & np.isnan(ysub))
    assert same.all(), f"{name}: vector form differs at x={sub[~same][:5]}"
    print(f"\nfloat32 {name:10s}: max {worst:.0f} ulp over {x.size} inputs (at x={at!r})")


@pytest.mark.parametrize("name", MATH_FUNCTIONS)
def test_float64(jit, name):
    rng = np.random.default_rng(sum(map(ord, name)))
    x = f64_inputs(name, rng)
    y = jit(name, x)
    worst, at = check(name, x, y, _f64_reference(name, x), _f64_limit(name))
    # against numpy's float64 result, where numpy itself is within 1 ulp of the correctly
    # rounded value (numpy's sin/cos are not, for some huge arguments)
    with np.errstate(all="ignore"):
        ref_np = reference(name, x)
    np_ok = (ulp_distance(ref_np, _f64_reference(name, x)) <= 1) | np.isnan(ref_np)
    worst_np, _ = check(name, x[np_ok], y[np_ok], ref_np[np_ok], F64_ULP_LIMIT + 1)
    yv = jit(name, x, vector=True)
    same = (yv.view(np.uint64) == y.view(np.uint64)) | (np.isnan(yv) & np.isnan(y))
    assert same.all(), f"{name}: vector form differs at x={x[~same][:5]}"
    print(f"\nfloat64 {name:10s}: max {worst:.0f} ulp (vs numpy: {worst_np:.0f}) over {x.size} "
          f"inputs (at x={at!r}; numpy itself off by > 1 ulp on {int((~np_ok).sum())})")


SPECIAL_CASES = [
    ("exp", -np.inf, 0.0), ("exp", np.inf, np.inf), ("exp", 1000.0, np.inf), ("exp", -1000.0, 0.0),
    ("exp", -0.0, 1.0), ("expm1", -0.0, -0.0), ("expm1", -np.inf, -1.0), ("expm1", np.inf, np.inf),
    ("expm1", 1000.0, np.inf), ("log", 0.0, -np.inf), ("log", -0.0, -np.inf), ("log", -1.0, np.nan),
    ("log", np.inf, np.inf), ("log", -np.inf, np.nan), ("log", 1.0, 0.0), ("log1p", -1.0, -np.inf),
    ("log1p", -2.0, np.nan), ("log1p", -0.0, -0.0), ("log1p", np.inf, np.inf),
    ("log1p", -np.inf, np.nan), ("tanh", np.inf, 1.0), ("tanh", -np.inf, -1.0),
    ("tanh", -0.0, -0.0),
    ("sigmoid", -np.inf, 0.0), ("sigmoid", np.inf, 1.0), ("sigmoid", -0.0, 0.5),
    ("sigmoid", -1000.0, 0.0), ("erf", np.inf, 1.0), ("erf", -np.inf, -1.0), ("erf", -0.0, -0.0),
    ("sin", np.inf, np.nan), ("sin", -np.inf, np.nan), ("sin", -0.0, -0.0), ("cos", np.inf, np.nan),
    ("cos", -0.0, 1.0), ("sqrt", -0.0, -0.0), ("sqrt", -1.0, np.nan), ("sqrt", np.inf, np.inf),
    ("rsqrt", 0.0, np.inf), ("rsqrt", -0.0, -np.inf), ("rsqrt", np.inf, 0.0),
    ("reciprocal", -0.0, -np.inf), ("reciprocal", np.inf, 0.0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(jit, dtype):
    for name, xv, want in SPECIAL_CASES:
        y = jit(name, np.array([xv, np.nan], dtype))
        assert np.isnan(y[1]), (name, "nan")
        if np.isnan(want):
            assert np.isnan(y[0]), (name, xv, y[0])
        else:
            assert y[0] == want and np.signbit(y[0]) == np.signbit(want), (name, xv, y[0], want)


def test_denormal_results_not_flushed(jit):
    for dtype in (np.float32, np.float64):
        fi = np.finfo(dtype)
        x = np.array([float(np.log(np.float64(fi.tiny))) - 1.0], dtype)    # exp(x) is denormal
        assert 0 < jit("exp", x)[0] < fi.tiny
        assert 0 < jit("sigmoid", x)[0] < fi.tiny
        d = np.array([fi.smallest_subnormal * 1000], dtype)
        for name in ("tanh", "sin", "expm1", "log1p"):
            assert jit(name, d)[0] == d[0], name
        assert jit("erf", d)[0] > d[0]


def test_vectorizes_and_calls_nothing(jit):
    """At O3 the scalar loop of every function is widened to host vectors, and the code calls
    no function but graphc's own: the branching ones (sin, cos) their vector variants, the
    others nothing (only LLVM intrinsics in the IR); no libm or other outside call in the
    machine code."""
    wide = {np.float32: ("<4 x float>", "<8 x float>", "<16 x float>"),
            np.float64: ("<2 x double>", "<4 x double>", "<8 x double>")}
    missing = []
    for name in MATH_FUNCTIONS:
        for dtype in (np.float32, np.float64):
            body = jit.function_ir(MathJit.fname(name, dtype))
            found = [t for t in wide[dtype] if t in body]
            if not found:
                missing.append(f"{name}/{np.dtype(dtype).name}")
            print(f"vectorized {name}/{np.dtype(dtype).name}: {found}")
            for line in body.splitlines():
                if " call " in line:
                    assert "@llvm." in line or name in BRANCHING and f"@__graphc_{name}_" in line, line
    assert not missing, f"not vectorized: {missing}"
    assert jit.asm_calls() == []


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86-64 only")
@pytest.mark.skipif(not llvm_math.one_step_scale(), reason="exp scales in one step on AVX-512 hosts only")
def test_exp_scaled_in_one_step_gives_the_bits_of_two_steps():
    """On AVX-512 exp multiplies by 2**n in one vscalef (llvm.ldexp); the two exact
    power-of-two steps it replaced round the same product once too: equal bits everywhere,
    overflow, the denormal results and underflow to zero included."""
    one, two = MathJit(), MathJit(one_step=False)
    assert "vscalef" in one.asm and "vscalef" not in two.asm
    rng = np.random.default_rng(11)
    for dtype, lo, hi in ((np.float32, -110.0, 95.0), (np.float64, -760.0, 720.0)):
        x = np.concatenate([rng.uniform(lo, hi, 200_000), np.linspace(lo, hi, 100_003),
                            [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(dtype)
        for vector in (False, True):
            np.testing.assert_array_equal(one("exp", x, vector).view(np.uint8), two("exp", x, vector).view(np.uint8))


def test_baseline_x86_64_without_fma():
    """Compiled for baseline x86-64 (SSE2: no FMA, no SSE4.1 rounding), llvm.fmuladd is not
    fused: no libm call appears and the accuracy holds."""
    jit = MathJit(cpu="x86-64", features="")
    assert jit.asm_calls() == []
    rng = np.random.default_rng(7)
    for name in MATH_FUNCTIONS:
        _f32_check(jit, name, f32_inputs(name)[::16])
        x = f64_inputs(name, rng)[::8]
        check(name, x, jit(name, x), _f64_reference(name, x), _f64_limit(name))
