"""RMSprop, Adagrad, the schedulers, gradient clipping, parameter vectors, optimizer checkpoints and the
Dataset utilities: against hand-computed numpy updates and PyTorch's sequences."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

import tinygrad_like as tg
from tinygrad_like.nn.utils import clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters

from helpers import assert_close, from_np, to_np

OPTIMS = [
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.8, centered=True)),
    ("RMSprop", dict(lr=0.02, momentum=0.5)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.3, eps=1e-8)),
    ("Adam", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.9)),
]


def _grads(step):
    rng = np.random.default_rng(100 + step)
    return rng.standard_normal((3, 4)), rng.standard_normal(4)


def test_rmsprop_matches_numpy():
    w0 = np.random.default_rng(0).standard_normal(5)
    p = from_np(w0, requires_grad=True)
    opt = tg.optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.8, centered=True)
    w, v, m, buf = w0.copy(), np.zeros(5), np.zeros(5), np.zeros(5)
    for step in range(4):
        g = np.random.default_rng(step).standard_normal(5)
        p.grad = from_np(g)
        opt.step()
        g = g + 0.1 * w
        v = 0.9 * v + 0.1 * g * g
        m = m + 0.1 * (g - m)
        buf = 0.8 * buf + g / (np.sqrt(v - m * m) + 1e-6)
        w = w - 0.01 * buf
    assert_close(p.detach(), w, rtol=1e-12, atol=1e-14)


def test_adagrad_matches_numpy():
    w0 = np.random.default_rng(1).standard_normal(5)
    p = from_np(w0, requires_grad=True)
    opt = tg.optim.Adagrad([p], lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.3)
    w, s = w0.copy(), np.full(5, 0.3)
    for step in range(1, 5):
        g = np.random.default_rng(step).standard_normal(5)
        p.grad = from_np(g)
        opt.step()
        g = g + 0.05 * w
        s = s + g * g
        w = w - 0.1 / (1 + (step - 1) * 0.01) * g / (np.sqrt(s) + 1e-10)
    assert_close(p.detach(), w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,kw", OPTIMS)
def test_optimizers_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(4)
    tp = [torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)]
    gp = [from_np(w0, requires_grad=True), from_np(b0, requires_grad=True)]
    topt, gopt = getattr(torch.optim, name)(tp, **kw), getattr(tg.optim, name)(gp, **kw)
    for step in range(5):
        for t, g, a in zip(tp, gp, _grads(step)):
            t.grad, g.grad = torch.tensor(a), from_np(a)
        topt.step()
        gopt.step()
    for t, g in zip(tp, gp):
        assert_close(g.detach(), t.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw", OPTIMS)
def test_optimizer_resumes_from_a_safetensors_checkpoint(tmp_path, name, kw):
    rng = np.random.default_rng(3)
    w0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(4)

    def run(steps, params, opt):
        for step in steps:
            for p, a in zip(params, _grads(step)):
                p.grad = from_np(a)
            opt.step()

    straight = [from_np(w0, requires_grad=True), from_np(b0, requires_grad=True)]
    run(range(6), straight, getattr(tg.optim, name)(straight, **kw))
    first = [from_np(w0, requires_grad=True), from_np(b0, requires_grad=True)]
    opt = getattr(tg.optim, name)(first, **kw)
    run(range(3), first, opt)
    tensors, meta = tg.optim.flatten_state_dict(opt.state_dict())
    path = os.path.join(tmp_path, "ckpt.safetensors")
    tg.save({"w": first[0].detach(), "b": first[1].detach(), **tensors}, path, metadata=meta)
    loaded = tg.load(path)
    resumed = [loaded["w"].clone().requires_grad_(), loaded["b"].clone().requires_grad_()]
    opt2 = getattr(tg.optim, name)(resumed, lr=123.0)
    opt2.load_state_dict(tg.optim.unflatten_state_dict(loaded, tg.serialization.load_metadata(path)))
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    run(range(3, 6), resumed, opt2)
    for a, b in zip(straight, resumed):
        assert np.array_equal(to_np(a.detach()), to_np(b.detach()))


def test_unflatten_without_optimizer_state_raises():
    with pytest.raises(tg.InvalidValueError, match="no optimizer state"):
        tg.optim.unflatten_state_dict({}, {})


# ---------------------------------------------------------------------- schedulers

def _sched(lib, name, opt, sub=None):
    ls = lib.optim.lr_scheduler
    if name == "LambdaLR":
        return ls.LambdaLR(opt, lambda e: 1.0 / (1 + e))
    if name == "MultiplicativeLR":
        return ls.MultiplicativeLR(opt, lambda e: 0.9)
    if name == "ExponentialLR":
        return ls.ExponentialLR(opt, 0.8)
    if name == "LinearLR":
        return ls.LinearLR(opt, start_factor=0.1, total_iters=7)
    if name == "OneCycleLR":
        return ls.OneCycleLR(opt, max_lr=0.5, total_steps=30)
    if name == "OneCycleLR3":
        return ls.OneCycleLR(opt, max_lr=[0.5], total_steps=30, three_phase=True, anneal_strategy="linear")
    if name == "SequentialLR":
        warm = ls.LinearLR(opt, start_factor=0.01, total_iters=5)
        cos = ls.CosineAnnealingLR(opt, T_max=20)
        return ls.SequentialLR(opt, [warm, cos], milestones=[5])
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["LambdaLR", "MultiplicativeLR", "ExponentialLR", "LinearLR", "OneCycleLR",
                                  "OneCycleLR3", "SequentialLR"])
@pytest.mark.parametrize("opt_name", ["SGD", "AdamW"])
def test_scheduler_sequences_match_torch(name, opt_name):
    torch = pytest.importorskip("torch")
    kw = dict(lr=0.1, momentum=0.9) if opt_name == "SGD" else dict(lr=0.1)
    topt = getattr(torch.optim, opt_name)([torch.zeros(2, requires_grad=True)], **kw)
    gopt = getattr(tg.optim, opt_name)([tg.zeros(2, requires_grad=True)], **kw)
    ts, gs = _sched(torch, name, topt), _sched(tg, name, gopt)
    tl, gl, tm, gm = [], [], [], []
    for _ in range(29):
        tl.append(ts.get_last_lr()[0])
        gl.append(gs.get_last_lr()[0])
        tm.append(topt.param_groups[0].get("momentum", topt.param_groups[0].get("betas", [0])[0]))
        gm.append(gopt.param_groups[0].get("momentum", gopt.param_groups[0].get("betas", [0])[0]))
        topt.step()
        gopt.step()
        ts.step()
        gs.step()
    assert gl == pytest.approx(tl, rel=1e-12, abs=1e-15)
    assert gm == pytest.approx(tm, rel=1e-12)


def test_one_cycle_refuses_to_step_past_the_end():
    opt = tg.optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    s = tg.optim.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        s.step()
    with pytest.raises(tg.InvalidValueError, match="total steps"):
        s.step()


@pytest.mark.parametrize("kw", [dict(), dict(mode="max", threshold_mode="abs", cooldown=2, patience=1, min_lr=0.02)])
def test_reduce_lr_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch")
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    gopt = tg.optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.1)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    gs = tg.optim.ReduceLROnPlateau(gopt, **kw)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8] + [0.8] * 30 + [0.5, 0.6, 0.7] * 5
    for m in metrics:
        ts.step(m)
        gs.step(m)
        assert gopt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-15)
    assert gopt.param_groups[0]["lr"] < 0.1
    with pytest.raises(tg.InvalidValueError, match="factor"):
        tg.optim.ReduceLROnPlateau(gopt, factor=1.0)


def test_sequential_lr_checks_milestones():
    opt = tg.optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.1)
    a, b = tg.optim.LinearLR(opt), tg.optim.ExponentialLR(opt, 0.9)
    with pytest.raises(tg.InvalidValueError, match="milestones"):
        tg.optim.SequentialLR(opt, [a, b], milestones=[2, 3])


# ---------------------------------------------------------------------- clipping and vectors

def _with_grads(*arrays):
    ps = []
    for a in arrays:
        p = from_np(np.zeros_like(a), requires_grad=True)
        p.grad = from_np(a)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm(norm_type, max_norm):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(5)
    ps = _with_grads(a, b)
    flat = np.concatenate([a.ravel(), b])
    total = np.abs(flat).max() if norm_type == math.inf else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    got = clip_grad_norm_(ps, max_norm, norm_type)
    assert got.item() == pytest.approx(total, rel=1e-12)
    coef = min(max_norm / (total + 1e-6), 1.0)
    assert_close(ps[0].grad, a * coef, rtol=1e-12)
    assert_close(ps[1].grad, b * coef, rtol=1e-12)


def test_clip_grad_norm_nonfinite_and_empty():
    ps = _with_grads(np.array([1.0, np.inf]))
    with pytest.raises(tg.AutogradError, match="non-finite"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    assert math.isinf(clip_grad_norm_(ps, 1.0).item())
    assert clip_grad_norm_([tg.zeros(2, requires_grad=True)], 1.0).item() == 0.0


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(7).astype(np.float32)]
    tps = []
    for a in arrays:
        t = torch.zeros(a.shape, requires_grad=True)
        t.grad = torch.tensor(a)
        tps.append(t)
    ps = _with_grads(*arrays)
    tn = torch.nn.utils.clip_grad_norm_(tps, 1.0)
    gn = clip_grad_norm_(ps, 1.0)
    assert gn.item() == pytest.approx(tn.item(), rel=1e-6)
    for t, p in zip(tps, ps):
        assert_close(p.grad, t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_value_and_vectors():
    ps = _with_grads(np.array([[-3.0, 0.5], [2.0, -0.1]]), np.array([9.0]))
    clip_grad_value_(ps, 1.0)
    assert to_np(ps[0].grad).tolist() == [[-1.0, 0.5], [1.0, -0.1]] and to_np(ps[1].grad).tolist() == [1.0]
    a, b = from_np(np.arange(6.0).reshape(2, 3), requires_grad=True), from_np(np.array([7.0, 8.0]), requires_grad=True)
    v = parameters_to_vector([a, b])
    assert to_np(v.detach()).tolist() == [0, 1, 2, 3, 4, 5, 7, 8]
    (v * from_np(np.arange(8.0))).sum().backward()
    assert to_np(a.grad).tolist() == [[0, 1, 2], [3, 4, 5]] and to_np(b.grad).tolist() == [6, 7]
    vector_to_parameters(from_np(-np.arange(8.0)), [a, b])
    assert to_np(a.detach()).tolist() == [[0, -1, -2], [-3, -4, -5]] and to_np(b.detach()).tolist() == [-6, -7]
    with pytest.raises(tg.ShapeError, match="elements"):
        vector_to_parameters(from_np(np.zeros(3)), [a, b])


# ---------------------------------------------------------------------- data

class Squares(tg.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i, i * i


def test_dataset_subset_concat():
    ds = Squares(5) + Squares(3)
    assert isinstance(ds, tg.data.ConcatDataset) and len(ds) == 8
    assert [ds[i] for i in (0, 4, 5, 7, -1)] == [(0, 0), (4, 16), (0, 0), (2, 4), (2, 4)]
    with pytest.raises(IndexError):
        ds[8]
    sub = tg.data.Subset(Squares(10), [7, 2, 2])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [(7, 49), (2, 4), (2, 4)]
    with pytest.raises(tg.InvalidValueError):
        tg.data.ConcatDataset([])


def test_random_split_is_seeded_and_partitions():
    tg.manual_seed(0)
    a, b, c = tg.data.random_split(Squares(10), [5, 3, 2])
    idx = a.indices + b.indices + c.indices
    assert sorted(idx) == list(range(10)) and (len(a), len(b), len(c)) == (5, 3, 2)
    assert [s.indices for s in tg.data.random_split(Squares(10), [5, 3, 2], generator=tg.Generator(0))] == \
           [s.indices for s in tg.data.random_split(Squares(10), [5, 3, 2], generator=tg.Generator(0))]
    assert [len(s) for s in tg.data.random_split(Squares(11), [0.5, 0.3, 0.2])] == [6, 3, 2]
    with pytest.raises(tg.InvalidValueError, match="sum of input lengths"):
        tg.data.random_split(Squares(10), [5, 4])


def test_dataloader_collate_fn_and_subsets_of_tensor_datasets():
    loader = tg.data.DataLoader(Squares(5), batch_size=2, collate_fn=lambda s: [x for x, _ in s])
    assert list(loader) == [[0, 1], [2, 3], [4]]
    x, y = list(tg.data.DataLoader(Squares(4), batch_size=4))[0]
    assert x.tolist() == [0, 1, 2, 3] and y.tolist() == [0, 1, 4, 9]
    tds = tg.data.TensorDataset(tg.arange(6).float(), tg.arange(6) * 10)
    assert isinstance(tds, tg.data.Dataset)
    sub = tg.data.Subset(tds, [4, 1, 3])
    batches = list(tg.data.DataLoader(sub, batch_size=2))
    assert batches[0][1].tolist() == [40, 10] and batches[1][0].tolist() == [3.0]
