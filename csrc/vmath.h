/* Vectorizable float32 math (inlined into `omp simd` loops; libm's scalar expf would not vectorize). */
#ifndef TG_VMATH_H
#define TG_VMATH_H
#include <stdint.h>
#include <string.h>
#include <math.h>
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif
/* TG_AVX2: the 8-lane AVX2+FMA paths, used where AVX-512 is not (same bits as the scalar code) */
#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#define TG_AVX2 1
#endif

static inline float tg_bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* exp(x) in float32: n = rint(x log2 e), r = x - n ln2 (Cody-Waite, two FMAs), exp(r) by a degree-6
   polynomial (1 + r + r^2 q(r), q a relative-error minimax fit on [-ln2/2, ln2/2], max 3.1e-9),
   result = p * 2^n rounded once. Checked over all 2^32 inputs against (float)exp((double)x):
   at most 1 ulp off, NaN stays NaN, +inf -> inf, -inf -> 0, overflow -> inf, subnormal results
   rounded once. x is clamped to [-104, 89] first (exp is 0 / inf beyond, and n stays in
   [-150, 128]); the clamps are written as maxps/minps so that a NaN passes through.
   Two implementations give bit-identical results (tested exhaustively):
   - tg_expf_inline: scalar C, which gcc vectorizes in `omp simd` loops; 2^n is two exact power-of-2
     factors, so the product rounds once (as scalef does).
   - tg_exp16 (AVX-512): 16 lanes with intrinsics, 2^n by vscalefps (which also gives inf/0 for
     the out-of-range n and NaN for NaN, so no selects): 13 vector ops per 16 elements instead
     of ~40 the compiler made of the old scalar code (1e5 elements: 12.8 us vs 30 us).
   - tg_exp8 (AVX2+FMA): the scalar code's steps on 8 lanes (the two power-of-2 factors, NaN
     selected back at the end). */
#define TG_EXP_LO -104.0f
#define TG_EXP_HI 89.0f
#define TG_EXP_LOG2E 1.44269504088896341f
#define TG_EXP_LN2HI 0.693359375f       /* 9 significant bits: n * LN2HI is exact */
#define TG_EXP_LN2LO -2.12194440e-4f    /* ln 2 - LN2HI */
#define TG_EXP_C6 0.0013814540579915047f
#define TG_EXP_C5 0.00836874544620514f
#define TG_EXP_C4 0.04166838899254799f
#define TG_EXP_C3 0.1666652113199234f
#define TG_EXP_C2 0.4999999403953552f

static inline float tg_expf_inline(float x) {
    float xc = TG_EXP_LO > x ? TG_EXP_LO : x;   /* maxps(LO, x): NaN passes */
    xc = TG_EXP_HI < xc ? TG_EXP_HI : xc;       /* minps(HI, xc) */
    float n = rintf(xc * TG_EXP_LOG2E);
    float r = fmaf(-n, TG_EXP_LN2HI, xc);
    r = fmaf(-n, TG_EXP_LN2LO, r);
    float p = fmaf(TG_EXP_C6, r, TG_EXP_C5);
    p = fmaf(p, r, TG_EXP_C4);
    p = fmaf(p, r, TG_EXP_C3);
    p = fmaf(p, r, TG_EXP_C2);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t ni = x != x ? 0 : (int32_t)n;      /* no float->int conversion of a NaN */
    int32_t n1 = ni >> 1, n2 = ni - n1;        /* each in [-75, 64]: 2^n1, 2^n2 are normal */
    float y = p * tg_bits_to_float((uint32_t)(n1 + 127) << 23) * tg_bits_to_float((uint32_t)(n2 + 127) << 23);
    return x != x ? x : y;
}

