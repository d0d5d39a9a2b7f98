"""The numba backend's scatter (assign/max/min), scan (cumsum/cumprod) and sort kernels.

Rows along the last dim are located by their flat row number (`_row`), so a view of any
strides arrives without a copy. Sorting uses numpy's stable merge sort as numba compiles it
(NaN last); a descending stable sort sorts the reversed row and reverses the order back.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .numba_index import dim_offsets, numel


@njit(cache=True, error_model="numpy")
def scatter(op, dst, doff, dstrides, index, ioff, istrides, src, soff, sstrides, shape, dim):
    """dst[p with p[dim] := index[p]] = src[p] (op 0), or its max (1) / min (2) with it (NaN
    propagates); serial and row-major, so the last of repeated indices wins an assign."""
    sd = dstrides[dim]
    for t in range(numel(shape, len(shape))):
        pd, pi, ps = dim_offsets(t, shape, dstrides, doff, istrides, ioff, sstrides, soff, dim)
        q = pd + index[pi] * sd
        v = src[ps]
        if op == 0:
            dst[q] = v
        else:
            cur = dst[q]
            if v != v or (cur == cur and ((op == 1 and v > cur) or (op == 2 and v < cur))):
                dst[q] = v


@njit(inline="always")
def _row(rr, shape, strides, off):
    """Row rr of the kept dims (all but the last) as an int64, and its buffer offset.

    A prange index may be unsigned: int64 keeps the callers' index arithmetic integral."""
    r = np.int64(rr)
    o = off
    rem = r
    for d in range(len(shape) - 2, -1, -1):
        n = shape[d]
        o += (rem % n) * strides[d]
        rem //= n
    return r, o


def make_scan(prod: bool, par: bool, is_float: bool):
    """out[row, j] = sum (or product) of x[row, :j+1]; floats accumulate in float64, int64 wraps."""
    start = (np.float64 if is_float else np.int64)(1 if prod else 0)  # its type is the accumulator's

    @njit(cache=True, parallel=par, error_model="numpy")
    def k(x, off, shape, strides, out):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        n = shape[len(shape) - 1]
        s = strides[len(shape) - 1]
        rows = out.size // n
        for rr in prange(rows):
            r, b = _row(rr, shape, strides, off)
            acc = start
            for j in range(n):
                if prod:
                    acc *= x[b + j * s]
                else:
                    acc += x[b + j * s]
                out[r * n + j] = acc
    return k


def make_sort(par: bool):
    """The first k of each row's stable sort (values, indices), rows of k in the outputs."""
    @njit(cache=True, parallel=par)
    def k(x, off, shape, strides, desc, kk, vals, idx):
        par
        n = shape[len(shape) - 1]
        s = strides[len(shape) - 1]
        rows = vals.size // kk
        for rr in prange(rows):
            r, b = _row(rr, shape, strides, off)
            row = np.empty(n, x.dtype)
            for j in range(n):
                # descending: sort the reversed row ascending, then read the order backwards,
                # which keeps equal values in their original order and puts NaN first
                row[j] = x[b + (n - 1 - j) * s] if desc else x[b + j * s]
            order = np.argsort(row, kind="mergesort")
            for j in range(kk):
                o = (n - 1 - order[n - 1 - j]) if desc else order[j]
                idx[r * kk + j] = o
                vals[r * kk + j] = x[b + o * s]
    return k
