"""Movement ops against numpy: values, strides, and that views share their base's buffer."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg

from helpers import (SETTINGS, assert_close, from_np, shapes, tensors, to_np)
from test_view import _factorizations, index_keys, numpy_can_view

any_dtype = st.sampled_from(["float32", "float64", "int64", "bool"])


@given(data=st.data())
@SETTINGS
def test_reshape_and_view(data):
    dtype = data.draw(any_dtype)
    nx, tx = data.draw(tensors(None, dtype, kinds=("contiguous", "transposed", "sliced", "flipped")))
    new = list(_factorizations(data.draw, nx.size))
    if new and data.draw(st.booleans()):
        new[data.draw(st.integers(0, len(new) - 1))] = -1
    expected = nx.reshape(new)
    assert_close(tx.reshape(new), expected, dtype)
    assert_close(tx.reshape(*new) if new else tx.reshape(()), expected, dtype)
    if numpy_can_view(nx, expected.shape):
        v = tx.view(new)
        assert_close(v, expected, dtype)
        assert v._buf is tx._buf  # no copy when a view is possible
    else:
        with pytest.raises(tg.ShapeError, match="reshape"):
            tx.view(new)
        assert tx.reshape(new).is_contiguous()


def test_view_error_message_and_reshape_copy():
    t = tg.arange(6).reshape(2, 3).T
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(6,\)"):
        t.view(6)
    assert t.reshape(6).tolist() == [0, 3, 1, 4, 2, 5]
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 2\)"):
        t.reshape(4)


@given(data=st.data())
@SETTINGS
def test_permute_transpose_T(data):
    dtype = data.draw(any_dtype)
    nx, tx = data.draw(tensors(None, dtype))
    nd = nx.ndim
    order = data.draw(st.permutations(range(nd)))
    assert_close(tx.permute(*order) if nd else tx.permute(()), nx.transpose(order), dtype)
    assert_close(tx.permute(tuple(d - nd for d in order)), nx.transpose(order), dtype)
    assert_close(tx.T, nx.T, dtype)
    if nd >= 2:
        d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
        assert_close(tx.transpose(d0, d1), np.swapaxes(nx, d0, d1), dtype)
        assert_close(tx.mT, np.swapaxes(nx, -1, -2), dtype)
        assert_close(tg.transpose(tx, 0, 1), np.swapaxes(nx, 0, 1), dtype)


def test_permute_shares_and_strides():
    base = tg.arange(24).reshape(2, 3, 4)
    assert base.strides == (12, 4, 1) and base.stride(0) == 12 and base.is_contiguous()
    p = base.permute(2, 0, 1)
    assert p.strides == (1, 12, 4) and not p.is_contiguous()
    assert base.T.strides == (1, 4, 12)
    base[0, 0, 1] = 100
    assert p[1, 0, 0].item() == 100
    c = p.contiguous()
    assert c.is_contiguous() and c.strides == (6, 3, 1) and c.tolist() == p.tolist()
    assert base.contiguous() is base
    base[0, 0, 1] = 5
    assert c[1, 0, 0].item() == 100  # contiguous() of a view is a copy


@given(data=st.data())
@SETTINGS
def test_expand(data):
    dtype = data.draw(any_dtype)
    full = data.draw(shapes(0, 4))
    lead = data.draw(st.integers(0, len(full)))
    small = tuple(1 if data.draw(st.booleans()) else n for n in full[lead:])
    nx, tx = data.draw(tensors(small, dtype, kinds=("contiguous", "transposed", "sliced")))
    e = tx.expand(*full) if full else tx.expand(())
    assert_close(e, np.broadcast_to(nx, full), dtype)
    assert e._buf is tx._buf
    arg = tuple(-1 if (i >= lead and small[i - lead] == n and data.draw(st.booleans())) else n
                for i, n in enumerate(full))  # -1 keeps a dim as it is
    assert_close(tx.expand(arg), np.broadcast_to(nx, full), dtype)
    assert_close(tx.expand_as(tg.zeros(full)), np.broadcast_to(nx, full), dtype)


@given(data=st.data())
@SETTINGS
def test_squeeze_unsqueeze_flatten(data):
    dtype = data.draw(any_dtype)
    nx, tx = data.draw(tensors(data.draw(shapes(0, 4, 1, 3)), dtype))
    nd = nx.ndim
    assert_close(tx.squeeze(), np.squeeze(nx), dtype)
    if nd:
        d = data.draw(st.integers(-nd, nd - 1))
        expected = np.squeeze(nx, d) if nx.shape[d] == 1 else nx
        assert_close(tx.squeeze(d), expected, dtype)
        ones = tuple(i for i in range(nd) if nx.shape[i] == 1)
        assert_close(tx.squeeze(ones), np.squeeze(nx, ones), dtype)
    u = data.draw(st.integers(-nd - 1, nd))
    assert_close(tx.unsqueeze(u), np.expand_dims(nx, u), dtype)
    assert_close(tx.flatten(), nx.reshape(-1), dtype)
    if nd:
        s = data.draw(st.integers(0, nd - 1))
        e = data.draw(st.integers(s, nd - 1))
        expected = nx.reshape(nx.shape[:s] + (-1,) + nx.shape[e + 1:]) if nx.size else nx.reshape(
            nx.shape[:s] + (int(np.prod(nx.shape[s:e + 1])),) + nx.shape[e + 1:])
        assert_close(tx.flatten(s, e), expected, dtype)
        assert_close(tx.flatten(s - nd, e - nd), expected, dtype)


def test_flatten_zero_dim_and_errors():
    assert tg.tensor(3.0).flatten().shape == (1,)
    with pytest.raises(ValueError):
        tg.ones(2, 3, 4).flatten(2, 1)
    with pytest.raises(IndexError):
        tg.ones(2).unsqueeze(3)


@given(data=st.data())
@SETTINGS
def test_basic_indexing(data):
    dtype = data.draw(any_dtype)
    nx, tx = data.draw(tensors(data.draw(shapes(0, 4, 1, 5)), dtype))
    key = data.draw(index_keys(nx.shape))
    out = tx[key]
    assert_close(out, nx[key], dtype)
    assert out._buf is tx._buf  # basic indexing never copies


@given(data=st.data())
@SETTINGS
def test_setitem_writes_through_views(data):
    """Assigning into a view (or a slice of one) changes the base, exactly like numpy."""
    dtype = data.draw(st.sampled_from(["float64", "int64"]))
    shape = data.draw(shapes(1, 3, 1, 5))
    base_np = np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)
    base = from_np(base_np)
    order = data.draw(st.permutations(range(len(shape))))
    view_np, view = base_np.transpose(order), base.permute(*order)
    key = data.draw(index_keys(view_np.shape))
    target = view_np[key]
    if data.draw(st.booleans()) or target.ndim == 0:
        value = -1
        view_np[key] = value
        view[key] = value
    else:
        vals = -np.arange(target.shape[-1] if target.ndim else 1).astype(dtype) - 1
        view_np[key] = vals  # broadcast the last dim
        view[key] = from_np(vals)
    assert_close(base, base_np, dtype)
    assert_close(view, view_np, dtype)


def test_setitem_known_cases():
    t = tg.zeros(3, 4)
    t[1] = 1.0
    t[:, ::-2] = tg.tensor([5.0, 6.0])
    t[..., 0, None] = 9
    assert t.tolist() == [[9.0, 6.0, 0.0, 5.0], [9.0, 6.0, 1.0, 5.0], [9.0, 6.0, 0.0, 5.0]]
    row = t[2]
    row[1:3] = tg.tensor([7, 8])  # int into float: cast to the destination dtype
    assert t[2].tolist() == [9.0, 7.0, 8.0, 5.0]
    t[0, 0] = tg.tensor(3.5)
    assert t[0, 0].item() == 3.5
    t[1:] = t[:2].clone()
    assert t[2].tolist() == [9.0, 6.0, 1.0, 5.0]
    o = tg.arange(5)
    o[1:] = o[:4]  # overlapping source and destination: goes through a temporary
    assert o.tolist() == [0, 0, 1, 2, 3]
    with pytest.raises(ValueError):
        t[0] = tg.ones(3)


def test_integer_tensor_and_list_indexing():
    t = tg.arange(12).reshape(3, 4)
    assert t[[2, 0]].tolist() == [[8, 9, 10, 11], [0, 1, 2, 3]]
    assert t[tg.tensor([1, 1])].tolist() == [[4, 5, 6, 7]] * 2
    assert t.index_select(1, tg.tensor([3, 0])).tolist() == [[3, 0], [7, 4], [11, 8]]
    with pytest.raises(IndexError):
        t[[3]]
    assert t[t > 8].tolist() == [9, 10, 11]  # boolean masks select (tests/test_advanced_index.py)


@given(data=st.data())
@SETTINGS
def test_cat_and_stack(data):
    dtype = data.draw(st.sampled_from(["float32", "int64", "bool"]))
    shape = data.draw(shapes(1, 3))
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    count = data.draw(st.integers(1, 3))
    parts = []
    for _ in range(count):
        s = list(shape)
        s[d] = data.draw(st.integers(0, 3))
        parts.append(data.draw(tensors(tuple(s), dtype)))
    assert_close(tg.cat([p[1] for p in parts], d), np.concatenate([p[0] for p in parts], d), dtype)
    same = [data.draw(tensors(shape, dtype)) for _ in range(count)]
    sd = data.draw(st.integers(-nd - 1, nd))
    assert_close(tg.stack([p[1] for p in same], sd), np.stack([p[0] for p in same], sd), dtype)


def test_cat_stack_rules():
    a, b = tg.ones(2, 3), tg.zeros(2, 1, dtype=tg.float64)
    c = tg.cat([a, b], 1)
    assert c.shape == (2, 4) and c.dtype is tg.float64
    assert tg.cat([tg.tensor([]), a]).shape == (2, 3)  # 1-D empty tensors are skipped, as in PyTorch
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 1\)"):
        tg.cat([a, b], 0)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 1\)"):
        tg.stack([a, b])
    with pytest.raises(ValueError):
        tg.cat([])
    with pytest.raises(IndexError):
        tg.cat([a, a], 2)


def test_split_chunk_narrow():
    t = tg.arange(10)
    assert [p.tolist() for p in t.split(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [p.tolist() for p in t.split([3, 7])] == [[0, 1, 2], [3, 4, 5, 6, 7, 8, 9]]
    assert [len(p) for p in t.chunk(3)] == [4, 4, 2]
    assert t.narrow(0, 2, 3).tolist() == [2, 3, 4]
    with pytest.raises(IndexError):
        t.narrow(0, 8, 3)
    with pytest.raises(ValueError):
        t.split([3, 3])


def test_views_share_storage_and_see_writes():
    base = tg.zeros(4, 6)
    views = [base[1], base[:, ::-2], base.T, base.reshape(2, 12), base[None, ..., 2], base.unsqueeze(0),
             base.view(24), base[1:3].flatten(), base[:1].expand(3, 6), base.squeeze()]
    base[1, 4] = 5.0
    for v in views:
        assert v._buf is base._buf
    assert views[0].tolist()[4] == 5.0
    assert views[1].tolist()[1] == [0.0, 0.0, 0.0]  # columns 5, 3, 1 do not hold it
    assert views[2][4, 1].item() == 5.0
    assert views[3][0, 10].item() == 5.0
    assert views[6][10].item() == 5.0
    assert views[7][4].item() == 5.0
    views[2][0, 3] = -1.0  # write through the transposed view
    assert base[3, 0].item() == -1.0


INPLACE = {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply, "div_": np.divide}


@pytest.mark.parametrize("name", list(INPLACE))
@given(data=st.data())
@SETTINGS
def test_inplace_ops_on_views_incl_overlapping_sources(name, data):
    """x.op_(src) on a (maybe non-contiguous) view writes through to the base, like numpy's
    in-place ufuncs, also when src reads the same memory (a flipped or transposed alias)."""
    shape = data.draw(shapes(1, 3, 1, 4))
    base_np = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).uniform(1, 2, shape)
    base = from_np(base_np)
    view_kind = data.draw(st.sampled_from(["whole", "flip", "T", "row"]))
    pick = {"whole": lambda x: x, "flip": lambda x: x[::-1], "T": lambda x: x.T,
            "row": lambda x: x[-1] if x.ndim > 1 else x[1:]}[view_kind]
    vn, vt = pick(base_np), pick(base)
    src_kind = data.draw(st.sampled_from(["scalar", "tensor", "alias_flip", "alias_T", "alias_same"]))
    if src_kind == "scalar":
        sn = st_ = 1.5
    elif src_kind == "tensor":
        sn = np.random.default_rng(1).uniform(1, 2, vn.shape[-1:])
        st_ = from_np(sn)
    else:
        alias = {"alias_flip": lambda x: x[::-1], "alias_T": lambda x: x.T, "alias_same": lambda x: x}[src_kind]
        sn, st_ = alias(vn), alias(vt)
        if sn.shape != vn.shape:
            sn, st_ = vn[::-1], vt[::-1]
    alpha = data.draw(st.sampled_from([1, -0.5, 2.0])) if name in ("add_", "sub_") else 1
    INPLACE[name](vn, sn * alpha, out=vn)  # numpy handles the overlap with a temporary
    with tg.no_grad():
        out = getattr(vt, name)(st_, alpha=alpha) if alpha != 1 else getattr(vt, name)(st_)
    assert out is vt
    assert_close(base, base_np, "float64")


def test_inplace_dtype_rules():
    i = tg.tensor([1, 2])
    with pytest.raises(TypeError, match="int64"):
        i.mul_(2.5)  # PyTorch refuses to truncate the float result
    with pytest.raises(TypeError):
        i.div_(2)
    with pytest.raises(TypeError):
        i.add_(tg.tensor([0.5, 0.5]))
    i.add_(3)
    assert i.tolist() == [4, 5]
    f = tg.tensor([1.0, 2.0])
    f.mul_(tg.tensor([2, 3]))  # int source into a float tensor is fine
    f.add_(tg.tensor([1.0, 1.0], dtype=tg.float64))  # so is a wider float (rounded to float32)
    assert f.tolist() == [3.0, 7.0] and f.dtype is tg.float32
    with pytest.raises(ValueError, match=r"\(2,\).*\(3, 2\)"):
        f.add_(tg.ones(3, 2))
