/* The project's own float32 GEMM for AVX-512 (row-major C = op(A) op(B), beta = 0), used by blas.c
   for mid-size products where it beats OpenBLAS's sgemm (the MLP's 128x784 @ 784x256 and its
   backward 256x128 @ 128x784, see tg_sgemm_own_ok); everything else stays with OpenBLAS.

   BLIS-style: B is packed into panels of 32 columns (k-major: 32 floats per k, zero-filled past
   n), A into micro-panels of 12 rows (12 floats per k), and a 12x32 micro-kernel keeps the C tile
   in 24 zmm registers: per k, two loads of B, twelve broadcasts of A (embedded in the FMAs),
   24 vfmadd231ps. A transposed operand (B = W.T as in x @ W.T, or A = g.T in g.T @ x) is
   transposed while packing, 16x16 blocks in registers, so no operand is ever copied first.
   Loops: column blocks of at most NC (their packed B stays in L2), k blocks of at most KC
   (the A micro-panel stays in L1; later k blocks add into C), 12-row blocks, 32-column panels.
   Threads split the 32-column panels (each packs only its own B); when there are too few panels,
   12-row blocks instead. Packing buffers are per thread and grow on demand.
   A product with few rows and a plain B (an im2col GEMM W @ cols: 6 or 16 rows, thousands of
   columns) reads B in place instead of packing it (DIRECT_MB), prefetching the next panel's rows:
   there the packing pass would be most of the memory traffic. One with at most 64 columns, or with
   k at most 256, reads A in place instead (ADIRECT_NP, ADIRECT_KMAX): each A element serves one or
   two tiles, or its rows are short enough to stay in L1 while their tiles run. */
#include <stdlib.h>
#include <cblas.h>
#include "tg.h"

#ifdef __AVX512F__
#include <immintrin.h>

#define NR 32
#define MR 12
#ifndef KC  /* -D overrides for tuning experiments */
#define KC 512
#endif
#ifndef NC
#define NC 512
#endif
/* B is read in place (no packing) when tb = 0 and A has at most this many 12-row blocks: each B
   panel would serve only a few row blocks after its packing pass (64x128 @ 128x784: 0.95x the
   packed time; from ~448 rows packing pays again, 1.1x) */
#define DIRECT_MB 6
/* ... and k is at most this: a panel walks down k rows of B, each on its own page once a row is
   4 KiB or more, and past the TLB's reach (1x2048 @ 2048x2048: 1.7x OpenBLAS's time) streaming
   row by row wins */
#define DIRECT_KMAX 512
/* A is read in place (no packing, either transpose) when C has at most this many 32-column panels:
   each A micro-panel would serve only one or two tiles after its packing pass (448x64 @ 64x64 and
   448x256 @ 256x64, a transformer's layers: 0.9x the packed time, their weight gradients
   (192|256)x448 @ 448x64 0.87-0.9x, 448x64 @ 64x27 0.9x) */
#define ADIRECT_NP 2
/* ... and so is it with more panels when k is at most this (448x64 @ 64x256, 448x64 @ (192x64).T:
   a transformer's forward products): on one thread as fast as packing (0.97-1.05x, 128^3 to
   1024x64x1024), and a threaded product then has no serial packing pass before its panels */
#ifndef ADIRECT_KMAX
#define ADIRECT_KMAX 256
#endif

static inline __mmask16 lanes(int64_t k) { return k >= 16 ? (__mmask16)0xffff : k <= 0 ? 0 : (__mmask16)((1u << k) - 1u); }

