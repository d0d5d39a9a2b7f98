"""Stateless layer and loss functions with PyTorch's names (tg.nn.functional, usually imported as F)."""
from __future__ import annotations

from typing import Any, Optional

from ..creation import arange
from ..dispatch import branch_item, checked_range
from ..dtypes import int32, int64
from ..errors import DTypeError, InvalidValueError, ShapeError, TensorIndexError
from ..ops.attention import scaled_dot_product_attention
from ..ops.layer_norm import fused_layer_norm
from ..ops.loss import checks_indices, fused_cross_entropy
from ..ops.conv import conv_transpose2d, convnd, fold, pad, unfold  # noqa: F401  (F.conv_transpose2d, F.fold, ...)
from ..ops.matmul import linear
from ..ops.shape import pad  # noqa: F401  (F.pad)
from ..ops.pool import adaptive_poolnd, avg_poolnd, max_poolnd
from ..random import rand
from ..tensor import Tensor, where
from .norm import batch_norm, dropout2d, group_norm, instance_norm  # noqa: F401  (F.batch_norm, ...)

_REDUCTIONS = ("mean", "sum", "none")
__all__ = ["scaled_dot_product_attention", "linear"]  # re-exported from the ops (F.linear, F.scaled_dot_product_attention)


def relu(input: Tensor) -> Tensor:
    return input.relu()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return input.gelu(approximate=approximate)


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return input.leaky_relu(negative_slope)


def softmax(input: Tensor, dim: int) -> Tensor:
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int) -> Tensor:
    return input.log_softmax(dim)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p); identity when not training."""
    if not 0.0 <= p <= 1.0:
        raise InvalidValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = rand(*input.shape, dtype=input.dtype, backend=input.backend) >= p
    return where(keep, input * (1.0 / (1.0 - p)), 0.0)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 class indices of shape S -> int64 tensor of shape S + (num_classes,)."""
    if tensor.dtype is not int64:
        raise DTypeError(f"one_hot is only applicable to int64 index tensors, got {tensor.dtype.name}")
    if num_classes == -1:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    if tensor.numel():
        lo, hi = int(tensor.min().item()), int(tensor.max().item())
        if lo < 0 or hi >= num_classes:
            raise InvalidValueError(f"one_hot: class values must be in [0, {num_classes}), got values in [{lo}, {hi}]")
    classes = arange(num_classes, backend=tensor.backend)
    return (tensor.unsqueeze(-1) == classes).to(int64)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise InvalidValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or elementwise) squared error; shapes must match exactly."""
    _check_reduction(reduction)
    if input.shape != target.shape:
        raise ShapeError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ "
                         f"(broadcasting here is almost always a bug; reshape one of them)")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _check_reduction(reduction)
    if input.shape != target.shape:
        raise ShapeError(f"l1_loss: input shape {input.shape} and target shape {target.shape} differ")
    return _reduce((input - target).abs(), reduction)


def _check_class_target(input: Tensor, target: Tensor, what: str, check_range: bool = True) -> None:
    if not isinstance(target, Tensor):
        raise DTypeError(f"{what}: target must be a Tensor of int64 class indices, got {type(target).__name__}")
    if target.dtype is not int64:
        raise DTypeError(f"{what}: expected int64 class indices as target, got {target.dtype.name} "
                         f"(use target.long(), or pass class probabilities with the input's shape {input.shape})")
    if input.ndim == 0:
        raise ShapeError(f"{what}: input must have a class dimension, got a 0-d tensor")
    want = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if target.shape != want:
        raise ShapeError(f"{what}: input of shape {input.shape} (N, C, ...) needs a target of shape {want}, "
                         f"got {target.shape}")
    if check_range and target.numel():
        c = input.shape[1] if input.ndim >= 2 else input.shape[0]
        checked_range(target, 0, c, lambda bad: InvalidValueError(f"{what}: target {bad} is out of bounds for {c} classes"), what)


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean", ignore_index: Optional[int] = -100) -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C, ...) at int64 targets (N, ...); targets equal
    to ignore_index add nothing (and are not counted by the mean)."""
    _check_reduction(reduction)
    _check_class_target(input, target, "nll_loss", check_range=False)
    ignored = _ignored(target, ignore_index)
    if ignored is not None:
        return _masked_reduce(nll_loss(input, where(ignored, 0, target), "none", None), ignored, reduction)
    _check_class_target(input, target, "nll_loss")
    if input.ndim == 1:
        picked = input.gather(0, target.reshape(1)).reshape(())
    else:
        picked = input.gather(1, target.unsqueeze(1)).squeeze(1)
    return _reduce(-picked, reduction)


