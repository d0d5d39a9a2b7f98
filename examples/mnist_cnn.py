"""Train LeNet-5 on MNIST with SGD + momentum and report test accuracy and time per epoch.

    python examples/mnist_cnn.py                       # the shipped 5,000-digit sample, 10 epochs
    python examples/mnist_cnn.py --backend numba --epochs 3
    python examples/mnist_cnn.py --backend python --epochs 1 --train-limit 256
    python examples/mnist_cnn.py --torch               # the same model in PyTorch, side by side

LeNet-5: conv 5x5 (6 channels, padding 2), ReLU, max-pool 2, conv 5x5 (16), ReLU, max-pool 2,
then 400-120-84-10 fully connected with ReLUs; cross-entropy, batches of 64.
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Optional

import tinygrad_like as tg
from tinygrad_like import nn
from tinygrad_like.data import DataLoader, TensorDataset, mnist_datasets
from tinygrad_like.progress import Progress


MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels (in [0, 1])


class LeNet(nn.Module):
    """LeNet-5 on (N, 784) or (N, 1, 28, 28) images; `lib` is tinygrad_like or torch (same API)."""

    def __init__(self, lib: Any = tg):
        super().__init__() if lib is tg else None
        L = lib.nn
        self.features = L.Sequential(L.Conv2d(1, 6, 5, padding=2), L.ReLU(), L.MaxPool2d(2),
                                     L.Conv2d(6, 16, 5), L.ReLU(), L.MaxPool2d(2))
        self.classifier = L.Sequential(L.Linear(400, 120), L.ReLU(), L.Linear(120, 84), L.ReLU(), L.Linear(84, 10))

    def forward(self, x: Any) -> Any:
        x = (x.reshape(-1, 1, 28, 28) - MEAN) / STD  # standardized pixels: the plateau at chance is shorter
        return self.classifier(self.features(x).flatten(1))


def make_model() -> nn.Module:
    return LeNet()


@tg.no_grad()
def evaluate(model: nn.Module, data: TensorDataset, batch_size: int = 500) -> float:
    """Fraction of correctly classified examples."""
    model.eval()
    correct = 0
    for x, y in DataLoader(data, batch_size=batch_size):
        correct += int((model(x).argmax(1) == y).sum().item())
    model.train()
    return correct / len(data)


def main(epochs: int = 10, data: Optional[str] = None, backend: Optional[str] = None, batch_size: int = 64,
         lr: float = 0.05, momentum: float = 0.9, train_limit: Optional[int] = None, seed: int = 0,
         verbose: bool = True, test_limit: Optional[int] = None) -> dict:
    """Train and evaluate; returns {'accuracy', 'epoch_times', 'step_ms', 'backend', 'losses'}."""
    if backend:
        tg.set_backend(backend)
    tg.manual_seed(seed)
    train, test = mnist_datasets(data)
    if train_limit:
        train = TensorDataset(*(t[:train_limit] for t in train.tensors))
    if test_limit:
        test = TensorDataset(*(t[:test_limit] for t in test.tensors))
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
        say(f"epoch {epoch:2d}  loss {total / count:.4f}  test accuracy {acc:.2%}  time {epoch_times[-1]:.2f} s "
            f"({1000 * epoch_times[-1] / len(loader):.2f} ms/step)")
    acc = evaluate(model, test)
    warm = sorted(epoch_times[1:] or epoch_times)
    step_ms = 1000 * warm[len(warm) // 2] / len(loader)
    say(f"final test accuracy {acc:.2%}; median {step_ms:.2f} ms per step on {tg.get_backend()} (epochs 2+)")
    return {"accuracy": acc, "epoch_times": epoch_times, "step_ms": step_ms, "backend": tg.get_backend(),
            "losses": losses}


def torch_reference(epochs: int = 10, data: Optional[str] = None, batch_size: int = 64, lr: float = 0.05,
                    momentum: float = 0.9, train_limit: Optional[int] = None, seed: int = 0) -> dict:
    """The same model, data and optimizer in PyTorch (needs torch installed)."""
    import torch

    class TorchLeNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            LeNet.__init__(self, torch)  # the same layers, built from torch.nn

        forward = LeNet.forward

    torch.manual_seed(seed)
    train, test = mnist_datasets(data)
    xs = [torch.tensor(t.tensors[0].numpy()) for t in (train, test)]
    ys = [torch.tensor(t.tensors[1].numpy()) for t in (train, test)]
    if train_limit:
        xs[0], ys[0] = xs[0][:train_limit], ys[0][:train_limit]
    model = TorchLeNet()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    times = []
    steps = (len(ys[0]) + batch_size - 1) // batch_size
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
        model.eval()
        with torch.no_grad():
            acc = (model(xs[1]).argmax(1) == ys[1]).float().mean().item()
        model.train()
        print(f"torch epoch {epoch:2d}  test accuracy {acc:.2%}  time {times[-1]:.2f} s ({1000 * times[-1] / steps:.2f} ms/step)")
    warm = sorted(times[1:] or times)
    step_ms = 1000 * warm[len(warm) // 2] / steps
    print(f"torch final test accuracy {acc:.2%}; median {step_ms:.2f} ms per step (epochs 2+)")
    return {"accuracy": acc, "epoch_times": times, "step_ms": step_ms, "backend": "torch"}


def parse_args(argv: Any = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--data", default=None, help="folder with the four MNIST IDX files (default: the shipped sample)")
    p.add_argument("--backend", default=None, help="python, numba or c (default: the fastest that loads)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--train-limit", type=int, default=None, help="train on the first N images only (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch", action="store_true", help="run the same model in PyTorch instead")
    return p.parse_args(argv)


if __name__ == "__main__":
    a = parse_args()
    if a.torch:
        torch_reference(a.epochs, a.data, a.batch_size, a.lr, a.momentum, a.train_limit, a.seed)
    else:
        main(a.epochs, a.data, a.backend, a.batch_size, a.lr, a.momentum, a.train_limit, a.seed)
