"""The numba backend's own matmul: packed panels, a register-tiled SIMD micro-kernel, threads.

C = A @ B, BLIS style. For each block of KC values of k (and NC columns of B):
  * B[k block, n block] is packed into panels of NR columns, k-major: panel j holds, for every
    p, the NR values B[p, j*NR : j*NR+NR] next to each other (zero-padded past n);
  * A[:, k block] is packed into panels of MR rows, k-major: MR values A[i*MR : i*MR+MR, p]
    per p (zero-padded past m);
  * the micro-kernel updates an MR x NR tile of C as a sum over p of outer products
    a[:, p] (MR broadcast scalars) x b[p, :] (NV SIMD vectors): the MR*NV accumulators are
    SIMD vectors in local variables (numba_simd), so LLVM keeps them in registers and the
    loop body is MR*NV vfmadd with NV vector loads and MR broadcasts.
The tile is MR x NV vectors: 12 x 2 zmm (12 x 32 floats) where the CPU has AVX-512 (32 vector
registers), 6 x 2 ymm (6 x 16 floats) on AVX2 (16 registers); float64 uses the same shape
with half the lanes. The parallel build splits C into at least `min_tasks` blocks of (rows x
columns) (the caller passes a few per thread); a task walks its B panels (each stays in L1
while it meets every A panel of the task, which stay in L2).

Strided inputs: any (row stride, column stride) of A and B is packed directly, so `A.T @ B`
and friends cost no extra copy; a row-major A and a column-major B (`x @ w.T`) are packed
through SIMD register transposes (numba_simd.transpose_block). k is cut into equal blocks of at
most KC. A batch loops inside the kernel (a broadcast operand is packed again per element).
Edge tiles are computed into a small scratch tile and copied out, so C is never written past
(m, n). No fastmath: plain IEEE arithmetic (fused multiply-add), NaN and inf propagate.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

import numpy as np
from numba import njit, prange

from .common import bases
from .numba_simd import AVX512, lanes, tblock, transpose_block, vaccum, vadd, vbcast, vfma, vhsum, vload, vstore, vzeros

@njit(inline="always")
def copy_run(dst, d, src, q, n):
    """dst[d:d+n] = src[q:q+n] through slices: an index written as `d + t` may be negative to
    numba, whose wraparound select keeps LLVM from vectorizing the loop (about 5x slower)."""
    dv = dst[d:d + n]
    sv = src[q:q + n]
    for t in range(n):
        dv[t] = sv[t]


@njit(inline="always")
def add_run(dst, d, src, q, n):
    """dst[d:d+n] += src[q:q+n] (through slices, as copy_run)."""
    dv = dst[d:d + n]
    sv = src[q:q + n]
    for t in range(n):
        dv[t] += sv[t]


@njit(inline="always")
def sum_run(src, q, n):
    """sum(src[q:q+n]) as a float64: two SIMD accumulators in the dtype, then the tail."""
    L = lanes(src)
    a0 = a1 = vzeros(src)
    i = 0
    while i + 2 * L <= n:
        a0 = vadd(a0, vload(src, q + i))
        a1 = vadd(a1, vload(src, q + i + L))
        i += 2 * L
    total = vhsum(vadd(a0, a1))
    for j in range(q + i, q + n):
        total += src[j]
    return total


@njit(inline="always")
def zero_run(dst, d, n):
    """dst[d:d+n] = 0 (through a slice, as copy_run)."""
    dv = dst[d:d + n]
    for t in range(n):
        dv[t] = 0


# Tile shape in (rows, vectors); values of k per packed block; columns of B per block; A panels
# per task block (~100-200 rows: a task's A block, KC x rows, stays in L2).
MR, NV = (12, 2) if AVX512 else (6, 2)
KC = 256
NC = 2048
MC_PANELS = 16 if AVX512 else 24


def _generate_micro(mr: int, nv: int) -> str:
    """Source of the mr x nv micro-kernel: MR*NV accumulator vectors as local variables (so LLVM
    keeps them in registers), the k loop unrolled over rows and vectors."""
    out = ["@njit(inline=\"always\")",
           f"def _micro_{mr}x{nv}(ap, ao, bp, bo, kc, c, co, ldc, first):",
           f"    \"\"\"c[co + r*ldc + j] (+)= sum_p ap[ao + p*{mr} + r] * bp[bo + p*nr + j] (r < {mr}, j < nr).\"\"\"",
           "    L = lanes(bp)",
           f"    nr = {nv} * L",
           "    z = vzeros(bp)"]
    for r in range(mr):
        out.append("    " + " = ".join(f"c{r}_{j}" for j in range(nv)) + " = z")
    out += ["    for p in range(kc):", "        qb = bo + p * nr", f"        qa = ao + p * {mr}"]
    for j in range(nv):
        out.append(f"        b{j} = vload(bp, qb + {j} * L)")
    for r in range(mr):
        out.append(f"        a = vbcast(ap, qa + {r})")
        for j in range(nv):
            out.append(f"        c{r}_{j} = vfma(c{r}_{j}, a, b{j})")
    for first in (True, False):
        out.append("    if first:" if first else "    else:")
        for r in range(mr):
            out.append(f"        q = co + {r} * ldc")
            for j in range(nv):
                out.append(f"        {'vstore' if first else 'vaccum'}(c, q + {j} * L, c{r}_{j})")
    return "\n".join(out) + "\n"


def _build_micro(mr: int, nv: int):
    """The mr x nv micro-kernel, compiled from `_generate_micro`'s source (numba inlines it into
    the GEMM kernel from its bytecode, so it needs no source file)."""
    names = {"njit": njit, "lanes": lanes, "vzeros": vzeros, "vload": vload, "vbcast": vbcast,
             "vfma": vfma, "vstore": vstore, "vaccum": vaccum}
    exec(compile(_generate_micro(mr, nv), f"<numba_matmul micro-kernel {mr}x{nv}>", "exec"), names)
    return names[f"_micro_{mr}x{nv}"]


_MICRO = _build_micro(MR, NV)


@njit(inline="always")
def _pack_transposed(x, src, ld, w0, B, kv, kc, dst, base, width):
    """dst[base + p*width + w] = x[src + w*ld + p] for w0 <= w < w0 + B, p < kc: B lines of
    memory (stride ld apart) packed k-major, B x B blocks through SIMD register transposes for
    p < kv (a multiple of B), the rest element by element."""
    for p in range(0, kv, B):
        transpose_block(x, src + w0 * ld + p, ld, dst, base + p * width + w0, width)
    for w in range(w0, w0 + B):
        q = src + w * ld
        for p in range(kv, kc):
            dst[base + p * width + w] = x[q + p]


@njit(inline="always")
def _pack_a(a, ao, sam, sak, ip, m, p0, kc, dst):
    """A panel ip: dst[(ip*kc + p)*MR + r] = A[ip*MR + r, p0 + p], zero past row m."""
    base = ip * kc * MR
    r0 = ip * MR
    rows = min(MR, m - r0)
    src = ao + r0 * sam + p0 * sak
    if rows == MR:
        if sak == 1 and sam != 1:  # row-major A: B x B blocks through SIMD register transposes
            B = tblock(a)
            rv = MR - MR % B
            kv = kc - kc % B
            for r0 in range(0, rv, B):
                _pack_transposed(a, src, sam, r0, B, kv, kc, dst, base, MR)
            for r in range(rv, MR):
                q = src + r * sam
                for p in range(kc):
                    dst[base + p * MR + r] = a[q + p]
        elif sam == 1:  # column-major A (A.T of a row-major matrix): MR values in a row per p
            for p in range(kc):
                copy_run(dst, base + p * MR, a, src + p * sak, MR)
        else:
            for p in range(kc):
                q = src + p * sak
                for r in range(MR):
                    dst[base + p * MR + r] = a[q + r * sam]
    else:
        for p in range(kc):
            q = src + p * sak
            for r in range(MR):
                dst[base + p * MR + r] = a[q + r * sam] if r < rows else 0


@njit(inline="always")
def _pack_b(b, bo, sbk, sbn, p0, kc, j0, n, jp, nr, dst):
    """B panel jp of the block at column j0: dst[(jp*kc + p)*nr + c] = B[p0 + p, j0 + jp*nr + c]."""
    base = jp * kc * nr
    c0 = j0 + jp * nr
    cols = min(nr, n - c0)
    src = bo + p0 * sbk + c0 * sbn
    if sbn == 1:  # row-major B: copy row pieces (zeros past n)
        for p in range(kc):
            copy_run(dst, base + p * nr, b, src + p * sbk, cols)
            zero_run(dst, base + p * nr + cols, nr - cols)
    elif sbk == 1:  # column-major B (w.T): B x B blocks of columns through SIMD transposes
        B = tblock(b)
        kv = kc - kc % B
        cv = cols - cols % B
        for c0 in range(0, cv, B):
            _pack_transposed(b, src, sbn, c0, B, kv, kc, dst, base, nr)
        for c in range(cv, nr):  # the last columns one by one, zeros past n
            if c < cols:
                q = src + c * sbn
                for p in range(kc):
                    dst[base + p * nr + c] = b[q + p]
            else:
                for p in range(kc):
                    dst[base + p * nr + c] = 0
    else:  # general strides: walk each column in memory order
        for c in range(nr):
            if c < cols:
                q = src + c * sbn
                for p in range(kc):
                    dst[base + p * nr + c] = b[q + p * sbk]
            else:
                for p in range(kc):
                    dst[base + p * nr + c] = 0


@njit(cache=True, error_model="numpy")
def _pack_task(a, ao, sam, sak, b, bo, sbk, sbn, t, mpan, m, p0, kc, j0, n, nr, ap, bp):
    """Task t of a k block's packing: A panel t, or B panel t - mpan. A function of its own (not
    inlined into the parallel build's prange body, where LLVM compiles the same loops slower)."""
    if t < mpan:
        _pack_a(a, ao, sam, sak, t, m, p0, kc, ap)
    else:
        _pack_b(b, bo, sbk, sbn, p0, kc, j0, n, t - mpan, nr, bp)


