"""nn.utils: gradient clipping and flat parameter vectors (PyTorch's names and semantics)."""
from __future__ import annotations

import math
from typing import Any, Iterable, Union

from ..autograd import no_grad
from ..creation import tensor
from ..dispatch import checked_item
from ..errors import AutogradError, InvalidValueError, ShapeError
from ..tensor import Tensor, cat, stack

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters: Union[Tensor, Iterable[Tensor]]) -> list:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Any = None) -> Tensor:
    """Scale the .grad of parameters in place so that their joint norm is at most max_norm; returns the
    total norm before clipping (a 0-d tensor). norm_type may be float('inf')."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return tensor(0.0)
    with no_grad():
        if norm_type == math.inf:
            per = [g.abs().max() for g in grads]
            total = per[0] if len(per) == 1 else stack(per).max()
        else:
            per = [(g.abs() ** norm_type).sum() if norm_type != 2.0 else (g * g).sum() for g in grads]
            total = (per[0] if len(per) == 1 else stack(per).sum()) ** (1.0 / norm_type)
        if error_if_nonfinite:
            checked_item(total.isfinite(), _nonfinite_check(norm_type), "clip_grad_norm_")
        coef = (total + 1e-6).reciprocal() * float(max_norm)
        coef = coef.clamp(max=1.0)  # never scales up; a NaN/inf norm gives NaN/0 grads, as PyTorch
        for g in grads:
            g.mul_(coef.to(g.dtype))
    return total


def clip_grad_value_(parameters: Union[Tensor, Iterable[Tensor]], clip_value: float, foreach: Any = None) -> None:
    """Clamp every .grad elementwise into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (a copy, with gradient)."""
    params = list(parameters)
    if not params:
        raise InvalidValueError("parameters_to_vector: got no parameters")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D vec into the parameters (their data; no gradient recorded)."""
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise ShapeError(f"vector_to_parameters: expected a 1-D Tensor, got {getattr(vec, 'shape', type(vec).__name__)}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.numel() != total:
        raise ShapeError(f"vector_to_parameters: vec has {vec.numel()} elements, the parameters need {total}")
    pointer = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.copy_(vec[pointer:pointer + n].reshape(p.shape))
            pointer += n


def _nonfinite_check(norm_type: float) -> Any:
    def check(finite: bool) -> None:
        if not finite:
            raise AutogradError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                                f"so it cannot be clipped. To disable this error and scale the gradients by the "
                                f"non-finite norm anyway, set `error_if_nonfinite=False`")
    return check
