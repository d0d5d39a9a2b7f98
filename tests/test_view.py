"""Pure View algebra (no buffers, no backend) against numpy's own strides.

The oracle: a numpy array of buffer *positions* (`np.arange(n)` reshaped), put through the same
movement op; its values are exactly the buffer positions the View must address.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg
from tinygrad_like.view import (View, broadcast_shapes, coalesce, elementwise_layout, infer_shape,
                                is_dense_permuted, memory_order)

from helpers import SETTINGS, broadcast_pair, shapes


def positions(v: View) -> np.ndarray:
    """Buffer position of every element of the view, as an array of the view's shape."""
    pos = np.full(v.shape, v.offset, dtype=np.int64)
    for d, (n, s) in enumerate(zip(v.shape, v.strides)):
        idx = np.arange(n, dtype=np.int64).reshape((1,) * d + (n,) + (1,) * (len(v.shape) - d - 1))
        pos = pos + idx * s
    return pos


def base_pair(shape: tuple) -> tuple:
    n = int(np.prod(shape)) if shape else 1
    return np.arange(n, dtype=np.int64).reshape(shape), View.contiguous(shape)


def check(v: View, a: np.ndarray) -> None:
    assert v.shape == a.shape
    np.testing.assert_array_equal(positions(v), a)


@st.composite
def strided_views(draw) -> tuple:
    """(numpy positions, View) after a random permute and a random strided slice (incl. negative)."""
    shape = draw(shapes(1, 4, 1, 5))
    a, v = base_pair(shape)
    order = tuple(draw(st.permutations(range(len(shape)))))
    a, v = a.transpose(order), v.permute(order)
    key = []
    for n in a.shape:
        start = draw(st.integers(0, n - 1))
        step = draw(st.sampled_from([1, 2, -1, -2]))
        key.append(slice(start, None, step))
    key = tuple(key)
    return a[key], v.index(key)


@given(shape=shapes(0, 5), data=st.data())
@SETTINGS
def test_permute(shape, data):
    order = tuple(data.draw(st.permutations(range(len(shape)))))
    a, v = base_pair(shape)
    check(v.permute(order), a.transpose(order))


def test_permute_errors():
    v = View.contiguous((2, 3))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        v.permute((0,))
    with pytest.raises(ValueError, match="permutation"):
        v.permute((0, 0))
    with pytest.raises(IndexError):
        v.permute((0, 2))


@given(pair=broadcast_pair())
@SETTINGS
def test_expand_is_broadcast_to(pair):
    small, _ = pair
    full = np.broadcast_shapes(*pair)
    a, v = base_pair(small)
    e = v.expand(full)
    check(e, np.broadcast_to(a, full))
    for n_small, n_full, s in zip((1,) * (len(full) - len(small)) + small, full, e.strides):
        if n_small == 1 and n_full != 1:
            assert s == 0  # broadcasting is a zero stride, never a copy


def test_expand_minus_one_and_errors():
    v = View.contiguous((3, 1))
    assert v.expand((2, -1, 4)).shape == (2, 3, 4)
    with pytest.raises(tg.ShapeError, match=r"\(3, 1\).*dim 0 has 3 vs 5"):
        v.expand((5, 4))
    with pytest.raises(ValueError, match="fewer dims"):
        v.expand((4,))


@given(pair=broadcast_pair())
@SETTINGS
def test_broadcast_shapes_like_numpy(pair):
    assert broadcast_shapes(*pair) == np.broadcast_shapes(*pair)
    assert broadcast_shapes(pair[1], pair[0]) == np.broadcast_shapes(*pair)


def test_broadcast_shapes_error_names_both_and_dim():
    with pytest.raises(tg.ShapeError) as e:
        broadcast_shapes((2, 3), (4,))
    assert isinstance(e.value, ValueError)
    assert "(2, 3)" in str(e.value) and "(4,)" in str(e.value) and "dim 1" in str(e.value)


@st.composite
def index_keys(draw, shape: tuple) -> tuple:
    """A basic-indexing key: ints (maybe negative), slices with any step, None and one Ellipsis."""
    items: list = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "slice", "full"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
            stop = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
            step = draw(st.sampled_from([None, 1, 2, 3, -1, -2]))
            items.append(slice(start, stop, step))
        else:
            items.append(slice(None))
    if draw(st.booleans()):  # an Ellipsis stands for a run of dims taken whole
        p = draw(st.integers(0, len(items)))
        r = draw(st.integers(0, len(items) - p))
        items = items[:p] + [Ellipsis] + items[p + r:]
    else:  # trailing dims left out
        items = items[:draw(st.integers(0, len(items)))]
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    return tuple(items)


@given(shape=shapes(0, 4, 1, 5), data=st.data())
@SETTINGS
def test_index_like_numpy(shape, data):
    a, v = base_pair(shape)
    if data.draw(st.booleans()) and shape:
        a, v = data.draw(strided_views())
    key = data.draw(index_keys(a.shape))
    check(v.index(key), a[key])


