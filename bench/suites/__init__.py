"""The suites, in the order `python -m bench` runs them; each module has run(cfg) -> rows."""
from __future__ import annotations

import importlib
from typing import Any

NAMES = ("overhead", "elementwise", "broadcast", "reductions", "matmul", "indexing", "training", "conv", "attention", "jit", "scaling",
         "startup", "threads")
TITLES = {
    "overhead": "Per-op overhead (tiny tensors: the cost of the Python core)",
    "elementwise": "Elementwise ops (GB/s = bytes read + written per second)",
    "broadcast": "Broadcasting and views, float32",
    "reductions": "Reductions and softmax, float32",
    "matmul": "Matmul (GFLOP/s = 2*M*N*K / time; % of the machine's float32 peak)",
    "indexing": "Indexing, sorting, scans and einsum, float32",
    "training": "Training steps (forward + backward + SGD update)",
    "conv": "Convolution, pooling, batch norm and the LeNet-5 step, float32 (GFLOP/s = 2 * multiply-adds / time)",
    "attention": "Attention: causal SDPA forward + backward, and the makemore transformer's AdamW step",
    "jit": "tg.jit: training steps captured once and replayed, against PyTorch eager",
    "scaling": "Scalar autograd (one node per number) vs tensor autograd, sine MLP 1-64-1 step",
    "startup": "Start-up: fresh process, import to first result",
    "threads": "Thread pools: numpy matmul 128 interleaved with our ops (time per pair)",
}


def load(name: str) -> Any:
    """The suite module called `name`."""
    if name not in NAMES:
        raise ValueError(f"unknown suite {name!r}; valid suites: {', '.join(NAMES)}")
    return importlib.import_module(f"bench.suites.{name}")
