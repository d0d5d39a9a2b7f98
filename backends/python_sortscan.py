"""The python backend's scatter (assign/max/min), scan (cumsum/cumprod) and sort kernels.

Plain loops over the views' elements, written for reading; the methods of `PythonBackend`
with these names call them.
"""
from __future__ import annotations

from array import array
from typing import Any, Sequence

from tinygrad_like.dtypes import DType, int64
from tinygrad_like.view import View

from .common import bases

_I64 = 1 << 63


def _values(buf: array, view: View) -> list:
    return [buf[p] for p in bases(view.shape, view.strides, view.offset)]


def _wrap64(v: int) -> int:
    """An int reduced to int64's range the way the C and numba kernels wrap."""
    return ((v + _I64) % (1 << 64)) - _I64


def _is_nan(v: Any) -> bool:
    return v != v


def scatter(op: str, dst: array, dst_view: View, index: array, index_view: View,
            src: array, src_view: View, dim: int) -> None:
    """dst[p with p[dim] := index[p]] = src[p] (or its max/min with it), row-major order."""
    sd = dst_view.strides[dim]
    strides = dst_view.strides[:dim] + (0,) + dst_view.strides[dim + 1:]
    targets = [p + i * sd for p, i in zip(bases(index_view.shape, strides, dst_view.offset), _values(index, index_view))]
    for t, v in zip(targets, _values(src, src_view)):
        if op == "assign":
            dst[t] = v
        else:
            cur = dst[t]
            better = v > cur if op == "max" else v < cur
            if _is_nan(v) or (not _is_nan(cur) and better):
                dst[t] = v


def scan(op: str, x: array, view: View, dtype: DType) -> array:
    """Inclusive sum/product along the last dim of the view (float32 accumulates in float64)."""
    n, s = view.shape[-1], view.strides[-1]
    out: list = []
    for b in bases(view.shape[:-1], view.strides[:-1], view.offset):
        acc = 1 if op == "prod" else 0
        for j in range(n):
            v = x[b + j * s]
            acc = acc * v if op == "prod" else acc + v
            if dtype is int64:
                acc = _wrap64(acc)
            out.append(acc)
    return array(dtype.typecode, out)


def _key(v: Any) -> tuple:
    """Sort key: NaN after every number; -0.0 equals 0.0 (as the comparison says)."""
    return (1, 0.0) if v != v else (0, v)


def sort(x: array, view: View, dtype: DType, descending: bool, k: int) -> tuple:
    """(values, int64 indices) of the first k of each row sorted along the last dim, stable."""
    n, s = view.shape[-1], view.strides[-1]
    vals: list = []
    idx: list = []
    for b in bases(view.shape[:-1], view.strides[:-1], view.offset):
        row = [x[b + j * s] for j in range(n)]
        keys = [_key(v) for v in row]
        # sorted() is stable, also with reverse=True (equal keys keep their order)
        order = sorted(range(n), key=keys.__getitem__, reverse=descending)[:k]
        idx.extend(order)
        vals.extend(row[j] for j in order)
    return array(dtype.typecode, vals), array(int64.typecode, idx)
