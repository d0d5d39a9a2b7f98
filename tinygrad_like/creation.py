"""Creation functions: tensor, zeros, ones, full, arange, linspace, eye, *_like."""
from __future__ import annotations

import math
from typing import Any, Optional

from . import dtypes as _dt
from .device import resolve
from .dtypes import DType, bool_, float32, int64
from .errors import DTypeError, InvalidValueError, ShapeError
from .tensor import Tensor, _contig, _shape_args, _wrap
from .view import prod


def _flatten_nested(data: Any) -> tuple[list, tuple]:
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
    flat: list = []
    level = [data]
    for depth, n in enumerate(shape):
        nxt = []
        for item in level:
            if not isinstance(item, (list, tuple)) or len(item) != n:
                got = len(item) if isinstance(item, (list, tuple)) else "a scalar"
                raise ShapeError(f"tensor: ragged nested sequence: expected length {n} at depth {depth}, got {got}")
            nxt.extend(item)
        level = nxt
    for item in level:
        if isinstance(item, (list, tuple)):
            raise ShapeError(f"tensor: ragged nested sequence: expected a scalar at depth {len(shape)}, got a sequence")
        if isinstance(item, Tensor):
            if item.numel() != 1:
                raise ShapeError(f"tensor: only one-element tensors can be nested in a list, got shape {item.shape}")
            item = item.item()
        flat.append(item)
    return flat, tuple(shape)


def _infer_dtype(flat: list) -> DType:
    if not flat:
        return float32
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
    return (bool_, int64, float32)[kind]


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, backend: Any = None) -> Tensor:
    """A new tensor from nested lists, a scalar, a Tensor or a numpy array (always a copy)."""
    be = resolve(backend)
    dt = None if dtype is None else _dt.get_dtype(dtype)
    if isinstance(data, Tensor):
        out = data.detach().to(backend=be).to(dt or data.dtype).clone()
    elif type(data).__module__ == "numpy" and hasattr(data, "__array_interface__"):
        from .interop import from_numpy
        out = from_numpy(data.copy(), backend=be)
        if dt is not None:
            out = out.to(dt)
    else:
        flat, shape = _flatten_nested(data)
        dt = dt or _infer_dtype(flat)
        if dt is int64 and any(isinstance(v, float) and not math.isfinite(v) for v in flat):
            raise InvalidValueError("tensor: cannot convert nan or inf to int64")
        try:
            values = [_dt.cast_scalar(v.item() if hasattr(v, "item") else v, dt) for v in flat]
        except InvalidValueError:
            raise  # already says which value and dtype
        except (TypeError, ValueError) as e:
            raise DTypeError(f"tensor: cannot convert data to {dt.name}: {e}") from None
        out = _wrap(be.from_list(values, dt) if values else be.empty(0, dt), _contig(shape), dt, be)
    if requires_grad:
        out.requires_grad_()
    return out


def as_tensor(data: Any, dtype: Any = None, backend: Any = None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or _dt.get_dtype(dtype) is data.dtype) and backend is None:
        return data
    return tensor(data, dtype=dtype, backend=backend)


def full(shape: Any, fill_value: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    shape = _check_shape(_shape_args((shape,)) if isinstance(shape, (tuple, list)) else (shape,))
    dt = _dt.get_dtype(dtype) if dtype is not None else _dt.scalar_dtype(fill_value)
    be = resolve(backend)
    out = _wrap(be.full(prod(shape), _dt.cast_scalar(fill_value, dt), dt), _contig(shape), dt, be)
    return out.requires_grad_() if requires_grad else out


def _check_shape(shape: tuple) -> tuple:
    for n in shape:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ShapeError(f"invalid shape {shape}: sizes must be non-negative ints")
    return tuple(shape)


def zeros(*shape: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    return full(_shape_args(shape), 0.0, dtype=dtype or float32, backend=backend, requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    return full(_shape_args(shape), 1.0, dtype=dtype or float32, backend=backend, requires_grad=requires_grad)


def empty(*shape: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    shape = _check_shape(_shape_args(shape))
    dt = _dt.get_dtype(dtype) if dtype is not None else float32
    be = resolve(backend)
    out = _wrap(be.empty(prod(shape), dt), _contig(shape), dt, be)
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
    if all_int and dt is int64:
        values = list(range(start, end, step))
    else:
        values = [start + i * step for i in range(n)]
    be = resolve(backend)
    values = [_dt.cast_scalar(v, dt) for v in values]
    out = _wrap(be.from_list(values, dt) if values else be.empty(0, dt), _contig((len(values),)), dt, be)
    return out.requires_grad_() if requires_grad else out


def linspace(start: float, end: float, steps: int, dtype: Any = None, backend: Any = None,
             requires_grad: bool = False) -> Tensor:
    if not isinstance(steps, int) or steps < 0:
        raise InvalidValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    dt = _dt.get_dtype(dtype) if dtype is not None else float32
    if steps == 1:
        values = [float(start)]
    else:
        step = (end - start) / (steps - 1) if steps > 1 else 0.0
        half = steps // 2  # fill from both ends so the last value is exactly `end`, as PyTorch does
        values = [start + i * step if i < half else end - (steps - 1 - i) * step for i in range(steps)]
    be = resolve(backend)
    values = [_dt.cast_scalar(v, dt) for v in values]
    out = _wrap(be.from_list(values, dt) if values else be.empty(0, dt), _contig((steps,)), dt, be)
    return out.requires_grad_() if requires_grad else out


def eye(n: int, m: Optional[int] = None, dtype: Any = None, backend: Any = None, requires_grad: bool = False) -> Tensor:
    m = n if m is None else m
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, m)):
        raise DTypeError(f"eye: sizes must be ints, got n={n!r}, m={m!r}")
    if n < 0 or m < 0:
        raise ShapeError(f"eye: sizes must be non-negative, got n={n}, m={m}")
    dt = _dt.get_dtype(dtype) if dtype is not None else float32
    one, zero = _dt.cast_scalar(1, dt), _dt.cast_scalar(0, dt)
    values = [one if i == j else zero for i in range(n) for j in range(m)]
    be = resolve(backend)
    out = _wrap(be.from_list(values, dt) if values else be.empty(0, dt), _contig((n, m)), dt, be)
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
    out = _wrap(buf, _contig((n,)), dt, be)
    return out.requires_grad_() if requires_grad else out
