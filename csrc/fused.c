/* Optional fused kernels (protocol.py, "Optional fused kernels"): each does in one pass what the
   core would otherwise compose from several primitives, each with its own temporary. Every
   operand is a contiguous run of elements, checked against its buffer in Python first. */
#include "tg.h"
#include "vmath.h"
#include <stdlib.h>

/* ---------------------------------------------------------------- relu backward */
/* out[i] = y[i] > 0 ? g[i] : 0, with y = relu(x): the gradient passes where the input was
   positive (NaN compares false, as where(y > 0, g, 0) does). */
typedef struct { int dt; const char *g, *y; char *out; } rb_t;

static void relu_bw_range(void *ctx, int64_t lo, int64_t hi) {
    const rb_t *r = ctx;
    if (r->dt == DT_F32) {
        const float *g = (const float *)r->g, *y = (const float *)r->y;
        float *o = (float *)r->out;
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) o[i] = y[i] > 0 ? g[i] : 0.0f;
    } else {
        const double *g = (const double *)r->g, *y = (const double *)r->y;
        double *o = (double *)r->out;
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) o[i] = y[i] > 0 ? g[i] : 0.0;
    }
}

int tg_relu_backward(int dt, int64_t n, const void *g, int64_t goff, const void *y, int64_t yoff, void *out) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    int64_t isz = TG_ITEMSIZE[dt];
    rb_t r = {dt, (const char *)g + goff * isz, (const char *)y + yoff * isz, out};
    tg_parallel_for(n, tg_threads_for(n, 0), 64, relu_bw_range, &r);
    return ERR_OK;
}

/* ---------------------------------------------------------------- softmax backward */
/* Per row of (rows, cols), with y the forward's output and g the incoming gradient:
   log-softmax: dx = g - exp(y) * sum(g);   softmax: dx = y * (g - sum(g * y)).
   Sums in double, like the reductions. */
typedef struct { int dt, log; int64_t cols; const char *g, *y; char *out; } sb_t;

#define SOFTMAX_BW_ROWS(T, EXP) do { \
    for (int64_t rr = lo; rr < hi; rr++) { \
        const T *g = (const T *)s->g + rr * cols, *y = (const T *)s->y + rr * cols; \
        T *o = (T *)s->out + rr * cols; \
        double acc = 0.0; \
        if (s->log) { \
            for (int64_t j = 0; j < cols; j++) acc += (double)g[j]; \
            T sum = (T)acc; \
            _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) o[j] = g[j] - EXP(y[j]) * sum; \
        } else { \
            for (int64_t j = 0; j < cols; j++) acc += (double)(g[j] * y[j]); \
            T sum = (T)acc; \
            _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) o[j] = y[j] * (g[j] - sum); \
        } \
    } \
} while (0)

static void softmax_bw_rows(void *ctx, int64_t lo, int64_t hi) {
    const sb_t *s = ctx;
    int64_t cols = s->cols;
    if (s->dt == DT_F32) SOFTMAX_BW_ROWS(float, tg_expf_inline);
    else SOFTMAX_BW_ROWS(double, exp);
}

int tg_softmax_backward(int dt, int64_t rows, int64_t cols, const void *g, int64_t goff, const void *y,
                        int64_t yoff, void *out, int log) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    int64_t isz = TG_ITEMSIZE[dt];
    sb_t s = {dt, log, cols, (const char *)g + goff * isz, (const char *)y + yoff * isz, out};
    int nt = tg_threads_for(rows * cols, 1);
    tg_parallel_for(rows, nt < rows ? nt : (int)rows, 1, softmax_bw_rows, &s);
    return ERR_OK;
}

/* ---------------------------------------------------------------- axpy (in place) */
/* y[i] += alpha * x[i]: the optimizer's update p -= lr * g without a temporary for lr * g.
   alpha * x is rounded to T before the add, exactly as the two separate ops would round it. */
typedef struct { int dt; double alpha; const char *x; char *y; } ax_t;

static void axpy_range(void *ctx, int64_t lo, int64_t hi) {
    const ax_t *a = ctx;
    if (a->dt == DT_F32) {
        const float *x = (const float *)a->x;
        float *y = (float *)a->y, al = (float)a->alpha;
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) { float t = al * x[i]; y[i] = y[i] + t; }
    } else {
        const double *x = (const double *)a->x;
        double *y = (double *)a->y, al = a->alpha;
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) { double t = al * x[i]; y[i] = y[i] + t; }
    }
}

int tg_axpy(int dt, int64_t n, double alpha, const void *x, int64_t xoff, void *y, int64_t yoff) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    int64_t isz = TG_ITEMSIZE[dt];
    ax_t a = {dt, alpha, (const char *)x + xoff * isz, (char *)y + yoff * isz};
    tg_parallel_for(n, tg_threads_for(n, 0), 64, axpy_range, &a);
    return ERR_OK;
}

/* ---------------------------------------------------------------- cross-entropy */
/* Per row of logits x (rows, cols) with class t = target[row]:
   loss[row] = logsumexp(x[row]) - x[row, t], and, when grad is not NULL,
   grad[row] = softmax(x[row]) - one_hot(t), the gradient of loss[row] (the caller scales it).
   Every target is checked against [0, cols) before any row is computed (ERR_INDEX on a bad one:
   the core then words the error), so the core need not scan the targets itself. */
typedef struct { int dt; int64_t cols; const char *x; const int64_t *t; char *loss, *grad; } ce_t;

