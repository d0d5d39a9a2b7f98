"""Elementwise ops: unary math, binary arithmetic, comparisons, logic and `where`.

Each op is a function of tensors: it computes its result through `dispatch` (which plans the
broadcast and calls one kernel), then records its backward rule, written right below or next
to it with tensor ops, so that `create_graph` can differentiate it again.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

from .. import dispatch, fused_kernels
from .. import dtypes as _dt
from ..autograd import grad_mode, needs_grad, record, record2
from ..dispatch import as_number, is_tensor, result_dtype, same_backend, scalar
from ..dtypes import DType, bool_, float32, float64, int64
from ..errors import DivisionByZeroError, DTypeError, InvalidValueError
from ..interop import numpy_to_tensor

# ---------------------------------------------------------------------- unary


def unary(x: Any, op: str, name: str, backward_of: Optional[Callable] = None, dtype: Optional[DType] = None,
          saves: str = "") -> Any:
    """op(x) with one kernel; `backward_of(x, out)` returns the backward closure (None: no gradient),
    which reads `saves` ("x", "out" or ""). Integer and bool inputs are computed in float32 unless
    `dtype` says otherwise."""
    if dtype is None:
        dtype = x.dtype if x.dtype.is_float else float32
    if x.dtype is not dtype:
        x = x.to(dtype)
    out = dispatch.unary(op, x, dtype)
    if backward_of is None or not (x.requires_grad and grad_mode.enabled):
        return out
    saved = (x,) if saves == "x" else (out,) if saves == "out" else ()
    return record(out, name, (x,), backward_of(x, out), saved)


def exp(x: Any) -> Any:
    return unary(x, "exp", "Exp", lambda x, out: lambda g: (g * out,), saves="out")


def log(x: Any) -> Any:
    return unary(x, "log", "Log", lambda x, out: lambda g: (g / x,), saves="x")


def sqrt(x: Any) -> Any:
    return unary(x, "sqrt", "Sqrt", lambda x, out: lambda g: (g * 0.5 / out,), saves="out")


def sin(x: Any) -> Any:
    return unary(x, "sin", "Sin", lambda x, out: lambda g: (g * x.cos(),), saves="x")


def cos(x: Any) -> Any:
    return unary(x, "cos", "Cos", lambda x, out: lambda g: (-g * x.sin(),), saves="x")


def tanh(x: Any) -> Any:
    return unary(x, "tanh", "Tanh", lambda x, out: lambda g: (g * (1 - out * out),), saves="out")


def sigmoid(x: Any) -> Any:
    return unary(x, "sigmoid", "Sigmoid", lambda x, out: lambda g: (g * out * (1 - out),), saves="out")


def _relu_backward(x: Any, out: Any) -> Callable:
    def backward(g: Any) -> tuple:
        # the gradient passes where the output is positive: the backend's one-pass kernel when
        # it has one (its result is not differentiable again, so not under create_graph,
        # the only time backward runs with grad mode on)
        fused = None if grad_mode.enabled else fused_kernels.fused_relu_backward(g, out)
        return (where(out > 0, g, 0.0) if fused is None else fused,)
    return backward


def relu(x: Any) -> Any:
    return unary(x, "relu", "Relu", _relu_backward, dtype=x.dtype if x.dtype is not bool_ else int64, saves="out")


def erf(x: Any) -> Any:
    c = 2.0 / math.sqrt(math.pi)
    return unary(x, "erf", "Erf", lambda x, out: lambda g: (g * c * (-(x * x)).exp(),), saves="x")


def reciprocal(x: Any) -> Any:
    return unary(x, "reciprocal", "Reciprocal", lambda x, out: lambda g: (-g * out * out,), saves="out")


def abs(x: Any) -> Any:  # noqa: A001  (PyTorch's name)
    dt = x.dtype if x.dtype is not bool_ else int64
    return unary(x, "abs", "Abs", lambda x, out: lambda g: (g * x.sign(),), dtype=dt, saves="x")


def sign(x: Any) -> Any:
    dt = x.dtype if x.dtype is not bool_ else int64
    return unary(x, "sign", "Sign", lambda x, out: lambda g: (g * 0,), dtype=dt)


def floor(x: Any) -> Any:
    return x if not x.dtype.is_float else unary(x, "floor", "Floor", lambda x, out: lambda g: (g * 0,))


def ceil(x: Any) -> Any:
    return x if not x.dtype.is_float else unary(x, "ceil", "Ceil", lambda x, out: lambda g: (g * 0,))


def trunc(x: Any) -> Any:
    """Round toward zero."""
    return x if not x.dtype.is_float else where(x < 0, ceil(x), floor(x))


def neg(x: Any) -> Any:
    if x.dtype is bool_:
        raise DTypeError("negation of a bool tensor is not supported; use ~ (logical not)")
    return unary(x, "neg", "Neg", lambda x, out: lambda g: (-g,), dtype=x.dtype)


def logical_not(x: Any) -> Any:
    if x.dtype is not bool_:
        raise DTypeError(f"~ is supported on bool tensors only, got {x.dtype.name}")
    return unary(x, "logical_not", "Not", dtype=bool_)


# ---------------------------------------------------------------------- binary: operands


def operands(a: Any, other: Any, reverse: bool = False) -> tuple:
    """(left, right, dtype): `other` made a tensor (a Python number becomes a 0-d tensor of the
    promoted dtype), both cast to the result dtype; swapped when `reverse` (for __radd__ etc.)."""
    if is_tensor(other):
        if other._be is not a._be:
            same_backend("binary op", a, other)
        dt = a.dtype if other.dtype is a.dtype else result_dtype(a, other)
        if dt is a.dtype is other.dtype:  # the common case: nothing to cast
            return (other, a, dt) if reverse else (a, other, dt)
        b = other
    else:
        other = _operand_number(other, a)
        if is_tensor(other):  # a numpy array made a tensor
            return operands(a, other, reverse)
        dt = _dt.promote_with_scalar(a.dtype, other)
        b = scalar(_dt.operand_scalar(other, dt), dt, a._be)
    if a.dtype is not dt:
        a = a.to(dt)
    if b.dtype is not dt:
        b = b.to(dt)
    return (b, a, dt) if reverse else (a, b, dt)


def _operand_number(x: Any, like: Any) -> Any:
    """A Python number, or a tensor copy of a numpy array (as PyTorch accepts numpy operands)."""
    if type(x).__module__ == "numpy" and hasattr(x, "__array_interface__") and getattr(x, "ndim", 0) > 0:
        return numpy_to_tensor(x, like._be)
    return as_number(x)


_SAVES = {"add": (), "sub": (), "mul": (0, 1), "div": (0, 1), "pow": (0, 1, 2), "maximum": (0, 1), "minimum": (0, 1),
          "fmod": (0, 1)}
"""Which of (a, b, out) each binary op's backward reads (always a prefix of the three)."""


