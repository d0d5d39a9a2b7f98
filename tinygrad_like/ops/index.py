"""Indexing with tensors along one dim: gather, index_select, scatter_add, masked_fill."""
from __future__ import annotations

from typing import Any

from .. import dispatch
from ..autograd import grad_mode, needs_grad, no_grad, record
from ..dispatch import check_index_range, same_backend
from ..fused_kernels import checks_indices
from ..dtypes import bool_, int32, int64
from ..errors import AutogradError, DTypeError, ShapeError, TensorIndexError
from ..view import normalize_dim
from .elementwise import where
from .inplace import bump, check_inplace, rebase
from .movement import basic_index, place


def check_index(index: Any, x: Any, what: str) -> Any:
    """`index` as int64 (an int32 index is cast, as the kernels take int64); DTypeError unless it
    is an int64 or int32 tensor on x's backend."""
    if not dispatch.is_tensor(index):
        raise DTypeError(f"{what}: index must be an int64 Tensor, got {type(index).__name__}")
    same_backend(what, x, index)
    if index.dtype is int32:
        return dispatch.copy(index, int64)
    if index.dtype is not int64:
        raise DTypeError(f"{what}: index must be int64 (or int32), got {index.dtype.name}")
    return index


def gather(x: Any, dim: int, index: Any) -> Any:
    d = normalize_dim(dim, x.ndim)
    index = check_index(index, x, "gather")
    if index.ndim != x.ndim:
        raise ShapeError(f"gather: index has {index.ndim} dims (shape {index.shape}) but input has {x.ndim} (shape {x.shape})")
    for i, (ni, nx) in enumerate(zip(index.shape, x.shape)):
        if i != d and ni > nx:
            raise ShapeError(f"gather: index shape {index.shape} exceeds input shape {x.shape} at dim {i} ({ni} > {nx})")
    # a backend that range-checks indices in its kernel saves the two reductions of the check
    # here; its error is re-diagnosed below for a clear message
    checked = checks_indices(x._be)
    if not checked:
        check_index_range(index, x.shape[d], "gather", d)
    try:
        out = dispatch.gather(x, d, index)
    except TensorIndexError:
        if checked:
            check_index_range(index, x.shape[d], "gather", d)
        raise
    if not needs_grad(x):
        return out
    shape = x.shape

    def backward(g: Any) -> tuple:
        res = dispatch.zeros(shape, g.dtype, g._be)
        dispatch.scatter_add_(res, d, index, g if g._view.shape == index.shape else g.expand(index.shape))
        # recorded under create_graph: the scatter is linear in g, its gradient a gather
        return (record(res, "GatherBackward", (g,), lambda gg: (gather(gg, d, index),)),)
    return record(out, "Gather", (x,), backward, saved=(index,))


def index_select(x: Any, dim: int, index: Any) -> Any:
    d = normalize_dim(dim, x.ndim)
    index = check_index(index, x, "index_select")
    if index.ndim != 1:
        raise ShapeError(f"index_select: index must be 1-D, got shape {index.shape}")
    shape = x.shape[:d] + (index.shape[0],) + x.shape[d + 1:]
    view_shape = (1,) * d + (index.shape[0],) + (1,) * (x.ndim - d - 1)
    return gather(x, d, index.reshape(view_shape).expand(shape))


def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Any:
    """out = x.clone(); out[... index ...] += src along dim (differentiable in x and src)."""
    d = normalize_dim(dim, x.ndim)
    index = check_index(index, x, "scatter_add")
    check_index_range(index, x.shape[d], "scatter_add", d)
    src = src.to(x.dtype)
    with no_grad():
        out = x.clone()
        dispatch.scatter_add_(out, d, index, src.expand(index.shape) if src.shape != index.shape else src)
    if not needs_grad(x, src):
        return out
    return record(out, "ScatterAdd", (x, src), lambda g: (g, gather(g, d, index).sum_to(src.shape)), saved=(index,))


def masked_fill(x: Any, mask: Any, value: Any) -> Any:
    if dispatch.is_tensor(value):
        return where(mask, value.to(x.dtype), x)
    return where(mask, dispatch.scalar(dispatch.as_number(value), x.dtype, x._be), x)


def basic_setitem(x: Any, key: Any, value: Any) -> None:
    """x[key] = value for basic keys (value broadcast to the selection and cast to x's dtype).

    On a tensor with history (or a value that requires grad) the assignment is recorded: the
    gradient flows to `value` at [key] and to the old x everywhere else."""
    dst = x._view.index(key)
    check_inplace(x)
    src = value if dispatch.is_tensor(value) else dispatch.scalar(dispatch.as_number(value), x.dtype, x._be)
    same_backend("assignment", x, src)
    if src.ndim > len(dst.shape) and all(n == 1 for n in src.shape[:src.ndim - len(dst.shape)]):
        src = src.reshape(src.shape[src.ndim - len(dst.shape):])  # leading 1s go, as in numpy and PyTorch
    src = src.to(x.dtype).expand(dst.shape)
    if grad_mode.enabled and (x.requires_grad or src.requires_grad):
        mask = dispatch.full(x.shape, False, bool_, x._be)
        dispatch.assign(mask._buf, mask._view.index(key), dispatch.scalar(True, bool_, x._be).expand(dst.shape))
        rebase(x, lambda old: where(mask, place(src, x.shape, key), old), keep_old=False)
        return
    dispatch.assign(x._buf, dst, src)
    bump(x)
