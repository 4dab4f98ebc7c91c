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
 * recomputed from the saved log-sum-exp.
 * Speed: both walk keys KEYS (4) at a time, so four dot products run side by
 * side (one alone waits on its add chain) and the row accumulated over keys
 * (out, dq) is loaded and stored once per four keys (1.2x forward, 1.3x
 * backward on one thread at B 8, T 256, 8 heads of 32).
 * Code paths (kernels/cpu/cpu_path.h): the per-head kernels are compiled for
 * AVX2 and the baseline x86-64 and picked per call; the dot products sum in
 * a fixed order (8 lanes, then one tree), so the paths agree bit for bit. */
#include "kernels/cpu/attention.h"

#include "kernels/cpu/cpu_path.h"

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

enum { KEY_BLOCK = 64, KEYS = 4 /* keys per dot_keys / axpy_keys */ };

/* a . b in 8 lanes (lane j sums i = j mod 8 in order), then a fixed tree:
 * one AVX2 or two SSE vectors, the same sum on both (an omp simd reduction's
 * order follows the vector width). */
static inline float lane_tree(const float *acc) {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

TM_CPU_PATH_BODY float dot(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
#pragma omp simd
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i + j < n; j++) acc[j] += a[i + j] * b[i + j];
    return lane_tree(acc);
}

/* out[r] = dot(a, rows[r], n) for KEYS rows, bit for bit, side by side: the
 * rows share a's loads and their sums hide each other's add latency. */
