/* add_into: dst[dst view] += src[src view] where the destination view may overlap itself (the sum
   of sliding windows: col2im, the backward of convolution and pooling). Rows are walked one after
   another, so contributions to one element accumulate; dim 0 is split across threads only when
   the caller says its sub-views are disjoint in dst. */
#include "tg.h"

typedef struct {
    int dt, nd;
    const int64_t *shape, *ds, *ss;
    char *dst;
    const char *src;
    int64_t doff, soff;
} addinto_t;

#define ADD_ROW(T) do { \
        T *d = (T *)a->dst; const T *s = (const T *)a->src; \
        if (dsl == 1 && ssl == 1) { for (int64_t i = 0; i < n; i++) d[pd + i] += s[ps + i]; } \
        else { for (int64_t i = 0; i < n; i++) d[pd + i * dsl] += s[ps + i * ssl]; } \
    } while (0)

/* the serial walk of dims lo..nd-1 from element offsets (pd, ps) */
static void add_walk(const addinto_t *a, int lo, int64_t pd, int64_t ps) {
    int nd = a->nd;
    int64_t n = a->shape[nd - 1], dsl = a->ds[nd - 1], ssl = a->ss[nd - 1], rows = 1;
    int64_t idx[TG_MAXDIM];
    for (int d = lo; d < nd - 1; d++) { rows *= a->shape[d]; idx[d] = 0; }
    for (int64_t r = 0; r < rows; r++) {
        if (a->dt == DT_F32) ADD_ROW(float);
        else if (a->dt == DT_F64) ADD_ROW(double);
        else {
            int64_t *d = (int64_t *)a->dst; const int64_t *s = (const int64_t *)a->src;
            for (int64_t i = 0; i < n; i++)  /* wrapping int64 add, as the other int kernels */
                d[pd + i * dsl] = (int64_t)((uint64_t)d[pd + i * dsl] + (uint64_t)s[ps + i * ssl]);
        }
        for (int d = nd - 2; d >= lo; d--) {
            pd += a->ds[d]; ps += a->ss[d];
            if (++idx[d] < a->shape[d]) break;
            pd -= a->shape[d] * a->ds[d]; ps -= a->shape[d] * a->ss[d]; idx[d] = 0;
        }
    }
}

static void add_dim0(void *ctx, int64_t lo, int64_t hi) {
    const addinto_t *a = ctx;
    for (int64_t i = lo; i < hi; i++) add_walk(a, 1, a->doff + i * a->ds[0], a->soff + i * a->ss[0]);
}

int tg_add_into(int dt, int nd, const int64_t *geo, void *dst, int64_t doff, const void *src, int64_t soff,
                int par) {
    if (dt != DT_F32 && dt != DT_F64 && dt != DT_I64) return ERR_OP;
    if (nd < 1 || nd > TG_MAXDIM) return ERR_DIM;
    addinto_t a = {dt, nd, geo, geo + nd, geo + 2 * nd, dst, src, doff, soff};
    int64_t total = 1;
    for (int d = 0; d < nd; d++) total *= geo[d];
    if (total == 0) return ERR_OK;
    int nt = par && nd >= 2 ? tg_threads_for(total, 0) : 1;
    if (nt > 1) tg_parallel_for(geo[0], nt < geo[0] ? nt : (int)geo[0], 1, add_dim0, &a);
    else add_walk(&a, 0, doff, soff);
    return ERR_OK;
}

/* im2col of a 2-d convolution: out[(c*KH + i)*KW + j][n*OH*OW + oh*OW + ow] =
   x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], or 0 where that falls in the padding.
   geo: N C H W, x strides (4), KH KW, stride (2), dilation (2), pad before (2), OH OW. */
typedef struct { int dt; const int64_t *g; const char *x; int64_t xoff; char *out; } im2col_t;

