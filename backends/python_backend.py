"""The reference backend: standard library only, `array.array` buffers, short readable kernels.

Speed comes from letting C loops inside CPython do the work: strided rows are taken as
array slices (`buf[off:end:step]`), elementwise ops run as `map(op, xs, ys)`, results are
packed back with one `struct.pack`. Per-element N-D index arithmetic never runs in Python.
"""
from __future__ import annotations

import math
import operator
import struct
from array import array
from typing import Any, Callable, Optional, Sequence

from tinygrad_like.dtypes import INT_RANGE, DType, bool_, int64
from tinygrad_like.view import View, prod

from . import python_sortscan as sortscan
from .common import COMPARE, bases
from .protocol import MASK64, GAMMA, mix64

INF = math.inf
NAN = math.nan


# ---------------------------------------------------------------- scalar kernels (IEEE-safe)

def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def _log(x: float) -> float:
    if x > 0:
        return math.log(x)
    return -INF if x == 0 else NAN


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else NAN


def _trig(f: Callable[[float], float]) -> Callable[[float], float]:
    def g(x: float) -> float:
        try:
            return f(x)
        except ValueError:  # sin(inf)
            return NAN
    return g


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    try:
        e = math.exp(x)
    except OverflowError:
        return NAN
    return e / (1.0 + e)


def _relu(x: Any) -> Any:
    if x <= 0:  # NaN fails the test and is kept; not x * 0, which is nan for -inf and -0.0 for -1
        return 0.0 if isinstance(x, float) else 0
    return x


def _sign(x: Any) -> Any:
    return (x > 0) - (x < 0)  # 0 for NaN too, as PyTorch


def _fmod(x: Any, y: Any) -> Any:
    if isinstance(x, int) and isinstance(y, int):
        r = abs(x) % abs(y)
        return -r if x < 0 else r
    try:
        return math.fmod(x, y)
    except ValueError:  # an infinite dividend or a zero divisor
        return NAN


def _div(x: float, y: float) -> float:
    try:
        return x / y
    except ZeroDivisionError:
        if x != x or x == 0:
            return NAN
        return math.copysign(INF, x) * math.copysign(1.0, y)


def _reciprocal(x: float) -> float:
    return _div(1.0, x)


def _rounding(f: Callable[[float], int]) -> Callable[[float], float]:
    def g(x: float) -> float:
        try:
            return float(f(x))
        except (OverflowError, ValueError):  # inf, nan stay as they are
            return x
    return g


def _pow(x: Any, y: Any) -> Any:
    if isinstance(x, int) and isinstance(y, int):
        return x ** y  # the core rejects negative integer exponents
    try:
        return math.pow(x, y)
    except OverflowError:
        odd = float(y).is_integer() and int(y) % 2 == 1
        return -INF if (x < 0 and odd) else INF
    except ValueError:
        if x == 0 and y < 0:
            odd = float(y).is_integer() and int(y) % 2 == 1
            return math.copysign(INF, x) if odd else INF
        return NAN


def _maximum(x: Any, y: Any) -> Any:
    if x != x:
        return x
    if y != y:
        return y
    return x if x >= y else y


def _minimum(x: Any, y: Any) -> Any:
    if x != x:
        return x
    if y != y:
        return y
    return x if x <= y else y


UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": operator.neg, "abs": abs, "sign": _sign, "exp": _exp, "log": _log, "sqrt": _sqrt,
    "sin": _trig(math.sin), "cos": _trig(math.cos), "tanh": math.tanh, "sigmoid": _sigmoid,
    "relu": _relu, "erf": math.erf, "reciprocal": _reciprocal,
    "floor": _rounding(math.floor), "ceil": _rounding(math.ceil), "logical_not": operator.not_,
}

BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": _div, "pow": _pow,
    "maximum": _maximum, "minimum": _minimum, "fmod": _fmod,
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge,
}


# ---------------------------------------------------------------- strided access

