/* Shared internals of the C kernels. */
#ifndef TG_H
#define TG_H
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <math.h>
#include "api.h"
#include "tg_ops.h"  /* op and dtype codes, generated from backends/protocol.py */

#define TG_MAXDIM 64
enum { ERR_OK = 0, ERR_OP = -1, ERR_DIM = -2, ERR_INDEX = -3, ERR_MEM = -4 };
static const int64_t TG_ITEMSIZE[DT_COUNT] = {[DT_BOOL] = 1, [DT_I64] = 8, [DT_F32] = 4, [DT_F64] = 8,
                                               [DT_U8] = 1, [DT_I16] = 2, [DT_I32] = 4};
/* the integer dtypes narrower than int64 (they share the int64 rules, wrapping modulo 2**bits) */
#define TG_NARROW_INT(dt) ((dt) == DT_U8 || (dt) == DT_I16 || (dt) == DT_I32)

/* A loop over n elements of a row: p[i] are the row starts of each operand, st[i] the steps
   in bytes. Like a numpy ufunc inner loop; `op` selects the operation. */
typedef void (*loop_fn)(int op, char **p, const int64_t *st, int64_t n);

/* Run `fn` over an nd-dim iteration space; the strides are in bytes, one row of nd per operand.
   `costly` marks transcendental ops (parallel from a smaller size); isz[i] is operand i's item
   size (2-d tiling stages transposed inputs through a buffer). */
void tg_nditer(int op, int nargs, int nd, const int64_t *shape, const int64_t *bstrides, char **base,
               loop_fn fn, int costly, const int64_t *isz);

/* Threads to use for `work` elements (1 below the measured threshold). */
int tg_threads_for(int64_t work, int costly);
typedef void (*range_fn)(void *ctx, int64_t lo, int64_t hi);
/* Split [0, n) into one contiguous chunk per thread (chunks rounded to `align`). */
void tg_parallel_for(int64_t n, int nt, int64_t align, range_fn fn, void *ctx);
/* Split [0, n) into chunks of `chunk` that up to nt threads claim one by one: more chunks than
   threads, so a worker the OS wakes late still takes a share of what is left */
void tg_parallel_chunks(int64_t n, int nt, int64_t chunk, range_fn fn, void *ctx);
/* the chunk size for that: a few chunks per thread, a multiple of align */
int64_t tg_chunk_for(int64_t n, int nt, int64_t align);

/* the own float32 GEMM (gemm.c): whether it is the faster choice for this shape, and the product
   C (ldc) = op(A) op(B) on nt threads of the pool */
int tg_sgemm_own_ok(int ta, int tb, int64_t m, int64_t n, int64_t k);
/* and its few-column kernel for A @ B^T (dot products along k) */
int tg_sgemm_dot_ok(int ta, int tb, int64_t m, int64_t n, int64_t k);
void tg_sgemm_dot(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda, const float *B, int64_t ldb,
                  float *C, int64_t ldc, int nt);
void tg_sgemm_own(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float *C, int64_t ldc, int nt);

/* the direct float32 convolution (conv_direct.c): whether it takes this geometry (tg_im2col's with
   OC at [18]), and the forward on nt threads (bias may be NULL) */
int tg_conv_direct_ok(const int64_t *g);
int tg_conv2d_direct_f32(const int64_t *g, const float *x, int64_t xoff, const float *w, const float *bias,
                         float *out, int nt);
/* and the input gradient of one sample (contiguous (OC, OH, OW) g, (C, H, W) gx) with the weight
   packed once per call by _prepare (ERR_OP: a non-finite weight, or no FMA vectors: not here) */
typedef struct { float *wpk; int64_t *off; int64_t nq, ncb, rs, shift, ugp, wp; } tg_direct_gx;
int tg_conv_direct_gx_prepare(const int64_t *g, const float *w, tg_direct_gx *d);
void tg_conv_direct_gx_free(tg_direct_gx *d);
int tg_conv_direct_gx_sample(const int64_t *g, const tg_direct_gx *d, const float *gy, float *gx);
#endif