#define IM2COL_ROW(T) do { \
        const T *xs = (const T *)a->x; T *o = (T *)a->out + (q * n_ + n) * oh_ * ow_; \
        for (int64_t oh = 0; oh < oh_; oh++, o += ow_) { \
            int64_t ih = oh * g[10] - g[14] + i * g[12]; \
            if (ih < 0 || ih >= g[2]) { for (int64_t ow = 0; ow < ow_; ow++) o[ow] = 0; continue; } \
            const T *row = xs + a->xoff + n * g[4] + c * g[5] + ih * g[6]; \
            int64_t lo = 0, hi = ow_, base = j * g[13] - g[15]; \
            while (lo < ow_ && base + lo * g[11] < 0) o[lo++] = 0; \
            while (hi > lo && base + (hi - 1) * g[11] >= g[3]) { hi--; o[hi] = 0; } \
            if (g[7] == 1 && g[11] == 1) { for (int64_t ow = lo; ow < hi; ow++) o[ow] = row[base + ow]; } \
            else { for (int64_t ow = lo; ow < hi; ow++) o[ow] = row[(base + ow * g[11]) * g[7]]; } \
        } \
    } while (0)

static void im2col_units(void *ctx, int64_t u0, int64_t u1) {
    const im2col_t *a = ctx;
    const int64_t *g = a->g;
    int64_t n_ = g[0], oh_ = g[16], ow_ = g[17], kk = g[8] * g[9];
    for (int64_t u = u0; u < u1; u++) {  /* unit u: row q = (c, i, j) of the columns, sample n */
        int64_t q = u / n_, n = u % n_, c = q / kk, i = (q % kk) / g[9], j = q % g[9];
        if (a->dt == DT_F32) IM2COL_ROW(float);
        else IM2COL_ROW(double);
    }
}

int tg_im2col(int dt, const int64_t *geo, const void *x, int64_t xoff, void *out) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    im2col_t a = {dt, geo, x, xoff, out};
    int64_t units = geo[1] * geo[8] * geo[9] * geo[0];
    int nt = tg_threads_for(units * geo[16] * geo[17], 0);
    tg_parallel_for(units, nt, 1, im2col_units, &a);
    return ERR_OK;
}

/* ---- fused 2-d convolution: per sample, im2col into a scratch buffer of (C*KH*KW, OH*OW) and a
   serial GEMM that writes the sample's (OC, OH*OW) block of the NCHW result in place; samples
   are split across the pool's threads, each with its own scratch. geo as tg_im2col's with OC at
   [18]; the weight is a contiguous (OC, C*KH*KW) block, results and g contiguous NCHW. */
#include <cblas.h>
#include <stdlib.h>

#define DEF_IM2COL_SAMPLE(T, NAME) \
static void NAME(const int64_t *g, const T *xs, int64_t xoff, int64_t n, T *restrict cols, int64_t ld) { \
    const int64_t H = g[2], W = g[3], sh = g[6], sw = g[7], KW = g[9], st_h = g[10], st_w = g[11]; \
    const int64_t dh = g[12], dw = g[13], ph = g[14], pw = g[15], oh_ = g[16], ow_ = g[17], kk = g[8] * KW; \
    for (int64_t q = 0; q < g[1] * kk; q++) { \
        int64_t c = q / kk, i = (q % kk) / KW, j = q % KW; \
        /* the output columns whose input column is inside the image: [lo, hi), the same for every row */ \
        int64_t base = j * dw - pw, lo = 0, hi = ow_; \
        while (lo < ow_ && base + lo * st_w < 0) lo++; \
        while (hi > lo && base + (hi - 1) * st_w >= W) hi--; \
        const T *plane = xs + xoff + n * g[4] + c * g[5]; \
        T *o = cols + q * ld; \
        for (int64_t oh = 0; oh < oh_; oh++, o += ow_) { \
            int64_t ih = oh * st_h - ph + i * dh; \
            if (ih < 0 || ih >= H) { for (int64_t ow = 0; ow < ow_; ow++) o[ow] = 0; continue; } \
            const T *restrict row = plane + ih * sh; \
            for (int64_t ow = 0; ow < lo; ow++) o[ow] = 0; \
            if (sw == 1 && st_w == 1) { const T *restrict r = row + base; for (int64_t ow = lo; ow < hi; ow++) o[ow] = r[ow]; } \
            else { for (int64_t ow = lo; ow < hi; ow++) o[ow] = row[(base + ow * st_w) * sw]; } \
            for (int64_t ow = hi; ow < ow_; ow++) o[ow] = 0; \
        } \
    } \
}
DEF_IM2COL_SAMPLE(float, im2col_sample_f32)
DEF_IM2COL_SAMPLE(double, im2col_sample_f64)

