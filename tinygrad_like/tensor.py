"""Tensor: the user-facing array with autograd. Each op's backward sits right under its forward.

A Tensor is a (buffer, View, dtype, backend) tuple plus autograd fields. Movement ops make a
new View over the same buffer; compute ops ask the backend for one primitive on coalesced
views and wrap the new contiguous buffer it returns.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Iterable, Optional, Sequence, Union

from . import dtypes as _dt
from .autograd import Node, _GradMode, graph_string, run_backward
from .device import default_backend, resolve
from .dtypes import DType, bool_, float32, float64, int64
from .errors import (AutogradError, BackendError, DTypeError, InvalidValueError, ShapeError,
                     TensorIndexError)
from .view import (View, broadcast_shapes, coalesce, contiguous_strides, elementwise_layout, infer_shape,
                   is_dense_permuted, normalize_dim, normalize_dims, prod)

Scalar = Union[int, float, bool]
_SCALAR_VIEW = View((), ())
_CONTIG: dict[tuple, View] = {}
_new = object.__new__


def _contig(shape: tuple) -> View:
    v = _CONTIG.get(shape)
    if v is None:
        if len(_CONTIG) > 4096:
            _CONTIG.clear()
        v = _CONTIG[shape] = View.contiguous(shape)
    return v


def _wrap(buf: Any, view: View, dtype: DType, be: Any) -> "Tensor":
    t = _new(Tensor)
    t._buf = buf
    t._view = view
    t.dtype = dtype
    t._be = be
    t.requires_grad = False
    t.grad = None
    t._node = None
    t._retains_grad = False
    return t


def _record(out: "Tensor", name: str, inputs: tuple, backward: Any) -> "Tensor":
    """Attach a graph node when grad mode is on and some input requires grad."""
    if _GradMode.enabled:
        for x in inputs:
            if x.requires_grad:
                out.requires_grad = True
                out._node = Node(name, inputs, backward)
                break
    return out


def _scalar(value: Scalar, dtype: DType, be: Any) -> "Tensor":
    return _wrap(be.full(1, _dt.cast_scalar(value, dtype), dtype), _SCALAR_VIEW, dtype, be)


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (int, float)) or (hasattr(x, "__float__") and not isinstance(x, Tensor) and not hasattr(x, "__len__"))


def _as_number(x: Any) -> Scalar:
    if isinstance(x, (int, float)):
        return x
    if hasattr(x, "item") and not isinstance(x, Tensor):  # numpy scalar
        return x.item()
    raise DTypeError(f"expected a Tensor or a Python number, got {type(x).__name__}")


def _result_dtype(a: "Tensor", b: "Tensor") -> DType:
    """PyTorch promotion; a 0-dim tensor does not widen a dimensioned one of the same category."""
    da, db = a.dtype, b.dtype
    if da is db:
        return da
    if da.category == db.category:
        if a._view.shape == () and b._view.shape != ():
            return db
        if b._view.shape == () and a._view.shape != ():
            return da
    return _dt.promote(da, db)


class Tensor:
    """An n-dimensional array on one backend, with PyTorch's API and autograd."""

    __slots__ = ("_buf", "_view", "dtype", "_be", "requires_grad", "grad", "_node", "_retains_grad",
                 "__weakref__")
    __hash__ = object.__hash__  # == is elementwise, so hash by identity as PyTorch does

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False, backend: Any = None):
        from .creation import tensor  # `tg.Tensor(data)` behaves like `tg.tensor(data)`
        t = tensor(data, dtype=dtype, requires_grad=requires_grad, backend=backend)
        for k in Tensor.__slots__[:-1]:
            setattr(self, k, getattr(t, k))

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
        if dim is None:
            return self._view.strides
        return self._view.strides[normalize_dim(dim, self.ndim)]

    def storage_offset(self) -> int:
        return self._view.offset

    def numel(self) -> int:
        return prod(self._view.shape)

    def size(self, dim: Optional[int] = None) -> Any:
        if dim is None:
            return self._view.shape
        return self._view.shape[normalize_dim(dim, self.ndim)]

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

    def __iter__(self):
        if not self._view.shape:
            raise DTypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._view.shape[0]))

    # ------------------------------------------------------------------ conversion
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
        return self._be.to_list(self._buf, View((), (), v.offset + 0 if not v.shape else v.span()[0]), self.dtype)[0]

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
        from .interop import to_numpy
        if self.requires_grad:
            raise AutogradError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return to_numpy(self)

    def __repr__(self) -> str:
        from .printing import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.numel() == 1 and not self.shape:
            return format(self.item(), spec)
        return repr(self)

    def graph(self) -> str:
        """A readable tree of the ops that produced this tensor (for teaching and debugging)."""
        return graph_string(self)

    # ------------------------------------------------------------------ dtype and backend moves
    def to(self, *args: Any, dtype: Any = None, backend: Any = None, copy: bool = False) -> "Tensor":
        """to(dtype), to('numba') (a backend name), to('cpu') (no-op), or to(other_tensor)."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, backend = a.dtype, a._be
            elif isinstance(a, str) and a in ("python", "numba", "c"):
                backend = a
            elif isinstance(a, str) and a == "cpu":
                continue
            else:
                dtype = a
        out = self
        if backend is not None:
            be = resolve(backend)
            if be is not self._be:
                out = out._to_backend(be)
        if dtype is not None:
            dt = _dt.get_dtype(dtype)
            if dt is not out.dtype:
                out = out._cast(dt)
        if copy and out is self:
            out = self.clone()
        return out

    def _to_backend(self, be: Any) -> "Tensor":
        src = self.contiguous()
        mv = src._be.memoryview(src._buf, src.dtype)
        n = src.numel()
        buf = be.from_buffer(mv[:n], src.dtype) if n else be.empty(0, src.dtype)
        out = _wrap(buf, _contig(self.shape), self.dtype, be)
        src_be = self._be

        def backward(g: Tensor) -> tuple:
            return (g._to_backend(src_be),)
        return _record(out, "ToBackend", (self,), backward)

    def _cast(self, dt: DType) -> "Tensor":
        v = self._view
        if self.dtype.is_float and not dt.is_float and self.numel():
            if dt is int64:
                bad = (self != self) | (self.abs() == math.inf)
                if bad.any().item():
                    raise InvalidValueError(f"cannot convert a {self.dtype.name} tensor holding nan or inf to int64")
        if self.numel() == 0:
            out = _wrap(self._be.empty(0, dt), _contig(v.shape), dt, self._be)
        else:
            cs, (st,) = coalesce(v.shape, v.strides)
            buf = self._be.copy(self._buf, View(cs, st, v.offset), self.dtype, dt)
            out = _wrap(buf, _contig(v.shape), dt, self._be)
        if not (self.dtype.is_float and dt.is_float):
            return out
        src_dt = self.dtype

        def backward(g: Tensor) -> tuple:
            return (g._cast(src_dt),)
        return _record(out, "ToCopy", (self,), backward)

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
            gradient = _wrap(self._be.full(1, 1.0, self.dtype), _contig(self.shape), self.dtype, self._be)
        elif not isinstance(gradient, Tensor):
            gradient = _wrap_like(gradient, self)
        if gradient.shape != self.shape:
            raise ShapeError(f"backward: gradient has shape {gradient.shape} but the tensor has shape {self.shape}")
        run_backward(self, gradient.detach(), retain_graph)

    def detach(self) -> "Tensor":
        return _wrap(self._buf, self._view, self.dtype, self._be)

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

    # ------------------------------------------------------------------ movement ops (views)
    def _view_op(self, view: View, name: str, backward: Any) -> "Tensor":
        out = _wrap(self._buf, view, self.dtype, self._be)
        return _record(out, name, (self,), backward)

    def reshape(self, *shape: Any) -> "Tensor":
        shape = _shape_args(shape)
        if shape == self.shape and all(type(n) is int for n in shape):
            return self  # the common no-op (backward rules reshape to shapes that often match)
        shape = infer_shape(shape, self.numel(), self.shape)
        if shape == self.shape:
            return self
        v = self._view.reshape(shape)
        if v is None:
            return self.contiguous().reshape(shape)
        old = self.shape
        return self._view_op(v, "Reshape", lambda g: (g.reshape(old),))

    def view(self, *shape: Any) -> "Tensor":
        shape = infer_shape(_shape_args(shape), self.numel(), self.shape)
        v = self._view.reshape(shape)
        if v is None:
            raise ShapeError(f"view size is not compatible with input tensor's size and stride: shape {self.shape} strides {self.strides} "
                             f"cannot be viewed as {shape}; use .reshape(...) instead (it copies)")
        old = self.shape
        return self._view_op(v, "View", lambda g: (g.reshape(old),))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        if self.ndim == 0:
            return self.reshape(1)
        s = normalize_dim(start_dim, self.ndim, "start_dim")
        e = normalize_dim(end_dim, self.ndim, "end_dim")
        if s > e:
            raise InvalidValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        shape = self.shape
        return self.reshape(shape[:s] + (prod(shape[s:e + 1]),) + shape[e + 1:])

    def unflatten(self, dim: int, sizes: Sequence[int]) -> "Tensor":
        d = normalize_dim(dim, self.ndim)
        sizes = infer_shape(sizes, self.shape[d], (self.shape[d],))
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1:])

    def permute(self, *dims: Any) -> "Tensor":
        order = tuple(normalize_dim(d, self.ndim) for d in _shape_args(dims))
        v = self._view.permute(order)
        inv = [0] * len(order)
        for i, d in enumerate(order):
            inv[d] = i
        return self._view_op(v, "Permute", lambda g: (g.permute(inv),))

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        n = self.ndim
        if n == 0:
            return self
        d0, d1 = normalize_dim(dim0, n), normalize_dim(dim1, n)
        order = list(range(n))
        order[d0], order[d1] = d1, d0
        return self.permute(order)

    swapaxes = transpose

    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise ShapeError(f"t() expects a tensor with <= 2 dims, got shape {self.shape}; use transpose(d0, d1)")
        return self.T

    def expand(self, *shape: Any) -> "Tensor":
        shape = tuple(_shape_args(shape))
        v = self._view.expand(shape)
        if v is self._view:
            return self
        old = self.shape
        return self._view_op(v, "Expand", lambda g: (g.sum_to(old),))

    def expand_as(self, other: "Tensor") -> "Tensor":
        return self.expand(other.shape)

    def broadcast_to(self, shape: Sequence[int]) -> "Tensor":
        return self.expand(*shape)

    def squeeze(self, dim: Any = None) -> "Tensor":
        dims = None if dim is None else normalize_dims(dim, self.ndim)
        v = self._view.squeeze(dims)
        if v.shape == self.shape:
            return self
        old = self.shape
        return self._view_op(v, "Squeeze", lambda g: (g.reshape(old),))

    def unsqueeze(self, dim: int) -> "Tensor":
        v = self._view.unsqueeze(dim)
        old = self.shape
        return self._view_op(v, "Unsqueeze", lambda g: (g.reshape(old),))

    def narrow(self, dim: int, start: int, length: int) -> "Tensor":
        d = normalize_dim(dim, self.ndim)
        if not (isinstance(start, int) and isinstance(length, int)):
            raise DTypeError(f"narrow: start and length must be ints, got {start!r} and {length!r}")
        if start < 0:
            start += self.shape[d]
        if not (0 <= start and length >= 0 and start + length <= self.shape[d]):
            raise TensorIndexError(f"narrow: start {start} + length {length} exceeds dim {d} of size {self.shape[d]}")
        key = (slice(None),) * d + (slice(start, start + length),)
        return self[key]

    def chunk(self, chunks: int, dim: int = 0) -> list:
        d = normalize_dim(dim, self.ndim)
        if not isinstance(chunks, int) or chunks <= 0:
            raise InvalidValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
        step = max(-(-self.shape[d] // chunks), 1)
        return self.split(step, d)

    def split(self, split_size: Any, dim: int = 0) -> list:
        d = normalize_dim(dim, self.ndim)
        n = self.shape[d]
        if isinstance(split_size, int):
            if split_size <= 0:
                raise InvalidValueError(f"split: split_size must be a positive int, got {split_size}")
            sizes = [min(split_size, n - i) for i in range(0, n, split_size)] or [0]
        else:
            sizes = list(split_size)
            if sum(sizes) != n:
                raise ShapeError(f"split: sizes {sizes} sum to {sum(sizes)}, but dim {d} has size {n}")
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(d, start, s))
            start += s
        return out

    def __getitem__(self, key: Any) -> "Tensor":
        if isinstance(key, Tensor) or (isinstance(key, list) and key and all(isinstance(k, int) for k in key)):
            idx = key if isinstance(key, Tensor) else _wrap_list(key, int64, self._be)
            if idx.dtype is bool_:
                raise TensorIndexError("boolean mask indexing is not supported; use tg.where(mask, x, other)")
            return self.index_select(0, idx.reshape(-1)).reshape(idx.shape + self.shape[1:])
        v = self._view.index(key)
        src_shape, src_view_key = self.shape, key

        def backward(g: Tensor) -> tuple:
            out = _zeros(src_shape, g.dtype, g._be)
            sub = _contig(src_shape).index(src_view_key)
            gv = g._view
            cs, (sd, ss) = coalesce(gv.shape, sub.strides, gv.strides)
            if cs or g.numel():
                g._be.assign(out._buf, View(cs, sd, sub.offset), g._buf, View(cs, ss, gv.offset), g.dtype)
            return (out,)
        return self._view_op(v, "Index", backward)

    def __setitem__(self, key: Any, value: Any) -> None:
        if _GradMode.enabled and self.requires_grad:
            raise AutogradError("in-place assignment to a tensor that requires grad is not supported; "
                                "use tg.where or tg.cat to build a new tensor, or assign under tg.no_grad()")
        dst = self._view.index(key)
        _check_no_internal_overlap(dst, "assignment")
        src = value if isinstance(value, Tensor) else _scalar(_as_number(value), self.dtype, self._be)
        if src._be is not self._be:
            raise BackendError(f"cannot assign a tensor on backend {src.backend!r} into one on {self.backend!r}")
        src = src.to(self.dtype).expand(dst.shape)
        _assign(self._buf, dst, src)

    # ------------------------------------------------------------------ copies
    def contiguous(self) -> "Tensor":
        if self._view.is_contiguous():
            return self
        return self.clone()

    def clone(self) -> "Tensor":
        v = self._view
        if self.numel() == 0:
            buf = self._be.empty(0, self.dtype)
        else:
            cs, (st,) = coalesce(v.shape, v.strides)
            buf = self._be.copy(self._buf, View(cs, st, v.offset), self.dtype, self.dtype)
        out = _wrap(buf, _contig(v.shape), self.dtype, self._be)
        return _record(out, "Clone", (self,), lambda g: (g,))

    # ------------------------------------------------------------------ elementwise core
    def _unary(self, op: str, name: str, backward_of: Any = None, dtype: Optional[DType] = None) -> "Tensor":
        x = self
        if dtype is None:
            dtype = x.dtype if x.dtype.is_float else float32
        if x.dtype is not dtype:
            x = x.to(dtype)
        v = x._view
        shape = v.shape
        if x.numel() == 0:
            return _wrap(x._be.empty(0, dtype), _contig(shape), dtype, x._be)
        if v.is_contiguous():
            kv, ov = (View((prod(shape),), (1,), 0) if shape else _SCALAR_VIEW), _contig(shape)
        else:
            ov, cs, (st,) = _layout1(shape, v.strides)
            kv = View(cs, st, v.offset)
        out = _wrap(x._be.unary(op, x._buf, kv, dtype), ov, dtype, x._be)
        if backward_of is None or not _GradMode.enabled or not x.requires_grad:
            return out
        return _record(out, name, (x,), backward_of(x, out))

    def _binary(self, other: Any, op: str, reverse: bool = False) -> tuple:
        """(a, b, dtype) ready for a kernel: other made a tensor, both cast to the result dtype."""
        a = self
        if isinstance(other, Tensor):
            if other._be is not a._be:
                raise BackendError(f"expected all tensors on one backend, got {a.backend!r} and {other.backend!r}; move one with .to('{a.backend}')")
            dt = a.dtype if other.dtype is a.dtype else _result_dtype(a, other)
            b = other
        else:
            other = _as_number(other)
            dt = _dt.promote_with_scalar(a.dtype, other)
            b = _scalar(other, dt, a._be)
        if a.dtype is not dt:
            a = a.to(dt)
        if b.dtype is not dt:
            b = b.to(dt)
        return (b, a, dt) if reverse else (a, b, dt)

    def _arith(self, other: Any, op: str, name: str, backward_of: Any, reverse: bool = False) -> "Tensor":
        a, b, dt = self._binary(other, op, reverse)
        if dt is bool_:
            if op in ("sub", "div", "pow"):
                if op == "sub":
                    raise DTypeError("subtraction of two bool tensors is not supported; use ^ (logical xor) or ~")
                a, b, dt = a.to(int64), b.to(int64), int64
            elif op == "add":
                op = "maximum"
        if op == "div" and not dt.is_float:
            a, b, dt = a.to(float32), b.to(float32), float32
        if op == "pow" and not dt.is_float:
            if (b < 0).any().item():
                raise InvalidValueError("Integers to negative integer powers are not allowed")
        out = _elementwise(op, a, b, dt, dt)
        if not _GradMode.enabled or not (a.requires_grad or b.requires_grad):
            return out
        return _record(out, name, (a, b), backward_of(a, b, out))

    # arithmetic ------------------------------------------------------------
    def add(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        return self + (other * alpha if alpha != 1 else other)

    def __add__(self, other: Any) -> "Tensor":
        return self._arith(other, "add", "Add", _add_backward)

    def __radd__(self, other: Any) -> "Tensor":
        return self._arith(other, "add", "Add", _add_backward, reverse=True)

    def sub(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        return self - (other * alpha if alpha != 1 else other)

    def __sub__(self, other: Any) -> "Tensor":
        return self._arith(other, "sub", "Sub", _sub_backward)

    def __rsub__(self, other: Any) -> "Tensor":
        return self._arith(other, "sub", "Sub", _sub_backward, reverse=True)

    def __mul__(self, other: Any) -> "Tensor":
        return self._arith(other, "mul", "Mul", _mul_backward)

    def __rmul__(self, other: Any) -> "Tensor":
        return self._arith(other, "mul", "Mul", _mul_backward, reverse=True)

    def __truediv__(self, other: Any) -> "Tensor":
        return self._arith(other, "div", "Div", _div_backward)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return self._arith(other, "div", "Div", _div_backward, reverse=True)

    def __pow__(self, other: Any) -> "Tensor":
        if isinstance(other, (int, float)) and not isinstance(other, bool) and self.dtype.is_float:
            if other == 2:
                return self * self
            if other == 1:
                return self * 1
        return self._arith(other, "pow", "Pow", _pow_backward)

    def __rpow__(self, other: Any) -> "Tensor":
        return self._arith(other, "pow", "Pow", _pow_backward, reverse=True)

    def __floordiv__(self, other: Any) -> "Tensor":
        a, b, dt = self._binary(other, "div")
        q = (a.to(float64) / b.to(float64)).floor()
        return q.to(dt) if not dt.is_float else q.to(dt)

    def __rfloordiv__(self, other: Any) -> "Tensor":
        b, a, dt = self._binary(other, "div")
        return a // b

    def __mod__(self, other: Any) -> "Tensor":
        return self - (self // other) * other

    def __neg__(self) -> "Tensor":
        if self.dtype is bool_:
            raise DTypeError("negation of a bool tensor is not supported; use ~ (logical not)")
        return self._unary("neg", "Neg", lambda x, out: lambda g: (-g,), dtype=self.dtype)

    def __pos__(self) -> "Tensor":
        return self

    def __matmul__(self, other: "Tensor") -> "Tensor":
        return self.matmul(other)

    def __rmatmul__(self, other: "Tensor") -> "Tensor":
        return other.matmul(self)

    # comparisons and logic (no gradient) ------------------------------------
    def _compare(self, other: Any, op: str) -> "Tensor":
        a, b, dt = self._binary(other, op)
        return _elementwise(op, a, b, dt, bool_)

    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(other, "eq")

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(other, "ne")

    def __lt__(self, other: Any) -> "Tensor":
        return self._compare(other, "lt")

    def __le__(self, other: Any) -> "Tensor":
        return self._compare(other, "le")

    def __gt__(self, other: Any) -> "Tensor":
        return self._compare(other, "gt")

    def __ge__(self, other: Any) -> "Tensor":
        return self._compare(other, "ge")

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def _logic(self, other: Any, op: str) -> "Tensor":
        a, b, dt = self._binary(other, op)
        if dt is not bool_:
            raise DTypeError(f"logical/bitwise ops are supported on bool tensors only, got {dt.name}")
        return _elementwise(op, a, b, bool_, bool_)

    def __and__(self, other: Any) -> "Tensor":
        return self._logic(other, "mul")

    def __or__(self, other: Any) -> "Tensor":
        return self._logic(other, "maximum")

    def __xor__(self, other: Any) -> "Tensor":
        return self._logic(other, "ne")

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self) -> "Tensor":
        if self.dtype is not bool_:
            raise DTypeError(f"~ is supported on bool tensors only, got {self.dtype.name}")
        return self._unary("logical_not", "Not", dtype=bool_)

    logical_not = __invert__

    def isnan(self) -> "Tensor":
        return self != self

    def isinf(self) -> "Tensor":
        return self.abs() == math.inf

    def isfinite(self) -> "Tensor":
        return ~(self.isnan() | self.isinf()) if self.dtype.is_float else _full_like_bool(self, True)

    def any(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return self.bool().to(int64).max(dim, keepdim).bool() if self.numel() else _full_like_bool(self, False, ())

    def all(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        return self.bool().to(int64).min(dim, keepdim).bool() if self.numel() else _full_like_bool(self, True, ())

    # unary math ----------------------------------------------------------------
    def exp(self) -> "Tensor":
        return self._unary("exp", "Exp", lambda x, out: lambda g: (g * out,))

    def log(self) -> "Tensor":
        return self._unary("log", "Log", lambda x, out: lambda g: (g / x,))

    def sqrt(self) -> "Tensor":
        return self._unary("sqrt", "Sqrt", lambda x, out: lambda g: (g * 0.5 / out,))

    def rsqrt(self) -> "Tensor":
        return self.sqrt().reciprocal()

    def sin(self) -> "Tensor":
        return self._unary("sin", "Sin", lambda x, out: lambda g: (g * x.cos(),))

    def cos(self) -> "Tensor":
        return self._unary("cos", "Cos", lambda x, out: lambda g: (-g * x.sin(),))

    def tanh(self) -> "Tensor":
        return self._unary("tanh", "Tanh", lambda x, out: lambda g: (g * (1 - out * out),))

    def sigmoid(self) -> "Tensor":
        return self._unary("sigmoid", "Sigmoid", lambda x, out: lambda g: (g * out * (1 - out),))

    def relu(self) -> "Tensor":
        def backward_of(x: Tensor, out: Tensor) -> Any:
            # the gradient passes where the input was positive: one fused kernel when the
            # backend has it, else where(out > 0, g, 0) from primitives
            def backward(g: Tensor) -> tuple:
                fused = _fused_relu_backward(g, out)
                return (where(out > 0, g, 0.0) if fused is None else fused,)
            return backward
        return self._unary("relu", "Relu", backward_of, dtype=self.dtype if self.dtype is not bool_ else int64)

    def erf(self) -> "Tensor":
        c = 2.0 / math.sqrt(math.pi)
        return self._unary("erf", "Erf", lambda x, out: lambda g: (g * c * (-(x * x)).exp(),))

    def reciprocal(self) -> "Tensor":
        return self._unary("reciprocal", "Reciprocal", lambda x, out: lambda g: (-g * out * out,))

    def abs(self) -> "Tensor":
        dt = self.dtype if self.dtype is not bool_ else int64
        return self._unary("abs", "Abs", lambda x, out: lambda g: (g * x.sign(),), dtype=dt)

    def sign(self) -> "Tensor":
        dt = self.dtype if self.dtype is not bool_ else int64
        return self._unary("sign", "Sign", lambda x, out: lambda g: (g * 0,), dtype=dt)

    def floor(self) -> "Tensor":
        if not self.dtype.is_float:
            return self
        return self._unary("floor", "Floor", lambda x, out: lambda g: (g * 0,))

    def ceil(self) -> "Tensor":
        if not self.dtype.is_float:
            return self
        return self._unary("ceil", "Ceil", lambda x, out: lambda g: (g * 0,))

    def square(self) -> "Tensor":
        return self * self

    def log1p(self) -> "Tensor":
        return (self + 1).log()

    def expm1(self) -> "Tensor":
        return self.exp() - 1

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> "Tensor":
        bx = self * beta
        soft = (bx.clamp(max=threshold).exp() + 1).log() / beta
        return where(bx > threshold, self, soft)

    def gelu(self, approximate: str = "none") -> "Tensor":
        """Exact GELU x * Phi(x) (erf-based, PyTorch's default); approximate='tanh' for the tanh form."""
        if approximate == "tanh":
            k = math.sqrt(2.0 / math.pi)
            return 0.5 * self * (1 + (k * (self + 0.044715 * self * self * self)).tanh())
        if approximate != "none":
            raise InvalidValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        inv_sqrt2 = 1.0 / math.sqrt(2.0)
        inv_sqrt2pi = 1.0 / math.sqrt(2.0 * math.pi)

        def backward_of(x: Tensor, out: Tensor) -> Any:
            def backward(g: Tensor) -> tuple:
                cdf = 0.5 * (1 + (x * inv_sqrt2).erf())
                pdf = (-0.5 * x * x).exp() * inv_sqrt2pi
                return (g * (cdf + x * pdf),)
            return backward
        x = self if self.dtype.is_float else self.float()
        with _no_grad_ctx():
            out = 0.5 * x * (1 + (x * inv_sqrt2).erf())
        return _record(out, "Gelu", (x,), backward_of(x, out))

    def leaky_relu(self, negative_slope: float = 0.01) -> "Tensor":
        x = self
        if not x.dtype.is_float:  # as PyTorch: a slope would silently turn an int tensor into floats
            raise DTypeError(f"leaky_relu: expected a float tensor, got {x.dtype.name}; use .float() first")
        with _no_grad_ctx():
            pos = x > 0
            out = where(pos, x, x * negative_slope)
        return _record(out, "LeakyRelu", (x,), lambda g: (where(pos, g, g * negative_slope),))

    def clamp(self, min: Optional[Scalar] = None, max: Optional[Scalar] = None) -> "Tensor":
        if min is None and max is None:
            raise InvalidValueError("clamp: at least one of min and max must be given")
        x = self
        with _no_grad_ctx():
            out = x
            keep = None
            if min is not None:
                out = maximum(out, min)
                keep = x >= min
            if max is not None:
                out = minimum(out, max)
                keep = (x <= max) if keep is None else keep & (x <= max)
            if out is x:
                out = x.clone()
        return _record(out, "Clamp", (x,), lambda g: (where(keep, g, 0.0),))

    clip = clamp

    def clamp_min(self, min: Scalar) -> "Tensor":
        return self.clamp(min=min)

    def clamp_max(self, max: Scalar) -> "Tensor":
        return self.clamp(max=max)

    def maximum(self, other: Any) -> "Tensor":
        return maximum(self, other)

    def minimum(self, other: Any) -> "Tensor":
        return minimum(self, other)

    def lerp(self, end: "Tensor", weight: Scalar) -> "Tensor":
        return self + (end - self) * weight

    # ------------------------------------------------------------------ reductions
    def _reduce(self, op: str, dim: Any, keepdim: bool) -> "Tensor":
        """Raw reduction (no graph): sum/max/min over `dim` of this tensor's values."""
        x = self
        dt = x.dtype
        if op == "sum" and not dt.is_float:
            x, dt = x.to(int64), int64
        v = x._view
        dims = dim if type(dim) is int else tuple(dim) if isinstance(dim, list) else dim
        try:
            out_shape, red_n, keep_n, kshape, kstrides, k = _reduce_plan(v.shape, v.strides, dims, keepdim)
        except TypeError:  # an unhashable `dim`: let normalize_dims word the error
            normalize_dims(dim, len(v.shape))
            raise
        be = x._be
        if red_n == 0:
            if op != "sum":
                raise ShapeError(f"{op}(): cannot reduce over a zero-size dimension (shape {v.shape}, "
                                 f"dim {normalize_dims(dim, len(v.shape))}); there is no identity")
            return _wrap(be.full(keep_n, _dt.cast_scalar(0, dt), dt), _contig(out_shape), dt, be)
        if keep_n == 0:
            return _wrap(be.empty(0, dt), _contig(out_shape), dt, be)
        if not k:  # every reduced dim has size 1: the result is a plain copy
            buf = be.copy(x._buf, View(kshape, kstrides, v.offset), dt, dt)
        else:
            buf = be.reduce(op, x._buf, View(kshape, kstrides, v.offset), k, dt)
        return _wrap(buf, _contig(out_shape), dt, be)

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        x = self if dtype is None else self.to(dtype)
        out = x._reduce("sum", dim, keepdim)
        if not x.requires_grad:
            return out
        shape, kshape = x.shape, _keep_shape(x.shape, dim)
        return _record(out, "Sum", (x,), lambda g: (g.reshape(kshape).expand(shape),))

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        x = self if dtype is None else self.to(dtype)
        if not x.dtype.is_float:
            raise DTypeError(f"mean(): input dtype must be floating point, got {x.dtype.name}; use .float() first")
        n = prod(x.shape[d] for d in normalize_dims(dim, x.ndim))
        if not n:
            return x.sum(dim, keepdim) * math.nan
        # one graph node: the sum's fresh result divided in place (a loss's mean runs every step)
        out = x._reduce("sum", dim, keepdim).div_(n)
        if not x.requires_grad:
            return out
        shape, kshape = x.shape, _keep_shape(x.shape, dim)
        return _record(out, "Mean", (x,), lambda g: ((g / n).reshape(kshape).expand(shape),))

    def _minmax(self, op: str, dim: Any, keepdim: bool) -> "Tensor":
        x = self
        out = x._reduce(op, dim, keepdim)
        if not x.requires_grad:
            return out
        kshape = _keep_shape(x.shape, dim)

        def backward(g: Tensor) -> tuple:
            mask = (x == out.reshape(kshape)).to(g.dtype)  # ties share the gradient evenly
            count = mask.sum(dim, keepdim=True)
            return (mask * (g.reshape(kshape) / count),)
        return _record(out, "Max" if op == "max" else "Min", (x,), backward)

    def max(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        """Maximum values over dim (values only; use argmax for indices)."""
        if isinstance(dim, Tensor):
            return maximum(self, dim)
        return self._minmax("max", dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        if isinstance(dim, Tensor):
            return minimum(self, dim)
        return self._minmax("min", dim, keepdim)

    amax, amin = max, min

    def _arg(self, op: str, dim: Optional[int], keepdim: bool) -> "Tensor":
        x = self if self.dtype is not bool_ else self.to(int64)
        if dim is None:
            x = x.reshape(-1)
            d = 0
        else:
            d = normalize_dim(dim, x.ndim) if x.ndim else 0
            if x.ndim == 0:
                x = x.reshape(1)
        if x.shape[d] == 0:
            raise ShapeError(f"{op}(): cannot take the {op} of an empty dimension (shape {self.shape}, dim {dim})")
        order = [i for i in range(x.ndim) if i != d] + [d]
        v = x._view.permute(order)
        ks, (kst,) = coalesce(v.shape[:-1], v.strides[:-1])
        keep_shape = v.shape[:-1]
        if prod(keep_shape) == 0:
            buf = x._be.empty(0, int64)
        else:
            buf = x._be.arg_reduce(op, x._buf, View(ks + v.shape[-1:], kst + v.strides[-1:], v.offset), x.dtype)
        out = _wrap(buf, _contig(keep_shape), int64, x._be)
        if dim is None:
            return out.reshape(()) if not keepdim else out.reshape((1,) * self.ndim)
        if keepdim and self.ndim:
            out = out.unsqueeze(d)
        return out

    def argmax(self, dim: Optional[int] = None, keepdim: bool = False) -> "Tensor":
        return self._arg("argmax", dim, keepdim)

    def argmin(self, dim: Optional[int] = None, keepdim: bool = False) -> "Tensor":
        return self._arg("argmin", dim, keepdim)

    def var(self, dim: Any = None, keepdim: bool = False, correction: int = 1, unbiased: Optional[bool] = None) -> "Tensor":
        if unbiased is not None:
            correction = 1 if unbiased else 0
        x = self if self.dtype.is_float else self.float()
        n = prod(x.shape[d] for d in normalize_dims(dim, x.ndim))
        centered = x - x.mean(dim, keepdim=True)
        return (centered * centered).sum(dim, keepdim) / max(n - correction, 0)

    def std(self, dim: Any = None, keepdim: bool = False, correction: int = 1, unbiased: Optional[bool] = None) -> "Tensor":
        return self.var(dim, keepdim, correction, unbiased).sqrt()

    def prod(self, dim: Optional[int] = None, keepdim: bool = False) -> "Tensor":
        """Product via exp(sum(log|x|)) with the sign tracked; exact for small integers only."""
        x = self if self.dtype.is_float else self.double()
        neg = (x < 0).to(int64).sum(dim, keepdim) % 2
        zero = (x == 0).any(dim, keepdim)
        mag = x.abs().log().sum(dim, keepdim).exp()
        out = where(zero, 0.0, where(neg == 1, -mag, mag))
        return out if self.dtype.is_float else out.round_().to(self.dtype)

    def round_(self) -> "Tensor":
        return (self + 0.5).floor()

    def logsumexp(self, dim: Any, keepdim: bool = False) -> "Tensor":
        x = self if self.dtype.is_float else self.float()
        with _no_grad_ctx():
            m = x._reduce("max", dim, True)
            m = where(m.isinf(), 0.0, m)
        out = (x - m).exp().sum(dim, keepdim=True).log() + m
        return out if keepdim else out.squeeze(normalize_dims(dim, x.ndim))

    def softmax(self, dim: int) -> "Tensor":
        x = self if self.dtype.is_float else self.float()
        d = normalize_dim(dim, x.ndim) if x.ndim else None
        out = _fused_softmax(x, d, log=False)
        if out is None:
            with _no_grad_ctx():
                e = (x - x._reduce("max", d, True)).exp()
                out = e / e._reduce("sum", d, True)

        def backward(g: Tensor) -> tuple:
            fused = _fused_softmax_backward(g, out, d, log=False)
            return (out * (g - (g * out).sum(d, keepdim=True)) if fused is None else fused,)
        return _record(out, "Softmax", (x,), backward)

    def log_softmax(self, dim: int) -> "Tensor":
        x = self if self.dtype.is_float else self.float()
        d = normalize_dim(dim, x.ndim) if x.ndim else None
        out = _fused_softmax(x, d, log=True)
        if out is None:
            with _no_grad_ctx():
                shifted = x - x._reduce("max", d, True)
                out = shifted - shifted.exp()._reduce("sum", d, True).log()

        def backward(g: Tensor) -> tuple:
            fused = _fused_softmax_backward(g, out, d, log=True)
            return (g - out.exp() * g.sum(d, keepdim=True) if fused is None else fused,)
        return _record(out, "LogSoftmax", (x,), backward)

    def sum_to(self, shape: Sequence[int]) -> "Tensor":
        """Sum broadcast dims away so the result has `shape` (the gradient of broadcasting)."""
        shape = tuple(shape)
        if self.shape == shape:
            return self
        lead = self.ndim - len(shape)
        dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and self.shape[lead + i] != 1)
        out = self.sum(dims, keepdim=True) if dims else self
        return out.reshape(shape)

    # ------------------------------------------------------------------ matmul
    def matmul(self, other: "Tensor") -> "Tensor":
        a, b = self, other
        if (type(b) is Tensor and a.dtype is b.dtype and a.dtype.is_float and a._be is b._be
                and len(a._view.shape) == 2 and len(b._view.shape) == 2):
            return _matmul2(a, b)  # the common case (every Linear layer), without the general checks
        if not isinstance(b, Tensor):
            raise DTypeError(f"matmul: expected a Tensor, got {type(b).__name__}")
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
        if a._be is not b._be:
            raise BackendError(f"expected all tensors on one backend, got {a.backend!r} and {b.backend!r}")
        dt = _dt.promote(a.dtype, b.dtype)
        if not dt.is_float:
            raise DTypeError(f"matmul: {a.dtype.name} @ {b.dtype.name} is not supported; convert with .float()")
        a, b = a.to(dt), b.to(dt)
        if a.ndim == 1 and b.ndim == 1:
            if a.shape != b.shape:
                raise ShapeError(f"matmul: {a.shape} @ {b.shape}: inner dimensions {a.shape[0]} and {b.shape[0]} differ")
            return (a.unsqueeze(0) @ b.unsqueeze(1)).reshape(())
        if a.ndim == 1:
            return (a.unsqueeze(0) @ b).squeeze(-2)
        if b.ndim == 1:
            return (a @ b.unsqueeze(1)).squeeze(-1)
        return _matmul(a, b, dt, self.shape, other.shape)

    mm = bmm = matmul

    def dot(self, other: "Tensor") -> "Tensor":
        if self.ndim != 1 or other.ndim != 1:
            raise ShapeError(f"dot: expects 1-D tensors, got shapes {self.shape} and {other.shape}")
        return self.matmul(other)

    # ------------------------------------------------------------------ indexing with tensors
    def gather(self, dim: int, index: "Tensor") -> "Tensor":
        x = self
        d = normalize_dim(dim, x.ndim)
        _check_index(index, "gather")
        if index.ndim != x.ndim:
            raise ShapeError(f"gather: index has {index.ndim} dims (shape {index.shape}) but input has {x.ndim} (shape {x.shape})")
        for i, (ni, nx) in enumerate(zip(index.shape, x.shape)):
            if i != d and ni > nx:
                raise ShapeError(f"gather: index shape {index.shape} exceeds input shape {x.shape} at dim {i} ({ni} > {nx})")
        # a backend that range-checks indices in its kernel (`checks_indices`) saves the two
        # reductions of the check here; its error is re-diagnosed below for a clear message
        checked = x._be.optional.checks_indices
        if not checked:
            _check_range(index, x.shape[d], "gather", d)
        if index.numel() == 0:
            out = _wrap(x._be.empty(0, x.dtype), _contig(index.shape), x.dtype, x._be)
        else:
            try:
                buf = x._be.gather(x._buf, x._view, index._buf, index._view, d, x.dtype)
            except TensorIndexError:
                if checked:
                    _check_range(index, x.shape[d], "gather", d)
                raise
            out = _wrap(buf, _contig(index.shape), x.dtype, x._be)
        shape = x.shape

        def backward(g: Tensor) -> tuple:
            res = _zeros(shape, g.dtype, g._be)
            if g.numel():
                g._be.scatter_add(res._buf, res._view, index._buf, index._view, g._buf, g._view, d, g.dtype)
            return (res,)
        return _record(out, "Gather", (x,), backward)

    def index_select(self, dim: int, index: "Tensor") -> "Tensor":
        d = normalize_dim(dim, self.ndim)
        _check_index(index, "index_select")
        if index.ndim != 1:
            raise ShapeError(f"index_select: index must be 1-D, got shape {index.shape}")
        shape = self.shape[:d] + (index.shape[0],) + self.shape[d + 1:]
        view_shape = (1,) * d + (index.shape[0],) + (1,) * (self.ndim - d - 1)
        return self.gather(d, index.reshape(view_shape).expand(shape))

    def scatter_add(self, dim: int, index: "Tensor", src: "Tensor") -> "Tensor":
        """out = self.clone(); out[... index ...] += src along dim (differentiable in self and src)."""
        d = normalize_dim(dim, self.ndim)
        _check_index(index, "scatter_add")
        _check_range(index, self.shape[d], "scatter_add", d)
        src = src.to(self.dtype)
        with _no_grad_ctx():
            out = self.clone()
            if index.numel():
                s = src.expand(index.shape) if src.shape != index.shape else src
                out._be.scatter_add(out._buf, out._view, index._buf, index._view, s._buf, s._view, d, out.dtype)
        return _record(out, "ScatterAdd", (self, src), lambda g: (g, g.gather(d, index).sum_to(src.shape)))

    def masked_fill(self, mask: "Tensor", value: Scalar) -> "Tensor":
        return where(mask, _scalar(value, self.dtype, self._be), self)

    # ------------------------------------------------------------------ in-place (optimizers, init)
    def _check_inplace(self) -> None:
        if _GradMode.enabled and self.requires_grad and self._node is None:
            raise AutogradError("a leaf Variable that requires grad is being used in an in-place operation; wrap it in tg.no_grad()")
        _check_no_internal_overlap(self._view, "in-place operation")

    def _inplace(self, op: str, other: Any) -> "Tensor":
        self._check_inplace()
        src = other if isinstance(other, Tensor) else _scalar(_as_number(other), self.dtype, self._be)
        if src._be is not self._be:
            raise BackendError(f"in-place {op}: tensors on backends {self.backend!r} and {src.backend!r}")
        res_dt = _result_dtype(self, src) if isinstance(other, Tensor) else _dt.promote_with_scalar(self.dtype, _as_number(other))
        if res_dt.category > self.dtype.category or (op == "div" and not self.dtype.is_float):
            # as in PyTorch: never silently truncate, e.g. int64_tensor.mul_(2.5)
            raise DTypeError(f"in-place {op}: result type {'float' if op == 'div' else res_dt.name} can't be cast "
                             f"to the tensor's dtype {self.dtype.name}")
        if src.dtype is not self.dtype:
            src = src.to(self.dtype)
        if src._buf is self._buf:
            src = src.clone()  # the kernel writes into self._buf while reading src: never let them overlap
        v, sv = self._view, src._view
        # when self is contiguous its strides decide the memory order, so the plan is row-major
        shape, cs, s1, s2, _ = _binary_plan(v.shape, v.strides, sv.shape, sv.strides)
        if shape != self.shape:
            raise ShapeError(f"in-place {op}: output shape {self.shape} does not match the broadcast shape {shape}")
        if self.numel() == 0:
            return self
        if v.is_contiguous():
            self._be.binary(op, self._buf, View(cs, s1, 0), src._buf, View(cs, s2, sv.offset), self.dtype, out=self._buf)
        else:
            res = _elementwise(op, self, src, self.dtype, self.dtype)
            _assign(self._buf, v, res)
        return self

    def add_(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        if alpha != 1 and isinstance(other, Tensor):  # p.add_(g, alpha=-lr): one fused pass, no temporary
            self._check_inplace()
            _axpy_(self, other, alpha)
            return self
        return self._inplace("add", other if alpha == 1 else other * alpha)

    def sub_(self, other: Any, alpha: Scalar = 1) -> "Tensor":
        if alpha != 1 and isinstance(other, Tensor):
            return self.add_(other, -alpha)
        return self._inplace("sub", other if alpha == 1 else other * alpha)

    def mul_(self, other: Any) -> "Tensor":
        return self._inplace("mul", other)

    def div_(self, other: Any) -> "Tensor":
        return self._inplace("div", other)

    def clamp_(self, min: Optional[Scalar] = None, max: Optional[Scalar] = None) -> "Tensor":
        if min is not None:
            self._inplace("maximum", min)
        if max is not None:
            self._inplace("minimum", max)
        return self

    def copy_(self, src: "Tensor") -> "Tensor":
        self._check_inplace()
        if src._be is not self._be:
            src = src.to(self._be.name)
        src = src.to(self.dtype).expand(self.shape)
        _assign(self._buf, self._view, src)
        return self

    def fill_(self, value: Scalar) -> "Tensor":
        return self.copy_(_scalar(_as_number(value), self.dtype, self._be))

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> "Tensor":
        from .random import rand
        return self.copy_(rand(*self.shape, dtype=self.dtype, backend=self._be) * (b - a) + a)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> "Tensor":
        from .random import randn
        return self.copy_(randn(*self.shape, dtype=self.dtype, backend=self._be) * std + mean)


# ---------------------------------------------------------------------- backward rules of binary ops

def _add_backward(a: Tensor, b: Tensor, out: Tensor) -> Any:
    sa, sb = a.shape, b.shape
    return lambda g: (g.sum_to(sa), g.sum_to(sb))


def _sub_backward(a: Tensor, b: Tensor, out: Tensor) -> Any:
    sa, sb = a.shape, b.shape
    return lambda g: (g.sum_to(sa), (-g).sum_to(sb))


def _mul_backward(a: Tensor, b: Tensor, out: Tensor) -> Any:
    return lambda g: ((g * b).sum_to(a.shape) if a.requires_grad else None,
                      (g * a).sum_to(b.shape) if b.requires_grad else None)


def _div_backward(a: Tensor, b: Tensor, out: Tensor) -> Any:
    return lambda g: ((g / b).sum_to(a.shape) if a.requires_grad else None,
                      (-g * out / b).sum_to(b.shape) if b.requires_grad else None)


def _pow_backward(a: Tensor, b: Tensor, out: Tensor) -> Any:
    def backward(g: Tensor) -> tuple:
        ga = None
        if a.requires_grad:  # d(a**0)/da is 0 even at a == 0, where b * a**(b-1) would be 0 * inf
            ga = where(b == 0, 0.0, g * b * a ** (b - 1)).sum_to(a.shape)
        gb = None
        if b.requires_grad:
            gb = (g * out * where(a > 0, a, 1.0).log()).sum_to(b.shape)
        return ga, gb
    return backward


def _minmax_backward(a: Tensor, b: Tensor, out: Tensor) -> Any:
    def backward(g: Tensor) -> tuple:
        pick_a = (a == out).to(g.dtype)
        pick_b = (b == out).to(g.dtype)
        share = g / (pick_a + pick_b)  # ties split the gradient in half, as in PyTorch
        return ((share * pick_a).sum_to(a.shape) if a.requires_grad else None,
                (share * pick_b).sum_to(b.shape) if b.requires_grad else None)
    return backward


# ---------------------------------------------------------------------- kernels calls shared by ops

def _elementwise(op: str, a: Tensor, b: Tensor, dtype: DType, out_dtype: DType) -> Tensor:
    """One binary kernel on broadcast, coalesced views; no graph."""
    va, vb = a._view, b._view
    sa, sb = va.shape, vb.shape
    be = a._be
    if sa == sb:
        shape = sa
        if va.is_contiguous() and vb.is_contiguous():
            n = prod(shape)
            if n == 0:
                return _wrap(be.empty(0, out_dtype), _contig(shape), out_dtype, be)
            kv = View((n,), (1,), 0) if shape else _SCALAR_VIEW
            return _wrap(be.binary(op, a._buf, kv, b._buf, kv, dtype), _contig(shape), out_dtype, be)
    shape, cs, s1, s2, ov = _binary_plan(sa, va.strides, sb, vb.strides)
    if prod(shape) == 0:
        return _wrap(be.empty(0, out_dtype), _contig(shape), out_dtype, be)
    buf = be.binary(op, a._buf, View(cs, s1, va.offset), b._buf, View(cs, s2, vb.offset), dtype)
    return _wrap(buf, ov, out_dtype, be)


@lru_cache(maxsize=4096)
def _binary_plan(sa: tuple, ta: tuple, sb: tuple, tb: tuple) -> tuple:
    """(broadcast shape, kernel shape, a's kernel strides, b's kernel strides, result view) for
    two views' geometry; the result follows the operands' memory order (`elementwise_layout`).

    Cached: a training loop meets the same few geometries every step, and this bookkeeping
    costs more than a small kernel. (Offsets are not part of it: they are added per call.)"""
    shape = broadcast_shapes(sa, sb)
    ost, cs, (s1, s2) = elementwise_layout(shape, View(sa, ta).expand(shape).strides, View(sb, tb).expand(shape).strides)
    return shape, cs, s1, s2, _result_view(shape, ost)


@lru_cache(maxsize=4096)
def _layout1(shape: tuple, strides: tuple) -> tuple:
    """(result view, kernel shape, (kernel strides,)) of a one-input elementwise op, cached."""
    ost, cs, ks = elementwise_layout(shape, strides)
    return _result_view(shape, ost), cs, ks


def _result_view(shape: tuple, strides: tuple) -> View:
    """The view of an elementwise result over its fresh buffer: dense, in the operands' memory order."""
    return _contig(shape) if strides == contiguous_strides(shape) else View(shape, strides, 0)


@lru_cache(maxsize=4096)
def _reduce_plan(shape: tuple, strides: tuple, dim: Any, keepdim: bool) -> tuple:
    """(result shape, reduced count, kept count, kernel shape, kernel strides, k) of a reduction:
    the kept dims then the k reduced dims, each group coalesced. Cached like `_binary_plan`."""
    nd = len(shape)
    dims = normalize_dims(dim, nd)
    out_shape = tuple(1 if i in dims else n for i, n in enumerate(shape)) if keepdim else \
        tuple(n for i, n in enumerate(shape) if i not in dims)
    keep = [i for i in range(nd) if i not in dims]
    ks, (kst,) = coalesce(tuple(shape[i] for i in keep), tuple(strides[i] for i in keep))
    rs, (rst,) = coalesce(tuple(shape[i] for i in dims), tuple(strides[i] for i in dims))
    return out_shape, prod(shape[d] for d in dims), prod(out_shape), ks + rs, kst + rst, len(rs)


def _check_no_internal_overlap(view: View, what: str) -> None:
    """Refuse to write through a view whose elements share memory (an expand()ed tensor), as PyTorch does:
    the result would depend on the order the kernel happens to write in."""
    for n, s in zip(view.shape, view.strides):
        if s == 0 and n > 1:
            raise InvalidValueError(
                f"unsupported {what}: more than one element of the written-to tensor (shape {view.shape}, "
                f"strides {view.strides}) refers to a single memory location; clone() the tensor first")


def _assign(dst_buf: Any, dst_view: View, src: Tensor) -> None:
    """dst_buf[dst_view] = src (same shape and dtype), through one coalesced strided copy."""
    if prod(dst_view.shape) == 0:
        return
    sv = src._view
    if src._buf is dst_buf and sv != dst_view:
        src = src.clone()  # overlapping copy: go through a temporary
        sv = src._view
    cs, (sd, ss) = coalesce(dst_view.shape, dst_view.strides, sv.strides)
    src._be.assign(dst_buf, View(cs, sd, dst_view.offset), src._buf, View(cs, ss, sv.offset), src.dtype)


def _matmul2(a: Tensor, b: Tensor) -> Tensor:
    """a @ b for two matrices of one float dtype: `_matmul` without batch bookkeeping."""
    va, vb = a._view, b._view
    (m, k), (k2, n) = va.shape, vb.shape
    if k != k2 or not (m and n and k):
        return _matmul(a, b, a.dtype, va.shape, vb.shape)  # the error, or an empty/zero result
    be, dt = a._be, a.dtype
    out = _wrap(be.matmul(a._buf, va, b._buf, vb, dt), _contig((m, n)), dt, be)
    if not _GradMode.enabled or not (a.requires_grad or b.requires_grad):
        return out
    return _record(out, "MatMul", (a, b), _matmul_backward(a, b))


def _matmul(a: Tensor, b: Tensor, dt: DType, sa0: tuple, sb0: tuple) -> Tensor:
    m, k = a.shape[-2:]
    k2, n = b.shape[-2:]
    if k != k2:
        raise ShapeError(f"matmul: {sa0} @ {sb0}: inner dimensions {k} and {k2} differ")
    try:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ShapeError:
        raise ShapeError(f"matmul: {sa0} @ {sb0}: batch dimensions {a.shape[:-2]} and {b.shape[:-2]} do not broadcast") from None
    be = a._be
    out_shape = batch + (m, n)
    if prod(out_shape) == 0:
        out = _wrap(be.empty(0, dt), _contig(out_shape), dt, be)
    elif k == 0:
        out = _zeros(out_shape, dt, be)
    else:
        va = a._view.expand(batch + (m, k))
        vb = b._view.expand(batch + (k, n))
        bs, (sa, sb) = coalesce(batch, va.strides[:-2], vb.strides[:-2])
        buf = be.matmul(a._buf, View(bs + (m, k), sa + va.strides[-2:], va.offset),
                        b._buf, View(bs + (k, n), sb + vb.strides[-2:], vb.offset), dt)
        out = _wrap(buf, _contig(out_shape), dt, be)
    return _record(out, "MatMul", (a, b), _matmul_backward(a, b))


def _matmul_backward(a: Tensor, b: Tensor) -> Any:
    def backward(g: Tensor) -> tuple:
        # ga = g @ b.T and gb = a.T @ g. When an input is a transposed view (w.T in a Linear
        # layer), build its gradient transposed too, (b @ g.T).T or (g.T @ a).T: the same numbers,
        # but laid out like the input's own storage, so the gradient that reaches `w` through the
        # transpose is contiguous (a transposed .grad made every later update a strided walk).
        # (_mT: backward runs under no_grad, so a bare transposed view is enough.)
        ga = gb = None
        if a.requires_grad:
            ga = (_mT(b @ _mT(g)) if _col_major(a) else g @ _mT(b)).sum_to(a.shape)
        if b.requires_grad:
            gb = (_mT(_mT(g) @ a) if _col_major(b) else _mT(a) @ g).sum_to(b.shape)
        return ga, gb
    return backward


def _col_major(t: Tensor) -> bool:
    """True when the last two dims of t are stored column by column (a transposed matrix)."""
    st, sh = t._view.strides, t._view.shape
    return sh[-1] > 1 and sh[-2] > 1 and st[-2] == 1 and st[-1] != 1


def _mT(t: Tensor) -> Tensor:
    """t with its last two dims swapped, as a view with no graph node."""
    v = t._view
    sh, st = v.shape, v.strides
    return _wrap(t._buf, View(sh[:-2] + (sh[-1], sh[-2]), st[:-2] + (st[-1], st[-2]), v.offset), t.dtype, t._be)


def _fused_softmax(x: Tensor, d: Optional[int], log: bool) -> Optional[Tensor]:
    """The backend's optional fused softmax over the last dim, when it has one (else None)."""
    kernel = x._be.optional.softmax
    if kernel is None or d is None or d != x.ndim - 1 or x.numel() == 0:
        return None
    xc = x.contiguous()
    cols = x.shape[-1]
    buf = kernel(xc._buf, View((x.numel() // cols, cols), (cols, 1), 0), x.dtype, log)
    return _wrap(buf, _contig(x.shape), x.dtype, x._be)


def _fused_softmax_backward(g: Tensor, out: Tensor, d: Optional[int], log: bool) -> Optional[Tensor]:
    """The backend's optional one-pass (log-)softmax gradient over the last dim (else None)."""
    kernel = out._be.optional.softmax_backward
    if kernel is None or d is None or d != out.ndim - 1 or out.numel() == 0 or g.dtype is not out.dtype:
        return None
    gc = g.contiguous()
    out = out.contiguous()  # the fused forward's result already is; a composed one may follow its input's order
    cols = out.shape[-1]
    v = View((out.numel() // cols, cols), (cols, 1), 0)
    buf = kernel(gc._buf, View(v.shape, v.strides, gc._view.offset), out._buf, v, out.dtype, log)
    return _wrap(buf, _contig(out.shape), out.dtype, out._be)


def _fused_relu_backward(g: Tensor, out: Tensor) -> Optional[Tensor]:
    """The backend's optional relu gradient `g where out > 0 else 0` in one pass (else None)."""
    kernel = out._be.optional.relu_backward
    n = out.numel()
    if kernel is None or n == 0 or not out.dtype.is_float or g.dtype is not out.dtype or g.shape != out.shape:
        return None
    ov, gv = out._view, g._view
    if ov.is_contiguous() or not (gv.strides == ov.strides and ov.offset == 0 and all(s >= 0 for s in ov.strides)
                                  and is_dense_permuted(ov.shape, ov.strides)):
        out, g = out.contiguous(), g.contiguous()
        ov, gv = out._view, g._view
    # both dense in one memory order (a relu of a transposed input): one flat pass, result in that order
    buf = kernel(g._buf, View((n,), (1,), gv.offset), out._buf, View((n,), (1,), 0), out.dtype)
    return _wrap(buf, ov, out.dtype, out._be)


def _axpy_(y: Tensor, x: Tensor, alpha: float) -> None:
    """In place y += alpha * x (an optimizer's update): the backend's optional fused `axpy` when
    both are dense tensors of one float dtype, else y.add_(x * alpha) with a temporary."""
    kernel = y._be.optional.axpy
    n = y.numel()
    if (kernel is not None and n and x._be is y._be and x.dtype is y.dtype and y.dtype.is_float
            and x.shape == y.shape and x._buf is not y._buf and y._view.is_contiguous()
            and x._view.is_contiguous()):
        v = View((n,), (1,), 0)
        kernel(y._buf, v, x._buf, v, alpha, y.dtype)
        return
    y.add_(x * alpha)


def _zeros(shape: tuple, dtype: DType, be: Any) -> Tensor:
    return _wrap(be.full(prod(shape), _dt.cast_scalar(0, dtype), dtype), _contig(shape), dtype, be)


def _full_like_bool(x: Tensor, value: bool, shape: Optional[tuple] = None) -> Tensor:
    shape = x.shape if shape is None else shape
    return _wrap(x._be.full(prod(shape), value, bool_), _contig(shape), bool_, x._be)


def _keep_shape(shape: tuple, dim: Any) -> tuple:
    dims = normalize_dims(dim, len(shape))
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def _check_index(index: Any, what: str) -> None:
    if not isinstance(index, Tensor):
        raise DTypeError(f"{what}: index must be an int64 Tensor, got {type(index).__name__}")
    if index.dtype is not int64:
        raise DTypeError(f"{what}: index must be int64, got {index.dtype.name}")


def _check_range(index: Tensor, size: int, what: str, dim: int) -> None:
    if index.numel() == 0:
        return
    lo, hi = index._reduce("min", None, False).item(), index._reduce("max", None, False).item()
    if lo < 0 or hi >= size:
        bad = lo if lo < 0 else hi
        raise TensorIndexError(f"{what}: index {bad} is out of bounds for dim {dim} with size {size}")


def _shape_args(args: tuple) -> tuple:
    """Accept f(2, 3), f((2, 3)) and f([2, 3])."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _wrap_list(values: list, dtype: DType, be: Any) -> Tensor:
    return _wrap(be.from_list([_dt.cast_scalar(v, dtype) for v in values], dtype), _contig((len(values),)), dtype, be)


def _empty_nested(shape: tuple) -> list:
    """tolist() of a tensor with no elements: nested lists down to the first zero dim."""
    if shape[0] == 0:
        return []
    return [_empty_nested(shape[1:]) for _ in range(shape[0])]


def _wrap_like(data: Any, like: Tensor) -> Tensor:
    from .creation import tensor
    return tensor(data, dtype=like.dtype, backend=like._be)


class _no_grad_ctx:
    """Internal fast no-grad block (forward parts whose backward is written by hand)."""

    __slots__ = ("prev",)

    def __enter__(self) -> None:
        self.prev = _GradMode.enabled
        _GradMode.enabled = False

    def __exit__(self, *exc: Any) -> None:
        _GradMode.enabled = self.prev


# ---------------------------------------------------------------------- module-level ops

def _operand(x: Any, like: Tensor) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return _scalar(_as_number(x), _dt.promote_with_scalar(like.dtype, _as_number(x)), like._be)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """cond ? a : b elementwise, broadcasting all three; a and b may be Python numbers."""
    if not isinstance(cond, Tensor):
        raise DTypeError(f"where: condition must be a bool Tensor, got {type(cond).__name__}")
    if isinstance(a, Tensor):
        ta = a
        tb = _operand(b, a)
    elif isinstance(b, Tensor):
        tb = b
        ta = _operand(a, b)
    else:
        dt = _dt.promote_with_scalar(_dt.scalar_dtype(_as_number(a)), _as_number(b))
        ta, tb = _scalar(a, dt, cond._be), _scalar(b, dt, cond._be)
    if not (ta._be is tb._be is cond._be):
        raise BackendError(f"where: tensors on backends {cond.backend!r}, {ta.backend!r}, {tb.backend!r}")
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        dt = _result_dtype(ta, tb)
    elif isinstance(a, Tensor) or isinstance(b, Tensor):  # a Python scalar may lift the category (int -> float)
        dt = _dt.promote_with_scalar(ta.dtype if isinstance(a, Tensor) else tb.dtype, _as_number(b if isinstance(a, Tensor) else a))
    else:
        dt = ta.dtype
    ta, tb = ta.to(dt), tb.to(dt)
    if cond.dtype is not bool_:  # PyTorch refuses too: a float mask is usually a bug (0.5 would count as True)
        raise DTypeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {cond.dtype.name}")
    c = cond
    shape = broadcast_shapes(broadcast_shapes(c.shape, ta.shape), tb.shape)
    be = c._be
    if prod(shape) == 0:
        out = _wrap(be.empty(0, dt), _contig(shape), dt, be)
    else:
        vc, va, vb = c._view.expand(shape), ta._view.expand(shape), tb._view.expand(shape)
        ost, cs, (s1, s2, s0) = elementwise_layout(shape, va.strides, vb.strides, vc.strides)
        buf = be.where(c._buf, View(cs, s0, vc.offset), ta._buf, View(cs, s1, va.offset), tb._buf, View(cs, s2, vb.offset), dt)
        out = _wrap(buf, _result_view(shape, ost), dt, be)
    if not _GradMode.enabled or not (ta.requires_grad or tb.requires_grad):
        return out
    sa, sb = ta.shape, tb.shape
    return _record(out, "Where", (ta, tb), lambda g: (where(c, g, 0.0).sum_to(sa) if ta.requires_grad else None,
                                                     where(c, 0.0, g).sum_to(sb) if tb.requires_grad else None))


def maximum(a: Any, b: Any) -> Tensor:
    if not isinstance(a, Tensor):
        a, b = b, a
    return a._arith(b, "maximum", "Maximum", _minmax_backward)


def minimum(a: Any, b: Any) -> Tensor:
    if not isinstance(a, Tensor):
        a, b = b, a
    return a._arith(b, "minimum", "Minimum", _minmax_backward)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dim (a copy); the gradient splits back to each input."""
    tensors = list(tensors)
    if not tensors:
        raise InvalidValueError("cat: expected a non-empty list of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise DTypeError(f"cat: expected Tensors, got {type(t).__name__}")
    first = tensors[0]
    # PyTorch skips 1-D empty tensors in cat (legacy behaviour)
    parts = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or [first]
    ref = parts[0]
    for i, t in enumerate(parts):
        if t.ndim == 0:
            raise ShapeError(f"cat: zero-dimensional tensor (at position {i}) cannot be concatenated; use stack or unsqueeze")
    d = normalize_dim(dim, ref.ndim)
    dt = ref.dtype
    for i, t in enumerate(parts):
        if t._be is not ref._be:
            raise BackendError(f"cat: tensor {i} is on backend {t.backend!r}, tensor 0 on {ref.backend!r}")
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != d):
            raise ShapeError(f"cat: sizes must match except in dim {d}: tensor 0 has shape {ref.shape}, tensor {i} has {t.shape}")
        dt = _dt.promote(dt, t.dtype)
    parts = [t.to(dt) for t in parts]
    total = sum(t.shape[d] for t in parts)
    shape = ref.shape[:d] + (total,) + ref.shape[d + 1:]
    be = ref._be
    buf = be.empty(prod(shape), dt)
    out_view = _contig(shape)
    start = 0
    for t in parts:
        key = (slice(None),) * d + (slice(start, start + t.shape[d]),)
        _assign(buf, out_view.index(key), t)
        start += t.shape[d]
    out = _wrap(buf, out_view, dt, be)
    sizes = [t.shape[d] for t in parts]

    def backward(g: Tensor) -> tuple:
        res, s = [], 0
        for n in sizes:
            res.append(g.narrow(d, s, n))
            s += n
        return tuple(res)
    return _record(out, "Cat", tuple(parts), backward)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise InvalidValueError("stack: expected a non-empty list of tensors")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise ShapeError(f"stack: all tensors must have the same shape: tensor 0 has {shape}, tensor {i} has {t.shape}")
    d = normalize_dim(dim, len(shape) + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)
