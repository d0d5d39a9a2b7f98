"""Ops built from other ops: activations, clamp, var/std, logsumexp, any/all, ...

Most are plain compositions, so their gradient comes for free from the ops they use. A few
(gelu, leaky_relu, clamp) compute the forward without a graph and record one node with a
hand-written backward: fewer nodes on a hot path, and a simpler gradient to read.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from .. import dispatch, fused_kernels
from .. import dtypes as _dt
from ..autograd import grad_mode, needs_grad, no_grad, record
from ..dtypes import bool_, int64
from ..errors import DTypeError, InvalidValueError
from ..view import normalize_dims, prod
from .elementwise import maximum, minimum, where


def gelu(x: Any, approximate: str = "none") -> Any:
    """Exact GELU x * Phi(x) (erf-based, PyTorch's default); approximate='tanh' for the tanh form."""
    if approximate == "tanh":
        k = math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1 + (k * (x + 0.044715 * x * x * x)).tanh())
    if approximate != "none":
        raise InvalidValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    x = x if x.dtype.is_float else x.float()
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    cdf0 = None
    with no_grad():
        out = fused_kernels.fused_gelu(x)  # the backend's one pass, where it has one
        if out is None:
            cdf0 = 0.5 * (1 + (x * inv_sqrt2).erf())
            out = x * cdf0
    if not needs_grad(x):
        return out

    def backward(g: Any) -> tuple:
        if not grad_mode.enabled:  # no create_graph: the fused kernel where the backend has one
            dx = fused_kernels.fused_gelu_backward(g, x)
            if dx is not None:
                return (dx,)
        # the forward's Phi(x) is a constant: reuse it (erf is the costly kernel) unless create_graph
        # needs it as a function of x
        cdf = 0.5 * (1 + (x * inv_sqrt2).erf()) if grad_mode.enabled or cdf0 is None else cdf0
        pdf = (-0.5 * x * x).exp() * (1.0 / math.sqrt(2.0 * math.pi))
        return (g * (cdf + x * pdf),)
    return record(out, "Gelu", (x,), backward, saved=(x,))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    if not x.dtype.is_float:  # as PyTorch: a slope would silently turn an int tensor into floats
        raise DTypeError(f"leaky_relu: expected a float tensor, got {x.dtype.name}; use .float() first")
    with no_grad():
        pos = x > 0
        out = where(pos, x, x * negative_slope)
    if not needs_grad(x):
        return out
    return record(out, "LeakyRelu", (x,), lambda g: (where(pos, g, g * negative_slope),))


def clamp(x: Any, min: Optional[Any] = None, max: Optional[Any] = None) -> Any:  # noqa: A002
    if min is None and max is None:
        raise InvalidValueError("clamp: at least one of min and max must be given")
    with no_grad():
        out, keep = x, None
        if min is not None:
            out = maximum(out, min)
            keep = x >= min
        if max is not None:
            out = minimum(out, max)
            keep = (x <= max) if keep is None else keep & (x <= max)
        if out is x:
            out = x.clone()
    if not needs_grad(x):
        return out
    return record(out, "Clamp", (x,), lambda g: (where(keep, g, 0.0),))


def round(x: Any) -> Any:  # noqa: A001  (PyTorch's name)
    """Round half to even (PyTorch's and numpy's rule); no gradient (it is zero almost everywhere)."""
    if not x.dtype.is_float:
        return x
    f = x.floor()
    diff = x - f
    even = ((f + 1) * 0.5).floor() * 2  # the even one of f and f + 1
    return where(diff > 0.5, f + 1, where(diff < 0.5, f, even)).detach()


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    bx = x * beta
    return where(bx > threshold, x, log1p(bx.clamp(max=threshold).exp()) / beta)


def log1p(x: Any) -> Any:
    """log(1 + x), accurate for tiny x: u = 1 + x rounds, and log(u) * x / (u - 1) cancels that
    rounding (Goldberg's trick); one graph node with d/dx = 1 / (1 + x)."""
    x = x if x.dtype.is_float else x.float()
    with no_grad():
        u = x + 1
        out = where((u == 1) | (u == math.inf), x, u.log() * (x / (u - 1)))
    if not needs_grad(x):
        return out
    return record(out, "Log1p", (x,), lambda g: (g / (x + 1),), saved=(x,))


def expm1(x: Any) -> Any:
    """exp(x) - 1, accurate for tiny x (u = exp(x); (u - 1) * x / log(u), Kahan's trick);
    one graph node with d/dx = exp(x)."""
    x = x if x.dtype.is_float else x.float()
    with no_grad():
        u = x.exp()
        um1 = u - 1
        plain = (um1 == -1) | (u == math.inf) | (x != x)
        out = where(u == 1, x, where(plain, um1, um1 * (x / u.log())))
    if not needs_grad(x):
        return out
    return record(out, "Expm1", (x,), lambda g: (g * (out + 1),), saved=(out,))


def rsqrt(x: Any) -> Any:
    return x.sqrt().reciprocal()


def lerp(start: Any, end: Any, weight: Any) -> Any:
    return start + (end - start) * weight


def var(x: Any, dim: Any = None, keepdim: bool = False, correction: int = 1, sqrt: bool = False) -> Any:
    """Two-pass variance (its square root, the standard deviation, with sqrt=True). float32 is
    computed in float64, as PyTorch's CPU kernels accumulate in double, so squares of large
    values do not overflow."""
    src = x.dtype if x.dtype.is_float else _dt.float32
    x = x.to(_dt.float64)
    n = prod(x.shape[d] for d in normalize_dims(dim, x.ndim))
    centered = x - x.mean(dim, keepdim=True)
    out = (centered * centered).sum(dim, keepdim) / max(n - correction, 0)
    return (out.sqrt() if sqrt else out).to(src)


def logsumexp(x: Any, dim: Any, keepdim: bool = False) -> Any:
    x = x if x.dtype.is_float else x.float()
    with no_grad():
        m = dispatch.reduce("max", x, dim, True) if prod(x.shape) else dispatch.zeros(x.sum(dim, True).shape, x.dtype, x._be)
        m = where(m.isinf(), 0.0, m)
    out = (x - m).exp().sum(dim, keepdim=True).log() + m
    return out if keepdim else out.squeeze(normalize_dims(dim, x.ndim))


def any(x: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001  (PyTorch's name)
    b = x if x.dtype is bool_ else x != 0
    if prod(x.shape) == 0:
        return dispatch.reduce("sum", b.to(int64), dim, keepdim) > 0
    return dispatch.reduce("max", b.to(int64), dim, keepdim).to(bool_)


def all(x: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    b = x if x.dtype is bool_ else x != 0
    if prod(x.shape) == 0:
        return dispatch.reduce("sum", (~b).to(int64), dim, keepdim) == 0
    return dispatch.reduce("min", b.to(int64), dim, keepdim).to(bool_)
