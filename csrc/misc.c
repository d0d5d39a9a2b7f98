/* Random numbers (SplitMix64, bit-identical to the python backend), gather, scatter_add. */
#include "tg.h"

#define GAMMA 0x9E3779B97F4A7C15ULL

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

typedef struct { int dist, dt; uint64_t key, counter; void *out; } rng_t;

/* Word j of the stream: mix64(key + (j + 1) * GAMMA), all mod 2^64 (protocol.py). */
static inline uint64_t word(uint64_t key, uint64_t j) { return mix64(key + (j + 1) * GAMMA); }

static void rng_range(void *ctx, int64_t lo, int64_t hi) {
    const rng_t *r = ctx;
    if (r->dist == 0) {
        if (r->dt == DT_F32) {
            float *o = r->out;
            for (int64_t i = lo; i < hi; i++) o[i] = (float)(word(r->key, r->counter + (uint64_t)i) >> 40) * 0x1p-24f;
        } else {
            double *o = r->out;
            for (int64_t i = lo; i < hi; i++) o[i] = (double)(word(r->key, r->counter + (uint64_t)i) >> 11) * 0x1p-53;
        }
        return;
    }
    /* Box-Muller in double with libm's log/cos/sqrt, exactly the python formula (no contraction:
       built with -ffp-contract=off) */
    const double two_pi = 2.0 * 3.141592653589793;
    for (int64_t i = lo; i < hi; i++) {
        uint64_t j = r->counter + 2 * (uint64_t)i;
        double u1 = (double)((word(r->key, j) >> 11) + 1) * 0x1p-53;
        double u2 = (double)(word(r->key, j + 1) >> 11) * 0x1p-53;
        double z = sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
        if (r->dt == DT_F32) ((float *)r->out)[i] = (float)z;
        else ((double *)r->out)[i] = z;
    }
}

int tg_random(int dist, int dt, int64_t n, uint64_t seed, uint64_t counter, void *out) {
    if ((dist != 0 && dist != 1) || (dt != DT_F32 && dt != DT_F64)) return ERR_OP;
    rng_t r = {dist, dt, mix64(seed), counter, out};
    tg_parallel_for(n, tg_threads_for(n, 1), 64, rng_range, &r);
    return ERR_OK;
}

/* ---------------------------------------------------------------- gather / scatter_add */
/* Offsets of an element of the index's shape in the x (or dst) view, with dim's stride left out,
   and in the index view; walked in row-major order. */
#define WALK_NEXT(nd, shape, idx, nst, s1, s2, s3, o1, o2, o3) \
    for (int d = (nd) - 1; d >= 0; d--) { \
        o1 += (s1)[d]; o2 += (s2)[d]; o3 += (s3)[d]; \
        if (++idx[d] < (shape)[d]) break; \
        o1 -= (shape)[d] * (s1)[d]; o2 -= (shape)[d] * (s2)[d]; o3 -= (shape)[d] * (s3)[d]; idx[d] = 0; \
    }

int tg_gather(int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, const void *x, int64_t xoff,
              const int64_t *index, int64_t ioff, void *out) {
    if (dt < 0 || dt >= DT_COUNT) return ERR_OP;
    if (nd < 1 || nd > TG_MAXDIM || dim < 0 || dim >= nd) return ERR_DIM;
    const int64_t *shape = geo, *xs = geo + nd, *is = geo + 2 * nd;
    int64_t xst[TG_MAXDIM], zero[TG_MAXDIM], idx[TG_MAXDIM], total = 1, sd = xs[dim];
    for (int d = 0; d < nd; d++) { xst[d] = d == dim ? 0 : xs[d]; zero[d] = 0; idx[d] = 0; total *= shape[d]; }
    int64_t isz = TG_ITEMSIZE[dt], xo = xoff, io = ioff, unused = 0;
    for (int64_t q = 0; q < total; q++) {
        int64_t i = index[io];
        if (i < 0 || i >= dimsize) return ERR_INDEX;  /* never read outside the view */
        memcpy((char *)out + q * isz, (const char *)x + (xo + i * sd) * isz, (size_t)isz);
        WALK_NEXT(nd, shape, idx, nd, xst, is, zero, xo, io, unused)
    }
    return ERR_OK;
}

/* dst[t] += src[so] for an integer type, wrapping modulo 2**bits */
#define WRAP_ADD(T) (((T *)dst)[t] = (T)((uint64_t)((T *)dst)[t] + (uint64_t)((const T *)src)[so]))

int tg_scatter_add(int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, void *dst, int64_t doff,
                   const int64_t *index, int64_t ioff, const void *src, int64_t soff) {
    if (dt != DT_F32 && dt != DT_F64 && dt != DT_I64 && !TG_NARROW_INT(dt)) return ERR_OP;
    if (nd < 1 || nd > TG_MAXDIM || dim < 0 || dim >= nd) return ERR_DIM;
    const int64_t *shape = geo, *ds = geo + nd, *is = geo + 2 * nd, *ss = geo + 3 * nd;
    int64_t dst_st[TG_MAXDIM], idx[TG_MAXDIM], total = 1, sd = ds[dim];
    for (int d = 0; d < nd; d++) { dst_st[d] = d == dim ? 0 : ds[d]; idx[d] = 0; total *= shape[d]; }
    int64_t dof = doff, io = ioff, so = soff;
    for (int64_t q = 0; q < total; q++) {
        int64_t i = index[io];
        if (i < 0 || i >= dimsize) return ERR_INDEX;
        int64_t t = dof + i * sd;
        if (dt == DT_F32) ((float *)dst)[t] += ((const float *)src)[so];
        else if (dt == DT_F64) ((double *)dst)[t] += ((const double *)src)[so];
        else if (dt == DT_I64) WRAP_ADD(int64_t);
        else if (dt == DT_I32) WRAP_ADD(int32_t);
        else if (dt == DT_I16) WRAP_ADD(int16_t);
        else WRAP_ADD(uint8_t);
        WALK_NEXT(nd, shape, idx, nd, dst_st, is, ss, dof, io, so)
    }
    return ERR_OK;
}
