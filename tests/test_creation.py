"""Creation functions, attributes, conversions and repr (against numpy and PyTorch's printed form)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg

from helpers import SETTINGS, assert_close, shapes, to_np


def test_tensor_from_nested_lists_and_scalars(backend):
    t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.ndim == 2 and t.dtype is tg.float32 and t.backend == backend
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    s = tg.tensor(2.5)
    assert s.shape == () and s.ndim == 0 and s.item() == 2.5 and s.tolist() == 2.5
    assert tg.tensor(((1, 2), (3, 4))).tolist() == [[1, 2], [3, 4]]
    assert tg.tensor([]).shape == (0,) and tg.tensor([]).dtype is tg.float32
    assert tg.tensor([[], []]).shape == (2, 0)


@pytest.mark.parametrize("data, dtype", [
    ([1, 2], tg.int64), ([1, 2.5], tg.float32), ([True, False], tg.bool_), ([True, 2], tg.int64),
    (3, tg.int64), (3.0, tg.float32), (False, tg.bool_),
])
def test_tensor_infers_dtype_like_pytorch(data, dtype):
    assert tg.tensor(data).dtype is dtype


def test_tensor_explicit_dtype_and_requires_grad():
    t = tg.tensor([1, 2, 3], dtype=tg.float64, requires_grad=True)
    assert t.dtype is tg.float64 and t.requires_grad and t.is_leaf and t.grad is None
    assert tg.tensor([1.7, -1.7], dtype=tg.int64).tolist() == [1, -1]  # truncation toward zero
    assert tg.tensor([0.0, 2.0], dtype="bool").tolist() == [False, True]
    assert tg.tensor([1, 2], dtype=float).dtype is tg.float32


def test_tensor_copies_its_source():
    a = tg.tensor([1.0, 2.0])
    b = tg.tensor(a)
    b[0] = 5.0
    assert a.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("data", [[[1, 2], [3]], [[1, 2], 3], [1, [2, 3]], [[[1], [2]], [[3]]]])
def test_ragged_lists_are_value_errors(data):
    with pytest.raises(tg.TensorError) as e:
        tg.tensor(data)
    assert isinstance(e.value, ValueError)
    assert "ragged" in str(e.value)


def test_bad_element_type_is_type_error():
    with pytest.raises(TypeError):
        tg.tensor(["a", "b"])


@given(shape=shapes(0, 4))
@SETTINGS
def test_zeros_ones_empty_full(shape):
    for args in (shape, (shape,), (list(shape),)):
        assert tg.zeros(*args).shape == shape
    assert_close(tg.zeros(shape), np.zeros(shape, np.float32), "float32")
    assert_close(tg.ones(*shape), np.ones(shape, np.float32), "float32")
    assert tg.empty(shape).shape == shape and tg.empty(*shape).dtype is tg.float32
    assert_close(tg.full(shape, 2.5), np.full(shape, 2.5, np.float32), "float32")
    assert_close(tg.ones(shape, dtype=tg.int64), np.ones(shape, np.int64), "int64")
    assert_close(tg.zeros(shape, dtype=tg.bool_), np.zeros(shape, bool), "bool")


def test_full_dtype_from_fill_value():
    assert tg.full((2,), 3).dtype is tg.int64
    assert tg.full((2,), 3.0).dtype is tg.float32
    assert tg.full((2,), True).dtype is tg.bool_
    assert tg.full((2, 2), 7, dtype=tg.float64).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert tg.full(3, 1.0).shape == (3,)


def test_invalid_shapes():
    with pytest.raises(ValueError):
        tg.zeros(-1, 2)
    with pytest.raises(ValueError):
        tg.ones(2.5)


@pytest.mark.parametrize("args", [(5,), (2, 9), (2, 9, 3), (10, 0, -3), (0,), (-4, 4), (5, 1), (3, -3, -1)])
def test_arange_int(args):
    t = tg.arange(*args)
    assert t.dtype is tg.int64
    assert_close(t, np.arange(*args), "int64")


@pytest.mark.parametrize("args", [(2.5,), (0, 1, 0.1), (1.0, -1.0, -0.25), (0, 5, 1.5), (-1, 1, 0.3)])
def test_arange_float(args):
    t = tg.arange(*args)
    assert t.dtype is tg.float32
    assert_close(t, np.arange(*args).astype(np.float32), "float32", atol=1e-6)


def test_arange_dtype_and_zero_step():
    assert tg.arange(3, dtype=tg.float64).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError):
        tg.arange(0, 5, 0)


@pytest.mark.parametrize("args", [(0, 1, 5), (-3, 7, 11), (1, 0, 4), (2, 2, 3), (0, 1, 1), (0, 1, 0), (0.5, 9.5, 100)])
def test_linspace(args):
    t = tg.linspace(*args)
    assert t.dtype is tg.float32 and t.shape == (args[2],)
    assert_close(t, np.linspace(*args).astype(np.float32), "float32", atol=1e-6)
    if args[2] > 1:
        assert t.tolist()[-1] == np.float32(args[1])  # the end point is exact
    d = tg.linspace(*args, dtype=tg.float64)
    assert_close(d, np.linspace(*args), "float64", atol=1e-12)


@pytest.mark.parametrize("n, m", [(1, None), (3, None), (2, 4), (4, 2), (0, None), (3, 0)])
def test_eye(n, m):
    t = tg.eye(n) if m is None else tg.eye(n, m)
    assert_close(t, np.eye(n, m, dtype=np.float32), "float32")
    assert tg.eye(2, dtype=tg.int64).tolist() == [[1, 0], [0, 1]]


def test_like_functions():
    base = tg.tensor([[1, 2, 3]], dtype=tg.float64)
    for f, v in ((tg.zeros_like, 0.0), (tg.ones_like, 1.0)):
        t = f(base)
        assert t.shape == (1, 3) and t.dtype is tg.float64 and t.tolist() == [[v] * 3]
    assert tg.full_like(base, 4).tolist() == [[4.0] * 3]
    assert tg.zeros_like(base, dtype=tg.int64).dtype is tg.int64
    assert tg.empty_like(base).shape == (1, 3)
    r = tg.rand_like(base)
    assert r.shape == (1, 3) and r.dtype is tg.float64
    assert tg.randn_like(base).shape == (1, 3)
    assert tg.ones_like(base, requires_grad=True).requires_grad


def test_creation_backend_argument(backend):
    for t in (tg.tensor([1.0], backend=backend), tg.zeros(2, backend=backend), tg.ones(2, backend=backend),
              tg.full((2,), 1.0, backend=backend), tg.arange(3, backend=backend), tg.linspace(0, 1, 3, backend=backend),
              tg.eye(2, backend=backend), tg.rand(2, backend=backend), tg.randn(2, backend=backend),
              tg.empty(2, backend=backend)):
        assert t.backend == backend
    with pytest.raises(ValueError, match="python"):
        tg.zeros(2, backend="no_such_backend")


def test_attributes_and_conversions():
    t = tg.arange(24).reshape(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.numel() == 24 and t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.ndim == 3 and t.dim() == 3 and len(t) == 2
    assert t[1, 2, 3].item() == 23 and isinstance(t[1, 2, 3].item(), int)
    assert isinstance(tg.tensor([1.5]).item(), float)
    assert isinstance(tg.tensor(True).item(), bool)
    assert float(tg.tensor(2.5)) == 2.5 and int(tg.tensor(3)) == 3
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        t.item()
    with pytest.raises(IndexError):
        t.size(3)
    assert tg.tensor([[1, 2]]).tolist() == [[1, 2]]
    assert tg.zeros(2, 0).tolist() == [[], []]
    assert tg.zeros(0, 2).tolist() == []


@pytest.mark.parametrize("src, dtype, expected", [
    ('[[1., 2.], [3., 4.]]', None, 'tensor([[1., 2.],\n        [3., 4.]])'),
    ('[1.5, -2.25, 3.0]', None, 'tensor([ 1.5000, -2.2500,  3.0000])'),
    ('3.5', None, 'tensor(3.5000)'),
    ('7', None, 'tensor(7)'),
    ('True', None, 'tensor(True)'),
    ('[1, -20, 300]', None, 'tensor([  1, -20, 300])'),
    ('[True, False]', None, 'tensor([ True, False])'),
    ('[1e-5, 1.0]', None, 'tensor([1.0000e-05, 1.0000e+00])'),
    ('[1e9, 1.]', None, 'tensor([1.0000e+09, 1.0000e+00])'),
    ('[0.1234567, 12.5]', None, 'tensor([ 0.1235, 12.5000])'),
    ("[float('nan'), 1.0, float('inf')]", None, 'tensor([nan, 1., inf])'),
    ("[float('nan'), 1.5, -float('inf')]", None, 'tensor([   nan, 1.5000,   -inf])'),
    ('[1., 2.]', 'float64', 'tensor([1., 2.], dtype=tg.float64)'),
    ('[[1, 2]]', 'float64', 'tensor([[1., 2.]], dtype=tg.float64)'),
    ('list(range(2000))', 'float32', 'tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])'),
    ('[[float(i * 40 + j) for j in range(40)] for i in range(30)]', None, 'tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 3.7000e+01, 3.8000e+01,\n         3.9000e+01],\n        [4.0000e+01, 4.1000e+01, 4.2000e+01,  ..., 7.7000e+01, 7.8000e+01,\n         7.9000e+01],\n        [8.0000e+01, 8.1000e+01, 8.2000e+01,  ..., 1.1700e+02, 1.1800e+02,\n         1.1900e+02],\n        ...,\n        [1.0800e+03, 1.0810e+03, 1.0820e+03,  ..., 1.1170e+03, 1.1180e+03,\n         1.1190e+03],\n        [1.1200e+03, 1.1210e+03, 1.1220e+03,  ..., 1.1570e+03, 1.1580e+03,\n         1.1590e+03],\n        [1.1600e+03, 1.1610e+03, 1.1620e+03,  ..., 1.1970e+03, 1.1980e+03,\n         1.1990e+03]])'),
    ('[[i * 500 + j for j in range(500)] for i in range(3)]', None, 'tensor([[   0,    1,    2,  ...,  497,  498,  499],\n        [ 500,  501,  502,  ...,  997,  998,  999],\n        [1000, 1001, 1002,  ..., 1497, 1498, 1499]])'),
    ('[[]]', None, 'tensor([], size=(1, 0))'),
    ('[]', None, 'tensor([])'),
    ('[i / 29 for i in range(30)]', None, 'tensor([0.0000, 0.0345, 0.0690, 0.1034, 0.1379, 0.1724, 0.2069, 0.2414, 0.2759,\n        0.3103, 0.3448, 0.3793, 0.4138, 0.4483, 0.4828, 0.5172, 0.5517, 0.5862,\n        0.6207, 0.6552, 0.6897, 0.7241, 0.7586, 0.7931, 0.8276, 0.8621, 0.8966,\n        0.9310, 0.9655, 1.0000])'),
    ('[100.5, 2000.25]', None, 'tensor([ 100.5000, 2000.2500])'),
    ('[-0.0, 1.0]', None, 'tensor([-0., 1.])'),
    ('[0.0, 0.0]', None, 'tensor([0., 0.])'),
    ('[-1.0, 2.0]', None, 'tensor([-1.,  2.])'),
    ('[10**12, 1]', None, 'tensor([1000000000000,             1])'),
    ('list(range(30))', None, 'tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29])'),
    ('[[[1.0, 1.0]], [[1.0, 1.0]]]', None, 'tensor([[[1., 1.]],\n\n        [[1., 1.]]])'),
    ('[1e-10, 0.0]', None, 'tensor([1.0000e-10, 0.0000e+00])'),
])
def test_repr_matches_pytorch(src, dtype, expected):
    """Expected strings are PyTorch 2.x's repr of the same data (torch. -> tg.)."""
    assert repr(tg.tensor(eval(src), dtype=dtype)) == expected


