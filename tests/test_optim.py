"""tg.optim: SGD / Adam / AdamW trajectories against numpy formulas and PyTorch; schedulers; zero_grad."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_like as tg
from tinygrad_like import nn

from helpers import from_np, to_np

STEPS = 6


def quad_grad(p: np.ndarray, k: int) -> np.ndarray:
    """Gradient of the test loss sum(p**3 / 3 + k * p) at step k (changes every step)."""
    return p * p + k * 0.1


def run_tg(opt_cls, kwargs: dict, p0: np.ndarray, steps: int = STEPS) -> np.ndarray:
    p = nn.Parameter(from_np(p0))
    opt = opt_cls([p], **kwargs)
    buf = p._buf
    for k in range(steps):
        loss = (p * p * p / 3 + p * (k * 0.1)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert p._buf is buf and p.is_leaf and p.grad_fn is None  # updated in place, no graph
    return to_np(p.detach())


def np_sgd(p, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, steps=STEPS):
    p = p.copy()
    buf = None
    for k in range(steps):
        g = quad_grad(p, k)
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def np_adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, steps=STEPS):
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    b1, b2 = betas
    for t in range(1, steps + 1):
        g = quad_grad(p, t - 1)
        if weight_decay and decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        # m_hat / (sqrt(v_hat) + eps), written in the order PyTorch evaluates it
        p = p - (lr / (1 - b1 ** t)) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
    return p


P0 = np.array([[0.5, -1.2, 2.0], [0.1, -0.3, 1.5]])

SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, momentum=0.5, weight_decay=0.1),
]


@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_sgd_matches_numpy(kw):
    np.testing.assert_allclose(run_tg(tg.optim.SGD, kw, P0), np_sgd(P0, **kw), rtol=1e-12, atol=1e-12)


ADAM_CASES = [
    (tg.optim.Adam, dict(lr=0.1), False),
    (tg.optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), False),
    (tg.optim.AdamW, dict(lr=0.05), True),
    (tg.optim.AdamW, dict(lr=0.1, weight_decay=0.3), True),
]


@pytest.mark.parametrize("cls,kw,decoupled", ADAM_CASES, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_adam_matches_numpy(cls, kw, decoupled):
    ref_kw = dict(kw)
    if cls is tg.optim.AdamW:
        ref_kw.setdefault("weight_decay", 1e-2)
    np.testing.assert_allclose(run_tg(cls, kw, P0), np_adam(P0, decoupled=decoupled, **ref_kw), rtol=1e-11, atol=1e-12)


def _torch_trajectory(torch, cls_name: str, kw: dict, p0: np.ndarray, steps: int = STEPS) -> np.ndarray:
    p = torch.tensor(p0, requires_grad=True)
    opt = getattr(torch.optim, cls_name)([p], **kw)
    for k in range(steps):
        loss = (p * p * p / 3 + p * (k * 0.1)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return p.detach().numpy()


@pytest.mark.parametrize("name,kw", [("SGD", c) for c in SGD_CASES] + [
    ("Adam", dict(lr=0.1)), ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05)), ("AdamW", dict(lr=0.1, weight_decay=0.3))])
def test_trajectories_match_torch_float64(name, kw):
    torch = pytest.importorskip("torch")
    ours = run_tg(getattr(tg.optim, name), kw, P0)
    np.testing.assert_allclose(ours, _torch_trajectory(torch, name, kw, P0), rtol=1e-12, atol=1e-13)


def test_mlp_training_matches_torch_float32():
    """A small MLP, same weights and data: 5 steps of Adam give the same weights as PyTorch (float32)."""
    torch = pytest.importorskip("torch")
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    tmodel.load_state_dict({k: torch.tensor(to_np(v)) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    opt = tg.optim.AdamW(model.parameters(), lr=0.01)
    topt = torch.optim.AdamW(tmodel.parameters(), lr=0.01)
    for _ in range(5):
        loss = nn.functional.cross_entropy(model(from_np(x)), tg.tensor(y.tolist()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-5)
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(to_np(v), tmodel.state_dict()[k].numpy(), rtol=1e-4, atol=1e-6)


def test_zero_grad_and_params_without_grad():
    a, b = nn.Parameter(tg.ones(2)), nn.Parameter(tg.ones(2))
    opt = tg.optim.SGD([a, b], lr=0.5)
    (a * 3).sum().backward()
    opt.step()  # b has no grad: left alone
    assert to_np(a.detach()).tolist() == [-0.5, -0.5] and to_np(b.detach()).tolist() == [1, 1]
    opt.zero_grad(set_to_none=False)
    assert to_np(a.grad).tolist() == [0, 0]
    opt.zero_grad()
    assert a.grad is None


def test_param_groups_and_errors():
    a, b = nn.Parameter(tg.ones(1)), nn.Parameter(tg.ones(1))
    opt = tg.optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    (a + b).sum().backward()
    opt.step()
    assert to_np(a.detach())[0] == pytest.approx(0.9) and to_np(b.detach())[0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="learning rate"):
        tg.optim.SGD([a], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        tg.optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        tg.optim.Adam([a], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        tg.optim.Adam([])
    with pytest.raises(ValueError, match="more than one"):
        tg.optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)


def test_step_records_no_graph_even_inside_enable_grad():
    p = nn.Parameter(tg.ones(3))
    opt = tg.optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    with tg.enable_grad():
        opt.step()
    assert p.grad_fn is None and p.is_leaf
    st = opt.state[p]
    assert st["step"] == 1 and st["exp_avg"].grad_fn is None and not st["exp_avg"].requires_grad


def test_optimizer_state_dict_round_trip():
    p = nn.Parameter(tg.tensor([1.0, 2.0]))
    opt = tg.optim.SGD([p], lr=0.1, momentum=0.9)
    (p * p).sum().backward()
    opt.step()
    q = nn.Parameter(tg.tensor([1.0, 2.0]))
    opt2 = tg.optim.SGD([q], lr=0.5, momentum=0.9)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.param_groups[0]["lr"] == 0.1
    assert to_np(opt2.state[q]["momentum_buffer"]).tolist() == to_np(opt.state[p]["momentum_buffer"]).tolist()


def _lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    return out


def test_schedulers_closed_form():
    p = nn.Parameter(tg.ones(1))
    s = tg.optim.StepLR(tg.optim.SGD([p], lr=1.0), step_size=3, gamma=0.5)
    assert _lrs(s, 8) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    c = tg.optim.CosineAnnealingLR(tg.optim.SGD([p], lr=1.0), T_max=4, eta_min=0.1)
    got = _lrs(c, 5)
    assert got == pytest.approx([0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)])
    assert c.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 5 / 4)) / 2)


def test_schedulers_match_torch():
    torch = pytest.importorskip("torch")
    tp = torch.zeros(1, requires_grad=True)
    p = nn.Parameter(tg.ones(1))
    for name, kw in (("StepLR", dict(step_size=2, gamma=0.3)), ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01))):
        ours = _lrs(getattr(tg.optim, name)(tg.optim.SGD([p], lr=0.2), **kw), 12)
        ts = getattr(torch.optim.lr_scheduler, name)(torch.optim.SGD([tp], lr=0.2), **kw)
        ref = []
        for _ in range(12):
            ref.append(ts.get_last_lr()[0])
            ts.optimizer.step()
            ts.step()
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12)
