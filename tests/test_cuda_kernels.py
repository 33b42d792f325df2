"""The CUDA renderer's kernel shapes at their thresholds, run on the host ("cuda-host").

Elementwise kernels move VECTOR_BYTES per load and store where the output and the inputs
read at its index are aligned (the rest, and unaligned buffers, by the plain loop): sizes
on both sides of each dtype's lane count, and unaligned buffers. Row kernels take a warp
per row up to WARP_ROW_MAX elements and a block per row beyond, and a block for a single
row: row lengths and row counts on both sides. Each result is checked against numpy.
"""
import ctypes
import shutil

import numpy as np
import pytest

import graphc as gc
from graphc.builder import make
from conftest import run
from graphc.runtime.cuda import host
from graphc.runtime.cuda.render import VECTOR_BYTES, lower_and_render
from graphc.runtime.cuda.prelude import WARPS
from graphc.runtime.cuda import row_cache
from graphc.runtime.cuda.row_cache import ROW_CACHE_BYTES
from graphc.runtime.cuda.rows import COLUMNS_MIN, SPLIT_MIN, SPLIT_ROWS, WARP_ROW_MAX

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="cuda-host compiles the generated code with g++")


def _launches(fetches, feeds):
    with gc.Session(device="reference") as sess:
        compiled = sess.compile(fetches, feeds)
    return lower_and_render(compiled.call_plan.kernels())


def _run(fetches, feeds):
    return run(fetches, feeds, device="cuda-host")   # (tests/conftest.py's helper)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_elementwise_sizes_around_the_vector_width(dtype):
    lanes = VECTOR_BYTES // np.dtype(dtype).itemsize
    rng = np.random.default_rng(1)
    fetches, expect, feeds, sizes = [], [], {}, []
    for n in sorted({0, 1, lanes - 1, lanes, lanes + 1, 2 * lanes - 1, 64 * lanes + 3}):   # one program
        x = gc.placeholder(dtype, (n,), name=f"x{n}")
        y = gc.placeholder(dtype, (n,), name=f"y{n}")
        a = rng.standard_normal(n).astype(dtype) if dtype != "bool" else rng.random(n) < 0.5
        b = (rng.integers(-9, 9, n).astype(dtype) if dtype != "bool" else rng.random(n) < 0.5)
        feeds.update({x: a, y: b})
        if dtype == "bool":
            fetches += [gc.not_equal(x, y), gc.logical_or(x, y)]
            expect += [a != b, a | b]
        else:
            fetches += [x * y + x, gc.maximum(x, y)]
            expect += [a * b + a, np.maximum(a, b)]
        sizes += [n, n]
    for g, e in zip(_run(fetches, feeds), expect):
        np.testing.assert_array_equal(g, e)
    lowered, _, launches = _launches(fetches, feeds)
    by_size = {}
    for node, (symbol, kernel, _) in lowered.items():
        by_size.setdefault(int(np.prod(kernel.params[-1][2])), set()).add(launches[symbol].lanes)
    assert by_size == {n: {lanes if n >= lanes else 1} for n in set(sizes)}, by_size


def test_broadcast_operand_and_mixed_widths_in_the_vector_loop():
    rng = np.random.default_rng(2)
    x = gc.placeholder(gc.float32, (7, 9), name="x")
    row = gc.placeholder(gc.float64, (9,), name="row")
    a, r = rng.standard_normal((7, 9)).astype(np.float32), rng.standard_normal(9)
    fetches = [gc.cast(x, gc.float64) * row, x > 0]
    got = _run(fetches, {x: a, row: r})
    np.testing.assert_array_equal(got[0], a.astype(np.float64) * r)
    np.testing.assert_array_equal(got[1], a > 0)
    _, _, launches = _launches(fetches, {x: a, row: r})
    assert sorted(la.lanes for la in launches.values()) == [2, 4]   # 16 bytes of float64; bool beside float32


