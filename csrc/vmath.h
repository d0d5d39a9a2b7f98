/* Vectorizable float32 math (inlined into `omp simd` loops; libm's scalar expf would not vectorize). */
#ifndef TG_VMATH_H
#define TG_VMATH_H
#include <stdint.h>
#include <string.h>
#include <math.h>

static inline float tg_bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* exp(x) in float32, Cephes' range reduction and polynomial (max error ~1 ulp). Branch-free so
   gcc vectorizes it 16-wide; overflow gives inf, NaN stays NaN, tiny results go subnormal/0. */
static inline float tg_expf_inline(float x) {
    float xc = x < -103.972084f ? -103.972084f : x;
    xc = xc > 88.7228394f ? 88.7228394f : xc;
    float n = rintf(xc * 1.44269504088896341f);
    float r = fmaf(n, -0.693359375f, xc);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500E-4f;
    p = fmaf(p, r, 1.3981999507E-3f);
    p = fmaf(p, r, 8.3334519073E-3f);
    p = fmaf(p, r, 4.1665795894E-2f);
    p = fmaf(p, r, 1.6666665459E-1f);
    p = fmaf(p, r, 5.0000001201E-1f);
    float y = fmaf(p, r * r, r) + 1.0f;
    int32_t ni = (int32_t)n;
    int32_t n1 = ni >> 1, n2 = ni - n1;  /* two factors so 2^n below 2^-126 still scales right */
    y = y * tg_bits_to_float((uint32_t)(n1 + 127) << 23) * tg_bits_to_float((uint32_t)(n2 + 127) << 23);
    y = x > 88.7228394f ? INFINITY : y;
    return x != x ? x : y;
}
#endif
