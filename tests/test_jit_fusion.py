"""tg.jit's elementwise fusion (backends/c_fusion.py on c, tinygrad_like/jit/fusion.py with
backends/numba_fusion.py on numba): fused runs give the unfused results bit for bit, and runs stop
where fusing would change a result."""
from __future__ import annotations

import math

import pytest

import tinygrad_like as tg


@pytest.fixture(autouse=True)
def fusing(backend):
    if not hasattr(tg.backends.load(backend), "fuse_elementwise") and backend != "c":
        pytest.skip("this backend's programs are not fused")

UNARY = ["neg", "abs", "sign", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "erf", "reciprocal",
         "floor", "ceil"]
# numba compiles a helper per unary op (its FMA flags differ from the binary ops'): the ops whose
# numba code has polynomials or branches, to keep the suite's compile time down
NUMBA_UNARY = ["exp", "log", "tanh", "sigmoid", "relu", "erf", "sign", "reciprocal"]
BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmod"]
SPECIAL = [0.0, -0.0, 1.0, -2.5, 3.75, 1e-30, -1e30, 88.0, -104.5, math.inf, -math.inf, math.nan, 0.5, 7.0]


def replayed(fn, *args, fuse=True):
    """fn's result on its 5th call through tg.jit (a replay), and the jitted function."""
    j = tg.jit(fn, fuse=fuse)
    for _ in range(4):
        j(*args)
    return j(*args), j


def steps_of(j) -> list:
    (names,) = j.captured_kernels()
    return names


def same(a, b) -> bool:
    return all((x == y) or (x != x and y != y) for x, y in zip(a, b))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_unary_op_fused_equals_unfused(dtype, backend):
    """One program, one fused run of every op (one compile per dtype): each op between two arithmetic
    ops. 70k elements run c's kernel on the pool; numba's serial build (its parallel one below)."""
    x = tg.tensor(SPECIAL * (5000 if backend == "c" else 100), dtype=dtype)
    ops = UNARY if backend == "c" else NUMBA_UNARY

    def f(x):
        return tuple(getattr(((x * 1.5) + 0.25), op)() * 2.0 for op in ops)
    out, j = replayed(f, x)
    assert any(name.startswith("fused") for name in steps_of(j))
    for op, got, want in zip(ops, out, f(x)):
        assert same(got.tolist(), want.tolist()), op


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_binary_op_fused_equals_unfused(dtype):
    x = tg.tensor(SPECIAL * 3, dtype=dtype)
    y = tg.tensor(list(reversed(SPECIAL)) * 3, dtype=dtype)

    def f(x, y):
        a = x - 0.5
        return tuple((getattr(tg, op)(a, y) if op in ("maximum", "minimum") else getattr(a, op)(y)) * 3.0
                     for op in BINARY)
    out, j = replayed(f, x, y)
    assert any(name.startswith("fused") for name in steps_of(j))
    for op, got, want in zip(BINARY, out, f(x, y)):
        assert same(got.tolist(), want.tolist()), op


def test_parallel_fused_kernel_equals_unfused():
    x = tg.tensor(SPECIAL * 5000)  # above the parallel thresholds of c and numba

    def f(x):
        return ((x * 1.5).exp() - x).sigmoid()
    out, j = replayed(f, x)
    assert any(name.startswith("fused") for name in steps_of(j))
    assert same(out.tolist(), f(x).tolist())


def test_optimizer_update_fuses_and_matches_eager():
    def run(jit):
        tg.manual_seed(0)
        w = tg.randn(300, 70, requires_grad=True)
        opt = tg.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)

        def step(x):
            opt.zero_grad()
            loss = (x @ w).tanh().sum()
            loss.backward()
            opt.step()
            return loss
        if jit:
            step = tg.jit(step)
        x = tg.randn(5, 300)
        losses = [step(x).item() for _ in range(8)]
        return losses, w.detach().tolist(), step
    eager, jitted = run(False), run(True)
    assert eager[:2] == jitted[:2]
    assert any(name.startswith("fused") for name in steps_of(jitted[2]))


def test_intermediates_returned_or_kept_are_written():
    keep = {}

    def f(x):
        y = x * 2.0
        z = y.exp() + 1.0
        keep["y"] = y  # a tensor alive after the call: its buffer must hold y
        return z, y
    x = tg.randn(1000)
    (z, y), j = replayed(f, x)
    assert z.tolist() == ((x * 2.0).exp() + 1.0).tolist()
    assert y.tolist() == (x * 2.0).tolist()
    assert keep["y"].tolist() == (x * 2.0).tolist()


def test_runs_stop_at_shifted_or_broadcast_reads_of_written_buffers():
    def shifted(x):
        b = x * 1.0  # a fresh buffer
        b[1:].add_(b[:-1])  # reads b at offset 0 while writing it at offset 1
        return b * 3.0

    def scalar_of_written(x):
        y = x * 2.0
        return y + y[0]  # y[0] broadcast while y is computed in the same run
    x = tg.arange(1.0, 50.0)
    for f in (shifted, scalar_of_written):
        out, _ = replayed(f, x)
        assert out.tolist() == f(x).tolist()


def test_fusion_off_keeps_every_call():
    def f(x):
        return ((x + 1.0) * 2.0).exp()
    x = tg.randn(100)
    _, fused = replayed(f, x)
    _, plain = replayed(f, x, fuse=False)
    assert len(steps_of(fused)) < len(steps_of(plain))
    assert not any(name.startswith("fused") for name in steps_of(plain))


@pytest.mark.parametrize("shape", [(7, 33), (3, 5, 40), (300, 300)])
def test_broadcast_chains_fuse_over_the_full_shape(shape):
    """Row and column broadcasts (a layer norm's normalize-scale-shift, a bias add) in one run."""
    x = tg.randn(*shape)
    w, b = tg.randn(shape[-1]), tg.randn(shape[-1])

    def f(x, w, b):
        mean = x.mean(-1, keepdim=True)
        rstd = ((x - mean) ** 2).mean(-1, keepdim=True).add(1e-5).rsqrt()
        return ((x - mean) * rstd * w + b).relu() * 0.5
    out, j = replayed(f, x, w, b)
    assert any(name.startswith("fused") for name in steps_of(j))
    assert out.tolist() == f(x, w, b).tolist()


def test_transposed_operands_fuse_and_match():
    x = tg.randn(40, 50)

    def f(x):
        y = x.T * 2.0  # a strided read
        return (y + x.T.exp()) - 1.0
    out, _ = replayed(f, x)
    assert out.tolist() == f(x).tolist()
