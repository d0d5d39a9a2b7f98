/* The body of the fused attention kernels for one float type, included by attention.c once per
   type with T (the element type), V (a vector of SDPA_VBYTES bytes of T), VL (its lanes), SFX (a name suffix),
   LOG (libm's log for T) and EXPSUM(x, m, o, n) (the sum of exp(x[j] - m), each stored to o[j]).

   Layout of the scratch (per thread, 64-byte aligned, padded columns zero):
   KT (E, Sp) = K^T, VT (Ev, Sp) = V^T, Kp (S, Ep) and Vp (S, Evp) the rows of K and V, qs (R, Ep) =
   scale * Q rows, P / dP (R, Sp) score rows, with Sp, Ep, Evp rounded up to VL. */

/* O[r][c] (+)= sum over d < nd of X[r*xr + d*xd] * Y[d*ldy + c], for NR rows and c < ncols (a
   multiple of VL; Y and O have that many columns): 2 vectors of columns at a time, then 1. */
#define MM_ROWS(NR) do { \
        int64_t c = 0; \
        for (; c + 2 * VL <= ncols; c += 2 * VL) { \
            V a0[NR], a1[NR]; \
            for (int r = 0; r < NR; r++) { \
                if (acc) { memcpy(&a0[r], O + r * ldo + c, sizeof(V)); memcpy(&a1[r], O + r * ldo + c + VL, sizeof(V)); } \
                else { a0[r] = (V){0}; a1[r] = (V){0}; } \
            } \
            for (int64_t d = 0; d < nd; d++) { \
                V y0, y1; \
                memcpy(&y0, Y + d * ldy + c, sizeof(V)); memcpy(&y1, Y + d * ldy + c + VL, sizeof(V)); \
                for (int r = 0; r < NR; r++) { T x = X[r * xr + d * xd]; a0[r] += x * y0; a1[r] += x * y1; } \
            } \
            for (int r = 0; r < NR; r++) { memcpy(O + r * ldo + c, &a0[r], sizeof(V)); memcpy(O + r * ldo + c + VL, &a1[r], sizeof(V)); } \
        } \
        for (; c < ncols; c += VL) { \
            V a0[NR]; \
            for (int r = 0; r < NR; r++) { if (acc) memcpy(&a0[r], O + r * ldo + c, sizeof(V)); else a0[r] = (V){0}; } \
            for (int64_t d = 0; d < nd; d++) { \
                V y0; memcpy(&y0, Y + d * ldy + c, sizeof(V)); \
                for (int r = 0; r < NR; r++) a0[r] += X[r * xr + d * xd] * y0; \
            } \
            for (int r = 0; r < NR; r++) memcpy(O + r * ldo + c, &a0[r], sizeof(V)); \
        } \
    } while (0)

static void CAT(mm4_, SFX)(int64_t nd, const T *X, int64_t xr, int64_t xd, const T *Y, int64_t ldy, int64_t ncols,
                           T *O, int64_t ldo, int acc) { MM_ROWS(4); }
static void CAT(mm1_, SFX)(int64_t nd, const T *X, int64_t xr, int64_t xd, const T *Y, int64_t ldy, int64_t ncols,
                           T *O, int64_t ldo, int acc) { MM_ROWS(1); }

/* that product for rows [0, nr): 4 at a time, then one by one */
static void CAT(mm_, SFX)(int64_t nr, int64_t nd, const T *X, int64_t xr, int64_t xd, const T *Y, int64_t ldy,
                          int64_t ncols, T *O, int64_t ldo, int acc) {
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) CAT(mm4_, SFX)(nd, X + r * xr, xr, xd, Y, ldy, ncols, O + r * ldo, ldo, acc);
    for (; r < nr; r++) CAT(mm1_, SFX)(nd, X + r * xr, xr, xd, Y, ldy, ncols, O + r * ldo, ldo, acc);
}

/* the max of p[0..n), NaN if any is NaN (-inf for n = 0), VL lanes at a time: a scalar compare loop
   mispredicts its branch on every new maximum */
