"""nn.MultiheadAttention with PyTorch's parameters (in_proj_weight, in_proj_bias, out_proj) and masks."""
from __future__ import annotations

import math
from typing import Any, Optional

from ..creation import empty
from ..dtypes import bool_
from ..errors import DTypeError, InvalidValueError, ShapeError
from ..ops.attention import attention_dropout, attention_weights, scaled_dot_product_attention
from ..tensor import Tensor, where
from . import functional as F
from . import init
from .layers import Linear
from .module import Module, Parameter


def _as_additive(mask: Tensor, dtype: Any) -> Tensor:
    """PyTorch's module masks: bool True = may NOT attend -> -inf; a float mask is added as it is."""
    if mask.dtype is bool_:
        return where(mask, -math.inf, 0.0).to(dtype)
    if not mask.dtype.is_float:
        raise DTypeError(f"MultiheadAttention: masks must be bool or float, got {mask.dtype.name}")
    return mask


def merge_masks(attn_mask: Optional[Tensor], key_padding_mask: Optional[Tensor], n: int, heads: int, L: int, S: int,
                dtype: Any) -> Optional[Tensor]:
    """One SDPA mask broadcastable to (N, heads, L, S) from a module's attn_mask ((L, S) or (N*heads, L, S))
    and key_padding_mask ((N, S)): bool "allowed" when both are bool, else the sum of additive masks."""
    if attn_mask is not None:
        if attn_mask.shape == (L, S):
            pass
        elif attn_mask.shape == (n * heads, L, S):
            attn_mask = attn_mask.reshape(n, heads, L, S)
        else:
            raise ShapeError(f"MultiheadAttention: attn_mask must have shape ({L}, {S}) or ({n * heads}, {L}, {S}), "
                             f"got {attn_mask.shape}")
    if key_padding_mask is not None:
        if key_padding_mask.shape != (n, S):
            raise ShapeError(f"MultiheadAttention: key_padding_mask must have shape ({n}, {S}) (batch, source length), "
                             f"got {key_padding_mask.shape}")
        key_padding_mask = key_padding_mask.reshape(n, 1, 1, S)
    masks = [m for m in (attn_mask, key_padding_mask) if m is not None]
    if not masks:
        return None
    if all(m.dtype is bool_ for m in masks):
        out = ~masks[0]
        return out & ~masks[1] if len(masks) == 2 else out
    total = _as_additive(masks[0], dtype)
    return total + _as_additive(masks[1], dtype) if len(masks) == 2 else total


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al.): softmax(Q K^T / sqrt(d)) V over num_heads heads of
    embed_dim // num_heads, with PyTorch's parameters, masks and shapes ((L, N, E), or (N, L, E)
    with batch_first; unbatched (L, E) too)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, dtype: Any = None, backend: Any = None):
        super().__init__()
        if num_heads <= 0 or embed_dim % num_heads:
            raise InvalidValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise InvalidValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dtype, backend=backend))
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, dtype=dtype, backend=backend))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype, backend=backend)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform in_proj_weight, zero biases (out_proj.weight keeps Linear's init), as PyTorch."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        """q, k, v = the three slices of in_proj applied to (N, L|S, E) inputs (one product for self-attention)."""
        E, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:
            return F.linear(query, w, b).chunk(3, -1)
        ws = w.chunk(3, 0)
        bs = b.chunk(3, 0) if b is not None else (None, None, None)
        if key is value:
            q = F.linear(query, ws[0], bs[0])
            k, v = F.linear(key, w[E:], b[E:] if b is not None else None).chunk(2, -1)
            return q, k, v
        return tuple(F.linear(x, wi, bi) for x, wi, bi in zip((query, key, value), ws, bs))

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Optional[Tensor] = None,
                need_weights: bool = True, attn_mask: Optional[Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple:
        """(attn_output, attn_weights or None). Masks as PyTorch: bool True = may not attend, float = added;
        is_causal is a hint that attn_mask is the causal mask (required with it)."""
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ShapeError(f"MultiheadAttention: query, key and value must all be 3-D (batched) or 2-D, got shapes "
                             f"{query.shape}, {key.shape}, {value.shape}")
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.shape[-1] != self.embed_dim:
                raise ShapeError(f"MultiheadAttention: {name} has {t.shape[-1]} features (shape {t.shape}), "
                                 f"expected embed_dim={self.embed_dim}")
        if is_causal and attn_mask is None:
            raise InvalidValueError("MultiheadAttention: is_causal is a hint that attn_mask is the causal mask; "
                                    "pass attn_mask too")
        same_kv = key is value
        same_qk = query is key
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:  # (L, N, E) -> (N, L, E): views
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        if same_kv:
            value = key
            if same_qk:
                key = value = query
        n, L, E = query.shape
        S, H, D = key.shape[1], self.num_heads, self.head_dim
        if key.shape[0] != n or value.shape[:2] != key.shape[:2]:
            raise ShapeError(f"MultiheadAttention: key {tuple(key.shape)} and value {tuple(value.shape)} must match "
                             f"query {tuple(query.shape)} in the batch dim and each other in the sequence dim")
        q, k, v = self._project(query, key, value)
        q = q.reshape(n, L, H, D).transpose(1, 2)  # (N, H, L, D)
        k = k.reshape(n, S, H, D).transpose(1, 2)
        v = v.reshape(n, S, H, D).transpose(1, 2)
        p = self.dropout if self.training else 0.0
        weights = None
        if is_causal and key_padding_mask is None and not need_weights:
            out = scaled_dot_product_attention(q, k, v, None, p, is_causal=True)
        else:
            mask = merge_masks(attn_mask, key_padding_mask, n, H, L, S, q.dtype)
            if need_weights:
                weights = attention_dropout(attention_weights(q, k, mask), p)
                out = weights @ v
            else:
                out = scaled_dot_product_attention(q, k, v, mask, p)
        out = self.out_proj(out.transpose(1, 2).reshape(n, L, E))
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if weights is not None:
            weights = weights.mean(1) if average_attn_weights else weights
            if not batched:
                weights = weights.squeeze(0)
        return out, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, batch_first={self.batch_first}"