/* 16 rows of 16 floats -> 16 columns, in registers (4 rounds of 16 two-source shuffles) */
static inline __attribute__((always_inline)) void tr16x16(__m512 *r) {
    __m512 t[16];
    for (int q = 0; q < 16; q += 2) {
        t[q] = _mm512_unpacklo_ps(r[q], r[q + 1]);
        t[q + 1] = _mm512_unpackhi_ps(r[q], r[q + 1]);
    }
    for (int q = 0; q < 16; q += 4) {
        r[q] = _mm512_shuffle_ps(t[q], t[q + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[q + 1] = _mm512_shuffle_ps(t[q], t[q + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[q + 2] = _mm512_shuffle_ps(t[q + 1], t[q + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[q + 3] = _mm512_shuffle_ps(t[q + 1], t[q + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int q = 0; q < 4; q++) {
        t[q] = _mm512_shuffle_f32x4(r[q], r[q + 4], 0x88);
        t[q + 4] = _mm512_shuffle_f32x4(r[q], r[q + 4], 0xdd);
        t[q + 8] = _mm512_shuffle_f32x4(r[q + 8], r[q + 12], 0x88);
        t[q + 12] = _mm512_shuffle_f32x4(r[q + 8], r[q + 12], 0xdd);
    }
    for (int q = 0; q < 4; q++) {
        r[q] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0x88);
        r[q + 8] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0xdd);
        r[q + 4] = _mm512_shuffle_f32x4(t[q + 4], t[q + 12], 0x88);
        r[q + 12] = _mm512_shuffle_f32x4(t[q + 4], t[q + 12], 0xdd);
    }
}

/* Panel of op(B): rows p0..p0+kc, columns j0..j0+nr (nr <= 32) -> dst[p * 32 + j], zeros past nr.
   op(B)(p, j) = B[p * ldb + j], or B[j * ldb + p] when tb. */
static void pack_b(int tb, const float *B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nr, float *dst) {
    if (!tb) {
        __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
        const float *s = B + p0 * ldb + j0;
        for (int64_t p = 0; p < kc; p++, s += ldb) {
            _mm512_store_ps(dst + p * NR, _mm512_maskz_loadu_ps(m0, s));
            _mm512_store_ps(dst + p * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
        }
        return;
    }
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16)  /* both 16-column halves per step: each 128-byte row written at once */
        for (int64_t jj = 0; jj < NR; jj += 16) {
            __m512 r[16];
            const float *s = B + (j0 + jj) * ldb + p0 + p;
            if (nr - jj >= 16) {
                for (int q = 0; q < 16; q++) r[q] = _mm512_loadu_ps(s + q * ldb);
            } else {
                for (int q = 0; q < 16; q++) r[q] = q < nr - jj ? _mm512_loadu_ps(s + q * ldb) : _mm512_setzero_ps();
            }
            tr16x16(r);
            for (int q = 0; q < 16; q++) _mm512_store_ps(dst + (p + q) * NR + jj, r[q]);
        }
    for (; p < kc; p++)
        for (int64_t q = 0; q < NR; q++) dst[p * NR + q] = q < nr ? B[(j0 + q) * ldb + p0 + p] : 0.0f;
}

/* Micro-panel of op(A): rows i0..i0+mr (mr <= 12), k p0..p0+kc -> dst[p * 12 + i].
   op(A)(i, p) = A[i * lda + p], or A[p * lda + i] when ta. Lanes past mr are never read. */
static void pack_a(int ta, const float *A, int64_t lda, int64_t i0, int64_t mr, int64_t p0, int64_t kc, float *dst) {
    __mmask16 m = lanes(mr);
    if (ta) {
        const float *s = A + p0 * lda + i0;
        for (int64_t p = 0; p < kc; p++, s += lda) _mm512_mask_storeu_ps(dst + p * MR, m, _mm512_maskz_loadu_ps(m, s));
        return;
    }
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        __m512 r[16];
        const float *s = A + i0 * lda + p0 + p;
        for (int q = 0; q < 16; q++) r[q] = q < mr ? _mm512_loadu_ps(s + q * lda) : _mm512_setzero_ps();
        tr16x16(r);
        for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(dst + (p + q) * MR, m, r[q]);
    }
    for (; p < kc; p++)
        for (int64_t i = 0; i < mr; i++) dst[p * MR + i] = A[(i0 + i) * lda + p0 + p];
}

/* C tile (ROWS x 32, masks m0/m1 for the columns) = (or +=, when accum) A micro-panel @ B panel.
   Row p of the B panel starts at bp + p * ldbp: ldbp = 32 for a packed panel, ldb for B read in
   place (its loads are masked, so a last panel narrower than 32 reads nothing past n). */
#define DEF_UKR(ROWS, NAME, PF, AIDX) \
static void NAME##ROWS(int64_t kc, const float *ap, int64_t lda, const float *bp, int64_t ldbp, float *c, \
                       int64_t ldc, __mmask16 m0, __mmask16 m1, int accum) { \
    __m512 c0[ROWS], c1[ROWS]; \
    (void)lda; \
    _Pragma("GCC unroll 12") for (int i = 0; i < ROWS; i++) { c0[i] = _mm512_setzero_ps(); c1[i] = _mm512_setzero_ps(); } \
    _Pragma("GCC unroll 2") for (int64_t p = 0; p < kc; p++) { \
        __m512 b0 = _mm512_maskz_loadu_ps(m0, bp + p * ldbp), b1 = _mm512_maskz_loadu_ps(m1, bp + p * ldbp + 16); \
        if (PF) { _mm_prefetch((const char *)(bp + p * ldbp + NR), _MM_HINT_T0); \
                  _mm_prefetch((const char *)(bp + p * ldbp + NR + 16), _MM_HINT_T0); } \
        _Pragma("GCC unroll 12") for (int i = 0; i < ROWS; i++) { \
            __m512 av = _mm512_set1_ps(ap[AIDX]); \
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]); \
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]); \
        } \
    } \
    _Pragma("GCC unroll 12") for (int i = 0; i < ROWS; i++) { \
        float *cr = c + i * ldc; \
        if (accum) { \
            c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(m0, cr)); \
            c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(m1, cr + 16)); \
        } \
        _mm512_mask_storeu_ps(cr, m0, c0[i]); \
        _mm512_mask_storeu_ps(cr + 16, m1, c1[i]); \
    } \
}
#define DEF_UKRS(NAME, PF, AIDX) \
    DEF_UKR(1, NAME, PF, AIDX) DEF_UKR(2, NAME, PF, AIDX) DEF_UKR(3, NAME, PF, AIDX) DEF_UKR(4, NAME, PF, AIDX) \
    DEF_UKR(5, NAME, PF, AIDX) DEF_UKR(6, NAME, PF, AIDX) DEF_UKR(7, NAME, PF, AIDX) DEF_UKR(8, NAME, PF, AIDX) \
    DEF_UKR(9, NAME, PF, AIDX) DEF_UKR(10, NAME, PF, AIDX) DEF_UKR(11, NAME, PF, AIDX) DEF_UKR(12, NAME, PF, AIDX)