def _ignored(target: Tensor, ignore_index: Optional[int]) -> Optional[Tensor]:
    """The bool mask of targets equal to ignore_index, or None when there are none (or no ignore_index)."""
    if ignore_index is None or not isinstance(target, Tensor) or target.dtype is not int64 or not target.numel():
        return None
    ignored = target == ignore_index
    return ignored if branch_item(ignored.any(), "ignore_index present") else None


def _masked_reduce(loss: Tensor, ignored: Tensor, reduction: str) -> Tensor:
    """Per-element losses with the ignored ones zeroed; 'mean' divides by the number kept (PyTorch's)."""
    loss = where(ignored, 0.0, loss)
    if reduction == "mean":
        return loss.sum() / (~ignored).sum().to(loss.dtype)
    return _reduce(loss, reduction)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean", label_smoothing: float = 0.0,
                  ignore_index: Optional[int] = -100) -> Tensor:
    """log_softmax over the class dim, then nll_loss (int64 targets) or -sum(p * logq) (probabilities).
    Class targets equal to ignore_index add nothing and are not counted by the mean."""
    _check_reduction(reduction)
    ignored = _ignored(target, ignore_index)
    if ignored is not None:
        _check_class_target(input, target, "cross_entropy", check_range=False)
        kept = where(ignored, 0, target)
        return _masked_reduce(cross_entropy(input, kept, "none", label_smoothing, None), ignored, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise InvalidValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    cdim = 1 if input.ndim >= 2 else 0
    if isinstance(target, Tensor) and target.dtype.is_float and target.shape != input.shape:
        _check_class_target(input, target, "cross_entropy")  # raises: wrong dtype for class indices
    if isinstance(target, Tensor) and target.dtype.is_float:
        if target.shape != input.shape:
            raise ShapeError(f"cross_entropy: float (probability) targets must have the input's shape {input.shape}, "
                             f"got {target.shape}; for class indices pass an int64 tensor of shape {input.shape[:1] + input.shape[2:]}")
        logp = input.log_softmax(cdim)
        c = input.shape[cdim]
        if label_smoothing:
            target = target * (1.0 - label_smoothing) + label_smoothing / c
        return _reduce(-(logp * target).sum(cdim), reduction)
    # the fused kernel of a backend that `checks_indices` range-checks the targets itself, which
    # saves the two reductions of the check here (the composed path below checks in nll_loss)
    _check_class_target(input, target, "cross_entropy", check_range=False)
    if not label_smoothing:
        try:
            fused = _fused_cross_entropy(input, target)
        except TensorIndexError:
            _check_class_target(input, target, "cross_entropy")  # words the error: which target, how many classes
            raise
        if fused is not None:
            return _reduce(fused, reduction)
    logp = input.log_softmax(cdim)
    loss = nll_loss(logp, target, reduction="none")
    if label_smoothing:
        c = input.shape[cdim]
        smooth = -logp.sum(cdim) / c
        loss = loss * (1.0 - label_smoothing) + smooth * label_smoothing
    return _reduce(loss, reduction)


def _fused_cross_entropy(input: Tensor, target: Tensor) -> Optional[Tensor]:
    """Per-row losses from the backend's one-pass kernel (None when it has none: the caller composes)."""
    if not input.backend == target.backend:
        return None
    if not checks_indices(input):
        _check_class_target(input, target, "cross_entropy")  # the targets' range, before the kernel indexes with them
    return fused_cross_entropy(input, target)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, reduction: str = "mean",
                                     pos_weight: Optional[Tensor] = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one numerically stable formula (PyTorch's)."""
    _check_reduction(reduction)
    if not isinstance(target, Tensor) or not target.dtype.is_float:
        raise DTypeError("binary_cross_entropy_with_logits: target must be a float tensor of 0/1 (or soft) labels, "
                         f"got {getattr(target, 'dtype', type(target).__name__)}")
    if target.shape != input.shape:
        raise ShapeError(f"binary_cross_entropy_with_logits: target size {target.shape} must be the same as input size {input.shape}")
    softplus_neg = (-input.abs()).exp().log1p() + (-input).relu()  # log(1 + exp(-x)), stable
    if pos_weight is None:
        loss = (1 - target) * input + softplus_neg
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * softplus_neg
    return _reduce(loss, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """BCE of probabilities in (0, 1); log is clamped at -100 as in PyTorch."""
    _check_reduction(reduction)
    if target.shape != input.shape:
        raise ShapeError(f"binary_cross_entropy: target size {target.shape} must be the same as input size {input.shape}")
    logp = input.log().clamp(min=-100.0)
    log1mp = (1 - input).log().clamp(min=-100.0)
    return _reduce(-(target * logp + (1 - target) * log1mp), reduction)


def layer_norm(input: Tensor, normalized_shape: Any, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing `normalized_shape` dims (biased variance), then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise ShapeError(f"layer_norm: normalized_shape {shape} does not match the trailing dims of input shape {input.shape}")
    if input.dtype.is_float and all(t is None or t.shape == shape for t in (weight, bias)):
        out = fused_layer_norm(input, k, weight, bias, eps)  # the backend's two kernels, where it has them
        if out is not None:
            return out
    dims = tuple(range(input.ndim - k, input.ndim))
    mean = input.mean(dims, keepdim=True)
    centered = input - mean
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def embedding(input: Tensor, weight: Tensor, padding_idx: Optional[int] = None) -> Tensor:
    """Rows of weight picked by int64 (or int32) indices of any shape -> input.shape + (embedding_dim,);
    the row padding_idx gets no gradient."""
    if not isinstance(input, Tensor) or input.dtype not in (int64, int32):
        raise DTypeError(f"embedding: indices must be an int64 or int32 tensor, got {getattr(input, 'dtype', type(input).__name__)}")
    if input.numel():
        n = weight.shape[0]
        checked_range(input, 0, n, lambda bad: TensorIndexError(f"embedding: index {bad} is out of range for {n} embeddings"),
                      "embedding")
    rows = weight.index_select(0, input.reshape(-1))
    out = rows.reshape(tuple(input.shape) + (weight.shape[1],))
    if padding_idx is not None and out.requires_grad:
        pad = padding_idx + weight.shape[0] if padding_idx < 0 else padding_idx
        out = where((input == pad).unsqueeze(-1), out.detach(), out)  # its value, without a gradient path
    return out


_EPS = {"float32": 1.1920928955078125e-07, "float64": 2.220446049250313e-16}  # torch.finfo(dtype).eps


def rms_norm(input: Tensor, normalized_shape: Any, weight: Optional[Tensor] = None, eps: Optional[float] = None) -> Tensor:
    """x / sqrt(mean(x^2 over the trailing normalized_shape dims) + eps) * weight; eps defaults to
    the dtype's machine epsilon (PyTorch's)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ShapeError(f"rms_norm: normalized_shape {shape} does not match the trailing dims of input shape {input.shape}")
    if eps is None:
        eps = _EPS.get(input.dtype.name, _EPS["float32"])
    dims = tuple(range(input.ndim - k, input.ndim))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out * weight if weight is not None else out


# ---------------------------------------------------------------- convolution and pooling
# (ops/conv.py and ops/pool.py; normalization in nn/norm.py)


def conv1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-d cross-correlation of (N, C_in, L) with weight (C_out, C_in / groups, k)."""
    return convnd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-d cross-correlation of (N, C_in, H, W) with weight (C_out, C_in / groups, kh, kw);
    padding is an int, a pair, 'valid' or 'same'."""
    return convnd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    return max_poolnd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The max of each window (stride defaults to the kernel); with return_indices also the flat
    index of each max within its input plane (H * W)."""
    return max_poolnd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    return avg_poolnd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Optional[int] = None) -> Tensor:
    """The mean of each window; count_include_pad=False divides by the real (unpadded) elements only."""
    return avg_poolnd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                      "avg_pool2d")


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average over PyTorch's adaptive bins to any output size (an int, a pair, None keeps a dim)."""
    return adaptive_poolnd(input, output_size, "avg", 2, "adaptive_avg_pool2d")


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max over PyTorch's adaptive bins; return_indices needs bins that tile the input evenly."""
    if not return_indices:
        return adaptive_poolnd(input, output_size, "max", 2, "adaptive_max_pool2d")
    sizes = input.shape[-2:]
    outs = (output_size,) * 2 if isinstance(output_size, int) else tuple(n if o is None else o for n, o in zip(sizes, output_size))
    if any(not isinstance(o, int) or o < 1 or n % o for n, o in zip(sizes, outs)):
        raise InvalidValueError(f"adaptive_max_pool2d: return_indices=True needs an output size {output_size!r} that divides "
                                f"the input's spatial size {tuple(sizes)}")
    kern = tuple(n // o for n, o in zip(sizes, outs))
    return max_poolnd(input, kern, kern, 0, 1, False, True, 2, "adaptive_max_pool2d")
