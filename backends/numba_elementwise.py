"""Elementwise numba kernels (unary, binary, where, casts, strided copies) and their scalar ops.

Scalar ops are chosen at compile time: each kernel is a closure over an int op code, numba
types that code as a literal, and the `unop`/`binop` overloads pick exactly one implementation
per kernel (no run-time branch; an int64 op never goes through float). Closures over plain ints
keep `cache=True` working (numba keys its disk cache on the closure's values). The ops live in this file because numba invalidates a cached kernel only when the
kernel's own source file changes.

Layouts: a kernel takes the view's (offset, strides, shape) directly. 1-D kernels take ints and
have fast paths for unit and zero strides (a dense tensor of any shape arrives as one dim);
N-D kernels (ndim >= 2) take tuples and walk bands of rows; when an input's inner stride is
neither 0 nor 1 (a transposed read such as `x + x.T`) a separate build (`tiled=True`) tiles
the columns so both sides stay in cache. The backend pads the tuples to a few fixed lengths, so
one op compiles once, not once per ndim.
Every kernel exists twice, serial and `parallel=True`; the backend picks by size because
waking the thread pool costs more than a small loop. numba keys its disk cache on a kernel's
bytecode and closure values, not on its flags, so every kernel body names `par` (and any other
factory argument), which gives each build its own cache entry (tests/backends/test_numba.py
checks).
"""
from __future__ import annotations

import math
import struct

from typing import Any

import numpy as np
from llvmlite import ir
from numba import literally, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .numba_erf import copysign, erf_f32
from .numba_index import chunk_bounds, n_chunks, numel, offset_of
from .numba_simd import AVX512, LANES, lanes, prefer_wide, tblock, transpose_block, vload_even, vstore
from .protocol import BINARY_CODES, UNARY_OPS

# protocol.py's codes, and three unary ops of this backend's own after them: `copy` (a strided copy
# or a cast), `tobool` (a cast to bool, x != 0) and `toint` (float -> int64, then stored: a cast to a
# narrow int that wraps like C's)
UNARY_CODES = {name: i for i, name in enumerate(UNARY_OPS + ("copy", "tobool", "toint"))}

TILE = 64  # rows per band and columns per tile of the N-D kernels (a 64x64 tile fits L1)
# Unary kernels may fuse a*b+c into one FMA (exp's polynomial); no flag that touches NaN/inf.
FM_CONTRACT = {"contract"}
_U = np.uint64  # a buffer index known to be >= 0: numba skips its negative-index wraparound


# ---------------------------------------------------------------- vectorizable exp

@intrinsic
def _from_bits(typingctx, bits, like):
    """The float of like's type whose IEEE bits are the low bits of the integer `bits`."""
    if not (isinstance(bits, types.Integer) and isinstance(like, types.Float)):
        return None

    def codegen(context, builder, sig, args):
        fty = context.get_value_type(like)
        ity = ir.IntType(like.bitwidth)
        return builder.bitcast(builder.trunc(args[0], ity) if bits.bitwidth > like.bitwidth else args[0], fty)

    return like(bits, like), codegen


@intrinsic
def _to_bits(typingctx, x):
    """The IEEE bits of a float32/float64 as an int32/int64 (a bitcast: never poison, even for NaN)."""
    if not isinstance(x, types.Float):
        return None
    ity = types.int32 if x.bitwidth == 32 else types.int64

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(x.bitwidth))

    return ity(x), codegen


@intrinsic
def _ldexp(typingctx, x, n):
    """x * 2**n for a float and an integer (llvm.ldexp; with AVX-512 one vscalefps/pd, rounded
    once, into inf and the subnormals alike). Without AVX-512 LLVM calls libm per element, so
    the kernels use it only where AVX512 is set."""
    if not (isinstance(x, types.Float) and isinstance(n, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        fty = context.get_value_type(x)
        i32 = ir.IntType(32)
        k = builder.trunc(args[1], i32) if n.bitwidth > 32 else builder.sext(args[1], i32) if n.bitwidth < 32 else args[1]
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(fty, [fty, i32]),
                                            f"llvm.ldexp.f{x.bitwidth}.i32")
        return builder.call(fn, [args[0], k])

    return x(x, n), codegen


# float32: Cephes expf (Cody-Waite reduction, degree-7 minimax polynomial on |r| <= ln2/2, about
# 1 ulp); float64: the same reduction and a degree-13 Taylor polynomial (about 1 ulp); both
# evaluated by Horner to the end (one FMA per degree). n = rint(x / ln2) comes from the low
# mantissa bits of t = x*log2e + 1.5*2**(mantissa bits) (no rint, no float->int conversion, so
# a NaN flows through as NaN: fptosi of a NaN would be poison). The clamps are written so a NaN
# fails both tests and passes unchanged. 2**n: with AVX-512 one vscalef (see `_scale`), else
# built from bits in two halves; either way results that overflow give inf and those that
# underflow land in the subnormals (within one subnormal step of libm). Plain arithmetic that
# LLVM vectorizes; callers must not allow `reassoc` (it would fold t - SHIFT and undo the
# two-part reduction).
_F32 = np.float32
_EXPF_HI, _EXPF_LO = _F32(89.0), _F32(-104.0)
_LOG2E_F = _F32(1.4426950408889634)
_LN2_HI_F, _LN2_LO_F = _F32(0.693359375), _F32(-2.12194440e-4)
_EF = tuple(_F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                              1.6666665459e-1, 5.0000001201e-1))
_ONE_F = _F32(1.0)
_SHIFT_F = _F32(12582912.0)  # 1.5 * 2**23: floats near it are spaced 1 apart
_SHIFT_F_BITS = np.int32(struct.unpack("<i", struct.pack("<f", 12582912.0))[0])
_EXPD_HI, _EXPD_LO = 710.0, -746.0
_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 6.93145751953125e-1, 1.42860682030941723212e-6
_ED = tuple(1.0 / math.factorial(i) for i in range(13, 1, -1))  # 1/13! .. 1/2!
_SHIFT_D = 6755399441055744.0  # 1.5 * 2**52
_SHIFT_D_BITS = np.int64(struct.unpack("<q", struct.pack("<d", _SHIFT_D))[0])


