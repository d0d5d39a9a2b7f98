"""Dispatch: between the ops and the backends. It plans layouts, calls kernels and wraps results.

An op (tinygrad_like/ops/) decides *what* to compute and how to differentiate it; this module
decides *how* one kernel call looks: the broadcast shape, the memory order of the result, the
coalesced views the kernel receives (`view.elementwise_layout`, `view.coalesce`), and the new
tensor around the buffer the backend returns. Nothing here records a graph: results are plain
tensors, and `autograd.record` attaches the node afterwards.

The Tensor class itself is defined above this layer (tensor.py: the API) and is handed down
once with `use_tensor_class`, so that `wrap` can build results without this module importing
the API it serves.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Callable, Optional

from . import dtypes as _dt
from .dtypes import DType, bool_
from .errors import AllocationError, BackendError, DTypeError, InvalidValueError, ShapeError, TensorIndexError
from .view import (View, broadcast_shapes, coalesce, contiguous_strides, elementwise_layout, is_dense_permuted,
                   normalize_dims, prod)

SCALAR_VIEW = View((), ())
_FLAT: dict[tuple, tuple] = {}
_new = object.__new__
_Tensor: Any = None  # tensor.py's Tensor, handed down once by use_tensor_class


def use_tensor_class(cls: type) -> None:
    """Make `cls` the class of every result `wrap` builds (tensor.py's Tensor)."""
    global _Tensor
    _Tensor = cls


def is_tensor(x: Any) -> bool:
    return isinstance(x, _Tensor)


# ---------------------------------------------------------------------- results

contig = View.contiguous  # the row-major view of a fresh buffer's shape (cached)


def flat_plan(shape: tuple) -> tuple:
    """(element count, the flat kernel view, the contiguous result view) of a dense operand of
    `shape` (cached with `contig`: two View objects less per elementwise call)."""
    p = _FLAT.get(shape)
    if p is None:
        if len(_FLAT) > 4096:
            _FLAT.clear()
        n = prod(shape)
        p = _FLAT[shape] = (n, View((n,), (1,), 0) if shape else SCALAR_VIEW, contig(shape))
    return p


def wrap(buf: Any, view: View, dtype: DType, be: Any, vc: Optional[list] = None) -> Any:
    """A new tensor (no graph) over a backend buffer. `vc` is the storage's version counter, shared
    by every view of one storage (a fresh buffer gets a new one)."""
    t = _new(_Tensor)
    t._buf = buf
    t._view = view
    t.dtype = dtype
    t._be = be
    t._vc = [0] if vc is None else vc
    t.requires_grad = False
    t.grad = None
    t._node = None
    t._hooks = None
    return t


def scalar(value: Any, dtype: DType, be: Any) -> Any:
    """A 0-d tensor holding one Python number."""
    return wrap(be.full(1, _dt.cast_scalar(value, dtype), dtype), SCALAR_VIEW, dtype, be)


def full(shape: tuple, value: Any, dtype: DType, be: Any) -> Any:
    """A new contiguous tensor of `shape` filled with `value`."""
    return wrap(be.full(prod(shape), _dt.cast_scalar(value, dtype), dtype), contig(shape), dtype, be)


def zeros(shape: tuple, dtype: DType, be: Any) -> Any:
    return full(shape, 0, dtype, be)


def empty(shape: tuple, dtype: DType, be: Any) -> Any:
    """A new contiguous tensor of `shape` whose values the caller overwrites."""
    return wrap(be.empty(prod(shape), dtype), contig(shape), dtype, be)


def from_list(values: list, shape: tuple, dtype: DType, be: Any) -> Any:
    """A new contiguous tensor from flat Python numbers of `dtype`."""
    buf = be.from_list(values, dtype) if values else be.empty(0, dtype)
    return wrap(buf, contig(shape), dtype, be)


# ---------------------------------------------------------------------- reading values for checks

capture: Any = None  # the tg.jit recorder of the capture running now (tinygrad_like/jit), or None


def checked_item(t: Any, check: Callable[[Any], Any], what: str) -> Any:
    """check(t.item()) for a library check or branch: `check` raises when the value is bad and
    returns what the caller branches on (None when nothing). Under a tg.jit capture the read is a
    step of each replay, which re-reads and re-checks the value, and raises JitError when the
    branch would go another way than in the capture."""
    if capture is not None:
        return capture.checked_item(t, check, what)
    return check(t.item())


def branch_item(t: Any, what: str) -> Any:
    """t.item() for a library branch (the value picks which kernels run); see checked_item."""
    return checked_item(t, _same, what)


def _same(value: Any) -> Any:
    return value


# ---------------------------------------------------------------------- shapes and sizes

def shape_args(args: tuple) -> tuple:
    """Accept f(2, 3), f((2, 3)) and f([2, 3])."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def check_shape(shape: tuple) -> tuple:
    """The shape as a tuple of non-negative ints; ShapeError otherwise."""
    for n in shape:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ShapeError(f"invalid shape {tuple(shape)}: sizes must be non-negative ints")
    return tuple(shape)


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 48


MEMORY_BYTES = _memory_bytes()


def check_alloc(shape: tuple, dtype: DType) -> None:
    """AllocationError, before anything is allocated or built, when a tensor of `shape` and `dtype`
    would not fit in this machine's memory."""
    n = prod(shape)
    if n * dtype.itemsize > MEMORY_BYTES:
        raise AllocationError(f"cannot allocate a tensor of shape {tuple(shape)} and dtype {dtype.name}: "
                              f"{n * dtype.itemsize:,} bytes, more than this machine's {MEMORY_BYTES:,} bytes of memory")


# ---------------------------------------------------------------------- operands and promotion

def as_number(x: Any) -> Any:
    """A Python number from an int/float/bool or a numpy scalar; DTypeError otherwise."""
    if isinstance(x, (int, float)):
        return x
    if hasattr(x, "item") and not is_tensor(x) and getattr(x, "ndim", 0) == 0:  # numpy scalar or 0-d array
        return x.item()
    raise DTypeError(f"expected a Tensor or a Python number, got {type(x).__name__}")


def result_dtype(a: Any, b: Any) -> DType:
    """PyTorch promotion; a 0-dim tensor does not widen a dimensioned one of the same category."""
    da, db = a.dtype, b.dtype
    if da is db:
        return da
    if da.category == db.category:
        if a._view.shape == () and b._view.shape != ():
            return db
        if b._view.shape == () and a._view.shape != ():
            return da
    return _dt.promote(da, db)


def same_backend(what: str, *tensors: Any) -> None:
    """BackendError unless every tensor lives on one backend."""
    be = tensors[0]._be
    for t in tensors[1:]:
        if t._be is not be:
            names = ", ".join(repr(x.backend) for x in tensors)
            raise BackendError(f"{what}: expected all tensors on one backend, got {names}; "
                               f"move one with .to('{tensors[0].backend}')")


# ---------------------------------------------------------------------- layout plans (cached)

@lru_cache(maxsize=4096)
def binary_plan(sa: tuple, ta: tuple, sb: tuple, tb: tuple) -> tuple:
    """(broadcast shape, kernel shape, a's kernel strides, b's kernel strides, result view) for
    two views' geometry; the result follows the operands' memory order (`elementwise_layout`).

    Cached: a training loop meets the same few geometries every step, and this bookkeeping
    costs more than a small kernel. (Offsets are not part of it: they are added per call.)"""
    shape = broadcast_shapes(sa, sb)
    ost, cs, (s1, s2) = elementwise_layout(shape, View(sa, ta).expand(shape).strides, View(sb, tb).expand(shape).strides)
    return shape, cs, s1, s2, result_view(shape, ost)


@lru_cache(maxsize=4096)
def unary_plan(shape: tuple, strides: tuple) -> tuple:
    """(result view, kernel shape, (kernel strides,)) of a one-input elementwise op, cached."""
    ost, cs, ks = elementwise_layout(shape, strides)
    return result_view(shape, ost), cs, ks


def result_view(shape: tuple, strides: tuple) -> View:
    """The view of an elementwise result over its fresh buffer: dense, in the operands' memory order."""
    return contig(shape) if strides == contiguous_strides(shape) else View(shape, strides, 0)


@lru_cache(maxsize=4096)
def reduce_plan(shape: tuple, strides: tuple, dim: Any, keepdim: bool) -> tuple:
    """(result shape, reduced count, kept count, kernel shape, kernel strides, k) of a reduction:
    the kept dims then the k reduced dims, each group coalesced. Cached like `binary_plan`."""
    nd = len(shape)
    dims = normalize_dims(dim, nd)
    out_shape = tuple(1 if i in dims else n for i, n in enumerate(shape)) if keepdim else \
        tuple(n for i, n in enumerate(shape) if i not in dims)
    keep = [i for i in range(nd) if i not in dims]
    ks, (kst,) = coalesce(tuple(shape[i] for i in keep), tuple(strides[i] for i in keep))
    rs, (rst,) = coalesce(tuple(shape[i] for i in dims), tuple(strides[i] for i in dims))
    return out_shape, prod(shape[d] for d in dims), prod(out_shape), ks + rs, kst + rst, len(rs)


def check_no_internal_overlap(view: View, what: str) -> None:
    """Refuse to write through a view whose elements share memory (an expand()ed tensor), as PyTorch does:
    the result would depend on the order the kernel happens to write in."""
    for n, s in zip(view.shape, view.strides):
        if s == 0 and n > 1:
            raise InvalidValueError(
                f"unsupported {what}: more than one element of the written-to tensor (shape {view.shape}, "
                f"strides {view.strides}) refers to a single memory location; clone() the tensor first")


# ---------------------------------------------------------------------- kernel calls

def copy(x: Any, dtype: DType) -> Any:
    """A contiguous copy of x's values, cast to `dtype`."""
    v = x._view
    if prod(v.shape) == 0:
        return empty(v.shape, dtype, x._be)
    cs, (st,) = coalesce(v.shape, v.strides)
    return wrap(x._be.copy(x._buf, View(cs, st, v.offset), x.dtype, dtype), contig(v.shape), dtype, x._be)


def assign(dst_buf: Any, dst_view: View, src: Any) -> None:
    """dst_buf[dst_view] = src (same shape and dtype), through one coalesced strided copy."""
    if prod(dst_view.shape) == 0:
        return
    sv = src._view
    if src._buf is dst_buf and sv != dst_view:
        src = copy(src, src.dtype)  # overlapping copy: go through a temporary
        sv = src._view
    cs, (sd, ss) = coalesce(dst_view.shape, dst_view.strides, sv.strides)
    src._be.assign(dst_buf, View(cs, sd, dst_view.offset), src._buf, View(cs, ss, sv.offset), src.dtype)


def add_into(dst: Any, dst_view: View, src: Any) -> None:
    """dst's buffer[dst_view] += src elementwise (same shape and dtype), where dst_view may map
    several elements to one place (overlapping windows): those contributions all accumulate."""
    if prod(dst_view.shape) == 0:
        return
    sv = src._view
    shape, dst_st, src_st = add_into_order(dst_view.shape, dst_view.strides, sv.strides)
    cs, (sd, ss) = coalesce(shape, dst_st, src_st)
    src._be.add_into(dst._buf, View(cs, sd, dst_view.offset), src._buf, View(cs, ss, sv.offset), src.dtype)


@lru_cache(maxsize=1024)
def add_into_order(shape: tuple, dst: tuple, src: tuple) -> tuple:
    """(shape, dst strides, src strides) of an add_into with its dims reordered: any order sums
    the same, so walk src in memory order (the innermost loop then runs along unit strides, not
    across a kernel row), except that the dim with the largest dst stride goes first when its
    slices are disjoint in dst, so a kernel may split it across threads (the batch of a col2im)."""
    order = sorted(range(len(shape)), key=lambda d: (-abs(src[d]), -abs(dst[d])))
    big = max(range(len(shape)), key=lambda d: abs(dst[d]), default=None)
    if big is not None and shape[big] > 1:
        rest = sum((n - 1) * abs(s) for i, (n, s) in enumerate(zip(shape, dst)) if i != big)
        if abs(dst[big]) > rest:
            order.remove(big)
            order.insert(0, big)
    return tuple([shape[d] for d in order]), tuple([dst[d] for d in order]), tuple([src[d] for d in order])


def unary(op: str, x: Any, dtype: DType) -> Any:
    """op(x) elementwise (x already has `dtype`); the result keeps x's memory order."""
    v = x._view
    shape = v.shape
    if v.is_contiguous():
        n, kv, ov = _FLAT.get(shape) or flat_plan(shape)
        if n == 0:
            return empty(shape, dtype, x._be)
    else:
        if prod(shape) == 0:
            return empty(shape, dtype, x._be)
        ov, cs, (st,) = unary_plan(shape, v.strides)
        kv = View(cs, st, v.offset)
    return wrap(x._be.unary(op, x._buf, kv, dtype), ov, dtype, x._be)


def binary(op: str, a: Any, b: Any, dtype: DType, out_dtype: DType) -> Any:
    """a op b on broadcast, coalesced views (both already `dtype`); the result is `out_dtype`."""
    va, vb = a._view, b._view
    sa, sb = va.shape, vb.shape
    be = a._be
    # `_contiguous` is the views' cached answer (None until asked)
    if sa == sb and (va._contiguous or va.is_contiguous()) and (vb._contiguous or vb.is_contiguous()):
        n, kv, ov = _FLAT.get(sa) or flat_plan(sa)
        if n == 0:
            return empty(sa, out_dtype, be)
        # wrap(), inlined: the hottest path of the library (every same-shape arithmetic op)
        t = _new(_Tensor)
        t._buf = be.binary(op, a._buf, kv, b._buf, kv, dtype)
        t._view = ov
        t.dtype = out_dtype
        t._be = be
        t._vc = [0]
        t.requires_grad = False
        t.grad = None
        t._node = None
        t._hooks = None
        return t
    shape, cs, s1, s2, ov = binary_plan(sa, va.strides, sb, vb.strides)
    if prod(shape) == 0:
        return empty(shape, out_dtype, be)
    check_alloc(shape, out_dtype)  # a broadcast can ask for far more than either operand holds
    buf = be.binary(op, a._buf, View(cs, s1, va.offset), b._buf, View(cs, s2, vb.offset), dtype)
    return wrap(buf, ov, out_dtype, be)


def binary_inplace(op: str, x: Any, src: Any) -> None:
    """x[...] = x op src in place (src already x's dtype, broadcastable to x, not sharing x's buffer)."""
    v, sv = x._view, src._view
    # when x is contiguous its strides decide the memory order, so the plan is row-major
    shape, cs, s1, s2, _ = binary_plan(v.shape, v.strides, sv.shape, sv.strides)
    if prod(shape) == 0:
        return
    if v.is_contiguous():
        x._be.binary(op, x._buf, View(cs, s1, 0), src._buf, View(cs, s2, sv.offset), x.dtype, out=x._buf)
    else:
        assign(x._buf, v, binary(op, x, src, x.dtype, x.dtype))


def where(cond: Any, a: Any, b: Any, dtype: DType) -> Any:
    """cond ? a : b (a and b already `dtype`, all three broadcast together)."""
    shape = broadcast_shapes(broadcast_shapes(cond.shape, a.shape), b.shape)
    be = cond._be
    if prod(shape) == 0:
        return empty(shape, dtype, be)
    vc, va, vb = cond._view.expand(shape), a._view.expand(shape), b._view.expand(shape)
    ost, cs, (s1, s2, s0) = elementwise_layout(shape, va.strides, vb.strides, vc.strides)
    buf = be.where(cond._buf, View(cs, s0, vc.offset), a._buf, View(cs, s1, va.offset), b._buf, View(cs, s2, vb.offset), dtype)
    return wrap(buf, result_view(shape, ost), dtype, be)


def reduce(op: str, x: Any, dim: Any, keepdim: bool) -> Any:
    """sum/max/min of x's values over `dim` (None: all dims); sums of ints and bools are int64."""
    dt = x.dtype
    if op == "sum" and not dt.is_float and dt is not _dt.int64:
        x, dt = copy(x, _dt.int64), _dt.int64
    v = x._view
    dims = dim if type(dim) is int else tuple(dim) if isinstance(dim, list) else dim
    try:
        out_shape, red_n, keep_n, kshape, kstrides, k = reduce_plan(v.shape, v.strides, dims, keepdim)
    except TypeError:  # an unhashable `dim`: let normalize_dims word the error
        normalize_dims(dim, len(v.shape))
        raise
    be = x._be
    if red_n == 0:
        if op != "sum":
            raise ShapeError(f"{op}(): cannot reduce over a zero-size dimension (shape {v.shape}, "
                             f"dim {normalize_dims(dim, len(v.shape))}); there is no identity")
        return full(out_shape, 0, dt, be)
    if keep_n == 0:
        return empty(out_shape, dt, be)
    if not k:  # every reduced dim has size 1: the result is a plain copy
        buf = be.copy(x._buf, View(kshape, kstrides, v.offset), dt, dt)
    else:
        buf = be.reduce(op, x._buf, View(kshape, kstrides, v.offset), k, dt)
    return wrap(buf, contig(out_shape), dt, be)


def arg_reduce(op: str, x: Any, d: int) -> Any:
    """argmax/argmin over dim d of x (size of d > 0) as int64, that dim removed."""
    order = [i for i in range(x.ndim) if i != d] + [d]
    v = x._view.permute(order)
    ks, (kst,) = coalesce(v.shape[:-1], v.strides[:-1])
    keep_shape = v.shape[:-1]
    if prod(keep_shape) == 0:
        return empty(keep_shape, _dt.int64, x._be)
    buf = x._be.arg_reduce(op, x._buf, View(ks + v.shape[-1:], kst + v.strides[-1:], v.offset), x.dtype)
    return wrap(buf, contig(keep_shape), _dt.int64, x._be)


def matmul(a: Any, b: Any, batch: tuple, dtype: DType) -> Any:
    """a @ b with the batch dims broadcast to `batch` (both `dtype`, inner dims agree)."""
    va, vb = a._view, b._view
    m, k = va.shape[-2:]
    n = vb.shape[-1]
    be = a._be
    if not batch and m and n and k:  # two matrices: the common case, without batch bookkeeping
        return wrap(be.matmul(a._buf, va, b._buf, vb, dtype), contig((m, n)), dtype, be)
    out_shape = batch + (m, n)
    if prod(out_shape) == 0:
        return empty(out_shape, dtype, be)
    if k == 0:
        return zeros(out_shape, dtype, be)
    va = va.expand(batch + (m, k))
    vb = vb.expand(batch + (k, n))
    bs, (sa, sb) = coalesce(batch, va.strides[:-2], vb.strides[:-2])
    buf = be.matmul(a._buf, View(bs + (m, k), sa + va.strides[-2:], va.offset),
                    b._buf, View(bs + (k, n), sb + vb.strides[-2:], vb.offset), dtype)
    return wrap(buf, contig(out_shape), dtype, be)


def gather(x: Any, d: int, index: Any) -> Any:
    """out[p] = x[p with p[d] := index[p]] (index range-checked by the caller or the kernel)."""
    if prod(index.shape) == 0:
        return empty(index.shape, x.dtype, x._be)
    buf = x._be.gather(x._buf, x._view, index._buf, index._view, d, x.dtype)
    return wrap(buf, contig(index.shape), x.dtype, x._be)


def scatter_add_(dst: Any, d: int, index: Any, src: Any) -> None:
    """In place dst[p with p[d] := index[p]] += src[p] (dst contiguous; src has index's shape)."""
    if prod(index.shape):
        dst._be.scatter_add(dst._buf, dst._view, index._buf, index._view, src._buf, src._view, d, dst.dtype)


def scatter_(op: str, dst: Any, d: int, index: Any, src: Any) -> None:
    """In place dst[p with p[d] := index[p]] = src[p] ('assign'), or its max/min with src[p]
    (src has index's shape and dst's dtype; dst never overlaps itself)."""
    if prod(index.shape):
        dst._be.scatter(op, dst._buf, dst._view, index._buf, index._view, src._buf, src._view, d, dst.dtype)


def _rows_last(x: Any, d: int) -> tuple:
    """(kernel view with dim d last and the other dims coalesced, x's shape with d moved last)."""
    v = x._view.permute([i for i in range(x.ndim) if i != d] + [d])
    ks, (kst,) = coalesce(v.shape[:-1], v.strides[:-1])
    return View(ks + v.shape[-1:], kst + v.strides[-1:], v.offset), v.shape


def _dim_back(buf: Any, shape: tuple, d: int, dtype: DType, be: Any) -> Any:
    """A contiguous tensor from a kernel result laid out with dim d last (`shape` in that order)."""
    nd = len(shape)
    t = wrap(buf, contig(shape), dtype, be)
    if d == nd - 1:
        return t
    order = list(range(nd - 1))
    order.insert(d, nd - 1)
    return copy(wrap(buf, contig(shape).permute(order), dtype, be), dtype)


def scan(op: str, x: Any, d: int) -> Any:
    """Inclusive cumulative sum/product of x (float or int64, ndim >= 1) along dim d."""
    if prod(x.shape) == 0:
        return empty(x.shape, x.dtype, x._be)
    kv, shape = _rows_last(x, d)
    return _dim_back(x._be.scan(op, x._buf, kv, x.dtype), shape, d, x.dtype, x._be)


def sort(x: Any, d: int, descending: bool, k: int) -> tuple:
    """(values, int64 indices) of the first k of x's stable sort along dim d (ndim >= 1)."""
    shape = x.shape[:d] + (k,) + x.shape[d + 1:]
    if prod(shape) == 0:
        return empty(shape, x.dtype, x._be), empty(shape, _dt.int64, x._be)
    kv, vshape = _rows_last(x, d)
    vals, idx = x._be.sort(x._buf, kv, x.dtype, descending, k)
    kshape = vshape[:-1] + (k,)
    return _dim_back(vals, kshape, d, x.dtype, x._be), _dim_back(idx, kshape, d, _dt.int64, x._be)


def check_index_range(index: Any, size: int, what: str, dim: int) -> None:
    """TensorIndexError naming the first bad value when an index is outside [0, size)."""
    if prod(index.shape) == 0:
        return
    checked_range(index, 0, size, lambda bad: TensorIndexError(
        f"{what}: index {bad} is out of bounds for dim {dim} with size {size}"), what)


def checked_range(t: Any, low: int, high: int, error: Callable[[Any], Exception], what: str) -> None:
    """Raise error(value) unless every value of t (non-empty) is in [low, high): its min and max
    are read as checked values (see checked_item)."""
    def check_low(v: Any) -> None:
        if v < low:
            raise error(v)

    def check_high(v: Any) -> None:
        if v >= high:
            raise error(v)
    checked_item(reduce("min", t, None, False), check_low, what)
    checked_item(reduce("max", t, None, False), check_high, what)


def transposed(t: Any) -> Any:
    """t with its last two dims swapped: a bare view with no graph node (for backward rules)."""
    v = t._view
    sh, st = v.shape, v.strides
    return wrap(t._buf, View(sh[:-2] + (sh[-1], sh[-2]), st[:-2] + (st[-1], st[-2]), v.offset), t.dtype, t._be, t._vc)
