"""Helpers every backend shares: view checks against a buffer, and the offsets of a view's rows.

A backend checks its operands through a `ViewChecks` made with its own buffer check (type and
dtype): `view` for any operand, `flat` and `rows` for the fused kernels' flat and row-major ones.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from tinygrad_like.dtypes import DType
from tinygrad_like.errors import BackendError, ShapeError, TensorIndexError
from tinygrad_like.view import View

from .protocol import COMPARE_OPS

COMPARE = frozenset(COMPARE_OPS)
"""The binary ops whose result is bool."""

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


class ViewChecks:
    """A backend's operand checks: its own `buffer_check(buf, view, dtype, what) -> size` (buffer
    type, dtype, anything else it needs) followed by the shared span check."""

    def __init__(self, backend: str, buffer_check: Callable[[Any, View, DType, str], int]):
        self.backend = backend
        self.buffer_check = buffer_check

    def view(self, buf: Any, view: View, dtype: DType, what: str) -> None:
        """Raise unless buf holds dtype and every element of the view lies inside it."""
        check_span(view, self.buffer_check(buf, view, dtype, what), self.backend, what)

    def flat(self, buf: Any, view: View, dtype: DType, what: str) -> int:
        """Element count of a flat (n,) stride-1 view inside `buf` (a fused kernel's flat operand)."""
        n = flat_length(view, self.backend, what)
        self.view(buf, view, dtype, what)
        return n

    def adam_operands(self, p: Any, p_view: View, others: tuple, step: Any, step_view: View, dtype: DType,
                      step_dtype: DType) -> int:
        """Element count of an `adam_step`'s flat operands: param p, then (buffer, view, name) of the
        gradient and both moments, all of one size in four distinct buffers, and a one-element
        step count of step_dtype."""
        n = self.flat(p, p_view, dtype, "adam_step")
        for buf, view, what in others:
            if self.flat(buf, view, dtype, f"adam_step {what}") != n:
                raise ShapeError(f"{self.backend} backend: adam_step: {what} view {view} differs in size from "
                                 f"param view {p_view}")
        self.view(step, step_view, step_dtype, "adam_step step")
        if step_view.numel() != 1:
            raise ShapeError(f"{self.backend} backend: adam_step: the step count must be one element, got {step_view}")
        if len({id(p)} | {id(buf) for buf, _, _ in others}) != 1 + len(others):
            raise BackendError(f"{self.backend} backend: adam_step: param, grad, exp_avg and exp_avg_sq must be "
                               f"distinct buffers")
        return n

    def rows(self, buf: Any, view: View, dtype: DType, what: str) -> tuple:
        """(rows, cols) of a row-major 2-d view inside `buf` (a fused kernel's matrix operand)."""
        rows, cols = row_major_shape(view, self.backend, what)
        self.view(buf, view, dtype, what)
        return rows, cols


def bases(shape: Sequence[int], strides: Sequence[int], offset: int) -> list[int]:
    """Buffer offsets of every index of (shape, strides), row-major."""
    out = [offset]
    for n, s in zip(shape, strides):
        out = [b + k * s for b in out for k in range(n)]
    return out


def first_dim_disjoint(view: View) -> bool:
    """True when the sub-views view[i] for different i touch no common element (dim 0 of an
    `add_into` destination can then be split across threads): the stride of dim 0 exceeds the
    span of the remaining dims."""
    if len(view.shape) < 2 or view.shape[0] < 2:
        return False
    rest = sum((n - 1) * abs(s) for n, s in zip(view.shape[1:], view.strides[1:]))
    return abs(view.strides[0]) > rest
