/* DualTierMiras read (forward and backward) and surprise.
 * Definition: shared spec memory.md "DualTierMiras", read and surprise.
 *
 * Per stream, tier and head: scores over the non-empty slots only,
 * score_j = cos(q_h, K_j,h) / tau + ln(strength_j); with sparse attention
 * the top k scores are kept (ties: the lower slot index wins, a fixed rule so
 * the kept set is a function of the state); softmax over the kept slots.
 * The cosine clamps both norms at TM_MIRAS_COS_EPS (miras_impl.h): below it
 * the clamped norm is constant, so its gradient is 0 there (the derivative
 * of the unclamped cosine would blow up as 1/|q|).
 *
 * How it is computed: the dense parts (W_q, compress, the confidence head,
 * W_o, decompress and their gradients) run as one sgemm over all B streams,
 * reading and writing the strided rows of the activation buffer; only the
 * slot scoring, softmax and weighted sums are per stream, in float with
 * vectorized inner loops (the softmax normaliser is summed in double).
 * Rounding: a float dot over a head's width is off by ~1e-7 relative, which
 * 1/tau = 10 turns into ~1e-6 on a score and so on a weight; test_miras
 * checks the read against a double evaluation of the spec at that scale. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "memory/miras_impl.h"

/* The short loops over a head's width and over the slots vectorize only
 * under the dynamic cost model and without trapping math (as in
 * kernels/cpu/scan.c); set before the include so tm_exp_approx inlines with
 * the same options. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic", "no-trapping-math")
#endif
#include "kernels/cpu/exp_approx.h"

/* The per-slot loops are most of the read's time and the build targets
 * baseline x86-64 (SSE2): an AVX2 clone doubles their width where the CPU
 * has it (chosen once at load time; the default clone elsewhere). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TM_MIRAS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TM_MIRAS_CLONES
#endif

size_t tm_miras_read_act_floats(const tm_miras_config *cfg, int B) {
    if (!cfg || B <= 0) return 0;
    return (size_t)B * miras_act_stream_floats(cfg);
}

static float sigmoidf(double z) { return (float)(1.0 / (1.0 + exp(-z))); }

/* In the order (score desc, index asc), is (v, j) after (pv, pi)? */
static int after(float v, int j, float pv, int pi) { return v < pv || (v == pv && j > pi); }

void miras_linear_rows(float *Y, int ldy, const float *X, int ldx, const float *W, const float *b,
                       int B, int n_out, int n_in) {
    for (int r = 0; r < B; r++) {
        float *y = Y + (size_t)r * ldy;
        if (b) memcpy(y, b, (size_t)n_out * sizeof(float));
        else memset(y, 0, (size_t)n_out * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, n_out, n_in, 1.0f, X, ldx, W, n_in,
                1.0f, Y, ldy);
}

void miras_linear_rows_backward(float *dX, int lddx, float *dW, float *db, const float *dY,
                                int lddy, const float *X, int ldx, const float *W, int B,
                                int n_out, int n_in) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_out, n_in, B, 1.0f, dY, lddy, X, ldx,
                1.0f, dW, n_in);
    if (db)
        for (int r = 0; r < B; r++) {
            const float *g = dY + (size_t)r * lddy;
            for (int o = 0; o < n_out; o++) db[o] += g[o];
        }
    if (dX)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, n_in, n_out, 1.0f, dY, lddy, W,
                    n_in, 1.0f, dX, lddx);
}

/* Copies an n-float field of B strided rows (stride ld) onto another. */
static void copy_rows(float *dst, const float *src, int B, int n, size_t ld) {
    for (int b = 0; b < B; b++) memcpy(dst + (size_t)b * ld, src + (size_t)b * ld, (size_t)n * sizeof(float));
}

/* One head of one tier: weights w [M] (0 for empty or dropped slots),
 * cosines cosv [M] and inverse key norms rnk [M] of the kept slots (0
 * elsewhere), and the head's read r [hd]. w holds the scores (-inf: an
 * excluded slot) until the softmax. */
