"""F.layer_norm on every backend (the c and numba backends' fused `layer_norm` / `layer_norm_backward`
kernels, the python backend's composition) against PyTorch: values and the gradients of input,
weight and bias, in float32 and float64, any number of normalized dims, with and without the affine
parameters, strided inputs, float64 central differences, and create_graph."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_like as tg
import tinygrad_like.nn.functional as F
from tinygrad_like.dtypes import float32
from tinygrad_like.view import View

from helpers import from_np, to_np

CASES = [((32, 14, 64), (64,)), ((5, 3, 4), (3, 4)), ((700, 130), (130,)), ((2, 1), (1,)), ((4, 3, 2), (4, 3, 2))]


@pytest.mark.parametrize("shape,ns", CASES, ids=str)
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_torch(shape, ns, affine, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(shape) * 7 + len(ns))
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    w = rng.standard_normal(ns).astype(dtype) if affine in ("both", "weight") else None
    b = rng.standard_normal(ns).astype(dtype) if affine in ("both", "bias") else None
    g = rng.standard_normal(shape).astype(dtype)
    ts = [None if a is None else torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = torch.nn.functional.layer_norm(ts[0], ns, ts[1], ts[2], eps=1e-5)
    ty.backward(torch.tensor(g))
    ours = [None if a is None else from_np(a, requires_grad=True) for a in (x, w, b)]
    y = F.layer_norm(ours[0], ns, ours[1], ours[2], eps=1e-5)
    y.backward(from_np(g))
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == "float32" else dict(rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(to_np(y.detach()), ty.detach().numpy(), **tol)
    for o, t in zip(ours, ts):
        if o is not None:
            np.testing.assert_allclose(to_np(o.grad), t.grad.numpy(), **tol)


def test_strided_input_and_weight_only_grad():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((16, 9)).astype(np.float32)
    w = rng.standard_normal(16).astype(np.float32)
    x = from_np(a).T  # (9, 16), transposed: not requiring grad
    wt = from_np(w, requires_grad=True)
    y = F.layer_norm(x, (16,), wt, None)
    (y * y).sum().backward()
    tw = torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.layer_norm(torch.tensor(a).T, (16,), tw, None)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(to_np(y.detach()), ty.detach().numpy(), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(to_np(wt.grad), tw.grad.numpy(), rtol=2e-5, atol=2e-5)


def test_gradcheck_and_create_graph():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    a, w, b = rng.standard_normal((3, 5)) * 2, rng.standard_normal(5), rng.standard_normal(5)
    ins = [from_np(v, requires_grad=True) for v in (a, w, b)]
    assert tg.gradcheck(lambda x, w_, b_: F.layer_norm(x, (5,), w_, b_), ins)
    y = F.layer_norm(ins[0], (5,), ins[1], ins[2])
    gx, gw = tg.autograd.grad((y * y * y).sum(), ins[:2], create_graph=True)
    second = tg.autograd.grad((gx * gx).sum() + (gw * gw).sum(), ins)
    ts = [torch.tensor(v, requires_grad=True) for v in (a, w, b)]
    ty = torch.nn.functional.layer_norm(ts[0], (5,), ts[1], ts[2])
    tgx, tgw = torch.autograd.grad((ty * ty * ty).sum(), ts[:2], create_graph=True)
    tsecond = torch.autograd.grad((tgx * tgx).sum() + (tgw * tgw).sum(), ts)
    for o, t in zip((gx, gw, *second), (tgx, tgw, *tsecond)):
        np.testing.assert_allclose(to_np(o.detach()), t.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_kernels_refuse_bad_views():
    be = tg.backends.load(tg.get_backend())
    if be.optional.layer_norm is None:
        pytest.skip(f"backend {be.name} composes layer_norm")
    x, w = be.full(12, 1.0, float32), be.full(4, 1.0, float32)
    with pytest.raises(tg.ShapeError):
        be.layer_norm(x, View((3, 4), (1, 3), 0), None, None, None, None, 1e-5, float32)  # not row-major
    with pytest.raises(tg.ShapeError):
        be.layer_norm(x, View((4, 3), (3, 1), 0), w, View((4,), (1,), 0), None, None, 1e-5, float32)  # 4 for 3 cols
    with pytest.raises((tg.ShapeError, tg.TensorIndexError)):
        be.layer_norm(x, View((4, 4), (4, 1), 0), None, None, None, None, 1e-5, float32)  # past the end
    out, mean, rstd = be.layer_norm(x, View((3, 4), (4, 1), 0), None, None, None, None, 1e-5, float32)
    with pytest.raises(tg.ShapeError):
        be.layer_norm_backward(x, View((4, 3), (3, 1), 0), x, View((3, 4), (4, 1), 0), mean, rstd, None, None,
                               float32, False, False)
    with pytest.raises((tg.ShapeError, tg.TensorIndexError)):
        be.layer_norm_backward(x, View((6, 2), (2, 1), 0), x, View((6, 2), (2, 1), 0), mean, rstd, None, None,
                               float32, False, False)  # mean and rstd hold 3 rows
