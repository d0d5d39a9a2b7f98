"""Convolution, pooling and normalization: every op against a numpy reference written here, on
every backend; gradients by central differences (tg.gradcheck, float64, small shapes);
non-contiguous inputs; error messages; PyTorch as an extra oracle and for state_dict interop."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_like as tg
from tinygrad_like import nn
from tinygrad_like.ops.conv import fold_windows

from helpers import assert_close, from_np, to_np

F = nn.functional
RNG = np.random.default_rng(1234)


def rand(*shape, dtype="float64"):
    return RNG.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- numpy references

def np_pad2(x, pads, value=0.0):
    return np.pad(x, ((0, 0), (0, 0)) + tuple(pads), constant_values=value)


def np_conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """Cross-correlation as a sum over kernel offsets of strided slices (einsum per offset)."""
    xp = np_pad2(x, pads)
    n, c, h, wd = xp.shape
    oc, cg, kh, kw = w.shape
    oh = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, oc, oh, ow))
    ocg = oc // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilation[0], j * dilation[1]
                patch = xp[:, g * cg:(g + 1) * cg, r0:r0 + stride[0] * (oh - 1) + 1:stride[0],
                           c0:c0 + stride[1] * (ow - 1) + 1:stride[1]]
                out[:, g * ocg:(g + 1) * ocg] += np.einsum("nchw,oc->nohw", patch, w[g * ocg:(g + 1) * ocg, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def np_windows(xp, k, s, d=(1, 1)):
    """(N, C, OH, OW, KH*KW) windows of an already padded array."""
    n, c, h, w = xp.shape
    oh = (h - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w - d[1] * (k[1] - 1) - 1) // s[1] + 1
    parts = [xp[:, :, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0], j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]]
             for i in range(k[0]) for j in range(k[1])]
    return np.stack(parts, -1)


def np_conv_transpose2d(x, w, stride, pad, out_pad, dilation):
    n, cin, h, wd = x.shape
    _, oc, kh, kw = w.shape
    fh = (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + out_pad[0]
    fw = (wd - 1) * stride[1] + dilation[1] * (kw - 1) + 1 + out_pad[1]
    out = np.zeros((n, oc, fh, fw))
    for i in range(kh):
        for j in range(kw):
            contrib = np.einsum("nchw,co->nohw", x, w[:, :, i, j])
            r0, c0 = i * dilation[0], j * dilation[1]
            out[:, :, r0:r0 + stride[0] * (h - 1) + 1:stride[0], c0:c0 + stride[1] * (wd - 1) + 1:stride[1]] += contrib
    return out[:, :, pad[0]:fh - pad[0], pad[1]:fw - pad[1]]


# ---------------------------------------------------------------- the window view and add_into

def test_view_windows_geometry():
    v = tg.view.View.contiguous((2, 3, 7, 6)).windows((3, 2), (2, 1), (1, 2))
    assert v.shape == (2, 3, 3, 4, 3, 2)
    assert v.strides == (126, 42, 12, 1, 6, 2)
    with pytest.raises(tg.ShapeError, match="spans 5 elements"):
        tg.view.View.contiguous((4, 4)).windows((3, 3), (1, 1), (2, 2))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_add_into_sums_overlapping_windows(dtype):
    # fold_windows = zeros + add_into through an overlapping window view: each input element
    # receives every window entry that views it
    g = (RNG.integers(-5, 5, (2, 3, 4, 2, 3, 2)) if dtype == "int64" else rand(2, 3, 4, 2, 3, 2)).astype(dtype)
    out = fold_windows(from_np(g, dtype), (2, 3, 6, 5), (3, 2), (1, 2), (1, 2))
    ref = np.zeros((2, 3, 6, 5), dtype)
    for i in range(4):
        for j in range(2):
            for a in range(3):
                for b in range(2):
                    ref[:, :, i + a, 2 * j + 2 * b] += g[:, :, i, j, a, b]
    assert_close(out, ref, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_im2col_matches_the_window_view(backend, dtype):
    # a backend's optional im2col kernel gives the columns of the composed path (pad, windows, copy)
    from tinygrad_like import fused_kernels
    from tinygrad_like.ops.conv import im2col
    x = from_np(rand(3, 2, 7, 9), dtype).permute(0, 1, 3, 2)[:, :, ::2, :]  # strided, non-contiguous
    for kernel, stride, dilation, pads in [((3, 2), (1, 2), (2, 1), ((1, 2), (0, 1))), ((2, 2), (2, 2), (1, 1), ((0, 0), (0, 0))),
                                           ((1, 3), (1, 1), (1, 3), ((2, 2), (3, 3)))]:
        size = tuple((s + lo + hi - d * (k - 1) - 1) // st + 1
                     for s, (lo, hi), k, st, d in zip(x.shape[2:], pads, kernel, stride, dilation))
        fused = fused_kernels.fused_im2col(x, kernel, stride, dilation, tuple(lo for lo, _ in pads), size)
        if fused is None:
            pytest.skip(f"the {backend} backend has no fused im2col")
        ref = np_windows(np_pad2(to_np(x).astype(np.float64), pads), kernel, stride, dilation)  # (N, C, OH, OW, KK)
        ref = ref.transpose(1, 4, 0, 2, 3).reshape(-1, ref.shape[0] * ref.shape[2] * ref.shape[3])
        assert_close(fused, ref.astype(dtype), dtype)
        x.requires_grad_(True)  # the composed path, as under create_graph
        assert_close(im2col(x, kernel, stride, dilation, pads, batch_inner=True)[0], ref.astype(dtype), dtype)
        x.requires_grad_(False)


def test_add_into_primitive_zero_stride_destination(backend):
    # the protocol allows any self-overlap, including a zero stride: all three rows land on one row
    be = tg.backends.load(backend)
    dst = tg.zeros(4, dtype=tg.float64)
    src = from_np(np.arange(12.0).reshape(3, 4))
    be.add_into(dst._buf, tg.view.View((3, 4), (0, 1), 0), src._buf, src._view, tg.float64)
    assert dst.tolist() == [12.0, 15.0, 18.0, 21.0]
    col = tg.zeros(3, dtype=tg.float64)
    be.add_into(col._buf, tg.view.View((3, 4), (1, 0), 0), src._buf, src._view, tg.float64)
    assert col.tolist() == [6.0, 22.0, 38.0]


def test_add_into_parallel_path_large():
    # large enough for the parallel kernels (dim 0 disjoint): same sums as numpy
    g = rand(64, 8, 14, 14, 3, 3, dtype="float32")
    out = fold_windows(tg.tensor(g), (64, 8, 16, 16), (3, 3), (1, 1), (1, 1))
    ref = np.zeros((64, 8, 16, 16), np.float32)
    for a in range(3):
        for b in range(3):
            ref[:, :, a:a + 14, b:b + 14] += g[..., a, b]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- convolution values

CONV_CASES = [  # (x shape, w shape, stride, padding, dilation, groups, bias)
    ((2, 3, 7, 6), (4, 3, 3, 2), 1, 0, 1, 1, True),
    ((1, 2, 8, 7), (3, 2, 3, 3), (2, 1), (1, 2), 1, 1, False),
    ((2, 4, 9, 9), (4, 2, 3, 3), 2, 1, (2, 1), 2, True),
    ((1, 3, 5, 6), (6, 1, 3, 3), 1, "same", 1, 3, True),     # depthwise, 'same'
    ((2, 2, 6, 5), (2, 2, 2, 4), 1, "same", (2, 1), 1, True),  # even kernel: asymmetric 'same' padding
    ((1, 2, 5, 5), (3, 2, 5, 5), 1, "valid", 1, 1, True),     # kernel as large as the input
]


def _pads(padding, kshape, stride, dilation):
    k = kshape[2:]
    d = (dilation,) * 2 if isinstance(dilation, int) else dilation
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        tot = [dd * (kk - 1) for kk, dd in zip(k, d)]
        return tuple((t // 2, t - t // 2) for t in tot)
    p = (padding,) * 2 if isinstance(padding, int) else padding
    return tuple((q, q) for q in p)


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_matches_numpy(case, dtype):
    xs, ws, stride, padding, dilation, groups, bias = case
    x, w, b = rand(*xs), rand(*ws), rand(ws[0])
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    ref = np_conv2d(x, w, b if bias else None, pair(stride), _pads(padding, ws, stride, dilation), pair(dilation), groups)
    out = F.conv2d(from_np(x, dtype), from_np(w, dtype), from_np(b, dtype) if bias else None, stride, padding,
                   dilation, groups)
    assert_close(out, ref.astype(dtype), dtype, rtol=1e-4 if dtype == "float32" else None,
                 atol=1e-4 if dtype == "float32" else None)
    assert out.is_contiguous()  # NCHW like PyTorch, so .view() works on it


def test_conv2d_non_contiguous_input_and_weight():
    x = rand(2, 5, 6, 3)  # stored NHWC, used as NCHW through a permute
    base = rand(2, 3, 4, 5)  # a flipped and sliced kernel
    out = F.conv2d(from_np(x).permute(0, 3, 1, 2), from_np(base)[:, :, ::-1, :3], padding=1)
    assert_close(out, np_conv2d(x.transpose(0, 3, 1, 2), base[:, :, ::-1, :3], pads=((1, 1), (1, 1))), "float64")


@given(n=st.integers(1, 4), c=st.integers(1, 5), oc=st.integers(1, 19), h=st.integers(1, 10), wd=st.integers(1, 10),
       kh=st.integers(1, 4), kw=st.integers(1, 4), ph=st.integers(0, 2), pw=st.integers(0, 2),
       dtype=st.sampled_from(["float32", "float64"]), bias=st.booleans(), seed=st.integers(0, 99))
@settings(max_examples=20, deadline=None)
def test_conv2d_unit_stride_values_and_gradients_on_permuted_views(n, c, oc, h, wd, kh, kw, ph, pw, dtype, bias, seed):
    """Stride and dilation 1 (the direct kernels of c and numba), the input an NHWC buffer seen as
    NCHW: forward, and input, weight and bias gradients, against numpy in float64."""
    oh, ow = h + 2 * ph - kh + 1, wd + 2 * pw - kw + 1
    if oh < 1 or ow < 1:
        return
    rng = np.random.default_rng(seed)
    x, w, b, g = (rng.standard_normal(s) for s in ((n, h, wd, c), (oc, c, kh, kw), (oc,), (n, oc, oh, ow)))
    X = from_np(x, dtype).permute(0, 3, 1, 2).requires_grad_()
    W, B = from_np(w, dtype, requires_grad=True), from_np(b, dtype, requires_grad=True)
    out = F.conv2d(X, W, B if bias else None, padding=(ph, pw))
    (out * from_np(g, dtype)).sum().backward()
    xn = x.transpose(0, 3, 1, 2)
    pads = ((ph, ph), (pw, pw))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else {}
    assert_close(out, np_conv2d(xn, w, b if bias else None, pads=pads).astype(dtype), dtype, **tol)
    # gradients: d/dx is the full correlation of g with the flipped kernel; d/dw correlates x with g
    gx = np_conv2d(g, np.flip(w, (2, 3)).swapaxes(0, 1), pads=((kh - 1,) * 2, (kw - 1,) * 2))[:, :, ph:ph + h, pw:pw + wd]
    gw = np_conv2d(np_pad2(xn, pads).swapaxes(0, 1), g.swapaxes(0, 1)).swapaxes(0, 1)
    assert_close(X.grad, gx.astype(dtype), dtype, **tol)
    assert_close(W.grad, gw.astype(dtype), dtype, **tol)
    if bias:
        assert_close(B.grad, g.sum((0, 2, 3)).astype(dtype), dtype, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_gradients_with_an_inf_keep_it_inf(dtype):
    """An inf in the input (weight gradient) or the weight (input gradient) gives inf where it
    meets the gradient, and never a NaN from a padding zero: only the valid pairs are summed."""
    n, c, h, wd, oc, k, p = 2, 3, 6, 5, 4, 3, 1
    x, w, g = rand(n, c, h, wd), rand(oc, c, k, k), rand(n, oc, h, wd)
    x[1, 2, 5, 4] = np.inf
    w[3, 1, 0, 2] = -np.inf
    X, W = from_np(x, dtype, requires_grad=True), from_np(w, dtype, requires_grad=True)
    (F.conv2d(X, W, padding=p) * from_np(g, dtype)).sum().backward()
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    with np.errstate(invalid="ignore", over="ignore"):
        for a, r, q, i, j, oh, ow in np.ndindex(n, oc, c, k, k, h, wd):
            ih, iw = oh - p + i, ow - p + j
            if 0 <= ih < h and 0 <= iw < wd:  # a valid pair: input (ih, iw) under weight (i, j) at (oh, ow)
                gx[a, q, ih, iw] += w[r, q, i, j] * g[a, r, oh, ow]
                gw[r, q, i, j] += x[a, q, ih, iw] * g[a, r, oh, ow]
    assert np.isinf(gx).any() and np.isinf(gw).any()
    for got, ref in ((X.grad, gx), (W.grad, gw)):
        got = to_np(got)
        assert (np.isnan(got) == np.isnan(ref)).all() and (np.isinf(got) == np.isinf(ref)).all()
        fin = np.isfinite(ref)
        np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-4 if dtype == "float32" else 1e-10, atol=1e-4)


def test_conv2d_unbatched_and_conv1d():
    x, w, b = rand(3, 6, 5), rand(2, 3, 3, 3), rand(2)
    assert_close(F.conv2d(from_np(x), from_np(w), from_np(b), padding=1),
                 np_conv2d(x[None], w, b, pads=((1, 1), (1, 1)))[0], "float64")
    x1, w1 = rand(2, 4, 11), rand(6, 2, 3)
    out = F.conv1d(from_np(x1), from_np(w1), None, stride=2, padding=2, dilation=2, groups=2)
    ref = np_conv2d(x1[:, :, None, :], w1[:, :, None, :], None, (1, 2), ((0, 0), (2, 2)), (1, 2), 2)[:, :, 0]
    assert_close(out, ref, "float64")


def test_conv_transpose2d_matches_numpy():
    x, w, b = rand(2, 4, 3, 4), rand(4, 3, 3, 2), rand(3)
    out = F.conv_transpose2d(from_np(x), from_np(w), from_np(b), stride=(2, 3), padding=(1, 0),
                             output_padding=(1, 2), dilation=(1, 2))
    ref = np_conv_transpose2d(x, w, (2, 3), (1, 0), (1, 2), (1, 2)) + b.reshape(1, -1, 1, 1)
    assert_close(out, ref, "float64")
    # groups: each group maps its input channels to its output channels only
    wg = rand(4, 1, 2, 2)
    out = F.conv_transpose2d(from_np(x), from_np(wg), groups=2, stride=2)
    ref = np.concatenate([np_conv_transpose2d(x[:, 2 * g:2 * g + 2], wg[2 * g:2 * g + 2], (2, 2), (0, 0), (0, 0), (1, 1))
                          for g in range(2)], 1)
    assert_close(out, ref, "float64")


def test_unfold_and_fold_match_numpy():
    x = rand(2, 3, 6, 5)
    out = F.unfold(from_np(x), (2, 3), dilation=(2, 1), padding=1, stride=(1, 2))
    win = np_windows(np_pad2(x, ((1, 1), (1, 1))), (2, 3), (1, 2), (2, 1))  # (N, C, OH, OW, KK)
    ref = win.transpose(0, 1, 4, 2, 3).reshape(2, 3 * 6, -1)
    assert_close(out, ref, "float64")
    # fold(unfold(x)) multiplies each element by the number of windows that cover it
    ones = np.ones((1, 1, 6, 5))
    count = F.fold(F.unfold(from_np(ones), 3, padding=1), (6, 5), 3, padding=1)
    assert_close(F.fold(F.unfold(from_np(x), 3, padding=1), (6, 5), 3, padding=1), x * to_np(count), "float64")


# ---------------------------------------------------------------- pooling values

@pytest.mark.parametrize("k,s,p,d,ceil", [(2, None, 0, 1, False), (3, 2, 1, 1, False), ((2, 3), (1, 2), (1, 0), (2, 1), False),
                                           (3, 2, 1, 1, True), (2, 2, 0, 1, True)])
def test_max_pool2d_values_and_indices(k, s, p, d, ceil):
    x = rand(2, 3, 7, 6)
    kk = (k, k) if isinstance(k, int) else k
    ss = kk if s is None else (s, s) if isinstance(s, int) else s
    pp = (p, p) if isinstance(p, int) else p
    dd = (d, d) if isinstance(d, int) else d
    out, idx = F.max_pool2d(from_np(x), k, s, p, d, ceil, return_indices=True)
    # reference: pad with -inf (and ceil_mode's overhang), windows, max and flat index in the plane
    extra = [0, 0]
    if ceil:
        for i, n in enumerate(x.shape[2:]):
            ext = dd[i] * (kk[i] - 1) + 1
            o = -(-(n + 2 * pp[i] - ext) // ss[i]) + 1
            if (o - 1) * ss[i] >= n + pp[i]:
                o -= 1
            extra[i] = max(0, (o - 1) * ss[i] + ext - (n + 2 * pp[i]))
    xp = np_pad2(x, ((pp[0], pp[0] + extra[0]), (pp[1], pp[1] + extra[1])), -np.inf)
    win = np_windows(xp, kk, ss, dd)
    assert_close(out, win.max(-1), "float64")
    am = win.argmax(-1)
    oh, ow = win.shape[2:4]
    rows = np.arange(oh)[:, None] * ss[0] - pp[0] + (am // kk[1]) * dd[0]
    cols = np.arange(ow)[None, :] * ss[1] - pp[1] + (am % kk[1]) * dd[1]
    assert idx.dtype == tg.int64 and idx.tolist() == (rows * x.shape[3] + cols).tolist()


def test_max_pool2d_nan_propagates_and_1d():
    x = rand(1, 2, 4, 4)
    x[0, 1, 1, 0] = np.nan
    out = to_np(F.max_pool2d(from_np(x), 2))
    assert np.isnan(out[0, 1, 0, 0]) and not np.isnan(out[0, 0]).any()
    x1 = rand(2, 3, 9)
    ref = np_windows(np_pad2(x1[:, :, None, :], ((0, 0), (1, 1)), -np.inf), (1, 3), (1, 2)).max(-1)[:, :, 0]
    assert_close(F.max_pool1d(from_np(x1), 3, 2, 1), ref, "float64")


@pytest.mark.parametrize("k,s,p,ceil,include", [(2, None, 0, False, True), (3, 2, 1, False, True),
                                                 (3, 2, 1, False, False), (3, 2, 1, True, True), (3, 2, 1, True, False)])
def test_avg_pool2d_matches_numpy(k, s, p, ceil, include):
    x = rand(2, 3, 7, 6)
    out = F.avg_pool2d(from_np(x), k, s, p, ceil, include)
    ss = k if s is None else s
    extra = [0, 0]
    if ceil:
        for i, n in enumerate(x.shape[2:]):
            o = -(-(n + 2 * p - k) // ss) + 1
            if (o - 1) * ss >= n + p:
                o -= 1
            extra[i] = max(0, (o - 1) * ss + k - (n + 2 * p))
    pads = ((p, p + extra[0]), (p, p + extra[1]))
    sums = np_windows(np_pad2(x, pads), (k, k), (ss, ss)).sum(-1)
    mask = np.pad(np.ones(x.shape[2:]), ((p, p), (p, p)), constant_values=1.0 if include else 0.0)
    mask = np.pad(mask, ((0, extra[0]), (0, extra[1])))
    count = np_windows(mask[None, None], (k, k), (ss, ss)).sum(-1)
    assert_close(out, sums / count, "float64")
    assert_close(F.avg_pool2d(from_np(x), 2, divisor_override=3), np_windows(x, (2, 2), (2, 2)).sum(-1) / 3, "float64")


def test_avg_pool1d_and_adaptive_pools():
    x1 = rand(2, 3, 8)
    assert_close(F.avg_pool1d(from_np(x1), 2), x1.reshape(2, 3, 4, 2).mean(-1), "float64")
    x = rand(2, 3, 7, 5)
    for size in [(3, 2), (7, 5), 1, (None, 2), (4, 4)]:
        oh, ow = (size, size) if isinstance(size, int) else (7 if size[0] is None else size[0], size[1])
        ref_avg, ref_max = np.zeros((2, 3, oh, ow)), np.zeros((2, 3, oh, ow))
        for i in range(oh):
            for j in range(ow):
                h0, h1 = i * 7 // oh, -(-(i + 1) * 7 // oh)
                w0, w1 = j * 5 // ow, -(-(j + 1) * 5 // ow)
                ref_avg[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean((2, 3))
                ref_max[:, :, i, j] = x[:, :, h0:h1, w0:w1].max((2, 3))
        assert_close(F.adaptive_avg_pool2d(from_np(x), size), ref_avg, "float64")
        assert_close(F.adaptive_max_pool2d(from_np(x), size), ref_max, "float64")


# ---------------------------------------------------------------- normalization values

def test_batch_norm_train_eval_and_running_stats():
    x = rand(4, 3, 5, 2)
    w, b = rand(3), rand(3)
    rm, rv = np.zeros(3), np.ones(3)
    trm, trv = from_np(rm), from_np(rv)
    out = F.batch_norm(from_np(x), trm, trv, from_np(w), from_np(b), training=True, momentum=0.2, eps=1e-3)
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
    sh = (1, 3, 1, 1)
    assert_close(out, (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + 1e-3) * w.reshape(sh) + b.reshape(sh), "float64")
    n = x.size // 3
    assert_close(trm, 0.8 * rm + 0.2 * mean, "float64")
    assert_close(trv, 0.8 * rv + 0.2 * var * n / (n - 1), "float64")  # unbiased running variance
    ev = F.batch_norm(from_np(x), trm, trv, from_np(w), from_np(b), training=False, eps=1e-3)
    m2, v2 = to_np(trm).reshape(sh), to_np(trv).reshape(sh)
    assert_close(ev, (x - m2) / np.sqrt(v2 + 1e-3) * w.reshape(sh) + b.reshape(sh), "float64")


def test_group_and_instance_norm():
    x = rand(2, 6, 3, 4)
    w, b = rand(6), rand(6)
    xg = x.reshape(2, 3, -1)
    ref = ((xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    assert_close(F.group_norm(from_np(x), 3, from_np(w), from_np(b)), ref * w.reshape(1, 6, 1, 1) + b.reshape(1, 6, 1, 1),
                 "float64")
    ref_in = (x - x.mean((2, 3), keepdims=True)) / np.sqrt(x.var((2, 3), keepdims=True) + 1e-5)
    assert_close(F.instance_norm(from_np(x)), ref_in, "float64")


def test_dropout2d_zeroes_whole_channels():
    tg.manual_seed(3)
    x = tg.ones(8, 16, 3, 3)
    out = to_np(F.dropout2d(x, 0.5))
    per_channel = out.reshape(8, 16, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # a channel is kept or dropped whole
    assert 0 < (per_channel[..., 0] == 0).sum() < 8 * 16
    assert F.dropout2d(x, 0.5, training=False) is x


# ---------------------------------------------------------------- gradients (float64, central differences)

def leaf(*shape):
    return tg.tensor(rand(*shape).tolist(), dtype=tg.float64, requires_grad=True)


def test_gradcheck_conv2d_variants():
    x, w, b = leaf(1, 4, 5, 4), leaf(4, 2, 3, 2), leaf(4)
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2), [x, w, b])
    x2, w2 = leaf(2, 2, 4, 4), leaf(3, 2, 2, 2)
    assert tg.gradcheck(lambda x, w: F.conv2d(x.permute(0, 1, 3, 2), w, padding="same"), [x2, w2])
    x1, w1 = leaf(2, 2, 6), leaf(3, 2, 3)
    assert tg.gradcheck(lambda x, w: F.conv1d(x, w, stride=2, padding=1), [x1, w1])


def test_conv_in_chunks_of_samples(monkeypatch):
    # a batch whose im2col columns exceed COLS_CHUNK is convolved a few samples at a time: same
    # values and gradients (checked against numpy and central differences)
    import tinygrad_like.ops.conv as conv_ops
    monkeypatch.setattr(conv_ops, "COLS_CHUNK", 100)
    x, w, b = rand(5, 4, 4, 5), rand(6, 2, 3, 2), rand(6)
    out = F.conv2d(from_np(x), from_np(w), from_np(b), padding=1, groups=2, stride=(1, 2))
    assert_close(out, np_conv2d(x, w, b, (1, 2), ((1, 1), (1, 1)), groups=2), "float64")
    xs, ws, bs = leaf(3, 2, 3, 3), leaf(2, 2, 2, 2), leaf(2)
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), [xs, ws, bs])


def test_gradcheck_conv_transpose_unfold_fold():
    x, w, b = leaf(1, 2, 3, 3), leaf(2, 2, 2, 3), leaf(2)
    assert tg.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1), [x, w, b])
    u = leaf(1, 2, 5, 4)
    assert tg.gradcheck(lambda u: F.unfold(u, 2, dilation=(1, 2), padding=1), [u])
    f = leaf(1, 8, 10)
    assert tg.gradcheck(lambda f: F.fold(f, (3, 4), 2, padding=(0, 1)), [f])


def test_gradcheck_pools():
    x = leaf(1, 2, 5, 5)
    assert tg.gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1), [x])
    assert tg.gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x])
    assert tg.gradcheck(lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [x])
    assert tg.gradcheck(lambda x: F.adaptive_max_pool2d(x, (2, 3)), [x])
    x1 = leaf(2, 1, 7)
    assert tg.gradcheck(lambda x: F.max_pool1d(x, 2) + F.avg_pool1d(x, 3, 2, 1)[..., :3], [x1])


def test_gradcheck_norms():
    x, w, b = leaf(3, 2, 2, 2), leaf(2), leaf(2)
    assert tg.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])
    assert tg.gradcheck(lambda x, w, b: F.group_norm(x.reshape(1, 6, 2, 2), 3) * 1.0 + F.batch_norm(
        x, tg.zeros(2, dtype=tg.float64), tg.ones(2, dtype=tg.float64), w, b).reshape(1, 6, 2, 2), [x, w, b])
    assert tg.gradcheck(lambda x: F.instance_norm(x), [x])


def test_max_pool_gradient_goes_to_the_first_max_only():
    x = tg.tensor([[[[1.0, 3.0], [3.0, 0.0]]]], requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


# ---------------------------------------------------------------- modules

def test_conv_modules_layout_and_init():
    tg.manual_seed(0)
    c = nn.Conv2d(4, 6, (3, 5), stride=2, padding=1, groups=2)
    assert c.weight.shape == (6, 2, 3, 5) and c.bias.shape == (6,)
    bound = 1 / math.sqrt(2 * 15)  # kaiming_uniform(a=sqrt(5)) gives the same bound as the bias
    assert float(c.weight.abs().max()) <= bound and float(c.bias.abs().max()) <= bound
    assert float(c.weight.abs().max()) > 0.8 * bound
    assert list(dict(c.state_dict())) == ["weight", "bias"]
    assert c(tg.randn(2, 4, 9, 9)).shape == (2, 6, 5, 4)
    t = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, bias=False)
    assert t.weight.shape == (4, 3, 3, 3) and t.bias is None
    assert t(tg.randn(1, 4, 5, 5)).shape == (1, 6, 11, 11)
    assert nn.Conv1d(3, 2, 4)(tg.randn(5, 3, 10)).shape == (5, 2, 7)
    assert "kernel_size=(3, 5)" in repr(c)


def test_pool_and_norm_modules():
    x = tg.randn(2, 4, 6, 6)
    assert nn.MaxPool2d(2)(x).shape == (2, 4, 3, 3)
    assert nn.AvgPool2d(3, 1, 1)(x).shape == (2, 4, 6, 6)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 4, 1, 1)
    assert nn.GroupNorm(2, 4)(x).shape == x.shape
    bn = nn.BatchNorm2d(4)
    assert list(dict(bn.state_dict())) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    bn(x)
    bn(x)
    assert bn.num_batches_tracked.item() == 2 and bn.num_batches_tracked.dtype == tg.int64
    bn.eval()
    ref = (to_np(x) - to_np(bn.running_mean).reshape(1, 4, 1, 1)) / np.sqrt(to_np(bn.running_var).reshape(1, 4, 1, 1) + 1e-5)
    assert_close(bn(x), ref.astype(np.float32), "float32", rtol=1e-5, atol=1e-5)
    bn.double()
    assert bn.running_mean.dtype == tg.float64 and bn.num_batches_tracked.dtype == tg.int64
    cum = nn.BatchNorm1d(3, momentum=None)
    a, b = tg.randn(5, 3), tg.randn(5, 3)
    cum(a)
    cum(b)
    assert_close(cum.running_mean, (to_np(a).mean(0) + to_np(b).mean(0)) / 2, "float32", rtol=1e-5, atol=1e-6)
    free = nn.BatchNorm2d(4, affine=False, track_running_stats=False)
    assert dict(free.state_dict()) == {} and free.eval()(x).shape == x.shape
    d = nn.Dropout2d(0.3)
    assert d.eval()(x) is x


# ---------------------------------------------------------------- errors

def test_shape_errors_name_the_shapes_and_the_rule():
    x = tg.randn(1, 3, 5, 5)
    with pytest.raises(tg.ShapeError, match=r"3 channels.*weight.shape\[1\] \* groups = 4"):
        F.conv2d(x, tg.randn(2, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match="kernel size can't be greater than the padded input"):
        F.conv2d(x, tg.randn(2, 3, 8, 8), padding=1)
    with pytest.raises(tg.ShapeError, match="divisible by groups=3"):
        F.conv2d(tg.randn(1, 3, 5, 5), tg.randn(4, 1, 3, 3), groups=3)
    with pytest.raises(ValueError, match="'same' is not supported for strided"):
        F.conv2d(x, tg.randn(2, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(tg.ShapeError, match="weight must be 4-d"):
        F.conv2d(x, tg.randn(2, 3, 3))
    with pytest.raises(tg.ShapeError, match="expected a 3-d .* or 4-d"):
        F.conv2d(tg.randn(5, 5), tg.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match="at most half of the kernel"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(tg.ShapeError, match="has 5 blocks"):
        F.fold(tg.randn(1, 4, 5), (3, 3), 2)
    with pytest.raises(tg.ShapeError, match=r"expected 4D input \(got 3D"):
        nn.BatchNorm2d(3)(tg.randn(3, 5, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(tg.randn(1, 3), None, None, training=True)
    with pytest.raises(tg.DTypeError, match="same float dtype"):
        F.conv2d(x, tg.randn(2, 3, 3, 3, dtype=tg.float64))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


# ---------------------------------------------------------------- PyTorch as a differential oracle

def test_against_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x, w, b = rand(2, 4, 9, 8), rand(6, 2, 3, 3), rand(6)
    X, W, B = (tg.tensor(a, requires_grad=True) for a in (x, w, b))
    tX, tW, tB = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.max_pool2d(F.conv2d(X, W, B, stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2).relu(), 2, ceil_mode=True)
    ty = tF.max_pool2d(tF.conv2d(tX, tW, tB, stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2).relu(), 2, ceil_mode=True)
    g = rand(*ty.shape)
    y.backward(tg.tensor(g))
    ty.backward(torch.tensor(g))
    for ours, theirs in ((y, ty), (X.grad, tX.grad), (W.grad, tW.grad), (B.grad, tB.grad)):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    bn, tbn = nn.BatchNorm2d(4).double(), torch.nn.BatchNorm2d(4).double()
    for _ in range(2):
        bn(tg.tensor(x))
        tbn(torch.tensor(x))
    for k, v in tbn.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[k].numpy(), v.numpy(), rtol=1e-12)


def test_torch_lenet_state_dict_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    import sys
    import os
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
    from mnist_cnn import LeNet

    class TorchLeNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            LeNet.__init__(self, torch)
        forward = LeNet.forward

    torch.manual_seed(0)
    tnet = TorchLeNet().eval()
    path = str(tmp_path / "lenet.safetensors")
    st.save_file(tnet.state_dict(), path)
    net = LeNet().eval()
    net.load_state_dict(tg.load(path))
    x = RNG.random((3, 784)).astype(np.float32)
    with torch.no_grad():
        ref = tnet(torch.tensor(x)).numpy()
    np.testing.assert_allclose(net(tg.tensor(x)).detach().numpy(), ref, rtol=1e-4, atol=1e-5)
