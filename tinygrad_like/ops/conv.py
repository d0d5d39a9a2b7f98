"""Convolution from views: padding, a zero-copy sliding-window view, one im2col copy and a GEMM.

`windows(x)` is a View of x's buffer (View.windows); its backward is `fold_windows`, the sum of
the (possibly overlapping) windows back into x's shape (col2im: one `add_into` kernel), whose
backward is `windows` again, so create_graph differentiates through both. `unfold`, `fold` and
`conv_transpose2d` are composed of these and of matmul. A convolution is one graph node whose
backward is written with the same differentiable ops (it recomputes the im2col columns rather
than keeping them); its forward may use a backend's fused `im2col` kernel. A 2-d convolution
without groups runs on the backend's fused `conv2d` / `conv2d_backward` kernels where it has them
(per sample: im2col into scratch, a GEMM straight into the NCHW result), and on the composed path
when the backward must build a graph (create_graph).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import dispatch, fused_kernels
from ..autograd import needs_grad, no_grad, record
from ..errors import DTypeError, InvalidValueError, ShapeError
from ..view import prod
from .movement import cat, view_op


def ntuple(value: Any, n: int, name: str, minimum: int = 1) -> tuple:
    """An int or a sequence of n ints (each >= minimum) as an n-tuple; errors name the argument."""
    vals = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else tuple(value) \
        if isinstance(value, (tuple, list)) else None
    if vals is None or len(vals) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        raise InvalidValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in vals):
        raise InvalidValueError(f"{name} must be >= {minimum}, got {value!r}")
    return vals


def pad(x: Any, pads: Sequence[int], value: float = 0.0) -> Any:
    """F.pad in constant mode: pads = (last_lo, last_hi, second_last_lo, ...); negative pads crop."""
    pads = tuple(pads)
    if len(pads) % 2 or len(pads) // 2 > x.ndim or not all(isinstance(p, int) for p in pads):
        raise InvalidValueError(f"pad: expected an even number of ints (at most 2 per dim of shape {x.shape}), got {pads}")
    k = len(pads) // 2
    pairs = [(pads[2 * i], pads[2 * i + 1]) for i in range(k)][::-1]  # outermost padded dim first
    lead = x.ndim - k
    if any(lo < 0 or hi < 0 for lo, hi in pairs):  # crop first, then pad what is left
        crop = (slice(None),) * lead + tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(pairs, x.shape[lead:]))
        if any(n - max(-lo, 0) - max(-hi, 0) < 0 for (lo, hi), n in zip(pairs, x.shape[lead:])):
            raise ShapeError(f"pad: pads {pads} crop more than the dims of shape {x.shape} hold")
        x = x[crop]
        pairs = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    if not any(lo or hi for lo, hi in pairs):
        return x
    shape = x.shape[:lead] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[lead:], pairs))
    out = dispatch.full(shape, value, x.dtype, x._be)
    key = (slice(None),) * lead + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[lead:], pairs))
    dispatch.assign(out._buf, out._view.index(key), x)
    return record(out, "Pad", (x,), lambda g: (g[key],)) if needs_grad(x) else out


def windows(x: Any, kernel: tuple, stride: tuple, dilation: tuple) -> Any:
    """Sliding windows over the last len(kernel) dims as a view: (..., *out, *kernel), no copy."""
    v = x._view.windows(kernel, stride, dilation)
    shape = x.shape
    return view_op(x, v, "Windows", lambda g: (fold_windows(g, shape, kernel, stride, dilation),))


def fold_windows(g: Any, shape: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> Any:
    """The adjoint of `windows`: a tensor of `shape` where each element sums every window entry of
    g that views it (col2im)."""
    out = dispatch.zeros(shape, g.dtype, g._be)
    dispatch.add_into(out, out._view.windows(kernel, stride, dilation), g)
    if not needs_grad(g):
        return out
    return record(out, "FoldWindows", (g,), lambda gg: (windows(gg, kernel, stride, dilation),))


def conv_pads(padding: Any, kernel: tuple, stride: tuple, dilation: tuple, what: str) -> tuple:
    """((lo, hi) per spatial dim) for padding given as an int, a tuple, 'valid' or 'same'."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise InvalidValueError(f"{what}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise InvalidValueError(f"{what}: padding='same' is not supported for strided convolutions (stride {stride})")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)  # any odd extra goes to the end, as in PyTorch
    p = ntuple(padding, n, f"{what}: padding", minimum=0)
    return tuple((q, q) for q in p)


