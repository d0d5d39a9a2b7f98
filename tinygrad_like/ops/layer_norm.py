"""Layer norm as one graph node over the backend's fused kernels (`layer_norm`, `layer_norm_backward`):
two kernel calls per step instead of about thirty. nn.functional.layer_norm composes it from
primitives on a backend without them."""
from __future__ import annotations

from typing import Any, Optional

from .. import fused_kernels
from ..autograd import grad_mode, needs_grad, no_grad, record


def fused_layer_norm(x: Any, k: int, weight: Optional[Any], bias: Optional[Any], eps: float) -> Optional[Any]:
    """Layer norm of x over its last k dims (biased variance), then * weight + bias where given, from
    the backend's fused kernels; None when the backend has none or the operands do not fit them."""
    with no_grad():
        fused = fused_kernels.fused_layer_norm(x, k, weight, bias, eps)
    if fused is None:
        return None
    out, mean, rstd = fused
    inputs = tuple(t for t in (x, weight, bias) if t is not None)
    if not needs_grad(*inputs):
        return out

    def backward(g: Any) -> tuple:
        want_w = weight is not None and weight.requires_grad
        want_b = bias is not None and bias.requires_grad
        grads = None
        if not grad_mode.enabled:  # no create_graph: one pass
            grads = fused_kernels.fused_layer_norm_backward(g, x, k, mean, rstd, weight, want_w, want_b)
        if grads is None:
            grads = _composed_backward(g, x, k, weight, eps, want_w, want_b)
        dx, dw, db = grads
        dw = None if dw is None else dw.reshape(weight.shape)
        db = None if db is None else db.reshape(bias.shape)
        return tuple(t for t, have in ((dx, True), (dw, weight is not None), (db, bias is not None)) if have)
    return record(out, "NativeLayerNorm", inputs, backward, saved=inputs)


def _composed_backward(g: Any, x: Any, k: int, weight: Optional[Any], eps: float, want_w: bool, want_b: bool) -> tuple:
    """The gradients from differentiable ops of x, weight and g (create_graph differentiates them again)."""
    dims = tuple(range(x.ndim - k, x.ndim))
    batch = tuple(range(x.ndim - k))
    centered = x - x.mean(dims, keepdim=True)
    rstd = ((centered * centered).mean(dims, keepdim=True) + eps).rsqrt()
    xhat = centered * rstd
    d = g * weight if weight is not None else g
    dx = rstd * (d - d.mean(dims, keepdim=True) - xhat * (d * xhat).mean(dims, keepdim=True))
    dw = (g * xhat).sum(batch) if want_w else None
    db = g.sum(batch) if want_b else None
    return dx, dw, db
