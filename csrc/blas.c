/* Batched matmul through OpenBLAS's CBLAS (scipy-openblas32: symbols carry a scipy_ prefix). */
#include <cblas.h>
#include <omp.h>
#include "tg.h"

/* Threads: OpenBLAS runs single-threaded (c_backend.py sets it so) and a big product is split
   here into one block of rows (or of columns) per OpenMP thread, each its own serial GEMM. Then
   every parallel kernel of the backend runs on one pool, libgomp's: with OpenBLAS's own pool
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
static void gemm_par(int dt, int ta, int tb, int64_t m, int64_t n, int64_t k, const char *ap, int64_t lda,
                     const char *bp, int64_t ldb, char *op, int nt) {
    enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    int64_t isz = TG_ITEMSIZE[dt];
    int split_m = m >= n;
    int64_t len = split_m ? m : n;
    if (nt <= 1 || len < 32) { gemm1(dt, TA, TB, m, n, k, ap, lda, bp, ldb, op, n); return; }
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t chunk = ((len + T - 1) / T + 15) / 16 * 16;
        int64_t lo = chunk * t, hi = lo + chunk < len ? lo + chunk : len;
        if (lo < hi) {
            if (split_m)  /* rows lo..hi of A (row i starts at i*lda, or at i when transposed) */
                gemm1(dt, TA, TB, hi - lo, n, k, ap + (ta ? lo : lo * lda) * isz, lda, bp, ldb,
                      op + lo * n * isz, n);
            else          /* columns lo..hi of B and of out */
                gemm1(dt, TA, TB, m, hi - lo, k, ap, lda, bp + (tb ? lo * ldb : lo) * isz, ldb,
                      op + lo * isz, n);
        }
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
        /* a batch of products: one serial GEMM per batch entry, the entries handed out to the
           threads one by one in a single parallel region (a thread the OS keeps waiting on a
           busy machine then holds up no one: the others take its share) */
        int nth = tg_get_threads();
        #pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
        for (int64_t q = 0; q < nbatch; q++) {
            int64_t rest = q, ao = 0, bo = 0;
            for (int d = nb - 1; d >= 0; d--) {
                int64_t i = rest % bgeo[d];
                rest /= bgeo[d];
                ao += i * bgeo[nb + d];
                bo += i * bgeo[2 * nb + d];
            }
            gemm_par(dt, ta, tb, m, n, k, ap + ao * isz, lda, bp + bo * isz, ldb, op + q * m * n * isz, 1);
        }
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
