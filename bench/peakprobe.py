"""The machine's float32 peak, measured: an FMA-throughput loop in C at each vector width the CPU
has (256-bit AVX2+FMA, 512-bit AVX-512F), on every thread at once; the best width wins.

A width counts by what the core executes, not by its flags: Zen 4 reports AVX-512 but runs each
512-bit FMA on two 256-bit halves, so there 512-bit code measures the same as 256-bit, while a
Xeon with two 512-bit FMA units doubles. The loop is built once through cffi (gcc, each width in
its own `target` function, so no -march flag is needed) and the result is cached per machine
(CPU model, flags, usable CPUs, threads) in the user's cache directory.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any, Callable, Optional

CHAINS = 12  # independent accumulators per thread: FMA latency (4 cycles) x 2 units, with room
CDEF = "double tg_fma_run(int width, long iters, int threads, double *secs);"
SOURCE = r"""
#include <immintrin.h>
#include <pthread.h>
#include <time.h>

#define CHAINS 12
/* twelve named accumulators (an array indexed in a loop may stay in memory at some -O levels) */
#define FMA12(F) a0 = F(a0, m, c); a1 = F(a1, m, c); a2 = F(a2, m, c); a3 = F(a3, m, c); \
    a4 = F(a4, m, c); a5 = F(a5, m, c); a6 = F(a6, m, c); a7 = F(a7, m, c); a8 = F(a8, m, c); \
    a9 = F(a9, m, c); a10 = F(a10, m, c); a11 = F(a11, m, c);
#define SUM12(ADD) ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), \
    ADD(ADD(a8, a9), ADD(a10, a11)))

__attribute__((target("avx2,fma"))) static double run256(long iters) {
    const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0.f), a1 = _mm256_set1_ps(1.f), a2 = _mm256_set1_ps(2.f),
           a3 = _mm256_set1_ps(3.f), a4 = _mm256_set1_ps(4.f), a5 = _mm256_set1_ps(5.f),
           a6 = _mm256_set1_ps(6.f), a7 = _mm256_set1_ps(7.f), a8 = _mm256_set1_ps(8.f),
           a9 = _mm256_set1_ps(9.f), a10 = _mm256_set1_ps(10.f), a11 = _mm256_set1_ps(11.f);
    for (long i = 0; i < iters; i++) { FMA12(_mm256_fmadd_ps) }
    float out[8]; double s = 0;
    _mm256_storeu_ps(out, SUM12(_mm256_add_ps));
    for (int k = 0; k < 8; k++) s += out[k];
    return s;
}

__attribute__((target("avx512f"))) static double run512(long iters) {
    const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(0.f), a1 = _mm512_set1_ps(1.f), a2 = _mm512_set1_ps(2.f),
           a3 = _mm512_set1_ps(3.f), a4 = _mm512_set1_ps(4.f), a5 = _mm512_set1_ps(5.f),
           a6 = _mm512_set1_ps(6.f), a7 = _mm512_set1_ps(7.f), a8 = _mm512_set1_ps(8.f),
           a9 = _mm512_set1_ps(9.f), a10 = _mm512_set1_ps(10.f), a11 = _mm512_set1_ps(11.f);
    for (long i = 0; i < iters; i++) { FMA12(_mm512_fmadd_ps) }
    float out[16]; double s = 0;
    _mm512_storeu_ps(out, SUM12(_mm512_add_ps));
    for (int k = 0; k < 16; k++) s += out[k];
    return s;
}

typedef struct { int width; long iters; double sum, secs; } job_t;

static void *worker(void *p) {
    job_t *j = (job_t *)p;
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    j->sum = j->width == 512 ? run512(j->iters) : run256(j->iters);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    j->secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return 0;
}

/* Runs the loop on `threads` threads (at most 256), each timing itself in CPU time (secs[t]);
   returns the sum of the accumulators (so nothing is optimised away), or -1 when a thread
   cannot be started. */
double tg_fma_run(int width, long iters, int threads, double *secs) {
    pthread_t tid[256];
    job_t jobs[256];
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    int started = 0;
    double s = 0;
    for (int t = 0; t < threads; t++) {
        jobs[t].width = width; jobs[t].iters = iters; jobs[t].sum = 0;
        if (t == 0) continue;  /* the caller's thread runs job 0 */
        if (pthread_create(&tid[t], 0, worker, &jobs[t]) != 0) { s = -1; break; }
        started = t;
    }
    worker(&jobs[0]);
    for (int t = 1; t <= started; t++) pthread_join(tid[t], 0);
    if (s < 0) return -1;
    for (int t = 0; t < threads; t++) { s += jobs[t].sum; secs[t] = jobs[t].secs; }
    return s;
}
"""


def widths(flags: set) -> list[int]:
    """The FMA vector widths (bits) the CPU's flags allow, narrowest first."""
    out = []
    if {"avx2", "fma"} <= flags:
        out.append(256)
        if "avx512f" in flags:
            out.append(512)
    return out


