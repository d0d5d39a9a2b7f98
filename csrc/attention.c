/* Fused scaled-dot-product attention, forward and backward (flash-attention style: the (L, S)
   scores are never stored whole; the backward recomputes P = exp(s - lse) from the forward's row
   logsumexp).

   Per head (b, h) and block of R query rows, in per-thread scratch:
     forward   s = (scale q) k^T, m = row max, p = exp(s - m), l = sum p, out = (p v) / l,
               lse = m + log l;
     backward  P = exp(s - lse), dV += P^T dO, dP = dO v^T, D = rowsum(dO * out),
               dS = P * (dP - D), dQ = scale dS k, dK += dS^T (scale q).
   Under a causal mask (key j <= query i, PyTorch's is_causal) a row's sums stop at its last key, and
   the blocks above the diagonal are not computed. The products are register tiles of 4 rows x 1-2
   vectors (SDPA_VBYTES: 64-byte with AVX-512, else 32-byte, the registers there: wider generic
   vectors would be spilled to the stack lane by lane) with FMA (this file is compiled with fp-contract=fast: its sums are reordered
   anyway). The forward runs (head, row block) units in parallel, the backward whole heads (their dK
   and dV sum over every row block).

   Operands: q, k, v, g (the output's gradient) and the forward's out are read through (b, h, row)
   strides with unit stride along the feature dim; the results are written through the strides the
   caller gives (dense buffers: the core picks the memory order); lse is contiguous (B, H, L). */
#pragma GCC optimize("fp-contract=fast")
#include "tg.h"
#include "vmath.h"
#include <stdlib.h>

#ifdef __AVX512F__
#define SDPA_VBYTES 64
#else
#define SDPA_VBYTES 32
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

typedef struct {
    int dt, causal;
    double scale;
    int64_t B, H, L, S, E, Ev, Sp, Ep, Evp, R, nblk;
    const void *q, *k, *v, *g, *o, *lse_in;
    int64_t qo, qsb, qsh, qsl, ko, ksb, ksh, ksl, vo, vsb, vsh, vsl;
    int64_t go, gsb, gsh, gsl, oo, osb_in, osh_in, osl_in, lo;
    void *out, *lse, *dq, *dk, *dv;
    int64_t osb, osh, osl, dqsb, dqsh, dqsl, dksb, dksh, dksl, dvsb, dvsh, dvsl;
} sdpa_geo;

/* how many keys query row i sees */
static inline int64_t sdpa_keys(const sdpa_geo *g, int64_t i) {
    return g->causal && i + 1 < g->S ? i + 1 : g->S;
}

static inline double expsum_f64(const double *x, double m, double *o, int64_t n) {
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) { double e = exp(x[j] - m); o[j] = e; sum += e; }
    return sum;
}

#define T float
#define SFX f32
#define VL (SDPA_VBYTES / 4)
#define LOG logf
#define EXPSUM tg_expsum_f32
typedef float vf32 __attribute__((vector_size(SDPA_VBYTES)));
typedef int32_t vi32 __attribute__((vector_size(SDPA_VBYTES)));
#define V vf32
#define VI vi32
#include "attention_body.h"
#undef T
#undef SFX
#undef VL
#undef LOG
#undef EXPSUM
#undef V
#undef VI

#define T double
#define SFX f64
#define VL (SDPA_VBYTES / 8)
#define LOG log
#define EXPSUM expsum_f64
typedef double vf64 __attribute__((vector_size(SDPA_VBYTES)));
typedef int64_t vi64 __attribute__((vector_size(SDPA_VBYTES)));
#define V vf64
#define VI vi64
#include "attention_body.h"
#undef T
#undef SFX
#undef VL
#undef LOG
#undef EXPSUM
#undef V
#undef VI

static int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

/* padded sizes and the row block: about 64 KB of score rows (4 to 64 rows) */
static void sdpa_sizes(sdpa_geo *g) {
    const int64_t isz = g->dt == DT_F32 ? 4 : 8, vl = SDPA_VBYTES / isz;
    g->Sp = round_up(g->S, vl);
    g->Ep = round_up(g->E, vl);
    g->Evp = round_up(g->Ev, vl);
    int64_t R = 65536 / (isz * g->Sp);
    R = R < 4 ? 4 : R > 64 ? 64 : R / 4 * 4;
    g->R = R < g->L ? R : round_up(g->L, 4);
    g->nblk = (g->L + g->R - 1) / g->R;
}

typedef struct { sdpa_geo *g; int64_t elems; int failed; } sdpa_job;

static void *scratch(int64_t elems, int64_t isz) {
    void *p = NULL;
    if (posix_memalign(&p, 64, (size_t)(elems * isz + 64)) != 0) return NULL;
    memset(p, 0, (size_t)(elems * isz + 64));  /* padding columns are read as zeros */
    return p;
}