TM_MIRAS_CLONES static void read_head(const tm_miras_config *c, float *restrict w, float *restrict cosv,
                      float *restrict rnk, float *restrict r, const float *restrict qh, float nq,
                      const float *keys, const float *values, const float *strength, int h,
                      int n_full) {
    int M = c->mem_slots, s = miras_slot_dim(c), hd = s / c->n_heads;
    const float eps = (float)TM_MIRAS_COS_EPS, eps2 = eps * eps, inv_tau = 1.0f / c->temperature;
    float rq = 1.0f / (nq > eps ? nq : eps);
    /* Dot products and squared key norms first (cosv, rnk hold them), then
     * the cosines and scores in one loop over the slots that vectorizes
     * (sqrt, divide, selects). An empty slot is computed and discarded
     * (excluded, not scored): the select keeps whatever its key held out. */
    for (int j = 0; j < M; j++) {
        const float *K = keys + (size_t)j * s + (size_t)h * hd;
        float dot = 0.0f, kk = 0.0f;
#pragma omp simd reduction(+ : dot, kk)
        for (int i = 0; i < hd; i++) {
            dot += qh[i] * K[i];
            kk += K[i] * K[i];
        }
        cosv[j] = dot;
        rnk[j] = kk;
    }
#pragma omp simd
    for (int j = 0; j < M; j++) {
        float kk = rnk[j], rk = 1.0f / sqrtf(kk > eps2 ? kk : eps2), cs = cosv[j] * rq * rk;
        int full = strength[j] > 0.0f;
        cosv[j] = full ? cs : 0.0f;
        rnk[j] = full ? rk : 0.0f;
        w[j] = full ? cs * inv_tau : -INFINITY;
    }
    for (int j = 0; j < M; j++) /* + ln strength; ln 1 = 0 spares the common fresh slot */
        if (strength[j] > 0.0f && strength[j] != 1.0f) w[j] += logf(strength[j]);
    if (c->use_sparse_attention && c->top_k_retrieval < n_full) {
        /* Find the k-th best (score, index) by k selection passes; keep
         * exactly the k entries at or before it. */
        float pv = INFINITY;
        int pi = -1;
        for (int t = 0; t < c->top_k_retrieval; t++) {
            int best = -1;
            for (int j = 0; j < M; j++) {
                if (w[j] == -INFINITY || !after(w[j], j, pv, pi)) continue;
                if (best < 0 || w[j] > w[best]) best = j;
            }
            pv = w[best];
            pi = best;
        }
        for (int j = 0; j < M; j++)
            if (w[j] != -INFINITY && after(w[j], j, pv, pi)) {
                w[j] = -INFINITY;
                cosv[j] = rnk[j] = 0.0f;
            }
    }
    float mx = -INFINITY;
    for (int j = 0; j < M; j++) mx = w[j] > mx ? w[j] : mx;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < M; j++) {
        float e = w[j] == -INFINITY ? 0.0f : tm_exp_approx(w[j] - mx);
        w[j] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < M; j++) w[j] *= inv;
    for (int i = 0; i < hd; i++) r[i] = 0.0f;
    for (int j = 0; j < M; j++) {
        if (w[j] == 0.0f) continue;
        const float *V = values + (size_t)j * s + (size_t)h * hd;
        float wj = w[j];
#pragma omp simd
        for (int i = 0; i < hd; i++) r[i] += wj * V[i];
    }
}