#define CE_ROWS(T, EXP, LOG) do { \
    for (int64_t rr = lo; rr < hi; rr++) { \
        const T *x = (const T *)c->x + rr * cols; \
        int64_t t = c->t[rr]; \
        T m = x[0]; \
        for (int64_t j = 1; j < cols; j++) m = (x[j] > m || x[j] != x[j]) ? x[j] : m; \
        T sum = 0; \
        _Pragma("omp simd reduction(+:sum)") for (int64_t j = 0; j < cols; j++) sum += EXP(x[j] - m); \
        T ls = (T)LOG(sum); /* -log_softmax(x)[t] = ls - (x[t] - m), rounded as log_softmax does */ \
        ((T *)c->loss)[rr] = (t >= 0 && t < cols) ? ls - (x[t] - m) : (T)NAN; \
        if (c->grad) { \
            T *gr = (T *)c->grad + rr * cols, inv = (T)1 / sum; \
            _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) gr[j] = EXP(x[j] - m) * inv; \
            if (t >= 0 && t < cols) gr[t] -= (T)1; \
        } \
    } \
} while (0)

static void ce_rows(void *ctx, int64_t lo, int64_t hi) {
    const ce_t *c = ctx;
    int64_t cols = c->cols;
    if (c->dt == DT_F32) {  /* as CE_ROWS, with the exps 16 at a time (vmath.h), stored once */
        for (int64_t rr = lo; rr < hi; rr++) {
            const float *x = (const float *)c->x + rr * cols;
            int64_t t = c->t[rr];
            float m = x[0];
            for (int64_t j = 1; j < cols; j++) m = (x[j] > m || x[j] != x[j]) ? x[j] : m;
            float *gr = c->grad ? (float *)c->grad + rr * cols : NULL;
            float sum = tg_expsum_f32(x, m, gr, cols);
            float ls = (float)log(sum);
            ((float *)c->loss)[rr] = (t >= 0 && t < cols) ? ls - (x[t] - m) : (float)NAN;
            if (gr) {
                float inv = 1.0f / sum;
                _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) gr[j] *= inv;
                if (t >= 0 && t < cols) gr[t] -= 1.0f;
            }
        }
    } else CE_ROWS(double, exp, log);
}

int tg_cross_entropy(int dt, int64_t rows, int64_t cols, const void *x, int64_t xoff, const int64_t *target,
                     int64_t toff, void *loss, void *grad) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    for (int64_t r = 0; r < rows; r++)
        if (target[toff + r] < 0 || target[toff + r] >= cols) return ERR_INDEX;
    ce_t c = {dt, cols, (const char *)x + xoff * TG_ITEMSIZE[dt], target + toff, loss, grad};
    int nt = tg_threads_for(rows * cols, 1);
    tg_parallel_for(rows, nt < rows ? nt : (int)rows, 1, ce_rows, &c);
    return ERR_OK;
}

/* ---------------------------------------------------------------- Adam / AdamW step (in place) */
/* One Adam (or AdamW) update of a parameter p with gradient g and moments m (exp_avg), v
   (exp_avg_sq), element by element in the order of PyTorch's single-tensor Adam on the CPU:
     g = -g (maximize);  p = p * (1 - lr*wd) (AdamW)  or  g = fma(p, wd, g) (Adam's L2 term);
     m = lerp(m, g, 1 - beta1)                 (fma(w, g - m, m), or fma(w - 1, g - m, g) for w >= 0.5)
     v = fma((1 - beta2) * g, g, v * beta2)
     p = p + (-step_size * m) / (sqrt(v) / sqrt(bc2) + eps)
   where the scalars are Python's doubles rounded to T, as PyTorch passes them to its kernels, and
   the step count t lives in a float32 element the kernel increments first (a captured call replays
   with the current count): bc1 = 1 - beta1^t, bc2 = 1 - beta2^t, step_size = lr / bc1 in double.
   The fmas are where PyTorch's vectorized lerp, add(alpha=) and addcmul use them (its float32
   sqrt is not always correctly rounded, so results may still differ from it in the last bit). */
typedef struct { int dt, decoupled, maximize; double lr, beta1, beta2, eps, wd, step_size, bc2_sqrt;
                 char *p, *m, *v; const char *g; } adam_t;

#define ADAM_RANGE(T, FMA, SQRT) do { \
    T *p = (T *)a->p, *m = (T *)a->m, *v = (T *)a->v; \
    const T *g = (const T *)a->g; \
    const T sgn = a->maximize ? (T)-1 : (T)1, w1 = (T)(1.0 - a->beta1), b2 = (T)a->beta2, \
            w2 = (T)(1.0 - a->beta2), bc2s = (T)a->bc2_sqrt, eps = (T)a->eps, neg_ss = (T)(-a->step_size); \
    const T decay = (a->decoupled && a->wd != 0) ? (T)(1.0 - a->lr * a->wd) : (T)1; \
    const T l2 = a->decoupled ? (T)0 : (T)a->wd; \
    const int small = FABS(w1) < (T)0.5; \
    const T coeff = small ? w1 : w1 - (T)1; \
    for (int64_t i = lo; i < hi; i++) { \
        T gi = g[i] * sgn, pi = p[i] * decay; /* x * 1 is exact: no branch for the plain case */ \
        if (l2 != 0) gi = FMA(pi, l2, gi); \
        T mi = m[i], d = gi - mi; \
        mi = FMA(coeff, d, small ? mi : gi); \
        T vi = FMA(w2 * gi, gi, v[i] * b2); \
        T denom = SQRT(vi) / bc2s + eps; \
        m[i] = mi; \
        v[i] = vi; \
        p[i] = pi + (neg_ss * mi) / denom; \
    } \
} while (0)

