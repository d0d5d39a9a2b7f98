"""Helpers every backend shares: view checks against a buffer, and the offsets of a view's rows.

A backend checks a view against its own buffer with `check_span` (after its own type and dtype
checks), and the fused kernels' operands with `flat_operand` / `rows_operand`, which take the
backend's check as an argument.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from tinygrad_like.dtypes import DType
from tinygrad_like.errors import ShapeError, TensorIndexError
from tinygrad_like.view import View

from .protocol import COMPARE_OPS

COMPARE = frozenset(COMPARE_OPS)
"""The binary ops whose result is bool."""

Check = Callable[[Any, View, DType, str], None]
"""A backend's `check(buf, view, dtype, what)`: raise unless buf holds dtype and view lies in it."""


def check_span(view: View, size: int, backend: str, what: str) -> None:
    """TensorIndexError unless every element of the view lies in a buffer of `size` elements."""
    lo = hi = view.offset  # view.span(), inlined: this runs for every operand of every call
    for n, st in zip(view.shape, view.strides):
        if n == 0:
            return  # no element is touched
        if st > 0:
            hi += (n - 1) * st
        else:
            lo += (n - 1) * st
    if lo < 0 or hi >= size:
        raise TensorIndexError(f"{backend} backend: {what}: view {view} reaches elements {lo}..{hi} "
                               f"outside its buffer of {size}")


def flat_length(view: View, backend: str, what: str) -> int:
    """Element count of a flat `(n,)` stride-1 view, the layout of the fused kernels' flat
    operands; ShapeError otherwise."""
    if len(view.shape) != 1 or (view.strides != (1,) and view.shape[0] > 1):
        raise ShapeError(f"{backend} backend: {what} needs a flat (n,) view with stride 1, got {view}")
    return view.shape[0]


def row_major_shape(view: View, backend: str, what: str) -> tuple:
    """(rows, cols) of a non-empty row-major 2-d view (strides (cols, 1)), the layout of the fused
    kernels' matrix operands; ShapeError otherwise."""
    if len(view.shape) != 2:
        raise ShapeError(f"{backend} backend: {what} needs a 2-d (rows, cols) view, got {view}")
    rows, cols = view.shape
    if view.strides != (cols, 1) or rows < 1 or cols < 1:
        raise ShapeError(f"{backend} backend: {what} needs a row-major (rows, cols) view with strides "
                         f"(cols, 1), got {view}")
    return rows, cols


def flat_operand(check: Check, backend: str, buf: Any, view: View, dtype: DType, what: str) -> int:
    """Element count of a flat (n,) stride-1 view inside `buf` (a fused kernel's flat operand)."""
    n = flat_length(view, backend, what)
    check(buf, view, dtype, what)
    return n


def rows_operand(check: Check, backend: str, buf: Any, view: View, dtype: DType, what: str) -> tuple:
    """(rows, cols) of a row-major 2-d view inside `buf` (a fused kernel's matrix operand)."""
    rows, cols = row_major_shape(view, backend, what)
    check(buf, view, dtype, what)
    return rows, cols


def bases(shape: Sequence[int], strides: Sequence[int], offset: int) -> list[int]:
    """Buffer offsets of every index of (shape, strides), row-major."""
    out = [offset]
    for n, s in zip(shape, strides):
        out = [b + k * s for b in out for k in range(n)]
    return out
