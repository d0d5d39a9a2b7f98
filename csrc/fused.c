/* Optional fused kernels (protocol.py, "Optional fused kernels"): each does in one pass what the
   core would otherwise compose from several primitives, each with its own temporary. Every
   operand is a contiguous run of elements, checked against its buffer in Python first. */
#include "tg.h"
#include "vmath.h"

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
