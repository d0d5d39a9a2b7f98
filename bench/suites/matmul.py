"""Matmul: square 64 .. 2048 (float32, float64), transposed inputs, batched; GFLOP/s and % of peak."""
from __future__ import annotations

from typing import Any, Callable

from bench import impls as I
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases

SUITE = "matmul"
DEFAULT_SIZES = [64, 128, 256, 512, 1024, 2048]
QUICK_SIZES = [64, 256]


def _make(n: int, dtype: str, layout: str, batch: int = 0) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        shape = (batch, n, n) if batch else (n, n)
        a = I.randn(impl, shape, dtype, seed=1)
        b = I.randn(impl, shape, dtype, seed=2)
        if layout == "A.T @ B":
            a = a.T
        elif layout == "A @ B.T":
            b = b.T
        elif layout == "A.T @ B.T":
            a, b = a.T, b.T
        return lambda: a @ b
    return make


def _ikj(n: int) -> Callable[[str], Callable[[], Any]]:
    """The python backend's yardstick: an i-k-j triple loop over lists."""
    def make(impl: str) -> Callable[[], Any]:
        if impl != "lists":
            return _make(n, "f64", "A @ B")(impl)
        import random
        a = [[random.random() for _ in range(n)] for _ in range(n)]
        b = [[random.random() for _ in range(n)] for _ in range(n)]

        def ikj() -> list:
            c = [[0.0] * n for _ in range(n)]
            for i in range(n):
                ci, ai = c[i], a[i]
                for k in range(n):
                    aik, bk = ai[k], b[k]
                    for j in range(n):
                        ci[j] += aik * bk[j]
            return c
        return ikj
    return make


def cases(cfg: Config) -> list[Case]:
    """Square sizes in both dtypes, transposed layouts at 256 and 1024, one batched shape."""
    out = []
    for dtype in ("f32",) if cfg.quick else ("f32", "f64"):
        for n in cfg.pick(DEFAULT_SIZES, QUICK_SIZES):
            n = int(n)
            out.append(Case(SUITE, "A @ B", f"{dtype} {n}", _make(n, dtype, "A @ B"), elements=n * n,
                            macs=n ** 3, flops=2 * n ** 3))
    for n in cfg.pick([256, 1024], [256]):
        n = int(n)
        for layout in ("A.T @ B",) if cfg.quick else ("A.T @ B", "A @ B.T", "A.T @ B.T"):
            out.append(Case(SUITE, layout, f"f32 {n}", _make(n, "f32", layout), elements=n * n,
                            macs=n ** 3, flops=2 * n ** 3))
    bt, n = (64, 128) if not cfg.quick else (8, 64)
    out.append(Case(SUITE, "batched A @ B", f"f32 {bt}x{n}x{n}", _make(n, "f32", "A @ B", bt),
                    elements=bt * n * n, macs=bt * n ** 3, flops=2 * bt * n ** 3))
    if "python" in cfg.backends:
        out.append(Case(SUITE, "A @ B vs ikj lists", "f64 128", _ikj(128), impls=["lists", "python"],
                        macs=128 ** 3, flops=2 * 128 ** 3, check=False,
                        extra={"note": "lists: i-k-j triple loop"}))
    return out


def run(cfg: Config) -> list[Row]:
    """Time the matmul cases."""
    return run_cases(cases(cfg), cfg)
