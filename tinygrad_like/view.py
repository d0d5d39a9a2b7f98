"""Views: shape, strides (in elements) and offset over a flat buffer, as plain functions.

Every movement op (reshape, permute, expand, slicing, ...) is a function from View to View;
no data moves. Broadcasting is a view too: a missing or size-1 dimension gets stride 0.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

from .errors import DTypeError, ShapeError, TensorIndexError, InvalidValueError

Shape = tuple[int, ...]


def prod(xs: Iterable[int]) -> int:
    n = 1
    for x in xs:
        n *= x
    return n


def contiguous_strides(shape: Sequence[int]) -> Shape:
    """Row-major strides of a dense array of `shape`."""
    strides = [1] * len(shape)
    acc = 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = acc
        acc *= max(shape[i], 1)
    return tuple(strides)


def normalize_dim(dim: int, ndim: int, what: str = "dim") -> int:
    """Wrap a negative dimension; IndexError names the valid range."""
    if type(dim) is int and -ndim <= dim < ndim:  # the common case, first
        return dim + ndim if dim < 0 else dim
    if type(dim) is not int:
        if isinstance(dim, bool) or not hasattr(dim, "__index__"):
            raise TensorIndexError(f"{what} must be an int, got {type(dim).__name__} {dim!r}")
        dim = dim.__index__()  # numpy integers and 1-element int tensors, as PyTorch accepts
    lo, hi = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
    if not lo <= dim <= hi:
        raise TensorIndexError(f"{what} {dim} is out of range for a tensor with {ndim} dims (expected {lo}..{hi})")
    return dim + ndim if dim < 0 else dim


_PERMUTATIONS: dict = {}  # (order, ndim) -> (order with dims wrapped, its inverse), for int tuples seen before


def permutation(order: Sequence[int], shape: Shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(order with negative dims wrapped, the inverse order) of a permutation of shape's dims;
    the errors name the order and the shape."""
    n = len(shape)
    if type(order) is tuple:
        p = _PERMUTATIONS.get((order, n))
        if p is not None:
            return p
    if len(order) != n:
        raise ShapeError(f"permute: got {len(order)} dims {tuple(order)} for a tensor of shape {shape}")
    norm = tuple([normalize_dim(d, n) for d in order])
    if sorted(norm) != list(range(n)):
        raise InvalidValueError(f"permute: {norm} is not a permutation of the dims of shape {shape}")
    inv = [0] * n
    for i, d in enumerate(norm):
        inv[d] = i
    p = (norm, tuple(inv))
    if type(order) is tuple and all(type(d) is int for d in order):
        if len(_PERMUTATIONS) > 1024:
            _PERMUTATIONS.clear()
        _PERMUTATIONS[order, n] = p
    return p


