/* Causal attention with window, cached prefix and episode starts (CPU).
 * Definition: attention.h.
 *
 * Forward: parallel over (b, query head); each row walks its keys in blocks
 * of KEY_BLOCK, keeps a running max and rescales its output accumulator once
 * per block that raises it (the online softmax of FlashAttention), so it
 * needs only a block of scores on the stack and is stable for any score
 * range. Backward: parallel
 * over (b, key/value head) so that all query heads sharing a kv head (GQA)
 * run on one thread and dk, dv need no atomics; the probabilities are
 * recomputed from the saved log-sum-exp. */
#include "kernels/cpu/attention.h"

#include <math.h>
#include <string.h>

/* The short inner loops (over the dh head dims, and the exp inside them)
 * vectorize only under GCC's dynamic cost model, which -O2 (RelWithDebInfo)
 * leaves off, and without trapping math (the clamp in tm_exp_approx is a
 * comparison; nothing here reads the FP exception flags). Set before the
 * include so that tm_exp_approx gets the same options and inlines. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic", "no-trapping-math")
#endif
#include "kernels/cpu/exp_approx.h"

enum { KEY_BLOCK = 64 };

static inline float dot(const float *a, const float *b, int n) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

static inline void axpy(float *y, float a, const float *x, int n) {
#pragma omp simd
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* The first key index (on the joint [cache; sequence] axis) that query t of
 * stream b may see; seg is the latest episode start <= t (or -1). */
static inline int first_key(const int32_t *prefix_len, int b, int t, int seg, int P, int window) {
    int lo = prefix_len ? P - prefix_len[b] : 0;
    if (window > 0 && P + t - window + 1 > lo) lo = P + t - window + 1;
    if (seg >= 0 && P + seg > lo) lo = P + seg;
    return lo;
}

/* Key j's rows of k and v for stream b, kv head hk: the cache for j < P. */
static inline const float *key_row(const float *k, const float *kc, int b, int j, int T, int P,
                                   int Hkv, int hk, int dh) {
    return j < P ? kc + (((long)b * P + j) * Hkv + hk) * dh
                 : k + (((long)b * T + (j - P)) * Hkv + hk) * dh;
}

void tm_cpu_attention_forward(float *out, float *lse, const float *q, const float *k,
                              const float *v, const float *kc, const float *vc,
                              const int32_t *prefix_len, const int32_t *start, float scale, int B,
                              int T, int P, int Hq, int Hkv, int dh, int window) {
    int group = Hq / Hkv;
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++) {
            int hk = h / group, seg = -1;
            float s[KEY_BLOCK];
            for (int t = 0; t < T; t++) {
                if (start && start[(long)b * T + t]) seg = t;
                const float *qr = q + (((long)b * T + t) * Hq + h) * dh;
                float *o = out + (((long)b * T + t) * Hq + h) * dh;
                memset(o, 0, sizeof(float) * (size_t)dh);
                float m = -INFINITY, l = 0.0f;
                int hi = P + t;
                /* Keys in blocks: the scores of a block first, then one
                 * rescale of the running sum if the block raised the max. */
                for (int j0 = first_key(prefix_len, b, t, seg, P, window); j0 <= hi; j0 += KEY_BLOCK) {
                    int nb = hi - j0 + 1 < KEY_BLOCK ? hi - j0 + 1 : KEY_BLOCK;
                    float bm = m;
                    for (int jj = 0; jj < nb; jj++) {
                        s[jj] = dot(qr, key_row(k, kc, b, j0 + jj, T, P, Hkv, hk, dh), dh) * scale;
                        bm = s[jj] > bm ? s[jj] : bm;
                    }
                    if (bm > m) {
                        float r = tm_exp_approx(m - bm); /* 0 on the first block */
                        l *= r;
                        for (int i = 0; i < dh; i++) o[i] *= r;
                        m = bm;
                    }
#pragma omp simd
                    for (int jj = 0; jj < nb; jj++) s[jj] = tm_exp_approx(s[jj] - m);
                    for (int jj = 0; jj < nb; jj++) {
                        l += s[jj];
                        axpy(o, s[jj], key_row(v, vc, b, j0 + jj, T, P, Hkv, hk, dh), dh);
                    }
                }
                float inv = 1.0f / l;
                for (int i = 0; i < dh; i++) o[i] *= inv;
                lse[((long)b * Hq + h) * T + t] = m + logf(l);
            }
        }
}

void tm_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                               const float *out, const float *lse, const float *q, const float *k,
                               const float *v, const float *kc, const float *vc,
                               const int32_t *prefix_len, const int32_t *start, float scale,
                               int B, int T, int P, int Hq, int Hkv, int dh, int window) {
    int group = Hq / Hkv;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int hk = 0; hk < Hkv; hk++) {
            for (int h = hk * group; h < (hk + 1) * group; h++) {
                int seg = -1;
                for (int t = 0; t < T; t++) {
                    if (start && start[(long)b * T + t]) seg = t;
                    long row = ((long)b * T + t) * Hq + h;
                    const float *qr = q + row * dh, *go = dout + row * dh;
                    float *gq = dq + row * dh;
                    /* d(softmax): ds_j = p_j (dp_j - sum_i p_i dp_i), and
                     * sum_i p_i dp_i = dout . out. */
                    float delta = dot(go, out + row * dh, dh);
                    float row_lse = lse[((long)b * Hq + h) * T + t];
                    for (int j = first_key(prefix_len, b, t, seg, P, window); j <= P + t; j++) {
                        const float *kr, *vr;
                        float *gk = NULL, *gv = NULL;
                        if (j < P) {
                            kr = kc + (((long)b * P + j) * Hkv + hk) * dh;
                            vr = vc + (((long)b * P + j) * Hkv + hk) * dh;
                        } else {
                            long kv = (((long)b * T + (j - P)) * Hkv + hk) * dh;
                            kr = k + kv;
                            vr = v + kv;
                            gk = dk + kv;
                            gv = dv + kv;
                        }
                        float p = tm_exp_approx(dot(qr, kr, dh) * scale - row_lse);
                        float ds = p * (dot(go, vr, dh) - delta) * scale;
                        axpy(gq, ds, kr, dh);
                        if (gk) {
                            axpy(gk, ds, qr, dh);
                            axpy(gv, p, go, dh);
                        }
                    }
                }
            }
        }
}
