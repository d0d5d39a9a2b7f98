/* Reductions (sum/max/min over the last k dims), argmax/argmin, fused softmax. */
#include <omp.h>
#include "tg.h"
#include "vmath.h"

#define LANES 16

/* An accumulator for any dtype: sums of floats in double, of ints in (wrapping) int64;
   max/min in the element's own type (double holds a float exactly). */
typedef struct { double d; int64_t i; int started; } acc_t;

/* NaN-propagating select: once the accumulator is NaN it stays NaN. */
#define PICK_MAX(a, x) (((x) > (a) || (x) != (x)) ? (x) : (a))
#define PICK_MIN(a, x) (((x) < (a) || (x) != (x)) ? (x) : (a))

/* Contiguous sums keep LANES independent partial sums: one vector accumulator would chain every
   add on the previous one's latency (a 1e7-element float32 sum ran ~30% behind PyTorch so). */
#define LANE_SUM(ACC_T, x, n, total) do { \
    ACC_T lane[LANES] = {0}; \
    int64_t i = 0; \
    for (; i + LANES <= (n); i += LANES) \
        for (int j = 0; j < LANES; j++) lane[j] += (ACC_T)(x)[i + j]; \
    for (int j = 0; j < LANES; j++) total += lane[j]; \
    for (; i < (n); i++) total += (ACC_T)(x)[i]; \
} while (0)

/* Contiguous float32 sums: blocks of FBLOCK elements (counted from the row start) are summed in
   FLANES float lanes (each lane adds FBLOCK / FLANES = 16 elements), the lanes folded in float and
   then in double, and the block sums added in double; the rest of the row goes through LANE_SUM in
   double. Float lanes take one add per 8 (AVX-512: 16) elements; converting every element to
   double took two more instructions per 4 elements, which ran sums of L3-resident rows
   1.3-1.6x behind PyTorch's on AVX2. A block's sum carries the roundings of 16 float additions
   per lane plus the fold (PyTorch's float32 sum accumulates in float too); the double total adds
   no error that grows with the row's length. */
#define FBLOCK 512
#define FLANES 32  /* the fold below is written for 32 */

/* not inlined: inlined into its callers, gcc made the fold scalar (~60 instructions) */
__attribute__((noinline)) static double fblock_sum(const float *x) {
    float lane[FLANES] = {0};
    for (int b = 0; b < FBLOCK; b += FLANES)
        for (int j = 0; j < FLANES; j++) lane[j] += x[b + j];
    /* the fold, written so that gcc keeps it in vector registers (~20 instructions per block) */
    float f[8];
    for (int j = 0; j < 8; j++) f[j] = (lane[j] + lane[j + 16]) + (lane[j + 8] + lane[j + 24]);
    double d[4];
    for (int j = 0; j < 4; j++) d[j] = (double)f[j] + (double)f[j + 4];
    return (d[0] + d[2]) + (d[1] + d[3]);
}

static double sum_f32(const float *x, int64_t s, int64_t n) {
    double total = 0.0;
    if (s == 1) {
        int64_t i = 0;
        for (; i + FBLOCK <= n; i += FBLOCK) total += fblock_sum(x + i);
        const float *rest = x + i;  /* LANE_SUM's arguments must not name its own i */
        int64_t nrest = n - i;
        if (nrest) LANE_SUM(double, rest, nrest, total);  /* else its lanes would add 16 zeros */
    } else {
        for (int64_t i = 0; i < n; i++) total += x[i * s];
    }
    return total;
}

static double sum_f64(const double *x, int64_t s, int64_t n) {
    double total = 0.0;
    if (s == 1) LANE_SUM(double, x, n, total);
    else for (int64_t i = 0; i < n; i++) total += x[i * s];
    return total;
}

static int64_t sum_i64(const int64_t *x, int64_t s, int64_t n) {
    uint64_t total = 0;
    if (s == 1) {
        #pragma omp simd reduction(+:total)
        for (int64_t i = 0; i < n; i++) total += (uint64_t)x[i];
    } else {
        for (int64_t i = 0; i < n; i++) total += (uint64_t)x[i * s];
    }
    return (int64_t)total;
}

/* max/min of a row into `a` (already holding a value); LANES independent lanes vectorize.
   Float rows use a plain compare (an `omp simd` max/min reduction) and a separate NaN flag:
   gcc does not vectorize PICK's `|| x != x`, which would run a float max (and softmax, which
   starts with one) at one element per cycle. A NaN in the row makes the result the row's
   first NaN, as PICK would. */