static T CAT(rowmax_, SFX)(const T *p, int64_t n) {
    V mv;
    VI nan = {0};
    for (int l = 0; l < VL; l++) mv[l] = -(T)INFINITY;
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        V x;
        memcpy(&x, p + j, sizeof(V));
        VI gt = x > mv;
        mv = (V)((gt & (VI)x) | (~gt & (VI)mv));
        nan |= x != x;
    }
    T m = -(T)INFINITY;
    int isnan_ = 0;
    for (int l = 0; l < VL; l++) { m = mv[l] > m ? mv[l] : m; isnan_ |= nan[l] != 0; }
    for (; j < n; j++) { m = p[j] > m ? p[j] : m; isnan_ |= p[j] != p[j]; }
    return isnan_ ? (T)NAN : m;
}

/* scratch layout shared by the forward and the backward */
typedef struct { T *KT, *VT, *Kp, *Vp, *qs, *dO, *P, *dP, *dK, *dV, *dQ, *D; } CAT(scr_, SFX);

/* K^T, V rows (forward) or K^T, V^T, K rows (backward) of head (b, h), padded with zeros */
static void CAT(load_kv_, SFX)(const sdpa_geo *g, int64_t bh, CAT(scr_, SFX) *s, int backward) {
    const int64_t b = bh / g->H, h = bh % g->H, S = g->S, E = g->E, Ev = g->Ev;
    const T *k = (const T *)g->k + g->ko + b * g->ksb + h * g->ksh;
    const T *v = (const T *)g->v + g->vo + b * g->vsb + h * g->vsh;
    for (int64_t e = 0; e < E; e++)
        for (int64_t j = 0; j < S; j++) s->KT[e * g->Sp + j] = k[j * g->ksl + e];
    if (backward) {
        for (int64_t e = 0; e < Ev; e++)
            for (int64_t j = 0; j < S; j++) s->VT[e * g->Sp + j] = v[j * g->vsl + e];
        for (int64_t j = 0; j < S; j++) memcpy(s->Kp + j * g->Ep, k + j * g->ksl, E * sizeof(T));
    } else {
        for (int64_t j = 0; j < S; j++) memcpy(s->Vp + j * g->Evp, v + j * g->vsl, Ev * sizeof(T));
    }
}

/* qs[r] = scale * q row i0 + r, for n rows (padding columns stay zero) */
static void CAT(load_q_, SFX)(const sdpa_geo *g, const T *q, int64_t i0, int64_t n, T *qs) {
    const T sc = (T)g->scale;
    for (int64_t r = 0; r < n; r++) {
        const T *qr = q + (i0 + r) * g->qsl;
        for (int64_t e = 0; e < g->E; e++) qs[r * g->Ep + e] = qr[e] * sc;
    }
}