def _scale(p, n, x):  # pragma: no cover - replaced by the overload inside numba
    """p * 2**n for |n| <= 1100, exact into overflow (inf) and the subnormals."""


@overload(_scale, inline="always")
def _ov_scale(p, n, x):
    if AVX512:
        return lambda p, n, x: _ldexp(p, n)
    if p == types.float32:
        def two_halves_f(p, n, x):
            n1 = n >> 1
            return (p * _from_bits((n1 + 127) << 23, x)) * _from_bits((n - n1 + 127) << 23, x)
        return two_halves_f

    def two_halves_d(p, n, x):
        n1 = n >> 1
        return (p * _from_bits((n1 + 1023) << 52, x)) * _from_bits((n - n1 + 1023) << 52, x)
    return two_halves_d


@njit(inline="always")
def _horner(c, x):
    """c[0] x^(k-1) + ... + c[k-1] by Horner's rule (one fused multiply-add per step where the
    kernel allows contraction); c a tuple of constants, so the loop unrolls."""
    p = c[0]
    for i in range(1, len(c)):
        p = p * x + c[i]
    return p


@njit(inline="always")
def _exp_f32(x):
    xc = _EXPF_LO if x < _EXPF_LO else x
    xc = _EXPF_HI if xc > _EXPF_HI else xc
    t = xc * _LOG2E_F + _SHIFT_F
    nf = t - _SHIFT_F
    n = _to_bits(t) - _SHIFT_F_BITS
    r = (xc - nf * _LN2_HI_F) - nf * _LN2_LO_F
    p = _horner(_EF, r)
    p = p * r + _ONE_F
    p = p * r + _ONE_F
    return _scale(p, n, x)


@njit(inline="always")
def _exp_f64(x):
    xc = _EXPD_LO if x < _EXPD_LO else x
    xc = _EXPD_HI if xc > _EXPD_HI else xc
    t = xc * _LOG2E + _SHIFT_D
    nf = t - _SHIFT_D
    n = _to_bits(t) - _SHIFT_D_BITS
    r = (xc - nf * _LN2_HI) - nf * _LN2_LO
    p = _horner(_ED, r)
    p = p * r + 1.0
    p = p * r + 1.0
    return _scale(p, n, x)


# float32 log, the formula of csrc/vmath.h's tg_logf_inline: x = 2^e m, m in [sqrt(1/2), sqrt(2))
# (a subnormal x scaled by 2^23 first), f = m - 1, log x = f - f^2/2 + f^3 P(f) + e ln 2 (Cephes'
# degree-8 minimax P, ln 2 in two parts); log(0) = -inf, log(inf) = inf, NaN below 0. Selects only.
_LG = tuple(_F32(c) for c in (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
                              1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
                              3.3333331174e-1))
_MIN_NORMAL_F, _TWO23_F, _SQRT2_F = _F32(2.0 ** -126), _F32(2.0 ** 23), _F32(1.41421356)
_HALF_F, _ZERO_F, _INF_F, _NAN_F = _F32(0.5), _F32(0.0), _F32(np.inf), _F32(np.nan)


