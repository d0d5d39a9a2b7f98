"""Per-op overhead: a 16-element add with and without requires_grad, a tiny relu(x @ W + b)."""
from __future__ import annotations

from typing import Any, Callable

from bench import impls as I
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases

SUITE = "overhead"


def _add(grad: bool) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        a = I.randn(impl, (16,), seed=1, requires_grad=grad and impl != "numpy")
        b = I.randn(impl, (16,), seed=2)
        return lambda: a + b
    return make


def _layer(backward: bool) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        x = I.randn(impl, (8, 16), seed=1)
        w = I.randn(impl, (16, 16), seed=2, requires_grad=backward and impl != "numpy")
        b = I.randn(impl, (16,), seed=3, requires_grad=backward and impl != "numpy")
        if impl == "numpy":
            import numpy as np
            if not backward:
                return lambda: np.maximum(x @ w + b, 0)

            def numpy_step() -> Any:
                h = x @ w + b
                y = np.maximum(h, 0)
                g = (h > 0).astype(y.dtype)          # d sum(relu(h)) / dh
                db = g.sum(0)
                return x.T @ g                       # dW, compared with w.grad
            return numpy_step
        if not backward:
            return lambda: (x @ w + b).relu()

        def step() -> Any:
            w.grad = None
            b.grad = None
            (x @ w + b).relu().sum().backward()
            return w.grad
        return step
    return make


def cases(cfg: Config) -> list[Case]:
    """The overhead cases (sizes are fixed)."""
    return [
        Case(SUITE, "add", "16", _add(False), elements=16),
        Case(SUITE, "add requires_grad", "16", _add(True), elements=16,
             extra={"note": "numpy: plain add (no autograd)"}),
        Case(SUITE, "relu(x@W+b) fwd", "8x16 @ 16x16", _layer(False), elements=256),
        Case(SUITE, "relu(x@W+b) fwd+bwd", "8x16 @ 16x16", _layer(True), elements=256,
             extra={"note": "numpy: hand-written backward"}),
    ]


def run(cfg: Config) -> list[Row]:
    """Time the overhead cases."""
    return run_cases(cases(cfg), cfg)
