/* Elementwise kernels: unary, binary, where, and strided copies with casts.
   Each dtype has one row loop that switches on the op outside the element loop; contiguous and
   scalar-broadcast rows get their own `omp simd` loops, other strides a plain strided loop. */
#include "tg.h"
#include "vmath.h"
#include "vmath_f64.h"

static int unary_costly(int op) {
    return op == U_EXP || op == U_LOG || op == U_SIN || op == U_COS || op == U_TANH ||
           op == U_SIGMOID || op == U_ERF;
}

/* ---------------------------------------------------------------- unary */
#define UN(T, EXPR) do { \
    const T *xp = (const T *)p[0]; T *o = (T *)p[1]; \
    int64_t sx = st[0] / (int64_t)sizeof(T), so = st[1] / (int64_t)sizeof(T); \
    if (sx == 1 && so == 1) { _Pragma("omp simd") for (int64_t i = 0; i < n; i++) { T x = xp[i]; o[i] = (EXPR); } } \
    else { for (int64_t i = 0; i < n; i++) { T x = xp[i * sx]; o[i * so] = (EXPR); } } \
} while (0)

/* Transcendentals without a vector version go through double libm, as the python backend does,
   so both round the same double result. */
#define F32D(f) ((float)f((double)x))

static void unary_f32(int op, char **p, const int64_t *st, int64_t n) {
    if ((op == U_EXP || op == U_SIGMOID) && st[0] == 4 && st[1] == 4) {  /* AVX-512 where built so */
        tg_exp_run_f32((const float *)p[0], (float *)p[1], n, op == U_SIGMOID);
        return;
    }
    if (op == U_ERF && st[0] == 4 && st[1] == 4) {
        tg_erf_run_f32((const float *)p[0], (float *)p[1], n);
        return;
    }
    switch (op) {
    case U_NEG: UN(float, -x); break;
    case U_ABS: UN(float, fabsf(x)); break;
    case U_SIGN: UN(float, (float)((x > 0) - (x < 0))); break;  /* 0 for NaN, as PyTorch */
    case U_EXP: UN(float, tg_expf_inline(x)); break;
    case U_LOG: UN(float, tg_logf_inline(x)); break;
    case U_SQRT: UN(float, sqrtf(x)); break;
    case U_SIN: UN(float, F32D(sin)); break;
    case U_COS: UN(float, F32D(cos)); break;
    case U_TANH: UN(float, tg_tanhf_inline(x)); break;
    case U_SIGMOID: UN(float, 1.0f / (1.0f + tg_expf_inline(-x))); break;
    case U_RELU: UN(float, x > 0 ? x : (x != x ? x : 0.0f)); break;
    case U_ERF: UN(float, tg_erff_inline(x)); break;  /* vmath.h: at most 1.095 ulp */
    case U_RECIPROCAL: UN(float, 1.0f / x); break;
    case U_FLOOR: UN(float, floorf(x)); break;
    case U_CEIL: UN(float, ceilf(x)); break;
    default: break;
    }
}

static void unary_f64(int op, char **p, const int64_t *st, int64_t n) {
    switch (op) {
    case U_NEG: UN(double, -x); break;
    case U_ABS: UN(double, fabs(x)); break;
    case U_SIGN: UN(double, (double)((x > 0) - (x < 0))); break;
    case U_EXP: UN(double, tg_exp_f64_inline(x)); break;  /* vmath_f64.h: vectorized, < 1 ulp */
    case U_LOG: UN(double, log(x)); break;
    case U_SQRT: UN(double, sqrt(x)); break;
    case U_SIN: UN(double, sin(x)); break;
    case U_COS: UN(double, cos(x)); break;
    case U_TANH: UN(double, tanh(x)); break;
    case U_SIGMOID: UN(double, tg_sigmoid_f64_inline(x)); break;
    case U_RELU: UN(double, x > 0 ? x : (x != x ? x : 0.0)); break;
    case U_ERF: UN(double, erf(x)); break;
    case U_RECIPROCAL: UN(double, 1.0 / x); break;
    case U_FLOOR: UN(double, floor(x)); break;
    case U_CEIL: UN(double, ceil(x)); break;
    default: break;
    }
}

