"""The fused convolution and max-pooling kernels (optional kernels conv2d, conv2d_backward,
max_pool2d, max_pool2d_backward): values, indices and gradients against PyTorch and against the
composed path of the same backend (the fused kernels switched off), over padding / stride /
dilation / ceil_mode combinations, non-contiguous inputs, NaN and -inf windows, int64 input, and
the bad-index error of the backward kernel. The python backend has no fused kernels: there these
tests check the composed path against PyTorch. Serial and parallel builds: test_parallel_builds."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tinygrad_like as tg
from tinygrad_like import nn
from tinygrad_like.errors import TensorIndexError
from tinygrad_like.view import View

from helpers import from_np, to_np

F = nn.functional
FUSED = ("conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward")


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def composed(backend, monkeypatch):
    """A context-free switch: calling it turns the backend's fused conv/pool kernels off."""
    be = tg.backends.load(backend)

    def off() -> None:
        monkeypatch.setattr(be, "optional", dataclasses.replace(be.optional, **{k: None for k in FUSED}))
    return off


def test_fast_backends_have_the_fused_kernels(backend):
    be = tg.backends.load(backend)
    have = [getattr(be.optional, k) is not None for k in FUSED]
    assert have == ([False] * 4 if backend == "python" else [True] * 4)


def _run_conv(x, w, b, kw, g, dtype, noncontig=False):
    """(out, gx, gw, gb) of conv2d on this library for numpy operands."""
    X, W = from_np(x, dtype, requires_grad=True), from_np(w, dtype, requires_grad=True)
    B = None if b is None else from_np(b, dtype, requires_grad=True)
    xin, win = X, W
    if noncontig:  # x stored (N, C, W, H) and transposed back, w (OC, C, kw, kh) likewise
        X = from_np(np.ascontiguousarray(x.swapaxes(2, 3)), dtype, requires_grad=True)
        W = from_np(np.ascontiguousarray(w.swapaxes(2, 3)), dtype, requires_grad=True)
        xin, win = X.transpose(2, 3), W.transpose(2, 3)
    out = F.conv2d(xin, win, B, **kw)
    out.backward(from_np(g, dtype))
    gx, gw = to_np(X.grad), to_np(W.grad)
    if noncontig:
        gx, gw = gx.swapaxes(2, 3), gw.swapaxes(2, 3)
    return to_np(out), gx, gw, None if b is None else to_np(B.grad)


