"""float32 erf in float32 arithmetic for numba kernels, written so that LLVM vectorizes its loop.

The same evaluation as the C backend's `tg_erff_inline` (csrc/vmath.h): with t = min(|x|, 4),
interval i = floor(2 t) (0..8); for i = 0 (t < 0.5) erf = t + t * Q(t^2), Q of degree 4; for
i = 1..7 erf = P_i(t - m_i), P_i of degree 7 about the interval's midpoint m_i = i / 2 + 1/4;
for i = 8 (|x| >= 4) erf = 1. Same float32 coefficients, same Horner steps with true fmas
(llvm.fma, rounded once), so the two give the same bits. The C code picks an interval's
coefficients by a table load (vpermps in its vector loops); here each coefficient is a chain of
selects on `t >= k / 2`, so the whole function is straight-line code (no branch, no gather,
no float->int conversion of a NaN) that LLVM turns into vector compares and blends.
NaN stays NaN (it fails every compare: interval 0), erf(+-inf) = +-1, erf(-0) = -0, odd.
No fast-math flag here: the kernels that inline it must not add `nnan`/`ninf`/`reassoc`.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_F = np.float32


def _float_intrinsic(name: str, nargs: int):
    """An @intrinsic calling LLVM's `llvm.<name>.f32/f64` on nargs floats of one type."""
    def typer(typingctx, *args):
        if len(args) != nargs or not all(isinstance(a, types.Float) and a == args[0] for a in args):
            return None

        def codegen(context, builder, sig, llargs):
            fty = context.get_value_type(args[0])
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(fty, [fty] * nargs),
                                                f"llvm.{name}.f{args[0].bitwidth}")
            return builder.call(fn, list(llargs))
        return args[0](*args), codegen
    return typer


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma: a vfmadd where the CPU has FMA)."""
    return _float_intrinsic("fma", 3)(typingctx, a, b, c)


@intrinsic
def copysign(typingctx, a, b):
    """|a| with the sign bit of b (llvm.copysign: bit operations, NaN kept)."""
    return _float_intrinsic("copysign", 2)(typingctx, a, b)


# The coefficients of csrc/vmath.h's TG_ERF_COEF: _C[k][i] is the coefficient of v^k in interval i.
_C = tuple(tuple(_F(c) for c in row) for row in (
    (0.128379166, 0.711155653, 0.92290014, 0.986671686, 0.998537302, 0.999899387, 0.999995708, 0.999999881),
    (-0.376126081, 0.642931044, 0.236521125, 0.0527749956, 0.00714231934, 0.00058627734, 2.9189001e-05,
     8.81426047e-07),
    (0.112828381, -0.482198149, -0.295651734, -0.092356205, -0.0160701573, -0.00161226734, -9.48693269e-05,
     -3.30607054e-06),
    (-0.0267581828, 0.0267881472, 0.167535946, 0.0901574343, 0.0217244923, 0.00276037632, 0.000195814107,
     7.97068606e-06),
    (0.00471998192, 0.150675759, -0.00613205787, -0.0481054895, -0.0190882534, -0.00325771328,
     -0.000286169554, -1.37854249e-05),
    (0.0, -0.0532105155, -0.0471881144, 0.00661695981, 0.0106607247, 0.00275641936, 0.000313581433,
     1.83185984e-05),
    (0.0, -0.0265842415, 0.0205979813, 0.00904911663, -0.00277960137, -0.00166782096, -0.000273757061,
     -2.0692245e-05),
    (0.0, 0.0178251211, 0.00375937158, -0.00591917522, -0.000727607578, 0.000634635217, 0.000174029803,
     1.72495202e-05),
))
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7 = _C
_HALF, _QUARTER, _ONE, _TWO, _FOUR = _F(0.5), _F(0.25), _F(1.0), _F(2.0), _F(4.0)
_TINY = _F(2.0 ** -60)  # t^2 stays normal (no slow subnormal arithmetic); Q(2^-120) and Q(t^2) round alike
_B1, _B2, _B3, _B4, _B5, _B6, _B7 = (_F(k / 2) for k in range(1, 8))


@njit(inline="always")
def _pick(c, g1, g2, g3, g4, g5, g6, g7):
    """c[i] for the interval i whose bounds t has passed (g_k: t >= k / 2), as selects."""
    r = c[0]
    r = c[1] if g1 else r
    r = c[2] if g2 else r
    r = c[3] if g3 else r
    r = c[4] if g4 else r
    r = c[5] if g5 else r
    r = c[6] if g6 else r
    r = c[7] if g7 else r
    return r


@njit(inline="always")
def erf_f32(x):
    """erf of a float32 in float32 arithmetic (module docstring): the bits of csrc/vmath.h's float32
    erf; over all 2^32 inputs at most 1.095 ulp from libm's double erf (at x = 0.50054)."""
    t = abs(x)
    t = _FOUR if t > _FOUR else t  # NaN passes
    g1, g2, g3, g4, g5, g6, g7 = t >= _B1, t >= _B2, t >= _B3, t >= _B4, t >= _B5, t >= _B6, t >= _B7
    tq = _TINY if t < _TINY else t
    # midpoint i/2 + 1/4 from floor(2t): exact for t in [0.5, 4)
    v = tq * tq if not g1 else t - (np.floor(t * _TWO) * _HALF + _QUARTER)
    p = _pick(_C7, g1, g2, g3, g4, g5, g6, g7)
    p = fma(p, v, _pick(_C6, g1, g2, g3, g4, g5, g6, g7))
    p = fma(p, v, _pick(_C5, g1, g2, g3, g4, g5, g6, g7))
    p = fma(p, v, _pick(_C4, g1, g2, g3, g4, g5, g6, g7))
    p = fma(p, v, _pick(_C3, g1, g2, g3, g4, g5, g6, g7))
    p = fma(p, v, _pick(_C2, g1, g2, g3, g4, g5, g6, g7))
    p = fma(p, v, _pick(_C1, g1, g2, g3, g4, g5, g6, g7))
    p = fma(p, v, _pick(_C0, g1, g2, g3, g4, g5, g6, g7))
    r = fma(t, p, t) if not g1 else p
    r = _ONE if t == _FOUR else r
    return copysign(r, x)
