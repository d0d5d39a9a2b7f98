"""Movement ops: reshape, permute, expand, squeeze, slicing, ... and the copies cat/stack/clone.

A movement op makes a new View over the same buffer (no data moves); its backward moves the
gradient back the same way. Copies happen in `clone` (and `contiguous`, `reshape` of a view
that cannot be re-viewed) and in `cat`.
"""
from __future__ import annotations

from typing import Any, Sequence

from .. import dispatch
from .. import dtypes as _dt
from ..autograd import grad_mode, needs_grad, record, record1
from ..dispatch import contig, same_backend, wrap
from ..errors import DTypeError, InvalidValueError, ShapeError, TensorIndexError
from ..view import View, coalesce, infer_shape, normalize_dim, normalize_dims, permutation, prod


def view_op(x: Any, view: View, name: str, backward: Any) -> Any:
    """A tensor over x's buffer through `view` (sharing its version counter), recording `backward`.

    An in-place change of the shared storage through x (or another view) after this makes the
    view's history stale: autograd.record refuses to build on it."""
    out = wrap(x._buf, view, x.dtype, x._be, x._vc)
    return record1(out, name, x, backward) if x.requires_grad and grad_mode.enabled else out


def alias(x: Any) -> Any:
    """x itself as a new graph node (identity): a place to hang gradient hooks (module hooks)."""
    return view_op(x, x._view, "Alias", lambda g: (g,))


def reshape(x: Any, shape: tuple) -> Any:
    old = x._view.shape
    shape = infer_shape(shape, prod(old), old)
    if shape == old:
        return x  # the common no-op (backward rules reshape to shapes that often match)
    v = x._view.reshape(shape)
    if v is None:
        return reshape(clone(x), shape)
    return view_op(x, v, "Reshape", lambda g: (g.reshape(old),))


def view(x: Any, shape: tuple) -> Any:
    shape = infer_shape(shape, prod(x.shape), x.shape)
    v = x._view.reshape(shape)
    if v is None:
        raise ShapeError(f"view size is not compatible with input tensor's size and stride: shape {x.shape} strides {x.strides} "
                         f"cannot be viewed as {shape}; use .reshape(...) instead (it copies)")
    old = x.shape
    return view_op(x, v, "View", lambda g: (g.reshape(old),))


def permute(x: Any, dims: Sequence[int]) -> Any:
    inv = permutation(dims, x.shape)[1]
    return view_op(x, x._view.permute(dims), "Permute", lambda g: (g.permute(inv),))


def transpose(x: Any, dim0: int, dim1: int) -> Any:
    n = x.ndim
    if n == 0:
        return x
    d0, d1 = normalize_dim(dim0, n), normalize_dim(dim1, n)
    order = list(range(n))
    order[d0], order[d1] = d1, d0
    return permute(x, tuple(order))


def expand(x: Any, shape: tuple) -> Any:
    v = x._view.expand(shape)
    if v is x._view:
        return x
    old = x.shape
    return view_op(x, v, "Expand", lambda g: (g.sum_to(old),))


def squeeze(x: Any, dim: Any = None) -> Any:
    dims = None if dim is None else normalize_dims(dim, x.ndim)
    v = x._view.squeeze(dims)
    if v.shape == x.shape:
        return x
    old = x.shape
    return view_op(x, v, "Squeeze", lambda g: (g.reshape(old),))


def unsqueeze(x: Any, dim: int) -> Any:
    v = x._view.unsqueeze(dim)
    old = x.shape
    return view_op(x, v, "Unsqueeze", lambda g: (g.reshape(old),))


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    if x.ndim == 0:
        return reshape(x, (1,))
    s = normalize_dim(start_dim, x.ndim, "start_dim")
    e = normalize_dim(end_dim, x.ndim, "end_dim")
    if s > e:
        raise InvalidValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape
    return reshape(x, shape[:s] + (prod(shape[s:e + 1]),) + shape[e + 1:])


def unflatten(x: Any, dim: int, sizes: Sequence[int]) -> Any:
    d = normalize_dim(dim, x.ndim)
    sizes = infer_shape(sizes, x.shape[d], (x.shape[d],))
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def basic_index(x: Any, key: Any) -> Any:
    """x[key] for ints, slices, None and ...: a view; its gradient is written back into zeros."""
    v = x._view.index(key)
    src_shape = x.shape

    return view_op(x, v, "Index", lambda g: (place(g, src_shape, key),))