static void adam_range(void *ctx, int64_t lo, int64_t hi) {
    const adam_t *a = ctx;
    if (a->dt == DT_F32) {
#define FABS fabsf
        ADAM_RANGE(float, fmaf, sqrtf);
#undef FABS
    } else {
#define FABS fabs
        ADAM_RANGE(double, fma, sqrt);
#undef FABS
    }
}

int tg_adam_step(int dt, int64_t n, void *p, int64_t poff, const void *g, int64_t goff, void *m, int64_t moff,
                 void *v, int64_t voff, void *step, int64_t soff, double lr, double beta1, double beta2,
                 double eps, double weight_decay, int decoupled, int maximize) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    float *count = (float *)step + soff, t = *count + 1.0f;
    *count = t;
    double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    int64_t isz = TG_ITEMSIZE[dt];
    adam_t a = {dt, decoupled, maximize, lr, beta1, beta2, eps, weight_decay, lr / bc1, pow(bc2, 0.5),
                (char *)p + poff * isz, (char *)m + moff * isz, (char *)v + voff * isz, (const char *)g + goff * isz};
    if (n > 0) tg_parallel_for(n, tg_threads_for(n, 1), 64, adam_range, &a);
    return ERR_OK;
}

/* ---------------------------------------------------------------- gelu (exact, erf form) */
/* Forward y = x * (0.5 * (1 + erf(x * (1/sqrt 2)))) and backward dx = g * (cdf + x * pdf) with
   cdf = 0.5 * (1 + erf(x / sqrt 2)), pdf = exp(-0.5 * x * x) / sqrt(2 pi): the formulas and order
   of roundings of the core's composition (ops/composed.py) and of PyTorch's CPU kernel, in one
   pass. float32 takes the float32 erf (within 1.1 ulp of libm's) and exp of vmath.h (16 lanes with
   AVX-512, 8 with AVX2+FMA, the same bits), float64 libm's. */
typedef struct { int dt; const char *x, *g; char *out; } gelu_t;

#define GELU_F32_ALPHA ((float)0.70710678118654752)  /* 1 / sqrt 2 */
#define GELU_F32_BETA ((float)0.39894228040143268)   /* 1 / sqrt(2 pi) */

static void gelu_range(void *ctx, int64_t lo, int64_t hi) {
    const gelu_t *a = ctx;
    if (a->dt == DT_F32) {
        const float *x = (const float *)a->x;
        float *o = (float *)a->out;
#ifdef __AVX512F__
        const __m512 alpha = _mm512_set1_ps(GELU_F32_ALPHA), half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
        for (int64_t i = lo; i < hi; i += 16) {
            __mmask16 m = hi - i >= 16 ? (__mmask16)0xffff : tg_mask16(hi - i);
            __m512 xi = _mm512_maskz_loadu_ps(m, x + i);
            __m512 cdf = _mm512_mul_ps(half, _mm512_add_ps(one, tg_erf16(_mm512_mul_ps(xi, alpha))));
            _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(xi, cdf));
        }
#elif defined(TG_AVX2)
        const __m256 alpha = _mm256_set1_ps(GELU_F32_ALPHA), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
        for (int64_t i = lo; i < hi; i += 8) {
            __m256i m = tg_mask8(hi - i);
            __m256 xi = hi - i >= 8 ? _mm256_loadu_ps(x + i) : _mm256_maskload_ps(x + i, m);
            __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, tg_erf8(_mm256_mul_ps(xi, alpha))));
            if (hi - i >= 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(xi, cdf));
            else _mm256_maskstore_ps(o + i, m, _mm256_mul_ps(xi, cdf));
        }
#else
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            float xi = x[i];
            o[i] = xi * (0.5f * (1.0f + tg_erff_inline(xi * GELU_F32_ALPHA)));
        }
#endif
    } else {
        const double *x = (const double *)a->x;
        double *o = (double *)a->out;
        for (int64_t i = lo; i < hi; i++) o[i] = x[i] * (0.5 * (1.0 + erf(x[i] * M_SQRT1_2)));
    }
}

static void gelu_bw_range(void *ctx, int64_t lo, int64_t hi) {
    const gelu_t *a = ctx;
    if (a->dt == DT_F32) {
        const float *x = (const float *)a->x, *g = (const float *)a->g;
        float *o = (float *)a->out;
#ifdef __AVX512F__
        const __m512 alpha = _mm512_set1_ps(GELU_F32_ALPHA), beta = _mm512_set1_ps(GELU_F32_BETA);
        const __m512 half = _mm512_set1_ps(0.5f), mhalf = _mm512_set1_ps(-0.5f), one = _mm512_set1_ps(1.0f);
        for (int64_t i = lo; i < hi; i += 16) {
            __mmask16 m = hi - i >= 16 ? (__mmask16)0xffff : tg_mask16(hi - i);
            __m512 xi = _mm512_maskz_loadu_ps(m, x + i);
            __m512 cdf = _mm512_mul_ps(half, _mm512_add_ps(one, tg_erf16(_mm512_mul_ps(xi, alpha))));
            __m512 pdf = _mm512_mul_ps(tg_exp16(_mm512_mul_ps(_mm512_mul_ps(mhalf, xi), xi)), beta);
            __m512 d = _mm512_add_ps(cdf, _mm512_mul_ps(xi, pdf));
            _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, g + i), d));
        }
