"""Every protocol primitive on every fast backend agrees with the python reference backend.

Hypothesis draws shapes and view kinds (contiguous with an offset, transposed, sliced with
steps including negative ones, broadcast with zero strides), fills one buffer per backend with
the same values (specials such as nan, inf and -0.0 included), calls the same primitive on both
backends and compares the results: floats within a tolerance, everything else exactly, and
random() bit for bit. Runs once per selected backend other than python (the suite's autouse
`backend` fixture); skips when that backend is python or cannot load.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import tinygrad_like as tg
from tinygrad_like.backends import protocol
from tinygrad_like.dtypes import bool_, float32, float64, int64
from tinygrad_like.view import View, coalesce, contiguous_strides, prod

SETTINGS = settings(deadline=None, max_examples=40, derandomize=True, phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
DTYPES = {"float32": float32, "float64": float64, "int64": int64, "bool": bool_}
FLOATS = (float32, float64)
RTOL = {float32: 2e-6, float64: 1e-12}
INT_UNARY = ("neg", "abs", "sign", "relu")
INT_BINARY = ("add", "sub", "mul", "pow", "maximum", "minimum") + protocol.COMPARE_OPS
BOOL_BINARY = ("mul", "maximum", "minimum") + protocol.COMPARE_OPS
SPECIALS = (math.nan, math.inf, -math.inf, 0.0, -0.0, 1e30, -1e30, 1e-30)


@pytest.fixture
def pair(backend: str) -> tuple[Any, Any]:
    """(reference python backend, backend under test); skips for python itself."""
    if backend == "python" or backend not in tg.backends.available():
        pytest.skip("agreement is checked for the non-python backends that load here")
    return tg.backends.load("python"), tg.backends.load(backend)


# ---------------------------------------------------------------- strategies

def values(draw: Any, n: int, dtype: Any, specials: bool = True, lo: float = -3.0, hi: float = 3.0) -> list:
    """n Python numbers of dtype's kind; floats sometimes include nan/inf/-0.0 and large values."""
    if dtype is bool_:
        return draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if dtype is int64:
        return draw(st.lists(st.integers(-20, 20), min_size=n, max_size=n))
    elem = st.floats(lo, hi, width=32)
    if specials:
        elem = st.one_of(elem, elem, elem, elem, elem, elem, st.sampled_from(SPECIALS))
    return draw(st.lists(elem, min_size=n, max_size=n))


@st.composite
def shapes(draw: Any, min_ndim: int = 0, max_ndim: int = 3, max_size: int = 6) -> tuple:
    ndim = draw(st.integers(min_ndim, max_ndim))
    return tuple(draw(st.integers(1, max_size)) for _ in range(ndim))


KINDS = ("contiguous", "transposed", "sliced", "broadcast")


@st.composite
def view_of(draw: Any, shape: tuple, kinds: Sequence[str] = KINDS) -> tuple[View, int]:
    """A View of `shape` of a drawn kind, and the buffer size it needs."""
    kind = draw(st.sampled_from(kinds)) if shape else "contiguous"
    pad = draw(st.integers(0, 3))
    if kind == "contiguous":
        v = View(shape, contiguous_strides(shape), pad)
    elif kind == "transposed":
        v = View(shape, tuple(reversed(contiguous_strides(tuple(reversed(shape))))), pad)
    elif kind == "sliced":
        steps = [draw(st.sampled_from((1, 2, 3, -1, -2))) for _ in shape]
        extra = [draw(st.integers(0, 2)) for _ in shape]
        base = tuple(n * abs(s) + r for n, s, r in zip(shape, steps, extra))
        bst = contiguous_strides(base)
        off, strides = pad, []
        for n, s, r, b, bs in zip(shape, steps, extra, base, bst):
            r0 = draw(st.integers(0, r))
            off += (r0 if s > 0 else b - 1 - r0) * bs
            strides.append(bs * s)
        v = View(shape, tuple(strides), off)
    else:
        zero = [draw(st.booleans()) for _ in shape]
        kept = tuple(1 if z else n for n, z in zip(shape, zero))
        st_ = contiguous_strides(kept)
        v = View(shape, tuple(0 if z else s for z, s in zip(zero, st_)), pad)
    return v, v.span()[1] + 1 + draw(st.integers(0, 2))


