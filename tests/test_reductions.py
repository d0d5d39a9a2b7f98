"""Reductions against numpy: dim as int, tuple or None, keepdim, non-contiguous inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg

from helpers import FEW, SETTINGS, assert_close, dims_for, from_np, np_axis, tensors

float_dtypes = st.sampled_from(["float32", "float64"])
# float32 reductions: compare with a float64 oracle; kernels may accumulate in float32
RED_TOL = {"float32": dict(rtol=1e-5, atol=1e-4), "float64": dict(rtol=1e-10, atol=1e-10)}


def oracle(np_fn, x: np.ndarray, dtype: str, **kw) -> np.ndarray:
    return np.asarray(np_fn(x.astype(np.float64), **kw)).astype(x.dtype)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "amax", "amin"])
@given(data=st.data())
@SETTINGS
def test_sum_mean_max_min(name, data):
    dtype = data.draw(float_dtypes)
    nx, tx = data.draw(tensors(None, dtype))
    dim = dims_for(data.draw, nx.ndim)
    keepdim = data.draw(st.booleans())
    np_fn = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "amax": np.max, "amin": np.min}[name]
    out = getattr(tx, name)(dim, keepdim)
    assert_close(out, oracle(np_fn, nx, dtype, axis=np_axis(dim), keepdims=keepdim), dtype, **RED_TOL[dtype])
    if name in ("sum", "max", "min"):  # module-level spelling and keyword arguments
        assert_close(getattr(tg, name)(tx, dim=dim, keepdim=keepdim), to_expected(out), dtype)


def to_expected(t):
    from helpers import to_np
    return to_np(t)


@pytest.mark.parametrize("name", ["sum", "max", "min"])
@given(data=st.data())
@FEW
def test_integer_and_bool_reductions(name, data):
    dtype = data.draw(st.sampled_from(["int64", "bool"]))
    nx, tx = data.draw(tensors(None, dtype))
    dim = dims_for(data.draw, nx.ndim)
    keepdim = data.draw(st.booleans())
    expected = getattr(np, name)(nx, axis=np_axis(dim), keepdims=keepdim)
    out_dtype = "int64" if name == "sum" or dtype == "int64" else "bool"
    assert_close(getattr(tx, name)(dim, keepdim), expected, out_dtype)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(data=st.data())
@SETTINGS
def test_argmax_argmin_first_index_on_ties(name, data):
    dtype = data.draw(st.sampled_from(["float32", "float64", "int64"]))
    nx, tx = data.draw(tensors(None, dtype, lo=-1, hi=1, min_dims=1))
    if dtype != "int64":
        nx = np.round(nx)  # ties
        tx = from_np(nx)
    dim = data.draw(st.one_of(st.none(), st.integers(-nx.ndim, nx.ndim - 1)))
    keepdim = data.draw(st.booleans())
    expected = getattr(np, name)(nx, axis=dim, keepdims=keepdim)
    out = getattr(tx, name)(dim, keepdim)
    if dim is None and keepdim:
        expected = np.asarray(expected).reshape((1,) * nx.ndim)
    assert_close(out, expected, "int64")


def test_argmax_on_zero_dim_and_nan():
    assert tg.tensor(3.0).argmax().item() == 0
    assert tg.tensor([1.0, math.nan, 5.0, math.nan]).argmax().item() == 1
    assert tg.tensor([1.0, math.nan, -5.0]).argmin().item() == 1
    assert math.isnan(tg.tensor([1.0, math.nan]).max().item())
    assert math.isnan(tg.tensor([[1.0, math.nan], [0.0, 1.0]]).min(1).tolist()[0])


@pytest.mark.parametrize("fn", ["var", "std"])
@given(data=st.data())
@SETTINGS
def test_var_std(fn, data):
    dtype = data.draw(float_dtypes)
    nx, tx = data.draw(tensors(None, dtype, min_dims=1))
    dim = dims_for(data.draw, nx.ndim)
    keepdim = data.draw(st.booleans())
    correction = data.draw(st.sampled_from([None, 0, 1, 2]))
    n = nx.size if dim is None else int(np.prod([nx.shape[d] for d in np.atleast_1d(np_axis(dim))]))
    ddof = 1 if correction is None else correction
    if n - ddof <= 0:
        return  # PyTorch returns nan/inf there with a warning; not worth asserting beyond the smoke check below
    out = getattr(tx, fn)(dim, keepdim) if correction is None else getattr(tx, fn)(dim, keepdim, correction=correction)
    assert_close(out, oracle(getattr(np, fn), nx, dtype, axis=np_axis(dim), keepdims=keepdim, ddof=ddof), dtype, **RED_TOL[dtype])


def test_var_defaults_and_degenerate():
    x = tg.tensor([1.0, 2.0, 3.0, 4.0])
    assert x.var().item() == pytest.approx(np.var([1, 2, 3, 4], ddof=1))
    assert x.std(correction=0).item() == pytest.approx(np.std([1, 2, 3, 4]))
    assert x.var(unbiased=False).item() == pytest.approx(np.var([1, 2, 3, 4]))
    assert math.isnan(tg.tensor([1.0]).var().item())  # n - correction == 0, as PyTorch


@given(data=st.data())
@SETTINGS
def test_logsumexp(data):
    dtype = data.draw(float_dtypes)
    nx, tx = data.draw(tensors(None, dtype, min_dims=1))
    dim = dims_for(data.draw, nx.ndim)
    if dim is None:
        dim = tuple(range(nx.ndim))
    keepdim = data.draw(st.booleans())
    x64 = nx.astype(np.float64)
    m = np.max(x64, axis=np_axis(dim), keepdims=True)
    expected = np.log(np.sum(np.exp(x64 - m), axis=np_axis(dim), keepdims=True)) + m
    if not keepdim:
        expected = np.squeeze(expected, axis=np_axis(dim))
    assert_close(tx.logsumexp(dim, keepdim), expected.astype(nx.dtype), dtype, **RED_TOL[dtype])


def np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


def np_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x64 = x.astype(np.float64)
    s = x64 - x64.max(axis=axis, keepdims=True)
    return (s - np.log(np.exp(s).sum(axis=axis, keepdims=True))).astype(x.dtype)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@given(data=st.data())
@SETTINGS
def test_softmax_log_softmax(fn, data):
    dtype = data.draw(float_dtypes)
    nx, tx = data.draw(tensors(None, dtype, min_dims=1))
    dim = data.draw(st.integers(-nx.ndim, nx.ndim - 1))
    scale = data.draw(st.sampled_from([1.0, 1000.0]))  # large logits must not overflow
    nx, tx = (nx * nx.dtype.type(scale)), tx * scale
    expected = (np_softmax if fn == "softmax" else np_log_softmax)(nx, dim)
    out = getattr(tx, fn)(dim)
    tol = dict(RED_TOL[dtype])
    if fn == "log_softmax":
        tol["atol"] = tol["atol"] * scale  # float32 rounding of x * 1000 dominates
    assert_close(out, expected, dtype, **tol)
    assert np.isfinite(np.asarray(out.tolist())).all()
    assert_close(getattr(tg, fn)(tx, dim), np.asarray(out.tolist()), dtype)


def test_softmax_stable_and_exact_cases():
    x = tg.tensor([[1000.0, 1000.0], [-1000.0, 0.0]])
    assert x.softmax(-1).tolist() == [[0.5, 0.5], [0.0, 1.0]]
    ls = x.log_softmax(1).tolist()
    assert ls[0] == pytest.approx([-math.log(2)] * 2) and ls[1][1] == 0.0 and ls[1][0] == -1000.0
    assert x.logsumexp(1).tolist()[0] == pytest.approx(1000.0 + math.log(2))
    assert tg.tensor([-math.inf, -math.inf]).logsumexp(0).item() == -math.inf
    assert tg.tensor([[1.0, 2.0]]).softmax(0).tolist() == [[1.0, 1.0]]


def test_reductions_on_zero_dim_and_empty():
    s = tg.tensor(2.0)
    assert s.sum().item() == 2.0 and s.sum(0).item() == 2.0 and s.max().item() == 2.0
    assert s.sum(0, keepdim=True).shape == ()
    e = tg.zeros(0, 3)
    assert e.sum().item() == 0.0
    assert e.sum(0).tolist() == [0.0, 0.0, 0.0]
    assert e.sum(1).shape == (0,)
    assert math.isnan(e.mean().item())
    with pytest.raises(ValueError):
        e.max()
    with pytest.raises(ValueError):
        e.argmax()


def test_reduction_dim_errors():
    x = tg.ones(2, 3)
    with pytest.raises(IndexError, match="dim 2"):
        x.sum(2)
    with pytest.raises(IndexError):
        x.max(-3)
    with pytest.raises(ValueError):
        x.sum((0, 0))
    with pytest.raises(IndexError):
        x.softmax(2)


def test_any_all():
    x = tg.tensor([[True, False], [True, True]])
    assert x.any().item() is True and x.all().item() is False
    assert x.all(1).tolist() == [False, True]
    assert x.any(0).tolist() == [True, True]
