"""The fused scaled-dot-product attention (optional kernels sdpa / sdpa_backward, one graph node):
against the composed path, PyTorch and central differences; strided q/k/v read in place; both sides
of the kernels' parallel thresholds and row blocks; NaN/inf; create_graph; tg.jit replay."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_like as tg
from tinygrad_like import nn
from tinygrad_like.errors import AutogradError, ShapeError
from tinygrad_like.nn import functional as F
from tinygrad_like.view import View

from helpers import FEW, from_np, to_np
from test_attention import np_sdpa

try:
    import torch
except ImportError:  # .ci/asan.sh hides PyTorch: the composed path and numpy stay the oracles there
    torch = None

FUSED = "ScaledDotProductFlashAttention"
# Relative / absolute tolerance of the fused path against the composed one and PyTorch: their sums run
# in another order (blocked products, one division by the row sum at the end), so float32 results agree
# to float32 rounding of sums of O(S) terms, float64 ones to float64 rounding.
TOL = {"float32": (2e-5, 2e-6), "float64": (1e-10, 1e-12)}


def _has_fused(backend: str) -> bool:
    return tg.backends.load(backend).optional.sdpa is not None


@pytest.fixture
def composed(backend, monkeypatch):
    """A function running fn with the backend's fused attention kernels switched off."""
    be = tg.backends.load(backend)

    def run(fn):
        with monkeypatch.context() as m:
            m.setattr(be, "optional", dataclasses.replace(be.optional, sdpa=None, sdpa_backward=None))
            return fn()
    return run


def _np(x):
    return to_np(x).astype(np.float64)


def _close(got, want, dtype, scale=1.0):
    r, a = TOL[dtype]
    np.testing.assert_allclose(_np(got), np.asarray(want, dtype=np.float64), rtol=r, atol=a * max(1.0, scale),
                               equal_nan=True)


def _run(q, k, v, g, causal, scale=None):
    """(out, dq, dk, dv, graph node name) of SDPA on fresh leaves with q, k, v's values and views."""
    leaves = [t.detach().requires_grad_() for t in (q, k, v)]
    out = F.scaled_dot_product_attention(*leaves, is_causal=causal, scale=scale)
    name = out._node.name if out._node is not None else None
    out.backward(g)
    return (out.detach(), *[t.grad for t in leaves], name)


def _inputs(rng, shapes, dtype):
    return [from_np(rng.standard_normal(s), dtype) for s in shapes]


SHAPES = [  # (batch, L, S, E, Ev)
    ((2, 3), 5, 7, 4, 6),
    ((2, 3), 7, 5, 4, 4),       # L > S: causal rows past the keys see all of them
    ((1, 2), 1, 1, 3, 2),       # T = 1
    ((3,), 6, 6, 8, 8),         # 3-d: one batch dim
    ((), 9, 4, 5, 3),           # 2-d
    ((2, 1, 2), 6, 9, 4, 5),    # 5-d: batch dims merged
    ((2,), 9, 11, 20, 32),      # feature rows of whole SIMD vectors (read in place) and of vectors + a tail
    ((1, 2), 6, 6, 32, 20),
    ((1, 2), 70, 300, 16, 8),   # several row blocks, more than one vector of keys
    ((2, 1), 150, 150, 16, 24),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}-L{s[1]}-S{s[2]}-E{s[3]}-Ev{s[4]}")
def test_fused_matches_composed_and_torch(backend, composed, shape, causal, dtype):
    batch, L, S, E, Ev = shape
    rng = np.random.default_rng(L * 31 + S)
    q, k, v, g = _inputs(rng, [batch + (L, E), batch + (S, E), batch + (S, Ev), batch + (L, Ev)], dtype)
    got = _run(q, k, v, g, causal)
    want = composed(lambda: _run(q, k, v, g, causal))
    if _has_fused(backend):
        assert got[4] == FUSED and want[4] != FUSED
    else:
        assert got[4] == want[4] != FUSED
    for a, b in zip(got[:4], want[:4]):
        assert a.shape == b.shape and a.dtype.name == dtype
        _close(a, _np(b), dtype, scale=float(np.abs(_np(b)).max(initial=1.0)))
    if torch is not None:
        tq, tk, tv = (torch.tensor(_np(t), requires_grad=True) for t in (q, k, v))
        tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
        tout.backward(torch.tensor(_np(g)))
        for a, t in zip(got[:4], (tout, tq.grad, tk.grad, tv.grad)):
            _close(a, t.detach().numpy(), dtype, scale=float(np.abs(t.detach().numpy()).max(initial=1.0)))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("L,S,E,Ev", [(3, 5, 4, 2), (5, 3, 2, 3), (1, 1, 2, 2)])
