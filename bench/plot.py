"""Figures (matplotlib, optional): throughput vs size, matmul GFLOP/s, and the scaling log-log plot."""
from __future__ import annotations

import re
from typing import Any, Optional

from bench.model import Row

MISSING = ("matplotlib is not installed, so no plot was written; "
           "`pip install matplotlib` and run again (the tables and JSON do not need it)")


def _pyplot() -> Optional[Any]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def _size(params: str) -> float:
    """The last number in a params string: 'f32 1e6' -> 1e6, 'N=1000' -> 1000."""
    nums = re.findall(r"\d+(?:\.\d+)?(?:e\d+)?", params)
    return float(nums[-1]) if nums else 0.0


def _series(rows: list[Row], suite: str, case: str, prefix: str, value: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in rows:
        if r.suite == suite and r.case == case and r.params.startswith(prefix) and r.median_s:
            y = r.rate if value == "rate" else r.median_s
            if y:
                out.setdefault(r.impl, []).append((_size(r.params), y))
    return {k: sorted(v) for k, v in out.items()}


def _panel(ax: Any, series: dict, title: str, xlabel: str, ylabel: str, logy: bool) -> None:
    for impl, pts in series.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=impl,
                linestyle="--" if impl in ("numpy", "torch", "scalar") else "-")
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if series:
        ax.legend(fontsize=8)


def overview(rows: list[Row], path: str, title: str = "", peak: Optional[float] = None) -> Optional[str]:
    """Three panels: add f32 GB/s vs n, matmul f32 GFLOP/s vs n, sine-step time vs N; None if no matplotlib."""
    plt = _pyplot()
    if plt is None:
        return MISSING
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    _panel(axes[0], _series(rows, "elementwise", "add", "f32", "rate"), "add, float32", "elements", "GB/s", True)
    _panel(axes[1], _series(rows, "matmul", "A @ B", "f32", "rate"), "matmul A @ B, float32", "n (n x n)",
           "GFLOP/s", True)
    if peak:
        axes[1].axhline(peak, color="gray", linestyle=":", linewidth=1)
        axes[1].annotate(f"float32 peak {peak:.0f}", (0.02, peak), xycoords=("axes fraction", "data"),
                         fontsize=8, color="gray", va="bottom")
    _panel(axes[2], _series(rows, "scaling", "sine step", "N=", "time"), "sine MLP step: scalar vs tensor autograd",
           "N points", "seconds per step", True)
    _save(plt, fig, path, title, 9)
    return None


def scaling(rows: list[Row], path: str, title: str = "") -> Optional[str]:
    """The log-log plot of sine-step time vs N, scalar vs tensor autograd; None if no matplotlib."""
    plt = _pyplot()
    if plt is None:
        return MISSING
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    _panel(ax, _series(rows, "scaling", "sine step", "N=", "time"),
           "1-64-1 sine MLP, one SGD step: scalar vs tensor autograd", "N points", "seconds per step", True)
    _save(plt, fig, path, title, 8)
    return None


def _save(plt: Any, fig: Any, path: str, title: str, title_size: int) -> None:
    """Title the figure (when there is a title), write it to `path` and close it."""
    if title:
        fig.suptitle(title, fontsize=title_size)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
