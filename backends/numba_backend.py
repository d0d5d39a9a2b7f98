"""The numba backend: 1-D numpy arrays as buffers, every primitive an @njit kernel of ours.

numpy only allocates and wraps memory here (np.empty through numba_alloc's pool, np.full, np.frombuffer); the kernels in
numba_elementwise, numba_reduce, numba_misc and numba_matmul compute every result. Kernels
compile lazily on first use and are cached on disk (cache=True), so importing this module
compiles nothing. Each kernel comes in a serial and a parallel build; a call takes the
parallel one only above a measured size, because waking the thread pool costs about 1.5 us,
and a process forked after a parallel kernel ran takes the serial ones only.
The Python side of each call is kept short: dispatch tables are built once, and a call
allocates nothing but its output.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Optional, Sequence

import math
import os
import warnings

import numba
import numpy as np
from numba.core.errors import NumbaIRAssumptionWarning

from tinygrad_like.dtypes import DType, bool_, float32, float64, int16, int32, int64, uint8
from tinygrad_like.errors import BackendError, DTypeError, ShapeError, TensorIndexError
from tinygrad_like.view import View, prod

from . import numba_attention as attn
from . import numba_conv as conv
from . import numba_conv_direct as conv_direct
from . import numba_elementwise as ew
from . import numba_fused as fu
from . import numba_fusion
from . import numba_matmul as mm
from . import numba_misc as misc
from . import numba_reduce as red
from . import numba_sortscan as ss
from .common import COMPARE, ViewChecks, first_dim_disjoint
from .protocol import BINARY_CODES, MASK64, REDUCE_CODES, SCATTER_CODES, mix64
from .numba_alloc import empty
from .numba_pool import start_pool
from .threads import num_threads

# numba's own SSA self-check flags conditional expressions inlined from our scalar-op overloads;
# the compiled code is right (the suite checks every op), the warning is noise to a user.
warnings.filterwarnings("ignore", category=NumbaIRAssumptionWarning)

NP_TYPES: dict[DType, Any] = {float32: np.float32, float64: np.float64, int64: np.int64, int32: np.int32,
                              int16: np.int16, uint8: np.uint8, bool_: np.uint8}

# Sizes (elements, or multiply-adds for matmul) from which the parallel build wins on this
# 2-core machine; below them the serial kernel avoids the ~1.5 us pool wake-up. A forked child
# raises them out of reach (_after_fork_in_child).
PAR_ELEMWISE = 1 << 16
PAR_REDUCE = 1 << 16
PAR_MATMUL = 1 << 20
SERIAL_ONLY = 1 << 62  # every threshold in a child forked after the parent's pool started


def _after_fork_in_child() -> None:
    """A child forked after the parent ran a parallel kernel runs the serial builds only.

    numba's `omp` layer (GNU OpenMP) cannot run a parallel region in such a child: it kills the
    process ("fork() called from a process already using GNU OpenMP, this is unsafe"), which a
    multiprocessing.Pool sees as a task that never returns. `workqueue` threads do not survive
    fork either; only `tbb` is fork-safe. A parent that never started the pool leaves the child
    free to start its own."""
    global PAR_ELEMWISE, PAR_REDUCE, PAR_MATMUL
    try:
        layer = numba.threading_layer()
    except ValueError:  # not initialized: no parallel kernel has run in the parent
        return
    if layer != "tbb":
        PAR_ELEMWISE = PAR_REDUCE = PAR_MATMUL = SERIAL_ONLY


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

class _Kernels(dict):
    """Kernel dispatchers made on first use: key -> make(*key) (making one compiles nothing)."""

    def __init__(self, make: Callable[..., Any]):
        super().__init__()
        self._make = make

    def __missing__(self, key: Any) -> Any:
        k = self[key] = self._make(*key) if isinstance(key, tuple) else self._make(key)
        return k


def _table(make: Callable[..., Any], codes: dict[str, int], *args: Any) -> tuple[dict, dict]:
    """(serial, parallel) tables name -> make(code, parallel, *args) for every op name in codes."""
    ser = _Kernels(lambda name: make(codes[name], False, *args))
    par = _Kernels(lambda name: make(codes[name], True, *args))
    return ser, par


_UN1 = _table(ew.make_unary1, ew.UNARY_CODES)
_UNN = _table(ew.make_unaryN, ew.UNARY_CODES)
_UNN_TILED = _table(ew.make_unaryN, ew.UNARY_CODES, True)
_BIN1 = _table(ew.make_binary1, BINARY_CODES)
_BINN = _table(ew.make_binaryN, BINARY_CODES)
_BINN_TILED = _table(ew.make_binaryN, BINARY_CODES, True)
_BIN1_INPLACE = _table(ew.make_binary1_inplace, BINARY_CODES)
_WHERE1 = (_Kernels(lambda _: ew.make_where1(False)), _Kernels(lambda _: ew.make_where1(True)))
_WHEREN = (_Kernels(lambda _: ew.make_whereN(False)), _Kernels(lambda _: ew.make_whereN(True)))
_ROWS = _table(red.make_reduce_rows, REDUCE_CODES)
_COLS = _table(red.make_reduce_cols, REDUCE_CODES)
_REDN = _table(red.make_reduceN, REDUCE_CODES)
_ARG = _Kernels(lambda op, par: red.make_arg_reduce(op == "argmax", par))
_SOFTMAX = _Kernels(red.make_softmax)
_RANDOM = _Kernels(misc.make_random)
_GEMM = _Kernels(mm.make_gemm)
_GEMM_SMALL = _Kernels(mm.make_gemm_small)
_GEMM_COLS = _Kernels(mm.make_gemm_cols)
_RELU_BW = _Kernels(fu.make_relu_backward)
_AXPY = _Kernels(fu.make_axpy)
_SOFTMAX_BW = _Kernels(fu.make_softmax_backward)
_XENT = _Kernels(fu.make_cross_entropy)
_SCAN = _Kernels(ss.make_scan)
_SORT = _Kernels(ss.make_sort)
_CONV = _Kernels(conv.make_conv2d)
_CONV_BW = _Kernels(conv.make_conv2d_backward)
_CONV_DIRECT = _Kernels(conv_direct.make_conv2d_direct)
_CONV_DIRECT_BW = _Kernels(conv_direct.make_conv2d_backward_direct)
_MAXPOOL = _Kernels(conv.make_max_pool2d)
_MAXPOOL_BW = _Kernels(conv.make_max_pool2d_backward)
_ADAM = _Kernels(fu.make_adam_step)
_GELU = _Kernels(fu.make_gelu)
_LN = _Kernels(fu.make_layer_norm)
_LN_BW = _Kernels(fu.make_layer_norm_backward)
NP_DTYPES = {t: np.dtype(v) for t, v in NP_TYPES.items()}


@lru_cache(maxsize=1024)
def _nd(shape: tuple, *strides: tuple) -> tuple:
    """(shape, *strides) padded in front with size-1 dims to 4 or 8 dims: numba compiles a
    kernel once per tuple length, and each N-D kernel costs seconds of LLVM time."""
    n = len(shape)
    m = 4 if n <= 4 else 8 if n <= 8 else n
    if m == n:
        return (shape, *strides)
    pad = m - n
    return ((1,) * pad + shape, *((0,) * pad + s for s in strides))


def _unit(s: int) -> bool:
    return s == 1 or s == 0


def _flat_pair(what: str, a: np.ndarray, a_view: View, b: np.ndarray, b_view: View, dtype: DType) -> int:
    """The element count of two checked flat (n,) stride-1 views of one size."""
    n = _flat(a, a_view, dtype, what)
    if _flat(b, b_view, dtype, what) != n:
        raise ShapeError(f"numba backend: {what}: views {a_view} and {b_view} differ in size")
    return n


class NumbaBackend:
    """JIT-compiled kernels over numpy buffers (see backends/protocol.py for the contract)."""

    name = "numba"
    # gather/scatter_add check every index in the kernel (the core then skips its own check)
    checks_indices = True

    def __init__(self) -> None:
        start_pool(max(1, min(num_threads(), numba.config.NUMBA_NUM_THREADS)))

    # ---- memory -------------------------------------------------------------------
    def empty(self, n: int, dtype: DType) -> np.ndarray:
        return empty(n, NP_TYPES[dtype])

    def full(self, n: int, value: Any, dtype: DType) -> np.ndarray:
        with np.errstate(over="ignore"):  # a float beyond float32's range rounds to inf, as in the reference
            return np.full(n, value, NP_TYPES[dtype])

    def from_list(self, values: Sequence[Any], dtype: DType) -> np.ndarray:
        if dtype is float32:
            with np.errstate(over="ignore"):  # float32 overflow rounds to inf, as in the reference
                return np.array(values, dtype=np.float32).reshape(-1)
        return np.array(values, dtype=NP_TYPES[dtype]).reshape(-1)

    def to_list(self, buf: np.ndarray, view: View, dtype: DType) -> list:
        shape, strides, off = view.shape, view.strides, view.offset
        if not shape:
            flat = buf[off:off + 1]
        elif len(shape) == 1 and strides[0] == 1:
            flat = buf[off:off + shape[0]]
        else:
            flat = self.copy(buf, view, dtype, dtype)
        return flat.view(np.bool_).tolist() if dtype is bool_ else flat.tolist()

    def from_buffer(self, obj: memoryview, dtype: DType) -> np.ndarray:
        arr = np.frombuffer(obj, dtype=NP_TYPES[dtype])
        if not (arr.flags.writeable and arr.flags.aligned):
            arr = arr.copy()  # kernels write buffers in place, and one array type keeps one compile
        return arr

    def memoryview(self, buf: np.ndarray, dtype: DType) -> memoryview:
        return memoryview(buf)

    def buffer_size(self, buf: np.ndarray) -> int:
        return buf.size

    # ---- copies ---------------------------------------------------------------------
    def copy(self, src: np.ndarray, view: View, src_dtype: DType, dst_dtype: DType) -> np.ndarray:
        if dst_dtype is bool_ and src_dtype is not bool_:
            op = "tobool"
        elif src_dtype.is_float and dst_dtype.category == 1 and dst_dtype is not int64:
            op = "toint"  # through int64, so out-of-range values wrap (a direct cast would be poison)
        else:
            op = "copy"
        return self._unary(op, src, view, NP_TYPES[dst_dtype])

    def assign(self, dst: np.ndarray, dst_view: View, src: np.ndarray, src_view: View, dtype: DType) -> None:
        shape = dst_view.shape
        if len(shape) <= 1:
            n = shape[0] if shape else 1
            sd = dst_view.strides[0] if shape else 0
            ss = src_view.strides[0] if shape else 0
            ew.assign1(dst, dst_view.offset, sd, src, src_view.offset, ss, n)
        else:
            shape, sd, ss = _nd(shape, dst_view.strides, src_view.strides)
            ew.assignN(dst, dst_view.offset, sd, src, src_view.offset, ss, shape)

    def add_into(self, dst: np.ndarray, dst_view: View, src: np.ndarray, src_view: View, dtype: DType) -> None:
        shape = dst_view.shape or (1,)
        geo = (np.array(shape, np.int64), np.array(dst_view.strides or (0,), np.int64),
               np.array(src_view.strides or (0,), np.int64))
        kernel = conv.add_into_par if prod(shape) >= PAR_ELEMWISE and first_dim_disjoint(dst_view) else conv.add_into
        kernel(dst, dst_view.offset, geo[1], src, src_view.offset, geo[2], geo[0])

    # ---- elementwise ----------------------------------------------------------------
    def unary(self, op: str, x: np.ndarray, view: View, dtype: DType) -> np.ndarray:
        return self._unary(op, x, view, NP_TYPES[dtype])

    def _unary(self, op: str, x: np.ndarray, view: View, out_type: Any) -> np.ndarray:
        shape = view.shape
        if len(shape) <= 1:
            n = shape[0] if shape else 1
            out = empty(n, out_type)
            _UN1[n >= PAR_ELEMWISE][op](x, view.offset, view.strides[0] if shape else 0, out, n)
            return out
        n = 1
        for d in shape:
            n *= d
        out = empty(n, out_type)
        kernels = _UNN if _unit(view.strides[-1]) else _UNN_TILED
        shape, sx = _nd(shape, view.strides)
        kernels[n >= PAR_ELEMWISE][op](x, view.offset, sx, out, shape)
        return out

    def binary(self, op: str, a: np.ndarray, a_view: View, b: np.ndarray, b_view: View, dtype: DType,
               out: Optional[np.ndarray] = None) -> np.ndarray:
        shape = a_view.shape
        if len(shape) <= 1:
            n = shape[0] if shape else 1
            if out is None:
                out = empty(n, np.uint8 if op in COMPARE else NP_TYPES[dtype])
            elif out is a and a_view.offset == 0 and shape and a_view.strides[0] == 1 and op not in COMPARE:
                _BIN1_INPLACE[n >= PAR_ELEMWISE][op](a, 0, b, b_view.offset, b_view.strides[0], n)
                return out
            if shape:
                _BIN1[n >= PAR_ELEMWISE][op](a, a_view.offset, a_view.strides[0], b, b_view.offset,
                                             b_view.strides[0], out, n)
            else:
                _BIN1[False][op](a, a_view.offset, 0, b, b_view.offset, 0, out, 1)
            return out
        n = 1
        for d in shape:
            n *= d
        if out is None:
            out = empty(n, np.uint8 if op in COMPARE else NP_TYPES[dtype])
        kernels = _BINN if _unit(a_view.strides[-1]) and _unit(b_view.strides[-1]) else _BINN_TILED
        shape, sa, sb = _nd(shape, a_view.strides, b_view.strides)
        kernels[n >= PAR_ELEMWISE][op](a, a_view.offset, sa, b, b_view.offset, sb, out, shape)
        return out

    def where(self, cond: np.ndarray, cond_view: View, a: np.ndarray, a_view: View, b: np.ndarray,
              b_view: View, dtype: DType) -> np.ndarray:
        shape = a_view.shape
        if len(shape) <= 1:
            n = shape[0] if shape else 1
            out = empty(n, NP_TYPES[dtype])
            s = (lambda v: v.strides[0]) if shape else (lambda v: 0)
            _WHERE1[n >= PAR_ELEMWISE][None](cond, cond_view.offset, s(cond_view), a, a_view.offset, s(a_view),
                                             b, b_view.offset, s(b_view), out, n)
            return out
        n = 1
        for d in shape:
            n *= d
        out = empty(n, NP_TYPES[dtype])
        shape, sc, sa, sb = _nd(shape, cond_view.strides, a_view.strides, b_view.strides)
        _WHEREN[n >= PAR_ELEMWISE][None](cond, cond_view.offset, sc, a, a_view.offset, sa, b, b_view.offset, sb,
                                         out, shape)
        return out

    # ---- reductions -----------------------------------------------------------------
    def reduce(self, op: str, x: np.ndarray, view: View, k: int, dtype: DType) -> np.ndarray:
        shape, strides = view.shape, view.strides
        nk = len(shape) - k
        total = 1
        for d in shape:
            total *= d
        par = total >= PAR_REDUCE
        out_type = NP_TYPES[dtype]
        acc0 = (0.0 if dtype.is_float else 0) if op == "sum" else out_type(0)
        if k == 1 and nk <= 1:
            n, sn = shape[-1], strides[-1]
            m, sm = (shape[0], strides[0]) if nk else (1, 0)
            out = empty(m, out_type)
            if nk == 0 or abs(sn) <= abs(sm):
                _ROWS[par][op](x, view.offset, m, sm, n, sn, out, acc0)
            else:  # the kept dim is the inner one (a column sum): walk memory in order
                acc = empty(m, np.float64) if (op == "sum" and dtype.is_float) else out
                _COLS[par][op](x, view.offset, m, sm, n, sn, out, acc)
            return out
        kshape, kstrides = (shape[:nk], strides[:nk]) if nk else ((1,), (0,))
        out = empty(total // prod(shape[nk:]), out_type)
        kshape, kstrides = _nd(kshape, kstrides)
        rshape, rstrides = _nd(shape[nk:], strides[nk:])
        _REDN[par][op](x, view.offset, kshape, kstrides, rshape, rstrides, out, acc0)
        return out

    def arg_reduce(self, op: str, x: np.ndarray, view: View, dtype: DType) -> np.ndarray:
        shape, strides = view.shape, view.strides
        kshape, kstrides = (shape[:-1], strides[:-1]) if len(shape) > 1 else ((1,), (0,))
        m = prod(kshape)
        kshape, kstrides = _nd(kshape, kstrides)
        out = empty(m, np.int64)
        _ARG[op, m * shape[-1] >= PAR_REDUCE](x, view.offset, kshape, kstrides, shape[-1], strides[-1], out)
        return out

    def softmax(self, x: np.ndarray, view: View, dtype: DType, log: bool) -> np.ndarray:
        rows, cols = view.shape
        out = empty(rows * cols, NP_TYPES[dtype])
        _SOFTMAX[bool(log), rows * cols >= PAR_REDUCE](x, view.offset, rows, cols, out)
        return out

    # ---- optional fused kernels -----------------------------------------------------
    def relu_backward(self, g: np.ndarray, g_view: View, y: np.ndarray, y_view: View, dtype: DType) -> np.ndarray:
        """g where y > 0, else 0 (y = relu(x)); both views flat (n,) with stride 1."""
        n = _flat_pair("relu_backward", g, g_view, y, y_view, dtype)
        out = empty(n, g.dtype)
        _RELU_BW[n >= PAR_ELEMWISE](g, g_view.offset, y, y_view.offset, out, n, g.dtype.type(0))
        return out

    def softmax_backward(self, g: np.ndarray, g_view: View, y: np.ndarray, y_view: View, dtype: DType,
                         log: bool) -> np.ndarray:
        """The input gradient of (log-)softmax over the last dim of row-major (rows, cols) views."""
        rows, cols = _rows(g, g_view, dtype, "softmax_backward")
        if _rows(y, y_view, dtype, "softmax_backward") != (rows, cols):
            raise ShapeError(f"numba backend: softmax_backward: views {g_view} and {y_view} differ in shape")
        out = empty(rows * cols, g.dtype)
        _SOFTMAX_BW[bool(log), rows * cols >= PAR_REDUCE](g, g_view.offset, y, y_view.offset, rows, cols, out)
        return out

    def axpy(self, y: np.ndarray, y_view: View, x: np.ndarray, x_view: View, alpha: float, dtype: DType) -> None:
        """In place: y += alpha * x over flat (n,) stride-1 views (alpha * x rounded to dtype first)."""
        n = _flat(y, y_view, dtype, "axpy")
        if _flat(x, x_view, dtype, "axpy") != n:
            raise ShapeError(f"numba backend: axpy: views {y_view} and {x_view} differ in size")
        if x is y and x_view.offset != y_view.offset:
            raise BackendError("numba backend: axpy: x and y overlap in one buffer at different offsets")
        _AXPY[n >= PAR_ELEMWISE](y, y_view.offset, x, x_view.offset, y.dtype.type(alpha), n)

    def cross_entropy(self, x: np.ndarray, x_view: View, target: np.ndarray, target_view: View, dtype: DType,
                      grad: bool) -> tuple:
        """Per-row -log_softmax(x)[r, target[r]] of a row-major (rows, cols) view, and with `grad`
        also softmax(x) - one_hot(target) (rows, cols); a target outside [0, cols) raises
        TensorIndexError before anything is computed."""
        rows, cols = _rows(x, x_view, dtype, "cross_entropy")
        if _flat(target, target_view, int64, "cross_entropy target") != rows:
            raise ShapeError(f"numba backend: cross_entropy: {target_view.shape} targets for {rows} rows")
        _check_indices(target, target_view, cols, 1, "cross_entropy target")  # the kernel indexes rows with them
        loss = empty(rows, x.dtype)
        gbuf = empty(rows * cols if grad else 1, x.dtype)
        _XENT[bool(grad), rows * cols >= PAR_REDUCE](x, x_view.offset, rows, cols, target, target_view.offset,
                                                     loss, gbuf)
        return loss, (gbuf if grad else None)

    def conv2d(self, x: np.ndarray, x_view: View, w: np.ndarray, w_view: View, bias: Optional[np.ndarray],
               bias_view: Optional[View], kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
               out_size: tuple, dtype: DType) -> np.ndarray:
        """2-d convolution (groups 1) of an (N, C, H, W) view with a contiguous (OC, C*kh*kw) weight
        (+ bias), as a contiguous (N, OC, oh, ow) buffer."""
        geo, nchunks = _conv_geo(x, x_view, w, w_view, kernel, stride, dilation, pads, out_size, dtype, "conv2d")
        oc = int(geo[18])
        if bias is not None:
            _check(bias, bias_view, dtype, "conv2d bias")
            if bias_view.shape != (oc,) or bias_view.strides != (1,):
                raise ShapeError(f"numba backend: conv2d: bias view {bias_view} is not a contiguous ({oc},)")
        out = empty(int(geo[0]) * oc * out_size[0] * out_size[1], NP_TYPES[dtype])
        kernels = _CONV_DIRECT if conv_direct.direct_ok(geo) else _CONV
        kernels[nchunks > 1](geo, x, x_view.offset, w, w_view.offset, w if bias is None else bias,
                           0 if bias is None else bias_view.offset, bias is not None, out, _conv_block(geo, dtype),
                           nchunks)
        return out

    def conv2d_backward(self, x: np.ndarray, x_view: View, w: np.ndarray, w_view: View, g: np.ndarray,
                        g_view: View, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, out_size: tuple,
                        dtype: DType, need: tuple) -> tuple:
        """(gx, gw, gb) of conv2d for a contiguous (N, OC, oh, ow) gradient view; None where not needed."""
        geo, nchunks = _conv_geo(x, x_view, w, w_view, kernel, stride, dilation, pads, out_size, dtype,
                                 "conv2d_backward")
        n, oc = int(geo[0]), int(geo[18])
        _check(g, g_view, dtype, "conv2d_backward g")
        if g_view.shape != (n, oc) + tuple(out_size) or not g_view.is_contiguous():
            raise ShapeError(f"numba backend: conv2d_backward: g view {g_view} is not a contiguous "
                             f"{(n, oc) + tuple(out_size)}")
        t = NP_TYPES[dtype]
        wsize = prod(w_view.shape)
        gx = empty(prod(x_view.shape) if need[0] else 1, t)
        gw = empty(nchunks * wsize if need[1] else 1, t)
        gb = empty(nchunks * oc if need[2] else 1, t)
        kernels = _CONV_DIRECT_BW if conv_direct.direct_ok(geo, backward=True) else _CONV_BW
        kernels[nchunks > 1](geo, x, x_view.offset, w, w_view.offset, g, g_view.offset, gx, gw, gb,
                              bool(need[0]), bool(need[1]), bool(need[2]), _conv_block(geo, dtype), nchunks)
        if nchunks > 1:  # the chunks' partial sums, in chunk order
            gw = gw.reshape(nchunks, wsize).sum(0, dtype=t) if need[1] else gw
            gb = gb.reshape(nchunks, oc).sum(0, dtype=t) if need[2] else gb
        return gx if need[0] else None, gw if need[1] else None, gb if need[2] else None

    def max_pool2d(self, x: np.ndarray, x_view: View, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
                   out_size: tuple, dtype: DType) -> tuple:
        """(values, int64 flat indices) of 2-d max-pooling of an (N, C, H, W) view, contiguous (N, C, oh, ow)."""
        _check(x, x_view, dtype, "max_pool2d")
        if len(x_view.shape) != 4 or not (dtype.is_float or dtype is int64):
            raise ShapeError(f"numba backend: max_pool2d needs an (N, C, H, W) float or int64 view, got {x_view}")
        geo = np.array(x_view.shape + x_view.strides + tuple(kernel) + tuple(stride) + tuple(dilation) + tuple(pads)
                       + tuple(out_size), np.int64)
        n = x_view.shape[0] * x_view.shape[1] * out_size[0] * out_size[1]
        vals, idx = empty(n, NP_TYPES[dtype]), empty(n, np.int64)
        init = x.dtype.type(-np.inf) if dtype.is_float else np.int64(np.iinfo(np.int64).min)
        _MAXPOOL[n * kernel[0] * kernel[1] >= PAR_ELEMWISE](geo, x, x_view.offset, vals, idx, init, dtype.is_float)
        return vals, idx

    def max_pool2d_backward(self, g: np.ndarray, g_view: View, idx: np.ndarray, idx_view: View, plane: int,
                            dtype: DType) -> np.ndarray:
        """(P, plane) buffer: out[p, idx[p, i]] += g[p, i] for contiguous (P, L) views g and idx."""
        rows, cols = _rows(g, g_view, dtype, "max_pool2d_backward")
        if _rows(idx, idx_view, int64, "max_pool2d_backward indices") != (rows, cols):
            raise ShapeError(f"numba backend: max_pool2d_backward: views {g_view} and {idx_view} differ in shape")
        out = empty(rows * plane, g.dtype)
        if _MAXPOOL_BW[rows * (plane + cols) >= PAR_ELEMWISE](g, g_view.offset, idx, idx_view.offset, out, rows,
                                                               plane, cols):
            raise TensorIndexError(f"numba backend: max_pool2d_backward: an index is outside [0, {plane})")
        return out

    # ---- linear algebra -------------------------------------------------------------
    def matmul(self, a: np.ndarray, a_view: View, b: np.ndarray, b_view: View, dtype: DType) -> np.ndarray:
        return _matmul_kernel(a_view, b_view, dtype)(a, a_view, b, b_view, dtype)

    # ---- indexing -------------------------------------------------------------------
    def gather(self, x: np.ndarray, x_view: View, index: np.ndarray, index_view: View, dim: int,
               dtype: DType) -> np.ndarray:
        shape = index_view.shape
        _check_indices(index, index_view, x_view.shape[dim], dim, "gather")
        out = empty(prod(shape), NP_TYPES[dtype])
        misc.gather(x, x_view.offset, x_view.strides, index, index_view.offset, index_view.strides,
                    shape, dim, out)
        return out

    def scatter_add(self, dst: np.ndarray, dst_view: View, index: np.ndarray, index_view: View,
                    src: np.ndarray, src_view: View, dim: int, dtype: DType) -> None:
        _check_indices(index, index_view, dst_view.shape[dim], dim, "scatter_add")
        misc.scatter_add(dst, dst_view.offset, dst_view.strides, index, index_view.offset,
                         index_view.strides, src, src_view.offset, src_view.strides, index_view.shape, dim)

    def scatter(self, op: str, dst: np.ndarray, dst_view: View, index: np.ndarray, index_view: View,
                src: np.ndarray, src_view: View, dim: int, dtype: DType) -> None:
        _check_indices(index, index_view, dst_view.shape[dim], dim, f"scatter {op}")  # before any write
        ss.scatter(SCATTER_CODES[op], dst, dst_view.offset, dst_view.strides, index, index_view.offset,
                   index_view.strides, src, src_view.offset, src_view.strides, index_view.shape, dim)

    # ---- scans and sorting along the last dim ------------------------------------------
    def scan(self, op: str, x: np.ndarray, view: View, dtype: DType) -> np.ndarray:
        n = prod(view.shape)
        out = empty(n, NP_TYPES[dtype])
        shape, strides = _nd(view.shape, view.strides)
        _SCAN[op == "prod", n >= PAR_ELEMWISE and view.shape[-1] < n, dtype.is_float](x, view.offset, shape, strides, out)
        return out

    def sort(self, x: np.ndarray, view: View, dtype: DType, descending: bool, k: int) -> tuple:
        m = prod(view.shape) // view.shape[-1] * k
        vals, idx = empty(m, NP_TYPES[dtype]), empty(m, np.int64)
        shape, strides = _nd(view.shape, view.strides)
        _SORT[prod(view.shape) >= PAR_ELEMWISE and view.shape[-1] < prod(view.shape)](
            x, view.offset, shape, strides, bool(descending), k, vals, idx)
        return vals, idx

    # ---- random ---------------------------------------------------------------------
    def random(self, dist: str, n: int, seed: int, counter: int, dtype: DType) -> np.ndarray:
        out = empty(n, NP_TYPES[dtype])
        kernel = _RANDOM[dist == "normal", dtype is float32, n >= PAR_ELEMWISE]
        kernel(out, np.uint64(mix64(seed & MASK64)), np.uint64(counter & MASK64))
        return out

    # ---- optimizer step (optional kernel) ------------------------------------------------
    def adam_step(self, p: np.ndarray, p_view: View, g: np.ndarray, g_view: View, m: np.ndarray, m_view: View,
                  v: np.ndarray, v_view: View, step: np.ndarray, step_view: View, dtype: DType, lr: float,
                  betas: tuple, eps: float, weight_decay: float, decoupled: bool, maximize: bool) -> None:
        """In place: one Adam/AdamW update of p, m, v (flat (n,) stride-1 views of dtype) with
        gradient g, after incrementing the float32 step count at step_view (one element)."""
        n = _checks.adam_operands(p, p_view, ((g, g_view, "grad"), (m, m_view, "exp_avg"), (v, v_view, "exp_avg_sq")),
                                  step, step_view, dtype, float32)
        _adam_kernel(n, p_view, g_view, m_view, v_view, step_view, lr, betas, eps, weight_decay, decoupled,
                     maximize)(p, p_view, g, g_view, m, m_view, v, v_view, step, step_view)

    def gelu(self, x: np.ndarray, view: View, dtype: DType) -> np.ndarray:
        """The exact (erf) GELU of a flat (n,) stride-1 view."""
        n = _flat(x, view, dtype, "gelu")
        out = empty(n, x.dtype)
        _GELU[False, n >= PAR_ELEMWISE](x, 0, x, view.offset, out, n, *_gelu_constants(x.dtype.type))
        return out

    def gelu_backward(self, g: np.ndarray, g_view: View, x: np.ndarray, x_view: View, dtype: DType) -> np.ndarray:
        """The input gradient of the exact GELU at x for output gradient g; flat (n,) stride-1 views."""
        n = _flat_pair("gelu_backward", g, g_view, x, x_view, dtype)
        out = empty(n, x.dtype)
        _GELU[True, n >= PAR_ELEMWISE](g, g_view.offset, x, x_view.offset, out, n, *_gelu_constants(x.dtype.type))
        return out

    def layer_norm(self, x: np.ndarray, x_view: View, w: Optional[np.ndarray], w_view: Optional[View],
                   b: Optional[np.ndarray], b_view: Optional[View], eps: float, dtype: DType) -> tuple:
        """(out, mean, rstd): layer norm over the rows of a row-major (rows, cols) view, optional (cols,) affine."""
        rows, cols = _rows(x, x_view, dtype, "layer_norm")
        for buf, view, what in ((w, w_view, "weight"), (b, b_view, "bias")):
            if buf is not None and _flat(buf, view, dtype, f"layer_norm {what}") != cols:
                raise ShapeError(f"numba backend: layer_norm: {what} view {view} for {cols} columns")
        t = x.dtype.type
        out, mean, rstd = empty(rows * cols, x.dtype), empty(rows, x.dtype), empty(rows, x.dtype)
        _LN[rows * cols >= PAR_REDUCE](x, x_view.offset, rows, cols, x if w is None else w,
                                       0 if w is None else w_view.offset, w is not None, x if b is None else b,
                                       0 if b is None else b_view.offset, b is not None, t(eps), t(1), out, mean, rstd)
        return out, mean, rstd

    def layer_norm_backward(self, g: np.ndarray, g_view: View, x: np.ndarray, x_view: View, mean: np.ndarray,
                            rstd: np.ndarray, w: Optional[np.ndarray], w_view: Optional[View], dtype: DType,
                            want_dw: bool, want_db: bool) -> tuple:
        """(dx, dw or None, db or None): the gradients of layer_norm for output gradient g."""
        rows, cols = _rows(x, x_view, dtype, "layer_norm_backward")
        if _rows(g, g_view, dtype, "layer_norm_backward") != (rows, cols):
            raise ShapeError(f"numba backend: layer_norm_backward: views {g_view} and {x_view} differ in shape")
        for buf, what in ((mean, "mean"), (rstd, "rstd")):
            _check(buf, View((rows,), (1,), 0), dtype, f"layer_norm_backward {what}")
        if w is not None and _flat(w, w_view, dtype, "layer_norm_backward weight") != cols:
            raise ShapeError(f"numba backend: layer_norm_backward: weight view {w_view} for {cols} columns")
        dx = empty(rows * cols, x.dtype)
        dw = empty(cols if want_dw else 1, x.dtype)
        db = empty(cols if want_db else 1, x.dtype)
        _LN_BW[rows * cols >= PAR_REDUCE](g, g_view.offset, x, x_view.offset, rows, cols, mean, rstd,
                                          x if w is None else w, 0 if w is None else w_view.offset, w is not None,
                                          dx, dw, bool(want_dw), db, bool(want_db))
        return dx, (dw if want_dw else None), (db if want_db else None)

    def sdpa(self, q: np.ndarray, q_view: View, k: np.ndarray, k_view: View, v: np.ndarray, v_view: View,
             out_view: View, causal: bool, scale: float, dtype: DType) -> tuple:
        """(out, lse): fused attention (numba_attention.sdpa)."""
        return attn.sdpa(_checks, PAR_MATMUL, q, q_view, k, k_view, v, v_view, out_view, causal, scale, dtype)

    def sdpa_backward(self, g: np.ndarray, g_view: View, q: np.ndarray, q_view: View, k: np.ndarray, k_view: View,
                      v: np.ndarray, v_view: View, o: np.ndarray, o_view: View, lse: np.ndarray, lse_view: View,
                      dq_view: View, dk_view: View, dv_view: View, causal: bool, scale: float,
                      dtype: DType) -> tuple:
        """(dq, dk, dv): the gradients of sdpa (numba_attention.sdpa_backward)."""
        return attn.sdpa_backward(_checks, PAR_MATMUL, g, g_view, q, q_view, k, k_view, v, v_view, o, o_view, lse,
                                  lse_view, dq_view, dk_view, dv_view, causal, scale, dtype)


    # ---- tg.jit ----------------------------------------------------------------------
    def replay_kernel(self, name: str, args: tuple) -> Optional[Callable[..., Any]]:
        """For a tg.jit replay of a call checked when it was captured: a function of the same
        positional arguments that does only the per-call work (the work that depends on views and
        constants alone done here, once); None when `name` has none."""
        if name == "matmul":
            return _matmul_kernel(args[1], args[3], args[4])
        if name == "adam_step":
            return _adam_kernel(args[1].shape[0], *args[1:10:2], *args[11:])
        if name == "binary" and len(args) == 6:  # a result of its own (not written into `out`)
            return _binary_kernel(self, *args)
        if name == "unary":
            return _unary_kernel(*args)
        if name == "full":
            return _full_kernel(*args)
        return None

    def fuse_elementwise(self, chain: Any) -> Callable[[list], tuple]:
        """One numba kernel for a run of elementwise calls a tg.jit program fuses (numba_fusion.py)."""
        return numba_fusion.build(chain, chain.n >= PAR_ELEMWISE)


def _binary_kernel(be: NumbaBackend, op: str, a: Any, a_view: View, b: Any, b_view: View,
                   dtype: DType) -> Callable[..., np.ndarray]:
    """binary(op) of these views into a new buffer, as a function of binary's arguments: the
    kernel, offsets and padded shape and strides picked once, as the method picks them."""
    shape = a_view.shape
    t = np.uint8 if op in COMPARE else NP_TYPES[dtype]
    oa, ob = a_view.offset, b_view.offset
    if len(shape) <= 1:
        n = shape[0] if shape else 1
        k = _BIN1[bool(shape) and n >= PAR_ELEMWISE][op]
        sa, sb = (a_view.strides[0], b_view.strides[0]) if shape else (0, 0)
        size = geo = n
    else:
        size = prod(shape)
        kernels = _BINN if _unit(a_view.strides[-1]) and _unit(b_view.strides[-1]) else _BINN_TILED
        geo, sa, sb = _nd(shape, a_view.strides, b_view.strides)
        k = kernels[size >= PAR_ELEMWISE][op]

    def run(op: str, a: np.ndarray, a_view: View, b: np.ndarray, b_view: View, dtype: DType,
            out: Optional[np.ndarray] = None) -> np.ndarray:
        if out is not None:
            return be.binary(op, a, a_view, b, b_view, dtype, out)
        result = empty(size, t)
        k(a, oa, sa, b, ob, sb, result, geo)
        return result
    return run


def _full_kernel(n: int, value: Any, dtype: DType) -> Callable[..., np.ndarray]:
    """full(n, value, dtype) as a function of full's arguments: the value converted once (the
    way np.full converts it), so a call is an allocation and a fill."""
    t = NP_TYPES[dtype]
    with np.errstate(over="ignore"):
        fill = np.full(1, value, t)[0]

    def run(n_: int, value_: Any, dtype_: DType) -> np.ndarray:
        out = empty(n, t)
        out.fill(fill)
        return out
    return run


def _unary_kernel(op: str, x: Any, view: View, dtype: DType) -> Callable[..., np.ndarray]:
    """unary(op) of this view, as a function of unary's arguments (as _binary_kernel)."""
    shape, t, ox = view.shape, NP_TYPES[dtype], view.offset
    if len(shape) <= 1:
        size = geo = shape[0] if shape else 1
        sx = view.strides[0] if shape else 0
        k = _UN1[size >= PAR_ELEMWISE][op]
    else:
        size = prod(shape)
        kernels = _UNN if _unit(view.strides[-1]) else _UNN_TILED
        geo, sx = _nd(shape, view.strides)
        k = kernels[size >= PAR_ELEMWISE][op]

    def run(op: str, x: np.ndarray, view: View, dtype: DType) -> np.ndarray:
        result = empty(size, t)
        k(x, ox, sx, result, geo)
        return result
    return run


