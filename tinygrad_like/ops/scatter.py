"""Writes by index: index_put, masked_fill_/masked_scatter, index_add/index_copy,
scatter/scatter_add/scatter_reduce, take_along_dim (each out of place with gradients, and
in place where PyTorch has an `_` form).

The out-of-place forms clone and write without a graph, then record one node: the gradient
of an overwritten position is zero for the input and a gather for the source.
"""
from __future__ import annotations

from typing import Any, Optional

from .. import dispatch
from ..autograd import needs_grad, no_grad, record
from ..dtypes import bool_, int64
from ..errors import DTypeError, InvalidValueError, ShapeError, TensorIndexError
from ..view import broadcast_shapes, normalize_dim, prod
from .advanced_index import advanced_getitem, assign_index, nonzero, selection_mask, wraps_negative
from .elementwise import where
from .index import check_index, gather, masked_fill, scatter_add
from .inplace import check_inplace, inplace_form
from .sort import cumsum


def _value(x: Any, v: Any) -> Any:
    return v if dispatch.is_tensor(v) else dispatch.scalar(dispatch.as_number(v), x.dtype, x._be)


# ---------------------------------------------------------------------- index_put

@inplace_form(lambda x, *a, **k: index_put(x, *a, **k))
def index_put_(x: Any, indices: Any, values: Any, accumulate: bool = False) -> Any:
    """x[indices] = values (or += with accumulate; repeated indices then add up), in place."""
    check_inplace(x)
    assign_index(x, tuple(indices), values, accumulate)
    return x


def index_put(x: Any, indices: Any, values: Any, accumulate: bool = False) -> Any:
    """index_put_ on a copy, differentiable in x and values."""
    key = tuple(indices)
    values = _value(x, values)
    with no_grad():
        out = x.clone()
        assign_index(out, key, values, accumulate)
    if not needs_grad(x, values):
        return out
    keep = None if accumulate else selection_mask(x, key)

    def backward(g: Any) -> tuple:
        gv = advanced_getitem(g, key)
        return (g if keep is None else g * keep, gv.sum_to(values.shape))
    return record(out, "IndexPut", (x, values), backward, saved=tuple(k for k in key if dispatch.is_tensor(k)))


# ---------------------------------------------------------------------- masks