#elif defined(TG_AVX2)
        const __m256 alpha = _mm256_set1_ps(GELU_F32_ALPHA), beta = _mm256_set1_ps(GELU_F32_BETA);
        const __m256 half = _mm256_set1_ps(0.5f), mhalf = _mm256_set1_ps(-0.5f), one = _mm256_set1_ps(1.0f);
        for (int64_t i = lo; i < hi; i += 8) {
            const int full = hi - i >= 8;
            __m256i m = tg_mask8(hi - i);
            __m256 xi = full ? _mm256_loadu_ps(x + i) : _mm256_maskload_ps(x + i, m);
            __m256 gi = full ? _mm256_loadu_ps(g + i) : _mm256_maskload_ps(g + i, m);
            __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, tg_erf8(_mm256_mul_ps(xi, alpha))));
            __m256 pdf = _mm256_mul_ps(tg_exp8(_mm256_mul_ps(_mm256_mul_ps(mhalf, xi), xi)), beta);
            __m256 y = _mm256_mul_ps(gi, _mm256_add_ps(cdf, _mm256_mul_ps(xi, pdf)));
            if (full) _mm256_storeu_ps(o + i, y);
            else _mm256_maskstore_ps(o + i, m, y);
        }
#else
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            float xi = x[i];
            float cdf = 0.5f * (1.0f + tg_erff_inline(xi * GELU_F32_ALPHA));
            float pdf = tg_expf_inline(-0.5f * xi * xi) * GELU_F32_BETA;
            o[i] = g[i] * (cdf + xi * pdf);
        }
#endif
    } else {
        const double *x = (const double *)a->x, *g = (const double *)a->g;
        double *o = (double *)a->out;
        const double beta = 1.0 / sqrt(2.0 * M_PI);
        for (int64_t i = lo; i < hi; i++) {
            double xi = x[i];
            double cdf = 0.5 * (1.0 + erf(xi * M_SQRT1_2));
            o[i] = g[i] * (cdf + xi * (exp(-0.5 * xi * xi) * beta));
        }
    }
}

int tg_gelu(int dt, int64_t n, const void *x, int64_t xoff, void *out) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    gelu_t a = {dt, (const char *)x + xoff * TG_ITEMSIZE[dt], NULL, out};
    tg_parallel_for(n, tg_threads_for(n, 1), 64, gelu_range, &a);
    return ERR_OK;
}

int tg_gelu_backward(int dt, int64_t n, const void *g, int64_t goff, const void *x, int64_t xoff, void *out) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    int64_t isz = TG_ITEMSIZE[dt];
    gelu_t a = {dt, (const char *)x + xoff * isz, (const char *)g + goff * isz, out};
    tg_parallel_for(n, tg_threads_for(n, 1), 64, gelu_bw_range, &a);
    return ERR_OK;
}

/* ---------------------------------------------------------------- layer norm */
/* Per row of x (rows, cols): mean = sum(x) / cols, c = x - mean, var = sum(c * c) / cols (biased),
   rstd = 1 / sqrt(var + eps), out = c * rstd, then * w and + b where given (each (cols,)). Sums in
   double (in vector lanes, so in another order than a serial loop: equal to it within double
   rounding), mean, var, rstd rounded to T, every other step in T: the core's composition in one pass.
   mean and rstd (rows,) are kept for the backward. */
typedef struct { int dt; int64_t cols; double eps; const char *x, *w, *b, *g; char *out, *mean, *rstd, *dw, *db;
                 int64_t rows; double *acc; } ln_t;

#define LN_ROWS(T, SQRT) do { \
    const T *w = (const T *)a->w, *b = (const T *)a->b; \
    for (int64_t r = lo; r < hi; r++) { \
        const T *x = (const T *)a->x + r * cols; \
        T *o = (T *)a->out + r * cols; \
        double acc = 0.0; \
        _Pragma("omp simd reduction(+:acc)") for (int64_t j = 0; j < cols; j++) acc += (double)x[j]; \
        T mean = (T)(acc / (double)cols); \
        double sq = 0.0; \
        _Pragma("omp simd reduction(+:sq)") for (int64_t j = 0; j < cols; j++) { T c = x[j] - mean; sq += (double)(c * c); } \
        T var = (T)(sq / (double)cols); \
        T rstd = (T)1 / SQRT(var + (T)a->eps); \
        ((T *)a->mean)[r] = mean; \
        ((T *)a->rstd)[r] = rstd; \
        _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) { \
            T y = (x[j] - mean) * rstd; \
            if (w) y = y * w[j]; \
            if (b) y = y + b[j]; \
            o[j] = y; \
        } \
    } \
} while (0)

/* rows per group in the vector row code below */
#define LN_GROUP 8

