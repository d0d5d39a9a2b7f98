"""Reductions: sum, mean, max/min, argmax/argmin, prod, and softmax/log-softmax.

`sum_to` (the gradient of broadcasting) lives here too: it is a sum over the broadcast dims.
Composed reductions (var, std, logsumexp) are in ops/composed.py.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from .. import dispatch, fused_kernels
from ..autograd import grad_mode, needs_grad, no_grad, record
from ..dtypes import bool_, float32, int64
from ..errors import DTypeError, ShapeError
from ..view import normalize_dim, normalize_dims, prod as _numel
from .movement import cat


def keep_shape(shape: tuple, dim: Any) -> tuple:
    """`shape` with the reduced dims kept as size 1 (what keepdim=True gives)."""
    dims = normalize_dims(dim, len(shape))
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def sum(x: Any, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:  # noqa: A001
    x = x if dtype is None else x.to(dtype)
    out = dispatch.reduce("sum", x, dim, keepdim)
    if not (x.requires_grad and grad_mode.enabled):
        return out
    shape, kshape = x.shape, keep_shape(x.shape, dim)
    return record(out, "Sum", (x,), lambda g: (g.reshape(kshape).expand(shape),))


def mean(x: Any, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
    x = x if dtype is None else x.to(dtype)
    if not x.dtype.is_float:
        raise DTypeError(f"mean(): input dtype must be floating point, got {x.dtype.name}; use .float() first")
    n = _numel(x.shape[d] for d in normalize_dims(dim, x.ndim))
    if not n:
        return sum(x, dim, keepdim) * math.nan
    # one graph node: the sum's fresh result divided in place (a loss's mean runs every step)
    out = dispatch.reduce("sum", x, dim, keepdim)
    dispatch.binary_inplace("div", out, dispatch.scalar(n, out.dtype, out._be))
    if not needs_grad(x):
        return out
    shape, kshape = x.shape, keep_shape(x.shape, dim)
    return record(out, "Mean", (x,), lambda g: ((g / n).reshape(kshape).expand(shape),))


def sum_to(x: Any, shape: tuple) -> Any:
    """Sum broadcast dims away so the result has `shape` (the gradient of broadcasting)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    out = sum(x, dims, keepdim=True) if dims else x
    return out.reshape(shape)


def minmax(x: Any, op: str, dim: Any = None, keepdim: bool = False) -> Any:
    """max or min values over dim; the gradient is shared evenly between ties (PyTorch's rule)."""
    out = dispatch.reduce(op, x, dim, keepdim)
    if not needs_grad(x):
        return out
    kshape = keep_shape(x.shape, dim)

    def backward(g: Any) -> tuple:
        mask = (x == out.reshape(kshape)).to(g.dtype)
        count = mask.sum(dim, keepdim=True)
        return (mask * (g.reshape(kshape) / count),)
    return record(out, "Max" if op == "max" else "Min", (x,), backward, saved=(x, out))


def arg(x: Any, op: str, dim: Optional[int] = None, keepdim: bool = False) -> Any:
    """argmax/argmin as int64; the first index wins ties, a NaN counts as the extreme."""
    src_ndim = x.ndim
    x = x if x.dtype is not bool_ else x.to(int64)
    if dim is None:
        x = x.reshape(-1)
        d = 0
    else:
        d = normalize_dim(dim, x.ndim) if x.ndim else 0
        if x.ndim == 0:
            x = x.reshape(1)
    if x.shape[d] == 0:
        raise ShapeError(f"{op}(): cannot take the {op} of an empty dimension (shape {x.shape}, dim {dim})")
    out = dispatch.arg_reduce(op, x, d)
    if dim is None:
        return out.reshape(()) if not keepdim else out.reshape((1,) * src_ndim)
    if keepdim and src_ndim:
        out = out.unsqueeze(d)
    return out


def prod(x: Any, dim: Optional[int] = None, keepdim: bool = False) -> Any:
    """Product over dim (None: all elements) as a tree of pairwise multiplies: exact for integers
    (int64 wraps like PyTorch's), NaN-propagating, and differentiable by the multiplies' own
    rule, so the gradient at a zero is the product of the others (PyTorch's result)."""
    if not x.dtype.is_float and x.dtype is not int64:
        x = x.to(int64)
    src_shape = x.shape
    if dim is None:
        x, d = x.reshape(-1), 0
    else:
        d = normalize_dim(dim, x.ndim) if x.ndim else 0
        if x.ndim == 0:
            x = x.reshape(1)
    n = x.shape[d]
    if n == 0:
        out = dispatch.full(x.shape[:d] + (1,) + x.shape[d + 1:], 1, x.dtype, x._be)
        out = out if not needs_grad(x) else out + sum(x, d, keepdim=True) * 0  # keep the graph
    else:
        out = x
        while n > 1:
            h = n // 2
            pairs = out.narrow(d, 0, h) * out.narrow(d, n - h, h)
            out = cat([pairs, out.narrow(d, h, 1)], d) if n % 2 else pairs
            n = out.shape[d]
    if dim is None:
        return out.reshape(()) if not keepdim else out.reshape((1,) * len(src_shape))
    return out if keepdim or not len(src_shape) else out.squeeze(d)


# ---------------------------------------------------------------------- softmax


def softmax(x: Any, dim: int, log: bool = False) -> Any:
    """(log-)softmax over dim: the backend's fused kernel over the last dim when it has one,
    else composed; either way one graph node with a hand-written, differentiable backward."""
    x = x if x.dtype.is_float else x.to(float32)
    d = normalize_dim(dim, x.ndim) if x.ndim else None
    out = fused_kernels.fused_softmax(x, d, log)
    if out is None:
        with no_grad():
            shifted = x - dispatch.reduce("max", x, d, True) if _numel(x.shape) else x
            if log:
                out = shifted - dispatch.reduce("sum", shifted.exp(), d, True).log()
            else:
                e = shifted.exp()
                out = e / dispatch.reduce("sum", e, d, True)
    if not needs_grad(x):
        return out

    def backward(g: Any) -> tuple:
        fused = None if grad_mode.enabled else fused_kernels.fused_softmax_backward(g, out, d, log)
        if fused is not None:
            return (fused,)
        if log:
            return (g - out.exp() * g.sum(d, keepdim=True),)
        return (out * (g - (g * out).sum(d, keepdim=True)),)
    return record(out, "LogSoftmax" if log else "Softmax", (x,), backward, saved=(out,))