DEF_UKRS(ukr_, 0, p * MR + i)    /* A packed: a 12-float column per k */
DEF_UKRS(ukrpf_, 1, p * MR + i)  /* B read in place: each k also prefetches the same row of the next panel */
DEF_UKRS(ukra_, 0, i * lda + p)  /* A read in place, row-major (ta = 0) */
DEF_UKRS(ukrat_, 0, p * lda + i) /* A read in place, transposed (ta = 1) */
typedef void (*ukr_fn)(int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t, __mmask16,
                       __mmask16, int);
static const ukr_fn UKR[MR + 1] = {0, ukr_1, ukr_2, ukr_3, ukr_4, ukr_5, ukr_6, ukr_7, ukr_8, ukr_9, ukr_10, ukr_11, ukr_12};
static const ukr_fn UKR_PF[MR + 1] = {0, ukrpf_1, ukrpf_2, ukrpf_3, ukrpf_4, ukrpf_5, ukrpf_6, ukrpf_7, ukrpf_8,
                                      ukrpf_9, ukrpf_10, ukrpf_11, ukrpf_12};
static const ukr_fn UKR_A[MR + 1] = {0, ukra_1, ukra_2, ukra_3, ukra_4, ukra_5, ukra_6, ukra_7, ukra_8, ukra_9,
                                     ukra_10, ukra_11, ukra_12};
