"""Train LeNet-5 on MNIST with SGD + momentum and report test accuracy and time per epoch.

    python examples/mnist_cnn.py                       # the shipped 5,000-digit sample, 10 epochs
    python examples/mnist_cnn.py --backend numba --epochs 3
    python examples/mnist_cnn.py --backend python --epochs 1 --train-limit 256
    python examples/mnist_cnn.py --torch               # the same model in PyTorch, side by side
    python examples/mnist_cnn.py --jit                 # the training step captured once and replayed (tg.jit)

LeNet-5: conv 5x5 (6 channels, padding 2), ReLU, max-pool 2, conv 5x5 (16), ReLU, max-pool 2,
then 400-120-84-10 fully connected with ReLUs; cross-entropy, batches of 64.
"""
from __future__ import annotations

import argparse
from typing import Any, Optional

import tinygrad_like as tg
from tinygrad_like import nn

import mnist_common


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


def main(epochs: int = 10, data: Optional[str] = None, backend: Optional[str] = None, batch_size: int = 64,
         lr: float = 0.05, momentum: float = 0.9, train_limit: Optional[int] = None, seed: int = 0, jit: bool = False,
         verbose: bool = True, test_limit: Optional[int] = None) -> dict:
    """Train and evaluate; returns {'accuracy', 'epoch_times', 'step_ms', 'backend', 'losses'}."""
    if backend:
        tg.set_backend(backend)
    tg.manual_seed(seed)
    train, test = mnist_common.load(data, train_limit, test_limit)
    res = mnist_common.train(make_model(), train, test, epochs=epochs, batch_size=batch_size, lr=lr,
                             momentum=momentum, verbose=verbose, jit=jit, eval_batch_size=500, per_step=True)
    step_ms = 1000 * mnist_common.median_warm(res["epoch_times"]) / res["steps"]
    if verbose:
        print(f"final test accuracy {res['accuracy']:.2%}; median {step_ms:.2f} ms per step on {tg.get_backend()} "
              "(epochs 2+)")
    return {"accuracy": res["accuracy"], "epoch_times": res["epoch_times"], "step_ms": step_ms,
            "backend": tg.get_backend(), "losses": res["losses"]}


def torch_reference(epochs: int = 10, data: Optional[str] = None, batch_size: int = 64, lr: float = 0.05,
                    momentum: float = 0.9, train_limit: Optional[int] = None, seed: int = 0) -> dict:
    """The same model, data and optimizer in PyTorch (needs torch installed)."""
    res = mnist_common.torch_train(torch_lenet, epochs, data, batch_size, lr, momentum, train_limit, seed,
                                   per_step=True)
    step_ms = 1000 * mnist_common.median_warm(res["epoch_times"]) / res["steps"]
    print(f"torch final test accuracy {res['accuracy']:.2%}; median {step_ms:.2f} ms per step (epochs 2+)")
    return {"accuracy": res["accuracy"], "epoch_times": res["epoch_times"], "step_ms": step_ms, "backend": "torch"}


def torch_lenet(torch: Any) -> Any:
    """LeNet built from torch.nn, with the same layers and forward."""

    class TorchLeNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            LeNet.__init__(self, torch)  # the same layers, built from torch.nn

        forward = LeNet.forward

    return TorchLeNet()


def parse_args(argv: Any = None) -> argparse.Namespace:
    return mnist_common.parse_args(__doc__, lr=0.05, argv=argv)


if __name__ == "__main__":
    a = parse_args()
    if a.torch:
        torch_reference(a.epochs, a.data, a.batch_size, a.lr, a.momentum, a.train_limit, a.seed)
    else:
        main(a.epochs, a.data, a.backend, a.batch_size, a.lr, a.momentum, a.train_limit, a.seed, jit=a.jit)
