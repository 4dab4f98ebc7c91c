/* Timings of attention and the selective scan against same-run baselines.
 * Definition: bench_seq.h. */
#include "bench/bench_seq.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/scan.h"
#include "kernels/ops.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static float *rand_buf(tm_rng *r, size_t n, float lo, float hi) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (p) tm_rng_fill_uniform(r, p, (long)n, lo, hi);
    return p;
}

static tm_status wrap(tm_ctx *ctx, tm_tensor *t, void *p, tm_dtype dt, int ndim, int64_t d0,
                      int64_t d1, int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    return tm_tensor_wrap(t, p, dt, ctx->device, ndim, s);
}

/* ---- attention ---------------------------------------------------------------- */

typedef struct {
    tm_tensor q, k, v, out, lse, dq, dk, dv, dout;
} attn_bufs;

tm_status tm_bench_attention(tm_ctx *ctx, int B, int T, int Hq, int Hkv, int dh, int window,
                             int backward, int repeat, tm_bench_seq_result *res) {
    if (B < 1 || T < 1 || Hq < 1 || Hkv < 1 || dh < 1 || repeat < 1)
        return tm_fail(TM_EINVAL, "bench attention: sizes and repeat must be >= 1");
    tm_rng r;
    tm_rng_seed(&r, 1, 0);
    size_t nq = (size_t)B * T * Hq * dh, nk = (size_t)B * T * Hkv * dh;
    float *q = rand_buf(&r, nq, -1, 1), *k = rand_buf(&r, nk, -1, 1), *v = rand_buf(&r, nk, -1, 1);
    float *out = rand_buf(&r, nq, 0, 0), *lse = rand_buf(&r, (size_t)B * Hq * T, 0, 0);
    float *dq = rand_buf(&r, nq, 0, 0), *dk = rand_buf(&r, nk, 0, 0), *dv = rand_buf(&r, nk, 0, 0);
    float *dout = rand_buf(&r, nq, -1, 1);
    float *S = rand_buf(&r, (size_t)T * T, 0, 0), *O = rand_buf(&r, (size_t)T * dh, 0, 0);
    tm_status st = TM_OK;
    if (!q || !k || !v || !out || !lse || !dq || !dk || !dv || !dout || !S || !O) {
        st = tm_fail(TM_ENOMEM, "bench attention: cannot allocate buffers for B %d T %d", B, T);
        goto done;
    }
    attn_bufs t;
    if ((st = wrap(ctx, &t.q, q, TM_F32, 4, B, T, Hq, dh)) || (st = wrap(ctx, &t.k, k, TM_F32, 4, B, T, Hkv, dh)) ||
        (st = wrap(ctx, &t.v, v, TM_F32, 4, B, T, Hkv, dh)) || (st = wrap(ctx, &t.out, out, TM_F32, 4, B, T, Hq, dh)) ||
        (st = wrap(ctx, &t.lse, lse, TM_F32, 3, B, Hq, T, 0)) || (st = wrap(ctx, &t.dq, dq, TM_F32, 4, B, T, Hq, dh)) ||
        (st = wrap(ctx, &t.dk, dk, TM_F32, 4, B, T, Hkv, dh)) || (st = wrap(ctx, &t.dv, dv, TM_F32, 4, B, T, Hkv, dh)) ||
        (st = wrap(ctx, &t.dout, dout, TM_F32, 4, B, T, Hq, dh)))
        goto done;
    float scale = 1.0f / sqrtf((float)dh);
    double best = INFINITY;
    if ((st = tm_op_attention(ctx, &t.out, &t.lse, &t.q, &t.k, &t.v, NULL, NULL, NULL, NULL, scale, window)))
        goto done;
    for (int i = 0; i <= repeat; i++) {
        double t0 = now_ms();
        if (backward)
            st = tm_op_attention_backward(ctx, &t.dq, &t.dk, &t.dv, &t.dout, &t.out, &t.lse, &t.q,
                                          &t.k, &t.v, NULL, NULL, NULL, NULL, scale, window);
        else
            st = tm_op_attention(ctx, &t.out, &t.lse, &t.q, &t.k, &t.v, NULL, NULL, NULL, NULL,
                                 scale, window);
        if (st) goto done;
        double dt = now_ms() - t0;
        if (i > 0 && dt < best) best = dt; /* call 0 is the warm-up */
    }
    double pairs = 0;
    for (int t_ = 0; t_ < T; t_++) pairs += window > 0 && window < t_ + 1 ? window : t_ + 1;
    double flops = (backward ? 10.0 : 4.0) * dh * pairs * B * Hq;
    /* Baseline: the dense per-head products with OpenBLAS (S = Q K^T, O = S V)
     * on the same threads; the rows of one head are dh*Hq floats apart. */
    tm_ctx_cpu_enter(ctx);
    double base = INFINITY;
    for (int i = 0; i <= repeat; i++) {
        double t0 = now_ms();
        for (int b = 0; b < B; b++)
            for (int h = 0; h < Hq; h++) {
                const float *qh = q + ((size_t)b * T * Hq + h) * dh;
                const float *kh = k + ((size_t)b * T * Hkv + h / (Hq / Hkv)) * dh;
                const float *vh = v + ((size_t)b * T * Hkv + h / (Hq / Hkv)) * dh;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, scale, qh, Hq * dh,
                            kh, Hkv * dh, 0.0f, S, T);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, 1.0f, S, T, vh,
                            Hkv * dh, 0.0f, O, dh);
            }
        double dt = now_ms() - t0;
        if (i > 0 && dt < base) base = dt;
    }
    double base_flops = 4.0 * (double)T * T * dh * B * Hq;
    memset(res, 0, sizeof *res);
    snprintf(res->op, sizeof res->op, "%s", backward ? "attention_backward" : "attention");
    snprintf(res->shape, sizeof res->shape, "B=%d T=%d Hq=%d Hkv=%d dh=%d W=%d", B, T, Hq, Hkv, dh, window);
    res->ms = best;
    res->achieved = flops / (best * 1e6);
    res->unit = "GFLOP/s";
    res->baseline = "sgemm";
    res->baseline_ms = base;
    res->baseline_achieved = base_flops / (base * 1e6);
    res->ratio = res->achieved / res->baseline_achieved;
