"""sort/argsort/topk/kthvalue/median and cumsum/cumprod against numpy (PyTorch as an extra
oracle when importable), on views of every kind, with NaN, ties, empty dims and gradients."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg
from tinygrad_like.errors import TensorIndexError

from helpers import SETTINGS, assert_close, from_np, tensors, to_np


def np_stable_sort(a: np.ndarray, axis: int, descending: bool) -> tuple:
    """(values, indices) of a stable sort with NaN largest (last ascending, first descending)."""
    if not descending:
        idx = np.argsort(a, axis=axis, kind="stable")
    else:  # stable descending: sort the reversed axis ascending, read it backwards
        n = a.shape[axis]
        rev = np.flip(a, axis)
        idx = np.flip(n - 1 - np.argsort(rev, axis=axis, kind="stable"), axis)
    return np.take_along_axis(a, idx, axis), idx


@SETTINGS
@given(st.data())
def test_sort_and_topk_match_stable_numpy(data: Any) -> None:
    dtype = data.draw(st.sampled_from(["float64", "float32", "int64"]))
    x_np, x = data.draw(tensors(dtype=dtype, min_dims=1, max_dims=3, lo=-2, hi=2))
    if dtype != "int64" and data.draw(st.booleans()):  # ties, NaN, signed zeros
        x_np = np.round(x_np).astype(x_np.dtype)
        x_np.flat[0] = np.nan
        x = from_np(x_np)
    d = data.draw(st.integers(-x_np.ndim, x_np.ndim - 1))
    desc = data.draw(st.booleans())
    v, i = x.sort(d, descending=desc)
    ev, ei = np_stable_sort(x_np, d, desc)
    assert_close(v, ev)
    assert_close(i, ei)
    assert_close(x.argsort(d, descending=desc), ei)
    n = x_np.shape[d]
    k = data.draw(st.integers(0, n))
    tv, ti = x.topk(k, d, largest=desc)
    assert_close(tv, np.take(ev, range(k), axis=d))
    assert_close(ti, np.take(ei, range(k), axis=d))


@pytest.mark.parametrize("n,k", [(5000, 3), (5000, 900), (40, 39), (1, 1)])
def test_topk_selection_path_and_sorts_of_many_rows(n: int, k: int) -> None:
    rng = np.random.default_rng(n + k)
    x_np = rng.integers(-50, 50, size=(3, n)).astype(np.float32)
    for largest in (True, False):
        v, i = from_np(x_np).topk(k, 1, largest=largest)
        ev, ei = np_stable_sort(x_np, 1, largest)
        assert_close(v, ev[:, :k])
        assert_close(i, ei[:, :k])
    big = rng.normal(size=(70000,))  # a row big enough for the parallel builds
    assert_close(from_np(big).sort().values, np.sort(big))
    rows = rng.normal(size=(300, 300))
    assert_close(from_np(rows).sort(0).indices, np.argsort(rows, 0, kind="stable"))


def test_sort_gradient_kthvalue_median() -> None:
    x_np = np.array([[3.0, 1.0, 2.0, 1.5], [0.5, 4.0, -1.0, 2.0]])
    x = from_np(x_np).requires_grad_()
    assert tg.gradcheck(lambda t: t.sort(1, descending=True).values * tg.tensor([1.0, 2.0, 3.0, 4.0], dtype=tg.float64), [x])
    assert tg.gradcheck(lambda t: t.topk(2, 0).values, [x])
    kv = x.kthvalue(2, 1)
    assert_close(kv.values, np.sort(x_np, 1)[:, 1])
    assert_close(kv.indices, np.argsort(x_np, 1)[:, 1])
    assert x.kthvalue(1, 0, keepdim=True).values.shape == (1, 4)
    assert tg.gradcheck(lambda t: t.kthvalue(3, 1).values, [x])
    med = x.median(1)
    assert_close(med.values, [1.5, 0.5])
    assert_close(med.indices, [3, 0])
    assert x.median().item() == 1.5
    assert tg.gradcheck(lambda t: t.median(0).values, [x])
    y = from_np(np.array([[1.0, np.nan, 0.0], [2.0, 1.0, 3.0]]))
    mv, mi = y.median(1)
    assert np.isnan(mv.tolist()[0]) and mi.tolist() == [1, 0]
    with pytest.raises(TensorIndexError):
        x.topk(5, 1)
    with pytest.raises(TensorIndexError):
        x.kthvalue(0)
    e = tg.zeros(2, 0)
    assert e.sort(1).values.shape == (2, 0) and e.topk(0, 1).indices.shape == (2, 0)


@SETTINGS
@given(st.data())
def test_cumsum_cumprod_match_numpy(data: Any) -> None:
    dtype = data.draw(st.sampled_from(["float64", "float32", "int64", "bool"]))
    x_np, x = data.draw(tensors(dtype=dtype, min_dims=1, max_dims=3, lo=-2, hi=2))
    d = data.draw(st.integers(-x_np.ndim, x_np.ndim - 1))
    out_dt = "int64" if dtype == "bool" else dtype
    assert_close(x.cumsum(d), np.cumsum(x_np, axis=d).astype(out_dt), out_dt, rtol=1e-5, atol=1e-5)
    assert_close(x.cumprod(d), np.cumprod(x_np, axis=d).astype(out_dt), out_dt, rtol=1e-5, atol=1e-5)
    if dtype == "float64":
        xg = x.detach().requires_grad_()
        w = np.random.default_rng(0).uniform(-1, 1, x_np.shape)
        (xg.cumsum(d) * from_np(w)).sum().backward()
        assert_close(xg.grad, np.flip(np.cumsum(np.flip(w, d), d), d))


def test_cumprod_gradient_with_zeros_and_scan_sizes() -> None:
    for row in ([2.0, 3.0, 0.5, 4.0], [2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 0.0, 3.0], [0.0, 0.0, 1.0, 5.0]):
        x = tg.tensor([row, row[::-1]], dtype=tg.float64, requires_grad=True)
        assert tg.gradcheck(lambda t: t.cumprod(1), [x])
        assert tg.gradcheck(lambda t: t.cumsum(0), [x])
    big = np.random.default_rng(1).normal(size=(80000,)).astype(np.float32)
    assert_close(from_np(big).cumsum(0), np.cumsum(big.astype(np.float64)), rtol=1e-5, atol=1e-3)
    m = np.random.default_rng(2).normal(size=(300, 300))
    assert_close(from_np(m).T.cumsum(1), np.cumsum(m.T, 1))
    assert tg.tensor(3.0).cumsum(0).tolist() == 3.0
    assert tg.tensor([True, True, False]).cumsum(0).dtype is tg.int64


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    x_np = np.random.default_rng(3).integers(-3, 3, size=(4, 6)).astype(np.float64)
    xt = torch.from_numpy(x_np)
    x = from_np(x_np)
    assert_close(x.sort(1, stable=True).indices, torch.sort(xt, dim=1, stable=True).indices.numpy())
    assert_close(x.sort(0, descending=True, stable=True).indices,
                 torch.sort(xt, dim=0, descending=True, stable=True).indices.numpy())
    assert_close(x.topk(3, 1).values, torch.topk(xt, 3, 1).values.numpy())
    assert_close(x.cumprod(0), torch.cumprod(xt, 0).numpy())
    assert_close(x.median(1).values, torch.median(xt, 1).values.numpy())
    assert_close(x.kthvalue(2, 0).values, torch.kthvalue(xt, 2, 0).values.numpy())
    xg, xtg = from_np(x_np).requires_grad_(), xt.clone().requires_grad_()
    xg.cumprod(1).sum().backward()
    torch.cumprod(xtg, 1).sum().backward()
    assert_close(xg.grad, xtg.grad.numpy())
    assert to_np(x).shape == (4, 6)