def _row(buf: array, off: int, n: int, step: int) -> array:
    """n elements from buf[off] on, `step` apart, as a new array (a C-level slice)."""
    if step == 1:
        return buf[off:off + n]
    if step == 0:
        return buf[off:off + 1] * n
    end = off + (n - 1) * step + (1 if step > 0 else -1)
    return buf[off:end if end >= 0 else None:step]


def _flat(buf: array, view: View) -> array:
    """The view's elements in row-major order (the buffer itself when it already is that)."""
    shape, strides, off = view.shape, view.strides, view.offset
    nd = len(shape)
    if nd == 0:
        return buf[off:off + 1]
    if nd == 1:
        if off == 0 and strides[0] == 1 and shape[0] == len(buf):
            return buf
        return _row(buf, off, shape[0], strides[0])
    n, s = shape[-1], strides[-1]
    out = array(buf.typecode)
    for base in bases(shape[:-1], strides[:-1], off):
        out += _row(buf, base, n, s)
    return out


_STRUCTS: dict[tuple[str, int], struct.Struct] = {}


def _pack(values: Sequence[Any], typecode: str) -> array:
    """A new array of `typecode` holding `values` (struct.pack is about 2x faster than array())."""
    n = len(values)
    if n < 32:
        return _to_array(values, typecode)
    key = (typecode, n)
    st = _STRUCTS.get(key)
    if st is None:
        if len(_STRUCTS) > 512:
            _STRUCTS.clear()
        st = _STRUCTS[key] = struct.Struct(f"{n}{typecode}")
    try:
        return array(typecode, st.pack(*values))
    except (OverflowError, struct.error):  # float32 overflow: array() rounds to inf instead
        return _to_array(values, typecode)


def _to_array(values: Sequence[Any], typecode: str) -> array:
    try:
        return array(typecode, values)
    except OverflowError:
        raise OverflowError(f"value out of range for dtype with type code {typecode!r} (int64 overflow)") from None


# the integer dtypes (type code -> (lowest value, 2**bits - 1)): results wrap modulo 2**bits as
# the C and numba kernels' stores do
_NARROW = {d.typecode: (lo, hi - lo) for d, (lo, hi) in INT_RANGE.items()}
_I64_MIN, _I64_MAX = INT_RANGE[int64]


def _narrow(values: Sequence[Any], dtype: DType) -> Sequence[Any]:
    """Integer results wrapped into the dtype's range (unchanged for other dtypes)."""
    if dtype.category != 1:
        return values
    if dtype is int64 and (not values or (_I64_MIN <= min(values) and max(values) <= _I64_MAX)):
        return values  # the common case: one C-level min/max pass, no rewrite
    lo, mask = _NARROW[dtype.typecode]
    if lo == 0:
        return [v & mask for v in values]
    return [((v - lo) & mask) + lo for v in values]


def _to_int(v: float) -> int:
    """A float truncated toward zero as C's (int64_t) cast on x86 gives it (INT64_MIN when it does
    not fit), the first step of a float -> narrow integer cast."""
    i = int(v)
    return i if _I64_MIN <= i <= _I64_MAX else _I64_MIN


def _has_nan(xs: Sequence[Any]) -> bool:
    s = sum(xs)
    return s != s and any(x != x for x in xs)


# ---------------------------------------------------------------- the backend