#ifdef __AVX512F__
/* the sum of 16 floats (lanes of m) added to two double accumulators */
static inline void ln_acc16(__m512 v, __m512d *s0, __m512d *s1) {
    *s0 = _mm512_add_pd(*s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    *s1 = _mm512_add_pd(*s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

/* the double sum of a row of n floats (of (x - mean)^2 when sq), in 4 lane groups */
static inline double ln_sum_f32(const float *x, int64_t n, float mean, int sq) {
    const __m512 mv = _mm512_set1_ps(mean);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), s2 = _mm512_setzero_pd(), s3 = _mm512_setzero_pd();
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512 v0 = _mm512_loadu_ps(x + j), v1 = _mm512_loadu_ps(x + j + 16);
        if (sq) {
            v0 = _mm512_sub_ps(v0, mv);
            v1 = _mm512_sub_ps(v1, mv);
            v0 = _mm512_mul_ps(v0, v0);
            v1 = _mm512_mul_ps(v1, v1);
        }
        ln_acc16(v0, &s0, &s1);
        ln_acc16(v1, &s2, &s3);
    }
    for (; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : tg_mask16(n - j);
        __m512 v = _mm512_maskz_loadu_ps(m, x + j);
        if (sq) {
            v = _mm512_maskz_sub_ps(m, v, mv);
            v = _mm512_mul_ps(v, v);
        }
        ln_acc16(v, &s0, &s1);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s2), _mm512_add_pd(s1, s3)));
}

/* LN_ROWS(float) with 16 lanes: the same per-element roundings, the double sums in 4 lane groups.
   Rows go in groups of 8, each step for the whole group (means, then rstds, then outputs), so that
   the rows' chains of dependent sums, divisions and square roots overlap. */
static void ln_rows_f32(const ln_t *a, int64_t lo, int64_t hi) {
    int64_t cols = a->cols;
    const float *w = (const float *)a->w, *b = (const float *)a->b;
    float *mean = (float *)a->mean, *rstd = (float *)a->rstd;
    for (int64_t r0 = lo; r0 < hi; r0 += LN_GROUP) {
        int64_t r1 = r0 + LN_GROUP < hi ? r0 + LN_GROUP : hi;
        for (int64_t r = r0; r < r1; r++)
            mean[r] = (float)(ln_sum_f32((const float *)a->x + r * cols, cols, 0.0f, 0) / (double)cols);
        for (int64_t r = r0; r < r1; r++) {
            float var = (float)(ln_sum_f32((const float *)a->x + r * cols, cols, mean[r], 1) / (double)cols);
            rstd[r] = 1.0f / sqrtf(var + (float)a->eps);
        }
        for (int64_t r = r0; r < r1; r++) {
            const float *x = (const float *)a->x + r * cols;
            float *o = (float *)a->out + r * cols;
            const __m512 mv = _mm512_set1_ps(mean[r]), rv = _mm512_set1_ps(rstd[r]);
            for (int64_t j = 0; j < cols; j += 16) {
                __mmask16 m = cols - j >= 16 ? (__mmask16)0xffff : tg_mask16(cols - j);
                __m512 y = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), mv), rv);
                if (w) y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, w + j));
                if (b) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, b + j));
                _mm512_mask_storeu_ps(o + j, m, y);
            }
        }
    }
}
#endif

#ifdef TG_AVX2
/* The 8-lane AVX2+FMA versions of the row code above: the same per-element roundings, the double
   sums in 4 lane groups of 4; full vectors load and store plainly, a row's tail through a mask. */
static inline __m256 ln_load8(const float *p, int64_t left) {
    return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tg_mask8(left));
}

static inline void ln_store8(float *p, int64_t left, __m256 v) {
    if (left >= 8) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, tg_mask8(left), v);
}

/* v with the lanes from `left` on zeroed */
static inline __m256 ln_keep8(__m256 v, int64_t left) {
    return left >= 8 ? v : _mm256_and_ps(v, _mm256_castsi256_ps(tg_mask8(left)));
}