static const ukr_fn UKR_AT[MR + 1] = {0, ukrat_1, ukrat_2, ukrat_3, ukrat_4, ukrat_5, ukrat_6, ukrat_7, ukrat_8,
                                      ukrat_9, ukrat_10, ukrat_11, ukrat_12};

/* per-thread packing buffers, grown on demand (64-byte aligned) */
static _Thread_local float *tl_bbuf, *tl_abuf;
static _Thread_local size_t tl_bcap, tl_acap;
static _Thread_local float *tl_apk;  /* the whole packed A of a threaded product (the caller's) */
static _Thread_local size_t tl_apcap;

static float *grow(float **buf, size_t *cap, size_t nfloats) {
    if (*cap < nfloats) {
        free(*buf);
        size_t bytes = (nfloats * sizeof(float) + 63) / 64 * 64;
        *buf = aligned_alloc(64, bytes);
        *cap = *buf ? nfloats : 0;
    }
    return *buf;
}

typedef struct {
    int ta, tb, split_rows, direct, adirect;
    int64_t m, n, k, lda, ldb, ldc;
    const float *A, *B;
    float *C;
    const float *apk;      /* A packed whole (threaded column split), or NULL */
    int64_t nkb, kcb, nmb;  /* k blocks, their size, 12-row blocks */
} sg_t;

/* rows [i_lo, i_hi) x 32-column panels [jp_lo, jp_hi) of C */
static void sgemm_block(const sg_t *g, int64_t i_lo, int64_t i_hi, int64_t jp_lo, int64_t jp_hi) {
    int64_t kc_max = g->k < KC ? g->k : KC;
    float *bbuf = grow(&tl_bbuf, &tl_bcap, (size_t)(NC / NR) * kc_max * NR);
    float *abuf = grow(&tl_abuf, &tl_acap, (size_t)kc_max * MR + 16);
    if (!bbuf || !abuf) {  /* out of memory for the buffers: OpenBLAS computes the block */
        int64_t j_lo = jp_lo * NR, j_hi = jp_hi * NR < g->n ? jp_hi * NR : g->n;
        scipy_cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                          (blasint)(i_hi - i_lo), (blasint)(j_hi - j_lo), (blasint)g->k, 1.0f,
                          g->A + (g->ta ? i_lo : i_lo * g->lda), (blasint)g->lda,
                          g->B + (g->tb ? j_lo * g->ldb : j_lo), (blasint)g->ldb, 0.0f,
                          g->C + i_lo * g->ldc + j_lo, (blasint)g->ldc);
        return;
    }
    int64_t nkb = (g->k + KC - 1) / KC;          /* k blocks of equal size (a short last one wastes a pass) */
    int64_t kcb = (g->k + nkb - 1) / nkb;
    for (int64_t jc = jp_lo; jc < jp_hi; jc += NC / NR) {
        int64_t jc_hi = jc + NC / NR < jp_hi ? jc + NC / NR : jp_hi;
        for (int64_t p0 = 0; p0 < g->k; p0 += kcb) {
            int64_t kc = g->k - p0 < kcb ? g->k - p0 : kcb;
            for (int64_t jp = jc; jp < jc_hi; jp++) {
                int64_t j0 = jp * NR, nr = g->n - j0 < NR ? g->n - j0 : NR;
                pack_b(g->tb, g->B, g->ldb, p0, kc, j0, nr, bbuf + (jp - jc) * kc * NR);
            }
            for (int64_t i0 = i_lo; i0 < i_hi; i0 += MR) {
                int64_t mr = i_hi - i0 < MR ? i_hi - i0 : MR;
                if (!g->adirect) pack_a(g->ta, g->A, g->lda, i0, mr, p0, kc, abuf);
                for (int64_t jp = jc; jp < jc_hi; jp++) {
                    int64_t j0 = jp * NR, nr = g->n - j0 < NR ? g->n - j0 : NR;
                    float *c = g->C + i0 * g->ldc + j0;
                    const float *bp = bbuf + (jp - jc) * kc * NR;
                    if (g->adirect && g->ta)
                        UKR_AT[mr](kc, g->A + p0 * g->lda + i0, g->lda, bp, NR, c, g->ldc, lanes(nr), lanes(nr - 16), p0 > 0);
                    else if (g->adirect)
                        UKR_A[mr](kc, g->A + i0 * g->lda + p0, g->lda, bp, NR, c, g->ldc, lanes(nr), lanes(nr - 16), p0 > 0);
                    else
                        UKR[mr](kc, abuf, MR, bp, NR, c, g->ldc, lanes(nr), lanes(nr - 16), p0 > 0);
                }
            }
        }
    }
}

