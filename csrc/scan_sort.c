/* scatter (assign/max/min by an index tensor), scan (cumulative sum/product along the last dim)
   and sort (stable; full, or the first k of each row) along the last dim. */
#include "tg.h"
#include <stdlib.h>

/* ---------------------------------------------------------------- scatter */
/* Offsets of an element of the index's shape in dst (dim's stride left out), index and src,
   walked in row-major order. */
#define SC_NEXT(nd, shape, idx, s1, s2, s3, o1, o2, o3) \
    for (int d = (nd) - 1; d >= 0; d--) { \
        o1 += (s1)[d]; o2 += (s2)[d]; o3 += (s3)[d]; \
        if (++idx[d] < (shape)[d]) break; \
        o1 -= (shape)[d] * (s1)[d]; o2 -= (shape)[d] * (s2)[d]; o3 -= (shape)[d] * (s3)[d]; idx[d] = 0; \
    }

#define SC_MAXMIN(T, BETTER) { \
    T *o = (T *)dst + t; T v = ((const T *)src)[so]; \
    if (v != v || (*o == *o && (BETTER))) *o = v; }

int tg_scatter(int op, int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, void *dst, int64_t doff,
               const int64_t *index, int64_t ioff, const void *src, int64_t soff) {
    if (dt < 0 || dt >= DT_COUNT || op < 0 || op >= SC_COUNT) return ERR_OP;
    if (nd < 1 || nd > TG_MAXDIM || dim < 0 || dim >= nd) return ERR_DIM;
    const int64_t *shape = geo, *ds = geo + nd, *is = geo + 2 * nd, *ss = geo + 3 * nd;
    int64_t dst_st[TG_MAXDIM], zero[TG_MAXDIM], idx[TG_MAXDIM], total = 1, sd = ds[dim];
    for (int d = 0; d < nd; d++) { dst_st[d] = d == dim ? 0 : ds[d]; zero[d] = 0; idx[d] = 0; total *= shape[d]; }
    /* every index is checked before anything is written: a bad one leaves dst untouched */
    int64_t io = ioff, u1 = 0, u2 = 0;
    for (int64_t q = 0; q < total; q++) {
        int64_t i = index[io];
        if (i < 0 || i >= dimsize) return ERR_INDEX;
        SC_NEXT(nd, shape, idx, zero, is, zero, u1, io, u2)
    }
    int64_t isz = TG_ITEMSIZE[dt], dof = doff, so = soff;
    io = ioff;
    for (int64_t q = 0; q < total; q++) {
        int64_t t = dof + index[io] * sd;
        if (op == SC_ASSIGN) memcpy((char *)dst + t * isz, (const char *)src + so * isz, (size_t)isz);
        else if (dt == DT_F32) { if (op == SC_MAX) SC_MAXMIN(float, v > *o) else SC_MAXMIN(float, v < *o) }
        else if (dt == DT_F64) { if (op == SC_MAX) SC_MAXMIN(double, v > *o) else SC_MAXMIN(double, v < *o) }
        else if (dt == DT_I64) { if (op == SC_MAX) SC_MAXMIN(int64_t, v > *o) else SC_MAXMIN(int64_t, v < *o) }
        else if (dt == DT_I32) { if (op == SC_MAX) SC_MAXMIN(int32_t, v > *o) else SC_MAXMIN(int32_t, v < *o) }
        else if (dt == DT_I16) { if (op == SC_MAX) SC_MAXMIN(int16_t, v > *o) else SC_MAXMIN(int16_t, v < *o) }
        else { if (op == SC_MAX) SC_MAXMIN(uint8_t, v > *o) else SC_MAXMIN(uint8_t, v < *o) }  /* bool, uint8 */
        SC_NEXT(nd, shape, idx, dst_st, is, ss, dof, io, so)
    }
    return ERR_OK;
}

/* ---------------------------------------------------------------- rows of a view */
typedef struct {
    int nd; const int64_t *shape, *st; int64_t off;  /* the kept dims (nd of them) */
} rows_t;

static int64_t row_base(const rows_t *r, int64_t row) {
    int64_t o = r->off;
    for (int d = r->nd - 1; d >= 0; d--) {
        int64_t n = r->shape[d];
        o += (row % n) * r->st[d];
        row /= n;
    }
    return o;
}

/* ---------------------------------------------------------------- scan */
typedef struct { int op, dt; rows_t rows; int64_t n, s; const void *x; void *out; } scan_t;