@njit(cache=True, error_model="numpy")
def _tile_task(ap, bp, kc, out, co, m, n, j0, nr, jp0, jp1, ip0, ip1, first):
    """The tiles of B panels jp0..jp1 x A panels ip0..ip1 of one k block (a function of its own,
    as _pack_task: inlined into numba's outlined prange body the micro-kernel ran 1.5-2x slower)."""
    scratch = np.empty(MR * nr, out.dtype)
    for jp in range(jp0, jp1):
        cj = j0 + jp * nr
        cols = min(nr, n - cj)
        for ip in range(ip0, ip1):
            ci = ip * MR
            rows = min(MR, m - ci)
            if rows == MR and cols == nr:
                _MICRO(ap, ip * kc * MR, bp, jp * kc * nr, kc, out, co + ci * n + cj, n, first)
            else:
                _MICRO(ap, ip * kc * MR, bp, jp * kc * nr, kc, scratch, 0, nr, True)
                for r in range(rows):
                    if first:
                        copy_run(out, co + (ci + r) * n + cj, scratch, r * nr, cols)
                    else:
                        add_run(out, co + (ci + r) * n + cj, scratch, r * nr, cols)


@njit(inline="always")
def _zero_if_empty(out, m, n, kk):
    """Whether the product has no terms or no entries (out, if any, is then zeros)."""
    if kk == 0 or m == 0 or n == 0:
        for i in range(out.size):
            out[i] = 0
        return True
    return False