static void fwd_range(void *ctx, int64_t u0, int64_t u1) {
    sdpa_job *j = ctx;
    void *mem = scratch(j->elems, TG_ITEMSIZE[j->g->dt]);
    if (!mem) { j->failed = 1; return; }
    if (j->g->dt == DT_F32) fwd_units_f32(j->g, mem, u0, u1);
    else fwd_units_f64(j->g, mem, u0, u1);
    free(mem);
}

static void bwd_range(void *ctx, int64_t u0, int64_t u1) {
    sdpa_job *j = ctx;
    void *mem = scratch(j->elems, TG_ITEMSIZE[j->g->dt]);
    if (!mem) { j->failed = 1; return; }
    if (j->g->dt == DT_F32) bwd_units_f32(j->g, mem, u0, u1);
    else bwd_units_f64(j->g, mem, u0, u1);
    free(mem);
}

/* about one multiply-add per unit of work; a head's forward is ~L*S*(E+Ev), the backward twice that */
static int sdpa_threads(const sdpa_geo *g, int64_t units, int backward) {
    int64_t keys = g->causal ? (g->S + 1) / 2 : g->S;
    int64_t work = g->B * g->H * g->L * keys * (g->E + g->Ev) * (backward ? 2 : 1) / 16;
    int nt = tg_threads_for(work, 1);
    return nt < units ? nt : (int)units;
}

int tg_sdpa(int dt, const int64_t *geo, const void *q, const void *k, const void *v, void *out, void *lse,
            int causal, double scale) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    sdpa_geo g = {.dt = dt, .causal = causal, .scale = scale, .B = geo[0], .H = geo[1], .L = geo[2], .S = geo[3],
                  .E = geo[4], .Ev = geo[5], .q = q, .k = k, .v = v, .out = out, .lse = lse,
                  .qo = geo[6], .qsb = geo[7], .qsh = geo[8], .qsl = geo[9],
                  .ko = geo[10], .ksb = geo[11], .ksh = geo[12], .ksl = geo[13],
                  .vo = geo[14], .vsb = geo[15], .vsh = geo[16], .vsl = geo[17],
                  .osb = geo[18], .osh = geo[19], .osl = geo[20]};
    if (g.B * g.H * g.L == 0 || g.S == 0) return ERR_OK;
    sdpa_sizes(&g);
    sdpa_job job = {&g, g.E * g.Sp + g.S * g.Evp + g.R * g.Ep + g.R * g.Sp + 4 * g.Evp, 0};
    int64_t units = g.B * g.H * g.nblk;
    int nt = sdpa_threads(&g, units, 0);
    tg_parallel_chunks(units, nt, tg_chunk_for(units, nt, 1), fwd_range, &job);
    return job.failed ? ERR_MEM : ERR_OK;
}

int tg_sdpa_backward(int dt, const int64_t *geo, const void *gr, const void *q, const void *k, const void *v,
                     const void *o, const void *lse, void *dq, void *dk, void *dv, int causal, double scale) {
    if (dt != DT_F32 && dt != DT_F64) return ERR_OP;
    sdpa_geo g = {.dt = dt, .causal = causal, .scale = scale, .B = geo[0], .H = geo[1], .L = geo[2], .S = geo[3],
                  .E = geo[4], .Ev = geo[5], .g = gr, .q = q, .k = k, .v = v, .o = o, .lse = (void *)lse,
                  .go = geo[6], .gsb = geo[7], .gsh = geo[8], .gsl = geo[9],
                  .qo = geo[10], .qsb = geo[11], .qsh = geo[12], .qsl = geo[13],
                  .ko = geo[14], .ksb = geo[15], .ksh = geo[16], .ksl = geo[17],
                  .vo = geo[18], .vsb = geo[19], .vsh = geo[20], .vsl = geo[21],
                  .oo = geo[22], .osb_in = geo[23], .osh_in = geo[24], .osl_in = geo[25], .lo = geo[26],
                  .dq = dq, .dqsb = geo[27], .dqsh = geo[28], .dqsl = geo[29],
                  .dk = dk, .dksb = geo[30], .dksh = geo[31], .dksl = geo[32],
                  .dv = dv, .dvsb = geo[33], .dvsh = geo[34], .dvsl = geo[35]};
    if (g.B * g.H == 0 || g.S == 0 || g.L == 0) return ERR_OK;
    sdpa_sizes(&g);
    int64_t elems = g.E * g.Sp + g.Ev * g.Sp + g.S * g.Ep + g.R * g.Ep + g.R * g.Evp + 2 * g.R * g.Sp
                    + g.S * g.Ep + g.S * g.Evp + g.R * g.Ep + g.R;
    sdpa_job job = {&g, elems, 0};
    int64_t units = g.B * g.H;
    int nt = sdpa_threads(&g, units, 1);
    tg_parallel_chunks(units, nt, tg_chunk_for(units, nt, 1), bwd_range, &job);
    return job.failed ? ERR_MEM : ERR_OK;
}
