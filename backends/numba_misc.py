"""Indexing (gather, scatter_add) and counter-based random kernels for the numba backend.

The random kernels reproduce protocol.splitmix64_word bit for bit: all word arithmetic is in
uint64 (wrapping like `mod 2**64`), and Box-Muller uses the same libm log/cos in float64 with
no fastmath, so the python backend and this one give identical numbers for one seed.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .numba_index import dim_offsets, numel

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_S11, _S40 = np.uint64(11), np.uint64(40)
_ONE = np.uint64(1)
_TWO_PI = 2.0 * math.pi
_P53 = 2.0 ** -53
_P24 = 2.0 ** -24


@njit(inline="always")
def _mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always")
def _word(key, j):
    return _mix64(key + (j + _ONE) * _GAMMA)


def make_random(normal: bool, single: bool, par: bool):
    """out[i] = draw i of the stream (key, counter); `single` for float32's 24-bit uniforms."""
    @njit(cache=True, parallel=par)
    def k(out, key, counter):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        for i in prange(out.size):
            if normal:
                j = counter + np.uint64(2 * i)
                u1 = ((_word(key, j) >> _S11) + _ONE) * _P53
                u2 = (_word(key, j + _ONE) >> _S11) * _P53
                out[i] = math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)
            elif single:
                out[i] = (_word(key, counter + np.uint64(i)) >> _S40) * _P24
            else:
                out[i] = (_word(key, counter + np.uint64(i)) >> _S11) * _P53
    return k


@njit(cache=True, error_model="numpy")
def gather(x, xoff, xstrides, index, ioff, istrides, shape, dim, out):
    """out[p] = x[p with p[dim] := index[p]] for every p of shape (row-major): the offsets of each
    row's start are computed once, then stepped along the last dim."""
    nd = len(shape)
    inner = shape[nd - 1]
    if out.size == 0:
        return
    sd = xstrides[dim]
    sx = 0 if dim == nd - 1 else xstrides[nd - 1]  # along dim, the index gives the coordinate
    si = istrides[nd - 1]
    for row in range(out.size // inner):
        t = row * inner
        px, pi, _ = dim_offsets(t, shape, xstrides, xoff, istrides, ioff, istrides, ioff, dim)
        for j in range(inner):
            out[t + j] = x[px + j * sx + index[pi + j * si] * sd]


@njit(cache=True, error_model="numpy")
def scatter_add(dst, doff, dstrides, index, ioff, istrides, src, soff, sstrides, shape, dim):
    """dst[p with p[dim] := index[p]] += src[p]; serial and row-major, so repeated indices
    accumulate in order."""
    nd = len(shape)
    inner = shape[nd - 1]
    total = numel(shape, nd)
    if total == 0:
        return
    sd = dstrides[dim]
    sdl = 0 if dim == nd - 1 else dstrides[nd - 1]
    si, ss = istrides[nd - 1], sstrides[nd - 1]
    for row in range(total // inner):
        pd, pi, ps = dim_offsets(row * inner, shape, dstrides, doff, istrides, ioff, sstrides, soff, dim)
        for j in range(inner):
            dst[pd + j * sdl + index[pi + j * si] * sd] += src[ps + j * ss]
