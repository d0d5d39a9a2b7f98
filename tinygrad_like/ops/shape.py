"""Shape ops built on views and copies: flip, roll, repeat, tile, repeat_interleave, pad,
tril/triu, diagonal, diag, trace, diff.

`flip` and `diagonal` are views with their own backward (a negative stride, a summed stride);
the rest are composed of movement, index and elementwise ops, so their gradient comes from
those.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import dispatch
from ..autograd import record
from ..dispatch import contig, shape_args
from ..dtypes import bool_, int64
from ..errors import InvalidValueError, ShapeError
from ..view import View, normalize_dim, normalize_dims
from .elementwise import where
from .index import index_select
from .movement import cat, clone, narrow, view_op


def _dims(dims: Any, ndim: int) -> tuple:
    return normalize_dims(tuple(dims) if isinstance(dims, (list, tuple)) else dims, ndim)


def _flipped(v: View, dims: Sequence[int]) -> View:
    shape, strides, off = v.shape, list(v.strides), v.offset
    for d in dims:
        if shape[d] > 1:
            off += (shape[d] - 1) * strides[d]
        strides[d] = -strides[d]
    return View(shape, tuple(strides), off)


def flip_view(x: Any, dims: Sequence[int]) -> Any:
    """x reversed along dims, as a view (a negative stride); used by backward rules."""
    ds = _dims(dims, x.ndim)
    return view_op(x, _flipped(x._view, ds), "Flip", lambda g: (flip_view(g, ds),))


def flip(x: Any, *dims: Any) -> Any:
    """A copy of x reversed along dims (PyTorch's flip copies)."""
    return clone(flip_view(x, shape_args(dims)))


def fliplr(x: Any) -> Any:
    return flip(x, 1)


def flipud(x: Any) -> Any:
    return flip(x, 0)


def roll(x: Any, shifts: Any, dims: Any = None) -> Any:
    """Elements shifted along dims (wrapping around); dims=None rolls the flattened tensor."""
    if dims is None:
        return roll(x.reshape(-1), shifts, 0).reshape(x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ShapeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    for s, dim in zip(shifts, dims):
        d = normalize_dim(dim, x.ndim)
        n = x.shape[d]
        s = s % n if n else 0
        if s:
            x = cat([narrow(x, d, n - s, s), narrow(x, d, 0, n - s)], d)
    return x


def repeat(x: Any, *sizes: Any) -> Any:
    """x tiled sizes[i] times along dim i (leading new dims for extra sizes), as a copy."""
    sizes = shape_args(sizes)
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: {len(sizes)} repeat sizes given for a tensor of {x.ndim} dims (shape {x.shape}); "
                         f"give at least {x.ndim}")
    if any(not isinstance(r, int) or r < 0 for r in sizes):
        raise InvalidValueError(f"repeat: sizes must be non-negative ints, got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    y = x.reshape(shape)
    inter = tuple(v for n in shape for v in (1, n))
    big = tuple(v for r, n in zip(sizes, shape) for v in (r, n))
    return y.reshape(inter).expand(big).reshape(tuple(r * n for r, n in zip(sizes, shape)))


def tile(x: Any, *dims: Any) -> Any:
    dims = shape_args(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + tuple(dims))


def repeat_interleave(x: Any, repeats: Any, dim: Optional[int] = None, output_size: Optional[int] = None) -> Any:
    """Each element repeated `repeats` times (an int, or a tensor/list of one count per element)."""
    if dim is None:
        x, dim = x.reshape(-1), 0
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(repeats, int):
        if repeats < 0:
            raise InvalidValueError(f"repeat_interleave: repeats must be non-negative, got {repeats}")
        shape = x.shape[:d + 1] + (repeats,) + x.shape[d + 1:]
        return x.unsqueeze(d + 1).expand(shape).reshape(x.shape[:d] + (n * repeats,) + x.shape[d + 1:])
    counts = repeats.tolist() if dispatch.is_tensor(repeats) else list(repeats)
    if isinstance(counts, int):
        counts = [counts] * n
    if len(counts) == 1 and n != 1:
        counts = counts * n
    if len(counts) != n or any(not isinstance(c, int) or c < 0 for c in counts):
        raise ShapeError(f"repeat_interleave: repeats must hold {n} non-negative ints (the size of dim {d}), got {counts}")
    index = [i for i, c in enumerate(counts) for _ in range(c)]
    if output_size is not None and output_size != len(index):
        raise ShapeError(f"repeat_interleave: output_size {output_size} does not match the repeats' sum {len(index)}")
    return index_select(x, d, dispatch.from_list(index, (len(index),), int64, x._be))


# ---------------------------------------------------------------------- padding

def _pad_index(n: int, left: int, right: int, mode: str, d: int) -> list:
    """Source positions along a dim of size n for reflect/replicate/circular padding."""
    if mode == "reflect":
        if left >= n or right >= n:
            raise InvalidValueError(f"pad: reflect padding ({left}, {right}) must be smaller than dim {d}'s size {n}")
        return list(range(left, 0, -1)) + list(range(n)) + list(range(n - 2, n - 2 - right, -1))
    if mode == "replicate":
        if n == 0 and (left or right):
            raise InvalidValueError(f"pad: replicate padding of dim {d} needs a non-empty dim")
        return [0] * left + list(range(n)) + [n - 1] * right
    if left > n or right > n:
        raise InvalidValueError(f"pad: circular padding ({left}, {right}) must be at most dim {d}'s size {n}")
    return list(range(n - left, n)) + list(range(n)) + list(range(right))


def pad(x: Any, pad: Sequence[int], mode: str = "constant", value: Optional[float] = None) -> Any:
    """F.pad: `pad` = (left, right) pairs from the last dim backwards; modes constant, reflect,
    replicate, circular (negative constant padding crops)."""
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad: padding {pad} must have an even length of at most 2 * ndim = {2 * x.ndim}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise InvalidValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    pairs = {x.ndim - 1 - i: (pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)}
    if mode != "constant":
        if value:
            raise InvalidValueError(f"pad: a fill value is only used in constant mode, not {mode!r}")
        for d, (left, right) in pairs.items():
            if left < 0 or right < 0:
                raise InvalidValueError(f"pad: {mode} padding must be non-negative, got {pad}")
            if left or right:
                idx = _pad_index(x.shape[d], left, right, mode, d)
                x = index_select(x, d, dispatch.from_list(idx, (len(idx),), int64, x._be))
        return x
    for d, (left, right) in pairs.items():  # negative padding crops first
        if left < 0 or right < 0:
            lo, hi = max(-left, 0), x.shape[d] - max(-right, 0)
            if hi < lo:
                raise ShapeError(f"pad: padding {pad} crops dim {d} of size {x.shape[d]} below zero")
            x = narrow(x, d, lo, hi - lo)
    key = tuple(slice(max(pairs[d][0], 0), max(pairs[d][0], 0) + x.shape[d]) if d in pairs else slice(None)
                for d in range(x.ndim))
    shape = tuple(n + max(pairs[d][0], 0) + max(pairs[d][1], 0) if d in pairs else n for d, n in enumerate(x.shape))
    out = dispatch.full(shape, 0 if value is None else value, x.dtype, x._be)
    dispatch.assign(out._buf, out._view.index(key), x)
    return record(out, "Pad", (x,), lambda g: (g[key],))


# ---------------------------------------------------------------------- triangles and diagonals

def _tri_mask(x: Any, diagonal: int, lower: bool) -> Any:
    if x.ndim < 2:
        raise ShapeError(f"{'tril' if lower else 'triu'}: expects a tensor with at least 2 dims, got shape {x.shape}")
    n, m = x.shape[-2:]
    rows = dispatch.from_list(list(range(n)), (n, 1), int64, x._be)
    cols = dispatch.from_list(list(range(m)), (1, m), int64, x._be)
    return (cols - rows <= diagonal) if lower else (cols - rows >= diagonal)


def tril(x: Any, diagonal: int = 0) -> Any:
    """The lower triangle (j - i <= diagonal) of the last two dims; the rest zero."""
    return where(_tri_mask(x, diagonal, True), x, dispatch.scalar(0, x.dtype, x._be))


def triu(x: Any, diagonal: int = 0) -> Any:
    return where(_tri_mask(x, diagonal, False), x, dispatch.scalar(0, x.dtype, x._be))


def _diag_view(v: View, offset: int, d1: int, d2: int) -> View:
    n1, n2 = v.shape[d1], v.shape[d2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    off = v.offset
    if length:
        off += offset * v.strides[d2] if offset >= 0 else -offset * v.strides[d1]
    keep = [i for i in range(len(v.shape)) if i not in (d1, d2)]
    return View(tuple(v.shape[i] for i in keep) + (length,),
                tuple(v.strides[i] for i in keep) + (v.strides[d1] + v.strides[d2],), off)


def diagonal(x: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:
    """The diagonal of dims (dim1, dim2) as a view, appended as the last dim."""
    d1, d2 = normalize_dim(dim1, x.ndim), normalize_dim(dim2, x.ndim)
    if d1 == d2:
        raise InvalidValueError(f"diagonal: dim1 and dim2 must differ, both are {d1}")
    shape = x.shape

    def backward(g: Any) -> tuple:
        out = dispatch.zeros(shape, g.dtype, g._be)
        dispatch.assign(out._buf, _diag_view(contig(shape), offset, d1, d2), g)
        return (record(out, "DiagonalBackward", (g,), lambda gg: (diagonal(gg, offset, d1, d2),)),)
    return view_op(x, _diag_view(x._view, offset, d1, d2), "Diagonal", backward)


def diag(x: Any, diagonal: int = 0) -> Any:  # noqa: F811  (PyTorch's argument name)
    """A 1-D tensor as a square matrix's diagonal, or the diagonal of a 2-D tensor (a copy)."""
    k = diagonal
    if x.ndim == 2:
        return clone(diagonal_of(x, k))
    if x.ndim != 1:
        raise ShapeError(f"diag: expects a 1-D or 2-D tensor, got shape {x.shape}")
    n = x.shape[0] + abs(k)
    out = dispatch.zeros((n, n), x.dtype, x._be)
    dispatch.assign(out._buf, _diag_view(out._view, k, 0, 1), x)
    return record(out, "Diag", (x,), lambda g: (diagonal_of(g, k),))


diagonal_of = diagonal


def trace(x: Any) -> Any:
    if x.ndim != 2:
        raise ShapeError(f"trace: expects a 2-D tensor, got shape {x.shape}")
    return diagonal(x).sum()


def diff(x: Any, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> Any:
    """The n-th forward difference along dim (logical xor for bool), after prepend/append."""
    d = normalize_dim(dim, x.ndim)
    parts = [t for t in (prepend, x, append) if t is not None]
    if len(parts) > 1:
        x = cat(parts, d)
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        hi, lo = narrow(x, d, 1, m - 1), narrow(x, d, 0, m - 1)
        x = (hi != lo) if x.dtype is bool_ else hi - lo
    return x


