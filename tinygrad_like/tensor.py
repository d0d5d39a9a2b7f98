"""Tensor: the user-facing array with PyTorch's API. Its methods are thin: each calls one op.

A Tensor is a (buffer, View, dtype, backend) tuple plus autograd fields (`requires_grad`,
`grad`, the graph node that made it). The ops that compute and differentiate live in
tinygrad_like/ops/, one module per family (elementwise, reduce, movement, matmul, index,
in-place, conversions, composed ops); this file only gives them PyTorch's names and
signatures. See docs/architecture.md for one call traced through the layers.
"""
from __future__ import annotations

import weakref
from functools import partialmethod
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from . import autograd, dispatch
from . import dtypes as _dt
from .autograd import Node, RemovableHandle, graph_string
from .dispatch import shape_args
from .device import resolve
from .dtypes import DType, bool_, float32, float64, int64
from .errors import AutogradError, DTypeError, InvalidValueError, ShapeError
from .from_data import tensor_from_data
from .interop import to_numpy
from .ops import composed, convert, elementwise as ew, inplace, movement as mv, reduce as rd
from .ops import matmul as matmul_ops
from .ops import index as index_ops
from .ops import advanced_index as adv, einsum as einsum_ops, linalg as la, sampling, scatter as sc, shape as sh, sort as so
from .printing import tensor_repr
from .random import default_generator
from .view import View, normalize_dim, prod

Scalar = Union[int, float, bool]


