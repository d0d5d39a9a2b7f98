"""A micrograd-style scalar autograd (one graph node per number), for the scaling suite."""
from __future__ import annotations

import math
import random
from typing import Any, Callable


class Value:
    """A scalar that remembers how it was computed."""

    __slots__ = ("data", "grad", "_prev", "_back")

    def __init__(self, data: float, prev: tuple = (), back: Any = None):
        self.data = data
        self.grad = 0.0
        self._prev = prev
        self._back = back

    def __add__(self, other: Any) -> "Value":
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))

        def back() -> None:
            self.grad += out.grad
            other.grad += out.grad
        out._back = back
        return out

    __radd__ = __add__

    def __mul__(self, other: Any) -> "Value":
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))

        def back() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._back = back
        return out

    __rmul__ = __mul__

    def __neg__(self) -> "Value":
        return self * -1.0

    def __sub__(self, other: Any) -> "Value":
        return self + (-other if isinstance(other, Value) else -other)

    def relu(self) -> "Value":
        out = Value(self.data if self.data > 0 else 0.0, (self,))

        def back() -> None:
            self.grad += (out.data > 0) * out.grad
        out._back = back
        return out

    def backward(self) -> None:
        """Reverse-mode over the graph in topological order (iterative: no recursion limit)."""
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                order.append(v)
                continue
            if id(v) in seen:
                continue
            seen.add(id(v))
            stack.append((v, True))
            stack.extend((p, False) for p in v._prev)
        self.grad = 1.0
        for v in reversed(order):
            if v._back is not None:
                v._back()


def make_step(n: int, hidden: int = 64, lr: float = 0.01) -> Callable[[], float]:
    """One full-batch SGD step of the 1-64-1 ReLU MLP on n sine points, with scalars."""
    rng = random.Random(1)
    w1 = [Value(rng.uniform(-1, 1)) for _ in range(hidden)]
    b1 = [Value(rng.uniform(-1, 1)) for _ in range(hidden)]
    bound = 1 / math.sqrt(hidden)
    w2 = [Value(rng.uniform(-bound, bound)) for _ in range(hidden)]
    b2 = Value(0.0)
    params = w1 + b1 + w2 + [b2]
    xs = [-3 + 6 * i / max(1, n - 1) for i in range(n)]
    ys = [math.sin(math.pi * x) for x in xs]

    def step() -> float:
        loss = Value(0.0)
        for x, y in zip(xs, ys):
            out = b2
            for j in range(hidden):
                out = out + w2[j] * (w1[j] * x + b1[j]).relu()
            d = out - y
            loss = loss + d * d
        loss = loss * (1.0 / n)
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        return loss.data
    return step