def test_fused_gradcheck(causal, L, S, E, Ev):
    rng = np.random.default_rng(3)
    q, k, v = (from_np(rng.standard_normal(s), requires_grad=True) for s in ((2, L, E), (2, S, E), (2, S, Ev)))
    assert tg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=0.7),
                        [q, k, v])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_head_views_of_one_projection_are_read_in_place(backend, composed, dtype):
    """q, k, v as the (B, H, T, D) views of one (B, T, 3*H*D) projection (strides (T*3E, D, 3E, 1)): no
    copy, and out / the gradients come back in (B, T, H, D) order, so undoing the head split is a view."""
    B, T, H, D = 3, 14, 4, 16
    rng = np.random.default_rng(5)
    x = from_np(rng.standard_normal((B, T, 3 * H * D)), dtype)
    g = from_np(rng.standard_normal((B, T, H * D)), dtype)

    def run():
        xl = x.detach().requires_grad_()
        q, k, v = (t.reshape(B, T, H, D).transpose(1, 2) for t in xl.chunk(3, -1))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = out.transpose(1, 2).reshape(B, T, H * D)
        y.backward(g)
        return y.detach(), xl.grad, out
    y, gx, out = run()
    y0, gx0, _ = composed(run)
    _close(y, _np(y0), dtype)
    _close(gx, _np(gx0), dtype)
    if _has_fused(backend):
        assert out._view.strides == (T * H * D, D, H * D, 1)
        assert y._buf is out._buf  # the reshape back is a view


@pytest.mark.parametrize("kind", ["transposed", "sliced", "expanded_heads", "broadcast_batch", "flipped"])
@pytest.mark.parametrize("causal", [False, True])
def test_strided_inputs(backend, composed, kind, causal):
    rng = np.random.default_rng(7)
    B, H, L, S, E, Ev = 2, 3, 6, 8, 4, 5
    g = from_np(rng.standard_normal((B, H, L, Ev)))
    if kind == "transposed":  # stored (B, H, E, L): last stride not 1, copied by the core
        q = from_np(rng.standard_normal((B, H, E, L))).transpose(-2, -1)
        k = from_np(rng.standard_normal((B, H, E, S))).transpose(-2, -1)
        v = from_np(rng.standard_normal((H, B, S, Ev))).transpose(0, 1)
    elif kind == "sliced":  # offsets and row strides
        q = from_np(rng.standard_normal((B, H, 2 * L, E + 3)))[:, :, ::2, 1:E + 1]
        k = from_np(rng.standard_normal((B + 1, H, S, E)))[1:]
        v = from_np(rng.standard_normal((B, H, S + 2, Ev)))[:, :, 2:]
    elif kind == "expanded_heads":  # one key/value head shared by all (stride 0)
        q = from_np(rng.standard_normal((B, H, L, E)))
        k = from_np(rng.standard_normal((B, 1, S, E))).expand(B, H, S, E)
        v = from_np(rng.standard_normal((B, 1, S, Ev))).expand(B, H, S, Ev)
    elif kind == "broadcast_batch":  # batch dims broadcast by SDPA itself
        q = from_np(rng.standard_normal((B, H, L, E)))
        k = from_np(rng.standard_normal((1, H, S, E)))
        v = from_np(rng.standard_normal((S, Ev)))
    else:  # negative row stride
        q = from_np(rng.standard_normal((B, H, L, E))).flip(2)
        k = from_np(rng.standard_normal((B, H, S, E))).flip(2)
        v = from_np(rng.standard_normal((B, H, S, Ev))).flip(0)
    got = _run(q, k, v, g, causal)
    want = composed(lambda: _run(q, k, v, g, causal))
    assert (got[4] == FUSED) == _has_fused(backend)
    for a, b in zip(got[:4], want[:4]):
        assert a.shape == b.shape
        _close(a, _np(b), "float64")
    np.testing.assert_allclose(_np(got[0]), np_sdpa(_np(q), _np(k), _np(v), is_causal=causal), rtol=1e-10,
                               atol=1e-12)


def test_empty_shapes_take_the_composed_path(backend):
    for qs, ks, vs in (((0, 2, 3, 4), (0, 2, 5, 4), (0, 2, 5, 3)), ((2, 0, 4), (2, 5, 4), (2, 5, 4)),
                       ((2, 3, 4), (2, 0, 4), (2, 0, 3))):
        q, k, v = (tg.zeros(s, dtype=tg.float64, requires_grad=True) for s in (qs, ks, vs))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        assert out.shape == qs[:-1] + vs[-1:]
        assert np.all(_np(out) == 0)
        out.sum().backward()
        for t in (q, k, v):
            assert t.grad.shape == t.shape and np.all(_np(t.grad) == 0)


