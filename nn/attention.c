/* Causal self-attention layer with RoPE, GQA and a sliding-window KV cache.
 * Definition: attention.h.
 *
 * Activation buffer, rows = B*T, Dq = Hq*dh, Dk = Hkv*dh (floats; the int32
 * blocks share the buffer, 4 bytes each):
 *   q [rows,Dq] (rotated), k [rows,Dk] (rotated), v [rows,Dk],
 *   att [rows,Dq] (attention output), lse [B,Hq,T],
 *   k_cache, v_cache [B,cap,Dk] (copy of the initial cache), prefix_len [B],
 *   pos [rows], start [rows]
 * Backward scratch (ctx): datt, dq_rot, dq [rows,Dq]; dk_rot, dk, dv [rows,Dk]. */
#include "nn/attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tm_attn_config tm_attn_config_default(int d_model, int n_heads) {
    tm_attn_config c = {d_model, n_heads, n_heads, 256, TM_ROPE_THETA, 0, 1.0f};
    return c;
}

tm_status tm_attn_declare(tm_attn *a, const tm_attn_config *cfg, tm_params *p, const char *prefix) {
    if (cfg->d_model <= 0 || cfg->n_heads <= 0 || cfg->n_kv_heads <= 0)
        return tm_fail(TM_EINVAL, "attention %s: d_model, n_heads, n_kv_heads must be > 0 (got %d, %d, %d)",
                       prefix, cfg->d_model, cfg->n_heads, cfg->n_kv_heads);
    if (cfg->d_model % cfg->n_heads != 0)
        return tm_fail(TM_EINVAL, "attention %s: d_model must be a multiple of n_heads (got %d, %d)",
                       prefix, cfg->d_model, cfg->n_heads);
    if (cfg->n_heads % cfg->n_kv_heads != 0)
        return tm_fail(TM_EINVAL,
                       "attention %s: n_heads must be a multiple of n_kv_heads (got %d, %d)", prefix,
                       cfg->n_heads, cfg->n_kv_heads);
    if ((cfg->d_model / cfg->n_heads) % 2 != 0)
        return tm_fail(TM_EINVAL, "attention %s: head dim d_model/n_heads must be even for RoPE (got %d)",
                       prefix, cfg->d_model / cfg->n_heads);
    if (cfg->window < 1)
        return tm_fail(TM_EINVAL, "attention %s: window must be >= 1 (got %d)", prefix, cfg->window);
    if (!(cfg->rope_theta > 1.0f) || !isfinite(cfg->rope_theta))
        return tm_fail(TM_EINVAL, "attention %s: rope_theta must be finite and > 1 (got %g)", prefix,
                       (double)cfg->rope_theta);
    if (cfg->rope_max_pos < 0)
        return tm_fail(TM_EINVAL, "attention %s: rope_max_pos must be >= 0 (got %d)", prefix,
                       cfg->rope_max_pos);
    if (!(cfg->rope_factor >= 1.0f) || !isfinite(cfg->rope_factor))
        return tm_fail(TM_EINVAL, "attention %s: rope_factor must be finite and >= 1 (got %g)", prefix,
                       (double)cfg->rope_factor);
    memset(a, 0, sizeof *a);
    a->cfg = *cfg;
    a->head_dim = cfg->d_model / cfg->n_heads;
    int d = cfg->d_model, Dq = cfg->n_heads * a->head_dim, Dk = cfg->n_kv_heads * a->head_dim;
    tm_linear_config cq = {d, Dq, 0}, ck = {d, Dk, 0}, co = {Dq, d, 0};
    char name[TM_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.q_proj", prefix);
    TM_TRY(tm_linear_declare(&a->q_proj, &cq, p, name));
    snprintf(name, sizeof name, "%s.k_proj", prefix);
    TM_TRY(tm_linear_declare(&a->k_proj, &ck, p, name));
    snprintf(name, sizeof name, "%s.v_proj", prefix);
    TM_TRY(tm_linear_declare(&a->v_proj, &ck, p, name));
    snprintf(name, sizeof name, "%s.o_proj", prefix);
    TM_TRY(tm_linear_declare(&a->o_proj, &co, p, name));
    return TM_OK;
}

void tm_attn_bind(tm_attn *a, const tm_params *p) {
    tm_linear_bind(&a->q_proj, p);
    tm_linear_bind(&a->k_proj, p);
    tm_linear_bind(&a->v_proj, p);
    tm_linear_bind(&a->o_proj, p);
}

void tm_attn_init(tm_attn *a, tm_rng *rng) {
    tm_linear_init(&a->q_proj, rng);
    tm_linear_init(&a->k_proj, rng);
    tm_linear_init(&a->v_proj, rng);
    tm_linear_init(&a->o_proj, rng);
}

/* ---- buffer layout ---------------------------------------------------------- */

typedef struct {
    float *q, *k, *v, *att, *lse, *kc, *vc;
    int32_t *plen, *pos, *start;
} attn_act;

static size_t act_layout(const tm_attn_config *cfg, int B, int T, void *base, attn_act *out) {
    size_t rows = (size_t)B * T, dh = (size_t)(cfg->d_model / cfg->n_heads);
    size_t Dq = (size_t)cfg->n_heads * dh, Dk = (size_t)cfg->n_kv_heads * dh;
    size_t cap = (size_t)(cfg->window - 1);
    size_t sizes[10] = {rows * Dq, rows * Dk, rows * Dk, rows * Dq, (size_t)B * cfg->n_heads * T,
                        (size_t)B * cap * Dk, (size_t)B * cap * Dk, (size_t)B, rows, rows};
    float *blocks[10];
    size_t off = 0;
    for (int i = 0; i < 10; i++) {
        blocks[i] = base ? (float *)base + off : NULL;
        off += sizes[i];
    }
    if (out) {
        *out = (attn_act){blocks[0], blocks[1], blocks[2], blocks[3], blocks[4], blocks[5],
                          blocks[6], (int32_t *)blocks[7], (int32_t *)blocks[8], (int32_t *)blocks[9]};
    }
    return off;
}

size_t tm_attn_act_floats(const tm_attn_config *cfg, int B, int T) {
    return act_layout(cfg, B, T, NULL, NULL);
}

size_t tm_attn_scratch_floats(const tm_attn_config *cfg, int B, int T) {
    size_t rows = (size_t)B * T, dh = (size_t)(cfg->d_model / cfg->n_heads);
    return rows * dh * (3 * (size_t)cfg->n_heads + 3 * (size_t)cfg->n_kv_heads);
}

/* ---- state ---------------------------------------------------------------------- */

tm_status tm_attn_state_create(tm_attn_state *s, const tm_attn *a, int B) {
    memset(s, 0, sizeof *s);
    if (B <= 0) return tm_fail(TM_EINVAL, "attention state: B must be > 0 (got %d)", B);
    s->B = B;
    s->cap = a->cfg.window - 1;
    size_t cache = (size_t)B * s->cap * a->cfg.n_kv_heads * a->head_dim;
    s->k = calloc(cache ? cache : 1, sizeof(float));
    s->v = calloc(cache ? cache : 1, sizeof(float));
    s->len = calloc((size_t)B, sizeof(int32_t));
    s->pos = calloc((size_t)B, sizeof(int32_t));
    /* The step workspace: one token per stream, no cache copy needed. */
    s->work = calloc(tm_attn_act_floats(&a->cfg, B, 1), sizeof(float));
    if (!s->k || !s->v || !s->len || !s->pos || !s->work) {
        tm_attn_state_free(s);
        return tm_fail(TM_ENOMEM, "attention state: cannot allocate the cache for %d streams", B);
    }
    return TM_OK;
}

void tm_attn_state_free(tm_attn_state *s) {
    if (!s) return;
    free(s->k), free(s->v), free(s->len), free(s->pos), free(s->work);
    memset(s, 0, sizeof *s);
}

void tm_attn_state_reset(const tm_attn *a, tm_attn_state *s, const int32_t *mask) {
    size_t per = (size_t)s->cap * a->cfg.n_kv_heads * a->head_dim;
    for (int b = 0; b < s->B; b++) {
        if (mask && !mask[b]) continue;
        memset(s->k + b * per, 0, per * sizeof(float));
        memset(s->v + b * per, 0, per * sizeof(float));
        s->len[b] = 0;
        s->pos[b] = 0;
    }
}

void tm_attn_state_copy(const tm_attn *a, tm_attn_state *dst, const tm_attn_state *src) {
    TM_ASSERT(dst->B == src->B && dst->cap == src->cap);
    size_t cache = (size_t)src->B * src->cap * a->cfg.n_kv_heads * a->head_dim;
    memcpy(dst->k, src->k, cache * sizeof(float));
    memcpy(dst->v, src->v, cache * sizeof(float));
    memcpy(dst->len, src->len, (size_t)src->B * sizeof(int32_t));
    memcpy(dst->pos, src->pos, (size_t)src->B * sizeof(int32_t));
}

/* ---- the computation shared by both modes ------------------------------------ */

static tm_status wrap(const tm_ctx *ctx, tm_tensor *t, void *p, tm_dtype dt, int ndim, int64_t d0,
                      int64_t d1, int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    return tm_tensor_wrap(t, p, dt, ctx->device, ndim, s);
}

/* t [B,T,H,dh] seen as [B*T, H*dh], the shape the projections take. */
static tm_status rows_view(tm_tensor *view, const tm_tensor *t) {
    int64_t s[2] = {t->shape[0] * t->shape[1], t->shape[2] * t->shape[3]};
    return tm_tensor_reshape(view, t, 2, s);
}

/* y = o_proj(attention(rope(q_proj x), rope(k_proj x), v_proj x; cache)),
 * rope with the config's dynamic NTK scaling (per position, so cached keys
 * keep a valid rotation: kernels/ops_seq.h, tm_op_rope_scaled).
 * x is [B,T,d] or [B,d] (T = 1); positions pos [B,T] already filled. */
static tm_status attn_core(tm_ctx *ctx, const tm_attn *a, tm_tensor *y, const tm_tensor *x, int B,
                           int T, const attn_act *w, const float *kc, const float *vc, int cap,
                           const int32_t *plen, const int32_t *start) {
    int Hq = a->cfg.n_heads, Hkv = a->cfg.n_kv_heads, dh = a->head_dim;
    tm_tensor q, k, v, att, lse, pos, tkc, tvc, tpl, tst;
    TM_TRY(wrap(ctx, &q, w->q, TM_F32, 4, B, T, Hq, dh));
    TM_TRY(wrap(ctx, &k, w->k, TM_F32, 4, B, T, Hkv, dh));
    TM_TRY(wrap(ctx, &v, w->v, TM_F32, 4, B, T, Hkv, dh));
    TM_TRY(wrap(ctx, &att, w->att, TM_F32, 4, B, T, Hq, dh));
    TM_TRY(wrap(ctx, &lse, w->lse, TM_F32, 3, B, Hq, T, 0));
    TM_TRY(wrap(ctx, &pos, w->pos, TM_I32, 2, B, T, 0, 0));
    tm_tensor q2, k2, v2, att2;
    TM_TRY(rows_view(&q2, &q));
    TM_TRY(rows_view(&k2, &k));
    TM_TRY(rows_view(&v2, &v));
    TM_TRY(rows_view(&att2, &att));
    TM_TRY(tm_linear_forward(ctx, &a->q_proj, &q2, x));
    TM_TRY(tm_linear_forward(ctx, &a->k_proj, &k2, x));
    TM_TRY(tm_linear_forward(ctx, &a->v_proj, &v2, x));
    const tm_attn_config *c = &a->cfg;
    TM_TRY(tm_op_rope_scaled(ctx, &q, &q, &pos, c->rope_theta, c->rope_max_pos, c->rope_factor));
    TM_TRY(tm_op_rope_scaled(ctx, &k, &k, &pos, c->rope_theta, c->rope_max_pos, c->rope_factor));
    if (cap > 0) {
        TM_TRY(wrap(ctx, &tkc, (void *)kc, TM_F32, 4, B, cap, Hkv, dh));
        TM_TRY(wrap(ctx, &tvc, (void *)vc, TM_F32, 4, B, cap, Hkv, dh));
        TM_TRY(wrap(ctx, &tpl, (void *)plen, TM_I32, 1, B, 0, 0, 0));
    }
    if (start) TM_TRY(wrap(ctx, &tst, (void *)start, TM_I32, 2, B, T, 0, 0));
    TM_TRY(tm_op_attention(ctx, &att, &lse, &q, &k, &v, cap > 0 ? &tkc : NULL,
                           cap > 0 ? &tvc : NULL, cap > 0 ? &tpl : NULL, start ? &tst : NULL,
                           1.0f / sqrtf((float)dh), a->cfg.window));
    return tm_linear_forward(ctx, &a->o_proj, y, &att2);
}

/* Writes the cache after T new tokens: the last cap keys/values of stream b's
 * current episode, taken from the old cache src (len0 valid rows) and the new
 * rotated k, v. dst may be src (rows only move towards the front). */
static void cache_append(const tm_attn *a, tm_attn_state *dst, const float *src_k,
                         const float *src_v, const int32_t *len0, const float *k, const float *v,
                         const int32_t *pos, const int32_t *start, int B, int T) {
    int cap = dst->cap;
    size_t Dk = (size_t)a->cfg.n_kv_heads * a->head_dim, row = Dk * sizeof(float);
    for (int b = 0; b < B; b++) {
        int last_start = -1;
        for (int t = 0; start && t < T; t++)
            if (start[b * T + t]) last_start = t;
        int n_new = last_start >= 0 ? T - last_start : T;
        int old = last_start >= 0 ? 0 : len0[b];
        int m = n_new < cap ? n_new : cap;
        int keep = old + m > cap ? cap - m : old;
        float *dk = dst->k + (size_t)b * cap * Dk, *dv = dst->v + (size_t)b * cap * Dk;
        const float *sk = src_k + (size_t)b * cap * Dk, *sv = src_v + (size_t)b * cap * Dk;
        if (keep > 0) {
            memmove(dk + (size_t)(cap - m - keep) * Dk, sk + (size_t)(cap - keep) * Dk, keep * row);
            memmove(dv + (size_t)(cap - m - keep) * Dk, sv + (size_t)(cap - keep) * Dk, keep * row);
        }
        if (m > 0) {
            memcpy(dk + (size_t)(cap - m) * Dk, k + ((size_t)b * T + T - m) * Dk, m * row);
            memcpy(dv + (size_t)(cap - m) * Dk, v + ((size_t)b * T + T - m) * Dk, m * row);
        }
        dst->len[b] = keep + m;
        dst->pos[b] = pos[b * T + T - 1] + 1;
    }
}

static tm_status check_x(const tm_attn *a, const char *what, const tm_tensor *x, int ndim,
                         int64_t B, int64_t T) {
    char buf[96];
    int ok = x && x->ndim == ndim && x->shape[0] == B && x->shape[ndim - 1] == a->cfg.d_model &&
             (ndim == 2 || x->shape[1] == T);
    if (!ok)
        return tm_fail(TM_EINVAL, "attention: %s must be [%lld%s,%d] (got %s)", what, (long long)B,
                       ndim == 3 ? ",T" : "", a->cfg.d_model,
                       x ? tm_tensor_describe(x, buf, sizeof buf) : "NULL");
    return TM_OK;
}

tm_status tm_attn_step(tm_ctx *ctx, const tm_attn *a, tm_attn_state *s, tm_tensor *y,
                       const tm_tensor *x) {
    int B = s->B;
    TM_TRY(check_x(a, "x", x, 2, B, 1));
    TM_TRY(check_x(a, "y", y, 2, B, 1));
    attn_act w;
    act_layout(&a->cfg, B, 1, s->work, &w);
    memcpy(w.pos, s->pos, (size_t)B * sizeof(int32_t));
    TM_TRY(attn_core(ctx, a, y, x, B, 1, &w, s->k, s->v, s->cap, s->len, NULL));
    cache_append(a, s, s->k, s->v, s->len, w.k, w.v, w.pos, NULL, B, 1);
    return TM_OK;
}

static tm_status act_check(const tm_attn *a, const tm_tensor *act, int B, int T) {
    size_t need = tm_attn_act_floats(&a->cfg, B, T);
    if (!act || act->dtype != TM_F32 || (size_t)tm_tensor_numel(act) < need)
        return tm_fail(TM_EINVAL, "attention: act must be f32 with >= %zu floats for B %d, T %d (got %lld)",
                       need, B, T, act ? (long long)tm_tensor_numel(act) : 0LL);
    return TM_OK;
}

tm_status tm_attn_forward(tm_ctx *ctx, const tm_attn *a, tm_tensor *y, tm_tensor *act,
                          tm_attn_state *final, const tm_attn_state *init, const tm_tensor *x,
                          const tm_tensor *start) {
    if (!x || x->ndim != 3) return tm_fail(TM_EINVAL, "attention: x must be [B,T,d]");
    int B = (int)x->shape[0], T = (int)x->shape[1];
    TM_TRY(check_x(a, "x", x, 3, B, T));
    TM_TRY(check_x(a, "y", y, 3, B, T));
    TM_TRY(act_check(a, act, B, T));
    if (!init || init->B != B || (final && final->B != B))
        return tm_fail(TM_EINVAL, "attention: init and final states must hold B = %d streams", B);
    if (start && (start->dtype != TM_I32 || start->ndim != 2 || start->shape[0] != B ||
                  start->shape[1] != T))
        return tm_fail(TM_EINVAL, "attention: start must be i32[%d,%d]", B, T);
    attn_act w;
    act_layout(&a->cfg, B, T, act->data, &w);
    size_t cache = (size_t)B * init->cap * a->cfg.n_kv_heads * a->head_dim;
    memcpy(w.kc, init->k, cache * sizeof(float));
    memcpy(w.vc, init->v, cache * sizeof(float));
    memcpy(w.plen, init->len, (size_t)B * sizeof(int32_t));
    /* Positions count from each stream's episode start. */
    const int32_t *st = start ? start->data : NULL;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            w.start[i] = st ? st[i] : 0;
            w.pos[i] = w.start[i] ? 0 : t == 0 ? init->pos[b] : w.pos[i - 1] + 1;
        }
    TM_TRY(attn_core(ctx, a, y, x, B, T, &w, w.kc, w.vc, init->cap, w.plen, w.start));
    if (final) cache_append(a, final, w.kc, w.vc, w.plen, w.k, w.v, w.pos, w.start, B, T);
    return TM_OK;
}