#define SCAN_ROW(T, ACC) { \
    const T *xp = (const T *)c->x + b; T *o = (T *)c->out + r * n; ACC acc = c->op ? 1 : 0; \
    if (c->op == SCAN_SUM) for (int64_t j = 0; j < n; j++) { acc += (ACC)xp[j * s]; o[j] = (T)acc; } \
    else for (int64_t j = 0; j < n; j++) { acc *= (ACC)xp[j * s]; o[j] = (T)acc; } }

static void scan_range(void *ctx, int64_t lo, int64_t hi) {
    const scan_t *c = ctx;
    int64_t n = c->n, s = c->s;
    for (int64_t r = lo; r < hi; r++) {
        int64_t b = row_base(&c->rows, r);
        if (c->dt == DT_F32) SCAN_ROW(float, double)
        else if (c->dt == DT_F64) SCAN_ROW(double, double)
        else {  /* int64 wraps like the python reference (through uint64: no signed overflow) */
            const int64_t *xp = (const int64_t *)c->x + b; int64_t *o = (int64_t *)c->out + r * n;
            uint64_t acc = c->op ? 1 : 0;
            for (int64_t j = 0; j < n; j++) {
                acc = c->op ? acc * (uint64_t)xp[j * s] : acc + (uint64_t)xp[j * s];
                o[j] = (int64_t)acc;
            }
        }
    }
}

/* geo = shape[nd], strides[nd]; the last dim is scanned; out is contiguous */
int tg_scan(int op, int dt, int nd, const int64_t *geo, const void *x, int64_t xoff, void *out) {
    if (op < 0 || op >= SCAN_COUNT || (dt != DT_F32 && dt != DT_F64 && dt != DT_I64)) return ERR_OP;
    if (nd < 1 || nd > TG_MAXDIM) return ERR_DIM;
    scan_t c = {op, dt, {nd - 1, geo, geo + nd, xoff}, geo[nd - 1], geo[2 * nd - 1], x, out};
    int64_t rows = 1;
    for (int d = 0; d < nd - 1; d++) rows *= geo[d];
    tg_parallel_for(rows, tg_threads_for(rows * c.n, 0), 1, scan_range, &c);
    return ERR_OK;
}

/* ---------------------------------------------------------------- sort */
/* Keys are mapped to uint64 whose unsigned order is the sort order: floats by their bits with
   the sign flipped (negatives inverted), NaN canonical (after +inf), -0.0 as 0.0; descending
   inverts every key. Ties keep index order (the sorts below are stable), so the result is
   exactly a stable sort. */
typedef struct { uint64_t key; int64_t idx; } kv_t;

static inline uint64_t sort_key(int dt, const char *p) {
    if (dt == DT_F32) {
        float f; uint32_t u; memcpy(&f, p, 4); memcpy(&u, p, 4);
        if (f != f) u = 0x7FC00000u; else if (f == 0.0f) u = 0;
        return (uint64_t)(u ^ ((u >> 31) ? 0xFFFFFFFFu : 0x80000000u));
    }
    if (dt == DT_F64) {
        double f; uint64_t u; memcpy(&f, p, 8); memcpy(&u, p, 8);
        if (f != f) u = 0x7FF8000000000000ULL; else if (f == 0.0) u = 0;
        return u ^ ((u >> 63) ? ~0ULL : 0x8000000000000000ULL);
    }
    if (dt == DT_I64) { uint64_t u; memcpy(&u, p, 8); return u ^ 0x8000000000000000ULL; }
    if (dt == DT_I32) { uint32_t u; memcpy(&u, p, 4); return (uint64_t)(u ^ 0x80000000u); }
    if (dt == DT_I16) { uint16_t u; memcpy(&u, p, 2); return (uint64_t)(uint16_t)(u ^ 0x8000u); }
    return (uint64_t)*(const uint8_t *)p;  /* bool, uint8 */
}

static inline int kv_before(const kv_t *a, const kv_t *b) {
    return a->key < b->key || (a->key == b->key && a->idx < b->idx);
}

static int kv_cmp(const void *a, const void *b) {
    return kv_before(a, b) ? -1 : kv_before(b, a) ? 1 : 0;
}