/* the adjoint: gx (one contiguous (C, H, W) sample) += the columns' entries at their positions
   (row q of the columns at cols + q * ld) */
#define DEF_COL2IM_SAMPLE(T, NAME) \
static void NAME(const int64_t *g, const T *cols, int64_t ld, T *gx) { \
    int64_t oh_ = g[16], ow_ = g[17], kk = g[8] * g[9], rows = g[1] * kk, hw = g[2] * g[3]; \
    for (int64_t q = 0; q < rows; q++) { \
        int64_t c = q / kk, i = (q % kk) / g[9], j = q % g[9]; \
        const T *s = cols + q * ld; \
        for (int64_t oh = 0; oh < oh_; oh++, s += ow_) { \
            int64_t ih = oh * g[10] - g[14] + i * g[12]; \
            if (ih < 0 || ih >= g[2]) continue; \
            T *row = gx + c * hw + ih * g[3]; \
            int64_t lo = 0, hi = ow_, base = j * g[13] - g[15]; \
            while (lo < ow_ && base + lo * g[11] < 0) lo++; \
            while (hi > lo && base + (hi - 1) * g[11] >= g[3]) hi--; \
            if (g[11] == 1) { for (int64_t ow = lo; ow < hi; ow++) row[base + ow] += s[ow]; } \
            else { for (int64_t ow = lo; ow < hi; ow++) row[base + ow * g[11]] += s[ow]; } \
        } \
    } \
}
DEF_COL2IM_SAMPLE(float, col2im_sample_f32)
DEF_COL2IM_SAMPLE(double, col2im_sample_f64)

static void im2col_sample(int dt, const int64_t *g, const void *x, int64_t xoff, int64_t n, void *cols, int64_t ld) {
    if (dt == DT_F32) im2col_sample_f32(g, x, xoff, n, cols, ld);
    else im2col_sample_f64(g, x, xoff, n, cols, ld);
}

static void col2im_sample(int dt, const int64_t *g, const void *cols, int64_t ld, void *gx) {
    if (dt == DT_F32) col2im_sample_f32(g, cols, ld, gx);
    else col2im_sample_f64(g, cols, ld, gx);
}

/* C (ldc) = beta * C + op(A) op(B) on the calling thread: the own float32 GEMM where it is the
   faster one (gemm.c, beta 0), else one serial OpenBLAS call */
static void gemm_serial(int dt, int ta, int tb, int64_t m, int64_t n, int64_t k, const void *a, int64_t lda,
                        const void *b, int64_t ldb, int beta1, void *c, int64_t ldc) {
    if (dt == DT_F32 && !beta1 && tg_sgemm_own_ok(ta, tb, m, n, k)) {
        tg_sgemm_own(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, 1);
        return;
    }
    enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    if (dt == DT_F32)
        scipy_cblas_sgemm(CblasRowMajor, TA, TB, (blasint)m, (blasint)n, (blasint)k, 1.0f, a, (blasint)lda,
                          b, (blasint)ldb, beta1 ? 1.0f : 0.0f, c, (blasint)ldc);
    else
        scipy_cblas_dgemm(CblasRowMajor, TA, TB, (blasint)m, (blasint)n, (blasint)k, 1.0, a, (blasint)lda,
                          b, (blasint)ldb, beta1 ? 1.0 : 0.0, c, (blasint)ldc);
}

/* Per-thread scratch for the columns, kept between calls: a fresh malloc of these sizes is an
   mmap, and every call then paid its page faults. A slot above SCRATCH_KEEP bytes is given back
   after the call. */
#define SCRATCH_KEEP ((size_t)8 << 20)
static __thread char *tl_scr[1];
static __thread size_t tl_scap[1];