def test_repr_autograd_suffixes():
    a = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert repr(a) == "tensor([[1., 2.],\n        [3., 4.]], requires_grad=True)"
    r = repr(a * 2)
    assert r.startswith("tensor([[2., 4.],") and "grad_fn=<Mul" in r
    assert "requires_grad" not in repr(a.detach())
    assert str(a) == repr(a)
    assert f"{tg.tensor(2.5):.2f}" == "2.50"


def test_repr_of_view_shows_view_values():
    t = tg.arange(6).reshape(2, 3)
    assert repr(t.T) == "tensor([[0, 3],\n        [1, 4],\n        [2, 5]])"
    assert repr(t[:, ::-2]) == "tensor([[2, 0],\n        [5, 3]])"


def test_backend_selection(backend):
    assert tg.get_backend() == backend and backend in tg.backends.available()
    assert tg.ones(1).backend == backend
    t = tg.arange(4).to(backend)
    assert t.backend == backend and t.to("cpu") is t
    with pytest.raises(ValueError, match="python"):
        tg.set_backend("bogus")
    assert tg.get_backend() == backend  # a failed switch changes nothing


def test_tg_backend_environment_variable(backend):
    import os
    import subprocess
    import sys
    code = "import tinygrad_like as tg; print(tg.get_backend(), tg.ones(1).backend)"
    env = dict(os.environ, TG_BACKEND=backend)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [backend, backend]
    env["TG_BACKEND"] = "bogus"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "bogus" in bad.stderr and "python" in bad.stderr
