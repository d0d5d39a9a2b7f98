"""Pooling: a sliding-window view (ops/conv.windows) plus a reduction over the window dims.

Average pooling is composed (windows, then mean or sum / count), so its gradient is the sum of
windows' adjoint. Max pooling picks one element per window (argmax over a contiguous copy of the
windows) and routes the gradient to that element only, as PyTorch does; `return_indices` gives
the flat positions in each input plane. Adaptive pooling is separable: one pass per spatial dim. Max pooling runs
on the backend's one-pass `max_pool2d` / `max_pool2d_backward` kernels where it has them.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional

from .. import dispatch, fused_kernels
from ..autograd import needs_grad, no_grad, record
from ..dtypes import int64
from ..errors import DTypeError, InvalidValueError, ShapeError
from ..view import prod
from .conv import ntuple, pad, windows
from .index import gather
from .movement import stack


def _batched(x: Any, k: int, what: str) -> tuple:
    if not dispatch.is_tensor(x):
        raise DTypeError(f"{what}: expected a Tensor, got {type(x).__name__}")
    if x.ndim == k + 1:
        return x.unsqueeze(0), True
    if x.ndim != k + 2:
        raise ShapeError(f"{what}: expected a {k + 1}-d (unbatched) or {k + 2}-d (batched) input, got shape {x.shape}")
    return x, False


def _geometry(x: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool, k: int,
              what: str) -> tuple:
    """(kernel, stride, dilation, pads ((lo, hi) per dim: hi includes ceil_mode's extra), out sizes)."""
    kernel = ntuple(kernel_size, k, f"{what}: kernel_size")
    stride = kernel if stride is None or stride == () or stride == [] else ntuple(stride, k, f"{what}: stride")
    dilation = ntuple(dilation, k, f"{what}: dilation")
    pd = ntuple(padding, k, f"{what}: padding", minimum=0)
    pads, out = [], []
    for n, kk, s, d, p in zip(x.shape[-k:], kernel, stride, dilation, pd):
        ext = d * (kk - 1) + 1
        if p > kk // 2:
            raise InvalidValueError(f"{what}: padding {pd} should be at most half of the kernel size {kernel}")
        if ext > n + 2 * p:
            raise ShapeError(f"{what}: the window ({kk} with dilation {d}, spanning {ext}) is larger than the padded "
                             f"input ({n} + 2 * {p}) of shape {x.shape}")
        span = n + 2 * p - ext
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside the input or the left pad
            o -= 1
        pads.append((p, p + max(0, (o - 1) * s + ext - (n + 2 * p))))
        out.append(o)
    return kernel, stride, dilation, tuple(pads), tuple(out)


def _flat_pads(pads: tuple) -> tuple:
    out: list = []
    for lo, hi in reversed(pads):
        out += [lo, hi]
    return tuple(out)


@lru_cache(maxsize=256)
def _positions(sizes: tuple, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple) -> tuple:
    """Flat input-plane index of every (window entry, output position), row-major over both."""
    k = len(sizes)
    strides = [prod(sizes[i + 1:]) for i in range(k)]
    out_sizes = [(n + lo + hi - (d * (kk - 1) + 1)) // s + 1
                 for n, (lo, hi), kk, s, d in zip(sizes, pads, kernel, stride, dilation)]
    pos = [0]
    for n, o, kk, s, d, (lo, _), st in zip(sizes, out_sizes, kernel, stride, dilation, pads, strides):
        pos = [p + (i * s - lo) * st for p in pos for i in range(o)]
    kpos = [0]
    for kk, d, st in zip(kernel, dilation, strides):
        kpos = [p + j * d * st for p in kpos for j in range(kk)]
    return tuple(p + q for q in kpos for p in pos)


_POS_TENSORS: dict = {}


def _position_tensor(be: Any, key: tuple) -> Any:
    """The int64 (KK, L) table of `_positions` on backend `be` (kept: a training loop reuses few)."""
    t = _POS_TENSORS.get((be.name, key))
    if t is None:
        if len(_POS_TENSORS) > 256:
            _POS_TENSORS.clear()
        vals = list(_positions(*key))
        kk = prod(key[1])
        t = _POS_TENSORS[(be.name, key)] = dispatch.from_list(vals, (kk, len(vals) // kk), int64, be)
    return t


def max_poolnd(input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
               return_indices: bool, k: int, what: str) -> Any:
    """max_pool1d/2d: the max of each window; indices are flat positions in each input plane."""
    x, unbatched = _batched(input, k, what)
    if not x.dtype.is_float and x.dtype is not int64:
        raise DTypeError(f"{what}: expected a float or int64 input, got {x.dtype.name}")
    kernel, stride, dilation, pads, out_sp = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode, k, what)
    n, c = x.shape[:2]
    sizes = x.shape[2:]
    l, kk = prod(out_sp), prod(kernel)
    fused = _fused_max_pool(x, kernel, stride, dilation, pads, out_sp)
    if fused is not None:
        out, flat = fused
        if needs_grad(x):
            out = record(out, "MaxPool", (x,), _fused_max_pool_backward(x.shape, flat.reshape(n, c, l), n, c, l))
        if unbatched:
            out, flat = out.squeeze(0), flat.squeeze(0)
        return (out, flat) if return_indices else out
    with no_grad():
        xp = pad(x, _flat_pads(pads), float("-inf") if x.dtype.is_float else -(1 << 63)) \
            if any(lo or hi for lo, hi in pads) else x
        # the one copy of the windows, laid out (N, C, KK, L): runs along an output row, not a kernel row
        win = windows(xp, kernel, stride, dilation)
        order = (0, 1) + tuple(range(2 + k, 2 + 2 * k)) + tuple(range(2, 2 + k))
        cols = win.permute(order).reshape(n, c, kk, l)
        idx = cols.argmax(2, keepdim=True)  # (N, C, 1, L): the first max of each window (NaN wins)
        values = cols.gather(2, idx)
        flat = _position_tensor(x._be, (sizes, kernel, stride, dilation, pads)).expand(n, c, kk, l).gather(2, idx)
    out = values.reshape((n, c) + out_sp)
    flat = flat.reshape(n, c, l)
    if needs_grad(x):
        out = record(out, "MaxPool", (x,), _max_pool_backward(x.shape, flat, n, c, l))
    if unbatched:
        out, flat = out.squeeze(0), flat.squeeze(0)
    return (out, flat.reshape(out.shape)) if return_indices else out


def _fused_max_pool(x: Any, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, out_sp: tuple) -> Any:
    """(values, indices) from the backend's one-pass 2-d kernel (1-d pooling as 2-d with a height
    of 1), or None without one."""
    lo = tuple(p for p, _ in pads)
    if len(kernel) == 2:
        return fused_kernels.fused_max_pool2d(x, kernel, stride, dilation, lo, out_sp)
    res = fused_kernels.fused_max_pool2d(x.unsqueeze(2), (1,) + kernel, (1,) + stride, (1,) + dilation, (0,) + lo,
                                    (1,) + out_sp)
    return None if res is None else (res[0].squeeze(2), res[1].squeeze(2))


def _fused_max_pool_backward(shape: tuple, flat: Any, n: int, c: int, l: int) -> Any:
    """The backward of the fused forward: the backend's scatter-add kernel when no graph is built
    (create_graph records the composed scatter instead)."""
    composed = _max_pool_backward(shape, flat, n, c, l)

    def backward(g: Any) -> tuple:
        if not needs_grad(g):
            res = fused_kernels.fused_max_pool2d_backward(g.reshape(n * c, l), flat.reshape(n * c, l), prod(shape[2:]))
            if res is not None:
                return (res.reshape(shape),)
        return composed(g)
    return backward


def _max_pool_backward(shape: tuple, flat: Any, n: int, c: int, l: int) -> Any:
    def backward(g: Any) -> tuple:
        res = dispatch.zeros((n, c, prod(shape[2:])), g.dtype, g._be)
        gc = g.reshape(n, c, l)
        if not gc._view.is_contiguous():
            gc = gc.contiguous()
        dispatch.scatter_add_(res, 2, flat, gc)
        # recorded under create_graph: the scatter is linear in g, its gradient a gather
        res = record(res, "MaxPoolBackward", (g,), lambda gg: (gather(gg, 2, flat).reshape(g.shape),))
        return (res.reshape(shape),)
    return backward


def avg_poolnd(input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool,
               divisor_override: Optional[int], k: int, what: str) -> Any:
    """avg_pool1d/2d: the mean of each window, composed of windows and a sum."""
    x, unbatched = _batched(input, k, what)
    if not x.dtype.is_float:
        raise DTypeError(f"{what}: expected a float input, got {x.dtype.name}")
    kernel, stride, dilation, pads, out_sp = _geometry(x, kernel_size, stride, padding, 1, ceil_mode, k, what)
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override <= 0):
        raise InvalidValueError(f"{what}: divisor_override must be a positive int, got {divisor_override!r}")
    padded = any(lo or hi for lo, hi in pads)
    xp = pad(x, _flat_pads(pads)) if padded else x
    win = windows(xp, kernel, stride, dilation)
    red = tuple(range(2 + k, 2 + 2 * k))
    if divisor_override is not None:
        out = win.sum(red) / divisor_override
    elif not padded:
        out = win.mean(red)
    else:
        out = win.sum(red) / _counts(x, pads, kernel, stride, count_include_pad)
    return out.squeeze(0) if unbatched else out


def _counts(x: Any, pads: tuple, kernel: tuple, stride: tuple, include_pad: bool) -> Any:
    """Elements each window averages over: the input and (with count_include_pad) the symmetric
    padding, never ceil_mode's overhang past it; shape (*out), no graph."""
    k = len(kernel)
    sizes = x.shape[2:]
    with no_grad():
        ones = dispatch.full(sizes, 1.0, x.dtype, x._be)
        if include_pad:  # the symmetric padding counts; ceil_mode's extra at the end does not
            ones = pad(ones, _flat_pads(tuple((lo, lo) for lo, _ in pads)), 1.0)
            extra = tuple((0, hi - lo) for lo, hi in pads)
        else:
            extra = pads
        ones = pad(ones, _flat_pads(extra), 0.0)
        return windows(ones, kernel, stride, (1,) * k).sum(tuple(range(k, 2 * k)))


def _bins(n: int, o: int) -> list:
    """PyTorch's adaptive pooling bins: [floor(i * n / o), ceil((i + 1) * n / o)) for i < o."""
    return [(i * n // o, -(-(i + 1) * n // o)) for i in range(o)]


def adaptive_poolnd(input: Any, output_size: Any, op: str, k: int, what: str) -> Any:
    """adaptive avg/max pooling to any output size: one pass per spatial dim (both are separable)."""
    x, unbatched = _batched(input, k, what)
    sizes = x.shape[2:]
    req = (output_size,) * k if isinstance(output_size, int) else tuple(output_size)
    if len(req) != k:
        raise InvalidValueError(f"{what}: output_size must be an int or a tuple of {k} (ints or None), got {output_size!r}")
    outs = tuple(n if o is None else o for n, o in zip(sizes, req))
    if any(not isinstance(o, int) or o < 1 for o in outs):
        raise InvalidValueError(f"{what}: output_size must be positive, got {output_size!r}")
    if any(n == 0 for n in sizes):
        raise ShapeError(f"{what}: input of shape {x.shape} has an empty spatial dim")
    if all(n % o == 0 for n, o in zip(sizes, outs)):  # uniform bins: one window pass
        kern = tuple(n // o for n, o in zip(sizes, outs))
        if op == "max":
            out = max_poolnd(x, kern, kern, 0, 1, False, False, k, what)
        else:
            out = avg_poolnd(x, kern, kern, 0, False, True, None, k, what)
        return out.squeeze(0) if unbatched else out
    out = x
    for i, (n, o) in enumerate(zip(sizes, outs)):
        d = 2 + i
        if o == n:
            continue
        parts = []
        for lo, hi in _bins(n, o):
            piece = out.narrow(d, lo, hi - lo)
            parts.append(piece.mean(d) if op == "avg" else piece.amax(d))
        out = stack(parts, d)
    return out.squeeze(0) if unbatched else out

