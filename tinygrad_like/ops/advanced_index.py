"""Advanced indexing (PyTorch's rules): x[key] and x[key] = v with integer tensors or lists,
boolean masks, ints, slices, None and ... mixed; nonzero.

Lowering: the ints, slices and Nones make a view (`basic_index`); the advanced indices (each
mask becomes one integer index per dim it covers, through `nonzero`) are range-checked,
wrapped when negative and broadcast together; the indexed dims are merged into one (moved to
the front first when they are not adjacent: the rule that separated advanced indices lead the
result) and one `index_select` on the linear index gathers the result. Its gradient is the
gather's: a scatter-add, so repeated indices accumulate.

Assignment writes through the same plan: the buffer offsets of every selected element, then
one `scatter` (assign) or `scatter_add` (accumulate) into the tensor's own buffer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import dispatch
from ..autograd import grad_mode, needs_grad, no_grad, record
from ..dispatch import scalar, wrap
from ..dtypes import bool_, int32, int64, uint8
from ..errors import AutogradError, DTypeError, ShapeError, TensorIndexError
from ..view import View, broadcast_shapes, prod
from .elementwise import where
from .index import basic_setitem, index_select
from .inplace import bump, check_inplace, rebase
from .movement import basic_index


# ---------------------------------------------------------------------- index objects

def _nested_shape(obj: Any) -> tuple:
    shape = []
    while isinstance(obj, (list, tuple)):
        shape.append(len(obj))
        if not obj:
            break
        obj = obj[0]
    return tuple(shape)


def _flatten(obj: Any, out: list) -> None:
    for v in obj:
        if isinstance(v, (list, tuple)):
            _flatten(v, out)
        else:
            out.append(v)


def list_index(obj: Any, be: Any) -> Any:
    """An int64 (or bool) tensor from a nested list of ints (or bools), or from a numpy array."""
    if hasattr(obj, "tolist") and not isinstance(obj, list):
        obj = obj.tolist()
    shape = _nested_shape(obj)
    flat: list = []
    _flatten(obj, flat)
    if len(flat) != prod(shape):
        raise TensorIndexError(f"index lists must be rectangular, got {obj!r}")
    if flat and all(isinstance(v, bool) for v in flat):
        return dispatch.from_list(flat, shape, bool_, be)
    for v in flat:
        if not isinstance(v, int) or isinstance(v, bool):
            raise TensorIndexError(f"index lists must hold ints (or only bools), got {type(v).__name__} {v!r}")
    return dispatch.from_list(flat, shape, int64, be)


def _is_advanced(k: Any) -> bool:
    return dispatch.is_tensor(k) or isinstance(k, list) or (hasattr(k, "tolist") and hasattr(k, "ndim"))


def has_advanced(key: Any) -> bool:
    """True when x[key] needs advanced indexing (a tensor, list, array or bool in the key)."""
    items = key if isinstance(key, tuple) else (key,)
    return any(_is_advanced(k) or isinstance(k, bool) for k in items)


# ---------------------------------------------------------------------- nonzero

def arange_like(n: int, be: Any) -> Any:
    """0..n-1 as int64 through one scan kernel (no Python list of n ints)."""
    if n == 0:
        return dispatch.empty((0,), int64, be)
    return dispatch.scan("sum", dispatch.full((n,), 1, int64, be), 0) - 1


def flat_nonzero(mask: Any) -> Any:
    """Row-major positions of the true (non-zero) elements of `mask`, as a 1-D int64 tensor."""
    be = mask._be
    m = mask.detach().reshape(-1)
    m = m if m.dtype is bool_ else m != 0
    n = m.shape[0]
    if n == 0:
        return dispatch.empty((0,), int64, be)
    count = dispatch.scan("sum", m.to(int64), 0)
    total = count[n - 1].item()
    # each true element writes its position to slot count-1; the false ones all go to a spare slot
    slots = dispatch.where(m, count - 1, scalar(total, int64, be), int64)
    out = dispatch.empty((total + 1,), int64, be)
    dispatch.scatter_("assign", out, 0, slots, arange_like(n, be))
    return out[:total]


def unravel(flat: Any, shape: tuple) -> list:
    """Coordinates (one int64 tensor per dim) of row-major flat positions in `shape`."""
    if len(shape) == 1 or prod(shape) == 0:  # (no element: every coordinate is empty)
        return [flat] * len(shape)
    coords, stride = [], 1
    for n in reversed(shape):
        c = flat if stride == 1 else flat // stride
        coords.append(c % n if stride * n < prod(shape) else c)
        stride *= n
    return coords[::-1]


def nonzero(x: Any, as_tuple: bool = False) -> Any:
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or a tuple of ndim 1-D tensors."""
    flat = flat_nonzero(x)
    if x.ndim == 0:
        coords = [flat] if as_tuple else []
        return tuple(coords) if as_tuple else flat.reshape(-1, 0)
    coords = [c.contiguous() for c in unravel(flat, x.shape)]
    if as_tuple:
        return tuple(coords)
    return _stack_cols(coords)


