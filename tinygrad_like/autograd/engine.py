"""The backward pass: walk the graph of Nodes from the outputs, in reverse topological order
(iterative, no recursion), and hand each node the sum of the gradients of its output.

`backward` accumulates into the leaves' `.grad` (Tensor.backward); `grad` returns the
gradients of chosen inputs instead and touches no `.grad` (tg.autograd.grad). With
`create_graph=True` the pass runs with grad mode on, so the gradients it computes are recorded
and can be differentiated again.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from ..errors import AutogradError
from .graph import Node
from .mode import set_grad_enabled

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after "
          "they have already been freed). Saved intermediate values of the graph are freed when you call "
          ".backward() or autograd.grad(); at op {name}. Specify retain_graph=True if you need to backward "
          "through the graph a second time.")


def _topo_order(roots: list) -> list:
    """Nodes reachable from roots, each after every node that feeds gradient into it."""
    order: list = []
    seen: set[int] = set()
    stack: list = [(n, False) for n in roots]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.backward is None:
            raise AutogradError(_FREED.format(name=node.name))
        stack.append((node, True))
        for e in node.edges:
            if type(e) is Node and id(e) not in seen:
                stack.append((e, False))
    order.reverse()
    return order


def _run_hooks(hooks: Optional[Any], g: Any) -> Any:
    if hooks:
        for fn in list(hooks.values() if isinstance(hooks, dict) else hooks):
            r = fn(g)
            if r is not None:
                g = r
    return g


def _accumulate(t: Any, g: Any) -> None:
    """t.grad += g for a leaf (or a retained non-leaf), cast and expanded to t's dtype and shape."""
    if g.dtype is not t.dtype:
        g = g.to(t.dtype)
    if g.shape != t.shape:
        g = g.expand(t.shape).contiguous()
    t.grad = g if t.grad is None else t.grad + g


def run(outputs: Sequence[Any], grads: Sequence[Any], retain_graph: bool, create_graph: bool,
        inputs: Optional[Sequence[Any]] = None) -> Optional[list]:
    """Propagate `grads` from `outputs`. Without `inputs`: accumulate into every leaf's .grad.
    With `inputs`: return their gradients (None where no gradient reached them), touch no .grad."""
    capture: Optional[dict] = None
    if inputs is not None:
        capture = {id(x._node if x._node is not None else x): None for x in inputs}
    pending: dict[int, Any] = {}  # id(node) -> summed gradient of its output
    roots: list = []
    for t, g in zip(outputs, grads):
        if t._node is None:  # a leaf as an output: its gradient is g itself
            _deliver_leaf(t, g, capture)
            continue
        key = id(t._node)
        pending[key] = g if key not in pending else pending[key] + g
        roots.append(t._node)
    order = _topo_order(roots)
    with set_grad_enabled(create_graph):
        for node in order:
            g = pending.pop(id(node), None)
            if g is None:
                continue
            if node.hooks:
                g = _run_hooks(node.hooks, g)
            if capture is not None:
                if id(node) in capture:
                    capture[id(node)] = g
            elif node.retained is not None and node.retained() is not None:
                _accumulate(node.retained(), g)
            if node.saved:
                node.check_saved()
            in_grads = node.backward(g)
            for e, pg in zip(node.edges, in_grads):
                if e is None or pg is None:
                    continue
                if type(e) is Node:
                    key = id(e)
                    pending[key] = pg if key not in pending else pending[key] + pg
                else:
                    _deliver_leaf(e, pg, capture)
    if not retain_graph:
        for node in order:
            node.free()
    if inputs is None:
        return None
    return [capture[id(x._node if x._node is not None else x)] for x in inputs]


def _deliver_leaf(t: Any, g: Any, capture: Optional[dict]) -> None:
    if t._hooks:
        g = _run_hooks(t._hooks, g)
    if capture is None:
        _accumulate(t, g)
    elif id(t) in capture:
        prev = capture[id(t)]
        capture[id(t)] = g if prev is None else prev + g