TM_CPU_PATH_BODY void dot_keys(float *out, const float *a, const float *const *rows, int n) {
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
    float c0[8] = {0}, c1[8] = {0}, c2[8] = {0}, c3[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
#pragma omp simd
        for (int j = 0; j < 8; j++) {
            float x = a[i + j];
            c0[j] += x * r0[i + j];
            c1[j] += x * r1[i + j];
            c2[j] += x * r2[i + j];
            c3[j] += x * r3[i + j];
        }
    for (int j = 0; i + j < n; j++) {
        float x = a[i + j];
        c0[j] += x * r0[i + j];
        c1[j] += x * r1[i + j];
        c2[j] += x * r2[i + j];
        c3[j] += x * r3[i + j];
    }
    out[0] = lane_tree(c0), out[1] = lane_tree(c1), out[2] = lane_tree(c2), out[3] = lane_tree(c3);
}

/* KEYS axpys y += c[r] rows[r] in order r = 0, 1, ..: the same sums as
 * KEYS calls of axpy, with y loaded and stored once. */
TM_CPU_PATH_BODY void axpy_keys(float *y, const float *c, const float *const *rows, int n) {
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
    float a0 = c[0], a1 = c[1], a2 = c[2], a3 = c[3];
#pragma omp simd
    for (int i = 0; i < n; i++)
        y[i] = (((y[i] + a0 * r0[i]) + a1 * r1[i]) + a2 * r2[i]) + a3 * r3[i];
}

TM_CPU_PATH_BODY void axpy(float *y, float a, const float *x, int n) {
#pragma omp simd
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* The first key index (on the joint [cache; sequence] axis) that query t of
 * stream b may see; seg is the latest episode start <= t (or -1). */
TM_CPU_PATH_BODY int first_key(const int32_t *prefix_len, int b, int t, int seg, int P,
                               int window) {
    int lo = prefix_len ? P - prefix_len[b] : 0;
    if (window > 0 && P + t - window + 1 > lo) lo = P + t - window + 1;
    if (seg >= 0 && P + seg > lo) lo = P + seg;
    return lo;
}

/* Key j's rows of k and v for stream b, kv head hk: the cache for j < P. */
TM_CPU_PATH_BODY const float *key_row(const float *k, const float *kc, int b, int j, int T, int P,
                                      int Hkv, int hk, int dh) {
    return j < P ? kc + (((long)b * P + j) * Hkv + hk) * dh
                 : k + (((long)b * T + (j - P)) * Hkv + hk) * dh;
}

/* Query head h of stream b, every t. */
TM_CPU_PATH_BODY void forward_head(float *out, float *lse, const float *q, const float *k,
                                   const float *v, const float *kc, const float *vc,
                                   const int32_t *prefix_len, const int32_t *start, float scale,
                                   int b, int h, int T, int P, int Hq, int Hkv, int dh,
                                   int window) {
    int hk = h / (Hq / Hkv), seg = -1;
    float s[KEY_BLOCK];
    const float *rows[KEY_BLOCK];
    for (int t = 0; t < T; t++) {
        if (start && start[(long)b * T + t]) seg = t;
        const float *qr = q + (((long)b * T + t) * Hq + h) * dh;
        float *o = out + (((long)b * T + t) * Hq + h) * dh;
        memset(o, 0, sizeof(float) * (size_t)dh);
        float m = -INFINITY, l = 0.0f;
        int hi = P + t;
        /* Keys in blocks: the scores of a block first, then one rescale of
         * the running sum if the block raised the max. */
        for (int j0 = first_key(prefix_len, b, t, seg, P, window); j0 <= hi; j0 += KEY_BLOCK) {
            int nb = hi - j0 + 1 < KEY_BLOCK ? hi - j0 + 1 : KEY_BLOCK;
            float bm = m;
            for (int jj = 0; jj < nb; jj++)
                rows[jj] = key_row(k, kc, b, j0 + jj, T, P, Hkv, hk, dh);
            int jj = 0;
            for (; jj + KEYS <= nb; jj += KEYS) dot_keys(s + jj, qr, rows + jj, dh);
            for (; jj < nb; jj++) s[jj] = dot(qr, rows[jj], dh);
            for (jj = 0; jj < nb; jj++) {
                s[jj] *= scale;
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
            for (jj = 0; jj < nb; jj++) {
                l += s[jj];
                rows[jj] = key_row(v, vc, b, j0 + jj, T, P, Hkv, hk, dh);
            }
            for (jj = 0; jj + KEYS <= nb; jj += KEYS) axpy_keys(o, s + jj, rows + jj, dh);
            for (; jj < nb; jj++) axpy(o, s[jj], rows[jj], dh);
        }
        float inv = 1.0f / l;
        for (int i = 0; i < dh; i++) o[i] *= inv;
        lse[((long)b * Hq + h) * T + t] = m + logf(l);
    }
}

/* Key/value head hk of stream b: every query head of its group, every t. */
TM_CPU_PATH_BODY void backward_kv_head(float *dq, float *dk, float *dv, const float *dout,
                                       const float *out, const float *lse, const float *q,
                                       const float *k, const float *v, const float *kc,
                                       const float *vc, const int32_t *prefix_len,
                                       const int32_t *start, float scale, int b, int hk, int T,
                                       int P, int Hq, int Hkv, int dh, int window) {
    int group = Hq / Hkv;
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
            /* Keys KEYS at a time (the last group may be shorter). */
            for (int j0 = first_key(prefix_len, b, t, seg, P, window); j0 <= P + t; j0 += KEYS) {
                int nk = P + t - j0 + 1 < KEYS ? P + t - j0 + 1 : KEYS;
                const float *kr[KEYS], *vr[KEYS];
                float *gk[KEYS], *gv[KEYS], qk[KEYS], dp[KEYS], p[KEYS], ds[KEYS];
                for (int r = 0; r < nk; r++) {
                    int j = j0 + r;
                    kr[r] = key_row(k, kc, b, j, T, P, Hkv, hk, dh);
                    vr[r] = key_row(v, vc, b, j, T, P, Hkv, hk, dh);
                    gk[r] = gv[r] = NULL; /* the cache gets no gradient */
                    if (j >= P) {
                        long kv = (((long)b * T + (j - P)) * Hkv + hk) * dh;
                        gk[r] = dk + kv, gv[r] = dv + kv;
                    }
                }
                if (nk == KEYS) {
                    dot_keys(qk, qr, kr, dh);
                    dot_keys(dp, go, vr, dh);
                } else
                    for (int r = 0; r < nk; r++) {
                        qk[r] = dot(qr, kr[r], dh);
                        dp[r] = dot(go, vr[r], dh);
                    }
                for (int r = 0; r < nk; r++) {
                    p[r] = tm_exp_approx(qk[r] * scale - row_lse);
                    ds[r] = p[r] * (dp[r] - delta) * scale;
                }
                if (nk == KEYS)
                    axpy_keys(gq, ds, kr, dh);
                else
                    for (int r = 0; r < nk; r++) axpy(gq, ds[r], kr[r], dh);
                for (int r = 0; r < nk; r++)
                    if (gk[r]) {
                        axpy(gk[r], ds[r], qr, dh);
                        axpy(gv[r], p[r], go, dh);
                    }
            }
        }
    }
}

/* ---- the two compiled paths ---------------------------------------------------------- */

#define FORWARD_ARGS                                                                       \
    float *out, float *lse, const float *q, const float *k, const float *v, const float *kc, \
        const float *vc, const int32_t *prefix_len, const int32_t *start, float scale, int b, \
        int h, int T, int P, int Hq, int Hkv, int dh, int window
#define BACKWARD_ARGS                                                                         \
    float *dq, float *dk, float *dv, const float *dout, const float *out, const float *lse,   \
        const float *q, const float *k, const float *v, const float *kc, const float *vc,     \
        const int32_t *prefix_len, const int32_t *start, float scale, int b, int hk, int T,   \
        int P, int Hq, int Hkv, int dh, int window
#define PATH(suffix, attr)                                                                    \
    static attr void forward_head_##suffix(FORWARD_ARGS) {                                    \
        forward_head(out, lse, q, k, v, kc, vc, prefix_len, start, scale, b, h, T, P, Hq, Hkv, \
                     dh, window);                                                             \
    }                                                                                         \
    static attr void backward_kv_head_##suffix(BACKWARD_ARGS) {                               \
        backward_kv_head(dq, dk, dv, dout, out, lse, q, k, v, kc, vc, prefix_len, start, scale, \
                         b, hk, T, P, Hq, Hkv, dh, window);                                   \
    }
