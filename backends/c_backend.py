"""The C backend: kernels in csrc/ called through cffi (API mode), matmul through OpenBLAS (float32
products of mid size through csrc/gemm.c, an AVX-512 GEMM of our own that is faster there).

Buffers are `CBuffer`s: a malloc'd block (not zero-filled, freed by cffi when the buffer is
collected), its element count and dtype. Every view is checked against its buffer
here, before C runs, so the C code never reads or writes out of bounds.

Threads (one pool for everything; see README "C backend"):
- TG_NUM_THREADS (default: all CPUs) sets the size of the backend's own thread pool (csrc/core.c),
  which runs every parallel kernel. OpenBLAS itself runs serial: csrc/blas.c splits a big product
  into one block per thread of the pool, so matmuls and elementwise kernels never wake a second
  pool: with two pools, every switch between them wakes sleeping threads (in an MLP step on a
  busy 2-core machine a 200k-element add after a matmul costs 0.5 ms that way, 30 us with one).
- The pool is not OpenMP's: a job's chunks are claimed by whichever thread is running, so the
  caller never waits for a worker the OS has not scheduled yet (an OpenMP region waits for its
  whole team, which on a loaded machine costs a scheduler slice per kernel). Idle workers spin
  TG_SPIN_US microseconds (default 50), then sleep.
- Neither OpenMP nor OpenBLAS's own thread pool runs here, so this module sets none of their
  environment variables: another library's pools in the same process (numba's, PyTorch's)
  keep their own settings.
- Kernels below a measured size run serial (csrc/core.c, tg_set_par_min).
- After `fork`, the child starts with an empty pool and runs serial kernels (the pool's threads
  stay in the parent); `spawn`/`forkserver` children get the full policy.
"""
from __future__ import annotations

import os
import sys

from array import array
from typing import Any, Callable, Optional, Sequence

import scipy_openblas32  # noqa: F401  loads libscipy_openblas (RTLD_GLOBAL) before the extension

from tinygrad_like.dtypes import ALL_DTYPES, DType, bool_
from tinygrad_like.errors import BackendError, DTypeError, ShapeError, TensorIndexError
from tinygrad_like.view import View, contiguous_strides, prod

from .attention_checks import bhr, result_size, sdpa_backward_shapes, sdpa_shapes
from .c_build import CSRC, source_hash
from .common import COMPARE, ViewChecks, first_dim_disjoint
from .protocol import (ARG_REDUCE_CODES, BINARY_CODES, DTYPE_CODES, REDUCE_CODES, SCAN_CODES, SCATTER_CODES,
                       UNARY_CODES)
from .threads import num_threads

try:
    from ._c_ext import ffi, lib
except ImportError as e:
    raise BackendError(
        f"the C backend's extension is not built or cannot load ({e}). Build it with "
        f"`pip install -e .` from the project root (needs gcc), or pick another backend with "
        f"TG_BACKEND=numba or TG_BACKEND=python.") from e

from .c_capture import NativeCapture  # noqa: E402  (it uses the extension loaded just above)


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
_BINARY_HOT: dict = {}  # (op, dtype) -> (op code, dtype code, result dtype), filled by _binary_checks
_SCATTER = SCATTER_CODES
_SCAN = SCAN_CODES
_MAXDIM = 64
_ERRORS = {-1: "is not supported for this dtype", -2: "has too many dims (at most 64)",
           -3: "got an index out of range"}

# Below these element counts kernels run on one thread: on this machine a 2-thread add of 1e3
# elements costs 1.8 us against 0.34 us serial; at 1e5 the two threads win (7 us against 12 us).
PAR_MIN_CHEAP = 65536
PAR_MIN_COSTLY = 8192


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


_BIG = 1 << 20  # bytes; from here on buffers come from the C side's huge-page cache (csrc/core.c)


on_new: Optional[Callable[[CBuffer], None]] = None  # set while a tg.jit capture runs (c_capture.py)
_CHARS = ffi.typeof("char[]")
_obj_new = object.__new__


def _new(n: int, dtype: DType) -> CBuffer:
    nbytes = n * dtype.itemsize
    if nbytes < _BIG:
        buf = _obj_new(CBuffer)  # CBuffer(...) without its __init__ call: this runs for every result
        buf.ptr = _alloc(_CHARS, nbytes or 1)
        buf.size = n
        buf.dtype = dtype
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


_checks = ViewChecks("c", _buffer_check)
_check, _flat, _rows = _checks.view, _checks.flat, _checks.rows


def _code(codes: dict, op: str, kind: str) -> int:
    """The C code of `op` in one of protocol.py's code tables (BackendError for an unknown op)."""
    code = codes.get(op)
    if code is None:
        raise BackendError(f"c backend: unknown {kind} {op!r}")
    return code


def _check_scatter(what: str, dst: CBuffer, dst_view: View, index: CBuffer, index_view: View, src: CBuffer,
                   src_view: View, dim: int, dtype: DType) -> None:
    """Checks a scatter's buffers, and that index and src (one shape) fit dst in every dim but `dim`."""
    _check(dst, dst_view, dtype, what)
    _check(index, index_view, _INT64, f"{what} index")
    _check(src, src_view, dtype, f"{what} src")
    shape = index_view.shape
    nd = len(shape)
    if (nd != len(dst_view.shape) or src_view.shape != shape or not 0 <= dim < nd
            or any(shape[d] > dst_view.shape[d] for d in range(nd) if d != dim)):
        raise ShapeError(f"c backend: {what}: index shape {shape}, src shape {src_view.shape} "
                         f"do not fit dst shape {dst_view.shape} at dim {dim}")


def _rows_pattern(dim: int, shape: Sequence[int], x_strides: Sequence[int], i_strides: Sequence[int]) -> bool:
    """True when a gather/scatter_add moves whole dense rows (index_select's pattern): the index is
    constant along a last dim of at least 8 elements, which is dense in x."""
    nd = len(shape)
    return nd >= 2 and dim < nd - 1 and shape[-1] >= 8 and i_strides[-1] == 0 and x_strides[-1] == 1


