/* Checks vmath.h's float32 erf against libm's erf in double over float32 bit patterns 0, s, 2s, ...
   (s = argv[1], default 1: all 2^32 inputs, about a minute): reports the largest error in ulps of
   the correctly rounded result, and fails (exit 1) if it exceeds argv[2] (default 1.1) ulp, if the
   scalar tg_erff_inline and the vector tg_erf16 (AVX-512) or tg_erf8 (AVX2+FMA) differ in any bit,
   if a NaN does not stay NaN, or if erf is not odd. Build: cc -O2 -march=native -ffp-contract=off -I csrc tests/c/erf_exhaustive.c -lm */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>
#include "vmath.h"

static double ulps(float got, double ref) {
    if (isinf(ref)) return got == ref ? 0.0 : INFINITY;
    /* the float32 ulp at |ref|: 2^(exponent - 23), 2^-149 for subnormals (bit arithmetic, no libm) */
    uint64_t b;
    double a = fabs(ref);
    memcpy(&b, &a, 8);
    int e = (int)(b >> 52) - 1023;        /* |ref| in [2^e, 2^(e+1)) */
    e = e - 23 < -149 ? -149 : e - 23;
    uint64_t ub = (uint64_t)(e + 1023) << 52;
    double ulp;
    memcpy(&ulp, &ub, 8);
    return fabs((double)got - ref) / ulp;
}

int main(int argc, char **argv) {
    uint64_t step = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    double limit = argc > 2 ? atof(argv[2]) : 1.1;
    double worst = 0.0;
    float worst_x = 0.0f;
    uint64_t bad = 0, checked = 0;
    enum { B = 1024 };
    float xs[B], ys[B];
    for (uint64_t u0 = 0; u0 < (1ull << 32); u0 += step * B) {
        int n = 0;
        for (uint64_t u = u0; u < u0 + step * B && u < (1ull << 32); u += step) {
            uint32_t bits = (uint32_t)u;
            memcpy(&xs[n++], &bits, 4);
        }
#ifdef __AVX512F__
        for (int i = 0; i < n; i += 16) {
            __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tg_mask16(n - i);
            _mm512_mask_storeu_ps(ys + i, m, tg_erf16(_mm512_maskz_loadu_ps(m, xs + i)));
        }
        _mm256_zeroupper();  /* libm's SSE code runs slowly after 512-bit code dirtied the upper halves */
#elif defined(TG_AVX2)
        for (int i = 0; i < n; i += 8) {
            __m256i m = tg_mask8(n - i);
            _mm256_maskstore_ps(ys + i, m, tg_erf8(_mm256_maskload_ps(xs + i, m)));
        }
        _mm256_zeroupper();
#else
        for (int i = 0; i < n; i++) ys[i] = tg_erff_inline(xs[i]);
#endif
        for (int i = 0; i < n; i++) {
            float x = xs[i], y = ys[i], s = tg_erff_inline(x);
            checked++;
            if (memcmp(&y, &s, 4) != 0 && !(isnan(y) && isnan(s))) { bad++; if (bad < 5) printf("scalar/vector differ at %a: %a %a\n", x, s, y); continue; }
            if (isnan(x)) { if (!isnan(y)) { bad++; printf("NaN -> %a\n", y); } continue; }
            float yn = tg_erff_inline(-x);
            if (memcmp(&yn, &(float){-y}, 4) != 0) { bad++; if (bad < 5) printf("not odd at %a\n", x); }
            double e = ulps(y, erf((double)x));
            if (e > worst) { worst = e; worst_x = x; }
        }
    }
    printf("checked %llu inputs: max error %.4f ulp at x = %a (%.9g); %llu failures\n",
           (unsigned long long)checked, worst, worst_x, worst_x, (unsigned long long)bad);
    return bad == 0 && worst <= limit ? 0 : 1;
}