#define FAST_MAX(a, x) ((x) > (a) ? (x) : (a))
#define FAST_MIN(a, x) ((x) < (a) ? (x) : (a))
#define TG_STR(x) #x
#define SIMD_MINMAX(RED) _Pragma(TG_STR(omp simd reduction(RED:m_) reduction(|:nan_)))
#define MINMAX_ROW_F(T, RED, PICK, FAST, a, x, s, n) do { \
    if ((s) == 1 && (n) >= 2 * LANES) { \
        T m_ = (x)[0]; \
        int nan_ = 0; \
        SIMD_MINMAX(RED) \
        for (int64_t i_ = 0; i_ < (n); i_++) { T v_ = (x)[i_]; m_ = FAST(m_, v_); nan_ |= (v_ != v_); } \
        a = PICK(a, m_); \
        if (nan_ && a == a) \
            for (int64_t q_ = 0; q_ < (n); q_++) if ((x)[q_] != (x)[q_]) { a = (x)[q_]; break; } \
    } else { \
        for (int64_t i_ = 0; i_ < (n); i_++) a = PICK(a, (x)[i_ * (s)]); \
    } \
} while (0)

/* max/min of an integer row (type T) into acc->i; uses op, acc, p, s, n of row_into */
#define INT_MINMAX(T) do { \
    T a = acc->started ? (T)acc->i : ((const T *)p)[0]; \
    if (op == R_MAX) MINMAX_ROW_F(T, max, PICK_MAX, FAST_MAX, a, (const T *)p, s, n); \
    else MINMAX_ROW_F(T, min, PICK_MIN, FAST_MIN, a, (const T *)p, s, n); \
    acc->i = a; \
} while (0)

/* Reduce one row of n elements at p (stride s, elements) into acc. */
static void row_into(int op, int dt, const char *p, int64_t s, int64_t n, acc_t *acc) {
    if (op == R_SUM) {
        if (dt == DT_F32) acc->d += sum_f32((const float *)p, s, n);
        else if (dt == DT_F64) acc->d += sum_f64((const double *)p, s, n);
        else acc->i = (int64_t)((uint64_t)acc->i + (uint64_t)sum_i64((const int64_t *)p, s, n));
        return;
    }
    if (dt == DT_F32 || dt == DT_F64) {
        double a;
        if (!acc->started) a = dt == DT_F32 ? ((const float *)p)[0] : ((const double *)p)[0];
        else a = acc->d;
        if (dt == DT_F32) {
            float af = (float)a;
            if (op == R_MAX) MINMAX_ROW_F(float, max, PICK_MAX, FAST_MAX, af, (const float *)p, s, n);
            else MINMAX_ROW_F(float, min, PICK_MIN, FAST_MIN, af, (const float *)p, s, n);
            a = af;
        } else {
            if (op == R_MAX) MINMAX_ROW_F(double, max, PICK_MAX, FAST_MAX, a, (const double *)p, s, n);
            else MINMAX_ROW_F(double, min, PICK_MIN, FAST_MIN, a, (const double *)p, s, n);
        }
        acc->d = a;
    } else {  /* integers and bool: the accumulator holds the value in acc->i */
        switch (dt) {
        case DT_I64: INT_MINMAX(int64_t); break;
        case DT_I32: INT_MINMAX(int32_t); break;
        case DT_I16: INT_MINMAX(int16_t); break;
        default: INT_MINMAX(uint8_t); break;  /* bool, uint8 */
        }
    }
    acc->started = 1;
}

static void acc_merge(int op, int dt, acc_t *a, const acc_t *b) {
    if (!b->started && op != R_SUM) return;
    if (op == R_SUM) { a->d += b->d; a->i = (int64_t)((uint64_t)a->i + (uint64_t)b->i); return; }
    if (!a->started) { *a = *b; return; }
    if (dt == DT_F32 || dt == DT_F64) a->d = op == R_MAX ? PICK_MAX(a->d, b->d) : PICK_MIN(a->d, b->d);
    else a->i = op == R_MAX ? PICK_MAX(a->i, b->i) : PICK_MIN(a->i, b->i);
}

static void acc_store(int dt, const acc_t *a, void *out, int64_t j) {
    switch (dt) {
    case DT_F32: ((float *)out)[j] = (float)a->d; break;
    case DT_F64: ((double *)out)[j] = a->d; break;
    case DT_I64: ((int64_t *)out)[j] = a->i; break;
    case DT_I32: ((int32_t *)out)[j] = (int32_t)a->i; break;
    case DT_I16: ((int16_t *)out)[j] = (int16_t)a->i; break;
    default: ((uint8_t *)out)[j] = (uint8_t)a->i; break;  /* bool, uint8 */
    }
}