@njit(inline="always")
def _log_f32(x):
    sub = x < _MIN_NORMAL_F
    u = _to_bits(x * _TWO23_F if sub else x)
    e = ((u >> 23) & 0xFF) - (150 if sub else 127)
    m = _from_bits((u & 0x007FFFFF) | 0x3F800000, x)
    big = m > _SQRT2_F
    m = m * _HALF_F if big else m
    fe = _F32(e + (1 if big else 0))
    f = m - _ONE_F
    z = f * f
    p = _horner(_LG, f)
    y = f * (z * p)
    y = fe * _LN2_LO_F + y
    y = -_HALF_F * z + y
    r = fe * _LN2_HI_F + (f + y)
    r = x if x == _INF_F else r
    r = -_INF_F if x == _ZERO_F else r
    r = _NAN_F if x < _ZERO_F else r
    return x if x != x else r


def _float32_or_libm(f32: Any, libm: Any, doc: str) -> Any:
    """A scalar function for numba kernels: `f32` (vectorizable float32 arithmetic) on float32,
    `libm` on anything else."""
    def fn(x):  # pragma: no cover - replaced by the overload inside numba
        pass
    fn.__doc__ = doc

    @overload(fn, inline="always")
    def _ov(x):
        if x == types.float32:
            return lambda x: f32(x)
        return lambda x: libm(x)
    return fn


vlog = _float32_or_libm(_log_f32, math.log, "log(x): _log_f32 for a float32, libm's log otherwise.")


# float32 tanh, the formula of csrc/vmath.h's tg_tanhf_inline: |x| < 0.625: x + x s P(s), s = x^2
# (Cephes' minimax P); otherwise 1 - 2 / (exp(2|x|) + 1) with the sign of x, |x| clamped at 20
# (tanh is 1 there in float32). Both branches computed, one selected: LLVM vectorizes it.
_TH = tuple(_F32(c) for c in (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
                              -3.33332819422e-1))
_TANH_SMALL, _TANH_TINY, _TANH_CLAMP = _F32(0.625), _F32(2.0 ** -16), _F32(20.0)
_TWO_F = _F32(2.0)


@njit(inline="always")
def _tanh_f32(x):
    t = abs(x)
    s = _ZERO_F if t < _TANH_TINY else x * x  # below 2^-16 tanh(x) rounds to x; no subnormal s
    p = _horner(_TH, s)
    small = x if t < _TANH_TINY else (p * s) * x + x  # x itself keeps the sign of -0
    tc = _TANH_CLAMP if t > _TANH_CLAMP else t  # NaN passes
    big = copysign(_ONE_F - _TWO_F / (_exp_f32(tc + tc) + _ONE_F), x)
    return small if t < _TANH_SMALL else big


# erf_f32 gives the bits of the c backend's float32 erf: over every 257th float32 pattern the c
# and numba float32 GELUs give the same bits; their gradients differ by at most 4 ulps of
# cdf + |x| pdf (their exps differ), where the values are normal.
verf = _float32_or_libm(erf_f32, math.erf, "erf(x): numba_erf.erf_f32 for a float32, libm's erf otherwise.")
vtanh = _float32_or_libm(_tanh_f32, math.tanh, "tanh(x): _tanh_f32 for a float32, libm's tanh otherwise.")


def vexp(x):  # pragma: no cover - replaced by the overload inside numba
    """exp(x) for a float32/float64 scalar, in plain arithmetic that LLVM vectorizes."""


@overload(vexp, inline="always")
def _ov_vexp(x):
    if x == types.float32:
        return lambda x: _exp_f32(x)
    if x == types.float64:
        return lambda x: _exp_f64(x)
    return lambda x: math.exp(x)


def unop(op, x):  # pragma: no cover - replaced by the overload inside numba
    """op(x) for a literal op code (numba only)."""


def binop(op, x, y):  # pragma: no cover
    """x op y for a literal op code (numba only)."""


# ---------------------------------------------------------------- unary implementations

def _neg(op, x): return -x
def _abs(op, x): return abs(x)
def _exp(op, x): return vexp(x)
def _log(op, x): return vlog(x)
def _sqrt(op, x): return math.sqrt(x)
def _sin(op, x): return math.sin(x)
def _cos(op, x): return math.cos(x)
def _tanh(op, x): return vtanh(x)
def _erf(op, x): return verf(x)
def _recip(op, x): return 1.0 / x
def _floor(op, x): return np.floor(x)  # scalar libm floor: math.floor would return an int
def _ceil(op, x): return np.ceil(x)
def _lnot(op, x): return x == 0
def _copy(op, x): return x
def _tobool(op, x): return x != 0
def _toint(op, x): return np.int64(x)


def _sign_float(op, x):
    return (x > 0) - (x < 0)  # 0 for NaN too, as PyTorch


def _sign_int(op, x):
    return (x > 0) - (x < 0)


def _sigmoid(op, x):
    e = vexp(-abs(x))  # never overflows; one return keeps numba's inliner quiet
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


def _relu_float(op, x):
    return 0.0 if x <= 0 else x  # NaN fails the test and is kept; -inf and -0.0 give +0.0


def _relu_int(op, x):
    return 0 if x <= 0 else x


