"""The global counter-based generator: one seed gives the same numbers on every backend."""
from __future__ import annotations

from typing import Any

from . import dtypes as _dt
from .device import resolve
from . import dispatch
from .dispatch import check_alloc, check_shape, contig, from_list, shape_args, wrap
from .errors import DTypeError, InvalidValueError
from .view import prod

_DEFAULT_SEED = 67280421310721


class Generator:
    """(seed, counter) state; each draw of n numbers advances the counter (2n for normals)."""

    def __init__(self, seed: int = _DEFAULT_SEED):
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> "Generator":
        if not isinstance(seed, int):
            raise DTypeError(f"manual_seed expects an int, got {type(seed).__name__}")
        self.seed = seed
        self.counter = 0
        return self

    def initial_seed(self) -> int:
        return self.seed

    def get_state(self) -> tuple:
        return (self.seed, self.counter)

    def set_state(self, state: tuple) -> None:
        self.seed, self.counter = state

    def reserve(self, dist: str, n: int) -> tuple:
        """(seed, counter) of a draw of n numbers, and advance the counter past it (by one per
        element for uniform, two for normal: Box-Muller uses two words)."""
        start = self.counter
        self.counter += n if dist == "uniform" else 2 * n
        return self.seed, start

    def sample(self, dist: str, shape: tuple, dtype: Any, backend: Any) -> Any:
        """A new tensor of `shape` with draws of 'uniform' or 'normal'; advances the counter."""
        be = resolve(backend)
        n = prod(shape)
        check_alloc(shape, dtype)
        if not n:
            return wrap(be.empty(0, dtype), contig(tuple(shape)), dtype, be)
        if dispatch.capture is not None:  # a tg.jit capture: its replays draw from this generator
            dispatch.capture.note_generator(self)
        seed, counter = self.reserve(dist, n)
        return wrap(be.random(dist, n, seed, counter, dtype), contig(tuple(shape)), dtype, be)


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (same seed, same numbers, on every backend)."""
    return default_generator.manual_seed(seed)


def initial_seed() -> int:
    return default_generator.seed


def _random(dist: str, shape: tuple, dtype: Any, backend: Any, requires_grad: bool, generator: Any) -> Any:
    shape = check_shape(shape_args(shape))
    dt = _dt.DEFAULT_FLOAT if dtype is None else _dt.get_dtype(dtype)
    if not dt.is_float:
        raise DTypeError(f"{'rand' if dist == 'uniform' else 'randn'}: dtype must be floating point, got {dt.name}")
    t = (generator or default_generator).sample(dist, shape, dt, backend)
    return t.requires_grad_() if requires_grad else t


def rand(*shape: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False, generator: Any = None) -> Any:
    """Uniform [0, 1) samples."""
    return _random("uniform", shape, dtype, backend, requires_grad, generator)


def randn(*shape: Any, dtype: Any = None, backend: Any = None, requires_grad: bool = False, generator: Any = None) -> Any:
    """Standard normal samples (Box-Muller on the counter-based stream)."""
    return _random("normal", shape, dtype, backend, requires_grad, generator)


def randint(low: int, high: Any = None, size: Any = (), dtype: Any = None, backend: Any = None, generator: Any = None) -> Any:
    """Integers uniform in [low, high) as int64 (randint(high, size) also works)."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise InvalidValueError(f"randint: high ({high}) must be greater than low ({low})")
    u = _random("uniform", tuple(size), _dt.float64, backend, False, generator)
    out = (u * (high - low)).floor() + low
    return out.to(_dt.int64 if dtype is None else dtype)


def randperm(n: int, backend: Any = None, generator: Any = None) -> Any:
    """A random permutation of 0..n-1 (int64), from the same stream on every backend."""
    keys = _random("uniform", (n,), _dt.float64, backend, False, generator).tolist()
    order = sorted(range(n), key=keys.__getitem__)
    return from_list(order, (n,), _dt.int64, resolve(backend))


def rand_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    return rand(*t.shape, dtype=dtype or t.dtype, backend=t._be, requires_grad=requires_grad)


def randn_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    return randn(*t.shape, dtype=dtype or t.dtype, backend=t._be, requires_grad=requires_grad)