/* int64 wraps like PyTorch; unsigned arithmetic keeps INT64_MIN free of undefined behaviour */
static void unary_i64(int op, char **p, const int64_t *st, int64_t n) {
    switch (op) {
    case U_NEG: UN(int64_t, (int64_t)(0 - (uint64_t)x)); break;
    case U_ABS: UN(int64_t, x < 0 ? (int64_t)(0 - (uint64_t)x) : x); break;
    case U_SIGN: UN(int64_t, (int64_t)((x > 0) - (x < 0))); break;
    case U_RELU: UN(int64_t, x > 0 ? x : 0); break;
    default: break;
    }
}

/* the narrow integer dtypes: computed in uint64_t (no signed overflow) and stored modulo
   2**bits; for uint8 `x < 0` is never true, so abs is the identity and sign is 0 or 1 */
#define UNARY_NARROW(NAME, T) \
static void NAME(int op, char **p, const int64_t *st, int64_t n) { \
    switch (op) { \
    case U_NEG: UN(T, (T)(0 - (uint64_t)x)); break; \
    case U_ABS: UN(T, x < 0 ? (T)(0 - (uint64_t)x) : x); break; \
    case U_SIGN: UN(T, (T)((x > 0) - (x < 0))); break; \
    case U_RELU: UN(T, x > 0 ? x : 0); break; \
    default: break; \
    } \
}
UNARY_NARROW(unary_u8, uint8_t)
UNARY_NARROW(unary_i16, int16_t)
UNARY_NARROW(unary_i32, int32_t)

static void unary_bool(int op, char **p, const int64_t *st, int64_t n) {
    if (op == U_LOGICAL_NOT) UN(uint8_t, (uint8_t)(x == 0));
}

static int unary_ok(int op, int dt) {
    if (op < 0 || op >= U_COUNT || dt < 0 || dt >= DT_COUNT) return 0;
    if (dt == DT_BOOL) return op == U_LOGICAL_NOT;
    if (dt == DT_I64 || TG_NARROW_INT(dt)) return op == U_NEG || op == U_ABS || op == U_SIGN || op == U_RELU;
    return op != U_LOGICAL_NOT;
}

static const loop_fn UNARY_LOOPS[DT_COUNT] = {
    [DT_BOOL] = unary_bool, [DT_I64] = unary_i64, [DT_F32] = unary_f32, [DT_F64] = unary_f64,
    [DT_U8] = unary_u8, [DT_I16] = unary_i16, [DT_I32] = unary_i32};

int tg_unary(int op, int dt, int nd, const int64_t *geo, const void *x, int64_t xoff, void *out) {
    if (!unary_ok(op, dt)) return ERR_OP;
    if (nd < 0 || nd > TG_MAXDIM) return ERR_DIM;
    int64_t isz = TG_ITEMSIZE[dt], bst[2 * TG_MAXDIM], acc = isz;
    for (int d = nd - 1; d >= 0; d--) {  /* operand strides in bytes; output is contiguous */
        bst[d] = geo[nd + d] * isz;
        bst[nd + d] = acc;
        acc *= geo[d];
    }
    char *base[2] = {(char *)x + xoff * isz, (char *)out};
    int64_t iszs[2] = {isz, isz};
    tg_nditer(op, 2, nd, geo, bst, base, UNARY_LOOPS[dt], unary_costly(op), iszs);
    return ERR_OK;
}

int tg_unary1(int op, int dt, int64_t n, const void *x, int64_t xoff, int64_t xs, void *out) {
    int64_t geo[2] = {n, xs};
    return tg_unary(op, dt, 1, geo, x, xoff, out);
}

/* ---------------------------------------------------------------- binary */
#define BIN(T, OT, EXPR) do { \
    const T *ap = (const T *)p[0], *bp = (const T *)p[1]; OT *o = (OT *)p[2]; \
    int64_t sa = st[0] / (int64_t)sizeof(T), sb = st[1] / (int64_t)sizeof(T), so = st[2] / (int64_t)sizeof(OT); \
    if (so == 1 && sa == 1 && sb == 1) { _Pragma("omp simd") for (int64_t i = 0; i < n; i++) { T x = ap[i], y = bp[i]; o[i] = (OT)(EXPR); } } \
    else if (so == 1 && sa == 1 && sb == 0) { const T y = bp[0]; _Pragma("omp simd") for (int64_t i = 0; i < n; i++) { T x = ap[i]; o[i] = (OT)(EXPR); } } \
    else if (so == 1 && sa == 0 && sb == 1) { const T x = ap[0]; _Pragma("omp simd") for (int64_t i = 0; i < n; i++) { T y = bp[i]; o[i] = (OT)(EXPR); } } \
    else { for (int64_t i = 0; i < n; i++) { T x = ap[i * sa], y = bp[i * sb]; o[i * so] = (OT)(EXPR); } } \
} while (0)

