"""The c backend's vectorized float64 exp and sigmoid (csrc/vmath_f64.h): within an ulp of libm's exp,
special values, the same bits on the vector body, the scalar tail and the strided loop."""
from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tinygrad_like as tg

BACKEND = "c"  # tests/conftest.py: these run once, on the c backend, when it is selected


def _exp(x: np.ndarray) -> np.ndarray:
    return tg.from_numpy(x, backend="c").exp().numpy()


def _libm_exp(v: float) -> float:
    try:
        return math.exp(v)
    except OverflowError:
        return math.inf


@pytest.mark.parametrize("march", ["native", "x86-64-v3"])  # AVX-512 where the machine has it, and AVX2
def test_exp_f64_against_expl(tmp_path, march):
    """tests/c/exp_f64_check.c: 2e5 random inputs over the whole range plus edge cases, against long
    double expl: within 1 ulp, vector loop and scalar function bit-identical, edge cases exact."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    root = Path(__file__).resolve().parents[2]
    exe = tmp_path / "exp_f64_check"
    subprocess.run([cc, "-O3", f"-march={march}", "-fopenmp-simd", "-ffp-contract=off", "-fno-math-errno",
                    "-fno-trapping-math", "-I", str(root / "csrc"), str(root / "tests" / "c" / "exp_f64_check.c"),
                    "-lm", "-o", str(exe)], check=True)
    run = subprocess.run([str(exe), "200000", "1.0"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_exp_f64_within_an_ulp_of_libm():
    """1 ulp of the correctly rounded result is at most 1.5 ulp from libm's (itself within 0.5 ulp or so)."""
    g = np.random.default_rng(0)
    x = np.concatenate([g.uniform(-745.5, 710.0, 20001), g.standard_normal(20001) * 3])
    got = _exp(x)
    ref = np.array([_libm_exp(v) for v in x])
    fin = np.isfinite(ref) & (ref > 0)
    ulp = np.spacing(ref[fin])
    assert np.all(np.abs(got[fin] - ref[fin]) <= 1.5 * ulp)
    assert np.array_equal(got[~fin], ref[~fin])


def test_exp_f64_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 709.79, 710.0, 1e300, -745.2, -746.0, -1e300,
                  709.782712893384, -745.1332191019411, 5e-324, -5e-324])
    got = _exp(x)
    assert got[0] == 1.0 and got[1] == 1.0
    assert got[2] == math.inf and got[3] == 0.0 and not math.copysign(1.0, got[3]) < 0
    assert math.isnan(got[4])
    assert np.all(got[5:8] == math.inf) and np.all(got[8:11] == 0.0)
    assert got[11] == math.exp(709.782712893384) and got[12] == 5e-324  # largest finite, smallest subnormal
    assert got[13] == 1.0 and got[14] == 1.0


def test_exp_and_sigmoid_f64_same_bits_on_every_path():
    """A contiguous run of odd length (vector body + scalar tail), a strided view (the plain loop) and
    each element alone give the same bits."""
    x = np.random.default_rng(1).uniform(-40, 40, 2 * 1027 + 1)
    t = tg.from_numpy(x, backend="c")
    for f in (lambda v: v.exp(), lambda v: v.sigmoid()):
        whole = f(t).numpy()
        strided = f(t[::2]).numpy()
        assert np.array_equal(whole[::2], strided)
        for i in (0, 1, 2, 3, 1026, 2 * 1027):
            assert f(t[i:i + 1]).numpy()[0] == whole[i]


def test_sigmoid_f64():
    x = np.concatenate([np.random.default_rng(2).uniform(-750, 750, 4001), [0.0, -0.0, np.inf, -np.inf]])
    got = tg.from_numpy(x, backend="c").sigmoid().numpy()
    ref = np.array([1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)) for v in x])
    assert np.allclose(got, ref, rtol=4e-16, atol=0)
    assert np.isnan(tg.from_numpy(np.array([np.nan]), backend="c").sigmoid().numpy()[0])
