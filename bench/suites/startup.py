"""Start-up: a fresh process's time from `import` to the first result, cold and warm caches.

Cold: fresh, empty NUMBA_CACHE_DIR, XDG_CACHE_HOME and TG_CACHE_DIR (JIT and extension
caches start empty). Warm: the same directories again, after the cold run filled them.
--quick runs once with the user's own caches ("user caches") to stay fast.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Optional

from bench.config import Config
from bench.model import Row

SUITE = "startup"
FIRST_RESULT = {
    "ours": ("import tinygrad_like as tg\n"
             "a = tg.randn(64, 64, backend={impl!r}); b = tg.randn(64, 64, backend={impl!r})\n"
             "r = (a @ b + 1).relu().sum().item()\n"),
    "numpy": ("import numpy as np\n"
              "g = np.random.default_rng(0); a = g.standard_normal((64, 64), dtype=np.float32)\n"
              "b = g.standard_normal((64, 64), dtype=np.float32)\n"
              "r = float(np.maximum(a @ b + 1, 0).sum())\n"),
    "torch": ("import torch\n"
              "a = torch.randn(64, 64); b = torch.randn(64, 64)\n"
              "r = (a @ b + 1).relu().sum().item()\n"),
}
SCRIPT = "import time\nt0 = time.perf_counter()\n{body}print(time.perf_counter() - t0)\n"


def _once(impl: str, cache_dir: Optional[str]) -> tuple[Optional[float], float, str]:
    """(seconds from import to result inside the child, wall seconds of the child, error).

    cache_dir None: the caches this user already has (whatever state they are in)."""
    body = FIRST_RESULT.get(impl, FIRST_RESULT["ours"]).format(impl=impl)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if cache_dir is not None:
        env.update(NUMBA_CACHE_DIR=os.path.join(cache_dir, "numba"), XDG_CACHE_HOME=os.path.join(cache_dir, "xdg"),
                   TG_CACHE_DIR=os.path.join(cache_dir, "tg"))
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", SCRIPT.format(body=body)], env=env, capture_output=True,
                       text=True, timeout=600)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return None, wall, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1][:200]
    return float(p.stdout.strip().splitlines()[-1]), wall, ""


def run(cfg: Config) -> list[Row]:
    """One cold run and 3 warm runs per implementation (--quick: one run with the user's caches)."""
    rows = []
    runs = (("user caches", 1),) if cfg.quick else (("cold", 1), ("warm", 3))
    for impl in cfg.impls:
        if cfg.quick and impl == "torch":
            continue  # importing torch twice costs seconds; the full run measures it
        kind = "reference" if impl in ("numpy", "torch") else "ours"
        tmp = tempfile.mkdtemp(prefix="tg-bench-startup-")
        try:
            for label, n in runs:
                got = [_once(impl, None if cfg.quick else tmp) for _ in range(n)]
                row = Row(SUITE, "import to first result", label, impl, kind, extra={})
                errs = [e for _, _, e in got if e]
                if errs:
                    row.status, row.reason = "error", errs[0]
                else:
                    ts = [t for t, _, _ in got]
                    row.median_s, row.min_s, row.max_s = statistics.median(ts), min(ts), max(ts)
                    row.samples, row.calls_per_sample = n, 1
                    row.extra["process_s"] = statistics.median(w for _, w, _ in got)
                rows.append(row)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    from bench.runner import add_ratios
    add_ratios(rows)
    order = {impl: i for i, impl in enumerate(cfg.impls)}
    rows.sort(key=lambda r: (r.params != "cold", order.get(r.impl, 99)))
    return rows
