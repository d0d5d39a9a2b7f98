"""flip/roll/repeat/tile/repeat_interleave/pad/tril/triu/diagonal/diag/trace/diff, einsum,
norms, outer/cross, isclose/allclose/equal, multinomial/bernoulli: values against numpy (and
PyTorch when importable), gradients by gradcheck."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg
import tinygrad_like.nn.functional as F

from helpers import FEW, assert_close, from_np, tensors


def _g(a: np.ndarray) -> tg.Tensor:
    return from_np(a).requires_grad_()


@FEW
@given(st.data())
def test_flip_roll_repeat_tile_on_views(data: Any) -> None:
    x_np, x = data.draw(tensors(dtype="float64", min_dims=1, max_dims=3))
    nd = x_np.ndim
    dims = tuple(data.draw(st.lists(st.integers(0, nd - 1), unique=True, min_size=1, max_size=nd)))
    assert_close(x.flip(dims), np.flip(x_np, dims))
    shifts = tuple(data.draw(st.integers(-5, 5)) for _ in dims)
    assert_close(x.roll(shifts, dims), np.roll(x_np, shifts, dims))
    assert_close(x.roll(2), np.roll(x_np, 2))
    reps = tuple(data.draw(st.integers(0, 3)) for _ in range(nd + data.draw(st.integers(0, 1))))
    assert_close(x.repeat(*reps), np.tile(x_np, reps))
    assert_close(x.tile(reps[-1:]), np.tile(x_np, reps[-1:]))
    r = data.draw(st.integers(0, 3))
    assert_close(x.repeat_interleave(r, dim=0), np.repeat(x_np, r, axis=0))
    assert_close(x.repeat_interleave(r), np.repeat(x_np, r))


def test_shape_op_gradients() -> None:
    x = _g(np.random.default_rng(0).normal(size=(3, 4)))
    for f in (lambda t: t.flip(0, 1), lambda t: t.roll((1, -2), (0, 1)), lambda t: t.repeat(2, 1, 2),
              lambda t: t.tile((2,)), lambda t: t.repeat_interleave(tg.tensor([1, 0, 3]), dim=0),
              lambda t: t.tril(), lambda t: t.triu(1), lambda t: t.diagonal(1), lambda t: t.diagonal(-1, 1, 0),
              lambda t: t.diag(), lambda t: t.trace(), lambda t: t.diff(dim=0), lambda t: t.diff(2, 1),
              lambda t: t[0].diag(1), lambda t: t.flip(1)[::2]):
        assert tg.gradcheck(f, [x])


def test_tri_diag_diff_values() -> None:
    a = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    x = from_np(a)
    for k in (-2, -1, 0, 1, 3):
        assert_close(x.tril(k), np.tril(a, k))
        assert_close(x.triu(k), np.triu(a, k))
        assert_close(x.diagonal(k, 1, 2), np.diagonal(a, k, 1, 2))
        assert_close(x[0].diag(k), np.diag(a[0], k))
        assert_close(from_np(a[0, 0]).diag(k), np.diag(a[0, 0], k))
    assert_close(x.diagonal(0, 0, 2), np.diagonal(a, 0, 0, 2))
    assert x[0].trace().item() == np.trace(a[0])
    assert_close(x.diff(), np.diff(a))
    assert_close(x.diff(2, dim=1, prepend=x[:, :1]), np.diff(a, 2, axis=1, prepend=a[:, :1]))
    b = np.array([True, False, False, True])
    assert_close(from_np(b).diff(), np.diff(b))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes(mode: str) -> None:
    a = np.random.default_rng(1).normal(size=(2, 3, 4))
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    for pad in ((1, 2), (0, 3, 2, 1), (1, 1, 2, 0, 1, 1)):
        widths = [(0, 0)] * (3 - len(pad) // 2) + [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)][::-1]
        got = F.pad(from_np(a), pad, mode=mode)
        assert_close(got, np.pad(a, widths, mode=np_mode))
        assert tg.gradcheck(lambda t: F.pad(t, pad, mode=mode), [_g(a)])
    if mode == "constant":
        assert_close(F.pad(from_np(a), (1, -2), value=7.0), np.pad(a, [(0, 0), (0, 0), (1, 0)], constant_values=7.0)[..., :-2])
    else:
        with pytest.raises(ValueError):
            F.pad(from_np(a), {"reflect": (4, 4), "circular": (5, 5), "replicate": (-1, 0)}[mode], mode=mode)


EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ij->ji", [(3, 4)]),
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("ij->", [(3, 4)]), ("i,j->ij", [(3,), (4,)]), ("i,i", [(5,), (5,)]),
    ("bij,jk", [(2, 3, 4), (4, 5)]), ("...ij,...jk->...ik", [(2, 3, 4), (1, 4, 5)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("abc,cd,a->bd", [(2, 3, 4), (4, 2), (2,)]), ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("i,i->i", [(4,), (4,)]), ("ij,ij->ij", [(2, 3), (2, 3)]), ("ijk->kj", [(2, 3, 4)]), (",i->i", [(), (3,)]),
    ("i...->...", [(3, 2, 2)]), ("bij,bkj->bik", [(1, 3, 4), (2, 5, 4)]),
]


@pytest.mark.parametrize("spec,shapes", EINSUM_CASES)
def test_einsum_matches_numpy_with_gradients(spec: str, shapes: list) -> None:
    rng = np.random.default_rng(len(spec))
    arrs = [rng.normal(size=s) for s in shapes]
    assert_close(tg.einsum(spec, *[from_np(a) for a in arrs]), np.einsum(spec, *arrs))
    assert tg.gradcheck(lambda *ts: tg.einsum(spec, *ts), [_g(a) for a in arrs])


def test_einsum_errors() -> None:
    with pytest.raises(ValueError):
        tg.einsum("ij,jk->ik", tg.zeros(2, 3))
    with pytest.raises(ValueError):
        tg.einsum("ij->k", tg.zeros(2, 3))
    with pytest.raises(ValueError):
        tg.einsum("ij,jk->ik", tg.zeros(2, 3), tg.zeros(4, 2))


def test_norms_products_comparisons() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(3, 4))
    x = from_np(a)
    for p in (1, 2, math.inf, -math.inf, 0, 3, 0.5):
        assert_close(tg.linalg.vector_norm(x, p), np.linalg.norm(a.ravel(), p))
        assert_close(tg.linalg.vector_norm(x, p, dim=1, keepdim=True), np.linalg.norm(a, p, axis=1, keepdims=True))
        if p not in (0,):
            assert tg.gradcheck(lambda t: tg.linalg.vector_norm(t, p, dim=0), [_g(a)])
    assert_close(x.norm(), np.linalg.norm(a))
    assert_close(x.norm("fro", dim=(0, 1)), np.linalg.norm(a))
    assert_close(x.norm(1, dim=0), np.abs(a).sum(0))
    z = tg.zeros(3, dtype=tg.float64, requires_grad=True)
    z.norm().backward()
    assert z.grad.tolist() == [0.0, 0.0, 0.0]  # PyTorch's subgradient at 0, not 0/0
    u, v = rng.normal(size=(3,)), rng.normal(size=(4,))
    assert_close(tg.outer(from_np(u), from_np(v)), np.outer(u, v))
    c1, c2 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    assert_close(tg.cross(from_np(c1), from_np(c2), dim=1), np.cross(c1, c2))
    assert_close(tg.linalg.cross(from_np(c1), from_np(c2)), np.cross(c1, c2))
    assert tg.gradcheck(lambda s, t: tg.cross(s, t, dim=1), [_g(c1), _g(c2)])
    b = a + 1e-9
    b[0, 0] = np.nan
    b[1, 1] = np.inf
    a2 = a.copy()
    a2[0, 0] = np.nan
    a2[1, 1] = np.inf
    assert_close(tg.isclose(from_np(a2), from_np(b)), np.isclose(a2, b))
    assert_close(tg.isclose(from_np(a2), from_np(b), equal_nan=True), np.isclose(a2, b, equal_nan=True))
    assert tg.allclose(x, from_np(a + 1e-9)) and not tg.allclose(x, from_np(a + 1e-3))
    assert tg.equal(x, from_np(a.copy())) and not tg.equal(x, x[:2]) and not tg.equal(x, x + 1)


def test_multinomial_bernoulli_and_random_ints() -> None:
    tg.manual_seed(0)
    p = tg.tensor([[0.0, 1.0, 3.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    s = tg.multinomial(p, 4000, replacement=True)
    assert s.shape == (2, 4000)
    counts = np.bincount(np.array(s[0].tolist()), minlength=4)
    assert counts[0] == 0 and counts[3] == 0 and abs(counts[2] / 4000 - 0.75) < 0.05
    w = tg.multinomial(p, 2)
    assert sorted(w[0].tolist()) == [1, 2] and len(set(w[1].tolist())) == 2
    assert tg.multinomial(tg.tensor([0.2, 0.8]), 1).shape == (1,)
    with pytest.raises(ValueError):
        tg.multinomial(p, 3)  # row 0 has two non-zero weights
    with pytest.raises(ValueError):
        tg.multinomial(tg.tensor([1.0, -1.0]), 1)
    b = tg.bernoulli(tg.full((5000,), 0.3))
    assert set(b.tolist()) <= {0.0, 1.0} and abs(sum(b.tolist()) / 5000 - 0.3) < 0.05
    r = tg.randint(3, 7, (1000,))
    assert r.dtype is tg.int64 and set(r.tolist()) == {3, 4, 5, 6}
    assert sorted(tg.randperm(50).tolist()) == list(range(50))


def test_seeded_draws_agree_across_backends() -> None:
    p = tg.tensor([0.1, 0.2, 0.3, 0.4], dtype=tg.float64)
    outs = []
    for be in ("python", "c") if "c" in tg.backends.available() else ("python",):
        tg.manual_seed(7)
        outs.append((tg.multinomial(p.to(be), 6, replacement=True).tolist(), tg.multinomial(p.to(be), 3).tolist()))
    assert all(o == outs[0] for o in outs)


def test_method_and_function_forms() -> None:
    x = tg.tensor([1.0, -2.0, 3.0])
    assert tg.neg(x).tolist() == [-1.0, 2.0, -3.0] == x.neg().tolist()
    assert tg.add(x, 1).tolist() == x.add(1).tolist() == [2.0, -1.0, 4.0]
    assert tg.sub(x, x, alpha=2).tolist() == [-1.0, 2.0, -3.0]
    assert x.mul(2).div(2).pow(2).tolist() == [1.0, 4.0, 9.0]
    assert tg.cumsum(x, 0).tolist() == [1.0, -1.0, 2.0]
    assert tg.sort(x).values.tolist() == [-2.0, 1.0, 3.0]
    assert tg.flip(x, 0).tolist() == [3.0, -2.0, 1.0]


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 3, 4))
    t, x = torch.from_numpy(a), from_np(a)
    assert_close(x.roll((1, 2), (0, 2)), torch.roll(t, (1, 2), (0, 2)).numpy())
    assert_close(x.repeat(2, 1, 1, 2), t.repeat(2, 1, 1, 2).numpy())
    assert_close(x.repeat_interleave(2, dim=1), t.repeat_interleave(2, dim=1).numpy())
    for mode in ("reflect", "replicate", "circular"):
        assert_close(F.pad(x, (1, 2, 2, 1), mode=mode), torch.nn.functional.pad(t, (1, 2, 2, 1), mode=mode).numpy())
    assert_close(x.diagonal(1, 0, 2), torch.diagonal(t, 1, 0, 2).numpy())
    assert_close(tg.einsum("bij,bkj->ik", x, x), torch.einsum("bij,bkj->ik", t, t).numpy())
    assert_close(x.norm(3, dim=1), torch.norm(t, 3, dim=1).numpy())
