"""Optional fused kernels of the numba backend (see backends/protocol.py, "Optional fused kernels").

relu_backward, softmax_backward, axpy and cross_entropy, each one pass over memory where the
core's composition takes two to five primitives. Serial and parallel builds like every other
kernel (fixed-size tasks, nothing that defeats the disk cache). No `reassoc` anywhere here: the
vectorized exp (numba_elementwise.vexp) relies on its two-part argument reduction, and axpy
must round `alpha * x` before the add (so no `contract` there either).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .numba_elementwise import verf, vexp
from .numba_index import chunk_bounds, n_chunks, numel, offset_of
from .numba_simd import lanes, prefer_wide, vadd, vhsum, vload, vmul, vsplat, vstore, vwiden, vzeros

FM = {"contract", "nsz"}


def make_relu_backward(par: bool):
    """out[i] = g[go + i] if y[yo + i] > 0 else 0 (a NaN in y gives 0)."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(g, go, y, yo, out, n, zero):
        nch = n_chunks(n, par)
        for c in prange(nch):
            lo, hi = chunk_bounds(n, nch, c)
            gv = g[go + lo:go + hi]
            yv = y[yo + lo:yo + hi]
            o = out[lo:hi]
            for i in range(hi - lo):
                o[i] = gv[i] if yv[i] > 0 else zero
    return k


def make_axpy(par: bool):
    """y[yo + i] += alpha * x[xo + i], the product rounded to the dtype first (no FMA)."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(y, yo, x, xo, alpha, n):
        nch = n_chunks(n, par)
        for c in prange(nch):
            lo, hi = chunk_bounds(n, nch, c)
            yv = y[yo + lo:yo + hi]
            xv = x[xo + lo:xo + hi]
            for i in range(hi - lo):
                yv[i] = yv[i] + xv[i] * alpha
    return k


@njit(inline="always")
def _row_shift(xv, cols):
    """The row max used to shift before exp: 0 for an all -inf row or a row with a NaN."""
    m = xv[0]
    for j in range(1, cols):
        v = xv[j]
        m = v if (v > m or v != v) else m
    if m == -math.inf or m != m:
        m = xv[0] * 0
    return m


def make_softmax_backward(log: bool, par: bool):
    """Per row: log: g - exp(y) * sum(g); else y * (g - sum(g * y)). Rows of `cols`, contiguous."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(g, go, y, yo, rows, cols, out):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        for r in prange(rows):
            gv = g[go + r * cols:go + (r + 1) * cols]
            yv = y[yo + r * cols:yo + (r + 1) * cols]
            o = out[r * cols:(r + 1) * cols]
            s = 0.0
            if log:
                for j in range(cols):
                    s += gv[j]
                for j in range(cols):
                    o[j] = gv[j] - vexp(yv[j]) * s
            else:
                for j in range(cols):
                    s += gv[j] * yv[j]
                for j in range(cols):
                    o[j] = yv[j] * (gv[j] - s)
    return k


def make_cross_entropy(want_grad: bool, par: bool):
    """loss[r] = logsumexp(x[r]) - x[r, t[r]]; with want_grad grad[r] = softmax(x[r]) - onehot."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM)
    def k(x, xo, rows, cols, t, to, loss, grad):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        for r in prange(rows):
            xv = x[xo + r * cols:xo + (r + 1) * cols]
            m = _row_shift(xv, cols)
            s = 0.0
            if want_grad:
                gv = grad[r * cols:(r + 1) * cols]
                for j in range(cols):  # no sum in this loop: LLVM vectorizes the exps
                    gv[j] = vexp(xv[j] - m)
                s = _sum_f64(gv, cols, m, False)  # (m: unused)
            else:
                for j in range(cols):
                    s += vexp(xv[j] - m)
            tj = t[to + r]
            loss[r] = (m + math.log(s)) - xv[tj]
            if want_grad:
                inv = 1.0 / s
                for j in range(cols):
                    gv[j] = gv[j] * inv
                gv[tj] -= 1
    return k


def make_adam_step(par: bool):
    """One Adam/AdamW update in place (protocol.py, `adam_step`): the float32 count step[so] is
    incremented first, the bias corrections come from it in float64, every scalar is rounded to
    the parameters' dtype and each element follows PyTorch's order of roundings (without the
    fmas of its vectorized lerp and add(alpha=), which numba cannot be asked for)."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(p, po, g, go, m, mo, v, vo, n, step, so, lr, beta1, beta2, eps, wd, decoupled, maximize):
        t = step[so] + np.float32(1)
        step[so] = t
        bc1 = 1.0 - beta1 ** np.float64(t)
        bc2 = 1.0 - beta2 ** np.float64(t)
        c = np.empty(10, p.dtype)  # the scalars rounded to the dtype, as PyTorch passes them
        c[0] = -1.0 if maximize else 1.0
        c[1] = 1.0 - lr * wd if decoupled else 1.0
        c[2] = 0.0 if decoupled else wd
        c[3] = 1.0 - beta1
        c[4] = beta2
        c[5] = 1.0 - beta2
        c[6] = bc2 ** 0.5
        c[7] = eps
        c[8] = -(lr / bc1)
        c[9] = 1.0
        sgn, decay, l2, coeff, b2, w2, bc2s, e, neg_ss = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
        small = abs(coeff) < 0.5  # lerp's two forms: m + w * (g - m), or g + (w - 1) * (g - m)
        if not small:
            coeff = coeff - c[9]
        nch = n_chunks(n, par)
        for ch in prange(nch):
            lo, hi = chunk_bounds(n, nch, ch)
            pv = p[po + lo:po + hi]
            gv = g[go + lo:go + hi]
            mv = m[mo + lo:mo + hi]
            vv = v[vo + lo:vo + hi]
            for i in range(hi - lo):
                gi = gv[i] * sgn
                pi = pv[i] * decay
                if l2 != 0:
                    gi = gi + pi * l2
                mi = mv[i]
                d = gi - mi
                mi = (mi if small else gi) + coeff * d
                vi = vv[i] * b2
                vi = vi + (w2 * gi) * gi
                denom = np.sqrt(vi) / bc2s + e
                mv[i] = mi
                vv[i] = vi
                pv[i] = pi + (neg_ss * mi) / denom
    return k


