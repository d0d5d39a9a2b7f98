"""The implementations a case runs on: our backends plus the numpy / PyTorch references."""
from __future__ import annotations

import importlib
import os
from typing import Any, Optional

REFERENCES = ("numpy", "torch")
_torch: Any = None
_torch_checked = False

# The pure-Python backend is skipped above these limits ("skipped (too slow)").
SLOW_LIMITS = {"python": {"elements": 2_000_000, "macs": 20_000_000}}
QUICK_LIMITS = {"python": {"elements": 300_000, "macs": 3_000_000}}


def torch() -> Optional[Any]:
    """The torch module when installed (imported lazily, once), else None (also with TG_BENCH_NO_TORCH=1)."""
    global _torch, _torch_checked
    if not _torch_checked and os.environ.get("TG_BENCH_NO_TORCH") == "1":
        _torch_checked = True
    if not _torch_checked:
        _torch_checked = True
        try:
            _torch = importlib.import_module("torch")
        except Exception:  # not installed or broken: the torch columns stay empty
            _torch = None
    return _torch


def references() -> list[str]:
    """Reference implementations importable here (numpy always)."""
    return ["numpy"] + (["torch"] if torch() is not None else [])


def is_ours(impl: str) -> bool:
    """True for one of tinygrad_like's backends."""
    return impl in ("python", "numba", "c")


def too_slow(impl: str, elements: int, macs: int, quick: bool = False) -> bool:
    """True when a slow backend should skip a case of this size (tighter limits in --quick)."""
    lim = (QUICK_LIMITS if quick else SLOW_LIMITS).get(impl)
    if not lim:
        return False
    return elements > lim["elements"] or macs > lim["macs"]


def np_dtype(dtype: str) -> Any:
    import numpy as np
    return {"f32": np.float32, "f64": np.float64, "i64": np.int64}[dtype]


def from_numpy(impl: str, arr: Any, requires_grad: bool = False) -> Any:
    """The array `arr` as a native object of `impl` (a copy: impls never share memory)."""
    import numpy as np
    arr = np.ascontiguousarray(arr)
    if impl == "numpy":
        return arr.copy()
    if impl == "torch":
        t = torch().from_numpy(arr.copy())
        return t.requires_grad_() if requires_grad else t
    import tinygrad_like as tg
    t = tg.from_numpy(arr.copy(), backend=impl)
    return t.requires_grad_() if requires_grad else t


def to_numpy(obj: Any) -> Any:
    """Any impl's result as a numpy array (for value checks)."""
    import numpy as np
    if isinstance(obj, np.ndarray) or np.isscalar(obj):
        return np.asarray(obj)
    if hasattr(obj, "detach"):
        obj = obj.detach()
    if type(obj).__module__.startswith("torch"):
        return obj.numpy()
    return np.asarray(obj.numpy()).copy()


def randn(impl: str, shape: tuple, dtype: str = "f32", seed: int = 0, requires_grad: bool = False) -> Any:
    """Standard-normal data, identical across impls for the same seed."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return from_numpy(impl, rng.standard_normal(shape).astype(np_dtype(dtype)), requires_grad)


def backward_and_sgd(lib: Any, loss: Any, params: list, lr: float) -> None:
    """loss.backward(), then params -= lr * grad outside the graph, grads cleared (`lib`: tinygrad_like or torch)."""
    loss.backward()
    with lib.no_grad():
        for p in params:
            p.sub_(p.grad, alpha=lr)
            p.grad = None
