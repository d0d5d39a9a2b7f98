"""Adam/AdamW's update on every backend (the c and numba backends' fused `adam_step` kernel, the
python backend's composition) against PyTorch's torch.optim.Adam/AdamW in float32 and float64, the
kernel itself against a numpy transcription of its formula, and the 0-d float32 step tensor."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_like as tg
from tinygrad_like.dtypes import float32, float64
from tinygrad_like.view import View

from helpers import from_np, to_np

CONFIGS = [
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.1, betas=(0.6, 0.99), weight_decay=0.3, eps=1e-6)),
    ("Adam", dict(lr=0.05, betas=(0.3, 0.9), weight_decay=0.1, maximize=True)),  # lerp's weight >= 0.5
    ("Adam", dict(lr=0.02)),
    ("AdamW", dict(lr=5e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=True)),
]


def _run(lib, cls: str, kw: dict, p0: list, grads: list, make, transpose_grad: bool = False) -> list:
    params = [make(a) for a in p0]
    opt = getattr(lib.optim, cls)(params, **kw)
    for step in grads:
        for p, g in zip(params, step):
            t = make(np.ascontiguousarray(g.T) if transpose_grad else g)
            p.grad = t.T if transpose_grad else t
        opt.step()
    return params, opt


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()))
@pytest.mark.parametrize("transpose_grad", [False, True], ids=["grad", "transposed_grad"])
def test_matches_torch_float32(cls, kw, transpose_grad):
    """10 steps on a matrix (both sides of the parallel threshold of small kernels) and a vector;
    a transposed gradient (a matmul's backward gives one) is copied, then fused."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p0 = [rng.standard_normal((67, 45)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)]
    grads = [[rng.standard_normal(a.shape).astype(np.float32) for a in p0] for _ in range(10)]
    ours, opt = _run(tg, cls, kw, p0, grads, lambda a: from_np(a, requires_grad=True), transpose_grad)
    theirs, topt = _run(torch, cls, kw, p0, grads, lambda a: torch.tensor(a, requires_grad=True), transpose_grad)
    for a, b in zip(ours, theirs):
        # PyTorch's float32 sqrt is not always correctly rounded: last-bit differences, amplified a
        # little where m / denom is near zero over the steps
        np.testing.assert_allclose(to_np(a.detach()), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(ours, theirs):
        s, ts = opt.state[a], topt.state[b]
        assert s["step"].dtype is float32 and s["step"].shape == () and to_np(s["step"]) == ts["step"].item() == 10
        np.testing.assert_allclose(to_np(s["exp_avg"]), ts["exp_avg"].numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(to_np(s["exp_avg_sq"]), ts["exp_avg_sq"].numpy(), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("cls,kw", CONFIGS[:3])
def test_matches_torch_float64_and_python_backend(cls, kw):
    """float64: PyTorch's trajectory to 1e-13, and the fused kernel equal to the python backend's
    composition (the same formulas, the same roundings but for fused multiply-adds)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    p0 = [rng.standard_normal((33, 70))]
    grads = [[rng.standard_normal(p0[0].shape)] for _ in range(6)]
    ours, _ = _run(tg, cls, kw, p0, grads, lambda a: from_np(a, requires_grad=True))
    theirs, _ = _run(torch, cls, kw, p0, grads, lambda a: torch.tensor(a, requires_grad=True))
    ref, _ = _run(tg, cls, kw, p0, grads, lambda a: tg.tensor(a, backend="python", requires_grad=True))
    np.testing.assert_allclose(to_np(ours[0].detach()), theirs[0].detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(to_np(ours[0].detach()), to_np(ref[0].detach()), rtol=1e-13, atol=1e-15)


def test_non_contiguous_param_composes():
    """A parameter that is a transposed view takes the composed update (the kernel wants dense runs)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 9)).astype(np.float32)
    p = from_np(a).T.detach().requires_grad_()
    tp = torch.tensor(a).T.detach().requires_grad_()
    opt, topt = tg.optim.AdamW([p], lr=0.1), torch.optim.AdamW([tp], lr=0.1)
    for _ in range(4):
        g = rng.standard_normal((9, 6)).astype(np.float32)
        p.grad, tp.grad = from_np(g), torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(to_np(p.detach()), tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_state_dict_step_and_plain_count():
    """state['step'] is a 0-d float32 tensor in the state_dict, as PyTorch's; a plain number from
    an older checkpoint is taken and turned into one."""
    p = tg.nn.Parameter(tg.ones(4))
    opt = tg.optim.AdamW([p], lr=0.1)
    p.grad = tg.ones(4)
    opt.step()
    sd = opt.state_dict()
    assert isinstance(sd["state"][0]["step"], tg.Tensor) and sd["state"][0]["step"].item() == 1.0
    q = tg.nn.Parameter(p.detach().clone())
    opt2 = tg.optim.AdamW([q], lr=0.1)
    sd["state"][0]["step"] = 1  # a plain count
    opt2.load_state_dict(sd)
    q.grad = tg.ones(4)
    opt2.step()
    p.grad = tg.ones(4)
    opt.step()
    assert np.array_equal(to_np(q.detach()), to_np(p.detach()))
    assert opt2.state[q]["step"].dtype is float32 and opt2.state[q]["step"].item() == 2.0


def test_step_bumps_versions_of_what_it_writes():
    """A graph that saved the parameter refuses to backpropagate after the update wrote it."""
    p = tg.nn.Parameter(tg.ones(3))
    opt = tg.optim.Adam([p], lr=0.1)
    y = (p * p).sum()
    p.grad = tg.ones(3)
    opt.step()
    with pytest.raises(tg.AutogradError):
        y.backward()


# ---------------------------------------------------------------- the kernel, called directly

def _numpy_adam(p, g, m, v, t, lr, beta1, beta2, eps, wd, decoupled, maximize, dt):
    """The protocol's formula in numpy at dtype dt (without fused multiply-adds)."""
    c = lambda x: dt(x)  # noqa: E731
    g = -g if maximize else g
    if wd != 0:
        if decoupled:
            p = p * c(1 - lr * wd)
        else:
            g = g + p * c(wd)
    w = c(1 - beta1)
    m = m + w * (g - m) if abs(w) < 0.5 else g + (w - c(1)) * (g - m)
    v = v * c(beta2) + (c(1 - beta2) * g) * g
    bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
    p = p + (c(-(lr / bc1)) * m) / (np.sqrt(v) / c(bc2 ** 0.5) + c(eps))
    return p, m, v


def _buf(be, a, dtype):
    """A backend buffer holding a copy of a (from_buffer may share memory with a)."""
    return be.from_buffer(memoryview(a.copy()).cast("B"), dtype)


def _read(be, buf, dtype, np_dtype):
    return np.frombuffer(be.memoryview(buf, dtype), dtype=np_dtype).copy()


def _kernel_or_skip():
    be = tg.backends.load(tg.get_backend())
    if be.optional.adam_step is None:
        pytest.skip(f"backend {be.name} composes Adam's update (no fused adam_step)")
    return be


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), off=st.integers(0, 3), steps=st.integers(1, 3), lr=st.floats(1e-4, 0.5),
       beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999), eps=st.sampled_from([1e-8, 1e-6, 0.1]),
       wd=st.sampled_from([0.0, 0.01, 0.5]), decoupled=st.booleans(), maximize=st.booleans(),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2 ** 16))
