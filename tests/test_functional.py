"""tg.nn.functional losses and helpers against numpy formulas, PyTorch (when installed) and gradcheck."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_like as tg
from tinygrad_like import nn
from tinygrad_like.nn import functional as F

from helpers import from_np, to_np


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def np_log_softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


def np_cross_entropy(x: np.ndarray, t: np.ndarray, reduction: str = "mean") -> np.ndarray:
    lp = np_log_softmax(x, 1)
    picked = np.take_along_axis(lp, np.expand_dims(t, 1), 1).squeeze(1)
    loss = -picked
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_values_and_grad_vs_numpy(reduction):
    x = rng().standard_normal((5, 4)) * 3
    t = np.array([0, 3, 1, 1, 2])
    xt = from_np(x, requires_grad=True)
    loss = F.cross_entropy(xt, tg.tensor(t.tolist()), reduction=reduction)
    np.testing.assert_allclose(to_np(loss.detach()), np_cross_entropy(x, t, reduction), rtol=1e-10, atol=1e-12)
    loss.sum().backward()
    # d(loss)/d(logits) = softmax - one_hot (divided by N for 'mean')
    p = np.exp(np_log_softmax(x))
    g = p - np.eye(4)[t]
    if reduction == "mean":
        g /= 5
    np.testing.assert_allclose(to_np(xt.grad), g, rtol=1e-9, atol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    x = tg.tensor([[1000.0, 0.0, -1000.0], [-1e4, 1e4, 0.0]], requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor([0, 0]))
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(1e4, rel=1e-6)
    loss.backward()
    assert np.isfinite(to_np(x.grad)).all()


def test_cross_entropy_higher_dims_probabilities_and_label_smoothing_vs_torch():
    torch = pytest.importorskip("torch")
    x = rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    t = rng(2).integers(0, 3, (2, 4))
    ours = F.cross_entropy(from_np(x), tg.tensor(t.tolist()))
    ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t))
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    probs = np.exp(np_log_softmax(rng(3).standard_normal((4, 5)))).astype(np.float32)
    x2 = rng(4).standard_normal((4, 5)).astype(np.float32)
    ours = F.cross_entropy(from_np(x2), from_np(probs))
    ref = torch.nn.functional.cross_entropy(torch.tensor(x2), torch.tensor(probs))
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    t2 = np.array([1, 0, 4, 2])
    ours = F.cross_entropy(from_np(x2), tg.tensor(t2.tolist()), label_smoothing=0.1)
    ref = torch.nn.functional.cross_entropy(torch.tensor(x2), torch.tensor(t2), label_smoothing=0.1)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)


def test_cross_entropy_grad_matches_torch_float32():
    torch = pytest.importorskip("torch")
    x = rng(5).standard_normal((6, 10)).astype(np.float32)
    t = rng(6).integers(0, 10, 6)
    xt = from_np(x, requires_grad=True)
    F.cross_entropy(xt, tg.tensor(t.tolist())).backward()
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(tx, torch.tensor(t)).backward()
    np.testing.assert_allclose(to_np(xt.grad), tx.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_cross_entropy_errors():
    x = tg.randn(3, 4)
    with pytest.raises(TypeError, match="int64 class indices"):
        F.cross_entropy(x, tg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"target of shape \(3,\)"):
        F.cross_entropy(x, tg.tensor([0, 1]))
    with pytest.raises(ValueError, match="out of bounds"):
        F.cross_entropy(x, tg.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, tg.tensor([0, 1, 2]), reduction="avg")


def test_nll_loss_and_1d_input():
    x = rng(7).standard_normal((3, 5))
    lp = np_log_softmax(x)
    t = np.array([4, 0, 2])
    out = F.nll_loss(from_np(lp), tg.tensor(t.tolist()), reduction="none")
    np.testing.assert_allclose(to_np(out), -lp[np.arange(3), t])
    single = F.cross_entropy(from_np(x[0]), tg.tensor(4))
    assert single.shape == () and single.item() == pytest.approx(-lp[0, 4])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    a, b = rng(8).standard_normal((3, 4)), rng(9).standard_normal((3, 4))
    out = F.mse_loss(from_np(a), from_np(b), reduction=reduction)
    ref = (a - b) ** 2
    ref = ref.mean() if reduction == "mean" else ref.sum() if reduction == "sum" else ref
    np.testing.assert_allclose(to_np(out), ref, rtol=1e-12)
    assert nn.MSELoss(reduction)(from_np(a), from_np(b)).shape == np.shape(ref)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(4,\)"):
        F.mse_loss(from_np(a), from_np(b[0]))


def test_bce_with_logits_vs_numpy_and_torch():
    x = rng(10).standard_normal((4, 3)) * 30  # large |x| must not overflow
    t = (rng(11).random((4, 3)) > 0.5).astype(np.float64)
    pw = np.array([1.0, 2.0, 0.5])
    ref = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
    np.testing.assert_allclose(to_np(F.binary_cross_entropy_with_logits(from_np(x), from_np(t), "none")), ref, rtol=1e-10, atol=1e-12)
    torch = pytest.importorskip("torch")
    ref_pw = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t), pos_weight=torch.tensor(pw))
    ours = nn.BCEWithLogitsLoss(pos_weight=from_np(pw))(from_np(x), from_np(t))
    assert ours.item() == pytest.approx(ref_pw.item(), rel=1e-10)
    with pytest.raises(TypeError, match="float"):
        F.binary_cross_entropy_with_logits(from_np(x), tg.tensor([[1, 0, 1]] * 4))


def test_softmax_log_softmax_one_hot():
    x = rng(12).standard_normal((2, 5))
    np.testing.assert_allclose(to_np(F.softmax(from_np(x), 1)), np.exp(np_log_softmax(x)), rtol=1e-12)
    np.testing.assert_allclose(to_np(F.log_softmax(from_np(x), -1)), np_log_softmax(x), rtol=1e-12)
    oh = F.one_hot(tg.tensor([[0, 2], [1, 1]]), 3)
    assert oh.dtype is tg.int64 and oh.shape == (2, 2, 3)
    assert to_np(oh).tolist() == [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 1, 0]]]
    assert F.one_hot(tg.tensor([3])).shape == (1, 4)
    with pytest.raises(TypeError):
        F.one_hot(tg.tensor([0.0]))
    with pytest.raises(ValueError):
        F.one_hot(tg.tensor([3]), 3)


def test_dropout_scaling_and_eval():
    x = tg.ones(2000)
    tg.manual_seed(0)
    y = to_np(F.dropout(x, 0.25))
    assert set(np.unique(y).tolist()) <= {0.0, float(np.float32(1 / 0.75))}
    assert abs((y == 0).mean() - 0.25) < 0.05
    assert F.dropout(x, 0.5, training=False) is x
    assert to_np(F.dropout(x, 1.0)).max() == 0
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def _targets():
    return tg.tensor([2, 0, 1])


def _fixed(fill: float):
    return from_np(np.linspace(-1, 1, 12).reshape(3, 4) * fill)


@pytest.mark.parametrize("name,fn", [
    ("cross_entropy", lambda x: F.cross_entropy(x, _targets())),
    ("cross_entropy_sum", lambda x: F.cross_entropy(x, _targets(), reduction="sum")),
    ("cross_entropy_none", lambda x: F.cross_entropy(x, _targets(), reduction="none")),
    ("cross_entropy_smooth", lambda x: F.cross_entropy(x, _targets(), label_smoothing=0.2)),
    ("nll_loss", lambda x: F.nll_loss(x.log_softmax(1), _targets())),
    ("mse_loss", lambda x: F.mse_loss(x, _fixed(0.5))),
    ("l1_loss", lambda x: F.l1_loss(x, _fixed(0.3))),
    ("bce_with_logits", lambda x: F.binary_cross_entropy_with_logits(x, (_fixed(1.0) > 0).double())),
    ("bce", lambda x: F.binary_cross_entropy(x.sigmoid(), (_fixed(1.0) > 0).double())),
    ("softmax", lambda x: F.softmax(x, 1)),
    ("log_softmax", lambda x: F.log_softmax(x, 0)),
])
def test_losses_gradcheck(name, fn):
    x = from_np(rng(13).standard_normal((3, 4)), requires_grad=True)
    assert tg.gradcheck(fn, [x])


def test_mse_gradcheck_in_both_arguments():
    a = from_np(rng(14).standard_normal((2, 3)), requires_grad=True)
    b = from_np(rng(15).standard_normal((2, 3)), requires_grad=True)
    assert tg.gradcheck(F.mse_loss, [a, b])
