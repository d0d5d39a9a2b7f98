"""Index helpers every numba kernel shares: element counts, the buffer offset of a flat
row-major position in a strided view, and the split of a flat range into parallel tasks. Each compiles into its caller (`inline="always"`), so a
kernel pays nothing for the call.

numba's disk cache checks only a kernel's own source file: after editing this module, delete
the `__pycache__/*.nbi`/`*.nbc` files of backends/ so the kernels that inline it recompile.
"""
from __future__ import annotations

from numba import njit

# Elements per parallel task of the flat (1-D) kernels. A fixed task size, not
# numba.get_num_threads() inside a kernel: that call embeds a pointer to the thread pool, which
# numba cannot cache.
PAR_CHUNK = 1 << 15


@njit(inline="always")
def numel(shape, nd):
    """Product of shape[0:nd] (1 when nd <= 0)."""
    n = 1
    for d in range(nd):
        n *= shape[d]
    return n


@njit(inline="always")
def offset_of(t, shape, strides, off, nd):
    """Buffer offset of flat position t (row-major) over the dims shape[0:nd] of a view that
    starts at `off` with `strides`."""
    p = off
    rem = t + 0  # a new variable: numba rejects an in-place update of an alias of a prange index
    for d in range(nd - 1, -1, -1):
        n = shape[d]
        p += (rem % n) * strides[d]
        rem //= n
    return p


@njit(inline="always")
def n_chunks(n, par):
    """Number of parallel tasks for a flat range of n elements (1 in a serial build)."""
    return (n + PAR_CHUNK - 1) // PAR_CHUNK if par else 1


@njit(inline="always")
def chunk_bounds(n, nch, c):
    """[lo, hi) of task c of nch over range(n): equal steps, the last one short (maybe empty)."""
    step = (n + nch - 1) // nch
    lo = min(n, c * step)
    return lo, min(n, lo + step)


@njit(inline="always")
def dim_offsets(t, shape, s1, o1, s2, o2, s3, o3, dim):
    """Buffer offsets of flat position t (row-major over shape) in three views that start at o1, o2,
    o3, the first with dim's stride left out (gather and scatter: its dim coordinate comes from an
    index). A kernel with two views passes its second twice; the compiler merges the copies."""
    rem = t + 0  # a new variable: numba rejects an in-place update of an alias of a prange index
    for d in range(len(shape) - 1, -1, -1):
        n = shape[d]
        i = rem % n
        rem //= n
        if d != dim:
            o1 += i * s1[d]
        o2 += i * s2[d]
        o3 += i * s3[d]
    return o1, o2, o3
