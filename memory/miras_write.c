/* DualTierMiras write (no gradient), the OT write policy and OT
 * consolidation. Definition: shared spec memory.md "DualTierMiras" (write)
 * and "Optimal transport".
 *
 * One write call, per stream, in this order:
 *   1. surprise from the memory as the reader saw it (before anything moves);
 *   2. decay (when on): every stored strength *= decay_rate, below 0.01 the
 *      slot is emptied (strength and contents zeroed). Decay ages what was
 *      stored BEFORE this call, so a slot written once has strength r^n after
 *      n further calls and empties after exactly ceil(ln 0.01 / ln r) of them;
 *   3. fast tier: the item goes to the first empty slot (stored exactly), or,
 *      when the tier is full, to the ring pointer's slot (ring) or to the slot
 *      the OT plan picks (ot), blended K <- (1 - lr) K + lr k; strength 1.
 *      The ring pointer advances only when it overwrites, so after a fill
 *      from empty it points at the oldest slot;
 *   4. deep tier: the same with lr_deep, when surprise > surprise_threshold
 *      or the deep tier has an empty slot (after decay);
 *   5. writes += 1; every consolidate_every writes, OT consolidation.
 * Compressed memories store compress(k) and compress(v).
 * NaN/Inf in key, value or context fails before step 1: nothing changes. */
#include <math.h>
#include <string.h>

#include "memory/miras_impl.h"
#include "memory/sinkhorn.h"

size_t tm_miras_work_floats(const tm_miras_config *c, int B) {
    size_t d = (size_t)c->d_model, s = (size_t)miras_slot_dim(c), M = (size_t)c->mem_slots;
    size_t nb = (size_t)B;
    return nb * miras_act_stream_floats(c) + nb + 2 * nb * s + 3 * nb * d + 3 * nb * s +
           nb * (size_t)miras_conf_hidden(c) + M + 2 * (M + 1) * M + (M + 1) + M +
           tm_sinkhorn_workspace_floats(c->mem_slots + 1, c->mem_slots) + 2 * M * s;
}

miras_work_view tm_miras_work_at(const tm_miras *m, const tm_miras_state *st) {
    const tm_miras_config *c = &m->cfg;
    size_t d = (size_t)c->d_model, s = (size_t)m->slot_dim, M = (size_t)c->mem_slots;
    size_t nb = (size_t)st->B;
    miras_work_view w;
    float *p = st->work;
    w.act = p; p += nb * miras_act_stream_floats(c);
    w.surprise = p; p += nb;
    w.kk = p; p += nb * s;
    w.vv = p; p += nb * s;
    w.du = p; p += nb * d;
    w.dq = p; p += nb * d;
    w.drout = p; p += nb * d;
    w.dqc = p; p += nb * s;
    w.dro = p; p += nb * s;
    w.drcat = p; p += nb * s;
    w.dh1 = p; p += nb * (size_t)miras_conf_hidden(c);
    w.dw = p; p += M;
    w.C = p; p += (M + 1) * M;
    w.P = p; p += (M + 1) * M;
    w.a = p; p += M + 1;
    w.b = p; p += M;
    w.sk = p; p += tm_sinkhorn_workspace_floats(c->mem_slots + 1, c->mem_slots);
    w.bk = p; p += M * s;
    w.bv = p; p += M * s;
    TM_ASSERT((size_t)(p - st->work) == tm_miras_work_floats(c, st->B));
    return w;
}

/* One tier of one stream, as pointers into the state. */
typedef struct {
    float *keys, *values, *strength; /* [M,s], [M,s], [M] */
    int32_t *ptr;
} tier_view;

static tier_view tier_at(tm_miras_state *st, int deep, int b) {
    size_t kv = (size_t)b * st->M * st->s, sb = (size_t)b * st->M;
    tier_view t;
    t.keys = (deep ? st->deep_keys : st->fast_keys) + kv;
    t.values = (deep ? st->deep_values : st->fast_values) + kv;
    t.strength = (deep ? st->deep_strength : st->fast_strength) + sb;
    t.ptr = (deep ? st->deep_ptr : st->fast_ptr) + b;
    return t;
}

static int first_empty(const float *strength, int M) {
    for (int j = 0; j < M; j++)
        if (!(strength[j] > 0.0f)) return j;
    return -1;
}