def make_gelu(backward: bool, par: bool):
    """Exact GELU over a flat run: x * (half * (one + erf(x * alpha))); with `backward` the input
    gradient g * (cdf + x * (exp(-half * x * x) * beta)), cdf as in the forward. The constants
    come in the dtype (alpha = 1/sqrt 2, beta = 1/sqrt(2 pi)) so float32 stays float32."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(g, go, x, xo, out, n, half, one, alpha, beta):
        nch = n_chunks(n, par)
        for c in prange(nch):
            prefer_wide()  # 512-bit vectors where the CPU has them (the erf is compute-bound)
            lo, hi = chunk_bounds(n, nch, c)
            xv = x[xo + lo:xo + hi]
            o = out[lo:hi]
            if backward:
                gv = g[go + lo:go + hi]
                for i in range(hi - lo):
                    xi = xv[i]
                    cdf = half * (one + verf(xi * alpha))
                    pdf = vexp(-half * xi * xi) * beta
                    o[i] = gv[i] * (cdf + xi * pdf)
            else:
                for i in range(hi - lo):
                    xi = xv[i]
                    o[i] = xi * (half * (one + verf(xi * alpha)))
    return k


@njit(inline="always")
def _sum_f64(xv, n, m, sq):
    """sum(xv[:n]) (sq False) or sum((xv[:n] - m) ** 2) (sq True; each difference and square rounded in
    the dtype) in float64: each vector of elements widened and added to one of two float64 vector sums,
    the rest one by one. Another order than a serial loop (as the c backend's vector sums): equal to it
    within float64 rounding."""
    W = lanes(xv)
    a = vwiden(vzeros(xv))
    b = a
    nm = vsplat(-m)  # x + (-m) is x - m, rounded alike
    j = 0
    while j + 2 * W <= n:
        x0, x1 = vload(xv, j), vload(xv, j + W)
        if sq:
            x0, x1 = vadd(x0, nm), vadd(x1, nm)
            x0, x1 = vmul(x0, x0), vmul(x1, x1)
        a = vadd(a, vwiden(x0))
        b = vadd(b, vwiden(x1))
        j += 2 * W
    if j + W <= n:
        x0 = vload(xv, j)
        if sq:
            x0 = vadd(x0, nm)
            x0 = vmul(x0, x0)
        a = vadd(a, vwiden(x0))
        j += W
    t = vhsum(vadd(a, b))
    while j < n:
        c = xv[j] - m if sq else xv[j]
        t += c * c if sq else c
        j += 1
    return t


@njit(inline="always")
def _ln_bw_sums(gv, xv, w, wo, has_w, n, m, rs):
    """(sum(d), sum(d * xhat)) over a row in float64, d = g * w (or g), xhat = (x - m) * rs, every product
    rounded in the dtype; vector sums as _sum_f64."""
    W = lanes(xv)
    a = vwiden(vzeros(xv))
    b = a
    nm, rv = vsplat(-m), vsplat(rs)
    j = 0
    while j + W <= n:
        d = vload(gv, j)
        if has_w:
            d = vmul(d, vload(w, wo + j))
        a = vadd(a, vwiden(d))
        b = vadd(b, vwiden(vmul(d, vmul(vadd(vload(xv, j), nm), rv))))
        j += W
    s1 = vhsum(a)
    s2 = vhsum(b)
    while j < n:
        d = gv[j] * w[wo + j] if has_w else gv[j]
        s1 += d
        s2 += d * ((xv[j] - m) * rs)
        j += 1
    return s1, s2


@njit(inline="always")
def _ln_col_sums(g, go, x, xo, rows, cols, mean, rstd, lo, hi, dw, want_dw, db, want_db):
    """dw[j] = sum over rows of g * xhat, db[j] = sum of g, for lo <= j < hi, in float64 and in row order,
    every product rounded in the dtype: a vector of columns at a time, its float64 sums in registers over
    all the rows; the last columns one by one."""
    W = lanes(x)
    tw = np.empty(W)
    tb = np.empty(W)
    c = lo
    while c <= hi - W:
        aw = vwiden(vzeros(x))
        ab = aw
        for r in range(rows):
            gv = vload(g, go + r * cols + c)
            xh = vmul(vadd(vload(x, xo + r * cols + c), vsplat(-mean[r])), vsplat(rstd[r]))
            aw = vadd(aw, vwiden(vmul(gv, xh)))
            ab = vadd(ab, vwiden(gv))
        vstore(tw, 0, aw)
        vstore(tb, 0, ab)
        for j in range(W):
            if want_dw:
                dw[c + j] = tw[j]
            if want_db:
                db[c + j] = tb[j]
        c += W
    for j in range(c, hi):
        sw = 0.0
        sb = 0.0
        for r in range(rows):
            gj = g[go + r * cols + j]
            sw += gj * ((x[xo + r * cols + j] - mean[r]) * rstd[r])
            sb += gj
        if want_dw:
            dw[j] = sw
        if want_db:
            db[j] = sb


LN_GROUP = 8  # rows per task of the layer norm forward (see the kernel)


def make_layer_norm(par: bool):
    """Layer norm over rows of (rows, cols) (protocol.py, `layer_norm`): sums in float64; mean and
    var rounded to the dtype by their stores into mean[r] and rstd[r]; out = (x - mean) * rstd,
    then * w and + b when has_w / has_b (w, b are (cols,) runs, any buffer otherwise)."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(x, xo, rows, cols, w, wo, has_w, b, bo, has_b, eps, one, out, mean, rstd):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        for gi in prange((rows + LN_GROUP - 1) // LN_GROUP):
            # a group's means, then its rstds, then its rows: the rows' chains of dependent sums,
            # divisions and square roots overlap
            r0 = gi * LN_GROUP
            r1 = min(r0 + LN_GROUP, rows)
            for r in range(r0, r1):
                mean[r] = _sum_f64(x[xo + r * cols:xo + (r + 1) * cols], cols, one, False) / cols  # (one: unused)
            for r in range(r0, r1):
                rstd[r] = _sum_f64(x[xo + r * cols:xo + (r + 1) * cols], cols, mean[r], True) / cols
                rstd[r] = one / np.sqrt(rstd[r] + eps)
            wv = w[wo:wo + cols] if has_w else w  # runs from 0: w[wo + j] (an index that might be
            bv = b[bo:bo + cols] if has_b else b  # negative to numba) keeps LLVM from vectorizing
            for r in range(r0, r1):
                xv = x[xo + r * cols:xo + (r + 1) * cols]
                o = out[r * cols:(r + 1) * cols]
                m, rs = mean[r], rstd[r]
                for j in range(cols):
                    y = (xv[j] - m) * rs
                    if has_w:
                        y = y * wv[j]
                    if has_b:
                        y = y + bv[j]
                    o[j] = y
    return k


def make_layer_norm_backward(par: bool):
    """Layer norm's gradients (protocol.py, `layer_norm_backward`): dx per row (its two row sums in
    float64), then dw / db (when want_dw / want_db) as column sums in float64, split over column blocks."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(g, go, x, xo, rows, cols, mean, rstd, w, wo, has_w, dx, dw, want_dw, db, want_db):
        for r in prange(rows):
            xv = x[xo + r * cols:xo + (r + 1) * cols]
            gv = g[go + r * cols:go + (r + 1) * cols]
            o = dx[r * cols:(r + 1) * cols]
            m, rs = mean[r], rstd[r]
            wv = w[wo:wo + cols] if has_w else w  # runs from 0, as in the forward
            s1, s2 = _ln_bw_sums(gv, xv, wv, 0, has_w, cols, m, rs)
            m1 = s1 / cols
            m2 = s2 / cols
            for j in range(cols):
                d = gv[j] * wv[j] if has_w else gv[j]
                o[j] = rs * (d - m1 - ((xv[j] - m) * rs) * m2)
        if want_dw or want_db:
            nch = n_chunks(cols, par)
            for c in prange(nch):
                lo, hi = chunk_bounds(cols, nch, c)
                _ln_col_sums(g, go, x, xo, rows, cols, mean, rstd, lo, hi, dw, want_dw, db, want_db)
    return k


@njit(cache=True)
def first_bad_index(index, ioff, istrides, shape, size):
    """Position (flat, row-major) of the first index outside [0, size) in the view, or -1."""
    nd = len(shape)
    total = numel(shape, nd)
    inner = shape[nd - 1]
    if total == 0:
        return -1
    si = istrides[nd - 1]
    for row in range(total // inner):
        t = row * inner
        q = offset_of(t, shape, istrides, ioff, nd)  # once per row, then stepped along the last dim
        for j in range(inner):
            v = index[q + j * si]
            if v < 0 or v >= size:
                return t + j
    return -1
