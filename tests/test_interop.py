"""numpy interop: from_numpy and Tensor.numpy() round trips, views included (numpy is a test dependency)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg

from helpers import NP_DTYPE, SETTINGS, assert_close, random_values, shapes, tensors, to_np

any_dtype = st.sampled_from(["float32", "float64", "int64", "bool"])


@given(data=st.data())
@SETTINGS
def test_from_numpy_values_and_dtype(data):
    dtype = data.draw(any_dtype)
    shape = data.draw(shapes(0, 4, 0, 4))
    a = random_values(np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))), shape, dtype)
    view = data.draw(st.sampled_from(["plain", "T", "flip", "step"]))
    if a.ndim:
        a = {"plain": a, "T": a.T, "flip": a[::-1], "step": a[..., ::2]}[view]
    t = tg.from_numpy(a)
    assert t.dtype.name == dtype and t.shape == a.shape
    assert_close(t, a, dtype)
    assert_close(tg.tensor(a), a, dtype)  # tg.tensor copies numpy arrays too


@given(data=st.data())
@SETTINGS
def test_numpy_of_views_round_trip(data):
    dtype = data.draw(any_dtype)
    na, ta = data.draw(tensors(None, dtype))
    out = ta.numpy()
    assert out.dtype == NP_DTYPE[dtype] and out.shape == na.shape
    np.testing.assert_array_equal(out, na)
    back = tg.from_numpy(out.copy())
    assert_close(back, na, dtype)


def test_numpy_shares_memory_with_the_tensor():
    t = tg.arange(12, dtype=tg.float64).reshape(3, 4)
    a = t.numpy()
    a[1, 2] = -1.0
    assert t[1, 2].item() == -1.0
    t[0, 0] = 7.0
    assert a[0, 0] == 7.0
    v = t.T[::-1, 1:]  # a non-contiguous view: numpy sees the same strides
    av = v.numpy()
    np.testing.assert_array_equal(av, to_np(v))
    av[0, 0] = 42.0
    assert t[1, 3].item() == 42.0


def test_numpy_of_expanded_and_zero_dim():
    e = tg.tensor([1.0, 2.0]).expand(3, 2)
    np.testing.assert_array_equal(e.numpy(), np.broadcast_to([1.0, 2.0], (3, 2)))
    s = tg.tensor(3.5)
    assert s.numpy().shape == () and s.numpy() == 3.5
    assert tg.zeros(0, 3).numpy().shape == (0, 3)
    assert tg.from_numpy(np.zeros((2, 0))).shape == (2, 0)


def test_from_numpy_special_arrays():
    be = np.arange(4, dtype=">f8")  # big-endian input
    assert tg.from_numpy(be).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert tg.from_numpy(np.array(2.5)).shape == ()
    b = tg.from_numpy(np.array([True, False, True]))
    assert b.dtype is tg.bool_ and b.tolist() == [True, False, True]
    assert tg.from_numpy(np.array([[1, 2]], dtype=np.int64)).dtype is tg.int64


def test_from_numpy_errors():
    with pytest.raises(TypeError, match="float16.*float32"):
        tg.from_numpy(np.zeros(2, dtype=np.float16))
    with pytest.raises(TypeError):
        tg.from_numpy(np.zeros(2, dtype=np.int8))
    with pytest.raises(TypeError):
        tg.from_numpy([1.0, 2.0])


def test_numpy_requires_detach_for_grad_tensors():
    t = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        t.numpy()
    np.testing.assert_array_equal(t.detach().numpy(), [1.0, 1.0])


def test_numpy_scalars_act_like_python_numbers():
    t = tg.tensor([1.0, 2.0])
    assert (t * np.float64(2.0)).dtype is tg.float32  # like a Python float: no upcast
    assert (t + np.int64(1)).tolist() == [2.0, 3.0]
    assert (t * np.float32(2.0)).tolist() == [2.0, 4.0]
    assert tg.tensor([np.float64(1.5), np.int64(2)]).dtype is tg.float32


def test_results_through_backend_move_match(backend):
    a = np.random.default_rng(0).standard_normal((3, 4))
    for other in tg.backends.available():
        t = tg.from_numpy(a).to(other)
        assert t.backend == other
        np.testing.assert_array_equal(t.numpy(), a)
        assert t.to(backend).backend == backend
