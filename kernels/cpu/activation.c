/* CPU activations and their derivatives. Definition: kernels/ops_dense.h.
 * Formulas: SiLU and sigmoid (Elfwing et al. 2018), GELU both forms
 * (Hendrycks & Gimpel 2016: the tanh form with 0.044715), softplus
 * log(1 + e^x) (PyTorch returns x above 20, where the two agree in fp32).
 *
 * Speed: libm's expf/tanhf/erff/log1pf are one call per element and keep a
 * loop scalar (a profile of a training step had them among the top costs).
 * Every function here is built from the vectorizable tm_exp_approx
 * (kernels/cpu/exp_approx.h), divisions and polynomials, so each loop
 * compiles to SIMD (`transmamba bench kernels` times them against the old
 * libm loops: bench/bench_act.c).
 *
 * Accuracy (tests/test_ops_dense.c sweeps [-30, 30] and the extremes against
 * double-precision references and asserts these bounds):
 *   - every result is within 1e-6 relative of the exact value (measured:
 *     about 3e-7), plus an absolute 1e-36 where the exact value is below
 *     FLT_MIN: exp(x) < FLT_MIN is flushed to 0, so the limits are exact
 *     (sigmoid(-inf) = 0, tanh(inf) = 1, softplus(-inf) = 0, silu(-inf) = 0,
 *     every derivative at +-inf) and inf * 0 never makes a NaN;
 *   - the derivatives of SiLU and the GELUs cross zero (x = -1.28, -0.75),
 *     where they are the difference of O(1) terms: there an absolute 1e-7,
 *     the fp32 rounding of those terms;
 *   - the GELUs' far negative tails (x < -3) lose relative accuracy to the
 *     fp32 rounding of the argument of their exp (u, x^2/2), as any fp32 form
 *     does: absolute error below 1e-8 (tanh form) and 1e-9 (erf form).
 * NaN propagates. Where the libm forms were only absolutely accurate (1 - t*t
 * for tanh', 1 + tanh and 1 + erf in the GELUs' negative tails: about 1e-7
 * absolute) these are relatively accurate.
 * Each activation is one range kernel per direction (below), split over the
 * threads by tm_cpu_act_forward/backward. */