def _matmul_kernel(a_view: View, b_view: View, dtype: DType) -> Callable[..., np.ndarray]:
    """matmul of these views, as a function of matmul's arguments: the GEMM's shape, strides and
    batch offsets depend on the views alone (the parallel build is picked at each call)."""
    *batch, m, kk = a_view.shape
    n = b_view.shape[-1]
    sam, sak = a_view.strides[-2:]
    sbk, sbn = b_view.strides[-2:]
    if batch and not any(b_view.strides[:-2]):
        run = mm.rows_fold(a_view.shape[:-1], a_view.strides[:-1])
        if run is not None:
            # B broadcast over the batch and A's rows one evenly strided run (x @ w for a
            # (B, T, k) x): one GEMM of prod(batch)*m rows gives the same contiguous output
            m, sam, batch = m * prod(batch), run, []
    if batch:
        a_offs = mm.batch_offsets(tuple(batch), a_view.strides[:-2], a_view.offset)
        b_offs = mm.batch_offsets(tuple(batch), b_view.strides[:-2], b_view.offset)
    else:
        a_offs = np.full(1, a_view.offset, np.int64)
        b_offs = np.full(1, b_view.offset, np.int64)
    size, t = a_offs.size * m * n, NP_TYPES[dtype]
    work = size * kk
    if a_offs.size > 1 and m * n * kk <= mm.SMALL_MACS and kk <= mm.SMALL_K:
        def small(a: np.ndarray, a_view: View, b: np.ndarray, b_view: View, dtype: DType) -> np.ndarray:
            # a batch of small products (attention's per-head blocks): one task per product
            out = empty(size, t)
            _GEMM_SMALL[work >= PAR_MATMUL](a, a_offs, sam, sak, b, b_offs, sbk, sbn, out, m, n, kk)
            return out
        return small

    if work >= PAR_MATMUL and m <= mm.MR * mm.MC_PANELS:
        def few_rows(a: np.ndarray, a_view: View, b: np.ndarray, b_view: View, dtype: DType) -> np.ndarray:
            # an MLP's batch of rows: column blocks, each task packing what it computes
            out = empty(size, t)
            _GEMM_COLS[True](a, a_offs, sam, sak, b, b_offs, sbk, sbn, out, m, n, kk, numba.get_num_threads())
            return out
        return few_rows

    def gemm(a: np.ndarray, a_view: View, b: np.ndarray, b_view: View, dtype: DType) -> np.ndarray:
        out = empty(size, t)
        if work >= PAR_MATMUL:
            _GEMM[True](a, a_offs, sam, sak, b, b_offs, sbk, sbn, out, m, n, kk, 2 * numba.get_num_threads())
        else:
            _GEMM[False](a, a_offs, sam, sak, b, b_offs, sbk, sbn, out, m, n, kk, 1)
        return out
    return gemm


