"""numpy interop: zero-copy both ways where the backend's buffer allows it (numpy imported lazily)."""
from __future__ import annotations

from typing import Any

from . import dtypes as _dt
from .device import resolve
from .dispatch import wrap
from .errors import DTypeError
from .view import View, contiguous_strides

_NP_NAMES = {"float32": "float32", "float64": "float64", "int64": "int64", "int32": "int32", "int16": "int16",
             "uint8": "uint8", "bool": "bool"}


def to_numpy(t: Any) -> Any:
    """A numpy array over the tensor's buffer with the tensor's strides (shares memory)."""
    import numpy as np
    dt = np.dtype(_NP_NAMES[t.dtype.name])
    mv = t._be.memoryview(t._buf, t.dtype)
    if t.numel() == 0:
        return np.empty(t.shape, dtype=dt)
    base = np.frombuffer(mv, dtype=dt) if mv.format != dt.char else np.asarray(mv)
    if base.dtype != dt:
        base = base.view(dt)
    v = t._view
    return np.lib.stride_tricks.as_strided(base[v.offset:] if all(s >= 0 for s in v.strides) else base,
                                           shape=v.shape,
                                           strides=tuple(s * dt.itemsize for s in v.strides)) \
        if all(s >= 0 for s in v.strides) else _negative_strided(base, v, dt)


def _negative_strided(base: Any, v: View, dt: Any) -> Any:
    import numpy as np
    return np.ndarray(v.shape, dtype=dt, buffer=base, offset=v.offset * dt.itemsize,
                      strides=tuple(s * dt.itemsize for s in v.strides))


def from_numpy(array: Any, backend: Any = None) -> Any:
    """A tensor over a numpy array's memory where the backend can wrap it (numba), else a copy."""
    import numpy as np
    if not isinstance(array, np.ndarray):
        raise DTypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return numpy_to_tensor(array, resolve(backend))


def numpy_to_tensor(array: Any, be: Any) -> Any:
    """`from_numpy` on a resolved backend (also how numpy operands of tensor ops are taken)."""
    import numpy as np
    name = array.dtype.name
    if name not in _NP_NAMES:
        valid = ", ".join(_NP_NAMES)
        raise DTypeError(f"from_numpy: numpy dtype {name} is not supported; supported: {valid} (convert with .astype)")
    dt = _dt.get_dtype(name)
    arr = np.asarray(array, order="C")  # not ascontiguousarray: it turns 0-d arrays into 1-d
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    flat = arr.reshape(-1)
    buf = be.from_buffer(memoryview(flat.view(np.uint8) if dt.name == "bool" else flat), dt) if flat.size else be.empty(0, dt)
    return wrap(buf, View(tuple(arr.shape), contiguous_strides(arr.shape), 0), dt, be)
