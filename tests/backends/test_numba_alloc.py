"""The numba backend's pool of large buffers (backends/numba_alloc.py): a block is handed out again
only when no array that sees its memory is left, and the pool stays within its limits."""
from __future__ import annotations

import gc
import os
import threading

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_like as tg
from tinygrad_like.backends import numba_alloc as alloc

BACKEND = "numba"
BIG = alloc.MIN_BYTES // 4 + 1000  # float32 elements: just above the smallest request the pool takes


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def _empty_pool():
    gc.collect()
    alloc.release()
    yield
    gc.collect()
    alloc.release()


@given(st.integers(1, 1 << 40))
def test_size_class_covers_the_request_within_an_eighth(nbytes):
    size = alloc.size_class(nbytes)
    assert size >= nbytes
    assert size <= max(1 << 16, nbytes * 9 // 8 + 1)
    assert alloc.size_class(size) == size


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_large_buffers_are_plain_writable_arrays(dtype):
    n = alloc.MIN_BYTES // np.dtype(dtype).itemsize + 3
    a = alloc.empty(n, dtype)
    assert a.shape == (n,) and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
    a[:] = 7
    assert int(a[-1]) == 7


def test_small_requests_bypass_the_pool():
    a = alloc.empty(16, np.float32)
    assert a.base is None  # np.empty's own array
    assert alloc.owned_bytes() == 0


def test_a_freed_block_is_reused():
    a = alloc.empty(BIG, np.float32)
    where = _address(a)
    del a
    b = alloc.empty(BIG, np.float32)
    assert _address(b) == where
    c = alloc.empty(BIG, np.float32)  # while b lives: another block
    assert _address(c) != where
    assert alloc.owned_bytes() == 2 * alloc.size_class(BIG * 4)


def test_a_view_that_outlives_its_array_keeps_the_block():
    a = alloc.empty(BIG, np.float32)
    a[:] = 1.0
    v = a[10:20]
    where = _address(a)
    del a
    gc.collect()
    b = alloc.empty(BIG, np.float32)
    assert _address(b) != where  # the block is still seen through v
    b[:] = 2.0
    assert np.all(v == 1.0)
    del v, b
    assert _address(alloc.empty(BIG, np.float32)) == where  # free again once the view is gone


def test_a_tensor_read_through_numpy_keeps_its_values():
    x = tg.from_numpy(np.arange(BIG, dtype=np.float32)).to("numba")
    y = (x + 1).numpy()
    del x
    gc.collect()
    z = tg.from_numpy(np.zeros(BIG, np.float32)).to("numba") * 3  # takes whatever block is free
    assert y[0] == 1.0 and y[-1] == BIG
    assert float(z.sum().item()) == 0.0


def test_the_pool_stays_within_its_limits():
    n = alloc.MIN_BYTES // 4
    arrays = [alloc.empty(n, np.float32) for _ in range(alloc.CACHE_BLOCKS + 5)]
    assert alloc.owned_bytes() == alloc.CACHE_BLOCKS * alloc.size_class(n * 4)
    assert all(a.base is None for a in arrays[alloc.CACHE_BLOCKS:])  # past the blocks of a class: np.empty
    assert len({_address(a) for a in arrays}) == len(arrays)
    big = alloc.empty((alloc.CACHE_LIMIT + 1) // 4 + 1, np.float32)  # above the whole limit
    assert big.base is None and alloc.owned_bytes() <= alloc.CACHE_LIMIT


def test_two_threads_lease_and_return_blocks():
    errors = []

    def work(value: float) -> None:
        try:
            for _ in range(200):
                a = alloc.empty(BIG, np.float32)
                a[:] = value
                if not (a[0] == value and a[-1] == value):
                    errors.append("a block was shared while in use")
                del a
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=work, args=(v,)) for v in (1.0, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_allocates():
    a = alloc.empty(BIG, np.float32)
    del a
    pid = os.fork()
    if pid == 0:  # the child: the pool works and its lock is free
        code = 1
        try:
            b = alloc.empty(BIG, np.float32)
            b[:] = 3.0
            code = 0 if b[-1] == 3.0 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
