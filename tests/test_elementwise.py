"""Elementwise ops against numpy on random shapes, non-contiguous views and broadcast pairs."""
from __future__ import annotations

import math
import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg

from helpers import (FEW, NP_DTYPE, SETTINGS, assert_close, broadcast_pair, from_np, tensors,
                     to_np)

_erf = np.vectorize(math.erf, otypes=[np.float64])


def np_gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x.astype(np.float64) * (1 + _erf(x.astype(np.float64) / math.sqrt(2)))).astype(x.dtype)


def np_sigmoid(x: np.ndarray) -> np.ndarray:
    return (1 / (1 + np.exp(-x.astype(np.float64)))).astype(x.dtype)


float_dtypes = st.sampled_from(["float32", "float64"])
num_dtypes = st.sampled_from(["float32", "float64", "int64"])

BINARY = {
    "add": (operator.add, num_dtypes, {}),
    "sub": (operator.sub, num_dtypes, {}),
    "mul": (operator.mul, num_dtypes, {}),
    "div": (operator.truediv, float_dtypes, {"b": dict(positive=True)}),
    "pow": (operator.pow, float_dtypes, {"a": dict(positive=True)}),
    "maximum": ("maximum", num_dtypes, {}),
    "minimum": ("minimum", num_dtypes, {}),
}


def apply_binary(op, a, b):
    if op == "maximum":
        return tg.maximum(a, b) if isinstance(a, tg.Tensor) or isinstance(b, tg.Tensor) else np.maximum(a, b)
    if op == "minimum":
        return tg.minimum(a, b) if isinstance(a, tg.Tensor) or isinstance(b, tg.Tensor) else np.minimum(a, b)
    return op(a, b)


@pytest.mark.parametrize("name", list(BINARY))
@given(data=st.data())
@SETTINGS
def test_binary_tensor_tensor_broadcast(name, data):
    op, dtypes, extra = BINARY[name]
    dtype = data.draw(dtypes)
    sa, sb = data.draw(broadcast_pair())
    na, ta = data.draw(tensors(sa, dtype, **extra.get("a", {})))
    nb, tb = data.draw(tensors(sb, dtype, **extra.get("b", {})))
    out = apply_binary(op, ta, tb)
    assert_close(out, apply_binary(op, na, nb), dtype)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
@given(data=st.data())
@SETTINGS
def test_binary_tensor_scalar_both_sides(name, data):
    op, dtypes, extra = BINARY[name]
    dtype = data.draw(dtypes)
    na, ta = data.draw(tensors(None, dtype, positive=True))
    if dtype == "int64" or (name == "pow" and data.draw(st.booleans())):
        s = data.draw(st.integers(1, 3))
    else:
        s = data.draw(st.floats(0.25, 3.0))
    npdt = NP_DTYPE[dtype]
    assert_close(apply_binary(op, ta, s), apply_binary(op, na, np.asarray(s).astype(npdt)), dtype)
    assert_close(apply_binary(op, s, ta), apply_binary(op, np.asarray(s).astype(npdt), na), dtype)


@given(data=st.data())
@SETTINGS
def test_mixed_dtypes_compute_in_the_promoted_dtype(data):
    sa, sb = data.draw(broadcast_pair())
    na, ta = data.draw(tensors(sa, "float32"))
    nb, tb = data.draw(tensors(sb, data.draw(st.sampled_from(["float64", "int64"]))))
    # a 0-dim float64 does not widen a dimensioned float32 (PyTorch's rule)
    wide = nb.dtype == np.float64 and not (nb.ndim == 0 and na.ndim > 0)
    expected_dtype = "float64" if wide else "float32"
    assert_close(ta * tb + tb, (na * nb + nb).astype(NP_DTYPE[expected_dtype]), expected_dtype)


