"""Attention: F.scaled_dot_product_attention against a numpy oracle, central differences and PyTorch;
nn.MultiheadAttention and nn.TransformerEncoder(Layer) against PyTorch with its weights loaded through
safetensors; Embedding(padding_idx), RMSNorm and cross_entropy(ignore_index)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_like as tg
from tinygrad_like.nn import functional as F

from helpers import FEW, assert_close, from_np, load_from_torch, to_np


def np_sdpa(q, k, v, mask=None, is_causal=False, scale=None):
    """The oracle: scores, -inf where masked, a softmax that gives 0 for rows with nothing allowed."""
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if is_causal:
        mask = np.tril(np.ones((L, S), dtype=bool))
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    m = s.max(-1, keepdims=True)
    empty = ~np.isfinite(m)
    e = np.exp(s - np.where(empty, 0.0, m))
    w = np.where(empty, 0.0, e / np.where(empty, 1.0, e.sum(-1, keepdims=True)))
    return w @ v


@FEW
@given(st.integers(0, 2**31 - 1), st.sampled_from(["none", "bool", "float", "causal", "bool_batched"]),
       st.integers(1, 5), st.integers(1, 5), st.sampled_from([None, 0.5]))
def test_sdpa_matches_numpy(seed, kind, L, S, scale):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((2, 3, L, 4)), rng.standard_normal((2, 3, S, 4)), rng.standard_normal((2, 3, S, 5))
    mask = None
    if kind == "bool":
        mask = rng.random((L, S)) > 0.4
    elif kind == "bool_batched":
        mask = rng.random((2, 1, L, S)) > 0.4
    elif kind == "float":
        mask = rng.standard_normal((3, L, S))
    causal = kind == "causal"
    got = F.scaled_dot_product_attention(from_np(q), from_np(k), from_np(v),
                                         None if mask is None else from_np(mask), is_causal=causal, scale=scale)
    assert got.shape == (2, 3, L, 5)
    assert_close(got, np_sdpa(q, k, v, mask, causal, scale), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["none", "causal", "bool", "float"])
def test_sdpa_gradcheck(kind):
    rng = np.random.default_rng(1)
    q = from_np(rng.standard_normal((2, 3, 4)), requires_grad=True)
    k = from_np(rng.standard_normal((2, 5, 4)), requires_grad=True)
    v = from_np(rng.standard_normal((2, 5, 3)), requires_grad=True)
    inputs = [q, k, v]
    if kind == "float":
        inputs.append(from_np(rng.standard_normal((3, 5)), requires_grad=True))
        fn = lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m)  # noqa: E731
    elif kind == "bool":
        m = from_np(rng.random((3, 5)) > 0.3)
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m)  # noqa: E731
    else:
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=kind == "causal")  # noqa: E731
    assert tg.gradcheck(fn, inputs)


def test_sdpa_fully_masked_rows_give_zeros_and_finite_grads():
    rng = np.random.default_rng(2)
    q = from_np(rng.standard_normal((3, 4)), requires_grad=True)
    k = from_np(rng.standard_normal((5, 4)), requires_grad=True)
    v = from_np(rng.standard_normal((5, 2)), requires_grad=True)
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    fmask = np.where(mask, 0.0, -np.inf)
    for m in (from_np(mask), from_np(fmask)):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        assert to_np(out.detach())[1].tolist() == [0.0, 0.0]
        out.sum().backward()
        assert np.isfinite(to_np(q.grad)).all() and to_np(q.grad)[1].tolist() == [0.0] * 4
        q.grad = k.grad = v.grad = None


def test_sdpa_large_scores_are_stable():
    q = from_np(np.full((2, 4), 300.0, dtype=np.float32))
    k = from_np(np.full((3, 4), 300.0, dtype=np.float32))
    v = from_np(np.arange(6, dtype=np.float32).reshape(3, 2))
    out = to_np(F.scaled_dot_product_attention(q, k, v))
    assert np.isfinite(out).all() and np.allclose(out, [[2.0, 3.0], [2.0, 3.0]])


def test_sdpa_dropout_is_seeded_and_scaled():
    rng = np.random.default_rng(3)
    q, k, v = (from_np(rng.standard_normal((2, 8, 4))) for _ in range(3))
    tg.manual_seed(5)
    a = to_np(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5))
    tg.manual_seed(5)
    b = to_np(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5))
    assert np.array_equal(a, b) and not np.allclose(a, to_np(F.scaled_dot_product_attention(q, k, v)))
    assert np.allclose(to_np(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)), 0.0)


def test_sdpa_errors():
    q, k = tg.randn(2, 3, 4), tg.randn(2, 5, 4)
    with pytest.raises(tg.ShapeError, match="same last dim"):
        F.scaled_dot_product_attention(q, tg.randn(2, 5, 3), k)
    with pytest.raises(tg.ShapeError, match="same sequence dim"):
        F.scaled_dot_product_attention(q, k, tg.randn(2, 4, 4))
    with pytest.raises(tg.ShapeError, match="does not broadcast"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=tg.ones(3, 4).bool())
    with pytest.raises(tg.DTypeError, match="bool"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=tg.ones(3, 5).long())
    with pytest.raises(tg.InvalidValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=tg.ones(3, 5).bool(), is_causal=True)


# ---------------------------------------------------------------------- against PyTorch

def _torch():
    return pytest.importorskip("torch")


def _t(torch, x):
    return torch.tensor(to_np(x.detach()))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "bool", "float", "padding", "both", "causal", "3d"])
def test_multihead_attention_matches_torch(tmp_path, batch_first, masks):
    torch = _torch()
    torch.manual_seed(0)
    E, H, L, N = 8, 2, 5, 3
    ref = torch.nn.MultiheadAttention(E, H, batch_first=batch_first).double()
    mha = tg.nn.MultiheadAttention(E, H, batch_first=batch_first).double()
    assert [n for n, _ in mha.named_parameters()] == [n for n, _ in ref.named_parameters()]
    load_from_torch(tmp_path, ref, mha)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((N, L, E) if batch_first else (L, N, E))
    kw, tkw = {}, {}
    if masks in ("bool", "both"):
        m = rng.random((L, L)) > 0.5
        m[:, 0] = False  # every query keeps a key (PyTorch's need_weights path gives NaN rows otherwise)
        kw["attn_mask"], tkw["attn_mask"] = from_np(m), torch.tensor(m)
    if masks == "float":
        m = rng.standard_normal((L, L))
        kw["attn_mask"], tkw["attn_mask"] = from_np(m), torch.tensor(m)
    if masks == "3d":
        m = rng.standard_normal((N * H, L, L))
        kw["attn_mask"], tkw["attn_mask"] = from_np(m), torch.tensor(m)
    if masks in ("padding", "both"):
        p = np.zeros((N, L), dtype=bool)
        p[0, -2:] = True
        kw["key_padding_mask"], tkw["key_padding_mask"] = from_np(p), torch.tensor(p)
    if masks == "causal":
        m = np.triu(np.ones((L, L), dtype=bool), 1)
        kw.update(attn_mask=from_np(m), is_causal=True, need_weights=False)
        tkw.update(attn_mask=torch.tensor(m), is_causal=True, need_weights=False)
    xt = torch.tensor(x, requires_grad=True)
    xg = from_np(x, requires_grad=True)
    out_t, w_t = ref(xt, xt, xt, **tkw)
    out_g, w_g = mha(xg, xg, xg, **kw)
    assert_close(out_g, out_t.detach().numpy(), rtol=1e-9, atol=1e-12)
    if w_t is None:
        assert w_g is None
    else:
        assert_close(w_g, w_t.detach().numpy(), rtol=1e-9, atol=1e-12)
    g = rng.standard_normal(out_t.shape)
    (out_t * torch.tensor(g)).sum().backward()
    (out_g * from_np(g)).sum().backward()
    assert_close(xg.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, pt), pg in zip(ref.named_parameters(), mha.parameters()):
        assert_close(pg.grad, pt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_multihead_attention_cross_and_unbatched(tmp_path):
    torch = _torch()
    torch.manual_seed(1)
    ref = torch.nn.MultiheadAttention(6, 3).double()
    mha = tg.nn.MultiheadAttention(6, 3).double()
    load_from_torch(tmp_path, ref, mha)
    rng = np.random.default_rng(5)
    q, kv, v2 = rng.standard_normal((4, 2, 6)), rng.standard_normal((7, 2, 6)), rng.standard_normal((7, 2, 6))
    for args in ((q, kv, kv), (q, kv, v2), (q[:, 0], kv[:, 0], v2[:, 0])):
        tt = [torch.tensor(a) for a in args]
        if args[1] is args[2]:
            tt[2] = tt[1]
        gg = [from_np(a) for a in args]
        if args[1] is args[2]:
            gg[2] = gg[1]
        out_t, w_t = ref(*tt, average_attn_weights=False)
        out_g, w_g = mha(*gg, average_attn_weights=False)
        assert_close(out_g, out_t.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert_close(w_g, w_t.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_multihead_attention_errors():
    with pytest.raises(tg.InvalidValueError, match="divisible"):
        tg.nn.MultiheadAttention(6, 4)
    mha = tg.nn.MultiheadAttention(4, 2)
    x = tg.randn(3, 2, 4)
    with pytest.raises(tg.ShapeError, match="embed_dim=4"):
        mha(tg.randn(3, 2, 5), x, x)
    with pytest.raises(tg.ShapeError, match="key_padding_mask"):
        mha(x, x, x, key_padding_mask=tg.zeros(3, 2).bool())
    with pytest.raises(tg.ShapeError, match="attn_mask"):
        mha(x, x, x, attn_mask=tg.zeros(2, 2).bool())
    with pytest.raises(tg.InvalidValueError, match="is_causal"):
        mha(x, x, x, is_causal=True)


@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_matches_torch(tmp_path, norm_first, activation):
    torch = _torch()
    torch.manual_seed(2)
    kw = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, activation=activation, batch_first=True,
              norm_first=norm_first)
    ref = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**kw), 2, enable_nested_tensor=False).double()
    enc = tg.nn.TransformerEncoder(tg.nn.TransformerEncoderLayer(**kw), 2).double()
    assert [n for n, _ in enc.named_parameters()] == [n for n, _ in ref.named_parameters()]
    load_from_torch(tmp_path, ref, enc)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 5, 8))
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    pad = np.zeros((3, 5), dtype=bool)
    pad[1, -1] = True
    for mask, padding, is_causal in ((None, None, None), (causal, None, True), (None, pad, None)):
        xt, xg = torch.tensor(x, requires_grad=True), from_np(x, requires_grad=True)
        out_t = ref(xt, mask=mask, src_key_padding_mask=None if padding is None else torch.tensor(padding),
                    is_causal=is_causal)
        out_g = enc(xg, mask=None if mask is None else from_np(mask.numpy()),
                    src_key_padding_mask=None if padding is None else from_np(padding), is_causal=is_causal)
        assert_close(out_g, out_t.detach().numpy(), rtol=1e-9, atol=1e-12)
        out_t.pow(2).sum().backward()
        out_g.pow(2).sum().backward()
        assert_close(xg.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    for (name, pt), pg in zip(ref.named_parameters(), enc.parameters()):
        assert_close(pg.grad, pt.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_encoder_layers_are_independent_copies():
    layer = tg.nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)
    enc = tg.nn.TransformerEncoder(layer, 2)
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert np.array_equal(to_np(a.detach()), to_np(b.detach()))
    with tg.no_grad():
        a.add_(1.0)
    assert not np.array_equal(to_np(a.detach()), to_np(b.detach()))
    assert len(list(enc.parameters())) == 2 * len(list(layer.parameters()))


# ---------------------------------------------------------------------- Embedding, RMSNorm, ignore_index

def test_embedding_padding_idx():
    emb = tg.nn.Embedding(5, 3, padding_idx=-1)
    assert emb.padding_idx == 4 and to_np(emb.weight.detach())[4].tolist() == [0.0, 0.0, 0.0]
    idx = tg.tensor([[0, 4, 2], [4, 4, 0]])
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    out.sum().backward()
    g = to_np(emb.weight.grad)
    assert g[4].tolist() == [0.0] * 3 and g[0].tolist() == [2.0] * 3 and g[2].tolist() == [1.0] * 3
    with pytest.raises(tg.InvalidValueError, match="padding_idx"):
        tg.nn.Embedding(5, 3, padding_idx=5)


def test_embedding_padding_idx_matches_torch():
    torch = _torch()
    w = np.random.default_rng(7).standard_normal((6, 2))
    idx = [[1, 2, 1], [0, 5, 1]]
    wt, wg = torch.tensor(w, requires_grad=True), from_np(w, requires_grad=True)
    torch.nn.functional.embedding(torch.tensor(idx), wt, padding_idx=1).pow(2).sum().backward()
    F.embedding(tg.tensor(idx), wg, padding_idx=1).pow(2).sum().backward()
    assert_close(wg.grad, wt.grad.numpy())


@pytest.mark.parametrize("shape,eps", [((4,), None), ((3, 4), 1e-3)])
def test_rms_norm(shape, eps):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2,) + shape)
    w = rng.standard_normal(shape)
    dims = tuple(range(1, 1 + len(shape)))
    e = np.finfo(np.float64).eps if eps is None else eps
    want = x / np.sqrt((x * x).mean(dims, keepdims=True) + e) * w
    norm = tg.nn.RMSNorm(shape, eps=eps).double()
    assert to_np(norm.weight.detach()).tolist() == np.ones(shape).tolist()
    norm.weight.data = from_np(w)
    assert_close(norm(from_np(x)), want)
    assert tg.gradcheck(lambda x, w: F.rms_norm(x, shape, w, eps), [from_np(x, requires_grad=True),
                                                                     from_np(w, requires_grad=True)])
    with pytest.raises(tg.ShapeError, match="normalized_shape"):
        F.rms_norm(from_np(x), (5,))


def test_rms_norm_matches_torch():
    torch = _torch()
    x = np.random.default_rng(9).standard_normal((3, 5)).astype(np.float32)
    want = torch.nn.RMSNorm(5)(torch.tensor(x)).detach().numpy()
    assert_close(tg.nn.RMSNorm(5)(from_np(x)), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_ignore_index_matches_torch(reduction, smoothing):
    torch = _torch()
    rng = np.random.default_rng(10)
    x = rng.standard_normal((6, 4))
    y = np.array([0, -1, 3, -1, 2, 1])
    xt, xg = torch.tensor(x, requires_grad=True), from_np(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(y), reduction=reduction, label_smoothing=smoothing,
                                           ignore_index=-1)
    lg = F.cross_entropy(xg, tg.tensor(y.tolist()), reduction=reduction, label_smoothing=smoothing, ignore_index=-1)
    assert_close(lg, lt.detach().numpy(), rtol=1e-10, atol=1e-12)
    lt.sum().backward()
    lg.sum().backward()
    assert_close(xg.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_ignore_index_oracle_and_edge_cases():
    x = np.random.default_rng(11).standard_normal((2, 3, 4))  # (N, C, d): class dim 1
    y = np.array([[0, 2, 1, 1], [1, 0, 2, 0]])
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    picked = -np.take_along_axis(logp, y[:, None], 1)[:, 0]
    keep = y != 2
    got = F.cross_entropy(from_np(x), tg.tensor(y.tolist()), ignore_index=2)
    assert_close(got, picked[keep].mean())
    assert_close(tg.nn.CrossEntropyLoss(ignore_index=2, reduction="sum")(from_np(x), tg.tensor(y.tolist())),
                 picked[keep].sum())
    assert_close(F.nll_loss(from_np(logp), tg.tensor(y.tolist()), ignore_index=2), picked[keep].mean())
    all_ignored = F.cross_entropy(from_np(x), tg.full((2, 4), -100, dtype=tg.int64))
    assert math.isnan(all_ignored.item())
    with pytest.raises(tg.InvalidValueError, match="out of bounds"):
        F.cross_entropy(from_np(x[:, :, 0]), tg.tensor([-100, 7]))