/* the forward of units [u0, u1): unit u is row block u % nblk of head u / nblk */
static void CAT(fwd_units_, SFX)(const sdpa_geo *g, void *mem, int64_t u0, int64_t u1) {
    const int64_t S = g->S, E = g->E, Ev = g->Ev, Sp = g->Sp, Evp = g->Evp, R = g->R;
    CAT(scr_, SFX) s;
    T *base = mem;
    s.KT = base; s.Vp = s.KT + E * Sp; s.qs = s.Vp + S * Evp; s.P = s.qs + R * g->Ep; s.dQ = s.P + R * Sp;
    int64_t loaded = -1;
    for (int64_t u = u0; u < u1; u++) {
        const int64_t bh = u / g->nblk, i0 = (u % g->nblk) * R;
        const int64_t n = g->L - i0 < R ? g->L - i0 : R;
        if (bh != loaded) { CAT(load_kv_, SFX)(g, bh, &s, 0); loaded = bh; }
        const int64_t b = bh / g->H, h = bh % g->H;
        const T *q = (const T *)g->q + g->qo + b * g->qsb + h * g->qsh;
        T *out = (T *)g->out + b * g->osb + h * g->osh;
        T *lse = (T *)g->lse + bh * g->L;
        CAT(load_q_, SFX)(g, q, i0, n, s.qs);
        for (int64_t r0 = 0; r0 < n; r0 += 4) {
            const int64_t nr = n - r0 < 4 ? n - r0 : 4;
            const int64_t jt = sdpa_keys(g, i0 + r0 + nr - 1);  /* keys the group's last row sees */
            const int64_t nc = (jt + VL - 1) / VL * VL;
            T *P = s.P + r0 * Sp;
            CAT(mm_, SFX)(nr, E, s.qs + r0 * g->Ep, g->Ep, 1, s.KT, Sp, nc, P, Sp, 0);
            T inv[4];
            for (int64_t r = 0; r < nr; r++) {
                T *p = P + r * Sp;
                const int64_t nj = sdpa_keys(g, i0 + r0 + r);
                const T m = CAT(rowmax_, SFX)(p, nj);
                const T shift = m == -(T)INFINITY ? (T)0 : m;  /* all -inf: exps of 0, 0/0 as the composed softmax */
                const T l = EXPSUM(p, shift, p, nj);
                for (int64_t j = nj; j < jt; j++) p[j] = 0;
                lse[i0 + r0 + r] = shift + LOG(l);
                inv[r] = l;
            }
            T *o = s.dQ;  /* (nr, Evp) */
            CAT(mm_, SFX)(nr, jt, P, Sp, 1, s.Vp, Evp, Evp, o, Evp, 0);
            for (int64_t r = 0; r < nr; r++) {
                T *orow = out + (i0 + r0 + r) * g->osl;
                for (int64_t c = 0; c < Ev; c++) orow[c] = o[r * Evp + c] / inv[r];
            }
        }
    }
}

