"""One thread policy for every backend: TG_NUM_THREADS caps the threads of all kernels."""
from __future__ import annotations

import os


def num_threads() -> int:
    """Threads a backend may use: TG_NUM_THREADS if set (>= 1), else the number of CPUs."""
    env = os.environ.get("TG_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"TG_NUM_THREADS must be a positive integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"TG_NUM_THREADS must be a positive integer, got {env!r}")
        return n
    return os.cpu_count() or 1
