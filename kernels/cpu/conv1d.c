/* Causal depthwise conv1d with carried state (CPU). Definition: conv1d.h.
 *
 * Every output row out[b,t,:] depends only on the K inputs before and at t, so
 * the forward and the input gradient run in parallel over (b,t) with the
 * channel loop innermost (contiguous). The weight gradient is a reduction over
 * (b,t); it runs in parallel over blocks of channels, so each thread owns its
 * slice of dw and the result does not depend on the thread count. */
#include "kernels/cpu/conv1d.h"

#include <string.h>

enum { CHANNEL_BLOCK = 16, TAP_BLOCK = 8 };

/* First input index that out[b,t] may see: the latest episode start within
 * its window, else the oldest carried input -(K-1). */
static inline int window_lo(const int32_t *start, int b, int t, int T, int K) {
    if (start) {
        int first = t - (K - 2);
        if (first < 0) first = 0;
        for (int s = t; s >= first; s--)
            if (start[(long)b * T + s]) return s;
    }
    return -(K - 1);
}

/* Input s of stream b, channel c, with s in [-(K-1), T). */
static inline float input_at(const float *x, const float *state, int b, int s, int c, int T,
                             int C, int K) {
    if (s >= 0) return x[((long)b * T + s) * C + c];
    return state ? state[((long)b * C + c) * (K - 1) + s + (K - 1)] : 0.0f;
}

void tm_cpu_conv1d_forward(float *out, float *state_out, const float *x, const float *state_in,
                           const int32_t *start, const float *w, const float *bias, int B, int T,
                           int C, int K) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int lo = window_lo(start, b, t, T, K);
            float *o = out + ((long)b * T + t) * C;
            for (int c = 0; c < C; c++) o[c] = bias ? bias[c] : 0.0f;
            for (int k = 0; k < K; k++) {
                int s = t - (K - 1) + k;
                if (s < lo) continue;
                if (s >= 0) {
                    const float *xs = x + ((long)b * T + s) * C;
                    for (int c = 0; c < C; c++) o[c] += w[(long)c * K + k] * xs[c];
                } else {
                    for (int c = 0; c < C; c++)
                        o[c] += w[(long)c * K + k] * input_at(x, state_in, b, s, c, T, C, K);
                }
            }
        }
    if (!state_out || K == 1) return;
    /* The window after the last input: what a step call at time T would see
     * before its own input, i.e. inputs T-(K-1) .. T-1 that follow the last
     * episode start. */
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            int lo = T > 0 ? window_lo(start, b, T - 1, T, K) : -(K - 1);
            float *so = state_out + ((long)b * C + c) * (K - 1);
            for (int j = 0; j < K - 1; j++) {
                int s = T - (K - 1) + j;
                so[j] = s >= lo ? input_at(x, state_in, b, s, c, T, C, K) : 0.0f;
            }
        }
}