#define FMAX(x, y) ((x) != (x) ? (x) : ((y) != (y) ? (y) : ((x) >= (y) ? (x) : (y))))
#define FMIN(x, y) ((x) != (x) ? (x) : ((y) != (y) ? (y) : ((x) <= (y) ? (x) : (y))))

#define COMPARES(T) \
    case B_EQ: BIN(T, uint8_t, x == y); break; \
    case B_NE: BIN(T, uint8_t, x != y); break; \
    case B_LT: BIN(T, uint8_t, x < y); break; \
    case B_LE: BIN(T, uint8_t, x <= y); break; \
    case B_GT: BIN(T, uint8_t, x > y); break; \
    case B_GE: BIN(T, uint8_t, x >= y); break;

static void binary_f32(int op, char **p, const int64_t *st, int64_t n) {
    switch (op) {
    case B_ADD: BIN(float, float, x + y); break;
    case B_SUB: BIN(float, float, x - y); break;
    case B_MUL: BIN(float, float, x * y); break;
    case B_DIV: BIN(float, float, x / y); break;
    case B_POW: BIN(float, float, (float)pow((double)x, (double)y)); break;
    case B_MAXIMUM: BIN(float, float, FMAX(x, y)); break;
    case B_MINIMUM: BIN(float, float, FMIN(x, y)); break;
    case B_FMOD: BIN(float, float, fmodf(x, y)); break;
    COMPARES(float)
    default: break;
    }
}

static void binary_f64(int op, char **p, const int64_t *st, int64_t n) {
    switch (op) {
    case B_ADD: BIN(double, double, x + y); break;
    case B_SUB: BIN(double, double, x - y); break;
    case B_MUL: BIN(double, double, x * y); break;
    case B_DIV: BIN(double, double, x / y); break;
    case B_POW: BIN(double, double, pow(x, y)); break;
    case B_MAXIMUM: BIN(double, double, FMAX(x, y)); break;
    case B_MINIMUM: BIN(double, double, FMIN(x, y)); break;
    case B_FMOD: BIN(double, double, fmod(x, y)); break;
    COMPARES(double)
    default: break;
    }
}

static inline int64_t ipow(int64_t x, int64_t y) {
    /* the core rejects negative exponents; wraps on overflow like PyTorch */
    uint64_t r = 1, b = (uint64_t)x;
    while (y > 0) { if (y & 1) r *= b; b *= b; y >>= 1; }
    return (int64_t)r;
}

static void binary_i64(int op, char **p, const int64_t *st, int64_t n) {
    switch (op) {
    case B_ADD: BIN(int64_t, int64_t, (int64_t)((uint64_t)x + (uint64_t)y)); break;
    case B_SUB: BIN(int64_t, int64_t, (int64_t)((uint64_t)x - (uint64_t)y)); break;
    case B_MUL: BIN(int64_t, int64_t, (int64_t)((uint64_t)x * (uint64_t)y)); break;
    case B_POW: BIN(int64_t, int64_t, ipow(x, y)); break;
    case B_MAXIMUM: BIN(int64_t, int64_t, x >= y ? x : y); break;
    case B_MINIMUM: BIN(int64_t, int64_t, x <= y ? x : y); break;
    case B_FMOD: BIN(int64_t, int64_t, y == -1 ? 0 : x % y); break;  /* the core never passes y == 0 */
    COMPARES(int64_t)
    default: break;
    }
}

/* narrow integers as binary_i64, in uint64_t arithmetic stored modulo 2**bits (C's conversion
   of an out-of-range value to a signed type is gcc's documented two's complement wrap) */