def _check_mask(mask: Any, x: Any, what: str) -> Any:
    if not dispatch.is_tensor(mask) or mask.dtype is not bool_:
        raise DTypeError(f"{what}: mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
    dispatch.same_backend(what, x, mask)
    try:
        shape = broadcast_shapes(mask.shape, x.shape)
    except ShapeError:
        shape = None
    if shape != x.shape:
        raise TensorIndexError(f"{what}: mask of shape {mask.shape} does not broadcast to the tensor's shape {x.shape}")
    return mask


@inplace_form(lambda x, *a, **k: masked_fill(x, *a, **k))
def masked_fill_(x: Any, mask: Any, value: Any) -> Any:
    _check_mask(mask, x, "masked_fill_")
    check_inplace(x)
    v = _value(x, value)
    if v.numel() != 1:
        raise ShapeError(f"masked_fill_: value must be a number or a 0-d tensor, got shape {v.shape}")
    dispatch.assign(x._buf, x._view, where(mask, v.detach().to(x.dtype), x.detach()))
    return x


def masked_scatter(x: Any, mask: Any, source: Any) -> Any:
    """x with its masked positions filled, in row-major order, from source's first elements."""
    _check_mask(mask, x, "masked_scatter")
    m = mask.expand(x.shape)
    count = cumsum(m.reshape(-1), 0)
    n = count[count.shape[0] - 1].item() if count.shape[0] else 0
    if n > source.numel():
        raise ShapeError(f"masked_scatter: the mask selects {n} elements but source has only {source.numel()}")
    if n == 0:
        return x.clone()
    pos = where(m.reshape(-1), count - 1, dispatch.scalar(0, int64, x._be))
    vals = gather(source.to(x.dtype).reshape(-1), 0, pos).reshape(x.shape)
    return where(m, vals, x)


@inplace_form(lambda x, *a, **k: masked_scatter(x, *a, **k))
def masked_scatter_(x: Any, mask: Any, source: Any) -> Any:
    check_inplace(x)
    dispatch.assign(x._buf, x._view, masked_scatter(x.detach(), mask, source.detach()))
    return x


# ---------------------------------------------------------------------- along one dim

def _dim_index(x: Any, dim: int, index: Any, source: Any, what: str) -> tuple:
    """(dim, index expanded to source's shape) for index_add/index_copy (index 1-D along dim)."""
    d = normalize_dim(dim, x.ndim) if x.ndim else 0
    index = check_index(index, x, what)
    if index.ndim > 1:
        raise ShapeError(f"{what}: index must be 1-D, got shape {index.shape}")
    index = index.reshape(-1)
    src_d = source.shape[d] if source.ndim else 1
    if source.ndim != x.ndim or index.shape[0] != src_d or any(
            a != b for i, (a, b) in enumerate(zip(source.shape, x.shape)) if i != d):
        raise ShapeError(f"{what}: source of shape {source.shape} must match the tensor's shape {x.shape} except "
                         f"in dim {d}, whose size must be the index's length {index.shape[0]}")
    size = x.shape[d] if x.ndim else 1
    idx = index
    if prod(idx.shape):
        if wraps_negative(idx, size, lambda bad: TensorIndexError(
                f"{what}: index {bad} is out of bounds for dim {d} with size {size}"), what):
            idx = where(idx < 0, idx + size, idx)
    view = (1,) * d + (idx.shape[0],) + (1,) * (max(x.ndim, 1) - d - 1)
    return d, idx.reshape(view).expand(source.shape if source.ndim else (1,))


def index_add(x: Any, dim: int, index: Any, source: Any, alpha: Any = 1) -> Any:
    """x with source's slices added at positions index along dim (repeated indices add up)."""
    d, idx = _dim_index(x, dim, index, source, "index_add")
    src = source if alpha == 1 else source * alpha
    return scatter_add(x, d, idx, src)


@inplace_form(lambda x, *a, **k: index_add(x, *a, **k))
def index_add_(x: Any, dim: int, index: Any, source: Any, alpha: Any = 1) -> Any:
    check_inplace(x)
    d, idx = _dim_index(x, dim, index, source, "index_add_")
    src = (source.detach() if alpha == 1 else source.detach() * alpha).to(x.dtype)
    if x._view.is_contiguous() and x.ndim and x.dtype is not bool_:  # straight into x's buffer
        dispatch.scatter_add_(x, d, idx, src if src.shape == idx.shape else src.expand(idx.shape))
    else:
        dispatch.assign(x._buf, x._view, scatter_add(x.detach(), d, idx, src))
    return x


def _write(x: Any, d: int, index: Any, src: Any, name: str) -> Any:
    """A copy of x with src written at index along d (scatter assign), differentiable."""
    src = src.to(x.dtype)
    with no_grad():
        out = dispatch.copy(x, x.dtype)
        dispatch.scatter_("assign", out, d, index, src.detach().expand(index.shape).contiguous())
    if not needs_grad(x, src):
        return out
    keep = dispatch.full(x.shape, 1, x.dtype, x._be)
    dispatch.scatter_("assign", keep, d, index, dispatch.zeros(index.shape, x.dtype, x._be))
    return record(out, name, (x, src), lambda g: (g * keep, gather(g, d, index).sum_to(src.shape)), saved=(index,))


def index_copy(x: Any, dim: int, index: Any, source: Any) -> Any:
    """x with source's slices written at positions index along dim."""
    d, idx = _dim_index(x, dim, index, source, "index_copy")
    return _write(x, d, idx, source, "IndexCopy")


@inplace_form(lambda x, *a, **k: index_copy(x, *a, **k))
def index_copy_(x: Any, dim: int, index: Any, source: Any) -> Any:
    check_inplace(x)
    dispatch.assign(x._buf, x._view, index_copy(x.detach(), dim, index, source.detach()))
    return x


def _scatter_args(x: Any, dim: int, index: Any, what: str) -> tuple:
    """(dim, int64 index) after the checks shared by scatter, scatter_add_ and scatter_reduce."""
    d = normalize_dim(dim, x.ndim)
    index = check_index(index, x, what)
    if index.ndim != x.ndim:
        raise ShapeError(f"{what}: index has {index.ndim} dims (shape {index.shape}) but the tensor has {x.ndim} "
                         f"(shape {x.shape})")
    for i, (a, b) in enumerate(zip(index.shape, x.shape)):
        if i != d and a > b:
            raise ShapeError(f"{what}: index shape {index.shape} exceeds the tensor's shape {x.shape} at dim {i}")
    dispatch.check_index_range(index, x.shape[d], what, d)
    return d, index


def _src(x: Any, index: Any, src: Any, what: str) -> Any:
    """src (a tensor at least index's shape, or a number) cut to index's shape."""
    if not dispatch.is_tensor(src):
        return dispatch.scalar(dispatch.as_number(src), x.dtype, x._be).expand(index.shape)
    if src.ndim != index.ndim or any(a > b for a, b in zip(index.shape, src.shape)):
        raise ShapeError(f"{what}: src of shape {src.shape} must be at least the index's shape {index.shape} in every dim")
    return src[tuple(slice(0, n) for n in index.shape)] if src.shape != index.shape else src


def scatter(x: Any, dim: int, index: Any, src: Any = None, value: Any = None, reduce: Optional[str] = None) -> Any:
    """x with src[p] (or value) written at p with p[dim] := index[p]."""
    s = src if src is not None else value
    if reduce is not None:
        return scatter_reduce(x, dim, index, _src(x, index, s, "scatter"), {"add": "sum", "multiply": "prod"}.get(reduce, reduce))
    d, index = _scatter_args(x, dim, index, "scatter")
    return _write(x, d, index, _src(x, index, s, "scatter"), "Scatter")


@inplace_form(lambda x, *a, **k: scatter(x, *a, **k))
def scatter_(x: Any, dim: int, index: Any, src: Any = None, value: Any = None, reduce: Optional[str] = None) -> Any:
    check_inplace(x)
    dispatch.assign(x._buf, x._view, scatter(x.detach(), dim, index, src if src is None else
                                             (src.detach() if dispatch.is_tensor(src) else src), value, reduce))
    return x


@inplace_form(lambda x, *a, **k: scatter_add(x, *a, **k))
def scatter_add_(x: Any, dim: int, index: Any, src: Any) -> Any:
    check_inplace(x)
    d, index = _scatter_args(x, dim, index, "scatter_add_")
    dispatch.assign(x._buf, x._view, scatter_add(x.detach(), d, index, _src(x, index, src, "scatter_add_").detach()))
    return x


def scatter_reduce(x: Any, dim: int, index: Any, src: Any, reduce: str, include_self: bool = True) -> Any:
    """Reduce src into x at index along dim with 'sum', 'mean', 'amax' or 'amin'."""
    d, index = _scatter_args(x, dim, index, "scatter_reduce")
    src = _src(x, index, src, "scatter_reduce").to(x.dtype)
    be = x._be
    hit = scatter_add(dispatch.zeros(x.shape, int64, be), d, index, dispatch.full(index.shape, 1, int64, be))
    untouched = hit == 0
    base = x if include_self else where(untouched, x, dispatch.scalar(0, x.dtype, be))
    if reduce == "sum":
        return scatter_add(base, d, index, src)
    if reduce == "mean":
        total = scatter_add(base, d, index, src)
        cnt = (hit + (1 if include_self else 0)).to(x.dtype)
        cnt = where(cnt == 0, dispatch.scalar(1, x.dtype, be), cnt)
        return total // cnt if not x.dtype.is_float else total / cnt
    if reduce not in ("amax", "amin"):
        raise InvalidValueError(f"scatter_reduce: reduce must be 'sum', 'mean', 'amax' or 'amin', got {reduce!r}")
    op = "max" if reduce == "amax" else "min"
    with no_grad():
        out = dispatch.copy(x, x.dtype)
        if not include_self:  # a position that receives src starts from src's first value there
            dispatch.scatter_("assign", out, d, index, src.detach().contiguous())
        dispatch.scatter_(op, out, d, index, src.detach().contiguous())
    if not needs_grad(x, src):
        return out

    def backward(g: Any) -> tuple:
        # the gradient is shared evenly by every element equal to the result (PyTorch's rule)
        at = gather(out, d, index)
        src_eq = (src.detach() == at).to(g.dtype)
        self_eq = (x.detach() == out).to(g.dtype)
        if not include_self:
            self_eq = where(untouched, self_eq, dispatch.scalar(0, g.dtype, g._be))
        count = scatter_add(self_eq, d, index, src_eq)
        share = g / where(count == 0, dispatch.scalar(1, g.dtype, g._be), count)
        return (share * self_eq, gather(share, d, index) * src_eq)
    return record(out, "ScatterReduce", (x, src), backward, saved=(x, src, out, index))


def take_along_dim(x: Any, indices: Any, dim: Optional[int] = None) -> Any:
    """Values of x at `indices` along dim (both broadcast in the other dims); flattened if dim is None."""
    if dim is None:
        return gather(x.reshape(-1), 0, indices.reshape(-1))
    d = normalize_dim(dim, x.ndim)
    if indices.ndim != x.ndim:
        raise ShapeError(f"take_along_dim: indices of shape {indices.shape} and input of shape {x.shape} must have "
                         f"the same number of dims")
    xs = list(x.shape)
    ids = list(indices.shape)
    xs[d] = ids[d] = 1
    b = list(broadcast_shapes(tuple(xs), tuple(ids)))
    xe = x.expand(tuple(b[:d] + [x.shape[d]] + b[d + 1:]))
    ie = indices.expand(tuple(b[:d] + [indices.shape[d]] + b[d + 1:]))
    return gather(xe, d, ie)


def where_nonzero(cond: Any) -> tuple:
    """tg.where(cond) with one argument: nonzero(cond, as_tuple=True)."""
    return nonzero(cond, as_tuple=True)


