"""Adam and AdamW with PyTorch's update rules (bias-corrected moments; AdamW decays the weights directly)."""
from __future__ import annotations

import math
from typing import Any, Iterable

from ..creation import zeros_like
from ..errors import InvalidValueError
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonneg


class Adam(Optimizer):
    """Adam (Kingma & Ba) exactly as torch.optim.Adam (amsgrad=False); weight_decay is L2 added to the grad."""

    decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, maximize: bool = False):
        check_nonneg("learning rate", lr)
        check_nonneg("epsilon", eps)
        check_nonneg("weight_decay", weight_decay)
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise InvalidValueError(f"Invalid beta parameter at index {i}: {b} (must be in [0, 1))")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _update(self, p: Tensor, grad: Tensor, group: dict, state: dict) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        g = -grad if group["maximize"] else grad
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
        state["step"] += 1
        step = state["step"]
        if wd != 0:
            if self.decoupled:
                p.mul_(1 - lr * wd)
            else:
                g = g + p * wd
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # in-place updates and `alpha=` (the backend's fused axpy): three temporaries per step
        # instead of nine, with the same roundings as the plain formulas in the comments
        m.add_(g - m, alpha=1 - beta1)         # m += (g - m) * (1 - beta1)
        v.mul_(beta2)
        v.add_(g * g, alpha=1 - beta2)         # v += g * g * (1 - beta2)
        step_size = lr / (1 - beta1 ** step)
        denom = v.sqrt().div_(math.sqrt(1 - beta2 ** step)).add_(eps)  # sqrt(v) / sqrt(1 - beta2^t) + eps
        p.sub_(m / denom, alpha=step_size)     # p -= m / denom * step_size


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, maximize)
