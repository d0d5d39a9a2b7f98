"""Advanced indexing against numpy (with PyTorch's rule that ints index first) and, when it is
importable, PyTorch itself: getitem/setitem with integer tensors and lists, masks, ints,
slices, None and ...; gradients scatter back (repeated indices accumulate); index_put,
masked_*, index_add/index_copy, scatter*, take_along_dim, nonzero, where(cond)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg
from tinygrad_like.errors import TensorIndexError

from helpers import SETTINGS, assert_close, from_np, tensors, to_np


def np_index(a: np.ndarray, key: tuple) -> np.ndarray:
    """a[key] by PyTorch's rule: the ints (and slices, None) index first as a view, then the
    advanced indices apply to that view (numpy alone would treat the ints as advanced)."""
    k1, k2 = [], []
    for k in key:
        if isinstance(k, np.ndarray) and k.dtype == np.bool_:
            k1 += [slice(None)] * k.ndim
            k2.append(k)
        elif isinstance(k, (np.ndarray, list)):
            k1.append(slice(None))
            k2.append(np.asarray(k))
        elif isinstance(k, int):
            k1.append(k)
        elif k is None or isinstance(k, slice):
            k1.append(k)
            k2.append(slice(None))
        else:
            k1.append(k)
            k2.append(k)
    return a[tuple(k1)], tuple(k2)


def np_get(a: np.ndarray, key: tuple) -> np.ndarray:
    view, k2 = np_index(a, key)
    return view[k2]


def tg_key(key: tuple, as_list: bool) -> tuple:
    out = []
    for k in key:
        if isinstance(k, np.ndarray):
            out.append(k.tolist() if as_list and k.ndim == 1 and k.size and k.dtype != np.bool_
                       else from_np(k))
        else:
            out.append(k)
    return tuple(out)


@st.composite
def index_keys(draw: Any, shape: tuple) -> tuple:
    """A key mixing ints, slices, None, ..., integer arrays (negative, repeated, empty, broadcast)
    and at most one boolean mask over consecutive dims."""
    key: list = []
    d = 0
    adv_shape = draw(st.sampled_from([(2,), (3,), (0,), (2, 2), (1,), ()]))
    used_mask = used_ell = False
    while d < len(shape):
        n = shape[d]
        kind = draw(st.sampled_from(["int", "slice", "adv", "adv", "mask", "none", "ell"]))
        if kind == "int" and n:
            key.append(draw(st.integers(-n, n - 1)))
            d += 1
        elif kind == "slice":
            key.append(slice(draw(st.integers(0, 2)), None, draw(st.sampled_from([1, 2]))))
            d += 1
        elif kind == "adv" and (n or 0 in adv_shape):
            vals = draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(adv_shape)),
                                 max_size=int(np.prod(adv_shape)))) if n else []
            key.append(np.array(vals, dtype=np.int64).reshape(adv_shape))
            d += 1
        elif kind == "mask" and not used_mask:
            m = draw(st.integers(1, min(2, len(shape) - d)))
            rng = np.random.default_rng(draw(st.integers(0, 1000)))
            key.append(rng.random(shape[d:d + m]) < 0.5)
            used_mask = True
            d += m
        elif kind == "none":
            key.append(None)
        elif kind == "ell" and not used_ell:
            key.append(Ellipsis)
            used_ell = True
            break
    return tuple(key)


def _check_grad(x_np: np.ndarray, x: tg.Tensor, key: tuple, out: tg.Tensor) -> None:
    w_np = np.random.default_rng(0).uniform(-1, 1, out.shape)
    (out * from_np(w_np)).sum().backward()
    pos = np.arange(x_np.size).reshape(x_np.shape)
    sel = np_get(pos, key)
    expect = np.bincount(sel.ravel(), weights=w_np.ravel(), minlength=x_np.size).reshape(x_np.shape)
    assert_close(x.grad, expect)


@SETTINGS
@given(st.data())
def test_getitem_matches_numpy_and_scatters_gradient(data: Any) -> None:
    x_np, x = data.draw(tensors(dtype="float64", min_dims=1, max_dims=3))
    key = data.draw(index_keys(x_np.shape))
    as_list = data.draw(st.booleans())
    try:
        expect = np_get(x_np, key)
    except IndexError:  # e.g. index arrays that do not broadcast: refused by both
        with pytest.raises(IndexError):
            x[tg_key(key, as_list)]
        return
    xl = x.detach().requires_grad_()
    out = xl[tg_key(key, as_list)]
    assert_close(out, expect)
    _check_grad(x_np, xl, key, out)


@SETTINGS
@given(st.data())
def test_setitem_matches_numpy(data: Any) -> None:
    x_np, x = data.draw(tensors(dtype="float64", min_dims=1, max_dims=3, kinds=("contiguous", "transposed", "sliced")))
    x_np = x_np.copy()
    key = data.draw(index_keys(x_np.shape))
    try:
        view, k2 = np_index(x_np, key)
        sel_shape = view[k2].shape
    except IndexError:
        return
    scalar = data.draw(st.booleans())
    if scalar:
        v_np: Any = 7.5
    else:
        vshape = sel_shape[data.draw(st.integers(0, len(sel_shape))):]
        v_np = np.random.default_rng(1).uniform(-1, 1, vshape)
    pos = np.arange(x_np.size).reshape(x_np.shape)
    if len(np.unique(np_get(pos, key))) != np_get(pos, key).size:
        return  # repeated targets: which write wins is unspecified (as in PyTorch)
    if isinstance(view, np.ndarray):
        view[k2] = v_np
    else:  # ints only: numpy's basic indexing gives a scalar, not a view
        x_np[key] = v_np
    x[tg_key(key, False)] = v_np if scalar else from_np(v_np)
    assert_close(x, x_np)


def test_pytorch_rules_examples() -> None:
    x_np = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    x = from_np(x_np)
    i = np.array([0, 2, 1])
    assert x[0, :, [0, 1]].shape == (3, 2, 5)  # the int indexes first, then the list (PyTorch)
    assert_close(x[:, i, :, i], x_np[:, i, :, i])      # separated: the index dims lead
    assert_close(x[:, i, i], x_np[:, i, i])            # adjacent: they stay in place
    assert_close(x[..., [1, -1]], x_np[..., [1, -1]])
    assert_close(x[None, [1], ..., None], x_np[None, [1], ..., None])
    m = x_np[:, :, 0, 0] > 5
    assert_close(x[from_np(m)], x_np[m])
    assert_close(x[1, from_np(m[1])], x_np[1, m[1]])
    assert_close(x[from_np(m), 1:3], x_np[m, 1:3])
    assert_close(x[[[0], [1]], [0, 2]], x_np[[[0], [1]], [0, 2]])  # broadcast index tensors
    assert x[from_np(np.zeros((2, 3), bool))].shape == (0, 4, 5)
    assert x[tg.tensor([], dtype=tg.int64)].shape == (0, 3, 4, 5)


def test_repeated_indices_accumulate_gradient() -> None:
    w = tg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    w[tg.tensor([2, 0, 2, 2])].sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]]
    w.grad = None
    w[[0, 0], [1, 1]].sum().backward()
    assert w.grad.tolist() == [[0.0, 2.0], [0.0, 0.0], [0.0, 0.0]]


def test_index_errors_name_dim_size_and_value() -> None:
    x = tg.zeros(3, 4)
    with pytest.raises(TensorIndexError, match=r"index 4 is out of bounds for dim 1 with size 4"):
        x[:, [0, 4]]
    with pytest.raises(IndexError, match=r"index -5 is out of bounds for dim 1 with size 4"):
        x[[0], [-5]]
    with pytest.raises(TensorIndexError, match=r"mask"):
        x[tg.zeros(4, dtype=tg.bool_)]
    with pytest.raises(IndexError):
        x[[0, 1], [0, 1, 2]]
    with pytest.raises(IndexError):
        x[tg.zeros(2)]
    with pytest.raises(TensorIndexError, match="out of bounds"):
        x[[7]] = 1.0
    before = x.tolist()
    with pytest.raises(TensorIndexError):
        x[[0, 9]] = 5.0
    assert x.tolist() == before  # nothing written


def test_mask_assignment_and_masked_ops() -> None:
    x_np = np.random.default_rng(0).normal(size=(3, 4))
    x = from_np(x_np)
    m_np = x_np > 0
    x[from_np(m_np)] = 0
    y_np = x_np.copy()
    y_np[m_np] = 0
    assert_close(x, y_np)
    x[from_np(~m_np)] = from_np(np.arange((~m_np).sum(), dtype=np.float64))
    y_np[~m_np] = np.arange((~m_np).sum())
    assert_close(x, y_np)
    x.masked_fill_(from_np(m_np), -1.0)
    y_np[m_np] = -1
    assert_close(x, y_np)
    src_np = np.arange(12, dtype=np.float64) * 10
    src = from_np(src_np).requires_grad_()
    base = from_np(x_np).requires_grad_()
    out = base.masked_scatter(from_np(m_np), src)
    expect = x_np.copy()
    expect[m_np] = src_np[:m_np.sum()]
    assert_close(out, expect)
    out.sum().backward()
    assert_close(base.grad, (~m_np).astype(np.float64))
    assert_close(src.grad, (np.arange(12) < m_np.sum()).astype(np.float64))


def test_index_put_accumulate_and_gradients() -> None:
    x_np = np.random.default_rng(1).normal(size=(4, 3))
    idx = (np.array([0, 2, 0]), np.array([1, 1, 1]))
    v_np = np.array([1.0, 2.0, 3.0])
    x = from_np(x_np)
    x.index_put_((from_np(idx[0]), from_np(idx[1])), from_np(v_np), accumulate=True)
    e = x_np.copy()
    np.add.at(e, idx, v_np)
    assert_close(x, e)
    xg = from_np(x_np).requires_grad_()
    vg = from_np(np.array([5.0, 6.0])).requires_grad_()
    key = (from_np(np.array([1, 3])), from_np(np.array([0, 2])))
    assert tg.gradcheck(lambda a, b: a.index_put(key, b), [xg, vg])
    assert tg.gradcheck(lambda a, b: a.index_put(key, b, accumulate=True), [xg, vg])


def test_index_add_copy_and_scatter() -> None:
    rng = np.random.default_rng(2)
    x_np, s_np = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    i_np = np.array([4, 0, 4, 2])
    e = x_np.copy()
    np.add.at(e, i_np, 2 * s_np)
    assert_close(from_np(x_np).index_add(0, from_np(i_np), from_np(s_np), alpha=2), e)
    x = from_np(x_np)
    x.index_add_(0, from_np(i_np), from_np(s_np))
    np.add.at(x_np_copy := x_np.copy(), i_np, s_np)
    assert_close(x, x_np_copy)
    j_np = np.array([3, 0, 1, 2])
    e = x_np.copy()
    e[j_np] = s_np
    assert_close(from_np(x_np).index_copy(0, from_np(j_np), from_np(s_np)), e)
    xg, sg = from_np(x_np).requires_grad_(), from_np(s_np).requires_grad_()
    assert tg.gradcheck(lambda a, b: a.index_copy(0, from_np(j_np), b), [xg, sg])
    assert tg.gradcheck(lambda a, b: a.index_add(0, from_np(i_np), b), [xg, sg])
    # scatter: x[index[i][j]][j] = src[i][j] along dim 0
    idx_np = np.array([[1, 0, 4], [3, 2, 0]])
    src_np = rng.normal(size=(2, 3))
    e = x_np.copy()
    for i in range(2):
        for j in range(3):
            e[idx_np[i, j], j] = src_np[i, j]
    assert_close(from_np(x_np).scatter(0, from_np(idx_np), from_np(src_np)), e)
    y = from_np(x_np)
    y.scatter_(0, from_np(idx_np), 9.0)
    e2 = x_np.copy()
    for i in range(2):
        for j in range(3):
            e2[idx_np[i, j], j] = 9.0
    assert_close(y, e2)
    srcg = from_np(src_np).requires_grad_()
    assert tg.gradcheck(lambda a, b: a.scatter(0, from_np(idx_np), b), [xg, srcg])
    z = from_np(x_np)
    z.scatter_add_(0, from_np(idx_np), from_np(src_np))
    e3 = x_np.copy()
    for i in range(2):
        for j in range(3):
            e3[idx_np[i, j], j] += src_np[i, j]
    assert_close(z, e3)


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce: str, include_self: bool) -> None:
    rng = np.random.default_rng(3)
    x_np = rng.normal(size=(4, 2))
    src_np = rng.normal(size=(5, 2))
    idx_np = np.array([[0, 1], [2, 1], [0, 1], [3, 3], [0, 0]])
    got = from_np(x_np).scatter_reduce(0, from_np(idx_np), from_np(src_np), reduce, include_self=include_self)
    e = x_np.copy()
    for j in range(2):
        for r in range(4):
            vals = list(src_np[idx_np[:, j] == r, j])
            if not vals:
                continue
            if include_self:
                vals.append(x_np[r, j])
            e[r, j] = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min}[reduce](vals)
    assert_close(got, e)
    xg, sg = from_np(x_np).requires_grad_(), from_np(src_np).requires_grad_()
    assert tg.gradcheck(lambda a, b: a.scatter_reduce(0, from_np(idx_np), b, reduce, include_self=include_self), [xg, sg])


def test_take_along_dim_nonzero_where() -> None:
    x_np = np.random.default_rng(4).normal(size=(3, 4))
    i_np = np.argsort(x_np, axis=1)[:, :2]
    assert_close(from_np(x_np).take_along_dim(from_np(i_np), 1), np.take_along_axis(x_np, i_np, 1))
    assert_close(from_np(x_np).take_along_dim(from_np(np.array([0, 11])), None), x_np.ravel()[[0, 11]])
    m = x_np > 0
    assert_close(from_np(m).nonzero(), np.argwhere(m))
    for got, exp in zip(tg.where(from_np(m)), np.nonzero(m)):
        assert_close(got, exp)
    assert tg.nonzero(tg.zeros(3, 0)).shape == (0, 2)
    assert_close(tg.nonzero(from_np(np.array([0.0, 2.0, 0.0, -1.0]))), np.array([[1], [3]]))


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    x_np = np.random.default_rng(5).normal(size=(3, 4, 5))
    i = np.array([[2, 0], [1, 1]])
    for key in [(0, slice(None), [1, 3]), (i, slice(1, None), [[0], [4]]), (i, None, 2),
                (Ellipsis, [4, -1]), (x_np[:, :, 0] > 0,), ([0, 2], 1, [3, 0])]:
        tkey = tuple(torch.from_numpy(np.asarray(k)) if isinstance(k, (list, np.ndarray)) else k for k in key)
        gkey = tuple(from_np(np.asarray(k)) if isinstance(k, (list, np.ndarray)) else k for k in key)
        xt = torch.from_numpy(x_np).requires_grad_()
        out_t = xt[tkey]
        out_t.sum().backward()
        xg = from_np(x_np).requires_grad_()
        out = xg[gkey]
        out.sum().backward()
        assert_close(out, out_t.detach().numpy())
        assert_close(xg.grad, xt.grad.numpy())
        y_t, y = torch.from_numpy(x_np.copy()), from_np(x_np)
        y_t[tkey] = -3.0
        y[gkey] = -3.0
        assert_close(y, y_t.numpy())


def test_setitem_on_a_view_writes_the_base() -> None:
    base = tg.zeros(4, 6)
    v = base[1:, ::2]  # strided view
    v[[0, 2], [1, 2]] = tg.tensor([1.0, 2.0])
    e = np.zeros((4, 6))
    e[1:, ::2][[0, 2], [1, 2]] = [1.0, 2.0]
    assert_close(base, e)
    assert to_np(v).shape == (3, 3)


def test_whole_row_gather_and_scatter_paths() -> None:
    """Rows of >= 8 dense elements (the embedding pattern, which the c backend moves row by row)."""
    rng = np.random.default_rng(6)
    w_np = rng.normal(size=(30, 16))
    ids_np = np.array([3, 29, 3, 0, 3, 17])
    w = from_np(w_np).requires_grad_()
    out = w[from_np(ids_np)]
    assert_close(out, w_np[ids_np])
    g_np = rng.normal(size=(6, 16))
    out.backward(from_np(g_np))
    e = np.zeros_like(w_np)
    np.add.at(e, ids_np, g_np)
    assert_close(w.grad, e)
    t = from_np(w_np)
    t.index_add_(0, from_np(ids_np), from_np(g_np))
    assert_close(t, w_np + e)
    assert_close(from_np(w_np).T.contiguous().index_select(1, from_np(ids_np)), w_np.T[:, ids_np])
    with pytest.raises(IndexError):
        t.index_add_(0, from_np(np.array([1, 30, 2, 0, 0, 0])), from_np(g_np))
    assert_close(t, w_np + e)