void tm_miras_read_streams(const tm_miras *m, const tm_miras_state *st, float *v, float *act,
                           const float *key, const float *context, int B) {
    const tm_miras_config *c = &m->cfg;
    int d = c->d_model, s = m->slot_dim, M = c->mem_slots, H = c->n_heads, hd = m->head_dim;
    int hid = miras_conf_hidden(c);
    size_t S = miras_act_stream_floats(c);
    int ld = (int)S;
    miras_act_view a0 = miras_act_at(c, act, 0); /* stream b's field: a0.field + b * S */
    if (c->use_query_proj) miras_linear_rows(a0.q, ld, key, d, m->q_proj.w, m->q_proj.b, B, d, d);
    else
        for (int b = 0; b < B; b++) memcpy(a0.q + b * S, key + (size_t)b * d, (size_t)d * sizeof(float));
    if (c->use_memory_compression)
        miras_linear_rows(a0.qc, ld, a0.q, ld, m->compress.w, m->compress.b, B, s, d);
    else copy_rows(a0.qc, a0.q, B, s, S);
    if (c->use_adaptive_retrieval)
        miras_linear_rows(a0.h1, ld, a0.q, ld, m->conf1.w, m->conf1.b, B, hid, d);
    for (int b = 0; b < B; b++) {
        miras_act_view a = miras_act_at(c, act, b);
        for (int h = 0; h < H; h++) {
            const float *qh = a.qc + (size_t)h * hd;
            double n2 = 0.0;
            for (int i = 0; i < hd; i++) n2 += (double)qh[i] * qh[i];
            a.nq[h] = (float)sqrt(n2);
        }
        for (int t = 0; t < 2; t++) {
            size_t kv = (size_t)b * M * s;
            const float *keys = (t ? st->deep_keys : st->fast_keys) + kv;
            const float *values = (t ? st->deep_values : st->fast_values) + kv;
            const float *strength = (t ? st->deep_strength : st->fast_strength) + (size_t)b * M;
            int n_full = 0;
            for (int j = 0; j < M; j++) n_full += strength[j] > 0.0f;
            *a.full[t] = n_full > 0 ? 1.0f : 0.0f;
            if (n_full == 0) { /* an empty tier reads 0 (ro, rout zeroed below) */
                memset(a.w[t], 0, (size_t)H * M * sizeof(float));
                memset(a.cosv[t], 0, (size_t)H * M * sizeof(float));
                memset(a.rnk[t], 0, (size_t)H * M * sizeof(float));
                memset(a.rcat[t], 0, (size_t)s * sizeof(float));
                continue;
            }
            for (int h = 0; h < H; h++)
                read_head(c, a.w[t] + (size_t)h * M, a.cosv[t] + (size_t)h * M,
                          a.rnk[t] + (size_t)h * M, a.rcat[t] + (size_t)h * hd,
                          a.qc + (size_t)h * hd, a.nq[h], keys, values, strength, h, n_full);
        }
    }
    for (int t = 0; t < 2; t++) {
        if (H > 1) miras_linear_rows(a0.ro[t], ld, a0.rcat[t], ld, m->o_proj.w, m->o_proj.b, B, s, s);
        else copy_rows(a0.ro[t], a0.rcat[t], B, s, S);
        if (c->use_memory_compression)
            miras_linear_rows(a0.rout[t], ld, a0.ro[t], ld, m->decompress.w, m->decompress.b, B, d, s);
        else copy_rows(a0.rout[t], a0.ro[t], B, d, S);
        for (int b = 0; b < B; b++) { /* no W_o or decompress bias on an empty tier */
            miras_act_view a = miras_act_at(c, act, b);
            if (*a.full[t] != 0.0f) continue;
            memset(a.ro[t], 0, (size_t)s * sizeof(float));
            memset(a.rout[t], 0, (size_t)d * sizeof(float));
        }
    }
    for (int b = 0; b < B; b++) {
        miras_act_view a = miras_act_at(c, act, b);
        double z = *m->mix_logit;
        if (context) {
            const float *x = context + (size_t)b * d;
            for (int i = 0; i < d; i++) z += (double)m->ctx_gate.w[i] * x[i];
        }
        float mix = sigmoidf(z);
        /* One tier empty: the other gets all the weight (and m is then a
         * constant, so no gradient reaches mix_logit or the gate). */
        if (*a.full[0] != 0.0f && *a.full[1] == 0.0f) mix = 1.0f;
        if (*a.full[0] == 0.0f && *a.full[1] != 0.0f) mix = 0.0f;
        *a.mix = mix;
        const float *r0 = a.rout[0], *r1 = a.rout[1];
        float *u = a.u;
        for (int i = 0; i < d; i++) u[i] = mix * r0[i] + (1.0f - mix) * r1[i];
        float conf = 1.0f;
        if (c->use_adaptive_retrieval) {
            double z2 = m->conf2.b[0];
            for (int i = 0; i < hid; i++) {
                a.h1[i] = a.h1[i] > 0.0f ? a.h1[i] : 0.0f;
                z2 += (double)m->conf2.w[i] * a.h1[i];
            }
            conf = sigmoidf(z2);
        } else {
            memset(a.h1, 0, (size_t)hid * sizeof(float));
        }
        *a.conf = conf;
        if (v)
            for (int i = 0; i < d; i++) v[(size_t)b * d + i] = conf * u[i];
    }
}