#define BINARY_NARROW(NAME, T) \
static void NAME(int op, char **p, const int64_t *st, int64_t n) { \
    switch (op) { \
    case B_ADD: BIN(T, T, (T)((uint64_t)x + (uint64_t)y)); break; \
    case B_SUB: BIN(T, T, (T)((uint64_t)x - (uint64_t)y)); break; \
    case B_MUL: BIN(T, T, (T)((uint64_t)x * (uint64_t)y)); break; \
    case B_POW: BIN(T, T, (T)ipow(x, y)); break; \
    case B_MAXIMUM: BIN(T, T, x >= y ? x : y); break; \
    case B_MINIMUM: BIN(T, T, x <= y ? x : y); break; \
    case B_FMOD: BIN(T, T, (int64_t)y == -1 ? 0 : (T)((int64_t)x % (int64_t)y)); break; \
    COMPARES(T) \
    default: break; \
    } \
}
BINARY_NARROW(binary_u8, uint8_t)
BINARY_NARROW(binary_i16, int16_t)
BINARY_NARROW(binary_i32, int32_t)

/* bools are 0/1 bytes: add/maximum is or, mul/minimum is and, sub is xor */
static void binary_bool(int op, char **p, const int64_t *st, int64_t n) {
    switch (op) {
    case B_ADD: case B_MAXIMUM: BIN(uint8_t, uint8_t, x | y); break;
    case B_MUL: case B_MINIMUM: BIN(uint8_t, uint8_t, x & y); break;
    case B_SUB: BIN(uint8_t, uint8_t, x ^ y); break;
    COMPARES(uint8_t)
    default: break;
    }
}

static int binary_ok(int op, int dt) {
    if (op < 0 || op >= B_COUNT || dt < 0 || dt >= DT_COUNT) return 0;
    if (dt == DT_BOOL) return op != B_DIV && op != B_POW && op != B_FMOD;
    if (dt == DT_I64 || TG_NARROW_INT(dt)) return op != B_DIV;
    return 1;
}

static const loop_fn BINARY_LOOPS[DT_COUNT] = {
    [DT_BOOL] = binary_bool, [DT_I64] = binary_i64, [DT_F32] = binary_f32, [DT_F64] = binary_f64,
    [DT_U8] = binary_u8, [DT_I16] = binary_i16, [DT_I32] = binary_i32};

int tg_binary(int op, int dt, int nd, const int64_t *geo, const void *a, int64_t aoff,
              const void *b, int64_t boff, void *out) {
    if (!binary_ok(op, dt)) return ERR_OP;
    if (nd < 0 || nd > TG_MAXDIM) return ERR_DIM;
    int64_t isz = TG_ITEMSIZE[dt], osz = op >= B_FIRST_COMPARE ? 1 : isz, bst[3 * TG_MAXDIM], acc = osz;
    for (int d = nd - 1; d >= 0; d--) {
        bst[d] = geo[nd + d] * isz;
        bst[nd + d] = geo[2 * nd + d] * isz;
        bst[2 * nd + d] = acc;
        acc *= geo[d];
    }
    char *base[3] = {(char *)a + aoff * isz, (char *)b + boff * isz, (char *)out};
    int64_t iszs[3] = {isz, isz, osz};
    tg_nditer(op, 3, nd, geo, bst, base, BINARY_LOOPS[dt], op == B_POW || op == B_FMOD, iszs);
    return ERR_OK;
}

int tg_binary1(int op, int dt, int64_t n, const void *a, int64_t aoff, int64_t as,
               const void *b, int64_t boff, int64_t bs, void *out) {
    /* the 1-d entry point: no geometry array to build in Python for the common case */
    if (!binary_ok(op, dt)) return ERR_OP;
    int64_t isz = TG_ITEMSIZE[dt], osz = op >= B_FIRST_COMPARE ? 1 : isz;
    int64_t bst[3] = {as * isz, bs * isz, osz};
    char *base[3] = {(char *)a + aoff * isz, (char *)b + boff * isz, (char *)out};
    if (n < 4096) {  /* small: straight to the row loop, no iterator set-up */
        BINARY_LOOPS[dt](op, base, bst, n);
        return ERR_OK;
    }
    int64_t iszs[3] = {isz, isz, osz};
    tg_nditer(op, 3, 1, &n, bst, base, BINARY_LOOPS[dt], op == B_POW || op == B_FMOD, iszs);
    return ERR_OK;
}