void tm_cpu_conv1d_backward(float *dx, float *dstate_in, float *dw, float *dbias,
                            const float *dout, const float *dstate_out, const float *x,
                            const float *state_in, const int32_t *start, const float *w, int B,
                            int T, int C, int K) {
    /* Input gradient: input s feeds out[t] for t = s .. s+K-1 (tap
     * k = s - t + K-1) when s is inside t's window, and the final state when
     * s >= T-(K-1). Parallel over (b, s); each s is written by one thread. */
    int S = T + K - 1; /* inputs -(K-1) .. T-1 */
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int si = 0; si < S; si++) {
            int s = si - (K - 1);
            float *g;
            if (s >= 0) g = dx + ((long)b * T + s) * C;
            else if (dstate_in) g = NULL;
            else continue;
            float acc_state[CHANNEL_BLOCK];
            for (int c0 = 0; c0 < C; c0 += CHANNEL_BLOCK) {
                int nc = C - c0 < CHANNEL_BLOCK ? C - c0 : CHANNEL_BLOCK;
                for (int i = 0; i < nc; i++) acc_state[i] = 0.0f;
                for (int k = 0; k < K; k++) {
                    int t = s + (K - 1) - k;
                    if (t < 0 || t >= T) continue;
                    if (s < window_lo(start, b, t, T, K)) continue;
                    const float *go = dout + ((long)b * T + t) * C + c0;
                    for (int i = 0; i < nc; i++) acc_state[i] += w[(long)(c0 + i) * K + k] * go[i];
                }
                if (dstate_out && K > 1 && s >= T - (K - 1) &&
                    (T == 0 || s >= window_lo(start, b, T - 1, T, K))) {
                    int j = s - T + (K - 1);
                    for (int i = 0; i < nc; i++)
                        acc_state[i] += dstate_out[((long)b * C + c0 + i) * (K - 1) + j];
                }
                if (g) {
                    for (int i = 0; i < nc; i++) g[c0 + i] += acc_state[i];
                } else {
                    for (int i = 0; i < nc; i++)
                        dstate_in[((long)b * C + c0 + i) * (K - 1) + s + (K - 1)] += acc_state[i];
                }
            }
        }
    if (!dw && !dbias) return;
    /* Parameter gradients: reductions over (b,t), owned per channel block.
     * Each block sums into local accumulators (taps in groups of TAP_BLOCK)
     * and adds them to dw, dbias once: the (b,t) loop then reads contiguous
     * rows of x and dout and keeps its sums in registers (dw is [C,K], so
     * adding into it directly is a stride-K scatter per term). */
    int n_blocks = (C + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < n_blocks; blk++) {
        int c0 = blk * CHANNEL_BLOCK;
        int nc = C - c0 < CHANNEL_BLOCK ? C - c0 : CHANNEL_BLOCK;
        if (dbias) {
            float acc[CHANNEL_BLOCK] = {0};
            for (long bt = 0; bt < (long)B * T; bt++) {
                const float *go = dout + bt * C + c0;
                for (int i = 0; i < nc; i++) acc[i] += go[i];
            }
            for (int i = 0; i < nc; i++) dbias[c0 + i] += acc[i];
        }
        if (!dw) continue;
        for (int k0 = 0; k0 < K; k0 += TAP_BLOCK) {
            int nk = K - k0 < TAP_BLOCK ? K - k0 : TAP_BLOCK;
            float acc[TAP_BLOCK][CHANNEL_BLOCK] = {{0}};
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                    const float *go = dout + ((long)b * T + t) * C + c0;
                    int lo = window_lo(start, b, t, T, K);
                    for (int kk = 0; kk < nk; kk++) {
                        int s = t - (K - 1) + k0 + kk;
                        if (s < lo) continue;
                        if (s >= 0) {
                            const float *xs = x + ((long)b * T + s) * C + c0;
                            for (int i = 0; i < nc; i++) acc[kk][i] += go[i] * xs[i];
                        } else {
                            for (int i = 0; i < nc; i++)
                                acc[kk][i] += go[i] * input_at(x, state_in, b, s, c0 + i, T, C, K);
                        }
                    }
                }
            for (int kk = 0; kk < nk; kk++)
                for (int i = 0; i < nc; i++) dw[(long)(c0 + i) * K + k0 + kk] += acc[kk][i];
        }
    }
}

void tm_cpu_conv1d_step(float *out, float *state, const float *x, const float *w,
                        const float *bias, int B, int C, int K) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            float *st = state + ((long)b * C + c) * (K - 1);
            const float *wc = w + (long)c * K;
            float xv = x[(long)b * C + c];
            float acc = bias ? bias[c] : 0.0f;
            for (int k = 0; k < K - 1; k++) acc += wc[k] * st[k];
            acc += wc[K - 1] * xv;
            out[(long)b * C + c] = acc;
            /* Shift the window left by one; the newest input goes last. */
            if (K > 1) {
                memmove(st, st + 1, sizeof(float) * (size_t)(K - 2));
                st[K - 2] = xv;
            }
        }
}