def make(draw: Any, be_pair: tuple, n: int, dtype: Any, **kw: Any) -> tuple[list, Any, Any]:
    vals = values(draw, n, dtype, **kw)
    return vals, be_pair[0].from_list(vals, dtype), be_pair[1].from_list(vals, dtype)


def flat(be: Any, buf: Any, n: int, dtype: Any) -> list:
    return be.to_list(buf, View((n,), (1,), 0), dtype) if n else []


def same(x: Any, y: Any, dtype: Any, rtol: float = 0.0, atol: float = 0.0) -> bool:
    if not dtype.is_float:
        return x == y and type(x) is type(y)
    if x != x or y != y:
        return x != x and y != y
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= atol + (rtol or RTOL[dtype]) * abs(y)


def check(ref: list, got: list, dtype: Any, what: str, rtol: float = 0.0, atol: float = 0.0) -> None:
    assert len(ref) == len(got), f"{what}: {len(got)} elements, expected {len(ref)}"
    bad = [i for i, (x, y) in enumerate(zip(got, ref)) if not same(x, y, dtype, rtol, atol)]
    assert not bad, f"{what}: {len(bad)} mismatches, first at {bad[0]}: got {got[bad[0]]!r}, expected {ref[bad[0]]!r}"


def coalesced(shape: tuple, *views: View) -> list[View]:
    """The views as the core hands them to an elementwise kernel (coalesced together)."""
    cs, strides = coalesce(shape, *(v.strides for v in views))
    return [View(cs, s, v.offset) for s, v in zip(strides, views)]


# ---------------------------------------------------------------- memory

@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(list(DTYPES.values())), n=st.integers(1, 40))
def test_memory(pair, data, dtype, n):
    ref, be = pair
    vals, rb, bb = make(data.draw, pair, n, dtype)
    assert be.buffer_size(bb) == n == ref.buffer_size(rb)
    check(flat(ref, rb, n, dtype), flat(be, bb, n, dtype), dtype, "from_list/to_list")
    # buffer protocol both ways (zero-copy where possible) gives the same elements
    back = ref.from_buffer(be.memoryview(bb, dtype), dtype)
    check(flat(ref, rb, n, dtype), flat(ref, back, n, dtype), dtype, "memoryview -> python")
    there = be.from_buffer(ref.memoryview(rb, dtype)[:n], dtype)
    check(flat(ref, rb, n, dtype), flat(be, there, n, dtype), dtype, "python -> from_buffer")
    fill = vals[0]
    check(flat(ref, ref.full(n, fill, dtype), n, dtype), flat(be, be.full(n, fill, dtype), n, dtype), dtype, "full")
    assert be.buffer_size(be.empty(n, dtype)) == n


@SETTINGS
@given(data=st.data(), shape=shapes(), src=st.sampled_from(list(DTYPES.values())),
       dst=st.sampled_from(list(DTYPES.values())))
def test_copy_and_cast(pair, data, shape, src, dst):
    ref, be = pair
    v, size = data.draw(view_of(shape))
    _, rb, bb = make(data.draw, pair, size, src, specials=not (src.is_float and dst is int64))
    (cv,) = coalesced(shape, v)
    n = prod(shape)
    check(flat(ref, ref.copy(rb, cv, src, dst), n, dst), flat(be, be.copy(bb, cv, src, dst), n, dst), dst,
          f"copy {src.name}->{dst.name} {cv}")
    check(ref.to_list(rb, v, src), be.to_list(bb, v, src), src, f"to_list {v}")


@SETTINGS
@given(data=st.data(), shape=shapes(min_ndim=1), dtype=st.sampled_from(list(DTYPES.values())))
def test_assign(pair, data, shape, dtype):
    ref, be = pair
    dv, dsize = data.draw(view_of(shape, ("contiguous", "transposed", "sliced")))
    sv, ssize = data.draw(view_of(shape))
    _, rd, bd = make(data.draw, pair, dsize, dtype)
    _, rs, bs = make(data.draw, pair, ssize, dtype)
    cd, cs = coalesced(shape, dv, sv)
    ref.assign(rd, cd, rs, cs, dtype)
    be.assign(bd, cd, bs, cs, dtype)
    check(flat(ref, rd, dsize, dtype), flat(be, bd, dsize, dtype), dtype, f"assign {cd} <- {cs}")