typedef struct {
    int op, dt, nk, k;
    const int64_t *kshape, *kst, *rshape, *rst;   /* strides in elements */
    const char *x;
    void *out;
    int64_t isz, nred;
    acc_t *partial;
} red_t;

/* Elements [lo, hi) (row-major over the reduced dims) of the block at p, into acc. */
static void reduce_range(const red_t *r, const char *p, int64_t lo, int64_t hi, acc_t *acc) {
    int k = r->k;
    int64_t idx[TG_MAXDIM], rem = lo, off = 0, inner = r->rshape[k - 1], s = r->rst[k - 1];
    for (int d = k - 1; d >= 0; d--) {
        idx[d] = rem % r->rshape[d];
        rem /= r->rshape[d];
        off += idx[d] * r->rst[d];
    }
    int64_t pos = lo;
    while (pos < hi) {
        int64_t cnt = inner - idx[k - 1];
        if (cnt > hi - pos) cnt = hi - pos;
        row_into(r->op, r->dt, p + off * r->isz, s, cnt, acc);
        pos += cnt;
        idx[k - 1] += cnt;
        off += cnt * s;
        for (int d = k - 1; d > 0 && idx[d] == r->rshape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
            off += r->rst[d - 1] - r->rshape[d] * r->rst[d];
        }
    }
}

static int64_t keep_offset(const red_t *r, int64_t j) {
    int64_t off = 0;
    for (int d = r->nk - 1; d >= 0; d--) {
        off += (j % r->kshape[d]) * r->kst[d];
        j /= r->kshape[d];
    }
    return off;
}

/* Four contiguous float32 rows summed side by side, block by block, with software prefetch: one
   row at a time kept a single stream of loads in flight and waited on memory (row sums of a
   4096x4096 matrix ran ~30% behind PyTorch's on one thread). Each row's steps are sum_f32's, so
   a row gets the same bits whichever of the two sums it. */
static void sum4_f32(const float *const *x, int64_t n, double *tot) {
    double t[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + FBLOCK <= n; i += FBLOCK)
        for (int q = 0; q < 4; q++) {
            for (int c = 0; c < FBLOCK; c += 16) __builtin_prefetch(x[q] + i + FBLOCK + c);
            t[q] += fblock_sum(x[q] + i);
        }
    for (int q = 0; q < 4; q++) {
        const float *rest = x[q] + i;
        int64_t nrest = n - i;
        if (nrest) LANE_SUM(double, rest, nrest, t[q]);
        tot[q] = t[q];
    }
}

#define SUM4_MIN 2048

/* outputs [lo, hi), each reduced whole by one thread */
static void reduce_outputs(void *ctx, int64_t lo, int64_t hi) {
    const red_t *r = ctx;
    /* Rows shorter than SUM4_MIN go one at a time: with the block sums, the 4-row interleave and
       its prefetches cost more than they save on rows that sit in cache (1024x1024 on Zen 3, C
       loop: 60 us one by one, 82 us by fours); the fours stay for the long rows they were
       measured on (4096x4096, from memory). Both give a row the same bits. */
    if (r->op == R_SUM && r->dt == DT_F32 && r->k == 1 && r->rst[0] == 1 && r->nred >= SUM4_MIN) {
        for (; lo + 4 <= hi; lo += 4) {
            const float *p[4];
            double tot[4];
            for (int q = 0; q < 4; q++) p[q] = (const float *)(r->x + keep_offset(r, lo + q) * r->isz);
            sum4_f32(p, r->nred, tot);
            for (int q = 0; q < 4; q++) ((float *)r->out)[lo + q] = (float)tot[q];
        }
    }
    for (int64_t j = lo; j < hi; j++) {
        acc_t acc = {0.0, 0, 0};
        reduce_range(r, r->x + keep_offset(r, j) * r->isz, 0, r->nred, &acc);
        acc_store(r->dt, &acc, r->out, j);
    }
}

/* ---------------------------------------------------------------- column-style reduction */
/* The kept innermost dim has stride 1 and the reduced dims stride across it (a sum over dim 0
   of a row-major matrix): walk memory in order, accumulating a block of columns at once. */
#define COLS 4096

typedef struct { red_t r; int64_t L, nchunk, cb; } col_t;

