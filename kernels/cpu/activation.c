/* CPU activations and their derivatives. Definition: kernels/ops_dense.h.
 * Formulas: SiLU and sigmoid (Elfwing et al. 2018), GELU both forms
 * (Hendrycks & Gimpel 2016: the tanh form with 0.044715), softplus with
 * PyTorch's threshold 20 (above it, log(1 + e^x) equals x in fp32).
 * The switch sits outside the loops so each loop vectorises. */
#include "kernels/cpu/activation.h"

#include <math.h>

#define PAR_MIN 16384 /* below this many elements threads cost more than they save */
#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_CUBIC 0.044715f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
#define SOFTPLUS_THRESHOLD 20.0f

/* Stable for both signs: never exponentiates a large positive number. */
static inline float sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

void tm_cpu_act_forward(tm_act act, float *out, const float *in, long n) {
    switch (act) {
    case TM_ACT_SILU:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) out[i] = in[i] * sigmoid(in[i]);
        break;
    case TM_ACT_GELU_TANH:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) {
            float x = in[i];
            out[i] = 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)));
        }
        break;
    case TM_ACT_GELU_ERF:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erff(in[i] * INV_SQRT_2));
        break;
    case TM_ACT_RELU:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        break;
    case TM_ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) out[i] = sigmoid(in[i]);
        break;
    case TM_ACT_TANH:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) out[i] = tanhf(in[i]);
        break;
    case TM_ACT_SOFTPLUS:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++)
            out[i] = in[i] > SOFTPLUS_THRESHOLD ? in[i] : log1pf(expf(in[i]));
        break;
    default:
        break; /* the op layer has rejected unknown kinds */
    }
}

void tm_cpu_act_backward(tm_act act, float *din, const float *dout, const float *in, long n) {
    switch (act) {
    case TM_ACT_SILU:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) {
            float s = sigmoid(in[i]);
            din[i] += dout[i] * s * (1.0f + in[i] * (1.0f - s));
        }
        break;
    case TM_ACT_GELU_TANH:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) {
            float x = in[i];
            float t = tanhf(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
            float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * x * x);
            din[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
        }
        break;
    case TM_ACT_GELU_ERF:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) {
            float x = in[i];
            float cdf = 0.5f * (1.0f + erff(x * INV_SQRT_2));
            din[i] += dout[i] * (cdf + x * INV_SQRT_2PI * expf(-0.5f * x * x));
        }
        break;
    case TM_ACT_RELU:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) din[i] += in[i] > 0.0f ? dout[i] : 0.0f;
        break;
    case TM_ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) {
            float s = sigmoid(in[i]);
            din[i] += dout[i] * s * (1.0f - s);
        }
        break;
    case TM_ACT_TANH:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) {
            float t = tanhf(in[i]);
            din[i] += dout[i] * (1.0f - t * t);
        }
        break;
    case TM_ACT_SOFTPLUS:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++)
            din[i] += in[i] > SOFTPLUS_THRESHOLD ? dout[i] : dout[i] * sigmoid(in[i]);
        break;
    default:
        break;
    }
}
