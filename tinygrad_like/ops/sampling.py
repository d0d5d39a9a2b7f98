"""Sampling from tensors of probabilities: multinomial, bernoulli (on the shared seeded
generator, so one seed gives the same draws on every backend)."""
from __future__ import annotations

from typing import Any, Optional

from .. import dispatch
from ..dtypes import float64, int64
from ..errors import InvalidValueError, ShapeError
from ..random import default_generator
from .sort import cumsum, topk


def multinomial(probs: Any, num_samples: int, replacement: bool = False, generator: Any = None) -> Any:
    """Category indices drawn from the (unnormalized) weights in each row of a 1-D/2-D tensor."""
    if probs.ndim not in (1, 2):
        raise ShapeError(f"multinomial: probs must be 1-D or 2-D, got shape {probs.shape}")
    gen = generator or default_generator
    p = probs.detach().to(float64)
    rows = p.reshape(1, -1) if p.ndim == 1 else p
    r, n = rows.shape
    if n == 0:
        raise InvalidValueError("multinomial: probs has no categories")
    if not isinstance(num_samples, int) or num_samples <= 0:
        raise InvalidValueError(f"multinomial: num_samples must be a positive int, got {num_samples!r}")
    if not (rows.isfinite().all().item() and (rows >= 0).all().item()):
        raise InvalidValueError("multinomial: probabilities must be finite and non-negative")
    positive = (rows > 0).to(int64).sum(1)
    if (positive == 0).any().item():
        raise InvalidValueError("multinomial: every row must have a positive probability sum")
    if not replacement and num_samples > positive.amin().item():
        raise InvalidValueError(f"multinomial: cannot draw {num_samples} samples without replacement from a row "
                                f"with only {positive.amin().item()} non-zero probabilities")
    if replacement:
        cdf = cumsum(rows, 1)
        total = cdf.narrow(1, n - 1, 1)
        u = gen.sample("uniform", (r, num_samples), float64, probs._be) * total
        # the category of u is the number of cumulative sums <= u
        out = (cdf.reshape(r, 1, n) <= u.reshape(r, num_samples, 1)).to(int64).sum(2)
        out = out.minimum(dispatch.scalar(n - 1, int64, probs._be))
    else:
        # exponential race: the num_samples smallest of E_i / p_i are a weighted draw without
        # replacement (zero weights give +inf and are never reached)
        u = gen.sample("uniform", (r, n), float64, probs._be)
        keys = (1 - u).log() / rows
        keys = keys.masked_fill(rows == 0, -float("inf"))
        out = topk(keys, num_samples, 1, largest=True).indices
    return out.reshape(-1) if probs.ndim == 1 else out


def bernoulli(x: Any, p: Optional[float] = None, generator: Any = None) -> Any:
    """0/1 draws with probability p (or each element of x), in x's dtype."""
    gen = generator or default_generator
    prob = x.detach() if p is None else dispatch.full(x.shape, p, float64, x._be)
    u = gen.sample("uniform", x.shape, float64, x._be)
    return (u < prob.to(float64)).to(x.dtype if x.dtype.is_float else float64)