def arith_op(op: str, name: str, backward_of: Callable) -> Callable:
    """The function `(a, other, reverse=False) -> a op other` with PyTorch's promotion, recording
    `backward_of(a, b, out)` when needed. One function per op, so that an operator makes one
    Python call less on its way to the kernel (the per-op overhead of small tensors)."""
    n_saved = len(_SAVES[op])

    def apply(a: Any, other: Any, reverse: bool = False) -> Any:
        # nothing to promote (same class: a tensor, without the isinstance call; else operands decides)
        if type(other) is type(a) and other.dtype is a.dtype and other._be is a._be:
            a, b, dt = (other, a, a.dtype) if reverse else (a, other, a.dtype)
        else:
            a, b, dt = operands(a, other, reverse)
        kernel = op
        if not dt.is_float:
            a, b, dt, kernel = _integer_operands(a, b, dt, op)
        out = dispatch.binary(kernel, a, b, dt, dt)
        if not (grad_mode.enabled and (a.requires_grad or b.requires_grad)):
            return out
        return record2(out, name, a, b, backward_of(a, b, out), (a, b, out)[:n_saved] if n_saved else ())
    apply.__name__ = apply.__qualname__ = op
    return apply


def _integer_operands(a: Any, b: Any, dt: Any, op: str) -> tuple:
    """PyTorch's rules for bool and int operands: bool add is or, bool div/pow go through int64,
    int div through float32, negative integer powers are refused."""
    if dt is bool_:
        if op == "sub":
            raise DTypeError("subtraction of two bool tensors is not supported; use ^ (logical xor) or ~")
        if op in ("div", "pow"):
            a, b, dt = a.to(int64), b.to(int64), int64
        elif op == "add":
            op = "maximum"
    if op == "div" and not dt.is_float:
        a, b, dt = a.to(float32), b.to(float32), float32
    if op == "pow" and not dt.is_float:
        dispatch.checked_item((b < 0).any(), _check_nonneg_exponent, "integer pow")
    return a, b, dt, op


# ---------------------------------------------------------------------- binary: arithmetic


def _pass_to_both(g: Any) -> tuple:
    return g, g


def _add_backward(a: Any, b: Any, out: Any) -> Callable:
    sa, sb = a._view.shape, b._view.shape
    if sa == sb:  # no broadcast: the gradient passes unchanged (one shared function, no closure to build)
        return _pass_to_both
    ra, rb = a.requires_grad, b.requires_grad
    return lambda g: (g.sum_to(sa) if ra else None, g.sum_to(sb) if rb else None)


add = arith_op("add", "Add", _add_backward)