done:
    free(q), free(k), free(v), free(out), free(lse), free(dq), free(dk), free(dv), free(dout);
    free(S), free(O);
    return st;
}

/* The CPU attention through the picked path against the baseline x86-64
 * path, alternating call by call; GFLOP/s counted as in tm_bench_attention. */
tm_status tm_bench_attention_paths(tm_ctx *ctx, int B, int T, int Hq, int Hkv, int dh, int window,
                                   int backward, int repeat, tm_bench_seq_result *res) {
    if (B < 1 || T < 1 || Hq < 1 || Hkv < 1 || dh < 1 || repeat < 1)
        return tm_fail(TM_EINVAL, "bench attention paths: sizes and repeat must be >= 1");
    if (Hq % Hkv)
        return tm_fail(TM_EINVAL, "bench attention paths: Hq must be a multiple of Hkv (got %d, %d)",
                       Hq, Hkv);
    tm_rng r;
    tm_rng_seed(&r, 1, 0);
    size_t nq = (size_t)B * T * Hq * dh, nk = (size_t)B * T * Hkv * dh;
    float *q = rand_buf(&r, nq, -1, 1), *k = rand_buf(&r, nk, -1, 1), *v = rand_buf(&r, nk, -1, 1);
    float *out = rand_buf(&r, nq, 0, 0), *lse = rand_buf(&r, (size_t)B * Hq * T, 0, 0);
    float *dq = rand_buf(&r, nq, 0, 0), *dk = rand_buf(&r, nk, 0, 0), *dv = rand_buf(&r, nk, 0, 0);
    float *dout = rand_buf(&r, nq, -1, 1);
    tm_status st = TM_OK;
    if (!q || !k || !v || !out || !lse || !dq || !dk || !dv || !dout) {
        st = tm_fail(TM_ENOMEM, "bench attention paths: cannot allocate buffers for B %d T %d", B, T);
        goto done;
    }
    tm_ctx_cpu_enter(ctx);
    float scale = 1.0f / sqrtf((float)dh);
    tm_cpu_attention_forward(out, lse, q, k, v, NULL, NULL, NULL, NULL, scale, B, T, 0, Hq, Hkv,
                             dh, window);
    double best = INFINITY, base = INFINITY;
    for (int i = 0; i <= repeat; i++)
        for (int p = 0; p < 2; p++) {
            tm_cpu_path path = p ? TM_CPU_PATH_BASELINE : TM_CPU_PATH_AUTO;
            double t0 = now_ms();
            if (backward)
                tm_cpu_attention_backward_on(path, dq, dk, dv, dout, out, lse, q, k, v, NULL, NULL,
                                             NULL, NULL, scale, B, T, 0, Hq, Hkv, dh, window);
            else
                tm_cpu_attention_forward_on(path, out, lse, q, k, v, NULL, NULL, NULL, NULL, scale,
                                            B, T, 0, Hq, Hkv, dh, window);
            double el = now_ms() - t0;
            double *keep = p ? &base : &best;
            if (i > 0 && el < *keep) *keep = el;
        }
    double pairs = 0;
    for (int t_ = 0; t_ < T; t_++) pairs += window > 0 && window < t_ + 1 ? window : t_ + 1;
    double flops = (backward ? 10.0 : 4.0) * dh * pairs * B * Hq;
    memset(res, 0, sizeof *res);
    snprintf(res->op, sizeof res->op, "%s%s", backward ? "attn_bwd_" : "attn_",
             tm_cpu_path_available(TM_CPU_PATH_AVX2) ? "avx2" : "auto");
    snprintf(res->shape, sizeof res->shape, "B=%d T=%d Hq=%d Hkv=%d dh=%d W=%d", B, T, Hq, Hkv, dh, window);
    res->ms = best;
    res->achieved = flops / (best * 1e6);
    res->unit = "GFLOP/s";
    res->baseline = "x86-64 path";
    res->baseline_ms = base;
    res->baseline_achieved = flops / (base * 1e6);
    res->ratio = res->achieved / res->baseline_achieved;
done:
    free(q), free(k), free(v), free(out), free(lse), free(dq), free(dk), free(dv), free(dout);
    return st;
}

