"""Oracle utilities shared by the engine tests: numpy conversion, hypothesis strategies, tolerances.

The tests build every tensor from Python lists (not through interop), read it back with
`tolist()`, and compare with numpy computing the same thing. Non-contiguous inputs are made by
applying the same movement op (permute, strided/negative slice, expand) to a numpy base and to
a tensor base holding the same values, so the numpy view is the oracle for the tensor view.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import tinygrad_like as tg

# Modest example counts keep the whole engine suite fast on the pure-Python backend.
SETTINGS = settings(deadline=None, max_examples=25, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
FEW = settings(SETTINGS, max_examples=12)

NP_DTYPE = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32, "int16": np.int16,
            "uint8": np.uint8, "bool": np.bool_}
TG_DTYPE = {"float32": tg.float32, "float64": tg.float64, "int64": tg.int64, "int32": tg.int32, "int16": tg.int16,
            "uint8": tg.uint8, "bool": tg.bool_}
NARROW_INT_NAMES = ("uint8", "int16", "int32")
FLOAT_NAMES = ("float32", "float64")

# (rtol, atol) for comparing a tensor op with numpy's result in the same dtype
TOL = {"float32": (2e-5, 1e-5), "float64": (1e-10, 1e-12), "int64": (0, 0), "int32": (0, 0), "int16": (0, 0),
       "uint8": (0, 0), "bool": (0, 0)}


def np_dtype(t_or_name: Any) -> Any:
    name = t_or_name if isinstance(t_or_name, str) else t_or_name.dtype.name
    return NP_DTYPE[name]


def to_np(t: tg.Tensor) -> np.ndarray:
    """The tensor's values as a numpy array of the matching dtype (through tolist, not interop)."""
    return np.array(t.detach().tolist(), dtype=np_dtype(t)).reshape(t.shape)


def from_np(a: Any, dtype: Optional[str] = None, requires_grad: bool = False) -> tg.Tensor:
    """A tensor with the values of numpy array `a` (through nested lists, not interop)."""
    a = np.asarray(a)
    name = dtype or a.dtype.name
    if a.size == 0:  # nested lists cannot spell a shape like (1, 0, 2)
        return tg.zeros(a.shape, dtype=TG_DTYPE[name], requires_grad=requires_grad)
    return tg.tensor(a.astype(NP_DTYPE[name]).tolist(), dtype=TG_DTYPE[name], requires_grad=requires_grad)


def assert_close(t: tg.Tensor, expected: Any, dtype: Optional[str] = None, rtol: Optional[float] = None,
                 atol: Optional[float] = None, check_dtype: bool = True) -> None:
    """Shape, dtype and values of `t` against numpy's `expected` (NaN equals NaN)."""
    expected = np.asarray(expected)
    assert isinstance(t, tg.Tensor), f"expected a Tensor, got {type(t).__name__}"
    assert t.shape == expected.shape, f"shape {t.shape} != expected {expected.shape}"
    name = dtype or t.dtype.name
    if check_dtype and dtype is not None:
        assert t.dtype.name == dtype, f"dtype {t.dtype.name} != expected {dtype}"
    got = to_np(t)
    r, a = TOL[name]
    r = r if rtol is None else rtol
    a = a if atol is None else atol
    if name not in FLOAT_NAMES:
        np.testing.assert_array_equal(got, expected.astype(got.dtype))
    else:
        np.testing.assert_allclose(got, expected.astype(got.dtype), rtol=r, atol=a, equal_nan=True)


# ---------------------------------------------------------------- shapes

def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def broadcast_pair(draw: Any, min_dims: int = 0, max_dims: int = 4, max_side: int = 4) -> tuple:
    """Two shapes that broadcast together: size-1 dims and missing leading dims on either side."""
    full = draw(shapes(min_dims, max_dims, 1, max_side))

    def derive() -> tuple:
        drop = draw(st.integers(0, len(full)))
        return tuple(1 if draw(st.booleans()) else n for n in full[drop:])
    return derive(), derive()


# ---------------------------------------------------------------- views

@dataclass
class ViewCase:
    """A recipe making a view of `shape` out of a base of `base_shape`, for numpy and tensors alike."""

    kind: str
    shape: tuple
    base_shape: tuple
    steps: list = field(default_factory=list)  # ("permute", order) | ("index", key) | ("expand", shape)

    def apply(self, x: Any) -> Any:
        for op, arg in self.steps:
            if op == "permute":
                x = x.transpose(arg) if isinstance(x, np.ndarray) else x.permute(arg)
            elif op == "index":
                x = x[arg]
            elif op == "expand":
                x = np.broadcast_to(x, arg) if isinstance(x, np.ndarray) else x.expand(arg)
        return x


VIEW_KINDS = ("contiguous", "transposed", "sliced", "flipped", "expanded", "mixed")


