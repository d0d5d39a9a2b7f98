"""The examples in reduced form, each asserting its learning goal (on the fastest backend only)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

import tinygrad_like as tg

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _load(name: str):
    if EXAMPLES not in sys.path:  # the scripts import their shared modules (plotting, scalar_autograd) as siblings
        sys.path.insert(0, EXAMPLES)
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def fastest(backend):
    if backend != tg.backends.available()[0]:
        pytest.skip("heavy example: runs on the fastest backend only")
    return backend


def test_linear_regression_learns_2x_plus_1(backend):
    w, b, loss = _load("linear_regression").main(steps=150, backend=backend, verbose=False)
    assert round(w, 2) == 2.00 and round(b, 2) == 1.00 and loss < 1e-4


def test_sine_fit_reduced(fastest):
    mse = _load("sine").main(steps=1000, backend=fastest, plot=None, verbose=False)
    assert mse < 0.05  # predicting 0 everywhere gives 0.5; the full 3000-step run reaches < 0.01


def test_mnist_mlp_reduced(fastest):
    res = _load("mnist_mlp").main(epochs=2, train_limit=2000, backend=fastest, verbose=False)
    assert res["backend"] == fastest and len(res["epoch_times"]) == 2
    assert res["accuracy"] >= 0.83  # measured 0.865; the full 10-epoch run on 4,000 images reaches >= 92%


def test_mnist_cnn_reduced_on_python(backend):
    if backend != "python":
        pytest.skip("the reference backend runs the reduced LeNet; the fast ones run the bench and the full example")
    res = _load("mnist_cnn").main(epochs=1, train_limit=384, test_limit=200, batch_size=16, backend=backend,
                                  verbose=False)
    assert res["backend"] == "python" and len(res["epoch_times"]) == 1
    # chance is 10%: measured 34.5% after these 24 steps; the full 10-epoch run reaches about 97%
    assert res["accuracy"] >= 0.25 and res["losses"][0] < 2.29


def test_scalar_and_tensor_engines_agree(backend):
    mod = _load("scalar_vs_tensor")
    r = mod.compare(n=12, backend=backend)
    assert r["tensor_loss"] == pytest.approx(r["scalar_loss"], rel=1e-12)
    for k, g in r["scalar_grads"].items():
        assert r["tensor_grads"][k] == pytest.approx(g, rel=1e-9, abs=1e-12)


def test_scalar_vs_tensor_table_reduced(fastest):
    mod = _load("scalar_vs_tensor")
    rows = mod.main(sizes=(5, 20), backends=[fastest], repeats=1, plot=None, torch_ref=False, verbose=False)
    assert [r["n"] for r in rows] == [5, 20] and all(r["scalar"] > 0 and r[fastest] > 0 for r in rows)
    assert "| 20 |" in mod.table(rows)


def test_example_scripts_run_from_the_command_line(fastest):
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "linear_regression.py"), "--steps", "120",
                          "--backend", fastest], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "learned y = 2.00 x + 1.00" in out.stdout
