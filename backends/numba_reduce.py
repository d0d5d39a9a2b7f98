"""Reduction kernels for the numba backend: sum/max/min, argmax/argmin, fused softmax.

Memory order: a row reduction (the reduced dim is the inner one) walks each row; a column
reduction (the kept dim is the inner one, e.g. `x.sum(0)`) walks the matrix row by row and
accumulates a vector, so neither strides through memory. Sums are blocked: each block of
BLOCK elements is summed in the input dtype (vectorized, many partial sums), block sums are
added in float64, so a float32 sum of 1e7 elements stays at float32 rounding.

fastmath uses {'reassoc', 'contract', 'nsz'} only (never nnan/ninf): reassociation lets LLVM
vectorize the sums, and NaN checks stay exact.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .numba_elementwise import vexp
from .numba_index import numel, offset_of
from .numba_simd import (LANES, lanes, prefer_wide, vaccum_f64, vadd, vhmax, vhmin, vhsum, vload, vmax, vmin,
                         vstore, vzeros)
from .protocol import REDUCE_CODES

FM = {"reassoc", "contract", "nsz"}
FM_NOREASSOC = {"contract", "nsz"}
BLOCK = 2048  # elements per float64 partial of a float sum (a multiple of 4 x 16 lanes)
ROWS_PER_PASS = 8  # rows a column sum adds in registers before touching its accumulator row
ROW_CHUNK = 1 << 16  # elements per parallel task of a full reduction
COL_BLOCK = 256  # output columns per parallel task of a column reduction (sum over dim 0)
SUM, MAX, MIN = REDUCE_CODES["sum"], REDUCE_CODES["max"], REDUCE_CODES["min"]


@njit(inline="always")
def _combine(opc, acc, x):
    """acc op x; max/min propagate NaN (a NaN acc stays: comparisons with NaN are false)."""
    if opc == SUM:
        r = acc + x
    elif opc == MAX:
        r = x if (x > acc or x != x) else acc
    else:
        r = x if (x < acc or x != x) else acc
    return r


def _sum_contig(x, p, n, acc0):  # pragma: no cover - replaced by the overload inside numba
    """acc0 + sum of x[p:p+n] (x contiguous)."""


def _sum_contig_simd(x, p, n, acc0):
    # four SIMD accumulators in the dtype over blocks of BLOCK elements (BLOCK / (4 * lanes)
    # additions per lane), each block's sum added in float64: float32 stays accurate over 1e7
    L = lanes(x)
    W = 4 * L
    total = acc0 + 0.0
    end = p + n
    i = p
    while i + W <= end:
        b1 = min(i + BLOCK, end - (end - i) % W)
        a0 = a1 = a2 = a3 = vzeros(x)
        for q in range(i, b1, W):
            a0 = vadd(a0, vload(x, q))
            a1 = vadd(a1, vload(x, q + L))
            a2 = vadd(a2, vload(x, q + 2 * L))
            a3 = vadd(a3, vload(x, q + 3 * L))
        total += vhsum(vadd(vadd(a0, a1), vadd(a2, a3)))
        i = b1
    if i + L <= end:
        a0 = vzeros(x)
        while i + L <= end:
            a0 = vadd(a0, vload(x, i))
            i += L
        total += vhsum(a0)
    while i < end:
        total += x[i]
        i += 1
    return total


def _sum_contig_scalar(x, p, n, acc0):
    total = acc0
    for i in range(p, p + n):
        total += x[i]
    return total


@overload(_sum_contig, inline="always")
def _ov_sum_contig(x, p, n, acc0):
    return _sum_contig_simd if x.dtype in LANES else _sum_contig_scalar


def _colsum(x, p0, w, n, sn, a):  # pragma: no cover - replaced by the overload inside numba
    """a[c] = sum over j < n of x[p0 + j*sn + c] for c < w (x's columns contiguous)."""


def _colsum_simd(x, p0, w, n, sn, a):
    # ROWS_PER_PASS rows are summed in SIMD registers (in the dtype), then added to the float64
    # accumulator row a: memory is read row by row, in order, once
    L = lanes(x)
    for c in range(w):
        a[c] = 0.0
    wv = w - w % L
    for j0 in range(0, n, ROWS_PER_PASS):
        j1 = min(n, j0 + ROWS_PER_PASS)
        q0 = p0 + j0 * sn
        for c0 in range(0, wv, L):
            v = vload(x, q0 + c0)
            for j in range(1, j1 - j0):
                v = vadd(v, vload(x, q0 + j * sn + c0))
            vaccum_f64(a, c0, v)
        for c in range(wv, w):
            t = 0.0
            for j in range(j1 - j0):
                t += x[q0 + j * sn + c]
            a[c] += t


def _colsum_scalar(x, p0, w, n, sn, a):
    for c in range(w):
        a[c] = x[p0 + c]
    for j in range(1, n):
        q = p0 + j * sn
        for c in range(w):
            a[c] += x[q + c]


@overload(_colsum, inline="always")
def _ov_colsum(x, p0, w, n, sn, a):
    if x.dtype in LANES and a.dtype == types.float64:
        return _colsum_simd
    return _colsum_scalar


def _colpick(opc, x, p0, w, n, sn, a):  # pragma: no cover - replaced by the overload inside numba
    """a[c] = max (min) over j < n of x[p0 + j*sn + c] for c < w (x's columns contiguous, n >= 1)."""


def _colpick_simd(opc, x, p0, w, n, sn, a):
    # as _colsum_simd: ROWS_PER_PASS rows are picked in registers (NaN-propagating vmax/vmin),
    # then against the accumulator row a; memory is read row by row, in order, once
    L = lanes(x)
    wv = w - w % L
    for c in range(w):
        a[c] = x[p0 + c]
    for j0 in range(1, n, ROWS_PER_PASS):
        j1 = min(n, j0 + ROWS_PER_PASS)
        q0 = p0 + j0 * sn
        for c0 in range(0, wv, L):
            v = vload(x, q0 + c0)
            for j in range(1, j1 - j0):
                v = _vpick(opc, v, vload(x, q0 + j * sn + c0))
            vstore(a, c0, _vpick(opc, vload(a, c0), v))
        for c in range(wv, w):
            t = a[c]
            for j in range(j1 - j0):
                t = _combine(opc, t, x[q0 + j * sn + c])
            a[c] = t


def _colpick_scalar(opc, x, p0, w, n, sn, a):
    first = x[p0:p0 + w]
    for i in range(w):
        a[i] = first[i]
    for j in range(1, n):
        row = x[p0 + j * sn:p0 + j * sn + w]
        for i in range(w):
            a[i] = _combine(opc, a[i], row[i])


@overload(_colpick, inline="always")
def _ov_colpick(opc, x, p0, w, n, sn, a):
    return _colpick_simd if (x.dtype in LANES and a.dtype == x.dtype) else _colpick_scalar


MM_LANES = 16  # independent running max/min lanes of the scalar (integer) path


def _minmax_contig_scalar(opc, v):
    """max (min) of a non-empty contiguous array of a dtype without a SIMD vector type (ints);
    the first NaN if there is one. A running extreme per lane and a separate NaN count: no
    NaN-aware select chain (`_combine`) is carried from element to element, so the lanes vectorize."""
    n = v.size
    acc = np.empty(MM_LANES, v.dtype)
    for j in range(MM_LANES):
        acc[j] = v[0]
    nans = 0
    i = 0
    while i + MM_LANES <= n:
        w = v[i:i + MM_LANES]
        for j in range(MM_LANES):
            x = w[j]
            nans += x != x
            if opc == MAX:
                acc[j] = x if x > acc[j] else acc[j]
            else:
                acc[j] = x if x < acc[j] else acc[j]
        i += MM_LANES
    r = acc[0]
    for j in range(1, MM_LANES):
        r = _combine(opc, r, acc[j])
    for k in range(i, n):
        r = _combine(opc, r, v[k])
    if nans:  # the first NaN (of the array's own type: an int array has none)
        for k in range(n):
            if v[k] != v[k]:
                r = v[k]
                break
    return r


@njit(inline="always")
def _vpick(opc, acc, x):
    """vmax or vmin (NaN-propagating) by the reduction's op code (a compile-time constant)."""
    return vmax(acc, x) if opc == MAX else vmin(acc, x)


def _minmax_contig_simd(opc, v):
    # four independent vector accumulators, each a branch-free NaN-propagating select per lane
    # (`vmax`/`vmin`), so the loop runs at load speed; the ragged end is one more vector that
    # overlaps the last full one (max/min do not mind seeing an element twice)
    L = lanes(v)
    W = 4 * L
    n = v.size
    if n < L:
        r = v[0]
        for k in range(1, n):
            r = _combine(opc, r, v[k])
    else:
        a0 = vload(v, 0)
        a1 = a0
        a2 = a0
        a3 = a0
        i = 0
        while i + W <= n:
            a0 = _vpick(opc, a0, vload(v, i))
            a1 = _vpick(opc, a1, vload(v, i + L))
            a2 = _vpick(opc, a2, vload(v, i + 2 * L))
            a3 = _vpick(opc, a3, vload(v, i + 3 * L))
            i += W
        while i + L <= n:
            a0 = _vpick(opc, a0, vload(v, i))
            i += L
        if i < n:
            a1 = _vpick(opc, a1, vload(v, n - L))
        a0 = _vpick(opc, _vpick(opc, a0, a1), _vpick(opc, a2, a3))
        r = vhmax(a0) if opc == MAX else vhmin(a0)
    return r


def _minmax_contig(opc, v):  # pragma: no cover - replaced by the overload inside numba
    """max (min) of a non-empty contiguous 1-D array; NaN if it holds a NaN."""


@overload(_minmax_contig, inline="always")
def _ov_minmax_contig(opc, v):
    return _minmax_contig_simd if v.dtype in LANES else _minmax_contig_scalar


@njit(inline="always")
def _reduce_contig(opc, v, acc0):
    """op over a contiguous 1-D array; float sums in SIMD blocks added in float64."""
    n = v.size
    if opc == SUM:
        r = _sum_contig(v, 0, n, acc0)
    else:
        r = _minmax_contig(opc, v)
    return r


@njit(inline="always")
def _reduce_strided(opc, x, p, n, s, acc0):
    if s == 1:
        r = _reduce_contig(opc, x[p:p + n], acc0)
    elif opc == SUM:
        acc = acc0
        for i in range(n):
            acc += x[p + i * s]
        r = acc
    else:
        acc2 = x[p]
        for i in range(1, n):
            acc2 = _combine(opc, acc2, x[p + i * s])
        r = acc2
    return r


def make_reduce_rows(opc: int, par: bool):
    """out[i] = op(x[ox + i*sm + j*sn] for j < n) for i < m (m may be 1: a full reduction)."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(x, ox, m, sm, n, sn, out, acc0):
        if m == 1 and par:  # one long row: split it among the threads, then combine
            # fixed-size tasks (get_num_threads() in a kernel defeats numba's disk cache), and
            # a sum that does not depend on the thread count
            nch = (n + ROW_CHUNK - 1) // ROW_CHUNK
            step = (n + nch - 1) // nch
            nch = (n + step - 1) // step  # every chunk non-empty
            parts = np.full(nch, _reduce_strided(opc, x, ox, 1, sn, acc0))
            for c in prange(nch):
                lo = c * step
                hi = min(n, lo + step)
                parts[c] = _reduce_strided(opc, x, ox + lo * sn, hi - lo, sn, acc0)
            if opc == SUM:
                r = acc0
                for c in range(nch):
                    r += parts[c]
                out[0] = r
            else:
                r2 = parts[0]
                for c in range(1, nch):
                    r2 = _combine(opc, r2, parts[c])
                out[0] = r2
        else:
            for i in prange(m):
                out[i] = _reduce_strided(opc, x, ox + i * sm, n, sn, acc0)
    return k


def make_reduce_cols(opc: int, par: bool):
    """out[i] = op over j of x[ox + i*sm + j*sn], walking j outer and i inner (memory order).

    acc is a scratch vector of m accumulators (float64 for float sums, else out itself)."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(x, ox, m, sm, n, sn, out, acc):
        step = COL_BLOCK if par else m
        nch = (m + step - 1) // step
        for c in prange(nch):
            lo = min(m, c * step)
            hi = min(m, lo + step)
            w = hi - lo
            a = acc[lo:hi]
            p0 = ox + lo * sm
            if sm == 1 and opc == SUM:
                _colsum(x, p0, w, n, sn, a)
            elif sm == 1:
                _colpick(opc, x, p0, w, n, sn, a)
            else:
                for i in range(w):
                    a[i] = x[p0 + i * sm]
                for j in range(1, n):
                    q = p0 + j * sn
                    for i in range(w):
                        a[i] = _combine(opc, a[i], x[q + i * sm])
            o = out[lo:hi]
            for i in range(w):
                o[i] = a[i]
    return k


def make_reduceN(opc: int, par: bool):
    """Generic: out[p] = op over the red dims; keep/red shapes are tuples (each ndim >= 1)."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(x, ox, kshape, kstrides, rshape, rstrides, out, acc0):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        nk = len(kshape)
        nr = len(rshape)
        inner = rshape[nr - 1]
        sinner = rstrides[nr - 1]
        outer_r = numel(rshape, nr - 1)
        for t in prange(numel(kshape, nk)):
            p = offset_of(t, kshape, kstrides, ox, nk)
            if opc == SUM:
                acc = acc0
                for r in range(outer_r):
                    q = offset_of(r, rshape, rstrides, p, nr - 1)
                    acc += _reduce_strided(opc, x, q, inner, sinner, acc0)
                out[t] = acc
            else:
                best = x[p]
                for r in range(outer_r):
                    q = offset_of(r, rshape, rstrides, p, nr - 1)
                    best = _combine(opc, best, _reduce_strided(opc, x, q, inner, sinner, acc0))
                out[t] = best
    return k


@njit(cache=True, error_model="numpy")
def _arg_row(x, p, n, sn, is_max):
    """Index of the first max (min) of x[p + j*sn] for j < n; the first NaN's index if any."""
    best = x[p]
    bi = 0
    for j in range(n):
        v = x[p + j * sn]
        if v != v:
            return j
        if (v > best) if is_max else (v < best):
            best = v
            bi = j
    return bi


def make_arg_reduce(is_max: bool, par: bool):
    """out[t] = index of the first max (min) of row t; a NaN wins (the first NaN's index)."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(x, ox, kshape, kstrides, n, sn, out):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        nk = len(kshape)
        for t in prange(numel(kshape, nk)):
            out[t] = _arg_row(x, offset_of(t, kshape, kstrides, ox, nk), n, sn, is_max)
    return k


SOFTMAX_BLOCK = 4096  # elements per block of rows: shifted, exponentiated (one flat loop) and scaled in L1


def _exp_floor(x):  # pragma: no cover - replaced by the overload inside numba
    """The argument below which a softmax term is 0: exp there is below the dtype's normal range."""


@overload(_exp_floor, inline="always")
def _ov_exp_floor(x):
    lo = np.float32(-87.0) if x == types.float32 else -708.0
    return lambda x: lo


@njit(inline="always")
def _exp_or_zero(d):
    """exp(d), or 0 where d < _exp_floor (a term that small is below the normal range, < 1.7e-38 in
    float32; the causal mask's -inf is exactly 0): the clamped argument keeps every lane of the
    vectorized exp out of the subnormals, whose microcode assists cost ~100 cycles per element."""
    lo = _exp_floor(d)
    dc = lo if d < lo else d  # NaN passes unchanged (and gives NaN)
    e = vexp(dc)
    return e * 0 if d < lo else e


def make_softmax(log: bool, par: bool):
    """Softmax (or log-softmax) over each row of a contiguous (rows, cols) block.

    A task takes a block of rows (about SOFTMAX_BLOCK elements): each row's max, the shifted row
    x - max written to out, one flat exp loop over the whole block (short rows vectorize too),
    then each row's sum and scale. Softmax terms below the normal range are 0 (`_exp_or_zero`;
    log-softmax is unaffected: such a term vanishes from a sum of at least 1). No `reassoc`: the
    vectorized exp relies on its two-part argument reduction."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM_NOREASSOC)
    def k(x, ox, rows, cols, out):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        rb = max(1, SOFTMAX_BLOCK // max(cols, 1))
        for blk in prange((rows + rb - 1) // rb):
            prefer_wide()
            r0 = blk * rb
            r1 = min(rows, r0 + rb)
            shift = np.empty(r1 - r0, x.dtype)
            for r in range(r0, r1):
                xv = x[ox + r * cols:ox + (r + 1) * cols]
                if cols < MM_LANES:
                    m = xv[0]
                    for j in range(1, cols):
                        m = _combine(MAX, m, xv[j])
                else:
                    m = _minmax_contig(MAX, xv)
                if m == -math.inf or m != m:  # an all -inf row or a NaN: no shift (gives NaN as composed)
                    m2 = xv[0] * 0
                else:
                    m2 = m
                shift[r - r0] = m2
                o = out[r * cols:(r + 1) * cols]
                for j in range(cols):
                    o[j] = xv[j] - m2
            ob = out[r0 * cols:r1 * cols]
            for i in range(ob.size):  # no reduction in this loop, so LLVM vectorizes the exp
                ob[i] = _exp_or_zero(ob[i])
            for r in range(r0, r1):
                o = out[r * cols:(r + 1) * cols]
                s = _sum_contig(o, 0, cols, 0.0)  # SIMD sum (needs no reassoc flag)
                if log:
                    ls = math.log(s)
                    xv = x[ox + r * cols:ox + (r + 1) * cols]
                    m2 = shift[r - r0]
                    for j in range(cols):
                        o[j] = (xv[j] - m2) - ls
                else:
                    inv = 1.0 / s
                    for j in range(cols):
                        o[j] = o[j] * inv
    return k
