"""In-place ops: add_, mul_, copy_, fill_, ... (what optimizers and initializers use).

Every in-place write bumps the storage's version counter, so a backward rule that saved the
old values refuses to run on the new ones. Autograd follows in-place ops as PyTorch does:
- on a leaf that requires grad they are refused while grad mode is on (optimizers update
  parameters under `tg.no_grad()`);
- on a tensor with history (or with an operand that requires grad) the tensor is *rebased*:
  the op is recorded out of place on its current value, the result is written into its
  storage, and the tensor takes the new node, so `y = x * 2; y.mul_(3)` gives dy/dx = 6;
- a view and its base share one storage: after an in-place op through one of them, the
  other's history no longer describes its values, and using it in a graph is refused.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from .. import dispatch, fused_kernels
from .. import dtypes as _dt
from ..autograd import grad_mode
from ..dispatch import as_number, result_dtype, same_backend
from ..errors import AutogradError, DTypeError, ShapeError
from ..view import broadcast_shapes
from .elementwise import where
from .movement import clone

_KEEP_OLD_VALUE = {"mul", "div", "maximum", "minimum", "pow"}
"""Ops whose backward reads the tensor's value from before the write (it is cloned first)."""


def inplace_form(out_of_place: Callable) -> Callable:
    """Decorator for an in-place op f(x, *args) that has a differentiable out-of-place form: when
    autograd must follow the write (x has history, or a tensor argument requires grad), the
    out-of-place form is recorded and its result written into x (`rebase`); otherwise f runs and
    x's version is bumped."""
    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def op(x: Any, *args: Any, **kwargs: Any) -> Any:
            check_inplace(x)
            tensors = [a for a in (*args, *kwargs.values()) if dispatch.is_tensor(a)]
            if _tracked(x, *tensors):
                return rebase(x, lambda old: out_of_place(old, *args, **kwargs), keep_old=True)
            out = f(x, *args, **kwargs)
            bump(x)
            return out
        return op
    return decorate


def bump(x: Any) -> None:
    """Mark x's storage as written in place; x's own history still describes x (its node is
    kept up to date), while other views of the storage become stale for autograd."""
    x._vc[0] += 1
    if x._node is not None:
        x._node.version = x._vc[0]


def check_inplace(x: Any) -> None:
    """Refuse an in-place write that autograd could not follow, or that would race with itself."""
    if grad_mode.enabled and x.requires_grad and x._node is None:
        raise AutogradError("a leaf Variable that requires grad is being used in an in-place operation; "
                            "wrap it in tg.no_grad()")
    dispatch.check_no_internal_overlap(x._view, "in-place operation")


def _tracked(x: Any, *others: Any) -> bool:
    """True when autograd must follow an in-place write into x."""
    if not grad_mode.enabled:  # the optimizers' case: decided with one attribute read
        return False
    if x.requires_grad:
        return True
    for o in others:
        if o.requires_grad:
            return True
    return False


def rebase(x: Any, compute: Callable[[Any], Any], keep_old: bool) -> Any:
    """Record `compute(old x)` out of place, write the result into x's storage and give x its node."""
    old = clone(x) if keep_old else x  # the values the backward rule reads, safe from the write below
    result = compute(old)
    dispatch.assign(x._buf, x._view, result.detach().to(x.dtype).expand(x.shape))
    x._node, x.requires_grad = result._node, result.requires_grad
    bump(x)
    return x