static char *scratch(int slot, size_t bytes) {
    if (tl_scap[slot] < bytes) {
        free(tl_scr[slot]);
        tl_scr[slot] = malloc(bytes);
        tl_scap[slot] = tl_scr[slot] ? bytes : 0;
    }
    return tl_scr[slot];
}

static void scratch_done(void) {
    if (tl_scap[0] > SCRATCH_KEEP) { free(tl_scr[0]); tl_scr[0] = NULL; tl_scap[0] = 0; }
}

typedef struct {
    int dt, err;
    const int64_t *g;
    const char *x, *w, *bias, *gy;
    int64_t xoff, woff, boff, goff, nchunks;
    char *out, *gx, *gw, *gb;
    const tg_direct_gx *dgx;  /* the input gradient through conv_direct.c, or NULL */
} convk_t;

static int conv_dims_ok(const int64_t *g) {
    int64_t ckk = g[1] * g[8] * g[9], l = g[16] * g[17];
    return ckk <= INT32_MAX && l <= INT32_MAX && g[18] <= INT32_MAX && ckk * l <= INT32_MAX && g[18] * l <= INT32_MAX;
}

/* o[r * l + i] += bias[r] for r < rows, i < l */
static void add_bias(int dt, char *o, int64_t rows, int64_t l, const char *bias) {
    for (int64_t r = 0; r < rows; r++) {
        if (dt == DT_F32) { float *d = (float *)o + r * l, v = ((const float *)bias)[r];
                            for (int64_t i = 0; i < l; i++) d[i] += v; }
        else { double *d = (double *)o + r * l, v = ((const double *)bias)[r];
               for (int64_t i = 0; i < l; i++) d[i] += v; }
    }
}

/* samples lo..hi, one at a time (measured: blocks of samples sharing one GEMM were slower here,
   their result then needing a copy to NCHW): im2col, one GEMM into the sample's (OC, L) block of
   the result, the bias added in cache */
static void conv_fwd_samples(void *ctx, int64_t lo, int64_t hi) {
    convk_t *a = ctx;
    const int64_t *g = a->g;
    int dt = a->dt;
    int64_t isz = TG_ITEMSIZE[dt], ckk = g[1] * g[8] * g[9], l = g[16] * g[17], oc = g[18];
    char *cols = scratch(0, (size_t)(ckk * l * isz));
    if (!cols) { a->err = ERR_MEM; return; }
    const char *bias = a->bias ? a->bias + a->boff * isz : NULL;
    for (int64_t n = lo; n < hi; n++) {
        im2col_sample(dt, g, a->x, a->xoff, n, cols, l);
        char *o = a->out + n * oc * l * isz;
        gemm_serial(dt, 0, 0, oc, l, ckk, a->w + a->woff * isz, ckk, cols, l, 0, o, l);
        if (bias) add_bias(dt, o, oc, l, bias);
    }
    scratch_done();
}

int tg_conv2d(int dt, const int64_t *geo, const void *x, int64_t xoff, const void *w, int64_t woff,
              const void *bias, int64_t boff, void *out) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    if (!conv_dims_ok(geo)) return ERR_DIM;
    int64_t n = geo[0];
    convk_t a = {dt, ERR_OK, geo, x, w, bias, NULL, xoff, woff, boff, 0, 0, out, NULL, NULL, NULL};
    if (n == 0) return ERR_OK;
    int nt = tg_threads_for(geo[18] * geo[1] * geo[8] * geo[9] * geo[16] * geo[17] * n, 1);
    if (nt > n) nt = (int)n;
    if (dt == DT_F32 && tg_conv_direct_ok(geo))
        return tg_conv2d_direct_f32(geo, x, xoff, (const float *)w + woff, bias ? (const float *)bias + boff : NULL,
                                    out, nt);
    if (nt > 1) tg_parallel_for(n, nt, 1, conv_fwd_samples, &a);
    else conv_fwd_samples(&a, 0, n);
    return a.err;
}

/* chunk t of the backward, the samples [t*N/nchunks, (t+1)*N/nchunks): its weight and bias
   gradients summed into gw / gb, the input gradient straight into gx (disjoint samples) */