/* ---- scan --------------------------------------------------------------------------- */

tm_status tm_bench_scan(tm_ctx *ctx, int B, int T, int D, int N, int backward, int repeat,
                        tm_bench_seq_result *res) {
    if (B < 1 || T < 1 || D < 1 || N < 1 || repeat < 1)
        return tm_fail(TM_EINVAL, "bench scan: sizes and repeat must be >= 1");
    tm_rng r;
    tm_rng_seed(&r, 2, 0);
    size_t nx = (size_t)B * T * D, nb = (size_t)B * T * N, nh = (size_t)B * D * N;
    float *x = rand_buf(&r, nx, -1, 1), *dt = rand_buf(&r, nx, 0.001f, 0.1f);
    float *A = rand_buf(&r, (size_t)D * N, -8, -1), *Bm = rand_buf(&r, nb, -1, 1);
    float *Cm = rand_buf(&r, nb, -1, 1), *Ds = rand_buf(&r, (size_t)D, 0.5f, 1.5f);
    float *h0 = rand_buf(&r, nh, -1, 1), *y = rand_buf(&r, nx, 0, 0), *hT = rand_buf(&r, nh, 0, 0);
    float *dy = rand_buf(&r, nx, -1, 1), *dx = rand_buf(&r, nx, 0, 0), *ddt = rand_buf(&r, nx, 0, 0);
    float *dA = rand_buf(&r, (size_t)D * N, 0, 0), *dB = rand_buf(&r, nb, 0, 0);
    float *dC = rand_buf(&r, nb, 0, 0), *dD = rand_buf(&r, (size_t)D, 0, 0);
    tm_status st = TM_OK;
    if (!x || !dt || !A || !Bm || !Cm || !Ds || !h0 || !y || !hT || !dy || !dx || !ddt || !dA ||
        !dB || !dC || !dD) {
        st = tm_fail(TM_ENOMEM, "bench scan: cannot allocate buffers for B %d T %d D %d", B, T, D);
        goto done;
    }
    tm_tensor tx, tdt, tA, tB, tC, tD, th0, ty, thT, tdy, tdx, tddt, tdA, tdB, tdC, tdD;
    if ((st = wrap(ctx, &tx, x, TM_F32, 3, B, T, D, 0)) || (st = wrap(ctx, &tdt, dt, TM_F32, 3, B, T, D, 0)) ||
        (st = wrap(ctx, &tA, A, TM_F32, 2, D, N, 0, 0)) || (st = wrap(ctx, &tB, Bm, TM_F32, 3, B, T, N, 0)) ||
        (st = wrap(ctx, &tC, Cm, TM_F32, 3, B, T, N, 0)) || (st = wrap(ctx, &tD, Ds, TM_F32, 1, D, 0, 0, 0)) ||
        (st = wrap(ctx, &th0, h0, TM_F32, 3, B, D, N, 0)) || (st = wrap(ctx, &ty, y, TM_F32, 3, B, T, D, 0)) ||
        (st = wrap(ctx, &thT, hT, TM_F32, 3, B, D, N, 0)) || (st = wrap(ctx, &tdy, dy, TM_F32, 3, B, T, D, 0)) ||
        (st = wrap(ctx, &tdx, dx, TM_F32, 3, B, T, D, 0)) || (st = wrap(ctx, &tddt, ddt, TM_F32, 3, B, T, D, 0)) ||
        (st = wrap(ctx, &tdA, dA, TM_F32, 2, D, N, 0, 0)) || (st = wrap(ctx, &tdB, dB, TM_F32, 3, B, T, N, 0)) ||
        (st = wrap(ctx, &tdC, dC, TM_F32, 3, B, T, N, 0)) || (st = wrap(ctx, &tdD, dD, TM_F32, 1, D, 0, 0, 0)))
        goto done;
    if (backward && (st = tm_ctx_reserve(ctx, tm_op_scan_backward_scratch(ctx, T, D, N)))) goto done;
    double best = INFINITY;
    for (int i = 0; i <= repeat; i++) {
        double t0 = now_ms();
        if (backward)
            st = tm_op_scan_backward(ctx, &tdx, &tddt, &tdA, &tdB, &tdC, &tdD, NULL, &tdy, NULL, &tx,
                                     &tdt, &tA, &tB, &tC, &tD, &th0, NULL);
        else
            st = tm_op_scan(ctx, &ty, &thT, &tx, &tdt, &tA, &tB, &tC, &tD, &th0, NULL);
        if (st) goto done;
        double el = now_ms() - t0;
        if (i > 0 && el < best) best = el;
    }
    /* Bytes touched once: forward reads x, dt, B, C, A, D, h0 and writes y, hT;
     * backward also reads dy and writes dx, ddt, dB, dC, dA, dD. */
    double bytes = 4.0 * (3.0 * nx + 2.0 * nb + 2.0 * nh + (double)D * N + D);
    if (backward) bytes += 4.0 * (3.0 * nx + 2.0 * nb + (double)D * N + D);
    /* Baseline: the triad y = x + s*dt on the same threads (3 streams of
     * [B,T,D] floats), the memory speed a one-pass op could reach. */
    tm_ctx_cpu_enter(ctx);
    double base = INFINITY;
    for (int i = 0; i <= repeat; i++) {
        double t0 = now_ms();
#pragma omp parallel for schedule(static)
        for (long j = 0; j < (long)nx; j++) y[j] = x[j] + 0.5f * dt[j];
        double el = now_ms() - t0;
        if (i > 0 && el < base) base = el;
    }
    memset(res, 0, sizeof *res);
    snprintf(res->op, sizeof res->op, "%s", backward ? "scan_backward" : "scan");
    snprintf(res->shape, sizeof res->shape, "B=%d T=%d D=%d N=%d", B, T, D, N);
    res->ms = best;
    res->achieved = bytes / (best * 1e6);
    res->unit = "GB/s";
    res->baseline = "triad";
    res->baseline_ms = base;
    res->baseline_achieved = 12.0 * nx / (base * 1e6);
    res->ratio = res->achieved / res->baseline_achieved;
done:
    free(x), free(dt), free(A), free(Bm), free(Cm), free(Ds), free(h0), free(y), free(hT);
    free(dy), free(dx), free(ddt), free(dA), free(dB), free(dC), free(dD);
    return st;
}