def test_unaligned_buffers_take_the_plain_loop():
    """A kernel called on buffers one element off the vector alignment (a device array
    fed in place may be a view) gives the same numbers."""
    n = 37
    x = gc.placeholder(gc.float32, (n,), name="x")
    y = gc.placeholder(gc.float32, (n,), name="y")
    a, b = np.arange(n, dtype=np.float32), np.linspace(-1, 1, n, dtype=np.float32)
    lowered, source, launches = _launches([x * y - x], {x: a, y: b})
    ((symbol, kernel, constants),) = lowered.values()
    assert launches[symbol].lanes == 4 and not constants
    function = host.DEVICE.load(source, [symbol])[symbol]
    for shift in (0, 1, 2):
        buffers = [np.zeros(n + 4, np.float32)[shift:shift + n] for _ in range(3)]
        buffers[0][:], buffers[1][:] = a, b
        assert all((buf.ctypes.data % 16 == 0) == (shift == 0) for buf in buffers)
        host.DEVICE.launch(function, launches[symbol], buffers)
        np.testing.assert_array_equal(buffers[2], a * b - a)


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_row_lengths_around_a_warp_and_the_warp_row_limit(rows):
    rng = np.random.default_rng(3)
    fetches, feeds, arrays = [], {}, []
    for length in (1, 31, 32, 33, WARP_ROW_MAX, WARP_ROW_MAX + 1):   # one program
        x = gc.placeholder(gc.float32, (rows, length), name=f"x{length}")
        a = rng.standard_normal((rows, length)).astype(np.float32)
        a[:, length // 2] = a.max()               # a tie: argmax keeps the first
        feeds[x] = a
        arrays.append(a)
        fetches += [gc.nn.softmax(x), gc.sum(x, axis=1), gc.argmax(x, axis=1), gc.max(x, axis=1)]
    got = _run(fetches, feeds)
    for k, a in enumerate(arrays):
        softmax, total, first, top = got[4 * k:4 * k + 4]
        e = np.exp(a - a.max(1, keepdims=True))
        np.testing.assert_allclose(softmax, e / e.sum(1, keepdims=True), rtol=2e-6, atol=1e-7)
        np.testing.assert_allclose(total, a.astype(np.float64).sum(1), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(first, a.argmax(1))
        np.testing.assert_array_equal(top, a.max(1))
    lowered, _, launches = _launches(fetches, feeds)
    for node, (symbol, kernel, _) in lowered.items():
        length = kernel.params[0][2][-1]
        want = "warp_rows" if rows > 1 and length <= WARP_ROW_MAX else "rows"
        assert launches[symbol].kind == want, (rows, length, launches[symbol])


def _row_ops(x, g):
    """Row kernels whose passes read the row again: softmax (its exp stashed), log_softmax,
    a normalization (three passes over x), a variance, softmax's gradient (two inputs)."""
    m = gc.mean(x, axis=-1, keepdims=True)
    v = gc.mean((x - m) * (x - m), axis=-1, keepdims=True)
    s = gc.nn.softmax(x)
    return [s, gc.nn.log_softmax(x), (x - m) * gc.rsqrt(v + 1e-5), gc.mean((x - m) * (x - m), axis=-1),
            s * (g - gc.sum(g * s, axis=-1, keepdims=True))]


def _row_refs(a, g):
    a, g = a.astype(np.float64), g.astype(np.float64)
    e = np.exp(a - a.max(-1, keepdims=True))
    s = e / e.sum(-1, keepdims=True)
    d = a - a.mean(-1, keepdims=True)
    var = (d * d).mean(-1, keepdims=True)
    return [s, np.log(s), d / np.sqrt(var + 1e-5), var[..., 0], s * (g - (g * s).sum(-1, keepdims=True))]


def _slot_bytes(rows, length, dtype):
    """Shared memory one row-long value of ``dtype`` takes per block (a warp row per warp)."""
    per_block = WARPS if rows > 1 and length <= WARP_ROW_MAX else 1
    return length * np.dtype(dtype).itemsize * per_block


F64_WARP_ROW = ROW_CACHE_BYTES // (8 * WARPS)   # float64 warp rows that fit
F32_BLOCK_ROW = ROW_CACHE_BYTES // 4            # float32 rows of a block that fit


@pytest.mark.parametrize("rows, length, dtype", [
    (0, 33, "float32"), (3, 1, "float32"), (3, 33, "float32"), (3, WARP_ROW_MAX, "float32"),
    (1, 1, "float32"), (1, F32_BLOCK_ROW // 2, "float32"), (1, F32_BLOCK_ROW, "float32"),
    (1, F32_BLOCK_ROW + 1, "float32"), (2, WARP_ROW_MAX + 1, "float32"),
    (3, F64_WARP_ROW, "float64"), (3, F64_WARP_ROW + 1, "float64"), (1, F32_BLOCK_ROW // 2 + 1, "float64")])
def test_row_passes_read_the_input_once_where_the_row_fits_shared_memory(rows, length, dtype, monkeypatch):
    """The values several passes over a row read (the inputs; softmax's stashed exp) are kept
    in shared memory while they fit ROW_CACHE_BYTES per block: the kernel reads each such
    input from global memory once and only writes its output; what does not fit is read
    again. Both sides of the limit, for block rows and warp rows, give numpy's numbers."""
    rng = np.random.default_rng(11)
    a = rng.standard_normal((rows, length)).astype(dtype)
    b = rng.standard_normal((rows, length)).astype(dtype)
    x = gc.placeholder(dtype, (rows, length), name="x")
    g = gc.placeholder(dtype, (rows, length), name="g")
    fetches = _row_ops(x, g)
    got = _run(fetches, {x: a, g: b})
    close = dict(rtol=2e-5, atol=2e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    for value, want in zip(got, _row_refs(a, b)):
        np.testing.assert_allclose(value, want, **close)
    if rows == 0:
        return   # (no row to keep)
    plain = _row_kernel_texts(fetches, {x: a, g: b})   # without room for a row cache
    monkeypatch.setattr(row_cache, "ROW_CACHE_BYTES", 0)
    without = _row_kernel_texts(fetches, {x: a, g: b})
    slot, kept = _slot_bytes(rows, length, dtype), 0
    for symbol, (la, text, kernel) in plain.items():
        reads, writes = _reads_and_writes(text, kernel)
        before, before_writes = _reads_and_writes(without[symbol][1], kernel)
        assert without[symbol][0].row_cache == 0
        if length == 1:   # the row's values are its own scalars: read once per row, no slot
            assert la.row_cache == 0 and reads == [1] * len(reads) and writes == 1, text
            continue
        needed = sum(r > 1 for r in before)   # inputs that more than one pass reads
        fit = min(needed, ROW_CACHE_BYTES // slot)
        assert la.row_cache == fit * slot <= ROW_CACHE_BYTES, (la, needed, fit)
        assert sum(r > 1 for r in reads) == needed - fit and min(reads) >= 1, text
        assert writes == (1 if fit else before_writes), text   # (softmax's stash shares its input's slot)
        kept += fit
    assert kept or slot > ROW_CACHE_BYTES or length == 1


def _row_kernel_texts(fetches, feeds):
    """{symbol: (Launch, its CUDA C text, Kernel)} of the program's row kernels."""
    lowered, source, launches = _launches(fetches, feeds)
    out = {}
    for symbol, kernel, _ in lowered.values():
        if launches[symbol].kind in ("rows", "warp_rows"):
            text = source[source.index(f"GRAPHC_EXPORT void {symbol}("):]
            out[symbol] = launches[symbol], text[:text.index("#ifdef GRAPHC_HOST")], kernel
    return out


def _reads_and_writes(text, kernel):
    """How often the kernel's text reads each input, and how often it names its output."""
    out = len(kernel.params) - 1
    return [text.count(f"p{p}[") for p in range(out)], text.count(f"p{out}[")


def test_nan_in_a_warp_row_propagates_and_argmax_takes_the_first_nan():
    x = gc.placeholder(gc.float32, (4, 50), name="x")
    a = np.random.default_rng(4).standard_normal((4, 50)).astype(np.float32)
    a[1, [7, 40]] = np.nan
    a[2, 45] = np.nan
    got = _run([gc.max(x, axis=1), gc.argmax(x, axis=1), gc.nn.log_softmax(x)], {x: a})
    np.testing.assert_array_equal(got[0], a.max(1))
    np.testing.assert_array_equal(got[1], a.argmax(1))
    assert np.isnan(got[2][1]).all() and np.isfinite(got[2][0]).all()


def test_random_draws_are_the_references_numbers_and_run_natively():
    from graphc.ops.random import sample
    seed = gc.placeholder(gc.int64, (), name="seed")
    cases = [(dist, dtype, shape) for dist in ("uniform", "normal") for dtype in ("float32", "float64")
             for shape in ((), (1,), (3,), (5, 7), (257,))]
    fetches = [(gc.random.uniform if dist == "uniform" else gc.random.normal)(shape, dtype=dtype, seed=seed)
               for dist, dtype, shape in cases]
    with gc.Session(device="cuda-host") as sess:
        for value in (0, 12345, -1, 2 ** 62 + 7):
            got = sess.run(fetches, {seed: np.int64(value)})
            for (dist, dtype, shape), g in zip(cases, got):
                want = sample(value, dist, shape, np.dtype(dtype))
                if dist == "uniform":   # exact integer arithmetic
                    np.testing.assert_array_equal(g, want)
                else:   # Box-Muller through the C library's log and cos (numpy's may differ in the last bit)
                    np.testing.assert_allclose(g, want, rtol=4e-16 if dtype == "float64" else 6e-8, atol=0)
        compiled = sess.compile(fetches, {seed: np.int64(0)})
        assert compiled._executor.replay is not None                 # no host round trip left
        assert len(compiled._executor.kernels) == len(fetches) and "g_normal_f64(" in compiled.source()


def test_philox_counters_past_32_bits():
    """Elements whose block number needs the counter's second word (past 2**32 blocks)."""
    from graphc.ops.random import philox4x32, seed_key
    from graphc.runtime.cuda.prelude import PRELUDE
    probe = host._compile(PRELUDE + 'extern "C" float probe(long long seed, unsigned long long i) '
                                    '{ return g_uniform_f32(seed, i); }')
    probe.probe.restype = ctypes.c_float
    probe.probe.argtypes = [ctypes.c_longlong, ctypes.c_ulonglong]
    for seed, i in ((7, 4 * 2 ** 32 + 5), (-3, 2 ** 40 + 2), (2 ** 40, 2 ** 34 - 1)):
        block = i // 4
        words = philox4x32((block & 0xFFFFFFFF, block >> 32, 0, 0), seed_key(seed))
        want = np.float32((int(words[i % 4]) >> 8) * 2.0 ** -24)
        assert np.float32(probe.probe(seed, i)) == want, (seed, i)


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_gather_natively_at_every_axis_and_index_rank(index_dtype):
    rng = np.random.default_rng(6)
    data = rng.standard_normal((5, 4, 3))
    x = gc.placeholder(gc.float64, data.shape, name="x")
    fetches, feeds, expect = [], {x: data}, []
    for axis in (0, 1, 2):   # one program
        n = data.shape[axis]
        for k, idx in enumerate((np.array(n - 1), np.array([0]), np.array([], np.int64),
                                 np.array([[n - 1, -1, 0], [-n, 1, 1]]))):
            i = gc.placeholder(index_dtype, idx.shape, name=f"i{axis}_{k}")
            feeds[i] = idx.astype(index_dtype)
            fetches.append(gc.gather(x, i, axis=axis))
            expect.append(np.take(data, idx, axis=axis))
    for g, e in zip(_run(fetches, feeds), expect):
        np.testing.assert_array_equal(g, e)
    lowered, _, launches = _launches(fetches, feeds)
    assert len(lowered) == len(fetches) and all(la.checks for la in launches.values())


def test_scatter_add_accumulates_repeated_indices_natively():
    rng = np.random.default_rng(7)
    for dtype in ("float32", "int64"):
        for idx in (np.array([2, 0, 2, 2, -1]), np.array(3), np.array([], np.int64)):
            gc.reset_default_graph()
            x = gc.placeholder(dtype, (4, 6), name="x")
            i = gc.placeholder(gc.int64, idx.shape, name="i")
            updates_shape = idx.shape + (6,)
            u = gc.placeholder(dtype, updates_shape, name="u")
            y = make("scatter_add", (x, i, u), {"axis": 0})   # (gather's gradient; no public function)
            values = rng.integers(-8, 8, updates_shape).astype(dtype)   # small integers: every order sums exactly
            want = np.zeros((4, 6), dtype)
            np.add.at(want, idx.reshape(-1), values.reshape(-1, 6))
            np.testing.assert_array_equal(_run(y, {x: np.zeros((4, 6), dtype), i: idx, u: values}), want)
            lowered, _, _ = _launches(y, {x: np.zeros((4, 6), dtype), i: idx, u: values})
            assert len(lowered) == 1 and next(iter(lowered.values()))[1].accumulate


def test_an_index_out_of_range_is_an_error_in_a_replayed_run_and_changes_nothing():
    from graphc.errors import ExecutionError
    table = gc.Variable(np.arange(20, dtype=np.float32).reshape(10, 2), name="table")
    ids = gc.placeholder(gc.int32, (3,), name="ids")
    rows = gc.gather(table, ids)
    loss = gc.sum(rows * rows)
    (grad,) = gc.gradients(loss, [table])
    step = gc.assign_sub(table, 0.01 * grad)
    good, bad = np.array([1, -1, 3], np.int32), np.array([1, 10, 3], np.int32)
    with gc.Session(device="cuda-host") as sess:
        for _ in range(3):   # the third run replays
            sess.run([loss, step], {ids: good})
        before = sess.run(table)
        for wrong in (bad, np.array([-11, 0, 0], np.int32)):
            with pytest.raises(ExecutionError, match=r"gather '.*' \(built at .*test_cuda_kernels.py:\d+\) failed: "
                                                     r"IndexError: an index of 'ids' is out of bounds for axis 0 "
                                                     r"with size 10"):
                sess.run([loss, step], {ids: wrong})
            np.testing.assert_array_equal(sess.run(table), before)   # nothing committed
        sess.run([loss, step], {ids: good})   # and the next good run is right again
        expected = before.copy()
        np.subtract.at(expected, good % 10, 0.01 * 2 * before[good % 10])
        np.testing.assert_allclose(sess.run(table), expected, rtol=1e-6)


@pytest.mark.parametrize("shape, axis", [((300, 64), 0), ((3, 65), 0), ((7, 63), 0), ((1, 100), 0), ((4, 50, 33), 1),
                                         ((5, 6, 70), (0, 1)), ((64, 2), 1)])
def test_reductions_over_outer_axes(shape, axis):
    """A reduction over an outer axis with COLUMNS_MIN outputs or more: 32 outputs per block,
    read coalesced; fewer: a block (or warp) per output."""
    rng = np.random.default_rng(8)
    a = rng.standard_normal(shape).astype(np.float32)
    a.reshape(-1)[::7] = a.max()   # ties: argmax keeps the first
    x = gc.placeholder(gc.float32, shape, name="x")
    fetches = [gc.sum(x, axis=axis), gc.max(x, axis=axis), gc.mean(x * x, axis=axis)]
    single = np.ndim(axis) == 0
    if single:
        fetches.append(gc.argmin(-x, axis=axis))
    got = _run(fetches, {x: a})
    np.testing.assert_allclose(got[0], a.astype(np.float64).sum(axis=axis), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got[1], a.max(axis=axis))
    np.testing.assert_allclose(got[2], (a.astype(np.float64) ** 2).mean(axis=axis), rtol=1e-5)
    if single:
        np.testing.assert_array_equal(got[3], (-a).argmin(axis=axis))
    outputs = int(np.prod(got[0].shape))
    _, _, launches = _launches(fetches, {x: a})
    columns = {la.kind == "columns" for la in launches.values() if la.kind != "elementwise"}   # (not a GEMM's)
    reduced = a.size // outputs
    outer = (not single or axis != len(shape) - 1) and reduced > 1   # (a reduction over one element: rows)
    assert columns == {outer and outputs >= COLUMNS_MIN}, (shape, axis, launches)


@pytest.mark.parametrize("rows, length", [(1, SPLIT_MIN - 1), (1, SPLIT_MIN), (1, 3 * SPLIT_MIN + 5),
                                          (SPLIT_ROWS, SPLIT_MIN), (SPLIT_ROWS + 1, SPLIT_MIN)])
def test_few_long_rows_reduce_in_two_stages(rows, length):
    rng = np.random.default_rng(9)
    a = rng.standard_normal((rows, length)).astype(np.float32)
    a[:, [length // 3, length - 1]] = a.max() + 1   # ties across parts: argmax keeps the first
    x = gc.placeholder(gc.float32, (rows, length), name="x")
    fetches = [gc.sum(x, axis=1), gc.argmax(x, axis=1), gc.mean(x, axis=1), x / gc.max(x, axis=1, keepdims=True)]
    got = _run(fetches, {x: a})
    np.testing.assert_allclose(got[0], a.astype(np.float64).sum(1), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(got[1], a.argmax(1))
    np.testing.assert_allclose(got[2], a.astype(np.float64).mean(1), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got[3], a / a.max(1, keepdims=True))
    _, _, launches = _launches(fetches, {x: a})
    kinds = {la.kind for la in launches.values() if la.symbol}
    assert kinds == {"split" if rows <= SPLIT_ROWS and length >= SPLIT_MIN else "rows"}, kinds


def test_a_full_reduction_in_two_stages_propagates_nan_and_is_the_same_every_run():
    a = np.random.default_rng(10).standard_normal(SPLIT_MIN * 2).astype(np.float32)
    x = gc.placeholder(gc.float32, a.shape, name="x")
    fetches = [gc.max(x), gc.sum(x), gc.argmax(x)]
    with gc.Session(device="cuda-host") as sess:
        first = sess.run(fetches, {x: a})
        assert all(np.array_equal(f, g) for f, g in zip(first, sess.run(fetches, {x: a})))   # (the replay too)
        b = a.copy()
        b[SPLIT_MIN + 7] = np.nan
        got = sess.run(fetches, {x: b})
    assert np.isnan(got[0]) and np.isnan(got[1]) and got[2] == SPLIT_MIN + 7