def _sub_backward(a: Any, b: Any, out: Any) -> Callable:
    sa, sb = a._view.shape, b._view.shape
    ra, rb = a.requires_grad, b.requires_grad
    return lambda g: (g.sum_to(sa) if ra else None, (-g).sum_to(sb) if rb else None)


sub = arith_op("sub", "Sub", _sub_backward)


def _mul_backward(a: Any, b: Any, out: Any) -> Callable:
    return lambda g: ((g * b).sum_to(a.shape) if a.requires_grad else None,
                      (g * a).sum_to(b.shape) if b.requires_grad else None)


mul = arith_op("mul", "Mul", _mul_backward)


def _div_backward(a: Any, b: Any, out: Any) -> Callable:
    return lambda g: ((g / b).sum_to(a.shape) if a.requires_grad else None,
                      (-g * a / (b * b)).sum_to(b.shape) if b.requires_grad else None)


div = arith_op("div", "Div", _div_backward)


def _pow_backward(a: Any, b: Any, out: Any) -> Callable:
    def backward(g: Any) -> tuple:
        ga = None
        if a.requires_grad:  # d(a**0)/da is 0 even at a == 0, where b * a**(b-1) would be 0 * inf
            ga = where(b == 0, 0.0, g * b * a ** (b - 1)).sum_to(a.shape)
        gb = None
        if b.requires_grad:
            gb = (g * out * where(a > 0, a, 1.0).log()).sum_to(b.shape)
        return ga, gb
    return backward


_pow = arith_op("pow", "Pow", _pow_backward)


def pow(a: Any, other: Any, reverse: bool = False) -> Any:  # noqa: A001  (PyTorch's name)
    if not reverse and isinstance(other, (int, float)) and not isinstance(other, bool) and a.dtype.is_float:
        if other == 2:
            return mul(a, a)
        if other == 1:
            return mul(a, 1)
    return _pow(a, other, reverse)


def _minmax_backward(a: Any, b: Any, out: Any, op: str) -> Callable:
    def backward(g: Any) -> tuple:
        wins = (a > b) if op == "maximum" else (a < b)
        tie = a == b  # ties split the gradient in half, as in PyTorch
        share_a = where(tie, g * 0.5, where(wins, g, 0.0))
        share_b = where(tie, g * 0.5, where(wins, 0.0, g))
        return (share_a.sum_to(a.shape) if a.requires_grad else None,
                share_b.sum_to(b.shape) if b.requires_grad else None)
    return backward


_maximum = arith_op("maximum", "Maximum", lambda a, b, out: _minmax_backward(a, b, out, "maximum"))
_minimum = arith_op("minimum", "Minimum", lambda a, b, out: _minmax_backward(a, b, out, "minimum"))


def maximum(a: Any, b: Any) -> Any:
    if not is_tensor(a):
        a, b = b, a
    return _maximum(a, b)


def minimum(a: Any, b: Any) -> Any:
    if not is_tensor(a):
        a, b = b, a
    return _minimum(a, b)


# ---------------------------------------------------------------------- floor division, remainder


def _fmod_backward(a: Any, b: Any, out: Any) -> Callable:
    # fmod(a, b) = a - trunc(a / b) * b: d/da = 1, d/db = -trunc(a / b) (PyTorch's rule)
    return lambda g: (g.sum_to(a.shape) if a.requires_grad else None,
                      (-g * trunc(a / b)).sum_to(b.shape) if b.requires_grad else None)


_fmod = arith_op("fmod", "Fmod", _fmod_backward)


def fmod(a: Any, other: Any, reverse: bool = False) -> Any:
    """C's fmod: the remainder of the division truncated toward zero, with the dividend's sign."""
    a, b, dt = operands(a, other, reverse)
    if not dt.is_float:
        _check_int_divisor(b)
    return _fmod(a, b)


def _int_floor_divide(a: Any, b: Any, r: Any) -> Any:
    """a // b for int64 from r = fmod(a, b): the truncated quotient (exact below 2**53), minus one
    where the remainder and the divisor differ in sign."""
    q = ((a - r).to(float64) / b.to(float64)).round().to(a.dtype)
    return where((r != 0) & ((r < 0) != (b < 0)), q - 1, q)


def floor_divide(a: Any, other: Any, reverse: bool = False) -> Any:
    """a // other, rounding toward -inf, with PyTorch's results for zeros, infinities and NaN."""
    a, b, dt = operands(a, other, reverse)
    if dt is bool_:
        a, b, dt = a.to(int64), b.to(int64), int64
    mod = fmod(a, b)
    if not dt.is_float:
        return _int_floor_divide(a, b, mod)
    div = (a - mod) / b
    div = where((mod != 0) & ((b < 0) != (mod < 0)), div - 1, div)
    fl = div.floor()
    fl = where(div - fl > 0.5, fl + 1, fl)
    q = a / b
    signed_zero = where(q.reciprocal() < 0, -0.0, 0.0)  # copysign(0, a / b): 1/-0.0 is -inf
    return where(b == 0, q, where(div != 0, fl, signed_zero))