class Tensor:
    """An n-dimensional array on one backend, with PyTorch's API and autograd."""

    # _vc: the storage's version counter (a one-element list shared by every view of the storage,
    # bumped by in-place ops); _hooks: gradient hooks of a leaf (a non-leaf keeps them on its node)
    __slots__ = ("_buf", "_view", "dtype", "_be", "_vc", "requires_grad", "grad", "_node", "_hooks",
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

    def int(self) -> "Tensor":  # noqa: A003  (PyTorch's name: int32)
        return self.to(_dt.int32)

    def short(self) -> "Tensor":
        return self.to(_dt.int16)

    def byte(self) -> "Tensor":
        return self.to(_dt.uint8)

    def bool(self) -> "Tensor":
        return self.to(bool_)

    def type(self, dtype: Any) -> "Tensor":
        return self.to(dtype)

    # ------------------------------------------------------------------ autograd API
    def backward(self, gradient: Optional["Tensor"] = None, retain_graph: Optional[bool] = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's .grad (PyTorch's semantics); with
        create_graph=True the backward pass is itself recorded (gradients of gradients)."""
        if gradient is not None and not isinstance(gradient, Tensor):
            gradient = tensor_from_data(gradient, self.dtype, self._be)
        autograd.backward([self], None if gradient is None else [gradient], retain_graph, create_graph)

    def detach(self) -> "Tensor":
        return dispatch.wrap(self._buf, self._view, self.dtype, self._be, self._vc)

    def __deepcopy__(self, memo: dict) -> "Tensor":
        """A copy of a leaf's data, same class (a Parameter stays one) and requires_grad, no .grad."""
        if self._node is not None:
            raise AutogradError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol")
        new = object.__new__(type(self))
        src = mv.clone(self.detach())
        for k in ("_buf", "_view", "dtype", "_be", "_vc"):
            setattr(new, k, getattr(src, k))
        new.requires_grad, new.grad, new._node, new._hooks = self.requires_grad, None, None, None
        memo[id(self)] = new
        return new

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
        if self._node is not None:
            self._node.retained = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        return self._node is not None and self._node.retained is not None and self._node.retained() is self

    def register_hook(self, hook: Callable[["Tensor"], Optional["Tensor"]]) -> RemovableHandle:
        """Call hook(grad) whenever this tensor's gradient is computed; a returned tensor replaces
        the gradient. `handle.remove()` unregisters it."""
        if not self.requires_grad:
            raise AutogradError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is not None:
            if self._node.hooks is None:
                self._node.hooks = []
            hooks = self._node.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    @property
    def data(self) -> "Tensor":
        """This tensor's storage without its history (and not version-tracked, as in PyTorch)."""
        return dispatch.wrap(self._buf, self._view, self.dtype, self._be)

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise DTypeError(f"data must be set to a Tensor, got {type(value).__name__}")
        self._buf, self._view, self.dtype, self._be, self._vc = value._buf, value._view, value.dtype, value._be, value._vc

    @property
    def _version(self) -> int:
        """How many in-place ops have written this tensor's storage (PyTorch's `t._version`)."""
        return self._vc[0]

    # ------------------------------------------------------------------ the ops
    # Each method is the op itself (tinygrad_like/ops/): `t.exp()` is `elementwise.exp(t)`.
    # A `def` remains only where PyTorch's signature differs from the op's.

    # movement: views of the same buffer
    def reshape(self, *shape: Any) -> "Tensor":
        return mv.reshape(self, shape_args(shape))

    def view(self, *shape: Any) -> "Tensor":
        return mv.view(self, shape_args(shape))

    def permute(self, *dims: Any) -> "Tensor":
        return mv.permute(self, shape_args(dims))

    def expand(self, *shape: Any) -> "Tensor":
        return mv.expand(self, shape_args(shape))

    def expand_as(self, other: "Tensor") -> "Tensor":
        return mv.expand(self, other.shape)

    def broadcast_to(self, shape: Sequence[int]) -> "Tensor":
        return mv.expand(self, tuple(shape))

    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise ShapeError(f"t() expects a tensor with <= 2 dims, got shape {self.shape}; use transpose(d0, d1)")
        return self.T

    flatten, unflatten, transpose, swapaxes = mv.flatten, mv.unflatten, mv.transpose, mv.transpose
    squeeze, unsqueeze, narrow, chunk, split = mv.squeeze, mv.unsqueeze, mv.narrow, mv.chunk, mv.split
    contiguous, clone, sum_to = mv.contiguous, mv.clone, rd.sum_to
    __getitem__, __setitem__ = adv.getitem, adv.setitem

    # arithmetic (PyTorch's promotion; Python numbers and numpy arrays are accepted as operands)
    __add__, __sub__, __mul__, __truediv__, __pow__ = ew.add, ew.sub, ew.mul, ew.div, ew.pow
    __floordiv__, __mod__, __neg__, __matmul__ = ew.floor_divide, ew.remainder, ew.neg, matmul_ops.matmul
    mul, div, pow, neg, floor_divide, remainder, fmod = ew.mul, ew.div, ew.pow, ew.neg, ew.floor_divide, ew.remainder, ew.fmod
    multiply, divide, negative = ew.mul, ew.div, ew.neg

    # the reflected forms (2 - t, 2 / t, ...): the same ops with the operands swapped
    __radd__ = partialmethod(ew.add, reverse=True)
    __rsub__ = partialmethod(ew.sub, reverse=True)
    __rmul__ = partialmethod(ew.mul, reverse=True)
    __rtruediv__ = partialmethod(ew.div, reverse=True)
    __rpow__ = partialmethod(ew.pow, reverse=True)
    __rfloordiv__ = partialmethod(ew.floor_divide, reverse=True)
    __rmod__ = partialmethod(ew.remainder, reverse=True)

    def __rmatmul__(self, other: "Tensor") -> "Tensor":
        return matmul_ops.matmul(other, self)

    def __pos__(self) -> "Tensor":
        return self

    def add(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        return ew.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        return ew.sub(self, other if alpha == 1 else other * alpha)

    subtract = sub

    # comparisons and logic (bool results, no gradient)
    __eq__, __ne__, __lt__, __le__, __gt__, __ge__ = ew.eq, ew.ne, ew.lt, ew.le, ew.gt, ew.ge  # type: ignore[assignment]
    eq, ne, lt, le, gt, ge = ew.eq, ew.ne, ew.lt, ew.le, ew.gt, ew.ge
    __and__ = __rand__ = logical_and = ew.logical_and
    __or__ = __ror__ = logical_or = ew.logical_or
    __xor__ = __rxor__ = logical_xor = ew.logical_xor
    __invert__ = logical_not = ew.logical_not
    isnan, isinf, isfinite, any, all = ew.isnan, ew.isinf, ew.isfinite, composed.any, composed.all

    # unary math
    exp, log, sqrt, sin, cos, tanh, sigmoid, relu = ew.exp, ew.log, ew.sqrt, ew.sin, ew.cos, ew.tanh, ew.sigmoid, ew.relu
    erf, reciprocal, abs, sign = ew.erf, ew.reciprocal, ew.abs, ew.sign
    floor, ceil, trunc, round = ew.floor, ew.ceil, ew.trunc, composed.round
    rsqrt, log1p, expm1, softplus = composed.rsqrt, composed.log1p, composed.expm1, composed.softplus
    gelu, leaky_relu, clamp, clip, lerp = composed.gelu, composed.leaky_relu, composed.clamp, composed.clamp, composed.lerp
    maximum, minimum = ew.maximum, ew.minimum

    def square(self) -> "Tensor":
        return self * self

    def clamp_min(self, min: Scalar) -> "Tensor":
        return composed.clamp(self, min=min)

    def clamp_max(self, max: Scalar) -> "Tensor":
        return composed.clamp(self, max=max)

    # reductions
    sum, mean, prod, logsumexp = rd.sum, rd.mean, rd.prod, composed.logsumexp

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

    def var(self, dim: Any = None, keepdim: bool = False, correction: int = 1, unbiased: Optional[bool] = None) -> "Tensor":
        return composed.var(self, dim, keepdim, correction if unbiased is None else int(unbiased))

    def std(self, dim: Any = None, keepdim: bool = False, correction: int = 1, unbiased: Optional[bool] = None) -> "Tensor":
        return composed.var(self, dim, keepdim, correction if unbiased is None else int(unbiased), sqrt=True)

    def softmax(self, dim: int) -> "Tensor":
        return rd.softmax(self, dim)

    def log_softmax(self, dim: int) -> "Tensor":
        return rd.softmax(self, dim, log=True)

    # matrix products
    matmul = mm = bmm = matmul_ops.matmul

    def dot(self, other: "Tensor") -> "Tensor":
        if self.ndim != 1 or other.ndim != 1:
            raise ShapeError(f"dot: expects 1-D tensors, got shapes {self.shape} and {other.shape}")
        return matmul_ops.matmul(self, other)

    # indexing with tensors
    gather, index_select, scatter_add = index_ops.gather, index_ops.index_select, index_ops.scatter_add
    masked_fill = index_ops.masked_fill
    nonzero, take_along_dim, index_put, index_put_ = adv.nonzero, sc.take_along_dim, sc.index_put, sc.index_put_
    masked_fill_, masked_scatter, masked_scatter_ = sc.masked_fill_, sc.masked_scatter, sc.masked_scatter_
    index_add, index_add_, index_copy, index_copy_ = sc.index_add, sc.index_add_, sc.index_copy, sc.index_copy_
    scatter, scatter_, scatter_add_, scatter_reduce = sc.scatter, sc.scatter_, sc.scatter_add_, sc.scatter_reduce

    # sorting and scans
    sort, argsort, topk, kthvalue, median = so.sort, so.argsort, so.topk, so.kthvalue, so.median
    cumsum, cumprod = so.cumsum, so.cumprod

    # shape ops (copies), triangles and diagonals
    flip, fliplr, flipud, roll, repeat, tile = sh.flip, sh.fliplr, sh.flipud, sh.roll, sh.repeat, sh.tile
    repeat_interleave, tril, triu, diagonal, diag, trace, diff = (sh.repeat_interleave, sh.tril, sh.triu, sh.diagonal,
                                                                  sh.diag, sh.trace, sh.diff)

    # norms, products and comparisons; sampling
    norm, outer, cross, isclose, allclose, equal = la.norm, la.outer, la.cross, la.isclose, la.allclose, la.equal
    multinomial, bernoulli = sampling.multinomial, sampling.bernoulli

    # in place (optimizers, initializers)
    add_, sub_, clamp_, copy_, fill_ = inplace.add_, inplace.sub_, inplace.clamp_, inplace.copy_, inplace.fill_

    def mul_(self, other: Any) -> "Tensor":
        return inplace.binary_(self, "mul", other)

    def div_(self, other: Any) -> "Tensor":
        return inplace.binary_(self, "div", other)

    def __iadd__(self, other: Any) -> "Tensor":
        return inplace.add_(self, other)

    def __isub__(self, other: Any) -> "Tensor":
        return inplace.sub_(self, other)

    def __imul__(self, other: Any) -> "Tensor":
        return inplace.binary_(self, "mul", other)

    def __itruediv__(self, other: Any) -> "Tensor":
        return inplace.binary_(self, "div", other)

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


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:  # noqa: A002
    """where(cond, a, b) elementwise; where(cond) alone is nonzero(cond, as_tuple=True)."""
    if input is None and other is None:
        return adv.nonzero(condition, as_tuple=True)
    return ew.where(condition, input, other)


einsum = einsum_ops.einsum
maximum = ew.maximum
minimum = ew.minimum
cat = mv.cat
stack = mv.stack
