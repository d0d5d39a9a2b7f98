"""tinygrad_like: a from-scratch PyTorch-style tensor and autograd library with three backends."""
from __future__ import annotations

from . import backends
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (arange, as_tensor, empty, empty_like, eye, frombuffer, full, full_like, linspace,
                       ones, ones_like, tensor, zeros, zeros_like)
from .device import get_backend, set_backend
from .dtypes import DType, bool_, float32, float64, int16, int32, int64, uint8
from .errors import (AllocationError, AutogradError, BackendError, DivisionByZeroError, DTypeError, JitError,
                     InvalidValueError, ShapeError, TensorError, TensorIndexError)
from .gradcheck import GradcheckError, gradcheck
from .interop import from_numpy
from .random import (Generator, initial_seed, manual_seed, rand, rand_like, randint, randn,
                     randn_like, randperm)
from .tensor import Tensor, cat, einsum, maximum, minimum, stack, where
from .ops.sampling import bernoulli, multinomial
from .serialization import SerializationError, load, save
from . import data, linalg, nn, optim  # noqa: E402  (after Tensor: they build on it)
from .jit import JitFunction, jit  # noqa: E402

bool = bool_  # noqa: A001  (tg.bool, like torch.bool)
float = float32  # noqa: A001
double = float64
long = int64
int = int32  # noqa: A001  (torch.int is int32)
short = int16

__version__ = "0.1.0"


def _fn(name: str):
    def f(t: Tensor, *args, **kwargs):
        return getattr(t, name)(*args, **kwargs)
    f.__name__ = name
    f.__doc__ = f"tg.{name}(t, ...) is t.{name}(...)"
    return f


for _name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "neg", "erf",
              "sum", "mean", "var", "std", "argmax", "argmin", "logsumexp", "softmax", "log_softmax",
              "matmul", "reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "clamp",
              "gelu", "leaky_relu", "gather", "index_select", "sign", "reciprocal", "floor", "ceil",
              "isnan", "isinf", "amax", "amin", "prod", "square", "expand", "narrow", "split", "chunk",
              "dot", "masked_fill", "clip", "log1p", "expm1", "softplus", "scatter_add", "add", "sub",
              "mul", "div", "pow", "round", "trunc", "remainder", "floor_divide", "logical_not",
              "isfinite", "any", "all", "fmod", "rsqrt", "lerp", "clamp_min", "clamp_max", "multiply",
              "divide", "subtract", "negative", "sort", "argsort", "topk", "kthvalue", "median", "cumsum",
              "cumprod", "flip", "fliplr", "flipud", "roll", "tile", "repeat_interleave", "tril", "triu",
              "diagonal", "diag", "trace", "diff", "norm", "outer", "cross", "isclose", "allclose", "equal",
              "nonzero", "take_along_dim", "index_put", "masked_scatter", "index_add", "index_copy", "scatter",
              "scatter_reduce"):
    globals()[_name] = _fn(_name)


def max(t: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """tg.max(t) / tg.max(t, dim) (values only), or tg.max(a, b) elementwise."""
    return t.max(dim, keepdim)


def min(t: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return t.min(dim, keepdim)


def numel(t: Tensor) -> int:
    return t.numel()


def is_tensor(x: object) -> bool:
    return isinstance(x, Tensor)
