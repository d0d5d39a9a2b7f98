"""tg.save / tg.load in the safetensors format: 8-byte little-endian header length, a JSON header,
then raw little-endian tensor bytes. No pickle anywhere: loading a file never runs code."""
from __future__ import annotations

import json
import os
import struct
import sys
from array import array
from typing import Any, Mapping, Optional

from .creation import frombuffer
from .dtypes import bool_, float32, float64, int16, int32, int64, uint8
from .errors import InvalidValueError, TensorError
from .tensor import Tensor

_TO_ST = {"float32": "F32", "float64": "F64", "int64": "I64", "int32": "I32", "int16": "I16", "uint8": "U8",
          "bool": "BOOL"}
_FROM_ST = {"F32": float32, "F64": float64, "I64": int64, "I32": int32, "I16": int16, "U8": uint8, "BOOL": bool_}
_MAX_HEADER = 100_000_000  # the safetensors limit


class SerializationError(TensorError, ValueError):
    """A file that is not a valid safetensors file (truncated, corrupt header, bad offsets)."""


def _le_bytes(t: Tensor) -> bytes:
    """The tensor's elements in row-major order as little-endian bytes."""
    c = t.detach().contiguous()
    if c.numel() == 0:
        return b""
    if c.dtype is bool_:
        return bytes(c.reshape(-1).tolist())
    raw = c.numpy().tobytes() if _has_numpy() else array(c.dtype.typecode, c.reshape(-1).tolist()).tobytes()
    if sys.byteorder != "little":
        a = array(c.dtype.typecode, raw)
        a.byteswap()
        raw = a.tobytes()
    return raw


def _has_numpy() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def save(state_dict: Mapping[str, Tensor], path: str, metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write a dict of name -> Tensor as one safetensors file (atomically: a temp file, then rename)."""
    if not isinstance(state_dict, Mapping):
        raise InvalidValueError(f"save: expected a dict of name -> Tensor, got {type(state_dict).__name__}")
    header: dict = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise InvalidValueError("save: metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in state_dict.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise InvalidValueError(f"save: keys must be str (and not '__metadata__'), got {name!r}")
        if not isinstance(t, Tensor):
            raise InvalidValueError(f"save: value for {name!r} is a {type(t).__name__}, expected a Tensor")
        raw = _le_bytes(t)
        header[name] = {"dtype": _TO_ST[t.dtype.name], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-(8 + len(head)) % 8)  # pad so the data starts 8-byte aligned, as safetensors does
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(head)))
            f.write(head)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _bad(path: str, why: str) -> SerializationError:
    return SerializationError(f"{path}: not a valid safetensors file: {why}; nothing was loaded")


def _parse_header(path: str, data: bytes) -> tuple:
    if len(data) < 8:
        raise _bad(path, f"file is truncated ({len(data)} bytes, the header length alone takes 8)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise _bad(path, f"header length {n} does not fit in a file of {len(data)} bytes (truncated or corrupt)")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(path, f"header is not valid UTF-8 JSON ({e})") from None
    except RecursionError:
        raise _bad(path, "header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    return header, 8 + n


def _no_duplicates(pairs: list) -> dict:
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def _check_entries(path: str, header: dict, data_len: int) -> list:
    """[(name, dtype, shape, begin, end)] sorted by offset, after checking every field and the layout."""
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise _bad(path, "__metadata__ must map str to str")
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _bad(path, f"entry {name!r} must have exactly dtype, shape and data_offsets")
        st = info["dtype"]
        if not isinstance(st, str) or st not in _FROM_ST:
            raise _bad(path, f"tensor {name!r} has dtype {st!r}; supported: {', '.join(_FROM_ST)}")
        shape, offs = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise _bad(path, f"tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs) and 0 <= offs[0] <= offs[1]):
            raise _bad(path, f"tensor {name!r} has invalid data_offsets {offs!r}")
        n = 1
        for d in shape:
            n *= d
        dt = _FROM_ST[st]
        if offs[1] - offs[0] != n * dt.itemsize:
            raise _bad(path, f"tensor {name!r}: shape {shape} of {st} needs {n * dt.itemsize} bytes, data_offsets span {offs[1] - offs[0]}")
        entries.append((name, dt, tuple(shape), offs[0], offs[1]))
    entries.sort(key=lambda e: (e[3], e[4]))
    pos = 0
    for name, _, _, begin, end in entries:
        if begin != pos:
            raise _bad(path, f"tensor {name!r} starts at byte {begin}, expected {pos} (gap or overlap in the data)")
        pos = end
    if pos != data_len:
        why = "truncated" if pos > data_len else "trailing bytes"
        raise _bad(path, f"the header describes {pos} bytes of tensor data but the file holds {data_len} ({why})")
    return entries


def load(path: str, backend: Any = None) -> dict:
    """Read a safetensors file into a dict of name -> Tensor; any defect raises SerializationError first."""
    with open(path, "rb") as f:
        data = f.read()
    header, start = _parse_header(path, data)
    body = memoryview(data)[start:]
    entries = _check_entries(path, header, len(body))
    out = {}
    for name, dt, shape, begin, end in entries:
        raw = body[begin:end]
        if sys.byteorder != "little" and dt is not bool_:
            a = array(dt.typecode, raw)
            a.byteswap()
            raw = memoryview(a.tobytes())
        out[name] = frombuffer(raw, dt, backend=backend).reshape(shape)
    return {name: out[name] for name in header if name in out}


def load_metadata(path: str) -> dict:
    """The file's __metadata__ (str -> str), or {}."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise _bad(path, "file is truncated")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER:
            raise _bad(path, f"header length {n} is too large")
        header, _ = _parse_header(path, head + f.read(n))
    return dict(header.get("__metadata__", {}))
