"""numba's thread pool for the numba backend: which threading layer, and how it starts.

The pool runs on TBB when the `tbb` package is installed, nobody chose a layer and the process may
use two CPUs or more; otherwise on numba's default (GNU OpenMP here) started with a bounded spin.
See docs/backends.md.
"""
from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
from typing import Optional

import numba


# Idle GNU OpenMP threads spin GOMP_SPINCOUNT iterations before they sleep: 300,000 by default,
# several ms. numba's `omp` threading layer runs on that pool, and while its threads spin after
# each of our parallel kernels, another pool's threads (numpy's or PyTorch's OpenBLAS, PyTorch's
# own OpenMP copy) wait for a core: a numpy matmul of 128 interleaved with a parallel numba add
# took several hundred times longer than the two alone. 1000 iterations of the spin's pause
# instruction last about 10 us on a core with a 10 ns pause (the Xeons this was measured on) and
# up to about 50 us where pause is slower: long enough that back-to-back kernels find the
# workers awake, short enough that another pool's next call soon gets the core (its wait is
# bounded by the spin, so a longer one costs every interleaved call that much).
GOMP_SPIN = "1000"


def _gomp_loaded() -> bool:
    """True when the system's GNU OpenMP library (libgomp.so.1) is already mapped in this process,
    its settings read: someone else's, whose spin we leave alone. (PyTorch's wheels bundle a
    copy under another name, libgomp-<hash>.so, which stays independent either way.)"""
    try:
        with open("/proc/self/maps") as f:
            return any("/libgomp.so" in line for line in f)
    except OSError:
        return False


def _tbb_library() -> Optional[str]:
    """The path of libtbb.so.12 from the installed `tbb` package, or None."""
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "libtbb.so.12":
            return str(f.locate())
    return None


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return n


def _choose_tbb() -> bool:
    """Make numba's pool the TBB one when the `tbb` package is installed and nobody chose a layer.

    numba's `omp` layer shares libgomp with whoever loaded it first: after `import torch` that is
    PyTorch's copy, whose idle threads spin for ~300,000 iterations, and a numpy matmul of 128
    interleaved with a parallel add took 100-300x longer than the two alone. TBB's idle workers
    yield their core, and its pool survives fork. The library is loaded from the package's own
    path first: in a virtual environment it is not on the loader's search path, and numba's
    lookup by name then finds the loaded copy."""
    if numba.config.THREADING_LAYER != "default" or os.environ.get("NUMBA_THREADING_LAYER"):
        return False  # the user's choice
    if usable_cpus() < 2:
        return False  # see _one_cpu_layer
    path = _tbb_library()
    if path is None:
        return False
    try:
        numba.threading_layer()
        return False  # a parallel numba function already started the pool
    except ValueError:
        pass
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return False
    numba.config.THREADING_LAYER = "tbb"
    return True


def _one_cpu_layer() -> None:
    """On one CPU, numba's pool on OpenMP instead of TBB (numba's own first choice once libtbb can
    load). TBB there starts no worker thread, and a pool first started off the main thread leaves
    a task in that thread's slot which numba's exit handler waits for forever: the process hangs
    at exit (numba issue 10556). The user's choice of a layer stands."""
    if usable_cpus() >= 2 or numba.config.THREADING_LAYER != "default" or os.environ.get("NUMBA_THREADING_LAYER"):
        return
    try:
        numba.threading_layer()
        return  # a parallel numba function already started the pool
    except ValueError:
        pass
    if importlib.util.find_spec("numba.np.ufunc.omppool") is not None:
        numba.config.THREADING_LAYER = "omp"


def start_pool(n: int) -> None:
    """Start numba's thread pool with n threads: TBB's when the `tbb` package is there (see
    `_choose_tbb`). When it is an OpenMP pool that numba loads now,
    it is loaded with a bounded spin (GOMP_SPIN) unless the user set GOMP_SPINCOUNT or
    OMP_WAIT_POLICY; the variable is set only while numba loads the library, so nothing else in
    the process (another OpenMP copy, a child process) sees it."""
    if _choose_tbb():
        numba.set_num_threads(n)
        return
    _one_cpu_layer()
    bound = "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ and not _gomp_loaded()
    if bound:
        os.environ["GOMP_SPINCOUNT"] = GOMP_SPIN
    try:
        numba.set_num_threads(n)  # loads the threading layer first (libgomp for `omp`)
    finally:
        if bound:
            del os.environ["GOMP_SPINCOUNT"]