@njit(inline="always")
def _blocking(out, m, kk):
    """(columns per B panel, A panels, values of k per block): k cut into equal blocks <= KC."""
    nblocks = (kk + KC - 1) // KC
    return NV * lanes(out), (m + MR - 1) // MR, (kk + nblocks - 1) // nblocks


def make_gemm(par: bool):
    """out[co + i*n + j] = sum_p A[i, p] B[p, j] for every batch element.

    A element (i, p) of batch t is a[a_offs[t] + i*sam + p*sak], B (p, j) is b[b_offs[t] +
    p*sbk + j*sbn]; out is contiguous (batch, m, n). min_tasks: blocks of C to split into."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(a, a_offs, sam, sak, b, b_offs, sbk, sbn, out, m, n, kk, min_tasks):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        if _zero_if_empty(out, m, n, kk):
            return
        nr, mpan, kcb = _blocking(out, m, kk)
        npan_max = (min(NC, n) + nr - 1) // nr
        ap = np.empty(mpan * MR * kcb, out.dtype)
        bp = np.empty(npan_max * nr * kcb, out.dtype)
        rb = (mpan + MC_PANELS - 1) // MC_PANELS
        for t0 in range(a_offs.size):
            ao = a_offs[t0]
            bo = b_offs[t0]
            co = t0 * m * n
            for j0 in range(0, n, NC):
                npan = (min(NC, n - j0) + nr - 1) // nr
                cb = 1
                while rb * cb < min_tasks and cb < npan:
                    cb += 1
                for p0 in range(0, kk, kcb):
                    kc = min(kcb, kk - p0)
                    first = p0 == 0
                    for t in prange(mpan + npan):
                        _pack_task(a, ao, sam, sak, b, bo, sbk, sbn, t, mpan, m, p0, kc, j0, n, nr, ap, bp)
                    for t in prange(rb * cb):
                        ib = t // cb
                        jb = t - ib * cb
                        _tile_task(ap, bp, kc, out, co, m, n, j0, nr, jb * npan // cb, (jb + 1) * npan // cb,
                                   ib * mpan // rb, (ib + 1) * mpan // rb, first)
    return k


def make_gemm_cols(par: bool):
    """out = A @ B as make_gemm, for a product of few rows (at most MC_PANELS A panels: an MLP's
    batch of 64): C is split into `tasks` blocks of columns, and each task packs, for every k
    block, all of A and its own B panels itself, then computes its tiles.

    One parallel region per call, where make_gemm opens two per k block (pack, then compute) and
    packs on one core what the other computes: for 64x784 @ 784x128 that is 8 regions of a few
    microseconds of work each. Here each task repeats A's packing (m x kc values per k block),
    which costs a few percent of its tiles (m x kc x its columns multiply-adds)."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(a, a_offs, sam, sak, b, b_offs, sbk, sbn, out, m, n, kk, tasks):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        if _zero_if_empty(out, m, n, kk):
            return
        nr, mpan, kcb = _blocking(out, m, kk)
        npan = (n + nr - 1) // nr
        tasks = max(1, min(tasks, npan))
        for task in prange(tasks):
            jp0 = task * npan // tasks
            jpn = (task + 1) * npan // tasks - jp0
            j0 = jp0 * nr
            ap = np.empty(mpan * MR * kcb, out.dtype)
            bp = np.empty(jpn * nr * kcb, out.dtype)
            for t0 in range(a_offs.size):
                for p0 in range(0, kk, kcb):
                    kc = min(kcb, kk - p0)
                    for t in range(mpan + jpn):
                        _pack_task(a, a_offs[t0], sam, sak, b, b_offs[t0], sbk, sbn, t, mpan, m, p0, kc, j0, n,
                                   nr, ap, bp)
                    _tile_task(ap, bp, kc, out, t0 * m * n, m, n, j0, nr, 0, jpn, 0, mpan, p0 == 0)
    return k


