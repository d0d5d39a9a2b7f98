"""Scalar autograd (one graph node per number, micrograd-style) against the tensor engine.

Both train the same 1-64-1 ReLU MLP on y = sin(pi x) with MSE and SGD; we time one training
step (forward, backward, update) for N = 100, 1,000, 10,000 points on every backend, print a
table, and plot time vs N (log-log) to scalar_vs_tensor.png when matplotlib is installed.

    python examples/scalar_vs_tensor.py [--sizes 100 1000 10000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import gc
import math
import time
from typing import Any, Optional, Sequence

import tinygrad_like as tg
from tinygrad_like import nn

from plotting import pyplot, save
from scalar_autograd import ScalarMLP, sine_points

HIDDEN = 64


def make_model() -> nn.Module:
    """The 1-64-1 ReLU MLP (as in examples/sine.py)."""
    return nn.Sequential(nn.Linear(1, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))


def tensor_step(model: nn.Module, opt: Any, x: tg.Tensor, y: tg.Tensor) -> float:
    """One SGD step of the tensor engine; returns the loss."""
    loss = nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def initial_params(seed: int = 0) -> dict:
    """The same starting weights for both engines (from tg's seeded Linear init), as flat lists."""
    tg.manual_seed(seed)
    return {k: v.reshape(-1).tolist() for k, v in make_model().state_dict().items()}


def compare(n: int = 16, lr: float = 0.05, backend: Optional[str] = None) -> dict:
    """One step of each engine from the same weights: losses and gradients (they should agree)."""
    xs, ys = sine_points(n)
    mlp = ScalarMLP(initial_params())
    scalar_loss = mlp.step(xs, ys, lr)
    be = backend or tg.get_backend()
    model = make_model().to(be).double()
    model.load_state_dict({k: tg.tensor(v, dtype=tg.float64, backend=be).reshape(p.shape)
                           for (k, v), p in zip(initial_params().items(), model.parameters())})
    x = tg.tensor(xs, dtype=tg.float64, backend=be).reshape(-1, 1)
    y = tg.tensor(ys, dtype=tg.float64, backend=be).reshape(-1, 1)
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    return {"scalar_loss": scalar_loss, "tensor_loss": loss.item(),
            "scalar_grads": mlp.grads(),
            "tensor_grads": {k: p.grad.reshape(-1).tolist() for k, p in model.named_parameters()}}


def time_scalar(n: int, repeats: int) -> float:
    xs, ys = sine_points(n)
    mlp = ScalarMLP(initial_params())
    best = math.inf
    gc_was = gc.isenabled()
    gc.disable()  # the collector would scan millions of Value objects and dominate the time
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            mlp.step(xs, ys, 0.01)
            best = min(best, time.perf_counter() - t0)
    finally:
        if gc_was:
            gc.enable()
        gc.collect()
    return best


def time_tensor(n: int, backend: str, repeats: int) -> float:
    xs, ys = sine_points(n)
    tg.manual_seed(0)
    model = make_model().to(backend)
    opt = tg.optim.SGD(model.parameters(), lr=0.01)
    x = tg.tensor(xs, backend=backend).reshape(-1, 1)
    y = tg.tensor(ys, backend=backend).reshape(-1, 1)
    tensor_step(model, opt, x, y)  # warm-up (JIT compilation, caches)
    best = math.inf
    for _ in range(max(repeats, 3)):
        t0 = time.perf_counter()
        tensor_step(model, opt, x, y)
        best = min(best, time.perf_counter() - t0)
    return best


def time_torch(n: int, repeats: int) -> Optional[float]:
    try:
        import torch
    except ImportError:
        return None
    xs, ys = sine_points(n)
    x, y = torch.tensor(xs).reshape(-1, 1), torch.tensor(ys).reshape(-1, 1)
    model = torch.nn.Sequential(torch.nn.Linear(1, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    best = math.inf
    for _ in range(max(repeats, 3) + 1):
        t0 = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        best = min(best, time.perf_counter() - t0)
    return best


def main(sizes: Sequence[int] = (100, 1000, 10000), backends: Optional[Sequence[str]] = None, repeats: int = 3,
         plot: Optional[str] = "scalar_vs_tensor.png", torch_ref: bool = True, verbose: bool = True) -> list:
    """Time one training step per engine and N; returns rows {'n', 'scalar', <backend>: seconds, ...}."""
    backends = list(backends or tg.backends.available())
    rows = []
    for n in sizes:
        row = {"n": n, "scalar": time_scalar(n, 1 if n >= 10000 else repeats)}
        for be in backends:
            row[be] = time_tensor(n, be, repeats)
        if torch_ref:
            t = time_torch(n, repeats)
            if t is not None:
                row["torch"] = t
        rows.append(row)
    if verbose:
        print(table(rows))
    if plot:
        _plot(rows, plot, verbose)
    return rows


def table(rows: list) -> str:
    """A markdown table of seconds per training step (and the speed-up of the best engine)."""
    cols = [c for c in rows[0] if c != "n"]
    head = "| N | " + " | ".join(f"{c} (ms/step)" for c in cols) + " | scalar / best tensor |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    for r in rows:
        best = min(r[c] for c in cols if c not in ("scalar", "torch"))
        lines.append(f"| {r['n']:,} | " + " | ".join(f"{r[c] * 1e3:,.2f}" for c in cols) + f" | {r['scalar'] / best:,.0f}x |")
    return "\n".join(lines)


def _plot(rows: list, path: str, verbose: bool) -> None:
    plt = pyplot(verbose)
    if plt is None:
        return
    ns = [r["n"] for r in rows]
    plt.figure(figsize=(6, 4))
    for c in rows[0]:
        if c != "n":
            plt.loglog(ns, [r[c] for r in rows], "o-", label=c)
    plt.xlabel("N (points)")
    plt.ylabel("seconds per training step")
    plt.grid(True, which="both", alpha=0.3)
    save(plt, path, verbose)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    p.add_argument("--backends", nargs="+", default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--plot", default="scalar_vs_tensor.png", help="output image (needs matplotlib); '' for none")
    p.add_argument("--no-torch", action="store_true")
    a = p.parse_args()
    main(a.sizes, a.backends, a.repeats, a.plot or None, not a.no_torch)
