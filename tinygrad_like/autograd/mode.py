"""Grad mode: whether ops record a graph. Per thread, as in PyTorch: `no_grad()` in one thread
leaves another thread's recording alone, and every new thread starts with recording on."""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable


class _GradMode(threading.local):
    enabled = True  # the class default is what every new thread sees first


grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return grad_mode.enabled


class set_grad_enabled:
    """Context manager and decorator that sets grad mode and restores it on exit."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        self._prev = grad_mode.enabled
        grad_mode.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        grad_mode.enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = grad_mode.enabled
            grad_mode.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                grad_mode.enabled = prev
        return wrapper


class no_grad(set_grad_enabled):
    """`with tg.no_grad():` or `@tg.no_grad()`: ops inside record no graph."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Turns graph recording back on inside a no_grad block."""

    def __init__(self) -> None:
        super().__init__(True)
