/* The C API of the extension, parsed by both the C compiler and cffi's cdef (keep it plain:
   no macros, no includes). Offsets and strides are in elements; every view was checked
   against its buffer in Python (backends/c_backend.py) before any of these runs.
   Op and dtype codes (`op`, `dt`) are positions in backends/protocol.py's tables (the DT_/U_/B_/
   R_/A_ enums of the generated tg_ops.h); bool is stored as uint8. */

const char *tg_source_hash(void);
void *tg_alloc(int64_t nbytes);
void tg_free(void *p);
/* buffers >= 1 MiB: huge-page advised, recycled through a small cache of freed blocks */
void *tg_big_alloc(int64_t nbytes);
void tg_big_free(void *p);
void tg_cache_clear(void);
void *tg_mid_alloc(int64_t nbytes);
void tg_mid_free(void *p);
void tg_mid_after_fork(void);
void tg_set_cache_limit(int64_t nbytes);

/* threads */
void tg_set_threads(int n);
int tg_get_threads(void);
void tg_set_par_min(int64_t cheap, int64_t costly);
/* Addresses of tg_parallel_for (which 0) and tg_threads_for (which 1), for the kernels tg.jit
   generates and compiles as separate modules (backends/c_fusion.py): they run on this pool too. */
uintptr_t tg_pool_entry(int which);
/* how long idle pool workers spin before they sleep (microseconds) */
void tg_set_spin_us(int64_t us);
/* reset the pool in a forked child (its workers stayed in the parent) */
void tg_after_fork(void);

/* fill / flat copy (memcpy with an element offset) */
void tg_fill(int dt, void *dst, int64_t n, double fval, int64_t ival);
void tg_memcpy(void *dst, const void *src, int64_t nbytes);

/* Elementwise. nd <= 64; `geo` holds shape[nd] followed by each operand's strides[nd]. */
int tg_unary(int op, int dt, int nd, const int64_t *geo, const void *x, int64_t xoff, void *out);
int tg_unary1(int op, int dt, int64_t n, const void *x, int64_t xoff, int64_t xs, void *out);
int tg_binary(int op, int dt, int nd, const int64_t *geo, const void *a, int64_t aoff,
              const void *b, int64_t boff, void *out);
int tg_binary1(int op, int dt, int64_t n, const void *a, int64_t aoff, int64_t as,
               const void *b, int64_t boff, int64_t bs, void *out);
int tg_where(int dt, int nd, const int64_t *geo, const void *c, int64_t coff, const void *a,
             int64_t aoff, const void *b, int64_t boff, void *out);
/* dst[dst view] = cast(src[src view]); geo = shape, src strides, dst strides */
int tg_copy(int sdt, int ddt, int nd, const int64_t *geo, const void *src, int64_t soff,
            void *dst, int64_t doff);

/* reductions: geo = shape[nd], strides[nd]; the last k dims are reduced */
int tg_reduce(int op, int dt, int nd, int k, const int64_t *geo, const void *x, int64_t xoff, void *out);
int tg_arg_reduce(int op, int dt, int nd, const int64_t *geo, const void *x, int64_t xoff, int64_t *out);
int tg_softmax(int dt, int64_t rows, int64_t cols, const void *x, int64_t xoff, void *out, int log);

/* matmul: nb batch dims (shape, a strides, b strides in bgeo); transposes as BLAS flags */
int tg_matmul(int dt, int nb, const int64_t *bgeo, const void *a, int64_t aoff, int ta, int64_t lda,
              const void *b, int64_t boff, int tb, int64_t ldb, void *out,
              int64_t m, int64_t n, int64_t k);

/* indexing: geo = index shape[nd], x strides[nd], index strides[nd] */
int tg_gather(int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, const void *x, int64_t xoff,
              const int64_t *idx, int64_t ioff, void *out);
/* geo = index shape, dst strides, index strides, src strides */
int tg_scatter_add(int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, void *dst, int64_t doff,
                   const int64_t *idx, int64_t ioff, const void *src, int64_t soff);

int tg_random(int dist, int dt, int64_t n, uint64_t seed, uint64_t counter, void *out);

/* from OpenBLAS (cblas.h), so Python can apply the one thread policy to both pools */
void scipy_openblas_set_num_threads(int num_threads);
int scipy_openblas_get_num_threads(void);

/* optional fused kernels (fused.c); every operand is a contiguous run checked in Python */
int tg_relu_backward(int dt, int64_t n, const void *g, int64_t goff, const void *y, int64_t yoff, void *out);
int tg_softmax_backward(int dt, int64_t rows, int64_t cols, const void *g, int64_t goff, const void *y,
                        int64_t yoff, void *out, int log);
int tg_axpy(int dt, int64_t n, double alpha, const void *x, int64_t xoff, void *y, int64_t yoff);
int tg_cross_entropy(int dt, int64_t rows, int64_t cols, const void *x, int64_t xoff, const int64_t *target,
                     int64_t toff, void *loss, void *grad);

/* scan_sort.c. scatter: op 0 assign, 1 max, 2 min; geo as tg_scatter_add's; every index is
   checked before anything is written */
int tg_scatter(int op, int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, void *dst, int64_t doff,
               const int64_t *idx, int64_t ioff, const void *src, int64_t soff);
