"""Fit y = sin(pi x) on 1,000 points in [-3, 3] with a 1-64-1 ReLU MLP and MSE (Adam, full batch).

Prints the loss every 200 steps; writes sine.png with the fit when matplotlib is installed.

    python examples/sine.py [--steps 3000] [--backend numba] [--plot sine.png]
"""
from __future__ import annotations

import argparse
import math
from typing import Optional

import tinygrad_like as tg
from tinygrad_like import nn

from plotting import pyplot, save


def data(n: int = 1000) -> tuple:
    x = tg.linspace(-3, 3, n).reshape(-1, 1)
    return x, (x * math.pi).sin()


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 1))


def main(steps: int = 3000, lr: float = 0.01, n: int = 1000, backend: Optional[str] = None,
         plot: Optional[str] = "sine.png", seed: int = 2, verbose: bool = True) -> float:
    """Train; returns the final mean squared error."""
    if backend:
        tg.set_backend(backend)
    tg.manual_seed(seed)  # ReLU nets on this task can stall in a plateau (mse ~0.09) for some inits
    x, y = data(n)
    model = make_model()
    opt = tg.optim.Adam(model.parameters(), lr=lr)
    sched = tg.optim.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 100)
    for step in range(1, steps + 1):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if verbose and (step % 200 == 0 or step == 1):
            print(f"step {step:5d}  mse {loss.item():.5f}")
    with tg.no_grad():
        mse = nn.functional.mse_loss(model(x), y).item()
    if verbose:
        print(f"final mse {mse:.5f} on backend {tg.get_backend()}")
    if plot:
        _plot(x, y, model, plot, verbose)
    return mse


def _plot(x: tg.Tensor, y: tg.Tensor, model: nn.Module, path: str, verbose: bool) -> None:
    plt = pyplot(verbose)
    if plt is None:
        return
    with tg.no_grad():
        pred = model(x).reshape(-1).tolist()
    xs = x.reshape(-1).tolist()
    plt.figure(figsize=(7, 3.5))
    plt.plot(xs, y.reshape(-1).tolist(), label="sin(pi x)")
    plt.plot(xs, pred, "--", label="1-64-1 MLP")
    save(plt, path, verbose)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--backend", default=None)
    p.add_argument("--plot", default="sine.png", help="output image (needs matplotlib); '' for none")
    a = p.parse_args()
    main(a.steps, a.lr, backend=a.backend, plot=a.plot or None)
