"""jacobian and hessian of small functions (for teaching), built on autograd.grad.

As torch.autograd.functional: `jacobian(f, x)` has shape f(x).shape + x.shape (a tuple of such
blocks when there are several inputs), one backward pass per output element; `hessian(f, x)`
is the jacobian of the gradient, taken with create_graph=True.
"""
from __future__ import annotations

from typing import Any, Callable

from .. import dispatch
from .api import grad
from .mode import enable_grad


def _inputs(inputs: Any) -> tuple:
    many = isinstance(inputs, (tuple, list))
    xs = tuple(inputs) if many else (inputs,)
    return many, tuple(x.detach().requires_grad_() for x in xs)


def jacobian(func: Callable[..., Any], inputs: Any, create_graph: bool = False) -> Any:
    """d func(inputs) / d inputs, shaped output.shape + input.shape (per input when several)."""
    many, xs = _inputs(inputs)
    with enable_grad():
        out = func(*xs)
        flat = out.reshape(-1)
        rows: list[list] = [[] for _ in xs]
        for i in range(flat.shape[0]):
            gs = grad(flat[i], xs, retain_graph=True, create_graph=create_graph, allow_unused=True)
            for k, (x, g) in enumerate(zip(xs, gs)):
                rows[k].append(dispatch.zeros(x.shape, x.dtype, x._be) if g is None else g)
    blocks = []
    n = len(rows[0]) if rows else 0
    for x, r in zip(xs, rows):
        # stack the rows as a sum of outer products with unit vectors: differentiable again
        # (create_graph=True), with nothing but tensor methods; these are small teaching functions
        j = dispatch.zeros((n, x.numel()), x.dtype, x._be)
        for i, g in enumerate(r):
            unit = dispatch.from_list([1.0 if k == i else 0.0 for k in range(n)], (n, 1), x.dtype, x._be)
            j = j + unit * g.reshape(1, -1)
        blocks.append(j.reshape(tuple(out.shape) + tuple(x.shape)))
    return tuple(blocks) if many else blocks[0]


def hessian(func: Callable[..., Any], inputs: Any) -> Any:
    """Second derivatives of a scalar function: shape x.shape + x.shape (one input)."""
    many, xs = _inputs(inputs)
    if many:
        return tuple(hessian(lambda x, k=k: func(*(xs[:k] + (x,) + xs[k + 1:])), xs[k]) for k in range(len(xs)))
    x = xs[0]

    def gradient(v: Any) -> Any:
        (g,) = grad(func(v), (v,), create_graph=True)
        return g
    return jacobian(gradient, x)
