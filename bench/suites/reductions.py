"""Reductions: sum/max over all, dim 0, dim 1; softmax and log-softmax over rows (float32)."""
from __future__ import annotations

from typing import Any, Callable

from bench import impls as I
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases

SUITE = "reductions"


def _np_softmax(x: Any, log: bool) -> Any:
    import numpy as np
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    return z - np.log(s) if log else e / s


def _make(op: str, dim: Any, shape: tuple) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        x = I.randn(impl, shape, seed=1)
        if op in ("softmax", "log_softmax"):
            if impl == "numpy":
                return lambda: _np_softmax(x, op == "log_softmax")
            return (lambda: x.softmax(1)) if op == "softmax" else (lambda: x.log_softmax(1))
        if impl == "numpy":
            f = x.sum if op == "sum" else x.max
            return (lambda: f()) if dim is None else (lambda: f(axis=dim))
        if op == "sum":
            return (lambda: x.sum()) if dim is None else (lambda: x.sum(dim))
        return (lambda: x.amax()) if dim is None else (lambda: x.amax(dim))
    return make


def cases(cfg: Config) -> list[Case]:
    """sum/max over all/dim 0/dim 1 of n x n matrices, sum of a 1e7 vector, row softmax."""
    out = []
    sides = cfg.pick([1024, 4096], [512])
    for n in sides:
        n = int(n)
        for op in ("sum", "max"):
            for dim, label in ((None, "all"), (0, "dim 0"), (1, "dim 1")):
                out.append(Case(SUITE, f"{op} {label}", f"{n}x{n}", _make(op, dim, (n, n)),
                                elements=n * n, bytes=n * n * 4))
    if not cfg.quick and not cfg.sizes:
        out.append(Case(SUITE, "sum all", "1e7", _make("sum", None, (10_000_000,)),
                        elements=10_000_000, bytes=40_000_000))
    for n in sides[:1]:
        n = int(n)
        for op in ("softmax", "log_softmax"):
            out.append(Case(SUITE, op + "(dim=1)", f"{n}x{n}", _make(op, 1, (n, n)),
                            elements=n * n, bytes=2 * n * n * 4))
    return out


def run(cfg: Config) -> list[Row]:
    """Time the reduction cases."""
    return run_cases(cases(cfg), cfg)