def test_kernel_matches_numpy_formula(n, off, steps, lr, beta1, beta2, eps, wd, decoupled, maximize, dtype, seed):
    """Repeated calls with the same arguments: the count comes from the step buffer each time."""
    be = _kernel_or_skip()
    dt = getattr(tg, dtype)
    npt = np.float32 if dtype == "float32" else np.float64
    rng = np.random.default_rng(seed)
    p, g, m = (rng.standard_normal(n + off).astype(npt) for _ in range(3))
    v = np.abs(rng.standard_normal(n + off)).astype(npt)
    bufs = [_buf(be, a, dt) for a in (p, g, m, v)]
    sbuf = _buf(be, np.array([7.0, 2.0], np.float32), float32)
    view = View((n,), (1,), off)
    rp, rm, rv = p[off:], m[off:], v[off:]
    for k in range(steps):
        be.adam_step(bufs[0], view, bufs[1], view, bufs[2], view, bufs[3], view, sbuf, View((1,), (1,), 1), dt,
                     lr, (beta1, beta2), eps, wd, decoupled, maximize)
        rp, rm, rv = _numpy_adam(rp, g[off:], rm, rv, 3 + k, lr, beta1, beta2, eps, wd, decoupled, maximize, npt)
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-13, atol=1e-14)
    for buf, ref, orig in ((bufs[0], rp, p), (bufs[2], rm, m), (bufs[3], rv, v)):
        got = _read(be, buf, dt, npt)
        np.testing.assert_allclose(got[off:], ref, **tol)
        assert np.array_equal(got[:off], orig[:off])  # nothing outside the view is written
    assert _read(be, sbuf, float32, np.float32).tolist() == [7.0, 2.0 + steps]
    assert np.array_equal(_read(be, bufs[1], dt, npt), g)


def test_kernel_refuses_bad_operands():
    be = _kernel_or_skip()
    f32 = float32
    a, b, c, d = (be.full(8, 1.0, f32) for _ in range(4))
    s = be.full(1, 0.0, f32)
    v8, v4 = View((8,), (1,), 0), View((4,), (1,), 0)
    sv = View((1,), (1,), 0)
    hyper = (f32, 0.1, (0.9, 0.99), 1e-8, 0.0, True, False)
    with pytest.raises(tg.ShapeError):
        be.adam_step(a, v8, b, v4, c, v8, d, v8, s, sv, *hyper)  # sizes differ
    with pytest.raises(tg.ShapeError):
        be.adam_step(a, View((4,), (2,), 0), b, v4, c, v4, d, v4, s, sv, *hyper)  # strided
    with pytest.raises((tg.ShapeError, tg.TensorIndexError)):
        be.adam_step(a, View((8,), (1,), 1), b, v8, c, v8, d, v8, s, sv, *hyper)  # past the end
    with pytest.raises(tg.TensorError):
        be.adam_step(a, v8, a, v8, c, v8, d, v8, s, sv, *hyper)  # grad is the param's buffer
    with pytest.raises(tg.TensorError):
        be.adam_step(a, v8, b, v8, c, v8, d, v8, be.full(1, 0.0, float64), sv, *hyper)  # a float64 count
    with pytest.raises(tg.TensorError):
        be.adam_step(a, v8, b, v8, c, v8, d, v8, s, View((1,), (1,), 1), *hyper)  # count outside its buffer
    assert _read(be, a, f32, np.float32).tolist() == [1.0] * 8 and _read(be, s, f32, np.float32).tolist() == [0.0]