_UNARY_IMPLS = {"neg": _neg, "abs": _abs, "exp": _exp, "log": _log, "sqrt": _sqrt, "sin": _sin,
                "cos": _cos, "tanh": _tanh, "sigmoid": _sigmoid, "erf": _erf,
                "reciprocal": _recip, "floor": _floor, "ceil": _ceil, "logical_not": _lnot,
                "copy": _copy, "tobool": _tobool, "toint": _toint}
_UNARY_BY_CODE = {code: name for name, code in UNARY_CODES.items()}


@overload(unop, inline="always")
def _ov_unop(op, x):
    if not isinstance(op, types.IntegerLiteral):
        return None
    name = _UNARY_BY_CODE[op.literal_value]
    if name == "sign":
        return _sign_float if isinstance(x, types.Float) else _sign_int
    if name == "relu":
        return _relu_float if isinstance(x, types.Float) else _relu_int
    return _UNARY_IMPLS[name]


# ---------------------------------------------------------------- binary implementations

def _add(op, x, y): return x + y
def _sub(op, x, y): return x - y
def _mul(op, x, y): return x * y
def _div(op, x, y): return x / y
def _powf(op, x, y): return x ** y
def _eq(op, x, y): return x == y
def _ne(op, x, y): return x != y
def _lt(op, x, y): return x < y
def _le(op, x, y): return x <= y
def _gt(op, x, y): return x > y
def _ge(op, x, y): return x >= y


def _powi(op, x, y):
    r = x * 0 + 1  # exponentiation by squaring keeps int64 exact (the core rejects y < 0)
    b = x
    e = y
    while e > 0:
        if e & 1:
            r *= b
        b *= b
        e >>= 1
    return r


def _maxf(op, x, y):
    return x if (x >= y or x != x) else y  # NaN in y: the test fails and y (NaN) is returned


def _minf(op, x, y):
    return x if (x <= y or x != x) else y


def _fmodf(op, x, y): return np.fmod(x, y)  # math.fmod is not available in nopython mode


def _fmodi(op, x, y):
    r = abs(x) % abs(y) if y != -1 else 0  # C's truncated remainder; the core never passes y == 0
    return -r if x < 0 else r


def _maxi(op, x, y): return x if x >= y else y
def _mini(op, x, y): return x if x <= y else y


_BINARY_IMPLS = {"add": _add, "sub": _sub, "mul": _mul, "div": _div, "eq": _eq, "ne": _ne,
                 "lt": _lt, "le": _le, "gt": _gt, "ge": _ge}
_BINARY_BY_CODE = {code: name for name, code in BINARY_CODES.items()}


@overload(binop, inline="always")
def _ov_binop(op, x, y):
    if not isinstance(op, types.IntegerLiteral):
        return None
    name = _BINARY_BY_CODE[op.literal_value]
    is_float = isinstance(x, types.Float)
    if name == "pow":
        return _powf if is_float else _powi
    if name == "maximum":
        return _maxf if is_float else _maxi
    if name == "minimum":
        return _minf if is_float else _mini
    if name == "fmod":
        return _fmodf if is_float else _fmodi
    return _BINARY_IMPLS[name]


# ---------------------------------------------------------------- row helpers (inlined)

@njit(inline="always")
def _un_row01(opc, x, px, sx, o):
    """o[j] = op(x[px + j*sx]) for j < len(o), sx 1 or 0 (anything but 1 is taken as 0): the N-D
    rows path, whose kernels get only these strides (no strided loop to compile there)."""
    prefer_wide()
    m = o.size
    if sx == 1:
        xv = x[px:px + m]
        for j in range(m):
            o[j] = unop(opc, xv[j])
    else:
        v = unop(opc, x[px])
        for j in range(m):
            o[j] = v


@njit(inline="always")
def _un_row(opc, x, px, sx, o):
    """o[j] = op(x[px + j*sx]) for j < len(o), any stride."""
    prefer_wide()
    m = o.size
    if sx == 1:
        xv = x[px:px + m]
        for j in range(m):
            o[j] = unop(opc, xv[j])
    elif sx == 0:
        v = unop(opc, x[px])
        for j in range(m):
            o[j] = v
    else:
        for j in range(m):
            o[j] = unop(opc, x[px + j * sx])


@njit(inline="always")
def _bin_row(opc, a, pa, sa, b, pb, sb, o):
    """o[j] = a[pa + j*sa] op b[pb + j*sb]; unit and zero strides get vectorizable loops."""
    m = o.size
    if sa == 1 and sb == 1:
        av = a[pa:pa + m]
        bv = b[pb:pb + m]
        for j in range(m):
            o[j] = binop(opc, av[j], bv[j])
    elif sa == 1 and sb == 0:
        av = a[pa:pa + m]
        y = b[pb]
        for j in range(m):
            o[j] = binop(opc, av[j], y)
    elif sa == 0 and sb == 1:
        x = a[pa]
        bv = b[pb:pb + m]
        for j in range(m):
            o[j] = binop(opc, x, bv[j])
    else:
        for j in range(m):
            o[j] = binop(opc, a[pa + j * sa], b[pb + j * sb])


