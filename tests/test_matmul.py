"""matmul / @ with PyTorch's rules against numpy: 1-D and 2-D promotion, batched broadcast, views."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg

from helpers import SETTINGS, assert_close, broadcast_pair, tensors

MM_TOL = {"float32": dict(rtol=1e-5, atol=1e-4), "float64": dict(rtol=1e-10, atol=1e-10)}


def np_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.result_type(a, b))


@given(data=st.data())
@SETTINGS
def test_matmul_all_rank_combinations(data):
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    m, k, n = (data.draw(st.integers(1, 5)) for _ in range(3))
    ba, bb = data.draw(broadcast_pair(0, 2, 3))
    a_1d, b_1d = data.draw(st.booleans()), data.draw(st.booleans())
    sa = (k,) if a_1d else ba + (m, k)
    sb = (k,) if b_1d else bb + (k, n)
    na, ta = data.draw(tensors(sa, dtype))
    nb, tb = data.draw(tensors(sb, dtype))
    expected = np_matmul(na, nb)
    assert_close(ta @ tb, expected, dtype, **MM_TOL[dtype])
    assert_close(ta.matmul(tb), expected, dtype, **MM_TOL[dtype])
    assert_close(tg.matmul(ta, tb), expected, dtype, **MM_TOL[dtype])


@given(data=st.data())
@SETTINGS
def test_matmul_transposed_views(data):
    """a.T @ b, a @ b.T, a.mT @ b.mT: BLAS-style transposes of views."""
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    m, k, n = (data.draw(st.integers(1, 6)) for _ in range(3))
    batch = data.draw(st.sampled_from([(), (2,), (3, 1)]))
    na, ta = data.draw(tensors(batch + (k, m), dtype, kinds=("contiguous", "sliced", "flipped")))
    nb, tb = data.draw(tensors(batch + (n, k), dtype, kinds=("contiguous", "sliced", "expanded")))
    assert_close(ta.mT @ tb.mT, np_matmul(np.swapaxes(na, -1, -2), np.swapaxes(nb, -1, -2)), dtype, **MM_TOL[dtype])
    if not batch:
        assert_close(ta.T @ tb.T, np_matmul(na.T, nb.T), dtype, **MM_TOL[dtype])
        assert_close(tb @ ta, np_matmul(nb, na), dtype, **MM_TOL[dtype])


def test_matmul_known_values_and_shapes():
    a = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = tg.tensor([5.0, 6.0])
    assert (a @ a).tolist() == [[7.0, 10.0], [15.0, 22.0]]
    assert (a @ b).tolist() == [17.0, 39.0]
    assert (b @ a).tolist() == [23.0, 34.0]
    v = b @ b
    assert v.shape == () and v.item() == 61.0
    assert b.dot(b).item() == 61.0 and tg.dot(b, b).item() == 61.0
    assert (tg.ones(4, 1, 2, 3) @ tg.ones(5, 3, 2)).shape == (4, 5, 2, 2)
    assert (tg.ones(3) @ tg.ones(2, 3, 4)).shape == (2, 4)
    assert (tg.ones(2, 3, 4) @ tg.ones(4)).shape == (2, 3)
    assert (tg.ones(2, 3) @ tg.ones(3, 4, dtype=tg.float64)).dtype is tg.float64
    assert a.mm(a).tolist() == (a @ a).tolist()


def test_matmul_zero_sizes():
    assert (tg.ones(2, 0) @ tg.ones(0, 3)).tolist() == [[0.0] * 3] * 2
    assert (tg.ones(0, 2) @ tg.ones(2, 3)).shape == (0, 3)
    assert (tg.ones(0, 2, 3) @ tg.ones(3, 4)).shape == (0, 2, 4)
    assert (tg.ones(0) @ tg.ones(0)).item() == 0.0


def test_matmul_errors():
    with pytest.raises(tg.ShapeError, match=r"\(2, 3\) @ \(4, 5\): inner dimensions 3 and 4 differ"):
        tg.ones(2, 3) @ tg.ones(4, 5)
    with pytest.raises(ValueError, match="3 and 4"):
        tg.ones(3) @ tg.ones(4)
    with pytest.raises(ValueError, match=r"\(2, 2, 3\).*\(3, 3, 4\)"):
        tg.ones(2, 2, 3) @ tg.ones(3, 3, 4)
    with pytest.raises(ValueError):
        tg.tensor(1.0) @ tg.ones(2)
    with pytest.raises(TypeError):
        tg.ones(2, 2, dtype=tg.int64) @ tg.ones(2, 2, dtype=tg.int64)
    with pytest.raises(TypeError):
        tg.ones(2, 2) @ [[1.0]]