# ---------------------------------------------------------------- elementwise

@SETTINGS
@given(data=st.data(), shape=shapes(), op=st.sampled_from(protocol.UNARY_OPS),
       dtype=st.sampled_from(list(DTYPES.values())))
def test_unary(pair, data, shape, op, dtype):
    ref, be = pair
    if op == "logical_not":
        dtype = bool_
    elif dtype is bool_ or (dtype is int64 and op not in INT_UNARY):
        dtype = float32
    v, size = data.draw(view_of(shape))
    _, rb, bb = make(data.draw, pair, size, dtype)
    (cv,) = coalesced(shape, v)
    n = prod(shape)
    check(flat(ref, ref.unary(op, rb, cv, dtype), n, dtype), flat(be, be.unary(op, bb, cv, dtype), n, dtype),
          dtype, f"{op} {dtype.name} {cv}")


def _binary_case(data: Any, pair: tuple, shape: tuple, op: str, dtype: Any) -> tuple:
    va, sa = data.draw(view_of(shape))
    vb, sb = data.draw(view_of(shape))
    _, ra, ba = make(data.draw, pair, sa, dtype)
    _, rb, bb = make(data.draw, pair, sb, dtype)
    if op == "pow" and dtype is int64:  # small non-negative exponents (the core rejects negative ones)
        vals = data.draw(st.lists(st.integers(0, 6), min_size=sb, max_size=sb))
        rb, bb = pair[0].from_list(vals, dtype), pair[1].from_list(vals, dtype)
    ca, cb = coalesced(shape, va, vb)
    return ra, ba, ca, rb, bb, cb


@SETTINGS
@given(data=st.data(), shape=shapes(), op=st.sampled_from(protocol.ARITH_OPS + protocol.COMPARE_OPS),
       dtype=st.sampled_from(list(DTYPES.values())), use_out=st.booleans())
def test_binary(pair, data, shape, op, dtype, use_out):
    ref, be = pair
    if (dtype is int64 and op not in INT_BINARY) or (dtype is bool_ and op not in BOOL_BINARY):
        dtype = float64
    ra, ba, ca, rb, bb, cb = _binary_case(data, pair, shape, op, dtype)
    n = prod(shape)
    odt = bool_ if op in protocol.COMPARE_OPS else dtype
    if use_out:
        r_out = ref.binary(op, ra, ca, rb, cb, dtype, out=ref.full(n + 2, 0 if odt is not bool_ else False, odt))
        b_out = be.binary(op, ba, ca, bb, cb, dtype, out=be.full(n + 2, 0 if odt is not bool_ else False, odt))
        n += 2
    else:
        r_out = ref.binary(op, ra, ca, rb, cb, dtype)
        b_out = be.binary(op, ba, ca, bb, cb, dtype)
    check(flat(ref, r_out, n, odt), flat(be, b_out, n, odt), odt, f"{op} {dtype.name} {ca} {cb}")


@SETTINGS
@given(data=st.data(), n=st.integers(1, 50), dtype=st.sampled_from(FLOATS))
def test_binary_in_place(pair, data, n, dtype):
    """out may be the first operand itself (p -= lr * g)."""
    ref, be = pair
    _, ra, ba = make(data.draw, pair, n, dtype)
    _, rb, bb = make(data.draw, pair, n, dtype)
    v = View((n,), (1,), 0)
    ref.binary("sub", ra, v, rb, v, dtype, out=ra)
    assert be.binary("sub", ba, v, bb, v, dtype, out=ba) is ba
    check(flat(ref, ra, n, dtype), flat(be, ba, n, dtype), dtype, "in-place sub")


@SETTINGS
@given(data=st.data(), shape=shapes(), dtype=st.sampled_from(list(DTYPES.values())))
def test_where(pair, data, shape, dtype):
    ref, be = pair
    vc, sc = data.draw(view_of(shape))
    va, sa = data.draw(view_of(shape))
    vb, sb = data.draw(view_of(shape))
    _, rc, bc = make(data.draw, pair, sc, bool_)
    _, ra, ba = make(data.draw, pair, sa, dtype)
    _, rb, bb = make(data.draw, pair, sb, dtype)
    cc, ca, cb = coalesced(shape, vc, va, vb)
    n = prod(shape)
    check(flat(ref, ref.where(rc, cc, ra, ca, rb, cb, dtype), n, dtype),
          flat(be, be.where(bc, cc, ba, ca, bb, cb, dtype), n, dtype), dtype, f"where {cc} {ca} {cb}")