def normalize_dims(dim: object, ndim: int) -> tuple[int, ...]:
    """`dim` as an int, a sequence or None (all dims) -> sorted unique non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        d = normalize_dim(dim, ndim)
        return (d,) if ndim else ()  # a 0-dim tensor accepts dim 0/-1 but has no dim to reduce
    if not isinstance(dim, (tuple, list)):
        raise TensorIndexError(f"dim must be an int, a tuple of ints or None, got {type(dim).__name__} {dim!r}")
    dims = tuple([normalize_dim(d, ndim) for d in dim])
    if not ndim:
        return ()
    if len(set(dims)) != len(dims):
        raise InvalidValueError(f"dim {tuple(dim)} names a dimension twice")  # type: ignore[arg-type]
    return tuple(sorted(dims))


def broadcast_shapes(a: Shape, b: Shape) -> Shape:
    """numpy's broadcasting rule; the error names both shapes and the clashing dim."""
    if a == b:
        return a
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + a
    pb = (1,) * (n - len(b)) + b
    out = []
    for i, (x, y) in enumerate(zip(pa, pb)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ShapeError(f"cannot broadcast shapes {a} and {b}: dim {i} has {x} vs {y}")
    return tuple(out)


_CONTIGUOUS: dict = {}  # shape -> its row-major View (View.contiguous)


class View:
    """shape, strides and offset (all in elements) of a tensor over its buffer."""

    __slots__ = ("shape", "strides", "offset", "_contiguous")

    def __init__(self, shape: Shape, strides: Shape, offset: int = 0):
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self._contiguous: Optional[bool] = None

    @staticmethod
    def contiguous(shape: Shape) -> "View":
        """The row-major view of `shape` from offset 0 (cached: views are immutable, and a training
        loop meets few shapes)."""
        v = _CONTIGUOUS.get(shape)
        if v is None:
            if len(_CONTIGUOUS) > 4096:
                _CONTIGUOUS.clear()
            v = _CONTIGUOUS[shape] = View(shape, contiguous_strides(shape), 0)
            v._contiguous = True
        return v

    def __repr__(self) -> str:
        return f"View(shape={self.shape}, strides={self.strides}, offset={self.offset})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, View) and (self.shape, self.strides, self.offset) == (other.shape, other.strides, other.offset)

    def __hash__(self) -> int:
        return hash((self.shape, self.strides, self.offset))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return prod(self.shape)

    def is_contiguous(self) -> bool:
        """Row-major dense from offset 0 (size-1 dims may carry any stride)."""
        c = self._contiguous
        if c is None:
            c = self.offset == 0 and is_dense(self.shape, self.strides)
            self._contiguous = c
        return c

    def span(self) -> tuple[int, int]:
        """(lowest, highest) buffer index the view touches; (0, -1) when it is empty."""
        if 0 in self.shape:
            return (0, -1)
        lo = hi = self.offset
        for n, s in zip(self.shape, self.strides):
            if s > 0:
                hi += (n - 1) * s
            else:
                lo += (n - 1) * s
        return (lo, hi)

    # ---- movement ops: each returns a new View, never copies ----

    def permute(self, order: Sequence[int]) -> "View":
        order = permutation(order, self.shape)[0]
        sh, st = self.shape, self.strides
        return View(tuple([sh[d] for d in order]), tuple([st[d] for d in order]), self.offset)

    def expand(self, shape: Shape) -> "View":
        """Broadcast to `shape` (numpy's rules, -1 keeps a dim); added or size-1 dims get stride 0."""
        shape = tuple(shape)
        if shape == self.shape:
            return self
        lead = len(shape) - self.ndim
        if lead < 0:
            raise ShapeError(f"expand: cannot expand shape {self.shape} to {shape} with fewer dims")
        strides = [0] * len(shape)
        out = list(shape)
        for i, n in enumerate(shape):
            if i < lead:
                if n < 0:
                    raise ShapeError(f"expand: -1 is not allowed for the new leading dim {i} in {shape}")
                continue
            old, st = self.shape[i - lead], self.strides[i - lead]
            if n == -1 or n == old:
                out[i], strides[i] = old, st
            elif old == 1:
                strides[i] = 0
            else:
                raise ShapeError(f"expand: cannot expand shape {self.shape} to {shape}: dim {i} has {old} vs {n} (only size-1 dims expand)")
        return View(tuple(out), tuple(strides), self.offset)

    def reshape(self, shape: Shape) -> Optional["View"]:
        """The same elements in row-major order under a new shape, or None when no view can do it."""
        if self.is_contiguous():
            return View.contiguous(shape)
        if prod(shape) == 0:
            return View.contiguous(shape)
        return _reshape_strided(self, shape)

    def squeeze(self, dims: Optional[Sequence[int]] = None) -> "View":
        keep = [i for i, n in enumerate(self.shape) if not (n == 1 and (dims is None or i in dims))]
        sh, st = self.shape, self.strides
        return View(tuple([sh[i] for i in keep]), tuple([st[i] for i in keep]), self.offset)

    def unsqueeze(self, dim: int) -> "View":
        dim = normalize_dim(dim, self.ndim + 1)
        stride = self.strides[dim] * self.shape[dim] if dim < self.ndim else 1
        return View(self.shape[:dim] + (1,) + self.shape[dim:], self.strides[:dim] + (stride,) + self.strides[dim:], self.offset)

    def windows(self, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> "View":
        """Sliding windows over the last len(kernel) dims, zero-copy: (..., *spatial) becomes
        (..., *out, *kernel) with out = (n - dilation * (k - 1) - 1) // stride + 1 per dim.
        Windows overlap (share elements) when stride < dilation * (k - 1) + 1."""
        k = len(kernel)
        if not (k == len(stride) == len(dilation)) or k > self.ndim:
            raise ShapeError(f"windows: kernel {tuple(kernel)}, stride {tuple(stride)} and dilation {tuple(dilation)} "
                             f"must name the same number of trailing dims of shape {self.shape}")
        lead = self.ndim - k
        out, ost, kst = [], [], []
        for n, st, kk, s, d in zip(self.shape[lead:], self.strides[lead:], kernel, stride, dilation):
            if kk < 1 or s < 1 or d < 1:
                raise InvalidValueError(f"windows: kernel {tuple(kernel)}, stride {tuple(stride)} and dilation "
                                        f"{tuple(dilation)} must be positive")
            extent = d * (kk - 1) + 1
            if extent > n:
                raise ShapeError(f"windows: a window spans {extent} elements (kernel {kk}, dilation {d}) but the dim "
                                 f"has only {n} (shape {self.shape})")
            out.append((n - extent) // s + 1)
            ost.append(st * s)
            kst.append(st * d)
        return View(self.shape[:lead] + tuple(out) + tuple(kernel), self.strides[:lead] + tuple(ost) + tuple(kst),
                    self.offset)

    def index(self, key: object) -> "View":
        """Basic indexing: ints, slices (any step, negative too), None and Ellipsis."""
        items = key if isinstance(key, tuple) else (key,)
        consumed = sum(1 for k in items if k is not None and k is not Ellipsis)
        n_ellipsis = sum(1 for k in items if k is Ellipsis)
        if n_ellipsis > 1:
            raise TensorIndexError("an index can only have a single ellipsis ('...')")
        if consumed > self.ndim:
            raise TensorIndexError(f"too many indices for tensor of shape {self.shape}: {consumed} given for {self.ndim} dims")
        shape: list[int] = []
        strides: list[int] = []
        offset = self.offset
        d = 0
        for k in items:
            if k is Ellipsis:
                for _ in range(self.ndim - consumed):
                    shape.append(self.shape[d])
                    strides.append(self.strides[d])
                    d += 1
            elif k is None:
                shape.append(1)
                strides.append(0)
            elif isinstance(k, slice):
                size = self.shape[d]
                start, stop, step = _slice_indices(k, size)
                length = len(range(start, stop, step))
                if length:
                    offset += start * self.strides[d]
                shape.append(length)
                # a dim of one element never steps: keep its stride small (a huge step would not fit a kernel's int64)
                strides.append(self.strides[d] * step if length > 1 else self.strides[d])
                d += 1
            elif isinstance(k, int) or hasattr(k, "__index__"):
                i = int(k.__index__()) if not isinstance(k, int) else k
                size = self.shape[d]
                if not -size <= i < size:
                    raise TensorIndexError(f"index {i} is out of bounds for dim {d} with size {size}")
                offset += (i + size if i < 0 else i) * self.strides[d]
                d += 1
            else:
                raise TensorIndexError(
                    f"unsupported index {k!r} of type {type(k).__name__}: use ints, slices, None, ... "
                    "or index_select/gather for integer tensors")
        shape.extend(self.shape[d:])
        strides.extend(self.strides[d:])
        return View(tuple(shape), tuple(strides), offset)


def _slice_indices(k: slice, size: int) -> tuple[int, int, int]:
    if k.step == 0:
        raise InvalidValueError("slice step cannot be zero")
    try:
        return k.indices(size)
    except TypeError:
        raise TensorIndexError(f"slice bounds must be ints or None, got {k!r}") from None


def is_dense(shape: Shape, strides: Shape) -> bool:
    """True when (shape, strides) is row-major dense; size-1 dims are ignored."""
    acc = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1:
            if s != acc:
                return False
            acc *= n
    return True


def is_dense_permuted(shape: Shape, strides: Shape) -> bool:
    """True when the view's elements fill one block without gaps in some dim order (a
    transposed dense array, or an elementwise result laid out by `memory_order`)."""
    dims = sorted((abs(s), n) for n, s in zip(shape, strides) if n != 1)
    acc = 1
    for s, n in dims:
        if s != acc:
            return False
        acc *= n
    return True


def _reshape_strided(v: View, shape: Shape) -> Optional[View]:
    """Strides for `shape` over a non-contiguous view, merging/splitting only contiguous runs."""
    old = [(n, s) for n, s in zip(v.shape, v.strides) if n != 1]
    new_strides = [1] * len(shape)
    oi = ni = 0
    while oi < len(old) and ni < len(shape):
        op, np_ = old[oi][0], shape[ni]
        oj, nj = oi + 1, ni + 1
        while op != np_:
            if np_ < op:
                np_ *= shape[nj]
                nj += 1
            else:
                op *= old[oj][0]
                oj += 1
        for k in range(oi, oj - 1):  # the old dims of this group must be contiguous with each other
            if old[k][1] != old[k + 1][1] * old[k + 1][0]:
                return None
        new_strides[nj - 1] = old[oj - 1][1]
        for k in range(nj - 1, ni, -1):
            new_strides[k - 1] = new_strides[k] * shape[k]
        oi, ni = oj, nj
    return View(tuple(shape), tuple(new_strides), v.offset)


def infer_shape(shape: Sequence[int], numel: int, old_shape: Shape) -> Shape:
    """Resolve one -1 in a reshape target; the error names both shapes."""
    known, unknown = 1, -1
    for i, n in enumerate(shape):  # plain ints, at most one -1: one pass
        if type(n) is not int or n < -1 or (n == -1 and unknown >= 0):
            return _infer_shape_checked(shape, numel, old_shape)
        if n == -1:
            unknown = i
        else:
            known *= n
    shape = tuple(shape)
    if unknown >= 0:
        if known == 0 or numel % known:
            raise ShapeError(f"reshape: shape {shape} is invalid for input of shape {old_shape} ({numel} elements)")
        return shape[:unknown] + (numel // known,) + shape[unknown + 1:]
    if known != numel:
        raise ShapeError(f"reshape: shape {shape} is invalid for input of shape {old_shape} ({numel} elements)")
    return shape


def _infer_shape_checked(shape: Sequence[int], numel: int, old_shape: Shape) -> Shape:
    """infer_shape for targets with other integer types (numpy ints, bool refused) or bad values."""
    for n in shape:
        if not hasattr(n, "__index__") or isinstance(n, bool):
            raise DTypeError(f"reshape: shape must be ints, got {tuple(shape)!r}")
    shape = tuple(int(n.__index__()) for n in shape)
    if sum(1 for n in shape if n == -1) > 1:
        raise ShapeError(f"reshape: only one dimension can be -1, got {shape}")
    if any(n < -1 for n in shape):
        raise ShapeError(f"reshape: invalid shape {shape}")
    return infer_shape(shape, numel, old_shape)


def coalesce(shape: Shape, *strides: Shape) -> tuple[Shape, list[Shape]]:
    """Merge adjacent dims that are contiguous in every operand and drop size-1 dims.

    The element order is unchanged, so a kernel can loop over the fewer dims instead.
    A (4, 5) dense array comes out as (20,); a transposed one stays 2-D.
    """
    if len(strides) == 1:
        return _coalesce1(shape, strides[0])
    dims = [i for i, n in enumerate(shape) if n != 1]
    if not dims:
        return (), [() for _ in strides]
    out_shape = [shape[dims[0]]]
    out_strides = [[s[dims[0]]] for s in strides]
    for i in dims[1:]:
        n = shape[i]
        if all(os[-1] == s[i] * n for os, s in zip(out_strides, strides)):
            out_shape[-1] *= n
            for os, s in zip(out_strides, strides):
                os[-1] = s[i]
        else:
            out_shape.append(n)
            for os, s in zip(out_strides, strides):
                os.append(s[i])
    return tuple(out_shape), [tuple(s) for s in out_strides]


def _coalesce1(shape: Shape, strides: Shape) -> tuple[Shape, list[Shape]]:
    """coalesce() of one operand, in plain loops (the per-op path of copies and reductions)."""
    out_shape: list = []
    out_strides: list = []
    for n, st in zip(shape, strides):
        if n == 1:
            continue
        if out_shape and out_strides[-1] == st * n:
            out_shape[-1] *= n
            out_strides[-1] = st
        else:
            out_shape.append(n)
            out_strides.append(st)
    return tuple(out_shape), [tuple(out_strides)]


def memory_order(shape: Shape, *strides: Shape) -> Optional[tuple[int, ...]]:
    """The dim order (outermost first) that walks the operands' memory in order, or None when
    that is the row-major order.

    An elementwise result is laid out in this order, as PyTorch does: `x.T + 1` comes out with
    `x.T`'s strides, so the kernel runs as one flat loop instead of a transposing copy. The
    first operand that tells two dims apart decides (larger |stride| goes outside); dims where
    an operand broadcasts (stride 0) or of size 1 say nothing, and undecided pairs keep their
    row-major order.
    """
    dims = [d for d, n in enumerate(shape) if n != 1]
    for i in range(1, len(dims)):
        j = i
        while j > 0 and _outer_first(dims[j], dims[j - 1], strides):
            dims[j - 1], dims[j] = dims[j], dims[j - 1]
            j -= 1
    if all(a < b for a, b in zip(dims, dims[1:])):
        return None
    return tuple(d for d, n in enumerate(shape) if n == 1) + tuple(dims)


def _outer_first(d0: int, d1: int, strides: tuple[Shape, ...]) -> bool:
    """Whether dim d0 must be outside dim d1 (the first operand that tells them apart decides)."""
    for s in strides:
        a, b = abs(s[d0]), abs(s[d1])
        if a and b and a != b:
            return a > b
    return False


def elementwise_layout(shape: Shape, *strides: Shape) -> tuple[Shape, Shape, list[Shape]]:
    """(result strides, kernel shape, kernel strides per operand) for an elementwise op.

    The kernel writes a dense buffer in `memory_order`; the result strides map the logical
    shape onto it (row-major when the order is). Kernel shape and strides are coalesced.
    """
    order = memory_order(shape, *strides)
    if order is None:
        cs, ks = coalesce(shape, *strides)
        return contiguous_strides(shape), cs, ks
    dense = contiguous_strides([shape[d] for d in order])
    out = [0] * len(shape)
    for k, d in enumerate(order):
        out[d] = dense[k]
    cs, ks = coalesce(tuple([shape[d] for d in order]), *[tuple([s[d] for d in order]) for s in strides])
    return tuple(out), cs, ks
