"""Autograd: grad mode (mode.py), the graph of recorded ops (graph.py), the backward pass
(engine.py, entered through api.py), and small functional tools (functional.py: jacobian, hessian).

`tg.autograd.grad(outputs, inputs, ...)` is PyTorch's `torch.autograd.grad`.
"""
from __future__ import annotations

from . import functional
from .api import backward, grad
from .graph import Node, RemovableHandle, graph_string, needs_grad, record, record1, record2
from .mode import enable_grad, grad_mode, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Node", "RemovableHandle", "backward", "enable_grad", "functional", "grad", "grad_mode", "graph_string",
           "is_grad_enabled", "needs_grad", "no_grad", "record", "record1", "record2", "set_grad_enabled"]