tm_status tm_attn_backward(tm_ctx *ctx, const tm_attn *a, tm_tensor *dx, const tm_tensor *dy,
                           const tm_tensor *x, const tm_tensor *act) {
    if (!x || x->ndim != 3) return tm_fail(TM_EINVAL, "attention: x must be [B,T,d]");
    int B = (int)x->shape[0], T = (int)x->shape[1];
    TM_TRY(check_x(a, "x", x, 3, B, T));
    TM_TRY(check_x(a, "dy", dy, 3, B, T));
    if (dx) TM_TRY(check_x(a, "dx", dx, 3, B, T));
    TM_TRY(act_check(a, act, B, T));
    size_t need = tm_attn_scratch_floats(&a->cfg, B, T);
    if (ctx->scratch_cap < need)
        return tm_fail(TM_ENOMEM,
                       "attention: backward needs %zu floats of ctx scratch (have %zu); reserve "
                       "tm_attn_scratch_floats() with tm_ctx_reserve at setup",
                       need, ctx->scratch_cap);
    int Hq = a->cfg.n_heads, Hkv = a->cfg.n_kv_heads, dh = a->head_dim, cap = a->cfg.window - 1;
    size_t rows = (size_t)B * T, nq = rows * Hq * dh, nk = rows * Hkv * dh;
    tm_tensor scratch; /* the gradients below accumulate: start from zero */
    TM_TRY(wrap(ctx, &scratch, ctx->scratch, TM_F32, 1, (int64_t)need, 0, 0, 0));
    TM_TRY(tm_op_zero(ctx, &scratch));
    float *datt = ctx->scratch, *dq_rot = datt + nq, *dq = dq_rot + nq, *dk_rot = dq + nq,
          *dk = dk_rot + nk, *dv = dk + nk;
    attn_act w;
    act_layout(&a->cfg, B, T, act->data, &w);
    tm_tensor q, k, v, att, lse, pos, tkc, tvc, tpl, tst, tdatt, tdq_rot, tdq, tdk_rot, tdk, tdv;
    TM_TRY(wrap(ctx, &q, w.q, TM_F32, 4, B, T, Hq, dh));
    TM_TRY(wrap(ctx, &k, w.k, TM_F32, 4, B, T, Hkv, dh));
    TM_TRY(wrap(ctx, &v, w.v, TM_F32, 4, B, T, Hkv, dh));
    TM_TRY(wrap(ctx, &att, w.att, TM_F32, 4, B, T, Hq, dh));
    TM_TRY(wrap(ctx, &lse, w.lse, TM_F32, 3, B, Hq, T, 0));
    TM_TRY(wrap(ctx, &pos, w.pos, TM_I32, 2, B, T, 0, 0));
    TM_TRY(wrap(ctx, &tst, w.start, TM_I32, 2, B, T, 0, 0));
    if (cap > 0) {
        TM_TRY(wrap(ctx, &tkc, w.kc, TM_F32, 4, B, cap, Hkv, dh));
        TM_TRY(wrap(ctx, &tvc, w.vc, TM_F32, 4, B, cap, Hkv, dh));
        TM_TRY(wrap(ctx, &tpl, w.plen, TM_I32, 1, B, 0, 0, 0));
    }
    TM_TRY(wrap(ctx, &tdatt, datt, TM_F32, 4, B, T, Hq, dh));
    TM_TRY(wrap(ctx, &tdq_rot, dq_rot, TM_F32, 4, B, T, Hq, dh));
    TM_TRY(wrap(ctx, &tdq, dq, TM_F32, 4, B, T, Hq, dh));
    TM_TRY(wrap(ctx, &tdk_rot, dk_rot, TM_F32, 4, B, T, Hkv, dh));
    TM_TRY(wrap(ctx, &tdk, dk, TM_F32, 4, B, T, Hkv, dh));
    TM_TRY(wrap(ctx, &tdv, dv, TM_F32, 4, B, T, Hkv, dh));
    tm_tensor att2, datt2, dq2, dk2, dv2;
    TM_TRY(rows_view(&att2, &att));
    TM_TRY(rows_view(&datt2, &tdatt));
    TM_TRY(rows_view(&dq2, &tdq));
    TM_TRY(rows_view(&dk2, &tdk));
    TM_TRY(rows_view(&dv2, &tdv));
    TM_TRY(tm_linear_backward(ctx, &a->o_proj, &datt2, dy, &att2));
    TM_TRY(tm_op_attention_backward(ctx, &tdq_rot, &tdk_rot, &tdv, &tdatt, &att, &lse, &q, &k, &v,
                                    cap > 0 ? &tkc : NULL, cap > 0 ? &tvc : NULL,
                                    cap > 0 ? &tpl : NULL, &tst, 1.0f / sqrtf((float)dh),
                                    a->cfg.window));
    const tm_attn_config *c = &a->cfg;
    TM_TRY(tm_op_rope_scaled_backward(ctx, &tdq, &tdq_rot, &pos, c->rope_theta, c->rope_max_pos,
                                      c->rope_factor));
    TM_TRY(tm_op_rope_scaled_backward(ctx, &tdk, &tdk_rot, &pos, c->rope_theta, c->rope_max_pos,
                                      c->rope_factor));
    TM_TRY(tm_linear_backward(ctx, &a->q_proj, dx, &dq2, x));
    TM_TRY(tm_linear_backward(ctx, &a->k_proj, dx, &dk2, x));
    TM_TRY(tm_linear_backward(ctx, &a->v_proj, dx, &dv2, x));
    return TM_OK;
}
