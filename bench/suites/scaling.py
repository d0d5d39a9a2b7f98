"""Scalar autograd (one graph node per number) vs tensor autograd on the sine step, N = 100 .. 10,000."""
from __future__ import annotations

import math
from typing import Any, Callable

from bench import nets
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases
from examples.scalar_autograd import NAMES, ScalarMLP, sine_points

SUITE = "scaling"
DEFAULT_SIZES = [100, 1_000, 10_000]
QUICK_SIZES = [100, 1_000]


def scalar_step(n: int) -> Callable[[], float]:
    """One SGD step of the sine MLP on the scalar engine of the examples, from the tensor rows' weights."""
    mlp = ScalarMLP({k: p.reshape(-1).tolist() for k, p in zip(NAMES, nets.init_params(nets.SINE_SIZES, seed=1))})
    xs, ys = sine_points(n)
    return lambda: mlp.step(xs, ys, nets.LR)


def _make(n: int) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        return scalar_step(n) if impl == "scalar" else nets.make_step(impl, "sine", n)
    return make


def cases(cfg: Config) -> list[Case]:
    """One case per N; 'scalar' joins the implementations as a reference."""
    impls = ["scalar"] + cfg.impls
    return [Case(SUITE, "sine step", f"N={int(n)}", _make(int(n)), impls=impls, check=False,
                 extra={"n": int(n)}) for n in cfg.pick(DEFAULT_SIZES, QUICK_SIZES)]


def run(cfg: Config) -> list[Row]:
    """Time every N on every implementation (the scalar engine is timed with gc off, like timeit)."""
    rows = run_cases(cases(cfg), cfg)
    for r in rows:
        if r.median_s:
            r.rate, r.rate_unit = 1.0 / r.median_s, "steps/s"
    _slopes(rows)
    return rows


def _slopes(rows: list[Row]) -> None:
    """On each implementation's largest-N row: the log-log slope of time vs N (1.0 = linear)."""
    by_impl: dict[str, list[Row]] = {}
    for r in rows:
        if r.median_s:
            by_impl.setdefault(r.impl, []).append(r)
    for rs in by_impl.values():
        rs.sort(key=lambda r: r.extra["n"])
        lo, hi = rs[0], rs[-1]
        if hi.extra["n"] > lo.extra["n"]:
            hi.extra["slope"] = math.log(hi.median_s / lo.median_s) / math.log(hi.extra["n"] / lo.extra["n"])
            hi.extra["note"] = f"time ~ N^{hi.extra['slope']:.2f} from N={lo.extra['n']}"
