"""Indexing, sorting, scans and einsum (float32): an embedding-sized gather and its scatter-add,
sort/topk/cumsum of 1e6, and einsum against the equivalent matmul."""
from __future__ import annotations

from typing import Any, Callable

from bench import impls as I
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases

SUITE = "indexing"


def _ids(impl: str, n: int, high: int) -> Any:
    import numpy as np
    ids = np.random.default_rng(7).integers(0, high, size=n).astype(np.int64)
    return I.from_numpy(impl, ids)


def _gather(rows: int, cols: int, n: int) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        w, ids = I.randn(impl, (rows, cols), seed=1), _ids(impl, n, rows)
        return lambda: w[ids]
    return make


def _scatter_add(rows: int, cols: int, n: int) -> Callable[[str], Callable[[], Any]]:
    """The embedding's backward: rows of gradients added into a zero table at the ids."""
    def make(impl: str) -> Callable[[], Any]:
        g, ids = I.randn(impl, (n, cols), seed=2), _ids(impl, n, rows)
        if impl == "numpy":
            import numpy as np

            def run() -> Any:
                out = np.zeros((rows, cols), np.float32)
                np.add.at(out, ids, g)
                return out
            return run
        if impl == "torch":
            torch = I.torch()
            return lambda: torch.zeros(rows, cols).index_add_(0, ids, g)
        import tinygrad_like as tg
        return lambda: tg.zeros(rows, cols, backend=impl).index_add_(0, ids, g)
    return make


def _sort(n: int, op: str, k: int = 0) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        x = I.randn(impl, (n,), seed=3)
        if impl == "numpy":
            import numpy as np
            if op == "sort":
                return lambda: np.sort(x, kind="stable")
            if op == "topk":
                return lambda: -np.sort(-np.partition(x, n - k)[n - k:])
            return lambda: np.cumsum(x, dtype=np.float64).astype(np.float32)
        if op == "sort":
            return lambda: x.sort().values
        if op == "topk":
            return lambda: x.topk(k).values
        return lambda: x.cumsum(0)
    return make


def _einsum(spec: str, shapes: tuple, via_matmul: bool) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        a, b = (I.randn(impl, s, seed=4 + i) for i, s in enumerate(shapes))
        if via_matmul:  # the same product written as a matmul
            return lambda: a @ (b.swapaxes(-1, -2) if "bhkd" in spec else b)
        if impl == "numpy":
            import numpy as np
            return lambda: np.einsum(spec, a, b, optimize=True)
        if impl == "torch":
            return lambda: I.torch().einsum(spec, a, b)
        import tinygrad_like as tg
        return lambda: tg.einsum(spec, a, b)
    return make


def cases(cfg: Config) -> list[Case]:
    """Gather/scatter by index, sort/topk/cumsum of a long vector, einsum vs matmul."""
    n = 1_000_000 if not cfg.quick else 100_000
    rows, cols, ids = 50_000, 64, 4096
    out = [
        Case(SUITE, "gather rows w[ids]", f"{rows}x{cols}, {ids} ids", _gather(rows, cols, ids),
             elements=ids * cols, bytes=ids * cols * 8),
        Case(SUITE, "scatter-add rows (index_add_)", f"{rows}x{cols}, {ids} ids", _scatter_add(rows, cols, ids),
             elements=rows * cols, bytes=rows * cols * 4 + ids * cols * 8),
        Case(SUITE, "sort", f"{n:.0e}", _sort(n, "sort"), elements=n, bytes=n * 8),
        Case(SUITE, "topk k=100", f"{n:.0e}", _sort(n, "topk", 100), elements=n, bytes=n * 4),
        Case(SUITE, "cumsum", f"{n:.0e}", _sort(n, "cumsum"), elements=n, bytes=n * 8),
    ]
    m = 512 if not cfg.quick else 128
    for spec, shapes, label in (("ij,jk->ik", ((m, m), (m, m)), f"{m}x{m}"),
                                ("bhqd,bhkd->bhqk", ((8, 8, 128, 64), (8, 8, 128, 64)), "8x8x128x64")):
        flops = 2 * m ** 3 if spec == "ij,jk->ik" else 2 * 64 * 128 * 128 * 64
        for via in (False, True):
            name = f"einsum {spec}" if not via else f"matmul equivalent of {spec}"
            out.append(Case(SUITE, name, label, _einsum(spec, shapes, via), flops=flops, macs=flops // 2,
                            elements=max(a * b for a, b in [s[-2:] for s in shapes]) * 64))
    return out


def run(cfg: Config) -> list[Row]:
    """Time the indexing cases."""
    return run_cases(cases(cfg), cfg)
