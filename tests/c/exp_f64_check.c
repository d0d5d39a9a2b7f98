/* Checks vmath_f64.h's float64 exp (and sigmoid) against long double expl: argv[1] random inputs
   (default 1e7) spread over [-750, 712] (uniform in x, plus a dense sample of |x| < 2 and of the
   overflow / subnormal borders), plus the edge cases. Fails (exit 1) if an error exceeds argv[2] ulps
   (default 1.0) of the correctly rounded result, if the vectorized loop (`omp simd`) and the scalar
   function (not vectorized) differ in any bit, or if an edge case is wrong. Build:
   cc -O3 -march=native -fopenmp-simd -ffp-contract=off -fno-math-errno -I csrc tests/c/exp_f64_check.c -lm */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>
#include <float.h>
#include "vmath_f64.h"

/* the float64 ulp at |ref| (2^-1074 for subnormals), from the bits */
static long double ulp_at(long double ref) {
    double a = fabs((double)ref);
    if (a == 0.0 || a < 0x1p-1022) return 0x1p-1074L;
    int e;
    frexp(a, &e);                          /* a in [2^(e-1), 2^e) */
    return ldexpl(1.0L, e - 53);
}

static double ulps(double got, long double ref) {
    if (isinf(ref) || ref >= (long double)DBL_MAX + 0x1p970L) return isinf(got) && got > 0 ? 0.0 : INFINITY;
    if (isinf(got)) return INFINITY;
    return (double)(fabsl((long double)got - ref) / ulp_at(ref));
}

__attribute__((noinline, optimize("no-tree-vectorize"))) static double exp_scalar(double x) {
    return tg_exp_f64_inline(x);
}

__attribute__((noinline, optimize("no-tree-vectorize"))) static double sigmoid_scalar(double x) {
    return tg_sigmoid_f64_inline(x);
}

__attribute__((noinline)) static void exp_vector(const double *x, double *y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = tg_exp_f64_inline(x[i]);
}

__attribute__((noinline)) static void sigmoid_vector(const double *x, double *y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = tg_sigmoid_f64_inline(x[i]);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void) {  /* xorshift64*, in [0, 1) */
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (double)((rng * 0x2545f4914f6cdd1dull) >> 11) * 0x1p-53;
}

static int fails = 0;
static double worst = 0.0, worst_x = 0.0, worst_normal = 0.0, worst_normal_x = 0.0, worst_sig = 0.0, worst_sig_x = 0.0;

static void check_block(const double *x, int n) {
    double yv[1024], sv[1024];
    exp_vector(x, yv, n);
    sigmoid_vector(x, sv, n);
    for (int i = 0; i < n; i++) {
        double ys = exp_scalar(x[i]), ss = sigmoid_scalar(x[i]);
        if (memcmp(&ys, &yv[i], 8) != 0 || memcmp(&ss, &sv[i], 8) != 0) {
            if (fails++ < 10) printf("vector/scalar differ at x=%a: %a vs %a\n", x[i], yv[i], ys);
        }
        if (isnan(x[i])) {
            if (!isnan(yv[i]) || !isnan(sv[i])) { if (fails++ < 10) printf("NaN not kept\n"); }
            continue;
        }
        double u = ulps(yv[i], expl((long double)x[i]));
        if (u > worst) { worst = u; worst_x = x[i]; }
        if (x[i] > -708.39 && u > worst_normal) { worst_normal = u; worst_normal_x = x[i]; }
        /* sigmoid: each step rounds (exp, 1 + e, the division), so a few ulps; kept honest here */
        long double e = expl(-fabsl((long double)x[i]));
        long double sref = x[i] >= 0 ? 1.0L / (1.0L + e) : e / (1.0L + e);
        double us = ulps(sv[i], sref);
        if (us > worst_sig) { worst_sig = us; worst_sig_x = x[i]; }
    }
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000000;
    double limit = argc > 2 ? atof(argv[2]) : 1.0;
    double xs[1023];  /* odd block length: the vector loop has a scalar tail every time */
    for (long done = 0; done < n; done += 1023) {
        for (int i = 0; i < 1023; i++) {
            double u = uniform();
            switch (i % 4) {
            case 0: xs[i] = -750.0 + 1462.0 * u; break;          /* everything, inf and 0 included */
            case 1: xs[i] = -2.0 + 4.0 * u; break;               /* around 1 */
            case 2: xs[i] = 709.0 + 1.0 * u; break;              /* the overflow border */
            default: xs[i] = -746.0 + 39.0 * u; break;           /* subnormal results */
            }
        }
        check_block(xs, 1023);
    }
    double edge[] = {0.0, -0.0, 1.0, -1.0, 0x1p-1074, -0x1p-1074, 0x1p-30, -0x1p-30, 709.782712893384,
                     709.7827128933841, 710.0, 1e300, -708.3964185322641, -708.4, -744.44007192138122,
                     -745.1332191019411, -745.1332191019412, -745.2, -746.0, -1e300, INFINITY, -INFINITY,
                     NAN, -NAN, 0.34657359027997264, -0.34657359027997264, 1024 * 0.6931471805599453,
                     -1022 * 0.6931471805599453, -1074 * 0.6931471805599453};
    int ne = (int)(sizeof edge / sizeof edge[0]);
    check_block(edge, ne);
    double e0 = exp_scalar(-0.0), e1 = exp_scalar(INFINITY), e2 = exp_scalar(-INFINITY), e3 = exp_scalar(709.79);
    double e4 = exp_scalar(-745.2), s0 = sigmoid_scalar(INFINITY), s1 = sigmoid_scalar(-INFINITY);
    if (e0 != 1.0 || e1 != INFINITY || e2 != 0.0 || signbit(e2) || e3 != INFINITY || e4 != 0.0 || s0 != 1.0 || s1 != 0.0) {
        printf("edge cases wrong: %a %a %a %a %a %a %a\n", e0, e1, e2, e3, e4, s0, s1);
        fails++;
    }
    printf("exp: worst %.3f ulp at x=%.17g (normal results: %.3f ulp at x=%.17g); sigmoid: worst %.3f ulp at x=%.17g; %d failures\n",
           worst, worst_x, worst_normal, worst_normal_x, worst_sig, worst_sig_x, fails);
    return fails || worst > limit ? 1 : 0;
}
