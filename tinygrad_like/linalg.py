"""tg.linalg: PyTorch's torch.linalg names for the vector norm and the cross product."""
from __future__ import annotations

from typing import Any

from .ops.linalg import cross as _cross_any
from .ops.linalg import norm, vector_norm

__all__ = ["vector_norm", "norm", "cross"]


def cross(a: Any, b: Any, dim: int = -1) -> Any:
    """torch.linalg.cross: the cross product along dim (default the last)."""
    return _cross_any(a, b, dim)