static void conv_bwd_chunk(convk_t *a, int64_t t, char *gw, char *gb) {
    const int64_t *g = a->g;
    int dt = a->dt;
    int64_t isz = TG_ITEMSIZE[dt], ckk = g[1] * g[8] * g[9], l = g[16] * g[17], oc = g[18], nn = g[0];
    int64_t chw = g[1] * g[2] * g[3];
    int64_t s0 = t * nn / a->nchunks, s1 = (t + 1) * nn / a->nchunks;
    if (gw) memset(gw, 0, (size_t)(oc * ckk * isz));
    if (gb) memset(gb, 0, (size_t)(oc * isz));
    if (s1 == s0) return;
    char *cols = scratch(0, (size_t)(ckk * l * isz));
    if (!cols) { a->err = ERR_MEM; return; }
    for (int64_t n = s0; n < s1; n++) {
        const char *gy = a->gy + (a->goff + n * oc * l) * isz;
        if (gw) {
            im2col_sample(dt, g, a->x, a->xoff, n, cols, l);
            gemm_serial(dt, 0, 1, oc, ckk, l, gy, l, cols, l, n > s0, gw, ckk);
        }
        if (gb)
            for (int64_t r = 0; r < oc; r++) {
                if (dt == DT_F32) { const float *p = (const float *)gy + r * l; float s = 0;
                                    for (int64_t i = 0; i < l; i++) s += p[i];
                                    ((float *)gb)[r] += s; }
                else { const double *p = (const double *)gy + r * l; double s = 0;
                       for (int64_t i = 0; i < l; i++) s += p[i];
                       ((double *)gb)[r] += s; }
            }
        if (a->gx && a->dgx) {
            int e = tg_conv_direct_gx_sample(g, a->dgx, (const float *)gy, (float *)(a->gx + n * chw * isz));
            if (e != ERR_OK) a->err = e;
        } else if (a->gx) {
            char *gx = a->gx + n * chw * isz;
            gemm_serial(dt, 1, 0, ckk, l, oc, a->w + a->woff * isz, ckk, gy, l, 0, cols, l);
            memset(gx, 0, (size_t)(chw * isz));
            col2im_sample(dt, g, cols, l, gx);
        }
    }
    scratch_done();
}

typedef struct { convk_t *a; char *part; int64_t per; } convk_slots_t;

/* chunk t > 0 sums into slot t - 1 of the scratch (its weight gradient, then its bias gradient) */
static void conv_bwd_chunks(void *ctx, int64_t t0, int64_t t1) {
    const convk_slots_t *s = ctx;
    int64_t isz = TG_ITEMSIZE[s->a->dt], m = s->a->gw ? s->a->g[18] * s->a->g[1] * s->a->g[8] * s->a->g[9] : 0;
    for (int64_t t = t0; t < t1; t++) {
        char *slot = t ? s->part + (t - 1) * s->per * isz : NULL;
        char *gw = s->a->gw ? (t ? slot : s->a->gw) : NULL;
        char *gb = s->a->gb ? (t ? slot + m * isz : s->a->gb) : NULL;
        conv_bwd_chunk(s->a, t, gw, gb);
    }
}

static void add_vec(int dt, char *dst, const char *src, int64_t n) {
    if (dt == DT_F32) { float *d = (float *)dst; const float *s = (const float *)src; for (int64_t i = 0; i < n; i++) d[i] += s[i]; }
    else { double *d = (double *)dst; const double *s = (const double *)src; for (int64_t i = 0; i < n; i++) d[i] += s[i]; }
}

/* the gradients of tg_conv2d for g = d loss / d out: gx (contiguous NCHW), gw (OC, C*KH*KW) and
   gb (OC); NULL skips one. Each thread's chunk of samples sums its own weight and bias gradient
   (chunk 0 into gw/gb, the others into scratch), added up at the end in chunk order. */
