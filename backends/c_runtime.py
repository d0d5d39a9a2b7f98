"""The C backend's runtime: the cffi extension (`ffi`, `lib`), result buffers (`CBuffer`, `_new`),
error codes and view checks, shared by c_backend.py (the protocol's primitives) and c_fused.py
(the optional fused kernels).

Both read `lib` and `on_new` through this module at call time (`rt.lib.tg_...`), so a tg.jit
capture (c_capture.py) swaps them in this one place.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Optional, Sequence


def _load_openblas_serial() -> None:
    """Load libscipy_openblas (RTLD_GLOBAL, before the extension) with OPENBLAS_NUM_THREADS=1.

    This copy of OpenBLAS is the C backend's alone (numpy and scipy ship their own) and always runs
    serial (CBackend.set_num_threads). Loaded with the default, it starts a worker per core at
    load time, and each one spins for ~0.1 s before it sleeps: a 2-thread kernel right after
    `import tinygrad_like` ran at about half speed (a replayed MLP step 180 us against 103 us).
    The variable is read once, by the library's constructor; the caller's value is put back at
    once, so numpy's OpenBLAS, loaded later, sees what the user set.
    """
    if "scipy_openblas32" in sys.modules:  # loaded already: its threads exist either way
        return
    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import scipy_openblas32  # noqa: F401
    finally:
        if saved is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = saved


_load_openblas_serial()

from tinygrad_like.dtypes import ALL_DTYPES, DType, float32, int64
from tinygrad_like.errors import BackendError, DTypeError, ShapeError, TensorIndexError
from tinygrad_like.view import View

from .c_build import CSRC, source_hash
from .common import ViewChecks
from .protocol import DTYPE_CODES

try:
    from ._c_ext import ffi, lib
except ImportError as e:
    raise BackendError(
        f"the C backend's extension is not built or cannot load ({e}). Build it with "
        f"`pip install -e .` from the project root (needs gcc), or pick another backend with "
        f"TG_BACKEND=numba or TG_BACKEND=python.") from e


def check_fresh() -> None:
    """Raise BackendError when the extension was built from other csrc/ sources than these."""
    if not os.path.isdir(CSRC):  # a regular (non-editable) install ships no sources to compare
        return
    built = ffi.string(lib.tg_source_hash()).decode()
    now = source_hash()
    if built != now:
        raise BackendError(
            f"the C backend's extension is stale: it was built from other csrc/ sources "
            f"(built {built[:12]}, sources now {now[:12]}). Re-run `pip install -e .` from the "
            f"project root to rebuild it.")


check_fresh()

_DT = DTYPE_CODES
_DT_OF = {d: DTYPE_CODES[d.name] for d in ALL_DTYPES}  # by the dtype object: one lookup on the hot path
_MAXDIM = 64
_ERRORS = {-1: "is not supported for this dtype", -2: "has too many dims (at most 64)",
           -3: "got an index out of range"}

class CBuffer:
    """A C allocation (malloc) of `size` elements of `dtype` (`ptr` is the owning cdata)."""

    __slots__ = ("ptr", "size", "dtype", "__weakref__")

    def __init__(self, ptr: Any, size: int, dtype: DType):
        self.ptr = ptr
        self.size = size
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"CBuffer({self.size} x {self.dtype.name})"


# malloc'd, never zero-filled (empty() buffers are always overwritten), freed with the cdata.
# cffi's own malloc path: a custom alloc/free pair (ffi.gc or new_allocator(alloc=...)) cost
# about 4x more per buffer here, and per-op overhead matters more than 64-byte alignment.
_alloc = ffi.new_allocator(should_clear_after_alloc=False)


# bytes: from _MID on, buffers come from the C side's free lists of mid-size blocks (their pages
# stay with the process, no page faults when a step makes them again); from _BIG on, from its
# huge-page cache (csrc/core.c). Below _MID, from cffi's malloc path, the cheapest per call.
_MID = 1 << 16
_BIG = 1 << 20


on_new: Optional[Callable[[CBuffer], None]] = None  # set while a tg.jit capture runs (c_capture.py)
_CHARS = ffi.typeof("char[]")
_obj_new = object.__new__


def _new(n: int, dtype: DType) -> CBuffer:
    nbytes = n * dtype.itemsize
    if nbytes < _MID:
        buf = _obj_new(CBuffer)  # CBuffer(...) without its __init__ call: this runs for every result
        buf.ptr = _alloc(_CHARS, nbytes or 1)
        buf.size = n
        buf.dtype = dtype
    elif nbytes < _BIG:
        p = lib.tg_mid_alloc(nbytes)
        if p == ffi.NULL:
            raise MemoryError(f"c backend: cannot allocate {nbytes} bytes")
        buf = CBuffer(ffi.gc(p, lib.tg_mid_free, nbytes), n, dtype)
    else:
        p = lib.tg_big_alloc(nbytes)
        if p == ffi.NULL:
            raise MemoryError(f"c backend: cannot allocate {nbytes} bytes")
        buf = CBuffer(ffi.gc(p, lib.tg_big_free, nbytes), n, dtype)
    if on_new is not None:
        on_new(buf)
    return buf


def _fail(what: str, rc: int) -> None:
    msg = f"c backend: {what} {_ERRORS.get(rc, f'failed (code {rc})')}"
    if rc == -3:
        raise TensorIndexError(msg)
    if rc == -2:
        raise ShapeError(msg)
    raise BackendError(msg)


def _buffer_check(buf: Any, view: View, dtype: DType, what: str) -> int:
    """buf is a CBuffer of dtype and the view has few enough dims for C (else no C call is made)."""
    if type(buf) is not CBuffer:
        raise BackendError(f"c backend: {what}: expected a CBuffer, got {type(buf).__name__}")
    if buf.dtype is not dtype:
        raise DTypeError(f"c backend: {what}: buffer holds {buf.dtype.name}, the call says {dtype.name}")
    if len(view.shape) > _MAXDIM:
        raise ShapeError(f"c backend: {what}: {len(view.shape)} dims, at most {_MAXDIM} are supported")
    return buf.size


checks = ViewChecks("c", _buffer_check)
_check, _flat, _rows = checks.view, checks.flat, checks.rows


def _code(codes: dict, op: str, kind: str) -> int:
    """The C code of `op` in one of protocol.py's code tables (BackendError for an unknown op)."""
    code = codes.get(op)
    if code is None:
        raise BackendError(f"c backend: unknown {kind} {op!r}")
    return code


def _geo(*parts: Sequence[int]) -> list:
    """shape and strides packed into one list, which cffi passes to C as a temporary int64 array
    (cheaper than an ffi.new per call)."""
    flat: list[int] = []
    for p in parts:
        flat.extend(p)
    return flat or [0]


_INT64, _FLOAT32 = int64, float32  # the dtypes of index buffers and of attention's row statistics
_PTR = {"bool": "_Bool *", "uint8": "uint8_t *", "int16": "int16_t *", "int32": "int32_t *", "int64": "int64_t *",
        "float32": "float *", "float64": "double *"}
_CTYPE = {"float32": "float[]", "float64": "double[]"}
