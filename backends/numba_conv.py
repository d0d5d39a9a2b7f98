"""The numba backend's `add_into` kernel: dst[dst view] += src[src view] where the destination
view may overlap itself (the sum of sliding windows, the backward of convolution and pooling).

The serial kernel walks the views in row-major order, so contributions to one element add up
one after another. The parallel build splits dim 0 across threads; the caller takes it only when
dim 0's sub-views are disjoint in the destination (protocol.first_dim_disjoint).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _add_rows(dst, doff, dstrides, src, soff, sstrides, shape, lo):
    """The serial walk over dims lo.. of shape (an odometer over all but the last dim)."""
    nd = shape.size
    n = shape[nd - 1]
    ds = dstrides[nd - 1]
    ss = sstrides[nd - 1]
    rows = 1
    for d in range(lo, nd - 1):
        rows *= shape[d]
    idx = np.zeros(nd, np.int64)
    pd = doff
    ps = soff
    for _ in range(rows):
        if ds == 1 and ss == 1:
            for i in range(n):
                dst[pd + i] += src[ps + i]
        else:
            for i in range(n):
                dst[pd + i * ds] += src[ps + i * ss]
        for d in range(nd - 2, lo - 1, -1):
            idx[d] += 1
            pd += dstrides[d]
            ps += sstrides[d]
            if idx[d] < shape[d]:
                break
            pd -= shape[d] * dstrides[d]
            ps -= shape[d] * sstrides[d]
            idx[d] = 0


@njit(cache=True)
def add_into(dst, doff, dstrides, src, soff, sstrides, shape):
    """Serial: every element of the view shape, in row-major order."""
    _add_rows(dst, doff, dstrides, src, soff, sstrides, shape, 0)


@njit(cache=True, parallel=True)
def add_into_par(dst, doff, dstrides, src, soff, sstrides, shape):
    """Dim 0 split across threads (its sub-views must not overlap in dst); serial within each."""
    for i in prange(shape[0]):
        _add_rows(dst, doff + i * dstrides[0], dstrides, src, soff + i * sstrides[0], sstrides, shape, 1)
