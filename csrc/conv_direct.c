/* Direct float32 convolution for unit stride and dilation: tg_conv2d's forward without im2col.

   The sample is copied, zero-padded, onto a grid of hp = OH + KH - 1 rows of width wp = OW + KW - 1
   per channel. Output position t = oh * wp + ow of channel r is then sum over q = (c, i, j) of
   W[r, q] * xp[off[q] + t] with off[q] = (c * hp + i) * wp + j: row q of the im2col matrix is one
   contiguous run of the grid, so no columns are built. A register tile of DR output channels x
   NV vectors of positions walks q: per q, NV loads of the grid and DR broadcasts of the packed
   weight (DR x NV FMAs). The grid's extra KW - 1 columns are computed and dropped; they read
   neighbouring grid values, which never reach a kept output. The same layout runs the numba
   backend's direct kernels (backends/numba_conv_direct.py). */
#include <stdlib.h>
#include <string.h>
#include "tg.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>

#if defined(__AVX512F__)
typedef __m512 vf;
#define VL 16
#define DR 8
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VFMA _mm512_fmadd_ps
#define VSET1 _mm512_set1_ps
#define VZERO _mm512_setzero_ps
#else
typedef __m256 vf;
#define VL 8
#define DR 6
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VFMA _mm256_fmadd_ps
#define VSET1 _mm256_set1_ps
#define VZERO _mm256_setzero_ps
#endif
#define NV 2
#define TW (NV * VL)  /* positions per tile */

int tg_conv_direct_ok(const int64_t *g) {
    int64_t h = g[2], w = g[3], kh = g[8], kw = g[9], ph = g[14], pw = g[15], oh = g[16], ow = g[17];
    return g[10] == 1 && g[11] == 1 && g[12] == 1 && g[13] == 1 && ph >= 0 && pw >= 0 && oh > 0 && ow > 0
           && h + ph <= oh + kh - 1 && w + pw <= ow + kw - 1 && kw - 1 <= ow;
}