int tg_conv2d_backward(int dt, const int64_t *geo, const void *x, int64_t xoff, const void *w, int64_t woff,
                       const void *gy, int64_t goff, void *gx, void *gw, void *gb) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    if (!conv_dims_ok(geo)) return ERR_DIM;
    int64_t n = geo[0], oc = geo[18], ckk = geo[1] * geo[8] * geo[9], isz = TG_ITEMSIZE[dt];
    int nt = tg_threads_for(oc * ckk * geo[16] * geo[17] * n, 1);
    if (nt > n) nt = n < 1 ? 1 : (int)n;
    int64_t per = (gw ? oc * ckk : 0) + (gb ? oc : 0);
    char *part = NULL;
    if (nt > 1 && per) {
        part = malloc((size_t)((nt - 1) * per * isz));
        if (!part) return ERR_MEM;
    }
    convk_t a = {dt, ERR_OK, geo, x, w, NULL, gy, xoff, woff, 0, goff, nt, NULL, gx, gw, gb, NULL};
    tg_direct_gx dgx = {NULL, NULL, 0, 0, 0, 0, 0, 0};
    if (gx && dt == DT_F32 && tg_conv_direct_ok(geo)) {
        int e = tg_conv_direct_gx_prepare(geo, (const float *)w + woff, &dgx);
        if (e == ERR_MEM) { free(part); return e; }
        if (e == ERR_OK) a.dgx = &dgx;
    }
    convk_slots_t sl = {&a, part, per};
    if (nt > 1) tg_parallel_for(nt, nt, 1, conv_bwd_chunks, &sl);
    else conv_bwd_chunks(&sl, 0, 1);
    if (part) {
        for (int t = 1; t < nt; t++) {
            const char *p = part + (t - 1) * per * isz;
            if (gw) add_vec(dt, gw, p, oc * ckk);
            if (gb) add_vec(dt, gb, p + (gw ? oc * ckk : 0) * isz, oc);
        }
        free(part);
    }
    tg_conv_direct_gx_free(&dgx);
    return a.err;
}

/* ---- max-pooling over 2-d windows in one pass: the max of each window's in-bounds entries and its
   flat index in the input plane (ih * W + iw), as PyTorch: a NaN wins over any number (the last
   NaN of the window), ties keep the first maximum, and a window of -inf (or INT64_MIN) names its
   first in-bounds entry. geo as tg_im2col's; out and idx contiguous (N, C, OH, OW). */
typedef struct { int dt; const int64_t *g; const char *x; int64_t xoff; char *out; int64_t *idx; } pool_t;

/* geometry in locals: the int64 index stores could otherwise alias geo and force reloads */
#define DEF_POOL_PLANES(T, NAME, INIT, NANS) \
static void NAME(const pool_t *a, int64_t lo, int64_t hi) { \
    const int64_t *g = a->g; \
    const int64_t C = g[1], H = g[2], W = g[3], sn = g[4], sc = g[5], sh = g[6], sw = g[7]; \
    const int64_t KH = g[8], KW = g[9], st_h = g[10], st_w = g[11], dh = g[12], dw = g[13]; \
    const int64_t ph = g[14], pw = g[15], OH = g[16], OW = g[17], l = OH * OW; \
    const T *restrict xs = (const T *)a->x + a->xoff; \
    for (int64_t p = lo; p < hi; p++) { \
        const T *restrict plane = xs + (p / C) * sn + (p % C) * sc; \
        T *restrict o = (T *)a->out + p * l; \
        int64_t *restrict ix = a->idx + p * l; \
        for (int64_t oh = 0; oh < OH; oh++) { \
            int64_t h0 = oh * st_h - ph, h1 = h0 + (KH - 1) * dh + 1; \
            if (h1 > H) h1 = H; \
            while (h0 < 0) h0 += dh; \
            for (int64_t ow = 0; ow < OW; ow++) { \
                int64_t w0 = ow * st_w - pw, w1 = w0 + (KW - 1) * dw + 1; \
                if (w1 > W) w1 = W; \
                while (w0 < 0) w0 += dw; \
                T m = INIT; int64_t mi = h0 * W + w0, ni = -1; \
                for (int64_t ih = h0; ih < h1; ih += dh) { \
                    const T *r = plane + ih * sh; \
                    for (int64_t iw = w0; iw < w1; iw += dw) { \
                        /* two select chains (max, last NaN) rather than one test of both, \
                           which gcc turns into branches that random data mispredicts */ \
                        T v = r[iw * sw]; int64_t q = ih * W + iw; \
                        mi = v > m ? q : mi; m = v > m ? v : m; \
                        if (NANS) ni = v != v ? q : ni; \
                    } \
                } \
                if (NANS && ni >= 0) { m = (T)NAN; mi = ni; } \
                o[oh * OW + ow] = m; ix[oh * OW + ow] = mi; \
            } \
        } \
    } \
}
DEF_POOL_PLANES(float, pool_planes_f32, -INFINITY, 1)
DEF_POOL_PLANES(double, pool_planes_f64, -INFINITY, 1)
DEF_POOL_PLANES(int64_t, pool_planes_i64, INT64_MIN, 0)

