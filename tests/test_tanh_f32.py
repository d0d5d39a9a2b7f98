"""float32 tanh on every backend: c and numba evaluate it in vectorized float32 arithmetic
(csrc/vmath.h's tg_tanhf_inline, numba_elementwise._tanh_f32), python rounds libm's double tanh.
Within 1.5 ulp of tanh everywhere, exact special values, and the same bits on every loop path."""
from __future__ import annotations

import numpy as np

import tinygrad_like as tg


def _tanh(x: np.ndarray, backend: str) -> np.ndarray:
    return tg.from_numpy(x, backend=backend).tanh().numpy()


def test_within_one_and_a_half_ulp(backend):
    step = 1009 if backend != "python" else 200003  # the python backend's loop is slow; libm is exact anyway
    x = np.arange(0, 0x41A00000, step, dtype=np.uint32).view(np.float32)  # 0 .. 20
    x = np.concatenate([x, -x, np.float32([0.625, np.nextafter(np.float32(0.625), np.float32(0)), 2 ** -16,
                                           np.nextafter(np.float32(2 ** -16), np.float32(0))])])
    got = _tanh(x, backend).astype(np.float64)
    ref = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    err = np.abs(got - ref) / ulp
    worst = int(np.argmax(err))
    assert err[worst] <= 1.5, f"tanh({x[worst]!r}) = {got[worst]!r}, {err[worst]:.2f} ulp from {ref[worst]!r}"
    assert np.array_equal(np.signbit(got), np.signbit(x))  # odd, and tanh(-0) = -0


def test_special_values(backend):
    x = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-30, 20.0, 1e30, -1e30, 9.0, 8.5])
    got = _tanh(x, backend)
    want = np.tanh(x.astype(np.float64)).astype(np.float32)
    assert np.array_equal(got[:4], want[:4]) and np.array_equal(np.signbit(got[:2]), [False, True])
    assert np.isnan(got[4])
    assert np.array_equal(got[5:], want[5:])  # tiny: x itself; large: +-1


def test_same_bits_on_the_vector_tail_and_strided_loops(backend):
    g = np.random.default_rng(0)
    x = (g.standard_normal(4099) * 3).astype(np.float32)
    whole = tg.from_numpy(x, backend=backend).tanh().numpy()
    strided = tg.from_numpy(x, backend=backend)[::3].tanh().numpy()
    short = tg.from_numpy(x[:13], backend=backend).tanh().numpy()
    assert np.array_equal(whole[::3], strided)
    assert np.array_equal(whole[:13], short)