/* grid[r * ldg + tb + (0 .. TW)] = sum_q wpk[q * DR + r] * xp[off[q] + tb + (0 .. TW)], r < DR */
static void direct_tile(const float *wpk, const float *xp, const int64_t *off, int64_t nq, float *grid,
                        int64_t ldg, int64_t tb) {
    vf acc[DR][NV];
    for (int r = 0; r < DR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = VZERO();
    for (int64_t q = 0; q < nq; q++) {
        const float *s = xp + off[q] + tb;
        vf b0 = VLOAD(s), b1 = VLOAD(s + VL);
        const float *a = wpk + q * DR;
        for (int r = 0; r < DR; r++) {
            vf ar = VSET1(a[r]);
            acc[r][0] = VFMA(ar, b0, acc[r][0]);
            acc[r][1] = VFMA(ar, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < DR; r++)
        for (int v = 0; v < NV; v++) VSTORE(grid + r * ldg + tb + v * VL, acc[r][v]);
}

typedef struct {
    const int64_t *g, *off;
    const float *x, *wpk, *bias;
    int64_t xoff, wp, hp, lgp, xs;
    float *out;
    int err;
} direct_t;

/* Per-thread scratch for a sample's grid and tiles, kept between calls (a fresh malloc of a few
   hundred KiB is an mmap whose pages fault in on every call); above SCRATCH_KEEP it is given back. */
#define SCRATCH_KEEP ((size_t)8 << 20)
static __thread float *tl_buf;
static __thread size_t tl_cap;

static float *scratch_floats(size_t n) {
    if (tl_cap < n) {
        free(tl_buf);
        tl_buf = malloc(n * sizeof(float));
        tl_cap = tl_buf ? n : 0;
    }
    return tl_buf;
}

/* samples lo..hi: pad onto the grid, the tiles, the kept positions (+ bias) into out */
static void direct_samples(void *ctx, int64_t lo, int64_t hi) {
    direct_t *a = ctx;
    const int64_t *g = a->g;
    int64_t cc = g[1], hh = g[2], ww = g[3], oc = g[18], oh_ = g[16], ow_ = g[17], wp = a->wp, hp = a->hp;
    int64_t ckk = cc * g[8] * g[9], nob = (oc + DR - 1) / DR, lgp = a->lgp, l = oh_ * ow_;
    float *xp = scratch_floats((size_t)(a->xs + nob * DR * lgp));
    if (!xp) { a->err = ERR_MEM; return; }
    float *grid = xp + a->xs;
    for (int64_t n = lo; n < hi; n++) {
        memset(xp, 0, (size_t)a->xs * sizeof(float));
        for (int64_t c = 0; c < cc; c++)
            for (int64_t ih = 0; ih < hh; ih++) {
                const float *src = a->x + a->xoff + n * g[4] + c * g[5] + ih * g[6];
                float *dst = xp + (c * hp + ih + g[14]) * wp + g[15];
                if (g[7] == 1) memcpy(dst, src, (size_t)ww * sizeof(float));
                else for (int64_t iw = 0; iw < ww; iw++) dst[iw] = src[iw * g[7]];
            }
        for (int64_t ob = 0; ob < nob; ob++)
            for (int64_t tb = 0; tb < lgp; tb += TW)
                direct_tile(a->wpk + ob * ckk * DR, xp, a->off, ckk, grid + ob * DR * lgp, lgp, tb);
        for (int64_t r = 0; r < oc; r++) {
            float b = a->bias ? a->bias[r] : 0.0f;
            float *o = a->out + (n * oc + r) * l;
            const float *s = grid + r * lgp;
            for (int64_t oh = 0; oh < oh_; oh++)
                for (int64_t ow = 0; ow < ow_; ow++) o[oh * ow_ + ow] = a->bias ? s[oh * wp + ow] + b : s[oh * wp + ow];
        }
    }
    if (tl_cap * sizeof(float) > SCRATCH_KEEP) { free(tl_buf); tl_buf = NULL; tl_cap = 0; }
}

int tg_conv2d_direct_f32(const int64_t *g, const float *x, int64_t xoff, const float *w, const float *bias,
                         float *out, int nt) {
    int64_t cc = g[1], kh = g[8], kw = g[9], oc = g[18], ckk = cc * kh * kw, nob = (oc + DR - 1) / DR;
    int64_t wp = g[17] + kw - 1, hp = g[16] + kh - 1;
    int64_t *off = malloc((size_t)ckk * sizeof(int64_t));
    float *wpk = malloc((size_t)(nob * ckk * DR) * sizeof(float));
    if (!off || !wpk) { free(off); free(wpk); return ERR_MEM; }
    direct_t a = {.g = g, .off = off, .x = x, .wpk = wpk, .bias = bias, .xoff = xoff, .wp = wp, .hp = hp,
                  .lgp = (g[16] * wp + TW - 1) / TW * TW,
                  .xs = cc * hp * wp + kw + TW,  /* the grid's tail: reads for dropped positions */
                  .out = out, .err = ERR_OK};
    for (int64_t q = 0; q < ckk; q++) off[q] = ((q / (kh * kw)) * hp + (q % (kh * kw)) / kw) * wp + q % kw;
    for (int64_t b = 0; b < nob; b++)  /* blocks of DR rows of W, q-major, zero rows past OC */
        for (int64_t q = 0; q < ckk; q++)
            for (int64_t r = 0; r < DR; r++)
                wpk[(b * ckk + q) * DR + r] = b * DR + r < oc ? w[(b * DR + r) * ckk + q] : 0.0f;
    if (nt > g[0]) nt = (int)g[0];
    if (nt > 1) tg_parallel_for(g[0], nt, 1, direct_samples, &a);
    else direct_samples(&a, 0, g[0]);
    free(off);
    free(wpk);
    return a.err;
}

/* The input gradient of one sample on the same tiles: gxp[c, u] = sum over q = (r, i, j) of
   W[r, c, i, j] * G[r, u - i * wp - j], G the sample's gradient on the output grid, each row
   shifted right by shift = (KH - 1) * wp + KW - 1 zeros so every offset is nonnegative
   (off[q] = r * rs + shift - i * wp - j). Zeros of the grid meet the weights: the caller takes
   this path only for a finite W. */
int tg_conv_direct_gx_prepare(const int64_t *g, const float *w, tg_direct_gx *d) {
    int64_t cc = g[1], kh = g[8], kw = g[9], oc = g[18], kk = kh * kw, ckk = cc * kk;
    float z = 0.0f;
    for (int64_t i = 0; i < oc * ckk; i++) z += w[i] * 0.0f;  /* NaN exactly when W has an inf or NaN */
    if (z != 0.0f) return ERR_OP;
    d->wp = g[17] + kw - 1;
    int64_t hp = g[16] + kh - 1;
    d->nq = oc * kk;
    d->ncb = (cc + DR - 1) / DR;
    d->ugp = (hp * d->wp + TW - 1) / TW * TW;
    d->shift = (kh - 1) * d->wp + kw - 1;
    d->rs = d->shift + d->ugp + TW;
    d->off = malloc((size_t)d->nq * sizeof(int64_t));
    d->wpk = malloc((size_t)(d->ncb * d->nq * DR) * sizeof(float));
    if (!d->off || !d->wpk) { tg_conv_direct_gx_free(d); return ERR_MEM; }
    for (int64_t q = 0; q < d->nq; q++)
        d->off[q] = (q / kk) * d->rs + d->shift - ((q % kk) / kw) * d->wp - q % kw;
    for (int64_t b = 0; b < d->ncb; b++)  /* row c of the (C, OC*KH*KW) matrix, DR rows a block */
        for (int64_t q = 0; q < d->nq; q++)
            for (int64_t r = 0; r < DR; r++) {
                int64_t c = b * DR + r;
                d->wpk[(b * d->nq + q) * DR + r] = c < cc ? w[(q / kk) * ckk + c * kk + q % kk] : 0.0f;
            }
    return ERR_OK;
}

void tg_conv_direct_gx_free(tg_direct_gx *d) {
    free(d->off);
    free(d->wpk);
    d->off = NULL;
    d->wpk = NULL;
}

int tg_conv_direct_gx_sample(const int64_t *g, const tg_direct_gx *d, const float *gy, float *gx) {
    int64_t cc = g[1], hh = g[2], ww = g[3], oc = g[18], oh_ = g[16], ow_ = g[17], wp = d->wp;
    float *grid = scratch_floats((size_t)(oc * d->rs + d->ncb * DR * d->ugp));
    if (!grid) return ERR_MEM;
    float *gxg = grid + oc * d->rs;
    memset(grid, 0, (size_t)(oc * d->rs) * sizeof(float));
    for (int64_t r = 0; r < oc; r++)
        for (int64_t oh = 0; oh < oh_; oh++)
            memcpy(grid + r * d->rs + d->shift + oh * wp, gy + (r * oh_ + oh) * ow_, (size_t)ow_ * sizeof(float));
    for (int64_t b = 0; b < d->ncb; b++)
        for (int64_t tb = 0; tb < d->ugp; tb += TW)
            direct_tile(d->wpk + b * d->nq * DR, grid, d->off, d->nq, gxg + b * DR * d->ugp, d->ugp, tb);
    for (int64_t c = 0; c < cc; c++)
        for (int64_t ih = 0; ih < hh; ih++)
            memcpy(gx + (c * hh + ih) * ww, gxg + c * d->ugp + (ih + g[14]) * wp + g[15], (size_t)ww * sizeof(float));
    return ERR_OK;
}

#else  /* no FMA vectors: tg_conv2d keeps its im2col path */
int tg_conv_direct_gx_prepare(const int64_t *g, const float *w, tg_direct_gx *d) {
    (void)g; (void)w; (void)d;
    return ERR_OP;
}
void tg_conv_direct_gx_free(tg_direct_gx *d) { (void)d; }
int tg_conv_direct_gx_sample(const int64_t *g, const tg_direct_gx *d, const float *gy, float *gx) {
    (void)g; (void)d; (void)gy; (void)gx;
    return ERR_OP;
}
int tg_conv_direct_ok(const int64_t *g) { (void)g; return 0; }
int tg_conv2d_direct_f32(const int64_t *g, const float *x, int64_t xoff, const float *w, const float *bias,
                         float *out, int nt) {
    (void)g; (void)x; (void)xoff; (void)w; (void)bias; (void)out; (void)nt;
    return ERR_OP;
}
#endif