def _stack_cols(coords: list) -> Any:
    cols = [c.reshape(-1, 1) for c in coords]
    out = dispatch.empty((cols[0].shape[0], len(cols)), int64, cols[0]._be)
    for j, c in enumerate(cols):
        dispatch.assign(out._buf, out._view.index((slice(None), slice(j, j + 1))), c)
    return out


# ---------------------------------------------------------------------- the plan

@dataclass
class Plan:
    """How x[key] is taken: the basic key, and the advanced indices on the view it makes."""

    basic: tuple          # ints, slices and Nones for basic_index (advanced dims left as slices)
    dims: list            # dims of the basic view that are indexed, in order
    index: list           # one int64 tensor per entry of dims, wrapped, broadcast to `shape`
    shape: tuple          # the broadcast shape of the advanced indices
    front: bool           # separated advanced indices: their dims lead the result


def wraps_negative(idx: Any, size: int, error: Callable[[Any], Exception], what: str) -> bool:
    """Raise error(value) unless every index is in [-size, size); True when some are negative
    (they then need wrapping). The min and max are read as checked values (dispatch.checked_item)."""
    def check_low(lo: Any) -> bool:
        if lo < -size:
            raise error(lo)
        return lo < 0

    def check_high(hi: Any) -> None:
        if hi >= size:
            raise error(hi)
    negative = dispatch.checked_item(dispatch.reduce("min", idx, None, False), check_low, what)
    dispatch.checked_item(dispatch.reduce("max", idx, None, False), check_high, what)
    return negative


def _check_range(idx: Any, size: int, dim: int) -> Any:
    """idx with negative entries wrapped; TensorIndexError naming the dim, its size and the bad value."""
    if prod(idx.shape) == 0:
        return idx

    def error(bad: Any) -> TensorIndexError:
        return TensorIndexError(f"index {bad} is out of bounds for dim {dim} with size {size}")
    if wraps_negative(idx, size, error, "index"):
        idx = dispatch.where(idx < 0, idx + size, idx, int64)
    return idx


