"""Learn y = 2x + 1 with one Linear(1, 1) layer, MSE and plain SGD: w -> 2.00, b -> 1.00.

    python examples/linear_regression.py [--steps 300] [--backend numba]
"""
from __future__ import annotations

import argparse
from typing import Optional

import tinygrad_like as tg
from tinygrad_like import nn


def main(steps: int = 300, lr: float = 0.1, backend: Optional[str] = None, verbose: bool = True) -> tuple:
    """Train; returns (w, b, final loss) as Python floats."""
    if backend:
        tg.set_backend(backend)
    tg.manual_seed(0)
    x = tg.linspace(-1, 1, 100).reshape(-1, 1)
    y = 2 * x + 1
    model = nn.Linear(1, 1)
    opt = tg.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    for step in range(1, steps + 1):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if verbose and (step % 50 == 0 or step == 1):
            print(f"step {step:4d}  loss {loss.item():.6f}  w {model.weight.item():.4f}  b {model.bias.item():.4f}")
    w, b = model.weight.item(), model.bias.item()
    if verbose:
        print(f"learned y = {w:.2f} x + {b:.2f}  (target y = 2.00 x + 1.00) on backend {tg.get_backend()}")
    return w, b, loss.item()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--backend", default=None)
    a = p.parse_args()
    main(a.steps, a.lr, a.backend)