def _spatial_check(x: Any, pads: tuple, kernel: tuple, dilation: tuple, what: str) -> None:
    k = len(kernel)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[-k:], pads))
    extent = tuple(d * (kk - 1) + 1 for kk, d in zip(kernel, dilation))
    if any(e > n for e, n in zip(extent, padded)):
        raise ShapeError(f"{what}: kernel size can't be greater than the padded input size: input {x.shape} padded "
                         f"to {padded} spatially, kernel {kernel} with dilation {dilation} spans {extent}")


def _flat_pads(pads: tuple) -> tuple:
    """((lo, hi) per dim, outermost first) -> pad()'s (last_lo, last_hi, ...) order."""
    out: list = []
    for lo, hi in reversed(pads):
        out += [lo, hi]
    return tuple(out)


def _batched(x: Any, k: int, what: str) -> tuple:
    """(x with a batch dim, whether one was added) for an input of k spatial dims."""
    if x.ndim == k + 1:
        return x.unsqueeze(0), True
    if x.ndim != k + 2:
        raise ShapeError(f"{what}: expected a {k + 1}-d (unbatched) or {k + 2}-d (batched) input, got shape {x.shape}")
    return x, False


def im2col(x: Any, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, batch_inner: bool = False) -> tuple:
    """(cols, out spatial shape): the one copy of a convolution's forward, column l of sample n
    holding the window of output position l. cols is (N, C * prod(kernel), L) contiguous
    (PyTorch's unfold layout), or with batch_inner (C * prod(kernel), N * L), so that one GEMM
    covers the whole batch. Either way its rows run along the output positions: the copy moves
    runs of an output row's length rather than of a kernel row's."""
    k = len(kernel)
    if batch_inner and k == 2 and not needs_grad(x):  # the backend's one-pass kernel, where it has one
        size = tuple((s + lo + hi - d * (kk - 1) - 1) // st + 1
                     for s, (lo, hi), kk, st, d in zip(x.shape[2:], pads, kernel, stride, dilation))
        cols = fused_kernels.fused_im2col(x, kernel, stride, dilation, tuple(lo for lo, _ in pads), size)
        if cols is not None:
            return cols, size
    if any(lo or hi for lo, hi in pads):
        x = pad(x, _flat_pads(pads))
    win = windows(x, kernel, stride, dilation)  # (N, C, *out, *kernel)
    n, c = x.shape[:2]
    out = win.shape[2:2 + k]
    kdims, odims = tuple(range(2 + k, 2 + 2 * k)), tuple(range(2, 2 + k))
    if batch_inner:
        return win.permute((1,) + kdims + (0,) + odims).reshape(c * prod(kernel), n * prod(out)), out
    return win.permute((0, 1) + kdims + odims).reshape(n, c * prod(kernel), prod(out)), out


