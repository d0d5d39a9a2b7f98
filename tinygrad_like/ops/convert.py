"""Conversions: dtype casts and moves between backends (both differentiable for floats)."""
from __future__ import annotations

import math
from typing import Any

from .. import dispatch
from ..autograd import needs_grad, record
from ..dtypes import DType
from ..errors import InvalidValueError
from ..view import prod


def cast(x: Any, dt: DType) -> Any:
    """x's values as `dt` (a copy); float -> int truncates and refuses nan/inf, as PyTorch's .long()
    gives undefined values there."""
    if x.dtype.is_float and not dt.is_float and dt.name != "bool" and prod(x.shape):
        def check(bad: Any) -> None:
            if bad:
                raise InvalidValueError(f"cannot convert a {x.dtype.name} tensor holding nan or inf to {dt.name}")
        dispatch.checked_item(dispatch.reduce("max", ((x != x) | (x.abs() == math.inf)).to(dt), None, False), check, "cast")
    out = dispatch.copy(x, dt)
    if not (x.dtype.is_float and dt.is_float) or not needs_grad(x):
        return out
    src_dt = x.dtype
    return record(out, "ToCopy", (x,), lambda g: (cast(g, src_dt),))


def to_backend(x: Any, be: Any) -> Any:
    """A contiguous copy of x on backend `be` (through the buffer protocol)."""
    src = x if x._view.is_contiguous() else dispatch.copy(x, x.dtype)
    n = prod(x.shape)
    buf = be.from_buffer(src._be.memoryview(src._buf, src.dtype)[:n], src.dtype) if n else be.empty(0, src.dtype)
    out = dispatch.wrap(buf, dispatch.contig(x.shape), x.dtype, be)
    if not needs_grad(x):
        return out
    src_be = x._be
    return record(out, "ToBackend", (x,), lambda g: (to_backend(g, src_be),))
