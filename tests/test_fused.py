"""Optional fused kernels (backends/protocol.py) against the core's composition from primitives.

Each test runs an op twice on the same backend: once as is (fused where the backend has the
kernel) and once with the kernel hidden (`monkeypatch` sets it to None on the backend object,
so the core falls back to primitives). On a backend without the kernel both runs compose, and
the test still checks the fallback against numpy and gradcheck.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_like as tg
from tinygrad_like.errors import ShapeError, TensorIndexError
from tinygrad_like.gradcheck import gradcheck
from tinygrad_like.nn import functional as F
from tinygrad_like.backends.protocol import OptionalKernels
from tinygrad_like.view import View

from helpers import from_np, to_np

SHAPES = [(1, 1), (3, 5), (7, 1), (1, 9), (16, 33), (128, 10)]
TOL = {"float32": dict(rtol=1e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


def backend_obj():
    return tg.zeros(1)._be


def unfused(monkeypatch):
    """Hide every fused kernel of the current backend (the core then composes primitives)."""
    be = backend_obj()
    monkeypatch.setattr(be, "optional", OptionalKernels())


def make(rng, shape, dtype, kind):
    """A tensor of `shape` with the given memory layout: dense, transposed, sliced, or offset."""
    if kind == "dense":
        a = rng.standard_normal(shape)
        return from_np(a.astype(dtype), requires_grad=True)
    if kind == "transposed":
        a = rng.standard_normal(shape[::-1]).astype(dtype)
        base = from_np(a)
        return base.T.detach().requires_grad_()
    if kind == "sliced":  # every other column of a wider tensor, starting at an offset
        a = rng.standard_normal((shape[0] + 1, 2 * shape[1] + 1)).astype(dtype)
        base = from_np(a)
        return base[1:, 1::2].detach().requires_grad_()
    raise ValueError(kind)


def run_both(monkeypatch, fn):
    """fn() with the fused kernels, then fn() without; both results as numpy (lists of arrays)."""
    fused = fn()
    with monkeypatch.context() as m:
        unfused(m)
        plain = fn()
    return fused, plain


def close(a, b, dtype):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, **TOL[dtype])


KINDS = ["dense", "transposed", "sliced"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_backward_fused_matches_composed(monkeypatch, dtype, kind, shape):
    rng = np.random.default_rng(sum(shape))
    x0 = make(rng, shape, dtype, kind)
    with tg.no_grad():
        x0[0, 0] = 0.0  # the kink: relu'(0) is 0, as in PyTorch
    gnp = rng.standard_normal(shape).astype(dtype)

    def fn():
        x = x0.detach().requires_grad_()
        y = x.relu()
        y.backward(from_np(gnp.T).T)  # a non-contiguous upstream gradient too
        return [to_np(y.detach()), to_np(x.grad)]
    fused, plain = run_both(monkeypatch, fn)
    close(fused, plain, dtype)
    xn = to_np(x0.detach())
    np.testing.assert_array_equal(fused[1], np.where(xn > 0, gnp, 0))


def test_relu_backward_nan_gives_zero(monkeypatch):
    x = from_np(np.array([np.nan, -1.0, 2.0, 0.0]), requires_grad=True)
    x.relu().sum().backward()
    assert to_np(x.grad).tolist() == [0.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES + [(2, 3, 4)])
def test_softmax_backward_fused_matches_composed(monkeypatch, dtype, log, kind, shape):
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    x0 = make(rng, shape, dtype, kind) if len(shape) == 2 else from_np(
        rng.standard_normal(shape).astype(dtype), requires_grad=True)
    gnp = rng.standard_normal(shape).astype(dtype)

    def fn():
        x = (x0.detach() * 3).requires_grad_()
        y = x.log_softmax(-1) if log else x.softmax(-1)
        y.backward(from_np(gnp))
        return [to_np(y.detach()), to_np(x.grad)]
    fused, plain = run_both(monkeypatch, fn)
    close(fused, plain, dtype)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_over_dim0_composes(monkeypatch, log):
    x = from_np(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(lambda t: t.log_softmax(0) if log else t.softmax(0), [x])


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_softmax_gradcheck(log, kind):
    x = make(np.random.default_rng(1), (3, 5), "float64", kind)
    assert gradcheck(lambda t: t.log_softmax(1) if log else t.softmax(1), [x])


@pytest.mark.parametrize("kind", KINDS)
def test_relu_gradcheck(kind):
    x = make(np.random.default_rng(2), (4, 6), "float64", kind)
    assert gradcheck(lambda t: (t * 1.5).relu(), [x])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 4), (128, 10), (33, 17)])
def test_cross_entropy_fused_matches_composed(monkeypatch, dtype, reduction, kind, shape):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    x0 = make(rng, shape, dtype, kind)
    t = tg.tensor(rng.integers(0, shape[1], shape[0]).tolist())

    def fn():
        x = (x0.detach() * 4).requires_grad_()
        loss = F.cross_entropy(x, t, reduction=reduction)
        loss.sum().backward()
        return [to_np(loss.detach()), to_np(x.grad)]
    fused, plain = run_both(monkeypatch, fn)
    close(fused, plain, dtype)


def test_cross_entropy_without_grad_and_extreme_logits(monkeypatch):
    x = from_np(np.array([[1000.0, -1000.0, 0.0], [-1e30, 5.0, 5.0]]))
    t = tg.tensor([1, 0])
    fused, plain = run_both(monkeypatch, lambda: [to_np(F.cross_entropy(x, t, reduction="none"))])
    np.testing.assert_allclose(fused[0], plain[0])
    assert np.allclose(fused[0], [2000.0, 1e30 + np.log(2.0)])


@pytest.mark.parametrize("kind", KINDS)
def test_cross_entropy_gradcheck(kind):
    x = make(np.random.default_rng(3), (4, 5), "float64", kind)
    t = tg.tensor([4, 0, 2, 2])
    assert gradcheck(lambda a: F.cross_entropy(a * 2, t), [x])
    assert gradcheck(lambda a: F.cross_entropy(a, t, reduction="none"), [x])


def test_cross_entropy_bad_target_still_raises():
    x = from_np(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(Exception, match="out of bounds"):
        F.cross_entropy(x, tg.tensor([0, 3]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opts", [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
                                  {"maximize": True, "weight_decay": 0.1}])
def test_sgd_fused_update_is_bit_identical(monkeypatch, dtype, opts):
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((33, 7)).astype(dtype)
    b0 = rng.standard_normal(7).astype(dtype)
    t0 = rng.standard_normal((7, 33)).astype(dtype)  # a transposed (non-contiguous) leaf
    xs = rng.standard_normal((5, 33)).astype(dtype)

    def fn():
        w, b = from_np(w0, requires_grad=True), from_np(b0, requires_grad=True)
        t = from_np(t0).T.detach().requires_grad_()
        opt = tg.optim.SGD([w, b, t], lr=0.1, **opts)
        x = from_np(xs)
        for _ in range(3):
            opt.zero_grad()
            ((x @ w + b).relu().sum() + (x @ t).sum() * 0.5).backward()
            opt.step()
        return [to_np(w.detach()), to_np(b.detach()), to_np(t.detach())]
    fused, plain = run_both(monkeypatch, fn)
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)


def test_gather_out_of_range_message_with_kernel_checks():
    x = from_np(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(TensorIndexError, match="index 3 is out of bounds for dim 1 with size 3"):
        x.gather(1, tg.tensor([[0], [3]]))
    with pytest.raises(TensorIndexError, match="index -1 is out of bounds"):
        x.gather(1, tg.tensor([[-1], [0]]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_grad_of_transposed_weight_is_contiguous(dtype):
    rng = np.random.default_rng(5)
    x = from_np(rng.standard_normal((6, 4)).astype(dtype), requires_grad=True)
    w = from_np(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True)
    g = rng.standard_normal((6, 3)).astype(dtype)
    (x @ w.T).backward(from_np(g))
    assert w.grad.is_contiguous() and x.grad.is_contiguous()
    np.testing.assert_allclose(to_np(w.grad), g.T @ to_np(x.detach()), **TOL[dtype])
    np.testing.assert_allclose(to_np(x.grad), g @ to_np(w.detach()), **TOL[dtype])
    # and with the transposed operand first: (w.T)^T-shaped inputs on the left
    a = from_np(rng.standard_normal((4, 6)).astype(dtype)).T.detach().requires_grad_()
    (a @ w.T).backward(from_np(g))
    assert a.grad.shape == (6, 4)
    np.testing.assert_allclose(to_np(a.grad), g @ to_np(w.detach()), **TOL[dtype])


def test_matmul_gradcheck_transposed_operands():
    rng = np.random.default_rng(6)
    a = from_np(rng.standard_normal((4, 3))).T.detach().requires_grad_()
    b = from_np(rng.standard_normal((5, 4))).T.detach().requires_grad_()
    assert gradcheck(lambda p, q: p @ q, [a, b])
    c = from_np(rng.standard_normal((2, 5, 3))).mT.detach().requires_grad_()
    d = from_np(rng.standard_normal((2, 5, 4)), requires_grad=True)
    assert gradcheck(lambda p, q: p @ q, [c, d])


# ---------------------------------------------------------------- the kernels' own argument checks

def _kernel(name):
    be = backend_obj()
    fn = getattr(be, name, None)
    if fn is None:
        pytest.skip(f"backend {be.name} has no fused {name}")
    return be, fn


@pytest.mark.parametrize("name", ["relu_backward", "axpy"])
def test_flat_kernels_refuse_bad_views(name):
    be, fn = _kernel(name)
    f32 = tg.float32
    a, b = be.full(8, 1.0, f32), be.full(4, 1.0, f32)
    args = (lambda v1, v2: fn(a, v1, b, v2, f32)) if name == "relu_backward" else \
        (lambda v1, v2: fn(a, v1, b, v2, 0.5, f32))
    with pytest.raises((ShapeError, TensorIndexError)):
        args(View((8,), (1,), 0), View((8,), (1,), 0))  # b holds only 4
    with pytest.raises((ShapeError, TensorIndexError)):
        args(View((4,), (1,), 0), View((4,), (1,), 1))  # off the end of b
    with pytest.raises(ShapeError):
        args(View((4,), (2,), 0), View((4,), (1,), 0))  # strided
    with pytest.raises(ShapeError):
        args(View((4,), (1,), 0), View((3,), (1,), 0))  # sizes differ
    b = be.full(4, 1.0, tg.float64)  # a float64 buffer where the call says float32
    with pytest.raises(tg.TensorError):
        args(View((4,), (1,), 0), View((4,), (1,), 0))


def test_softmax_backward_and_cross_entropy_refuse_bad_views():
    be, fn = _kernel("softmax_backward")
    f32 = tg.float32
    a = be.full(12, 1.0, f32)
    with pytest.raises((ShapeError, TensorIndexError)):
        fn(a, View((4, 4), (4, 1), 0), a, View((4, 4), (4, 1), 0), f32, True)
    with pytest.raises(ShapeError):
        fn(a, View((3, 4), (1, 3), 0), a, View((3, 4), (4, 1), 0), f32, True)
    be, ce = _kernel("cross_entropy")
    idx = be.from_list([0, 1, 2], tg.int64)
    with pytest.raises(ShapeError):
        ce(a, View((4, 3), (3, 1), 0), idx, View((3,), (1,), 0), f32, True)  # 3 targets for 4 rows
    with pytest.raises((ShapeError, TensorIndexError)):
        ce(a, View((3, 4), (4, 1), 1), idx, View((3,), (1,), 0), f32, True)  # past the end
    with pytest.raises(tg.TensorError):
        ce(a, View((3, 4), (4, 1), 0), a, View((3,), (1,), 0), f32, True)  # float targets
    if be.optional.checks_indices:  # the kernel checks targets itself: the core relies on it
        for bad in ([0, 4, 1], [0, 1, -1]):
            with pytest.raises(TensorIndexError):
                ce(a, View((3, 4), (4, 1), 0), be.from_list(bad, tg.int64), View((3,), (1,), 0), f32, True)


@pytest.mark.parametrize("bad", [3, -1, 100])
def test_cross_entropy_bad_target_names_it(bad):
    x = from_np(np.zeros((4, 3)), requires_grad=True)
    with pytest.raises(tg.TensorError, match=f"target {bad} is out of bounds for 3 classes"):
        F.cross_entropy(x, tg.tensor([0, 2, bad, 1]))


# ---------------------------------------------------------------- matmul split over the backend's threads

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [((128, 784), (784, 256)), ((300, 40), (40, 7)), ((5, 600), (600, 900)),
                                    ((64, 128, 128), (64, 128, 128)), ((3, 4, 40, 50), (4, 50, 60))])
def test_matmul_same_with_one_and_two_threads(dtype, shapes):
    be = backend_obj()
    if not hasattr(be, "set_num_threads"):
        pytest.skip(f"backend {be.name} has no thread setting")
    rng = np.random.default_rng(7)
    a = rng.standard_normal(shapes[0]).astype(dtype)
    b = rng.standard_normal(shapes[1]).astype(dtype)
    prev = be.get_num_threads()
    try:
        out = {}
        for nt in (1, 2):
            be.set_num_threads(nt)
            ta, tb = from_np(a), from_np(b)
            # the same product with both operands as transposed views (BLAS transpose flags)
            at = from_np(np.ascontiguousarray(a.swapaxes(-1, -2))).mT
            bt = from_np(np.ascontiguousarray(b.swapaxes(-1, -2))).mT
            out[nt] = (to_np(ta @ tb), to_np(at @ bt))
    finally:
        be.set_num_threads(prev)
    tol = {"rtol": 1e-4, "atol": 1e-3} if dtype == "float32" else {}
    np.testing.assert_allclose(out[1][0], a @ b, **tol)
    np.testing.assert_allclose(out[1][1], a @ b, **tol)
    np.testing.assert_array_equal(out[1][0], out[2][0])
    np.testing.assert_array_equal(out[1][1], out[2][1])
