"""Elementwise fusion for method programs (numba): runs of elementwise protocol calls become one call.

A run is consecutive `unary`, `binary` (arithmetic), `axpy` and `relu_backward` calls over the same
n elements of one float dtype, every operand flat (stride 1) or a broadcast scalar. The backend
builds one kernel per run from a `Chain` (`be.fuse_elementwise(chain)`, e.g. a numba function from
generated source); each element's ops run in registers and only values read after the run (or
kept by a tensor, or written in place) reach memory. The same legality rule as the C side
(backends/c_fusion.py): a buffer read at one offset and written at another, or read as a scalar
while written, ends the run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..dtypes import DType
from ..view import View

FUSABLE = ("unary", "binary", "axpy", "relu_backward")


@dataclass
class Chain:
    """What a backend compiles: operand buffers passed in order at call time (each at a fixed
    offset); ops over references ("in", operand, stride 1 or 0) and ("tmp", j), the result of op j;
    stores: tmp j written to ("operand", k) in place, or to ("new", m), the m-th new buffer."""
    dtype: DType
    n: int
    operands: list = field(default_factory=list)  # offset of each operand buffer
    ops: list = field(default_factory=list)  # ("unary", name, ref) | ("binary", name, ref, ref) | ("axpy", alpha, x, y) | ("relu_backward", g, y)
    stores: list = field(default_factory=list)  # (tmp j, ("operand", k) | ("new", m))
    key_of: dict = field(default_factory=dict)  # buffer key -> operand index
    access: dict = field(default_factory=dict)  # buffer key -> (offset, read as scalar, written)
    values: dict = field(default_factory=dict)  # buffer key -> tmp holding its current value
    writes: list = field(default_factory=list)  # (tmp, buffer key, new slot or None)


def _flat(view: View, n: int) -> Optional[tuple]:
    """(offset, stride) of a flat view of n elements with stride 1 or 0, else None."""
    if view.shape == () and n == 1:
        return view.offset, 0
    if view.shape == (n,) and view.strides[0] in (0, 1):
        return view.offset, view.strides[0]
    return None


def describe(spec: tuple, codes: dict, key: Any) -> Optional[tuple]:
    """(dtype, n, reads [(key, offset, stride)], op, write (key, offset) or None, new slot or None)
    for a fusable call spec, else None. `key(buf)` names a buffer; `codes`: the fusable op names."""
    if spec[0] != "call":
        return None
    c = spec[1]
    a = c.args
    if c.name == "unary":
        op, x, view, dtype = a
        n = view.numel()
        if not dtype.is_float or op not in codes["unary"] or not isinstance(spec[6], int):
            return None
        r = _flat(view, n)
        return None if r is None else (dtype, n, [(key(x),) + r], ("unary", op), None, spec[6])
    if c.name == "binary":
        op, x, xv, y, yv, dtype = a
        n = xv.numel()
        out = c.kwargs.get("out")
        if not dtype.is_float or op not in codes["binary"] or yv.numel() != n:
            return None
        rx, ry = _flat(xv, n), _flat(yv, n)
        if rx is None or ry is None:
            return None
        if out is None and isinstance(spec[6], int):
            return dtype, n, [(key(x),) + rx, (key(y),) + ry], ("binary", op), None, spec[6]
        if out is x and rx[1] == 1:
            return dtype, n, [(key(x),) + rx, (key(y),) + ry], ("binary", op), (key(x), rx[0]), None
        return None
    if c.name == "axpy":
        y, yv, x, xv, alpha, dtype = a
        n = yv.numel()
        ry, rx = _flat(yv, n), _flat(xv, n)
        if not dtype.is_float or ry is None or rx is None or ry[1] != 1 or rx[1] != 1:
            return None
        return dtype, n, [(key(x),) + rx, (key(y),) + ry], ("axpy", float(alpha)), (key(y), ry[0]), None
    if c.name == "relu_backward":
        g, gv, y, yv, dtype = a
        n = gv.numel()
        rg, ry = _flat(gv, n), _flat(yv, n)
        if not dtype.is_float or rg is None or ry is None or rg[1] != 1 or ry[1] != 1 or not isinstance(spec[6], int):
            return None
        return dtype, n, [(key(g),) + rg, (key(y),) + ry], ("relu_backward",), None, spec[6]
    return None


def admits(chain: Chain, d: tuple) -> bool:
    dtype, n, reads, _, write, _ = d
    if chain.ops and (dtype is not chain.dtype or n != chain.n):
        return False
    for k, off, stride in reads:
        seen = chain.access.get(k)
        if seen is not None and (seen[0] != off or (stride == 0 and seen[2])):
            return False
    if write is not None:
        seen = chain.access.get(write[0])
        if seen is not None and (seen[0] != write[1] or seen[1]):
            return False
    return True


def _operand(chain: Chain, k: Any, off: int) -> int:
    if k not in chain.key_of:
        chain.key_of[k] = len(chain.operands)
        chain.operands.append(off)
    return chain.key_of[k]


def add(chain: Chain, d: tuple) -> None:
    """Append the described call to the chain (admits(chain, d) must hold)."""
    dtype, n, reads, op, write, new_slot = d
    chain.dtype, chain.n = dtype, n
    refs = []
    for k, off, stride in reads:
        if stride == 1 and k in chain.values:
            refs.append(("tmp", chain.values[k]))
        else:
            refs.append(("in", _operand(chain, k, off), stride))
        _, scalar, written = chain.access.get(k, (off, False, False))
        chain.access[k] = (off, scalar or stride == 0, written)
    j = len(chain.ops)
    chain.ops.append(op[:1] + op[1:] + tuple(refs))
    if write is not None:
        k, off = write
        _operand(chain, k, off)
        _, scalar, _ = chain.access.get(k, (off, False, False))
        chain.access[k] = (off, scalar, True)
    else:
        k = ("slot", new_slot)
        chain.access[k] = (0, False, True)
    chain.values[k] = j
    chain.writes.append((j, k, new_slot))