/* ---------------------------------------------------------------- where (by item size) */
#define WHERE(T) do { \
    const uint8_t *c = (const uint8_t *)p[0]; const T *ap = (const T *)p[1], *bp = (const T *)p[2]; T *o = (T *)p[3]; \
    int64_t sc = st[0], sa = st[1] / (int64_t)sizeof(T), sb = st[2] / (int64_t)sizeof(T), so = st[3] / (int64_t)sizeof(T); \
    if (sc == 1 && sa == 1 && sb == 1 && so == 1) { _Pragma("omp simd") for (int64_t i = 0; i < n; i++) o[i] = c[i] ? ap[i] : bp[i]; } \
    else if (sc == 1 && sa == 1 && sb == 0 && so == 1) { const T y = bp[0]; _Pragma("omp simd") for (int64_t i = 0; i < n; i++) o[i] = c[i] ? ap[i] : y; } \
    else if (sc == 1 && sa == 0 && sb == 1 && so == 1) { const T x = ap[0]; _Pragma("omp simd") for (int64_t i = 0; i < n; i++) o[i] = c[i] ? x : bp[i]; } \
    else { for (int64_t i = 0; i < n; i++) o[i * so] = c[i * sc] ? ap[i * sa] : bp[i * sb]; } \
} while (0)

static void where1(int op, char **p, const int64_t *st, int64_t n) { WHERE(uint8_t); }
static void where2(int op, char **p, const int64_t *st, int64_t n) { WHERE(uint16_t); }
static void where4(int op, char **p, const int64_t *st, int64_t n) { WHERE(uint32_t); }
static void where8(int op, char **p, const int64_t *st, int64_t n) { WHERE(uint64_t); }

int tg_where(int dt, int nd, const int64_t *geo, const void *c, int64_t coff, const void *a,
             int64_t aoff, const void *b, int64_t boff, void *out) {
    if (dt < 0 || dt >= DT_COUNT) return ERR_OP;
    if (nd < 0 || nd > TG_MAXDIM) return ERR_DIM;
    int64_t isz = TG_ITEMSIZE[dt], bst[4 * TG_MAXDIM], acc = isz;
    for (int d = nd - 1; d >= 0; d--) {
        bst[d] = geo[nd + d];
        bst[nd + d] = geo[2 * nd + d] * isz;
        bst[2 * nd + d] = geo[3 * nd + d] * isz;
        bst[3 * nd + d] = acc;
        acc *= geo[d];
    }
    char *base[4] = {(char *)c + coff, (char *)a + aoff * isz, (char *)b + boff * isz, (char *)out};
    int64_t iszs[4] = {1, isz, isz, isz};
    tg_nditer(0, 4, nd, geo, bst, base, isz == 1 ? where1 : isz == 2 ? where2 : isz == 4 ? where4 : where8, 0, iszs);
    return ERR_OK;
}

/* ---------------------------------------------------------------- copies with casts */
#define CAST(S, D, EXPR) do { \
    const S *xp = (const S *)p[0]; D *o = (D *)p[1]; \
    int64_t sx = st[0] / (int64_t)sizeof(S), so = st[1] / (int64_t)sizeof(D); \
    if (sx == 1 && so == 1) { _Pragma("omp simd") for (int64_t i = 0; i < n; i++) { S x = xp[i]; o[i] = (D)(EXPR); } } \
    else { for (int64_t i = 0; i < n; i++) { S x = xp[i * sx]; o[i * so] = (D)(EXPR); } } \
} while (0)

/* One source type S to every destination dtype: to bool `x != 0`; float -> integer truncates
   to int64 first (the core excludes nan/inf; x86 gives INT64_MIN beyond int64's range), then an
   integer -> narrower integer conversion keeps the low bits (gcc's two's complement wrap). */
#define CAST_FROM(S, TOINT) \
    switch (ddt) { \
    case DT_BOOL: CAST(S, uint8_t, x != 0); break; \
    case DT_U8: CAST(S, uint8_t, TOINT(x)); break; \
    case DT_I16: CAST(S, int16_t, TOINT(x)); break; \
    case DT_I32: CAST(S, int32_t, TOINT(x)); break; \
    case DT_I64: CAST(S, int64_t, TOINT(x)); break; \
    case DT_F32: CAST(S, float, x); break; \
    case DT_F64: CAST(S, double, x); break; \
    default: break; \
    }
#define INT_AS_IS(x) (x)
#define FLOAT_TO_INT(x) ((int64_t)(x))

