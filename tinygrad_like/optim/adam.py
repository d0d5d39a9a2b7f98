"""Adam and AdamW with PyTorch's update rules (bias-corrected moments; AdamW decays the weights directly)."""
from __future__ import annotations

from typing import Any, Iterable

from ..creation import tensor, zeros_like
from ..dtypes import float32, float64
from ..errors import InvalidValueError
from ..ops.inplace import adam_step_
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
        if not state:
            state["step"] = tensor(0.0, dtype=float32, backend=p.backend)  # a 0-d float32 count, as PyTorch's
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
        step = state["step"]
        if not isinstance(step, Tensor):  # a plain count (a hand-written state_dict, an older checkpoint)
            step = state["step"] = tensor(float(step), dtype=float32, backend=p.backend)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        args = (group["lr"], tuple(group["betas"]), group["eps"], group["weight_decay"], self.decoupled, group["maximize"])
        if not adam_step_(p, grad, m, v, step, *args):  # the backend's one-pass kernel, where it has one
            _composed_step(p, grad, m, v, step, *args)


def _composed_step(p: Tensor, grad: Tensor, m: Tensor, v: Tensor, step: Tensor, lr: float, betas: tuple, eps: float,
                   wd: float, decoupled: bool, maximize: bool) -> None:
    """The update of backends/protocol.py's `adam_step` from tensor ops, in the same order of roundings
    (but without fused multiply-adds). The bias corrections are 0-d float64 tensors computed from the
    step tensor, never Python numbers read from it, so a recorded step replays with the current count."""
    beta1, beta2 = betas
    g = -grad if maximize else grad
    step.add_(1)
    if wd != 0:
        if decoupled:
            p.mul_(1 - lr * wd)
        else:
            g = g + p * wd
    m.add_(g - m, alpha=1 - beta1)                  # lerp(m, g, 1 - beta1) = m + (g - m) * (1 - beta1)
    v.mul_(beta2).add_(g * (1 - beta2) * g)         # v * beta2 + (1 - beta2) * g * g
    t = step.to(float64)
    neg_step_size = (-lr / (1 - beta1 ** t)).to(p.dtype)
    bc2_sqrt = ((1 - beta2 ** t) ** 0.5).to(p.dtype)
    denom = (v.sqrt() / bc2_sqrt).add_(eps)           # sqrt(v) / sqrt(1 - beta2^t) + eps
    p.add_(m * neg_step_size / denom)              # p -= lr / (1 - beta1^t) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, maximize)