@njit(inline="always")
def _step2(sa, sb):
    """Whether `_bin_row_step2` takes a row with inner strides sa, sb: one of them 2 (a
    step-sliced view, `x[:, ::2]`), the other 0, 1 or 2."""
    return (sa == 2 or sb == 2) and 0 <= sa <= 2 and 0 <= sb <= 2


STEP2_CHUNK = 1024  # elements of a stride-2 row gathered into a dense buffer at a time (L1)


def _gather_even(x, p, m, buf):  # pragma: no cover - replaced by the overload inside numba
    """buf[j] = x[p + 2*j] for j < m."""


def _gather_even_simd(x, p, m, buf):
    # whole vectors while the load's last element, x[p + 2*(j+L) - 1], is before the row's last
    # element x[p + 2*(m-1)] (so it is in the buffer), then element by element
    L = lanes(x)
    j = 0
    while j + L < m:
        vstore(buf, j, vload_even(x, p + 2 * j))
        j += L
    for k in range(j, m):
        buf[k] = x[p + 2 * k]


def _gather_even_scalar(x, p, m, buf):
    for j in range(m):
        buf[j] = x[p + 2 * j]


@overload(_gather_even, inline="always")
def _ov_gather_even(x, p, m, buf):
    return _gather_even_simd if x.dtype in LANES else _gather_even_scalar


@njit(inline="always")
def _bin_row_step2(opc, a, pa, sa, b, pb, sb, o, ta, tb):
    """o[j] = a[pa + j*sa] op b[pb + j*sb] with `_step2(sa, sb)`: STEP2_CHUNK elements at a
    time, each stride-2 operand gathered into its buffer (ta, tb) with whole-vector loads and a
    shuffle (`vload_even`), then `_bin_row`'s unit-stride loop; the row is read in memory order."""
    m = o.size
    for j0 in range(0, m, STEP2_CHUNK):
        j1 = min(m, j0 + STEP2_CHUNK)
        if sa == 2:
            _gather_even(a, pa + 2 * j0, j1 - j0, ta)
            xa, qa, ua = ta, 0, 1
        else:
            xa, qa, ua = a, pa + j0 * sa, sa
        if sb == 2:
            _gather_even(b, pb + 2 * j0, j1 - j0, tb)
            xb, qb, ub = tb, 0, 1
        else:
            xb, qb, ub = b, pb + j0 * sb, sb
        _bin_row(opc, xa, qa, ua, xb, qb, ub, o[j0:j1])


@njit(inline="always")
def _where_row(c, pc, sc, a, pa, sa, b, pb, sb, o):
    m = o.size
    if sc == 1 and sa == 1 and sb == 1:
        cv = c[pc:pc + m]
        av = a[pa:pa + m]
        bv = b[pb:pb + m]
        for j in range(m):
            o[j] = av[j] if cv[j] != 0 else bv[j]
    else:  # unsigned indices (never negative here): numba's wraparound select would block vectorizing
        for j in range(m):
            o[j] = a[_U(pa + j * sa)] if c[_U(pc + j * sc)] != 0 else b[_U(pb + j * sb)]


@njit(inline="always")
def _geometry(shape):
    """(ndim, rows n0, columns n1, number of (n0, n1) planes, bands of TILE rows per plane) of an
    N-D kernel's shape (ndim >= 2)."""
    nd = len(shape)
    n0 = shape[nd - 2]
    return nd, n0, shape[nd - 1], numel(shape, nd - 2), (n0 + TILE - 1) // TILE


@njit(inline="always")
def _band(u, bands, n0, n1):
    """(plane, first row, end row, output offset of the plane) of band task u of an N-D kernel."""
    t = u // bands
    r0 = (u % bands) * TILE
    return t, r0, min(n0, r0 + TILE), t * n0 * n1


@njit(inline="always")
def _plane_base(t, shape, strides, off, nd):
    """Buffer offset of plane t (row-major over the dims before the last two)."""
    return offset_of(t, shape, strides, off, nd - 2)


@njit(inline="always")
def _unit(s):
    return s == 1 or s == 0


@njit(inline="always")
def _dense(s0, s1):
    """Whether binaryN_tiled's unit-stride loop can take an operand with row/column strides s0,
    s1: read in place (s1 == 1) or staged per tile (a transposed read s0 == 1 through SIMD
    transposes, a broadcast s1 == 0 by a fill)."""
    return s1 == 1 or s1 == 0 or s0 == 1


