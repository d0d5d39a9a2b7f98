"""Fused loss ops: cross-entropy of class indices in one kernel pass when the backend has one."""
from __future__ import annotations

from typing import Any, Optional

from .. import dispatch, fused_kernels
from ..autograd import grad_mode, needs_grad, record


def checks_indices(x: Any) -> bool:
    """True when x's backend range-checks indices in its kernels (the caller may skip its own check)."""
    return fused_kernels.checks_indices(x._be)


def fused_cross_entropy(input: Any, target: Any) -> Optional[Any]:
    """Per-row losses -log_softmax(input)[r, target[r]] of (N, C) logits, from the backend's
    one-pass kernel; None when it has none (the caller composes log_softmax and nll_loss).

    The kernel also returns d(loss[r])/d(input[r]) = softmax(input[r]) - one_hot(target[r]),
    so backward only scales its rows; under create_graph it composes a differentiable formula."""
    want_grad = needs_grad(input)
    res = fused_kernels.fused_cross_entropy(input, target, want_grad)
    if res is None:
        return None
    loss, dx = res
    if dx is None:
        return loss
    classes = input.shape[1]

    def backward(g: Any) -> tuple:
        if grad_mode.enabled:  # create_graph: a differentiable formula instead of the saved constant
            one_hot = target.unsqueeze(1) == dispatch.from_list(list(range(classes)), (classes,), target.dtype, target._be)
            return ((input.softmax(1) - one_hot.to(input.dtype)) * g.unsqueeze(1),)
        return (dx * g.unsqueeze(1),)
    return record(loss, "CrossEntropy", (input,), backward, saved=(input, target))