static inline uint32_t tg_float_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* float32 log in float32 arithmetic, branch-free so that `omp simd` loops vectorize it: x = 2^e m
   with m in [sqrt(1/2), sqrt(2)) (a subnormal x scaled by 2^23 first), f = m - 1, and
   log x = f - f^2 / 2 + f^3 P(f) + e ln 2 (Cephes' degree-8 minimax P, ln 2 in two parts).
   log(0) = -inf, log(inf) = inf, NaN for x < 0 and NaN. Within 1 ulp of log over every 7th
   positive float32 (tests/test_float32_transcendentals.py). */
static inline float tg_logf_inline(float x) {
    int sub = x < 0x1p-126f;                       /* subnormal (or 0, or negative: selected below) */
    uint32_t u = tg_float_to_bits(sub ? x * 0x1p23f : x);
    int32_t e = (int32_t)((u >> 23) & 0xffu) - (sub ? 150 : 127);
    float m = tg_bits_to_float((u & 0x007fffffu) | 0x3f800000u);  /* [1, 2) */
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    float fe = (float)(e + big);
    float f = m - 1.0f;
    float z = f * f;
    float p = fmaf(7.0376836292e-2f, f, -1.1514610310e-1f);
    p = fmaf(p, f, 1.1676998740e-1f);
    p = fmaf(p, f, -1.2420140846e-1f);
    p = fmaf(p, f, 1.4249322787e-1f);
    p = fmaf(p, f, -1.6668057665e-1f);
    p = fmaf(p, f, 2.0000714765e-1f);
    p = fmaf(p, f, -2.4999993993e-1f);
    p = fmaf(p, f, 3.3333331174e-1f);
    float y = f * (z * p);
    y = fmaf(fe, -2.12194440e-4f, y);
    y = fmaf(-0.5f, z, y);
    float r = fmaf(fe, 0.693359375f, f + y);
    r = x == INFINITY ? x : r;
    r = x == 0.0f ? -INFINITY : r;
    return x < 0.0f || x != x ? (x != x ? x : NAN) : r;
}

/* float32 tanh in float32 arithmetic, branch-free so that `omp simd` loops vectorize it.
   |x| < 0.625: x + x s P(s), s = x^2, P of degree 4 (Cephes' minimax coefficients);
   otherwise 1 - 2 / (exp(2|x|) + 1) with the sign of x (|x| clamped at 20, where tanh is 1 in
   float32, so no quotient is subnormal). At most 1.36 ulp from tanh over every 7th float32 in
   [0, 20] (0.70 below 0.625); tests/test_tanh_f32.py checks 1.5. NaN stays NaN, tanh(-0) = -0. */
#define TG_TANH_SMALL 0.625f
static inline float tg_tanhf_inline(float x) {
    float t = fabsf(x);
    float s = t < 0x1p-16f ? 0.0f : x * x;     /* below 2^-16 tanh(x) rounds to x; no subnormal s */
    float p = fmaf(-5.70498872745e-3f, s, 2.06390887954e-2f);
    p = fmaf(p, s, -5.37397155531e-2f);
    p = fmaf(p, s, 1.33314422036e-1f);
    p = fmaf(p, s, -3.33332819422e-1f);
    float small = t < 0x1p-16f ? x : fmaf(p * s, x, x);  /* x itself keeps the sign of -0 */
    float tc = t > 20.0f ? 20.0f : t;          /* NaN passes */
    float e = tg_expf_inline(tc + tc);
    float big = copysignf(1.0f - 2.0f / (e + 1.0f), x);
    return t < TG_TANH_SMALL ? small : big;
}

#ifdef __AVX512F__
static inline __m512 tg_exp16(__m512 x) {
    __m512 xc = _mm512_min_ps(_mm512_set1_ps(TG_EXP_HI), _mm512_max_ps(_mm512_set1_ps(TG_EXP_LO), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(TG_EXP_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(TG_EXP_LN2HI), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(TG_EXP_LN2LO), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(TG_EXP_C6), r, _mm512_set1_ps(TG_EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TG_EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TG_EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TG_EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* the first k lanes (k < 16) */
static inline __mmask16 tg_mask16(int64_t k) { return (__mmask16)((1u << k) - 1u); }
#endif

#ifdef TG_AVX2
static inline __m256 tg_exp8(__m256 x) {
    __m256 xc = _mm256_min_ps(_mm256_set1_ps(TG_EXP_HI), _mm256_max_ps(_mm256_set1_ps(TG_EXP_LO), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(TG_EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(TG_EXP_LN2HI), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(TG_EXP_LN2LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(TG_EXP_C6), r, _mm256_set1_ps(TG_EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TG_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TG_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TG_EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvttps_epi32(n);               /* a NaN lane's garbage is replaced below */
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* the first k lanes (0 <= k <= 8) as a vmaskmov mask (masked-off lanes load as 0, store nothing) */
static inline __m256i tg_mask8(int64_t k) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

/* The sum over j < n of exp(x[j] - m), each exp also stored to o[j] unless o is NULL (softmax and
   cross-entropy rows). The exps are the same bits as tg_expf_inline's; the sum is in float lanes. */
static inline float tg_expsum_f32(const float *x, float m, float *o, int64_t n) {
#ifdef __AVX512F__
    const __m512 mv = _mm512_set1_ps(m);
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 e0 = tg_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
        __m512 e1 = tg_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), mv));
        if (o) { _mm512_storeu_ps(o + i, e0); _mm512_storeu_ps(o + i + 16, e1); }
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tg_mask16(n - i);
        __m512 e = tg_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mv));
        if (o) _mm512_mask_storeu_ps(o + i, k, e);
        s0 = _mm512_mask_add_ps(s0, k, s0, e);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
#elif defined(TG_AVX2)
    const __m256 mv = _mm256_set1_ps(m);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 e0 = tg_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        __m256 e1 = tg_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mv));
        if (o) { _mm256_storeu_ps(o + i, e0); _mm256_storeu_ps(o + i + 8, e1); }
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; i < n; i += 8) {
        __m256i k = tg_mask8(n - i);
        __m256 e = _mm256_and_ps(tg_exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), mv)), _mm256_castsi256_ps(k));
        if (o) _mm256_maskstore_ps(o + i, k, e);
        s0 = _mm256_add_ps(s0, e);
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
#else
    float sum = 0.0f;
    if (o) {
        _Pragma("omp simd reduction(+:sum)") for (int64_t j = 0; j < n; j++) { float e = tg_expf_inline(x[j] - m); o[j] = e; sum += e; }
    } else {
        _Pragma("omp simd reduction(+:sum)") for (int64_t j = 0; j < n; j++) sum += tg_expf_inline(x[j] - m);
    }
    return sum;
#endif
}

/* o[i] = exp(x[i]) (sigmoid: 1 / (1 + exp(-x[i]))) over contiguous runs; same bits as the scalar
   tg_expf_inline on every path. */
static inline void tg_exp_run_f32(const float *x, float *o, int64_t n, int sigmoid) {
#ifdef __AVX512F__
    int64_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i sign = _mm512_set1_epi32(INT32_MIN);  /* -x as a sign flip, as the scalar code */
    if (sigmoid) {
        for (; i + 16 <= n; i += 16) {
            __m512 e = tg_exp16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_loadu_ps(x + i)), sign)));
            _mm512_storeu_ps(o + i, _mm512_div_ps(one, _mm512_add_ps(one, e)));
        }
        if (i < n) {
            __mmask16 m = tg_mask16(n - i);
            __m512 e = tg_exp16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i)), sign)));
            _mm512_mask_storeu_ps(o + i, m, _mm512_div_ps(one, _mm512_add_ps(one, e)));
        }
    } else {
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(o + i, tg_exp16(_mm512_loadu_ps(x + i)));
        if (i < n) {
            __mmask16 m = tg_mask16(n - i);
            _mm512_mask_storeu_ps(o + i, m, tg_exp16(_mm512_maskz_loadu_ps(m, x + i)));
        }
    }
