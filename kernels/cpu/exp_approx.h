/* A vectorizable single-precision exp for the CPU kernels (scan decays,
 * attention probabilities): libm's expf is one call per element, which keeps
 * the loops around it scalar. Definition: below; used by kernels/cpu/scan.c
 * and kernels/cpu/attention.c. */
#ifndef TM_CPU_EXP_APPROX_H
#define TM_CPU_EXP_APPROX_H

#include <stdint.h>
#include <string.h>

/* exp(x) in a form the compiler vectorizes: x = k ln2 + r with |r| <= ln2/2, exp(r) by its Taylor series to
 * r^7 (truncation < 1e-8 relative), 2^k by building the exponent bits. The
 * rounding to k uses the 1.5*2^23 trick, exact under the default rounding
 * mode. x is clamped to [-87, 88] so 2^k stays a normal float: below that
 * exp(x) < 2e-38, negligible next to the O(1) terms it is added to (a decayed
 * state, a softmax weight). Accuracy: about 2 ulp, well inside the 1e-5 the
 * ops are checked to. */
static inline float tm_exp_approx(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504088896341f + magic;
    float kf = t - magic;
    float r = x - kf * 0.693359375f - kf * -2.12194440e-4f; /* ln2 in two parts */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* The integer k sits in t's low mantissa bits; 2^k is the float with
     * exponent field k + 127. memcpy (not a union) keeps the loop vectorizable.
     * Unsigned: a NaN x gives garbage bits here (the result is NaN anyway via
     * p), and a signed shift of them would be undefined. */
    uint32_t ki, si;
    float scale;
    memcpy(&ki, &t, sizeof ki);
    si = (ki - 0x4B400000u + 127u) << 23;
    memcpy(&scale, &si, sizeof scale);
    return p * scale;
}

#endif