def test_index_single_items():
    a, v = base_pair((3, 4))
    check(v.index(1), a[1])
    check(v.index(-1), a[-1])
    check(v.index(slice(None, None, -1)), a[::-1])
    check(v.index(None), a[None])
    check(v.index(Ellipsis), a[...])
    check(v.index((Ellipsis, -1)), a[..., -1])
    check(v.index(slice(5, 1)), a[5:1])  # empty slice


def test_index_errors():
    v = View.contiguous((3, 4))
    with pytest.raises(IndexError, match="index 3 is out of bounds for dim 0 with size 3"):
        v.index(3)
    with pytest.raises(IndexError, match="dim 1 with size 4"):
        v.index((0, -5))
    with pytest.raises(IndexError, match="too many indices"):
        v.index((0, 0, 0))
    with pytest.raises(IndexError, match="ellipsis"):
        v.index((Ellipsis, Ellipsis))
    with pytest.raises(ValueError, match="step"):
        v.index(slice(None, None, 0))
    with pytest.raises(IndexError):
        v.index(1.5)


def _factorizations(draw, n: int) -> tuple:
    """A random shape with product n (size-1 dims sprinkled in)."""
    out = []
    rest = n
    while rest > 1:
        divs = [d for d in range(2, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divs))
        out.append(d)
        rest //= d
        if draw(st.integers(0, 4)) == 0:
            out.append(1)
    if not out or draw(st.integers(0, 4)) == 0:
        out.insert(draw(st.integers(0, len(out))), 1)
    return tuple(out)


def numpy_can_view(a: np.ndarray, shape: tuple) -> bool:
    b = a.view()
    try:
        b.shape = shape  # numpy refuses (AttributeError) exactly when a copy would be needed
    except AttributeError:
        return False
    return True


@given(data=st.data())
@SETTINGS
def test_reshape_contiguous(data):
    shape = data.draw(shapes(0, 4, 1, 5))
    a, v = base_pair(shape)
    new = data.draw(st.just(None)) or _factorizations(data.draw, a.size)
    r = v.reshape(new)
    assert r is not None
    check(r, a.reshape(new))


@given(data=st.data())
@SETTINGS
def test_reshape_non_contiguous_as_view_when_numpy_can(data):
    a, v = data.draw(strided_views())
    new = _factorizations(data.draw, a.size)
    r = v.reshape(new)
    if numpy_can_view(a, new):
        assert r is not None, f"{v} -> {new} should be a view (numpy can)"
    if r is not None:
        check(r, a.reshape(new))  # values are positions: equal means no copy is needed


def test_reshape_known_cases():
    # merging the two dims of a transposed matrix needs a copy
    assert View.contiguous((2, 3)).permute((1, 0)).reshape((6,)) is None
    # splitting a dim of a transposed matrix does not
    a, v = base_pair((4, 6))
    t = v.permute((1, 0))
    check(t.reshape((2, 3, 4)), a.T.reshape(2, 3, 4))
    # a step-2 slice of each row of 6 is evenly spaced (stride 2) across rows too: a view
    check(v.index((slice(None), slice(None, None, 2))).reshape((12,)), a[:, ::2].reshape(12))
    # cutting rows short breaks the even spacing: no view
    assert v.index((slice(None), slice(None, 4))).reshape((16,)) is None
    check(v.index((slice(None, None, 2),)).reshape((2, 3, 2)), a[::2].reshape(2, 3, 2))
    # adding and removing size-1 dims always works
    check(t.reshape((6, 1, 4)), a.T.reshape(6, 1, 4))


def test_infer_shape():
    assert infer_shape((-1, 3), 6, (6,)) == (2, 3)
    with pytest.raises(tg.ShapeError):  # as in PyTorch: -1 next to a 0 is ambiguous
        infer_shape((0, -1), 0, (0, 4))
    with pytest.raises(tg.ShapeError, match=r"\(4, -1\).*\(6,\)"):
        infer_shape((4, -1), 6, (6,))
    with pytest.raises(tg.ShapeError, match="only one"):
        infer_shape((-1, -1), 6, (6,))
    with pytest.raises(tg.ShapeError, match=r"\(5,\).*\(2, 3\)"):
        infer_shape((5,), 6, (2, 3))


@given(data=st.data())
@SETTINGS
def test_coalesce_keeps_order_and_is_minimal(data):
    a, v = data.draw(strided_views())
    other = View.contiguous(v.shape)
    cs, (s1, s2) = coalesce(v.shape, v.strides, other.strides)
    np.testing.assert_array_equal(positions(View(cs, s1, v.offset)).ravel(), a.ravel())
    np.testing.assert_array_equal(positions(View(cs, s2, 0)).ravel(), np.arange(a.size))
    assert 1 not in cs
    for i in range(len(cs) - 1):  # no two neighbours could have been merged
        assert not (s1[i] == s1[i + 1] * cs[i + 1] and s2[i] == s2[i + 1] * cs[i + 1])


