"""RNNCell, GRUCell, RNN and GRU against a numpy oracle, central differences and PyTorch (weights loaded
through safetensors)."""
from __future__ import annotations


import numpy as np
import pytest

import tinygrad_like as tg

from helpers import assert_close, from_np, load_from_torch, to_np


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_gru_cell(x, h, wih, whh, bih, bhh):
    gi, gh = x @ wih.T + bih, h @ whh.T + bhh
    H = h.shape[-1]
    r = _sig(gi[:, :H] + gh[:, :H])
    z = _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h


def _params(m):
    return {n: to_np(p.detach()) for n, p in m.named_parameters()}


def test_gru_cell_matches_numpy():
    tg.manual_seed(0)
    cell = tg.nn.GRUCell(3, 4).double()
    p = _params(cell)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert p["weight_ih"].shape == (12, 3) and np.abs(p["weight_ih"]).max() <= 0.5
    x, h = np.random.default_rng(0).standard_normal((2, 5, 3)), np.random.default_rng(1).standard_normal((5, 4))
    want = np_gru_cell(x[0], h, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    assert_close(cell(from_np(x[0]), from_np(h)), want)
    assert_close(cell(from_np(x[0][0])), np_gru_cell(x[0][:1], np.zeros((1, 4)), p["weight_ih"], p["weight_hh"],
                                                     p["bias_ih"], p["bias_hh"])[0])


def test_rnn_cell_matches_numpy():
    cell = tg.nn.RNNCell(3, 2, nonlinearity="relu").double()
    p = _params(cell)
    x, h = np.random.default_rng(2).standard_normal((4, 3)), np.random.default_rng(3).standard_normal((4, 2))
    want = np.maximum(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"], 0)
    assert_close(cell(from_np(x), from_np(h)), want)
    with pytest.raises(tg.InvalidValueError, match="nonlinearity"):
        tg.nn.RNNCell(3, 2, nonlinearity="sigmoid")
    with pytest.raises(tg.ShapeError, match="hidden state"):
        cell(from_np(x), from_np(h[:2]))


@pytest.mark.parametrize("cls", ["RNN", "GRU"])
def test_sequence_gradcheck(cls):
    tg.manual_seed(1)
    m = getattr(tg.nn, cls)(2, 3, num_layers=2, batch_first=True).double()
    x = from_np(np.random.default_rng(4).standard_normal((2, 3, 2)), requires_grad=True)
    h0 = from_np(np.random.default_rng(5).standard_normal((2, 2, 3)), requires_grad=True)

    def f(x, h0):
        out, hn = m(x, h0)
        return out.sum() + hn.pow(2).sum()
    assert tg.gradcheck(f, [x, h0])


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("cls,kw", [("RNN", dict(num_layers=1)), ("RNN", dict(num_layers=2, nonlinearity="relu")),
                                    ("GRU", dict(num_layers=2, batch_first=True)), ("GRU", dict(bidirectional=True)),
                                    ("RNN", dict(num_layers=2, bidirectional=True, batch_first=True, bias=False))])
def test_sequence_layers_match_torch(tmp_path, cls, kw):
    torch = _torch()
    torch.manual_seed(3)
    ref = getattr(torch.nn, cls)(3, 4, **kw).double()
    mine = getattr(tg.nn, cls)(3, 4, **kw).double()
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in ref.named_parameters()]
    load_from_torch(tmp_path, ref, mine)
    rng = np.random.default_rng(6)
    dirs = 2 if kw.get("bidirectional") else 1
    x = rng.standard_normal((2, 5, 3) if kw.get("batch_first") else (5, 2, 3))  # N = 2, L = 5
    one = x[0] if kw.get("batch_first") else x[:, 0]  # an unbatched (L, 3) sequence
    h0 = rng.standard_normal((kw.get("num_layers", 1) * dirs, 2, 4))
    for args in ((x,), (x, h0), (one,), (one, h0[:, 0])):
        tt = [torch.tensor(a, requires_grad=True) for a in args]
        gg = [from_np(a, requires_grad=True) for a in args]
        out_t, hn_t = ref(*tt)
        out_g, hn_g = mine(*gg)
        assert_close(out_g, out_t.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert_close(hn_g, hn_t.detach().numpy(), rtol=1e-9, atol=1e-12)
        (out_t.sum() + hn_t.pow(2).sum()).backward()
        (out_g.sum() + hn_g.pow(2).sum()).backward()
        for a, b in zip(gg, tt):
            assert_close(a.grad, b.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, pt), pg in zip(ref.named_parameters(), mine.parameters()):
        assert_close(pg.grad, pt.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("cls", ["RNNCell", "GRUCell"])
def test_cells_match_torch(tmp_path, cls):
    torch = _torch()
    torch.manual_seed(4)
    ref = getattr(torch.nn, cls)(3, 5).double()
    mine = getattr(tg.nn, cls)(3, 5).double()
    load_from_torch(tmp_path, ref, mine)
    x, h = np.random.default_rng(7).standard_normal((4, 3)), np.random.default_rng(8).standard_normal((4, 5))
    assert_close(mine(from_np(x), from_np(h)), ref(torch.tensor(x), torch.tensor(h)).detach().numpy(), rtol=1e-10)


def test_sequence_errors():
    gru = tg.nn.GRU(3, 4, num_layers=2)
    with pytest.raises(tg.ShapeError, match="input"):
        gru(tg.randn(5, 2, 2))
    with pytest.raises(tg.ShapeError, match="hidden state"):
        gru(tg.randn(5, 2, 3), tg.randn(1, 2, 4))
    with pytest.raises(tg.InvalidValueError, match="num_layers"):
        tg.nn.GRU(3, 4, num_layers=0)