static void pool_planes(void *ctx, int64_t lo, int64_t hi) {
    const pool_t *a = ctx;
    if (a->dt == DT_F32) pool_planes_f32(a, lo, hi);
    else if (a->dt == DT_F64) pool_planes_f64(a, lo, hi);
    else pool_planes_i64(a, lo, hi);
}

int tg_max_pool2d(int dt, const int64_t *geo, const void *x, int64_t xoff, void *out, int64_t *idx) {
    if (dt != DT_F32 && dt != DT_F64 && dt != DT_I64) return ERR_OP;
    for (int d = 8; d < 14; d++) if (geo[d] < 1) return ERR_DIM;
    pool_t a = {dt, geo, x, xoff, out, idx};
    int64_t planes = geo[0] * geo[1];
    if (planes == 0 || geo[16] * geo[17] == 0) return ERR_OK;
    int nt = tg_threads_for(planes * geo[16] * geo[17] * geo[8] * geo[9], 0);
    if (nt > planes) nt = (int)planes;
    if (nt > 1) tg_parallel_for(planes, nt, 1, pool_planes, &a);
    else pool_planes(&a, 0, planes);
    return ERR_OK;
}

/* max-pooling's backward: out (planes, hw), zeroed here, gets out[p, idx[p, i]] += g[p, i] for the
   (planes, l) contiguous g and idx; an index outside [0, hw) is skipped and reported (ERR_INDEX) */
typedef struct { int dt, err; int64_t hw, l; const char *g; const int64_t *idx; char *out; } poolbw_t;

static void pool_bw_planes(void *ctx, int64_t lo, int64_t hi) {
    poolbw_t *a = ctx;
    int64_t hw = a->hw, l = a->l;
    for (int64_t p = lo; p < hi; p++) {
        const int64_t *ix = a->idx + p * l;
        if (a->dt == DT_F32) {
            float *o = (float *)a->out + p * hw; const float *gs = (const float *)a->g + p * l;
            memset(o, 0, (size_t)hw * sizeof(float));
            for (int64_t i = 0; i < l; i++) { if ((uint64_t)ix[i] < (uint64_t)hw) o[ix[i]] += gs[i]; else a->err = ERR_INDEX; }
        } else {
            double *o = (double *)a->out + p * hw; const double *gs = (const double *)a->g + p * l;
            memset(o, 0, (size_t)hw * sizeof(double));
            for (int64_t i = 0; i < l; i++) { if ((uint64_t)ix[i] < (uint64_t)hw) o[ix[i]] += gs[i]; else a->err = ERR_INDEX; }
        }
    }
}

int tg_max_pool2d_backward(int dt, int64_t planes, int64_t hw, int64_t l, const void *g, int64_t goff,
                           const int64_t *idx, int64_t ioff, void *out) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    poolbw_t a = {dt, ERR_OK, hw, l, (const char *)g + goff * TG_ITEMSIZE[dt], idx + ioff, out};
    if (planes == 0 || hw == 0) return ERR_OK;
    int nt = tg_threads_for(planes * (hw + l), 0);
    if (nt > planes) nt = (int)planes;
    if (nt > 1) tg_parallel_for(planes, nt, 1, pool_bw_planes, &a);
    else pool_bw_planes(&a, 0, planes);
    return a.err;
}
