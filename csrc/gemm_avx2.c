/* The project's own float32 GEMM for AVX2+FMA CPUs without AVX-512 (row-major C = op(A) op(B),
   beta = 0): tg_sgemm_own for the shapes tg_sgemm_own_ok names (small and mid-size products such
   as a small transformer's, 448 x 64..256 x 64..448, where OpenBLAS's Haswell kernels reached about
   35 GFLOP/s on one Zen 3 core and this one 40-50); gemm.c holds the AVX-512 version of the same
   entry points (tg.h declares them).

   B is packed into panels of 16 columns (k-major: 16 floats per k, zero-filled past n), one k
   block of at most KC at a time, small enough to stay in L1; A is read in place (each A element
   of a 6-row block serves one 16-column tile per panel). A 6x16 micro-kernel keeps the C tile in
   12 ymm registers: per k, two loads of B, six broadcasts of A, twelve FMAs. Later k blocks add
   into C. Threads split the 16-column panels, or the 6-row blocks when there are too few panels. */
#include <stdlib.h>
#include <cblas.h>
#include "tg.h"

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define NR 16
#define MR 6
#ifndef KC
#define KC 384  /* a packed 16-column panel of 384 k: 24 KiB */
#endif

/* per-thread packing buffer (64-byte aligned), grown on demand */
static _Thread_local float *tl_bbuf;
static _Thread_local size_t tl_bcap;

static float *grow_bbuf(size_t nfloats) {
    if (tl_bcap < nfloats) {
        free(tl_bbuf);
        tl_bbuf = aligned_alloc(64, (nfloats * sizeof(float) + 63) / 64 * 64);
        tl_bcap = tl_bbuf ? nfloats : 0;
    }
    return tl_bbuf;
}

