"""Train a 784-128-10 MLP on MNIST with SGD + momentum and report test accuracy and time per epoch.

    python examples/mnist_mlp.py                       # the shipped 5,000-digit sample, 10 epochs
    python examples/mnist_mlp.py --data ~/mnist        # full MNIST (the four standard IDX files, gzip or raw)
    python examples/mnist_mlp.py --backend python --epochs 1 --train-limit 1000
    python examples/mnist_mlp.py --torch               # the same model in PyTorch, for reference
    python examples/mnist_mlp.py --jit                 # the training step captured once and replayed (tg.jit)
"""
from __future__ import annotations

import argparse
from typing import Any, Optional

import tinygrad_like as tg

import mnist_common


def make_model(lib: Any = tg) -> Any:
    """The 784-128-10 MLP; `lib` is tinygrad_like or torch (same API)."""
    return lib.nn.Sequential(lib.nn.Linear(784, 128), lib.nn.ReLU(), lib.nn.Linear(128, 10))


def main(epochs: int = 10, data: Optional[str] = None, backend: Optional[str] = None, batch_size: int = 64,
         lr: float = 0.1, momentum: float = 0.9, train_limit: Optional[int] = None, seed: int = 0, jit: bool = False,
         verbose: bool = True, test_limit: Optional[int] = None) -> dict:
    """Train and evaluate; returns {'accuracy', 'epoch_times', 'backend', 'losses'}."""
    if backend:
        tg.set_backend(backend)
    tg.manual_seed(seed)
    train, test = mnist_common.load(data, train_limit, test_limit)
    res = mnist_common.train(make_model(), train, test, epochs=epochs, batch_size=batch_size, lr=lr,
                             momentum=momentum, verbose=verbose, jit=jit)
    epoch_times = res["epoch_times"]
    if verbose:
        print(f"final test accuracy {res['accuracy']:.2%}; median time per epoch "
              f"{mnist_common.median_warm(epoch_times):.2f} s on {tg.get_backend()} "
              f"(epochs 2+; the first took {epoch_times[0]:.2f} s including warm-up)")
    return {"accuracy": res["accuracy"], "epoch_times": epoch_times, "backend": tg.get_backend(),
            "losses": res["losses"]}


def torch_reference(epochs: int = 10, data: Optional[str] = None, batch_size: int = 64, lr: float = 0.1,
                    momentum: float = 0.9, seed: int = 0) -> dict:
    """The same model, data order policy and optimizer in PyTorch (needs torch installed)."""
    res = mnist_common.torch_train(make_model, epochs, data, batch_size, lr, momentum, None, seed)
    return {"accuracy": res["accuracy"], "epoch_times": res["epoch_times"], "backend": "torch"}


def parse_args(argv: Any = None) -> argparse.Namespace:
    return mnist_common.parse_args(__doc__, lr=0.1, argv=argv)


if __name__ == "__main__":
    a = parse_args()
    if a.torch:
        torch_reference(a.epochs, a.data, a.batch_size, a.lr, a.momentum, a.seed)
    else:
        main(a.epochs, a.data, a.backend, a.batch_size, a.lr, a.momentum, a.train_limit, a.seed, jit=a.jit)
