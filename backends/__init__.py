"""Backend registry: find, load and list the backends (python, numba, c).

Backends load lazily: importing tinygrad_like imports no numba and builds no C code.
"""
from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

from tinygrad_like.errors import BackendError, InvalidValueError

from .protocol import probe_optional

NAMES = ("c", "numba", "python")  # preference order for the default
_MODULES = {"python": ("python_backend", "PythonBackend"),
            "numba": ("numba_backend", "NumbaBackend"),
            "c": ("c_backend", "CBackend")}
_loaded: dict[str, Any] = {}
_failed: dict[str, str] = {}


def _check_name(name: str) -> str:
    if name not in _MODULES:
        raise InvalidValueError(f"unknown backend {name!r}; valid backends are {', '.join(NAMES)}")
    return name


def load(name: str) -> Any:
    """The backend object called `name`; BackendError says why it cannot load and how to fix it."""
    _check_name(name)
    be = _loaded.get(name)
    if be is not None:
        return be
    if name in _failed:
        raise BackendError(_failed[name])
    module_name, cls_name = _MODULES[name]
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
        be = getattr(module, cls_name)()
    except BackendError as e:
        _failed[name] = str(e)
        raise
    except Exception as e:  # ImportError, a missing extension, a failed build...
        msg = (f"backend {name!r} cannot load: {type(e).__name__}: {e}. "
               f"Reinstall with `pip install -e .` from the project root (it builds and installs "
               f"what this backend needs), or pick another backend with TG_BACKEND=python.")
        _failed[name] = msg
        raise BackendError(msg) from e
    be.optional = probe_optional(be)  # the fused kernels it has, looked up once
    _loaded[name] = be
    return be


def loaded() -> list:
    """The backend objects loaded so far in this process."""
    return list(_loaded.values())


def available() -> list[str]:
    """Names of the backends that load on this machine, fastest first."""
    out = []
    for name in NAMES:
        try:
            load(name)
        except BackendError:
            continue
        out.append(name)
    return out


def default_name() -> str:
    """TG_BACKEND if set (it must load), else the fastest backend that loads."""
    env = os.environ.get("TG_BACKEND", "").strip()
    if env:
        load(env)  # raises with the reason; never a silent fallback for an explicit choice
        return env
    skipped = []
    for name in NAMES:
        try:
            load(name)
        except BackendError as e:
            skipped.append((name, str(e)))
            continue
        broken = [f"{n}: {msg}" for n, msg in skipped if _module_exists(n)]
        if broken:  # a faster backend is installed but failed: say so once, then fall back
            warnings.warn(f"tinygrad_like: using the {name!r} backend because " + "; ".join(broken),
                          RuntimeWarning, stacklevel=3)
        return name
    raise BackendError("no backend could load: " + "; ".join(msg for _, msg in skipped))


def _module_exists(name: str) -> bool:
    """True when the backend's module ships in this install (so failing to load is news)."""
    return os.path.exists(os.path.join(os.path.dirname(__file__), _MODULES[name][0] + ".py"))