UNARY = {
    "neg": (lambda t: -t, np.negative, {}),
    "abs": (lambda t: t.abs(), np.abs, {}),
    "exp": (lambda t: t.exp(), np.exp, {}),
    "log": (lambda t: t.log(), np.log, dict(positive=True)),
    "sqrt": (lambda t: t.sqrt(), np.sqrt, dict(positive=True)),
    "sin": (lambda t: t.sin(), np.sin, {}),
    "cos": (lambda t: t.cos(), np.cos, {}),
    "tanh": (lambda t: t.tanh(), np.tanh, {}),
    "sigmoid": (lambda t: t.sigmoid(), np_sigmoid, {}),
    "relu": (lambda t: t.relu(), lambda x: np.maximum(x, 0).astype(x.dtype), {}),
    "gelu": (lambda t: t.gelu(), np_gelu, {}),
    "leaky_relu": (lambda t: t.leaky_relu(), lambda x: np.where(x > 0, x, x * x.dtype.type(0.01)), {}),
    "leaky_relu_0.2": (lambda t: t.leaky_relu(0.2), lambda x: np.where(x > 0, x, x * x.dtype.type(0.2)), {}),
    "clamp": (lambda t: t.clamp(-1.0, 0.5), lambda x: np.clip(x, -1.0, 0.5).astype(x.dtype), {}),
    "clamp_min": (lambda t: t.clamp(min=-0.5), lambda x: np.maximum(x, x.dtype.type(-0.5)), {}),
    "clamp_max": (lambda t: t.clamp(max=0.5), lambda x: np.minimum(x, x.dtype.type(0.5)), {}),
    "square": (lambda t: t ** 2, np.square, {}),
    "pow3": (lambda t: t ** 3, lambda x: x ** 3, {}),
    "rpow": (lambda t: 2.0 ** t, lambda x: x.dtype.type(2.0) ** x, {}),
    "reciprocal": (lambda t: 1 / t, lambda x: 1 / x, dict(positive=True)),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data())
@SETTINGS
def test_unary(name, data):
    fn, np_fn, extra = UNARY[name]
    dtype = data.draw(float_dtypes)
    nx, tx = data.draw(tensors(None, dtype, **extra))
    assert_close(fn(tx), np_fn(nx), dtype)


@pytest.mark.parametrize("name", ["neg", "abs", "relu", "clamp_int"])
@given(data=st.data())
@FEW
def test_unary_on_int64(name, data):
    nx, tx = data.draw(tensors(None, "int64"))
    if name == "clamp_int":
        assert_close(tx.clamp(-1, 2), np.clip(nx, -1, 2), "int64")
        return
    fn, np_fn, _ = UNARY[name]
    assert_close(fn(tx), np_fn(nx).astype(np.int64), "int64")


OPS_CMP = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", OPS_CMP, ids=lambda f: f.__name__)
@given(data=st.data())
@SETTINGS
def test_comparisons(op, data):
    dtype = data.draw(st.sampled_from(["float32", "float64", "int64", "bool"]))
    sa, sb = data.draw(broadcast_pair())
    na, ta = data.draw(tensors(sa, dtype, lo=-2, hi=2))  # small ints make ties likely
    nb, tb = data.draw(tensors(sb, dtype, lo=-2, hi=2))
    if dtype.startswith("float"):
        na, nb = np.round(na), np.round(nb)
        ta, tb = from_np(na), from_np(nb)  # rounded values: ties
    assert_close(op(ta, tb), op(na, nb), "bool")
    assert_close(op(ta, 1), op(na, 1), "bool")
    assert_close(op(1, ta), op(1, na), "bool")


@given(data=st.data())
@SETTINGS
def test_where_broadcasts_three_ways(data):
    shape = data.draw(broadcast_pair())
    sc, _ = data.draw(broadcast_pair())
    dtype = data.draw(num_dtypes)
    nc, tc = data.draw(tensors(sc[: len(shape[0])] if len(sc) > len(shape[0]) else sc, "bool"))
    na, ta = data.draw(tensors(shape[0], dtype))
    nb, tb = data.draw(tensors(shape[1], dtype))
    try:
        expected = np.where(nc, na, nb)
    except ValueError:
        with pytest.raises(ValueError):
            tg.where(tc, ta, tb)
        return
    assert_close(tg.where(tc, ta, tb), expected, dtype)
    assert_close(tg.where(tc, ta, 0.5 if dtype != "int64" else 7),
                 np.where(nc, na, NP_DTYPE[dtype](0.5 if dtype != "int64" else 7)), dtype)
    assert_close(tg.where(tc, -1, tb), np.where(nc, NP_DTYPE[dtype](-1), nb), dtype)


def test_where_with_two_scalars():
    c = tg.tensor([True, False, True])
    assert tg.where(c, 1.0, 2.0).tolist() == [1.0, 2.0, 1.0]
    assert tg.where(c, 1, 2).dtype is tg.int64