def remainder(a: Any, other: Any, reverse: bool = False) -> Any:
    """a % other with the divisor's sign (Python's and PyTorch's `%`)."""
    a, b, dt = operands(a, other, reverse)
    if dt is bool_:
        a, b, dt = a.to(int64), b.to(int64), int64
    mod = fmod(a, b)
    return where((mod != 0) & ((b < 0) != (mod < 0)), mod + b, mod)


def _check_int_divisor(b: Any) -> None:
    dispatch.checked_item((b == 0).any(), _check_no_zero, "integer division")


def _check_no_zero(any_zero: bool) -> None:
    if any_zero:
        raise DivisionByZeroError("integer division or modulo by zero (a divisor is 0); "
                                  "convert to float with .float() for inf/nan results")


def _check_nonneg_exponent(any_negative: bool) -> None:
    if any_negative:
        raise InvalidValueError("Integers to negative integer powers are not allowed")


# ---------------------------------------------------------------------- comparisons and logic


def compare(a: Any, other: Any, op: str) -> Any:
    """a op other (eq, ne, lt, le, gt, ge) as a bool tensor; no gradient."""
    a, b, dt = operands(a, other)
    return dispatch.binary(op, a, b, dt, bool_)


def logic(a: Any, other: Any, op: str) -> Any:
    """Elementwise and (mul), or (maximum), xor (ne) of bool tensors."""
    a, b, dt = operands(a, other)
    if dt is not bool_:
        raise DTypeError(f"logical/bitwise ops are supported on bool tensors only, got {dt.name}")
    return dispatch.binary(op, a, b, bool_, bool_)


def _named(fn: Callable, op: str, name: str) -> Callable:
    def f(a: Any, other: Any) -> Any:
        return fn(a, other, op)
    f.__name__ = f.__qualname__ = name
    return f


eq, ne, lt, le, gt, ge = (_named(compare, op, op) for op in ("eq", "ne", "lt", "le", "gt", "ge"))
logical_and, logical_or, logical_xor = (_named(logic, op, name) for op, name in
                                        (("mul", "logical_and"), ("maximum", "logical_or"), ("ne", "logical_xor")))


def isnan(x: Any) -> Any:
    return x != x


def isinf(x: Any) -> Any:
    if not x.dtype.is_float:
        return dispatch.full(x.shape, False, bool_, x._be)
    return x.abs() == math.inf


def isfinite(x: Any) -> Any:
    if not x.dtype.is_float:
        return dispatch.full(x.shape, True, bool_, x._be)
    return ~(isnan(x) | isinf(x))


# ---------------------------------------------------------------------- where


def _as_operand(x: Any, like: Any) -> Any:
    if is_tensor(x):
        return x
    return scalar(as_number(x), _dt.promote_with_scalar(like.dtype, as_number(x)), like._be)


def where(cond: Any, a: Any, b: Any) -> Any:
    """cond ? a : b elementwise, broadcasting all three; a and b may be Python numbers."""
    if not is_tensor(cond):
        raise DTypeError(f"where: condition must be a bool Tensor, got {type(cond).__name__}")
    a_t, b_t = is_tensor(a), is_tensor(b)
    if a_t and b_t:
        ta, tb = a, b
        dt = result_dtype(ta, tb)
    elif a_t or b_t:  # a Python scalar may lift the category (int -> float)
        t, num = (a, b) if a_t else (b, a)
        dt = _dt.promote_with_scalar(t.dtype, as_number(num))
        ta, tb = (a, _as_operand(b, a)) if a_t else (_as_operand(a, b), b)
    else:
        dt = _dt.promote_with_scalar(_dt.scalar_dtype(as_number(a)), as_number(b))
        ta, tb = scalar(a, dt, cond._be), scalar(b, dt, cond._be)
    same_backend("where", cond, ta, tb)
    ta, tb = ta.to(dt), tb.to(dt)
    if cond.dtype is not bool_:  # PyTorch refuses too: a float mask is usually a bug (0.5 would count as True)
        raise DTypeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {cond.dtype.name}")
    out = dispatch.where(cond, ta, tb, dt)
    if not needs_grad(ta, tb):
        return out
    sa, sb = ta.shape, tb.shape
    return record(out, "Where", (ta, tb), lambda g: (where(cond, g, 0.0).sum_to(sa) if ta.requires_grad else None,
                                                     where(cond, 0.0, g).sum_to(sb) if tb.requires_grad else None),
                  saved=(cond,))