static inline __m256i lanes8(int64_t k) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)(k < 0 ? 0 : k > 8 ? 8 : k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* 8 rows of 8 floats (r[q]) -> 8 columns, in registers */
static inline __attribute__((always_inline)) void tr8x8(__m256 *r) {
    __m256 t[8];
    for (int q = 0; q < 8; q += 2) {
        t[q] = _mm256_unpacklo_ps(r[q], r[q + 1]);
        t[q + 1] = _mm256_unpackhi_ps(r[q], r[q + 1]);
    }
    for (int q = 0; q < 8; q += 4) {
        r[q] = _mm256_shuffle_ps(t[q], t[q + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[q + 1] = _mm256_shuffle_ps(t[q], t[q + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[q + 2] = _mm256_shuffle_ps(t[q + 1], t[q + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[q + 3] = _mm256_shuffle_ps(t[q + 1], t[q + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int q = 0; q < 4; q++) {
        t[q] = _mm256_permute2f128_ps(r[q], r[q + 4], 0x20);
        t[q + 4] = _mm256_permute2f128_ps(r[q], r[q + 4], 0x31);
    }
    for (int q = 0; q < 8; q++) r[q] = t[q];
}

/* Panel of op(B): rows p0..p0+kc, columns j0..j0+nr (nr <= 16) -> dst[p * 16 + j], zeros past nr.
   op(B)(p, j) = B[p * ldb + j], or B[j * ldb + p] when tb (then 8x8 blocks transposed in registers). */
static void pack_b(int tb, const float *B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nr, float *dst) {
    if (!tb) {
        const float *s = B + p0 * ldb + j0;
        if (nr == NR) {
            for (int64_t p = 0; p < kc; p++, s += ldb) {
                _mm256_store_ps(dst + p * NR, _mm256_loadu_ps(s));
                _mm256_store_ps(dst + p * NR + 8, _mm256_loadu_ps(s + 8));
            }
        } else {
            __m256i m0 = lanes8(nr), m1 = lanes8(nr - 8);
            for (int64_t p = 0; p < kc; p++, s += ldb) {
                _mm256_store_ps(dst + p * NR, _mm256_maskload_ps(s, m0));
                _mm256_store_ps(dst + p * NR + 8, _mm256_maskload_ps(s + 8, m1));
            }
        }
        return;
    }
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8)
        for (int64_t jj = 0; jj < NR; jj += 8) {
            __m256 r[8];
            const float *s = B + (j0 + jj) * ldb + p0 + p;
            for (int q = 0; q < 8; q++) r[q] = q < nr - jj ? _mm256_loadu_ps(s + q * ldb) : _mm256_setzero_ps();
            tr8x8(r);
            for (int q = 0; q < 8; q++) _mm256_store_ps(dst + (p + q) * NR + jj, r[q]);
        }
    for (; p < kc; p++)
        for (int64_t q = 0; q < NR; q++) dst[p * NR + q] = q < nr ? B[(j0 + q) * ldb + p0 + p] : 0.0f;
}

/* C tile (ROWS x nr, nr <= 16) = (or +=, when accum) op(A) rows @ the packed B panel, A read in place:
   element (i, p) at ap[AIDX] */
#define DEF_UKR(ROWS, NAME, AIDX) \
static void NAME##ROWS(int64_t kc, const float *ap, int64_t lda, const float *bp, float *c, int64_t ldc, \
                       int64_t nr, int accum) { \
    __m256 c0[ROWS], c1[ROWS]; \
    _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) { c0[i] = _mm256_setzero_ps(); c1[i] = _mm256_setzero_ps(); } \
    _Pragma("GCC unroll 4") for (int64_t p = 0; p < kc; p++) { \
        __m256 b0 = _mm256_load_ps(bp + p * NR), b1 = _mm256_load_ps(bp + p * NR + 8); \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) { \
            __m256 av = _mm256_broadcast_ss(ap + (AIDX)); \
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]); \
            c1[i] = _mm256_fmadd_ps(av, b1, c1[i]); \
        } \
    } \
    if (nr == NR) { \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) { \
            float *cr = c + i * ldc; \
            if (accum) { c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(cr)); c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(cr + 8)); } \
            _mm256_storeu_ps(cr, c0[i]); \
            _mm256_storeu_ps(cr + 8, c1[i]); \
        } \
    } else { \
        __m256i m0 = lanes8(nr), m1 = lanes8(nr - 8); \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) { /* unrolled: c0, c1 stay registers */ \
            float *cr = c + i * ldc; \
            if (accum) { c0[i] = _mm256_add_ps(c0[i], _mm256_maskload_ps(cr, m0)); \
                         c1[i] = _mm256_add_ps(c1[i], _mm256_maskload_ps(cr + 8, m1)); } \
            _mm256_maskstore_ps(cr, m0, c0[i]); \
            _mm256_maskstore_ps(cr + 8, m1, c1[i]); \
        } \
    } \
}
#define DEF_UKRS(NAME, AIDX) \
    DEF_UKR(1, NAME, AIDX) DEF_UKR(2, NAME, AIDX) DEF_UKR(3, NAME, AIDX) DEF_UKR(4, NAME, AIDX) \
    DEF_UKR(5, NAME, AIDX) DEF_UKR(6, NAME, AIDX)
DEF_UKRS(ukra_, i * lda + p)   /* A row-major (ta = 0) */
DEF_UKRS(ukrat_, p * lda + i)  /* A transposed (ta = 1) */
typedef void (*ukr_fn)(int64_t, const float *, int64_t, const float *, float *, int64_t, int64_t, int);
static const ukr_fn UKR_A[MR + 1] = {0, ukra_1, ukra_2, ukra_3, ukra_4, ukra_5, ukra_6};
static const ukr_fn UKR_AT[MR + 1] = {0, ukrat_1, ukrat_2, ukrat_3, ukrat_4, ukrat_5, ukrat_6};

typedef struct {
    int ta, tb, split_rows;
    int64_t m, n, k, lda, ldb, ldc;
    const float *A, *B;
    float *C;
} sg_t;

