"""Train a 784-128-10 MLP on MNIST with SGD + momentum and report test accuracy and time per epoch.

    python examples/mnist_mlp.py                       # the shipped 5,000-digit sample, 10 epochs
    python examples/mnist_mlp.py --data ~/mnist        # full MNIST (the four standard IDX files, gzip or raw)
    python examples/mnist_mlp.py --backend python --epochs 1 --train-limit 1000
    python examples/mnist_mlp.py --torch               # the same model in PyTorch, for reference
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Optional

import tinygrad_like as tg
from tinygrad_like import nn
from tinygrad_like.data import DataLoader, TensorDataset, mnist_datasets
from tinygrad_like.progress import Progress


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


@tg.no_grad()
def evaluate(model: nn.Module, data: TensorDataset, batch_size: int = 1000) -> float:
    """Fraction of correctly classified examples."""
    model.eval()
    correct = 0
    for x, y in DataLoader(data, batch_size=batch_size):
        correct += int((model(x).argmax(1) == y).sum().item())
    model.train()
    return correct / len(data)


def main(epochs: int = 10, data: Optional[str] = None, backend: Optional[str] = None, batch_size: int = 64,
         lr: float = 0.1, momentum: float = 0.9, train_limit: Optional[int] = None, seed: int = 0,
         verbose: bool = True) -> dict:
    """Train and evaluate; returns {'accuracy', 'epoch_times', 'backend', 'losses'}."""
    if backend:
        tg.set_backend(backend)
    tg.manual_seed(seed)
    train, test = mnist_datasets(data)
    if train_limit:
        train = TensorDataset(*(t[:train_limit] for t in train.tensors))
    model = make_model()
    opt = tg.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True)
    say = print if verbose else (lambda *a, **k: None)
    say(f"backend {tg.get_backend()}: {len(train)} training / {len(test)} test images, {len(loader)} batches of {batch_size}")
    epoch_times, losses = [], []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        total, count = 0.0, 0
        bar = Progress(loader, desc=f"epoch {epoch}", disable=None if verbose else True)
        for x, y in bar:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * y.shape[0]
            count += y.shape[0]
            bar.set_postfix(loss=total / count)
        epoch_times.append(time.perf_counter() - t0)
        losses.append(total / count)
        acc = evaluate(model, test)
        say(f"epoch {epoch:2d}  loss {total / count:.4f}  test accuracy {acc:.2%}  time {epoch_times[-1]:.2f} s")
    acc = evaluate(model, test)
    warm = sorted(epoch_times[1:] or epoch_times)
    say(f"final test accuracy {acc:.2%}; median time per epoch {warm[len(warm) // 2]:.2f} s on {tg.get_backend()} "
        f"(epochs 2+; the first took {epoch_times[0]:.2f} s including warm-up)")
    return {"accuracy": acc, "epoch_times": epoch_times, "backend": tg.get_backend(), "losses": losses}


def torch_reference(epochs: int = 10, data: Optional[str] = None, batch_size: int = 64, lr: float = 0.1,
                    momentum: float = 0.9, seed: int = 0) -> dict:
    """The same model, data order policy and optimizer in PyTorch (needs torch installed)."""
    import torch
    torch.manual_seed(seed)
    train, test = mnist_datasets(data)
    xs = [torch.tensor(t.tensors[0].numpy()) for t in (train, test)]
    ys = [torch.tensor(t.tensors[1].numpy()) for t in (train, test)]
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    times = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(len(ys[0]))
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            loss = torch.nn.functional.cross_entropy(model(xs[0][idx]), ys[0][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        with torch.no_grad():
            acc = (model(xs[1]).argmax(1) == ys[1]).float().mean().item()
        print(f"torch epoch {epoch:2d}  test accuracy {acc:.2%}  time {times[-1]:.3f} s")
    return {"accuracy": acc, "epoch_times": times, "backend": "torch"}


def parse_args(argv: Any = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--data", default=None, help="folder with the four MNIST IDX files (default: the shipped sample)")
    p.add_argument("--backend", default=None, help="python, numba or c (default: the fastest that loads)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--train-limit", type=int, default=None, help="train on the first N images only (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch", action="store_true", help="run the same model in PyTorch instead")
    return p.parse_args(argv)


if __name__ == "__main__":
    a = parse_args()
    if a.torch:
        torch_reference(a.epochs, a.data, a.batch_size, a.lr, a.momentum, a.seed)
    else:
        main(a.epochs, a.data, a.backend, a.batch_size, a.lr, a.momentum, a.train_limit, a.seed)