def make_plan(x: Any, key: Any) -> Plan:
    items = list(key) if isinstance(key, tuple) else [key]
    be = x._be
    for i, k in enumerate(items):
        if isinstance(k, list) or (not dispatch.is_tensor(k) and hasattr(k, "tolist") and hasattr(k, "ndim")):
            items[i] = list_index(k, be)
        elif dispatch.is_tensor(k):
            dispatch.same_backend("indexing", x, k)
            if k.dtype is int32:
                items[i] = dispatch.copy(k, int64)  # the index kernels take int64
            elif k.dtype is not int64 and k.dtype is not bool_:
                raise TensorIndexError(f"tensors used as indices must be int64 (long), int32 (int) or bool, "
                                       f"got {k.dtype.name}" + ("; for a mask use .bool()" if k.dtype is uint8 else ""))
    consumed = 0
    for k in items:
        if dispatch.is_tensor(k):
            consumed += k.ndim if k.dtype is bool_ else 1
        elif k is not None and k is not Ellipsis and not isinstance(k, bool):
            consumed += 1
    if sum(1 for k in items if k is Ellipsis) > 1:
        raise TensorIndexError("an index can only have a single ellipsis ('...')")
    if consumed > x.ndim:
        raise TensorIndexError(f"too many indices for tensor of shape {x.shape}: {consumed} given for {x.ndim} dims")
    if Ellipsis in [k for k in items if not dispatch.is_tensor(k)]:
        at = next(i for i, k in enumerate(items) if not dispatch.is_tensor(k) and k is Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - consumed)
    basic: list = []
    adv: list = []    # (dim of the basic view, index tensor, original dim, size)
    vd = xd = 0
    for k in items:
        if dispatch.is_tensor(k) and k.dtype is bool_:
            m = k.ndim
            want = x.shape[xd:xd + m]
            for j in range(m):
                if k.shape[j] != want[j]:
                    raise TensorIndexError(f"the shape of the mask {k.shape} at index {j} does not match the shape "
                                           f"of the indexed tensor {x.shape} at dim {xd + j} (size {want[j]}, "
                                           f"mask size {k.shape[j]})")
            basic.extend([slice(None)] * m)
            if m == 0:  # a 0-d mask adds a dim of size 1 (true) or 0 (false)
                basic.append(None)
                adv.append((vd, dispatch.full((1 if k.item() else 0,), 0, int64, be), None, 1))
                vd += 1
                continue
            for j, c in enumerate(unravel(flat_nonzero(k), k.shape)):
                adv.append((vd + j, c, None, x.shape[xd + j]))
            vd += m
            xd += m
        elif dispatch.is_tensor(k):
            basic.append(slice(None))
            adv.append((vd, k, xd, x.shape[xd]))
            vd += 1
            xd += 1
        elif isinstance(k, bool):
            basic.append(None)
            adv.append((vd, dispatch.full((1 if k else 0,), 0, int64, be), None, 1))
            vd += 1
        elif k is None:
            basic.append(None)
            vd += 1
        elif isinstance(k, slice):
            basic.append(k)
            vd += 1
            xd += 1
        else:
            basic.append(k)
            xd += 1
    index = [_check_range(t, size, d) if d is not None else t for _, t, d, size in adv]
    shape: tuple = ()
    try:
        for t in index:
            shape = broadcast_shapes(shape, t.shape)
    except ShapeError:
        raise TensorIndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                               + " ".join(str(list(t.shape)) for t in index)) from None
    dims = [a[0] for a in adv]
    front = any(b - a != 1 for a, b in zip(dims, dims[1:]))
    return Plan(tuple(basic), dims, [t.expand(shape) for t in index], shape, front)


def _linear(plan: Plan, sizes: list) -> Any:
    """The row-major linear index over the indexed dims (sizes), of the plan's broadcast shape."""
    lin, stride = None, 1
    for t, n in zip(reversed(plan.index), reversed(sizes)):
        term = t if stride == 1 else t * stride
        lin = term if lin is None else lin + term
        stride *= n
    return lin


def getitem(x: Any, key: Any) -> Any:
    """x[key]: a view for ints, slices, None and ...; a gather when the key has tensors, lists or masks."""
    if not has_advanced(key):
        return basic_index(x, key)
    return advanced_getitem(x, key)


def setitem(x: Any, key: Any, value: Any) -> None:
    """x[key] = value (value broadcast to the selection and cast to x's dtype), any key. On a
    tensor with history, or with a value that requires grad, the write is recorded (rebased)."""
    if not has_advanced(key):
        basic_setitem(x, key, value)
        return
    check_inplace(x)
    if grad_mode.enabled and (x.requires_grad or (dispatch.is_tensor(value) and value.requires_grad)):
        from_value = value if dispatch.is_tensor(value) else scalar(dispatch.as_number(value), x.dtype, x._be)
        rebase(x, lambda old: _index_put(old, key, from_value), keep_old=True)
        return
    assign_index(x, key, value)
    bump(x)


def _index_put(x: Any, key: Any, value: Any) -> Any:
    """x[key] = value out of place and differentiable (the recorded form of an advanced setitem)."""
    mask = selection_mask(x, key)
    placed = dispatch.zeros(x.shape, value.dtype, x._be)
    with no_grad():
        assign_index(placed, key, value)
    if needs_grad(value):  # linear in value: its gradient is the selection of the output's gradient
        placed = record(placed, "IndexPut", (value,), lambda g: (advanced_getitem(g, key).sum_to(value.shape),))
    return where(mask, placed, x)