/* The OT write policy's slot for a new item k when the tier is full.
 *
 * A plan between the one new item and the M slots alone says nothing: with a
 * single source, the balanced plan's row must equal the target marginal
 * whatever the cost. So the plan re-balances the whole tier with the item in
 * it: sources are the M stored keys and the new key, mass 1/(M+1) each;
 * targets are the M slots, mass 1/M each; cost C_ij = 1 - cos(source_i, K_j);
 * P is the entropic plan by log-domain Sinkhorn (sinkhorn_eps,
 * sinkhorn_iters). Every slot must take 1/(M(M+1)) more than its own item
 * brings, and the new item merges into argmax_j of P's last row (ties: the
 * lower slot): where it is cheapest to share a slot, usually the most
 * similar key. Masses are uniform rather than by strength: with strength
 * masses, a weak slot's spare capacity drew the item whatever its content
 * (measured: a near copy of slot j went to j in 73 of 100 random tiers with
 * strength masses, 100 of 100 with uniform ones). Costs O(iters M^2). */
static int ot_pick(const tm_miras *m, const tier_view *t, const float *k, miras_work_view *wk) {
    int M = m->cfg.mem_slots, s = m->slot_dim;
    for (int i = 0; i <= M; i++) {
        const float *src = i < M ? t->keys + (size_t)i * s : k;
        wk->a[i] = 1.0f / (float)(M + 1);
        for (int j = 0; j < M; j++)
            wk->C[(size_t)i * M + j] = (float)(1.0 - miras_cos(src, t->keys + (size_t)j * s, s));
    }
    for (int j = 0; j < M; j++) wk->b[j] = 1.0f / (float)M;
    tm_status st = tm_sinkhorn_plan(wk->P, NULL, wk->sk, wk->C, wk->a, wk->b,
                                    m->cfg.sinkhorn_eps, m->cfg.sinkhorn_iters, M + 1, M);
    TM_ASSERT(st == TM_OK); /* finite costs in [0, 2], valid marginals */
    const float *row = wk->P + (size_t)M * M;
    int best = 0;
    for (int j = 1; j < M; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

static void write_tier(const tm_miras *m, tier_view *t, float lr, const float *k, const float *v,
                       miras_work_view *wk) {
    int M = m->cfg.mem_slots, s = m->slot_dim;
    int j = first_empty(t->strength, M);
    if (j >= 0) { /* an empty slot stores the item exactly */
        memcpy(t->keys + (size_t)j * s, k, (size_t)s * sizeof(float));
        memcpy(t->values + (size_t)j * s, v, (size_t)s * sizeof(float));
        t->strength[j] = 1.0f;
        return;
    }
    if (m->cfg.write_policy == TM_MIRAS_OT) {
        j = ot_pick(m, t, k, wk);
    } else {
        j = *t->ptr;
        *t->ptr = (j + 1) % M;
    }
    float *K = t->keys + (size_t)j * s, *V = t->values + (size_t)j * s;
    for (int i = 0; i < s; i++) {
        K[i] = (1.0f - lr) * K[i] + lr * k[i];
        V[i] = (1.0f - lr) * V[i] + lr * v[i];
    }
    t->strength[j] = 1.0f;
}

static void decay_tier(const tm_miras *m, tier_view *t) {
    int M = m->cfg.mem_slots, s = m->slot_dim;
    for (int j = 0; j < M; j++) {
        if (!(t->strength[j] > 0.0f)) continue;
        t->strength[j] *= m->cfg.decay_rate;
        if (t->strength[j] < TM_MIRAS_MIN_STRENGTH) { /* empty: as if never written */
            t->strength[j] = 0.0f;
            memset(t->keys + (size_t)j * s, 0, (size_t)s * sizeof(float));
            memset(t->values + (size_t)j * s, 0, (size_t)s * sizeof(float));
        }
    }
}

/* The spec's consolidation for stream b: the fast tier's items (mass
 * proportional to strength; empty slots carry none) transported onto all M
 * deep slots (uniform mass), cost 1 - cos(Kfast_i, Kdeep_j); each deep slot
 * moves toward its barycentric target with lr_deep, an empty one takes it
 * exactly and gets strength 1 (filled slots keep theirs). */
static void consolidate_stream(const tm_miras *m, tm_miras_state *st, int b, miras_work_view *wk) {
    int M = m->cfg.mem_slots, s = m->slot_dim;
    tier_view f = tier_at(st, 0, b), dp = tier_at(st, 1, b);
    double total = 0.0;
    for (int i = 0; i < M; i++) total += f.strength[i];
    if (!(total > 0.0)) return; /* nothing to transport */
    for (int i = 0; i < M; i++) {
        wk->a[i] = (float)(f.strength[i] / total);
        for (int j = 0; j < M; j++)
            wk->C[(size_t)i * M + j] =
                (float)(1.0 - miras_cos(f.keys + (size_t)i * s, dp.keys + (size_t)j * s, s));
    }
    for (int j = 0; j < M; j++) wk->b[j] = 1.0f / (float)M;
    tm_status rc = tm_sinkhorn_plan(wk->P, NULL, wk->sk, wk->C, wk->a, wk->b, m->cfg.sinkhorn_eps,
                                    m->cfg.sinkhorn_iters, M, M);
    TM_ASSERT(rc == TM_OK);
    rc = tm_sinkhorn_barycentre(wk->bk, NULL, wk->P, f.keys, M, M, s);
    TM_ASSERT(rc == TM_OK);
    rc = tm_sinkhorn_barycentre(wk->bv, NULL, wk->P, f.values, M, M, s);
    TM_ASSERT(rc == TM_OK);
    float lr = m->cfg.lr_deep;
    for (int j = 0; j < M; j++) {
        double mass = 0.0;
        for (int i = 0; i < M; i++) mass += wk->P[(size_t)i * M + j];
        if (!(mass > 0.0)) continue; /* no target: the slot stays */
        float *K = dp.keys + (size_t)j * s, *V = dp.values + (size_t)j * s;
        const float *tk = wk->bk + (size_t)j * s, *tv = wk->bv + (size_t)j * s;
        if (dp.strength[j] > 0.0f) {
            for (int i = 0; i < s; i++) {
                K[i] = (1.0f - lr) * K[i] + lr * tk[i];
                V[i] = (1.0f - lr) * V[i] + lr * tv[i];
            }
        } else {
            memcpy(K, tk, (size_t)s * sizeof(float));
            memcpy(V, tv, (size_t)s * sizeof(float));
            dp.strength[j] = 1.0f;
        }
    }
}

tm_status tm_miras_consolidate(const tm_miras *m, tm_miras_state *s) {
    if (!m || !s) return tm_fail(TM_EINVAL, "miras: consolidate got a NULL argument");
    if (s->M != m->cfg.mem_slots || s->s != m->slot_dim)
        return tm_fail(TM_EINVAL, "miras: consolidate state has M=%d, s=%d but the model M=%d, s=%d",
                       s->M, s->s, m->cfg.mem_slots, m->slot_dim);
    miras_work_view wk = tm_miras_work_at(m, s);
    for (int b = 0; b < s->B; b++) consolidate_stream(m, s, b, &wk);
    return TM_OK;
}

static tm_status check_finite(const char *name, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return tm_fail(TM_ENUMERIC, "miras: write %s[%zu] is not finite (got %g)", name, i,
                           (double)x[i]);
    return TM_OK;
}

tm_status tm_miras_write(const tm_miras *m, tm_miras_state *s, float *surprise, const float *key,
                         const float *value, const float *context, int B) {
    if (!m || !s || !key || !value) return tm_fail(TM_EINVAL, "miras: write got a NULL argument");
    if (B <= 0 || B > s->B)
        return tm_fail(TM_EINVAL, "miras: write B must be in 1..%d (the state's B) (got %d)", s->B,
                       B);
    const tm_miras_config *c = &m->cfg;
    int d = c->d_model, sd = m->slot_dim;
    size_t n = (size_t)B * d;
    TM_TRY(check_finite("key", key, n));
    TM_TRY(check_finite("value", value, n));
    if (context) TM_TRY(check_finite("context", context, n));
    miras_work_view wk = tm_miras_work_at(m, s);
    TM_TRY(tm_miras_surprise(m, s, wk.surprise, key, value, context, B));
    if (surprise) memcpy(surprise, wk.surprise, (size_t)B * sizeof(float));
    if (c->use_memory_compression) {
        miras_linear_rows(wk.kk, sd, key, d, m->compress.w, m->compress.b, B, sd, d);
        miras_linear_rows(wk.vv, sd, value, d, m->compress.w, m->compress.b, B, sd, d);
    } else {
        memcpy(wk.kk, key, n * sizeof(float));
        memcpy(wk.vv, value, n * sizeof(float));
    }
    for (int b = 0; b < B; b++) {
        const float *kk = wk.kk + (size_t)b * sd, *vv = wk.vv + (size_t)b * sd;
        tier_view fast = tier_at(s, 0, b), deep = tier_at(s, 1, b);
        if (c->use_decay) {
            decay_tier(m, &fast);
            decay_tier(m, &deep);
        }
        write_tier(m, &fast, c->lr_fast, kk, vv, &wk);
        if (wk.surprise[b] > c->surprise_threshold || first_empty(deep.strength, c->mem_slots) >= 0)
            write_tier(m, &deep, c->lr_deep, kk, vv, &wk);
        s->writes[b]++;
        if (c->consolidate_every > 0 && s->writes[b] % c->consolidate_every == 0)
            consolidate_stream(m, s, b, &wk);
    }
    return TM_OK;
}
