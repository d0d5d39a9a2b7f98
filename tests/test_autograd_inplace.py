"""In-place ops under autograd: version counters, rebasing a tensor with history, views, .data."""
from __future__ import annotations

import pytest

import tinygrad_like as tg
from tinygrad_like import nn


def leaf(values):
    return tg.tensor(values, dtype=tg.float64, requires_grad=True)


def test_inplace_on_a_non_leaf_flows_through_the_inplace_op():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.mul_(3)
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_modifying_a_saved_output_raises_naming_the_op_and_versions():
    x = leaf([1.0, 2.0])
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match=r"ExpBackward0 is at version 1; expected version 0"):
        y.sum().backward()


def test_modifying_a_saved_input_raises():
    x = leaf([1.0, 2.0])
    h = x * 1.0
    y = h * h  # Mul saves h
    h.add_(1)
    with pytest.raises(tg.AutogradError, match="modified by an inplace operation"):
        y.sum().backward()


def test_add_inplace_keeps_gradients_that_do_not_need_the_old_value():
    x = leaf([1.0, 2.0])
    y = x + 0
    z = y * 3  # saves only the constant 3 and y; y is modified below, but mul saved it...
    y.add_(1)  # ...so this is refused at backward time, as in PyTorch
    with pytest.raises(tg.AutogradError):
        z.sum().backward()
    x2 = leaf([1.0, 2.0])
    y2 = x2 * 2
    y2.add_(x2)  # y2 = 3 * x2
    y2.add_(5)
    y2.sum().backward()
    assert x2.grad.tolist() == [3.0, 3.0]


def test_earlier_consumers_keep_the_pre_inplace_graph():
    x = leaf([1.0, 2.0])
    y = x * 2
    z = y + 1  # recorded before the in-place op: its gradient to x stays 2
    y.mul_(10)
    (z.sum() + y.sum()).backward()
    assert x.grad.tolist() == [22.0, 22.0]


def test_inplace_with_an_operand_that_requires_grad():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = x * 1.0
    y.mul_(w)
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 4.0] and w.grad.tolist() == [1.0, 2.0]
    c = tg.tensor([5.0, 6.0], dtype=tg.float64)  # a constant that becomes part of the graph
    w.grad = None
    c.mul_(w)
    assert c.requires_grad
    c.sum().backward()
    assert w.grad.tolist() == [5.0, 6.0]


def test_inplace_on_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    p = leaf([1.0])
    with pytest.raises(RuntimeError, match="leaf Variable"):
        p.add_(1)
    with tg.no_grad():
        p.add_(1)
    assert p.tolist() == [2.0] and p._version == 1


def test_inplace_through_a_view_follows_the_view_and_makes_the_base_stale():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2
    v = y[0:2]
    v.mul_(2)
    v.sum().backward()
    assert x.grad.tolist() == [4.0, 4.0, 0.0] and y.tolist() == [4.0, 8.0, 6.0]
    with pytest.raises(RuntimeError, match="view"):
        y.sum()  # y's history (x * 2) no longer describes its values: refused, never a wrong gradient
    y2 = x * 2
    v2 = y2[1:]
    y2.mul_(3)  # the base changes after the view was taken: the view is stale
    with pytest.raises(RuntimeError, match="inplace"):
        v2 * 1
    s = y2[0:1].sum()  # a view taken after the change is fine
    x.grad = None
    s.backward()
    assert x.grad.tolist() == [6.0, 0.0, 0.0]


def test_inplace_under_no_grad_keeps_a_non_leaf_usable():
    x = leaf([1.0, 2.0])
    y = x * 2
    with tg.no_grad():
        y.add_(1)
    (y * 1).sum().backward()  # as PyTorch: the data changed, the history (x * 2) is kept
    assert x.grad.tolist() == [2.0, 2.0]


def test_setitem_with_history():
    x, v = leaf([1.0, 2.0, 3.0]), leaf([10.0])
    y = x * 2
    y[1] = v * 3
    y.sum().backward()
    assert y.tolist() == [2.0, 30.0, 6.0]
    assert x.grad.tolist() == [2.0, 0.0, 2.0] and v.grad.tolist() == [3.0]


def test_copy_and_fill_with_history():
    x, s = leaf([1.0, 2.0]), leaf([7.0, 8.0])
    y = x * 2
    y.copy_(s * 3)
    y.sum().backward()
    assert s.grad.tolist() == [3.0, 3.0] and x.grad.tolist() == [0.0, 0.0]
    z = leaf([1.0, 2.0]) * 1.0
    z.fill_(4.0)
    assert z.tolist() == [4.0, 4.0]


def test_augmented_assignment_is_in_place_and_keeps_the_parameter():
    lin = nn.Linear(2, 2)
    p = lin.weight
    lin(tg.ones(1, 2)).sum().backward()
    before, version = p.tolist(), p._version
    with tg.no_grad():
        p -= 0.1 * p.grad
        p *= 1.0
    assert lin.weight is p and isinstance(p, nn.Parameter) and p.requires_grad
    assert p.tolist() != before and p._version == version + 2
    t = tg.ones(3)
    same = t
    t += 1
    t /= 2
    assert t is same and t.tolist() == [1.0, 1.0, 1.0]


def test_version_counter_is_shared_by_views_and_bumped_by_every_inplace_op():
    t = tg.zeros(4)
    v = t[1:3]
    assert t._version == 0
    v.fill_(1)
    t[0] = 2
    t.add_(1)
    t.clamp_(max=2.5)
    assert t._version == v._version == 4
    assert t.detach()._version == 4  # detach shares the counter (PyTorch)


def test_data_shares_storage_without_history_and_can_be_replaced():
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.data
    assert not d.requires_grad and d.grad_fn is None
    d.add_(1)  # not tracked: no version bump seen by y's graph (as PyTorch's .data)
    assert y.tolist() == [3.0, 5.0]
    y.sum().backward()
    x.data = tg.tensor([5.0, 6.0, 7.0], dtype=tg.float64)
    assert x.requires_grad and x.shape == (3,) and x.tolist() == [5.0, 6.0, 7.0]


def test_optimizers_update_in_place_without_errors_across_steps():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    x = tg.randn(8, 3)
    for _ in range(3):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    assert all(p._version > 0 for p in model.parameters())
