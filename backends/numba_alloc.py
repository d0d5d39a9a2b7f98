"""Recycled memory for the numba backend's large buffers.

The numba backend's buffers are numpy arrays. A fresh `np.empty` of a few hundred KiB or more is
an mmap (glibc's threshold starts at 128 KiB and moves with the process's history), so every
call that returns a new large tensor paid its page faults again: 10k faults for a 40 MB result,
and with numpy's huge-page advice on large arrays, compaction stalls that made `exp` of 1e7
float32 take 50 ms instead of 3 (Xeon, 2 threads). The same kernels also ran at different speeds
in a fresh process and in one whose earlier frees had raised glibc's threshold.

`empty(n, dtype)` hands out large buffers from a pool, as the c backend's `tg_big_alloc` does.
Each buffer is leased: the caller gets an array whose data is a pooled block and whose `base`
is a small lease object, so every view of it keeps the lease alive (numpy's base chain), and
when the last one dies the lease's weakref callback puts the block back. Small requests go to
`np.empty` unchanged: malloc recycles those itself.
"""
from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import numpy as np

MIN_BYTES = 1 << 17  # smaller requests: plain np.empty
CACHE_LIMIT = 256 << 20  # bytes of free blocks kept for reuse; beyond it a returned block is freed
CACHE_BLOCKS = 8  # free blocks kept per size class

_lock = threading.Lock()
_free: dict = {}  # size class (bytes) -> free blocks (uint8 arrays) of that size
_cached = 0  # bytes in _free
_leases: dict = {}  # id(weakref) -> weakref, keeping each lease's callback alive


class _Lease:
    """The `base` of a leased array: holds the pooled block while any view of it lives."""
    __slots__ = ("__array_interface__", "block", "__weakref__")


def size_class(nbytes: int) -> int:
    """nbytes rounded up to one of 8 steps per power of two (at most 12.5% more)."""
    if nbytes <= 1 << 16:
        return 1 << 16
    step = 1 << (nbytes.bit_length() - 4)
    return (nbytes + step - 1) // step * step


def empty(n: int, dtype: Any) -> np.ndarray:
    """An uninitialized 1-D array of n elements; large ones come from the pool."""
    dt = np.dtype(dtype)
    nbytes = n * dt.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(n, dt)
    global _cached
    size = size_class(nbytes)
    block = None
    with _lock:
        free = _free.get(size)
        if free:
            block = free.pop()
            _cached -= size
    if block is None:
        block = np.empty(size, np.uint8)
    lease = _Lease()
    lease.block = block
    lease.__array_interface__ = {"shape": (n,), "typestr": dt.str, "version": 3,
                                 "data": (block.__array_interface__["data"][0], False)}
    arr = np.asarray(lease)
    ref = weakref.ref(lease, _returned(block, size))
    _leases[id(ref)] = ref
    return arr


def _returned(block: np.ndarray, size: int) -> Any:
    def give_back(ref: weakref.ref) -> None:
        global _cached
        _leases.pop(id(ref), None)
        with _lock:
            free = _free.setdefault(size, [])
            if len(free) < CACHE_BLOCKS and _cached + size <= CACHE_LIMIT:
                free.append(block)
                _cached += size
    return give_back


def cached_bytes() -> int:
    """Bytes of free blocks the pool holds."""
    return _cached


def release() -> None:
    """Free every pooled block that is not in use."""
    global _cached
    with _lock:
        _free.clear()
        _cached = 0


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)
