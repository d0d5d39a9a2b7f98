"""Fused scaled-dot-product attention of the numba backend (optional kernels `sdpa`, `sdpa_backward`;
see backends/protocol.py).

One head (b, h) per prange task, one query row at a time, in per-task scratch: K^T (and V^T) copied
once per head so that a row's scores are E (Ev) contiguous axpys over its keys, which LLVM
vectorizes; under a causal mask a row stops at its last key. The forward keeps each row's logsumexp,
and the backward recomputes the weights from it (P = exp(s - lse)), accumulating a head's dK and dV
over its rows. Serial and parallel builds like every other kernel; no `reassoc` (the vectorized exp
relies on its argument reduction), so the few row sums run in order.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .numba_elementwise import vexp

FM = {"contract", "nsz"}


@njit(inline="always")
def _keys(causal, i, S):
    """How many keys query row i sees."""
    return i + 1 if causal and i + 1 < S else S


@njit(inline="always")
def _scores(q, qrow, E, scale, KT, nj, s):
    """s[j] = (scale * q row) . k_j for j < nj (scale rounded into q first, as the composed path)."""
    for j in range(nj):
        s[j] = 0
    for e in range(E):
        qe = q[qrow + e] * scale
        kt = KT[e]
        for j in range(nj):
            s[j] += qe * kt[j]


def make_sdpa(par: bool):
    """out rows through (osb, osh, osl) and lse (B, H, L) of softmax(scale q k^T [causal]) v;
    geo = B H L S E Ev, then offset and (b, h, row) strides of q, k, v."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(q, kb, v, geo, out, osb, osh, osl, lse, causal, scale, zero):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        B, H, L, S, E, Ev = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
        for bh in prange(B * H):
            b, h = bh // H, bh % H
            q0 = geo[6] + b * geo[7] + h * geo[8]
            k0 = geo[10] + b * geo[11] + h * geo[12]
            v0 = geo[14] + b * geo[15] + h * geo[16]
            qsl, ksl, vsl = geo[9], geo[13], geo[17]
            KT = np.empty((E, S), q.dtype)
            for j in range(S):
                for e in range(E):
                    KT[e, j] = kb[k0 + j * ksl + e]
            s = np.empty(S, q.dtype)
            acc = np.empty(Ev, q.dtype)
            for i in range(L):
                nj = _keys(causal, i, S)
                _scores(q, q0 + i * qsl, E, scale, KT, nj, s)
                m = s[0]
                for j in range(1, nj):
                    x = s[j]
                    m = x if (x > m or x != x) else m
                if m == -math.inf or m != m:
                    m = zero  # exps of 0 for an all -inf row (0/0, as the composed softmax); NaN stays NaN
                tot = zero
                for j in range(nj):
                    p = vexp(s[j] - m)
                    s[j] = p
                    tot += p
                lse[bh * L + i] = m + math.log(tot)
                for c in range(Ev):
                    acc[c] = 0
                for j in range(nj):
                    p = s[j]
                    vr = v0 + j * vsl
                    for c in range(Ev):
                        acc[c] += p * v[vr + c]
                o = b * osb + h * osh + i * osl
                for c in range(Ev):
                    out[o + c] = acc[c] / tot
    return k


def make_sdpa_backward(par: bool):
    """(dq, dk, dv) through their (b, h, row) strides (geo[27:36]) of that attention for output
    gradient g; geo = B H L S E Ev, then offset and (b, h, row) strides of g, q, k, v, out, then lse's
    offset."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(g, q, kb, v, o, lse, geo, dq, dk, dv, causal, scale, zero):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        B, H, L, S, E, Ev = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
        for bh in prange(B * H):
            b, h = bh // H, bh % H
            g0 = geo[6] + b * geo[7] + h * geo[8]
            q0 = geo[10] + b * geo[11] + h * geo[12]
            k0 = geo[14] + b * geo[15] + h * geo[16]
            v0 = geo[18] + b * geo[19] + h * geo[20]
            o0 = geo[22] + b * geo[23] + h * geo[24]
            gsl, qsl, ksl, vsl, osl = geo[9], geo[13], geo[17], geo[21], geo[25]
            l0 = geo[26] + bh * L
            KT = np.empty((E, S), q.dtype)
            VT = np.empty((Ev, S), q.dtype)
            Kr = np.empty((S, E), q.dtype)
            for j in range(S):
                for e in range(E):
                    x = kb[k0 + j * ksl + e]
                    KT[e, j] = x
                    Kr[j, e] = x
                for c in range(Ev):
                    VT[c, j] = v[v0 + j * vsl + c]
            dK = np.zeros((S, E), q.dtype)
            dV = np.zeros((S, Ev), q.dtype)
            p = np.empty(S, q.dtype)
            dp = np.empty(S, q.dtype)
            qs = np.empty(E, q.dtype)
            go = np.empty(Ev, q.dtype)
            acc = np.empty(E, q.dtype)
            for i in range(L):
                nj = _keys(causal, i, S)
                for e in range(E):
                    qs[e] = q[q0 + i * qsl + e] * scale
                d = zero
                for c in range(Ev):
                    x = g[g0 + i * gsl + c]
                    go[c] = x
                    d += x * o[o0 + i * osl + c]
                _scores(q, q0 + i * qsl, E, scale, KT, nj, p)
                li = lse[l0 + i]
                for j in range(nj):
                    p[j] = vexp(p[j] - li)  # the forward's weights
                    dp[j] = 0
                for c in range(Ev):
                    gc = go[c]
                    vt = VT[c]
                    for j in range(nj):
                        dp[j] += gc * vt[j]
                for j in range(nj):
                    dp[j] = p[j] * (dp[j] - d)  # dS
                for e in range(E):
                    acc[e] = 0
                for j in range(nj):
                    pj, sj = p[j], dp[j]
                    dvj, dkj, kj = dV[j], dK[j], Kr[j]
                    for c in range(Ev):
                        dvj[c] += pj * go[c]
                    for e in range(E):
                        dkj[e] += sj * qs[e]
                        acc[e] += sj * kj[e]
                r = b * geo[27] + h * geo[28] + i * geo[29]
                for e in range(E):
                    dq[r + e] = acc[e] * scale
            for j in range(S):
                rk = b * geo[30] + h * geo[31] + j * geo[32]
                rv = b * geo[33] + h * geo[34] + j * geo[35]
                for e in range(E):
                    dk[rk + e] = dK[j, e]
                for c in range(Ev):
                    dv[rv + c] = dV[j, c]
    return k
