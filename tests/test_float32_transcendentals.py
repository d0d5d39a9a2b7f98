"""float32 tanh, erf and log on every backend: c and numba evaluate them in vectorized float32
arithmetic (csrc/vmath.h's tg_tanhf_inline, tg_erf16/tg_erff_inline and tg_logf_inline;
numba_elementwise._tanh_f32, numba_erf.erf_f32 and numba_elementwise._log_f32), python rounds
libm's double result. Each within its ulp bound of the true function everywhere, exact special
values, and the same bits on every loop path."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_like as tg

# op -> (float64 reference, largest error in float32 ulps, top of the range checked, odd function)
OPS = {
    "tanh": (np.tanh, 1.5, 20.0, True),
    "erf": (np.vectorize(math.erf, otypes=[np.float64]), 1.1, 4.5, True),
    "log": (np.log, 1.0, 3.4e38, False),
}


def _apply(op: str, x: np.ndarray, backend: str) -> np.ndarray:
    return getattr(tg.from_numpy(x, backend=backend), op)().numpy()


@pytest.mark.parametrize("op", OPS)
def test_within_the_ulp_bound(backend, op):
    ref_fn, bound, top, odd = OPS[op]
    step = 1009 if backend != "python" else 200003  # the python backend's loop is slow; libm is exact anyway
    top_bits = int(np.float32(top).view(np.uint32))
    x = np.arange(0 if odd else 1, top_bits, step, dtype=np.uint32).view(np.float32)  # subnormals included
    edges = np.float32([0.5, 0.625, 2 ** -16, 1e-30, 3.92, 4.0, 1.41421356, 2 ** -126])
    x = np.concatenate([x, edges, np.nextafter(edges, np.float32(0))])
    if odd:
        x = np.concatenate([x, -x])
    got = _apply(op, x, backend).astype(np.float64)
    ref = ref_fn(x.astype(np.float64))
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    err = np.abs(got - ref) / ulp
    worst = int(np.argmax(err))
    assert err[worst] <= bound, f"{op}({x[worst]!r}) = {got[worst]!r}, {err[worst]:.2f} ulp from {ref[worst]!r}"
    if odd:
        assert np.array_equal(np.signbit(got), np.signbit(x))  # odd, and op(-0) = -0


@pytest.mark.parametrize("op", OPS)
def test_special_values(backend, op):
    ref_fn = OPS[op][0]
    x = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-30, 20.0, 1e30, -1e30, 9.0, 8.5])
    got = _apply(op, x, backend)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = ref_fn(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(got, want)  # NaN where the reference is NaN
    assert np.array_equal(np.signbit(got[:2]), np.signbit(want[:2]))
    if op == "log":
        assert _apply(op, np.float32([1.0]), backend)[0] == 0.0


@pytest.mark.parametrize("op", OPS)
def test_same_bits_on_the_vector_tail_and_strided_loops(backend, op):
    g = np.random.default_rng(0)
    x = (g.standard_normal(4099) * 3).astype(np.float32)
    if not OPS[op][3]:
        x = np.abs(x)
    whole = _apply(op, x, backend)
    t = tg.from_numpy(x, backend=backend)
    assert np.array_equal(whole[::3], getattr(t[::3], op)().numpy())
    assert np.array_equal(whole[:13], _apply(op, x[:13], backend))
    assert np.array_equal(whole[5:4090], getattr(t[5:4090], op)().numpy())