/* LSD radix sort on 8-bit digits (stable); digits every key shares are skipped */
static void radix_sort(kv_t *a, kv_t *tmp, int64_t n) {
    if (n <= 32) {  /* insertion sort: stable, the input is in index order */
        for (int64_t i = 1; i < n; i++) {
            kv_t v = a[i]; int64_t j = i - 1;
            while (j >= 0 && a[j].key > v.key) { a[j + 1] = a[j]; j--; }
            a[j + 1] = v;
        }
        return;
    }
    int64_t (*cnt)[256] = calloc(8, sizeof *cnt);
    if (!cnt) { qsort(a, (size_t)n, sizeof *a, kv_cmp); return; }
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = a[i].key;
        for (int d = 0; d < 8; d++) cnt[d][(k >> (8 * d)) & 255]++;
    }
    kv_t *src = a, *dst = tmp;
    for (int d = 0; d < 8; d++) {
        int sh = 8 * d;
        if (cnt[d][(src[0].key >> sh) & 255] == n) continue;
        int64_t pos[256], acc = 0;
        for (int b = 0; b < 256; b++) { pos[b] = acc; acc += cnt[d][b]; }
        for (int64_t i = 0; i < n; i++) dst[pos[(src[i].key >> sh) & 255]++] = src[i];
        kv_t *t = src; src = dst; dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
    free(cnt);
}

/* the k first of n (in kv_before order) into a[0..k), sorted: a heap of the k best seen so far
   whose root is the worst of them */
static void heap_sift(kv_t *h, int64_t k, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < k && kv_before(&h[m], &h[l])) m = l;
        if (r < k && kv_before(&h[m], &h[r])) m = r;
        if (m == i) return;
        kv_t t = h[i]; h[i] = h[m]; h[m] = t; i = m;
    }
}

typedef struct {
    int dt, desc; rows_t rows; int64_t n, s, k; const char *x; char *vals; int64_t *idx; int err;
} sort_t;

static void sort_range(void *ctx, int64_t lo, int64_t hi) {
    sort_t *c = ctx;
    int64_t n = c->n, k = c->k, isz = TG_ITEMSIZE[c->dt];
    int heap = k < n && k * 8 <= n;
    int64_t cap = heap ? k : n;
    kv_t *a = malloc((size_t)cap * sizeof *a), *tmp = heap ? NULL : malloc((size_t)n * sizeof *a);
    if (!a || (!heap && !tmp)) { free(a); free(tmp); c->err = ERR_MEM; return; }
    uint64_t flip = c->desc ? ~0ULL : 0;
    for (int64_t r = lo; r < hi; r++) {
        const char *xp = c->x + row_base(&c->rows, r) * isz;
        int64_t s = c->s * isz;
        if (heap) {
            for (int64_t j = 0; j < k; j++) { a[j].key = sort_key(c->dt, xp + j * s) ^ flip; a[j].idx = j; }
            for (int64_t j = k / 2 - 1; j >= 0; j--) heap_sift(a, k, j);
            for (int64_t j = k; j < n; j++) {
                uint64_t key = sort_key(c->dt, xp + j * s) ^ flip;
                if (key < a[0].key) { a[0].key = key; a[0].idx = j; heap_sift(a, k, 0); }  /* ties: the earlier index stays */
            }
            qsort(a, (size_t)k, sizeof *a, kv_cmp);
        } else {
            for (int64_t j = 0; j < n; j++) { a[j].key = sort_key(c->dt, xp + j * s) ^ flip; a[j].idx = j; }
            radix_sort(a, tmp, n);
        }
        char *vo = c->vals + r * k * isz;
        int64_t *io = c->idx + r * k;
        for (int64_t j = 0; j < k; j++) {
            io[j] = a[j].idx;
            memcpy(vo + j * isz, xp + a[j].idx * s, (size_t)isz);
        }
    }
    free(a); free(tmp);
}

/* geo = shape[nd], strides[nd]; each row along the last dim is sorted and its first k written */
int tg_sort(int dt, int nd, const int64_t *geo, const void *x, int64_t xoff, int desc, int64_t k,
            void *vals, int64_t *idx) {
    if (dt < 0 || dt >= DT_COUNT) return ERR_OP;
    if (nd < 1 || nd > TG_MAXDIM) return ERR_DIM;
    int64_t n = geo[nd - 1], rows = 1;
    if (k < 1 || k > n) return ERR_DIM;
    for (int d = 0; d < nd - 1; d++) rows *= geo[d];
    sort_t c = {dt, desc, {nd - 1, geo, geo + nd, xoff}, n, geo[2 * nd - 1], k, x, vals, idx, ERR_OK};
    /* sorting costs about 20 element-steps of a cheap kernel per element */
    tg_parallel_for(rows, rows > 1 ? tg_threads_for(rows * n * 20, 0) : 1, 1, sort_range, &c);
    return c.err;
}

/* ---------------------------------------------------------------- gather / scatter_add of rows */
/* The index_select pattern: the index is constant along the last dim and the last dim of x (dst,
   src) is dense, so each index moves a whole row of shape[nd-1] elements. geo as in tg_gather
   (tg_scatter_add); the caller checks the pattern. */
