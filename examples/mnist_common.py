"""The data loading, training loop, evaluation and command line that the two MNIST examples share.

A module, not a script: `mnist_mlp.py` and `mnist_cnn.py` import it as a sibling and differ only in
their model, their learning rate and the figures they print at the end.
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Optional

import tinygrad_like as tg
from tinygrad_like import nn
from tinygrad_like.data import DataLoader, TensorDataset, mnist_datasets
from tinygrad_like.progress import Progress


def load(data: Optional[str], train_limit: Optional[int] = None,
         test_limit: Optional[int] = None) -> tuple[TensorDataset, TensorDataset]:
    """The (train, test) datasets from `data` (default: the shipped sample), each cut to its limit."""
    train, test = mnist_datasets(data)
    if train_limit:
        train = TensorDataset(*(t[:train_limit] for t in train.tensors))
    if test_limit:
        test = TensorDataset(*(t[:test_limit] for t in test.tensors))
    return train, test


@tg.no_grad()
def evaluate(model: nn.Module, data: TensorDataset, batch_size: int = 1000) -> float:
    """Fraction of correctly classified examples."""
    model.eval()
    correct = 0
    for x, y in DataLoader(data, batch_size=batch_size):
        correct += int((model(x).argmax(1) == y).sum().item())
    model.train()
    return correct / len(data)


def train(model: nn.Module, train_set: TensorDataset, test_set: TensorDataset, *, epochs: int, batch_size: int,
          lr: float, momentum: float, verbose: bool, eval_batch_size: int = 1000, per_step: bool = False,
          jit: bool = False) -> dict:
    """SGD + momentum on cross-entropy, testing after each epoch; `jit` replays the captured
    training step with tg.jit.

    Returns {'accuracy', 'epoch_times', 'losses', 'steps'}; `per_step` adds the time per step to each
    epoch's line.
    """
    opt = tg.optim.SGD(model.parameters(), lr=lr, momentum=momentum)

    def step(x: tg.Tensor, y: tg.Tensor) -> tg.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    if jit:
        step = tg.jit(step)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    say = print if verbose else (lambda *a, **k: None)
    say(f"backend {tg.get_backend()}: {len(train_set)} training / {len(test_set)} test images, "
        f"{len(loader)} batches of {batch_size}")
    epoch_times, losses = [], []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        total, count = 0.0, 0
        bar = Progress(loader, desc=f"epoch {epoch}", disable=None if verbose else True)
        for x, y in bar:
            loss = step(x, y)
            total += loss.item() * y.shape[0]
            count += y.shape[0]
            bar.set_postfix(loss=total / count)
        epoch_times.append(time.perf_counter() - t0)
        losses.append(total / count)
        acc = evaluate(model, test_set, eval_batch_size)
        per = f" ({1000 * epoch_times[-1] / len(loader):.2f} ms/step)" if per_step else ""
        say(f"epoch {epoch:2d}  loss {total / count:.4f}  test accuracy {acc:.2%}  time {epoch_times[-1]:.2f} s{per}")
    acc = evaluate(model, test_set, eval_batch_size)
    return {"accuracy": acc, "epoch_times": epoch_times, "losses": losses, "steps": len(loader)}


def median_warm(times: list[float]) -> float:
    """The median of the times after the first (which includes compilation and warm-up)."""
    warm = sorted(times[1:] or times)
    return warm[len(warm) // 2]


def torch_train(make_model: Callable[[Any], Any], epochs: int, data: Optional[str], batch_size: int, lr: float,
                momentum: float, train_limit: Optional[int], seed: int, per_step: bool = False) -> dict:
    """The same data, optimizer and loop in PyTorch (needs torch); `make_model(torch)` builds the model.

    Returns {'accuracy', 'epoch_times', 'backend', 'steps'}.
    """
    import torch  # optional: only this reference run needs it

    torch.manual_seed(seed)
    train_set, test_set = mnist_datasets(data)
    xs = [torch.tensor(t.tensors[0].numpy()) for t in (train_set, test_set)]
    ys = [torch.tensor(t.tensors[1].numpy()) for t in (train_set, test_set)]
    if train_limit:
        xs[0], ys[0] = xs[0][:train_limit], ys[0][:train_limit]
    model = make_model(torch)
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
        took = f"{times[-1]:.2f} s ({1000 * times[-1] / steps:.2f} ms/step)" if per_step else f"{times[-1]:.3f} s"
        print(f"torch epoch {epoch:2d}  test accuracy {acc:.2%}  time {took}")
    return {"accuracy": acc, "epoch_times": times, "backend": "torch", "steps": steps}


def parse_args(doc: str, lr: float, argv: Any = None) -> argparse.Namespace:
    """The examples' shared flags; `doc` is the script's help text and `lr` its default learning rate."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--data", default=None, help="folder with the four MNIST IDX files (default: the shipped sample)")
    p.add_argument("--backend", default=None, help="python, numba or c (default: the fastest that loads)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--train-limit", type=int, default=None, help="train on the first N images only (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch", action="store_true", help="run the same model in PyTorch instead")
    p.add_argument("--jit", action="store_true", help="capture the training step once and replay it (tg.jit)")
    return p.parse_args(argv)