def _geo(*parts: Sequence[int]) -> list:
    """shape and strides packed into one list, which cffi passes to C as a temporary int64 array
    (cheaper than an ffi.new per call)."""
    flat: list[int] = []
    for p in parts:
        flat.extend(p)
    return flat or [0]


def _conv_geo(x: CBuffer, x_view: View, w: CBuffer, w_view: View, kernel: tuple, stride: tuple, dilation: tuple,
              pads: tuple, out_size: tuple, dtype: DType, what: str) -> tuple:
    """(tg_conv2d's geometry list, out channels) after checking the views of x and of the weight."""
    _check(x, x_view, dtype, what)
    _check(w, w_view, dtype, f"{what} weight")
    if len(x_view.shape) != 4 or len(w_view.shape) != 2 or not w_view.is_contiguous():
        raise ShapeError(f"c backend: {what} needs an (N, C, H, W) view and a contiguous (OC, C*kh*kw) weight, "
                         f"got {x_view} and {w_view}")
    oc, ckk = w_view.shape
    if ckk != x_view.shape[1] * kernel[0] * kernel[1]:
        raise ShapeError(f"c backend: {what}: weight view {w_view} does not match {x_view.shape[1]} channels "
                         f"and kernel {kernel}")
    return _geo(x_view.shape, x_view.strides, kernel, stride, dilation, pads, out_size, (oc,)), oc


