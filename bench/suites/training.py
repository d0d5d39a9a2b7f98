"""Training steps: the MLP 784-256-10 (batch 128, cross-entropy) and the 1-64-1 sine MLP (MSE)."""
from __future__ import annotations

from typing import Any, Callable

from bench import memprobe, nets
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases

SUITE = "training"
TASKS = {  # name -> (task, n, macs of forward + backward)
    "MLP 784-256-10 SGD": ("mlp", 128, 3 * 128 * (784 * 256 + 256 * 10)),
    "sine MLP 1-64-1 SGD": ("sine", 1000, 3 * 1000 * 2 * 64),
}


def _make(task: str, n: int) -> Callable[[str], Callable[[], Any]]:
    return lambda impl: nets.make_step(impl, task, n)


def cases(cfg: Config) -> list[Case]:
    """One case per task."""
    out = []
    for name, (task, n, macs) in TASKS.items():
        params = f"batch {n}" if task == "mlp" else f"N={n}"
        out.append(Case(SUITE, name, params, _make(task, n), macs=macs, check=False,
                        extra={"task": task, "n": n}))
    return out


def run(cfg: Config) -> list[Row]:
    """Time each step, report steps/s, and (full runs) peak memory from a fresh process per impl."""
    rows = run_cases(cases(cfg), cfg)
    for r in rows:
        if r.status != "ok":
            continue
        r.rate, r.rate_unit = 1.0 / r.median_s, "steps/s"
        if cfg.memory:
            r.extra["peak_mb"] = memprobe.measure(r.extra["task"], r.extra["n"], r.impl)
    return rows
