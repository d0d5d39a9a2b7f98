"""Scaled dot-product attention: softmax(q @ k^T * scale + mask) @ v, with PyTorch's semantics.

Without a mask (plain or is_causal) and without dropout, a backend's fused kernels (`sdpa`,
`sdpa_backward`) compute it as one graph node, flash-attention style: the (L, S) weights are never
stored, the backward recomputes them from the row logsumexp. Their sums run in another order than
the composed ops': results agree with the composed path to float32 rounding (relative 1e-5 in
float32, 1e-12 in float64, the tests' tolerance), not bit for bit.
Otherwise it is composed of matmul, where/add, softmax and dropout, so its gradient (for q, k, v
and a float mask) comes from those ops. The scale is applied to q before the product (a (.., L, E) tensor
instead of the (.., L, S) scores). Rows whose mask allows no key give zeros (PyTorch's
"safe softmax"), with zero gradient, instead of the NaN of a softmax over nothing but -inf.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from .. import dispatch, fused_kernels
from ..autograd import grad_mode, needs_grad, no_grad, record
from ..dtypes import bool_, int64
from ..errors import DTypeError, InvalidValueError, ShapeError
from ..random import rand
from ..view import broadcast_shapes
from .elementwise import where

_CAUSAL: dict = {}  # (L, S, backend name) -> bool (L, S) lower-triangular mask; small and immutable


def causal_mask(L: int, S: int, be: Any) -> Any:
    """Bool (L, S) with True where key j <= query i (torch.ones(L, S).tril(), aligned top-left)."""
    key = (L, S, be.name)
    m = _CAUSAL.get(key)
    if m is None:
        rows = dispatch.from_list(list(range(L)), (L, 1), int64, be)
        cols = dispatch.from_list(list(range(S)), (1, S), int64, be)
        m = (cols <= rows).contiguous()
        if len(_CAUSAL) > 64:
            _CAUSAL.clear()
        _CAUSAL[key] = m
    return m


def _check(query: Any, key: Any, value: Any, attn_mask: Any) -> tuple:
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim < 2 or not t.dtype.is_float:
            raise ShapeError(f"scaled_dot_product_attention: {name} must be a float tensor of shape (..., L or S, E), "
                             f"got {t.dtype.name} of shape {t.shape}")
    L, E = query.shape[-2:]
    S = key.shape[-2]
    if key.shape[-1] != E:
        raise ShapeError(f"scaled_dot_product_attention: query (shape {query.shape}) and key (shape {key.shape}) "
                         f"need the same last dim E")
    if value.shape[-2] != S:
        raise ShapeError(f"scaled_dot_product_attention: key (shape {key.shape}) and value (shape {value.shape}) "
                         f"need the same sequence dim S")
    if attn_mask is not None:
        if attn_mask.dtype is not bool_ and not attn_mask.dtype.is_float:
            raise DTypeError(f"scaled_dot_product_attention: attn_mask must be bool (True = attend) or float "
                             f"(added to the scores), got {attn_mask.dtype.name}")
        ms = attn_mask.shape
        if len(ms) < 1 or any(m not in (1, d) for m, d in zip(reversed(ms), (S, L))):
            raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {ms} does not broadcast to the "
                             f"scores' (..., L={L}, S={S})")
    return L, S, E


def attention_weights(query: Any, key: Any, attn_mask: Optional[Any] = None, is_causal: bool = False,
                      scale: Optional[float] = None) -> Any:
    """softmax(query @ key^T * scale + mask) over the last dim: the (..., L, S) attention weights
    (the arguments as in scaled_dot_product_attention)."""
    L, S, E = _check(query, key, key, attn_mask)
    if is_causal and attn_mask is not None:
        raise InvalidValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both")
    if scale is None:
        scale = 1.0 / math.sqrt(E) if E else 1.0
    if is_causal:
        attn_mask = causal_mask(L, S, query._be)
    scores = (query * scale) @ key.transpose(-2, -1)
    empty_rows = None  # bool (..., L, 1): rows whose mask allows no key
    if attn_mask is not None:
        allowed = attn_mask if attn_mask.dtype is bool_ else attn_mask != -math.inf
        if not is_causal and S and not dispatch.branch_item(allowed.any(-1).all(), "attention rows all masked"):
            empty_rows = ~allowed.any(-1, keepdim=True)
            # a row with nothing to attend to is computed as if unmasked, then zeroed below: a
            # softmax over finite numbers keeps NaN out of the forward and the backward
            attn_mask = where(empty_rows, True, attn_mask) if attn_mask.dtype is bool_ else where(empty_rows, 0.0, attn_mask)
        scores = where(attn_mask, scores, -math.inf) if attn_mask.dtype is bool_ else scores + attn_mask
    weights = scores.softmax(-1)
    return weights if empty_rows is None else where(empty_rows, 0.0, weights)


def attention_dropout(weights: Any, p: float) -> Any:
    """Zero each weight with probability p and scale the rest by 1 / (1 - p) (tg's generator)."""
    if not 0.0 <= p <= 1.0:
        raise InvalidValueError(f"attention dropout probability must be in [0, 1], got {p}")
    if p == 0.0:
        return weights
    if p == 1.0:
        return weights * 0.0
    keep = rand(*weights.shape, dtype=weights.dtype, backend=weights._be) >= p
    return where(keep, weights * (1.0 / (1.0 - p)), 0.0)


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Optional[Any] = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None) -> Any:
    """softmax(query @ key^T * scale + mask) @ value over the last two dims, batch dims broadcast.

    attn_mask: bool (True = take part in attention) or float (added to the scores), broadcast to
    (..., L, S). is_causal: the lower-triangular mask (an error together with attn_mask).
    scale defaults to 1 / sqrt(E). dropout_p drops attention weights (from tg's generator)."""
    L, S, E = _check(query, key, value, attn_mask)
    if not 0.0 <= dropout_p <= 1.0:
        raise InvalidValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}")
    if attn_mask is None and dropout_p == 0.0 and L and S and E and value.shape[-1]:
        out = _fused_attention(query, key, value, is_causal, (1.0 / math.sqrt(E)) if scale is None else scale)
        if out is not None:
            return out
    weights = attention_weights(query, key, attn_mask, is_causal, scale)
    return attention_dropout(weights, dropout_p) @ value