@pytest.mark.parametrize("where", ["q", "k", "v", "q_inf", "k_ninf"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_and_inf_like_the_composed_path(backend, composed, where, dtype):
    """Non-causal (every key takes part in every row): NaN and inf give NaN exactly where the composed
    softmax does, in the output and in every gradient."""
    rng = np.random.default_rng(11)
    arrays = [rng.standard_normal(s) for s in ((2, 2, 5, 4), (2, 2, 6, 4), (2, 2, 6, 3))]
    name = where.split("_")[0]
    a = arrays["qkv".index(name)]
    a[1, 0, 2, 1] = {"q": np.nan, "k": np.nan, "v": np.nan, "q_inf": np.inf, "k_ninf": -np.inf}[where]
    q, k, v = (from_np(x, dtype) for x in arrays)
    g = from_np(rng.standard_normal((2, 2, 5, 3)), dtype)
    got = _run(q, k, v, g, False)
    want = composed(lambda: _run(q, k, v, g, False))
    for a_, b_ in zip(got[:4], want[:4]):
        np.testing.assert_array_equal(np.isnan(_np(a_)), np.isnan(_np(b_)))
        _close(a_, _np(b_), dtype)


def test_nan_in_a_key_masked_out_stays_out_of_earlier_rows(backend):
    """Causal: a NaN in the last key and value reaches only the last rows (as PyTorch's fused kernel;
    the composed path's weights @ v spreads 0 * NaN to every row). Rows that share no tile with the last
    key (more than 8 rows before it) equal the NaN-free result."""
    if not _has_fused(backend):
        pytest.skip("the composed path spreads NaN through 0 * NaN")
    rng = np.random.default_rng(13)
    T = 40
    q, k, v = (rng.standard_normal((2, 2, T, 4)) for _ in range(3))
    want = np_sdpa(q, k, v, is_causal=True)
    k[:, :, -1], v[:, :, -1] = np.nan, np.nan
    got = _np(F.scaled_dot_product_attention(from_np(q), from_np(k), from_np(v), is_causal=True))
    np.testing.assert_allclose(got[:, :, :T - 8], want[:, :, :T - 8], rtol=1e-10, atol=1e-12)
    assert np.isnan(got[:, :, -1]).all()


def _work_sizes(backend: str) -> list:
    """(B, H, L, E) with E = Ev, S = L, non-causal, on both sides of the backend's parallel threshold
    (multiply-adds B*H*L*S*(E+Ev): c from 16 * PAR_MIN_COSTLY, numba from PAR_MATMUL)."""
    if backend == "numba":
        from tinygrad_like.backends import numba_backend as nb
        limit = nb.PAR_MATMUL
    else:
        from tinygrad_like.backends import c_backend as cb
        limit = 16 * cb.PAR_MIN_COSTLY
    sizes = [(2, 2, 8, 16), (2, 2, 31, 16), (2, 2, 33, 16), (2, 2, 100, 16), (1, 3, 200, 8)]
    work = [b * h * L * L * 2 * e for b, h, L, e in sizes]
    assert min(work) < limit <= max(work)
    return sizes


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request, backend):
    """The backend's kernels on 1, then 2 threads (restored afterwards)."""
    if not _has_fused(backend):
        pytest.skip("no fused attention kernels on this backend")
    if backend == "numba":
        import numba
        if request.param > numba.config.NUMBA_NUM_THREADS:
            pytest.skip(f"numba allows {numba.config.NUMBA_NUM_THREADS} threads here")
        prev = numba.get_num_threads()
        numba.set_num_threads(request.param)
        yield request.param
        numba.set_num_threads(prev)
    else:
        be = tg.backends.load(backend)
        prev = be.get_num_threads()
        be.set_num_threads(request.param)
        yield request.param
        be.set_num_threads(prev)


@pytest.mark.parametrize("causal", [False, True])
def test_both_sides_of_the_parallel_threshold(backend, threads, composed, causal):
    for B, H, L, E in _work_sizes(backend):
        rng = np.random.default_rng(L)
        q, k, v, g = (from_np(rng.standard_normal((B, H, L, E)), "float32") for _ in range(4))
        out, dq, dk, dv, name = _run(q, k, v, g, causal)
        assert name == FUSED
        np.testing.assert_allclose(_np(out), np_sdpa(_np(q), _np(k), _np(v), is_causal=causal), rtol=2e-5,
                                   atol=2e-6)
        want = composed(lambda: _run(q, k, v, g, causal))  # gradients in float32 against the composed path's
        for a, b in zip((dq, dk, dv), want[1:4]):
            np.testing.assert_allclose(_np(a), _np(b), rtol=2e-5, atol=2e-5)


def test_create_graph_differentiates_the_backward_again(backend, composed):
    rng = np.random.default_rng(17)
    arrays = [rng.standard_normal(s) for s in ((2, 4, 3), (2, 5, 3), (2, 5, 2), (2, 4, 2), (2, 4, 3))]

    def second():
        q, k, v = (from_np(a, requires_grad=True) for a in arrays[:3])
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        (dq,) = tg.autograd.grad((out * from_np(arrays[3])).sum(), [q], create_graph=True)
        (dq * from_np(arrays[4])).sum().backward()
        return [_np(t.grad) for t in (q, k, v)]
    for a, b in zip(second(), composed(second)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_modifying_the_output_in_place_is_caught(backend):
    """The fused backward reads the output (rowsum(dO * out)): an in-place change of it is an error (the
    composed path's backward does not need the output)."""
    if not _has_fused(backend):
        pytest.skip("no fused attention kernels on this backend")
    q, k, v = (tg.randn(2, 3, 4, dtype=tg.float64, requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v)
    out.mul_(2)
    with pytest.raises(AutogradError):
        out.sum().backward()


def test_backend_checks_views(backend):
    be = tg.backends.load(backend)
    if be.optional.sdpa is None:
        pytest.skip("no fused attention kernels on this backend")
    q = tg.randn(2, 3, 4, 5)
    buf, view = q._buf, View((2, 3, 5, 4), (60, 20, 1, 5), 0)  # feature stride 5
    with pytest.raises(ShapeError):
        be.sdpa(buf, view, buf, view, buf, view, View.contiguous((2, 3, 5, 4)), False, 1.0, tg.float32)
    good = View.contiguous((2, 3, 4, 5))
    with pytest.raises(ShapeError):  # result view with a gap
        be.sdpa(buf, good, buf, good, buf, good, View((2, 3, 4, 5), (80, 20, 5, 1), 0), False, 1.0, tg.float32)


@FEW
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(1, 3), st.integers(1, 20), st.integers(1, 20),
       st.integers(1, 9), st.integers(1, 9), st.booleans(), st.sampled_from(["float32", "float64"]))
def test_fused_property(seed, B, H, L, S, E, Ev, causal, dtype):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in ((B, H, L, E), (B, H, S, E), (B, H, S, Ev), (B, H, L, Ev))]
    xs = [from_np(a, dtype) for a in arrays]
    out, dq, dk, dv, _ = _run(*xs, causal)
    r, a = TOL[dtype]
    np.testing.assert_allclose(_np(out), np_sdpa(*[x.astype(np.float64) if dtype == "float64" else
                                                    x.astype(np.float32).astype(np.float64) for x in arrays[:3]],
                                                  is_causal=causal), rtol=r, atol=10 * a)
    assert dq.shape == (B, H, L, E) and dk.shape == (B, H, S, E) and dv.shape == (B, H, S, Ev)
    if torch is None:
        return
    # the gradients against PyTorch's
    ts = [torch.tensor(_np(x), requires_grad=True) for x in xs[:3]]
    torch.nn.functional.scaled_dot_product_attention(*ts, is_causal=causal).backward(torch.tensor(_np(xs[3])))
    for got, t in zip((dq, dk, dv), ts):
        np.testing.assert_allclose(_np(got), t.grad.numpy(), rtol=r, atol=20 * a)


# ---------------------------------------------------------------- tg.jit

@pytest.fixture(params=[True, False], ids=["native", "methods"])
def native(request, backend):
    if not request.param and not hasattr(tg.backends.load(backend), "native_capture"):
        pytest.skip("this backend has one replay path")
    return request.param


class _Block(nn.Module):
    """Causal self-attention over one (B, T, 3E) projection, the makemore transformer's layout."""

    def __init__(self, E: int, H: int):
        super().__init__()
        self.H = H
        self.qkv = nn.Linear(E, 3 * E)
        self.proj = nn.Linear(E, E)

    def forward(self, x):
        B, T, E = x.shape
        q, k, v = (t.reshape(B, T, self.H, E // self.H).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, E))


def test_jit_replay_equals_eager_bit_for_bit(backend, native):
    gen = tg.Generator(3)
    data = [tg.randn(4, 7, 16, generator=gen) for _ in range(4)]
    results = []
    for jitted in (False, True):
        tg.manual_seed(0)
        model = _Block(16, 4)
        opt = tg.optim.AdamW(model.parameters(), lr=1e-2)

        def step(x):
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        if jitted:
            step = tg.jit(step, native=native)
        losses = [step(x).tolist() for x in data]
        results.append((losses, [p.detach().tolist() for p in model.parameters()]))
        if jitted:
            assert step.captured_kernels(), "the jitted step never replayed"
    assert results[0] == results[1]
