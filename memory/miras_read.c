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
 * Everything per stream is summed in double and stored as float. */
#include <math.h>
#include <string.h>

#include "memory/miras_impl.h"

size_t tm_miras_read_act_floats(const tm_miras_config *cfg, int B) {
    if (!cfg || B <= 0) return 0;
    return (size_t)B * miras_act_stream_floats(cfg);
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* In the order (score desc, index asc), is (v, j) after (pv, pi)? */
static int after(double v, int j, double pv, int pi) { return v < pv || (v == pv && j > pi); }

/* y [n_out] = W x + b (b may be NULL) with x, y in double. */
static void affine_d(double *y, const float *W, const float *b, const double *x, int n_out,
                     int n_in) {
    for (int o = 0; o < n_out; o++) {
        double a = b ? (double)b[o] : 0.0;
        const float *w = W + (size_t)o * n_in;
        for (int i = 0; i < n_in; i++) a += (double)w[i] * x[i];
        y[o] = a;
    }
}

static void to_float(float *dst, const double *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = (float)src[i];
}

/* One head of one tier: weights w [M] (0 for empty or dropped slots),
 * cosines cosv [M] of the kept slots, and the head's read r [hd]; sc [M] is
 * scratch for the scores (-inf marks an excluded slot). */
static void read_head(const tm_miras_config *c, float *w, float *cosv, double *r, double *sc,
                      const double *qh, const float *keys, const float *values,
                      const float *strength, int h, int n_full) {
    int M = c->mem_slots, s = miras_slot_dim(c), hd = s / c->n_heads;
    double nq = 0.0;
    for (int i = 0; i < hd; i++) nq += qh[i] * qh[i];
    nq = fmax(sqrt(nq), TM_MIRAS_COS_EPS);
    for (int j = 0; j < M; j++) {
        if (!(strength[j] > 0.0f)) { /* empty: excluded, not scored */
            sc[j] = -INFINITY;
            cosv[j] = 0.0f;
            continue;
        }
        const float *K = keys + (size_t)j * s + (size_t)h * hd;
        double dot = 0.0;
        for (int i = 0; i < hd; i++) dot += qh[i] * K[i];
        double cs = dot / (nq * fmax(miras_norm(K, hd), TM_MIRAS_COS_EPS));
        cosv[j] = (float)cs;
        sc[j] = cs / c->temperature + log((double)strength[j]);
    }
    if (c->use_sparse_attention && c->top_k_retrieval < n_full) {
        /* Find the k-th best (score, index) by k selection passes; keep
         * exactly the k entries at or before it. */
        double pv = INFINITY;
        int pi = -1;
        for (int t = 0; t < c->top_k_retrieval; t++) {
            int best = -1;
            for (int j = 0; j < M; j++) {
                if (sc[j] == -INFINITY || !after(sc[j], j, pv, pi)) continue;
                if (best < 0 || sc[j] > sc[best]) best = j;
            }
            pv = sc[best];
            pi = best;
        }
        for (int j = 0; j < M; j++)
            if (sc[j] != -INFINITY && after(sc[j], j, pv, pi)) {
                sc[j] = -INFINITY;
                cosv[j] = 0.0f;
            }
    }
    double mx = -INFINITY, sum = 0.0;
    for (int j = 0; j < M; j++)
        if (sc[j] > mx) mx = sc[j];
    for (int j = 0; j < M; j++)
        if (sc[j] != -INFINITY) sum += exp(sc[j] - mx);
    for (int i = 0; i < hd; i++) r[i] = 0.0;
    for (int j = 0; j < M; j++) {
        if (sc[j] == -INFINITY) {
            w[j] = 0.0f;
            continue;
        }
        double wj = exp(sc[j] - mx) / sum;
        w[j] = (float)wj;
        const float *V = values + (size_t)j * s + (size_t)h * hd;
        for (int i = 0; i < hd; i++) r[i] += wj * V[i];
    }
}

size_t tm_miras_read_scratch_doubles(const tm_miras_config *c) {
    size_t d = (size_t)c->d_model, s = (size_t)miras_slot_dim(c);
    return (size_t)c->mem_slots + d + s + 2 * (2 * s + d) + d + (size_t)miras_conf_hidden(c);
}

/* The whole chain of one stream runs in double (m->scratch) and is stored
 * in act as float: one rounding per saved value, none compounding along the
 * chain, so v is within an ulp or so of the exact read (what makes the
 * finite-difference check at tau = 0.1 meaningful). */
void tm_miras_read_streams(const tm_miras *m, const tm_miras_state *st, float *v, float *act,
                           const float *key, const float *context, int B) {
    const tm_miras_config *c = &m->cfg;
    int d = c->d_model, s = m->slot_dim, M = c->mem_slots, H = c->n_heads, hd = m->head_dim;
    int hid = miras_conf_hidden(c);
    double *sc = m->scratch, *q = sc + M, *qc = q + d, *rcat = qc + s, *ro = rcat + s,
           *rout[2], *u, *h1;
    rout[0] = ro + s;
    rout[1] = rout[0] + d; /* tier 1 reuses rcat and ro after tier 0 is done */
    u = rout[1] + d;
    h1 = u + d;
    for (int b = 0; b < B; b++) {
        miras_act_view a = miras_act_at(c, act, b);
        const float *k = key + (size_t)b * d;
        if (c->use_query_proj) {
            for (int o = 0; o < d; o++) {
                double acc = m->q_proj.b[o];
                const float *w = m->q_proj.w + (size_t)o * d;
                for (int i = 0; i < d; i++) acc += (double)w[i] * k[i];
                q[o] = acc;
            }
        } else {
            for (int i = 0; i < d; i++) q[i] = k[i];
        }
        if (c->use_memory_compression) affine_d(qc, m->compress.w, m->compress.b, q, s, d);
        else memcpy(qc, q, (size_t)s * sizeof(double));
        to_float(a.q, q, d);
        to_float(a.qc, qc, s);
        for (int t = 0; t < 2; t++) {
            size_t kv = (size_t)b * M * s;
            const float *keys = (t ? st->deep_keys : st->fast_keys) + kv;
            const float *values = (t ? st->deep_values : st->fast_values) + kv;
            const float *strength = (t ? st->deep_strength : st->fast_strength) + (size_t)b * M;
            int n_full = 0;
            for (int j = 0; j < M; j++) n_full += strength[j] > 0.0f;
            *a.full[t] = n_full > 0 ? 1.0f : 0.0f;
            if (n_full == 0) { /* an empty tier reads 0: no weights, no W_o bias */
                memset(a.w[t], 0, (size_t)H * M * sizeof(float));
                memset(a.cosv[t], 0, (size_t)H * M * sizeof(float));
                memset(a.rcat[t], 0, (size_t)s * sizeof(float));
                memset(a.ro[t], 0, (size_t)s * sizeof(float));
                memset(a.rout[t], 0, (size_t)d * sizeof(float));
                for (int i = 0; i < d; i++) rout[t][i] = 0.0;
                continue;
            }
            for (int h = 0; h < H; h++)
                read_head(c, a.w[t] + (size_t)h * M, a.cosv[t] + (size_t)h * M,
                          rcat + (size_t)h * hd, sc, qc + (size_t)h * hd, keys, values, strength,
                          h, n_full);
            if (H > 1) affine_d(ro, m->o_proj.w, m->o_proj.b, rcat, s, s);
            else memcpy(ro, rcat, (size_t)s * sizeof(double));
            if (c->use_memory_compression)
                affine_d(rout[t], m->decompress.w, m->decompress.b, ro, d, s);
            else memcpy(rout[t], ro, (size_t)d * sizeof(double));
            to_float(a.rcat[t], rcat, s);
            to_float(a.ro[t], ro, s);
            to_float(a.rout[t], rout[t], d);
        }
        double z = *m->mix_logit;
        if (context) {
            const float *x = context + (size_t)b * d;
            for (int i = 0; i < d; i++) z += (double)m->ctx_gate.w[i] * x[i];
        }
        double mix = sigmoid(z);
        /* One tier empty: the other gets all the weight (and m is then a
         * constant, so no gradient reaches mix_logit or the gate). */
        if (*a.full[0] != 0.0f && *a.full[1] == 0.0f) mix = 1.0;
        if (*a.full[0] == 0.0f && *a.full[1] != 0.0f) mix = 0.0;
        *a.mix = (float)mix;
        for (int i = 0; i < d; i++) u[i] = mix * rout[0][i] + (1.0 - mix) * rout[1][i];
        to_float(a.u, u, d);
        double conf = 1.0;
        if (c->use_adaptive_retrieval) {
            affine_d(h1, m->conf1.w, m->conf1.b, q, hid, d);
            for (int i = 0; i < hid; i++) h1[i] = h1[i] > 0.0 ? h1[i] : 0.0;
            double z2;
            affine_d(&z2, m->conf2.w, m->conf2.b, h1, 1, hid);
            conf = sigmoid(z2);
            to_float(a.h1, h1, hid);
        } else {
            memset(a.h1, 0, (size_t)hid * sizeof(float));
        }
        *a.conf = (float)conf;
        if (v)
            for (int i = 0; i < d; i++) v[(size_t)b * d + i] = (float)(conf * u[i]);
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

/* dqc_h += d/dq_h of sum_j dcos_j cos(q_h, K_j,h) over the kept slots. */
static void head_backward(const tm_miras_config *c, float *dqc_h, const float *dr_h,
                          const float *w, const float *cosv, const float *qh, const float *keys,
                          const float *values, int h) {
    int M = c->mem_slots, s = miras_slot_dim(c), hd = s / c->n_heads;
    double nq_raw = miras_norm(qh, hd), nq = fmax(nq_raw, TM_MIRAS_COS_EPS);
    double wdw = 0.0;
    for (int j = 0; j < M; j++) {
        if (w[j] == 0.0f) continue;
        const float *V = values + (size_t)j * s + (size_t)h * hd;
        double dw = 0.0;
        for (int i = 0; i < hd; i++) dw += (double)dr_h[i] * V[i];
        wdw += w[j] * dw;
    }
    for (int j = 0; j < M; j++) {
        if (w[j] == 0.0f) continue; /* empty, dropped, or underflowed: no gradient */
        const float *V = values + (size_t)j * s + (size_t)h * hd;
        const float *K = keys + (size_t)j * s + (size_t)h * hd;
        double dw = 0.0;
        for (int i = 0; i < hd; i++) dw += (double)dr_h[i] * V[i];
        /* softmax: ds_j = w_j (dw_j - sum_i w_i dw_i); score = cos / tau */
        double dcos = w[j] * (dw - wdw) / c->temperature;
        double nk = fmax(miras_norm(K, hd), TM_MIRAS_COS_EPS);
        double qterm = nq_raw > TM_MIRAS_COS_EPS ? (double)cosv[j] / (nq * nq) : 0.0;
        for (int i = 0; i < hd; i++)
            dqc_h[i] += (float)(dcos * ((double)K[i] / (nq * nk) - qterm * qh[i]));
    }
}

tm_status tm_miras_read_backward(const tm_miras *m, const tm_miras_state *st, float *dkey,
                                 float *dcontext, const float *dv, const float *key,
                                 const float *context, const float *act, int B) {
    TM_TRY(check_read_args(m, st, dv, act, key, B, "read_backward"));
    const tm_miras_config *c = &m->cfg;
    int d = c->d_model, s = m->slot_dim, M = c->mem_slots, H = c->n_heads, hd = m->head_dim;
    int hid = miras_conf_hidden(c);
    miras_work_view wk = tm_miras_work_at(m);
    for (int b = 0; b < B; b++) {
        miras_act_view a = miras_act_at(c, (float *)act, b); /* read only below */
        const float *g = dv + (size_t)b * d;
        memset(wk.dq, 0, (size_t)d * sizeof(float));
        if (c->use_adaptive_retrieval) {
            double cf = *a.conf, dc = 0.0;
            for (int i = 0; i < d; i++) {
                wk.du[i] = (float)(cf * g[i]);
                dc += (double)g[i] * a.u[i];
            }
            float dz2 = (float)(dc * cf * (1.0 - cf));
            for (int i = 0; i < hid; i++)
                wk.dh1[i] = a.h1[i] > 0.0f ? dz2 * m->conf2.w[i] : 0.0f;
            miras_affine_backward(NULL, m->conf2.dw, m->conf2.db, &dz2, m->conf2.w, a.h1, 1, hid);
            miras_affine_backward(wk.dq, m->conf1.dw, m->conf1.db, wk.dh1, m->conf1.w, a.q, hid, d);
        } else {
            memcpy(wk.du, g, (size_t)d * sizeof(float));
        }
        double mix = *a.mix;
        if (*a.full[0] != 0.0f && *a.full[1] != 0.0f) {
            double dm = 0.0;
            for (int i = 0; i < d; i++) dm += (double)wk.du[i] * (a.rout[0][i] - a.rout[1][i]);
            float dz = (float)(dm * mix * (1.0 - mix));
            *m->d_mix_logit += dz;
            if (context) {
                const float *x = context + (size_t)b * d;
                for (int i = 0; i < d; i++) m->ctx_gate.dw[i] += dz * x[i];
                if (dcontext)
                    for (int i = 0; i < d; i++) dcontext[(size_t)b * d + i] += dz * m->ctx_gate.w[i];
            }
        }
        memset(wk.dqc, 0, (size_t)s * sizeof(float));
        for (int t = 0; t < 2; t++) {
            if (*a.full[t] == 0.0f) continue;
            float scale = (float)(t == 0 ? mix : 1.0 - mix);
            for (int i = 0; i < d; i++) wk.drout[i] = scale * wk.du[i];
            const float *dro = wk.drout, *drcat;
            if (c->use_memory_compression) {
                memset(wk.dro, 0, (size_t)s * sizeof(float));
                miras_affine_backward(wk.dro, m->decompress.dw, m->decompress.db, wk.drout,
                                      m->decompress.w, a.ro[t], d, s);
                dro = wk.dro;
            }
            drcat = dro;
            if (H > 1) {
                memset(wk.drcat, 0, (size_t)s * sizeof(float));
                miras_affine_backward(wk.drcat, m->o_proj.dw, m->o_proj.db, dro, m->o_proj.w,
                                      a.rcat[t], s, s);
                drcat = wk.drcat;
            }
            size_t kv = (size_t)b * M * s;
            const float *keys = (t ? st->deep_keys : st->fast_keys) + kv;
            const float *values = (t ? st->deep_values : st->fast_values) + kv;
            for (int h = 0; h < H; h++)
                head_backward(c, wk.dqc + (size_t)h * hd, drcat + (size_t)h * hd,
                              a.w[t] + (size_t)h * M, a.cosv[t] + (size_t)h * M,
                              a.qc + (size_t)h * hd, keys, values, h);
        }
        if (c->use_memory_compression)
            miras_affine_backward(wk.dq, m->compress.dw, m->compress.db, wk.dqc, m->compress.w,
                                  a.q, s, d);
        else
            for (int i = 0; i < d; i++) wk.dq[i] += wk.dqc[i];
        float *dk = dkey ? dkey + (size_t)b * d : NULL;
        if (c->use_query_proj)
            miras_affine_backward(dk, m->q_proj.dw, m->q_proj.db, wk.dq, m->q_proj.w,
                                  key + (size_t)b * d, d, d);
        else if (dk)
            for (int i = 0; i < d; i++) dk[i] += wk.dq[i];
    }
    return TM_OK;
}

tm_status tm_miras_surprise(const tm_miras *m, const tm_miras_state *s, float *surprise,
                            const float *key, const float *value, const float *context, int B) {
    TM_TRY(check_read_args(m, s, surprise, value, key, B, "surprise"));
    if (B > m->cfg.max_B)
        return tm_fail(TM_EINVAL, "miras: surprise B must be <= max_B=%d (got %d)", m->cfg.max_B, B);
    miras_work_view wk = tm_miras_work_at(m);
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
