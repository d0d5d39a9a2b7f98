"""Sorting and scans: sort, argsort, topk, kthvalue, median, cumsum, cumprod.

Each runs one backend kernel (`sort` selects the first k of a stable sort, `scan` is an
inclusive cumulative sum or product). The values of sort/topk/kthvalue/median are a gather of
the input at the returned indices, so their gradient scatters back to those positions.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Optional

from .. import dispatch
from .. import dtypes as _dt
from ..autograd import needs_grad, record
from ..errors import InvalidValueError, TensorIndexError
from ..view import normalize_dim
from .elementwise import where
from .index import gather, scatter_add

# PyTorch's torch.return_types: (values, indices) tuples with named fields
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
MedianResult = namedtuple("median", ["values", "indices"])


def _picked(x: Any, d: int, values: Any, indices: Any, name: str) -> Any:
    """`values` (= x gathered at `indices` along d) recorded as that gather."""
    if not needs_grad(x):
        return values
    shape = x.shape

    def backward(g: Any) -> tuple:
        return (scatter_add(dispatch.zeros(shape, g.dtype, g._be), d, indices, g),)
    return record(values, name, (x,), backward)


def _select(x: Any, dim: int, descending: bool, k: int, name: str) -> tuple:
    """(values, indices) of the first k along dim of x's stable sort (0-d works as 1-element)."""
    if x.ndim == 0:
        v, i = _select(x.reshape(1), 0, descending, k, name)
        return v.reshape(()), i.reshape(())
    d = normalize_dim(dim, x.ndim)
    vals, idx = dispatch.sort(x.detach(), d, descending, k)
    return _picked(x, d, vals, idx, name), idx


def sort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """Sorted values and their indices along dim; always stable; NaN sorts as the largest value."""
    n = x.shape[normalize_dim(dim, x.ndim)] if x.ndim else 1
    return SortResult(*_select(x, dim, descending, n, "Sort"))


def argsort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    return sort(x, dim, descending, stable).indices


def topk(x: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:  # noqa: A002
    """The k largest (or smallest) values along dim and their indices, in sorted order."""
    n = x.shape[normalize_dim(dim, x.ndim)] if x.ndim else 1
    if not isinstance(k, int) or not 0 <= k <= n:
        raise TensorIndexError(f"topk: k ({k}) must be in [0, {n}], the size of dim {dim} of shape {x.shape}")
    return TopkResult(*_select(x, dim, largest, k, "Topk"))


def _keep(t: Any, d: int, keepdim: bool) -> Any:
    """t's last entry along d, which is kept (size 1) or dropped."""
    t = _last_entry(t, d)
    return t if keepdim else t.squeeze(d)


def _last_entry(t: Any, d: int) -> Any:
    return t.narrow(d, t.shape[d] - 1, 1)


def kthvalue(x: Any, k: int, dim: int = -1, keepdim: bool = False) -> KthvalueResult:
    """The k-th smallest value (1-based) along dim and its index."""
    if x.ndim == 0:
        r = kthvalue(x.reshape(1), k, 0, False)
        return KthvalueResult(r.values.reshape(()), r.indices.reshape(()))
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d]
    if not isinstance(k, int) or not 1 <= k <= n:
        raise TensorIndexError(f"kthvalue: k ({k}) must be in [1, {n}], the size of dim {d} of shape {x.shape}")
    v, i = _select(x, d, False, k, "Kthvalue")
    return KthvalueResult(_keep(v, d, keepdim), _keep(i, d, keepdim))


def median(x: Any, dim: Optional[int] = None, keepdim: bool = False) -> Any:
    """The lower median (NaN if the row has a NaN): a value for dim=None, else (values, indices)."""
    if dim is None:
        return median(x.reshape(-1), 0).values
    if x.ndim == 0:
        r = median(x.reshape(1), 0)
        return MedianResult(r.values.reshape(()), r.indices.reshape(()))
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d]
    if n == 0:
        raise InvalidValueError(f"median: cannot take the median of an empty dim {d} (shape {x.shape})")
    _, idx = dispatch.sort(x.detach(), d, False, (n - 1) // 2 + 1)
    idx = _last_entry(idx, d)
    if x.dtype.is_float:
        nan = x.detach().isnan()
        has_nan = nan.any(d, keepdim=True)
        if has_nan.any().item():  # NaN propagates: the first NaN of the row is the median
            first_nan = nan.to(_dt.int64).argmax(d, keepdim=True)
            idx = where(has_nan, first_nan, idx)
    vals = gather(x, d, idx)
    return MedianResult(vals if keepdim else vals.squeeze(d), idx if keepdim else idx.squeeze(d))


# ---------------------------------------------------------------------- scans

def _scan_input(x: Any, dtype: Any) -> Any:
    """x cast for a scan: to `dtype` if given, bool and int to int64 (as PyTorch)."""
    if dtype is not None:
        return x.to(dtype)
    return x if x.dtype.is_float or x.dtype is _dt.int64 else x.to(_dt.int64)


def _scan(x: Any, op: str, dim: int) -> Any:
    if x.ndim == 0:
        return _scan(x.reshape(1), op, 0).reshape(())
    return dispatch.scan(op, x, normalize_dim(dim, x.ndim))


def _reverse_cumsum(g: Any, d: int) -> Any:
    """out[i] = sum of g[i:] along d (the gradient of cumsum)."""
    return cumsum(g.flip(d), d).flip(d)


def cumsum(x: Any, dim: int, dtype: Any = None) -> Any:
    """Cumulative sum along dim (ints and bools give int64)."""
    x = _scan_input(x, dtype)
    out = _scan(x.detach(), "sum", dim)
    if not needs_grad(x):
        return out
    d = normalize_dim(dim, max(x.ndim, 1))
    if x.ndim == 0:
        return record(out, "Cumsum", (x,), lambda g: (g,))
    return record(out, "Cumsum", (x,), lambda g: (_reverse_cumsum(g, d),))


def cumprod(x: Any, dim: int, dtype: Any = None) -> Any:
    """Cumulative product along dim; its gradient is exact with zeros in the input."""
    x = _scan_input(x, dtype)
    out = _scan(x.detach(), "prod", dim)
    if not needs_grad(x):
        return out
    if x.ndim == 0:
        return record(out, "Cumprod", (x,), lambda g: (g,))
    d = normalize_dim(dim, x.ndim)

    def backward(g: Any) -> tuple:
        # d out[j] / d x[k] = prod(x[i] for i <= j, i != k) for j >= k. Before the first zero of a
        # row that is out[j] / x[k]; at the first zero z it is cumprod with x[z] set to 1; after
        # it, 0.
        zero = x == 0
        zeros_upto = cumsum(zero, d)
        before = zeros_upto == 0
        first = zero & (zeros_upto == 1)
        safe = where(zero, dispatch.scalar(1, x.dtype, x._be), x)
        g_before = _reverse_cumsum(g * out, d) / safe
        g_first = _reverse_cumsum(g * cumprod(where(first, dispatch.scalar(1, x.dtype, x._be), x), d), d)
        zero_g = dispatch.scalar(0, g.dtype, g._be)
        return (where(before, g_before, where(first, g_first, zero_g)),)
    return record(out, "Cumprod", (x,), backward, saved=(x, out))


