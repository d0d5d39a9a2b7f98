"""Direct convolution on the zero-padded grid, for the numba backend's conv2d with unit stride and
dilation (`direct_ok`; numba_conv's im2col and GEMM kernels take the rest).

On the padded input xp (channels of hp rows of width wp), output position t = oh * wp + ow of
channel r is sum over q = (c, i, j) of W[r, q] * xp[off[q] + t] with off[q] = (c * hp + i) * wp + j:
the im2col matrix's row q is the run of xp starting at off[q], so nothing is copied into columns.
The micro-kernel keeps a DR x (NV vectors) tile of outputs in registers and walks q: per q, NV
loads of xp and DR broadcasts of the packed weight. Positions with ow >= ow_ (the grid's extra
kw - 1 columns) are computed and dropped.

The input gradient is the same product on the gradient's grid: gxp[c, u] = sum over (r, i, j) of
W[r, c, i, j] * gy[r, u - i * wp - j], the grid of g shifted right by (kh - 1) * wp + kw - 1
zeros so every offset is nonnegative. The weight gradient gw[r, q] = sum over samples and t of
gy[r, t] * xp[off[q] + t] (g zero off the output) keeps a tile of GR x GQ vector sums across a
block of samples and adds their lanes once per block. The grids' zeros meet neighbouring values,
so a sample with a non-finite input (weight gradient) or a non-finite weight (input gradient)
takes exact loops over the output positions instead: 0 * inf must not turn an inf into NaN.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .numba_conv import _pad_sample
from .numba_matmul import copy_run, sum_run, zero_run
from .numba_simd import AVX512, lanes, vbcast, vfma, vhsum, vload, vstore, vzeros

# The tile: DR output channels x NV vectors; DR x NV accumulators, NV loads and one broadcast
# in flight fit the 32 zmm (16 ymm) registers.
DR, NV = (8, 2) if AVX512 else (6, 2)
GR, GQ = 4, 4  # the weight gradient's tile: GR channels x GQ columns of W, one vector sum each


# The backward runs here up to this many weights (OC * C*kh*kw): above, the weight gradient's 4x4
# tiles lose to the GEMM (Zen 5, one thread: 16x150 weights 1.8x faster here, 64x576 even,
# 128x1152 1.7x slower). The forward is faster here at every size measured (up to 128x1152: 1.3x).
BACKWARD_MAX_WEIGHTS = 1 << 15


def direct_ok(geo, backward: bool = False) -> bool:
    """Whether a convolution (numba_conv's geometry array) runs here: unit stride and dilation, the
    padded input inside the grid, and at most half of the grid's columns dropped (kw - 1 <= ow)."""
    c, h, w, kh, kw, ph, pw, oh, ow, oc = (int(geo[i]) for i in (1, 2, 3, 8, 9, 14, 15, 16, 17, 18))
    return (all(int(geo[i]) == 1 for i in (10, 11, 12, 13)) and ph >= 0 and pw >= 0 and oh > 0 and ow > 0
            and h + ph <= oh + kh - 1 and w + pw <= ow + kw - 1 and kw - 1 <= ow
            and (not backward or oc * c * kh * kw <= BACKWARD_MAX_WEIGHTS))


def _accumulators(rows: int, cols: int) -> list:
    """Source lines setting the rows x cols accumulators c{r}_{j} to the zero vector z."""
    return ["    " + " = ".join(f"c{r}_{j}" for j in range(cols)) + " = z" for r in range(rows)]


def _generate_direct(dr: int, nv: int) -> str:
    """Source of the dr x nv forward tile (unrolled, accumulators in locals, as numba_matmul's)."""
    out = ["@njit(inline=\"always\")",
           f"def _direct_{dr}x{nv}(wpk, wo, xp, off, tb, nq, grid, go, ldg):",
           f"    \"\"\"grid[go + r*ldg + tb + v] = sum_q wpk[wo + q*{dr} + r] * xp[off[q] + tb + v] (r < {dr}, v < {nv} vectors).\"\"\"",
           "    L = lanes(xp)",
           "    z = vzeros(xp)"]
    out += _accumulators(dr, nv)
    out += ["    for q in range(nq):", "        s = off[q] + tb", f"        qa = wo + q * {dr}"]
    for j in range(nv):
        out.append(f"        b{j} = vload(xp, s + {j} * L)")
    for r in range(dr):
        out.append(f"        a = vbcast(wpk, qa + {r})")
        for j in range(nv):
            out.append(f"        c{r}_{j} = vfma(c{r}_{j}, a, b{j})")
    for r in range(dr):
        for j in range(nv):
            out.append(f"    vstore(grid, go + {r} * ldg + tb + {j} * L, c{r}_{j})")
    return "\n".join(out) + "\n"


def _generate_wgrad(gr: int, gq: int) -> str:
    """Source of the gr x gq weight-gradient tile."""
    out = ["@njit(inline=\"always\")",
           f"def _wgrad_{gr}x{gq}(gyg, gs, go, gst, xp, xs, off, q0, nsamp, rl, acc, ao, ld):",
           f"    \"\"\"acc[ao + r*ld + k] += sum over s < nsamp, t < rl of gyg[s*gs + go + r*gst + t] *",
           f"    xp[s*xs + off[q0 + k] + t] (r < {gr}, k < {gq}), the lanes added once at the end.\"\"\"",
           "    L = lanes(xp)",
           "    z = vzeros(xp)"]
    out += _accumulators(gr, gq)
    for k in range(gq):
        out.append(f"    o{k} = off[q0 + {k}]")
    out += ["    for s in range(nsamp):", "        gb = s * gs + go", "        xb = s * xs",
            "        for t in range(0, rl, L):"]
    for k in range(gq):
        out.append(f"            x{k} = vload(xp, xb + o{k} + t)")
    for r in range(gr):
        out.append(f"            g = vload(gyg, gb + {r} * gst + t)")
        for k in range(gq):
            out.append(f"            c{r}_{k} = vfma(c{r}_{k}, g, x{k})")
    for r in range(gr):
        for k in range(gq):
            out.append(f"    acc[ao + {r} * ld + {k}] += vhsum(c{r}_{k})")
    return "\n".join(out) + "\n"


def _build(src: str, name: str):
    names = {"njit": njit, "lanes": lanes, "vzeros": vzeros, "vload": vload, "vbcast": vbcast,
             "vfma": vfma, "vstore": vstore, "vhsum": vhsum}
    exec(compile(src, f"<numba_conv_direct {name}>", "exec"), names)
    return names[name]


_DIRECT = _build(_generate_direct(DR, NV), f"_direct_{DR}x{NV}")
_WGRAD = _build(_generate_wgrad(GR, GQ), f"_wgrad_{GR}x{GQ}")


@njit(inline="always")
def _pack_rows(w, woff, rows, rstride, cstride, nq, dr, dst):
    """dst[(b * nq + q) * dr + r] = w[woff + (b*dr + r) * rstride + q * cstride], 0 for rows >= rows:
    blocks of dr rows of a (rows, nq) matrix packed q-major."""
    nb = (rows + dr - 1) // dr
    for b in range(nb):
        for q in range(nq):
            for r in range(dr):
                row = b * dr + r
                dst[(b * nq + q) * dr + r] = w[woff + row * rstride + q * cstride] if row < rows else w[woff] * 0


@njit(inline="always")
def _grid_dims(g, L):
    """(wp, hp, per-channel grid length rounded up to NV vectors, output positions rounded up)."""
    wp = g[17] + g[9] - 1
    hp = g[16] + g[8] - 1
    T = NV * L
    return wp, hp, (hp * wp + T - 1) // T * T, (g[16] * wp + T - 1) // T * T


def make_conv2d_direct(par: bool):
    """conv2d as numba_conv.make_conv2d (same arguments but nb, unused here), for the grid case."""
    @njit(cache=True, parallel=par)
    def k(g, x, xoff, w, woff, bias, boff, has_bias, out, nb, nchunks):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        nn, cc, oc, kh, kw = g[0], g[1], g[18], g[8], g[9]
        ckk = cc * kh * kw
        oh_, ow_ = g[16], g[17]
        l = oh_ * ow_
        L = lanes(out)
        wp, hp, _, lgp = _grid_dims(g, L)
        nob = (oc + DR - 1) // DR
        wpk = np.empty(nob * ckk * DR, out.dtype)
        _pack_rows(w, woff, oc, ckk, 1, ckk, DR, wpk)
        off = np.empty(ckk, np.int64)
        for q in range(ckk):
            off[q] = ((q // (kh * kw)) * hp + (q % (kh * kw)) // kw) * wp + q % kw
        for t in prange(nchunks):
            xp = np.empty(cc * hp * wp + kw + NV * L, out.dtype)  # the tail: reads for dropped positions
            grid = np.empty(nob * DR * lgp, out.dtype)
            for n in range(t * nn // nchunks, (t + 1) * nn // nchunks):
                _pad_sample(g, x, xoff, n, wp, xp)
                for ob in range(nob):
                    for tb in range(0, lgp, NV * L):
                        _DIRECT(wpk, ob * ckk * DR, xp, off, tb, ckk, grid, ob * DR * lgp, lgp)
                for r in range(oc):
                    v = bias[boff + r] if has_bias else out[0] * 0
                    for oh in range(oh_):
                        ov = out[(n * oc + r) * l + oh * ow_:(n * oc + r) * l + (oh + 1) * ow_]
                        gv = grid[r * lgp + oh * wp:r * lgp + oh * wp + ow_]
                        for i in range(ow_):
                            ov[i] = gv[i] + v if has_bias else gv[i]
    return k


@njit(inline="always")
def _finite(a, n):
    """Whether a[:n] holds no inf or NaN (x * 0 is NaN exactly for those)."""
    z = a[0] * 0 if n else 0.0
    for i in range(n):
        z += a[i] * 0
    return z == 0


@njit(inline="always")
def _zero_grid(g, grid, base, rs, wp):
    """Zero the output positions of one sample's gradient grid (rows r at base + r * rs)."""
    for r in range(g[18]):
        for oh in range(g[16]):
            zero_run(grid, base + r * rs + oh * wp, g[17])


@njit(inline="always")
def _gw_exact(g, grid, base, rs, xp, off, wp, acc, ld):
    """acc[r * ld + q] += the weight gradient of one sample over its output positions only."""
    for r in range(g[18]):
        for q in range(g[1] * g[8] * g[9]):
            for oh in range(g[16]):
                for ow in range(g[17]):
                    acc[r * ld + q] += grid[base + r * rs + oh * wp + ow] * xp[off[q] + oh * wp + ow]


@njit(inline="always")
def _gx_exact(g, w, woff, grid, base, rs, wp, gxg, ugp):
    """One sample's input gradient on the grid (channel rows ugp apart) from the valid pairs only."""
    cc, kh, kw, oc = g[1], g[8], g[9], g[18]
    gxg[:] = 0
    for r in range(oc):
        for c in range(cc):
            for i in range(kh):
                for j in range(kw):
                    wv = w[woff + ((r * cc + c) * kh + i) * kw + j]
                    for oh in range(g[16]):
                        for ow in range(g[17]):
                            gxg[c * ugp + (oh + i) * wp + ow + j] += wv * grid[base + r * rs + oh * wp + ow]


def make_conv2d_backward_direct(par: bool):
    """conv2d's gradients as numba_conv.make_conv2d_backward (same arguments; nb samples per block of
    the weight gradient), for the grid case."""
    @njit(cache=True, parallel=par)
    def k(g, x, xoff, w, woff, gy, goff, gx, gw_parts, gb_parts, need_x, need_w, need_b, nb, nchunks):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        nn, cc, hh, ww, oc, kh, kw = g[0], g[1], g[2], g[3], g[18], g[8], g[9]
        ph, pw = g[14], g[15]
        kk = kh * kw
        ckk = cc * kk
        oh_, ow_ = g[16], g[17]
        l = oh_ * ow_
        L = lanes(gy)
        T = NV * L
        wp, hp, ugp, lgp = _grid_dims(g, L)
        shift = (kh - 1) * wp + kw - 1
        rs = shift + ugp + T  # a row of the shifted gradient grid: shift zeros, then the positions
        ocp = (oc + GR - 1) // GR * GR
        gs = ocp * rs  # a sample's gradient grid
        xs = cc * hp * wp + kw + T  # a sample's padded input (and its tail)
        ckp = (ckk + GQ - 1) // GQ * GQ
        # the input gradient's weights: (C, OC*kh*kw), W[r, c, i, j] at row c, column (r, i, j)
        ncb = (cc + DR - 1) // DR
        nq2 = oc * kk
        wpk = np.empty(ncb * nq2 * DR if need_x else 1, gy.dtype)
        off2 = np.empty(nq2, np.int64)
        if need_x:
            for cb in range(ncb):
                for q in range(nq2):
                    for rr in range(DR):
                        c = cb * DR + rr
                        wpk[(cb * nq2 + q) * DR + rr] = (w[woff + (q // kk) * ckk + c * kk + q % kk] if c < cc
                                                         else w[woff] * 0)
            for q in range(nq2):  # column (r, i, j): run of the shifted grid of row r
                off2[q] = (q // kk) * rs + shift - ((q % kk) // kw) * wp - q % kw
        off = np.zeros(ckp, np.int64)  # the weight gradient's columns q = (c, i, j); padding reads 0
        for q in range(ckk):
            off[q] = ((q // kk) * hp + (q % kk) // kw) * wp + q % kw
        # The grids hold zeros off the output, multiplied by the neighbouring values: an inf or NaN
        # there would turn such a zero term into NaN. A sample with a non-finite input (the weight
        # gradient) or a non-finite weight (the input gradient) takes the exact loops instead.
        w_finite = _finite(w[woff:woff + oc * ckk], oc * ckk)
        for t in prange(nchunks):
            ggrid = np.zeros(nb * gs, gy.dtype)
            xpb = np.empty(nb * xs if need_w else 1, gy.dtype)
            gxg = np.empty(ncb * DR * ugp if need_x else 1, gy.dtype)
            acc = np.zeros(ocp * ckp if need_w else 1, gy.dtype)
            for i in range(oc if need_b else 0):
                gb_parts[t * oc + i] = 0
            s_end = (t + 1) * nn // nchunks
            for b0 in range(t * nn // nchunks, s_end, nb):
                b1 = min(b0 + nb, s_end)
                m = 0  # block slots in use: the samples whose weight gradient the tile kernel sums
                for n in range(b0, b1):
                    go_ = m * gs
                    for r in range(oc):  # the sample's gradient on the grid (zeros stay off the output)
                        for oh in range(oh_):
                            copy_run(ggrid, go_ + r * rs + shift + oh * wp, gy, goff + (n * oc + r) * l + oh * ow_,
                                     ow_)
                    if need_b:
                        for r in range(oc):
                            gb_parts[t * oc + r] += sum_run(gy, goff + (n * oc + r) * l, l)
                    if need_x:
                        if w_finite:
                            for cb in range(ncb):
                                for tb in range(0, ugp, T):
                                    _DIRECT(wpk, cb * nq2 * DR, ggrid[go_:go_ + gs], off2, tb, nq2, gxg,
                                            cb * DR * ugp, ugp)
                        else:
                            _gx_exact(g, w, woff, ggrid, go_ + shift, rs, wp, gxg, ugp)
                        for c in range(cc):
                            for ih in range(hh):
                                copy_run(gx, ((n * cc + c) * hh + ih) * ww, gxg, c * ugp + (ih + ph) * wp + pw, ww)
                    keep = False
                    if need_w:
                        xpv = xpb[m * xs:(m + 1) * xs]
                        _pad_sample(g, x, xoff, n, wp, xpv)
                        keep = _finite(xpv, cc * hp * wp)
                        if not keep:
                            _gw_exact(g, ggrid, go_ + shift, rs, xpv, off, wp, acc, ckp)
                    if keep:
                        m += 1
                    else:
                        _zero_grid(g, ggrid, go_ + shift, rs, wp)
                if m:
                    for rb in range(0, ocp, GR):
                        for q0 in range(0, ckp, GQ):
                            _WGRAD(ggrid, gs, rb * rs + shift, rs, xpb, xs, off, q0, m, lgp, acc, rb * ckp + q0, ckp)
                for j in range(m):  # the next block's grids: zero the positions written
                    _zero_grid(g, ggrid, j * gs + shift, rs, wp)
            if need_w:
                for r in range(oc):
                    for q in range(ckk):
                        gw_parts[t * oc * ckk + r * ckk + q] = acc[r * ckp + q]
    return k
