"""Calls of the backends' optional fused kernels (backends/protocol.py, OPTIONAL_KERNELS).

Each returns None (or False) when the backend lacks the kernel (`be.optional`, probed once when it
loaded) or the operands do not fit it; the op then composes primitives. Like dispatch.py, this
module only plans kernel calls and wraps their results: the ops record the graph.
"""
from __future__ import annotations

from typing import Any, Optional

from . import dtypes as _dt
from .dispatch import contig, copy, wrap
from .dtypes import float32, int64
from .view import View, is_dense_permuted, prod

def fused_softmax(x: Any, d: Optional[int], log: bool) -> Optional[Any]:
    """The backend's fused (log-)softmax over the last dim."""
    kernel = x._be.optional.softmax
    if kernel is None or d is None or d != x.ndim - 1 or prod(x.shape) == 0:
        return None
    xc = x if x._view.is_contiguous() else copy(x, x.dtype)
    cols = x.shape[-1]
    buf = kernel(xc._buf, View((prod(x.shape) // cols, cols), (cols, 1), xc._view.offset), x.dtype, log)
    return wrap(buf, contig(x.shape), x.dtype, x._be)


def fused_softmax_backward(g: Any, out: Any, d: Optional[int], log: bool) -> Optional[Any]:
    """The backend's one-pass (log-)softmax gradient over the last dim."""
    kernel = out._be.optional.softmax_backward
    if kernel is None or d is None or d != out.ndim - 1 or prod(out.shape) == 0 or g.dtype is not out.dtype:
        return None
    gc = g if g._view.is_contiguous() else copy(g, g.dtype)
    oc = out if out._view.is_contiguous() else copy(out, out.dtype)  # a composed forward may follow its input's order
    cols = out.shape[-1]
    rows = prod(out.shape) // cols
    buf = kernel(gc._buf, View((rows, cols), (cols, 1), gc._view.offset), oc._buf, View((rows, cols), (cols, 1), oc._view.offset),
                 out.dtype, log)
    return wrap(buf, contig(out.shape), out.dtype, out._be)


def fused_relu_backward(g: Any, out: Any) -> Optional[Any]:
    """The backend's relu gradient `g where out > 0 else 0` in one pass."""
    kernel = out._be.optional.relu_backward
    n = prod(out.shape)
    if kernel is None or n == 0 or not out.dtype.is_float or g.dtype is not out.dtype or g.shape != out.shape:
        return None
    ov, gv = out._view, g._view
    if ov.is_contiguous() or not (gv.strides == ov.strides and ov.offset == 0 and all(s >= 0 for s in ov.strides)
                                  and is_dense_permuted(ov.shape, ov.strides)):
        out, g = (out if ov.is_contiguous() else copy(out, out.dtype)), (g if gv.is_contiguous() else copy(g, g.dtype))
        ov, gv = out._view, g._view
    # both dense in one memory order (a relu of a transposed input): one flat pass, result in that order
    buf = kernel(g._buf, View((n,), (1,), gv.offset), out._buf, View((n,), (1,), ov.offset), out.dtype)
    return wrap(buf, ov if ov.offset == 0 else contig(out.shape), out.dtype, out._be)


def fused_axpy_(y: Any, x: Any, alpha: float) -> bool:
    """In place y += alpha * x with the backend's fused `axpy` when both are dense tensors of one
    float dtype and shape; False (nothing done) otherwise."""
    kernel = y._be.optional.axpy
    n = prod(y.shape)
    if (kernel is None or not n or x._be is not y._be or x.dtype is not y.dtype or not y.dtype.is_float
            or x.shape != y.shape or x._buf is y._buf or not y._view.is_contiguous() or not x._view.is_contiguous()):
        return False
    kernel(y._buf, View((n,), (1,), y._view.offset), x._buf, View((n,), (1,), x._view.offset), alpha, y.dtype)
    return True


def fused_cross_entropy(x: Any, target: Any, want_grad: bool) -> Optional[tuple]:
    """(per-row losses, d loss[r] / d x[r] or None) of (N, C) logits and int64 targets from the
    backend's one-pass kernel; None when it has none. Targets must be in range unless the
    backend `checks_indices` (then a bad one raises TensorIndexError from the kernel)."""
    be = x._be
    kernel = be.optional.cross_entropy
    if kernel is None or x.ndim != 2 or not x.dtype.is_float or prod(x.shape) == 0 or target._be is not be:
        return None
    xc = x if x._view.is_contiguous() else copy(x, x.dtype)
    tc = target if target._view.is_contiguous() else copy(target, target.dtype)
    rows, cols = x.shape
    loss, grad = kernel(xc._buf, View((rows, cols), (cols, 1), xc._view.offset), tc._buf,
                        View((rows,), (1,), tc._view.offset), x.dtype, want_grad)
    dx = None if grad is None else wrap(grad, contig((rows, cols)), x.dtype, be)
    return wrap(loss, contig((rows,)), x.dtype, be), dx


def fused_im2col(x: Any, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, out_size: tuple) -> Optional[Any]:
    """The backend's im2col of a 2-d convolution: (C*kh*kw, N*oh*ow) columns, zero padding included."""
    kernel_fn = x._be.optional.im2col
    if kernel_fn is None or x.ndim != 4 or not x.dtype.is_float or prod(x.shape) == 0:
        return None
    n, c = x.shape[:2]
    rows, cols = c * kernel[0] * kernel[1], n * out_size[0] * out_size[1]
    buf = kernel_fn(x._buf, x._view, kernel, stride, dilation, pads, out_size, x.dtype)
    return wrap(buf, contig((rows, cols)), x.dtype, x._be)


def checks_indices(be: Any) -> bool:
    """True when the backend's index kernels range-check indices themselves."""
    return be.optional.checks_indices


def _dense(x: Any) -> Any:
    return x if x._view.is_contiguous() else copy(x, x.dtype)


def fused_conv2d(x: Any, weight: Any, bias: Optional[Any], kernel: tuple, stride: tuple, dilation: tuple,
                 pads: tuple, out_size: tuple) -> Optional[Any]:
    """The backend's 2-d convolution (groups 1) of an (N, C, H, W) tensor: (N, OC, oh, ow), bias added."""
    kernel_fn = x._be.optional.conv2d
    if kernel_fn is None or x.ndim != 4 or not x.dtype.is_float or prod(x.shape) == 0 or prod(out_size) == 0:
        return None
    w = _dense(weight)
    oc = weight.shape[0]
    b = None if bias is None else _dense(bias)
    buf = kernel_fn(x._buf, x._view, w._buf, View((oc, prod(weight.shape[1:])), (prod(weight.shape[1:]), 1),
                                                  w._view.offset),
                    None if b is None else b._buf, None if b is None else b._view, kernel, stride, dilation, pads,
                    out_size, x.dtype)
    return wrap(buf, contig((x.shape[0], oc) + tuple(out_size)), x.dtype, x._be)


def fused_conv2d_backward(x: Any, weight: Any, g: Any, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
                          out_size: tuple, need: tuple) -> Optional[tuple]:
    """(gx, gw, gb) of the backend's conv2d (None where `need` says no), or None without the kernel."""
    kernel_fn = x._be.optional.conv2d_backward
    if kernel_fn is None or x.ndim != 4 or not x.dtype.is_float or prod(x.shape) == 0 or prod(out_size) == 0 \
            or g.dtype is not x.dtype or g._be is not x._be:
        return None
    w, gc = _dense(weight), _dense(g)
    ckk = prod(weight.shape[1:])
    gx, gw, gb = kernel_fn(x._buf, x._view, w._buf, View((weight.shape[0], ckk), (ckk, 1), w._view.offset),
                           gc._buf, gc._view, kernel, stride, dilation, pads, out_size, x.dtype, need)
    be, dt = x._be, x.dtype
    return (None if gx is None else wrap(gx, contig(x.shape), dt, be),
            None if gw is None else wrap(gw, contig(weight.shape), dt, be),
            None if gb is None else wrap(gb, contig(weight.shape[:1]), dt, be))


def fused_max_pool2d(x: Any, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
                     out_size: tuple) -> Optional[tuple]:
    """(values, int64 flat indices in each input plane) of the backend's 2-d max-pooling, (N, C, oh, ow)."""
    kernel_fn = x._be.optional.max_pool2d
    if kernel_fn is None or x.ndim != 4 or not (x.dtype.is_float or x.dtype is _dt.int64) or prod(x.shape) == 0:
        return None
    vals, idx = kernel_fn(x._buf, x._view, kernel, stride, dilation, pads, out_size, x.dtype)
    shape = tuple(x.shape[:2]) + tuple(out_size)
    return wrap(vals, contig(shape), x.dtype, x._be), wrap(idx, contig(shape), _dt.int64, x._be)


def fused_max_pool2d_backward(g: Any, idx: Any, plane: int) -> Optional[Any]:
    """The (P, plane) gradient of max-pooling from g and the indices, both (P, L), or None."""
    kernel_fn = g._be.optional.max_pool2d_backward
    if kernel_fn is None or g.ndim != 2 or not g.dtype.is_float or prod(g.shape) == 0 or idx._be is not g._be:
        return None
    gc, ic = _dense(g), _dense(idx)
    buf = kernel_fn(gc._buf, gc._view, ic._buf, ic._view, plane, g.dtype)
    return wrap(buf, contig((g.shape[0], plane)), g.dtype, g._be)
def fused_adam_step_(p: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: Any, lr: float, betas: tuple,
                     eps: float, weight_decay: float, decoupled: bool, maximize: bool) -> bool:
    """One Adam/AdamW update of p, exp_avg, exp_avg_sq in place with the backend's fused
    `adam_step` (it increments the float32 one-element `step` first); False (nothing done) when the
    backend has none or the operands do not fit it (dense tensors of one float dtype and size in
    four distinct buffers)."""
    be = p._be
    kernel = be.optional.adam_step
    n = prod(p.shape)
    if kernel is None or not n or not p.dtype.is_float or step.dtype.name != "float32" or prod(step.shape) != 1:
        return False
    if grad._be is be and grad.dtype is p.dtype and not grad._view.is_contiguous():
        grad = copy(grad, grad.dtype)  # a transposed gradient (a matmul's backward): one copy, then one pass
    ops = (p, grad, exp_avg, exp_avg_sq)
    for t in ops:
        if t._be is not be or t.dtype is not p.dtype or prod(t.shape) != n or not t._view.is_contiguous():
            return False
    if step._be is not be or len({id(t._buf) for t in ops}) != 4:
        return False
    views = [View((n,), (1,), t._view.offset) for t in ops]
    kernel(p._buf, views[0], grad._buf, views[1], exp_avg._buf, views[2], exp_avg_sq._buf, views[3],
           step._buf, View((1,), (1,), step._view.offset), p.dtype, lr, betas, eps, weight_decay, decoupled, maximize)
    return True


def fused_gelu(x: Any) -> Optional[Any]:
    """The backend's one-pass exact GELU of a float tensor (None when it has none)."""
    kernel = x._be.optional.gelu
    n = prod(x.shape)
    if kernel is None or not n or not x.dtype.is_float:
        return None
    xc = x if x._view.is_contiguous() else copy(x, x.dtype)
    return wrap(kernel(xc._buf, View((n,), (1,), xc._view.offset), x.dtype), contig(x.shape), x.dtype, x._be)


def fused_gelu_backward(g: Any, x: Any) -> Optional[Any]:
    """The backend's one-pass gradient of the exact GELU at x for output gradient g (None when it has none)."""
    kernel = x._be.optional.gelu_backward
    n = prod(x.shape)
    if kernel is None or not n or not x.dtype.is_float or g.dtype is not x.dtype or g.shape != x.shape:
        return None
    xc = x if x._view.is_contiguous() else copy(x, x.dtype)
    gc = g if g._view.is_contiguous() else copy(g, g.dtype)
    buf = kernel(gc._buf, View((n,), (1,), gc._view.offset), xc._buf, View((n,), (1,), xc._view.offset), x.dtype)
    return wrap(buf, contig(x.shape), x.dtype, x._be)


def fused_layer_norm(x: Any, k: int, weight: Optional[Any], bias: Optional[Any], eps: float) -> Optional[tuple]:
    """(out, mean, rstd) of layer norm over the last k dims from the backend's one-pass kernel (mean and
    rstd as (rows,) tensors), or None when it has none or the operands do not fit (one float dtype, an
    affine weight / bias of the normalized shape)."""
    be = x._be
    kernel = be.optional.layer_norm
    n = prod(x.shape)
    if kernel is None or not n or not x.dtype.is_float:
        return None
    cols = prod(x.shape[x.ndim - k:])
    for t in (weight, bias):
        if t is not None and (t._be is not be or t.dtype is not x.dtype or prod(t.shape) != cols):
            return None
    rows = n // cols
    xc = x if x._view.is_contiguous() else copy(x, x.dtype)
    wc = None if weight is None else weight if weight._view.is_contiguous() else copy(weight, weight.dtype)
    bc = None if bias is None else bias if bias._view.is_contiguous() else copy(bias, bias.dtype)
    out, mean, rstd = kernel(xc._buf, View((rows, cols), (cols, 1), xc._view.offset),
                             None if wc is None else wc._buf, None if wc is None else View((cols,), (1,), wc._view.offset),
                             None if bc is None else bc._buf, None if bc is None else View((cols,), (1,), bc._view.offset),
                             eps, x.dtype)
    return (wrap(out, contig(x.shape), x.dtype, be), wrap(mean, contig((rows,)), x.dtype, be),
            wrap(rstd, contig((rows,)), x.dtype, be))


def fused_layer_norm_backward(g: Any, x: Any, k: int, mean: Any, rstd: Any, weight: Optional[Any], want_dw: bool,
                              want_db: bool) -> Optional[tuple]:
    """(dx, dw, db) of layer norm over the last k dims for output gradient g (dw / db None unless wanted,
    shaped like the normalized dims) from the backend's kernel, or None when it has none."""
    be = x._be
    kernel = be.optional.layer_norm_backward
    if kernel is None or g.dtype is not x.dtype or g.shape != x.shape:
        return None
    cols = prod(x.shape[x.ndim - k:])
    rows = prod(x.shape) // cols
    xc = x if x._view.is_contiguous() else copy(x, x.dtype)
    gc = g if g._view.is_contiguous() else copy(g, g.dtype)
    wc = None if weight is None else weight if weight._view.is_contiguous() else copy(weight, weight.dtype)
    dx, dw, db = kernel(gc._buf, View((rows, cols), (cols, 1), gc._view.offset), xc._buf,
                        View((rows, cols), (cols, 1), xc._view.offset), mean._buf, rstd._buf,
                        None if wc is None else wc._buf, None if wc is None else View((cols,), (1,), wc._view.offset),
                        x.dtype, want_dw, want_db)
    norm_shape = contig(x.shape[x.ndim - k:])
    return (wrap(dx, contig(x.shape), x.dtype, be), None if dw is None else wrap(dw, norm_shape, x.dtype, be),
            None if db is None else wrap(db, norm_shape, x.dtype, be))


def _attn4(x: Any, batch: tuple) -> tuple:
    """(x or a contiguous copy, its (B, H, rows, features) kernel view) of an attention operand whose
    batch dims `batch` merge into B (all but the last) and H (the last): a strided view is read in place
    when its batch dims merge and its features have unit stride."""
    rows, feat = x.shape[-2:]
    shape4 = (prod(batch[:-1]), batch[-1] if batch else 1, rows, feat)
    v = x._view
    if v.strides[-1] == 1 or feat == 1:
        v4 = v.reshape(shape4)
        if v4 is not None:
            return x, v4
    x = copy(x, x.dtype)
    return x, x._view.reshape(shape4)


def _heads_inner(v4: View) -> bool:
    """True when a (B, H, rows, features) view keeps a row's heads next to each other in memory (the
    head views of a (B, T, H*D) projection): results then take that order, so that undoing the head
    split (transpose(1, 2).reshape) stays a view."""
    return v4.shape[1] > 1 and v4.shape[2] > 1 and abs(v4.strides[1]) < abs(v4.strides[2])


def _attn_result(batch: tuple, rows: int, feat: int, heads_inner: bool) -> tuple:
    """(kernel view (B, H, rows, feat), tensor view batch + (rows, feat)) of a fresh dense result: heads
    inner ((B, rows, H, feat) in memory) or row-major."""
    h = batch[-1] if batch else 1
    if heads_inner:
        sh, sr = feat, h * feat
    else:
        sh, sr = rows * feat, feat
    block = h * rows * feat
    outer = tuple(st * block for st in contig(batch[:-1]).strides) if len(batch) > 1 else ()
    v4 = View((prod(batch[:-1]), h, rows, feat), (block, sh, sr, 1), 0)
    full = View(tuple(batch) + (rows, feat), outer + ((sh,) if batch else ()) + (sr, 1), 0)
    return v4, full


def fused_sdpa(q: Any, k: Any, v: Any, causal: bool, scale: float) -> Optional[tuple]:
    """(out, lse, kernel operands for the backward) of the backend's fused attention over q (..., L, E),
    k (..., S, E), v (..., S, Ev) with one batch shape; None when the backend has none or the operands
    do not fit (one float dtype, at least one query and one key)."""
    be = q._be
    kernel = be.optional.sdpa
    batch = tuple(q.shape[:-2])
    if (kernel is None or not q.dtype.is_float or k.dtype is not q.dtype or v.dtype is not q.dtype
            or k._be is not be or v._be is not be or tuple(k.shape[:-2]) != batch or tuple(v.shape[:-2]) != batch
            or prod(q.shape[:-1]) == 0 or k.shape[-2] == 0):
        return None
    L, S, Ev = q.shape[-2], k.shape[-2], v.shape[-1]
    (q, qv), (k, kv), (v, vv) = _attn4(q, batch), _attn4(k, batch), _attn4(v, batch)
    ov, out_view = _attn_result(batch, L, Ev, _heads_inner(qv))
    out, lse = kernel(q._buf, qv, k._buf, kv, v._buf, vv, ov, causal, scale, q.dtype)
    B, H = qv.shape[:2]
    return (wrap(out, out_view, q.dtype, be), wrap(lse, contig((B, H, L)), q.dtype, be),
            ((q, qv), (k, kv), (v, vv)))


def fused_sdpa_backward(g: Any, out: Any, lse: Any, operands: tuple, causal: bool, scale: float) -> Optional[tuple]:
    """(dq, dk, dv) of fused_sdpa for the output gradient g from its out, lse and kernel operands,
    each shaped like its input; None when the backend has no `sdpa_backward`."""
    be = out._be
    kernel = be.optional.sdpa_backward
    if kernel is None or g.dtype is not out.dtype or g._be is not be or tuple(g.shape) != tuple(out.shape):
        return None
    batch = tuple(out.shape[:-2])
    (q, qv), (k, kv), (v, vv) = operands
    g, gv = _attn4(g, batch)
    ov = out._view.reshape(qv.shape[:3] + (out.shape[-1],))
    views = [_attn_result(batch, t4.shape[2], t4.shape[3], _heads_inner(t4)) for t4 in (qv, kv, vv)]
    dq, dk, dv = kernel(g._buf, gv, q._buf, qv, k._buf, kv, v._buf, vv, out._buf, ov, lse._buf, lse._view,
                        views[0][0], views[1][0], views[2][0], causal, scale, out.dtype)
    return tuple(wrap(buf, full, out.dtype, be) for buf, (_, full) in zip((dq, dk, dv), views))