CONV_CASES = [  # (n, c, oc, h, w, kernel, kwargs)
    (2, 3, 4, 7, 6, (3, 3), dict(padding=1)),
    (3, 2, 5, 9, 8, (3, 2), dict(stride=(2, 1), padding=(1, 0))),
    (2, 2, 3, 10, 9, (3, 3), dict(dilation=(2, 1), padding=2, stride=2)),
    (2, 3, 2, 6, 7, (4, 2), dict(padding="same")),  # asymmetric padding (1, 2) and (0, 1)
    (1, 1, 6, 12, 12, (5, 5), dict(padding=2)),     # LeNet's first layer, one sample
    (4, 6, 8, 5, 5, (5, 5), dict()),                # the kernel covers the whole image
    (2, 2, 3, 5, 5, (1, 1), dict(stride=3)),
    (2, 3, 4, 9, 20, (3, 3), dict(padding=1)),     # wide rows: numba's padded column grid
    (3, 1, 6, 28, 28, (5, 5), dict(padding=2)),    # LeNet's first layer at full size (the grid)
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("noncontig", [False, True])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[:5]}k{c[5]}{sorted(c[6].items())}")
def test_conv2d_forward_and_gradients_match_torch(torch, case, dtype, noncontig):
    n, c, oc, h, wd, k, kw = case
    rng = np.random.default_rng(n * 100 + c * 10 + oc)
    x, w, b = rng.standard_normal((n, c, h, wd)), rng.standard_normal((oc, c) + k), rng.standard_normal(oc)
    tx, tw, tb = (torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g, dtype=ty.dtype))
    out, gx, gw, gb = _run_conv(x, w, b, kw, g, dtype, noncontig)
    tol = 2e-4 if dtype == "float32" else 1e-10
    for got, ref in ((out, ty), (gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
        np.testing.assert_allclose(got, ref.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("bias", [False, True])
def test_fused_conv_agrees_with_the_composed_path(backend, composed, bias):
    """The same backend's fused and composed convolutions agree, with and without bias, and when
    only some gradients are wanted (a first layer: no input gradient)."""
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 4, 9, 9)), rng.standard_normal((6, 4, 3, 3)), rng.standard_normal(6)
    g = rng.standard_normal((3, 6, 5, 5))
    kw = dict(stride=2, padding=1)
    fused = _run_conv(x, w, b if bias else None, kw, g, "float64")
    W = from_np(w, "float64", requires_grad=True)
    F.conv2d(from_np(x, "float64"), W, None, **kw).backward(from_np(g, "float64"))
    only_w = to_np(W.grad)
    composed()
    ref = _run_conv(x, w, b if bias else None, kw, g, "float64")
    for got, want in zip(fused, ref):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(only_w, ref[2], rtol=1e-12, atol=1e-12)


def test_conv_double_backward_takes_the_composed_path(backend):
    """create_graph through a fused forward: the backward is recorded and differentiable again."""
    rng = np.random.default_rng(6)
    X = from_np(rng.standard_normal((2, 2, 5, 5)), "float64", requires_grad=True)
    W = from_np(rng.standard_normal((3, 2, 3, 3)), "float64", requires_grad=True)
    (gx,) = tg.autograd.grad(F.conv2d(X, W, padding=1).pow(2).sum(), (X,), create_graph=True)
    assert gx.requires_grad
    (ggw,) = tg.autograd.grad(gx.sum(), (W,))
    assert ggw.shape == W.shape and np.isfinite(to_np(ggw)).all()


POOL_CASES = [  # (kernel, stride, padding, dilation, ceil_mode)
    (2, None, 0, 1, False), (3, 2, 1, 1, False), ((2, 3), (1, 2), (1, 0), (2, 1), False),
    (3, 2, 1, 1, True), (2, 2, 0, 1, True), (3, 3, 1, 2, True), ((3, 1), (2, 1), (1, 0), 1, False),
]


def _pool_pair(torch, x, case, dtype, noncontig=False):
    k, s, p, d, ceil = case
    X = from_np(np.ascontiguousarray(x.swapaxes(2, 3)) if noncontig else x, dtype, requires_grad=True)
    xin = X.transpose(2, 3) if noncontig else X
    out, idx = F.max_pool2d(xin, k, s, p, d, ceil, return_indices=True)
    tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
    tout, tidx = torch.nn.functional.max_pool2d(tx, k, s, p, d, ceil, return_indices=True)
    return X, out, idx, tx, tout, tidx


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("noncontig", [False, True])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pool2d_values_indices_gradient_match_torch(torch, case, dtype, noncontig):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 8, 7))
    x[0, 0, :3, :3] = 0.5  # ties: the first maximum wins
    X, out, idx, tx, tout, tidx = _pool_pair(torch, x, case, dtype, noncontig)
    np.testing.assert_array_equal(to_np(out), tout.detach().numpy())
    assert idx.dtype == tg.int64 and np.array_equal(to_np(idx), tidx.numpy())
    g = rng.standard_normal(tuple(tout.shape))
    out.backward(from_np(g, dtype))
    tout.backward(torch.tensor(g, dtype=tout.dtype))
    gx = to_np(X.grad)
    np.testing.assert_allclose(gx.swapaxes(2, 3) if noncontig else gx, tx.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_max_pool2d_nan_and_inf_windows_match_torch(backend, torch):
    """A NaN wins its window (PyTorch's choice: the window's last NaN), a window of -inf names its
    first entry inside the input (never the padding). The composed path (no fused kernel) agrees
    on the values; its indices name the first NaN and the window's first entry."""
    fused = tg.backends.load(backend).optional.max_pool2d is not None
    x = np.random.default_rng(8).standard_normal((1, 2, 6, 6))
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 1, 0] = np.nan
    x[0, 0, 2:4, 2:4] = np.nan
    x[0, 1, :3, :3] = -np.inf
    x[0, 1, 4, 5] = np.inf
    for case in POOL_CASES:
        X, out, idx, tx, tout, tidx = _pool_pair(torch, x, case, "float64")
        np.testing.assert_array_equal(to_np(out), tout.detach().numpy())
        if fused:
            np.testing.assert_array_equal(to_np(idx), tidx.numpy())


