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
