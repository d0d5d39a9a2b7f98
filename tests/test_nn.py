"""tg.nn: Module registration, state_dict, layers against numpy (and PyTorch when installed), gradcheck."""
from __future__ import annotations

import gc
import math

import numpy as np
import pytest

import tinygrad_like as tg
from tinygrad_like import nn
from tinygrad_like.nn import functional as F

from helpers import from_np, to_np


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(4, 2, bias=False)
        self.scale = 2.0  # a plain attribute, not registered

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


# ---------------------------------------------------------------------- Module mechanics

def test_registration_and_names():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert [type(c).__name__ for c in m.children()] == ["Linear", "ReLU", "Linear"]
    assert len(list(m.modules())) == 4
    assert m.fc2.bias is None
    assert m.scale == 2.0 and "scale" not in m.state_dict()


def test_sequential_modulelist_and_plain_list_register_parameters():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear) and len(seq) == 3
    assert len(seq[1:]) == 2

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
            self.extra = [nn.Linear(2, 1)]  # a plain list of modules is registered too

    names = [n for n, _ in Stack().named_parameters()]
    assert names == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias", "extra.0.weight", "extra.0.bias"]


def test_shared_parameter_counted_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2


def test_train_eval_flags_and_dropout():
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert m.training and m[1].training
    m.eval()
    assert not m.training and not m[1].training
    x = tg.ones(8, 4)
    assert to_np(m[1](x)).tolist() == to_np(x).tolist()  # identity in eval
    m.train()
    tg.manual_seed(0)
    y = to_np(m[1](tg.ones(1000)))
    assert set(np.unique(y).tolist()) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6


def test_zero_grad_and_call_forward():
    m = TwoLayer()
    m(tg.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(to_np(p.grad).max() == 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_repr_is_readable():
    r = repr(nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)))
    assert r == ("Sequential(\n  (0): Linear(in_features=784, out_features=128, bias=True)\n  (1): ReLU()\n"
                 "  (2): Linear(in_features=128, out_features=10, bias=True)\n)")
    assert repr(nn.Parameter(tg.zeros(2))).startswith("Parameter containing:\ntensor(")


def test_state_dict_round_trip_and_sharing():
    tg.manual_seed(1)
    a, b = TwoLayer(), TwoLayer()
    sd = a.state_dict()
    assert list(sd) == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert not any(t.requires_grad for t in sd.values())
    res = b.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    x = tg.randn(4, 3)
    np.testing.assert_array_equal(to_np(a(x).detach()), to_np(b(x).detach()))
    b.fc1.weight.grad = None
    with tg.no_grad():
        a.fc1.weight.add_(1.0)  # state_dict shares memory with the parameters, as in PyTorch
    assert to_np(sd["fc1.weight"]).tolist() == to_np(a.fc1.weight.detach()).tolist()
    assert b.fc1.weight.requires_grad and b.fc1.weight.is_leaf


def test_load_state_dict_strict_errors():
    m = TwoLayer()
    sd = m.state_dict()
    missing = dict(sd)
    del missing["fc1.bias"]
    with pytest.raises(nn.StateDictError, match=r"Missing key\(s\) in state_dict: 'fc1.bias'"):
        m.load_state_dict(missing)
    extra = dict(sd, **{"fc3.weight": tg.zeros(1)})
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: 'fc3.weight'"):
        m.load_state_dict(extra)
    res = m.load_state_dict(extra, strict=False)
    assert res.unexpected_keys == ["fc3.weight"] and res.missing_keys == []
    res = m.load_state_dict(missing, strict=False)
    assert res.missing_keys == ["fc1.bias"]
    bad = dict(sd, **{"fc1.weight": tg.zeros(3, 4)})
    before = to_np(m.fc1.bias.detach())
    with pytest.raises(ValueError, match=r"size mismatch for 'fc1.weight'.*\(3, 4\).*\(4, 3\)"):
        m.load_state_dict(bad)
    np.testing.assert_array_equal(to_np(m.fc1.bias.detach()), before)  # nothing was copied


def test_module_to_double_keeps_parameter_objects():
    m = TwoLayer()
    p = m.fc1.weight
    m.double()
    assert m.fc1.weight is p and p.dtype is tg.float64 and p.requires_grad
    assert m(tg.randn(2, 3, dtype=tg.float64)).dtype is tg.float64


def test_setattr_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(tg.TensorError, match="super\\(\\).__init__"):
        Bad()


# ---------------------------------------------------------------------- Linear

