"""repr in PyTorch's style: aligned columns, 4 decimals or scientific, large tensors elided."""
from __future__ import annotations

import math
from typing import Any

from .device import get_backend
from .dtypes import bool_, float32, int64

THRESHOLD = 1000   # elide tensors with more elements than this
EDGE = 3           # elements kept at each end of an elided dim
LINEWIDTH = 80


def _summarize_index(n: int, summarize: bool) -> list:
    if summarize and n > 2 * EDGE:
        return list(range(EDGE)) + [None] + list(range(n - EDGE, n))
    return list(range(n))


def _formatter(values: list, dtype: Any):
    if dtype is bool_:
        return str
    if not dtype.is_float:
        return str
    finite = [abs(v) for v in values if math.isfinite(v)]
    nonzero = [v for v in finite if v != 0]
    lo, hi = (min(nonzero), max(nonzero)) if nonzero else (1.0, 1.0)
    if all(float(v).is_integer() for v in finite):
        if hi > 1e8 or hi / lo > 1000:  # PyTorch's int-mode switch to scientific notation
            return lambda v: _special(v) or f"{v:.4e}"
        return lambda v: _special(v) or f"{v:.0f}."
    if hi >= 1e8 or lo < 1e-4 or hi / lo > 1000:
        return lambda v: _special(v) or f"{v:.4e}"
    return lambda v: _special(v) or f"{v:.4f}"


def _special(v: float) -> str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return ""


def tensor_repr(t: Any) -> str:
    prefix = "tensor("
    shape = t.shape
    suffix = []
    if t.numel() == 0:
        body = "[]"
        if shape != (0,):
            suffix.append(f"size={shape}")
    else:
        nested = t.detach().tolist()
        summarize = t.numel() > THRESHOLD
        picked = _collect(nested, shape, summarize)
        fmt = _formatter([v for v in picked if v is not None], t.dtype)
        # PyTorch sizes float columns by the nonzero finite values only, so nan, inf and -0. may stick out
        shown = [v for v in picked if v is not None]
        if t.dtype.is_float:
            width = max([1] + [len(fmt(v)) for v in shown if v != 0 and math.isfinite(v)])
        else:
            width = max(len(fmt(v)) for v in shown)
        body = _render(nested, shape, summarize, fmt, width, len(prefix))
    if t.dtype not in (float32, int64, bool_):
        suffix.append(f"dtype=tg.{t.dtype.name}")
    if t.backend != _default_name():
        suffix.append(f"backend='{t.backend}'")
    if t._node is not None:
        suffix.append(f"grad_fn=<{t._node.name}Backward0>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffix) + ")"


def _default_name() -> str:
    return get_backend()


def _collect(nested: Any, shape: tuple, summarize: bool) -> list:
    if not shape:
        return [nested]
    out = []
    for i in _summarize_index(shape[0], summarize):
        if i is not None:
            out.extend(_collect(nested[i], shape[1:], summarize))
    return out


def _render(nested: Any, shape: tuple, summarize: bool, fmt: Any, width: int, indent: int) -> str:
    if not shape:
        return fmt(nested)
    idx = _summarize_index(shape[0], summarize)
    if len(shape) == 1:
        items = [" ..." if i is None else fmt(nested[i]).rjust(width) for i in idx]
        per_line = max(1, (LINEWIDTH - indent) // (width + 2))
        lines = [", ".join(items[k:k + per_line]) for k in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    sep = "," + "\n" * (len(shape) - 1) + " " * (indent + 1)
    parts = ["..." if i is None else _render(nested[i], shape[1:], summarize, fmt, width, indent + 1) for i in idx]
    return "[" + sep.join(parts) + "]"