/* 32-column panels [jp_lo, jp_hi) against the whole A packed beforehand (g->apk: for each k block,
   each 12-row block's micro-panel, kcb * 12 floats apart) */
static void sgemm_prepacked(const sg_t *g, int64_t jp_lo, int64_t jp_hi) {
    int64_t np = jp_hi - jp_lo;
    float *bbuf = grow(&tl_bbuf, &tl_bcap, (size_t)np * g->kcb * NR);
    if (!bbuf) { sgemm_block(g, 0, g->m, jp_lo, jp_hi); return; }  /* which falls back to OpenBLAS */
    for (int64_t kb = 0; kb < g->nkb; kb++) {
        int64_t p0 = kb * g->kcb, kc = g->k - p0 < g->kcb ? g->k - p0 : g->kcb;
        for (int64_t jp = jp_lo; jp < jp_hi; jp++) {
            int64_t j0 = jp * NR, nr = g->n - j0 < NR ? g->n - j0 : NR;
            pack_b(g->tb, g->B, g->ldb, p0, kc, j0, nr, bbuf + (jp - jp_lo) * kc * NR);
        }
        for (int64_t ib = 0; ib < g->nmb; ib++) {
            int64_t i0 = ib * MR, mr = g->m - i0 < MR ? g->m - i0 : MR;
            const float *ap = g->apk + (kb * g->nmb + ib) * g->kcb * MR;
            for (int64_t jp = jp_lo; jp < jp_hi; jp++) {
                int64_t j0 = jp * NR, nr = g->n - j0 < NR ? g->n - j0 : NR;
                UKR[mr](kc, ap, MR, bbuf + (jp - jp_lo) * kc * NR, NR, g->C + i0 * g->ldc + j0, g->ldc,
                        lanes(nr), lanes(nr - 16), kb > 0);
            }
        }
    }
}

/* micro-panels lo..hi of the whole packed A (unit u: k block u / nmb, 12-row block u % nmb) */
static void pack_a_units(void *ctx, int64_t lo, int64_t hi) {
    const sg_t *g = ctx;
    for (int64_t u = lo; u < hi; u++) {
        int64_t kb = u / g->nmb, ib = u % g->nmb, p0 = kb * g->kcb, i0 = ib * MR;
        pack_a(g->ta, g->A, g->lda, i0, g->m - i0 < MR ? g->m - i0 : MR, p0, g->k - p0 < g->kcb ? g->k - p0 : g->kcb,
               (float *)g->apk + u * g->kcb * MR);
    }
}

/* 32-column panels [jp_lo, jp_hi) of a product whose B is read in place (g->direct: tb = 0, few
   row blocks, so each B panel would be used once or twice after packing it), against the whole
   packed A (g->apk, as sgemm_prepacked) */
