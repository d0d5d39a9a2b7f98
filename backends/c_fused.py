"""The C backend's optional fused kernels (protocol.py OPTIONAL_KERNELS): softmax, cross-entropy,
convolution and pooling, the Adam step, GELU, layer norm and attention, each one C call over
checked views. `CBackend` (c_backend.py) inherits them."""
from __future__ import annotations

from typing import Optional

from tinygrad_like.dtypes import DType
from tinygrad_like.errors import BackendError, ShapeError
from tinygrad_like.view import View, prod

from . import c_runtime as rt
from .attention_checks import bhr, result_size, sdpa_backward_shapes, sdpa_shapes
from .c_runtime import _DT, _DT_OF, _FLOAT32, _INT64, CBuffer, _check, _fail, _flat, _geo, _new, _rows, ffi


def _conv_geo(x: CBuffer, x_view: View, w: CBuffer, w_view: View, kernel: tuple, stride: tuple, dilation: tuple,
              pads: tuple, out_size: tuple, dtype: DType, what: str) -> tuple:
    """(tg_conv2d's geometry list, out channels) after checking the views of x and of the weight."""
    _check(x, x_view, dtype, what)
    _check(w, w_view, dtype, f"{what} weight")
    if len(x_view.shape) != 4 or len(w_view.shape) != 2 or not w_view.is_contiguous():
        raise ShapeError(f"c backend: {what} needs an (N, C, H, W) view and a contiguous (OC, C*kh*kw) weight, "
                         f"got {x_view} and {w_view}")
    oc, ckk = w_view.shape
    if ckk != x_view.shape[1] * kernel[0] * kernel[1]:
        raise ShapeError(f"c backend: {what}: weight view {w_view} does not match {x_view.shape[1]} channels "
                         f"and kernel {kernel}")
    return _geo(x_view.shape, x_view.strides, kernel, stride, dilation, pads, out_size, (oc,)), oc


def _pointwise2(name: str, a: CBuffer, a_view: View, b: CBuffer, b_view: View, dtype: DType) -> CBuffer:
    """The two-input pointwise kernel tg_<name> over flat (n,) stride-1 views of one size."""
    n = _flat(a, a_view, dtype, name)
    if _flat(b, b_view, dtype, name) != n:
        raise ShapeError(f"c backend: {name}: views {a_view} and {b_view} differ in size")
    out = _new(n, dtype)
    rc = getattr(rt.lib, "tg_" + name)(_DT[dtype.name], n, a.ptr, a_view.offset, b.ptr, b_view.offset, out.ptr)
    if rc:
        _fail(f"{name} on {dtype.name}", rc)
    return out


