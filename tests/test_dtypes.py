"""dtypes and PyTorch's type promotion: categories bool < int < float, Python scalars never
upcast within a category, 0-dim tensors do not widen dimensioned ones of the same category."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_like as tg

from helpers import to_np

F32, F64, I64, B = tg.float32, tg.float64, tg.int64, tg.bool_
VALUE = {F32: 1.5, F64: 1.5, I64: 2, B: True}


def make(dtype, zero_dim: bool = False) -> tg.Tensor:
    v = VALUE[dtype]
    return tg.tensor(v if zero_dim else [v, v], dtype=dtype)


# (a dtype, b dtype, result of a + b for dimensioned tensors) -- checked against torch 2.x
TENSOR_PAIRS = [
    (F32, F32, F32), (F32, F64, F64), (F64, F32, F64), (F32, I64, F32), (I64, F64, F64),
    (I64, I64, I64), (I64, B, I64), (B, I64, I64), (B, F32, F32), (F64, B, F64), (B, B, B),
]


@pytest.mark.parametrize("da, db, expected", TENSOR_PAIRS)
def test_tensor_tensor_promotion(da, db, expected):
    assert (make(da) + make(db)).dtype is expected
    assert (make(da) * make(db)).dtype is expected
    assert tg.maximum(make(da), make(db)).dtype is expected
    assert tg.where(make(B), make(da), make(db)).dtype is expected


# (dimensioned dtype, 0-dim dtype, result): same category keeps the dimensioned dtype
ZERO_DIM = [
    (F32, F64, F32), (F64, F32, F64), (I64, F64, F64), (I64, F32, F32), (B, I64, I64),
    (B, F64, F64), (F32, I64, F32), (F32, B, F32), (I64, B, I64),
]


@pytest.mark.parametrize("dim_dt, zero_dt, expected", ZERO_DIM)
def test_zero_dim_tensor_does_not_widen(dim_dt, zero_dt, expected):
    a, z = make(dim_dt), make(zero_dt, zero_dim=True)
    assert (a + z).dtype is expected
    assert (z + a).dtype is expected
    assert (a * z).shape == (2,)


def test_two_zero_dim_tensors_promote_normally():
    assert (make(F32, True) + make(F64, True)).dtype is F64
    assert (make(I64, True) + make(F32, True)).dtype is F32


# (tensor dtype, python scalar, result)
SCALARS = [
    (F32, 2, F32), (F32, 2.5, F32), (F32, True, F32), (F64, 2.5, F64), (F64, 3, F64),
    (I64, 2, I64), (I64, 2.5, F32), (I64, True, I64), (B, True, B), (B, 2, I64), (B, 2.5, F32),
]


@pytest.mark.parametrize("dt, scalar, expected", SCALARS)
def test_python_scalar_never_upcasts_within_category(dt, scalar, expected):
    t = make(dt)
    assert (t + scalar).dtype is expected
    assert (scalar + t).dtype is expected
    assert (t * scalar).dtype is expected
    assert (scalar * t).dtype is expected


def test_scalar_value_is_rounded_to_tensor_dtype():
    x = tg.tensor([1.0], dtype=F32)
    out = x * 0.1
    assert out.dtype is F32
    assert out.item() == float(np.float32(1.0) * np.float32(0.1))


@pytest.mark.parametrize("dt", [I64, B])
def test_true_division_of_integers_gives_float32(dt):
    a = tg.tensor([1, 3], dtype=dt) if dt is I64 else tg.tensor([True, True])
    assert (a / 2).dtype is F32
    assert (a / a).dtype is F32
    assert (1 / tg.tensor([2, 4])).tolist() == [0.5, 0.25]


def test_int_results_stay_exact():
    big = 2**53 + 1
    t = tg.tensor([big], dtype=I64)
    assert (t + 2).item() == big + 2  # no detour through float
    assert (t * 1).item() == big
    assert (tg.tensor([7, -7]) // 2).tolist() == [3, -4]  # floor division like Python / PyTorch
    assert (tg.tensor([7, -7]) % 3).tolist() == [1, 2]
    assert (tg.tensor([3]) ** 2).dtype is I64 and (tg.tensor([3]) ** 2).item() == 9
    assert (tg.tensor([2]) ** 0.5).dtype is F32


def test_where_with_a_scalar_of_a_higher_category():
    c = tg.tensor([True, False])
    out = tg.where(c, tg.tensor([1, 2]), 2.5)
    assert out.dtype is F32 and out.tolist() == [1.0, 2.5]  # not truncated to int64
    assert tg.where(c, 0.5, tg.tensor([1, 2])).tolist() == [0.5, 2.0]
    assert tg.where(c, tg.tensor([1.0, 2.0], dtype=F64), 7).dtype is F64
    assert tg.where(c, tg.tensor([1, 2]), 7).dtype is I64


def test_comparisons_return_bool():
    for dt in (F32, F64, I64, B):
        t = make(dt)
        for r in (t == t, t != 1, t < 2, t <= t, t > 0, t >= 0.5):
            assert r.dtype is B


def test_bool_ops_like_pytorch():
    a, b = tg.tensor([True, False, True]), tg.tensor([True, True, False])
    assert (a + b).dtype is B and (a + b).tolist() == [True, True, True]
    assert (a * b).tolist() == [True, False, False]
    assert (a & b).tolist() == [True, False, False]
    assert (a | b).tolist() == [True, True, True]
    assert (a ^ b).tolist() == [False, True, True]
    assert (~a).tolist() == [False, True, False]
    with pytest.raises(TypeError):
        a - b
    with pytest.raises(TypeError):
        -a
    with pytest.raises(TypeError):
        ~tg.tensor([1, 2])


def test_conversions():
    x = tg.tensor([-1.7, 0.0, 2.5])
    assert x.double().dtype is F64 and x.double().tolist() == pytest.approx([-1.7, 0.0, 2.5], rel=1e-7)
    assert x.long().dtype is I64 and x.long().tolist() == [-1, 0, 2]  # truncation toward zero
    assert x.bool().tolist() == [True, False, True]
    assert x.long().float().dtype is F32
    assert x.to(tg.int64).tolist() == [-1, 0, 2]
    assert x.to("float64").dtype is F64 and x.to(float).dtype is F32 and x.to(int).dtype is I64
    assert x.to(tg.float32) is x  # no-op conversion returns the tensor itself
    assert tg.tensor([True, False]).long().tolist() == [1, 0]
    assert tg.tensor([True, False]).float().tolist() == [1.0, 0.0]
    assert tg.tensor([3, 0]).bool().tolist() == [True, False]
    t = tg.arange(6).reshape(2, 3).T
    assert t.double().tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]  # cast of a view
    assert x.type(tg.float64).dtype is F64


def test_float64_keeps_precision_float32_rounds():
    v = 0.1 + 2**-40
    assert tg.tensor([v], dtype=F64).item() == v
    assert tg.tensor([v], dtype=F32).item() == float(np.float32(v))
    assert tg.tensor([1e39], dtype=F32).item() == math.inf  # overflow rounds to inf
    assert tg.tensor([1e39], dtype=F64).double().to(F32).item() == math.inf


def test_nan_to_int_is_an_error():
    with pytest.raises(tg.TensorError):
        tg.tensor([math.nan]).long()
    with pytest.raises(tg.TensorError):
        tg.tensor([math.nan], dtype=I64)


def test_dtype_objects():
    assert tg.float is F32 and tg.double is F64 and tg.long is I64 and tg.bool is B
    assert [d.itemsize for d in (F32, F64, I64, B)] == [4, 8, 8, 1]
    assert F32.is_float and not I64.is_float
    assert repr(F64) == "tg.float64"
    with pytest.raises(TypeError, match="float32"):
        tg.tensor([1.0], dtype="float16")
    with pytest.raises(TypeError):
        tg.zeros(2, dtype="complex64")


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError):
        tg.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError):
        tg.tensor([1, 2]).requires_grad_()


def test_reduction_dtypes():
    i = tg.tensor([[1, 2], [3, 4]])
    assert i.sum().dtype is I64 and i.sum().item() == 10
    assert tg.tensor([True, True, False]).sum().dtype is I64
    assert tg.tensor([True, True, False]).sum().item() == 2
    assert i.max().dtype is I64 and i.argmax().dtype is I64
    assert i.float().mean().dtype is F32
    with pytest.raises(TypeError):
        i.mean()
    assert i.var().dtype is F32  # integer input is promoted (PyTorch raises; we compute in float32)
    assert i.sum(dtype=tg.float64).dtype is F64


def test_unary_float_ops_promote_ints():
    i = tg.tensor([1, 4])
    assert i.sqrt().dtype is F32 and i.sqrt().tolist() == [1.0, 2.0]
    assert i.exp().dtype is F32
    assert i.abs().dtype is I64 and (-i).dtype is I64
    assert i.relu().dtype is I64


def test_values_of_int_ops_match_numpy():
    a = np.array([[-3, 5, 0], [7, -2, 9]], dtype=np.int64)
    t = tg.tensor(a.tolist())
    np.testing.assert_array_equal(to_np(t * t - 3 * t + 1), a * a - 3 * a + 1)
    np.testing.assert_array_equal(to_np(tg.maximum(t, 1)), np.maximum(a, 1))
    np.testing.assert_array_equal(to_np(t.abs()), np.abs(a))
