"""The autograd graph: grad mode, graph nodes, and the backward pass (iterative, no recursion).

Each differentiable op (tinygrad_like/ops/) computes its result, then calls `record` with its
inputs and a `backward(grad) -> tuple of input grads` closure written right next to the
forward code. The closure captures what backward needs (the "saved tensors"); freeing the
graph drops the closure and with it those tensors. Backward rules are written with tensor
ops, so they need nothing from this module but the grad mode.

Grad mode is per thread, as in PyTorch: `no_grad()` in one thread leaves another thread's
recording alone, and every new thread starts with recording on.
"""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Optional

from .errors import AutogradError

BackwardFn = Callable[[Any], tuple]


class _GradMode(threading.local):
    enabled = True  # the class default is what every new thread sees first


grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return grad_mode.enabled


class _SetGrad:
    """Context manager and decorator that sets grad mode and restores it on exit."""

    mode = True

    def __enter__(self) -> None:
        self._prev = grad_mode.enabled
        grad_mode.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        grad_mode.enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = grad_mode.enabled
            grad_mode.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                grad_mode.enabled = prev
        return wrapper


class no_grad(_SetGrad):
    """`with tg.no_grad():` or `@tg.no_grad()`: ops inside record no graph."""

    mode = False


class enable_grad(_SetGrad):
    """Turns graph recording back on inside a no_grad block."""

    mode = True


class Node:
    """One recorded op: its name, its inputs and the closure that maps out-grad to input grads."""

    __slots__ = ("name", "inputs", "backward")

    def __init__(self, name: str, inputs: tuple, backward: Optional[BackwardFn]):
        self.name = name
        self.inputs = inputs
        self.backward = backward

    def __repr__(self) -> str:
        # PyTorch's spelling, so printed graphs read the same: <SumBackward0 object at 0x...>
        return f"<{self.name}Backward0 object at {id(self):#x}>"

    def free(self) -> None:
        self.backward = None
        self.inputs = ()

    @property
    def freed(self) -> bool:
        return self.backward is None


def record(out: Any, name: str, inputs: tuple, backward: BackwardFn) -> Any:
    """Attach a graph node to `out` when grad mode is on and some input requires grad."""
    if grad_mode.enabled:
        for x in inputs:
            if x.requires_grad:
                out.requires_grad = True
                out._node = Node(name, inputs, backward)
                break
    return out


def needs_grad(*inputs: Any) -> bool:
    """True when an op on `inputs` would be recorded (lets an op skip building its backward)."""
    return grad_mode.enabled and any(x.requires_grad for x in inputs)


def _topo_order(root: Any) -> list:
    """Non-leaf tensors reachable from root, each after every tensor that uses it (iterative DFS)."""
    order: list = []
    seen: set[int] = set()
    stack: list = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        node = t._node
        if node.backward is None:
            raise AutogradError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the graph "
                f"are freed when you call .backward(); at op {node.name}. Specify retain_graph=True "
                "if you need to backward through the graph a second time.")
        for p in node.inputs:
            if p._node is not None and p.requires_grad and id(p) not in seen:
                stack.append((p, False))
    order.reverse()
    return order


def run_backward(root: Any, grad: Any, retain_graph: bool) -> None:
    """Propagate `grad` from root to every leaf that requires grad, accumulating into `.grad`."""
    if root._node is None:  # a leaf: backward() just accumulates
        _accumulate(root, grad)
        return
    order = _topo_order(root)
    grads: dict[int, Any] = {id(root): grad}
    with no_grad():
        for t in order:
            g = grads.pop(id(t), None)
            node = t._node
            if g is None:
                continue
            if t._retains_grad:
                _accumulate(t, g)
            in_grads = node.backward(g)
            for p, pg in zip(node.inputs, in_grads):
                if pg is None or not p.requires_grad:
                    continue
                if p._node is None:
                    _accumulate(p, pg)
                else:
                    prev = grads.get(id(p))
                    grads[id(p)] = pg if prev is None else prev + pg
        if not retain_graph:
            for t in order:
                t._node.free()


def _accumulate(t: Any, g: Any) -> None:
    if g.dtype is not t.dtype:
        g = g.to(t.dtype)
    if g.shape != t.shape:
        g = g.expand(t.shape).contiguous()
    t.grad = g if t.grad is None else t.grad + g


_MAX_INDENT = 120


def graph_string(root: Any, max_lines: int = 2000) -> str:
    """A tree of the ops behind `root`: op name, shape, dtype, and which inputs need grad.

    A subgraph reached twice is printed once (later visits refer back to it by number), and
    the tree is cut after `max_lines` lines with a note saying how much was left out; indentation
    stops growing past 40 levels. A 100,000-op chain prints in bounded time and memory."""
    lines: list[str] = []
    seen: dict[int, int] = {}
    stack: list = [(root, "", "")]
    while stack:
        if len(lines) >= max_lines:
            lines.append(f"... (cut at {max_lines} lines; {len(stack)} more branches not shown: "
                         f"pass max_lines= to graph() for more)")
            break
        t, prefix, child_prefix = stack.pop()
        node = t._node
        desc = f"{tuple(t.shape)} {t.dtype.name}"
        if node is None:
            kind = "leaf, requires_grad" if t.requires_grad else "constant"
            lines.append(f"{prefix}{kind} {desc}")
            continue
        if id(t) in seen:
            lines.append(f"{prefix}{node.name} {desc} (shared, shown above as #{seen[id(t)]})")
            continue
        seen[id(t)] = len(seen) + 1
        freed = " [freed]" if node.freed else ""
        lines.append(f"{prefix}#{seen[id(t)]} {node.name} {desc}{freed}")
        kids = list(node.inputs)
        deep = len(child_prefix) >= _MAX_INDENT  # past this depth, stop indenting (lines stay short)
        for i in range(len(kids) - 1, -1, -1):
            last = i == len(kids) - 1
            branch = "└─ " if last else "├─ "
            cont = "" if deep else "   " if last else "│  "
            stack.append((kids[i], child_prefix + branch, child_prefix + cont))
    return "\n".join(lines)
