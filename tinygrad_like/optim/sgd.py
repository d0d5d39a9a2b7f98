"""SGD with momentum, dampening, Nesterov and weight decay (PyTorch's update rule)."""
from __future__ import annotations

from typing import Any, Iterable

from ..errors import InvalidValueError
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonneg


class SGD(Optimizer):
    """p -= lr * d, with d the (Nesterov) momentum buffer of grad + weight_decay * p."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, maximize: bool = False):
        check_nonneg("learning rate", lr)
        check_nonneg("momentum", momentum)
        check_nonneg("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise InvalidValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay, maximize=maximize))

    def _update(self, p: Tensor, grad: Tensor, group: dict, state: dict) -> None:
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        d = -grad if group["maximize"] else grad
        if wd != 0:
            d = d + p * wd
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.clone()
            else:
                buf.mul_(momentum)
                damp = 1 - group["dampening"]
                buf.add_(d if damp == 1 else d * damp)
            d = d + buf * momentum if group["nesterov"] else buf
        p.add_(d, alpha=-lr)  # p -= lr * d in place (one fused pass where the backend has it)