def binary_(x: Any, op: str, other: Any) -> Any:
    """x = x op other in place, refusing a result dtype x cannot hold (as PyTorch does)."""
    check_inplace(x)
    is_t = dispatch.is_tensor(other)
    if is_t:
        same_backend(f"in-place {op}", x, other)
    res_dt = (x.dtype if other.dtype is x.dtype else result_dtype(x, other)) if is_t else \
        _dt.promote_with_scalar(x.dtype, as_number(other))
    if res_dt.category > x.dtype.category or (op == "div" and not x.dtype.is_float):
        # never silently truncate, e.g. int64_tensor.mul_(2.5)
        raise DTypeError(f"in-place {op}: result type {'float' if op == 'div' else res_dt.name} can't be cast "
                         f"to the tensor's dtype {x.dtype.name}")
    src = other if is_t else dispatch.scalar(_dt.operand_scalar(as_number(other), x.dtype), x.dtype, x._be)
    if src._view.shape and src._view.shape != x._view.shape and broadcast_shapes(x.shape, src.shape) != x.shape:
        raise ShapeError(f"in-place {op}: output shape {x.shape} does not match the broadcast shape "
                         f"{broadcast_shapes(x.shape, src.shape)}")
    if _tracked(x, src):
        fn = _OUT_OF_PLACE[op]
        return rebase(x, lambda old: fn(old, src), keep_old=op in _KEEP_OLD_VALUE)
    if src.dtype is not x.dtype:
        src = src.to(x.dtype)
    if src._buf is x._buf:
        src = dispatch.copy(src, src.dtype)  # the kernel writes x while reading src: never let them overlap
    dispatch.binary_inplace(op, x, src)
    bump(x)
    return x


_OUT_OF_PLACE = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
                 "div": lambda a, b: a / b, "maximum": lambda a, b: a.maximum(b), "minimum": lambda a, b: a.minimum(b)}


def add_(x: Any, other: Any, alpha: Any = 1) -> Any:
    if alpha != 1 and dispatch.is_tensor(other) and not _tracked(x, other):
        check_inplace(x)  # p.add_(g, alpha=-lr): one fused pass, no temporary
        if fused_kernels.fused_axpy_(x, other, alpha):
            bump(x)
            return x
    return binary_(x, "add", other if alpha == 1 else other * alpha)


def sub_(x: Any, other: Any, alpha: Any = 1) -> Any:
    if alpha != 1 and dispatch.is_tensor(other):
        return add_(x, other, -alpha)
    return binary_(x, "sub", other if alpha == 1 else other * alpha)


def clamp_(x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002  (PyTorch's names)
    if _tracked(x):
        check_inplace(x)
        return rebase(x, lambda old: old.clamp(min, max), keep_old=False)
    if min is not None:
        binary_(x, "maximum", min)
    if max is not None:
        binary_(x, "minimum", max)
    return x


def copy_(x: Any, src: Any) -> Any:
    check_inplace(x)
    if src._be is not x._be:
        src = src.to(x._be.name)
    if _tracked(x, src):  # the gradient goes to src (cast and summed back to its shape); zero to the old x
        everywhere = dispatch.full(x.shape, True, _dt.bool_, x._be)
        return rebase(x, lambda old: where(everywhere, src.to(x.dtype), old), keep_old=False)
    dispatch.assign(x._buf, x._view, src.to(x.dtype).expand(x.shape))
    bump(x)
    return x


def fill_(x: Any, value: Any) -> Any:
    if dispatch.is_tensor(value):
        if value.numel() != 1:
            raise ShapeError(f"fill_ only supports a 0-dimension value tensor, got shape {value.shape}")
        if _tracked(x, value):
            return copy_(x, value.reshape(()))
        value = value.item()
    return copy_(x, dispatch.scalar(as_number(value), x.dtype, x._be))


def adam_step_(p: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: Any, lr: float, betas: tuple, eps: float,
               weight_decay: float, decoupled: bool, maximize: bool) -> bool:
    """Adam's (AdamW's when decoupled) update of p and its moments, and step += 1, in one fused
    pass where the backend has one (see backends/protocol.py, `adam_step`); False (nothing done)
    otherwise, and the optimizer composes the update from tensor ops. Never followed by autograd."""
    if _tracked(p, grad, exp_avg, exp_avg_sq, step):
        return False
    for t in (p, exp_avg, exp_avg_sq, step):
        check_inplace(t)
    if not fused_kernels.fused_adam_step_(p, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay,
                                     decoupled, maximize):
        return False
    for t in (p, exp_avg, exp_avg_sq, step):
        bump(t)
    return True