class CBackend:
    """C kernels through cffi + OpenBLAS (see backends/protocol.py for the contract)."""

    name = "c"
    # gather/scatter_add check every index against the dim's size in C (before any access
    # outside the view) and raise TensorIndexError, so the core skips its own range check
    checks_indices = True

    def __init__(self) -> None:
        self.set_num_threads(num_threads())
        spin = os.environ.get("TG_SPIN_US", "").strip()
        if spin.isdigit():
            lib.tg_set_spin_us(int(spin))
        lib.tg_set_par_min(PAR_MIN_CHEAP, PAR_MIN_COSTLY)
        lib.tg_keep_heap_memory()  # result buffers below 1 MiB reuse heap pages (no page faults)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork)

    # threads ----------------------------------------------------------------------
    def set_num_threads(self, n: int) -> None:
        """Use n threads in every kernel (matmul included: its blocks run on the OpenMP threads)."""
        n = max(1, int(n))
        lib.tg_set_threads(n)
        # OpenBLAS stays serial: csrc/blas.c splits big products over the pool's threads itself,
        # so one pool serves every kernel (two pools wake each other's threads at every switch)
        lib.scipy_openblas_set_num_threads(1)

    def get_num_threads(self) -> int:
        return lib.tg_get_threads()

    def native_capture(self) -> NativeCapture:
        """A tg.jit capture recording this backend's kernel calls as a C-level program (c_capture.py)."""
        return NativeCapture(sys.modules[__name__])

    # memory -----------------------------------------------------------------------
    def empty(self, n: int, dtype: DType) -> CBuffer:
        return _new(n, dtype)

    def full(self, n: int, value: Any, dtype: DType) -> CBuffer:
        if n == 1 and dtype.is_float:  # the scalar operand of x * 0.5: one initialised allocation
            buf = CBuffer(_alloc(_CTYPE[dtype.name], (value,)), 1, dtype)
            if on_new is not None:
                on_new(buf)
            return buf
        buf = _new(n, dtype)
        if n:
            if dtype.is_float:
                lib.tg_fill(_DT[dtype.name], buf.ptr, n, value, 0)
            else:
                lib.tg_fill(_DT[dtype.name], buf.ptr, n, 0.0, int(value))
        return buf

    def from_list(self, values: Sequence[Any], dtype: DType) -> CBuffer:
        try:
            arr = array(dtype.typecode, values)
        except OverflowError:
            raise OverflowError(f"value out of range for {dtype.name} (int64 overflow)") from None
        buf = _new(len(arr), dtype)
        if len(arr):
            ffi.memmove(buf.ptr, arr, len(arr) * dtype.itemsize)
        return buf

    def to_list(self, buf: CBuffer, view: View, dtype: DType) -> list:
        _check(buf, view, dtype, "to_list")
        n = view.numel()
        if n == 0:
            return []
        if not (view.offset == 0 and view.is_contiguous()):
            buf = self.copy(buf, view, dtype, dtype)
        return ffi.unpack(ffi.cast(_PTR[dtype.name], buf.ptr), n)

    def from_buffer(self, obj: memoryview, dtype: DType) -> CBuffer:
        nbytes = obj.nbytes
        if nbytes % dtype.itemsize:
            raise DTypeError(f"c backend: from_buffer: {nbytes} bytes is not a whole number of {dtype.name}")
        buf = _new(nbytes // dtype.itemsize, dtype)
        if nbytes:
            ffi.memmove(buf.ptr, obj, nbytes)
        return buf

    def memoryview(self, buf: CBuffer, dtype: DType) -> memoryview:
        # ffi.buffer keeps the owning cdata alive as long as the memoryview lives
        return memoryview(ffi.buffer(buf.ptr, buf.size * dtype.itemsize)).cast(dtype.typecode)

    def buffer_size(self, buf: CBuffer) -> int:
        return buf.size

    # copies -----------------------------------------------------------------------
    def copy(self, src: CBuffer, view: View, src_dtype: DType, dst_dtype: DType) -> CBuffer:
        _check(src, view, src_dtype, "copy")
        shape = view.shape
        n = view.numel()
        out = _new(n, dst_dtype)
        nd = len(shape)
        rc = lib.tg_copy(_DT[src_dtype.name], _DT[dst_dtype.name], nd,
                         _geo(shape, view.strides, contiguous_strides(shape)), src.ptr, view.offset, out.ptr, 0)
        if rc:
            _fail("copy", rc)
        return out

    def assign(self, dst: CBuffer, dst_view: View, src: CBuffer, src_view: View, dtype: DType) -> None:
        _check(dst, dst_view, dtype, "assign")
        _check(src, src_view, dtype, "assign")
        if dst_view.shape != src_view.shape:
            raise ShapeError(f"c backend: assign: shapes {dst_view.shape} and {src_view.shape} differ")
        shape = dst_view.shape
        d = _DT[dtype.name]
        rc = lib.tg_copy(d, d, len(shape), _geo(shape, src_view.strides, dst_view.strides),
                         src.ptr, src_view.offset, dst.ptr, dst_view.offset)
        if rc:
            _fail("assign", rc)

    def add_into(self, dst: CBuffer, dst_view: View, src: CBuffer, src_view: View, dtype: DType) -> None:
        _check(dst, dst_view, dtype, "add_into")
        _check(src, src_view, dtype, "add_into")
        if dst_view.shape != src_view.shape:
            raise ShapeError(f"c backend: add_into: shapes {dst_view.shape} and {src_view.shape} differ")
        shape = dst_view.shape or (1,)
        rc = lib.tg_add_into(_DT[dtype.name], len(shape), _geo(shape, dst_view.strides or (0,), src_view.strides or (0,)),
                             dst.ptr, dst_view.offset, src.ptr, src_view.offset, 1 if first_dim_disjoint(dst_view) else 0)
        if rc:
            _fail(f"add_into on {dtype.name}", rc)

    # elementwise ------------------------------------------------------------------
    def unary(self, op: str, x: CBuffer, view: View, dtype: DType) -> CBuffer:
        code = _code(UNARY_CODES, op, "unary op")
        _check(x, view, dtype, op)
        shape = view.shape
        nd = len(shape)
        if nd == 1:
            n = shape[0]
            out = _new(n, dtype)
            rc = lib.tg_unary1(code, _DT[dtype.name], n, x.ptr, view.offset, view.strides[0], out.ptr)
        else:
            out = _new(view.numel(), dtype)
            rc = lib.tg_unary(code, _DT[dtype.name], nd, _geo(shape, view.strides), x.ptr, view.offset, out.ptr)
        if rc:
            _fail(f"unary {op} on {dtype.name}", rc)
        return out

    def binary(self, op: str, a: CBuffer, a_view: View, b: CBuffer, b_view: View, dtype: DType,
               out: Optional[CBuffer] = None) -> CBuffer:
        shape = a_view.shape
        if len(shape) == 1:
            # the hot path: one lookup for the op's codes, inline span checks of two 1-d views,
            # the result allocated inline (`_new`), one C call. The short test covers views with
            # strides >= 0 (all dispatch passes here); anything else goes through the full
            # checks, which raise with the details.
            hot = _BINARY_HOT.get((op, dtype))
            n = shape[0]
            sa, sb = a_view.strides[0], b_view.strides[0]
            oa, ob = a_view.offset, b_view.offset
            if not (hot is not None and type(a) is CBuffer and type(b) is CBuffer and a.dtype is dtype
                    and b.dtype is dtype and b_view.shape == shape and sa >= 0 and sb >= 0 and oa >= 0 and ob >= 0
                    and oa + (n - 1) * sa < a.size and ob + (n - 1) * sb < b.size):
                hot = self._binary_checks(op, a, a_view, b, b_view, dtype)
            code, dt, odt = hot
            if out is None:
                nbytes = n * odt.itemsize
                if nbytes < _BIG and on_new is None:
                    out = _obj_new(CBuffer)
                    out.ptr = _alloc(_CHARS, nbytes or 1)
                    out.size = n
                    out.dtype = odt
                else:
                    out = _new(n, odt)
            elif type(out) is not CBuffer or out.dtype is not odt or out.size < n:
                raise BackendError(f"c backend: {op}: out= must be a {odt.name} CBuffer of >= {n} elements")
            rc = lib.tg_binary1(code, dt, n, a.ptr, oa, sa, b.ptr, ob, sb, out.ptr)
        else:
            code, _, odt = self._binary_checks(op, a, a_view, b, b_view, dtype)
            n = a_view.numel()
            if out is None:
                out = _new(n, odt)
            elif type(out) is not CBuffer or out.dtype is not odt or out.size < n:
                raise BackendError(f"c backend: {op}: out= must be a {odt.name} CBuffer of >= {n} elements")
            rc = lib.tg_binary(code, _DT[dtype.name], len(shape), _geo(shape, a_view.strides, b_view.strides),
                               a.ptr, a_view.offset, b.ptr, b_view.offset, out.ptr)
        if rc:
            _fail(f"binary {op} on {dtype.name}", rc)
        return out

    @staticmethod
    def _binary_checks(op: str, a: CBuffer, a_view: View, b: CBuffer, b_view: View, dtype: DType) -> tuple:
        """(op code, dtype code, result dtype) of a binary op after the full operand checks (which raise)."""
        code = _code(BINARY_CODES, op, "binary op")
        if b_view.shape != a_view.shape:
            raise ShapeError(f"c backend: {op}: operand shapes {a_view.shape} and {b_view.shape} differ")
        _check(a, a_view, dtype, op)
        _check(b, b_view, dtype, op)
        odt = bool_ if op in COMPARE else dtype
        _BINARY_HOT[op, dtype] = hot = (code, _DT[dtype.name], odt)
        return hot

    def where(self, cond: CBuffer, cond_view: View, a: CBuffer, a_view: View, b: CBuffer, b_view: View,
              dtype: DType) -> CBuffer:
        _check(cond, cond_view, bool_, "where")
        _check(a, a_view, dtype, "where")
        _check(b, b_view, dtype, "where")
        shape = cond_view.shape
        if not (a_view.shape == b_view.shape == shape):
            raise ShapeError(f"c backend: where: shapes {shape}, {a_view.shape}, {b_view.shape} differ")
        out = _new(cond_view.numel(), dtype)
        rc = lib.tg_where(_DT[dtype.name], len(shape), _geo(shape, cond_view.strides, a_view.strides, b_view.strides),
                          cond.ptr, cond_view.offset, a.ptr, a_view.offset, b.ptr, b_view.offset, out.ptr)
        if rc:
            _fail("where", rc)
        return out

    # reductions -------------------------------------------------------------------
    def reduce(self, op: str, x: CBuffer, view: View, k: int, dtype: DType) -> CBuffer:
        code = _code(REDUCE_CODES, op, "reduction")
        _check(x, view, dtype, op)
        shape = view.shape
        if not 1 <= k <= len(shape):
            raise ShapeError(f"c backend: {op}: cannot reduce the last {k} dims of shape {shape}")
        keep = shape[:len(shape) - k]
        n = 1
        for s in keep:
            n *= s
        out = _new(n, dtype)
        rc = lib.tg_reduce(code, _DT[dtype.name], len(shape), k, _geo(shape, view.strides), x.ptr, view.offset, out.ptr)
        if rc:
            _fail(f"{op} on {dtype.name}", rc)
        return out

    def arg_reduce(self, op: str, x: CBuffer, view: View, dtype: DType) -> CBuffer:
        code = _code(ARG_REDUCE_CODES, op, "arg reduction")
        _check(x, view, dtype, op)
        shape = view.shape
        if not shape:
            raise ShapeError(f"c backend: {op} needs at least one dim")
        out = _new(view.numel() // shape[-1], _INT64)
        rc = lib.tg_arg_reduce(code, _DT[dtype.name], len(shape), _geo(shape, view.strides), x.ptr, view.offset,
                               ffi.cast("int64_t *", out.ptr))
        if rc:
            _fail(f"{op} on {dtype.name}", rc)
        return out

    def softmax(self, x: CBuffer, view: View, dtype: DType, log: bool) -> CBuffer:
        """Fused (log-)softmax over the last dim of a row-major (rows, cols) view."""
        _check(x, view, dtype, "softmax")
        rows, cols = view.shape
        if view.strides != (cols, 1):
            raise ShapeError(f"c backend: softmax needs a row-major (rows, cols) view, got {view}")
        out = _new(rows * cols, dtype)
        rc = lib.tg_softmax(_DT[dtype.name], rows, cols, x.ptr, view.offset, out.ptr, 1 if log else 0)
        if rc:
            _fail(f"softmax on {dtype.name}", rc)
        return out

    # optional fused kernels (protocol.py) -------------------------------------------
    def relu_backward(self, g: CBuffer, g_view: View, y: CBuffer, y_view: View, dtype: DType) -> CBuffer:
        """g where y > 0, else 0 (y = relu(x)); both views flat (n,) with stride 1."""
        n = _flat(g, g_view, dtype, "relu_backward")
        if _flat(y, y_view, dtype, "relu_backward") != n:
            raise ShapeError(f"c backend: relu_backward: views {g_view} and {y_view} differ in size")
        out = _new(n, dtype)
        rc = lib.tg_relu_backward(_DT[dtype.name], n, g.ptr, g_view.offset, y.ptr, y_view.offset, out.ptr)
        if rc:
            _fail(f"relu_backward on {dtype.name}", rc)
        return out

    def softmax_backward(self, g: CBuffer, g_view: View, y: CBuffer, y_view: View, dtype: DType,
                         log: bool) -> CBuffer:
        """The input gradient of (log-)softmax over the last dim of row-major (rows, cols) views."""
        rows, cols = _rows(g, g_view, dtype, "softmax_backward")
        if _rows(y, y_view, dtype, "softmax_backward") != (rows, cols):
            raise ShapeError(f"c backend: softmax_backward: views {g_view} and {y_view} differ in shape")
        out = _new(rows * cols, dtype)
        rc = lib.tg_softmax_backward(_DT[dtype.name], rows, cols, g.ptr, g_view.offset, y.ptr, y_view.offset,
                                     out.ptr, 1 if log else 0)
        if rc:
            _fail(f"softmax_backward on {dtype.name}", rc)
        return out

    def axpy(self, y: CBuffer, y_view: View, x: CBuffer, x_view: View, alpha: float, dtype: DType) -> None:
        """In place: y += alpha * x over flat (n,) stride-1 views of distinct buffers."""
        n = _flat(y, y_view, dtype, "axpy")
        if _flat(x, x_view, dtype, "axpy") != n:
            raise ShapeError(f"c backend: axpy: views {y_view} and {x_view} differ in size")
        if x is y and x_view.offset != y_view.offset:
            raise BackendError("c backend: axpy: x and y overlap in one buffer at different offsets")
        rc = lib.tg_axpy(_DT[dtype.name], n, float(alpha), x.ptr, x_view.offset, y.ptr, y_view.offset)
        if rc:
            _fail(f"axpy on {dtype.name}", rc)

    def cross_entropy(self, x: CBuffer, x_view: View, target: CBuffer, target_view: View, dtype: DType,
                      grad: bool) -> tuple:
        """Per-row -log_softmax(x)[r, target[r]] of a row-major (rows, cols) view, and with `grad`
        also softmax(x) - one_hot(target) (rows, cols); targets are int64 in [0, cols)."""
        rows, cols = _rows(x, x_view, dtype, "cross_entropy")
        if _flat(target, target_view, _INT64, "cross_entropy target") != rows:
            raise ShapeError(f"c backend: cross_entropy: {target_view.shape} targets for {rows} rows")
        loss = _new(rows, dtype)
        gbuf = _new(rows * cols, dtype) if grad else None
        rc = lib.tg_cross_entropy(_DT[dtype.name], rows, cols, x.ptr, x_view.offset,
                                  ffi.cast("int64_t *", target.ptr), target_view.offset, loss.ptr,
                                  gbuf.ptr if grad else ffi.NULL)
        if rc:
            _fail(f"cross_entropy on {dtype.name}", rc)
        return loss, gbuf

    def im2col(self, x: CBuffer, view: View, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
               out_size: tuple, dtype: DType) -> CBuffer:
        """The (C*kh*kw, N*oh*ow) im2col columns of a 2-d convolution of an (N, C, H, W) view."""
        _check(x, view, dtype, "im2col")
        if len(view.shape) != 4 or not (len(kernel) == len(stride) == len(dilation) == len(pads) == len(out_size) == 2):
            raise ShapeError(f"c backend: im2col needs an (N, C, H, W) view and 2-d geometry, got {view}")
        n, c = view.shape[:2]
        out = _new(c * kernel[0] * kernel[1] * n * out_size[0] * out_size[1], dtype)
        rc = lib.tg_im2col(_DT[dtype.name], _geo(view.shape, view.strides, kernel, stride, dilation, pads, out_size),
                           x.ptr, view.offset, out.ptr)
        if rc:
            _fail(f"im2col on {dtype.name}", rc)
        return out

    def conv2d(self, x: CBuffer, x_view: View, w: CBuffer, w_view: View, bias: Optional[CBuffer],
               bias_view: Optional[View], kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
               out_size: tuple, dtype: DType) -> CBuffer:
        """2-d convolution (groups 1) of an (N, C, H, W) view with a contiguous (OC, C*kh*kw) weight
        (+ bias), as a contiguous (N, OC, oh, ow) buffer."""
        geo, oc = _conv_geo(x, x_view, w, w_view, kernel, stride, dilation, pads, out_size, dtype, "conv2d")
        if bias is not None:
            _check(bias, bias_view, dtype, "conv2d bias")
            if bias_view.shape != (oc,) or bias_view.strides != (1,):
                raise ShapeError(f"c backend: conv2d: bias view {bias_view} is not a contiguous ({oc},)")
        out = _new(geo[0] * oc * out_size[0] * out_size[1], dtype)
        rc = lib.tg_conv2d(_DT[dtype.name], geo, x.ptr, x_view.offset, w.ptr, w_view.offset,
                           ffi.NULL if bias is None else bias.ptr, 0 if bias is None else bias_view.offset, out.ptr)
        if rc:
            _fail(f"conv2d on {dtype.name}", rc)
        return out

    def conv2d_backward(self, x: CBuffer, x_view: View, w: CBuffer, w_view: View, g: CBuffer, g_view: View,
                        kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, out_size: tuple, dtype: DType,
                        need: tuple) -> tuple:
        """(gx, gw, gb) of conv2d for a contiguous (N, OC, oh, ow) gradient view; None where not needed."""
        geo, oc = _conv_geo(x, x_view, w, w_view, kernel, stride, dilation, pads, out_size, dtype, "conv2d_backward")
        _check(g, g_view, dtype, "conv2d_backward g")
        if g_view.shape != (geo[0], oc) + tuple(out_size) or not g_view.is_contiguous():
            raise ShapeError(f"c backend: conv2d_backward: g view {g_view} is not a contiguous "
                             f"{(geo[0], oc) + tuple(out_size)}")
        gx = _new(prod(x_view.shape), dtype) if need[0] else None
        gw = _new(prod(w_view.shape), dtype) if need[1] else None
        gb = _new(oc, dtype) if need[2] else None
        rc = lib.tg_conv2d_backward(_DT[dtype.name], geo, x.ptr, x_view.offset, w.ptr, w_view.offset, g.ptr,
                                    g_view.offset, *(ffi.NULL if b is None else b.ptr for b in (gx, gw, gb)))
        if rc:
            _fail(f"conv2d_backward on {dtype.name}", rc)
        return gx, gw, gb

    def max_pool2d(self, x: CBuffer, x_view: View, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
                   out_size: tuple, dtype: DType) -> tuple:
        """(values, int64 flat indices) of 2-d max-pooling of an (N, C, H, W) view, contiguous (N, C, oh, ow)."""
        _check(x, x_view, dtype, "max_pool2d")
        if len(x_view.shape) != 4:
            raise ShapeError(f"c backend: max_pool2d needs an (N, C, H, W) view, got {x_view}")
        n = x_view.shape[0] * x_view.shape[1] * out_size[0] * out_size[1]
        vals, idx = _new(n, dtype), _new(n, _INT64)
        rc = lib.tg_max_pool2d(_DT[dtype.name], _geo(x_view.shape, x_view.strides, kernel, stride, dilation, pads,
                                                     out_size), x.ptr, x_view.offset, vals.ptr,
                               ffi.cast("int64_t *", idx.ptr))
        if rc:
            _fail(f"max_pool2d on {dtype.name}", rc)
        return vals, idx

    def max_pool2d_backward(self, g: CBuffer, g_view: View, idx: CBuffer, idx_view: View, plane: int,
                            dtype: DType) -> CBuffer:
        """(P, plane) buffer: out[p, idx[p, i]] += g[p, i] for contiguous (P, L) views g and idx."""
        rows, cols = _rows(g, g_view, dtype, "max_pool2d_backward")
        if _rows(idx, idx_view, _INT64, "max_pool2d_backward indices") != (rows, cols):
            raise ShapeError(f"c backend: max_pool2d_backward: views {g_view} and {idx_view} differ in shape")
        out = _new(rows * plane, dtype)
        rc = lib.tg_max_pool2d_backward(_DT[dtype.name], rows, plane, cols, g.ptr, g_view.offset,
                                        ffi.cast("int64_t *", idx.ptr), idx_view.offset, out.ptr)
        if rc:  # -3: an index outside [0, plane) (TensorIndexError)
            _fail(f"max_pool2d_backward on {dtype.name}", rc)
        return out

    # linear algebra ---------------------------------------------------------------
    def matmul(self, a: CBuffer, a_view: View, b: CBuffer, b_view: View, dtype: DType) -> CBuffer:
        if not dtype.is_float:
            raise DTypeError(f"c backend: matmul supports float32/float64, got {dtype.name}")
        _check(a, a_view, dtype, "matmul")
        _check(b, b_view, dtype, "matmul")
        if len(a_view.shape) == 2 and len(b_view.shape) == 2:  # two matrices: no batch bookkeeping
            (m, k), (k2, n) = a_view.shape, b_view.shape
            ta, lda = _blas_layout(m, k, *a_view.strides)
            tb, ldb = _blas_layout(k2, n, *b_view.strides)
            if k == k2 and ta >= 0 and tb >= 0:
                out = _new(m * n, dtype)
                rc = lib.tg_matmul(_DT[dtype.name], 0, _NO_BATCH, a.ptr, a_view.offset, ta, lda,
                                   b.ptr, b_view.offset, tb, ldb, out.ptr, m, n, k)
                if rc:
                    _fail("matmul", rc)
                return out
        *batch, m, k = a_view.shape
        k2, n = b_view.shape[-2:]
        if k != k2 or tuple(b_view.shape[:-2]) != tuple(batch):
            raise ShapeError(f"c backend: matmul {a_view.shape} @ {b_view.shape}")
        nb = len(batch)
        abst, bbst = a_view.strides[:nb], b_view.strides[:nb]
        ta, lda = _blas_layout(m, k, *a_view.strides[-2:])
        if ta < 0:
            a, a_view, ta, lda = self._dense(a, a_view, dtype), None, 0, k
            abst = contiguous_strides(tuple(batch) + (m * k,))[:nb] if nb else ()
        tb, ldb = _blas_layout(k, n, *b_view.strides[-2:])
        if tb < 0:
            b, b_view, tb, ldb = self._dense(b, b_view, dtype), None, 0, n
            bbst = contiguous_strides(tuple(batch) + (k * n,))[:nb] if nb else ()
        aoff = a_view.offset if a_view is not None else 0
        boff = b_view.offset if b_view is not None else 0
        mm = m
        if nb == 1 and bbst[0] == 0 and ta == 0 and abst[0] == m * lda:
            # (B, M, K) @ broadcast (K, N): one GEMM of (B*M, K) @ (K, N), as nn.Linear wants
            mm, nb, batch, abst, bbst = m * batch[0], 0, [], (), ()
        out = _new(prod(batch) * mm * n, dtype)
        rc = lib.tg_matmul(_DT[dtype.name], nb, _geo(batch, abst, bbst), a.ptr, aoff, ta, lda,
                           b.ptr, boff, tb, ldb, out.ptr, mm, n, k)
        if rc:
            _fail("matmul", rc)
        return out

    def _dense(self, x: CBuffer, view: View, dtype: DType) -> CBuffer:
        """A contiguous copy, for a matrix view BLAS cannot take as it is."""
        return self.copy(x, view, dtype, dtype)

    # indexing ---------------------------------------------------------------------
    def gather(self, x: CBuffer, x_view: View, index: CBuffer, index_view: View, dim: int,
               dtype: DType) -> CBuffer:
        _check(x, x_view, dtype, "gather")
        _check(index, index_view, _INT64, "gather index")
        shape = index_view.shape
        nd = len(shape)
        if nd != len(x_view.shape) or not 0 <= dim < nd or any(
                shape[d] > x_view.shape[d] for d in range(nd) if d != dim):
            raise ShapeError(f"c backend: gather: index shape {shape} does not fit x shape {x_view.shape} at dim {dim}")
        out = _new(index_view.numel(), dtype)
        gather = lib.tg_gather_rows if _rows_pattern(dim, shape, x_view.strides, index_view.strides) else lib.tg_gather
        rc = gather(_DT[dtype.name], nd, dim, x_view.shape[dim], _geo(shape, x_view.strides, index_view.strides),
                    x.ptr, x_view.offset, ffi.cast("int64_t *", index.ptr), index_view.offset, out.ptr)
        if rc:
            _fail("gather", rc)
        return out

    def scatter_add(self, dst: CBuffer, dst_view: View, index: CBuffer, index_view: View,
                    src: CBuffer, src_view: View, dim: int, dtype: DType) -> None:
        _check_scatter("scatter_add", dst, dst_view, index, index_view, src, src_view, dim, dtype)
        shape = index_view.shape
        nd = len(shape)
        rows = _rows_pattern(dim, shape, dst_view.strides, index_view.strides) and src_view.strides[-1] == 1
        rc = (lib.tg_scatter_add_rows if rows else lib.tg_scatter_add)(_DT[dtype.name], nd, dim, dst_view.shape[dim],
                                _geo(shape, dst_view.strides, index_view.strides, src_view.strides),
                                dst.ptr, dst_view.offset, ffi.cast("int64_t *", index.ptr), index_view.offset,
                                src.ptr, src_view.offset)
        if rc:
            _fail("scatter_add", rc)

    def scatter(self, op: str, dst: CBuffer, dst_view: View, index: CBuffer, index_view: View,
                src: CBuffer, src_view: View, dim: int, dtype: DType) -> None:
        if op not in _SCATTER:
            raise BackendError(f"c backend: scatter {op!r} is not supported (one of {sorted(_SCATTER)})")
        _check_scatter(f"scatter {op}", dst, dst_view, index, index_view, src, src_view, dim, dtype)
        shape = index_view.shape
        nd = len(shape)
        rc = lib.tg_scatter(_SCATTER[op], _DT[dtype.name], nd, dim, dst_view.shape[dim],
                            _geo(shape, dst_view.strides, index_view.strides, src_view.strides),
                            dst.ptr, dst_view.offset, ffi.cast("int64_t *", index.ptr), index_view.offset,
                            src.ptr, src_view.offset)
        if rc:
            _fail(f"scatter {op}", rc)

    def scan(self, op: str, x: CBuffer, view: View, dtype: DType) -> CBuffer:
        _check(x, view, dtype, "scan")
        if op not in _SCAN or not view.shape:
            raise BackendError(f"c backend: scan {op!r} of a view {view} is not supported")
        out = _new(view.numel(), dtype)
        rc = lib.tg_scan(_SCAN[op], _DT[dtype.name], len(view.shape), _geo(view.shape, view.strides), x.ptr,
                         view.offset, out.ptr)
        if rc:
            _fail(f"scan {op} on {dtype.name}", rc)
        return out

    def sort(self, x: CBuffer, view: View, dtype: DType, descending: bool, k: int) -> tuple:
        _check(x, view, dtype, "sort")
        if not view.shape or not 1 <= k <= view.shape[-1]:
            raise ShapeError(f"c backend: sort: k={k} does not fit the view {view}")
        m = view.numel() // view.shape[-1] * k
        vals, idx = _new(m, dtype), _new(m, _INT64)
        rc = lib.tg_sort(_DT[dtype.name], len(view.shape), _geo(view.shape, view.strides), x.ptr, view.offset,
                         int(bool(descending)), k, vals.ptr, ffi.cast("int64_t *", idx.ptr))
        if rc:
            _fail("sort", rc)
        return vals, idx

    # random -----------------------------------------------------------------------
    def random(self, dist: str, n: int, seed: int, counter: int, dtype: DType) -> CBuffer:
        if dist not in ("uniform", "normal"):
            raise BackendError(f"c backend: unknown distribution {dist!r}")
        out = _new(n, dtype)
        mask = (1 << 64) - 1
        rc = lib.tg_random(0 if dist == "uniform" else 1, _DT[dtype.name], n, seed & mask, counter & mask, out.ptr)
        if rc:
            _fail(f"random {dist} on {dtype.name}", rc)
        return out

    # optimizer step (optional kernel) ---------------------------------------------------
    def adam_step(self, p: CBuffer, p_view: View, g: CBuffer, g_view: View, m: CBuffer, m_view: View,
                  v: CBuffer, v_view: View, step: CBuffer, step_view: View, dtype: DType, lr: float,
                  betas: tuple, eps: float, weight_decay: float, decoupled: bool, maximize: bool) -> None:
        """In place: one Adam/AdamW update of p, m, v (flat (n,) stride-1 views of dtype) with
        gradient g, after incrementing the float32 step count at step_view (one element)."""
        n = _checks.adam_operands(p, p_view, ((g, g_view, "grad"), (m, m_view, "exp_avg"), (v, v_view, "exp_avg_sq")),
                                  step, step_view, dtype, _FLOAT32)
        rc = lib.tg_adam_step(_DT[dtype.name], n, p.ptr, p_view.offset, g.ptr, g_view.offset, m.ptr, m_view.offset,
                              v.ptr, v_view.offset, step.ptr, step_view.offset, float(lr),
                              float(betas[0]), float(betas[1]), float(eps), float(weight_decay),
                              1 if decoupled else 0, 1 if maximize else 0)
        if rc:
            _fail(f"adam_step on {dtype.name}", rc)

    def gelu(self, x: CBuffer, view: View, dtype: DType) -> CBuffer:
        """The exact (erf) GELU of a flat (n,) stride-1 view."""
        n = _flat(x, view, dtype, "gelu")
        out = _new(n, dtype)
        rc = lib.tg_gelu(_DT[dtype.name], n, x.ptr, view.offset, out.ptr)
        if rc:
            _fail(f"gelu on {dtype.name}", rc)
        return out

    def gelu_backward(self, g: CBuffer, g_view: View, x: CBuffer, x_view: View, dtype: DType) -> CBuffer:
        """The input gradient of the exact GELU at x for output gradient g; flat (n,) stride-1 views."""
        n = _flat(g, g_view, dtype, "gelu_backward")
        if _flat(x, x_view, dtype, "gelu_backward") != n:
            raise ShapeError(f"c backend: gelu_backward: views {g_view} and {x_view} differ in size")
        out = _new(n, dtype)
        rc = lib.tg_gelu_backward(_DT[dtype.name], n, g.ptr, g_view.offset, x.ptr, x_view.offset, out.ptr)
        if rc:
            _fail(f"gelu_backward on {dtype.name}", rc)
        return out

    def layer_norm(self, x: CBuffer, x_view: View, w: Optional[CBuffer], w_view: Optional[View], b: Optional[CBuffer],
                   b_view: Optional[View], eps: float, dtype: DType) -> tuple:
        """(out, mean, rstd): layer norm over the rows of a row-major (rows, cols) view, optional (cols,) affine."""
        rows, cols = _rows(x, x_view, dtype, "layer_norm")
        for buf, view, what in ((w, w_view, "weight"), (b, b_view, "bias")):
            if buf is not None and _flat(buf, view, dtype, f"layer_norm {what}") != cols:
                raise ShapeError(f"c backend: layer_norm: {what} view {view} for {cols} columns")
        out, mean, rstd = _new(rows * cols, dtype), _new(rows, dtype), _new(rows, dtype)
        rc = lib.tg_layer_norm(_DT[dtype.name], rows, cols, x.ptr, x_view.offset, ffi.NULL if w is None else w.ptr,
                               0 if w is None else w_view.offset, ffi.NULL if b is None else b.ptr,
                               0 if b is None else b_view.offset, float(eps), out.ptr, mean.ptr, rstd.ptr)
        if rc:
            _fail(f"layer_norm on {dtype.name}", rc)
        return out, mean, rstd

    def layer_norm_backward(self, g: CBuffer, g_view: View, x: CBuffer, x_view: View, mean: CBuffer, rstd: CBuffer,
                            w: Optional[CBuffer], w_view: Optional[View], dtype: DType, want_dw: bool,
                            want_db: bool) -> tuple:
        """(dx, dw or None, db or None): the gradients of layer_norm for output gradient g."""
        rows, cols = _rows(x, x_view, dtype, "layer_norm_backward")
        if _rows(g, g_view, dtype, "layer_norm_backward") != (rows, cols):
            raise ShapeError(f"c backend: layer_norm_backward: views {g_view} and {x_view} differ in shape")
        for buf, what in ((mean, "mean"), (rstd, "rstd")):
            _check(buf, View((rows,), (1,), 0), dtype, f"layer_norm_backward {what}")
        if w is not None and _flat(w, w_view, dtype, "layer_norm_backward weight") != cols:
            raise ShapeError(f"c backend: layer_norm_backward: weight view {w_view} for {cols} columns")
        dx = _new(rows * cols, dtype)
        dw = _new(cols, dtype) if want_dw else None
        db = _new(cols, dtype) if want_db else None
        rc = lib.tg_layer_norm_backward(_DT[dtype.name], rows, cols, g.ptr, g_view.offset, x.ptr, x_view.offset,
                                        mean.ptr, rstd.ptr, ffi.NULL if w is None else w.ptr,
                                        0 if w is None else w_view.offset, dx.ptr,
                                        ffi.NULL if dw is None else dw.ptr, ffi.NULL if db is None else db.ptr)
        if rc:
            _fail(f"layer_norm_backward on {dtype.name}", rc)
        return dx, dw, db

    # attention (optional kernels) ---------------------------------------------------------
    def sdpa(self, q: CBuffer, q_view: View, k: CBuffer, k_view: View, v: CBuffer, v_view: View, out_view: View,
             causal: bool, scale: float, dtype: DType) -> tuple:
        """(out written through out_view, contiguous (B, H, L) row logsumexp): fused attention
        softmax(scale q k^T [causal]) v of (B, H, L|S, E|Ev) views (csrc/attention.c)."""
        B, H, L, S, E, Ev = sdpa_shapes(_checks, q, q_view, k, k_view, v, v_view, dtype, "sdpa")
        out = _new(result_size("c", out_view, (B, H, L, Ev), "sdpa out"), dtype)
        lse = _new(B * H * L, dtype)
        ov = out_view.strides
        geo = [B, H, L, S, E, Ev] + bhr(q_view) + bhr(k_view) + bhr(v_view) + [ov[0], ov[1], ov[2]]
        rc = lib.tg_sdpa(_DT_OF[dtype], geo, q.ptr, k.ptr, v.ptr, out.ptr, lse.ptr, 1 if causal else 0, float(scale))
        if rc:
            _fail(f"sdpa on {dtype.name}", rc)
        return out, lse

    def sdpa_backward(self, g: CBuffer, g_view: View, q: CBuffer, q_view: View, k: CBuffer, k_view: View,
                      v: CBuffer, v_view: View, o: CBuffer, o_view: View, lse: CBuffer, lse_view: View,
                      dq_view: View, dk_view: View, dv_view: View, causal: bool, scale: float, dtype: DType) -> tuple:
        """(dq, dk, dv), written through the given result views: the gradients of sdpa for output gradient g."""
        B, H, L, S, E, Ev = sdpa_backward_shapes(_checks, g, g_view, q, q_view, k, k_view, v, v_view, o, o_view,
                                                 lse, lse_view, dtype)
        dq = _new(result_size("c", dq_view, (B, H, L, E), "sdpa_backward dq"), dtype)
        dk = _new(result_size("c", dk_view, (B, H, S, E), "sdpa_backward dk"), dtype)
        dv = _new(result_size("c", dv_view, (B, H, S, Ev), "sdpa_backward dv"), dtype)
        geo = ([B, H, L, S, E, Ev] + bhr(g_view) + bhr(q_view) + bhr(k_view) + bhr(v_view) + bhr(o_view)
               + [lse_view.offset] + list(dq_view.strides[:3]) + list(dk_view.strides[:3]) + list(dv_view.strides[:3]))
        rc = lib.tg_sdpa_backward(_DT_OF[dtype], geo, g.ptr, q.ptr, k.ptr, v.ptr, o.ptr, lse.ptr, dq.ptr, dk.ptr,
                                  dv.ptr, 1 if causal else 0, float(scale))
        if rc:
            _fail(f"sdpa_backward on {dtype.name}", rc)
        return dq, dk, dv


from tinygrad_like.dtypes import int64 as _INT64  # noqa: E402
from tinygrad_like.dtypes import float32 as _FLOAT32  # noqa: E402

_PTR = {"bool": "_Bool *", "uint8": "uint8_t *", "int16": "int16_t *", "int32": "int32_t *", "int64": "int64_t *",
        "float32": "float *", "float64": "double *"}
_CTYPE = {"float32": "float[]", "float64": "double[]"}


_NO_BATCH = [0]  # tg_matmul's batch geometry when there is no batch


def _blas_layout(rows: int, cols: int, s_r: int, s_c: int) -> tuple[int, int]:
    """(transpose flag, leading dim) for a row-major BLAS matrix, or (-1, 0) if it needs a copy.

    A view whose last stride is 1 is NoTrans with ld = the row stride; one whose second-to-last
    stride is 1 is Trans with ld = the column stride. Size-1 dims may carry any stride."""
    if (cols == 1 or s_c == 1) and (rows == 1 or s_r >= max(cols, 1)):
        return 0, (s_r if rows > 1 else max(cols, 1))
    if (rows == 1 or s_r == 1) and (cols == 1 or s_c >= max(rows, 1)):
        return 1, (s_c if cols > 1 else max(rows, 1))
    return -1, 0


def _after_fork() -> None:
    # the pool's threads do not survive fork(): reset it, and run serial kernels in the child
    lib.tg_after_fork()
    lib.tg_set_threads(1)
