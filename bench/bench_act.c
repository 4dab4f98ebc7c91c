/* Activation timings against the old scalar libm loops. Definition:
 * bench_act.h. */
#include "bench/bench_act.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/ops.h"

/* ---- the baseline: the libm loops of kernels/cpu/activation.c before it was
 * vectorized (commit ac7d553), kept verbatim (switch outside the loops)
 * so the ratio measures exactly what the rewrite bought. ---------------------------------- */

#define PAR_MIN 16384
#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_CUBIC 0.044715f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
#define SOFTPLUS_THRESHOLD 20.0f

static inline float libm_sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static void libm_forward(tm_act act, float *out, const float *in, long n) {
    switch (act) {
    case TM_ACT_SILU:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) out[i] = in[i] * libm_sigmoid(in[i]);
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
        for (long i = 0; i < n; i++) out[i] = libm_sigmoid(in[i]);
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

static void libm_backward(tm_act act, float *din, const float *dout, const float *in, long n) {
    switch (act) {
    case TM_ACT_SILU:
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) {
            float s = libm_sigmoid(in[i]);
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
            float s = libm_sigmoid(in[i]);
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
            din[i] += in[i] > SOFTPLUS_THRESHOLD ? dout[i] : dout[i] * libm_sigmoid(in[i]);
        break;
    default:
        break;
    }
}

/* ---- timing ------------------------------------------------------------------ */

typedef struct {
    tm_ctx *ctx;
    tm_act act;
    tm_tensor out, in, dout, din; /* views of the buffers below */
    float *out_p, *in_p, *dout_p, *din_p;
    long n;
    tm_status st;
} act_args;

static void run_op_forward(void *p) {
    act_args *a = p;
    tm_status st = tm_op_act(a->ctx, a->act, &a->out, &a->in);
    if (st != TM_OK) a->st = st;
}

static void run_op_backward(void *p) {
    act_args *a = p;
    tm_status st = tm_op_act_backward(a->ctx, a->act, &a->din, &a->dout, &a->in);
    if (st != TM_OK) a->st = st;
}

static void run_libm_forward(void *p) {
    const act_args *a = p;
    libm_forward(a->act, a->out_p, a->in_p, a->n);
}

static void run_libm_backward(void *p) {
    const act_args *a = p;
    libm_backward(a->act, a->din_p, a->dout_p, a->in_p, a->n);
}

tm_status tm_bench_act(tm_ctx *ctx, const tm_bench_opts *o, tm_bench_result *out, int cap, int *n) {
    long len = o->quick ? 1L << 16 : 1L << 22; /* 64K / 4M floats: 16 MB per buffer, past the caches */
    act_args a = {.ctx = ctx, .n = len, .st = TM_OK};
    a.in_p = malloc((size_t)len * sizeof(float));
    a.out_p = malloc((size_t)len * sizeof(float));
    a.dout_p = malloc((size_t)len * sizeof(float));
    a.din_p = calloc((size_t)len, sizeof(float));
    tm_status st = TM_OK;
    if (!a.in_p || !a.out_p || !a.dout_p || !a.din_p) {
        st = tm_fail(TM_ENOMEM, "bench kernels: activations over %ld floats: out of memory", len);
        goto done;
    }
    /* Inputs where activations live (both tails included); the libm
     * functions' speed depends on the range. */
    tm_rng r;
    tm_rng_seed(&r, 20, 0);
    tm_rng_fill_uniform(&r, a.in_p, len, -6.0f, 6.0f);
    tm_rng_fill_uniform(&r, a.dout_p, len, -1.0f, 1.0f);
    int64_t shape[1] = {len};
    if ((st = tm_tensor_wrap(&a.in, a.in_p, TM_F32, TM_CPU, 1, shape)) != TM_OK ||
        (st = tm_tensor_wrap(&a.out, a.out_p, TM_F32, TM_CPU, 1, shape)) != TM_OK ||
        (st = tm_tensor_wrap(&a.dout, a.dout_p, TM_F32, TM_CPU, 1, shape)) != TM_OK ||
        (st = tm_tensor_wrap(&a.din, a.din_p, TM_F32, TM_CPU, 1, shape)) != TM_OK)
        goto done;
    double ceiling = tm_bench_cpu_gbps_ceiling(o);
    for (int act = 0; act < TM_ACT_COUNT; act++) {
        for (int bw = 0; bw < 2 && *n < cap; bw++) {
            a.act = (tm_act)act;
            double ms, base_ms;
            tm_ctx_cpu_enter(ctx); /* the baseline runs on the op's thread count */
            tm_bench_compare_ms(o, bw ? run_op_backward : run_op_forward, &a,
                                bw ? run_libm_backward : run_libm_forward, &a, &ms, &base_ms);
            if (a.st != TM_OK) {
                st = a.st;
                goto done;
            }
            double bytes = (bw ? 4.0 : 2.0) * (double)len * sizeof(float);
            tm_bench_result *res = &out[(*n)++];
            memset(res, 0, sizeof *res);
            snprintf(res->op, sizeof res->op, "%s%s", tm_act_name((tm_act)act),
                     bw ? "_backward" : "");
            snprintf(res->device, sizeof res->device, "%s", tm_device_name(ctx->device));
            snprintf(res->shape, sizeof res->shape, "n=%ld", len);
            res->ms = ms;
            res->achieved = bytes / (ms * 1e-3) / 1e9;
            res->unit = "GB/s";
            res->limit_fraction = ceiling > 0 ? res->achieved / ceiling : 0.0;
            snprintf(res->baseline, sizeof res->baseline, "libm loop");
            res->baseline_ms = base_ms;
            res->ratio = ms > 0 ? base_ms / ms : 0.0;
        }
    }
done:
    free(a.in_p);
    free(a.out_p);
    free(a.dout_p);
    free(a.din_p);
    return st;
}