def _stage(x, px, s0, s1, r0, r1, j0, j1, buf):  # pragma: no cover - overloaded below
    """buf[(i - r0)*TILE + (j - j0)] = x[px + i*s0 + j*s1] for r0 <= i < r1, j0 <= j < j1."""


@njit(inline="always")
def _stage_scalar(x, px, s0, s1, r0, r1, j0, j1, buf):
    for i in range(r0, r1):
        q = px + i * s0
        d = (i - r0) * TILE - j0
        for j in range(j0, j1):
            buf[d + j] = x[q + j * s1]


def _stage_simd(x, px, s0, s1, r0, r1, j0, j1, buf):
    # a transposed read (s0 == 1): B x B blocks through SIMD registers (B vector loads along
    # memory rows, a shuffle network, B vector stores), the ragged edges element by element
    if s0 != 1:
        _stage_scalar(x, px, s0, s1, r0, r1, j0, j1, buf)
        return
    B = tblock(x)
    ni = (r1 - r0) - (r1 - r0) % B
    nj = (j1 - j0) - (j1 - j0) % B
    for jb in range(0, nj, B):
        for ib in range(0, ni, B):
            transpose_block(x, px + r0 + ib + (j0 + jb) * s1, s1, buf, ib * TILE + jb, TILE)
    if ni < r1 - r0:
        _stage_scalar(x, px, s0, s1, r0 + ni, r1, j0, j1, buf[ni * TILE:])
    if nj < j1 - j0:
        _stage_scalar(x, px, s0, s1, r0, r0 + ni, j0 + nj, j1, buf[nj:])


@overload(_stage, inline="always")
def _ov_stage(x, px, s0, s1, r0, r1, j0, j1, buf):
    if x.dtype.bitwidth in (32, 64):
        return _stage_simd
    return lambda x, px, s0, s1, r0, r1, j0, j1, buf: _stage_scalar(x, px, s0, s1, r0, r1, j0, j1, buf)


@njit(cache=True, error_model="numpy")
def stage_tile(x, px, s0, s1, r0, r1, j0, j1, buf):
    """`_stage` as a function of its own, called (not inlined) by the tiled kernels: its shuffle
    networks and edge loops compile once per dtype, not into every op's kernel (most of a
    tiled kernel's compile time). One call moves a whole tile, so the call costs nothing."""
    _stage(x, px, s0, s1, r0, r1, j0, j1, buf)


@njit(inline="always")
def _un_band(opc, x, px, s0, s1, out, po, r0, r1, n1):
    """Rows r0..r1 of a plane whose inner stride s1 is 0 or 1: a vectorized loop per row."""
    for i in range(r0, r1):
        _un_row01(opc, x, px + i * s0, s1, out[po + i * n1:po + (i + 1) * n1])


@njit(inline="always")
def _un_band_tiled(opc, x, px, s0, s1, out, po, r0, r1, n1):
    """Rows r0..r1 of a plane with any other inner stride, TILE columns at a time. A transposed
    read (s0 == 1) stages each tile into a dense buffer (`stage_tile`: SIMD transposes), then one
    unit-stride loop per row applies the op; another stride is read in place."""
    prefer_wide()
    if s0 == 1:
        buf = np.empty(TILE * TILE, x.dtype)
        for j0 in range(0, n1, TILE):
            j1 = min(n1, j0 + TILE)
            m = j1 - j0
            stage_tile(x, px, s0, s1, r0, r1, j0, j1, buf)
            for i in range(r0, r1):
                xv = buf[(i - r0) * TILE:(i - r0) * TILE + m]
                o = out[po + i * n1 + j0:po + i * n1 + j1]
                for j in range(m):
                    o[j] = unop(opc, xv[j])
    else:
        for j0 in range(0, n1, TILE):
            j1 = min(n1, j0 + TILE)
            for i in range(r0, r1):
                q = px + i * s0 + j0 * s1
                o = out[po + i * n1 + j0:po + i * n1 + j1]
                for j in range(j1 - j0):
                    o[j] = unop(opc, x[q + j * s1])


@njit(inline="always")
def _bin_band(opc, a, pa, sa0, sa1, b, pb, sb0, sb1, out, po, r0, r1, n1):
    """Rows r0..r1 of a plane whose inner strides are 0 or 1: a vectorized loop per row."""
    for i in range(r0, r1):
        _bin_row(opc, a, pa + i * sa0, sa1, b, pb + i * sb0, sb1, out[po + i * n1:po + (i + 1) * n1])


