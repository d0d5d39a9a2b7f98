"""gradcheck: analytic gradients against central differences in float64."""
from __future__ import annotations

import math
import random
from typing import Any, Callable, Sequence

from .autograd import no_grad
from .creation import tensor
from .dtypes import float64
from .errors import AutogradError, DTypeError
from .tensor import Tensor


class GradcheckError(AutogradError):
    """Analytic and numeric gradients disagree."""


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """True if d(fn)/d(input) from backward matches central differences for every input that
    requires grad; raises GradcheckError naming the worst element otherwise.

    The output is projected on a fixed random vector v, so one backward gives v^T J and
    each input element costs two forward calls."""
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype is not float64:
            raise DTypeError(f"gradcheck: input {i} is {x.dtype.name}; use float64 inputs (x.double())")
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise DTypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    rng = random.Random(seed)
    v = tensor([rng.uniform(-1.0, 1.0) for _ in range(out.numel())], dtype=out.dtype, backend=out._be).reshape(out.shape)
    for x in inputs:
        if isinstance(x, Tensor):
            x.grad = None
    (out * v).sum().backward()
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        analytic = x.grad.reshape(-1).tolist() if x.grad is not None else [0.0] * x.numel()
        base = x.detach().contiguous().reshape(-1).tolist()
        worst = (0.0, -1, 0.0, 0.0)
        for j in range(len(base)):
            vals = []
            for sign in (1, -1):
                pert = list(base)
                pert[j] += sign * eps
                xp = tensor(pert, dtype=x.dtype, backend=x._be).reshape(x.shape)
                args = list(inputs)
                args[i] = xp
                with no_grad():
                    vals.append((fn(*args) * v).sum().item())
            numeric = (vals[0] - vals[1]) / (2 * eps)
            err = abs(numeric - analytic[j])
            excess = err - (atol + rtol * abs(numeric))
            if math.isnan(excess):  # a NaN on either side is a failure, never a pass
                excess = math.inf
            if excess > worst[0] or (worst[1] < 0 and excess > 0):
                worst = (excess, j, numeric, analytic[j])
        if worst[1] >= 0:
            _, j, num, ana = worst
            idx = _unravel(j, x.shape)
            raise GradcheckError(f"gradcheck: input {i} (shape {x.shape}) element {idx}: numeric {num:.8g} vs analytic {ana:.8g} "
                                 f"(|diff| {abs(num - ana):.3g} > atol {atol} + rtol {rtol} * |numeric|)")
    return True


def _unravel(j: int, shape: tuple) -> tuple:
    idx = []
    for n in reversed(shape):
        idx.append(j % n)
        j //= n
    return tuple(reversed(idx))
