"""The dtypes (bool, uint8, int16, int32, int64, float32, float64) and PyTorch's type-promotion rules."""
from __future__ import annotations

import math

from .errors import DTypeError, InvalidValueError


class DType:
    """A tensor element type. Compare dtypes with `is` or `==`; they are singletons."""

    __slots__ = ("name", "itemsize", "typecode", "is_float", "category", "python_type")

    def __init__(self, name: str, itemsize: int, typecode: str, is_float: bool, category: int, python_type: type):
        self.name = name
        self.itemsize = itemsize
        self.typecode = typecode  # the array.array / struct type code of one element
        self.is_float = is_float
        self.category = category  # 0 bool, 1 integer, 2 floating point
        self.python_type = python_type

    def __repr__(self) -> str:
        return f"tg.{self.name}"

    def __reduce__(self):  # keep singletons across copy/pickle
        return (get_dtype, (self.name,))


bool_ = DType("bool", 1, "B", False, 0, bool)
uint8 = DType("uint8", 1, "B", False, 1, int)
int16 = DType("int16", 2, "h", False, 1, int)
int32 = DType("int32", 4, "i", False, 1, int)
int64 = DType("int64", 8, "q", False, 1, int)
float32 = DType("float32", 4, "f", True, 2, float)
float64 = DType("float64", 8, "d", True, 2, float)

ALL_DTYPES = (bool_, uint8, int16, int32, int64, float32, float64)
INT_DTYPES = (uint8, int16, int32, int64)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
# PyTorch's aliases (torch.int is int32, torch.short int16, torch.byte uint8)
_BY_NAME.update({"bool_": bool_, "float": float32, "double": float64, "long": int64, "int": int32,
                 "short": int16, "byte": uint8})

# (lowest, highest) value of each integer dtype
INT_RANGE = {uint8: (0, 0xFF), int16: (-0x8000, 0x7FFF), int32: (-0x80000000, 0x7FFFFFFF),
             int64: (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF)}

DEFAULT_FLOAT = float32


def get_dtype(dtype: object) -> DType:
    """Turn a DType, a name ('float32'), a Python type or a numpy/PyTorch dtype into a DType."""
    if isinstance(dtype, DType):
        return dtype
    if dtype is float:
        return DEFAULT_FLOAT
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None) or str(dtype)
    name = name.replace("torch.", "")
    try:
        return _BY_NAME[name]
    except KeyError:
        valid = ", ".join(d.name for d in ALL_DTYPES)
        raise DTypeError(f"unsupported dtype {dtype!r}; valid dtypes are {valid}") from None


def promote(a: DType, b: DType) -> DType:
    """Result dtype of a binary op on two tensors of these dtypes (uint8 is the only unsigned
    dtype and the narrowest integer one, so within a category the wider dtype wins)."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    return a if a.itemsize >= b.itemsize else b


def promote_with_scalar(t: DType, scalar: object) -> DType:
    """Result dtype of tensor (op) Python scalar: a scalar never widens within a category."""
    if isinstance(scalar, bool):
        cat = 0
    elif isinstance(scalar, int):
        cat = 1
    else:
        cat = 2
    if cat <= t.category:
        return t
    return int64 if cat == 1 else DEFAULT_FLOAT


def scalar_dtype(value: object) -> DType:
    """The dtype `tg.tensor(value)` gives a Python scalar."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    if isinstance(value, float):
        return DEFAULT_FLOAT
    raise DTypeError(f"cannot make a tensor element from {type(value).__name__} {value!r}")


def cast_scalar(value: object, dtype: DType) -> object:
    """Convert a Python number to the Python type that holds elements of `dtype` (a value outside
    an integer dtype's range is refused, as PyTorch's `full`/`tensor` do)."""
    if dtype is bool_:
        return bool(value)
    if dtype.category == 1:
        if isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
            raise DTypeError(f"cannot convert {value} to {dtype.name}")
        v = int(value)
        lo, hi = INT_RANGE[dtype]
        if not lo <= v <= hi:
            raise InvalidValueError(f"value {value!r} is out of range for {dtype.name} ([{lo}, {hi}])")
        return v
    return float(value)


def operand_scalar(value: object, dtype: DType) -> object:
    """The element a Python scalar operand of a `dtype` tensor becomes: an int meeting an integer
    dtype wraps modulo 2**bits as in PyTorch (`uint8_tensor + 300` adds 44); else `cast_scalar`."""
    if dtype.category == 1 and type(value) is int and -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
        return wrap_int(value, dtype)
    return cast_scalar(value, dtype)


def wrap_int(value: int, dtype: DType) -> int:
    """A Python int reduced modulo 2**bits into an integer dtype's range (C's and PyTorch's
    conversion, used for int scalars that meet an integer tensor: `uint8_tensor + 300`)."""
    lo, hi = INT_RANGE[dtype]
    return ((value - lo) & (hi - lo)) + lo
