"""Error types: every library error is a TensorError and the matching built-in."""
from __future__ import annotations


class TensorError(Exception):
    """Base class of every error raised by tinygrad_like."""


class ShapeError(TensorError, ValueError):
    """Shapes that do not fit together (broadcasting, matmul, reshape, ...)."""


class TensorIndexError(TensorError, IndexError):
    """An index or dimension out of range."""


class DTypeError(TensorError, TypeError):
    """A dtype that an operation does not accept."""


class AutogradError(TensorError, RuntimeError):
    """Misuse of autograd (freed graph, non-scalar backward, ...)."""


class BackendError(TensorError, RuntimeError):
    """A backend that cannot load, or tensors of two backends mixed in one op."""


class InvalidValueError(TensorError, ValueError):
    """A bad argument value that is not about shapes."""


class JitError(TensorError, RuntimeError):
    """A function that tg.jit cannot capture or replay correctly (the message says why)."""


class DivisionByZeroError(TensorError, ZeroDivisionError):
    """Integer division or modulo by zero (float division gives inf or nan instead)."""


class AllocationError(TensorError, MemoryError):
    """A tensor larger than this machine's memory (refused before anything is allocated)."""


def check_positive_int(value: object, what: str) -> int:
    """`value` when it is an int >= 1 (not a bool); InvalidValueError naming `what` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidValueError(f"{what} must be a positive int, got {value!r}")
    return value
