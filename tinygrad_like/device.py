"""Which backend new tensors use: TG_BACKEND, tg.set_backend, and backend= arguments."""
from __future__ import annotations

from typing import Any, Optional

from .backends import default_name, load

_default: Optional[Any] = None


def default_backend() -> Any:
    """The backend object new tensors get when no backend= is given."""
    global _default
    if _default is None:
        _default = load(default_name())
    return _default


def set_backend(name: str) -> None:
    """Make `name` the default backend of this process (ValueError for an unknown name)."""
    global _default
    _default = load(name)


def get_backend() -> str:
    """Name of the current default backend."""
    return default_backend().name


def resolve(backend: Any) -> Any:
    """None -> the default backend; a name -> that backend (loaded); a backend object -> itself."""
    if backend is None:
        return default_backend()
    if isinstance(backend, str):
        return load(backend)
    return backend