# ---------------------------------------------------------------- reductions

@SETTINGS
@given(data=st.data(), shape=shapes(min_ndim=1, max_size=7), op=st.sampled_from(protocol.REDUCE_OPS),
       dtype=st.sampled_from((float32, float64, int64, bool_)))
def test_reduce(pair, data, shape, op, dtype):
    """As the core calls it: kept dims first, reduced dims last, each part coalesced."""
    ref, be = pair
    if dtype is bool_ and op == "sum":
        dtype = int64
    v, size = data.draw(view_of(shape))
    vals, rb, bb = make(data.draw, pair, size, dtype)
    dims = sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1)))
    keep = [i for i in range(len(shape)) if i not in dims]
    ks, (kst,) = coalesce(tuple(shape[i] for i in keep), tuple(v.strides[i] for i in keep))
    rs, (rst,) = coalesce(tuple(shape[i] for i in dims), tuple(v.strides[i] for i in dims))
    if not rs:
        return  # every reduced dim has size 1: the core copies instead
    kv = View(ks + rs, kst + rst, v.offset)
    n = prod(ks)
    atol = 1e-5 * sum(abs(x) for x in vals if math.isfinite(x)) if dtype.is_float else 0.0
    check(flat(ref, ref.reduce(op, rb, kv, len(rs), dtype), n, dtype),
          flat(be, be.reduce(op, bb, kv, len(rs), dtype), n, dtype), dtype, f"{op} {kv} k={len(rs)}",
          rtol=1e-5 if dtype is float32 else 0.0, atol=atol)


@SETTINGS
@given(data=st.data(), shape=shapes(min_ndim=1), op=st.sampled_from(protocol.ARG_REDUCE_OPS),
       dtype=st.sampled_from((float32, float64, int64)))
def test_arg_reduce(pair, data, shape, op, dtype):
    ref, be = pair
    v, size = data.draw(view_of(shape))
    _, rb, bb = make(data.draw, pair, size, dtype)
    d = data.draw(st.integers(0, len(shape) - 1))
    pv = v.permute([i for i in range(len(shape)) if i != d] + [d])
    ks, (kst,) = coalesce(pv.shape[:-1], pv.strides[:-1])
    av = View(ks + pv.shape[-1:], kst + pv.strides[-1:], pv.offset)
    n = prod(ks)
    check(flat(ref, ref.arg_reduce(op, rb, av, dtype), n, int64), flat(be, be.arg_reduce(op, bb, av, dtype), n, int64),
          int64, f"{op} {av}")


@SETTINGS
@given(data=st.data(), rows=st.integers(1, 5), cols=st.integers(1, 9), dtype=st.sampled_from(FLOATS),
       log=st.booleans())
def test_softmax(pair, data, rows, cols, dtype, log):
    """The optional fused kernel against softmax computed in Python from the same values."""
    ref, be = pair
    if not hasattr(be, "softmax"):
        pytest.skip(f"backend {be.name} has no fused softmax")
    vals, _, bb = make(data.draw, pair, rows * cols, dtype, specials=False, lo=-30.0, hi=30.0)
    expect = []
    for r in range(rows):
        row = vals[r * cols:(r + 1) * cols]
        m = max(row)
        s = sum(math.exp(x - m) for x in row)
        expect += [(x - m) - math.log(s) if log else math.exp(x - m) / s for x in row]
    got = flat(be, be.softmax(bb, View((rows, cols), (cols, 1), 0), dtype, log), rows * cols, dtype)
    check(expect, got, dtype, f"softmax log={log}", rtol=1e-5 if dtype is float32 else 1e-12,
          atol=1e-6 if dtype is float32 else 1e-14)


# ---------------------------------------------------------------- matmul and indexing

@SETTINGS
@given(data=st.data(), batch=shapes(max_ndim=2, max_size=3), m=st.integers(1, 9), k=st.integers(1, 9),
       n=st.integers(1, 9), dtype=st.sampled_from(FLOATS))
