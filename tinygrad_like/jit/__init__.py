"""tg.jit: capture the backend kernels of a training step once, replay them on later calls."""
from .api import JitFunction, jit

__all__ = ["JitFunction", "jit"]
