"""Thread pools: a numpy matmul (128) interleaved with our ops; pair time vs the sum of each alone.

When two thread pools alternate, idle workers of one can spin while the other works; on a
2-core machine such a pair can take 100x longer than its two calls alone. 'slowdown' is the pair's
time over the sum of the two calls timed alone; near 1 means the pools do not fight.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from bench import impls as I
from bench.config import Config
from bench.model import Row
from bench.runner import SETTLE_S
from bench.timer import measure

SUITE = "threads"
FIGHT = 3.0  # a slowdown above this is flagged


def _ops(impl: str, n_add: int) -> dict[str, Callable[[], Any]]:
    a = I.randn(impl, (128, 128), seed=1)
    b = I.randn(impl, (128, 128), seed=2)
    x = I.randn(impl, (n_add,), seed=3)
    y = I.randn(impl, (n_add,), seed=4)
    return {"matmul 128": lambda: a @ b, f"add {n_add:.0e}".replace("e+0", "e"): lambda: x + y}


def run(cfg: Config) -> list[Row]:
    """For each implementation and op: alone, numpy's matmul alone, and the two interleaved."""
    import numpy as np
    g = np.random.default_rng(0)
    na, nb = (g.standard_normal((128, 128), dtype=np.float32) for _ in range(2))

    def np_mm() -> Any:
        return na @ nb
    rows = []
    for impl in cfg.impls:
        time.sleep(SETTLE_S)
        np_alone = measure(np_mm, cfg.budget).median
        kind = "ours" if I.is_ours(impl) else "reference"
        try:
            ops = _ops(impl, 100_000)
        except Exception as e:  # noqa: BLE001 (report, keep going)
            rows.append(Row(SUITE, "np.matmul 128 + op", "", impl, kind, "error", f"{type(e).__name__}: {e}"))
            continue
        for name, op in ops.items():
            row = Row(SUITE, "np.matmul 128 + " + name, "pair", impl, kind, extra={})
            if impl == "python" and name.startswith("matmul"):
                row.status, row.reason = "skipped", "single-threaded"
                rows.append(row)
                continue
            alone = measure(op, cfg.budget).median

            def pair(op: Callable[[], Any] = op) -> None:
                np_mm()
                op()
            st = measure(pair, cfg.budget)
            row.median_s, row.min_s, row.max_s = st.median, st.min, st.max
            row.samples, row.calls_per_sample = st.samples, st.calls_per_sample
            row.extra.update(alone_s=alone, numpy_matmul_alone_s=np_alone,
                             slowdown=st.median / (alone + np_alone))
            if row.extra["slowdown"] > FIGHT:
                row.extra["note"] = "pools fight"
            rows.append(row)
    return rows
