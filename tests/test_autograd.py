"""Autograd semantics: accumulation, retain_graph, freed graphs, grad mode, leaves, long chains."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import tinygrad_like as tg

from helpers import to_np


def leaf(values, dtype=tg.float64):
    return tg.tensor(values, dtype=dtype, requires_grad=True)


def test_simple_gradients_and_shapes():
    a = leaf([[1.0, 2.0], [3.0, 4.0]])
    b = leaf([0.5, -1.0])
    (a * b + a).sum().backward()
    assert a.grad.tolist() == [[1.5, 0.0], [1.5, 0.0]]
    assert b.grad.tolist() == [4.0, 6.0]  # broadcast backward sums back to b's shape
    assert a.grad.shape == a.shape and a.grad.dtype is a.dtype and not a.grad.requires_grad


def test_same_leaf_used_twice_accumulates_in_one_pass():
    a = leaf([3.0])
    (a * a * a).sum().backward()
    assert a.grad.tolist() == [27.0]
    b = leaf([2.0])
    c = b + b
    (c * b).sum().backward()  # d/db 2b^2 = 4b
    assert b.grad.tolist() == [8.0]


def test_grads_accumulate_across_backward_calls_and_reset_with_none():
    a = leaf([1.0, 2.0])
    (a * 3).sum().backward()
    (a * a).sum().backward()
    assert a.grad.tolist() == [5.0, 7.0]
    a.grad = None
    (a * 3).sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]


def test_retain_graph_allows_a_second_backward():
    a = leaf([1.0, 2.0])
    y = (a.exp() * a).sum()
    y.backward(retain_graph=True)
    first = a.grad.tolist()
    y.backward()
    assert a.grad.tolist() == pytest.approx([2 * g for g in first])


def test_second_backward_through_freed_graph_raises():
    a = leaf([1.0, 2.0])
    y = (a.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True") as e:
        y.backward()
    assert isinstance(e.value, tg.TensorError)
    z = (a * 2).sum()  # a fresh graph from the same leaf still works
    z.backward()
    # a partly shared graph: the freed part raises too
    h = a * 2
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h + 1).sum().backward()


def test_backward_non_scalar_needs_gradient():
    a = leaf([1.0, 2.0, 3.0])
    y = a * 2
    with pytest.raises(RuntimeError, match="scalar") as e:
        y.backward()
    assert isinstance(e.value, tg.TensorError)
    y.backward(tg.tensor([1.0, 0.0, -1.0], dtype=tg.float64))
    assert a.grad.tolist() == [2.0, 0.0, -2.0]
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        (a * 2).backward(tg.tensor([1.0, 1.0], dtype=tg.float64))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError):
        tg.tensor([1.0]).sum().backward()


def test_backward_on_a_leaf_accumulates_ones():
    a = leaf(2.0)
    a.backward()
    assert a.grad.item() == 1.0


def test_no_grad_context_and_decorator():
    a = leaf([1.0, 2.0])
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = a * 2
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            z = a * 2
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None
    assert z.requires_grad and not z.is_leaf

    @tg.no_grad()
    def f(x):
        assert not tg.is_grad_enabled()
        return x * 2
    assert not f(a).requires_grad
    assert tg.is_grad_enabled()

    @tg.enable_grad()
    def g(x):
        return x * 2
    with tg.no_grad():
        assert g(a).requires_grad


def test_grad_mode_restored_after_exception():
    with pytest.raises(ZeroDivisionError):
        with tg.no_grad():
            1 / 0
    assert tg.is_grad_enabled()

    @tg.no_grad()
    def boom():
        raise KeyError
    with pytest.raises(KeyError):
        boom()
    assert tg.is_grad_enabled()


def test_detach_shares_data_and_cuts_the_graph():
    a = leaf([1.0, 2.0])
    y = a * 3
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert d.tolist() == y.tolist()
    (d * a).sum().backward()
    assert a.grad.tolist() == [3.0, 6.0]  # only through a, not through d
    with tg.no_grad():
        y[0] = 10.0
    assert d[0].item() == 10.0  # same storage


def test_requires_grad_flag_and_is_leaf():
    t = tg.tensor([1.0, 2.0])
    assert not t.requires_grad and t.is_leaf
    assert t.requires_grad_() is t and t.requires_grad
    y = t * 2
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
    with pytest.raises(RuntimeError):
        y.requires_grad_(False)
    t.requires_grad_(False)
    assert not (t * 2).requires_grad
    c = tg.tensor([1.0]) * 2  # ops on tensors that need no grad make leaves
    assert c.is_leaf and not c.requires_grad


def test_non_leaf_grad_is_none_unless_retained():
    a = leaf([1.0, 2.0])
    h = a * 2
    k = a * 3
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    assert k.grad.tolist() == [2.0, 4.0]


def test_only_inputs_that_require_grad_get_grads():
    a = leaf([1.0, 2.0])
    b = tg.tensor([3.0, 4.0], dtype=tg.float64)
    (a * b).sum().backward()
    assert b.grad is None and a.grad.tolist() == [3.0, 4.0]


def test_gradient_dtype_follows_the_leaf():
    a = tg.tensor([1.0, 2.0], requires_grad=True)  # float32
    (a.double() * 2).sum().backward()
    assert a.grad.dtype is tg.float32 and a.grad.tolist() == [2.0, 2.0]


def test_inplace_on_leaf_requiring_grad_raises():
    a = leaf([1.0])
    with pytest.raises(RuntimeError):
        a.add_(1.0)
    with pytest.raises(RuntimeError):
        a[0] = 2.0
    with tg.no_grad():
        a.add_(1.0)
    assert a.tolist() == [2.0]


def test_indexing_backward_scatters_back():
    x = leaf(np.arange(12.0).reshape(3, 4).tolist())
    y = x[1:, ::-2].sum() + x[0, 1] * 3 + x[..., None, 2].sum()
    y.backward()
    expected = np.zeros((3, 4))
    expected[1:, ::-2] += 1
    expected[0, 1] += 3
    expected[:, 2] += 1
    np.testing.assert_array_equal(to_np(x.grad), expected)


def test_max_min_ties_split_evenly():
    x = leaf([1.0, 3.0, 3.0, 0.0])
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5, 0.0]
    x.grad = None
    x.min().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 1.0]
    m = leaf([[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]])
    m.amax(1).sum().backward()
    assert m.grad.tolist() == [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]
    a, b = leaf([1.0, 2.0]), leaf([1.0, 3.0])
    tg.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 0.0] and b.grad.tolist() == [0.5, 1.0]


def test_pow_gradient_with_zero_exponent_at_zero_base():
    x = leaf([0.0, 2.0])
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]  # PyTorch: 0, not 0 * 0**-1 = nan
    x.grad = None
    y = leaf([0.0, 0.0])
    (x ** y).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    x.grad = None
    (x ** 3).sum().backward()
    assert x.grad.tolist() == [0.0, 12.0]


def test_relu_clamp_gradient_at_boundaries_like_pytorch():
    x = leaf([-1.0, 0.0, 2.0])
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]
    y = leaf([-1.0, 0.0, 1.0, 2.0])
    y.clamp(0.0, 1.0).sum().backward()
    assert y.grad.tolist() == [0.0, 1.0, 1.0, 0.0]  # PyTorch passes the gradient at the bounds


@pytest.mark.backend_independent  # the backward walk is the engine's, whatever computes the products
def test_chain_of_100000_ops_has_no_recursion_error():
    limit = sys.getrecursionlimit()
    x = tg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    assert sys.getrecursionlimit() == limit


def test_graph_dump():
    a = leaf([1.0, 2.0])
    b = tg.tensor([3.0, 4.0], dtype=tg.float64)
    y = (a * b).exp().sum()
    text = y.graph()
    for word in ("Sum", "Exp", "Mul", "(2,)", "float64", "requires_grad", "constant"):
        assert word in text
    assert text.index("Sum") < text.index("Exp") < text.index("Mul")
    y.backward()
    assert "freed" in y.graph()
    assert "leaf" in a.graph()


def test_grad_fn_names_the_op():
    a = leaf([1.0])
    assert (a * 2).grad_fn.name == "Mul"
    assert repr(a * 2).endswith("grad_fn=<MulBackward0>)")  # PyTorch's spelling
    assert repr((a * 2).grad_fn).startswith("<MulBackward0 object at 0x")
    assert (a * 2).grad_fn is not None and a.grad_fn is None
