"""A micrograd-style scalar autograd (one graph node per number) and the 1-H-1 ReLU MLP on it.

Standard library only. `examples/scalar_vs_tensor.py` compares it with the tensor engine, and
the `scaling` suite of `python -m bench` times it as the `scalar` row: both use this module.
"""
from __future__ import annotations

import math
from typing import Any

# The layer names of nn.Sequential(Linear(1, H), ReLU(), Linear(H, 1)).state_dict(), in order.
NAMES = ("0.weight", "0.bias", "2.weight", "2.bias")


class Value:
    """One number in the graph: its value, its gradient and how to push the gradient to its inputs."""

    __slots__ = ("data", "grad", "_prev", "_backward")

    def __init__(self, data: float, prev: tuple = ()):
        self.data = data
        self.grad = 0.0
        self._prev = prev
        self._backward = None

    def __add__(self, other: Any) -> "Value":
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))

        def backward() -> None:
            self.grad += out.grad
            other.grad += out.grad
        out._backward = backward
        return out

    def __mul__(self, other: Any) -> "Value":
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))

        def backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = backward
        return out

    def relu(self) -> "Value":
        out = Value(self.data if self.data > 0 else 0.0, (self,))

        def backward() -> None:
            self.grad += (out.data > 0) * out.grad
        out._backward = backward
        return out

    def __neg__(self) -> "Value":
        return self * -1.0

    def __sub__(self, other: Any) -> "Value":
        return self + (-other)

    __radd__ = __add__
    __rmul__ = __mul__

    def backward(self) -> None:
        """Reverse mode over the graph in topological order."""
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # iterative topological sort (no recursion limit at 10^6 nodes)
            v, done = stack.pop()
            if done:
                order.append(v)
            elif id(v) not in seen:
                seen.add(id(v))
                stack.append((v, True))
                stack.extend((p, False) for p in v._prev)
        self.grad = 1.0
        for v in reversed(order):
            if v._backward is not None:
                v._backward()


class ScalarMLP:
    """The 1-H-1 ReLU MLP with one Value per weight, trained with MSE and plain SGD."""

    def __init__(self, params: dict[str, list[float]]):
        """`params`: flat lists of floats under the names in NAMES (weights (out, in) row-major)."""
        self.params = {k: [Value(float(v)) for v in params[k]] for k in NAMES}

    def loss(self, xs: list[float], ys: list[float]) -> Value:
        """Mean squared error over the points, as one graph."""
        w1, b1, w2, (b2,) = (self.params[k] for k in NAMES)
        loss = Value(0.0)
        for x, y in zip(xs, ys):
            out = b2
            for j in range(len(w1)):
                out = out + w2[j] * (w1[j] * x + b1[j]).relu()
            d = out - y
            loss = loss + d * d
        return loss * (1.0 / len(xs))

    def step(self, xs: list[float], ys: list[float], lr: float) -> float:
        """One full-batch SGD step; returns the loss before the update (the gradients stay in .grad)."""
        for vs in self.params.values():
            for v in vs:
                v.grad = 0.0
        loss = self.loss(xs, ys)
        loss.backward()
        for vs in self.params.values():
            for v in vs:
                v.data -= lr * v.grad
        return loss.data

    def grads(self) -> dict[str, list[float]]:
        """The gradients of the last step, as flat lists under the names in NAMES."""
        return {k: [v.grad for v in vs] for k, vs in self.params.items()}


def sine_points(n: int) -> tuple[list[float], list[float]]:
    """n evenly spaced points in [-3, 3] and sin(pi x) at each."""
    xs = [-3.0 + 6.0 * i / (n - 1) for i in range(n)] if n > 1 else [0.0]
    return xs, [math.sin(math.pi * x) for x in xs]
