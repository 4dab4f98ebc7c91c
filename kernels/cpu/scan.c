/* The Mamba-1 selective scan (CPU). Definition: scan.h.
 *
 * Forward: every (b,d) channel is an independent recurrence over t, so the
 * loop is parallel over (b,d) with the N-float state in registers/stack.
 * Backward: the reverse recurrence g_{t-1} = exp(dt_t A) * g_t (+ the C_t dy
 * term) needs h_{t-1}, which is recomputed per channel (see scan.h for the
 * memory trade-off). dB and dC sum over d, so the backward is parallel over b
 * (each thread owns its streams' rows of dB, dC); dA and dD sum over b and are
 * kept per thread, then reduced. The decays exp(dt A) use a vectorizable
 * exp (kernels/cpu/exp_approx.h), the one cost that scales with B*T*D*N. */
#include "kernels/cpu/scan.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

/* The short inner loops (over the N state dims, and the exp inside them)
 * vectorize only under GCC's dynamic cost model, which -O2 (RelWithDebInfo)
 * leaves off, and without trapping math (the clamp in tm_exp_approx is a
 * comparison; nothing here reads the FP exception flags). Set before the
 * include so that tm_exp_approx gets the same options and inlines. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic", "no-trapping-math")
#endif
#include "kernels/cpu/exp_approx.h"

static const float zero_state[TM_CPU_SCAN_MAX_N];

/* One step of one channel: h <- exp(dt A) h + dt B x, returns C . h. Shared
 * by the forward and the step, so T steps equal one sequence call bit for
 * bit. */
static inline float scan_update(float *restrict h, const float *restrict Ad,
                                const float *restrict Bt, const float *restrict Ct, float dtv,
                                float xv, int N) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int n = 0; n < N; n++) {
        h[n] = tm_exp_approx(dtv * Ad[n]) * h[n] + dtv * Bt[n] * xv;
        acc += Ct[n] * h[n];
    }
    return acc;
}

void tm_cpu_scan_forward(float *y, float *hT, const float *x, const float *dt, const float *A,
                         const float *Bm, const float *Cm, const float *Dskip, const float *h0,
                         const int32_t *start, int B, int T, int D, int N) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
            float h[TM_CPU_SCAN_MAX_N];
            const float *Ad = A + (long)d * N;
            for (int n = 0; n < N; n++) h[n] = h0 ? h0[((long)b * D + d) * N + n] : 0.0f;
            for (int t = 0; t < T; t++) {
                long bt = (long)b * T + t;
                if (start && start[bt])
                    for (int n = 0; n < N; n++) h[n] = 0.0f;
                float xv = x[bt * D + d], dtv = dt[bt * D + d];
                const float *Bt = Bm + bt * N, *Ct = Cm + bt * N;
                float acc = scan_update(h, Ad, Bt, Ct, dtv, xv, N);
                y[bt * D + d] = acc + (Dskip ? Dskip[d] * xv : 0.0f);
            }
            if (hT)
                for (int n = 0; n < N; n++) hT[((long)b * D + d) * N + n] = h[n];
        }
}

long tm_cpu_scan_backward_scratch(int T, int D, int N, int n_threads) {
    return (long)n_threads * (2L * T * N + (long)D * N + D);
}