static tm_status check_read_args(const tm_miras *m, const tm_miras_state *s, const void *out,
                                 const void *act, const float *key, int B, const char *what) {
    if (!m || !s || !out || !act || !key)
        return tm_fail(TM_EINVAL, "miras: %s got a NULL argument", what);
    if (B <= 0 || B > s->B)
        return tm_fail(TM_EINVAL, "miras: %s B must be in 1..%d (the state's B) (got %d)", what,
                       s->B, B);
    if (s->M != m->cfg.mem_slots || s->s != m->slot_dim)
        return tm_fail(TM_EINVAL, "miras: %s state has M=%d, s=%d but the model M=%d, s=%d", what,
                       s->M, s->s, m->cfg.mem_slots, m->slot_dim);
    return TM_OK;
}

tm_status tm_miras_read_forward(const tm_miras *m, const tm_miras_state *s, float *v,
                                tm_miras_read_info *info, float *act, const float *key,
                                const float *context, int B) {
    TM_TRY(check_read_args(m, s, v, act, key, B, "read_forward"));
    tm_miras_read_streams(m, s, v, act, key, context, B);
    const tm_miras_config *c = &m->cfg;
    int d = c->d_model;
    size_t hm = (size_t)c->n_heads * c->mem_slots;
    for (int b = 0; b < B; b++) {
        miras_act_view a = miras_act_at(c, act, b);
        if (!info) continue;
        if (info->v_fast) memcpy(info->v_fast + (size_t)b * d, a.rout[0], (size_t)d * sizeof(float));
        if (info->v_deep) memcpy(info->v_deep + (size_t)b * d, a.rout[1], (size_t)d * sizeof(float));
        if (info->confidence) info->confidence[b] = *a.conf;
        if (info->mix) info->mix[b] = *a.mix;
        if (info->weights)
            for (int t = 0; t < 2; t++)
                memcpy(info->weights + ((size_t)b * 2 + t) * hm, a.w[t], hm * sizeof(float));
    }
    return TM_OK;
}

/* dqc_h += d/dq_h of the head's read against dr_h, through the softmax and
 * the cosines of the kept slots; dw [M] is scratch. With g_j = dr . V_j and
 * dcos_j = w_j (g_j - sum_i w_i g_i) / tau (softmax, score = cos / tau):
 * dq = sum_j dcos_j (K_j / (|q||K_j|) - cos_j q / |q|^2), the second term
 * only where |q| is above the clamp. */
TM_MIRAS_CLONES static void head_backward(const tm_miras_config *c, float *restrict dqc_h,
                          const float *restrict dr_h, const float *w, const float *cosv,
                          const float *rnk, const float *restrict qh, float nq, const float *keys,
                          const float *values, int h, float *restrict dw) {
    int M = c->mem_slots, s = miras_slot_dim(c), hd = s / c->n_heads;
    double wdw = 0.0;
    for (int j = 0; j < M; j++) {
        dw[j] = 0.0f;
        if (w[j] == 0.0f) continue; /* empty, dropped, or underflowed: no gradient */
        const float *V = values + (size_t)j * s + (size_t)h * hd;
        float g = 0.0f;
#pragma omp simd reduction(+ : g)
        for (int i = 0; i < hd; i++) g += dr_h[i] * V[i];
        dw[j] = g;
        wdw += (double)w[j] * g;
    }
    float rq = 1.0f / fmaxf(nq, (float)TM_MIRAS_COS_EPS), inv_tau = 1.0f / c->temperature;
    float mean = (float)wdw;
    double alpha = 0.0;
    for (int j = 0; j < M; j++) {
        if (w[j] == 0.0f) continue;
        const float *K = keys + (size_t)j * s + (size_t)h * hd;
        float dcos = w[j] * (dw[j] - mean) * inv_tau, gk = dcos * rq * rnk[j];
        alpha += (double)dcos * cosv[j];
#pragma omp simd
        for (int i = 0; i < hd; i++) dqc_h[i] += gk * K[i];
    }
    if (nq > (float)TM_MIRAS_COS_EPS) {
        float aq = (float)alpha * rq * rq;
        for (int i = 0; i < hd; i++) dqc_h[i] -= aq * qh[i];
    }
}