def test_ieee_special_values():
    x = tg.tensor([0.0, -1.0, 1000.0, -1000.0, math.inf, -math.inf, math.nan], dtype=tg.float64)
    with np.errstate(all="ignore"):
        nx = np.array([0.0, -1.0, 1000.0, -1000.0, np.inf, -np.inf, np.nan])
        for name in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "gelu"):
            fn, np_fn, _ = UNARY[name]
            assert_close(fn(x), np_fn(nx), "float64")
        assert_close(x / 0.0, nx / 0.0, "float64")
        assert_close(1.0 / x, 1.0 / nx, "float64")
    s = tg.tensor([-1000.0, 1000.0], dtype=tg.float32).sigmoid()
    assert s.tolist() == [0.0, 1.0]
    assert math.isnan(tg.maximum(tg.tensor([math.nan]), tg.tensor([1.0])).item())
    assert math.isnan(tg.minimum(tg.tensor([1.0]), tg.tensor([math.nan])).item())
    assert math.isnan(tg.tensor([math.nan]).relu().item())
    assert tg.tensor([1e30], dtype=tg.float32).exp().item() == math.inf
    assert (tg.tensor([1e20], dtype=tg.float32) * 1e20).item() == math.inf  # float32 overflow


def test_integer_power_rules():
    assert (tg.tensor([2, 3]) ** 3).tolist() == [8, 27]
    assert (2 ** tg.tensor([0, 1, 5])).tolist() == [1, 2, 32]
    with pytest.raises(ValueError):
        tg.tensor([2, 3]) ** -1
    assert (tg.tensor([4.0]) ** -0.5).item() == 0.5


def test_ops_on_empty_and_zero_dim():
    e = tg.zeros(0, 3)
    assert (e + 1).shape == (0, 3) and e.exp().shape == (0, 3)
    assert (e + tg.ones(3)).shape == (0, 3)
    z = tg.tensor(2.0)
    assert (z * tg.ones(2, 2)).tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert (z + z).shape == () and (z + z).item() == 4.0


def test_module_level_functions():
    x = tg.tensor([[-1.0, 2.0]])
    assert tg.exp(x).tolist() == x.exp().tolist()
    assert tg.relu(x).tolist() == [[0.0, 2.0]]
    assert tg.clamp(x, max=0.0).tolist() == [[-1.0, 0.0]]
    assert tg.abs(x).tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError):
        x.clamp()


def test_unsupported_operand():
    x = tg.tensor([1.0])
    with pytest.raises(TypeError):
        x + "a"
    with pytest.raises(TypeError):
        x * [1, 2]


def test_results_do_not_alias_inputs():
    a = tg.tensor([1.0, 2.0])
    b = a + 0
    b[0] = 9.0
    assert a.tolist() == [1.0, 2.0]
    assert to_np(a.abs()).tolist() == [1.0, 2.0]


LAYOUT_CASES = {  # each takes the library (tg or torch) and x (4, 5), y (5, 4), v (4,)
    "x.T + v": lambda lib, x, y, v: x.T + v,
    "x.T.exp()": lambda lib, x, y, v: x.T.exp(),
    "x.T * 2": lambda lib, x, y, v: x.T * 2,
    "where(x.T > 0, x.T, 0)": lambda lib, x, y, v: lib.where(x.T > 0, x.T, 0.0),
    "x.T + y (x decides)": lambda lib, x, y, v: x.T + y,
    "y + x.T (y decides)": lambda lib, x, y, v: y + x.T,
    "permuted 3-d + 1": lambda lib, x, y, v: x.reshape(2, 2, 5).permute(2, 0, 1) + 1,
    "every other column + 1": lambda lib, x, y, v: x[:, ::2] + 1,
}


@pytest.mark.parametrize("case", list(LAYOUT_CASES))
def test_result_layout_follows_the_inputs_like_pytorch(case):
    """An elementwise result is laid out in its inputs' memory order, as PyTorch lays it out
    (x.T + v comes out transposed: one flat pass, no transposing write), with the right values."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xs, ys, vs = (rng.standard_normal(s).astype(np.float32) for s in ((4, 5), (5, 4), (4,)))
    fn = LAYOUT_CASES[case]
    ours = fn(tg, from_np(xs), from_np(ys), from_np(vs))
    ref = fn(torch, torch.tensor(xs), torch.tensor(ys), torch.tensor(vs))
    assert ours.stride() == ref.stride(), (case, ours.stride(), ref.stride())
    np.testing.assert_allclose(to_np(ours), ref.numpy(), rtol=1e-6)
