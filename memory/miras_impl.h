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
 *   nq [H]       |qc_h| per head, unclamped (the cosine's backward needs it)
 *   per tier t (fast 0, deep 1):
 *     w [H*M]    attention weights (0 for empty and dropped slots)
 *     cosv [H*M] cosines of the kept slots
 *     rnk [H*M]  1 / max(|K_j,h|, eps) of the kept slots (0 for the others)
 *     rcat [s]   concatenated head reads
 *     ro [s]     after W_o (a copy of rcat when H == 1)
 *     rout [d]   the tier's read (decompressed); 0 for an empty tier
 *     full [1]   1 when the tier has a non-empty slot
 *   mix [1]      m as used (1 / 0 when one tier is empty)
 *   conf [1]     c
 *   h1 [hid]     ReLU(conf1 q)
 *   u [d]        the mixed read before confidence (surprise's r)
 * Streams are miras_act_stream_floats apart, so a field of all B streams is
 * a strided matrix that one sgemm reads or writes (lda/ldc = that stride). */
typedef struct {
    float *q, *qc, *nq;
    float *w[2], *cosv[2], *rnk[2], *rcat[2], *ro[2], *rout[2], *full[2];
    float *mix, *conf, *h1, *u;
} miras_act_view;

static inline size_t miras_act_stream_floats(const tm_miras_config *c) {
    size_t d = (size_t)c->d_model, s = (size_t)miras_slot_dim(c);
    size_t hm = (size_t)c->n_heads * (size_t)c->mem_slots;
    return d + s + (size_t)c->n_heads + 2 * (3 * hm + 2 * s + d + 1) + 2 +
           (size_t)miras_conf_hidden(c) + d;
}

static inline miras_act_view miras_act_at(const tm_miras_config *c, float *act, int b) {
    size_t d = (size_t)c->d_model, s = (size_t)miras_slot_dim(c);
    size_t hm = (size_t)c->n_heads * (size_t)c->mem_slots;
    float *p = act + (size_t)b * miras_act_stream_floats(c);
    miras_act_view v;
    v.q = p; p += d;
    v.qc = p; p += s;
    v.nq = p; p += (size_t)c->n_heads;
    for (int t = 0; t < 2; t++) {
        v.w[t] = p; p += hm;
        v.cosv[t] = p; p += hm;
        v.rnk[t] = p; p += hm;
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

/* Y [B, n_out] (rows ldy apart) = X [B, n_in] (rows ldx apart) W^T + b for a
 * linear's W [n_out, n_in] and b (NULL: none): one sgemm over the B rows. */
void miras_linear_rows(float *Y, int ldy, const float *X, int ldx, const float *W, const float *b,
                       int B, int n_out, int n_in);
/* Its backward over the B rows: dW += dY^T X, db += column sums of dY (db may
 * be NULL), dX += dY W (dX may be NULL). */
void miras_linear_rows_backward(float *dX, int lddx, float *dW, float *db, const float *dY,
                                int lddy, const float *X, int ldx, const float *W, int B,
                                int n_out, int n_in);

/* The read forward for B streams into act (what surprise and write reuse);
 * v [B,d] (may be NULL) gets c * u. */
void tm_miras_read_streams(const tm_miras *m, const tm_miras_state *s, float *v, float *act,
                           const float *key, const float *context, int B);
/* A state's scratch (st->work), for its B streams:
 *   act [B * act_stream]       read forward for surprise and write
 *   surprise [B]               write's gate
 *   kk, vv [B * s]             the items write stores (compressed when on)
 *   du, dq, drout [B * d], dqc, dro, drcat [B * s], dh1 [B * hid],
 *   dw [M]                     read backward scratch (all streams at once)
 *   C, P [(M+1) * M], a [M+1], b [M], sk [sinkhorn ws]  OT plans
 *   bk, bv [M * s]             consolidation barycentres */
typedef struct {
    float *act, *surprise, *kk, *vv;
    float *du, *dq, *drout, *dqc, *dro, *drcat, *dh1, *dw;
    float *C, *P, *a, *b, *sk, *bk, *bv;
} miras_work_view;

size_t tm_miras_work_floats(const tm_miras_config *cfg, int B);
/* The view of st->work (written through even where st is const: it is
 * scratch, not the slots). */
miras_work_view tm_miras_work_at(const tm_miras *m, const tm_miras_state *st);

#endif