#include "kernels/cpu/activation.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* The loops vectorize only under GCC's dynamic cost model (-O2 leaves it
 * off) and without trapping math (the clamps and guards are comparisons;
 * nothing here reads the FP exception flags). Set before the include so the
 * inlined tm_exp_approx gets the same options (as kernels/cpu/scan.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic", "no-trapping-math")
#endif
#include "kernels/cpu/exp_approx.h"

#define PAR_MIN 16384 /* below this many elements threads cost more than they save */
#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_CUBIC 0.044715f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
#define LOG_FLT_MIN -87.33654475f /* below it exp(x) is subnormal: flushed to 0 */
/* Past this |x| every result is at its limit in fp32 (exp(-|x|) flushed), so
 * derivatives use a clamped x and +-inf never meets a 0 (inf * 0 = NaN). */
#define ARG_LIMIT 200.0f

/* NaN passes through (both comparisons are false). */
static inline float clamp_arg(float x) {
    x = x < -ARG_LIMIT ? -ARG_LIMIT : x;
    return x > ARG_LIMIT ? ARG_LIMIT : x;
}

/* exp(x) for x <= 0, 0 where it would be subnormal (tm_exp_approx clamps at
 * -87, which would leave exp(-inf) = 1.6e-38 instead of 0). */
static inline float exp_neg(float x) {
    float e = tm_exp_approx(x);
    return x < LOG_FLT_MIN ? 0.0f : e;
}

/* sigmoid(x) and 1 - sigmoid(x) = sigmoid(-x), each to a few ulp relative:
 * e = exp(-|x|) <= 1 never overflows, the larger of the two is 1/(1+e) and
 * the smaller e/(1+e), so neither is formed by subtracting from 1. */
typedef struct {
    float s, c;
} sig_pair;

static inline sig_pair sigmoid_pair(float x) {
    float e = exp_neg(-fabsf(x));
    float big = 1.0f / (1.0f + e), small = e * big;
    sig_pair p = {x >= 0.0f ? big : small, x >= 0.0f ? small : big};
    return p;
}

/* expm1(x) for x <= 0, a few ulp relative (tanh needs it near 0, where
 * exp(x) - 1 cancels). x = k ln2 + r with |r| <= ln2/2; expm1(r) by its Taylor
 * series to r^8 (truncation < 1e-9 relative); expm1(x) = 2^k expm1(r) +
 * (2^k - 1), both terms exact for k = 0 and of size O(result) otherwise. */
static inline float expm1_neg(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: rounds to an integer */
    x = x < -88.0f ? -88.0f : x;     /* expm1 is -1 in fp32 below -17 */
    float t = x * 1.44269504088896341f + magic;
    float kf = t - magic;
    float r = x - kf * 0.693359375f - kf * -2.12194440e-4f; /* ln2 in two parts */
    float p = 1.0f / 40320.0f;
    p = p * r + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = r + r * r * p;
    uint32_t bits; /* 2^k from k in t's low mantissa bits, as in tm_exp_approx */
    float scale;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;
    memcpy(&scale, &bits, sizeof scale);
    return scale * p + (scale - 1.0f);
}

/* log1p(y) for y in [0, 1]: log1p(y) = 2 atanh(z), z = y / (2 + y) in
 * [0, 1/3], by the atanh series 2 z (1 + z^2/3 + ... + z^14/15) (truncation
 * z^16/17 < 2e-9 relative). z keeps y's relative accuracy, so small y costs
 * nothing (log(1 + y) would lose y's low bits in 1 + y). */
static inline float log1p_unit(float y) {
    float z = y / (2.0f + y), w = z * z;
    float p = 1.0f / 15.0f;
    p = p * w + 1.0f / 13.0f;
    p = p * w + 1.0f / 11.0f;
    p = p * w + 1.0f / 9.0f;
    p = p * w + 1.0f / 7.0f;
    p = p * w + 1.0f / 5.0f;
    p = p * w + 1.0f / 3.0f;
    p = p * w + 1.0f;
    return 2.0f * z * p;
}

/* tanh(|x|) = -m / (m + 2) with m = expm1(-2|x|) in (-1, 0]; odd, and
 * copysignf keeps tanh(+-0) = +-0. */
static inline float tanh_fast(float x) {
    float m = expm1_neg(-2.0f * fabsf(x));
    return copysignf(fabsf(m / (m + 2.0f)), x);
}

/* erfcx(z) = exp(z^2) erfc(z) for z >= 0: a polynomial in
 * s = 1/(1 + 0.35 z) - 0.6156, which maps [0, 9.5] (past it erfc(z) < FLT_MIN)
 * onto [-0.385, 0.385] and makes erfcx's slow 1/z tail smooth. Coefficients:
 * a degree-11 Chebyshev fit made with mpmath.chebyfit (50 digits) for this
 * file; relative fit error 1.2e-9, far below fp32 rounding. */
static inline float erfcx_pos(float z) {
    float s = 1.0f / (1.0f + 0.35f * z) - 0.615606936f;
    float p = -0.03505733444f;
    p = p * s + 0.01924710757f;
    p = p * s + 0.08863059112f;
    p = p * s - 0.0373546598f;
    p = p * s - 0.2283262646f;
    p = p * s - 0.06403119955f;
    p = p * s + 0.597326273f;
    p = p * s + 1.361931375f;
    p = p * s + 1.706635863f;
    p = p * s + 1.485152558f;
    p = p * s + 0.9594099375f;
    p = p * s + 0.2805778583f;
    return p;
}

/* The normal CDF Phi(x) and the density's exp(-x^2/2) (the derivative needs
 * both). The lower tail Phi(-|x|) = erfc(|x|/sqrt 2)/2 is computed directly,
 * so Phi is relatively accurate for x < 0 where 1 + erf(x/sqrt 2) cancels;
 * x > 0 takes 1 - tail. */
typedef struct {
    float cdf, gauss;
} cdf_pair;

static inline cdf_pair normal_cdf(float x) {
    float g = exp_neg(-0.5f * x * x);
    float tail = 0.5f * g * erfcx_pos(fabsf(x) * INV_SQRT_2);
    cdf_pair c = {x <= 0.0f ? tail : 1.0f - tail, g};
    return c;
}

/* GELU's tanh form as x * sigmoid(2u): 0.5 (1 + tanh u) = sigmoid(2u), which
 * avoids the cancellation of 1 + tanh u for x < 0. */
static inline float gelu_2u(float x) {
    return 2.0f * SQRT_2_OVER_PI * x * (1.0f + GELU_CUBIC * x * x);
}

/* ---- f(x) and f'(x) per element --------------------------------------------- */

static inline float silu_f(float x) {
    float s = sigmoid_pair(x).s;
    return s == 0.0f ? 0.0f : x * s; /* silu(-inf) = 0, not -inf * 0 */
}
static inline float silu_d(float x) { /* s (1 + x (1 - s)) */
    x = clamp_arg(x);
    sig_pair p = sigmoid_pair(x);
    return p.s * (1.0f + x * p.c);
}

static inline float gelu_tanh_f(float x) {
    float s = sigmoid_pair(gelu_2u(clamp_arg(x))).s;
    return s == 0.0f ? 0.0f : x * s;
}
static inline float gelu_tanh_d(float x) { /* d/dx x sigmoid(2u) = s + x s (1 - s) 2u' */
    x = clamp_arg(x);
    sig_pair p = sigmoid_pair(gelu_2u(x));
    float du2 = 2.0f * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * x * x);
    return p.s + x * p.s * p.c * du2;
}