def test_linear_layout_and_values():
    lin = nn.Linear(5, 3)
    assert lin.weight.shape == (3, 5) and lin.bias.shape == (3,)
    x = rng().standard_normal((4, 5)).astype(np.float32)
    w, b = to_np(lin.weight.detach()), to_np(lin.bias.detach())
    np.testing.assert_allclose(to_np(lin(from_np(x)).detach()), x @ w.T + b, rtol=1e-5, atol=1e-6)
    x3 = rng(1).standard_normal((2, 3, 5)).astype(np.float32)  # leading batch dims
    np.testing.assert_allclose(to_np(lin(from_np(x3)).detach()), x3 @ w.T + b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="features"):
        lin(tg.zeros(4, 6))


def test_linear_default_init_is_kaiming_uniform_a_sqrt5():
    tg.manual_seed(0)
    lin = nn.Linear(400, 300)
    w, b = to_np(lin.weight.detach()), to_np(lin.bias.detach())
    bound = 1 / math.sqrt(400)  # gain(leaky_relu, sqrt 5) * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # std of U(-a, a) is a / sqrt(3)
    assert abs(w.mean()) < 0.01 * bound


def test_linear_same_seed_same_weights():
    tg.manual_seed(3)
    a = to_np(nn.Linear(3, 2).weight.detach())
    tg.manual_seed(3)
    assert to_np(nn.Linear(3, 2).weight.detach()).tolist() == a.tolist()


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(6, 4)
    tl = torch.nn.Linear(6, 4)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(to_np(lin.weight.detach())))
        tl.bias.copy_(torch.tensor(to_np(lin.bias.detach())))
    x = rng(2).standard_normal((3, 6)).astype(np.float32)
    out = lin(from_np(x))
    out.sum().backward()
    tout = tl(torch.tensor(x))
    tout.sum().backward()
    np.testing.assert_allclose(to_np(out.detach()), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_np(lin.weight.grad), tl.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_np(lin.bias.grad), tl.bias.grad.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- activations and other layers

def _np_gelu(x):
    from math import erf
    return np.array([0.5 * v * (1 + erf(v / math.sqrt(2))) for v in x.ravel()]).reshape(x.shape)


@pytest.mark.parametrize("layer,ref", [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.GELU(), _np_gelu),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.Identity(), lambda x: x),
    (nn.Softmax(1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (nn.LogSoftmax(1), lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
], ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_activation_layers_values_and_gradcheck(layer, ref):
    x = rng().standard_normal((3, 4)) * 2
    np.testing.assert_allclose(to_np(layer(from_np(x))), ref(x), rtol=1e-9, atol=1e-10)
    xt = from_np(x + 0.01, requires_grad=True)  # keep away from the ReLU kink at exactly 0
    assert tg.gradcheck(lambda t: layer(t), [xt])


def test_flatten():
    x = tg.zeros(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    xt = from_np(rng().standard_normal((2, 2, 3)), requires_grad=True)
    assert tg.gradcheck(lambda t: nn.Flatten()(t.permute(0, 2, 1)), [xt])  # a non-contiguous input copies


def test_embedding_values_shape_grad_and_errors():
    tg.manual_seed(0)
    emb = nn.Embedding(5, 3)
    idx = tg.tensor([[0, 4], [4, 2]])
    out = emb(idx)
    w = to_np(emb.weight.detach())
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(to_np(out.detach()), w[np.array([[0, 4], [4, 2]])])
    out.sum().backward()
    np.testing.assert_array_equal(to_np(emb.weight.grad)[:, 0], [1, 0, 1, 0, 2])  # repeated index accumulates
    with pytest.raises(TypeError, match="int64"):
        emb(tg.tensor([0.0, 1.0]))
    with pytest.raises(IndexError, match="out of range"):
        emb(tg.tensor([5]))
    wd = tg.randn(5, 3, dtype=tg.float64, requires_grad=True)
    assert tg.gradcheck(lambda w_: F.embedding(idx, w_), [wd])


def test_layernorm_values_and_gradcheck():
    x = rng(3).standard_normal((4, 6))
    ln = nn.LayerNorm(6).double()
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    with tg.no_grad():
        ln.weight.copy_(from_np(rng(4).standard_normal(6)))
        ln.bias.copy_(from_np(rng(5).standard_normal(6)))
    w, b = to_np(ln.weight.detach()), to_np(ln.bias.detach())
    ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5) * w + b
    np.testing.assert_allclose(to_np(ln(from_np(x)).detach()), ref, rtol=1e-9, atol=1e-9)
    xt = from_np(x, requires_grad=True)
    wt, bt = from_np(w, requires_grad=True), from_np(b, requires_grad=True)
    assert tg.gradcheck(lambda a, ww, bb: F.layer_norm(a, (6,), ww, bb), [xt, wt, bt])
    with pytest.raises(ValueError, match="normalized_shape"):
        ln(tg.zeros(2, 5, dtype=tg.float64))


def test_layernorm_matches_torch():
    torch = pytest.importorskip("torch")
    x = rng(6).standard_normal((2, 3, 4)).astype(np.float32)
    ln = nn.LayerNorm((3, 4))
    ref = torch.nn.LayerNorm((3, 4))(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(to_np(ln(from_np(x)).detach()), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("xshape", [(4,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("grads", ["all", "weights only", "input only"])
def test_linear_one_node_matches_the_composed_ops(xshape, grads):
    """F.linear records one graph node (its own backward); values and gradients must equal
    input @ weight.T + bias built from separate ops, for 1-D, 2-D and batched inputs."""
    xn, wn, bn = rng(1).standard_normal(xshape), rng(2).standard_normal((5, 4)), rng(3).standard_normal(5)
    need = {"all": (True, True, True), "weights only": (False, True, True), "input only": (True, False, False)}[grads]
    outs = []
    for fn in (F.linear, lambda x, w, b: x @ w.T + b):
        x, w, b = (from_np(a, requires_grad=r) for a, r in zip((xn, wn, bn), need))
        y = fn(x, w, b)
        (y * from_np(rng(4).standard_normal(y.shape))).sum().backward()
        outs.append([to_np(y.detach())] + [to_np(t.grad) if t.grad is not None else None for t in (x, w, b)])
    assert F.linear(*(from_np(a, requires_grad=True) for a in (xn, wn, bn))).grad_fn.name == "Linear"
    for got, want in zip(*outs):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    x, w, b = (from_np(a, requires_grad=r) for a, r in zip((xn, wn, bn), need))
    assert tg.gradcheck(F.linear, [x, w, b])


def test_linear_and_dropout_gradcheck():
    x = from_np(rng(7).standard_normal((3, 4)), requires_grad=True)
    w = from_np(rng(8).standard_normal((2, 4)), requires_grad=True)
    b = from_np(rng(9).standard_normal(2), requires_grad=True)
    assert tg.gradcheck(F.linear, [x, w, b])
    lin = nn.Linear(4, 2).double()
    assert tg.gradcheck(lambda t: lin(t), [x])

    def drop(t):
        tg.manual_seed(11)  # the same mask on every call
        return F.dropout(t, 0.3)
    assert tg.gradcheck(drop, [x])


# ---------------------------------------------------------------------- init

def test_init_functions():
    t = tg.empty(50, 40)
    nn.init.zeros_(t)
    assert to_np(t).max() == 0
    nn.init.ones_(t)
    assert to_np(t).min() == 1
    tg.manual_seed(0)
    nn.init.xavier_uniform_(t)
    bound = math.sqrt(6 / 90)
    assert np.abs(to_np(t)).max() <= bound and to_np(t).std() > bound / 2
    nn.init.kaiming_uniform_(t, nonlinearity="relu")
    assert np.abs(to_np(t)).max() <= math.sqrt(2) * math.sqrt(3 / 40)
    nn.init.uniform_(t, 2, 3)
    assert 2 <= to_np(t).min() and to_np(t).max() < 3
    nn.init.normal_(t, 5, 0.1)
    assert abs(to_np(t).mean() - 5) < 0.05
    p = nn.Parameter(tg.zeros(3, 3))
    nn.init.kaiming_uniform_(p)  # in place on a parameter: no graph, still a leaf
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(tg.zeros(3))
    assert nn.init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))


# ---------------------------------------------------------------------- graphs are freed

def _live(kind) -> int:
    # issubclass(type(o)), not isinstance: isinstance on a dead weakref.proxy (numba leaves some)
    # raises ReferenceError
    return sum(1 for o in gc.get_objects() if issubclass(type(o), kind))


def test_training_loop_does_not_grow_memory():
    """10,000 steps of a tiny model: the number of live tensors and graph nodes stays flat."""
    from tinygrad_like.autograd import Node
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 1), nn.ReLU())
    opt = tg.optim.SGD(model.parameters(), lr=0.01)
    x, y = tg.randn(4, 2), tg.randn(4, 1)

    def step():
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(20):
        step()
    gc.collect()
    tensors, nodes, objects = _live(tg.Tensor), _live(Node), len(gc.get_objects())
    for _ in range(10_000):
        step()
    gc.collect()
    assert _live(tg.Tensor) == tensors
    assert _live(Node) == nodes
    assert len(gc.get_objects()) - objects < 200