def test_coalesce_dense_is_one_dim():
    assert coalesce((4, 5, 6), (30, 6, 1)) == ((120,), [(1,)])
    assert coalesce((1, 1), (5, 7)) == ((), [()])
    assert coalesce((4, 5), (1, 4)) == ((4, 5), [(1, 4)])  # transposed stays 2-D
    assert coalesce((3, 4), (0, 1)) == ((3, 4), [(0, 1)])  # broadcast rows stay separate


@given(data=st.data())
@SETTINGS
def test_is_contiguous_and_span(data):
    a, v = data.draw(strided_views())
    pos = positions(v)
    lo, hi = v.span()
    assert (lo, hi) == (pos.min(), pos.max())
    dense = np.array_equal(pos.ravel(), np.arange(pos.size))
    assert v.is_contiguous() == dense


@given(shape=shapes(0, 4, 1, 3), data=st.data())
@SETTINGS
def test_squeeze_unsqueeze(shape, data):
    a, v = base_pair(shape)
    check(v.squeeze(), np.squeeze(a))
    d = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check(v.unsqueeze(d), np.expand_dims(a, d))
    ones = [i for i, n in enumerate(shape) if n == 1]
    if ones:
        i = data.draw(st.sampled_from(ones))
        check(v.squeeze((i,)), np.squeeze(a, i))


def test_memory_order_known_cases():
    assert memory_order((4, 5), (5, 1)) is None                       # row-major already
    assert memory_order((4, 5), (1, 4)) == (1, 0)                     # x.T: its memory order
    assert memory_order((4, 5), (1, 4), (0, 1)) == (1, 0)             # x.T + v: the first operand decides
    assert memory_order((4, 5), (5, 1), (1, 4)) is None               # x + y.T: x decides
    assert memory_order((4, 5), (0, 1), (1, 4)) == (1, 0)             # broadcast dims say nothing
    assert memory_order((2, 3, 4), (1, 2, 6)) == (2, 1, 0)
    assert memory_order((3, 1, 4), (1, 7, 3)) == (1, 2, 0)            # size-1 dims go outermost
    assert memory_order((4, 5), (-1, 4)) == (1, 0)                    # |stride| orders a flipped view


def _walk_order_is_ascending(shape, ks, cs) -> bool:
    pos = positions(View(cs, ks, 0)).ravel()
    return bool(np.all(np.diff(pos) > 0))


@given(data=st.data())
@SETTINGS
def test_elementwise_layout_follows_a_permuted_dense_operand(data):
    """A dense operand in any dim order is walked in memory order, and the result strides put
    each element where the kernel's dense output has it."""
    shape = data.draw(shapes(1, 4, 1, 5))
    order = tuple(data.draw(st.permutations(range(len(shape)))))
    a, v = base_pair(shape)
    a, v = a.transpose(order), v.permute(order)
    other = View((1,) * v.ndim, (0,) * v.ndim).expand(v.shape)  # a broadcast scalar
    ost, cs, (ka, kb) = elementwise_layout(v.shape, v.strides, other.strides)
    assert is_dense_permuted(v.shape, ost)
    if v.numel() > 1:
        assert _walk_order_is_ascending(v.shape, ka, cs)
    assert ost == v.strides or any(n == 1 for n in v.shape)  # the result has the operand's layout
    # the kernel writes out[k] for the k-th element it walks: the result view must read it back
    out = np.empty(v.numel(), dtype=np.int64)
    out[:] = positions(View(cs, ka, 0)).ravel() if cs else [0]
    res = positions(View(v.shape, ost, 0))
    np.testing.assert_array_equal(out[res], a)


@given(data=st.data())
@SETTINGS
def test_elementwise_layout_result_is_dense_for_any_views(data):
    a, v = data.draw(strided_views())
    b = View.contiguous(v.shape)
    ost, cs, (ka, kb) = elementwise_layout(v.shape, v.strides, b.strides)
    assert is_dense_permuted(v.shape, ost)
    # the result view addresses the kernel's k-th output for the element the kernel read k-th
    pa = positions(View(cs, ka, v.offset)).ravel() if cs else np.array([v.offset])
    pb = positions(View(cs, kb, 0)).ravel() if cs else np.array([0])
    res = positions(View(v.shape, ost, 0))
    np.testing.assert_array_equal(pa[res], a)
    np.testing.assert_array_equal(pb[res], np.arange(a.size).reshape(a.shape))


def test_is_dense_permuted():
    assert is_dense_permuted((4, 5), (5, 1)) and is_dense_permuted((4, 5), (1, 4))
    assert not is_dense_permuted((4, 5), (10, 2))
    assert not is_dense_permuted((4, 5), (0, 1))
    assert is_dense_permuted((4, 1, 5), (1, 99, 4))
