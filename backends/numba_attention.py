"""Fused scaled-dot-product attention of the numba backend (optional kernels `sdpa`, `sdpa_backward`;
see backends/protocol.py).

Heads (b, h) split across prange chunks, in per-chunk scratch whose rows are padded with zeros to
whole SIMD vectors (numba_simd): K^T and V^T built once per head (8x8 blocks by transpose_block),
so that scores are E (Ev) vector FMAs per vector of keys, for 4 query rows at once (eight
independent chains sharing each vector of K^T). K and V rows are read in place for the products over
keys when the features fill whole vectors, else from padded copies. Under a causal mask a row stops
at its last key. Both directions take the query rows in groups of 4: the forward keeps each row's
logsumexp; the backward recomputes the weights from it (P = exp(s - lse)) and adds the group's share
to the head's dK and dV in one pass over them. Serial and parallel builds like every other kernel;
no `reassoc` (the vectorized exp relies on its argument reduction), so the row sums run in order.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

from tinygrad_like.dtypes import DType
from tinygrad_like.view import View

from .attention_checks import bhr, result_size, sdpa_backward_shapes, sdpa_shapes
from .common import ViewChecks
from .numba_alloc import empty
from .numba_elementwise import vexp
from .numba_simd import lanes, tblock, transpose_block, vadd, vfma, vload, vmul, vsplat, vstore, vzeros

FM = {"contract", "nsz"}


@njit(inline="always")
def _keys(causal, i, S):
    """How many keys query row i sees."""
    return i + 1 if causal and i + 1 < S else S


@njit(inline="always")
def _pad(n, w):
    return (n + w - 1) // w * w


@njit(inline="always")
def _scores4(xs, ld, E, KT, Sp, njp, s):
    """s[r * Sp + j] = xs[r * ld:r * ld + E] . k_j for the 4 rows r of a group and j < njp (a whole
    number of vectors), each row summed over even and odd e apart as _scores does (the same bits): eight
    independent chains of FMAs share each vector of K^T."""
    W = lanes(s)
    E2 = E - E % 2
    for jc in range(0, njp, W):
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = vzeros(s)
        for e in range(0, E2, 2):
            k0 = vload(KT, e * Sp + jc)
            k1 = vload(KT, (e + 1) * Sp + jc)
            a0 = vfma(a0, vsplat(xs[e]), k0)
            b0 = vfma(b0, vsplat(xs[e + 1]), k1)
            a1 = vfma(a1, vsplat(xs[ld + e]), k0)
            b1 = vfma(b1, vsplat(xs[ld + e + 1]), k1)
            a2 = vfma(a2, vsplat(xs[2 * ld + e]), k0)
            b2 = vfma(b2, vsplat(xs[2 * ld + e + 1]), k1)
            a3 = vfma(a3, vsplat(xs[3 * ld + e]), k0)
            b3 = vfma(b3, vsplat(xs[3 * ld + e + 1]), k1)
        if E2 < E:
            k0 = vload(KT, E2 * Sp + jc)
            a0 = vfma(a0, vsplat(xs[E2]), k0)
            a1 = vfma(a1, vsplat(xs[ld + E2]), k0)
            a2 = vfma(a2, vsplat(xs[2 * ld + E2]), k0)
            a3 = vfma(a3, vsplat(xs[3 * ld + E2]), k0)
        vstore(s, jc, vadd(a0, b0))
        vstore(s, Sp + jc, vadd(a1, b1))
        vstore(s, 2 * Sp + jc, vadd(a2, b2))
        vstore(s, 3 * Sp + jc, vadd(a3, b3))


@njit(inline="always")
def _rows_times(w, wo, n, M, mo, ld, width, out, oo):
    """out[oo + c] = sum over j < n of w[wo + j] * M[mo + j * ld + c] for c < width (a whole number of
    vectors); four accumulators (j mod 4) per vector of columns."""
    for c in range(0, width, lanes(out)):
        a0 = vzeros(out)
        a1 = vzeros(out)
        a2 = vzeros(out)
        a3 = vzeros(out)
        j = 0
        while j + 3 < n:
            a0 = vfma(a0, vsplat(w[wo + j]), vload(M, mo + j * ld + c))
            a1 = vfma(a1, vsplat(w[wo + j + 1]), vload(M, mo + (j + 1) * ld + c))
            a2 = vfma(a2, vsplat(w[wo + j + 2]), vload(M, mo + (j + 2) * ld + c))
            a3 = vfma(a3, vsplat(w[wo + j + 3]), vload(M, mo + (j + 3) * ld + c))
            j += 4
        while j < n:
            a0 = vfma(a0, vsplat(w[wo + j]), vload(M, mo + j * ld + c))
            j += 1
        vstore(out, oo + c, vadd(vadd(a0, a1), vadd(a2, a3)))


@njit(inline="always")
def _row_max(s, n, zero):
    """The max of s[:n] (n >= 1), NaN if one is NaN: four branch-free running maxima (a compare that
    branches mispredicts on every new maximum) and a NaN count. The NaN is zero / zero, in the dtype
    (a float64 NaN would turn the row's exps into float64 ones)."""
    m0 = m1 = m2 = m3 = s[0]
    nan = 0
    j = 0
    while j + 3 < n:
        x0, x1, x2, x3 = s[j], s[j + 1], s[j + 2], s[j + 3]
        m0 = x0 if x0 > m0 else m0
        m1 = x1 if x1 > m1 else m1
        m2 = x2 if x2 > m2 else m2
        m3 = x3 if x3 > m3 else m3
        nan += (x0 != x0) + (x1 != x1) + (x2 != x2) + (x3 != x3)
        j += 4
    while j < n:
        x0 = s[j]
        m0 = x0 if x0 > m0 else m0
        nan += x0 != x0
        j += 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    m0 = m2 if m2 > m0 else m0
    return m0 if nan == 0 else zero / zero


@njit(inline="always")
def _row_sum(s, n, zero):
    """sum(s[:n]) in four running sums (one chain of dependent adds would wait on each)."""
    t0 = t1 = t2 = t3 = zero
    j = 0
    while j + 3 < n:
        t0 += s[j]
        t1 += s[j + 1]
        t2 += s[j + 2]
        t3 += s[j + 3]
        j += 4
    while j < n:
        t0 += s[j]
        j += 1
    return (t0 + t1) + (t2 + t3)


@njit(inline="always")
def _copy(src, so, n, dst, do):
    """dst[do:do + n] = src[so:so + n]: whole vectors, then the rest one by one."""
    W = lanes(dst)
    nv = n - n % W
    for c in range(0, nv, W):
        vstore(dst, do + c, vload(src, so + c))
    for c in range(nv, n):
        dst[do + c] = src[so + c]


@njit(inline="always")
def _copy_scaled(src, so, n, scale, dst, do):
    """dst[do + c] = src[so + c] * scale for c < n: whole vectors, then the rest one by one."""
    W = lanes(dst)
    nv = n - n % W
    sv = vsplat(scale)
    for c in range(0, nv, W):
        vstore(dst, do + c, vmul(vload(src, so + c), sv))
    for c in range(nv, n):
        dst[do + c] = src[so + c] * scale


@njit(inline="always")
def _load_kt(kb, k0, ksl, S, E, Sp, KT):
    """KT[e * Sp + j] = kb[k0 + j * ksl + e] for j < S, e < E: square blocks through transpose_block's
    shuffles, the edges one by one."""
    B = tblock(KT)
    S0, E0 = S - S % B, E - E % B
    for j in range(0, S0, B):
        for e in range(0, E0, B):
            transpose_block(kb, k0 + j * ksl + e, ksl, KT, e * Sp + j, Sp)
        for jj in range(j, j + B):
            for e in range(E0, E):
                KT[e * Sp + jj] = kb[k0 + jj * ksl + e]
    for j in range(S0, S):
        for e in range(E):
            KT[e * Sp + j] = kb[k0 + j * ksl + e]


@njit(inline="always")
def _chunks(n, par):
    """Heads per prange chunk: each chunk allocates its scratch once."""
    return min(n, 64) if par else 1


def make_sdpa(par: bool):
    """out rows through (osb, osh, osl) and lse (B, H, L) of softmax(scale q k^T [causal]) v;
    geo = B H L S E Ev, then offset and (b, h, row) strides of q, k, v."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(q, kb, v, geo, out, osb, osh, osl, lse, causal, scale, zero):
        B, H, L, S, E, Ev = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
        W = lanes(q)
        Sp, Ep, Evp = _pad(S, W), _pad(E, W), _pad(Ev, W)
        nh = B * H
        nch = _chunks(nh, par)
        for ch in prange(nch):
            KT = np.zeros(E * Sp, q.dtype)  # padding stays 0
            Vp = np.zeros(S * Evp, q.dtype)
            qs = np.zeros(4 * Ep, q.dtype)
            s = np.zeros(4 * Sp, q.dtype)
            o = np.empty(Evp, q.dtype)
            direct = Ev % W == 0  # V's rows are whole vectors: read them in place, no padded copy
            for bh in range(ch * nh // nch, (ch + 1) * nh // nch):
                b, h = bh // H, bh % H
                q0 = geo[6] + b * geo[7] + h * geo[8]
                k0 = geo[10] + b * geo[11] + h * geo[12]
                v0 = geo[14] + b * geo[15] + h * geo[16]
                qsl, vsl = geo[9], geo[17]
                _load_kt(kb, k0, geo[13], S, E, Sp, KT)
                if not direct:
                    for j in range(S):
                        for c in range(Ev):
                            Vp[j * Evp + c] = v[v0 + j * vsl + c]
                for i0 in range(0, L, 4):  # query rows in groups of 4 (their scores together)
                    nr = min(4, L - i0)
                    for r in range(4):  # a last group's missing rows repeat row L - 1: values nobody reads
                        # scale rounded into q first, as the composed path
                        _copy_scaled(q, q0 + min(i0 + r, L - 1) * qsl, E, scale, qs, r * Ep)
                    _scores4(qs, Ep, E, KT, Sp, _pad(_keys(causal, i0 + nr - 1, S), W), s)
                    for r in range(nr):
                        i = i0 + r
                        nj = _keys(causal, i, S)
                        njp = _pad(nj, W)
                        sr = s[r * Sp:(r + 1) * Sp]
                        m = _row_max(sr, nj, zero)
                        if m == -math.inf or m != m:
                            m = zero  # exps of 0 for an all -inf row (0/0, as the composed softmax); NaN stays NaN
                        for j in range(njp):  # whole vectors: LLVM's vector loop, not its scalar tail
                            sr[j] = vexp(sr[j] - m)
                        tot = _row_sum(sr, nj, zero)
                        lse[bh * L + i] = m + math.log(tot)
                        if direct:
                            _rows_times(sr, 0, nj, v, v0, vsl, Evp, o, 0)
                        else:
                            _rows_times(sr, 0, nj, Vp, 0, Evp, Evp, o, 0)
                        ro = b * osb + h * osh + i * osl
                        for c in range(Ev):
                            out[ro + c] = o[c] / tot
    return k


def make_sdpa_backward(par: bool):
    """(dq, dk, dv) through their (b, h, row) strides (geo[27:36]) of that attention for output
    gradient g; geo = B H L S E Ev, then offset and (b, h, row) strides of g, q, k, v, out, then lse's
    offset. Query rows go in groups of 4: each dV and dK row is read and written once per group."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(g, q, kb, v, o, lse, geo, dq, dk, dv, causal, scale, zero):
        B, H, L, S, E, Ev = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
        W = lanes(q)
        Sp, Ep, Evp = _pad(S, W), _pad(E, W), _pad(Ev, W)
        nh = B * H
        nch = _chunks(nh, par)
        for ch in prange(nch):
            KT = np.zeros(E * Sp, q.dtype)  # padding stays 0
            VT = np.zeros(Ev * Sp, q.dtype)
            Kp = np.zeros(S * Ep, q.dtype)
            dK = np.empty(S * Ep, q.dtype)
            dV = np.empty(S * Evp, q.dtype)
            p = np.zeros(4 * Sp, q.dtype)  # a group's weights, then dS in dp
            dp = np.zeros(4 * Sp, q.dtype)
            qs = np.zeros(4 * Ep, q.dtype)
            go = np.zeros(4 * Evp, q.dtype)
            acc = np.empty(Ep, q.dtype)
            dr = np.empty(4, q.dtype)  # the group's row sums of dO * O
            for bh in range(ch * nh // nch, (ch + 1) * nh // nch):
                b, h = bh // H, bh % H
                g0 = geo[6] + b * geo[7] + h * geo[8]
                q0 = geo[10] + b * geo[11] + h * geo[12]
                k0 = geo[14] + b * geo[15] + h * geo[16]
                v0 = geo[18] + b * geo[19] + h * geo[20]
                o0 = geo[22] + b * geo[23] + h * geo[24]
                gsl, qsl, ksl, vsl, osl = geo[9], geo[13], geo[17], geo[21], geo[25]
                l0 = geo[26] + bh * L
                _load_kt(kb, k0, ksl, S, E, Sp, KT)
                direct = E % W == 0  # K's rows are whole vectors: read them in place, no padded copy
                _load_kt(v, v0, vsl, S, Ev, Sp, VT)
                if not direct:
                    for j in range(S):
                        for e in range(E):
                            Kp[j * Ep + e] = kb[k0 + j * ksl + e]
                dK[:] = 0
                dV[:] = 0
                for i0 in range(0, L, 4):
                    nr = min(4, L - i0)
                    jt = _keys(causal, i0 + nr - 1, S)  # keys the group's last row sees
                    for r in range(4):  # a last group's missing rows repeat row L - 1: values nobody reads
                        i = min(i0 + r, L - 1)
                        _copy_scaled(q, q0 + i * qsl, E, scale, qs, r * Ep)
                        _copy(g, g0 + i * gsl, Ev, go, r * Evp)
                    # the rows' sums of dO * O, in order, four chains side by side
                    oa = o0 + i0 * osl
                    ob = o0 + min(i0 + 1, L - 1) * osl
                    oc = o0 + min(i0 + 2, L - 1) * osl
                    od = o0 + min(i0 + 3, L - 1) * osl
                    d0 = d1 = d2 = d3 = zero
                    for c in range(Ev):
                        d0 += go[c] * o[oa + c]
                        d1 += go[Evp + c] * o[ob + c]
                        d2 += go[2 * Evp + c] * o[oc + c]
                        d3 += go[3 * Evp + c] * o[od + c]
                    dr[0], dr[1], dr[2], dr[3] = d0, d1, d2, d3
                    # the group's 4 rows at once (a last group's missing rows give values nobody reads)
                    _scores4(qs, Ep, E, KT, Sp, _pad(jt, W), p)
                    _scores4(go, Evp, Ev, VT, Sp, _pad(jt, W), dp)
                    for r in range(nr):
                        i = i0 + r
                        nj = _keys(causal, i, S)
                        njp = _pad(nj, W)
                        li = lse[l0 + i]
                        d = dr[r]
                        pr = p[r * Sp:(r + 1) * Sp]
                        dpr = dp[r * Sp:(r + 1) * Sp]
                        for j in range(njp):  # the forward's weights (whole vectors)
                            pr[j] = vexp(pr[j] - li)
                        for j in range(njp):
                            dpr[j] = pr[j] * (dpr[j] - d)  # dS
                        for j in range(nj, jt):  # keys this row does not see: no share in dV, dK
                            pr[j] = 0
                            dpr[j] = 0
                        if direct:
                            _rows_times(dp, r * Sp, nj, kb, k0, ksl, Ep, acc, 0)
                        else:
                            _rows_times(dp, r * Sp, nj, Kp, 0, Ep, Ep, acc, 0)
                        _copy_scaled(acc, 0, E, scale, dq, b * geo[27] + h * geo[28] + i * geo[29])
                    for j in range(jt):  # dV += P^T dO, dK += dS^T (scale q) over the group's rows
                        for c in range(0, Evp, W):
                            a = vload(dV, j * Evp + c)
                            for r in range(nr):
                                a = vfma(a, vsplat(p[r * Sp + j]), vload(go, r * Evp + c))
                            vstore(dV, j * Evp + c, a)
                        for e in range(0, Ep, W):
                            a = vload(dK, j * Ep + e)
                            for r in range(nr):
                                a = vfma(a, vsplat(dp[r * Sp + j]), vload(qs, r * Ep + e))
                            vstore(dK, j * Ep + e, a)
                for j in range(S):
                    rk = b * geo[30] + h * geo[31] + j * geo[32]
                    rv = b * geo[33] + h * geo[34] + j * geo[35]
                    _copy(dK, j * Ep, E, dk, rk)
                    _copy(dV, j * Evp, Ev, dv, rv)
    return k


_KERNELS: dict = {}  # (maker, parallel) -> the compiled-on-first-call kernel


def _kernel(make: Any, par: bool) -> Any:
    k = _KERNELS.get((make, par))
    if k is None:
        k = _KERNELS[(make, par)] = make(par)
    return k


def _parallel(B: int, H: int, L: int, S: int, feats: int, causal: bool, par_min: int) -> bool:
    """Whether a kernel takes the parallel build: heads split across threads once its multiply-adds
    (about L * keys * features per head) reach par_min (the backend's matmul threshold)."""
    keys = (S + 1) // 2 if causal else S
    return B * H > 1 and B * H * L * keys * feats >= par_min


def sdpa(checks: ViewChecks, par_min: int, q: np.ndarray, q_view: View, k: np.ndarray, k_view: View,
         v: np.ndarray, v_view: View, out_view: View, causal: bool, scale: float, dtype: DType) -> tuple:
    """The backend's `sdpa` (protocol.py): (out written through out_view, contiguous (B, H, L) lse)."""
    B, H, L, S, E, Ev = sdpa_shapes(checks, q, q_view, k, k_view, v, v_view, dtype, "sdpa")
    out = empty(result_size("numba", out_view, (B, H, L, Ev), "sdpa out"), q.dtype)
    lse = empty(B * H * L, q.dtype)
    geo = np.array([B, H, L, S, E, Ev] + bhr(q_view) + bhr(k_view) + bhr(v_view), np.int64)
    t = q.dtype.type
    os_ = out_view.strides
    _kernel(make_sdpa, _parallel(B, H, L, S, E + Ev, causal, par_min))(
        q, k, v, geo, out, os_[0], os_[1], os_[2], lse, bool(causal), t(scale), t(0))
    return out, lse


def sdpa_backward(checks: ViewChecks, par_min: int, g: np.ndarray, g_view: View, q: np.ndarray, q_view: View,
                  k: np.ndarray, k_view: View, v: np.ndarray, v_view: View, o: np.ndarray, o_view: View,
                  lse: np.ndarray, lse_view: View, dq_view: View, dk_view: View, dv_view: View, causal: bool,
                  scale: float, dtype: DType) -> tuple:
    """The backend's `sdpa_backward` (protocol.py): (dq, dk, dv) written through the given result views."""
    B, H, L, S, E, Ev = sdpa_backward_shapes(checks, g, g_view, q, q_view, k, k_view, v, v_view, o, o_view,
                                             lse, lse_view, dtype)
    dq = empty(result_size("numba", dq_view, (B, H, L, E), "sdpa_backward dq"), q.dtype)
    dk = empty(result_size("numba", dk_view, (B, H, S, E), "sdpa_backward dk"), q.dtype)
    dv = empty(result_size("numba", dv_view, (B, H, S, Ev), "sdpa_backward dv"), q.dtype)
    geo = np.array([B, H, L, S, E, Ev] + bhr(g_view) + bhr(q_view) + bhr(k_view) + bhr(v_view) + bhr(o_view)
                   + [lse_view.offset] + list(dq_view.strides[:3]) + list(dk_view.strides[:3])
                   + list(dv_view.strides[:3]), np.int64)
    t = q.dtype.type
    _kernel(make_sdpa_backward, _parallel(B, H, L, S, 2 * (E + Ev), causal, par_min))(
        g, q, k, v, o, lse, geo, dq, dk, dv, bool(causal), t(scale), t(0))
    return dq, dk, dv
