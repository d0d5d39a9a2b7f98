/* Batched matmul through OpenBLAS's CBLAS (scipy-openblas32: symbols carry a scipy_ prefix). */
#include <cblas.h>
#include "tg.h"

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
    enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    int64_t aoffb = 0, boffb = 0;
    for (int64_t q = 0; q < nbatch; q++) {
        if (dt == DT_F32)
            scipy_cblas_sgemm(CblasRowMajor, TA, TB, (blasint)m, (blasint)n, (blasint)k, 1.0f,
                              (const float *)ap + aoffb, (blasint)lda, (const float *)bp + boffb, (blasint)ldb,
                              0.0f, (float *)op + q * m * n, (blasint)n);
        else
            scipy_cblas_dgemm(CblasRowMajor, TA, TB, (blasint)m, (blasint)n, (blasint)k, 1.0,
                              (const double *)ap + aoffb, (blasint)lda, (const double *)bp + boffb, (blasint)ldb,
                              0.0, (double *)op + q * m * n, (blasint)n);
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
