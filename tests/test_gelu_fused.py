"""The exact GELU's fused kernels (`gelu`, `gelu_backward` on the c and numba backends; the python
backend composes): values and gradients against PyTorch and float64 central differences, special
values, strided inputs, create_graph (which composes), and the float32 erf polynomial itself."""
from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_like as tg
import tinygrad_like.nn.functional as F
from tinygrad_like.dtypes import float32, float64
from tinygrad_like.view import View

from helpers import from_np, to_np


def _torch_gelu(torch, x: np.ndarray, g: np.ndarray) -> tuple:
    t = torch.tensor(x, requires_grad=True)
    y = torch.nn.functional.gelu(t)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), t.grad.numpy()


def _ours(x: np.ndarray, g: np.ndarray, transpose: bool = False) -> tuple:
    t = from_np(x.T.copy() if transpose else x)
    t = (t.T if transpose else t).detach().requires_grad_()
    y = F.gelu(t)
    y.backward(from_np(g))
    return to_np(y.detach()), to_np(t.grad)


@pytest.mark.parametrize("n", [1, 17, 1000, 70_001])  # both sides of the parallel thresholds
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_torch(n, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 3).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    y, dx = _ours(x, g)
    ty, tdx = _torch_gelu(torch, x, g)
    # PyTorch's float32 erf is a polynomial of its own: a few ulps apart at most
    tol = dict(rtol=4e-6, atol=2e-6) if dtype == "float32" else dict(rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(y, ty, **tol)
    np.testing.assert_allclose(dx, tdx, **tol)


def test_special_values_and_strided_input():
    torch = pytest.importorskip("torch")
    x = np.array([[np.nan, np.inf, -np.inf, 0.0], [-0.0, -10.0, 10.0, -5.5], [4.0, -3.99, 1.0, -1.0]], np.float32)
    g = np.ones_like(x)
    y, dx = _ours(x, g, transpose=True)
    ty, tdx = _torch_gelu(torch, x, g)
    fin = np.isfinite(x)
    np.testing.assert_allclose(y[fin], ty[fin], rtol=4e-6, atol=2e-6)
    np.testing.assert_allclose(dx[fin], tdx[fin], rtol=4e-6, atol=2e-6)
    # gelu(inf) = inf * Phi(inf) = inf (PyTorch's float32 kernel says nan there)
    assert np.isnan(y[0, 0]) and y[0, 1] == np.inf and np.isnan(y[0, 2]) and np.isnan(dx[0, 0])
    assert np.signbit(y[1, 0]) and y[1, 0] == 0  # gelu(-0) = -0


def test_gradcheck_float64_and_create_graph():
    rng = np.random.default_rng(3)
    x = from_np(rng.standard_normal((4, 5)) * 2, requires_grad=True)
    assert tg.gradcheck(F.gelu, [x])
    (dx,) = tg.autograd.grad(F.gelu(x).sum(), [x], create_graph=True)  # composed: differentiable again
    (d2,) = tg.autograd.grad(dx.sum(), [x])
    a = to_np(x.detach())
    pdf = np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(to_np(dx), 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2))) + a * pdf, rtol=1e-12)
    np.testing.assert_allclose(to_np(d2), pdf * (2 - a * a), rtol=1e-10, atol=1e-12)


def _kernels_or_skip():
    be = tg.backends.load(tg.get_backend())
    if be.optional.gelu is None or be.optional.gelu_backward is None:
        pytest.skip(f"backend {be.name} composes gelu")
    return be


def _buf(be, a, dtype):
    return be.from_buffer(memoryview(a.copy()).cast("B"), dtype)


def _read(be, buf, dtype, np_dtype):
    return np.frombuffer(be.memoryview(buf, dtype), dtype=np_dtype).copy()