def _adam_kernel(n: int, p_view: View, g_view: View, m_view: View, v_view: View, step_view: View, lr: float,
                 betas: tuple, eps: float, weight_decay: float, decoupled: bool,
                 maximize: bool) -> Callable[..., None]:
    """adam_step's kernel call for checked operands of n elements, as a function of adam_step's
    leading arguments (buffers and views; the rest are bound here)."""
    po, go, mo, vo, so = p_view.offset, g_view.offset, m_view.offset, v_view.offset, step_view.offset
    consts = (float(lr), float(betas[0]), float(betas[1]), float(eps), float(weight_decay), bool(decoupled),
              bool(maximize))

    def run(p: np.ndarray, p_view: View, g: np.ndarray, g_view: View, m: np.ndarray, m_view: View, v: np.ndarray,
            v_view: View, step: np.ndarray, step_view: View, *rest: Any) -> None:
        _ADAM[n >= PAR_ELEMWISE](p, po, g, go, m, mo, v, vo, n, step, so, *consts)
    return run


def _check_indices(index: np.ndarray, view: View, size: int, dim: int, what: str) -> None:
    """Raise TensorIndexError unless every index of the view is in [0, size) (before any write)."""
    shape, strides = (view.shape, view.strides) if view.shape else ((1,), (0,))
    if prod(shape) and fu.first_bad_index(index, view.offset, strides, shape, size) >= 0:
        raise TensorIndexError(f"numba backend: {what}: an index is out of bounds for dim {dim} with size {size}")


