"""Tensors from Python data: nested lists and scalars, numpy arrays, other tensors (always a copy)."""
from __future__ import annotations

import math
from typing import Any, Optional

from . import dispatch
from . import dtypes as _dt
from .dtypes import DType, bool_, float32, int64
from .errors import DTypeError, InvalidValueError, ShapeError
from .interop import numpy_to_tensor
from .ops.convert import cast, to_backend
from .ops.movement import clone


def flatten_nested(data: Any) -> tuple[list, tuple]:
    """Flatten nested lists/tuples; ragged input is a ValueError naming where it breaks."""
    if not isinstance(data, (list, tuple)):
        return [data], ()
    shape = []
    probe = data
    while isinstance(probe, (list, tuple)):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    level = [data]
    for depth, n in enumerate(shape):
        nxt = []
        for item in level:
            if not isinstance(item, (list, tuple)) or len(item) != n:
                got = len(item) if isinstance(item, (list, tuple)) else "a scalar"
                raise ShapeError(f"tensor: ragged nested sequence: expected length {n} at depth {depth}, got {got}")
            nxt.extend(item)
        level = nxt
    flat: list = []
    for item in level:
        if isinstance(item, (list, tuple)):
            raise ShapeError(f"tensor: ragged nested sequence: expected a scalar at depth {len(shape)}, got a sequence")
        if dispatch.is_tensor(item):
            if item.numel() != 1:
                raise ShapeError(f"tensor: only one-element tensors can be nested in a list, got shape {item.shape}")
            item = item.item()
        flat.append(item)
    return flat, tuple(shape)


def infer_dtype(flat: list) -> DType:
    """bool, int64 or float32: the widest kind among the values (PyTorch's defaults)."""
    kind = 0
    for v in flat:
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            kind = max(kind, 1)
        elif isinstance(v, float):
            kind = 2
            break
        elif hasattr(v, "dtype") and hasattr(v, "item"):  # numpy scalar
            vv = v.item()
            kind = max(kind, 2 if isinstance(vv, float) else 1 if not isinstance(vv, bool) else 0)
        else:
            raise DTypeError(f"tensor: cannot make a tensor element from {type(v).__name__} {v!r}")
    return (bool_, int64, float32)[kind] if flat else float32


def _is_numpy(data: Any) -> bool:
    return type(data).__module__ == "numpy"


def tensor_from_data(data: Any, dtype: Optional[DType], be: Any) -> Any:
    """A new tensor holding `data` on backend `be` (no graph)."""
    if dispatch.is_tensor(data):
        out = data.detach()
        if out._be is not be:
            out = to_backend(out, be)
        dt = dtype or data.dtype
        return cast(out, dt) if dt is not out.dtype else clone(out) if out._buf is data._buf else out
    if _is_numpy(data) and hasattr(data, "__array_interface__"):
        if not hasattr(data, "__len__"):  # a numpy scalar such as np.float32(2.5)
            data = data.item()
        else:
            out = numpy_to_tensor(data.copy(), be)
            return out if dtype is None or dtype is out.dtype else cast(out, dtype)
    flat, shape = flatten_nested(data)
    dt = dtype or infer_dtype(flat)
    if dt is int64 and any(isinstance(v, float) and not math.isfinite(v) for v in flat):
        raise InvalidValueError("tensor: cannot convert nan or inf to int64")
    try:
        values = [_dt.cast_scalar(v.item() if hasattr(v, "item") else v, dt) for v in flat]
    except InvalidValueError:
        raise  # already says which value and dtype
    except (TypeError, ValueError) as e:
        raise DTypeError(f"tensor: cannot convert data to {dt.name}: {e}") from None
    return dispatch.from_list(values, shape, dt, be)