@settings(max_examples=30, deadline=None)
@given(bits=st.lists(st.integers(0, 2 ** 32 - 1), min_size=1, max_size=64), off=st.integers(0, 3))
def test_float32_kernels_on_any_bits(bits, off):
    """Any float32 (NaN, inf, subnormals included) at an offset: gelu is x * (0.5 * (1 + erf(x / sqrt 2)))
    with erf within 1.1 ulp of libm's double erf, and its gradient is finite where x is."""
    be = _kernels_or_skip()
    x = np.array([0] * off + bits, np.uint32).view(np.float32)
    n = len(bits)
    xs = x[off:].astype(np.float64)
    with np.errstate(all="ignore"):
        e = np.vectorize(math.erf)(x[off:] * np.float32(1 / math.sqrt(2))).astype(np.float32)
        ref = x[off:] * (np.float32(0.5) * (np.float32(1) + e))
    got = _read(be, be.gelu(_buf(be, x, float32), View((n,), (1,), off), float32), float32, np.float32)
    _within_an_erf_ulp(got, ref, x[off:])
    gbuf = _buf(be, np.ones(n + 1, np.float32), float32)
    dx = _read(be, be.gelu_backward(gbuf, View((n,), (1,), 1), _buf(be, x, float32), View((n,), (1,), off), float32),
               float32, np.float32)
    assert np.array_equal(np.isfinite(dx), np.isfinite(xs))


@pytest.mark.parametrize("n", [1, 7, 9, 37, 130])
def test_float32_kernels_same_bits_in_any_lane(n):
    """A run of n (no multiple of 8 or 16) at an offset gives, element by element, the bits of the same
    element computed alone: full vectors, masked tails and the scalar code agree."""
    be = _kernels_or_skip()
    rng = np.random.default_rng(n)
    x = np.concatenate([[0.0], rng.standard_normal(n) * 3]).astype(np.float32)
    specials = np.array([np.nan, -0.0, 4.0, -4.5, 1e-30, np.inf, -np.inf, 0.49999997], np.float32)
    x[1::5] = np.resize(specials, len(x[1::5]))
    g = np.concatenate([[0.0], rng.standard_normal(n)]).astype(np.float32)
    xb, gb = _buf(be, x, float32), _buf(be, g, float32)
    y = _read(be, be.gelu(xb, View((n,), (1,), 1), float32), float32, np.float32)
    dx = _read(be, be.gelu_backward(gb, View((n,), (1,), 1), xb, View((n,), (1,), 1), float32), float32, np.float32)
    for i in range(n):
        yi = _read(be, be.gelu(xb, View((1,), (1,), 1 + i), float32), float32, np.float32)
        di = _read(be, be.gelu_backward(gb, View((1,), (1,), 1 + i), xb, View((1,), (1,), 1 + i), float32),
                   float32, np.float32)
        assert yi.view(np.uint32)[0] == y.view(np.uint32)[i] or (np.isnan(yi[0]) and np.isnan(y[i])), (i, x[1 + i])
        assert di.view(np.uint32)[0] == dx.view(np.uint32)[i] or (np.isnan(di[0]) and np.isnan(dx[i])), (i, x[1 + i])


def test_float32_erf_polynomial_over_a_sweep():
    """1e6 float32 inputs over [-5, 5]: the kernel's erf (seen through gelu) is within 1.1 ulp of libm's
    double erf (about 1 input in 7 rounds differently from libm's)."""
    be = _kernels_or_skip()
    x = np.linspace(-5, 5, 1_000_001, dtype=np.float32)
    n = x.size
    a = (x * np.float32(1 / math.sqrt(2))).astype(np.float32)
    e = np.vectorize(math.erf)(a.astype(np.float64)).astype(np.float32)
    ref = x * (np.float32(0.5) * (np.float32(1) + e))
    got = _read(be, be.gelu(_buf(be, x, float32), View((n,), (1,), 0), float32), float32, np.float32)
    assert (got != ref).sum() < 0.2 * n
    _within_an_erf_ulp(got, ref, x)