class CFusedKernels:
    """The fused kernels of the C backend (a mixin of CBackend)."""

    def softmax(self, x: CBuffer, view: View, dtype: DType, log: bool) -> CBuffer:
        """Fused (log-)softmax over the last dim of a row-major (rows, cols) view."""
        _check(x, view, dtype, "softmax")
        rows, cols = view.shape
        if view.strides != (cols, 1):
            raise ShapeError(f"c backend: softmax needs a row-major (rows, cols) view, got {view}")
        out = _new(rows * cols, dtype)
        rc = rt.lib.tg_softmax(_DT[dtype.name], rows, cols, x.ptr, view.offset, out.ptr, 1 if log else 0)
        if rc:
            _fail(f"softmax on {dtype.name}", rc)
        return out

    # optional fused kernels (protocol.py) -------------------------------------------
    def relu_backward(self, g: CBuffer, g_view: View, y: CBuffer, y_view: View, dtype: DType) -> CBuffer:
        """g where y > 0, else 0 (y = relu(x)); both views flat (n,) with stride 1."""
        return _pointwise2("relu_backward", g, g_view, y, y_view, dtype)

    def softmax_backward(self, g: CBuffer, g_view: View, y: CBuffer, y_view: View, dtype: DType,
                         log: bool) -> CBuffer:
        """The input gradient of (log-)softmax over the last dim of row-major (rows, cols) views."""
        rows, cols = _rows(g, g_view, dtype, "softmax_backward")
        if _rows(y, y_view, dtype, "softmax_backward") != (rows, cols):
            raise ShapeError(f"c backend: softmax_backward: views {g_view} and {y_view} differ in shape")
        out = _new(rows * cols, dtype)
        rc = rt.lib.tg_softmax_backward(_DT[dtype.name], rows, cols, g.ptr, g_view.offset, y.ptr, y_view.offset,
                                     out.ptr, 1 if log else 0)
        if rc:
            _fail(f"softmax_backward on {dtype.name}", rc)
        return out

    def axpy(self, y: CBuffer, y_view: View, x: CBuffer, x_view: View, alpha: float, dtype: DType) -> None:
        """In place: y += alpha * x over flat (n,) stride-1 views of distinct buffers."""
        n = _flat(y, y_view, dtype, "axpy")
        if _flat(x, x_view, dtype, "axpy") != n:
            raise ShapeError(f"c backend: axpy: views {y_view} and {x_view} differ in size")
        if x is y and x_view.offset != y_view.offset:
            raise BackendError("c backend: axpy: x and y overlap in one buffer at different offsets")
        rc = rt.lib.tg_axpy(_DT[dtype.name], n, float(alpha), x.ptr, x_view.offset, y.ptr, y_view.offset)
        if rc:
            _fail(f"axpy on {dtype.name}", rc)

    def cross_entropy(self, x: CBuffer, x_view: View, target: CBuffer, target_view: View, dtype: DType,
                      grad: bool) -> tuple:
        """Per-row -log_softmax(x)[r, target[r]] of a row-major (rows, cols) view, and with `grad`
        also softmax(x) - one_hot(target) (rows, cols); targets are int64 in [0, cols)."""
        rows, cols = _rows(x, x_view, dtype, "cross_entropy")
        if _flat(target, target_view, _INT64, "cross_entropy target") != rows:
            raise ShapeError(f"c backend: cross_entropy: {target_view.shape} targets for {rows} rows")
        loss = _new(rows, dtype)
        gbuf = _new(rows * cols, dtype) if grad else None
        rc = rt.lib.tg_cross_entropy(_DT[dtype.name], rows, cols, x.ptr, x_view.offset,
                                  ffi.cast("int64_t *", target.ptr), target_view.offset, loss.ptr,
                                  gbuf.ptr if grad else ffi.NULL)
        if rc:
            _fail(f"cross_entropy on {dtype.name}", rc)
        return loss, gbuf

    def im2col(self, x: CBuffer, view: View, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
               out_size: tuple, dtype: DType) -> CBuffer:
        """The (C*kh*kw, N*oh*ow) im2col columns of a 2-d convolution of an (N, C, H, W) view."""
        _check(x, view, dtype, "im2col")
        if len(view.shape) != 4 or not (len(kernel) == len(stride) == len(dilation) == len(pads) == len(out_size) == 2):
            raise ShapeError(f"c backend: im2col needs an (N, C, H, W) view and 2-d geometry, got {view}")
        n, c = view.shape[:2]
        out = _new(c * kernel[0] * kernel[1] * n * out_size[0] * out_size[1], dtype)
        rc = rt.lib.tg_im2col(_DT[dtype.name], _geo(view.shape, view.strides, kernel, stride, dilation, pads, out_size),
                           x.ptr, view.offset, out.ptr)
        if rc:
            _fail(f"im2col on {dtype.name}", rc)
        return out

    def conv2d(self, x: CBuffer, x_view: View, w: CBuffer, w_view: View, bias: Optional[CBuffer],
               bias_view: Optional[View], kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
               out_size: tuple, dtype: DType) -> CBuffer:
        """2-d convolution (groups 1) of an (N, C, H, W) view with a contiguous (OC, C*kh*kw) weight
        (+ bias), as a contiguous (N, OC, oh, ow) buffer."""
        geo, oc = _conv_geo(x, x_view, w, w_view, kernel, stride, dilation, pads, out_size, dtype, "conv2d")
        if bias is not None:
            _check(bias, bias_view, dtype, "conv2d bias")
            if bias_view.shape != (oc,) or bias_view.strides != (1,):
                raise ShapeError(f"c backend: conv2d: bias view {bias_view} is not a contiguous ({oc},)")
        out = _new(geo[0] * oc * out_size[0] * out_size[1], dtype)
        rc = rt.lib.tg_conv2d(_DT[dtype.name], geo, x.ptr, x_view.offset, w.ptr, w_view.offset,
                           ffi.NULL if bias is None else bias.ptr, 0 if bias is None else bias_view.offset, out.ptr)
        if rc:
            _fail(f"conv2d on {dtype.name}", rc)
        return out

    def conv2d_backward(self, x: CBuffer, x_view: View, w: CBuffer, w_view: View, g: CBuffer, g_view: View,
                        kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, out_size: tuple, dtype: DType,
                        need: tuple) -> tuple:
        """(gx, gw, gb) of conv2d for a contiguous (N, OC, oh, ow) gradient view; None where not needed."""
        geo, oc = _conv_geo(x, x_view, w, w_view, kernel, stride, dilation, pads, out_size, dtype, "conv2d_backward")
        _check(g, g_view, dtype, "conv2d_backward g")
        if g_view.shape != (geo[0], oc) + tuple(out_size) or not g_view.is_contiguous():
            raise ShapeError(f"c backend: conv2d_backward: g view {g_view} is not a contiguous "
                             f"{(geo[0], oc) + tuple(out_size)}")
        gx = _new(prod(x_view.shape), dtype) if need[0] else None
        gw = _new(prod(w_view.shape), dtype) if need[1] else None
        gb = _new(oc, dtype) if need[2] else None
        rc = rt.lib.tg_conv2d_backward(_DT[dtype.name], geo, x.ptr, x_view.offset, w.ptr, w_view.offset, g.ptr,
                                    g_view.offset, *(ffi.NULL if b is None else b.ptr for b in (gx, gw, gb)))
        if rc:
            _fail(f"conv2d_backward on {dtype.name}", rc)
        return gx, gw, gb

    def max_pool2d(self, x: CBuffer, x_view: View, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
                   out_size: tuple, dtype: DType) -> tuple:
        """(values, int64 flat indices) of 2-d max-pooling of an (N, C, H, W) view, contiguous (N, C, oh, ow)."""
        _check(x, x_view, dtype, "max_pool2d")
        if len(x_view.shape) != 4:
            raise ShapeError(f"c backend: max_pool2d needs an (N, C, H, W) view, got {x_view}")
        n = x_view.shape[0] * x_view.shape[1] * out_size[0] * out_size[1]
        vals, idx = _new(n, dtype), _new(n, _INT64)
        rc = rt.lib.tg_max_pool2d(_DT[dtype.name], _geo(x_view.shape, x_view.strides, kernel, stride, dilation, pads,
                                                     out_size), x.ptr, x_view.offset, vals.ptr,
                               ffi.cast("int64_t *", idx.ptr))
        if rc:
            _fail(f"max_pool2d on {dtype.name}", rc)
        return vals, idx

    def max_pool2d_backward(self, g: CBuffer, g_view: View, idx: CBuffer, idx_view: View, plane: int,
                            dtype: DType) -> CBuffer:
        """(P, plane) buffer: out[p, idx[p, i]] += g[p, i] for contiguous (P, L) views g and idx."""
        rows, cols = _rows(g, g_view, dtype, "max_pool2d_backward")
        if _rows(idx, idx_view, _INT64, "max_pool2d_backward indices") != (rows, cols):
            raise ShapeError(f"c backend: max_pool2d_backward: views {g_view} and {idx_view} differ in shape")
        out = _new(rows * plane, dtype)
        rc = rt.lib.tg_max_pool2d_backward(_DT[dtype.name], rows, plane, cols, g.ptr, g_view.offset,
                                        ffi.cast("int64_t *", idx.ptr), idx_view.offset, out.ptr)
        if rc:  # -3: an index outside [0, plane) (TensorIndexError)
            _fail(f"max_pool2d_backward on {dtype.name}", rc)
        return out

    # optimizer step (optional kernel) ---------------------------------------------------
    def adam_step(self, p: CBuffer, p_view: View, g: CBuffer, g_view: View, m: CBuffer, m_view: View,
                  v: CBuffer, v_view: View, step: CBuffer, step_view: View, dtype: DType, lr: float,
                  betas: tuple, eps: float, weight_decay: float, decoupled: bool, maximize: bool) -> None:
        """In place: one Adam/AdamW update of p, m, v (flat (n,) stride-1 views of dtype) with
        gradient g, after incrementing the float32 step count at step_view (one element)."""
        n = rt.checks.adam_operands(p, p_view, ((g, g_view, "grad"), (m, m_view, "exp_avg"), (v, v_view, "exp_avg_sq")),
                                  step, step_view, dtype, _FLOAT32)
        rc = rt.lib.tg_adam_step(_DT[dtype.name], n, p.ptr, p_view.offset, g.ptr, g_view.offset, m.ptr, m_view.offset,
                              v.ptr, v_view.offset, step.ptr, step_view.offset, float(lr),
                              float(betas[0]), float(betas[1]), float(eps), float(weight_decay),
                              1 if decoupled else 0, 1 if maximize else 0)
        if rc:
            _fail(f"adam_step on {dtype.name}", rc)

    def gelu(self, x: CBuffer, view: View, dtype: DType) -> CBuffer:
        """The exact (erf) GELU of a flat (n,) stride-1 view."""
        n = _flat(x, view, dtype, "gelu")
        out = _new(n, dtype)
        rc = rt.lib.tg_gelu(_DT[dtype.name], n, x.ptr, view.offset, out.ptr)
        if rc:
            _fail(f"gelu on {dtype.name}", rc)
        return out

    def gelu_backward(self, g: CBuffer, g_view: View, x: CBuffer, x_view: View, dtype: DType) -> CBuffer:
        """The input gradient of the exact GELU at x for output gradient g; flat (n,) stride-1 views."""
        return _pointwise2("gelu_backward", g, g_view, x, x_view, dtype)

    def layer_norm(self, x: CBuffer, x_view: View, w: Optional[CBuffer], w_view: Optional[View], b: Optional[CBuffer],
                   b_view: Optional[View], eps: float, dtype: DType) -> tuple:
        """(out, mean, rstd): layer norm over the rows of a row-major (rows, cols) view, optional (cols,) affine."""
        rows, cols = _rows(x, x_view, dtype, "layer_norm")
        for buf, view, what in ((w, w_view, "weight"), (b, b_view, "bias")):
            if buf is not None and _flat(buf, view, dtype, f"layer_norm {what}") != cols:
                raise ShapeError(f"c backend: layer_norm: {what} view {view} for {cols} columns")
        out, mean, rstd = _new(rows * cols, dtype), _new(rows, dtype), _new(rows, dtype)
        rc = rt.lib.tg_layer_norm(_DT[dtype.name], rows, cols, x.ptr, x_view.offset, ffi.NULL if w is None else w.ptr,
                               0 if w is None else w_view.offset, ffi.NULL if b is None else b.ptr,
                               0 if b is None else b_view.offset, float(eps), out.ptr, mean.ptr, rstd.ptr)
        if rc:
            _fail(f"layer_norm on {dtype.name}", rc)
        return out, mean, rstd

    def layer_norm_backward(self, g: CBuffer, g_view: View, x: CBuffer, x_view: View, mean: CBuffer, rstd: CBuffer,
                            w: Optional[CBuffer], w_view: Optional[View], dtype: DType, want_dw: bool,
                            want_db: bool) -> tuple:
        """(dx, dw or None, db or None): the gradients of layer_norm for output gradient g."""
        rows, cols = _rows(x, x_view, dtype, "layer_norm_backward")
        if _rows(g, g_view, dtype, "layer_norm_backward") != (rows, cols):
            raise ShapeError(f"c backend: layer_norm_backward: views {g_view} and {x_view} differ in shape")
        for buf, what in ((mean, "mean"), (rstd, "rstd")):
            _check(buf, View((rows,), (1,), 0), dtype, f"layer_norm_backward {what}")
        if w is not None and _flat(w, w_view, dtype, "layer_norm_backward weight") != cols:
            raise ShapeError(f"c backend: layer_norm_backward: weight view {w_view} for {cols} columns")
        dx = _new(rows * cols, dtype)
        dw = _new(cols, dtype) if want_dw else None
        db = _new(cols, dtype) if want_db else None
        rc = rt.lib.tg_layer_norm_backward(_DT[dtype.name], rows, cols, g.ptr, g_view.offset, x.ptr, x_view.offset,
                                        mean.ptr, rstd.ptr, ffi.NULL if w is None else w.ptr,
                                        0 if w is None else w_view.offset, dx.ptr,
                                        ffi.NULL if dw is None else dw.ptr, ffi.NULL if db is None else db.ptr)
        if rc:
            _fail(f"layer_norm_backward on {dtype.name}", rc)
        return dx, dw, db

    # attention (optional kernels) ---------------------------------------------------------
    def sdpa(self, q: CBuffer, q_view: View, k: CBuffer, k_view: View, v: CBuffer, v_view: View, out_view: View,
             causal: bool, scale: float, dtype: DType) -> tuple:
        """(out written through out_view, contiguous (B, H, L) row logsumexp): fused attention
        softmax(scale q k^T [causal]) v of (B, H, L|S, E|Ev) views (csrc/attention.c)."""
        B, H, L, S, E, Ev = sdpa_shapes(rt.checks, q, q_view, k, k_view, v, v_view, dtype, "sdpa")
        out = _new(result_size("c", out_view, (B, H, L, Ev), "sdpa out"), dtype)
        lse = _new(B * H * L, dtype)
        ov = out_view.strides
        geo = [B, H, L, S, E, Ev] + bhr(q_view) + bhr(k_view) + bhr(v_view) + [ov[0], ov[1], ov[2]]
        rc = rt.lib.tg_sdpa(_DT_OF[dtype], geo, q.ptr, k.ptr, v.ptr, out.ptr, lse.ptr, 1 if causal else 0, float(scale))
        if rc:
            _fail(f"sdpa on {dtype.name}", rc)
        return out, lse

    def sdpa_backward(self, g: CBuffer, g_view: View, q: CBuffer, q_view: View, k: CBuffer, k_view: View,
                      v: CBuffer, v_view: View, o: CBuffer, o_view: View, lse: CBuffer, lse_view: View,
                      dq_view: View, dk_view: View, dv_view: View, causal: bool, scale: float, dtype: DType) -> tuple:
        """(dq, dk, dv), written through the given result views: the gradients of sdpa for output gradient g."""
        B, H, L, S, E, Ev = sdpa_backward_shapes(rt.checks, g, g_view, q, q_view, k, k_view, v, v_view, o, o_view,
                                                 lse, lse_view, dtype)
        dq = _new(result_size("c", dq_view, (B, H, L, E), "sdpa_backward dq"), dtype)
        dk = _new(result_size("c", dk_view, (B, H, S, E), "sdpa_backward dk"), dtype)
        dv = _new(result_size("c", dv_view, (B, H, S, Ev), "sdpa_backward dv"), dtype)
        geo = ([B, H, L, S, E, Ev] + bhr(g_view) + bhr(q_view) + bhr(k_view) + bhr(v_view) + bhr(o_view)
               + [lse_view.offset] + list(dq_view.strides[:3]) + list(dk_view.strides[:3]) + list(dv_view.strides[:3]))
        rc = rt.lib.tg_sdpa_backward(_DT_OF[dtype], geo, g.ptr, q.ptr, k.ptr, v.ptr, o.ptr, lse.ptr, dq.ptr, dk.ptr,
                                  dv.ptr, 1 if causal else 0, float(scale))
        if rc:
            _fail(f"sdpa_backward on {dtype.name}", rc)
        return dq, dk, dv
