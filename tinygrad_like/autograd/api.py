"""tg.autograd.backward and tg.autograd.grad: PyTorch's functional entry points to the backward pass."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import dispatch
from ..errors import AutogradError, ShapeError
from . import engine


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _grads_for(outputs: list, grad_outputs: Optional[Sequence[Any]]) -> list:
    """The gradient each output starts with: given, or ones for a one-element output."""
    given = [None] * len(outputs) if grad_outputs is None else _as_list(grad_outputs)
    if len(given) != len(outputs):
        raise ShapeError(f"grad_outputs has {len(given)} entries but there are {len(outputs)} outputs")
    out = []
    for t, g in zip(outputs, given):
        if g is None:
            if t.numel() != 1:
                raise AutogradError(f"grad can be implicitly created only for scalar outputs; an output has shape "
                                    f"{tuple(t.shape)}: pass grad_outputs= (or gradient= to backward)")
            g = dispatch.full(t.shape, 1.0, t.dtype, t._be)
        elif not dispatch.is_tensor(g):
            g = dispatch.full(t.shape, g, t.dtype, t._be)
        if tuple(g.shape) != tuple(t.shape):
            raise ShapeError(f"a gradient has shape {tuple(g.shape)} but its output has shape {tuple(t.shape)}")
        out.append(g)
    return out


def _start(outputs: list, given: Any, create_graph: bool) -> list:
    """The gradients the outputs start from, after checking that each output has a graph."""
    for t in outputs:
        if not t.requires_grad:
            raise AutogradError("element 0 of tensors does not require grad and does not have a grad_fn")
    grads = _grads_for(outputs, given)
    return grads if create_graph else [g.detach() for g in grads]


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: Optional[bool] = None,
             create_graph: bool = False) -> None:
    """Accumulate d(tensors)/d(leaf) into every leaf's .grad (Tensor.backward for several outputs)."""
    outputs = _as_list(tensors)
    grads = _start(outputs, grad_tensors, create_graph)
    engine.run(outputs, grads, create_graph if retain_graph is None else retain_graph, create_graph)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: Optional[bool] = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The gradients of `outputs` with respect to each of `inputs`, as a tuple (PyTorch's
    torch.autograd.grad); `.grad` of no tensor is touched."""
    outs, ins = _as_list(outputs), _as_list(inputs)
    for x in ins:
        if not x.requires_grad:
            raise AutogradError("One of the differentiated Tensors does not require grad")
    grads = _start(outs, grad_outputs, create_graph)
    result = engine.run(outs, grads, create_graph if retain_graph is None else retain_graph, create_graph, ins)
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise AutogradError(f"One of the differentiated Tensors (input {i}, shape {tuple(ins[i].shape)}) appears to "
                                f"not have been used in the graph. Set allow_unused=True if this is the desired behavior.")
    return tuple(result)