def place(value: Any, shape: tuple, key: Any) -> Any:
    """A new tensor of `shape`, zero except `value` at [key] (the gradient of basic indexing)."""
    out = dispatch.zeros(shape, value.dtype, value._be)
    sub = contig(shape).index(key)
    dispatch.assign(out._buf, sub, value.expand(sub.shape) if value.shape != sub.shape else value)
    # linear in value: its gradient is the same slice of the output's gradient
    return record(out, "Place", (value,), lambda g: (basic_index(g, key).sum_to(value.shape),))


def narrow(x: Any, dim: int, start: int, length: int) -> Any:
    d = normalize_dim(dim, x.ndim)
    if not (isinstance(start, int) and isinstance(length, int)):
        raise DTypeError(f"narrow: start and length must be ints, got {start!r} and {length!r}")
    if start < 0:
        start += x.shape[d]
    if not (0 <= start and length >= 0 and start + length <= x.shape[d]):
        raise TensorIndexError(f"narrow: start {start} + length {length} exceeds dim {d} of size {x.shape[d]}")
    return basic_index(x, (slice(None),) * d + (slice(start, start + length),))


def split(x: Any, split_size: Any, dim: int = 0) -> list:
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size, int):
        if split_size <= 0:
            raise InvalidValueError(f"split: split_size must be a positive int, got {split_size}")
        sizes = [min(split_size, n - i) for i in range(0, n, split_size)] or [0]
    else:
        sizes = list(split_size)
        if sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} sum to {sum(sizes)}, but dim {d} has size {n}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(x, d, start, s))
        start += s
    return out


def chunk(x: Any, chunks: int, dim: int = 0) -> list:
    d = normalize_dim(dim, x.ndim)
    if not isinstance(chunks, int) or chunks <= 0:
        raise InvalidValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    return split(x, max(-(-x.shape[d] // chunks), 1), d)


# ---------------------------------------------------------------------- copies


def clone(x: Any) -> Any:
    out = dispatch.copy(x, x.dtype)
    return record(out, "Clone", (x,), lambda g: (g,)) if needs_grad(x) else out


def contiguous(x: Any) -> Any:
    return x if x._view.is_contiguous() else clone(x)


def cat(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Concatenate along an existing dim (a copy); the gradient splits back to each input."""
    tensors = list(tensors)
    if not tensors:
        raise InvalidValueError("cat: expected a non-empty list of tensors")
    for t in tensors:
        if not dispatch.is_tensor(t):
            raise DTypeError(f"cat: expected Tensors, got {type(t).__name__}")
    # PyTorch skips 1-D empty tensors in cat (legacy behaviour)
    parts = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or [tensors[0]]
    ref = parts[0]
    for i, t in enumerate(parts):
        if t.ndim == 0:
            raise ShapeError(f"cat: zero-dimensional tensor (at position {i}) cannot be concatenated; use stack or unsqueeze")
    d = normalize_dim(dim, ref.ndim)
    same_backend("cat", *parts)
    dt = ref.dtype
    for i, t in enumerate(parts):
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != d):
            raise ShapeError(f"cat: sizes must match except in dim {d}: tensor 0 has shape {ref.shape}, tensor {i} has {t.shape}")
        dt = _dt.promote(dt, t.dtype)
    parts = [t.to(dt) for t in parts]
    total = sum(t.shape[d] for t in parts)
    shape = ref.shape[:d] + (total,) + ref.shape[d + 1:]
    out = dispatch.empty(shape, dt, ref._be)
    start = 0
    for t in parts:
        key = (slice(None),) * d + (slice(start, start + t.shape[d]),)
        dispatch.assign(out._buf, out._view.index(key), t)
        start += t.shape[d]
    if not needs_grad(*parts):
        return out
    sizes = [t.shape[d] for t in parts]

    def backward(g: Any) -> tuple:
        res, s = [], 0
        for n in sizes:
            res.append(narrow(g, d, s, n))
            s += n
        return tuple(res)
    return record(out, "Cat", tuple(parts), backward)


def stack(tensors: Sequence[Any], dim: int = 0) -> Any:
    tensors = list(tensors)
    if not tensors:
        raise InvalidValueError("stack: expected a non-empty list of tensors")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise ShapeError(f"stack: all tensors must have the same shape: tensor 0 has {shape}, tensor {i} has {t.shape}")
    d = normalize_dim(dim, len(shape) + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)