#elif defined(TG_AVX2)
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN));
    for (int64_t i = 0; i < n; i += 8) {
        __m256i k = tg_mask8(n - i);
        __m256 xi = i + 8 <= n ? _mm256_loadu_ps(x + i) : _mm256_maskload_ps(x + i, k);
        __m256 y = sigmoid ? _mm256_div_ps(one, _mm256_add_ps(one, tg_exp8(_mm256_xor_ps(xi, sign)))) : tg_exp8(xi);
        if (i + 8 <= n) _mm256_storeu_ps(o + i, y);
        else _mm256_maskstore_ps(o + i, k, y);
    }
#else
    if (sigmoid) {
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) o[i] = 1.0f / (1.0f + tg_expf_inline(-x[i]));
    } else {
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) o[i] = tg_expf_inline(x[i]);
    }
#endif
}
/* erf of a float32 x in float32 arithmetic. With t = min(|x|, 4) and i = (int)(2 t) (i in 0..8):
   - i = 0 (t < 0.5): erf = t + t * Q(t^2), Q(s) = erf(sqrt s) / sqrt s - 1 of degree 4 (written as
     t + t Q, not t (1 + Q), so that Q's roundings stay small against t);
   - i = 1..7 (0.5 <= t < 4): erf = P_i(t - m_i), P_i of degree 7 around the midpoint m_i of
     [i / 2, (i + 1) / 2);
   - i = 8 (t = 4, i.e. |x| >= 4): 1 (float32 erf(x) rounds to 1 from x = 3.92 on).
   Each polynomial is a least-squares fit of erf refined to minimax in double (approximation error
   below 8e-10 relative near 0, 3e-10 absolute elsewhere), its coefficients rounded to float32, and
   evaluated by Horner with fmaf. Checked over all 2^32 float32 inputs against libm's
   erf((double)x): at most 1.095 ulp off (at x = 0.50054) (tests/c/erf_exhaustive.c), odd (erf(-x) = -erf(x), so
   erf(-0) = -0), NaN stays NaN, erf(+-inf) = +-1. The coefficients sit in 16-lane tables (one per
   power, one lane per interval) so that the AVX-512 version picks them with one vpermps per
   coefficient; tg_erff_inline (scalar C, table loads), tg_erf16 and tg_erf8 (AVX2+FMA: vpermps
   picks from the first 8 lanes, and |x| >= 4, interval 8, is selected as 1 at the end, which is
   what its polynomial gives) give the same bits. */