static inline float gelu_erf_f(float x) {
    float cdf = normal_cdf(x).cdf;
    return cdf == 0.0f ? 0.0f : x * cdf;
}
static inline float gelu_erf_d(float x) { /* Phi(x) + x phi(x) */
    x = clamp_arg(x);
    cdf_pair c = normal_cdf(x);
    return c.cdf + x * INV_SQRT_2PI * c.gauss;
}

static inline float sigmoid_f(float x) { return sigmoid_pair(x).s; }
static inline float sigmoid_d(float x) {
    sig_pair p = sigmoid_pair(x);
    return p.s * p.c;
}

static inline float tanh_f(float x) { return tanh_fast(x); }
/* 1 - tanh^2 = sech^2 = 4e / (1 + e)^2 with e = exp(-2|x|): relatively
 * accurate where 1 - t*t would cancel to 0. */
static inline float tanh_d(float x) {
    float e = exp_neg(-2.0f * fabsf(x));
    float q = 1.0f + e;
    return 4.0f * e / (q * q);
}

/* max(x, 0) + log1p(e^-|x|): no overflow, no cancellation; equals x in fp32
 * above ~17, as PyTorch's threshold 20 assumes. */
static inline float softplus_f(float x) {
    return (x > 0.0f ? x : 0.0f) + log1p_unit(exp_neg(-fabsf(x)));
}
static inline float softplus_d(float x) { return sigmoid_pair(x).s; }

static inline float relu_f(float x) { return x > 0.0f ? x : 0.0f; }

