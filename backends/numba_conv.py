"""The numba backend's convolution and pooling kernels.

`add_into`: dst[dst view] += src[src view] where the destination view may overlap itself (the
sum of sliding windows, the backward of convolution and pooling).

The serial kernel walks the views in row-major order, so contributions to one element add up
one after another. The parallel build splits dim 0 across threads; the caller takes it only when
dim 0's sub-views are disjoint in the destination (protocol.first_dim_disjoint).

`make_conv2d` / `make_conv2d_backward`: a 2-d convolution per sample, im2col into a scratch
(C*kh*kw, oh*ow) block and the serial GEMM writing the sample's (OC, oh*ow) block of the NCHW
result (bias added), the samples split over `nchunks` chunks (the parallel build: one per
thread; each chunk sums its own weight and bias gradient, added up in chunk order).
`make_max_pool2d` / `make_max_pool2d_backward`: max-pooling values and flat int64 indices in one
pass (a NaN wins, the window's last; ties keep the first maximum) and the scatter-add of the
gradient by those indices, planes split over threads. geo holds N C H W, x strides (4), kh kw,
stride (2), dilation (2), leading padding (2), oh ow (and OC for the convolution).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .numba_matmul import add_run, copy_run, make_gemm, sum_run, zero_run

_GEMM1 = make_gemm(False)  # the serial GEMM, one per sample inside the kernels below
GRID_WASTE = 4  # the column grid when its kw - 1 extra columns per row are at most ow / GRID_WASTE


@njit(cache=True, inline="always")
def _add_rows(dst, doff, dstrides, src, soff, sstrides, shape, lo):
    """The serial walk over dims lo.. of shape (an odometer over all but the last dim)."""
    nd = shape.size
    n = shape[nd - 1]
    ds = dstrides[nd - 1]
    ss = sstrides[nd - 1]
    rows = 1
    for d in range(lo, nd - 1):
        rows *= shape[d]
    idx = np.zeros(nd, np.int64)
    pd = doff
    ps = soff
    for _ in range(rows):
        if ds == 1 and ss == 1:
            for i in range(n):
                dst[pd + i] += src[ps + i]
        else:
            for i in range(n):
                dst[pd + i * ds] += src[ps + i * ss]
        for d in range(nd - 2, lo - 1, -1):
            idx[d] += 1
            pd += dstrides[d]
            ps += sstrides[d]
            if idx[d] < shape[d]:
                break
            pd -= shape[d] * dstrides[d]
            ps -= shape[d] * sstrides[d]
            idx[d] = 0


@njit(cache=True)
def add_into(dst, doff, dstrides, src, soff, sstrides, shape):
    """Serial: every element of the view shape, in row-major order."""
    _add_rows(dst, doff, dstrides, src, soff, sstrides, shape, 0)


@njit(cache=True, parallel=True)
def add_into_par(dst, doff, dstrides, src, soff, sstrides, shape):
    """Dim 0 split across threads (its sub-views must not overlap in dst); serial within each."""
    for i in prange(shape[0]):
        _add_rows(dst, doff + i * dstrides[0], dstrides, src, soff + i * sstrides[0], sstrides, shape, 1)


@njit(cache=True, inline="always")
def _in_bounds_columns(g, j):
    """(base, lo, hi) for kernel column j: output columns [lo, hi) read input column base + ow * stride
    inside the row; the others fall into the padding."""
    ow_ = g[17]
    base = j * g[13] - g[15]
    lo = 0
    hi = ow_
    while lo < ow_ and base + lo * g[11] < 0:
        lo += 1
    while hi > lo and base + (hi - 1) * g[11] >= g[3]:
        hi -= 1
    return base, lo, hi


@njit(cache=True, inline="always")
def _im2col_sample(g, x, xoff, n, cols, coff, ld):
    """cols[coff + q*ld + (oh, ow)] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] for row q = (c, i, j),
    0 in the padding."""
    oh_, ow_, kw = g[16], g[17], g[9]
    kk = g[8] * kw
    for q in range(g[1] * kk):
        c = q // kk
        i = (q % kk) // kw
        j = q % kw
        base, lo, hi = _in_bounds_columns(g, j)
        plane = xoff + n * g[4] + c * g[5]
        for oh in range(oh_):
            o = coff + q * ld + oh * ow_
            ih = oh * g[10] - g[14] + i * g[12]
            if ih < 0 or ih >= g[2]:
                for ow in range(ow_):
                    cols[o + ow] = 0
                continue
            row = plane + ih * g[6]
            for ow in range(lo):
                cols[o + ow] = 0
            if g[11] == 1 and g[7] == 1:  # unit stride along the row: a plain copy LLVM vectorizes
                copy_run(cols, o + lo, x, row + base + lo, hi - lo)
            else:
                for ow in range(lo, hi):
                    cols[o + ow] = x[row + (base + ow * g[11]) * g[7]]
            for ow in range(hi, ow_):
                cols[o + ow] = 0


@njit(cache=True, inline="always")
def _sample_columns(g, x, xoff, n, wp, xp, cols, j, lg, l, ld):
    """Sample n's im2col columns into column block j of cols: through the zero-padded grid xp (row
    width wp) when wp, else straight from x."""
    if wp:
        _pad_sample(g, x, xoff, n, wp, xp)
        _im2col_grid(g, xp, wp, cols, j * lg, ld)
    else:
        _im2col_sample(g, x, xoff, n, cols, j * l, ld)


@njit(cache=True, inline="always")
def _col2im_sample(g, cols, coff, ld, gx, goff):
    """gx[goff + (c, ih, iw)] += the column entries (row q at coff + q*ld) that view that position."""
    oh_, ow_, kw = g[16], g[17], g[9]
    kk = g[8] * kw
    hw = g[2] * g[3]
    for q in range(g[1] * kk):
        c = q // kk
        i = (q % kk) // kw
        j = q % kw
        base, lo, hi = _in_bounds_columns(g, j)
        for oh in range(oh_):
            ih = oh * g[10] - g[14] + i * g[12]
            if ih < 0 or ih >= g[2]:
                continue
            s = coff + q * ld + oh * ow_
            row = goff + c * hw + ih * g[3]
            if g[11] == 1:
                add_run(gx, row + base + lo, cols, s + lo, hi - lo)
            else:
                for ow in range(lo, hi):
                    gx[row + base + ow * g[11]] += cols[s + ow]


@njit(cache=True, inline="always")
def _grid_width(g):
    """Row width of the column grid: ow + kw - 1 (the padded input's width) when the convolution
    has unit stride and dilation, nonnegative paddings on both sides and few wasted columns
    (GRID_WASTE), else 0 (the exact im2col). On that grid, column (oh, t) of row (c, i, j) is
    padded-input element (c, oh + i, t + j): one contiguous run of oh*width elements per row,
    and the t >= ow columns are computed and dropped."""
    kh, kw, oh_, ow_ = g[8], g[9], g[16], g[17]
    wp = ow_ + kw - 1
    if (g[10] != 1 or g[11] != 1 or g[12] != 1 or g[13] != 1 or g[14] < 0 or g[15] < 0
            or g[2] + g[14] > oh_ + kh - 1 or g[3] + g[15] > wp or (kw - 1) * GRID_WASTE > ow_):
        return 0
    return wp


@njit(cache=True, inline="always")
def _pad_sample(g, x, xoff, n, wp, xp):
    """xp[c, r, s] (rows of width wp, oh + kh - 1 rows per channel, kw spare zeros at the end) =
    x[n, c, r - ph, s - pw], 0 outside the input."""
    hp = g[16] + g[8] - 1
    hh, ww = g[2], g[3]
    zero_run(xp, 0, xp.size)
    for c in range(g[1]):
        for ih in range(hh):
            src = xoff + n * g[4] + c * g[5] + ih * g[6]
            dst = (c * hp + ih + g[14]) * wp + g[15]
            if g[7] == 1:
                copy_run(xp, dst, x, src, ww)
            else:
                for iw in range(ww):
                    xp[dst + iw] = x[src + iw * g[7]]


@njit(cache=True, inline="always")
def _im2col_grid(g, xp, wp, cols, coff, ld):
    """cols[coff + q*ld + t] = xp[c, i + t // wp, j + t % wp] for row q = (c, i, j), t < oh*wp."""
    hp = g[16] + g[8] - 1
    kw = g[9]
    kk = g[8] * kw
    lg = g[16] * wp
    for q in range(g[1] * kk):
        copy_run(cols, coff + q * ld, xp, (q // kk) * hp * wp + ((q % kk) // kw) * wp + q % kw, lg)


@njit(cache=True, inline="always")
def _col2im_grid(g, cols, coff, ld, wp, gxp, gx, goff):
    """gx[goff + (c, ih, iw)] = the sum of the grid columns that view padded position (c, ih + ph,
    iw + pw) (gxp: scratch of the padded input's size)."""
    hp = g[16] + g[8] - 1
    kw = g[9]
    kk = g[8] * kw
    lg = g[16] * wp
    zero_run(gxp, 0, gxp.size)
    for q in range(g[1] * kk):
        add_run(gxp, (q // kk) * hp * wp + ((q % kk) // kw) * wp + q % kw, cols, coff + q * ld, lg)
    hh, ww = g[2], g[3]
    for c in range(g[1]):
        for ih in range(hh):
            copy_run(gx, goff + (c * hh + ih) * ww, gxp, (c * hp + ih + g[14]) * wp + g[15], ww)


def make_conv2d(par: bool):
    """out (contiguous N, OC, oh, ow) = conv2d(x, w (OC, C*kh*kw) at woff) + bias (when has_bias);
    blocks of nb samples share one GEMM (their columns side by side), chunk t of nchunks takes
    the blocks [t*nblk/nchunks, (t+1)*nblk/nchunks)."""
    @njit(cache=True, parallel=par)
    def k(g, x, xoff, w, woff, bias, boff, has_bias, out, nb, nchunks):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        nn, oc = g[0], g[18]
        ckk = g[1] * g[8] * g[9]
        l = g[16] * g[17]
        wp = _grid_width(g)
        lg = g[16] * wp if wp else l  # columns per sample
        rw = wp if wp else g[17]  # their row width
        nblk = (nn + nb - 1) // nb
        for t in prange(nchunks):
            cols = np.empty(ckk * nb * lg, out.dtype)
            tmp = np.empty(oc * nb * lg, out.dtype)
            xp = np.empty(g[1] * (g[16] + g[8] - 1) * wp + g[9] if wp else 1, out.dtype)
            aoff = np.full(1, woff, np.int64)
            zero = np.zeros(1, np.int64)
            for blk in range(t * nblk // nchunks, (t + 1) * nblk // nchunks):
                s0 = blk * nb
                s1 = min(s0 + nb, nn)
                ld = (s1 - s0) * lg
                for n in range(s0, s1):
                    _sample_columns(g, x, xoff, n, wp, xp, cols, n - s0, lg, l, ld)
                _GEMM1(w, aoff, ckk, 1, cols, zero, ld, 1, tmp, oc, ld, ckk, 1)
                for n in range(s0, s1):
                    for r in range(oc):
                        v = bias[boff + r] if has_bias else tmp[0] * 0
                        for oh in range(g[16]):
                            ov = out[(n * oc + r) * l + oh * g[17]:(n * oc + r) * l + (oh + 1) * g[17]]
                            tv = tmp[r * ld + (n - s0) * lg + oh * rw:r * ld + (n - s0) * lg + oh * rw + g[17]]
                            for i in range(g[17]):
                                ov[i] = tv[i] + v if has_bias else tv[i]
    return k


def make_conv2d_backward(par: bool):
    """gx (contiguous NCHW, when need_x), and per chunk t gw_parts[t] (OC*C*kh*kw) and gb_parts[t]
    (OC) (when need_w / need_b) of conv2d, for a contiguous (N, OC, oh, ow) g at goff; chunk t
    takes the samples [t*N/nchunks, (t+1)*N/nchunks) in blocks of nb sharing one GEMM."""
    @njit(cache=True, parallel=par)
    def k(g, x, xoff, w, woff, gy, goff, gx, gw_parts, gb_parts, need_x, need_w, need_b, nb, nchunks):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        nn, oc, c = g[0], g[18], g[1]
        ckk = c * g[8] * g[9]
        l = g[16] * g[17]
        chw = c * g[2] * g[3]
        wp = _grid_width(g)
        lg = g[16] * wp if wp else l  # columns per sample
        rw = wp if wp else g[17]  # their row width
        for t in prange(nchunks):
            cols = np.empty(ckk * nb * lg, gy.dtype)
            gblk = np.empty(oc * nb * lg, gy.dtype)
            xp = np.empty(c * (g[16] + g[8] - 1) * wp + g[9] if wp else 1, gy.dtype)
            tmp = np.empty(oc * ckk if need_w else 1, gy.dtype)
            one = np.empty(1, np.int64)
            zero = np.zeros(1, np.int64)
            for i in range(oc * ckk if need_w else 0):
                gw_parts[t * oc * ckk + i] = 0
            for i in range(oc if need_b else 0):
                gb_parts[t * oc + i] = 0
            s_end = (t + 1) * nn // nchunks
            for b0 in range(t * nn // nchunks, s_end, nb):
                b1 = min(b0 + nb, s_end)
                ld = (b1 - b0) * lg
                for n in range(b0, b1):  # the block's g as (OC, m*L), matching its columns (0 off the output)
                    for r in range(oc):
                        for oh in range(g[16]):
                            dst = r * ld + (n - b0) * lg + oh * rw
                            copy_run(gblk, dst, gy, goff + (n * oc + r) * l + oh * g[17], g[17])
                            zero_run(gblk, dst + g[17], rw - g[17])
                if need_w:
                    for n in range(b0, b1):
                        _sample_columns(g, x, xoff, n, wp, xp, cols, n - b0, lg, l, ld)
                    _GEMM1(gblk, zero, ld, 1, cols, zero, 1, ld, tmp, oc, ckk, ld, 1)
                    add_run(gw_parts, t * oc * ckk, tmp, 0, oc * ckk)
                if need_b:
                    for r in range(oc):
                        gb_parts[t * oc + r] += sum_run(gblk, r * ld, ld)
                if need_x:
                    one[0] = woff
                    _GEMM1(w, one, 1, ckk, gblk, zero, ld, 1, cols, ckk, ld, oc, 1)
                    for n in range(b0, b1):
                        if wp:
                            _col2im_grid(g, cols, (n - b0) * lg, ld, wp, xp, gx, n * chw)
                        else:
                            zero_run(gx, n * chw, chw)
                            _col2im_sample(g, cols, (n - b0) * l, ld, gx, n * chw)
    return k


def make_max_pool2d(par: bool):
    """out and idx (contiguous N, C, oh, ow): each window's max over the in-bounds entries and its
    flat index ih * W + iw; is_float: NaN checks (False for int64, whose init is its minimum)."""
    @njit(cache=True, parallel=par)
    def k(g, x, xoff, out, idx, init, is_float):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        # geo in locals: out and idx stores could alias g (idx is int64 too), so reading g inside
        # the loops reloads it after every store
        cc, hh, ww = g[1], g[2], g[3]
        sn, sc, sh, sw = g[4], g[5], g[6], g[7]
        kh, kw, st_h, st_w, dh, dw, ph, pw = g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
        oh_, ow_ = g[16], g[17]
        l = oh_ * ow_
        unit = dh == 1 and dw == 1
        # 2x2 windows inside the input (no padding, unit dilation): the window's four loads unrolled
        two = (kh == 2 and kw == 2 and unit and ph == 0 and pw == 0 and (oh_ - 1) * st_h + 2 <= hh
               and (ow_ - 1) * st_w + 2 <= ww)
        for p in prange(g[0] * cc):
            plane = xoff + (p // cc) * sn + (p % cc) * sc
            if two:
                for oh in range(oh_):
                    ih = oh * st_h
                    r0 = plane + ih * sh
                    o = p * l + oh * ow_
                    for ow in range(ow_):
                        iw = ow * st_w
                        a, b = x[r0 + iw * sw], x[r0 + (iw + 1) * sw]
                        c, d = x[r0 + sh + iw * sw], x[r0 + sh + (iw + 1) * sw]
                        q = ih * ww + iw
                        m, mi = a, q
                        mi = q + 1 if b > m else mi
                        m = b if b > m else m
                        mi = q + ww if c > m else mi
                        m = c if c > m else m
                        mi = q + ww + 1 if d > m else mi
                        m = d if d > m else m
                        if is_float and (a != a or b != b or c != c or d != d):
                            # the last NaN in window order wins
                            mi = q + ww + 1 if d != d else (q + ww if c != c else (q + 1 if b != b else q))
                            m = x[plane + (mi // ww) * sh + (mi % ww) * sw]
                        out[o + ow] = m
                        idx[o + ow] = mi
                continue
            for oh in range(oh_):
                h0 = oh * st_h - ph
                h1 = min(h0 + (kh - 1) * dh + 1, hh)
                while h0 < 0:
                    h0 += dh
                for ow in range(ow_):
                    w0 = ow * st_w - pw
                    w1 = min(w0 + (kw - 1) * dw + 1, ww)
                    while w0 < 0:
                        w0 += dw
                    m = init
                    mi = h0 * ww + w0
                    ni = -1
                    # two select chains (max, last NaN): a combined test compiles to branches
                    # that random data mispredicts. Unit dilation gets loops with a constant step.
                    if unit:
                        for ih in range(h0, h1):
                            row = plane + ih * sh
                            for iw in range(w0, w1):
                                v = x[row + iw * sw]
                                q = ih * ww + iw
                                mi = q if v > m else mi
                                m = v if v > m else m
                                if is_float:
                                    ni = q if v != v else ni
                    else:
                        for ih in range(h0, h1, dh):
                            row = plane + ih * sh
                            for iw in range(w0, w1, dw):
                                v = x[row + iw * sw]
                                q = ih * ww + iw
                                mi = q if v > m else mi
                                m = v if v > m else m
                                if is_float:
                                    ni = q if v != v else ni
                    if ni >= 0:
                        m = x[plane + (ni // ww) * sh + (ni % ww) * sw]
                        mi = ni
                    out[p * l + oh * ow_ + ow] = m
                    idx[p * l + oh * ow_ + ow] = mi
    return k


def make_max_pool2d_backward(par: bool):
    """out (P, hw) = 0, then out[p, idx[p, i]] += g[p, i] over contiguous (P, l) g and idx; an
    index outside [0, hw) is skipped and counted (the count is returned)."""
    @njit(cache=True, parallel=par)
    def k(gy, goff, idx, ioff, out, planes, hw, l):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        bad = 0
        for p in prange(planes):
            for i in range(p * hw, (p + 1) * hw):
                out[i] = 0
            for i in range(l):
                j = idx[ioff + p * l + i]
                if 0 <= j < hw:
                    out[p * hw + j] += gy[goff + p * l + i]
                else:
                    bad += 1
        return bad
    return k
