"""The Backend protocol: the few primitives the core asks a backend for.

A new backend is one module that implements the class below. It knows flat buffers, dtypes
and views; it never sees a Tensor, a gradient or a graph. Everything else (broadcasting,
type promotion, reshapes, autograd, error messages about shapes) happens in the core.

Terms
-----
Buffer
    The backend's own storage of a flat run of elements of one dtype (python: `array.array`,
    numba: a 1-D numpy array, c: a C allocation). The core only passes buffers back to the
    backend that made them.
View
    `tinygrad_like.view.View`: `shape`, `strides` and `offset`, all counted in elements.
    Element `idx` of a view lives at `buf[offset + sum(i * s for i, s in zip(idx, strides))]`.
    Strides may be negative (flipped slices) or zero (broadcast, expand).
dtype
    `tinygrad_like.dtypes.DType`: one of `float32`, `float64`, `int64`, `int32`, `int16`,
    `uint8`, `bool` (`dtype.name`, `dtype.itemsize`, `dtype.typecode` as in `array.array`:
    f d q i h B B). Booleans are stored one byte per element, 0 or 1; a backend keeps bool and
    uint8 apart only by the dtype it is told (the storage is the same).

What the core guarantees before it calls a kernel
-------------------------------------------------
- Every view lies inside its buffer, so a kernel never needs to bounds-check: views are made
  only by the View algebra, which keeps them inside (`View.span()` gives the touched range),
  and index tensors for `gather`/`scatter_add` are range-checked before the call. A backend
  written in C should still check spans against `buffer_size` in Python before calling C.
- Operands of one elementwise call have the same shape and dtype (the core broadcasts with
  zero strides and casts first), and that shape is already *coalesced*: adjacent dims that
  are contiguous with each other in every operand are merged and size-1 dims are dropped,
  so a dense tensor of any shape arrives as one dim (or as `()` for a single element).
  A fast backend checks for `len(shape) == 1 and strides == (1,)` and runs a flat loop.
- No call is made with zero elements.
- Results are new dense buffers, written in the order the kernel's view walks them. For
  elementwise ops the core orders the dims by the operands' memory layout before it coalesces
  (`view.memory_order`, as PyTorch's TensorIterator does), so `x.T + v` arrives as a row-major
  walk of x's memory and the result is wrapped in a view with x.T's strides; a backend never
  needs to know.

Numerics
--------
- Float kernels follow IEEE 754: overflow gives inf, `log(0) = -inf`, `log(-1) = nan`,
  `x / 0 = ±inf or nan`; nothing raises. `max`/`min`/`maximum`/`minimum` propagate NaN.
- Integer ops: `div` is not asked for (the core promotes to float first); `pow` with a
  negative integer exponent is rejected by the core. Every integer dtype wraps modulo 2**bits
  (two's complement) on overflow, as PyTorch's: `add`, `sub`, `mul`, `pow`, `neg`, `abs`
  (`abs(int16 -32768) = -32768`), `scatter_add`. uint8 is unsigned: `neg(3) = 253`, `abs`
  and `sign` never see a negative value. The core never asks for a `sum` reduction or a `scan`
  of int32/int16/uint8 (it sums those as int64, as PyTorch does).
- Float32 results may be computed in higher precision and rounded when stored.

Random numbers (counter-based, identical on every backend)
---------------------------------------------------------
`random(dist, n, seed, counter, dtype)` fills element `i` from 64-bit words
`w(j) = mix64((key + (j + 1) * GAMMA) mod 2**64)` where `key = mix64(seed mod 2**64)`,
`GAMMA = 0x9E3779B97F4A7C15` and `mix64` is SplitMix64's finalizer
(`z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31`,
all mod 2**64). See `splitmix64_word` below.
- `uniform`, float64: `(w(counter + i) >> 11) * 2**-53`; float32: `(w(counter + i) >> 40) * 2**-24`.
- `normal`: Box-Muller in float64 on words `a = w(counter + 2i)`, `b = w(counter + 2i + 1)`:
  `u1 = ((a >> 11) + 1) * 2**-53`, `u2 = (b >> 11) * 2**-53`,
  `z = sqrt(-2 log u1) * cos(2 pi u2)`, then rounded to `dtype`.
The core advances its counter by `n` for uniform and `2n` for normal draws.

Optional fused kernels
----------------------
A backend may also define any of these (`OPTIONAL_KERNELS`). The registry probes a backend
once when it loads (`probe_optional`) and stores the result as `backend.optional`; the core
reads `be.optional.softmax` etc. (None when absent) and composes primitives instead, so they
are never required:
- `softmax(x, view, dtype, log) -> Buffer`: softmax (or log-softmax when `log` is true) over
  the last dim of a 2-D row-major view `(rows, cols)` with strides `(cols, 1)`; numerically
  stable (subtract the row max); result contiguous `(rows, cols)`.
- `softmax_backward(g, g_view, y, y_view, dtype, log) -> Buffer`: the input gradient of that
  softmax, given the output gradient `g` and the forward's output `y`, both row-major
  `(rows, cols)` views with strides `(cols, 1)`; per row `g - exp(y) * sum(g)` when `log`, else
  `y * (g - sum(g * y))`. Result contiguous `(rows, cols)`.
- `relu_backward(g, g_view, y, y_view, dtype) -> Buffer`: `g[i] if y[i] > 0 else 0` where
  `y = relu(x)` (NaN in `y` gives 0); both views flat `(n,)` with stride 1; float dtypes only.
- `axpy(y, y_view, x, x_view, alpha, dtype) -> None`: in place `y[i] += alpha * x[i]`, with
  `alpha * x[i]` rounded to dtype before the add (so the result equals `y + (x * alpha)` done as
  two ops); both views flat `(n,)` with stride 1; `x` and `y` are distinct buffers or the same
  view. Used by `tg.optim.SGD` for `p -= lr * d` without a temporary.
- `cross_entropy(x, x_view, target, target_view, dtype, grad) -> (loss, grad_buf)`: for logits in
  a row-major `(rows, cols)` view and int64 class indices in a flat `(rows,)` view (every value
  in `[0, cols)`: checked by the core, or by the kernel when the backend sets `checks_indices`,
  see below), `loss[r] = -log_softmax(x)[r, target[r]]` as a contiguous
  `(rows,)` buffer and, when `grad` is true, `grad_buf = softmax(x) - one_hot(target)` as a
  contiguous `(rows, cols)` buffer (else `None`): the gradient of `loss[r]` wrt row `r`.
- `im2col(x, x_view, kernel, stride, dilation, pads, out_size, dtype) -> Buffer`: the im2col
  columns of a 2-d convolution as a contiguous `(C*kh*kw, N*oh*ow)` buffer: row `(c, i, j)`,
  column `(n, oh, ow)` holds `x[n, c, oh*stride[0] - pads[0] + i*dilation[0], ow*stride[1] -
  pads[1] + j*dilation[1]]`, or 0 where that index is outside the `(N, C, H, W)` view (any
  strides); `pads` are the leading paddings and `out_size` is `(oh, ow)`.
- `conv2d(x, x_view, w, w_view, bias, bias_view, kernel, stride, dilation, pads, out_size, dtype)
  -> Buffer`: the 2-d convolution (groups 1) of the `(N, C, H, W)` view (any strides) with the
  weight, a contiguous `(OC, C*kh*kw)` view, plus `bias` (a contiguous `(OC,)` view, or None), as a
  contiguous `(N, OC, oh, ow)` buffer; geometry as `im2col`'s.
- `conv2d_backward(x, x_view, w, w_view, g, g_view, kernel, stride, dilation, pads, out_size, dtype,
  need) -> (gx, gw, gb)`: its gradients for a contiguous `(N, OC, oh, ow)` view `g`: `gx` a
  contiguous `(N, C, H, W)` buffer, `gw` `(OC, C*kh*kw)`, `gb` `(OC,)`; `need` is a triple of
  bools, and a buffer not needed is None.
- `max_pool2d(x, x_view, kernel, stride, dilation, pads, out_size, dtype) -> (values, indices)`:
  the max of each window's entries inside the `(N, C, H, W)` view (padding never wins), as
  contiguous `(N, C, oh, ow)` buffers of dtype and of int64 flat positions `ih * W + iw` in the
  input plane; a NaN wins (the window's last NaN), ties keep the first maximum, a window of -inf
  names its first entry. float32/float64/int64.
- `max_pool2d_backward(g, g_view, idx, idx_view, plane, dtype) -> Buffer`: for contiguous
  `(P, L)` views of the gradient and of those indices, the contiguous `(P, plane)` buffer holding
  the sum of the `g` entries of row `p` whose index is `j` at `(p, j)`; the indices are in
  `[0, plane)` (a backend raises TensorIndexError when one is not).
All of them are float32/float64 only (`max_pool2d` also takes int64); the core calls them only
with at least one element.
- `adam_step(p, p_view, g, g_view, m, m_view, v, v_view, step, step_view, dtype, lr, betas, eps,
  weight_decay, decoupled, maximize) -> None`: one Adam (AdamW when `decoupled`) update in place
  of the parameter `p` and its moments `m` (exp_avg), `v` (exp_avg_sq) from the gradient `g`, all
  flat `(n,)` stride-1 views of dtype in four distinct buffers, as PyTorch's single-tensor Adam:
  first the float32 step count (one element at `step_view` of a float32 buffer) is incremented
  in place to `t`; then, with `bc1 = 1 - beta1**t`, `bc2 = 1 - beta2**t`, `step_size = lr / bc1`
  in double and every scalar rounded to dtype: `g = -g` if maximize; `p *= 1 - lr*weight_decay`
  (decoupled) or `g += weight_decay * p`; `m = lerp(m, g, 1 - beta1)`;
  `v = v * beta2 + (1 - beta2) * g * g`; `p += (-step_size * m) / (sqrt(v) / sqrt(bc2) + eps)`.
  The count is read from the buffer, never passed in: a recorded call replays correctly.
- `gelu(x, view, dtype) -> Buffer`: the exact GELU `x * (0.5 * (1 + erf(x * (1/sqrt 2))))` of a flat
  `(n,)` stride-1 view (scalars rounded to dtype, roundings in that order), contiguous `(n,)`.
- `gelu_backward(g, g_view, x, x_view, dtype) -> Buffer`: its input gradient
  `g * (cdf + x * pdf)` with `cdf = 0.5 * (1 + erf(x * (1/sqrt 2)))`,
  `pdf = exp(-0.5 * x * x) * (1/sqrt(2 pi))`, both views flat `(n,)` with stride 1.
- `layer_norm(x, x_view, w, w_view, b, b_view, eps, dtype) -> (out, mean, rstd)`: per row of a
  row-major `(rows, cols)` view, `mean = sum(x) / cols`, `var = sum((x - mean)^2) / cols`,
  `rstd = 1 / sqrt(var + eps)` (sums in double, mean, var, rstd rounded to dtype), `out = (x - mean)
  * rstd`, then `* w` and `+ b` where those flat `(cols,)` views are given (else None): contiguous
  `(rows, cols)`, `(rows,)`, `(rows,)`.
- `layer_norm_backward(g, g_view, x, x_view, mean, rstd, w, w_view, dtype, want_dw, want_db) -> (dx, dw, db)`:
  with `xhat = (x - mean) * rstd` and `d = g * w` (g without a weight), per row
  `dx = rstd * (d - sum(d) / cols - xhat * (sum(d * xhat) / cols))`; `dw = sum over rows of g * xhat`,
  `db = sum over rows of g` (`(cols,)`, or None when not wanted); mean and rstd are the forward's
  contiguous `(rows,)` buffers.
- `sdpa(q, q_view, k, k_view, v, v_view, out_view, causal, scale, dtype) -> (out, lse)`: fused
  scaled-dot-product attention per (b, h): `out[b, h, i] = sum_j w_ij v[b, h, j]`, `w_i = softmax_j(scale *
  q[b, h, i] . k[b, h, j])`, the softmax over the keys `j <= i` only when `causal` (PyTorch's is_causal:
  the top-left aligned lower triangle), all `S` keys otherwise. q `(B, H, L, E)`, k `(B, H, S, E)`, v
  `(B, H, S, Ev)` are views with unit stride along the last dim and any other strides (the transposed-head
  views of a `(B, T, 3*E)` projection are read in place); `L, S >= 1`. `out` is written through
  `out_view`, a dense ordering of `(B, H, L, Ev)` at offset 0 with unit last stride that the core picks
  (e.g. `(B, L, H, Ev)` in memory, so `out.transpose(1, 2).reshape(B, L, H * Ev)` is a view); `lse` is the
  row logsumexp `max_j s_ij + log(sum_j exp(s_ij - max))` (scores `s`), contiguous `(B, H, L)`. A row's
  NaN/inf propagates as in softmax (NaN where the composed softmax gives NaN); keys outside a row's causal
  range never enter its sums except through `0 * v` in a shared tile (as in PyTorch's fused kernel).
  Sums are reordered against the composed ops: results agree to float32 rounding, not bit for bit.
- `sdpa_backward(g, g_view, q, q_view, k, k_view, v, v_view, out, out_view, lse, lse_view, dq_view,
  dk_view, dv_view, causal, scale, dtype) -> (dq, dk, dv)`: its gradients for the output gradient `g`
  (`(B, H, L, Ev)`, any strides with unit last stride), from the forward's `out` and `lse` (flash-attention
  style: `P = exp(s - lse)`, `dV = P^T g`, `dP = g V^T`, `dS = P * (dP - rowsum(g * out))`,
  `dQ = scale dS K`, `dK = scale dS^T Q`), each written through its dense result view as `sdpa`'s out.
All of them are float32/float64 only; the core calls them only with at least one element.

A backend may also set the attribute `checks_indices = True` when its `gather` and
`scatter_add` check every index against `[0, size of dim)`, and its `cross_entropy` (if it has
one) every target against `[0, cols)`, themselves and raise `tinygrad_like.errors.TensorIndexError`
(without any access outside the views) on a bad one; the core then skips its own range check
(two reductions) and re-runs it only to word the error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol, Sequence, runtime_checkable

from tinygrad_like.dtypes import DType
from tinygrad_like.view import View

Buffer = Any

UNARY_OPS = (
    "neg", "abs", "sign", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu",
    "erf", "reciprocal", "floor", "ceil", "logical_not",
)
"""Elementwise one-input ops. The result has the input's dtype. `neg`, `abs`, `sign`,
`relu` accept every integer dtype too and `logical_not` takes bool (1 where the input is 0); every other op
is only asked for on float32/float64. `sigmoid(x) = 1/(1+exp(-x))` must not overflow for
large |x|; `relu(nan) = nan`; `sign(0) = 0` and `sign(nan) = 0` (as PyTorch)."""

ARITH_OPS = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmod")
"""Binary ops whose result has the operands' dtype. `fmod` is C's: the remainder of the division
truncated toward zero, with the dividend's sign (`fmod(x, ±inf) = x` for finite x; nan for an
infinite x or a zero divisor); every integer dtype too, where the core never passes a zero
divisor. Every op but `div` takes every integer dtype; bool takes add/sub/mul/maximum/minimum
(or, xor, and) and the comparisons."""

COMPARE_OPS = ("eq", "ne", "lt", "le", "gt", "ge")
"""Binary ops whose result is bool."""

BINARY_OPS = ARITH_OPS + COMPARE_OPS
"""Every binary op, the comparisons last (a kernel tells them apart by code >= len(ARITH_OPS))."""

REDUCE_OPS = ("sum", "max", "min")
ARG_REDUCE_OPS = ("argmax", "argmin")

DTYPE_NAMES = ("bool", "int64", "float32", "float64", "uint8", "int16", "int32")
"""The dtypes a backend stores, by `DType.name` (codes are positions: new dtypes go at the end)."""

# Op codes: an op's position in its table. The numba kernels and the C enums (generated from
# these tables by backends/c_build.py into the build's tg_ops.h) use these numbers.
UNARY_CODES = {name: i for i, name in enumerate(UNARY_OPS)}
BINARY_CODES = {name: i for i, name in enumerate(BINARY_OPS)}
REDUCE_CODES = {name: i for i, name in enumerate(REDUCE_OPS)}
ARG_REDUCE_CODES = {name: i for i, name in enumerate(ARG_REDUCE_OPS)}
DTYPE_CODES = {name: i for i, name in enumerate(DTYPE_NAMES)}


SCATTER_OPS = ("assign", "max", "min")
"""In-place writes by an index tensor (`scatter`); accumulation is `scatter_add`."""

SCAN_OPS = ("sum", "prod")
"""Inclusive scans along the last dim (`scan`): cumsum, cumprod."""

SCATTER_CODES = {name: i for i, name in enumerate(SCATTER_OPS)}
SCAN_CODES = {name: i for i, name in enumerate(SCAN_OPS)}

OPTIONAL_KERNELS = ("softmax", "softmax_backward", "relu_backward", "axpy", "cross_entropy", "im2col",
                    "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward",
                    "adam_step", "gelu", "gelu_backward", "layer_norm", "layer_norm_backward", "sdpa",
                    "sdpa_backward")
"""Fused kernels a backend may define (see the module docstring); probed once at load."""


@dataclass(frozen=True)
class OptionalKernels:
    """What `probe_optional` found on one backend: each fused kernel (a bound method) or None,
    and whether its index kernels range-check indices themselves (`checks_indices`)."""

    softmax: Optional[Callable] = None
    softmax_backward: Optional[Callable] = None
    relu_backward: Optional[Callable] = None
    axpy: Optional[Callable] = None
    cross_entropy: Optional[Callable] = None
    im2col: Optional[Callable] = None
    checks_indices: bool = False
    conv2d: Optional[Callable] = None
    conv2d_backward: Optional[Callable] = None
    max_pool2d: Optional[Callable] = None
    max_pool2d_backward: Optional[Callable] = None
    adam_step: Optional[Callable] = None
    gelu: Optional[Callable] = None
    gelu_backward: Optional[Callable] = None
    layer_norm: Optional[Callable] = None
    layer_norm_backward: Optional[Callable] = None
    sdpa: Optional[Callable] = None
    sdpa_backward: Optional[Callable] = None


def probe_optional(backend: Any) -> OptionalKernels:
    """The optional kernels `backend` defines (called once, when the registry loads it)."""
    found = {name: getattr(backend, name, None) for name in OPTIONAL_KERNELS}
    return OptionalKernels(**found, checks_indices=bool(getattr(backend, "checks_indices", False)))


GAMMA = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1


def mix64(z: int) -> int:
    """SplitMix64's finalizer on a 64-bit unsigned int."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def splitmix64_word(seed: int, j: int) -> int:
    """Word `j` of the random stream of `seed` (the reference for every backend)."""
    return mix64((mix64(seed & MASK64) + (j + 1) * GAMMA) & MASK64)