/* rows [i_lo, i_hi) x 16-column panels [jp_lo, jp_hi) of C */
static void sgemm_block(const sg_t *g, int64_t i_lo, int64_t i_hi, int64_t jp_lo, int64_t jp_hi) {
    int64_t nkb = (g->k + KC - 1) / KC, kcb = (g->k + nkb - 1) / nkb;  /* k blocks of equal size */
    float *bbuf = grow_bbuf((size_t)kcb * NR);
    if (!bbuf) {  /* out of memory for the buffer: OpenBLAS computes the block */
        int64_t j_lo = jp_lo * NR, j_hi = jp_hi * NR < g->n ? jp_hi * NR : g->n;
        scipy_cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                          (blasint)(i_hi - i_lo), (blasint)(j_hi - j_lo), (blasint)g->k, 1.0f,
                          g->A + (g->ta ? i_lo : i_lo * g->lda), (blasint)g->lda,
                          g->B + (g->tb ? j_lo * g->ldb : j_lo), (blasint)g->ldb, 0.0f,
                          g->C + i_lo * g->ldc + j_lo, (blasint)g->ldc);
        return;
    }
    const ukr_fn *ukr = g->ta ? UKR_AT : UKR_A;
    for (int64_t jp = jp_lo; jp < jp_hi; jp++) {
        int64_t j0 = jp * NR, nr = g->n - j0 < NR ? g->n - j0 : NR;
        for (int64_t p0 = 0; p0 < g->k; p0 += kcb) {
            int64_t kc = g->k - p0 < kcb ? g->k - p0 : kcb;
            pack_b(g->tb, g->B, g->ldb, p0, kc, j0, nr, bbuf);
            for (int64_t i0 = i_lo; i0 < i_hi; i0 += MR) {
                int64_t mr = i_hi - i0 < MR ? i_hi - i0 : MR;
                const float *a = g->A + (g->ta ? p0 * g->lda + i0 : i0 * g->lda + p0);
                ukr[mr](kc, a, g->lda, bbuf, g->C + i0 * g->ldc + j0, g->ldc, nr, p0 > 0);
            }
        }
    }
}

static void sgemm_chunk(void *ctx, int64_t lo, int64_t hi) {
    const sg_t *g = ctx;
    if (g->split_rows) sgemm_block(g, lo * MR, hi * MR < g->m ? hi * MR : g->m, 0, (g->n + NR - 1) / NR);
    else sgemm_block(g, 0, g->m, lo, hi);
}

int tg_sgemm_own_ok(int ta, int tb, int64_t m, int64_t n, int64_t k) {
    /* Measured on a Zen 3 core (2.45 GHz), one thread, against OpenBLAS 0.3.34's Haswell sgemm
       (every transpose pair): 32x64x64 to 64^3 0.4-0.6x, 448x(16|27|64)x64 0.45-0.73x, 128^3
       0.72-0.83x, 256^3 0.9x, 128x784x256 and 256x128x784 0.87-1.05x; from 512^3 and 1024x1024x128
       (1.0-1.7x: no blocking of A) OpenBLAS's deeper blocking wins, and so it does with few columns
       and much work (2000x17x300 1.06-1.09x). */
    (void)ta; (void)tb;
    int64_t mnk = m * n * k;
    if (k < 16 || n < 16 || m < 16 || mnk < ((int64_t)1 << 16) || mnk > ((int64_t)1 << 25)) return 0;
    return n >= 32 || mnk <= ((int64_t)1 << 21);
}

void tg_sgemm_own(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float *C, int64_t ldc, int nt) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++) memset(C + i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    int64_t np = (n + NR - 1) / NR, nmb = (m + MR - 1) / MR;
    sg_t g = {ta, tb, 0, m, n, k, lda, ldb, ldc, A, B, C};
    if (nt <= 1 || (np < 2 && nmb < 2)) { sgemm_block(&g, 0, m, 0, np); return; }
    if (np < 2 * nt) {  /* too few panels to share: the row blocks (each thread packs the B panels) */
        g.split_rows = 1;
        tg_parallel_chunks(nmb, nt, tg_chunk_for(nmb, nt, 1), sgemm_chunk, &g);
        return;
    }
    tg_parallel_chunks(np, nt, (np + 4 * nt - 1) / (4 * nt), sgemm_chunk, &g);
}

/* the few-column dot kernel is AVX-512 only (gemm.c) */
int tg_sgemm_dot_ok(int ta, int tb, int64_t m, int64_t n, int64_t k) { (void)ta; (void)tb; (void)m; (void)n; (void)k; return 0; }
void tg_sgemm_dot(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda, const float *B, int64_t ldb,
                  float *C, int64_t ldc, int nt) {
    (void)m; (void)n; (void)k; (void)A; (void)lda; (void)B; (void)ldb; (void)C; (void)ldc; (void)nt;
}
#endif