def advanced_getitem(x: Any, key: Any) -> Any:
    """x[key] with advanced indices (see the module docstring)."""
    plan = make_plan(x, key)
    v = basic_index(x, plan.basic) if plan.basic else x
    dims = plan.dims
    sizes = [v.shape[d] for d in dims]
    rest = [d for d in range(v.ndim) if d not in dims]
    if plan.front:
        v = v.permute(dims + rest)
        p = 0
    else:
        p = dims[0]
    lin = _linear(plan, sizes).reshape(-1)
    merged = v.reshape(v.shape[:p] + (prod(sizes),) + v.shape[p + len(dims):])
    out = index_select(merged, p, lin.contiguous())
    return out.reshape(merged.shape[:p] + plan.shape + merged.shape[p + 1:])


# ---------------------------------------------------------------------- assignment

def _flat_buffer(x: Any) -> Any:
    """x's whole buffer as a flat tensor (the target of a write by buffer offsets)."""
    n = x._be.buffer_size(x._buf)
    return wrap(x._buf, View((n,), (1,), 0), x.dtype, x._be)


def _offsets(x: Any, plan: Plan) -> Any:
    """Buffer offsets (int64) of the elements x[key] selects, in the result's shape."""
    bv = x._view.index(plan.basic) if plan.basic else x._view
    dims = plan.dims
    rest = [d for d in range(len(bv.shape)) if d not in dims]
    be = x._be
    p = 0 if plan.front else dims[0]
    k = len(plan.shape)
    if plan.front:  # the result's dims: the index shape, then the other dims
        rest_out = [(d, k + i) for i, d in enumerate(rest)]
    else:  # the other dims around the index shape, which replaces the indexed dims in place
        rest_out = [(d, d if d < p else d - len(dims) + k) for d in rest]
    out_nd = len(rest) + k
    adv = None
    for t, d in zip(plan.index, dims):
        term = t * bv.strides[d] if bv.strides[d] != 1 else t
        adv = term if adv is None else adv + term
    total = adv.reshape((1,) * p + plan.shape + (1,) * (out_nd - p - k)) + bv.offset
    for d, q in rest_out:
        n = bv.shape[d]
        ax = arange_like(n, be) * bv.strides[d]
        total = total + ax.reshape((1,) * q + (n,) + (1,) * (out_nd - q - 1))
    return total


def assign_index(x: Any, key: Any, value: Any, accumulate: bool = False) -> None:
    """x[key] = value (or += for accumulate) in place, with advanced indices in key."""
    plan = make_plan(x, key)
    dispatch.check_no_internal_overlap(x._view, "index assignment")
    offs = _offsets(x, plan)
    src = value if dispatch.is_tensor(value) else scalar(dispatch.as_number(value), x.dtype, x._be)
    dispatch.same_backend("index assignment", x, src)
    src = src.detach().to(x.dtype)
    try:
        src = src.expand(offs.shape) if src.shape != offs.shape else src
    except ShapeError:
        raise ShapeError(f"shape mismatch: value tensor of shape {src.shape} cannot be broadcast to indexing "
                         f"result of shape {offs.shape}") from None
    if prod(offs.shape) == 0:
        return
    if src._buf is x._buf:
        src = dispatch.copy(src, src.dtype)
    flat_src = dispatch.copy(src, src.dtype)
    flat_offs = offs.contiguous().reshape(-1)
    dst = _flat_buffer(x)
    flat_src = flat_src.reshape(-1)
    if accumulate:
        if x.dtype is bool_:
            raise DTypeError("index_put_ with accumulate=True does not support bool tensors")
        dispatch.scatter_add_(dst, 0, flat_offs, flat_src)
    else:
        dispatch.scatter_("assign", dst, 0, flat_offs, flat_src)


def selection_mask(x: Any, key: Any) -> Any:
    """A float tensor of x's shape: 0 where x[key] selects, 1 elsewhere (constant, no graph)."""
    ones = dispatch.full(x.shape, 1, x.dtype, x._be)
    assign_index(ones, key, 0)
    return ones


