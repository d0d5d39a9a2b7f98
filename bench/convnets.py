"""Convolution benchmarks' bodies: conv/pool/batch-norm calls and the LeNet-5 training step, written
once against PyTorch's API and run on tinygrad_like (any backend) or on torch."""
from __future__ import annotations

import math
from typing import Any, Callable

from bench import impls as I
from bench.model import Skip

LR = 0.01


def lib_of(impl: str) -> Any:
    """tinygrad_like or torch; numpy has no convolution (Skip)."""
    if impl == "numpy":
        raise Skip("numpy has no convolution")
    if impl == "torch":
        return I.torch()
    import tinygrad_like as tg
    return tg


def conv(impl: str, n: int, c: int, oc: int, hw: int, k: int, pad: int, backward: bool) -> Callable[[], Any]:
    """conv2d of (n, c, hw, hw) with (oc, c, k, k) weights and bias; with backward, also the
    gradients of input, weight and bias."""
    lib = lib_of(impl)
    x = I.randn(impl, (n, c, hw, hw), seed=1, requires_grad=backward)
    w = I.from_numpy(impl, _uniform((oc, c, k, k), 1.0 / math.sqrt(c * k * k), 2), requires_grad=backward)
    b = I.from_numpy(impl, _uniform((oc,), 1.0 / math.sqrt(c * k * k), 3), requires_grad=backward)
    F = lib.nn.functional
    if not backward:
        return lambda: F.conv2d(x, w, b, padding=pad)

    def step() -> Any:
        out = F.conv2d(x, w, b, padding=pad)
        out.sum().backward()
        for t in (x, w, b):
            t.grad = None
        return out
    return step


def max_pool(impl: str, shape: tuple, backward: bool) -> Callable[[], Any]:
    lib = lib_of(impl)
    x = I.randn(impl, shape, seed=4, requires_grad=backward)
    F = lib.nn.functional
    if not backward:
        return lambda: F.max_pool2d(x, 2)

    def step() -> Any:
        out = F.max_pool2d(x, 2)
        out.sum().backward()
        x.grad = None
        return out
    return step


def batch_norm(impl: str, shape: tuple) -> Callable[[], Any]:
    """Training-mode batch norm forward + backward (affine), running statistics updated."""
    lib = lib_of(impl)
    x = I.randn(impl, shape, seed=5, requires_grad=True)
    c = shape[1]
    import numpy as np
    w = I.from_numpy(impl, np.ones(c, np.float32), requires_grad=True)
    b = I.from_numpy(impl, np.zeros(c, np.float32), requires_grad=True)
    rm, rv = I.from_numpy(impl, np.zeros(c, np.float32)), I.from_numpy(impl, np.ones(c, np.float32))
    F = lib.nn.functional

    def step() -> Any:
        out = F.batch_norm(x, rm, rv, w, b, training=True)
        out.sum().backward()
        for t in (x, w, b):
            t.grad = None
        return out
    return step


def _uniform(shape: tuple, bound: float, seed: int) -> Any:
    import numpy as np
    return np.random.default_rng(seed).uniform(-bound, bound, shape).astype(np.float32)


LENET = [("c1", (6, 1, 5, 5)), ("c2", (16, 6, 5, 5)), ("f1", (120, 400)), ("f2", (84, 120)), ("f3", (10, 84))]
LENET_MACS = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10  # forward, per image


def lenet_step(impl: str, n: int) -> Callable[[], Any]:
    """One SGD step of LeNet-5 (conv 5x5 6 pad 2, relu, pool 2, conv 5x5 16, relu, pool 2,
    400-120-84-10) on a batch of n random 28x28 images with cross-entropy."""
    import numpy as np
    lib = lib_of(impl)
    F = lib.nn.functional
    ps = []
    for _, shape in LENET:
        fan_in = int(np.prod(shape[1:]))
        bound = 1.0 / math.sqrt(fan_in)
        ps.append(I.from_numpy(impl, _uniform(shape, bound, len(ps) + 10), requires_grad=True))
        ps.append(I.from_numpy(impl, _uniform(shape[:1], bound, len(ps) + 10), requires_grad=True))
    rng = np.random.default_rng(0)
    x = I.from_numpy(impl, rng.standard_normal((n, 1, 28, 28)).astype(np.float32))
    y = I.from_numpy(impl, rng.integers(0, 10, n))
    w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = ps

    def step() -> Any:
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2)), 2).flatten(1)
        out = F.linear(F.relu(F.linear(F.relu(F.linear(h, w3, b3)), w4, b4)), w5, b5)
        loss = F.cross_entropy(out, y)
        I.backward_and_sgd(lib, loss, ps, LR)
        return loss
    return step