#define COL_ACCUM(T, AT, INIT, UPDATE) do { \
    AT a[COLS]; const T *x0 = (const T *)base; \
    for (int64_t j = 0; j < cnt; j++) a[j] = (AT)(INIT); \
    for (int64_t q = 0; q < nred; q++) { \
        const T *xp = x0 + off; \
        _Pragma("omp simd") for (int64_t j = 0; j < cnt; j++) { AT v = (AT)xp[j]; a[j] = (UPDATE); } \
        for (int d = k - 1; d >= 0; d--) { \
            off += rst[d]; \
            if (++idx[d] < rshape[d]) break; \
            off -= rshape[d] * rst[d]; idx[d] = 0; \
        } \
    } \
    for (int64_t j = 0; j < cnt; j++) ((T *)r->out)[o0 + j] = (T)a[j]; \
} while (0)

static void col_units(void *ctx, int64_t lo, int64_t hi) {
    const col_t *c = ctx;
    const red_t *r = &c->r;
    int k = r->k;
    const int64_t *rshape = r->rshape, *rst = r->rst;
    int64_t nred = r->nred;
    for (int64_t u = lo; u < hi; u++) {
        int64_t outer = u / c->nchunk, j0 = (u % c->nchunk) * c->cb;
        int64_t cnt = c->L - j0 < c->cb ? c->L - j0 : c->cb;
        /* kept dims other than the last: their offset; the last kept dim has stride 1 */
        int64_t kout = 0, rem = outer;
        for (int d = r->nk - 2; d >= 0; d--) { kout += (rem % r->kshape[d]) * r->kst[d]; rem /= r->kshape[d]; }
        const char *base = r->x + (kout + j0) * r->isz;
        int64_t o0 = outer * c->L + j0, off = 0, idx[TG_MAXDIM];
        for (int d = 0; d < k; d++) idx[d] = 0;
        /* the first reduced element initializes max/min, so start the walk from it */
        switch (r->dt * 3 + r->op) {
        case DT_F32 * 3 + R_SUM: COL_ACCUM(float, double, 0, a[j] + v); break;
        case DT_F64 * 3 + R_SUM: COL_ACCUM(double, double, 0, a[j] + v); break;
        case DT_I64 * 3 + R_SUM: COL_ACCUM(int64_t, uint64_t, 0, a[j] + v); break;
        case DT_F32 * 3 + R_MAX: COL_ACCUM(float, float, x0[j], PICK_MAX(a[j], v)); break;
        case DT_F32 * 3 + R_MIN: COL_ACCUM(float, float, x0[j], PICK_MIN(a[j], v)); break;
        case DT_F64 * 3 + R_MAX: COL_ACCUM(double, double, x0[j], PICK_MAX(a[j], v)); break;
        case DT_F64 * 3 + R_MIN: COL_ACCUM(double, double, x0[j], PICK_MIN(a[j], v)); break;
        case DT_I64 * 3 + R_MAX: COL_ACCUM(int64_t, int64_t, x0[j], PICK_MAX(a[j], v)); break;
        case DT_I64 * 3 + R_MIN: COL_ACCUM(int64_t, int64_t, x0[j], PICK_MIN(a[j], v)); break;
        case DT_BOOL * 3 + R_MAX: case DT_U8 * 3 + R_MAX: COL_ACCUM(uint8_t, uint8_t, x0[j], PICK_MAX(a[j], v)); break;
        case DT_BOOL * 3 + R_MIN: case DT_U8 * 3 + R_MIN: COL_ACCUM(uint8_t, uint8_t, x0[j], PICK_MIN(a[j], v)); break;
        case DT_I16 * 3 + R_MAX: COL_ACCUM(int16_t, int16_t, x0[j], PICK_MAX(a[j], v)); break;
        case DT_I16 * 3 + R_MIN: COL_ACCUM(int16_t, int16_t, x0[j], PICK_MIN(a[j], v)); break;
        case DT_I32 * 3 + R_MAX: COL_ACCUM(int32_t, int32_t, x0[j], PICK_MAX(a[j], v)); break;
        case DT_I32 * 3 + R_MIN: COL_ACCUM(int32_t, int32_t, x0[j], PICK_MIN(a[j], v)); break;
        default: break;
        }
    }
}

/* ---------------------------------------------------------------- one output, split across threads */
typedef struct { const red_t *r; const char *p; int64_t chunk; acc_t *parts; } split_t;