def convnd(input: Any, weight: Any, bias: Optional[Any], stride: Any, padding: Any, dilation: Any, groups: int,
           k: int, what: str) -> Any:
    """conv1d/conv2d: cross-correlation of (N, C, *spatial) with weight (OC, C // groups, *kernel)."""
    if not (dispatch.is_tensor(input) and dispatch.is_tensor(weight)):
        raise DTypeError(f"{what}: input and weight must be Tensors")
    if not input.dtype.is_float or input.dtype is not weight.dtype:
        raise DTypeError(f"{what}: input ({input.dtype.name}) and weight ({weight.dtype.name}) must have the same "
                         f"float dtype; convert with .float() or .double()")
    if weight.ndim != k + 2:
        raise ShapeError(f"{what}: weight must be {k + 2}-d (out_channels, in_channels / groups, *kernel), got shape {weight.shape}")
    if not isinstance(groups, int) or groups < 1:
        raise InvalidValueError(f"{what}: groups must be a positive int, got {groups!r}")
    x, unbatched = _batched(input, k, what)
    oc, cg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    stride = ntuple(stride, k, f"{what}: stride")
    dilation = ntuple(dilation, k, f"{what}: dilation")
    c = x.shape[1]
    if c != cg * groups:
        raise ShapeError(f"{what}: input of shape {input.shape} has {c} channels, but weight of shape {weight.shape} "
                         f"with groups={groups} expects in_channels = weight.shape[1] * groups = {cg * groups}")
    if oc % groups:
        raise ShapeError(f"{what}: out_channels {oc} (weight shape {weight.shape}) must be divisible by groups={groups}")
    if bias is not None and tuple(bias.shape) != (oc,):
        raise ShapeError(f"{what}: bias must have shape ({oc},) for weight of shape {weight.shape}, got {bias.shape}")
    if bias is not None and bias.dtype is not weight.dtype:
        raise DTypeError(f"{what}: bias ({bias.dtype.name}) must have the weight's dtype ({weight.dtype.name})")
    pads = conv_pads(padding, kernel, stride, dilation, what)
    _spatial_check(x, pads, kernel, dilation, what)
    extent = tuple(d * (kk - 1) + 1 for kk, d in zip(kernel, dilation))
    out_sp = tuple((s + lo + hi - e) // st + 1 for s, (lo, hi), e, st in zip(x.shape[2:], pads, extent, stride))
    with no_grad():
        out = _conv_forward(x, weight, bias, kernel, stride, dilation, pads, groups, out_sp)
    if needs_grad(x, weight, *(() if bias is None else (bias,))):
        inputs = (x, weight) if bias is None else (x, weight, bias)
        out = record(out, "Convolution", inputs, _conv_backward(x, weight, bias, kernel, stride, dilation, pads,
                                                                groups, out_sp), saved=(x, weight))
    return out.squeeze(0) if unbatched else out


COLS_CHUNK = 1 << 19
"""Elements of im2col columns built at a time: a batch whose columns are larger is convolved
in chunks of samples, so the columns of a ResNet block's batch (tens of MB) never exist at once
and a chunk's buffer comes back from the allocator's cache for the next chunk."""


def _chunks(n: int, per_sample: int) -> list:
    """[(start, stop)) sample ranges whose im2col columns hold at most COLS_CHUNK elements (one sample at least)."""
    step = max(1, min(n, COLS_CHUNK // max(per_sample, 1)))
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def _gemm(weight: Any, cols: Any, groups: int) -> Any:
    """(OC, C*KK) @ (C*KK, M) -> (OC, M), per group when grouped."""
    oc, cg = weight.shape[:2]
    ckk, m = cols.shape
    if groups == 1:
        return weight.reshape(oc, ckk) @ cols
    out = weight.reshape(groups, oc // groups, ckk // groups) @ cols.reshape(groups, ckk // groups, m)
    return out.reshape(oc, m)


def _conv_forward(x: Any, weight: Any, bias: Optional[Any], kernel: tuple, stride: tuple, dilation: tuple,
                  pads: tuple, groups: int, out_sp: tuple) -> Any:
    """Per chunk of samples one GEMM, (OC, C*KK) @ (C*KK, n*L) -> (OC, n*L), plus bias, copied
    into the NCHW result (PyTorch's layout; a copy of whole output rows)."""
    if len(kernel) == 2 and groups == 1:  # the backend's fused kernel, where it has one
        out = fused_kernels.fused_conv2d(x, weight, bias, kernel, stride, dilation, tuple(lo for lo, _ in pads), out_sp)
        if out is not None:
            return out
    n, c = x.shape[:2]
    oc = weight.shape[0]
    l, kk = prod(out_sp), prod(kernel)
    out = dispatch.empty((n, oc) + out_sp, x.dtype, x._be)
    for a, b in _chunks(n, c * kk * l):
        part = _gemm(weight, im2col(x[a:b], kernel, stride, dilation, pads, batch_inner=True)[0], groups)
        if bias is not None:
            dispatch.binary_inplace("add", part, bias.reshape(oc, 1))  # into the fresh product: no temporary
        src = part.reshape((oc, b - a) + out_sp).transpose(0, 1)
        dispatch.assign(out._buf, out._view.index(slice(a, b)), src)
    return out


def _conv_backward(x: Any, weight: Any, bias: Optional[Any], kernel: tuple, stride: tuple, dilation: tuple,
                   pads: tuple, groups: int, out_sp: tuple) -> Any:
    """The gradients of a convolution, written with differentiable ops, chunk by chunk as the
    forward. The im2col columns are not kept from the forward (they are the largest tensor of a
    small CNN): the weight gradient recomputes them, so a training step holds only layer inputs."""
    n, c = x.shape[:2]
    oc, cg = weight.shape[:2]
    l, kk, k = prod(out_sp), prod(kernel), len(kernel)
    crop = any(lo or hi for lo, hi in pads)
    inner = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[2:], pads))
    # (C, *kernel, n, *out) -> (n, C, *out, *kernel): the window view's layout, summed back (col2im)
    order = (k + 1, 0) + tuple(range(k + 2, 2 * k + 2)) + tuple(range(1, k + 1))

    def backward(g: Any) -> tuple:
        want_b = bias is not None and bias.requires_grad
        if k == 2 and groups == 1 and not needs_grad(g, x, weight, *(() if bias is None else (bias,))):
            # no graph to build (no create_graph): the backend's fused kernel, where it has one
            res = fused_kernels.fused_conv2d_backward(x, weight, g, kernel, stride, dilation, tuple(lo for lo, _ in pads),
                                                 out_sp, (x.requires_grad, weight.requires_grad, want_b))
            if res is not None:
                return res[:2] if bias is None else res
        gb = g.sum((0,) + tuple(range(2, 2 + k))) if bias is not None and bias.requires_grad else None
        gw = None
        parts = []
        for a, b in _chunks(n, c * kk * l):
            m = b - a
            g2 = g[a:b].reshape(m, oc, l).transpose(0, 1).reshape(oc, m * l)  # (OC, n*L), matching the GEMM
            if weight.requires_grad:
                cols = im2col(x[a:b], kernel, stride, dilation, pads, batch_inner=True)[0]
                if groups == 1:
                    part = g2 @ cols.transpose(0, 1)
                else:
                    part = g2.reshape(groups, oc // groups, m * l) @ cols.reshape(groups, cg * kk, m * l).transpose(1, 2)
                gw = part if gw is None else gw + part
            if x.requires_grad:
                if groups == 1:
                    gcols = weight.reshape(oc, c * kk).transpose(0, 1) @ g2  # (C*KK, n*L)
                else:
                    gcols = weight.reshape(groups, oc // groups, cg * kk).transpose(1, 2) @ \
                        g2.reshape(groups, oc // groups, m * l)
                padded = (m, c) + tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads))
                gx = fold_windows(gcols.reshape((c,) + kernel + (m,) + out_sp).permute(order), padded, kernel,
                                  stride, dilation)
                parts.append(gx[(slice(None), slice(None)) + inner] if crop else gx)
        gx = None if not parts else parts[0] if len(parts) == 1 else cat(parts, 0)
        gw = None if gw is None else gw.reshape(weight.shape)
        return (gx, gw) if bias is None else (gx, gw, gb)
    return backward


def unfold(input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Any:
    """F.unfold (im2col): (N, C, H, W) -> (N, C * kh * kw, L), column l the window of position l."""
    x, unbatched = _batched(input, 2, "unfold")
    kernel = ntuple(kernel_size, 2, "unfold: kernel_size")
    stride, dilation = ntuple(stride, 2, "unfold: stride"), ntuple(dilation, 2, "unfold: dilation")
    pads = tuple((p, p) for p in ntuple(padding, 2, "unfold: padding", minimum=0))
    _spatial_check(x, pads, kernel, dilation, "unfold")
    out = im2col(x, kernel, stride, dilation, pads)[0]
    return out.squeeze(0) if unbatched else out


def fold(input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Any:
    """F.fold (col2im), unfold's adjoint: (N, C * kh * kw, L) -> (N, C, *output_size), overlapping
    entries summed."""
    x = input.unsqueeze(0) if input.ndim == 2 else input
    if x.ndim != 3:
        raise ShapeError(f"fold: expected a 2-d (unbatched) or 3-d (batched) input, got shape {input.shape}")
    size = ntuple(output_size, 2, "fold: output_size")
    kernel = ntuple(kernel_size, 2, "fold: kernel_size")
    stride, dilation = ntuple(stride, 2, "fold: stride"), ntuple(dilation, 2, "fold: dilation")
    pd = ntuple(padding, 2, "fold: padding", minimum=0)
    kk = prod(kernel)
    n, ckk, l = x.shape
    if ckk % kk:
        raise ShapeError(f"fold: input of shape {input.shape}: dim 1 ({ckk}) must be divisible by the kernel size "
                         f"{kernel[0]}*{kernel[1]} = {kk}")
    padded = tuple(s + 2 * p for s, p in zip(size, pd))
    blocks = tuple((s - d * (k - 1) - 1) // st + 1 for s, k, d, st in zip(padded, kernel, dilation, stride))
    if any(b < 1 for b in blocks) or prod(blocks) != l:
        raise ShapeError(f"fold: input of shape {input.shape} has {l} blocks, but output_size {size} with kernel "
                         f"{kernel}, dilation {dilation}, padding {pd} and stride {stride} makes "
                         f"{blocks[0]}*{blocks[1]} = {prod(blocks)}")
    c = ckk // kk
    g = x.reshape((n, c) + kernel + blocks).permute(0, 1, 4, 5, 2, 3)  # (N, C, OH, OW, KH, KW)
    out = fold_windows(g, (n, c) + padded, kernel, stride, dilation)
    if any(pd):
        out = out[:, :, pd[0]:pd[0] + size[0], pd[1]:pd[1] + size[1]]
    return out.squeeze(0) if input.ndim == 2 else out


def conv_transpose2d(input: Any, weight: Any, bias: Optional[Any] = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Any:
    """The adjoint of conv2d in its input: weight (C_in, C_out // groups, kh, kw), as in PyTorch."""
    what = "conv_transpose2d"
    if not input.dtype.is_float or input.dtype is not weight.dtype:
        raise DTypeError(f"{what}: input ({input.dtype.name}) and weight ({weight.dtype.name}) must have the same float dtype")
    if weight.ndim != 4:
        raise ShapeError(f"{what}: weight must be 4-d (in_channels, out_channels / groups, kh, kw), got shape {weight.shape}")
    x, unbatched = _batched(input, 2, what)
    cin, ocg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    stride, dilation = ntuple(stride, 2, f"{what}: stride"), ntuple(dilation, 2, f"{what}: dilation")
    pd = ntuple(padding, 2, f"{what}: padding", minimum=0)
    opd = ntuple(output_padding, 2, f"{what}: output_padding", minimum=0)
    if not isinstance(groups, int) or groups < 1:
        raise InvalidValueError(f"{what}: groups must be a positive int, got {groups!r}")
    if x.shape[1] != cin:
        raise ShapeError(f"{what}: input of shape {input.shape} has {x.shape[1]} channels, but weight of shape "
                         f"{weight.shape} expects in_channels = weight.shape[0] = {cin}")
    if cin % groups:
        raise ShapeError(f"{what}: in_channels {cin} must be divisible by groups={groups}")
    if any(o >= s and o >= d for o, s, d in zip(opd, stride, dilation)):
        raise InvalidValueError(f"{what}: output_padding {opd} must be smaller than either stride {stride} or dilation {dilation}")
    n, _, h, w = x.shape
    oc = ocg * groups
    if bias is not None and tuple(bias.shape) != (oc,):
        raise ShapeError(f"{what}: bias must have shape ({oc},), got {bias.shape}")
    full = tuple((i - 1) * s + d * (k - 1) + 1 for i, s, d, k in zip((h, w), stride, dilation, kernel))
    size = tuple(f - 2 * p + o for f, p, o in zip(full, pd, opd))
    if any(s < 1 for s in size):
        raise ShapeError(f"{what}: input of shape {input.shape} with padding {pd} gives an empty output size {size}")
    kk = prod(kernel)
    xg = x.reshape(n, groups, cin // groups, h * w)  # (N, G, Cg, L)
    wg = weight.reshape(groups, cin // groups, ocg * kk).transpose(1, 2)  # (G, OCg*KK, Cg)
    cols = (wg @ xg).reshape(n, oc * kk, h * w)  # (N, OC*KK, L)
    # fold onto the un-cropped output, add output_padding at the end, then crop the padding
    g = cols.reshape((n, oc) + kernel + (h, w)).permute(0, 1, 4, 5, 2, 3)
    out = fold_windows(g, (n, oc) + full, kernel, stride, dilation)
    if any(opd):
        out = pad(out, (0, opd[1], 0, opd[0]))
    out = out[:, :, pd[0]:pd[0] + size[0], pd[1]:pd[1] + size[1]]
    if bias is not None:
        out = out + bias.reshape(oc, 1, 1)
    return out.squeeze(0) if unbatched else out