@njit(inline="always")
def _bin_band_tiled(opc, a, pa, sa0, sa1, b, pb, sb0, sb1, out, po, r0, r1, n1):
    """Rows r0..r1 of a plane with an inner stride other than 0 or 1, TILE columns at a time.
    An operand whose inner stride is not 1 is staged per tile (`stage_tile`: SIMD transposes for
    a transposed read, a gather otherwise), then one unit-stride loop per row runs the op;
    inner strides of 2 (`x[:, ::2]`) go row by row through `_bin_row_step2`; another strided
    inner dim is read in place."""
    if _dense(sa0, sa1) and _dense(sb0, sb1):
        ta = np.empty(TILE * TILE if sa1 != 1 else 0, a.dtype)
        tb = np.empty(TILE * TILE if sb1 != 1 else 0, b.dtype)
        for j0 in range(0, n1, TILE):
            j1 = min(n1, j0 + TILE)
            m = j1 - j0
            if sa1 == 1:
                xa, ba, ra = a, pa + j0, sa0
            else:
                stage_tile(a, pa, sa0, sa1, r0, r1, j0, j1, ta)
                xa, ba, ra = ta, -r0 * TILE, TILE
            if sb1 == 1:
                xb, bb, rb = b, pb + j0, sb0
            else:
                stage_tile(b, pb, sb0, sb1, r0, r1, j0, j1, tb)
                xb, bb, rb = tb, -r0 * TILE, TILE
            for i in range(r0, r1):
                av = xa[ba + i * ra:ba + i * ra + m]
                bv = xb[bb + i * rb:bb + i * rb + m]
                o = out[po + i * n1 + j0:po + i * n1 + j1]
                for j in range(m):
                    o[j] = binop(opc, av[j], bv[j])
    elif _step2(sa1, sb1):
        ta = np.empty(STEP2_CHUNK if sa1 == 2 else 0, a.dtype)
        tb = np.empty(STEP2_CHUNK if sb1 == 2 else 0, b.dtype)
        for i in range(r0, r1):
            _bin_row_step2(opc, a, pa + i * sa0, sa1, b, pb + i * sb0, sb1, out[po + i * n1:po + (i + 1) * n1],
                           ta, tb)
    else:
        for j0 in range(0, n1, TILE):
            j1 = min(n1, j0 + TILE)
            for i in range(r0, r1):
                qa = pa + i * sa0 + j0 * sa1
                qb = pb + i * sb0 + j0 * sb1
                o = out[po + i * n1 + j0:po + i * n1 + j1]
                for j in range(j1 - j0):
                    o[j] = binop(opc, a[qa + j * sa1], b[qb + j * sb1])


# ---------------------------------------------------------------- kernel factories

@njit(cache=True, error_model="numpy", fastmath=FM_CONTRACT)
def un_chunk(opc, x, px, sx, o):
    """`_un_row` as a function of its own (one build per op code: `literally`), which the
    parallel build of make_unary1 calls per task. Inlined into numba's outlined prange body,
    the row loop ran 10-30% slower than the serial build on one thread: there LLVM re-loads the
    exp polynomial's constants from memory in every iteration instead of keeping them in
    registers; compiled alone it is the serial build's loop."""
    literally(opc)
    _un_row(opc, x, px, sx, o)


def make_unary1(opc: int, par: bool):
    """out[i] = op(x[ox + i*sx]) for i < n."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM_CONTRACT)
    def k(x, ox, sx, out, n):
        nch = n_chunks(n, par)
        for c in prange(nch):
            lo, hi = chunk_bounds(n, nch, c)
            if par:
                un_chunk(opc, x, ox + lo * sx, sx, out[lo:hi])
            else:
                _un_row(opc, x, ox + lo * sx, sx, out[lo:hi])
    return k


def make_unaryN(opc: int, par: bool, tiled: bool = False):
    """out (row-major, contiguous) = op(x viewed with shape/strides/offset), ndim >= 2, one band
    of TILE rows per task: `_un_band` when the inner stride is 0 or 1, `_un_band_tiled` for any
    other (`tiled`, a compile-time constant: a kernel compiles only its own path, so the common
    case does not compile the tiling)."""
    @njit(cache=True, parallel=par, error_model="numpy", fastmath=FM_CONTRACT)
    def k(x, ox, sx, out, shape):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        nd, n0, n1, outer, bands = _geometry(shape)
        for u in prange(outer * bands):
            t, r0, r1, po = _band(u, bands, n0, n1)
            px = _plane_base(t, shape, sx, ox, nd)
            if tiled:
                _un_band_tiled(opc, x, px, sx[nd - 2], sx[nd - 1], out, po, r0, r1, n1)
            else:
                _un_band(opc, x, px, sx[nd - 2], sx[nd - 1], out, po, r0, r1, n1)
    return k


def make_binary1(opc: int, par: bool):
    """out[i] = a[oa + i*sa] op b[ob + i*sb] for i < n."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(a, oa, sa, b, ob, sb, out, n):
        nch = n_chunks(n, par)
        for c in prange(nch):
            lo, hi = chunk_bounds(n, nch, c)
            _bin_row(opc, a, oa + lo * sa, sa, b, ob + lo * sb, sb, out[lo:hi])
    return k


