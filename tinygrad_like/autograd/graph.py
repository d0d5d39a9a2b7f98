"""The autograd graph: one Node per recorded op, linked to the nodes (or leaf tensors) it came from.

Each differentiable op (tinygrad_like/ops/) computes its result, then calls `record` with its
inputs, a `backward(grad) -> tuple of input grads` closure written right next to the forward
code, and the tensors that closure reads (`saved`). A node links to what its inputs were *when
it was recorded*: their nodes, or the leaf tensors themselves. So an in-place op that later gives
a tensor a new node (see ops/inplace.py) leaves the graphs already built through it unchanged.

Saved tensors carry the version of their storage at record time; backward compares it with the
version now (one integer compare per saved tensor) and refuses a tensor that an in-place op
changed since, as PyTorch does.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, Optional

from ..errors import AutogradError
from .mode import grad_mode

BackwardFn = Callable[[Any], tuple]


class Node:
    """One recorded op: its name, where its inputs came from, its backward closure, what it saved."""

    __slots__ = ("name", "edges", "backward", "saved", "shape", "dtype", "version", "hooks", "retained", "__weakref__")

    def __init__(self, name: str, edges: tuple, backward: Optional[BackwardFn], saved: tuple, shape: tuple, dtype: Any,
                 version: int = 0):
        self.name = name
        self.edges = edges  # per input: its Node, the leaf tensor itself, or None (needs no grad)
        self.backward = backward
        self.saved = saved  # ((tensor, its storage version when saved), ...)
        self.shape = shape  # of the op's output (for printing)
        self.dtype = dtype
        self.version = version  # the output storage's version this node describes (see record)
        self.hooks: Optional[list] = None  # gradient hooks of the output tensor (Tensor.register_hook)
        self.retained: Optional[weakref.ref] = None  # the output tensor, when it called retain_grad()

    def __repr__(self) -> str:
        # PyTorch's spelling, so printed graphs read the same: <SumBackward0 object at 0x...>
        return f"<{self.name}Backward0 object at {id(self):#x}>"

    def free(self) -> None:
        self.backward = None
        self.saved = ()

    @property
    def freed(self) -> bool:
        return self.backward is None

    def check_saved(self) -> None:
        """AutogradError when a saved tensor was modified in place after this op recorded it."""
        for t, version in self.saved:
            if t._vc[0] != version:
                raise AutogradError(
                    f"one of the tensors needed for gradient computation has been modified by an inplace "
                    f"operation: a {t.dtype.name} tensor of shape {tuple(t.shape)} saved by {self.name}Backward0 "
                    f"is at version {t._vc[0]}; expected version {version} instead. Hint: compute on a "
                    f"clone() of it, or do the in-place update after backward()")


def record(out: Any, name: str, inputs: tuple, backward: BackwardFn, saved: tuple = ()) -> Any:
    """Attach a graph node to `out` when grad mode is on and some input requires grad."""
    if not grad_mode.enabled:
        return out
    edges = []
    wanted = False
    for x in inputs:
        if x.requires_grad:
            wanted = True
            node = x._node
            if node is None:
                edges.append(x)
                continue
            if node.version != x._vc[0]:
                _stale(x, name)
            edges.append(node)
        else:
            edges.append(None)
    if wanted:
        out.requires_grad = True
        out._node = Node(name, tuple(edges), backward, tuple([(t, t._vc[0]) for t in saved]) if saved else (),
                         out._view.shape, out.dtype, out._vc[0])
    return out


def record1(out: Any, name: str, x: Any, backward: BackwardFn) -> Any:
    """`record(out, name, (x,), backward)` for a caller that found grad mode on and x requiring
    grad, saving nothing (the view ops' hot path); the same checks."""
    edge = x._node
    if edge is None:
        edge = x
    elif edge.version != x._vc[0]:
        _stale(x, name)
    out.requires_grad = True
    out._node = Node(name, (edge,), backward, (), out._view.shape, out.dtype, out._vc[0])
    return out


def record2(out: Any, name: str, a: Any, b: Any, backward: BackwardFn, saved: tuple = ()) -> Any:
    """`record(out, name, (a, b), backward, saved)` unrolled for the binary ops' hot path, for a
    caller that found grad mode on and a or b requiring grad; the same checks."""
    ea = eb = None
    if a.requires_grad:
        ea = a._node
        if ea is None:
            ea = a
        elif ea.version != a._vc[0]:
            _stale(a, name)
    if b.requires_grad:
        eb = b._node
        if eb is None:
            eb = b
        elif eb.version != b._vc[0]:
            _stale(b, name)
    out.requires_grad = True
    out._node = Node(name, (ea, eb), backward, tuple([(t, t._vc[0]) for t in saved]) if saved else (),
                     out._view.shape, out.dtype, out._vc[0])
    return out


def _stale(x: Any, name: str) -> None:
    raise AutogradError(
        f"a {x.dtype.name} tensor of shape {tuple(x.shape)} made by {x._node.name}Backward0 was modified by an inplace "
        f"operation on a view of its storage (or on the base of the view it is) after it was made, so its history "
        f"no longer describes its values; {name} cannot use it in the graph. clone() the view before modifying "
        f"it in place, or modify the tensor itself")


def needs_grad(*inputs: Any) -> bool:
    """True when an op on `inputs` would be recorded (lets an op skip building its backward)."""
    if grad_mode.enabled:
        for x in inputs:  # a loop, not any(generator): this runs for every op
            if x.requires_grad:
                return True
    return False


class RemovableHandle:
    """What `register_hook` and the Module hook registrations return: `remove()` unregisters."""

    def __init__(self, hooks: Any, key: Any) -> None:
        self._hooks = weakref.ref(hooks) if hasattr(hooks, "__weakref__") else (lambda: hooks)
        self._key = key

    def remove(self) -> None:
        hooks = self._hooks()
        if hooks is None:
            return
        if isinstance(hooks, dict):
            hooks.pop(self._key, None)
        else:
            try:
                hooks.remove(self._key)
            except ValueError:
                pass

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


_MAX_INDENT = 120


def graph_string(root: Any, max_lines: int = 2000) -> str:
    """A tree of the ops behind `root`: op name, output shape and dtype, and the leaves.

    A subgraph reached twice is printed once (later visits refer back to it by number), the tree
    is cut after `max_lines` lines with a note saying how much was left out, and indentation
    stops growing past 40 levels, so a 100,000-op chain prints in bounded time and memory."""
    lines: list[str] = []
    seen: dict[int, int] = {}
    stack: list = [(root._node if root._node is not None else root, "", "")]
    while stack:
        if len(lines) >= max_lines:
            lines.append(f"... (cut at {max_lines} lines; {len(stack)} more branches not shown: "
                         f"pass max_lines= to graph() for more)")
            break
        item, prefix, child_prefix = stack.pop()
        if item is None:
            lines.append(f"{prefix}constant")
            continue
        if not isinstance(item, Node):
            kind = "leaf, requires_grad" if item.requires_grad else "constant"
            lines.append(f"{prefix}{kind} {tuple(item.shape)} {item.dtype.name}")
            continue
        desc = f"{tuple(item.shape)} {item.dtype.name}"
        if id(item) in seen:
            lines.append(f"{prefix}{item.name} {desc} (shared, shown above as #{seen[id(item)]})")
            continue
        seen[id(item)] = len(seen) + 1
        freed = " [freed]" if item.freed else ""
        lines.append(f"{prefix}#{seen[id(item)]} {item.name} {desc}{freed}")
        kids = item.edges
        deep = len(child_prefix) >= _MAX_INDENT  # past this depth, stop indenting (lines stay short)
        for i in range(len(kids) - 1, -1, -1):
            last = i == len(kids) - 1
            branch = "└─ " if last else "├─ "
            cont = "" if deep else "   " if last else "│  "
            stack.append((kids[i], child_prefix + branch, child_prefix + cont))
    return "\n".join(lines)