/* the backward of heads [u0, u1) */
static void CAT(bwd_units_, SFX)(const sdpa_geo *g, void *mem, int64_t u0, int64_t u1) {
    const int64_t S = g->S, E = g->E, Ev = g->Ev, Sp = g->Sp, Ep = g->Ep, Evp = g->Evp, R = g->R;
    CAT(scr_, SFX) s;
    T *base = mem;
    s.KT = base; s.VT = s.KT + E * Sp; s.Kp = s.VT + Ev * Sp; s.qs = s.Kp + S * Ep; s.dO = s.qs + R * Ep;
    s.P = s.dO + R * Evp; s.dP = s.P + R * Sp; s.dK = s.dP + R * Sp; s.dV = s.dK + S * Ep; s.dQ = s.dV + S * Evp;
    s.D = s.dQ + R * Ep;
    const T sc = (T)g->scale;
    for (int64_t bh = u0; bh < u1; bh++) {
        const int64_t b = bh / g->H, h = bh % g->H;
        CAT(load_kv_, SFX)(g, bh, &s, 1);
        memset(s.dK, 0, S * Ep * sizeof(T));
        memset(s.dV, 0, S * Evp * sizeof(T));
        const T *q = (const T *)g->q + g->qo + b * g->qsb + h * g->qsh;
        const T *go = (const T *)g->g + g->go + b * g->gsb + h * g->gsh;
        const T *o = (const T *)g->o + g->oo + b * g->osb_in + h * g->osh_in;
        const T *lse = (const T *)g->lse + g->lo + bh * g->L;
        T *dq = (T *)g->dq + b * g->dqsb + h * g->dqsh;
        for (int64_t i0 = 0; i0 < g->L; i0 += R) {
            const int64_t n = g->L - i0 < R ? g->L - i0 : R;
            const int64_t jb = sdpa_keys(g, i0 + n - 1);  /* keys the block's last row sees */
            if (jb == 0) continue;
            CAT(load_q_, SFX)(g, q, i0, n, s.qs);
            for (int64_t r = 0; r < n; r++) {
                const T *gr = go + (i0 + r) * g->gsl, *orow = o + (i0 + r) * g->osl_in;
                T d = 0;
                for (int64_t c = 0; c < Ev; c++) { s.dO[r * Evp + c] = gr[c]; d += gr[c] * orow[c]; }
                s.D[r] = d;
            }
            for (int64_t r0 = 0; r0 < n; r0 += 4) {
                const int64_t nr = n - r0 < 4 ? n - r0 : 4;
                const int64_t jt = sdpa_keys(g, i0 + r0 + nr - 1);
                const int64_t nc = (jt + VL - 1) / VL * VL;
                T *P = s.P + r0 * Sp, *dP = s.dP + r0 * Sp;
                CAT(mm_, SFX)(nr, E, s.qs + r0 * Ep, Ep, 1, s.KT, Sp, nc, P, Sp, 0);
                CAT(mm_, SFX)(nr, Ev, s.dO + r0 * Evp, Evp, 1, s.VT, Sp, nc, dP, Sp, 0);
                for (int64_t r = 0; r < nr; r++) {
                    T *p = P + r * Sp, *dp = dP + r * Sp;
                    const int64_t nj = sdpa_keys(g, i0 + r0 + r);
                    const T l = lse[i0 + r0 + r], d = s.D[r0 + r];
                    EXPSUM(p, l, p, nj);  /* P = exp(s - lse), the forward's weights */
                    for (int64_t j = 0; j < nj; j++) dp[j] = p[j] * (dp[j] - d);  /* dS */
                    for (int64_t j = nj; j < jb; j++) { p[j] = 0; dp[j] = 0; }  /* read by dV, dK below */
                }
                /* dQ rows = scale * dS K */
                CAT(mm_, SFX)(nr, jt, dP, Sp, 1, s.Kp, Ep, Ep, s.dQ, Ep, 0);
                for (int64_t r = 0; r < nr; r++) {
                    T *dqr = dq + (i0 + r0 + r) * g->dqsl;
                    for (int64_t e = 0; e < E; e++) dqr[e] = s.dQ[r * Ep + e] * sc;
                }
            }
            /* dV += P^T dO and dK += dS^T (scale Q), over the keys [0, jb) in groups of 4; under a
               causal mask the rows before a key see none of it (their P and dS are 0): skipped */
            for (int64_t j0 = 0; j0 < jb; j0 += 4) {
                const int64_t nj = jb - j0 < 4 ? jb - j0 : 4;
                int64_t rs = 0;
                if (g->causal) { rs = j0 - i0; rs = rs < 0 ? 0 : rs; }
                if (rs >= n) continue;
                if (nj == 4) {
                    CAT(mm4_, SFX)(n - rs, s.P + rs * Sp + j0, 1, Sp, s.dO + rs * Evp, Evp, Evp, s.dV + j0 * Evp, Evp, 1);
                    CAT(mm4_, SFX)(n - rs, s.dP + rs * Sp + j0, 1, Sp, s.qs + rs * Ep, Ep, Ep, s.dK + j0 * Ep, Ep, 1);
                } else {
                    for (int64_t t = 0; t < nj; t++) {
                        CAT(mm1_, SFX)(n - rs, s.P + rs * Sp + j0 + t, 1, Sp, s.dO + rs * Evp, Evp, Evp,
                                       s.dV + (j0 + t) * Evp, Evp, 1);
                        CAT(mm1_, SFX)(n - rs, s.dP + rs * Sp + j0 + t, 1, Sp, s.qs + rs * Ep, Ep, Ep,
                                       s.dK + (j0 + t) * Ep, Ep, 1);
                    }
                }
            }
        }
        T *dk = (T *)g->dk + b * g->dksb + h * g->dksh, *dv = (T *)g->dv + b * g->dvsb + h * g->dvsh;
        for (int64_t j = 0; j < S; j++) {
            memcpy(dk + j * g->dksl, s.dK + j * Ep, E * sizeof(T));
            memcpy(dv + j * g->dvsl, s.dV + j * Evp, Ev * sizeof(T));
        }
    }
}