#define TG_ERF_DEG 7
static const float TG_ERF_MIDS[16] __attribute__((aligned(64))) = {
    0.0f, 0.75f, 1.25f, 1.75f, 2.25f, 2.75f, 3.25f, 3.75f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
static const float TG_ERF_COEF[TG_ERF_DEG + 1][16] __attribute__((aligned(64))) = {
    {0.128379166f, 0.711155653f, 0.92290014f, 0.986671686f, 0.998537302f, 0.999899387f, 0.999995708f, 0.999999881f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {-0.376126081f, 0.642931044f, 0.236521125f, 0.0527749956f, 0.00714231934f, 0.00058627734f, 2.9189001e-05f, 8.81426047e-07f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {0.112828381f, -0.482198149f, -0.295651734f, -0.092356205f, -0.0160701573f, -0.00161226734f, -9.48693269e-05f, -3.30607054e-06f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {-0.0267581828f, 0.0267881472f, 0.167535946f, 0.0901574343f, 0.0217244923f, 0.00276037632f, 0.000195814107f, 7.97068606e-06f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {0.00471998192f, 0.150675759f, -0.00613205787f, -0.0481054895f, -0.0190882534f, -0.00325771328f, -0.000286169554f, -1.37854249e-05f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {0.0f, -0.0532105155f, -0.0471881144f, 0.00661695981f, 0.0106607247f, 0.00275641936f, 0.000313581433f, 1.83185984e-05f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {0.0f, -0.0265842415f, 0.0205979813f, 0.00904911663f, -0.00277960137f, -0.00166782096f, -0.000273757061f, -2.0692245e-05f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {0.0f, 0.0178251211f, 0.00375937158f, -0.00591917522f, -0.000727607578f, 0.000634635217f, 0.000174029803f, 1.72495202e-05f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}
};

static inline float tg_erff_inline(float x) {
    float t = fabsf(x);
    t = t > 4.0f ? 4.0f : t;                    /* NaN passes */
    int i = t == t ? (int)(t * 2.0f) : 0;       /* a NaN takes interval 0 (as vpermps does) */
    float tq = t < 0x1p-60f ? 0x1p-60f : t;    /* t^2 stays normal (no slow subnormal arithmetic); */
    float v = i == 0 ? tq * tq : t - TG_ERF_MIDS[i];  /* Q(2^-120) and Q(t^2) round alike */
    /* Horner, written out: gcc vectorizes no loop around an inner loop */
    float p = TG_ERF_COEF[7][i];
    p = fmaf(p, v, TG_ERF_COEF[6][i]);
    p = fmaf(p, v, TG_ERF_COEF[5][i]);
    p = fmaf(p, v, TG_ERF_COEF[4][i]);
    p = fmaf(p, v, TG_ERF_COEF[3][i]);
    p = fmaf(p, v, TG_ERF_COEF[2][i]);
    p = fmaf(p, v, TG_ERF_COEF[1][i]);
    p = fmaf(p, v, TG_ERF_COEF[0][i]);
    return copysignf(i == 0 ? fmaf(t, p, t) : p, x);
}

#ifdef __AVX512F__
static inline __m512 tg_erf16(__m512 x) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(INT32_MIN));
    __m512 t = _mm512_andnot_ps(sign, x);
    t = _mm512_min_ps(_mm512_set1_ps(4.0f), t);  /* minps returns its second operand for a NaN */
    __m512i i = _mm512_cvttps_epi32(_mm512_add_ps(t, t));  /* NaN -> 0x80000000: low bits 0 */
    __mmask16 k0 = _mm512_cmp_ps_mask(t, _mm512_set1_ps(0.5f), _CMP_NGE_UQ);  /* t < 0.5 or NaN */
    __m512 v = _mm512_sub_ps(t, _mm512_permutexvar_ps(i, _mm512_load_ps(TG_ERF_MIDS)));
    __m512 tq = _mm512_max_ps(_mm512_set1_ps(0x1p-60f), t);  /* maxps: a NaN passes */
    v = _mm512_mask_mul_ps(v, k0, tq, tq);
    __m512 p = _mm512_permutexvar_ps(i, _mm512_load_ps(TG_ERF_COEF[TG_ERF_DEG]));
    for (int k = TG_ERF_DEG - 1; k >= 0; k--)
        p = _mm512_fmadd_ps(p, v, _mm512_permutexvar_ps(i, _mm512_load_ps(TG_ERF_COEF[k])));
    p = _mm512_mask_fmadd_ps(p, k0, t, t);    /* interval 0: t + t Q */
    /* copysign: the sign bit from x, the rest from p */
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(sign), _mm512_castps_si512(p),
                                                         _mm512_castps_si512(x), 0xAC));
}
#endif

#ifdef TG_AVX2
static inline __m256 tg_erf8(__m256 x) {
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN));
    __m256 t = _mm256_andnot_ps(sign, x);
    t = _mm256_min_ps(_mm256_set1_ps(4.0f), t);  /* minps returns its second operand for a NaN */
    __m256i i = _mm256_cvttps_epi32(_mm256_add_ps(t, t));  /* NaN -> 0x80000000: low bits 0; 8 -> lane 0 */
    __m256 k0 = _mm256_cmp_ps(t, _mm256_set1_ps(0.5f), _CMP_NGE_UQ);  /* t < 0.5 or NaN */
    __m256 v = _mm256_sub_ps(t, _mm256_permutevar8x32_ps(_mm256_load_ps(TG_ERF_MIDS), i));
    __m256 tq = _mm256_max_ps(_mm256_set1_ps(0x1p-60f), t);  /* maxps: a NaN passes */
    v = _mm256_blendv_ps(v, _mm256_mul_ps(tq, tq), k0);
    __m256 p = _mm256_permutevar8x32_ps(_mm256_load_ps(TG_ERF_COEF[TG_ERF_DEG]), i);
    for (int k = TG_ERF_DEG - 1; k >= 0; k--)
        p = _mm256_fmadd_ps(p, v, _mm256_permutevar8x32_ps(_mm256_load_ps(TG_ERF_COEF[k]), i));
    p = _mm256_blendv_ps(p, _mm256_fmadd_ps(t, p, t), k0);  /* interval 0: t + t Q */
    p = _mm256_blendv_ps(p, _mm256_set1_ps(1.0f), _mm256_cmp_ps(t, _mm256_set1_ps(4.0f), _CMP_EQ_OQ));
    return _mm256_or_ps(_mm256_andnot_ps(sign, p), _mm256_and_ps(sign, x));  /* copysign */
}
#endif

/* o[i] = erf(x[i]) over a contiguous run: tg_erf16 / tg_erf8 on the vector body and a masked
   tail, tg_erff_inline without either (all give the same bits). */
static inline void tg_erf_run_f32(const float *x, float *o, int64_t n) {
#ifdef __AVX512F__
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(o + i, tg_erf16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = tg_mask16(n - i);
        _mm512_mask_storeu_ps(o + i, m, tg_erf16(_mm512_maskz_loadu_ps(m, x + i)));
    }
#elif defined(TG_AVX2)
    for (int64_t i = 0; i < n; i += 8) {
        __m256i k = tg_mask8(n - i);
        __m256 y = tg_erf8(i + 8 <= n ? _mm256_loadu_ps(x + i) : _mm256_maskload_ps(x + i, k));
        if (i + 8 <= n) _mm256_storeu_ps(o + i, y);
        else _mm256_maskstore_ps(o + i, k, y);
    }
#else
    for (int64_t i = 0; i < n; i++) o[i] = tg_erff_inline(x[i]);
#endif
}

#endif