def test_max_pool1d_and_unbatched_match_torch(torch):
    x = np.random.default_rng(9).standard_normal((2, 3, 11))
    out, idx = F.max_pool1d(from_np(x), 3, 2, 1, 2, True, return_indices=True)
    tout, tidx = torch.nn.functional.max_pool1d(torch.tensor(x), 3, 2, 1, 2, True, return_indices=True)
    np.testing.assert_array_equal(to_np(out), tout.numpy())
    np.testing.assert_array_equal(to_np(idx), tidx.numpy())
    x3 = np.random.default_rng(10).standard_normal((3, 6, 5))
    out, idx = F.max_pool2d(from_np(x3), 2, return_indices=True)
    tout, tidx = torch.nn.functional.max_pool2d(torch.tensor(x3), 2, return_indices=True)
    np.testing.assert_array_equal(to_np(out), tout.numpy())
    np.testing.assert_array_equal(to_np(idx), tidx.numpy())


def test_max_pool2d_int64_and_fused_agrees_with_composed(backend, composed):
    """int64 input (a window of int64's minimum names its first entry in the input), and the fused
    and composed paths agree on values, indices and gradients."""
    rng = np.random.default_rng(11)
    xi = rng.integers(-50, 50, (2, 2, 7, 7))
    xi[0, 0, :2, :2] = np.iinfo(np.int64).min
    x = rng.standard_normal((2, 3, 9, 8))
    runs = []
    for _ in range(2):
        outi, idxi = F.max_pool2d(tg.tensor(xi.tolist(), dtype=tg.int64), 3, 2, 1, return_indices=True)
        X = from_np(x, "float64", requires_grad=True)
        out, idx = F.max_pool2d(X, (3, 2), (2, 1), 1, (1, 2), True, return_indices=True)
        out.pow(2).sum().backward()
        runs.append([to_np(outi), to_np(idxi), to_np(out), to_np(idx), to_np(X.grad)])
        composed()
    for i, (got, want) in enumerate(zip(*runs)):
        if i != 1:  # int64 indices: the window of minima differs (checked below)
            np.testing.assert_array_equal(got, want)
    if tg.backends.load(backend).optional.max_pool2d is not None:  # the fused kernel names an input entry
        assert runs[0][1][0, 0, 0, 0] == 0 and np.array_equal(runs[0][1][:, :, 1:], runs[1][1][:, :, 1:])
    xp = np.pad(xi, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=np.iinfo(np.int64).min)
    ref = np.array([[[[xp[a, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max() for j in range(4)] for i in range(4)]
                     for c in range(2)] for a in range(2)])
    np.testing.assert_array_equal(runs[0][0], ref)


def test_max_pool2d_backward_kernel_rejects_a_bad_index(backend):
    be = tg.backends.load(backend)
    if be.optional.max_pool2d_backward is None:
        pytest.skip(f"the {backend} backend has no fused max-pool backward")
    g = from_np(np.ones((2, 3)), "float64")
    for bad in (4, -1):
        idx = tg.tensor([[0, 1, 2], [3, bad, 0]], dtype=tg.int64)
        with pytest.raises(TensorIndexError):
            be.max_pool2d_backward(g._buf, View((2, 3), (3, 1), 0), idx._buf, View((2, 3), (3, 1), 0), 4,
                                   tg.float64)