class PythonBackend:
    """Pure-Python reference backend (see backends/protocol.py for the contract)."""

    name = "python"

    # memory
    def empty(self, n: int, dtype: DType) -> array:
        return array(dtype.typecode, bytes(n * dtype.itemsize))

    def full(self, n: int, value: Any, dtype: DType) -> array:
        return array(dtype.typecode, [value]) * n

    def from_list(self, values: Sequence[Any], dtype: DType) -> array:
        return _pack(values if isinstance(values, list) else list(values), dtype.typecode)

    def to_list(self, buf: array, view: View, dtype: DType) -> list:
        vals = _flat(buf, view).tolist()
        return [v != 0 for v in vals] if dtype is bool_ else vals

    def from_buffer(self, obj: memoryview, dtype: DType) -> array:
        out = array(dtype.typecode)
        out.frombytes(obj.cast("B") if obj.format != "B" else obj)
        return out

    def memoryview(self, buf: array, dtype: DType) -> memoryview:
        return memoryview(buf)

    def buffer_size(self, buf: array) -> int:
        return len(buf)

    # copies
    def copy(self, src: array, view: View, src_dtype: DType, dst_dtype: DType) -> array:
        vals = _flat(src, view)
        if src_dtype is dst_dtype:
            return array(vals.typecode, vals) if vals is src else vals
        if dst_dtype is bool_:
            return _pack([v != 0 for v in vals], "B")
        if dst_dtype is int64:
            return _pack([int(v) for v in vals], "q")
        if dst_dtype.category == 1:  # narrow ints: float -> int64 -> wrap, as C's casts do
            ints = [_to_int(v) for v in vals] if src_dtype.is_float else vals
            return _pack(_narrow(ints, dst_dtype), dst_dtype.typecode)
        return _pack([float(v) for v in vals], dst_dtype.typecode)

    def assign(self, dst: array, dst_view: View, src: array, src_view: View, dtype: DType) -> None:
        vals = _flat(src, src_view)
        shape, strides, off = dst_view.shape, dst_view.strides, dst_view.offset
        if not shape:
            dst[off] = vals[0]
            return
        n, s = shape[-1], strides[-1]
        for r, base in enumerate(bases(shape[:-1], strides[:-1], off)):
            row = vals[r * n:(r + 1) * n]
            if s == 1:
                dst[base:base + n] = row
            else:
                end = base + (n - 1) * s + (1 if s > 0 else -1)
                dst[base:end if end >= 0 else None:s] = row

    def add_into(self, dst: array, dst_view: View, src: array, src_view: View, dtype: DType) -> None:
        vals = _flat(src, src_view)
        shape, strides, off = dst_view.shape, dst_view.strides, dst_view.offset
        if not shape:
            dst[off] += vals[0]
            return
        n, s = shape[-1], strides[-1]
        add = operator.add
        for r, base in enumerate(bases(shape[:-1], strides[:-1], off)):  # rows one after another: overlaps add up
            row = vals[r * n:(r + 1) * n]
            if s == 0:
                dst[base] += sum(row)
                continue
            end = base + (n - 1) * s + (1 if s > 0 else -1)
            sl = slice(base, end if end >= 0 else None, s)
            dst[sl] = _pack(list(map(add, dst[sl], row)), dst.typecode)

    # elementwise
    def unary(self, op: str, x: array, view: View, dtype: DType) -> array:
        return _pack(_narrow(list(map(UNARY[op], _flat(x, view))), dtype), dtype.typecode)

    def binary(self, op: str, a: array, a_view: View, b: array, b_view: View, dtype: DType,
               out: Optional[array] = None) -> array:
        vals = list(map(BINARY[op], _flat(a, a_view), _flat(b, b_view)))
        res = _pack(vals, "B") if op in COMPARE else _pack(_narrow(vals, dtype), dtype.typecode)
        if out is None:
            return res
        out[0:len(res)] = res
        return out

    def where(self, cond: array, cond_view: View, a: array, a_view: View, b: array, b_view: View,
              dtype: DType) -> array:
        vals = [x if c else y for c, x, y in zip(_flat(cond, cond_view), _flat(a, a_view), _flat(b, b_view))]
        return _pack(vals, dtype.typecode)

    # reductions
    def reduce(self, op: str, x: array, view: View, k: int, dtype: DType) -> array:
        keep_shape, red_shape = view.shape[:-k], view.shape[-k:]
        keep_strides, red_strides = view.strides[:-k], view.strides[-k:]
        is_float = dtype.is_float
        out = []
        for base in bases(keep_shape, keep_strides, view.offset):
            xs = _flat(x, View(red_shape, red_strides, base))
            if op == "sum":
                out.append(sum(xs))  # int64 sums wrap in _narrow below
            elif is_float and _has_nan(xs):
                out.append(NAN)
            else:
                out.append(max(xs) if op == "max" else min(xs))
        return _pack(_narrow(out, dtype), dtype.typecode)

    def arg_reduce(self, op: str, x: array, view: View, dtype: DType) -> array:
        n, s = view.shape[-1], view.strides[-1]
        pick = max if op == "argmax" else min
        out = []
        for base in bases(view.shape[:-1], view.strides[:-1], view.offset):
            row = _row(x, base, n, s).tolist()
            if dtype.is_float and _has_nan(row):
                out.append(next(i for i, v in enumerate(row) if v != v))
            else:
                out.append(row.index(pick(row)))
        return _pack(out, "q")

    # linear algebra
    def matmul(self, a: array, a_view: View, b: array, b_view: View, dtype: DType) -> array:
        *batch, m, kk = a_view.shape
        n = b_view.shape[-1]
        sam, sak = a_view.strides[-2:]
        sbk, sbn = b_view.strides[-2:]
        mul = operator.mul
        out: list[float] = []
        a_bases = bases(batch, a_view.strides[:-2], a_view.offset)
        b_bases = bases(batch, b_view.strides[:-2], b_view.offset)
        for ab, bb in zip(a_bases, b_bases):
            # lists, not arrays: each row/column is read n times, so box its floats once
            cols = [_row(b, bb + j * sbn, kk, sbk).tolist() for j in range(n)]
            for i in range(m):
                row = _row(a, ab + i * sam, kk, sak).tolist()
                out.extend([sum(map(mul, row, col)) for col in cols])
        return _pack(out, dtype.typecode)

    # indexing
    def gather(self, x: array, x_view: View, index: array, index_view: View, dim: int,
               dtype: DType) -> array:
        sd = x_view.strides[dim]
        strides = x_view.strides[:dim] + (0,) + x_view.strides[dim + 1:]
        offs = bases(index_view.shape, strides, x_view.offset)
        idx = _flat(index, index_view)
        return _pack([x[p + i * sd] for p, i in zip(offs, idx)], dtype.typecode)

    def scatter_add(self, dst: array, dst_view: View, index: array, index_view: View,
                    src: array, src_view: View, dim: int, dtype: DType) -> None:
        sd = dst_view.strides[dim]
        strides = dst_view.strides[:dim] + (0,) + dst_view.strides[dim + 1:]
        offs = bases(index_view.shape, strides, dst_view.offset)
        wraps = dtype.category == 1
        for p, i, v in zip(offs, _flat(index, index_view), _flat(src, src_view)):
            if wraps:
                dst[p + i * sd] = _narrow([dst[p + i * sd] + v], dtype)[0]
            else:
                dst[p + i * sd] += v

    def scatter(self, op: str, dst: array, dst_view: View, index: array, index_view: View,
                src: array, src_view: View, dim: int, dtype: DType) -> None:
        sortscan.scatter(op, dst, dst_view, index, index_view, src, src_view, dim)

    # scans and sorting along the last dim
    def scan(self, op: str, x: array, view: View, dtype: DType) -> array:
        return sortscan.scan(op, x, view, dtype)

    def sort(self, x: array, view: View, dtype: DType, descending: bool, k: int) -> tuple:
        return sortscan.sort(x, view, dtype, descending, k)

    # random
    def random(self, dist: str, n: int, seed: int, counter: int, dtype: DType) -> array:
        key = mix64(seed & MASK64)
        if dist == "uniform":
            shift, scale = (40, 2.0 ** -24) if dtype.itemsize == 4 else (11, 2.0 ** -53)
            vals = [(mix64((key + (j + 1) * GAMMA) & MASK64) >> shift) * scale
                    for j in range(counter, counter + n)]
        else:
            vals = []
            two_pi = 2.0 * math.pi
            for i in range(n):
                j = counter + 2 * i
                u1 = ((mix64((key + (j + 1) * GAMMA) & MASK64) >> 11) + 1) * 2.0 ** -53
                u2 = (mix64((key + (j + 2) * GAMMA) & MASK64) >> 11) * 2.0 ** -53
                vals.append(math.sqrt(-2.0 * math.log(u1)) * math.cos(two_pi * u2))
        return _pack(vals, dtype.typecode)