# Small products (attention's per-head T x d blocks): a batch of them is split into tasks of
# whole products, each product computed in one pass with no k blocking: B packed into rows of
# whole SIMD vectors (zero-padded), tiles of SR rows x 1 vector (SR accumulators, A broadcast
# straight from its strided view).
SR = 8
SMALL_MACS = 1 << 16  # multiply-adds per product up to which a batch takes the small kernel
SMALL_K = 512
SMALL_TASKS = 16  # tasks a batch is split into (each allocates its scratch once)


def _generate_small() -> str:
    rows = range(SR)
    out = ["@njit(inline=\"always\")",
           "def _small_tile(a, q, sak, bp, j0, npad, kk, c, co, ldc):",
           f"    \"\"\"c[co + r*ldc:...+L] = sum_p a[q[r] + p*sak] * bp[p*npad + j0:...+L] for r < {SR}.\"\"\"",
           "    L = lanes(bp)"]
    out += [f"    q{r} = q[{r}]" for r in rows]
    out.append("    " + " = ".join(f"c{r}" for r in rows) + " = vzeros(bp)")
    out += ["    for p in range(kk):", "        bv = vload(bp, p * npad + j0)", "        o = p * sak"]
    out += [f"        c{r} = vfma(c{r}, vbcast(a, q{r} + o), bv)" for r in rows]
    out += [f"    vstore(c, co + {r} * ldc, c{r})" for r in rows]
    return "\n".join(out) + "\n"


