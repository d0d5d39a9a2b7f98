"""Ops run from several Python threads at once give the results of a sequential run, bit for bit.

cffi and numba release the GIL, so two Python threads really run kernels at the same time and
compete for the backend's thread pool; how a kernel splits its work (and so the order it sums
in) must depend on the shapes and the configured thread count only, never on how busy the pool
is. Ops only, under no_grad (autograd from several threads is not covered here). Every wait is
bounded: a hang fails the test instead of the suite.
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np
import pytest

import tinygrad_like as tg

TIMEOUT = 60.0

# (m, k, n) float32 products on both sides of the C backend's GEMM thresholds: serial OpenBLAS
# below 2^20 multiply-adds, OpenBLAS in blocks, the own GEMM from 2^21 to 2^27 (split by column
# panels, by rows, the dot kernel for x @ w.T with few columns), OpenBLAS in blocks again above
MATMULS = [(64, 64, 64), (32, 784, 64), (100, 100, 105), (128, 784, 256), (1024, 64, 40), (520, 520, 520)]
DOT = (1024, 784, 10)  # computed as x @ w.T


def _equal(got: list, want: list, what: str) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, (what, i)
        assert np.array_equal(g, w, equal_nan=True), f"{what}: result {i} differs by {np.nanmax(np.abs(g - w))}"


def _workload(seed: int, small: bool) -> list:
    """Elementwise, reduction, softmax and matmul results of one seed (numpy arrays)."""
    rng = np.random.default_rng(seed)
    n, rows = (3000, 30) if small else (300_007, 1000)
    f32 = np.float32
    x = tg.tensor(rng.standard_normal(n).astype(f32))
    y = tg.tensor(rng.standard_normal(n).astype(f32))
    m = tg.tensor(rng.standard_normal((rows, 301)).astype(f32))
    with tg.no_grad():
        out = [(x + y).numpy(), (x * y).exp().numpy(), x.sin().numpy(),
               x.sum().numpy(), y.amax().numpy(), m.sum(0).numpy(), m.sum(1).numpy(), m.amax(1).numpy(),
               m.argmax(1).numpy(), m.softmax(1).numpy(), (m.T * 2).contiguous().numpy(),
               m.double().sum(0).numpy()]
        shapes = [(8, 12, 16)] if small else MATMULS
        for i, (p, k, q) in enumerate(shapes):
            a = tg.tensor(rng.standard_normal((p, k)).astype(f32))
            b = tg.tensor(rng.standard_normal((k, q)).astype(f32))
            out.append((a @ b).numpy())
        if not small:
            p, k, q = DOT
            a = tg.tensor(rng.standard_normal((p, k)).astype(f32))
            w = tg.tensor(rng.standard_normal((q, k)).astype(f32))
            out.append((a @ w.T).numpy())
            a = tg.tensor(rng.standard_normal((300, 300)))
            out.append((a @ a).numpy())  # float64: dgemm in blocks
    return out


def _in_threads(fns: list[Callable[[], object]]) -> list:
    """Run each fn in its own thread, started together; their results, or the first error."""
    results: list = [None] * len(fns)
    errors: list = []
    start = threading.Barrier(len(fns))

    def run(i: int, fn: Callable[[], object]) -> None:
        try:
            start.wait(TIMEOUT)
            results[i] = fn()
        except BaseException as e:  # re-raised in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    if any(t.is_alive() for t in threads):
        pytest.fail(f"a thread did not finish within {TIMEOUT} s (hang or deadlock)")
    if errors:
        raise errors[0]
    return results


def test_two_threads_match_a_sequential_run(backend):
    small = backend == "python"
    reps = 1 if small else 3
    want = [_workload(1, small), _workload(2, small)]
    got = _in_threads([lambda: [_workload(1, small) for _ in range(reps)],
                       lambda: [_workload(2, small) for _ in range(reps)]])
    for seed, runs in enumerate(got):
        for r in runs:
            _equal(r, want[seed], f"thread {seed + 1}")


def test_results_do_not_depend_on_a_busy_pool(backend):
    """One thread keeps the backend's pool busy with big ops; products and reductions computed
    meanwhile in another thread equal the same computed alone (every GEMM path of the C backend,
    split sums and column sums)."""
    if backend == "python":
        pytest.skip("the python backend has no thread pool")
    want = _workload(3, False)
    stop = threading.Event()
    big = tg.rand(3_000_000)

    def noise() -> int:
        k = 0
        with tg.no_grad():
            while not stop.is_set():
                (big * 2 + 1).sum()
                k += 1
        return k

    def work() -> list:
        try:
            return [_workload(3, False) for _ in range(4)]
        finally:
            stop.set()

    runs, spins = _in_threads([work, noise])
    assert spins > 0
    for r in runs:
        _equal(r, want, "with a busy pool")
