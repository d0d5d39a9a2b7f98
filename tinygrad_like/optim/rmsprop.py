"""RMSprop and Adagrad with PyTorch's update rules (single-tensor form, the same order of roundings)."""
from __future__ import annotations

from typing import Any, Iterable

from ..creation import full_like, zeros_like
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonneg


class RMSprop(Optimizer):
    """p -= lr * g / (sqrt(v) + eps) with v the running mean of g^2 (decay alpha); centered subtracts the
    squared running mean of g; momentum keeps a buffer of those steps."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, maximize: bool = False):
        for name, v in (("learning rate", lr), ("epsilon", eps), ("momentum", momentum),
                        ("weight_decay", weight_decay), ("alpha", alpha)):
            check_nonneg(name, v)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _update(self, p: Tensor, grad: Tensor, group: dict, state: dict) -> None:
        lr, alpha, eps, wd, momentum = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        g = -grad if group["maximize"] else grad
        if not state:
            state["step"] = 0
            state["square_avg"] = zeros_like(p)
            if momentum > 0:
                state["momentum_buffer"] = zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = zeros_like(p)
        state["step"] += 1
        if wd != 0:
            g = g + p * wd
        v = state["square_avg"]
        v.mul_(alpha)
        v.add_(g * g, alpha=1 - alpha)                 # v = alpha * v + (1 - alpha) * g^2
        if group["centered"]:
            m = state["grad_avg"]
            m.add_(g - m, alpha=1 - alpha)             # m = lerp(m, g, 1 - alpha)
            avg = (v - m * m).sqrt().add_(eps)
        else:
            avg = v.sqrt().add_(eps)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf.mul_(momentum)
            buf.add_(g / avg)
            p.add_(buf, alpha=-lr)
        else:
            p.add_(g / avg, alpha=-lr)


class Adagrad(Optimizer):
    """p -= lr / (1 + (step - 1) * lr_decay) * g / (sqrt(sum of g^2) + eps)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, maximize: bool = False):
        for name, v in (("learning rate", lr), ("lr_decay", lr_decay), ("weight_decay", weight_decay),
                        ("initial_accumulator_value", initial_accumulator_value), ("epsilon", eps)):
            check_nonneg(name, v)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))
        for g in self.param_groups:  # PyTorch builds the state up front (it is in state_dict() before a step)
            for p in g["params"]:
                self.state[p] = {"step": 0, "sum": full_like(p, g["initial_accumulator_value"])}

    def _update(self, p: Tensor, grad: Tensor, group: dict, state: dict) -> None:
        if not state:
            state.update(step=0, sum=full_like(p, group["initial_accumulator_value"]))
        g = -grad if group["maximize"] else grad
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + p * group["weight_decay"]
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        s.add_(g * g)
        p.add_(g / s.sqrt().add_(group["eps"]), alpha=-clr)