def _build_small():
    names = {"njit": njit, "lanes": lanes, "vzeros": vzeros, "vload": vload, "vbcast": vbcast, "vfma": vfma,
             "vstore": vstore}
    exec(compile(_generate_small(), "<numba_matmul small tile>", "exec"), names)
    return names["_small_tile"]


_SMALL_TILE = _build_small()


def make_gemm_small(par: bool):
    """out[t*m*n + i*n + j] = sum_p A_t[i, p] B_t[p, j], as make_gemm, whole products per task."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(a, a_offs, sam, sak, b, b_offs, sbk, sbn, out, m, n, kk):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        L = lanes(out)
        npad = (n + L - 1) // L * L
        nt = a_offs.size
        tasks = min(nt, SMALL_TASKS)
        for task in prange(tasks):
            bp = np.empty(kk * npad, out.dtype)
            tile = np.empty(SR * L, out.dtype)
            q = np.empty(SR, np.int64)
            for t in range(task * nt // tasks, (task + 1) * nt // tasks):
                bo = b_offs[t]
                co = t * m * n
                for p in range(kk):
                    qb = bo + p * sbk
                    d = p * npad
                    if sbn == 1:
                        copy_run(bp, d, b, qb, n)
                    else:
                        for j in range(n):
                            bp[d + j] = b[qb + j * sbn]
                    zero_run(bp, d + n, npad - n)
                for i0 in range(0, m, SR):
                    rows = min(SR, m - i0)
                    for r in range(SR):  # rows past m repeat the last one (not stored)
                        q[r] = a_offs[t] + min(i0 + r, m - 1) * sam
                    for j0 in range(0, npad, L):
                        cols = min(L, n - j0)
                        if rows == SR and cols == L:  # a whole tile: straight into out
                            _SMALL_TILE(a, q, sak, bp, j0, npad, kk, out, co + i0 * n + j0, n)
                            continue
                        _SMALL_TILE(a, q, sak, bp, j0, npad, kk, tile, 0, L)
                        for r in range(rows):
                            copy_run(out, co + (i0 + r) * n + j0, tile, r * L, cols)
    return k


@lru_cache(maxsize=512)
def batch_offsets(batch: tuple, strides: tuple, offset: int) -> np.ndarray:
    """The int64 buffer offsets of every batch element of a matmul operand (a training step
    multiplies the same views every step). Shared: the kernels only read it (left writeable, as
    a read-only array would be a second compiled type of every GEMM kernel)."""
    return np.array(bases(batch, strides, offset), np.int64)


def rows_fold(shape: tuple, strides: tuple) -> Optional[int]:
    """The row stride when the dims (..., m) with these strides are one evenly strided run of
    rows (each dim's stride is the next one's times its size; size-1 dims never move), else None."""
    size, step = 1, 0
    for n, s in zip(reversed(shape), reversed(strides)):
        if n == 1:
            continue
        if size == 1:
            step = s
        elif s != step * size:
            return None
        size *= n
    return step
