"""Recycled memory for the numba backend's large buffers.

The numba backend's buffers are numpy arrays. A fresh `np.empty` of several MiB is an mmap
(always above glibc's 32 MiB mmap ceiling; below it, whenever the heap top was trimmed back), so
a call that returns a new large tensor paid its page faults again: 10k faults for a 40 MB result,
and with numpy's huge-page advice on large arrays, compaction stalls that made `exp` of 1e7
float32 take 50 ms instead of 3 (Xeon, 2 threads).

`empty(n, dtype)` hands out large buffers as views of pooled blocks, as the c backend's
`tg_big_alloc` does. A block is free when nothing but the pool refers to it: every array handed
out, and every view of one (numpy's `base` chain ends at the block), holds a reference, so the
block's reference count tells, with no bookkeeping on the way out. Small requests go to
`np.empty` unchanged: malloc recycles those itself.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any

import numpy as np

MIN_BYTES = 8 << 20  # smaller requests: plain np.empty (glibc's heap serves those once its mmap threshold has risen)
CACHE_LIMIT = 256 << 20  # bytes of blocks the pool may own
CACHE_BLOCKS = 8  # blocks per size class

_lock = threading.Lock()
_blocks: dict = {}  # size class (bytes) -> the pool's blocks (uint8 arrays) of that size
_owned = 0  # bytes in _blocks


def _refs_of_a_free_block() -> int:
    """sys.getrefcount of a block nothing else refers to, seen as empty's loop sees it (the list,
    the loop variable, getrefcount's argument: measured in the same shape of code, so an interpreter
    that counts some of these differently gives a matching number)."""
    blocks = [np.empty(1, np.uint8)]
    for block in blocks:
        return sys.getrefcount(block)
    return 0


_FREE_REFS = _refs_of_a_free_block()


def size_class(nbytes: int) -> int:
    """nbytes rounded up to one of 8 steps per power of two (at most 12.5% more)."""
    if nbytes <= 1 << 16:
        return 1 << 16
    step = 1 << (nbytes.bit_length() - 4)
    return (nbytes + step - 1) // step * step


def empty(n: int, dtype: Any) -> np.ndarray:
    """An uninitialized 1-D array of n elements; large ones are views of pooled blocks."""
    dt = np.dtype(dtype)
    nbytes = n * dt.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(n, dt)
    global _owned
    size = size_class(nbytes)
    with _lock:
        blocks = _blocks.setdefault(size, [])
        for block in blocks:
            if sys.getrefcount(block) <= _FREE_REFS:
                return block[:nbytes].view(dt)
        if len(blocks) >= CACHE_BLOCKS or _owned + size > CACHE_LIMIT:
            return np.empty(n, dt)
        block = np.empty(size, np.uint8)
        blocks.append(block)
        _owned += size
        return block[:nbytes].view(dt)


def owned_bytes() -> int:
    """Bytes of blocks the pool owns (in use or free)."""
    return _owned


def release() -> None:
    """Drop the pool's blocks (those still in use live on with their arrays)."""
    global _owned
    with _lock:
        _blocks.clear()
        _owned = 0


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)
