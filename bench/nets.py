"""The two training steps (MNIST-shaped MLP with cross-entropy, sine MLP with MSE) per impl.

Ours and PyTorch's run one body (_autograd_step) on each library's own API: weights are leaf
tensors, nn.functional's linear, relu and cross_entropy (or mse_loss), backward, and the SGD
update p.sub_(p.grad, alpha=lr) under no_grad. numpy: a hand-written forward and backward.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from bench import convnets
from bench import impls as I

LR = 0.01
MLP_SIZES = [784, 256, 10]
SINE_SIZES = [1, 64, 1]


def init_params(sizes: list, seed: int) -> list:
    """numpy float32 weights (out, in) and biases, PyTorch-Linear-like uniform init."""
    import numpy as np
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))
    return params


def mlp_data(batch: int, dims: list, seed: int = 0) -> tuple:
    """Random inputs and int64 class labels of the MNIST MLP shape."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, dims[0])).astype(np.float32), rng.integers(0, dims[-1], batch)


def sine_data(n: int) -> tuple:
    """n points in [-3, 3] and sin(pi x), as (n, 1) float32 arrays."""
    import numpy as np
    x = np.linspace(-3, 3, n, dtype=np.float32).reshape(n, 1)
    return x, np.sin(np.pi * x).astype(np.float32)


def make_step(impl: str, task: str, n: int) -> Callable[[], Any]:
    """One SGD step of `task` ('mlp': 784-256-10 on a batch of n; 'sine': 1-64-1 on n points;
    'lenet': LeNet-5 on n 28x28 images)."""
    if task == "lenet":
        return convnets.lenet_step(impl, n)
    if task == "mlp":
        sizes = MLP_SIZES
        x, y = mlp_data(n, sizes)
    else:
        sizes = SINE_SIZES
        x, y = sine_data(n)
    params = init_params(sizes, seed=1)
    builder = {"numpy": _numpy_step, "torch": _torch_step}.get(impl, _tg_step)
    return builder(impl, task, x, y, params)


def _tg_step(impl: str, task: str, x: Any, y: Any, params: list) -> Callable[[], Any]:
    import tinygrad_like as tg
    tensors = [I.from_numpy(impl, p, requires_grad=True) for p in params]
    return _autograd_step(tg, task, tensors, I.from_numpy(impl, x), I.from_numpy(impl, y))


def _torch_step(impl: str, task: str, x: Any, y: Any, params: list) -> Callable[[], Any]:
    torch = I.torch()
    tensors = [torch.from_numpy(p.copy()).requires_grad_() for p in params]
    return _autograd_step(torch, task, tensors, torch.from_numpy(x.copy()), torch.from_numpy(y.copy()))


def _autograd_step(lib: Any, task: str, ps: list, xt: Any, yt: Any) -> Callable[[], Any]:
    """The step of an autograd library with PyTorch's API (`lib` is tinygrad_like or torch)."""
    F = lib.nn.functional
    w1, b1, w2, b2 = ps

    def step() -> Any:
        out = F.linear(F.relu(F.linear(xt, w1, b1)), w2, b2)
        loss = F.cross_entropy(out, yt) if task == "mlp" else F.mse_loss(out, yt)
        I.backward_and_sgd(lib, loss, ps, LR)
        return loss
    return step


def _numpy_step(impl: str, task: str, x: Any, y: Any, params: list) -> Callable[[], Any]:
    import numpy as np
    w1, b1, w2, b2 = [p.copy() for p in params]
    n = x.shape[0]

    def step() -> Any:
        nonlocal w1, b1, w2, b2
        hp = x @ w1.T + b1
        h = np.maximum(hp, 0)
        out = h @ w2.T + b2
        if task == "mlp":
            z = out - out.max(axis=1, keepdims=True)
            e = np.exp(z)
            p = e / e.sum(axis=1, keepdims=True)
            loss = -np.log(p[np.arange(n), y]).mean()
            dout = p
            dout[np.arange(n), y] -= 1
            dout /= n
        else:
            d = out - y
            loss = (d * d).mean()
            dout = (2.0 / d.size) * d
        dw2 = dout.T @ h
        db2 = dout.sum(0)
        dh = dout @ w2
        dh *= hp > 0
        dw1 = dh.T @ x
        db1 = dh.sum(0)
        w1 -= LR * dw1
        b1 -= LR * db1
        w2 -= LR * dw2
        b2 -= LR * db2
        return loss
    return step
