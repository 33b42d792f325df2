"""Packing for graphc's GEMM (runtime.cpu.llvm_gemm): copying blocks of op(A) and op(B) into
the panel layouts the micro-kernel streams, absorbing transposes (in-register 16x16
transposes and row interleaving) and zero-padding the edges."""
from llvmlite import ir

from .llvm_util import F32, I1, I32, I64, PTR, V16, Fn, c64, lane_masks, masked_load


def transpose16(b, rows):
    """16 <16 x float> rows -> their transpose (4 stages of two-source shuffles)."""
    rows = list(rows)
    mask_t = ir.VectorType(I32, 16)
    h = 8
    while h >= 1:
        lo = ir.Constant(mask_t, [c if c & h == 0 else 16 + c - h for c in range(16)])
        hi = ir.Constant(mask_t, [c + h if c & h == 0 else 16 + c for c in range(16)])
        new = list(rows)
        for r in range(16):
            if r & h == 0:
                new[r] = b.shuffle_vector(rows[r], rows[r + h], lo)
                new[r + h] = b.shuffle_vector(rows[r], rows[r + h], hi)
        rows = new
        h //= 2
    return rows


def interleave(b, rows):
    """R rows of 16 values -> the R vectors of their column-major flattening
    (flat[c*R + r] = rows[r][c]): two-source shuffles per pair of rows, then blends."""
    nrows = len(rows)
    mask_t = ir.VectorType(I32, 16)
    out = []
    for q in range(nrows):
        rowof = [(16 * q + lane) % nrows for lane in range(16)]
        colof = [(16 * q + lane) // nrows for lane in range(16)]
        vec = None
        for r0 in range(0, nrows, 2):
            pair = [r for r in (r0, r0 + 1) if r < nrows]
            lanes = [rowof[lane] in pair for lane in range(16)]
            if not any(lanes):
                continue
            second = rows[r0 + 1] if r0 + 1 < nrows else ir.Constant(V16, ir.Undefined)
            mask = [colof[lane] + (16 if rowof[lane] == r0 + 1 else 0) if lanes[lane] else 0 for lane in range(16)]
            part = b.shuffle_vector(rows[r0], second, ir.Constant(mask_t, mask))
            if vec is None:
                vec = part
            else:
                vec = b.select(ir.Constant(ir.VectorType(I1, 16), [int(x) for x in lanes]), part, vec)
        out.append(vec)
    return out


def edge_pack(module):
    """void edge(ptr src, i64 base, i64 sp, i64 sq, i64 pstart, i64 kc, i64 kcp, i64 width, ptr dst, i64 w):
    dst[p*w + q] = src[base + p*sp + q*sq] for p < kc, q < width, else 0 (p in [pstart, kcp), q < w).
    One function in ``module`` for every packer (the panel width ``w`` is an argument)."""
    name = "graphc_sgemm.pack_edge"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    f = Fn(module, name, [PTR, I64, I64, I64, I64, I64, I64, I64, PTR, I64], small=True)
    src, base, sp, sq, pstart, kc, kcp, width, dst, w = f.fn.args
    b = f.b

    def prow(p, _):
        def col(q, _):
            inside = b.and_(b.icmp_signed("<", p, kc), b.icmp_signed("<", q, width))
            out = f.gep(dst, b.add(b.mul(p, w), q))
            with b.if_else(inside) as (t, o):
                with t:
                    off = b.add(base, b.add(b.mul(p, sp), b.mul(q, sq)))
                    b.store(b.load(f.gep(src, off), typ=F32), out)
                with o:
                    b.store(ir.Constant(F32, 0.0), out)
        f.loop(c64(0), w, 1, col)
    f.loop(pstart, kcp, 1, prow)
    b.ret_void()
    return f.fn


def pack_b(module, name):
    """void pack_b(i64 trans, ptr b, i64 ldb, i64 p0, i64 kc, i64 j0, i64 nc, i64 kcp, ptr buf, i64 nr):
    buf[jp][p][nr] = op(B)[p0+p, j0+jp*nr+j], zero outside kc x nc, p < kcp; ``nr`` (the
    panel width, a multiple of 16) is an argument, so every micro-tile shares one packer.
    Rows are copied in masked 16-column chunks (a partial panel's tail lanes read nothing),
    a transposed B in 16 x 16 in-register transposes."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    f = Fn(module, name, [I64, PTR, I64, I64, I64, I64, I64, I64, PTR, I64])
    trans, src, ldb, p0, kc, j0, nc, kcp, buf, nr = f.fn.args
    b = f.b
    zero = ir.Constant(V16, [0.0] * 16)
    npanels = b.sdiv(b.add(nc, b.sub(nr, c64(1))), nr)
    is_trans = b.icmp_signed("!=", trans, c64(0))
    edge = edge_pack(module)

    def panel(jp, _):
        dst = f.gep(buf, b.mul(jp, b.mul(kcp, nr)))
        jj = b.add(j0, b.mul(jp, nr))           # first column of the panel
        width = f.min(nr, b.sub(nc, b.mul(jp, nr)))

        def plain():
            def chunk(v, _):
                (mask,) = lane_masks(b, b.sub(width, v), 1)

                def prow(p, _):
                    row = f.gep(src, b.add(b.mul(b.add(p0, p), ldb), b.add(jj, v)))
                    val = b.call(masked_load(module), [row, ir.Constant(I32, 4), mask, zero])
                    b.store(val, f.gep(dst, b.add(b.mul(p, nr), v)), align=64)
                f.loop(c64(0), kc, 1, prow)

                def zrow(p, _):
                    b.store(zero, f.gep(dst, b.add(b.mul(p, nr), v)), align=64)
                f.loop(kc, kcp, 1, zrow)
            f.loop(c64(0), nr, 16, chunk)

        def transposed():
            k16 = b.mul(b.sdiv(kc, c64(16)), c64(16))

            def vblock(v, _):      # one 16 x 16 block at a time (no spills)
                def pblock(p, _):
                    rows = []
                    for r in range(16):     # rows past the edge: read the first one, use zeros
                        j = b.add(v, c64(r))
                        valid = b.icmp_signed("<", j, width)
                        j = b.select(valid, j, c64(0))
                        row = b.load(f.gep(src, b.add(b.mul(b.add(jj, j), ldb), b.add(p0, p))), typ=V16, align=4)
                        rows.append(b.select(valid, row, zero))
                    cols = transpose16(b, rows)
                    for r in range(16):
                        out = f.gep(dst, b.add(b.mul(b.add(p, c64(r)), nr), v))
                        b.store(cols[r], out, align=64)
                f.loop(c64(0), k16, 16, pblock)
            f.loop(c64(0), nr, 16, vblock)
            b.call(edge, [src, b.add(b.mul(jj, ldb), p0), c64(1), ldb, k16, kc, kcp, width, dst, nr])
        f.if_else(is_trans, transposed, plain)

    f.loop(c64(0), npanels, 1, panel)
    b.ret_void()
    return f.fn


def pack_a(module, mr_full, name):
    """void pack_a(i64 trans, ptr a, i64 lda, i64 i0, i64 mc, i64 p0, i64 kc, i64 kcp, ptr buf):
    buf[ip][p][MR] = op(A)[i0+ip*MR+i, p0+p], zero outside mc x kc, p < kcp."""
    f = Fn(module, name, [I64, PTR, I64, I64, I64, I64, I64, I64, PTR])
    trans, src, lda, i0, mc, p0, kc, kcp, buf = f.fn.args
    b = f.b
    npanels = b.sdiv(b.add(mc, c64(mr_full - 1)), c64(mr_full))
    is_trans = b.icmp_signed("!=", trans, c64(0))
    edge = edge_pack(module)

    def panel(ip, _):
        dst = f.gep(buf, b.mul(ip, b.mul(kcp, c64(mr_full))))
        ii = b.add(i0, b.mul(ip, c64(mr_full)))
        height = f.min(c64(mr_full), b.sub(mc, b.mul(ip, c64(mr_full))))
        full = b.icmp_signed("==", height, c64(mr_full))

        def generic(pstart):
            base, sp, sq = (b.select(is_trans, b.add(b.mul(p0, lda), ii), b.add(b.mul(ii, lda), p0)),
                            b.select(is_trans, lda, c64(1)), b.select(is_trans, c64(1), lda))
            b.call(edge, [src, base, sp, sq, pstart, kc, kcp, height, dst, c64(mr_full)])

        def full_panel():
            def plain():    # op(A)[i, p] = a[i*lda + p]: 16 columns of MR rows at a time
                k16 = b.mul(b.sdiv(kc, c64(16)), c64(16))

                def pblock(p, _):
                    rows = [b.load(f.gep(src, b.add(b.mul(b.add(ii, c64(i)), lda), b.add(p0, p))), typ=V16, align=4)
                            for i in range(mr_full)]
                    out = f.gep(dst, b.mul(p, c64(mr_full)))
                    for q, vec in enumerate(interleave(b, rows)):
                        b.store(vec, f.gep(out, 16 * q), align=4)
                f.loop(c64(0), k16, 16, pblock)
                generic(k16)

            f.if_else(is_trans, lambda: generic(k8), plain)   # transposed: rows < k8 copied below

        f.if_else(full, full_panel, lambda: generic(c64(0)))

    # op(A)[i, p] = a[p*lda + i]: MR contiguous values per p. Chunks of 8 rows of a across all
    # the full panels, so that the strided rows stay in L1 while each is read once.
    vec_t = ir.VectorType(F32, mr_full)
    k8 = b.mul(b.sdiv(kc, c64(8)), c64(8))
    nfull = b.sdiv(mc, c64(mr_full))

    def transposed_rows():
        def chunk(p, _):
            def panel_rows(ip, _):
                dst = f.gep(buf, b.add(b.mul(ip, b.mul(kcp, c64(mr_full))), b.mul(p, c64(mr_full))))
                col = b.add(i0, b.mul(ip, c64(mr_full)))
                for r in range(8):
                    row = f.gep(src, b.add(b.mul(b.add(p0, b.add(p, c64(r))), lda), col))
                    b.store(b.load(row, typ=vec_t, align=4), f.gep(dst, r * mr_full), align=4)
            f.loop(c64(0), nfull, 1, panel_rows)
        f.loop(c64(0), k8, 8, chunk)
    f.if_else(is_trans, transposed_rows)

    f.loop(c64(0), npanels, 1, panel)
    b.ret_void()
    return f.fn