def _fused_attention(q: Any, k: Any, v: Any, causal: bool, scale: float) -> Optional[Any]:
    """softmax(q k^T * scale [causal]) v as one graph node over the backend's fused kernels (batch dims
    broadcast first); None when the backend has none or the operands do not fit them."""
    if q._be.optional.sdpa is None:
        return None
    batch = broadcast_shapes(broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2])), tuple(v.shape[:-2]))
    q, k, v = (t if tuple(t.shape[:-2]) == batch else t.expand(*(batch + tuple(t.shape[-2:]))) for t in (q, k, v))
    with no_grad():
        fused = fused_kernels.fused_sdpa(q, k, v, causal, scale)
    if fused is None:
        return None
    out, lse, operands = fused
    if not needs_grad(q, k, v):
        return out
    # the closure holds an alias of out (same buffer and version counter), not out itself: no cycle
    # out -> node -> out, and an in-place change of out is still caught by the saved-version check
    saved_out = dispatch.wrap(out._buf, out._view, out.dtype, out._be, out._vc)

    def backward(g: Any) -> tuple:
        grads = None
        if not grad_mode.enabled:  # no create_graph: one kernel
            grads = fused_kernels.fused_sdpa_backward(g, saved_out, lse, operands, causal, scale)
        if grads is None:
            grads = _composed_backward(g, q, k, v, causal, scale)
        return grads
    return record(out, "ScaledDotProductFlashAttention", (q, k, v), backward, saved=(q, k, v, saved_out))


def _composed_backward(g: Any, q: Any, k: Any, v: Any, causal: bool, scale: float) -> tuple:
    """(dq, dk, dv) of the fused node from differentiable ops (create_graph differentiates them again)."""
    w = attention_weights(q, k, None, causal, scale)
    dv = w.transpose(-2, -1) @ g
    dp = g @ v.transpose(-2, -1)
    ds = w * (dp - (dp * w).sum(-1, keepdim=True))
    return (ds @ k) * scale, (ds.transpose(-2, -1) @ q) * scale, dv
