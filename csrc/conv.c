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