@st.composite
def view_cases(draw: Any, shape: tuple, kinds: Sequence[str] = VIEW_KINDS) -> ViewCase:
    """A recipe whose result has exactly `shape` and (usually) is not contiguous."""
    kind = draw(st.sampled_from(list(kinds)))
    nd = len(shape)
    if kind == "contiguous" or (nd == 0 and kind != "expanded"):
        return ViewCase("contiguous", shape, shape)
    if kind == "transposed":
        order = tuple(draw(st.permutations(range(nd))))
        base = [0] * nd
        for i, d in enumerate(order):
            base[d] = shape[i]
        return ViewCase(kind, shape, tuple(base), [("permute", order)])
    if kind in ("sliced", "flipped"):
        key, base = _slice_key(draw, shape, negative=kind == "flipped")
        return ViewCase(kind, shape, base, [("index", key)])
    if kind == "expanded":
        lead = draw(st.integers(0, nd))
        small = tuple(1 if draw(st.booleans()) else n for n in shape[lead:])
        return ViewCase(kind, shape, small, [("expand", shape)])
    # mixed: a strided slice of a transposed base
    order = tuple(draw(st.permutations(range(nd))))
    key, sliced_base = _slice_key(draw, shape, negative=draw(st.booleans()))
    base = [0] * nd
    for i, d in enumerate(order):
        base[d] = sliced_base[i]
    return ViewCase(kind, shape, tuple(base), [("permute", order), ("index", key)])


def _slice_key(draw: Any, shape: tuple, negative: bool) -> tuple:
    key, base = [], []
    for n in shape:
        step = draw(st.sampled_from([1, 2, 3]))
        if negative and draw(st.booleans()):
            step = -step
        pad = draw(st.integers(0, 2))
        size = max(n * abs(step) + pad, 1)
        if step > 0:
            key.append(slice(pad, pad + n * step, step))
        else:
            start = pad + (n - 1) * abs(step)
            key.append(slice(start, pad - 1 if pad >= 1 else None, step))
        base.append(max(size, pad + (n - 1) * abs(step) + 1))
    return tuple(key), tuple(base)


def random_values(rng: np.random.Generator, shape: tuple, dtype: str, lo: float = -3.0, hi: float = 3.0) -> np.ndarray:
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype == "int64":
        return rng.integers(int(lo), int(hi) + 1, size=shape).astype(np.int64)
    return rng.uniform(lo, hi, size=shape).astype(NP_DTYPE[dtype])


@st.composite
def tensors(draw: Any, shape: Optional[tuple] = None, dtype: Any = "float64", kinds: Sequence[str] = VIEW_KINDS,
            lo: float = -3.0, hi: float = 3.0, min_dims: int = 0, max_dims: int = 4,
            positive: bool = False) -> tuple:
    """(numpy array, tensor view with the same values) of `shape` (drawn if None)."""
    if shape is None:
        shape = draw(shapes(min_dims, max_dims))
    if not isinstance(dtype, str):
        dtype = draw(dtype)
    case = draw(view_cases(tuple(shape), kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = random_values(rng, case.base_shape, dtype, lo, hi)
    if positive:
        base = np.asarray(np.abs(base) + np.asarray(0.25, dtype=base.dtype), dtype=base.dtype)
    return case.apply(base), case.apply(from_np(base, dtype))


def tensor_and_base(rng_seed: int, case: ViewCase, dtype: str = "float64") -> tuple:
    """(numpy base, tensor base) for `case`; the test applies case.apply itself (e.g. inside gradcheck)."""
    base = random_values(np.random.default_rng(rng_seed), case.base_shape, dtype)
    return base, from_np(base, dtype)


def dims_for(draw: Any, ndim: int) -> Any:
    """A dim argument: None, an int (maybe negative) or a tuple of distinct dims."""
    if ndim == 0:
        return None
    choice = draw(st.sampled_from(["none", "int", "tuple"]))
    if choice == "none":
        return None
    if choice == "int":
        return draw(st.integers(-ndim, ndim - 1))
    dims = draw(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim))
    return tuple(d - ndim if draw(st.booleans()) else d for d in dims)


def np_axis(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def grad_of(fn: Callable[..., tg.Tensor], *xs: tg.Tensor) -> list:
    """Gradients of sum(fn(*xs)) w.r.t. xs (fresh leaves)."""
    for x in xs:
        x.grad = None
    fn(*xs).sum().backward()
    return [x.grad for x in xs]


def load_from_torch(tmp_path: Any, torch_module: Any, tg_module: Any, name: str = "m.safetensors") -> None:
    """PyTorch's state_dict -> a safetensors file -> tg.load -> tg_module.load_state_dict (strict)."""
    import os
    from safetensors.torch import save_file
    path = os.path.join(tmp_path, name)
    save_file({k: v.contiguous() for k, v in torch_module.state_dict().items()}, path)
    res = tg_module.load_state_dict(tg.load(path))
    assert not res.missing_keys and not res.unexpected_keys
