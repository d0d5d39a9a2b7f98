"""The numba backend's own matmul: packed, cache-blocked, register-tiled, parallel over rows.

C = A @ B is computed as dot products of A's rows with B's columns: A is used (or packed) as
rows contiguous in k, B as B^T (columns contiguous in k). The micro-kernel takes MR rows of A
and NR columns of B and keeps MR*NR scalar accumulators across a block of KC values of k;
LLVM vectorizes that k loop, so every accumulator becomes a SIMD register and each loaded
vector of A or B feeds NR or MR fused multiply-adds. Blocking: KC values of k (the micro-
kernel's 8 rows stay in L1), NC columns of B^T per pass (kept in L2), groups of MG rows of A
per parallel task. Views that already are row-major A or column-major B (a transposed
`b.T`) are used in place; anything else is packed once (O(n^2) against O(n^3) work).

fastmath: {'reassoc', 'contract'} lets LLVM vectorize the k reduction and fuse multiply-adds;
NaN and inf still propagate (no nnan/ninf).
"""
from __future__ import annotations

from numba import njit, prange

FM = {"reassoc", "contract"}
MR = 4    # rows of A per micro-tile
NR = 4    # columns of B per micro-tile
KC = 256  # k per block
NC = 256  # columns of B^T per pass
MG = 32   # rows of A per parallel task


@njit(inline="always")
def _micro(ap, i, bt, j, k0, k1, c, ci, cj, z):
    """c[ci:ci+4, cj:cj+4] += ap[i:i+4, k0:k1] @ bt[j:j+4, k0:k1].T."""
    a0 = ap[i, k0:k1]
    a1 = ap[i + 1, k0:k1]
    a2 = ap[i + 2, k0:k1]
    a3 = ap[i + 3, k0:k1]
    b0 = bt[j, k0:k1]
    b1 = bt[j + 1, k0:k1]
    b2 = bt[j + 2, k0:k1]
    b3 = bt[j + 3, k0:k1]
    c00 = c01 = c02 = c03 = z
    c10 = c11 = c12 = c13 = z
    c20 = c21 = c22 = c23 = z
    c30 = c31 = c32 = c33 = z
    for p in range(k1 - k0):
        x0 = a0[p]
        x1 = a1[p]
        x2 = a2[p]
        x3 = a3[p]
        y0 = b0[p]
        y1 = b1[p]
        y2 = b2[p]
        y3 = b3[p]
        c00 += x0 * y0
        c01 += x0 * y1
        c02 += x0 * y2
        c03 += x0 * y3
        c10 += x1 * y0
        c11 += x1 * y1
        c12 += x1 * y2
        c13 += x1 * y3
        c20 += x2 * y0
        c21 += x2 * y1
        c22 += x2 * y2
        c23 += x2 * y3
        c30 += x3 * y0
        c31 += x3 * y1
        c32 += x3 * y2
        c33 += x3 * y3
    c[ci, cj] += c00
    c[ci, cj + 1] += c01
    c[ci, cj + 2] += c02
    c[ci, cj + 3] += c03
    c[ci + 1, cj] += c10
    c[ci + 1, cj + 1] += c11
    c[ci + 1, cj + 2] += c12
    c[ci + 1, cj + 3] += c13
    c[ci + 2, cj] += c20
    c[ci + 2, cj + 1] += c21
    c[ci + 2, cj + 2] += c22
    c[ci + 2, cj + 3] += c23
    c[ci + 3, cj] += c30
    c[ci + 3, cj + 1] += c31
    c[ci + 3, cj + 2] += c32
    c[ci + 3, cj + 3] += c33


def make_gemm(par: bool):
    """c (Mp, Np), zeroed, += ap (Mp, K) @ bt (Np, K).T; Mp, Np multiples of 4; zero typed like c."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(ap, bt, c, zero):
        mp, kk = ap.shape
        np_ = bt.shape[0]
        groups = (mp + MG - 1) // MG
        for g in prange(groups):
            i0 = g * MG
            i1 = min(mp, i0 + MG)
            for k0 in range(0, kk, KC):
                k1 = min(kk, k0 + KC)
                for j0 in range(0, np_, NC):
                    j1 = min(np_, j0 + NC)
                    for i in range(i0, i1, MR):
                        for j in range(j0, j1, NR):
                            _micro(ap, i, bt, j, k0, k1, c, i, j, zero)
    return k


def make_pack(par: bool):
    """dst[i, p] = src[off + i*si + p*sp] for i < m, p < k; rows m.. of dst are zeroed.

    Tiled over p so a transposed read (large sp) reuses each cache line for 16 rows."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(src, off, si, sp, m, kk, dst):
        rows = dst.shape[0]
        blocks = (rows + 63) // 64
        for bi in prange(blocks):
            r0 = bi * 64
            r1 = min(rows, r0 + 64)
            for p0 in range(0, kk, 64):
                p1 = min(kk, p0 + 64)
                for i in range(r0, r1):
                    d = dst[i, p0:p1]
                    if i < m:
                        q = off + i * si + p0 * sp
                        if sp == 1:
                            s = src[q:q + p1 - p0]
                            for p in range(p1 - p0):
                                d[p] = s[p]
                        else:
                            for p in range(p1 - p0):
                                d[p] = src[q + p * sp]
                    else:
                        for p in range(p1 - p0):
                            d[p] = 0
    return k


@njit(cache=True, error_model="numpy")
def copy_out(c, m, n, out, off):
    """out[off + i*n + j] = c[i, j] for the unpadded (m, n) corner of c."""
    for i in range(m):
        o = out[off + i * n:off + (i + 1) * n]
        row = c[i, :n]
        for j in range(n):
            o[j] = row[j]


@njit(cache=True, error_model="numpy")
def zero(c):
    """c[...] = 0 for a 2-D contiguous array."""
    flat = c.reshape(c.size)
    for i in range(flat.size):
        flat[i] = 0