PATH(baseline, )
#if TM_CPU_HAVE_AVX2_PATH
PATH(avx2, TM_CPU_AVX2_TARGET)
#endif

typedef void (*forward_fn)(FORWARD_ARGS);
typedef void (*backward_fn)(BACKWARD_ARGS);

/* ---- entry points -------------------------------------------------------------------- */

void tm_cpu_attention_forward_on(tm_cpu_path path, float *out, float *lse, const float *q,
                                 const float *k, const float *v, const float *kc,
                                 const float *vc, const int32_t *prefix_len,
                                 const int32_t *start, float scale, int B, int T, int P, int Hq,
                                 int Hkv, int dh, int window) {
    forward_fn f = forward_head_baseline;
#if TM_CPU_HAVE_AVX2_PATH
    if (tm_cpu_path_avx2(path)) f = forward_head_avx2;
#endif
    (void)path;
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++)
            f(out, lse, q, k, v, kc, vc, prefix_len, start, scale, b, h, T, P, Hq, Hkv, dh,
              window);
}

void tm_cpu_attention_forward(float *out, float *lse, const float *q, const float *k,
                              const float *v, const float *kc, const float *vc,
                              const int32_t *prefix_len, const int32_t *start, float scale, int B,
                              int T, int P, int Hq, int Hkv, int dh, int window) {
    tm_cpu_attention_forward_on(TM_CPU_PATH_AUTO, out, lse, q, k, v, kc, vc, prefix_len, start,
                                scale, B, T, P, Hq, Hkv, dh, window);
}

void tm_cpu_attention_backward_on(tm_cpu_path path, float *dq, float *dk, float *dv,
                                  const float *dout, const float *out, const float *lse,
                                  const float *q, const float *k, const float *v, const float *kc,
                                  const float *vc, const int32_t *prefix_len,
                                  const int32_t *start, float scale, int B, int T, int P, int Hq,
                                  int Hkv, int dh, int window) {
    backward_fn f = backward_kv_head_baseline;
#if TM_CPU_HAVE_AVX2_PATH
    if (tm_cpu_path_avx2(path)) f = backward_kv_head_avx2;
#endif
    (void)path;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int hk = 0; hk < Hkv; hk++)
            f(dq, dk, dv, dout, out, lse, q, k, v, kc, vc, prefix_len, start, scale, b, hk, T, P,
              Hq, Hkv, dh, window);
}

void tm_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                               const float *out, const float *lse, const float *q, const float *k,
                               const float *v, const float *kc, const float *vc,
                               const int32_t *prefix_len, const int32_t *start, float scale,
                               int B, int T, int P, int Hq, int Hkv, int dh, int window) {
    tm_cpu_attention_backward_on(TM_CPU_PATH_AUTO, dq, dk, dv, dout, out, lse, q, k, v, kc, vc,
                                 prefix_len, start, scale, B, T, P, Hq, Hkv, dh, window);
}