typedef struct { int dt, nd, dim; int64_t dimsize; const int64_t *shape, *xs, *is, *ss; const char *x; int64_t xoff;
                 const int64_t *index; int64_t ioff; char *out; const char *src; int64_t soff; int bad; } rows_io_t;

/* offsets of outer row r (all dims but the last) in x (without dim), index and src */
static void row_offsets(const rows_io_t *c, int64_t r, int64_t *xo, int64_t *io, int64_t *so) {
    int64_t a = c->xoff, b = c->ioff, s = c->soff;
    for (int d = c->nd - 2; d >= 0; d--) {
        int64_t n = c->shape[d], i = r % n;
        r /= n;
        if (d != c->dim) a += i * c->xs[d];
        b += i * c->is[d];
        if (c->ss) s += i * c->ss[d];
    }
    *xo = a; *io = b; *so = s;
}

static void gather_rows_range(void *ctx, int64_t lo, int64_t hi) {
    rows_io_t *c = ctx;
    int64_t L = c->shape[c->nd - 1], isz = TG_ITEMSIZE[c->dt], sd = c->xs[c->dim], xo, io, so;
    for (int64_t r = lo; r < hi; r++) {
        row_offsets(c, r, &xo, &io, &so);
        int64_t i = c->index[io];
        if (i < 0 || i >= c->dimsize) { c->bad = 1; return; }
        memcpy(c->out + r * L * isz, c->x + (xo + i * sd) * isz, (size_t)(L * isz));
    }
}

int tg_gather_rows(int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, const void *x, int64_t xoff,
                   const int64_t *index, int64_t ioff, void *out) {
    if (dt < 0 || dt >= DT_COUNT) return ERR_OP;
    if (nd < 2 || nd > TG_MAXDIM || dim < 0 || dim >= nd - 1) return ERR_DIM;
    rows_io_t c = {dt, nd, dim, dimsize, geo, geo + nd, geo + 2 * nd, NULL, x, xoff, index, ioff, out, NULL, 0, 0};
    int64_t rows = 1;
    for (int d = 0; d < nd - 1; d++) rows *= geo[d];
    tg_parallel_for(rows, tg_threads_for(rows * geo[nd - 1], 0), 1, gather_rows_range, &c);
    return c.bad ? ERR_INDEX : ERR_OK;
}

#define ADD_ROW(T) { T *restrict dp = (T *)dst + t; const T *restrict sp = (const T *)src + so; \
    for (int64_t j = 0; j < L; j++) dp[j] += sp[j]; }
/* integers wrap: the sum in uint64_t, stored modulo 2**bits */
#define ADD_ROW_INT(T) { T *restrict dp = (T *)dst + t; const T *restrict sp = (const T *)src + so; \
    for (int64_t j = 0; j < L; j++) dp[j] = (T)((uint64_t)dp[j] + (uint64_t)sp[j]); }

int tg_scatter_add_rows(int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, void *dst, int64_t doff,
                        const int64_t *index, int64_t ioff, const void *src, int64_t soff) {
    if (dt != DT_F32 && dt != DT_F64 && dt != DT_I64 && !TG_NARROW_INT(dt)) return ERR_OP;
    if (nd < 2 || nd > TG_MAXDIM || dim < 0 || dim >= nd - 1) return ERR_DIM;
    rows_io_t c = {dt, nd, dim, dimsize, geo, geo + nd, geo + 2 * nd, geo + 3 * nd, NULL, doff, index, ioff, NULL,
                   NULL, soff, 0};
    int64_t rows = 1, L = geo[nd - 1], sd = geo[nd + dim], t, io, so;
    for (int d = 0; d < nd - 1; d++) rows *= geo[d];
    for (int64_t r = 0; r < rows; r++) {  /* every index checked before anything is written */
        row_offsets(&c, r, &t, &io, &so);
        if (index[io] < 0 || index[io] >= dimsize) return ERR_INDEX;
    }
    /* serial: rows with the same index accumulate in order */
    for (int64_t r = 0; r < rows; r++) {
        row_offsets(&c, r, &t, &io, &so);
        t += index[io] * sd;
        if (dt == DT_F32) ADD_ROW(float)
        else if (dt == DT_F64) ADD_ROW(double)
        else if (dt == DT_I64) ADD_ROW_INT(int64_t)
        else if (dt == DT_I32) ADD_ROW_INT(int32_t)
        else if (dt == DT_I16) ADD_ROW_INT(int16_t)
        else ADD_ROW_INT(uint8_t)
    }
    return ERR_OK;
}