/* op = source dtype * DT_COUNT + destination dtype */
static void cast_loop(int op, char **p, const int64_t *st, int64_t n) {
    int sdt = op / DT_COUNT, ddt = op % DT_COUNT;
    switch (sdt) {
    case DT_BOOL: case DT_U8: CAST_FROM(uint8_t, INT_AS_IS) break;
    case DT_I16: CAST_FROM(int16_t, INT_AS_IS) break;
    case DT_I32: CAST_FROM(int32_t, INT_AS_IS) break;
    case DT_I64: CAST_FROM(int64_t, INT_AS_IS) break;
    case DT_F32: CAST_FROM(float, FLOAT_TO_INT) break;
    case DT_F64: CAST_FROM(double, FLOAT_TO_INT) break;
    default: break;
    }
}

/* Rows [lo, hi) of a same-dtype copy whose last dim is contiguous on both sides: row q is the
   q-th index of the first nr dims (row-major), each row `bytes` long. memmove, not memcpy: a
   setitem's source may overlap its destination. */
typedef struct { int nr; const int64_t *shape, *bst; const char *src; char *dst; int64_t bytes; } rows_t;

static void copy_rows(void *ctx, int64_t lo, int64_t hi) {
    const rows_t *r = ctx;
    int nr = r->nr, nd = nr + 1;
    int64_t idx[TG_MAXDIM], so = 0, dof = 0, rest = lo;
    for (int d = nr - 1; d >= 0; d--) {  /* the multi-index of row lo */
        idx[d] = rest % r->shape[d];
        rest /= r->shape[d];
        so += idx[d] * r->bst[d];
        dof += idx[d] * r->bst[nd + d];
    }
    for (int64_t q = lo; q < hi; q++) {
        memmove(r->dst + dof, r->src + so, (size_t)r->bytes);
        for (int d = nr - 1; d >= 0; d--) {  /* next row: odometer */
            so += r->bst[d];
            dof += r->bst[nd + d];
            if (++idx[d] < r->shape[d]) break;
            so -= r->shape[d] * r->bst[d];
            dof -= r->shape[d] * r->bst[nd + d];
            idx[d] = 0;
        }
    }
}

int tg_copy(int sdt, int ddt, int nd, const int64_t *geo, const void *src, int64_t soff,
            void *dst, int64_t doff) {
    if (sdt < 0 || sdt >= DT_COUNT || ddt < 0 || ddt >= DT_COUNT) return ERR_OP;
    if (nd < 0 || nd > TG_MAXDIM) return ERR_DIM;
    int64_t ssz = TG_ITEMSIZE[sdt], dsz = TG_ITEMSIZE[ddt], bst[2 * TG_MAXDIM];
    for (int d = 0; d < nd; d++) {
        bst[d] = geo[nd + d] * ssz;
        bst[nd + d] = geo[2 * nd + d] * dsz;
    }
    char *s = (char *)src + soff * ssz, *dp = (char *)dst + doff * dsz;
    if (sdt == ddt && nd == 1 && bst[0] == ssz && bst[1] == dsz) {
        memcpy(dp, s, (size_t)(geo[0] * ssz));
        return ERR_OK;
    }
    if (sdt == ddt && nd >= 2 && bst[nd - 1] == ssz && bst[2 * nd - 1] == ssz && geo[nd - 1] * ssz >= 32) {
        /* rows of at least 32 bytes contiguous on both sides (a permute copy of attention heads,
           (32, 14, 4, 16) from (32, 4, 14, 16): 16 floats per row): one memmove per row, 3x fewer
           cycles than the element loop behind a call per row */
        int64_t outer = 1;
        for (int d = 0; d < nd - 1; d++) outer *= geo[d];
        if (outer == 0) return ERR_OK;
        rows_t r = {nd - 1, geo, bst, s, dp, geo[nd - 1] * ssz};
        tg_parallel_for(outer, tg_threads_for(outer * geo[nd - 1], 0), 1, copy_rows, &r);
        return ERR_OK;
    }
    char *base[2] = {s, dp};
    int64_t iszs[2] = {ssz, dsz};
    tg_nditer(sdt * DT_COUNT + ddt, 2, nd, geo, bst, base, cast_loop, 0, iszs);
    return ERR_OK;
}