static void sgemm_direct(const sg_t *g, int64_t jp_lo, int64_t jp_hi) {
    for (int64_t jp = jp_lo; jp < jp_hi; jp++) {
        int64_t j0 = jp * NR, nr = g->n - j0 < NR ? g->n - j0 : NR;
        for (int64_t kb = 0; kb < g->nkb; kb++) {
            int64_t p0 = kb * g->kcb, kc = g->k - p0 < g->kcb ? g->k - p0 : g->kcb;
            for (int64_t ib = 0; ib < g->nmb; ib++) {
                int64_t i0 = ib * MR, mr = g->m - i0 < MR ? g->m - i0 : MR;
                (ib == 0 ? UKR_PF : UKR)[mr](kc, g->apk + (kb * g->nmb + ib) * g->kcb * MR, MR, g->B + p0 * g->ldb + j0,
                                             g->ldb, g->C + i0 * g->ldc + j0, g->ldc, lanes(nr), lanes(nr - 16), kb > 0);
            }
        }
    }
}

static void sgemm_chunk(void *ctx, int64_t lo, int64_t hi) {
    const sg_t *g = ctx;
    if (g->direct) sgemm_direct(g, lo, hi);
    else if (g->split_rows) sgemm_block(g, lo * MR, hi * MR < g->m ? hi * MR : g->m, 0, (g->n + NR - 1) / NR);
    else if (g->apk) sgemm_prepacked(g, lo, hi);
    else sgemm_block(g, 0, g->m, lo, hi);
}

/* ---------------------------------------------------------------- few columns, both operands along k */
/* C (m x n, n < 32) = A B^T with A (m x k) and B (n x k) both row-major (ta = 0, tb = 1: x @ W.T of a
   Linear layer with few outputs, 128x256 @ 256x10 in the MLP). A 12x32 tile would waste most of its
   columns, so this kernel takes dot products along k instead: 4 rows of A x 5 rows of B in 20 zmm
   accumulators (9 loads per 20 FMAs, no packing), each group of 4 sums reduced in 12 shuffles/adds. */
#define DR 4
#define DJ 5

/* the 16-lane sums of 4 vectors, as 4 floats */
static inline __m128 sum4x16(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    __m512 a = _mm512_add_ps(_mm512_unpacklo_ps(v0, v1), _mm512_unpackhi_ps(v0, v1));
    __m512 b = _mm512_add_ps(_mm512_unpacklo_ps(v2, v3), _mm512_unpackhi_ps(v2, v3));
    __m512 c = _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    __m256 d = _mm256_add_ps(_mm512_castps512_ps256(c), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(c), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(d), _mm256_extractf128_ps(d, 1));
}

typedef struct { int64_t m, n, k, lda, ldb, ldc; const float *A, *B; float *C; } dot_t;

