/* Checks that vmath.h's vector paths give the scalar code's bits: tg_exp16 / tg_exp8 against
   tg_expf_inline and tg_erf16 / tg_erf8 against tg_erff_inline over float32 bit patterns 0, s, 2s, ...
   (s = argv[1], default 1: all 2^32), and the run helpers tg_exp_run_f32 (exp and sigmoid) and
   tg_expsum_f32 (stored exps; the sum within float rounding of a double sum) on every length 0..70
   at every offset 0..3, which covers their masked tails. Exit 1 on any difference. Which vector
   path is compiled follows -march (AVX-512, AVX2+FMA, or none: then only the run helpers' scalar
   code runs). Build: cc -O2 -march=native -ffp-contract=off -fno-math-errno -I csrc tests/c/vmath_paths.c -lm */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>
#include "vmath.h"

static uint64_t bad;

static int same(float a, float b) { return memcmp(&a, &b, 4) == 0 || (isnan(a) && isnan(b)); }

static void report(const char *what, float x, float want, float got) {
    if (++bad <= 8) printf("%s differs at %a: scalar %a, vector %a\n", what, x, want, got);
}

/* xs[0..n) through the widest vector exp and erf, each lane against the scalar functions */
static void check_lanes(const float *xs, int n) {
    float ye[16], yf[16];
#if defined(__AVX512F__)
    const int w = 16;
#elif defined(TG_AVX2)
    const int w = 8;
#else
    (void)xs; (void)n; (void)ye; (void)yf;
    return;
#endif
#if defined(__AVX512F__) || defined(TG_AVX2)
    for (int i = 0; i < n; i += w) {
#if defined(__AVX512F__)
        __m512 v = _mm512_loadu_ps(xs + i);
        _mm512_storeu_ps(ye, tg_exp16(v));
        _mm512_storeu_ps(yf, tg_erf16(v));
#else
        __m256 v = _mm256_loadu_ps(xs + i);
        _mm256_storeu_ps(ye, tg_exp8(v));
        _mm256_storeu_ps(yf, tg_erf8(v));
#endif
        for (int l = 0; l < w; l++) {
            float x = xs[i + l];
            if (!same(tg_expf_inline(x), ye[l])) report("exp", x, tg_expf_inline(x), ye[l]);
            if (!same(tg_erff_inline(x), yf[l])) report("erf", x, tg_erff_inline(x), yf[l]);
        }
    }
#endif
}

static void check_runs(void) {
    enum { N = 70 };
    float buf[N + 4], out[N + 8], sums[N + 8];
    for (int j = 0; j < N + 4; j++) buf[j] = (float)((j * 7919) % 61 - 30) * 0.37f;  /* in (-12, 12) */
    buf[5] = NAN;  /* a NaN in the runs that reach it */
    for (int off = 0; off < 4; off++)
        for (int n = 0; n <= N; n++) {
            const float *x = buf + off;
            for (int sig = 0; sig < 2; sig++) {
                for (int j = 0; j < N + 8; j++) out[j] = -7.0f;
                tg_exp_run_f32(x, out, n, sig);
                for (int j = 0; j < n; j++) {
                    float want = sig ? 1.0f / (1.0f + tg_expf_inline(-x[j])) : tg_expf_inline(x[j]);
                    if (!same(want, out[j])) report(sig ? "sigmoid run" : "exp run", x[j], want, out[j]);
                }
                for (int j = n; j < N + 8; j++)
                    if (out[j] != -7.0f) { bad++; printf("exp run of %d wrote past its end\n", n); break; }
            }
            const float m = 1.5f;
            for (int j = 0; j < N + 8; j++) sums[j] = -7.0f;
            float s = tg_expsum_f32(x, m, sums, n), s2 = tg_expsum_f32(x, m, NULL, n);
            double ref = 0.0;
            for (int j = 0; j < n; j++) {
                float want = tg_expf_inline(x[j] - m);
                ref += want;
                if (!same(want, sums[j])) report("expsum store", x[j], want, sums[j]);
            }
            for (int j = n; j < N + 8; j++)
                if (sums[j] != -7.0f) { bad++; printf("expsum of %d wrote past its end\n", n); break; }
            if (!same(s, s2) || (!isnan(ref) && fabs(s - ref) > 1e-5 * fabs(ref) + 1e-30) || isnan(ref) != isnan(s)) {
                bad++;
                printf("expsum of %d at offset %d: %a (without stores %a), double sum %a\n", n, off, s, s2, ref);
            }
        }
}

int main(int argc, char **argv) {
    uint64_t step = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    enum { B = 1024 };
    float xs[B];
    uint64_t checked = 0;
    for (uint64_t u0 = 0; u0 < (1ull << 32); u0 += step * B) {
        int n = 0;
        for (uint64_t u = u0; u < u0 + step * B && u < (1ull << 32); u += step) {
            uint32_t bits = (uint32_t)u;
            memcpy(&xs[n++], &bits, 4);
        }
        while (n % 16) xs[n++] = 0.0f;  /* whole vectors */
        check_lanes(xs, n);
        checked += (uint64_t)n;
    }
    check_runs();
    printf("checked %llu inputs and the run helpers: %llu differences\n", (unsigned long long)checked,
           (unsigned long long)bad);
    return bad == 0 ? 0 : 1;
}