static void split_part(void *ctx, int64_t lo, int64_t hi) {
    const split_t *s = ctx;
    acc_t *a = &s->parts[lo / s->chunk];
    reduce_range(s->r, s->p, lo, hi, a);
}

int tg_reduce(int op, int dt, int nd, int k, const int64_t *geo, const void *x, int64_t xoff, void *out) {
    if (op < 0 || op >= R_COUNT || dt < 0 || dt >= DT_COUNT) return ERR_OP;
    if (op == R_SUM && (dt == DT_BOOL || TG_NARROW_INT(dt))) return ERR_OP;  /* the core sums those as int64 */
    if (nd < 1 || nd > TG_MAXDIM || k < 1 || k > nd) return ERR_DIM;
    int nk = nd - k;
    red_t r = {op, dt, nk, k, geo, geo + nd, geo + nk, geo + nd + nk, NULL, out, TG_ITEMSIZE[dt], 1, NULL};
    r.x = (const char *)x + xoff * r.isz;
    int64_t nout = 1;
    for (int d = 0; d < nk; d++) nout *= geo[d];
    for (int d = nk; d < nd; d++) r.nred *= geo[d];
    int64_t work = nout * r.nred;
    int nt = tg_threads_for(work, 0);

    if (nk >= 1 && r.kst[nk - 1] == 1 && r.kshape[nk - 1] >= 8 && r.rst[k - 1] != 1) {
        col_t c = {r, r.kshape[nk - 1], 0, COLS};
        int64_t nouter = nout / c.L;
        if (nouter < nt) {  /* split columns so every thread gets a share */
            int64_t want = (c.L + nt - 1) / nt;
            want = (want + 63) / 64 * 64;
            c.cb = want < COLS ? want : COLS;
        }
        c.nchunk = (c.L + c.cb - 1) / c.cb;
        int64_t units = nouter * c.nchunk;
        tg_parallel_for(units, nt < units ? nt : (int)units, 1, col_units, &c);
        return ERR_OK;
    }
    if (nt > 1 && nout < nt) {  /* few outputs (a full sum): split each one's elements */
        for (int64_t j = 0; j < nout; j++) {
            /* a few chunks per thread (a late worker leaves the caller less to finish alone),
               multiples of FBLOCK (a float32 sum's blocks fall where they would in one pass) */
            acc_t parts[64];
            int64_t chunk = tg_chunk_for(r.nred, nt, FBLOCK), least = (r.nred + 63) / 64;
            if (chunk < least) chunk = (least + FBLOCK - 1) / FBLOCK * FBLOCK;
            for (int t = 0; t < 64; t++) parts[t] = (acc_t){0.0, 0, 0};
            split_t s = {&r, r.x + keep_offset(&r, j) * r.isz, chunk, parts};
            int parts_n = (int)((r.nred + chunk - 1) / chunk);
            tg_parallel_chunks(r.nred, nt, chunk, split_part, &s);
            acc_t total = parts[0];
            for (int t = 1; t < parts_n; t++) acc_merge(op, dt, &total, &parts[t]);
            acc_store(dt, &total, out, j);
        }
        return ERR_OK;
    }
    tg_parallel_chunks(nout, nt, tg_chunk_for(nout, nt, 4), reduce_outputs, &r);
    return ERR_OK;
}

/* ---------------------------------------------------------------- argmax / argmin */
typedef struct { int op, dt, nk; const int64_t *shape, *st; const char *x; int64_t *out; int64_t isz; } arg_t;

#define ARG_ROW(T, CMP) do { \
    const T *xp = (const T *)p; T best = xp[0]; int64_t bi = 0; \
    if (best != best) { bi = 0; break; } \
    for (int64_t i = 1; i < n; i++) { \
        T v = xp[i * s]; \
        if (v != v) { bi = i; break; } \
        if (v CMP best) { best = v; bi = i; } \
    } \
    res = bi; \
} while (0)