/* rows [4 lo, 4 hi) of C */
static void dot_rows(void *ctx, int64_t lo, int64_t hi) {
    const dot_t *d = ctx;
    int64_t k = d->k, kfull = k / 16 * 16;
    __mmask16 tail = lanes(k - kfull);
    for (int64_t i0 = lo * DR; i0 < hi * DR && i0 < d->m; i0 += DR) {
        const float *ar[DR];
        for (int r = 0; r < DR; r++) ar[r] = d->A + (i0 + r < d->m ? i0 + r : d->m - 1) * d->lda;  /* past m: repeat a row */
        for (int64_t j0 = 0; j0 < d->n; j0 += DJ) {
            const float *br[DJ];
            for (int j = 0; j < DJ; j++) br[j] = d->B + (j0 + j < d->n ? j0 + j : d->n - 1) * d->ldb;
            __m512 acc[DR][DJ];
            for (int r = 0; r < DR; r++)
                for (int j = 0; j < DJ; j++) acc[r][j] = _mm512_setzero_ps();
            for (int64_t p = 0; p < kfull; p += 16) {
                __m512 av[DR];
                for (int r = 0; r < DR; r++) av[r] = _mm512_loadu_ps(ar[r] + p);
                for (int j = 0; j < DJ; j++) {
                    __m512 bv = _mm512_loadu_ps(br[j] + p);
                    for (int r = 0; r < DR; r++) acc[r][j] = _mm512_fmadd_ps(av[r], bv, acc[r][j]);
                }
            }
            if (tail) {
                __m512 av[DR];
                for (int r = 0; r < DR; r++) av[r] = _mm512_maskz_loadu_ps(tail, ar[r] + kfull);
                for (int j = 0; j < DJ; j++) {
                    __m512 bv = _mm512_maskz_loadu_ps(tail, br[j] + kfull);
                    for (int r = 0; r < DR; r++) acc[r][j] = _mm512_fmadd_ps(av[r], bv, acc[r][j]);
                }
            }
            for (int j = 0; j < DJ && j0 + j < d->n; j++) {
                float s[4];
                _mm_storeu_ps(s, sum4x16(acc[0][j], acc[1][j], acc[2][j], acc[3][j]));
                for (int r = 0; r < DR && i0 + r < d->m; r++) d->C[(i0 + r) * d->ldc + j0 + j] = s[r];
            }
        }
    }
}

int tg_sgemm_dot_ok(int ta, int tb, int64_t m, int64_t n, int64_t k) {
    /* one thread, against OpenBLAS's sgemm: 128x256 @ 256x10 (h @ W2.T) 4.5 vs 13 us, 1024x784 @
       784x10 131 vs 316 us, n = 31 0.54x, n = 16 0.62x; with fewer than 5 columns (a 4x5 block
       wastes the rest; n = 1: 2.3x) or below ~2^17 multiply-adds (64x128x10: even) it does not pay */
    return !ta && tb && n >= DJ && n < 32 && m >= DR && k >= 64 && m * n * k >= ((int64_t)1 << 17)
           && !(k < 128 && tg_sgemm_own_ok(ta, tb, m, n, k));  /* little k: the 12x32 tile wins, see there */
}

void tg_sgemm_dot(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda, const float *B, int64_t ldb,
                  float *C, int64_t ldc, int nt) {
    dot_t d = {m, n, k, lda, ldb, ldc, A, B, C};
    int64_t nblk = (m + DR - 1) / DR;
    tg_parallel_chunks(nblk, nt, tg_chunk_for(nblk, nt, 1), dot_rows, &d);
}

int tg_sgemm_own_ok(int ta, int tb, int64_t m, int64_t n, int64_t k) {
    /* Measured on this machine, one thread, against OpenBLAS 0.3.34's sgemm, every transpose pair:
       128^3 0.72-0.82x, 256^3 0.85x, 128x784x256 0.80x, 256x128x784 0.88x, 512^3 0.86-1.0x;
       from 1024^3 on its deeper blocking is as fast or faster (0.82-1.12x), so those stay there.
       Below 2^20 multiply-adds OpenBLAS's small-matrix paths win (64^3 1.25x; 64x120x84: even).
       From 2^20: 448x64x64 (a transformer's 64-wide layer, every transpose pair) 0.73-0.90x.
       Few rows with B in place (DIRECT_MB): LeNet's im2col products 6x25x20384 0.2-0.4x,
       16x150x3400 0.75-0.8x, 1-12 x600 @ 600x2100 0.5-0.7x. 16 to 31 columns of a transposed B with little k (448x64 @ 64x27,
       a language model's head): 0.7x; with more k the dot kernel takes them (tg_sgemm_dot_ok). */
    (void)ta;
    int64_t mnk = m * n * k;
    if (k < 16 || mnk > ((int64_t)1 << 27)) return 0;
    if (n >= 32) return mnk >= ((int64_t)1 << 20) && (m >= 16 || (!tb && k <= DIRECT_KMAX));
    return tb && n >= 16 && m >= 64 && mnk >= ((int64_t)1 << 19);
}