def test_numba_float32_erf_over_every_1021st_float32(backend):
    """backends/numba_erf.erf_f32 over every 1021st float32 bit pattern (4.2 million, NaN, inf, subnormals
    and both signs among them) and the specials: within 1.1 ulp of libm's double erf, odd, NaN kept."""
    if backend != "numba":
        pytest.skip("the numba backend's erf")
    from numba import njit
    from tinygrad_like.backends.numba_erf import erf_f32

    @njit(error_model="numpy")
    def both(x, got, ref):
        for i in range(x.size):
            got[i] = erf_f32(x[i])
            ref[i] = math.erf(np.float64(x[i]))  # libm, in double

    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754942e-38, 0.49999997, 0.5,
                         3.9999998, 4.0, -4.0, 1e30, -1e30], np.float32)
    x = np.concatenate([np.arange(0, 2 ** 32, 1021, dtype=np.uint64).astype(np.uint32).view(np.float32), specials])
    got, ref = np.empty(x.size, np.float32), np.empty(x.size)
    both(x, got, ref)
    nan = np.isnan(x)
    assert np.isnan(got[nan]).all() and not np.isnan(got[~nan]).any()
    g, r = got[~nan].astype(np.float64), ref[~nan]
    assert np.array_equal(np.signbit(g), np.signbit(x[~nan]))  # odd: erf(-0) = -0 too
    # one ulp of the exact value: 2^(e - 23) for |r| in [2^e, 2^(e+1)), 2^-149 among the subnormals
    ulp = np.ldexp(1.0, np.maximum(np.frexp(np.abs(r))[1] - 24, -149))
    err = np.abs(g - r) / ulp
    assert err.max() <= 1.1, (err.max(), x[~nan][np.argmax(err)])
    assert (got[np.isinf(x)] == np.sign(x[np.isinf(x)])).all()


# native: AVX-512 (tg_erf16) or AVX2+FMA (tg_erf8) on the machine that runs it; x86-64-v3: AVX2+FMA;
# x86-64-v2: the scalar code alone
MARCHES = ["native", "x86-64-v3", "x86-64-v2"]


def _build_c_test(tmp_path: Path, name: str, march: str) -> Path:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    root = Path(__file__).resolve().parent.parent
    exe = tmp_path / name
    subprocess.run([cc, "-O2", f"-march={march}", "-ffp-contract=off", "-fno-math-errno", "-I", str(root / "csrc"),
                    str(root / "tests" / "c" / f"{name}.c"), "-lm", "-o", str(exe)], check=True)
    return exe


@pytest.mark.parametrize("march", MARCHES)
def test_float32_erf_against_libm(tmp_path, march):
    """vmath.h's float32 erf over every 4099th float32 bit pattern (tests/c/erf_exhaustive.c; run it with
    step 1 for all 2^32): within 1.1 ulp of libm's double erf, odd, NaN kept, scalar and vector agree."""
    run = subprocess.run([str(_build_c_test(tmp_path, "erf_exhaustive", march)), "4099", "1.1"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("march", MARCHES)
def test_vmath_vector_paths_give_the_scalar_bits(tmp_path, march):
    """tests/c/vmath_paths.c: the vector exp and erf (16 or 8 lanes) equal the scalar code bit for bit
    over every 4099th float32 bit pattern, and so do the exp / sigmoid runs and the softmax exp-sums on
    every length to 70 (their masked tails); run it with step 1 for all 2^32."""
    run = subprocess.run([str(_build_c_test(tmp_path, "vmath_paths", march)), "4099"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def _within_an_erf_ulp(got: np.ndarray, ref: np.ndarray, x: np.ndarray) -> None:
    """got equals ref (x * (0.5 * (1 + erf))) but for 1.1 ulp of erf (at most 6.6e-8) times x / 2, and one
    rounding of the result; NaN and inf where ref has them."""
    fin = np.isfinite(ref)
    assert np.array_equal(got[~fin], ref[~fin], equal_nan=True)
    err = np.abs(got[fin].astype(np.float64) - ref[fin])
    assert np.all(err <= np.abs(x[fin].astype(np.float64)) * 4e-8 + np.abs(ref[fin]) * 1.2e-7), err.max()


def test_kernels_refuse_bad_views():
    be = _kernels_or_skip()
    a, b = be.full(8, 1.0, float32), be.full(4, 1.0, float32)
    with pytest.raises(tg.ShapeError):
        be.gelu(a, View((4,), (2,), 0), float32)
    with pytest.raises((tg.ShapeError, tg.TensorIndexError)):
        be.gelu(b, View((8,), (1,), 0), float32)
    with pytest.raises(tg.ShapeError):
        be.gelu_backward(a, View((8,), (1,), 0), b, View((4,), (1,), 0), float32)
    with pytest.raises(tg.TensorError):
        be.gelu(be.full(4, 1.0, float64), View((4,), (1,), 0), float32)