/* ---- range kernels ---------------------------------------------------------------
 * The build targets plain x86-64 (SSE2, 4 floats a vector). These loops are
 * compute-bound, so on x86-64 with GCC each is compiled twice, for AVX2 (8
 * floats) and the baseline, and the loader picks one (an ifunc). Results are
 * bit-identical either way (checked over 4M inputs of every kind; only NaN
 * payloads may differ): the same IEEE operations per element, and no FMA (it
 * is not in the "avx2" target, and ISO C mode does not contract). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SIMD_CLONES
#endif

typedef void (*forward_range)(float *out, const float *in, long n);
typedef void (*backward_range)(float *din, const float *dout, const float *in, long n);

/* out may be in; din[i] += dout[i] * f'(in[i]) loads dout unconditionally (a
 * conditional load keeps the loop scalar). */
#define ACT_RANGES(name)                                                                     \
    static SIMD_CLONES void name##_forward(float *out, const float *in, long n) {            \
        _Pragma("omp simd") for (long i = 0; i < n; i++) out[i] = name##_f(in[i]);           \
    }                                                                                        \
    static SIMD_CLONES void name##_backward(float *din, const float *dout, const float *in,   \
                                            long n) {                                        \
        _Pragma("omp simd") for (long i = 0; i < n; i++) din[i] += dout[i] * name##_d(in[i]); \
    }
ACT_RANGES(silu)
ACT_RANGES(gelu_tanh)
ACT_RANGES(gelu_erf)
ACT_RANGES(sigmoid)
ACT_RANGES(tanh)
ACT_RANGES(softplus)

static void relu_forward(float *out, const float *in, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) out[i] = relu_f(in[i]);
}
/* A select, not dout * step(x): a non-finite dout where x <= 0 adds nothing. */
static void relu_backward(float *din, const float *dout, const float *in, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) {
        float g = dout[i];
        din[i] += in[i] > 0.0f ? g : 0.0f;
    }
}

static const struct {
    forward_range forward;
    backward_range backward;
} ranges[TM_ACT_COUNT] = {
    [TM_ACT_SILU] = {silu_forward, silu_backward},
    [TM_ACT_GELU_TANH] = {gelu_tanh_forward, gelu_tanh_backward},
    [TM_ACT_GELU_ERF] = {gelu_erf_forward, gelu_erf_backward},
    [TM_ACT_RELU] = {relu_forward, relu_backward},
    [TM_ACT_SIGMOID] = {sigmoid_forward, sigmoid_backward},
    [TM_ACT_TANH] = {tanh_forward, tanh_backward},
    [TM_ACT_SOFTPLUS] = {softplus_forward, softplus_backward},
};

/* This thread's share [*lo, *hi) of n elements: contiguous, in whole cache
 * lines (16 floats) so threads never write the same line. Elementwise, so
 * the split never changes a result. */
static void thread_share(long n, long *lo, long *hi) {
    long nt = omp_get_num_threads(), t = omp_get_thread_num();
    long chunk = ((n + nt - 1) / nt + 15) / 16 * 16;
    *lo = t * chunk < n ? t * chunk : n;
    *hi = *lo + chunk < n ? *lo + chunk : n;
}

void tm_cpu_act_forward(tm_act act, float *out, const float *in, long n) {
    if ((unsigned)act >= TM_ACT_COUNT) return; /* the op layer has rejected unknown kinds */
    forward_range f = ranges[act].forward;
    if (n <= PAR_MIN) {
        f(out, in, n);
        return;
    }
#pragma omp parallel
    {
        long lo, hi;
        thread_share(n, &lo, &hi);
        if (hi > lo) f(out + lo, in + lo, hi - lo);
    }
}

void tm_cpu_act_backward(tm_act act, float *din, const float *dout, const float *in, long n) {
    if ((unsigned)act >= TM_ACT_COUNT) return;
    backward_range f = ranges[act].backward;
    if (n <= PAR_MIN) {
        f(din, dout, in, n);
        return;
    }
#pragma omp parallel
    {
        long lo, hi;
        thread_share(n, &lo, &hi);
        if (hi > lo) f(din + lo, dout + lo, in + lo, hi - lo);
    }
}
