"""Norms, products and comparisons of whole tensors: vector_norm/norm, outer, cross,
isclose/allclose/equal. Composed of other ops (the 2-norm records its own node so that its
gradient at zero is 0, as PyTorch's, rather than 0/0)."""
from __future__ import annotations

import math
from typing import Any, Optional

from .. import dispatch
from ..autograd import needs_grad, no_grad, record
from ..dtypes import float32
from ..errors import DTypeError, InvalidValueError, ShapeError
from ..view import normalize_dim, normalize_dims
from .elementwise import where
from .movement import cat


def _float(x: Any) -> Any:
    return x if x.dtype.is_float else x.to(float32)


def _two_norm(x: Any, dim: Any, keepdim: bool) -> Any:
    with no_grad():
        out = (x * x).sum(dim, keepdim=keepdim).sqrt()
    if not needs_grad(x):
        return out
    dims = tuple(range(x.ndim)) if dim is None else normalize_dims(dim, x.ndim)

    def backward(g: Any) -> tuple:
        o, gg = out, g
        if not keepdim:
            for d in sorted(dims):
                o, gg = o.unsqueeze(d), gg.unsqueeze(d)
        safe = where(o == 0, dispatch.scalar(1, o.dtype, o._be), o)
        return (where(o == 0, dispatch.scalar(0, g.dtype, g._be), gg / safe) * x,)
    return record(out, "Norm", (x,), backward, saved=(x, out))


def vector_norm(x: Any, ord: Any = 2, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:  # noqa: A002
    """The vector p-norm over dim (all elements when None): p = 2, 1, inf, -inf, 0 or any float."""
    x = _float(x if dtype is None else x.to(dtype))
    if isinstance(dim, list):
        dim = tuple(dim)
    a = x.abs()
    if ord == 2:
        return _two_norm(x, dim, keepdim)
    if ord == 1:
        return a.sum(dim, keepdim=keepdim)
    if ord == math.inf:
        return a.amax(dim, keepdim=keepdim)
    if ord == -math.inf:
        return a.amin(dim, keepdim=keepdim)
    if ord == 0:
        return (x != 0).to(x.dtype).sum(dim, keepdim=keepdim)
    if not isinstance(ord, (int, float)):
        raise InvalidValueError(f"vector_norm: ord must be a number, got {ord!r}")
    return (a ** ord).sum(dim, keepdim=keepdim) ** (1.0 / ord)


def norm(x: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
    """torch.norm: 'fro' (the 2-norm of the elements) or a vector p-norm over dim."""
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise InvalidValueError(f"norm: p={p!r} is not supported; use 'fro' or a number")
    return vector_norm(x, p, dim, keepdim, dtype)


def outer(a: Any, b: Any) -> Any:
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer: expects two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return a.reshape(-1, 1) * b.reshape(1, -1)


def cross(a: Any, b: Any, dim: Optional[int] = None) -> Any:
    """The 3-vector cross product along dim (the first dim of size 3 when None)."""
    if dim is None:
        dim = next((i for i, n in enumerate(a.shape) if n == 3), None)
        if dim is None:
            raise ShapeError(f"cross: no dimension of size 3 in input of shape {a.shape}")
    d = normalize_dim(dim, a.ndim)
    if a.shape[d] != 3 or b.shape[normalize_dim(dim, b.ndim)] != 3:
        raise ShapeError(f"cross: dim {dim} must have size 3 in both inputs, got shapes {a.shape} and {b.shape}")
    a0, a1, a2 = (a.narrow(d, i, 1) for i in range(3))
    b0, b1, b2 = (b.narrow(dim, i, 1) for i in range(3))
    return cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Any:
    """|a - b| <= atol + rtol * |b| elementwise (equal infinities are close; NaN only with equal_nan)."""
    if not dispatch.is_tensor(b):
        b = dispatch.scalar(dispatch.as_number(b), a.dtype, a._be)
    if a.dtype.is_float != b.dtype.is_float and a.dtype is not b.dtype and not (a.ndim == 0 or b.ndim == 0):
        raise DTypeError(f"isclose: expected both tensors of one dtype, got {a.dtype.name} and {b.dtype.name}")
    a, b = a.detach(), b.detach()
    close = a == b
    if a.dtype.is_float or b.dtype.is_float:
        fa, fb = _float(a), _float(b)
        diff = (fa - fb).abs()
        close = close | (diff.isfinite() & (diff <= atol + rtol * fb.abs()))
        if equal_nan:
            close = close | (fa.isnan() & fb.isnan())
    return close


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    return bool(isclose(a, b, rtol, atol, equal_nan).all().item())


def equal(a: Any, b: Any) -> bool:
    """True when both tensors have the same shape and the same values."""
    return a.shape == b.shape and bool((a.detach() == b.detach()).all().item())
