/* Batched matmul through OpenBLAS's CBLAS (scipy-openblas32: symbols carry a scipy_ prefix), and
   float32 products of mid size through the project's own AVX-512 GEMM (gemm.c), which is faster
   there (tg_sgemm_own_ok says where). */
#include <cblas.h>
#include "tg.h"

/* Threads: OpenBLAS runs single-threaded (c_backend.py sets it so) and a big product is split
   here into one block of rows (or of columns) per thread of the backend's own pool (core.c),
   each its own serial GEMM. Then every parallel kernel runs on one pool: with OpenBLAS's pool
   too, each switch between a matmul and an elementwise op woke the other pool's sleeping threads
   (a 2-core MLP step spent more time waking pools than computing, worst on a busy machine). */
static void gemm1(int dt, enum CBLAS_TRANSPOSE TA, enum CBLAS_TRANSPOSE TB, int64_t m, int64_t n, int64_t k,
                  const char *ap, int64_t lda, const char *bp, int64_t ldb, char *op, int64_t ldc) {
    if (dt == DT_F32)
        scipy_cblas_sgemm(CblasRowMajor, TA, TB, (blasint)m, (blasint)n, (blasint)k, 1.0f,
                          (const float *)ap, (blasint)lda, (const float *)bp, (blasint)ldb,
                          0.0f, (float *)op, (blasint)ldc);
    else
        scipy_cblas_dgemm(CblasRowMajor, TA, TB, (blasint)m, (blasint)n, (blasint)k, 1.0,
                          (const double *)ap, (blasint)lda, (const double *)bp, (blasint)ldb,
                          0.0, (double *)op, (blasint)ldc);
}

/* Below this many multiply-adds a product runs on one thread (waking the pool costs more). */
#define MM_PAR_MIN ((int64_t)1 << 20)

/* out (m, n, row stride n) = op(A) op(B), split over nt threads along the longer of m and n
   (blocks a multiple of 16 rows/columns, the GEMM kernels' register tile). */
typedef struct {
    int dt, ta, tb, split_m;
    int64_t m, n, k, lda, ldb, isz;
    const char *ap, *bp;
    char *op;
} mm_t;

static void gemm_block(void *ctx, int64_t lo, int64_t hi) {
    const mm_t *g = ctx;
    enum CBLAS_TRANSPOSE TA = g->ta ? CblasTrans : CblasNoTrans, TB = g->tb ? CblasTrans : CblasNoTrans;
    if (g->split_m)  /* rows lo..hi of A (row i starts at i*lda, or at i when transposed) */
        gemm1(g->dt, TA, TB, hi - lo, g->n, g->k, g->ap + (g->ta ? lo : lo * g->lda) * g->isz, g->lda,
              g->bp, g->ldb, g->op + lo * g->n * g->isz, g->n);
    else             /* columns lo..hi of B and of out */
        gemm1(g->dt, TA, TB, g->m, hi - lo, g->k, g->ap, g->lda, g->bp + (g->tb ? lo * g->ldb : lo) * g->isz,
              g->ldb, g->op + lo * g->isz, g->n);
}

static void gemm_par(int dt, int ta, int tb, int64_t m, int64_t n, int64_t k, const char *ap, int64_t lda,
                     const char *bp, int64_t ldb, char *op, int nt) {
    if (dt == DT_F32 && tg_sgemm_dot_ok(ta, tb, m, n, k)) {
        tg_sgemm_dot(m, n, k, (const float *)ap, lda, (const float *)bp, ldb, (float *)op, n, nt);
        return;
    }
    if (dt == DT_F32 && tg_sgemm_own_ok(ta, tb, m, n, k)) {
        tg_sgemm_own(ta, tb, m, n, k, (const float *)ap, lda, (const float *)bp, ldb, (float *)op, n, nt);
        return;
    }
    int split_m = m >= n;
    mm_t g = {dt, ta, tb, split_m, m, n, k, lda, ldb, TG_ITEMSIZE[dt], ap, bp, op};
    int64_t len = split_m ? m : n;
    if (nt <= 1 || len < 32) { gemm_block(&g, 0, len); return; }
    tg_parallel_for(len, nt, 16, gemm_block, &g);
}

typedef struct {
    int dt, ta, tb, nb;
    int64_t m, n, k, lda, ldb, isz;
    const int64_t *bgeo;
    const char *ap, *bp;
    char *op;
} bmm_t;

/* batch entries lo..hi, each one serial GEMM */
static void gemm_batch(void *ctx, int64_t lo, int64_t hi) {
    const bmm_t *b = ctx;
    for (int64_t q = lo; q < hi; q++) {
        int64_t rest = q, ao = 0, bo = 0;
        for (int d = b->nb - 1; d >= 0; d--) {
            int64_t i = rest % b->bgeo[d];
            rest /= b->bgeo[d];
            ao += i * b->bgeo[b->nb + d];
            bo += i * b->bgeo[2 * b->nb + d];
        }
        gemm_par(b->dt, b->ta, b->tb, b->m, b->n, b->k, b->ap + ao * b->isz, b->lda, b->bp + bo * b->isz, b->ldb,
                 b->op + q * b->m * b->n * b->isz, 1);
    }
}

/* bgeo = batch shape[nb], a batch strides[nb], b batch strides[nb] (elements). The last two dims
   of each operand are a plain (ta = 0) or transposed (ta = 1) matrix with leading dim lda/ldb,
   chosen in Python; out is contiguous (*batch, m, n). */
int tg_matmul(int dt, int nb, const int64_t *bgeo, const void *a, int64_t aoff, int ta, int64_t lda,
              const void *b, int64_t boff, int tb, int64_t ldb, void *out,
              int64_t m, int64_t n, int64_t k) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    if (nb < 0 || nb > TG_MAXDIM) return ERR_DIM;
    /* blasint is 32-bit in this OpenBLAS build */
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX) return ERR_DIM;
    int64_t isz = TG_ITEMSIZE[dt], nbatch = 1, idx[TG_MAXDIM];
    for (int d = 0; d < nb; d++) { nbatch *= bgeo[d]; idx[d] = 0; }
    const char *ap = (const char *)a + aoff * isz, *bp = (const char *)b + boff * isz;
    char *op = out;
    int64_t aoffb = 0, boffb = 0;
    int nt = tg_get_threads();
    if (m * n * k < MM_PAR_MIN) nt = 1;
    if (nbatch >= 2 * tg_get_threads() && tg_get_threads() > 1 && nbatch * m * n * k >= MM_PAR_MIN) {
        /* a batch of products: one serial GEMM per batch entry, the entries split over threads */
        bmm_t b = {dt, ta, tb, nb, m, n, k, lda, ldb, isz, bgeo, ap, bp, op};
        tg_parallel_for(nbatch, tg_get_threads(), 1, gemm_batch, &b);
        return ERR_OK;
    }
    for (int64_t q = 0; q < nbatch; q++) {
        gemm_par(dt, ta, tb, m, n, k, ap + aoffb * isz, lda, bp + boffb * isz, ldb, op + q * m * n * isz, nt);
        for (int d = nb - 1; d >= 0; d--) {  /* next batch index */
            aoffb += bgeo[nb + d];
            boffb += bgeo[2 * nb + d];
            if (++idx[d] < bgeo[d]) break;
            aoffb -= bgeo[d] * bgeo[nb + d];
            boffb -= bgeo[d] * bgeo[2 * nb + d];
            idx[d] = 0;
        }
    }
    return ERR_OK;
}
