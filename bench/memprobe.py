"""Peak memory of a training step, measured in a fresh process: `python -m bench.memprobe TASK N IMPL`.

The child imports everything and runs a small warm-up instance first (JIT compilation, lazy
initialisation), then takes the resident set size as its baseline, resets the kernel's
high-water mark (/proc/self/clear_refs) and builds the model and data and runs 10 steps.
It prints {"peak_mb": VmHWM - baseline} as JSON: weights, data, activations, gradients and
allocator slack, not the interpreter or the libraries.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Optional

STEPS = 10


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def child(task: str, n: int, impl: str) -> dict:
    """Run in the fresh process: baseline, reset the high-water mark, run steps, report."""
    from bench import nets
    nets.make_step(impl, task, 4)()  # warm-up on a tiny instance
    gc.collect()
    base = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    step = nets.make_step(impl, task, n)
    for _ in range(STEPS):
        step()
    return {"peak_mb": (_status_kb("VmHWM") - base) / 1024, "steps": STEPS}


def measure(task: str, n: int, impl: str, timeout: float = 300) -> Optional[float]:
    """Peak MB of `impl` running `task`, from a fresh process; None where it cannot be measured."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        p = subprocess.run([sys.executable, "-m", "bench.memprobe", task, str(n), impl], env=env,
                           capture_output=True, text=True, timeout=timeout, cwd=root)
        return float(json.loads(p.stdout.strip().splitlines()[-1])["peak_mb"]) if p.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, IndexError, KeyError):
        return None


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