def test_matmul(pair, data, batch, m, k, n, dtype):
    ref, be = pair
    va, sa = data.draw(view_of(batch + (m, k), ("contiguous", "transposed", "sliced", "broadcast")))
    vb, sb = data.draw(view_of(batch + (k, n), ("contiguous", "transposed", "sliced", "broadcast")))
    _, ra, ba = make(data.draw, pair, sa, dtype, specials=False)
    _, rb, bb = make(data.draw, pair, sb, dtype, specials=False)
    total = prod(batch) * m * n
    check(flat(ref, ref.matmul(ra, va, rb, vb, dtype), total, dtype),
          flat(be, be.matmul(ba, va, bb, vb, dtype), total, dtype), dtype, f"matmul {va} @ {vb}",
          rtol=1e-5 if dtype is float32 else 1e-12, atol=1e-5 * k if dtype is float32 else 1e-12 * k)


@st.composite
def index_case(draw: Any, shape: tuple) -> tuple:
    dim = draw(st.integers(0, len(shape) - 1))
    ishape = tuple(draw(st.integers(1, 4)) if d == dim else draw(st.integers(1, n)) for d, n in enumerate(shape))
    iv, isize = draw(view_of(ishape, ("contiguous", "transposed", "sliced")))
    idx = draw(st.lists(st.integers(0, shape[dim] - 1), min_size=isize, max_size=isize))
    return dim, ishape, iv, idx


@SETTINGS
@given(data=st.data(), shape=shapes(min_ndim=1), dtype=st.sampled_from(list(DTYPES.values())))
def test_gather(pair, data, shape, dtype):
    ref, be = pair
    xv, xsize = data.draw(view_of(shape))
    _, rx, bx = make(data.draw, pair, xsize, dtype)
    dim, ishape, iv, idx = data.draw(index_case(shape))
    ri, bi = ref.from_list(idx, int64), be.from_list(idx, int64)
    n = prod(ishape)
    check(flat(ref, ref.gather(rx, xv, ri, iv, dim, dtype), n, dtype),
          flat(be, be.gather(bx, xv, bi, iv, dim, dtype), n, dtype), dtype, f"gather dim={dim} {xv} {iv}")


@SETTINGS
@given(data=st.data(), shape=shapes(min_ndim=1), dtype=st.sampled_from((float32, float64, int64)))
def test_scatter_add(pair, data, shape, dtype):
    ref, be = pair
    size = prod(shape)
    dv = View(shape, contiguous_strides(shape), 0)
    _, rd, bd = make(data.draw, pair, size, dtype, specials=False)
    dim, ishape, iv, idx = data.draw(index_case(shape))
    sv, ssize = data.draw(view_of(ishape))
    _, rs, bs = make(data.draw, pair, ssize, dtype, specials=False)
    ri, bi = ref.from_list(idx, int64), be.from_list(idx, int64)
    ref.scatter_add(rd, dv, ri, iv, rs, sv, dim, dtype)
    be.scatter_add(bd, dv, bi, iv, bs, sv, dim, dtype)
    check(flat(ref, rd, size, dtype), flat(be, bd, size, dtype), dtype, f"scatter_add dim={dim} {iv} {sv}",
          rtol=1e-6 if dtype is float32 else 0.0, atol=1e-6 if dtype.is_float else 0.0)


# ---------------------------------------------------------------- random

@SETTINGS
@given(dist=st.sampled_from(("uniform", "normal")), n=st.integers(1, 64), seed=st.integers(-2 ** 70, 2 ** 70),
       counter=st.integers(0, 2 ** 40), dtype=st.sampled_from(FLOATS))
def test_random_bit_identical(pair, dist, n, seed, counter, dtype):
    ref, be = pair
    r = flat(ref, ref.random(dist, n, seed, counter, dtype), n, dtype)
    b = flat(be, be.random(dist, n, seed, counter, dtype), n, dtype)
    assert r == b, f"random({dist!r}, {n}, seed={seed}, counter={counter}, {dtype.name}) differs"


def test_random_large_draw_matches_reference_words(pair):
    """A draw big enough for the parallel path still follows splitmix64_word exactly."""
    _, be = pair
    n, seed, counter = 100_000, 12345, 7
    got = flat(be, be.random("uniform", n, seed, counter, float64), n, float64)
    for i in (0, 1, n // 2, n - 1):
        assert got[i] == (protocol.splitmix64_word(seed, counter + i) >> 11) * 2.0 ** -53