def cache_path() -> str:
    """Where probed peaks are kept: $XDG_CACHE_HOME (or ~/.cache)/tinygrad_like/peak.json."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tinygrad_like", "peak.json")


def machine_key(cpu: str, flags: set, usable: int, threads: int) -> str:
    """One machine (kind) and thread count: CPU model, its FMA-relevant flags, usable CPUs."""
    fl = sorted(f for f in flags if f.startswith(("avx", "fma")))
    raw = json.dumps([cpu, fl, usable, threads, platform.machine()])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _build(tmpdir: str) -> tuple:
    """(ffi, lib) of the compiled probe module (cffi API mode, built in tmpdir)."""
    import importlib.util

    import cffi
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source("_tg_fma_probe", SOURCE, extra_compile_args=["-O2", "-fno-unroll-loops"], extra_link_args=["-pthread"])
    path = ffi.compile(tmpdir=tmpdir, verbose=False)
    spec = importlib.util.spec_from_file_location("_tg_fma_probe", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.ffi, mod.lib


def measure(run: Callable[[int, int, int, Any], float], width: int, threads: int, target_s: float = 0.1,
            repeats: int = 5) -> float:
    """GFLOP/s of the C loop `run(width, iters, threads, secs)` on `threads` threads: each thread's
    FMAs over its own CPU time, summed (so other processes on the machine, which delay the
    threads but do not slow the cores, do not lower it), best of `repeats` runs of about
    target_s each."""
    secs = [0.0] * max(1, min(threads, 256))
    lanes = width // 32
    iters = 1000
    while True:  # calibrate: grow until one run takes a measurable time
        if run(width, iters, threads, secs) < 0:
            raise RuntimeError("the probe could not start its threads")
        if secs[0] > 0.005 or iters > 1 << 34:
            break
        iters *= 8
    iters = max(1000, int(iters * target_s / max(secs[0], 1e-6)))
    flops = 2.0 * lanes * CHAINS * iters
    best = 0.0
    for _ in range(repeats):
        run(width, iters, threads, secs)
        best = max(best, sum(flops / max(t, 1e-9) for t in secs) / 1e9)
    return best


def probe(threads: int, flags: set, target_s: float = 0.1) -> Optional[dict]:
    """Measure every width the CPU has; the best as {"gflops", "threads", "method", "widths"}, or
    None when there is no FMA width to run or the probe cannot be built (no C compiler)."""
    ws = widths(flags)
    if not ws:
        return None
    with tempfile.TemporaryDirectory(prefix="tg-peak-") as tmp:
        try:
            built = _build(tmp)
        except Exception:  # noqa: BLE001 (no compiler, no cffi: the caller falls back)
            return None
        ffi, lib = built
        buf = ffi.new("double[]", 256)

        def run(width: int, iters: int, n_threads: int, secs: list) -> float:
            r = lib.tg_fma_run(width, iters, n_threads, buf)
            secs[:] = ffi.unpack(buf, len(secs))
            return r
        got = {w: measure(run, w, threads, target_s) for w in ws}
    best = max(got, key=lambda w: got[w])
    detail = ", ".join(f"{w}-bit {g:.0f}" for w, g in sorted(got.items()))
    return {"gflops": got[best], "threads": threads, "widths": {str(w): g for w, g in got.items()},
            "method": f"probe: {CHAINS} independent FMA chains per thread in C, {threads} threads, "
                      f"per-thread CPU time, best of 5 ({detail} GFLOP/s)"}


def cached_peak(threads: int, cpu: str, flags: set, usable: int,
                run_probe: Callable[[int, set], Optional[dict]] = probe, refresh: bool = False) -> Optional[dict]:
    """The machine's probed peak from the cache, else probed now and stored (None when the probe
    cannot run). `refresh` probes again."""
    path = cache_path()
    key = machine_key(cpu, flags, usable, threads)
    cache: dict = {}
    try:
        with open(path) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = {}
    hit = cache.get(key) if isinstance(cache, dict) else None
    if hit and not refresh and isinstance(hit.get("gflops"), (int, float)):
        return hit
    result = run_probe(threads, flags)
    if result is None:
        return None
    result = dict(result, cpu=cpu, probed=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    cache = cache if isinstance(cache, dict) else {}
    cache[key] = result
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(cache, f, indent=1)
        os.replace(tmp, path)
    except OSError as e:  # a read-only home: the result still counts for this run
        print(f"[bench] cannot cache the float32 peak in {path}: {e}", file=sys.stderr)
    return result