/* ---- scan: the AVX2 path against the baseline x86-64 path ---------------------------- */

/* One timed call of the CPU scan on a path. */
static void scan_call(tm_cpu_path path, int backward, float *const *v, float *scratch, int B,
                      int T, int D, int N, int threads) {
    /* v: x dt A Bm Cm Ds h0 y hT dy dx ddt dA dB dC dD */
    if (backward)
        tm_cpu_scan_backward_on(path, v[10], v[11], v[12], v[13], v[14], v[15], NULL, scratch,
                                v[9], NULL, v[0], v[1], v[2], v[3], v[4], v[5], v[6], NULL, B, T,
                                D, N, threads);
    else
        tm_cpu_scan_forward_on(path, v[7], v[8], v[0], v[1], v[2], v[3], v[4], v[5], v[6], NULL,
                               B, T, D, N);
}

tm_status tm_bench_scan_paths(tm_ctx *ctx, int B, int T, int D, int N, int backward, int repeat,
                              tm_bench_seq_result *res) {
    if (B < 1 || T < 1 || D < 1 || N < 1 || repeat < 1)
        return tm_fail(TM_EINVAL, "bench scan paths: sizes and repeat must be >= 1");
    if (N > TM_CPU_SCAN_MAX_N)
        return tm_fail(TM_EINVAL, "bench scan paths: N must be <= %d (got %d)", TM_CPU_SCAN_MAX_N, N);
    tm_rng r;
    tm_rng_seed(&r, 2, 0);
    size_t nx = (size_t)B * T * D, nb = (size_t)B * T * N, nh = (size_t)B * D * N, na = (size_t)D * N;
    /* The inputs and ranges of tm_bench_scan, in scan_call's order. */
    const struct {
        size_t n;
        float lo, hi;
    } spec[16] = {{nx, -1, 1}, {nx, 0.001f, 0.1f}, {na, -8, -1}, {nb, -1, 1}, {nb, -1, 1},
                  {(size_t)D, 0.5f, 1.5f}, {nh, -1, 1}, {nx, 0, 0}, {nh, 0, 0}, {nx, -1, 1},
                  {nx, 0, 0}, {nx, 0, 0}, {na, 0, 0}, {nb, 0, 0}, {nb, 0, 0}, {(size_t)D, 0, 0}};
    float *v[16] = {0}, *scratch = NULL;
    tm_status st = TM_OK;
    int ok = 1;
    for (int i = 0; i < 16; i++) ok &= (v[i] = rand_buf(&r, spec[i].n, spec[i].lo, spec[i].hi)) != NULL;
    scratch = malloc(sizeof(float) * (size_t)tm_cpu_scan_backward_scratch(T, D, N, ctx->n_threads));
    if (!ok || !scratch) {
        st = tm_fail(TM_ENOMEM, "bench scan paths: cannot allocate buffers for B %d T %d D %d", B, T, D);
        goto done;
    }
    tm_ctx_cpu_enter(ctx);
    /* The two paths alternate call by call, so both see the same machine
     * load; call 0 of each is the warm-up. */
    double best = INFINITY, base = INFINITY;
    for (int i = 0; i <= repeat; i++)
        for (int p = 0; p < 2; p++) {
            double t0 = now_ms();
            scan_call(p ? TM_CPU_PATH_BASELINE : TM_CPU_PATH_AUTO, backward, v, scratch, B, T, D,
                      N, ctx->n_threads);
            double el = now_ms() - t0;
            double *keep = p ? &base : &best;
            if (i > 0 && el < *keep) *keep = el;
        }
    double bytes = 4.0 * (3.0 * nx + 2.0 * nb + 2.0 * nh + (double)na + D);
    if (backward) bytes += 4.0 * (3.0 * nx + 2.0 * nb + (double)na + D);
    int avx2 = tm_cpu_path_available(TM_CPU_PATH_AVX2);
    memset(res, 0, sizeof *res);
    snprintf(res->op, sizeof res->op, "%s%s", backward ? "scan_bwd_" : "scan_",
             avx2 ? "avx2" : "auto");
    snprintf(res->shape, sizeof res->shape, "B=%d T=%d D=%d N=%d", B, T, D, N);
    res->ms = best;
    res->achieved = bytes / (best * 1e6);
    res->unit = "GB/s";
    res->baseline = "x86-64 path";
    res->baseline_ms = base;
    res->baseline_achieved = bytes / (base * 1e6);
    res->ratio = res->achieved / res->baseline_achieved;
done:
    for (int i = 0; i < 16; i++) free(v[i]);
    free(scratch);
    return st;
}

