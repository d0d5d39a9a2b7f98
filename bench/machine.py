"""Describe the machine (CPU, cores, versions, thread settings) and find its float32 peak."""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
import textwrap
from typing import Any, Optional

from bench import peakprobe

THREAD_VARS = ("TG_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")
PACKAGES = ("numpy", "torch", "numba", "llvmlite", "cffi", "scipy-openblas32", "matplotlib")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set:
    """The CPU's feature flags (Linux), e.g. {'avx2', 'fma', 'avx512f'}."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def simd() -> str:
    """The widest float SIMD the CPU reports."""
    fl = cpu_flags()
    return "AVX-512" if "avx512f" in fl else "AVX2+FMA" if {"avx2", "fma"} <= fl else "SSE/other"


def versions() -> dict:
    """Python, tinygrad_like and the installed versions of the packages that matter."""
    out = {"python": platform.python_version(), "implementation": platform.python_implementation()}
    try:
        import tinygrad_like
        out["tinygrad_like"] = tinygrad_like.__version__
    except Exception:  # noqa: BLE001
        pass
    for p in PACKAGES:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    return out


def thread_settings() -> dict:
    """The environment variables that set thread counts, plus torch's thread count if loaded."""
    out: dict[str, Any] = {k: os.environ[k] for k in THREAD_VARS if k in os.environ}
    try:  # what TG_NUM_THREADS resolved to (all CPUs when unset): the c and numba backends' threads
        from tinygrad_like.backends.threads import num_threads
        out["tinygrad_like threads"] = num_threads()
    except Exception:  # noqa: BLE001 (an invalid TG_NUM_THREADS is reported by the backends themselves)
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch.get_num_threads"] = torch.get_num_threads()
    return out


def load() -> list:
    """1, 5 and 15-minute load averages ([] where the OS does not say)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def describe(peak: Optional[dict] = None) -> dict:
    """Everything the JSON and the README say about the machine."""
    return {
        "cpu": cpu_model(), "simd": simd(), "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}", "arch": platform.machine(),
        "versions": versions(), "threads": thread_settings(), "peak": peak or {},
    }


PROBE = textwrap.dedent("""
    import json, time, numpy as np
    from numba import njit, prange
    @njit(fastmath={'contract'})
    def chain(n):
        acc = np.ones(64, np.float32)
        for i in range(n):
            for j in range(64):
                acc[j] = acc[j] * np.float32(0.999) + np.float32(0.001)
        return acc.sum()
    @njit(parallel=True)
    def par(n, t):
        out = np.zeros(t, np.float32)
        for k in prange(t):
            out[k] = chain(n)
        return out
    t = %d
    par(10, t)
    n = 4_000_000
    best = 1e9
    for _ in range(3):
        t0 = time.perf_counter(); par(n, t); best = min(best, time.perf_counter() - t0)
    print(json.dumps({"gflops": 2 * 64 * n * t / best / 1e9}))
""")


def peak_gflops(threads: int, refresh: bool = False) -> dict:
    """float32 peak: the C FMA probe at every vector width the CPU has (bench/peakprobe.py,
    cached per machine); without a C compiler the numba probe (the width LLVM picks, which can be
    half the widest); without either an estimate from /proc/cpuinfo."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    got = peakprobe.cached_peak(threads, cpu_model(), cpu_flags(), usable, refresh=refresh)
    if got is not None:
        return got
    try:
        p = subprocess.run([sys.executable, "-c", PROBE % threads], capture_output=True, text=True,
                           timeout=120)
        if p.returncode == 0:
            g = json.loads(p.stdout.strip().splitlines()[-1])["gflops"]
            return {"gflops": g, "threads": threads,
                    "method": f"numba probe: 8 independent FMA chains per thread at the vector width LLVM "
                              f"picks (may be narrower than the CPU's widest), {threads} threads, best of 3"}
    except Exception:  # noqa: BLE001 (fall back to the estimate)
        pass
    return _estimate(threads)


def _estimate(threads: int) -> dict:
    lanes = {"AVX-512": 16, "AVX2+FMA": 8}.get(simd(), 4)
    mhz = 0.0
    try:
        with open("/proc/cpuinfo") as f:
            mhz = max(float(l.split(":")[1]) for l in f if l.startswith("cpu MHz"))
    except (OSError, ValueError):
        mhz = 2500.0
    g = threads * 2 * lanes * 2 * mhz / 1e3
    return {"gflops": g, "threads": threads,
            "method": f"estimate: {threads} cores x 2 FMA units x {lanes} float32 lanes x 2 flop x {mhz:.0f} MHz "
                      f"(/proc/cpuinfo; no probe could run: assumes two FMA units of the full width)"}