void tg_sgemm_own(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float *C, int64_t ldc, int nt) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++) memset(C + i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    int64_t np = (n + NR - 1) / NR, nmb = (m + MR - 1) / MR;
    int64_t nkb = (k + KC - 1) / KC, kcb = (k + nkb - 1) / nkb;
    sg_t g = {ta, tb, 0, 0, 0, m, n, k, lda, ldb, ldc, A, B, C, NULL, nkb, kcb, nmb};
    if (np <= ADIRECT_NP || k <= ADIRECT_KMAX) {  /* A read in place */
        g.adirect = 1;
        if (nt <= 1 || nmb < 2) { sgemm_block(&g, 0, m, 0, np); return; }
        if (np < 2 * nt) {  /* threads split the rows (each packs the little B) */
            g.split_rows = 1;
            tg_parallel_for(nmb, nt, 1, sgemm_chunk, &g);
            return;
        }
        /* threads split the panels, in small chunks (each packs its own B panels): no serial part */
        tg_parallel_chunks(np, nt, (np + 4 * nt - 1) / (4 * nt), sgemm_chunk, &g);
        return;
    }
    g.direct = !tb && nmb <= DIRECT_MB && k <= DIRECT_KMAX;
    if (!g.direct) {
        if (nt <= 1) { sgemm_block(&g, 0, m, 0, np); return; }
        g.split_rows = np < 2 * nt && nmb >= 2 * nt;  /* too few panels to share: rows instead */
        if (g.split_rows) { tg_parallel_for(nmb, nt, 1, sgemm_chunk, &g); return; }
    }
    /* Columns: A is packed once, here, and shared (each chunk packing it again cost ~10 us per
       128x784 A), so the panels can go in small chunks: a worker the OS wakes late (a busy
       machine) still takes its share of the chunks left instead of leaving all to the caller. */
    float *apk = grow(&tl_apk, &tl_apcap, (size_t)(nkb * nmb * kcb * MR));
    if (apk) {
        g.apk = apk;
        if (m * k >= 32768 && nt > 1)  /* x of 128x784: ~10 us to pack on one thread, a job of its own pays */
            tg_parallel_chunks(nkb * nmb, nt, tg_chunk_for(nkb * nmb, nt, 1), pack_a_units, &g);
        else
            pack_a_units(&g, 0, nkb * nmb);
    } else if (g.direct) {
        g.direct = 0;  /* sgemm_block packs its own */
    }
    int64_t chunk = (np + 4 * nt - 1) / (4 * nt);
    tg_parallel_chunks(np, nt, chunk, sgemm_chunk, &g);
    if (tl_apcap > ((size_t)1 << 20)) {  /* do not keep more than 4 MiB of packed A per thread */
        free(tl_apk);
        tl_apk = NULL;
        tl_apcap = 0;
    }
}
#elif !(defined(__AVX2__) && defined(__FMA__))  /* AVX2+FMA: gemm_avx2.c */
int tg_sgemm_dot_ok(int ta, int tb, int64_t m, int64_t n, int64_t k) { (void)ta; (void)tb; (void)m; (void)n; (void)k; return 0; }
void tg_sgemm_dot(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda, const float *B, int64_t ldb,
                  float *C, int64_t ldc, int nt) {
    (void)m; (void)n; (void)k; (void)A; (void)lda; (void)B; (void)ldb; (void)C; (void)ldc; (void)nt;
}
int tg_sgemm_own_ok(int ta, int tb, int64_t m, int64_t n, int64_t k) { (void)ta; (void)tb; (void)m; (void)n; (void)k; return 0; }
void tg_sgemm_own(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float *C, int64_t ldc, int nt) {
    (void)ta; (void)tb; (void)m; (void)n; (void)k; (void)A; (void)lda; (void)B; (void)ldb; (void)C; (void)ldc; (void)nt;
}
#endif
