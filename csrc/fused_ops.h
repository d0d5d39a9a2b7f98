/* The float elementwise ops as inline functions of one element, for the kernels tg.jit generates
   when it fuses a run of elementwise calls (backends/c_fusion.py). Each formula is the one the
   unfused kernel uses (elementwise.c: unary_f32/unary_f64/binary float rows; fused.c: axpy,
   relu backward), so a fused run rounds exactly as the calls it replaces (tests/test_jit_fusion.py
   checks every op bit for bit). `op` is a compile-time constant in generated code: the switch folds. */
#ifndef TG_FUSED_OPS_H
#define TG_FUSED_OPS_H
#include <math.h>
#include <stdint.h>
#include "tg_ops.h"
#include "vmath.h"
#include "vmath_f64.h"

#define TG_FMAX(x, y) ((x) != (x) ? (x) : ((y) != (y) ? (y) : ((x) >= (y) ? (x) : (y))))
#define TG_FMIN(x, y) ((x) != (x) ? (x) : ((y) != (y) ? (y) : ((x) <= (y) ? (x) : (y))))

static inline float tgf_unary_f32(int op, float x) {
    switch (op) {
    case U_NEG: return -x;
    case U_ABS: return fabsf(x);
    case U_SIGN: return (float)((x > 0) - (x < 0));
    case U_EXP: return tg_expf_inline(x);
    case U_LOG: return tg_logf_inline(x);
    case U_SQRT: return sqrtf(x);
    case U_SIN: return (float)sin((double)x);
    case U_COS: return (float)cos((double)x);
    case U_TANH: return tg_tanhf_inline(x);
    case U_SIGMOID: return 1.0f / (1.0f + tg_expf_inline(-x));
    case U_RELU: return x > 0 ? x : (x != x ? x : 0.0f);
    case U_ERF: return tg_erff_inline(x);
    case U_RECIPROCAL: return 1.0f / x;
    case U_FLOOR: return floorf(x);
    case U_CEIL: return ceilf(x);
    default: return x;
    }
}

static inline double tgf_unary_f64(int op, double x) {
    switch (op) {
    case U_NEG: return -x;
    case U_ABS: return fabs(x);
    case U_SIGN: return (double)((x > 0) - (x < 0));
    case U_EXP: return tg_exp_f64_inline(x);
    case U_LOG: return log(x);
    case U_SQRT: return sqrt(x);
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_TANH: return tanh(x);
    case U_SIGMOID: return tg_sigmoid_f64_inline(x);
    case U_RELU: return x > 0 ? x : (x != x ? x : 0.0);
    case U_ERF: return erf(x);
    case U_RECIPROCAL: return 1.0 / x;
    case U_FLOOR: return floor(x);
    case U_CEIL: return ceil(x);
    default: return x;
    }
}

static inline float tgf_binary_f32(int op, float x, float y) {
    switch (op) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    case B_DIV: return x / y;
    case B_POW: return (float)pow((double)x, (double)y);
    case B_MAXIMUM: return TG_FMAX(x, y);
    case B_MINIMUM: return TG_FMIN(x, y);
    case B_FMOD: return fmodf(x, y);
    default: return x;
    }
}

static inline double tgf_binary_f64(int op, double x, double y) {
    switch (op) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    case B_DIV: return x / y;
    case B_POW: return pow(x, y);
    case B_MAXIMUM: return TG_FMAX(x, y);
    case B_MINIMUM: return TG_FMIN(x, y);
    case B_FMOD: return fmod(x, y);
    default: return x;
    }
}

typedef void (*tgf_range_fn)(void *ctx, int64_t lo, int64_t hi);
typedef void (*tgf_parallel_for_fn)(int64_t n, int nt, int64_t align, tgf_range_fn fn, void *ctx);
typedef int (*tgf_threads_for_fn)(int64_t work, int costly);
typedef struct { void **p; const int64_t *o; } tgf_args;
#endif
