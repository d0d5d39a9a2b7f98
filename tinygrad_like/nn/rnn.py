"""Recurrent layers: RNNCell, GRUCell, RNN and GRU with PyTorch's weight names, gate order and shapes.

The GRU's gates are stacked in PyTorch's order (reset r, update z, new n) in weight_ih (3H, I) and
weight_hh (3H, H); n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) and h' = (1 - z) * n + z * h.
The sequence layers apply the input projection to every time step in one product, then loop
over time for the hidden-to-hidden part.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from ..creation import empty, zeros
from ..errors import check_positive_int, InvalidValueError, ShapeError
from ..tensor import Tensor, cat, stack
from . import functional as F
from . import init
from .module import Module, Parameter

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3}


def _rnn_step(mode: str, gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor]) -> Tensor:
    """One time step: gi = W_ih x + b_ih (already computed), h the previous hidden state."""
    gh = F.linear(h, w_hh, b_hh)
    if mode == "RNN_TANH":
        return (gi + gh).tanh()
    if mode == "RNN_RELU":
        return (gi + gh).relu()
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r = (i_r + h_r).sigmoid()
    z = (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    return n + z * (h - n)  # (1 - z) * n + z * h


def _mode(nonlinearity: str) -> str:
    if nonlinearity not in ("tanh", "relu"):
        raise InvalidValueError(f"Unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


class _CellBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool, dtype: Any, backend: Any):
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        g = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(empty(g, input_size, dtype=dtype, backend=backend))
        self.weight_hh = Parameter(empty(g, hidden_size, dtype=dtype, backend=backend))
        if bias:
            self.bias_ih = Parameter(empty(g, dtype=dtype, backend=backend))
            self.bias_hh = Parameter(empty(g, dtype=dtype, backend=backend))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        """input (N, input_size) or (input_size,); hx (N, hidden_size) or (hidden_size,), zeros by default."""
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__}: expected input of shape (N, {self.input_size}) or "
                             f"({self.input_size},), got {input.shape}")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            hx = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, backend=x.backend)
        elif not batched:
            hx = hx.unsqueeze(0)
        if hx.shape != (x.shape[0], self.hidden_size):
            raise ShapeError(f"{type(self).__name__}: hidden state must have shape ({x.shape[0]}, {self.hidden_size}), "
                             f"got {hx.shape if batched else hx.shape[1:]}")
        h = _rnn_step(self.mode, F.linear(x, self.weight_ih, self.bias_ih), hx, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: Any = None, backend: Any = None):
        super().__init__(_mode(nonlinearity), input_size, hidden_size, bias, dtype, backend)
        self.nonlinearity = nonlinearity


class GRUCell(_CellBase):
    """A gated recurrent unit step (gates r, z, n in PyTorch's order)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None, backend: Any = None):
        super().__init__("GRU", input_size, hidden_size, bias, dtype, backend)


class _RNNBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
                 dropout: float, bidirectional: bool, dtype: Any, backend: Any):
        super().__init__()
        if not 0.0 <= dropout <= 1.0:
            raise InvalidValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {dropout}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = check_positive_int(num_layers, f"{type(self).__name__}: num_layers")
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = dropout
        self.bidirectional = bidirectional
        g = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        for layer in range(num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                width = input_size if layer == 0 else hidden_size * dirs
                setattr(self, "weight_ih" + sfx, Parameter(empty(g, width, dtype=dtype, backend=backend)))
                setattr(self, "weight_hh" + sfx, Parameter(empty(g, hidden_size, dtype=dtype, backend=backend)))
                if bias:
                    setattr(self, "bias_ih" + sfx, Parameter(empty(g, dtype=dtype, backend=backend)))
                    setattr(self, "bias_hh" + sfx, Parameter(empty(g, dtype=dtype, backend=backend)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer: int, d: int) -> tuple:
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        get = lambda name: getattr(self, name + sfx) if self.bias or name.startswith("weight") else None  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> tuple:
        """(output, h_n): output (L, N, D*H) ((N, L, D*H) with batch_first), h_n (D*num_layers, N, H);
        an unbatched (L, input_size) input gives (L, D*H) and (D*num_layers, H)."""
        name = type(self).__name__
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: expected input of shape (L, N, {self.input_size}) "
                             f"({'(N, L, ...)' if self.batch_first else ''} batch_first) or (L, {self.input_size}), "
                             f"got {input.shape}")
        batched = input.ndim == 3
        x = input if not batched else (input if self.batch_first else input.transpose(0, 1))
        if not batched:
            x = x.unsqueeze(0)
        n, steps = x.shape[0], x.shape[1]  # x: (N, L, I)
        dirs = 2 if self.bidirectional else 1
        want = (self.num_layers * dirs, n, self.hidden_size)
        if hx is None:
            hx = zeros(*want, dtype=x.dtype, backend=x.backend)
        else:
            if not batched:
                hx = hx.unsqueeze(1)
            if hx.shape != want:
                raise ShapeError(f"{name}: expected hidden state of shape {want if batched else (want[0], want[2])}, "
                                 f"got {hx.shape if batched else hx.shape[:1] + hx.shape[2:]}")
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
                gi = F.linear(x, w_ih, b_ih)  # every step's input projection at once: (N, L, gates*H)
                h = hx[layer * dirs + d]
                seq = []
                for t in (range(steps) if d == 0 else range(steps - 1, -1, -1)):
                    h = _rnn_step(self.mode, gi[:, t], h, w_hh, b_hh)
                    seq.append(h)
                if d:
                    seq.reverse()
                outs.append(stack(seq, 1) if seq else zeros(n, 0, self.hidden_size, dtype=x.dtype, backend=x.backend))
                finals.append(h)
            x = outs[0] if dirs == 1 else cat(outs, -1)  # both directions side by side
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_n = stack(finals, 0)
        if not batched:
            return x.squeeze(0), h_n.squeeze(1)
        return (x if self.batch_first else x.transpose(0, 1)), h_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """A multi-layer Elman RNN with tanh or relu (PyTorch's weight names: weight_ih_l0, ...)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = None, backend: Any = None):
        super().__init__(_mode(nonlinearity), input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, backend)
        self.nonlinearity = nonlinearity


class GRU(_RNNBase):
    """A multi-layer gated recurrent unit (gates r, z, n in PyTorch's order)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, dtype: Any = None,
                 backend: Any = None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype, backend)
