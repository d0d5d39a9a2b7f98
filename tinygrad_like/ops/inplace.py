"""In-place ops: add_, mul_, copy_, fill_, ... (what optimizers and initializers use).

They write into the tensor's own buffer and record no graph, so they are refused on a leaf
that requires grad while grad mode is on (wrap the update in `tg.no_grad()`, as optimizers do).
"""
from __future__ import annotations

from typing import Any

from .. import dispatch
from .. import dtypes as _dt
from ..autograd import grad_mode
from ..dispatch import as_number, result_dtype, same_backend
from ..errors import AutogradError, DTypeError, ShapeError
from ..view import broadcast_shapes


def check_inplace(x: Any) -> None:
    """Refuse an in-place write that autograd could not follow, or that would race with itself."""
    if grad_mode.enabled and x.requires_grad and x._node is None:
        raise AutogradError("a leaf Variable that requires grad is being used in an in-place operation; "
                            "wrap it in tg.no_grad()")
    dispatch.check_no_internal_overlap(x._view, "in-place operation")


def binary_(x: Any, op: str, other: Any) -> Any:
    """x = x op other in place, refusing a result dtype x cannot hold (as PyTorch does)."""
    check_inplace(x)
    is_t = dispatch.is_tensor(other)
    src = other if is_t else dispatch.scalar(as_number(other), x.dtype, x._be)
    same_backend(f"in-place {op}", x, src)
    res_dt = result_dtype(x, src) if is_t else _dt.promote_with_scalar(x.dtype, as_number(other))
    if res_dt.category > x.dtype.category or (op == "div" and not x.dtype.is_float):
        # never silently truncate, e.g. int64_tensor.mul_(2.5)
        raise DTypeError(f"in-place {op}: result type {'float' if op == 'div' else res_dt.name} can't be cast "
                         f"to the tensor's dtype {x.dtype.name}")
    if src.dtype is not x.dtype:
        src = src.to(x.dtype)
    if src._buf is x._buf:
        src = dispatch.copy(src, src.dtype)  # the kernel writes x while reading src: never let them overlap
    if broadcast_shapes(x.shape, src.shape) != x.shape:
        raise ShapeError(f"in-place {op}: output shape {x.shape} does not match the broadcast shape "
                         f"{broadcast_shapes(x.shape, src.shape)}")
    dispatch.binary_inplace(op, x, src)
    return x


def add_(x: Any, other: Any, alpha: Any = 1) -> Any:
    if alpha != 1 and dispatch.is_tensor(other):  # p.add_(g, alpha=-lr): one fused pass, no temporary
        check_inplace(x)
        if dispatch.fused_axpy_(x, other, alpha):
            return x
        return binary_(x, "add", other * alpha)
    return binary_(x, "add", other if alpha == 1 else other * alpha)


def sub_(x: Any, other: Any, alpha: Any = 1) -> Any:
    if alpha != 1 and dispatch.is_tensor(other):
        return add_(x, other, -alpha)
    return binary_(x, "sub", other if alpha == 1 else other * alpha)


def clamp_(x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002  (PyTorch's names)
    if min is not None:
        binary_(x, "maximum", min)
    if max is not None:
        binary_(x, "minimum", max)
    return x


def copy_(x: Any, src: Any) -> Any:
    check_inplace(x)
    if src._be is not x._be:
        src = src.to(x._be.name)
    dispatch.assign(x._buf, x._view, src.to(x.dtype).expand(x.shape))
    return x


def fill_(x: Any, value: Any) -> Any:
    if dispatch.is_tensor(value):
        if value.numel() != 1:
            raise ShapeError(f"fill_ only supports a 0-dimension value tensor, got shape {value.shape}")
        value = value.item()
    return copy_(x, dispatch.scalar(as_number(value), x.dtype, x._be))