/* the sum of 8 floats (lanes of v) added to two double accumulators */
static inline void ln_acc8(__m256 v, __m256d *s0, __m256d *s1) {
    *s0 = _mm256_add_pd(*s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    *s1 = _mm256_add_pd(*s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline double ln_hsum4(__m256d v) {
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

/* the double sum of a row of n floats (of (x - mean)^2 when sq), in 4 lane groups */
static inline double ln_sum_f32(const float *x, int64_t n, float mean, int sq) {
    const __m256 mv = _mm256_set1_ps(mean);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 v0 = _mm256_loadu_ps(x + j), v1 = _mm256_loadu_ps(x + j + 8);
        if (sq) {
            v0 = _mm256_sub_ps(v0, mv);
            v1 = _mm256_sub_ps(v1, mv);
            v0 = _mm256_mul_ps(v0, v0);
            v1 = _mm256_mul_ps(v1, v1);
        }
        ln_acc8(v0, &s0, &s1);
        ln_acc8(v1, &s2, &s3);
    }
    for (; j < n; j += 8) {
        __m256 v = ln_load8(x + j, n - j);
        if (sq) {
            v = ln_keep8(_mm256_sub_ps(v, mv), n - j);
            v = _mm256_mul_ps(v, v);
        }
        ln_acc8(v, &s0, &s1);
    }
    return ln_hsum4(_mm256_add_pd(_mm256_add_pd(s0, s2), _mm256_add_pd(s1, s3)));
}

/* LN_ROWS(float) on 8 lanes, rows in groups as the AVX-512 version */
static void ln_rows_f32(const ln_t *a, int64_t lo, int64_t hi) {
    int64_t cols = a->cols;
    const float *w = (const float *)a->w, *b = (const float *)a->b;
    float *mean = (float *)a->mean, *rstd = (float *)a->rstd;
    for (int64_t r0 = lo; r0 < hi; r0 += LN_GROUP) {
        int64_t r1 = r0 + LN_GROUP < hi ? r0 + LN_GROUP : hi;
        for (int64_t r = r0; r < r1; r++)
            mean[r] = (float)(ln_sum_f32((const float *)a->x + r * cols, cols, 0.0f, 0) / (double)cols);
        for (int64_t r = r0; r < r1; r++) {
            float var = (float)(ln_sum_f32((const float *)a->x + r * cols, cols, mean[r], 1) / (double)cols);
            rstd[r] = 1.0f / sqrtf(var + (float)a->eps);
        }
        for (int64_t r = r0; r < r1; r++) {
            const float *x = (const float *)a->x + r * cols;
            float *o = (float *)a->out + r * cols;
            const __m256 mv = _mm256_set1_ps(mean[r]), rv = _mm256_set1_ps(rstd[r]);
            for (int64_t j = 0; j < cols; j += 8) {
                __m256 y = _mm256_mul_ps(_mm256_sub_ps(ln_load8(x + j, cols - j), mv), rv);
                if (w) y = _mm256_mul_ps(y, ln_load8(w + j, cols - j));
                if (b) y = _mm256_add_ps(y, ln_load8(b + j, cols - j));
                ln_store8(o + j, cols - j, y);
            }
        }
    }
}
#endif

static void ln_rows(void *ctx, int64_t lo, int64_t hi) {
    const ln_t *a = ctx;
    int64_t cols = a->cols;
#if defined(__AVX512F__) || defined(TG_AVX2)
    if (a->dt == DT_F32) { ln_rows_f32(a, lo, hi); return; }
#endif
    if (a->dt == DT_F32) LN_ROWS(float, sqrtf);
    else LN_ROWS(double, sqrt);
}

int tg_layer_norm(int dt, int64_t rows, int64_t cols, const void *x, int64_t xoff, const void *w, int64_t woff,
                  const void *b, int64_t boff, double eps, void *out, void *mean, void *rstd) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    int64_t isz = TG_ITEMSIZE[dt];
    ln_t a = {dt, cols, eps, (const char *)x + xoff * isz, w ? (const char *)w + woff * isz : NULL,
              b ? (const char *)b + boff * isz : NULL, NULL, out, mean, rstd, NULL, NULL, rows};
    int nt = tg_threads_for(rows * cols, 1);
    tg_parallel_for(rows, nt < rows ? nt : (int)rows, 1, ln_rows, &a);
    return ERR_OK;
}

/* Backward, with xhat = (x - mean) * rstd and d = g * w (g without a weight), per row:
   dx = rstd * (d - sum(d) / cols - xhat * (sum(d * xhat) / cols)), sums in double; and, when dw / db
   are given, dw = sum over rows of g * xhat, db = sum over rows of g (column sums in double). */
#define LN_BW_ROWS(T) do { \
    const T *w = (const T *)a->w; \
    for (int64_t r = lo; r < hi; r++) { \
        const T *x = (const T *)a->x + r * cols, *g = (const T *)a->g + r * cols; \
        T *o = (T *)a->out + r * cols; \
        T mean = ((const T *)a->mean)[r], rstd = ((const T *)a->rstd)[r]; \
        double s1 = 0.0, s2 = 0.0; \
        _Pragma("omp simd reduction(+:s1, s2)") for (int64_t j = 0; j < cols; j++) { \
            T xh = (x[j] - mean) * rstd, d = w ? g[j] * w[j] : g[j]; \
            s1 += (double)d; \
            s2 += (double)(d * xh); \
        } \
        T m1 = (T)(s1 / (double)cols), m2 = (T)(s2 / (double)cols); \
        _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) { \
            T xh = (x[j] - mean) * rstd, d = w ? g[j] * w[j] : g[j]; \
            o[j] = rstd * (d - m1 - xh * m2); \
        } \
    } \
} while (0)

#ifdef __AVX512F__
/* LN_BW_ROWS(float) with 16 lanes (same per-element roundings, double sums in lane groups), rows
   in groups as ln_rows_f32 */
static void ln_bw_rows_f32(const ln_t *a, int64_t lo, int64_t hi) {
    int64_t cols = a->cols;
    const float *w = (const float *)a->w;
    float m1s[LN_GROUP], m2s[LN_GROUP];
    for (int64_t r0 = lo; r0 < hi; r0 += LN_GROUP) {
        int64_t r1 = r0 + LN_GROUP < hi ? r0 + LN_GROUP : hi;
        for (int64_t r = r0; r < r1; r++) {
            const float *x = (const float *)a->x + r * cols, *g = (const float *)a->g + r * cols;
            const __m512 mv = _mm512_set1_ps(((const float *)a->mean)[r]), rv = _mm512_set1_ps(((const float *)a->rstd)[r]);
            __m512d s10 = _mm512_setzero_pd(), s11 = _mm512_setzero_pd(), s20 = _mm512_setzero_pd(), s21 = _mm512_setzero_pd();
            for (int64_t j = 0; j < cols; j += 16) {
                __mmask16 m = cols - j >= 16 ? (__mmask16)0xffff : tg_mask16(cols - j);
                __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), mv), rv);
                __m512 d = _mm512_maskz_loadu_ps(m, g + j);
                if (w) d = _mm512_mul_ps(d, _mm512_maskz_loadu_ps(m, w + j));
                ln_acc16(d, &s10, &s11);
                ln_acc16(_mm512_maskz_mul_ps(m, d, xh), &s20, &s21);
            }
            m1s[r - r0] = (float)(_mm512_reduce_add_pd(_mm512_add_pd(s10, s11)) / (double)cols);
            m2s[r - r0] = (float)(_mm512_reduce_add_pd(_mm512_add_pd(s20, s21)) / (double)cols);
        }
        for (int64_t r = r0; r < r1; r++) {
            const float *x = (const float *)a->x + r * cols, *g = (const float *)a->g + r * cols;
            float *o = (float *)a->out + r * cols;
            const __m512 mv = _mm512_set1_ps(((const float *)a->mean)[r]), rv = _mm512_set1_ps(((const float *)a->rstd)[r]);
            const __m512 m1 = _mm512_set1_ps(m1s[r - r0]), m2 = _mm512_set1_ps(m2s[r - r0]);
            for (int64_t j = 0; j < cols; j += 16) {
                __mmask16 m = cols - j >= 16 ? (__mmask16)0xffff : tg_mask16(cols - j);
                __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), mv), rv);
                __m512 d = _mm512_maskz_loadu_ps(m, g + j);
                if (w) d = _mm512_mul_ps(d, _mm512_maskz_loadu_ps(m, w + j));
                __m512 y = _mm512_mul_ps(rv, _mm512_sub_ps(_mm512_sub_ps(d, m1), _mm512_mul_ps(xh, m2)));
                _mm512_mask_storeu_ps(o + j, m, y);
            }
        }
    }
}

