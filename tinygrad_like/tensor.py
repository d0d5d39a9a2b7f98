"""Tensor: the user-facing array with PyTorch's API. Its methods are thin: each calls one op.

A Tensor is a (buffer, View, dtype, backend) tuple plus autograd fields (`requires_grad`,
`grad`, the graph node that made it). The ops that compute and differentiate live in
tinygrad_like/ops/, one module per family (elementwise, reduce, movement, matmul, index,
in-place, conversions, composed ops); this file only gives them PyTorch's names and
signatures. See docs/architecture.md for one call traced through the layers.
"""
from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence, Union

from . import dispatch
from . import dtypes as _dt
from .autograd import Node, graph_string, run_backward
from .dispatch import shape_args
from .device import resolve
from .dtypes import DType, bool_, float32, float64, int64
from .errors import AutogradError, DTypeError, InvalidValueError, ShapeError
from .from_data import tensor_from_data
from .interop import to_numpy
from .ops import composed, convert, elementwise as ew, inplace, matmul as mm, movement as mv, reduce as rd
from .ops import index as index_ops
from .printing import tensor_repr
from .random import default_generator
from .view import View, normalize_dim, prod

Scalar = Union[int, float, bool]


class Tensor:
    """An n-dimensional array on one backend, with PyTorch's API and autograd."""

    __slots__ = ("_buf", "_view", "dtype", "_be", "requires_grad", "grad", "_node", "_retains_grad",
                 "__weakref__")
    __hash__ = object.__hash__  # == is elementwise, so hash by identity as PyTorch does

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False, backend: Any = None):
        """`tg.Tensor(data)` behaves like `tg.tensor(data)`."""
        t = tensor_from_data(data, None if dtype is None else _dt.get_dtype(dtype), resolve(backend))
        for k in Tensor.__slots__[:-1]:
            setattr(self, k, getattr(t, k))
        if requires_grad:
            self.requires_grad_()

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self) -> tuple:
        return self._view.shape

    @property
    def ndim(self) -> int:
        return len(self._view.shape)

    def dim(self) -> int:
        return len(self._view.shape)

    @property
    def backend(self) -> str:
        return self._be.name

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def strides(self) -> tuple:
        return self._view.strides

    def stride(self, dim: Optional[int] = None) -> Any:
        return self._view.strides if dim is None else self._view.strides[normalize_dim(dim, self.ndim)]

    def storage_offset(self) -> int:
        return self._view.offset

    def numel(self) -> int:
        return prod(self._view.shape)

    def size(self, dim: Optional[int] = None) -> Any:
        return self._view.shape if dim is None else self._view.shape[normalize_dim(dim, self.ndim)]

    def element_size(self) -> int:
        return self.dtype.itemsize

    def is_contiguous(self) -> bool:
        return self._view.is_contiguous()

    def is_floating_point(self) -> bool:
        return self.dtype.is_float

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self) -> Optional[Node]:
        return self._node

    @property
    def T(self) -> "Tensor":
        return self.permute(tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> "Tensor":
        return self.transpose(-2, -1)

    def __len__(self) -> int:
        if not self._view.shape:
            raise DTypeError("len() of a 0-d tensor")
        return self._view.shape[0]

    def __iter__(self) -> Iterator["Tensor"]:
        if not self._view.shape:
            raise DTypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._view.shape[0]))

    # ------------------------------------------------------------------ conversion to Python
    def tolist(self) -> Any:
        flat = self._be.to_list(self._buf, self._view, self.dtype) if self.numel() else []
        shape = self._view.shape
        if not shape:
            return flat[0]
        if 0 in shape:  # nothing to split: build the nested empty lists (e.g. (3, 0) -> [[], [], []])
            return _empty_nested(shape)
        for n in reversed(shape[1:]):
            flat = [flat[i:i + n] for i in range(0, len(flat), n)]
        return flat

    def item(self) -> Scalar:
        if self.numel() != 1:
            raise InvalidValueError(f"a Tensor with {self.numel()} elements (shape {self.shape}) cannot be converted to a Python scalar")
        v = self._view
        return self._be.to_list(self._buf, View((), (), v.offset if not v.shape else v.span()[0]), self.dtype)[0]

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_float or self.dtype is bool_:
            raise DTypeError(f"only integer tensors of a single element can be converted to an index, got {self.dtype.name}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise AutogradError(f"Boolean value of Tensor with {self.numel()} values (shape {self.shape}) is ambiguous; use .any() or .all()")
        return bool(self.item())

    def numpy(self) -> Any:
        """A numpy array sharing this tensor's memory where the backend allows (like PyTorch)."""
        if self.requires_grad:
            raise AutogradError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return to_numpy(self)

    def __repr__(self) -> str:
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.numel() == 1 and not self.shape:
            return format(self.item(), spec)
        return repr(self)

    def graph(self, max_lines: int = 2000) -> str:
        """A readable tree of the ops that produced this tensor (for teaching and debugging)."""
        return graph_string(self, max_lines)

    # ------------------------------------------------------------------ dtype and backend moves
    def to(self, *args: Any, dtype: Any = None, backend: Any = None, copy: bool = False) -> "Tensor":
        """to(dtype), to('numba') (a backend name), to('cpu') (no-op), or to(other_tensor)."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, backend = a.dtype, a._be
            elif isinstance(a, str) and a in ("python", "numba", "c"):
                backend = a
            elif not (isinstance(a, str) and a == "cpu"):
                dtype = a
        out = self
        if backend is not None:
            be = resolve(backend)
            if be is not self._be:
                out = convert.to_backend(out, be)
        if dtype is not None:
            dt = _dt.get_dtype(dtype)
            if dt is not out.dtype:
                out = convert.cast(out, dt)
        return self.clone() if copy and out is self else out

    def float(self) -> "Tensor":
        return self.to(float32)

    def double(self) -> "Tensor":
        return self.to(float64)

    def long(self) -> "Tensor":
        return self.to(int64)

    def bool(self) -> "Tensor":
        return self.to(bool_)

    def type(self, dtype: Any) -> "Tensor":
        return self.to(dtype)

    # ------------------------------------------------------------------ autograd API
    def backward(self, gradient: Optional["Tensor"] = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's .grad (PyTorch's semantics)."""
        if not self.requires_grad:
            raise AutogradError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if self.numel() != 1:
                raise AutogradError(f"grad can be implicitly created only for scalar outputs; this tensor has shape {self.shape}: pass gradient=")
            gradient = dispatch.full(self.shape, 1.0, self.dtype, self._be)
        elif not isinstance(gradient, Tensor):
            gradient = tensor_from_data(gradient, self.dtype, self._be)
        if gradient.shape != self.shape:
            raise ShapeError(f"backward: gradient has shape {gradient.shape} but the tensor has shape {self.shape}")
        run_backward(self, gradient.detach(), retain_graph)

    def detach(self) -> "Tensor":
        return dispatch.wrap(self._buf, self._view, self.dtype, self._be)

    def detach_(self) -> "Tensor":
        self._node = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not self.dtype.is_float:
            raise DTypeError(f"only floating point tensors can require gradients, got {self.dtype.name}")
        if not requires_grad and self._node is not None:
            raise AutogradError("you can only change requires_grad flags of leaf variables; use detach()")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep .grad for this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise AutogradError("can't retain_grad on Tensor that has requires_grad=False")
        self._retains_grad = True

    # ------------------------------------------------------------------ movement (views)
    def reshape(self, *shape: Any) -> "Tensor":
        return mv.reshape(self, shape_args(shape))

    def view(self, *shape: Any) -> "Tensor":
        return mv.view(self, shape_args(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        return mv.flatten(self, start_dim, end_dim)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> "Tensor":
        return mv.unflatten(self, dim, sizes)

    def permute(self, *dims: Any) -> "Tensor":
        return mv.permute(self, shape_args(dims))

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        return mv.transpose(self, dim0, dim1)

    swapaxes = transpose

    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise ShapeError(f"t() expects a tensor with <= 2 dims, got shape {self.shape}; use transpose(d0, d1)")
        return self.T

    def expand(self, *shape: Any) -> "Tensor":
        return mv.expand(self, shape_args(shape))

    def expand_as(self, other: "Tensor") -> "Tensor":
        return mv.expand(self, other.shape)

    def broadcast_to(self, shape: Sequence[int]) -> "Tensor":
        return mv.expand(self, tuple(shape))

    def squeeze(self, dim: Any = None) -> "Tensor":
        return mv.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> "Tensor":
        return mv.unsqueeze(self, dim)

    def narrow(self, dim: int, start: int, length: int) -> "Tensor":
        return mv.narrow(self, dim, start, length)

    def chunk(self, chunks: int, dim: int = 0) -> list:
        return mv.chunk(self, chunks, dim)

    def split(self, split_size: Any, dim: int = 0) -> list:
        return mv.split(self, split_size, dim)

    def __getitem__(self, key: Any) -> "Tensor":
        return index_ops.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        index_ops.setitem(self, key, value)

    def contiguous(self) -> "Tensor":
        return mv.contiguous(self)

    def clone(self) -> "Tensor":
        return mv.clone(self)

    def sum_to(self, shape: Sequence[int]) -> "Tensor":
        """Sum broadcast dims away so the result has `shape` (the gradient of broadcasting)."""
        return rd.sum_to(self, shape)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> "Tensor":
        return ew.add(self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return ew.add(self, other, reverse=True)

    def __sub__(self, other: Any) -> "Tensor":
        return ew.sub(self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        return ew.sub(self, other, reverse=True)

    def __mul__(self, other: Any) -> "Tensor":
        return ew.mul(self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return ew.mul(self, other, reverse=True)

    def __truediv__(self, other: Any) -> "Tensor":
        return ew.div(self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return ew.div(self, other, reverse=True)

    def __pow__(self, other: Any) -> "Tensor":
        return ew.pow(self, other)

    def __rpow__(self, other: Any) -> "Tensor":
        return ew.pow(self, other, reverse=True)

    def __floordiv__(self, other: Any) -> "Tensor":
        return ew.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> "Tensor":
        return ew.floor_divide(self, other, reverse=True)

    def __mod__(self, other: Any) -> "Tensor":
        return ew.remainder(self, other)

    def __rmod__(self, other: Any) -> "Tensor":
        return ew.remainder(self, other, reverse=True)

    def __neg__(self) -> "Tensor":
        return ew.neg(self)

    def __pos__(self) -> "Tensor":
        return self

    def __matmul__(self, other: "Tensor") -> "Tensor":
        return mm.matmul(self, other)

    def __rmatmul__(self, other: "Tensor") -> "Tensor":
        return mm.matmul(other, self)

    def add(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        return ew.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        return ew.sub(self, other if alpha == 1 else other * alpha)

    def mul(self, other: Any) -> "Tensor":
        return ew.mul(self, other)

    def div(self, other: Any) -> "Tensor":
        return ew.div(self, other)

    def pow(self, exponent: Any) -> "Tensor":
        return ew.pow(self, exponent)

    def neg(self) -> "Tensor":
        return ew.neg(self)

    def floor_divide(self, other: Any) -> "Tensor":
        return ew.floor_divide(self, other)

    def remainder(self, other: Any) -> "Tensor":
        return ew.remainder(self, other)

    multiply, divide, subtract, negative = mul, div, sub, neg

    # ------------------------------------------------------------------ comparisons and logic (no gradient)
    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return ew.compare(self, other, "eq")

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return ew.compare(self, other, "ne")

    def __lt__(self, other: Any) -> "Tensor":
        return ew.compare(self, other, "lt")

    def __le__(self, other: Any) -> "Tensor":
        return ew.compare(self, other, "le")

    def __gt__(self, other: Any) -> "Tensor":
        return ew.compare(self, other, "gt")

    def __ge__(self, other: Any) -> "Tensor":
        return ew.compare(self, other, "ge")

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __and__(self, other: Any) -> "Tensor":
        return ew.logic(self, other, "mul")

    def __or__(self, other: Any) -> "Tensor":
        return ew.logic(self, other, "maximum")

    def __xor__(self, other: Any) -> "Tensor":
        return ew.logic(self, other, "ne")

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self) -> "Tensor":
        return ew.logical_not(self)

    logical_not = __invert__

    def isnan(self) -> "Tensor":
        return ew.isnan(self)

    def isinf(self) -> "Tensor":
        return ew.isinf(self)

    def isfinite(self) -> "Tensor":
        return ew.isfinite(self)

    def any(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return composed.any(self, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return composed.all(self, dim, keepdim)

    # ------------------------------------------------------------------ unary math
    def exp(self) -> "Tensor":
        return ew.exp(self)

    def log(self) -> "Tensor":
        return ew.log(self)

    def sqrt(self) -> "Tensor":
        return ew.sqrt(self)

    def sin(self) -> "Tensor":
        return ew.sin(self)

    def cos(self) -> "Tensor":
        return ew.cos(self)

    def tanh(self) -> "Tensor":
        return ew.tanh(self)

    def sigmoid(self) -> "Tensor":
        return ew.sigmoid(self)

    def relu(self) -> "Tensor":
        return ew.relu(self)

    def erf(self) -> "Tensor":
        return ew.erf(self)

    def reciprocal(self) -> "Tensor":
        return ew.reciprocal(self)

    def abs(self) -> "Tensor":
        return ew.abs(self)

    def sign(self) -> "Tensor":
        return ew.sign(self)

    def floor(self) -> "Tensor":
        return ew.floor(self)

    def ceil(self) -> "Tensor":
        return ew.ceil(self)

    def trunc(self) -> "Tensor":
        return ew.trunc(self)

    def round(self) -> "Tensor":
        """Round half to even, as PyTorch and numpy do."""
        return composed.round(self)

    def square(self) -> "Tensor":
        return self * self

    def rsqrt(self) -> "Tensor":
        return composed.rsqrt(self)

    def log1p(self) -> "Tensor":
        return composed.log1p(self)

    def expm1(self) -> "Tensor":
        return composed.expm1(self)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> "Tensor":
        return composed.softplus(self, beta, threshold)

    def gelu(self, approximate: str = "none") -> "Tensor":
        return composed.gelu(self, approximate)

    def leaky_relu(self, negative_slope: float = 0.01) -> "Tensor":
        return composed.leaky_relu(self, negative_slope)

    def clamp(self, min: Optional[Scalar] = None, max: Optional[Scalar] = None) -> "Tensor":
        return composed.clamp(self, min, max)

    clip = clamp

    def clamp_min(self, min: Scalar) -> "Tensor":
        return composed.clamp(self, min=min)

    def clamp_max(self, max: Scalar) -> "Tensor":
        return composed.clamp(self, max=max)

    def maximum(self, other: Any) -> "Tensor":
        return ew.maximum(self, other)

    def minimum(self, other: Any) -> "Tensor":
        return ew.minimum(self, other)

    def lerp(self, end: "Tensor", weight: Any) -> "Tensor":
        return composed.lerp(self, end, weight)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        return rd.sum(self, dim, keepdim, dtype)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        return rd.mean(self, dim, keepdim, dtype)

    def max(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        """Maximum values over dim (values only; use argmax for indices), or max(other) elementwise."""
        return ew.maximum(self, dim) if isinstance(dim, Tensor) else rd.minmax(self, "max", dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return ew.minimum(self, dim) if isinstance(dim, Tensor) else rd.minmax(self, "min", dim, keepdim)

    def amax(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return rd.minmax(self, "max", dim, keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return rd.minmax(self, "min", dim, keepdim)

    def argmax(self, dim: Optional[int] = None, keepdim: bool = False) -> "Tensor":
        return rd.arg(self, "argmax", dim, keepdim)

    def argmin(self, dim: Optional[int] = None, keepdim: bool = False) -> "Tensor":
        return rd.arg(self, "argmin", dim, keepdim)

    def prod(self, dim: Optional[int] = None, keepdim: bool = False) -> "Tensor":
        return rd.prod(self, dim, keepdim)

    def var(self, dim: Any = None, keepdim: bool = False, correction: int = 1, unbiased: Optional[bool] = None) -> "Tensor":
        return composed.var(self, dim, keepdim, correction if unbiased is None else int(unbiased))

    def std(self, dim: Any = None, keepdim: bool = False, correction: int = 1, unbiased: Optional[bool] = None) -> "Tensor":
        return self.var(dim, keepdim, correction, unbiased).sqrt()

    def logsumexp(self, dim: Any, keepdim: bool = False) -> "Tensor":
        return composed.logsumexp(self, dim, keepdim)

    def softmax(self, dim: int) -> "Tensor":
        return rd.softmax(self, dim)

    def log_softmax(self, dim: int) -> "Tensor":
        return rd.softmax(self, dim, log=True)

    # ------------------------------------------------------------------ matrix products
    def matmul(self, other: "Tensor") -> "Tensor":
        return mm.matmul(self, other)

    mm = bmm = matmul

    def dot(self, other: "Tensor") -> "Tensor":
        if self.ndim != 1 or other.ndim != 1:
            raise ShapeError(f"dot: expects 1-D tensors, got shapes {self.shape} and {other.shape}")
        return mm.matmul(self, other)

    # ------------------------------------------------------------------ indexing with tensors
    def gather(self, dim: int, index: "Tensor") -> "Tensor":
        return index_ops.gather(self, dim, index)

    def index_select(self, dim: int, index: "Tensor") -> "Tensor":
        return index_ops.index_select(self, dim, index)

    def scatter_add(self, dim: int, index: "Tensor", src: "Tensor") -> "Tensor":
        """out = self.clone(); out[... index ...] += src along dim (differentiable in self and src)."""
        return index_ops.scatter_add(self, dim, index, src)

    def masked_fill(self, mask: "Tensor", value: Any) -> "Tensor":
        return index_ops.masked_fill(self, mask, value)

    # ------------------------------------------------------------------ in place (optimizers, init)
    def add_(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        return inplace.add_(self, other, alpha)

    def sub_(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        return inplace.sub_(self, other, alpha)

    def mul_(self, other: Any) -> "Tensor":
        return inplace.binary_(self, "mul", other)

    def div_(self, other: Any) -> "Tensor":
        return inplace.binary_(self, "div", other)

    def clamp_(self, min: Optional[Scalar] = None, max: Optional[Scalar] = None) -> "Tensor":
        return inplace.clamp_(self, min, max)

    def copy_(self, src: "Tensor") -> "Tensor":
        return inplace.copy_(self, src)

    def fill_(self, value: Scalar) -> "Tensor":
        return inplace.fill_(self, value)

    def zero_(self) -> "Tensor":
        return inplace.fill_(self, 0)

    def round_(self) -> "Tensor":
        return inplace.copy_(self, composed.round(self.detach()))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> "Tensor":
        return inplace.copy_(self, _draw(self, "uniform") * (b - a) + a)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> "Tensor":
        return inplace.copy_(self, _draw(self, "normal") * std + mean)


dispatch.use_tensor_class(Tensor)  # the ops build their results as Tensors (see dispatch.wrap)


def _draw(like: Tensor, dist: str) -> Tensor:
    """Fresh samples of `dist` with like's shape, float dtype and backend (from the global generator)."""
    dt = like.dtype if like.dtype.is_float else float32
    return default_generator.sample(dist, like.shape, dt, like._be)


def _empty_nested(shape: tuple) -> list:
    """tolist() of a tensor with no elements: nested lists down to the first zero dim."""
    if shape[0] == 0:
        return []
    return [_empty_nested(shape[1:]) for _ in range(shape[0])]


# module-level forms of the ops that PyTorch exposes as functions (tg.where, tg.cat, ...)
where = ew.where
maximum = ew.maximum
minimum = ew.minimum
cat = mv.cat
stack = mv.stack
