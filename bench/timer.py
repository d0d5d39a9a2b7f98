"""Adaptive timer: warm-up calls, then the median of N samples with time.perf_counter."""
from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Stats:
    """Per-call times of one measurement, in seconds."""

    median: float
    min: float
    max: float
    samples: int
    calls_per_sample: int
    first_call: float


@dataclass
class Budget:
    """How much time one measurement may take."""

    target: float = 0.15        # aim for this much timed work per measurement
    max_total: float = 4.0      # never spend (much) more than this on one measurement
    min_samples: int = 3
    max_samples: int = 30
    sample_floor: float = 0.002  # batch calls so that one sample lasts at least this long
    warm_time: float = 0.05     # keep warming up this long (thread pools settle, caches fill)


def measure(fn: Callable[[], Any], budget: Budget, warmup: int = 2) -> Stats:
    """Time fn(): warm-up calls (the first also triggers JIT compilation), then median of samples.

    The garbage collector is off while fn runs (as in timeit); it runs between long samples so
    that cyclic garbage (e.g. a scalar autograd graph) does not pile up.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        first = est = time.perf_counter() - t0
        warm_start, calls = time.perf_counter(), 1
        while calls < warmup or time.perf_counter() - warm_start < budget.warm_time:
            if est * 2 > budget.max_total:
                break
            _collect_if(est)
            t0 = time.perf_counter()
            fn()
            est = time.perf_counter() - t0
            calls += 1
        est = max(est, 1e-8)
        inner = max(1, int(budget.sample_floor / est))
        per_sample = est * inner
        n = int(budget.target / per_sample)
        n = max(budget.min_samples, min(budget.max_samples, n))
        n = max(1, min(n, int(budget.max_total / per_sample)))
        times = []
        for _ in range(n):
            _collect_if(per_sample)
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - t0) / inner)
    finally:
        if was_enabled:
            gc.enable()
    return Stats(statistics.median(times), min(times), max(times), n, inner, first)


def _collect_if(sample_s: float) -> None:
    """Collect cyclic garbage between samples that are long enough for it not to matter."""
    if sample_s > 0.05:
        gc.collect()
