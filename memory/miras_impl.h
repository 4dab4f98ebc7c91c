/* DualTierMiras internals shared by miras.c, miras_read.c and miras_write.c:
 * sizes, the per-stream layout of the read's activation buffer and the
 * cosine helper. Not part of the public interface (see miras.h). */
#ifndef TM_MEMORY_MIRAS_IMPL_H
#define TM_MEMORY_MIRAS_IMPL_H

#include <math.h>
#include <stddef.h>

#include "memory/miras.h"

/* Norms are clamped below at this value inside every cosine (read scores,
 * OT costs): a zero vector (an all-zero key, an empty slot's zeros) then has
 * cosine 0 with everything instead of NaN, and the clamp's gradient is 0. */
#define TM_MIRAS_COS_EPS 1e-6

/* Slots with strength below this become empty when decay is on (spec). */
#define TM_MIRAS_MIN_STRENGTH 0.01f

/* Slot width s and confidence hidden width (d/4, at least 1 so d < 4 still
 * has a head) from a config alone. */
static inline int miras_slot_dim(const tm_miras_config *c) {
    if (!c->use_memory_compression) return c->d_model;
    return (int)floorf(c->compression_ratio * (float)c->d_model);
}
static inline int miras_conf_hidden(const tm_miras_config *c) {
    return c->d_model / 4 > 0 ? c->d_model / 4 : 1;
}

/* One stream's part of the read activation buffer, in floats:
 *   q [d]        projected key (the confidence head's input)
 *   qc [s]       q compressed (a copy of q when not compressed)
 *   per tier t (fast 0, deep 1):
 *     w [H*M]    attention weights (0 for empty and dropped slots)
 *     cosv [H*M] cosines of the kept slots
 *     rcat [s]   concatenated head reads
 *     ro [s]     after W_o (a copy of rcat when H == 1)
 *     rout [d]   the tier's read (decompressed); 0 for an empty tier
 *     full [1]   1 when the tier has a non-empty slot
 *   mix [1]      m as used (1 / 0 when one tier is empty)
 *   conf [1]     c
 *   h1 [hid]     ReLU(conf1 q)
 *   u [d]        the mixed read before confidence (surprise's r) */
typedef struct {
    float *q, *qc;
    float *w[2], *cosv[2], *rcat[2], *ro[2], *rout[2], *full[2];
    float *mix, *conf, *h1, *u;
} miras_act_view;

static inline size_t miras_act_stream_floats(const tm_miras_config *c) {
    size_t d = (size_t)c->d_model, s = (size_t)miras_slot_dim(c);
    size_t hm = (size_t)c->n_heads * (size_t)c->mem_slots;
    return d + s + 2 * (2 * hm + 2 * s + d + 1) + 2 + (size_t)miras_conf_hidden(c) + d;
}

static inline miras_act_view miras_act_at(const tm_miras_config *c, float *act, int b) {
    size_t d = (size_t)c->d_model, s = (size_t)miras_slot_dim(c);
    size_t hm = (size_t)c->n_heads * (size_t)c->mem_slots;
    float *p = act + (size_t)b * miras_act_stream_floats(c);
    miras_act_view v;
    v.q = p; p += d;
    v.qc = p; p += s;
    for (int t = 0; t < 2; t++) {
        v.w[t] = p; p += hm;
        v.cosv[t] = p; p += hm;
        v.rcat[t] = p; p += s;
        v.ro[t] = p; p += s;
        v.rout[t] = p; p += d;
        v.full[t] = p; p += 1;
    }
    v.mix = p; p += 1;
    v.conf = p; p += 1;
    v.h1 = p; p += (size_t)miras_conf_hidden(c);
    v.u = p;
    return v;
}

static inline double miras_norm(const float *x, int n) {
    double a = 0.0;
    for (int i = 0; i < n; i++) a += (double)x[i] * x[i];
    return sqrt(a);
}

/* cos(x, y) with both norms clamped at TM_MIRAS_COS_EPS. */
static inline double miras_cos(const float *x, const float *y, int n) {
    double dot = 0.0;
    for (int i = 0; i < n; i++) dot += (double)x[i] * y[i];
    return dot / (fmax(miras_norm(x, n), TM_MIRAS_COS_EPS) * fmax(miras_norm(y, n), TM_MIRAS_COS_EPS));
}

/* y [n_out] = W x + b (b may be NULL), W [n_out, n_in] row-major; double sums. */
static inline void miras_affine(float *y, const float *W, const float *b, const float *x, int n_out,
                                int n_in) {
    for (int o = 0; o < n_out; o++) {
        double a = b ? (double)b[o] : 0.0;
        const float *w = W + (size_t)o * n_in;
        for (int i = 0; i < n_in; i++) a += (double)w[i] * x[i];
        y[o] = (float)a;
    }
}

/* Backward of y = W x + b for one row: dW += dy x^T, db += dy, dx += W^T dy
 * (dx may be NULL). */
static inline void miras_affine_backward(float *dx, float *dW, float *db, const float *dy,
                                         const float *W, const float *x, int n_out, int n_in) {
    for (int o = 0; o < n_out; o++) {
        float g = dy[o];
        if (g == 0.0f) continue;
        float *dw = dW + (size_t)o * n_in;
        for (int i = 0; i < n_in; i++) dw[i] += g * x[i];
        if (db) db[o] += g;
        if (dx) {
            const float *w = W + (size_t)o * n_in;
            for (int i = 0; i < n_in; i++) dx[i] += g * w[i];
        }
    }
}

/* The read forward for B streams into act (what surprise and write reuse);
 * v [B,d] (may be NULL) gets c * u. */
void tm_miras_read_streams(const tm_miras *m, const tm_miras_state *s, float *v, float *act,
                           const float *key, const float *context, int B);
/* Doubles of m->scratch: one stream's read chain (scores, q, qc, rcat, ro,
 * both tiers' reads, u, h1). */
size_t tm_miras_read_scratch_doubles(const tm_miras_config *cfg);

/* The model's workspace (m->work), sized at declare for cfg->max_B streams:
 *   act [max_B * act_stream]   read forward for surprise and write
 *   surprise [max_B]           write's gate
 *   kk, vv [max_B * s]         the items write stores (compressed when on)
 *   du, dq, drout [d], dqc, dro, drcat [s], dh1 [hid]   read backward scratch
 *   C, P [(M+1) * M], a [M+1], b [M], sk [sinkhorn ws]  OT plans
 *   bk, bv [M * s]             consolidation barycentres
 * One workspace per model: a model serves one caller at a time. */
typedef struct {
    float *act, *surprise, *kk, *vv;
    float *du, *dq, *drout, *dqc, *dro, *drcat, *dh1;
    float *C, *P, *a, *b, *sk, *bk, *bv;
} miras_work_view;

size_t tm_miras_work_floats(const tm_miras_config *cfg);
miras_work_view tm_miras_work_at(const tm_miras *m);

#endif
