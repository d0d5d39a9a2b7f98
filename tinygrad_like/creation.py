"""Creation functions: tensor, zeros, ones, full, arange, linspace, eye, *_like."""
from __future__ import annotations

import math
from typing import Any, Optional

from . import dispatch
from . import dtypes as _dt
from .device import resolve
from .dispatch import check_alloc, check_shape, shape_args
from .dtypes import bool_, float32, int64
from .errors import DTypeError, InvalidValueError, ShapeError
from .from_data import tensor_from_data
from .tensor import Tensor


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, backend: Any = None) -> Tensor:
    """A new tensor from nested lists, a scalar, a Tensor or a numpy array (always a copy)."""
    out = tensor_from_data(data, None if dtype is None else _dt.get_dtype(dtype), resolve(backend))
    return out.requires_grad_() if requires_grad else out


def as_tensor(data: Any, dtype: Any = None, backend: Any = None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or _dt.get_dtype(dtype) is data.dtype) and backend is None:
        return data
    return tensor(data, dtype=dtype, backend=backend)


def full(shape: Any, fill_value: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    shape = check_shape(shape_args((shape,)) if isinstance(shape, (tuple, list)) else (shape,))
    dt = _dt.get_dtype(dtype) if dtype is not None else _dt.scalar_dtype(fill_value)
    check_alloc(shape, dt)
    out = dispatch.full(shape, fill_value, dt, resolve(backend))
    return out.requires_grad_() if requires_grad else out


def zeros(*shape: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    return full(shape_args(shape), 0.0, dtype=dtype or float32, backend=backend, requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    return full(shape_args(shape), 1.0, dtype=dtype or float32, backend=backend, requires_grad=requires_grad)


def empty(*shape: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    shape = check_shape(shape_args(shape))
    dt = _dt.get_dtype(dtype) if dtype is not None else float32
    check_alloc(shape, dt)
    out = dispatch.empty(shape, dt, resolve(backend))
    return out.requires_grad_() if requires_grad else out


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, backend=t._be, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, backend=t._be, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, backend=t._be)


def empty_like(t: Tensor, dtype: Any = None) -> Tensor:
    return empty(t.shape, dtype=dtype or t.dtype, backend=t._be)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, backend: Any = None,
           requires_grad: bool = False) -> Tensor:
    """[start, end) in steps; int64 when every argument is an int (as in PyTorch)."""
    if end is None:
        start, end = 0, start
    for v in (start, end, step):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise DTypeError(f"arange: start, end and step must be Python numbers, got {type(v).__name__} {v!r}")
    if not all(math.isfinite(v) for v in (start, end, step)):
        raise InvalidValueError(f"arange: start, end and step must be finite, got {start}, {end}, {step}")
    if step == 0:
        raise InvalidValueError("arange: step must be nonzero")
    all_int = all(isinstance(v, int) for v in (start, end, step))
    dt = _dt.get_dtype(dtype) if dtype is not None else (int64 if all_int else float32)
    n = max(0, math.ceil((end - start) / step))
    check_alloc((n,), dt)
    if all_int and dt.category == 1:
        values = list(range(start, end, step))
    else:
        values = [start + i * step for i in range(n)]
    values = [_dt.cast_scalar(v, dt) for v in values]
    out = dispatch.from_list(values, (len(values),), dt, resolve(backend))
    return out.requires_grad_() if requires_grad else out


def linspace(start: float, end: float, steps: int, dtype: Any = None, backend: Any = None,
             requires_grad: bool = False) -> Tensor:
    if not isinstance(steps, int) or steps < 0:
        raise InvalidValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    dt = _dt.get_dtype(dtype) if dtype is not None else float32
    check_alloc((steps,), dt)
    if steps == 1:
        values = [float(start)]
    else:
        step = (end - start) / (steps - 1) if steps > 1 else 0.0
        half = steps // 2  # fill from both ends so the last value is exactly `end`, as PyTorch does
        values = [start + i * step if i < half else end - (steps - 1 - i) * step for i in range(steps)]
    values = [_dt.cast_scalar(v, dt) for v in values]
    out = dispatch.from_list(values, (steps,), dt, resolve(backend))
    return out.requires_grad_() if requires_grad else out


def eye(n: int, m: Optional[int] = None, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    m = n if m is None else m
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, m)):
        raise DTypeError(f"eye: sizes must be ints, got n={n!r}, m={m!r}")
    if n < 0 or m < 0:
        raise ShapeError(f"eye: sizes must be non-negative, got n={n}, m={m}")
    dt = _dt.get_dtype(dtype) if dtype is not None else float32
    check_alloc((n, m), dt)
    one, zero = _dt.cast_scalar(1, dt), _dt.cast_scalar(0, dt)
    values = [one if i == j else zero for i in range(n) for j in range(m)]
    out = dispatch.from_list(values, (n, m), dt, resolve(backend))
    return out.requires_grad_() if requires_grad else out


def frombuffer(buffer: Any, dtype: Any, count: int = -1, offset: int = 0, backend: Any = None,
               requires_grad: bool = False) -> Tensor:
    """A 1-D tensor of `count` elements of `dtype` read from a bytes-like object at byte `offset`
    (native byte order; like torch.frombuffer, but the backend may copy)."""
    dt = _dt.get_dtype(dtype)
    mv = memoryview(buffer).cast("B")
    if offset < 0 or offset > len(mv):
        raise InvalidValueError(f"frombuffer: offset {offset} is outside a buffer of {len(mv)} bytes")
    avail = (len(mv) - offset) // dt.itemsize
    n = avail if count == -1 else count
    if n < 0 or n > avail:
        raise InvalidValueError(f"frombuffer: asked for {count} elements of {dt.name} at byte {offset}, "
                                f"but the buffer of {len(mv)} bytes holds only {avail}")
    be = resolve(backend)
    raw = mv[offset:offset + n * dt.itemsize]
    if dt is bool_:
        raw = memoryview(bytes(b != 0 for b in raw)) if any(b > 1 for b in raw) else raw
        buf = be.from_buffer(raw, dt) if n else be.empty(0, dt)
    else:
        buf = be.from_buffer(raw.cast(dt.typecode), dt) if n else be.empty(0, dt)
    out = dispatch.wrap(buf, dispatch.contig((n,)), dt, be)
    return out.requires_grad_() if requires_grad else out