def make_binary1_inplace(opc: int, par: bool):
    """a[oa + i] = a[oa + i] op b[ob + i*sb] for i < n: the in-place update (`p -= lr * g`).

    Its own kernel because with a separate `out` that is `a`, LLVM's run-time alias check
    between them fails and the loop runs scalar (2.5x the time at 1e7 elements); here the load
    and the store go through one array, so only b is checked."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(a, oa, b, ob, sb, n):
        nch = n_chunks(n, par)
        for c in prange(nch):
            lo, hi = chunk_bounds(n, nch, c)
            m = hi - lo
            av = a[oa + lo:oa + hi]
            if sb == 1:
                bv = b[ob + lo:ob + hi]
                for j in range(m):
                    av[j] = binop(opc, av[j], bv[j])
            elif sb == 0:
                y = b[ob]
                for j in range(m):
                    av[j] = binop(opc, av[j], y)
            else:
                q = ob + lo * sb
                for j in range(m):
                    av[j] = binop(opc, av[j], b[q + j * sb])
    return k


def make_binaryN(opc: int, par: bool, tiled: bool = False):
    """out = a op b over N-D views (ndim >= 2) of one shape, one band of TILE rows per task:
    `_bin_band` when both inner strides are 0 or 1 (rows, row broadcasts, column broadcasts),
    `_bin_band_tiled` otherwise (`x + x.T`, `x[:, ::2] * y`; `tiled`, a compile-time constant:
    a kernel compiles only its own path)."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(a, oa, sa, b, ob, sb, out, shape):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        nd, n0, n1, outer, bands = _geometry(shape)
        for u in prange(outer * bands):
            t, r0, r1, po = _band(u, bands, n0, n1)
            pa = _plane_base(t, shape, sa, oa, nd)
            pb = _plane_base(t, shape, sb, ob, nd)
            if tiled:
                _bin_band_tiled(opc, a, pa, sa[nd - 2], sa[nd - 1], b, pb, sb[nd - 2], sb[nd - 1], out, po,
                                r0, r1, n1)
            else:
                _bin_band(opc, a, pa, sa[nd - 2], sa[nd - 1], b, pb, sb[nd - 2], sb[nd - 1], out, po, r0, r1, n1)
    return k


def make_where1(par: bool):
    """out[i] = a[..] if c[..] else b[..] over 1-D views."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(c, oc, sc, a, oa, sa, b, ob, sb, out, n):
        nch = n_chunks(n, par)
        for ch in prange(nch):
            lo, hi = chunk_bounds(n, nch, ch)
            _where_row(c, oc + lo * sc, sc, a, oa + lo * sa, sa, b, ob + lo * sb, sb, out[lo:hi])
    return k


def make_whereN(par: bool):
    """where over N-D views (ndim >= 2)."""
    @njit(cache=True, parallel=par, error_model="numpy")
    def k(c, oc, sc, a, oa, sa, b, ob, sb, out, shape):
        par  # in the closure: the disk cache tells the serial and parallel builds apart
        nd, n0, n1, outer, bands = _geometry(shape)
        for u in prange(outer * bands):
            t, r0, r1, po = _band(u, bands, n0, n1)
            pc = _plane_base(t, shape, sc, oc, nd)
            pa = _plane_base(t, shape, sa, oa, nd)
            pb = _plane_base(t, shape, sb, ob, nd)
            for i in range(r0, r1):
                _where_row(c, pc + i * sc[nd - 2], sc[nd - 1], a, pa + i * sa[nd - 2], sa[nd - 1],
                           b, pb + i * sb[nd - 2], sb[nd - 1], out[po + i * n1:po + (i + 1) * n1])
    return k


@njit(cache=True, error_model="numpy")
def assign1(dst, od, sd, src, os_, ss, n):
    """dst[od + i*sd] = src[os_ + i*ss] for i < n."""
    if sd == 1 and ss == 1:
        dv = dst[od:od + n]
        sv = src[os_:os_ + n]
        for i in range(n):
            dv[i] = sv[i]
    else:
        for i in range(n):
            dst[_U(od + i * sd)] = src[_U(os_ + i * ss)]


@njit(cache=True, error_model="numpy")
def assignN(dst, od, sd, src, os_, ss, shape):
    """dst[view] = src[view] over N-D views of one shape (ndim >= 2)."""
    nd, n0, n1, outer, _ = _geometry(shape)
    for t in range(outer):
        pd = _plane_base(t, shape, sd, od, nd)
        ps = _plane_base(t, shape, ss, os_, nd)
        for i in range(n0):
            qd = pd + i * sd[nd - 2]
            qs = ps + i * ss[nd - 2]
            for j in range(n1):  # unsigned indices, as in _where_row
                dst[_U(qd + j * sd[nd - 1])] = src[_U(qs + j * ss[nd - 1])]