/* LN_BW_COLS(float) for columns [lo, hi): up to 64 columns at a time, their dw and db sums in 16
   double registers over all the rows */
static void ln_bw_cols_f32(const ln_t *a, int64_t lo, int64_t hi) {
    int64_t cols = a->cols;
    for (int64_t c0 = lo; c0 < hi; c0 += 64) {
        int64_t nc = hi - c0 < 64 ? hi - c0 : 64;
        __m512d dw[8], db[8];
        for (int q = 0; q < 8; q++) { dw[q] = _mm512_setzero_pd(); db[q] = _mm512_setzero_pd(); }
        for (int64_t r = 0; r < a->rows; r++) {
            const float *x = (const float *)a->x + r * cols + c0, *g = (const float *)a->g + r * cols + c0;
            const __m512 mv = _mm512_set1_ps(((const float *)a->mean)[r]), rv = _mm512_set1_ps(((const float *)a->rstd)[r]);
            for (int q = 0; q < 4; q++) {
                if (16 * q >= nc) break;
                __mmask16 m = nc - 16 * q >= 16 ? (__mmask16)0xffff : tg_mask16(nc - 16 * q);
                __m512 gv = _mm512_maskz_loadu_ps(m, g + 16 * q);
                __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + 16 * q), mv), rv);
                ln_acc16(_mm512_mul_ps(gv, xh), &dw[2 * q], &dw[2 * q + 1]);
                ln_acc16(gv, &db[2 * q], &db[2 * q + 1]);
            }
        }
        double sw[64], sb[64];
        for (int q = 0; q < 8; q++) { _mm512_storeu_pd(sw + 8 * q, dw[q]); _mm512_storeu_pd(sb + 8 * q, db[q]); }
        for (int64_t j = 0; j < nc; j++) {
            if (a->dw) ((float *)a->dw)[c0 + j] = (float)sw[j];
            if (a->db) ((float *)a->db)[c0 + j] = (float)sb[j];
        }
    }
}
#endif

#ifdef TG_AVX2
/* LN_BW_ROWS(float) on 8 lanes (as ln_bw_rows_f32 for AVX-512) */
static void ln_bw_rows_f32(const ln_t *a, int64_t lo, int64_t hi) {
    int64_t cols = a->cols;
    const float *w = (const float *)a->w;
    float m1s[LN_GROUP], m2s[LN_GROUP];
    for (int64_t r0 = lo; r0 < hi; r0 += LN_GROUP) {
        int64_t r1 = r0 + LN_GROUP < hi ? r0 + LN_GROUP : hi;
        for (int64_t r = r0; r < r1; r++) {
            const float *x = (const float *)a->x + r * cols, *g = (const float *)a->g + r * cols;
            const __m256 mv = _mm256_set1_ps(((const float *)a->mean)[r]), rv = _mm256_set1_ps(((const float *)a->rstd)[r]);
            __m256d s10 = _mm256_setzero_pd(), s11 = _mm256_setzero_pd(), s20 = _mm256_setzero_pd(), s21 = _mm256_setzero_pd();
            for (int64_t j = 0; j < cols; j += 8) {
                __m256 xh = _mm256_mul_ps(_mm256_sub_ps(ln_load8(x + j, cols - j), mv), rv);
                __m256 d = ln_load8(g + j, cols - j);
                if (w) d = _mm256_mul_ps(d, ln_load8(w + j, cols - j));
                ln_acc8(d, &s10, &s11);
                ln_acc8(ln_keep8(_mm256_mul_ps(d, xh), cols - j), &s20, &s21);
            }
            m1s[r - r0] = (float)(ln_hsum4(_mm256_add_pd(s10, s11)) / (double)cols);
            m2s[r - r0] = (float)(ln_hsum4(_mm256_add_pd(s20, s21)) / (double)cols);
        }
        for (int64_t r = r0; r < r1; r++) {
            const float *x = (const float *)a->x + r * cols, *g = (const float *)a->g + r * cols;
            float *o = (float *)a->out + r * cols;
            const __m256 mv = _mm256_set1_ps(((const float *)a->mean)[r]), rv = _mm256_set1_ps(((const float *)a->rstd)[r]);
            const __m256 m1 = _mm256_set1_ps(m1s[r - r0]), m2 = _mm256_set1_ps(m2s[r - r0]);
            for (int64_t j = 0; j < cols; j += 8) {
                __m256 xh = _mm256_mul_ps(_mm256_sub_ps(ln_load8(x + j, cols - j), mv), rv);
                __m256 d = ln_load8(g + j, cols - j);
                if (w) d = _mm256_mul_ps(d, ln_load8(w + j, cols - j));
                ln_store8(o + j, cols - j, _mm256_mul_ps(rv, _mm256_sub_ps(_mm256_sub_ps(d, m1), _mm256_mul_ps(xh, m2))));
            }
        }
    }
}

