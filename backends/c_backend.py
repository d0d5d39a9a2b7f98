"""The C backend: kernels in csrc/ called through cffi (API mode), matmul through OpenBLAS (float32
products of small and mid size through csrc/gemm.c (AVX-512) or csrc/gemm_avx2.c (AVX2), GEMMs of our
own that are faster there).

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
from array import array
from typing import Any, Optional, Sequence

from tinygrad_like.dtypes import DType, bool_
from tinygrad_like.errors import BackendError, DTypeError, ShapeError
from tinygrad_like.view import View, contiguous_strides, prod

from . import c_runtime as rt
from .c_capture import NativeCapture
from .c_fused import CFusedKernels
from .c_runtime import _CHARS, _MID, _CTYPE, _DT, _INT64, _PTR, CBuffer, _alloc, _check, _code, _fail, _geo, _new, _obj_new, ffi
from .common import COMPARE, first_dim_disjoint
from .protocol import ARG_REDUCE_CODES, BINARY_CODES, REDUCE_CODES, SCAN_CODES, SCATTER_CODES, UNARY_CODES
from .threads import num_threads

# Below these element counts kernels run on one thread: on this machine a 2-thread add of 1e3
# elements costs 1.8 us against 0.34 us serial; at 1e5 the two threads win (7 us against 12 us).
PAR_MIN_CHEAP = 65536
PAR_MIN_COSTLY = 8192

_BINARY_HOT: dict = {}  # (op, dtype) -> (op code, dtype code, result dtype), filled by _binary_checks
_SCATTER = SCATTER_CODES
_SCAN = SCAN_CODES


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


class CBackend(CFusedKernels):
    """C kernels through cffi + OpenBLAS (see backends/protocol.py for the contract)."""

    name = "c"
    # gather/scatter_add check every index against the dim's size in C (before any access
    # outside the view) and raise TensorIndexError, so the core skips its own range check
    checks_indices = True

    def __init__(self) -> None:
        self.set_num_threads(num_threads())
        spin = os.environ.get("TG_SPIN_US", "").strip()
        if spin.isdigit():
            rt.lib.tg_set_spin_us(int(spin))
        rt.lib.tg_set_par_min(PAR_MIN_CHEAP, PAR_MIN_COSTLY)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork)

    # threads ----------------------------------------------------------------------
    def set_num_threads(self, n: int) -> None:
        """Use n threads in every kernel (matmul included: its blocks run on the OpenMP threads)."""
        n = max(1, int(n))
        rt.lib.tg_set_threads(n)
        # OpenBLAS stays serial: csrc/blas.c splits big products over the pool's threads itself,
        # so one pool serves every kernel (two pools wake each other's threads at every switch)
        rt.lib.scipy_openblas_set_num_threads(1)

    def get_num_threads(self) -> int:
        return rt.lib.tg_get_threads()

    def native_capture(self) -> NativeCapture:
        """A tg.jit capture recording this backend's kernel calls as a C-level program (c_capture.py)."""
        return NativeCapture(rt)

    # memory -----------------------------------------------------------------------
    def empty(self, n: int, dtype: DType) -> CBuffer:
        return _new(n, dtype)

    def full(self, n: int, value: Any, dtype: DType) -> CBuffer:
        if n == 1 and dtype.is_float:  # the scalar operand of x * 0.5: one initialised allocation
            buf = CBuffer(_alloc(_CTYPE[dtype.name], (value,)), 1, dtype)
            if rt.on_new is not None:
                rt.on_new(buf)
            return buf
        buf = _new(n, dtype)
        if n:
            if dtype.is_float:
                rt.lib.tg_fill(_DT[dtype.name], buf.ptr, n, value, 0)
            else:
                rt.lib.tg_fill(_DT[dtype.name], buf.ptr, n, 0.0, int(value))
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
        rc = rt.lib.tg_copy(_DT[src_dtype.name], _DT[dst_dtype.name], nd,
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
        rc = rt.lib.tg_copy(d, d, len(shape), _geo(shape, src_view.strides, dst_view.strides),
                         src.ptr, src_view.offset, dst.ptr, dst_view.offset)
        if rc:
            _fail("assign", rc)

    def add_into(self, dst: CBuffer, dst_view: View, src: CBuffer, src_view: View, dtype: DType) -> None:
        _check(dst, dst_view, dtype, "add_into")
        _check(src, src_view, dtype, "add_into")
        if dst_view.shape != src_view.shape:
            raise ShapeError(f"c backend: add_into: shapes {dst_view.shape} and {src_view.shape} differ")
        shape = dst_view.shape or (1,)
        rc = rt.lib.tg_add_into(_DT[dtype.name], len(shape), _geo(shape, dst_view.strides or (0,), src_view.strides or (0,)),
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
            rc = rt.lib.tg_unary1(code, _DT[dtype.name], n, x.ptr, view.offset, view.strides[0], out.ptr)
        else:
            out = _new(view.numel(), dtype)
            rc = rt.lib.tg_unary(code, _DT[dtype.name], nd, _geo(shape, view.strides), x.ptr, view.offset, out.ptr)
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
                if nbytes < _MID and rt.on_new is None:
                    out = _obj_new(CBuffer)
                    out.ptr = _alloc(_CHARS, nbytes or 1)
                    out.size = n
                    out.dtype = odt
                else:
                    out = _new(n, odt)
            elif type(out) is not CBuffer or out.dtype is not odt or out.size < n:
                raise BackendError(f"c backend: {op}: out= must be a {odt.name} CBuffer of >= {n} elements")
            rc = rt.lib.tg_binary1(code, dt, n, a.ptr, oa, sa, b.ptr, ob, sb, out.ptr)
        else:
            hot = _BINARY_HOT.get((op, dtype)) if len(shape) == 2 else None
            if hot is not None:
                # 2-d (every broadcast of a matrix and a row or column, transposed operands): the
                # same inline checks as above, for non-empty views with strides >= 0
                (r, c), (sa0, sa1), (sb0, sb1) = shape, a_view.strides, b_view.strides
                oa, ob = a_view.offset, b_view.offset
                if not (type(a) is CBuffer and type(b) is CBuffer and a.dtype is dtype and b.dtype is dtype
                        and b_view.shape == shape and r > 0 and c > 0 and sa0 >= 0 and sa1 >= 0 and sb0 >= 0
                        and sb1 >= 0 and oa >= 0 and ob >= 0 and oa + (r - 1) * sa0 + (c - 1) * sa1 < a.size
                        and ob + (r - 1) * sb0 + (c - 1) * sb1 < b.size):
                    hot = None
                geo = [r, c, sa0, sa1, sb0, sb1]
            if hot is None:
                hot = self._binary_checks(op, a, a_view, b, b_view, dtype)
                geo = _geo(shape, a_view.strides, b_view.strides)
            code, dt, odt = hot
            n = a_view.numel()
            if out is None:
                out = _new(n, odt)
            elif type(out) is not CBuffer or out.dtype is not odt or out.size < n:
                raise BackendError(f"c backend: {op}: out= must be a {odt.name} CBuffer of >= {n} elements")
            rc = rt.lib.tg_binary(code, dt, len(shape), geo, a.ptr, a_view.offset, b.ptr, b_view.offset, out.ptr)
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
        rc = rt.lib.tg_where(_DT[dtype.name], len(shape), _geo(shape, cond_view.strides, a_view.strides, b_view.strides),
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
        rc = rt.lib.tg_reduce(code, _DT[dtype.name], len(shape), k, _geo(shape, view.strides), x.ptr, view.offset, out.ptr)
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
        rc = rt.lib.tg_arg_reduce(code, _DT[dtype.name], len(shape), _geo(shape, view.strides), x.ptr, view.offset,
                               ffi.cast("int64_t *", out.ptr))
        if rc:
            _fail(f"{op} on {dtype.name}", rc)
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
                rc = rt.lib.tg_matmul(_DT[dtype.name], 0, _NO_BATCH, a.ptr, a_view.offset, ta, lda,
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
        rc = rt.lib.tg_matmul(_DT[dtype.name], nb, _geo(batch, abst, bbst), a.ptr, aoff, ta, lda,
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
        gather = rt.lib.tg_gather_rows if _rows_pattern(dim, shape, x_view.strides, index_view.strides) else rt.lib.tg_gather
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
        rc = (rt.lib.tg_scatter_add_rows if rows else rt.lib.tg_scatter_add)(_DT[dtype.name], nd, dim, dst_view.shape[dim],
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
        rc = rt.lib.tg_scatter(_SCATTER[op], _DT[dtype.name], nd, dim, dst_view.shape[dim],
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
        rc = rt.lib.tg_scan(_SCAN[op], _DT[dtype.name], len(view.shape), _geo(view.shape, view.strides), x.ptr,
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
        rc = rt.lib.tg_sort(_DT[dtype.name], len(view.shape), _geo(view.shape, view.strides), x.ptr, view.offset,
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
        rc = rt.lib.tg_random(0 if dist == "uniform" else 1, _DT[dtype.name], n, seed & mask, counter & mask, out.ptr)
        if rc:
            _fail(f"random {dist} on {dtype.name}", rc)
        return out


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
    rt.lib.tg_after_fork()
    rt.lib.tg_set_threads(1)