void tm_cpu_scan_backward(float *dx, float *ddt, float *dA, float *dB, float *dC, float *dD,
                          float *dh0, float *scratch, const float *dy, const float *dhT,
                          const float *x, const float *dt, const float *A, const float *Bm,
                          const float *Cm, const float *Dskip, const float *h0,
                          const int32_t *start, int B, int T, int D, int N, int n_threads) {
    long per_thread = 2L * T * N + (long)D * N + D;
    for (int i = 0; i < n_threads; i++) {
        float *part = scratch + i * per_thread + 2L * T * N;
        memset(part, 0, sizeof(float) * (size_t)((long)D * N + D));
    }
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int b = 0; b < B; b++) {
        float *mine = scratch + omp_get_thread_num() * per_thread;
        float *hs = mine, *as = mine + (long)T * N;
        float *dA_part = mine + 2L * T * N, *dD_part = dA_part + (long)D * N;
        for (int d = 0; d < D; d++) {
            const float *Ad = A + (long)d * N;
            const float *hinit = h0 ? h0 + ((long)b * D + d) * N : zero_state;
            /* Recompute the states h_0..h_{T-1} of this channel and the decays
             * a_t = exp(dt_t A) (same arithmetic as the forward, so the states
             * match it bit for bit). */
            for (int t = 0; t < T; t++) {
                long bt = (long)b * T + t;
                const float *prev = (start && start[bt]) ? zero_state
                                    : t > 0              ? hs + (long)(t - 1) * N
                                                         : hinit;
                float xv = x[bt * D + d], dtv = dt[bt * D + d];
                const float *Bt = Bm + bt * N;
                float *h = hs + (long)t * N, *a = as + (long)t * N;
#pragma omp simd
                for (int n = 0; n < N; n++) {
                    a[n] = tm_exp_approx(dtv * Ad[n]);
                    h[n] = a[n] * prev[n] + dtv * Bt[n] * xv;
                }
            }
            float g[TM_CPU_SCAN_MAX_N]; /* dL/dh_t, carried backwards */
            for (int n = 0; n < N; n++) g[n] = dhT ? dhT[((long)b * D + d) * N + n] : 0.0f;
            for (int t = T - 1; t >= 0; t--) {
                long bt = (long)b * T + t;
                int reset = start && start[bt];
                const float *prev = reset ? zero_state : t > 0 ? hs + (long)(t - 1) * N : hinit;
                float keep = reset ? 0.0f : 1.0f; /* a reset cuts the gradient to h_{t-1} */
                float xv = x[bt * D + d], dtv = dt[bt * D + d], gy = dy[bt * D + d];
                const float *Bt = Bm + bt * N, *Ct = Cm + bt * N;
                const float *h = hs + (long)t * N, *a = as + (long)t * N;
                float *dBt = dB + bt * N, *dCt = dC + bt * N, *dAd = dA_part + (long)d * N;
                float gx = Dskip ? Dskip[d] * gy : 0.0f, gdt = 0.0f;
#pragma omp simd reduction(+ : gx, gdt)
                for (int n = 0; n < N; n++) {
                    float gh = g[n] + gy * Ct[n];
                    dCt[n] += gy * h[n];
                    dBt[n] += gh * dtv * xv;
                    dAd[n] += gh * prev[n] * a[n] * dtv;
                    gdt += gh * (prev[n] * a[n] * Ad[n] + Bt[n] * xv);
                    gx += gh * dtv * Bt[n];
                    g[n] = keep * gh * a[n];
                }
                dx[bt * D + d] += gx;
                ddt[bt * D + d] += gdt;
                dD_part[d] += gy * xv;
            }
            if (dh0)
                for (int n = 0; n < N; n++) dh0[((long)b * D + d) * N + n] += g[n];
        }
    }
    /* Thread-order reduction of the dA, dD partials (deterministic). */
    for (int i = 0; i < n_threads; i++) {
        const float *dA_part = scratch + i * per_thread + 2L * T * N;
        const float *dD_part = dA_part + (long)D * N;
        for (long j = 0; j < (long)D * N; j++) dA[j] += dA_part[j];
        if (dD)
            for (int d = 0; d < D; d++) dD[d] += dD_part[d];
    }
}

void tm_cpu_scan_step(float *y, float *h, const float *x, const float *dt, const float *A,
                      const float *Bm, const float *Cm, const float *Dskip, int B, int D, int N) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
            float *hd = h + ((long)b * D + d) * N;
            const float *Ad = A + (long)d * N, *Bt = Bm + (long)b * N, *Ct = Cm + (long)b * N;
            float xv = x[(long)b * D + d], dtv = dt[(long)b * D + d];
            float acc = scan_update(hd, Ad, Bt, Ct, dtv, xv, N);
            y[(long)b * D + d] = acc + (Dskip ? Dskip[d] * xv : 0.0f);
        }
}
