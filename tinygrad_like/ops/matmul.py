"""Matrix products: matmul (batched, broadcast) and linear (x @ W.T + b as one graph node)."""
from __future__ import annotations

from typing import Any, Callable, Optional

from .. import dispatch
from .. import dtypes as _dt
from ..autograd import needs_grad, no_grad, record
from ..dispatch import same_backend, transposed
from ..errors import DTypeError, ShapeError
from ..view import broadcast_shapes, prod


def matmul(a: Any, b: Any) -> Any:
    """a @ b with numpy's rules for 1-D operands and broadcast batch dims."""
    sa, sb = a._view.shape, getattr(b, "_view", a._view).shape
    if (len(sa) == 2 and len(sb) == 2 and dispatch.is_tensor(b) and a.dtype is b.dtype and a.dtype.is_float
            and a._be is b._be and sa[1] == sb[0]):
        return _product(a, b, (), a.dtype)  # the common case (every Linear layer), without the general checks
    if (len(sa) > 2 and len(sb) == 2 and dispatch.is_tensor(b) and a.dtype is b.dtype and a.dtype.is_float
            and a._be is b._be and sa[-1] == sb[0]):
        rows = a._view.reshape((prod(sa[:-1]), sa[-1]))
        if rows is not None:
            return _folded_product(a, rows, b)
    if not dispatch.is_tensor(b):
        raise DTypeError(f"matmul: expected a Tensor, got {type(b).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    same_backend("matmul", a, b)
    dt = _dt.promote(a.dtype, b.dtype)
    if not dt.is_float:
        raise DTypeError(f"matmul: {a.dtype.name} @ {b.dtype.name} is not supported; convert with .float()")
    sa0, sb0 = a.shape, b.shape
    a, b = a.to(dt), b.to(dt)
    if a.ndim == 1 and b.ndim == 1:
        if a.shape != b.shape:
            raise ShapeError(f"matmul: {a.shape} @ {b.shape}: inner dimensions {a.shape[0]} and {b.shape[0]} differ")
        return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape(())
    if a.ndim == 1:
        return matmul(a.unsqueeze(0), b).squeeze(-2)
    if b.ndim == 1:
        return matmul(a, b.unsqueeze(1)).squeeze(-1)
    k, k2 = a.shape[-1], b.shape[-2]
    if k != k2:
        raise ShapeError(f"matmul: {sa0} @ {sb0}: inner dimensions {k} and {k2} differ")
    try:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ShapeError:
        raise ShapeError(f"matmul: {sa0} @ {sb0}: batch dimensions {a.shape[:-2]} and {b.shape[:-2]} do not broadcast") from None
    return _product(a, b, batch, dt)


def _product(a: Any, b: Any, batch: tuple, dt: Any) -> Any:
    out = dispatch.matmul(a, b, batch, dt)
    if not needs_grad(a, b):
        return out
    return record(out, "MatMul", (a, b), _matmul_backward(a, b), saved=(a, b))


def _folded_product(a: Any, rows: Any, b: Any) -> Any:
    """(..., M, K) @ (K, N) when a's leading dims fold into its rows as the view `rows` (a Linear
    layer on a sequence): one 2-D product, as PyTorch does, and one graph node. Its backward is
    2-D too: b's gradient is one product over all rows instead of a batch of products and a sum."""
    k, n = b.shape
    out2 = dispatch.matmul(dispatch.wrap(a._buf, rows, a.dtype, a._be, a._vc), b, (), a.dtype)
    out = dispatch.wrap(out2._buf, dispatch.contig(a.shape[:-1] + (n,)), a.dtype, a._be)
    if not needs_grad(a, b):
        return out

    def backward(g: Any) -> tuple:
        g2 = g.reshape(-1, n)
        ga = gb = None
        if a.requires_grad:
            ga = (g2 @ _mT(b)).reshape(a.shape)  # the rows of a are row-major (they fold)
        if b.requires_grad:
            a2 = a.reshape(-1, k)
            gb = _mT(_mT(g2) @ a2) if _col_major(b) else _mT(a2) @ g2
        return ga, gb
    return record(out, "MatMul", (a, b), backward, saved=(a, b))


def _matmul_backward(a: Any, b: Any) -> Callable:
    def backward(g: Any) -> tuple:
        # ga = g @ b.T and gb = a.T @ g. When an input is a transposed view (w.T in a Linear
        # layer), its gradient is built transposed too, (b @ g.T).T or (g.T @ a).T: the same
        # numbers, laid out like the input's own storage, so the gradient that reaches `w`
        # through the transpose is contiguous and later updates walk it in order.
        ga = gb = None
        if a.requires_grad:
            ga = (_mT(b @ _mT(g)) if _col_major(a) else g @ _mT(b)).sum_to(a.shape)
        if b.requires_grad:
            gb = (_mT(_mT(g) @ a) if _col_major(b) else _mT(a) @ g).sum_to(b.shape)
        return ga, gb
    return backward


def _mT(t: Any) -> Any:
    """t with its last two dims swapped: a bare view, or a recorded transpose under create_graph."""
    return t.transpose(-2, -1) if t.requires_grad else transposed(t)


def _col_major(t: Any) -> bool:
    """True when the last two dims of t are stored column by column (a transposed matrix)."""
    st, sh = t._view.strides, t._view.shape
    return sh[-1] > 1 and sh[-2] > 1 and st[-2] == 1 and st[-1] != 1


def linear(input: Any, weight: Any, bias: Optional[Any] = None) -> Any:
    """input @ weight.T + bias, with weight in PyTorch's (out_features, in_features) layout."""
    if input.shape[-1:] != weight.shape[-1:]:
        raise ShapeError(f"linear: input has {input.shape[-1] if input.ndim else 0} features (shape {input.shape}) "
                         f"but weight expects {weight.shape[-1]} (weight shape {weight.shape})")
    if (bias is None or weight.ndim != 2 or bias.shape != weight.shape[:1] or input.ndim == 0
            or not input.dtype is weight.dtype is bias.dtype or not input.dtype.is_float):
        out = input @ weight.T  # the general case, composed: matmul's own promotion and errors
        return out + bias if bias is not None else out
    # One graph node instead of three (transpose, matmul, add): the layer every MLP step runs
    # twice, so its Python overhead matters. The kernels are the same ones.
    with no_grad():
        out = input @ transposed(weight)
        dispatch.binary_inplace("add", out, bias)  # into the fresh result: no temporary
    if not needs_grad(input, weight, bias):
        return out

    def backward(g: Any) -> tuple:
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])  # (rows, out_features)
        x2 = input if input.ndim == 2 else input.reshape(-1, input.shape[-1])
        gx = g @ weight if input.requires_grad else None
        gw = _mT(g2) @ x2 if weight.requires_grad else None  # (out, in), contiguous like weight
        gb = g2.sum(0) if bias.requires_grad else None
        return gx, gw, gb
    return record(out, "Linear", (input, weight, bias), backward, saved=(input, weight))