/* LN_BW_COLS(float) for columns [lo, hi): 16 columns at a time (the 16 ymm registers hold their dw
   and db sums in 8, and the operands), over all the rows */
static void ln_bw_cols_f32(const ln_t *a, int64_t lo, int64_t hi) {
    int64_t cols = a->cols;
    for (int64_t c0 = lo; c0 < hi; c0 += 16) {
        int64_t nc = hi - c0 < 16 ? hi - c0 : 16;
        __m256d dw[4], db[4];
        for (int q = 0; q < 4; q++) { dw[q] = _mm256_setzero_pd(); db[q] = _mm256_setzero_pd(); }
        for (int64_t r = 0; r < a->rows; r++) {
            const float *x = (const float *)a->x + r * cols + c0, *g = (const float *)a->g + r * cols + c0;
            const __m256 mv = _mm256_set1_ps(((const float *)a->mean)[r]), rv = _mm256_set1_ps(((const float *)a->rstd)[r]);
            for (int q = 0; q < 2; q++) {
                if (8 * q >= nc) break;
                __m256 gv = ln_load8(g + 8 * q, nc - 8 * q);
                __m256 xh = _mm256_mul_ps(_mm256_sub_ps(ln_load8(x + 8 * q, nc - 8 * q), mv), rv);
                ln_acc8(_mm256_mul_ps(gv, xh), &dw[2 * q], &dw[2 * q + 1]);
                ln_acc8(gv, &db[2 * q], &db[2 * q + 1]);
            }
        }
        double sw[16], sb[16];
        for (int q = 0; q < 4; q++) { _mm256_storeu_pd(sw + 4 * q, dw[q]); _mm256_storeu_pd(sb + 4 * q, db[q]); }
        for (int64_t j = 0; j < nc; j++) {
            if (a->dw) ((float *)a->dw)[c0 + j] = (float)sw[j];
            if (a->db) ((float *)a->db)[c0 + j] = (float)sb[j];
        }
    }
}
#endif

static void ln_bw_rows(void *ctx, int64_t lo, int64_t hi) {
    const ln_t *a = ctx;
    int64_t cols = a->cols;
#if defined(__AVX512F__) || defined(TG_AVX2)
    if (a->dt == DT_F32) { ln_bw_rows_f32(a, lo, hi); return; }
#endif
    if (a->dt == DT_F32) LN_BW_ROWS(float);
    else LN_BW_ROWS(double);
}

/* dw / db for the columns [lo, hi), accumulated in double (a->acc: cols for dw, then cols for db) over every row */
#define LN_BW_COLS(T) do { \
    for (int64_t r = 0; r < a->rows; r++) { \
        const T *x = (const T *)a->x + r * cols, *g = (const T *)a->g + r * cols; \
        T mean = ((const T *)a->mean)[r], rstd = ((const T *)a->rstd)[r]; \
        for (int64_t j = lo; j < hi; j++) { \
            T xh = (x[j] - mean) * rstd; \
            acc[j] += (double)(g[j] * xh); \
            acc[cols + j] += (double)g[j]; \
        } \
    } \
    for (int64_t j = lo; j < hi; j++) { \
        if (a->dw) ((T *)a->dw)[j] = (T)acc[j]; \
        if (a->db) ((T *)a->db)[j] = (T)acc[cols + j]; \
    } \
} while (0)

static void ln_bw_cols(void *ctx, int64_t lo, int64_t hi) {
    const ln_t *a = ctx;
    int64_t cols = a->cols;
    double *acc = a->acc;
#if defined(__AVX512F__) || defined(TG_AVX2)
    if (a->dt == DT_F32) { ln_bw_cols_f32(a, lo, hi); return; }
#endif
    if (a->dt == DT_F32) LN_BW_COLS(float);
    else LN_BW_COLS(double);
}

int tg_layer_norm_backward(int dt, int64_t rows, int64_t cols, const void *g, int64_t goff, const void *x, int64_t xoff,
                           const void *mean, const void *rstd, const void *w, int64_t woff, void *dx, void *dw, void *db) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    int64_t isz = TG_ITEMSIZE[dt];
    ln_t a = {dt, cols, 0.0, (const char *)x + xoff * isz, w ? (const char *)w + woff * isz : NULL, NULL,
              (const char *)g + goff * isz, dx, (char *)mean, (char *)rstd, dw, db, rows, NULL};
    int nt = tg_threads_for(rows * cols, 1);
    if (dw || db) {
        a.acc = calloc((size_t)(2 * cols), sizeof(double));
        if (!a.acc) return ERR_MEM;
    }
    if (dx) tg_parallel_for(rows, nt < rows ? nt : (int)rows, 1, ln_bw_rows, &a);
    if (a.acc) {
        tg_parallel_for(cols, nt < cols ? nt : (int)cols, 16, ln_bw_cols, &a);
        free(a.acc);
    }
    return ERR_OK;
}
