/* Vectorizable float64 math: scalar C that gcc turns into vector code inside `omp simd` loops (libm's
   exp is a scalar call there, 4-5x slower than a vector loop at 1e6 elements). */
#ifndef TG_VMATH_F64_H
#define TG_VMATH_F64_H
#include <stdint.h>
#include <string.h>
#include <math.h>

static inline double tg_bits_to_double(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static inline uint64_t tg_double_to_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* exp(x) in float64.
   - n = round(x log2 e) by the 1.5 * 2^52 shifter (adding it rounds to an integer; AVX2 has no
     double -> int64 conversion, and the shifter's bits hold n directly).
   - r = x - n ln2 in two steps (Cody-Waite): LN2HI has 32 significant bits, so n * LN2HI is exact
     for |n| <= 1076 and x - n * LN2HI is exact; the rounding error of r = rh - n LN2LO is kept
     in c (r + c = x - n ln2 to ~2^-100).
   - exp(r) = 1 + r + (c + r^2 q(r)), q of degree 10: a Chebyshev fit of (e^r - 1 - r) / r^2 on
     |r| <= 0.34658 (ln2 / 2 plus the rounding of n) with |r^2 (q - q_exact)| < 2^-61, evaluated by
     Estrin's scheme (a Horner chain of 10 fmas is ~40 cycles of latency); 1 + r is kept as
     h + hl (exact), so the only large rounding is the last addition's.
   - the result is p * 2^n1 * 2^n2 (n1 = round(n / 2), n2 = n - n1, each in [-538, 512] for x in
     [-745.2, 709.79], so both factors are normal): the first product is exact, the second rounds
     once, also into the subnormal range or to inf.
   - x > 709.79 gives inf, x < -745.2 gives 0 (exp rounds to those there), NaN gives x: selects at
     the end. Clamping x first instead costs gcc's vector code ~20 more instructions (it pushes the
     clamp's constants through the whole computation and blends every intermediate).
   Error bound: 0.5 ulp for the last addition plus below 0.2 ulp for the other roundings of p (all of
   them on terms below 0.07): under 0.7 ulp for normal results; a subnormal result rounds p twice
   (to 53 bits, then to the subnormal grid), under 0.85 ulp. Measured against expl on 2e7 inputs
   over the whole range plus the edge cases (tests/c/exp_f64_check.c): at most 0.69 ulp for normal
   results, 0.78 ulp for subnormal ones; exp(+inf) = inf, exp(-inf) = 0, exp(-0) = 1,
   x > 709.7827 -> inf, x < -745.1332 -> 0. Every operation is an IEEE add, mul, fma, compare or
   bit operation, so the vector body and the scalar tail of a loop give the same bits. */
#define TG_EXPD_OVER 709.79   /* exp(709.79) > DBL_MAX + ulp / 2 */
#define TG_EXPD_UNDER -745.2  /* exp(-745.2) < 2^-1075 (half the smallest subnormal) */
#define TG_EXPD_SHIFT 0x1.8p52
#define TG_EXPD_LOG2E 1.4426950408889634
#define TG_EXPD_LN2HI 6.93147180369123816490e-01  /* 0x3fe62e42fee00000 */
#define TG_EXPD_LN2LO 1.90821492927058770002e-10  /* ln 2 - LN2HI */

static inline double tg_exp_f64_inline(double x) {
    double n = (x * TG_EXPD_LOG2E + TG_EXPD_SHIFT) - TG_EXPD_SHIFT;
    double rh = fma(-n, TG_EXPD_LN2HI, x);          /* exact */
    double nl = n * TG_EXPD_LN2LO;
    double r = rh - nl;
    double c = (rh - r) - nl;                       /* what the subtraction lost */
    double r2 = r * r, r4 = r2 * r2;
    double q01 = fma(0.1666666666666667, r, 0.5);
    double q23 = fma(0.00833333333332614, r, 0.04166666666666667);
    double q45 = fma(0.00019841269874804214, r, 0.0013888888888883752);
    double q67 = fma(2.7557255421023506e-06, r, 2.4801587325536023e-05);
    double q89 = fma(2.5105208339987698e-08, r, 2.7557273657975953e-07);
    double q03 = fma(q23, r2, q01);
    double q47 = fma(q67, r2, q45);
    double q8a = fma(2.0914680780540263e-09, r2, q89);
    double q = fma(fma(q8a, r4, q47), r4, q03);
    double h = 1.0 + r;
    double hl = (1.0 - h) + r;                      /* 1 + r = h + hl exactly (|r| < 1) */
    double p = h + (hl + fma(r2, q, c));
    /* 2^m from the shifter's bits: bits(m + 1.5 * 2^52) = bits(1.5 * 2^52) + m for |m| < 2^51 */
    double k1 = n * 0.5 + TG_EXPD_SHIFT;
    double n1 = k1 - TG_EXPD_SHIFT;
    double k2 = (n - n1) + TG_EXPD_SHIFT;
    const uint64_t bias = (uint64_t)1023 - tg_double_to_bits(TG_EXPD_SHIFT);
    double s1 = tg_bits_to_double((tg_double_to_bits(k1) + bias) << 52);
    double s2 = tg_bits_to_double((tg_double_to_bits(k2) + bias) << 52);
    double y = p * s1 * s2;
    y = x < TG_EXPD_UNDER ? 0.0 : y;
    y = x > TG_EXPD_OVER ? (double)INFINITY : y;
    return x != x ? x : y;
}

/* sigmoid(x) = 1 / (1 + exp(-x)), computed from e = exp(-|x|) <= 1 so that nothing overflows:
   1 / (1 + e) for x >= 0, e / (1 + e) below. */
static inline double tg_sigmoid_f64_inline(double x) {
    double e = tg_exp_f64_inline(-fabs(x));
    double d = 1.0 + e;
    return x >= 0 ? 1.0 / d : e / d;  /* NaN: e is NaN, so both branches give NaN */
}
#endif