tm_status tm_miras_read_backward(const tm_miras *m, const tm_miras_state *st, float *dkey,
                                 float *dcontext, const float *dv, const float *key,
                                 const float *context, const float *act, int B) {
    TM_TRY(check_read_args(m, st, dv, act, key, B, "read_backward"));
    const tm_miras_config *c = &m->cfg;
    int d = c->d_model, s = m->slot_dim, M = c->mem_slots, H = c->n_heads, hd = m->head_dim;
    int hid = miras_conf_hidden(c);
    size_t S = miras_act_stream_floats(c);
    int ld = (int)S;
    float *act_rw = (float *)act; /* read only below */
    miras_act_view a0 = miras_act_at(c, act_rw, 0);
    miras_work_view wk = tm_miras_work_at(m, st); /* scratch, not the slots */
    /* Confidence: v = c u, c = sigmoid(conf2 ReLU(conf1 q)). */
    memset(wk.dq, 0, (size_t)B * d * sizeof(float));
    for (int b = 0; b < B; b++) {
        miras_act_view a = miras_act_at(c, act_rw, b);
        const float *g = dv + (size_t)b * d;
        float *du = wk.du + (size_t)b * d;
        if (!c->use_adaptive_retrieval) {
            memcpy(du, g, (size_t)d * sizeof(float));
            continue;
        }
        float cf = *a.conf;
        double dc = 0.0;
        for (int i = 0; i < d; i++) {
            du[i] = cf * g[i];
            dc += (double)g[i] * a.u[i];
        }
        float dz2 = (float)(dc * cf * (1.0 - cf));
        float *dh1 = wk.dh1 + (size_t)b * hid;
        for (int i = 0; i < hid; i++) {
            dh1[i] = a.h1[i] > 0.0f ? dz2 * m->conf2.w[i] : 0.0f;
            m->conf2.dw[i] += dz2 * a.h1[i];
        }
        m->conf2.db[0] += dz2;
    }
    if (c->use_adaptive_retrieval)
        miras_linear_rows_backward(wk.dq, d, m->conf1.dw, m->conf1.db, wk.dh1, hid, a0.q, ld,
                                   m->conf1.w, B, hid, d);
    /* Mix: u = m r_fast + (1 - m) r_deep, m = sigmoid(mix_logit + gate . x). */
    for (int b = 0; b < B; b++) {
        miras_act_view a = miras_act_at(c, act_rw, b);
        if (*a.full[0] == 0.0f || *a.full[1] == 0.0f) continue; /* m is a constant */
        const float *du = wk.du + (size_t)b * d;
        double dm = 0.0;
        for (int i = 0; i < d; i++) dm += (double)du[i] * (a.rout[0][i] - a.rout[1][i]);
        float mix = *a.mix, dz = (float)(dm * mix * (1.0 - mix));
        *m->d_mix_logit += dz;
        if (context) {
            const float *x = context + (size_t)b * d;
            for (int i = 0; i < d; i++) m->ctx_gate.dw[i] += dz * x[i];
            if (dcontext)
                for (int i = 0; i < d; i++) dcontext[(size_t)b * d + i] += dz * m->ctx_gate.w[i];
        }
    }
    /* Each tier: decompress, W_o (all streams at once), then the heads. An
     * empty tier's rows get drout = 0, so they add nothing to the dense
     * gradients, as if skipped. */
    memset(wk.dqc, 0, (size_t)B * s * sizeof(float));
    for (int t = 0; t < 2; t++) {
        for (int b = 0; b < B; b++) {
            miras_act_view a = miras_act_at(c, act_rw, b);
            float scale = *a.full[t] == 0.0f ? 0.0f : t == 0 ? *a.mix : 1.0f - *a.mix;
            const float *du = wk.du + (size_t)b * d;
            float *dr = wk.drout + (size_t)b * d;
            for (int i = 0; i < d; i++) dr[i] = scale * du[i];
        }
        const float *dro = wk.drout, *drcat; /* rows s floats apart (s = d uncompressed) */
        if (c->use_memory_compression) {
            memset(wk.dro, 0, (size_t)B * s * sizeof(float));
            miras_linear_rows_backward(wk.dro, s, m->decompress.dw, m->decompress.db, wk.drout, d,
                                       a0.ro[t], ld, m->decompress.w, B, d, s);
            dro = wk.dro;
        }
        drcat = dro;
        if (H > 1) {
            memset(wk.drcat, 0, (size_t)B * s * sizeof(float));
            miras_linear_rows_backward(wk.drcat, s, m->o_proj.dw, m->o_proj.db, dro, s,
                                       a0.rcat[t], ld, m->o_proj.w, B, s, s);
            drcat = wk.drcat;
        }
        for (int b = 0; b < B; b++) {
            miras_act_view a = miras_act_at(c, act_rw, b);
            if (*a.full[t] == 0.0f) continue;
            size_t kv = (size_t)b * M * s;
            const float *keys = (t ? st->deep_keys : st->fast_keys) + kv;
            const float *values = (t ? st->deep_values : st->fast_values) + kv;
            for (int h = 0; h < H; h++)
                head_backward(c, wk.dqc + (size_t)b * s + (size_t)h * hd,
                              drcat + (size_t)b * s + (size_t)h * hd, a.w[t] + (size_t)h * M,
                              a.cosv[t] + (size_t)h * M, a.rnk[t] + (size_t)h * M,
                              a.qc + (size_t)h * hd, a.nq[h], keys, values, h, wk.dw);
        }
    }
    if (c->use_memory_compression)
        miras_linear_rows_backward(wk.dq, d, m->compress.dw, m->compress.db, wk.dqc, s, a0.q, ld,
                                   m->compress.w, B, s, d);
    else
        for (size_t i = 0; i < (size_t)B * d; i++) wk.dq[i] += wk.dqc[i];
    if (c->use_query_proj)
        miras_linear_rows_backward(dkey, d, m->q_proj.dw, m->q_proj.db, wk.dq, d, key, d,
                                   m->q_proj.w, B, d, d);
    else if (dkey)
        for (size_t i = 0; i < (size_t)B * d; i++) dkey[i] += wk.dq[i];
    return TM_OK;
}

tm_status tm_miras_surprise(const tm_miras *m, const tm_miras_state *s, float *surprise,
                            const float *key, const float *value, const float *context, int B) {
    TM_TRY(check_read_args(m, s, surprise, value, key, B, "surprise"));
    miras_work_view wk = tm_miras_work_at(m, s); /* scratch, not the slots */
    tm_miras_read_streams(m, s, NULL, wk.act, key, context, B);
    int d = m->cfg.d_model;
    for (int b = 0; b < B; b++) {
        miras_act_view a = miras_act_at(&m->cfg, wk.act, b);
        if (*a.full[0] == 0.0f && *a.full[1] == 0.0f) {
            surprise[b] = 1.0f; /* nothing stored: everything is new */
            continue;
        }
        const float *x = value + (size_t)b * d;
        double err = 0.0;
        for (int i = 0; i < d; i++) err += ((double)a.u[i] - x[i]) * ((double)a.u[i] - x[i]);
        surprise[b] = (float)(sqrt(err) / (miras_norm(x, d) + 1e-6));
    }
    return TM_OK;
}
