"""Broadcasting and views: row / column broadcast, transposed and sliced inputs (float32)."""
from __future__ import annotations

from typing import Any, Callable

from bench import impls as I
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases

SUITE = "broadcast"


def _make(kind: str, n: int) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        m = I.randn(impl, (n, n), seed=1)
        m2 = I.randn(impl, (n, n), seed=3)
        v = I.randn(impl, (n,), seed=2)
        col = v.reshape(n, 1)
        mt = m.T
        if kind == "row":
            return lambda: m + v
        if kind == "col":
            return lambda: m + col
        if kind == "transposed":
            return lambda: mt + v
        if kind == "both transposed":
            return lambda: mt + m2.T
        if kind == "contiguous(T)":
            import numpy as np
            return (lambda: np.ascontiguousarray(mt)) if impl == "numpy" else (lambda: mt.contiguous())
        if kind == "sliced":
            a, b = m[::2, 1::2], m2[1::2, ::2]
            return lambda: a + b
        raise ValueError(kind)
    return make


KINDS = {  # name -> (description, bytes per output element / 4)
    "row": ("(n,n) + (n,)", 2),
    "col": ("(n,n) + (n,1)", 2),
    "transposed": ("(n,n).T + (n,)", 2),
    "both transposed": ("a.T + b.T", 3),
    "contiguous(T)": ("(n,n).T copy", 2),
    "sliced": ("a[::2,1::2] + b[1::2,::2]", 3),
}


def cases(cfg: Config) -> list[Case]:
    """Each view kind at 1024x1024 (and 4096x4096 in the full run)."""
    out = []
    for n in cfg.pick([1024, 4096], [1024]):
        n = int(n)
        for kind, (desc, words) in KINDS.items():
            m = n * n // 4 if kind == "sliced" else n * n
            out.append(Case(SUITE, kind, f"{n}x{n}", _make(kind, n), elements=n * n, bytes=words * m * 4,
                            extra={"what": desc}))
    return out


def run(cfg: Config) -> list[Row]:
    """Time the broadcast/view cases."""
    return run_cases(cases(cfg), cfg)
