"""Elementwise add, mul, exp, relu at 1e3 .. 1e7 elements, float32 and float64, with GB/s."""
from __future__ import annotations

from typing import Any, Callable

from bench import impls as I
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases

SUITE = "elementwise"
DEFAULT_SIZES = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
QUICK_SIZES = [1_000, 100_000]
OPS = {"add": 2, "mul": 2, "exp": 1, "relu": 1, "add_ (in place)": 2}  # op -> number of inputs
INPLACE = "add_ (in place)"  # a += b: no allocation (numpy: np.add(a, b, out=a))


def fmt_n(n: int) -> str:
    """1000000 -> '1e6' (exact powers of ten), else the plain number."""
    s = f"{n:.0e}".replace("e+0", "e").replace("e+", "e")
    return s if float(s) == n else str(n)


def _make(op: str, n: int, dtype: str) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        a = I.randn(impl, (n,), dtype, seed=1)
        b = I.randn(impl, (n,), dtype, seed=2)
        if impl == "numpy":
            import numpy as np
            return {"add": lambda: a + b, "mul": lambda: a * b, "exp": lambda: np.exp(a),
                    "relu": lambda: np.maximum(a, 0), INPLACE: lambda: np.add(a, b, out=a)}[op]
        return {"add": lambda: a + b, "mul": lambda: a * b, "exp": lambda: a.exp(),
                "relu": lambda: a.relu(), INPLACE: lambda: a.add_(b)}[op]
    return make


def _list_add(n: int) -> Callable[[str], Callable[[], Any]]:
    """The python backend's yardstick: add over plain Python lists (a list comprehension)."""
    def make(impl: str) -> Callable[[], Any]:
        if impl == "lists":
            import random
            a = [random.random() for _ in range(n)]
            b = [random.random() for _ in range(n)]
            return lambda: [x + y for x, y in zip(a, b)]
        return _make("add", n, "f64")(impl)
    return make


def cases(cfg: Config) -> list[Case]:
    """Every (op, size, dtype) combination of this run."""
    out = []
    for dtype in ("f32",) if cfg.quick else ("f32", "f64"):
        item = 4 if dtype == "f32" else 8
        for op, nin in OPS.items():
            for n in cfg.pick(DEFAULT_SIZES, QUICK_SIZES):
                n = int(n)
                if op == INPLACE and dtype == "f64":
                    continue
                out.append(Case(SUITE, op, f"{dtype} {fmt_n(n)}", _make(op, n, dtype), elements=n,
                                bytes=(nin + 1) * n * item, check=op != INPLACE))
    if "python" in cfg.backends:
        out.append(Case(SUITE, "add vs lists", "f64 1e5", _list_add(100_000), impls=["lists", "python"],
                        elements=100_000, bytes=3 * 100_000 * 8, check=False,
                        extra={"note": "lists: [x + y for x, y in zip(a, b)]"}))
    return out


def run(cfg: Config) -> list[Row]:
    """Time the elementwise cases."""
    return run_cases(cases(cfg), cfg)