/* scan: op 0 sum, 1 prod along the last dim; geo = shape, strides; out contiguous */
int tg_scan(int op, int dt, int nd, const int64_t *geo, const void *x, int64_t xoff, void *out);
/* stable sort of each row (last dim), its first k values and indices (contiguous rows of k) */
int tg_sort(int dt, int nd, const int64_t *geo, const void *x, int64_t xoff, int desc, int64_t k,
            void *vals, int64_t *idx);
/* gather / scatter_add moving whole rows: the index is constant along the last dim (stride 0)
   and the last dim of x (dst and src) has stride 1; geo as tg_gather's / tg_scatter_add's */
int tg_gather_rows(int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, const void *x, int64_t xoff,
                   const int64_t *idx, int64_t ioff, void *out);
int tg_scatter_add_rows(int dt, int nd, int dim, int64_t dimsize, const int64_t *geo, void *dst, int64_t doff,
                        const int64_t *idx, int64_t ioff, const void *src, int64_t soff);
/* conv.c: dst[dst view] += src[src view], the dst view may overlap itself (geo = shape, dst strides,
   src strides); par: dim 0's sub-views are disjoint in dst, so it may be split across threads */
int tg_add_into(int dt, int nd, const int64_t *geo, void *dst, int64_t doff, const void *src, int64_t soff,
                int par);
/* conv.c: the im2col columns (C*KH*KW, N*OH*OW) of a 2-d convolution, zero padding included;
   geo = N C H W, x strides (4), KH KW, stride (2), dilation (2), padding before (2), OH OW */
int tg_im2col(int dt, const int64_t *geo, const void *x, int64_t xoff, void *out);
/* conv.c: a 2-d convolution (groups 1) written as contiguous NCHW, per sample im2col + GEMM (+ bias,
   which may be NULL); geo as tg_im2col's plus OC; w a contiguous (OC, C*KH*KW) block */
int tg_conv2d(int dt, const int64_t *geo, const void *x, int64_t xoff, const void *w, int64_t woff,
              const void *bias, int64_t boff, void *out);
/* conv.c: its gradients for a contiguous NCHW g: gx (contiguous NCHW), gw (OC, C*KH*KW), gb (OC);
   NULL skips one */
int tg_conv2d_backward(int dt, const int64_t *geo, const void *x, int64_t xoff, const void *w, int64_t woff,
                       const void *gy, int64_t goff, void *gx, void *gw, void *gb);
/* conv.c: 2-d max-pooling, values and flat int64 indices (ih * W + iw) in one pass; geo as tg_im2col's */
int tg_max_pool2d(int dt, const int64_t *geo, const void *x, int64_t xoff, void *out, int64_t *idx);
/* conv.c: its backward: out (planes, hw) = 0, then out[p, idx[p, i]] += g[p, i] */
int tg_max_pool2d_backward(int dt, int64_t planes, int64_t hw, int64_t l, const void *g, int64_t goff,
                           const int64_t *idx, int64_t ioff, void *out);
/* fused.c: one Adam/AdamW step in place (p, m, v contiguous runs of n; step one float32 element,
   incremented first); decoupled: AdamW's weight decay; maximize: ascend */
int tg_adam_step(int dt, int64_t n, void *p, int64_t poff, const void *g, int64_t goff, void *m, int64_t moff,
                 void *v, int64_t voff, void *step, int64_t soff, double lr, double beta1, double beta2,
                 double eps, double weight_decay, int decoupled, int maximize);
/* fused.c: exact (erf) gelu and its input gradient over contiguous runs of n */
int tg_gelu(int dt, int64_t n, const void *x, int64_t xoff, void *out);
int tg_gelu_backward(int dt, int64_t n, const void *g, int64_t goff, const void *x, int64_t xoff, void *out);
/* fused.c: layer norm over rows of (rows, cols) with optional weight / bias (cols,) (NULL: none); mean and
   rstd (rows,) out for the backward, which gives dx and, where not NULL, dw and db (cols,) */
int tg_layer_norm(int dt, int64_t rows, int64_t cols, const void *x, int64_t xoff, const void *w, int64_t woff,
                  const void *b, int64_t boff, double eps, void *out, void *mean, void *rstd);
int tg_layer_norm_backward(int dt, int64_t rows, int64_t cols, const void *g, int64_t goff, const void *x, int64_t xoff,
                           const void *mean, const void *rstd, const void *w, int64_t woff, void *dx, void *dw, void *db);
/* attention.c: fused scaled-dot-product attention (per head (b, h): softmax(scale q k^T [causal]) v).
   geo = B H L S E Ev, then per operand offset and (b, h, row) strides (unit feature stride): q, k, v,
   then the (b, h, row) strides of out (offset 0); lse out is contiguous (B, H, L) */
int tg_sdpa(int dt, const int64_t *geo, const void *q, const void *k, const void *v, void *out, void *lse,
            int causal, double scale);
/* its backward: geo = B H L S E Ev, offset and strides of g, q, k, v, out, then lse's offset, then the
   (b, h, row) strides of dq, dk, dv (offset 0) */
int tg_sdpa_backward(int dt, const int64_t *geo, const void *g, const void *q, const void *k, const void *v,
                     const void *o, const void *lse, void *dq, void *dk, void *dv, int causal, double scale);