def _buffer_check(buf: Any, view: View, dtype: DType, what: str) -> int:
    """buf is a 1-D numpy buffer of dtype (the fused kernels check their operands: the core's
    primitives come with that guarantee, these are also called directly)."""
    if type(buf) is not np.ndarray or buf.ndim != 1:
        raise BackendError(f"numba backend: {what}: expected a 1-D numpy buffer, got {type(buf).__name__}")
    if buf.dtype != NP_DTYPES[dtype]:
        raise DTypeError(f"numba backend: {what}: buffer holds {buf.dtype}, the call says {dtype.name}")
    return buf.size


@lru_cache(maxsize=None)
def _gelu_constants(t: type) -> tuple:
    """gelu's scalars in the dtype: 0.5, 1, 1/sqrt 2, 1/sqrt(2 pi)."""
    return t(0.5), t(1.0), t(1.0 / math.sqrt(2.0)), t(1.0 / math.sqrt(2.0 * math.pi))


_checks = ViewChecks("numba", _buffer_check)
_check, _flat, _rows = _checks.view, _checks.flat, _checks.rows


CONV_BLOCK_COLS = 4096
CONV_BLOCK_BYTES = 512 << 10


def _conv_block(geo: np.ndarray, dtype: DType) -> int:
    """Samples per GEMM in the conv kernels: a small image's product is too small for the GEMM to
    run well, so blocks of samples share one (at most CONV_BLOCK_COLS output positions and
    CONV_BLOCK_BYTES of columns, which stay in L2), as csrc/conv.c does."""
    n, l = int(geo[0]), int(geo[16] * geo[17])
    per = int(geo[1] * geo[8] * geo[9]) * l * dtype.itemsize
    nb = min(max(1, CONV_BLOCK_COLS // max(l, 1)), max(1, CONV_BLOCK_BYTES // max(per, 1)))
    return max(1, min(nb, n))


def _conv_geo(x: np.ndarray, x_view: View, w: np.ndarray, w_view: View, kernel: tuple, stride: tuple,
              dilation: tuple, pads: tuple, out_size: tuple, dtype: DType, what: str) -> tuple:
    """(the kernels' int64 geometry array, chunks of samples: 1 below PAR_MATMUL multiply-adds,
    else one per thread) after checking the views of x and of the weight."""
    _check(x, x_view, dtype, what)
    _check(w, w_view, dtype, f"{what} weight")
    if len(x_view.shape) != 4 or len(w_view.shape) != 2 or not w_view.is_contiguous() or not dtype.is_float:
        raise ShapeError(f"numba backend: {what} needs a float (N, C, H, W) view and a contiguous (OC, C*kh*kw) "
                         f"weight, got {x_view} and {w_view}")
    oc, ckk = w_view.shape
    if ckk != x_view.shape[1] * kernel[0] * kernel[1]:
        raise ShapeError(f"numba backend: {what}: weight view {w_view} does not match {x_view.shape[1]} channels "
                         f"and kernel {kernel}")
    geo = np.array(x_view.shape + x_view.strides + tuple(kernel) + tuple(stride) + tuple(dilation) + tuple(pads)
                   + tuple(out_size) + (oc,), np.int64)
    n = x_view.shape[0]
    macs = n * oc * ckk * out_size[0] * out_size[1]
    return geo, max(1, min(n, numba.get_num_threads())) if macs >= PAR_MATMUL else 1
