"""Normalization and channel dropout, composed of tensor ops: batch_norm, instance_norm,
group_norm, dropout2d (re-exported by tg.nn.functional with PyTorch's signatures)."""
from __future__ import annotations

from typing import Optional

from ..autograd import no_grad
from ..errors import InvalidValueError, ShapeError
from ..random import rand
from ..tensor import Tensor, where


def _channel_shape(x: Tensor) -> tuple:
    """(1, C, 1, ...): a per-channel vector broadcast over x (N, C, *spatial)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _affine(out: Tensor, weight: Optional[Tensor], bias: Optional[Tensor], shape: tuple) -> Tensor:
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def _check_vec(t: Optional[Tensor], c: int, name: str, what: str) -> None:
    if t is not None and tuple(t.shape) != (c,):
        raise ShapeError(f"{what}: {name} must have shape ({c},) (one value per channel), got {tuple(t.shape)}")


def batch_norm(input: Tensor, running_mean: Optional[Tensor], running_var: Optional[Tensor],
               weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel (dim 1) over the batch and spatial dims. Training: batch statistics
    (biased variance), and the running ones updated in place with momentum (unbiased variance);
    otherwise the running statistics."""
    what = "batch_norm"
    if input.ndim < 2:
        raise ShapeError(f"{what}: expected an input of at least 2 dims (N, C, ...), got shape {input.shape}")
    c = input.shape[1]
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"), (bias, "bias")):
        _check_vec(t, c, name, what)
    shape = _channel_shape(input)
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        count = input.numel() // c
        if count <= 1:
            raise InvalidValueError(f"{what}: expected more than 1 value per channel when training, got input of shape {input.shape}")
        mean = input.mean(dims, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(dims, keepdim=True)
        if running_mean is not None or running_var is not None:
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1.0 - momentum).add_(mean.reshape(c).to(running_mean.dtype) * momentum)
                if running_var is not None:
                    unbiased = var.reshape(c) * (count / (count - 1))
                    running_var.mul_(1.0 - momentum).add_(unbiased.to(running_var.dtype) * momentum)
        return _affine(centered * (var + eps).rsqrt(), weight, bias, shape)
    if running_mean is None or running_var is None:
        raise InvalidValueError(f"{what}: running_mean and running_var are needed when training=False")
    scale = (running_var.to(input.dtype) + eps).rsqrt()
    if weight is not None:
        scale = scale * weight
    shift = -running_mean.to(input.dtype) * scale
    if bias is not None:
        shift = shift + bias
    return input * scale.reshape(shape) + shift.reshape(shape)


def instance_norm(input: Tensor, running_mean: Optional[Tensor] = None, running_var: Optional[Tensor] = None,
                  weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each (sample, channel) over its spatial dims; running statistics as in batch_norm."""
    what = "instance_norm"
    if input.ndim < 3:
        raise ShapeError(f"{what}: expected an input of at least 3 dims (N, C, *spatial), got shape {input.shape}")
    n, c = input.shape[:2]
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"), (bias, "bias")):
        _check_vec(t, c, name, what)
    shape = _channel_shape(input)
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    dims = tuple(range(2, input.ndim))
    count = input.numel() // (n * c)
    if count <= 1:
        raise InvalidValueError(f"{what}: expected more than 1 spatial element per channel when training, got input of shape {input.shape}")
    mean = input.mean(dims, keepdim=True)
    centered = input - mean
    var = (centered * centered).mean(dims, keepdim=True)
    with no_grad():
        if running_mean is not None:
            running_mean.mul_(1.0 - momentum).add_(mean.reshape(n, c).mean(0).to(running_mean.dtype) * momentum)
        if running_var is not None:
            unbiased = var.reshape(n, c).mean(0) * (count / (count - 1))
            running_var.mul_(1.0 - momentum).add_(unbiased.to(running_var.dtype) * momentum)
    return _affine(centered * (var + eps).rsqrt(), weight, bias, shape)


def group_norm(input: Tensor, num_groups: int, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize each sample over groups of num_groups consecutive channels (and the spatial dims)."""
    what = "group_norm"
    if input.ndim < 2:
        raise ShapeError(f"{what}: expected an input of at least 2 dims (N, C, ...), got shape {input.shape}")
    n, c = input.shape[:2]
    if not isinstance(num_groups, int) or num_groups < 1 or c % num_groups:
        raise ShapeError(f"{what}: the {c} channels of input shape {input.shape} must be divisible by num_groups={num_groups!r}")
    _check_vec(weight, c, "weight", what)
    _check_vec(bias, c, "bias", what)
    xg = input.reshape(n, num_groups, -1)
    mean = xg.mean(2, keepdim=True)
    centered = xg - mean
    var = (centered * centered).mean(2, keepdim=True)
    out = (centered * (var + eps).rsqrt()).reshape(input.shape)
    return _affine(out, weight, bias, _channel_shape(input))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels (dim -3 of (N, C, H, W) or (C, H, W)) with probability p, scale the rest by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise InvalidValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (3, 4):
        raise ShapeError(f"dropout2d: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got shape {input.shape}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    mask_shape = input.shape[:-2] + (1, 1)
    keep = rand(*mask_shape, dtype=input.dtype, backend=input.backend) >= p
    return where(keep, input * (1.0 / (1.0 - p)), 0.0)