@runtime_checkable
class Backend(Protocol):
    """What a backend implements. See the module docstring for the rules."""

    name: str
    optional: OptionalKernels
    """Set by the registry when the backend loads (`probe_optional`); never by the backend."""

    # ---- memory -------------------------------------------------------------------
    def empty(self, n: int, dtype: DType) -> Buffer:
        """A buffer of n elements whose contents will all be overwritten (no need to zero it)."""

    def full(self, n: int, value: Any, dtype: DType) -> Buffer:
        """A buffer of n elements, each `value` (already a Python number of dtype's kind)."""

    def from_list(self, values: Sequence[Any], dtype: DType) -> Buffer:
        """A buffer holding the flat Python numbers `values` (bools for bool)."""

    def to_list(self, buf: Buffer, view: View, dtype: DType) -> list:
        """The view's elements in row-major order as Python float/int/bool values."""

    def from_buffer(self, obj: memoryview, dtype: DType) -> Buffer:
        """A buffer over a C-contiguous 1-D memoryview of dtype's format; zero-copy if possible."""

    def memoryview(self, buf: Buffer, dtype: DType) -> memoryview:
        """A writable 1-D memoryview of the whole buffer, sharing memory (for numpy interop)."""

    def buffer_size(self, buf: Buffer) -> int:
        """Number of elements in the buffer (the core checks views against it)."""

    # ---- copies ---------------------------------------------------------------------
    def copy(self, src: Buffer, view: View, src_dtype: DType, dst_dtype: DType) -> Buffer:
        """The view's elements as a new contiguous buffer of dst_dtype.

        Casts: float -> int64 truncates toward zero; float -> int32/int16/uint8 truncates to
        int64 first (x86's INT64_MIN when |x| >= 2**63), then wraps like int -> narrower int,
        which keeps the low bits (two's complement: `int64 300 -> uint8 44`, `-1 -> 255`,
        `70000 -> int16 4464`); anything -> bool is `x != 0`, bool -> number gives 0/1. The
        core does not ask to cast nan/inf to an integer dtype."""

    def assign(self, dst: Buffer, dst_view: View, src: Buffer, src_view: View, dtype: DType) -> None:
        """In place: dst[dst_view] = src[src_view]; same shape and dtype, dst_view never overlaps
        itself (it has no zero strides), but src may be the same buffer only if the views are equal."""

    def add_into(self, dst: Buffer, dst_view: View, src: Buffer, src_view: View, dtype: DType) -> None:
        """In place: dst[dst_view] += src[src_view] elementwise; same shape, dtype float32, float64
        or int64. dst_view may map several indices to one element (overlapping sliding windows,
        the backward of convolution and pooling): every contribution must be added, so a kernel
        runs serially over the dims along which dst_view overlaps itself. src never shares dst's
        buffer. Float sums may come out in any order of those contributions."""

    # ---- elementwise ----------------------------------------------------------------
    def unary(self, op: str, x: Buffer, view: View, dtype: DType) -> Buffer:
        """op(x) for op in UNARY_OPS."""

    def binary(self, op: str, a: Buffer, a_view: View, b: Buffer, b_view: View, dtype: DType,
               out: Optional[Buffer] = None) -> Buffer:
        """a op b for op in ARITH_OPS + COMPARE_OPS; the views have one shape.

        With `out` (a buffer of dtype's result type with room for every element), write the
        result into out[0:n] and return out; `out` may be `a` itself when a_view is contiguous
        (in-place updates such as `p -= lr * g`)."""

    def where(self, cond: Buffer, cond_view: View, a: Buffer, a_view: View, b: Buffer, b_view: View,
              dtype: DType) -> Buffer:
        """cond ? a : b elementwise; cond is bool, a and b have `dtype`; the views have one shape."""

    # ---- reductions -----------------------------------------------------------------
    def reduce(self, op: str, x: Buffer, view: View, k: int, dtype: DType) -> Buffer:
        """Reduce the last k >= 1 dims of the view with op in REDUCE_OPS.

        The result is contiguous with shape view.shape[:-k]. The core coalesces the kept and
        the reduced dims separately, so a column sum arrives as shape (cols, rows) with strides
        (1, cols): a good kernel walks memory in order rather than striding through it.
        float32 sums should be accurate to float32 rounding over 1e7 elements (pairwise or
        blocked summation, or a float64 accumulator)."""

    def arg_reduce(self, op: str, x: Buffer, view: View, dtype: DType) -> Buffer:
        """argmax/argmin over the last dim as int64; the first index wins ties; a NaN counts as
        the extreme (the first NaN's index is returned)."""

    # ---- linear algebra -------------------------------------------------------------
    def matmul(self, a: Buffer, a_view: View, b: Buffer, b_view: View, dtype: DType) -> Buffer:
        """Batched product: a_view (*batch, M, K) @ b_view (*batch, K, N) -> contiguous (*batch, M, N).

        float32/float64 only. Both views have the same batch shape (broadcast batch dims have
        stride 0). A view whose last or second-to-last stride is 1 is a plain or transposed
        matrix: a BLAS-style kernel should use it in place rather than copying."""

    # ---- indexing -------------------------------------------------------------------
    def gather(self, x: Buffer, x_view: View, index: Buffer, index_view: View, dim: int,
               dtype: DType) -> Buffer:
        """out[p] = x[p with p[dim] := index[p]], out shape = index_view.shape.

        x_view and index_view have the same ndim and index_view.shape[d] <= x_view.shape[d]
        for d != dim; index is int64 (the core casts an int32 index first) and every value is in
        [0, x_view.shape[dim])."""

    def scatter_add(self, dst: Buffer, dst_view: View, index: Buffer, index_view: View,
                    src: Buffer, src_view: View, dim: int, dtype: DType) -> None:
        """In place: dst[p with p[dim] := index[p]] += src[p] for every p of index_view's shape;
        dst_view is contiguous; src_view has index_view's shape. Repeated indices accumulate."""

    def scatter(self, op: str, dst: Buffer, dst_view: View, index: Buffer, index_view: View,
                src: Buffer, src_view: View, dim: int, dtype: DType) -> None:
        """In place, for op in SCATTER_OPS and every p of index_view's shape in row-major order:
        `t = dst[p with p[dim] := index[p]]`; 'assign' sets t = src[p] (of repeated indices the
        last one wins), 'max'/'min' set t = max/min(t, src[p]) (NaN propagates). Any dtype for
        'assign'. Geometry as in scatter_add, but dst_view may be any view that never overlaps
        itself. Index range as in gather; a backend that `checks_indices` checks all of them
        before it writes anything."""

    # ---- scans and sorting ----------------------------------------------------------
    def scan(self, op: str, x: Buffer, view: View, dtype: DType) -> Buffer:
        """Inclusive scan along the last dim, op in SCAN_OPS: out[..., j] = x[..., 0] op ... op
        x[..., j], contiguous with the view's shape (ndim >= 1). float32/float64 accumulate in
        float64 (rounded at each store); int64 wraps modulo 2**64."""

    def sort(self, x: Buffer, view: View, dtype: DType, descending: bool, k: int) -> tuple:
        """(values, indices): each row along the last dim (n = view.shape[-1] >= 1) sorted, and
        its first k (1 <= k <= n) kept, as two contiguous buffers of shape (*view.shape[:-1], k):
        the values (dtype) and their int64 positions in the row. The sort is stable (equal values
        keep their order, -0.0 equals 0.0) and NaN is greater than every number (last when
        ascending, first when descending). `k < n` serves topk: a backend may select rather
        than sort the whole row, as long as the result equals the stable sort's first k."""

    # ---- random ---------------------------------------------------------------------
    def random(self, dist: str, n: int, seed: int, counter: int, dtype: DType) -> Buffer:
        """n draws of 'uniform' [0, 1) or 'normal' (0, 1), exactly as the module docstring says."""
