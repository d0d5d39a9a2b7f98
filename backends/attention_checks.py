"""Operand checks of the fused attention kernels (`sdpa`, `sdpa_backward`), shared by the backends.

Every operand is a 4-d (B, H, rows, features) view with unit feature stride (any other strides);
every result view the caller picks is a dense ordering of its shape at offset 0 with unit feature
stride, so a kernel writes `n` elements of a fresh buffer through it.
"""
from __future__ import annotations

from typing import Any

from tinygrad_like.dtypes import DType
from tinygrad_like.errors import ShapeError
from tinygrad_like.view import View, is_dense_permuted, prod

from .common import ViewChecks


def _operand(checks: ViewChecks, buf: Any, view: View, dtype: DType, what: str) -> tuple:
    checks.view(buf, view, dtype, what)
    if len(view.shape) != 4 or (view.strides[3] != 1 and view.shape[3] > 1):
        raise ShapeError(f"{checks.backend} backend: {what} needs a 4-d (B, H, rows, features) view with unit "
                         f"feature stride, got {view}")
    return view.shape


def result_size(backend: str, view: View, shape: tuple, what: str) -> int:
    """The element count of a result view of `shape` (dense, offset 0, unit feature stride)."""
    if (tuple(view.shape) != tuple(shape) or view.offset != 0 or any(st < 0 for st in view.strides)
            or not is_dense_permuted(view.shape, view.strides)
            or (view.strides[3] != 1 and shape[3] > 1)):
        raise ShapeError(f"{backend} backend: {what} result view {view} is not a dense ordering of shape {shape} "
                         f"with unit feature stride")
    return prod(shape)


def sdpa_shapes(checks: ViewChecks, q: Any, q_view: View, k: Any, k_view: View, v: Any, v_view: View,
                dtype: DType, what: str) -> tuple:
    """(B, H, L, S, E, Ev) of attention operands q (B, H, L, E), k (B, H, S, E), v (B, H, S, Ev)."""
    B, H, L, E = _operand(checks, q, q_view, dtype, f"{what} query")
    kb, kh, S, ke = _operand(checks, k, k_view, dtype, f"{what} key")
    vb, vh, vs, Ev = _operand(checks, v, v_view, dtype, f"{what} value")
    if (kb, kh, ke) != (B, H, E) or (vb, vh, vs) != (B, H, S):
        raise ShapeError(f"{checks.backend} backend: {what}: query {q_view.shape}, key {k_view.shape} and value "
                         f"{v_view.shape} do not fit (B, H, L, E), (B, H, S, E), (B, H, S, Ev)")
    if not B * H * L * S:
        raise ShapeError(f"{checks.backend} backend: {what} needs at least one query and one key, got query "
                         f"{q_view.shape}, key {k_view.shape}")
    return B, H, L, S, E, Ev


def sdpa_backward_shapes(checks: ViewChecks, g: Any, g_view: View, q: Any, q_view: View, k: Any, k_view: View,
                         v: Any, v_view: View, o: Any, o_view: View, lse: Any, lse_view: View,
                         dtype: DType) -> tuple:
    """(B, H, L, S, E, Ev) of the backward's operands; g and out are (B, H, L, Ev), lse a contiguous
    (B, H, L) view."""
    B, H, L, S, E, Ev = sdpa_shapes(checks, q, q_view, k, k_view, v, v_view, dtype, "sdpa_backward")
    for buf, view, what in ((g, g_view, "grad"), (o, o_view, "out")):
        if _operand(checks, buf, view, dtype, f"sdpa_backward {what}") != (B, H, L, Ev):
            raise ShapeError(f"{checks.backend} backend: sdpa_backward: {what} view {view} is not (B, H, L, Ev) = "
                             f"{(B, H, L, Ev)}")
    checks.view(lse, lse_view, dtype, "sdpa_backward lse")
    if tuple(lse_view.shape) != (B, H, L) or not lse_view.is_contiguous():
        raise ShapeError(f"{checks.backend} backend: sdpa_backward: lse view {lse_view} is not a contiguous "
                         f"{(B, H, L)}")
    return B, H, L, S, E, Ev


def bhr(view: View) -> list:
    """[offset, batch stride, head stride, row stride] of a 4-d view (the kernels' operand geometry)."""
    return [view.offset, view.strides[0], view.strides[1], view.strides[2]]