tm_status tm_bench_seq_all(tm_ctx *ctx, int quick, tm_bench_seq_result *out, int cap, int *n) {
    *n = 0;
    /* A small controller's shapes: d = 256 (8 heads of 32, 2 kv heads, window
     * 256; Mamba d_inner 512, N 16) over B = 8 streams of T = 256. */
    int B = quick ? 2 : 8, T = quick ? 64 : 256, repeat = quick ? 2 : 5;
    for (int bw = 0; bw < 2; bw++) {
        if (*n >= cap) return TM_OK;
        TM_TRY(tm_bench_attention(ctx, B, T, 8, 2, 32, 256, bw, repeat, &out[(*n)++]));
    }
    for (int bw = 0; bw < 2; bw++) {
        if (*n >= cap) return TM_OK;
        TM_TRY(tm_bench_scan(ctx, B, T, quick ? 128 : 512, 16, bw, repeat, &out[(*n)++]));
    }
    for (int bw = 0; bw < 2 && ctx->device == TM_CPU; bw++) {
        if (*n >= cap) return TM_OK;
        TM_TRY(tm_bench_attention_paths(ctx, B, T, 8, 2, 32, 256, bw, repeat, &out[(*n)++]));
    }
    for (int bw = 0; bw < 2 && ctx->device == TM_CPU; bw++) {
        if (*n >= cap) return TM_OK;
        TM_TRY(tm_bench_scan_paths(ctx, B, T, quick ? 128 : 512, 16, bw, repeat, &out[(*n)++]));
    }
    return TM_OK;
}