static void arg_rows(void *ctx, int64_t lo, int64_t hi) {
    const arg_t *a = ctx;
    int nk = a->nk;
    int64_t n = a->shape[nk], s = a->st[nk];
    for (int64_t j = lo; j < hi; j++) {
        int64_t off = 0, rem = j, res = 0;
        for (int d = nk - 1; d >= 0; d--) { off += (rem % a->shape[d]) * a->st[d]; rem /= a->shape[d]; }
        const char *p = a->x + off * a->isz;
        switch (a->dt * 2 + a->op) {
        case DT_F32 * 2 + A_ARGMAX: ARG_ROW(float, >); break;
        case DT_F32 * 2 + A_ARGMIN: ARG_ROW(float, <); break;
        case DT_F64 * 2 + A_ARGMAX: ARG_ROW(double, >); break;
        case DT_F64 * 2 + A_ARGMIN: ARG_ROW(double, <); break;
        case DT_I64 * 2 + A_ARGMAX: ARG_ROW(int64_t, >); break;
        case DT_I64 * 2 + A_ARGMIN: ARG_ROW(int64_t, <); break;
        case DT_I32 * 2 + A_ARGMAX: ARG_ROW(int32_t, >); break;
        case DT_I32 * 2 + A_ARGMIN: ARG_ROW(int32_t, <); break;
        case DT_I16 * 2 + A_ARGMAX: ARG_ROW(int16_t, >); break;
        case DT_I16 * 2 + A_ARGMIN: ARG_ROW(int16_t, <); break;
        case DT_BOOL * 2 + A_ARGMAX: case DT_U8 * 2 + A_ARGMAX: ARG_ROW(uint8_t, >); break;
        default: ARG_ROW(uint8_t, <); break;  /* bool, uint8 argmin */
        }
        a->out[j] = res;
    }
}

int tg_arg_reduce(int op, int dt, int nd, const int64_t *geo, const void *x, int64_t xoff, int64_t *out) {
    if (op < 0 || op >= A_COUNT || dt < 0 || dt >= DT_COUNT) return ERR_OP;
    if (nd < 1 || nd > TG_MAXDIM) return ERR_DIM;
    arg_t a = {op, dt, nd - 1, geo, geo + nd, NULL, out, TG_ITEMSIZE[dt]};
    a.x = (const char *)x + xoff * a.isz;
    int64_t rows = 1;
    for (int d = 0; d < nd - 1; d++) rows *= geo[d];
    int nt = tg_threads_for(rows * geo[nd - 1], 0);
    tg_parallel_for(rows, nt < rows ? nt : (int)rows, 1, arg_rows, &a);
    return ERR_OK;
}

/* ---------------------------------------------------------------- fused softmax / log-softmax */
typedef struct { int dt, log; int64_t cols; const char *x; char *out; } sm_t;

#define SOFTMAX_ROWS(T, EXP, LOG) do { \
    for (int64_t rr = lo; rr < hi; rr++) { \
        const T *x = (const T *)s->x + rr * cols; T *o = (T *)s->out + rr * cols; \
        T m = x[0]; \
        MINMAX_ROW_F(T, max, PICK_MAX, FAST_MAX, m, x, 1, cols); \
        T sum = 0; \
        if (s->log) { \
            _Pragma("omp simd reduction(+:sum)") for (int64_t j = 0; j < cols; j++) sum += EXP(x[j] - m); \
            T ls = (T)LOG(sum); \
            _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) o[j] = (x[j] - m) - ls; \
        } else { \
            _Pragma("omp simd reduction(+:sum)") for (int64_t j = 0; j < cols; j++) { T e = EXP(x[j] - m); o[j] = e; sum += e; } \
            T inv = (T)1 / sum; \
            _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) o[j] *= inv; \
        } \
    } \
} while (0)

static void softmax_rows(void *ctx, int64_t lo, int64_t hi) {
    const sm_t *s = ctx;
    int64_t cols = s->cols;
    if (s->dt == DT_F32) {  /* the exps 16 at a time (vmath.h); same steps as SOFTMAX_ROWS */
        for (int64_t rr = lo; rr < hi; rr++) {
            const float *x = (const float *)s->x + rr * cols;
            float *o = (float *)s->out + rr * cols, m = x[0];
            MINMAX_ROW_F(float, max, PICK_MAX, FAST_MAX, m, x, 1, cols);
            if (s->log) {
                float ls = (float)log(tg_expsum_f32(x, m, NULL, cols));
                _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) o[j] = (x[j] - m) - ls;
            } else {
                float inv = 1.0f / tg_expsum_f32(x, m, o, cols);
                _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) o[j] *= inv;
            }
        }
    } else SOFTMAX_ROWS(double, exp, log);
}

int tg_softmax(int dt, int64_t rows, int64_t cols, const void *x, int64_t xoff, void *out, int log) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    sm_t s = {dt, log, cols, (const char *)x + xoff * TG_ITEMSIZE[dt], out};
    int nt = tg_threads_for(rows * cols, 1);
    tg_parallel_for(rows, nt < rows ? nt : (int)rows, 1, softmax_rows, &s);
    return ERR_OK;
}
