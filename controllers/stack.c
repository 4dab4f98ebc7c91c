/* The pre-norm residual stack. Definition: stack.h.
 *
 * Acts layout for (B, T), rows = B*T (floats; the layers' int32 blocks sit
 * inside their own act blocks):
 *   per layer l: X_l [rows,d] (the layer's input), N1 [rows,d], R1 [rows],
 *     attention: attn act, H [rows,d] (after the first sub-block), N2
 *                [rows,d], R2 [rows], mlp act
 *     Mamba:     mamba act
 *   X_L [rows,d], RF [rows] (final norm), DRES, DN [rows,d] (backward work)
 * Step workspace (per state, B rows): x, f, n [B,d], rstd [B], mlp act. */
#include "controllers/stack.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ----------------------------------------------------------------- */

static void join(char *out, size_t cap, const char *prefix, const char *name) {
    if (prefix && prefix[0]) snprintf(out, cap, "%s.%s", prefix, name);
    else snprintf(out, cap, "%s", name);
}

static tm_status check_config(const tm_stack_config *c) {
    if (c->d_model <= 0) return tm_fail(TM_EINVAL, "stack: d_model must be > 0 (got %d)", c->d_model);
    if (c->n_layers < 1 || c->n_layers > TM_STACK_MAX_LAYERS)
        return tm_fail(TM_EINVAL, "stack: n_layers must be in 1..%d (got %d)", TM_STACK_MAX_LAYERS,
                       c->n_layers);
    if (c->input != TM_STACK_INPUT_NONE && c->input != TM_STACK_INPUT_VECTOR &&
        c->input != TM_STACK_INPUT_TOKENS)
        return tm_fail(TM_EINVAL, "stack: input must be none, vector or tokens (got %d)", (int)c->input);
    if (c->input == TM_STACK_INPUT_VECTOR && c->d_in <= 0)
        return tm_fail(TM_EINVAL, "stack: d_in must be > 0 for vector input (got %d)", c->d_in);
    if (c->input == TM_STACK_INPUT_TOKENS && c->vocab <= 0)
        return tm_fail(TM_EINVAL, "stack: vocab must be > 0 for token input (got %d)", c->vocab);
    for (int i = 0; i < c->n_layers; i++)
        if (c->layer_kind[i] != TM_STACK_ATTN && c->layer_kind[i] != TM_STACK_MAMBA)
            return tm_fail(TM_EINVAL, "stack: layer_kind[%d] must be attention or mamba (got %d)", i,
                           c->layer_kind[i]);
    return TM_OK;
}

tm_status tm_stack_declare(tm_stack *s, const tm_stack_config *cfg, tm_params *p,
                           const char *prefix) {
    TM_TRY(check_config(cfg));
    tm_stack_config c = *cfg;
    int d = c.d_model;
    c.attn.d_model = d;
    c.mamba.d_model = d;
    c.mlp.d_in = c.mlp.d_out = d;
    tm_stack_layer *layers = calloc((size_t)c.n_layers, sizeof *layers);
    if (!layers) return tm_fail(TM_ENOMEM, "stack: cannot allocate %d layers", c.n_layers);
    memset(s, 0, sizeof *s);
    s->cfg = c;
    s->layers = layers;
    /* Room for prefix.sub at full length: tm_params_declare rejects names
     * over TM_PARAM_NAME_MAX, so nothing is silently cut. */
    char name[2 * TM_PARAM_NAME_MAX + 8], sub[TM_PARAM_NAME_MAX];
    tm_status st = TM_OK;
#define TRY_(expr) do { if ((st = (expr)) != TM_OK) goto fail; } while (0)
    if (c.input == TM_STACK_INPUT_VECTOR) {
        tm_linear_config lc = tm_linear_config_default(c.d_in, d);
        join(name, sizeof name, prefix, "input");
        TRY_(tm_linear_declare(&s->in_proj, &lc, p, name));
    } else if (c.input == TM_STACK_INPUT_TOKENS) {
        tm_embedding_config ec = tm_embedding_config_default(c.vocab, d);
        join(name, sizeof name, prefix, "embed");
        TRY_(tm_embedding_declare(&s->embed, &ec, p, name));
    }
    tm_rmsnorm_config nc = tm_rmsnorm_config_default(d);
    for (int i = 0; i < c.n_layers; i++) {
        tm_stack_layer *L = &layers[i];
        L->kind = (tm_stack_layer_kind)c.layer_kind[i];
#define NAME_(what) (snprintf(sub, sizeof sub, "layers.%d.%s", i, what), join(name, sizeof name, prefix, sub), name)
        TRY_(tm_rmsnorm_declare(&L->norm1, &nc, p, NAME_("norm1")));
        if (L->kind == TM_STACK_ATTN) {
            TRY_(tm_attn_declare(&L->attn, &c.attn, p, NAME_("attn")));
            TRY_(tm_rmsnorm_declare(&L->norm2, &nc, p, NAME_("norm2")));
            TRY_(tm_mlp_declare(&L->mlp, &c.mlp, p, NAME_("mlp")));
        } else {
            TRY_(tm_mamba_declare(&L->mamba, &c.mamba, p, NAME_("mamba")));
        }
        if (c.residual_weights) {
            int64_t one[1] = {1};
            TRY_(tm_params_declare(p, NAME_("res_weight"), 1, one, TM_PARAM_NO_DECAY, &L->res_off));
        }
#undef NAME_
    }
    if (c.final_norm) {
        join(name, sizeof name, prefix, "norm_f");
        TRY_(tm_rmsnorm_declare(&s->norm_f, &nc, p, name));
    }
#undef TRY_
    return TM_OK;
fail:
    free(layers);
    s->layers = NULL;
    return st;
}

void tm_stack_bind(tm_stack *s, const tm_params *p) {
    if (s->cfg.input == TM_STACK_INPUT_VECTOR) tm_linear_bind(&s->in_proj, p);
    if (s->cfg.input == TM_STACK_INPUT_TOKENS) tm_embedding_bind(&s->embed, p);
    for (int i = 0; i < s->cfg.n_layers; i++) {
        tm_stack_layer *L = &s->layers[i];
        tm_rmsnorm_bind(&L->norm1, p);
        if (L->kind == TM_STACK_ATTN) {
            tm_attn_bind(&L->attn, p);
            tm_rmsnorm_bind(&L->norm2, p);
            tm_mlp_bind(&L->mlp, p);
        } else {
            tm_mamba_bind(&L->mamba, p);
        }
        if (s->cfg.residual_weights) {
            L->res_w = tm_params_at(p, L->res_off);
            L->d_res_w = tm_params_grad_at(p, L->res_off);
        }
    }
    if (s->cfg.final_norm) tm_rmsnorm_bind(&s->norm_f, p);
}

void tm_stack_init(tm_stack *s, tm_rng *rng) {
    if (s->cfg.input == TM_STACK_INPUT_VECTOR) tm_linear_init(&s->in_proj, rng);
    if (s->cfg.input == TM_STACK_INPUT_TOKENS) tm_embedding_init(&s->embed, rng);
    for (int i = 0; i < s->cfg.n_layers; i++) {
        tm_stack_layer *L = &s->layers[i];
        tm_rmsnorm_init(&L->norm1);
        if (L->kind == TM_STACK_ATTN) {
            tm_attn_init(&L->attn, rng);
            tm_rmsnorm_init(&L->norm2);
            tm_mlp_init(&L->mlp, rng);
        } else {
            tm_mamba_init(&L->mamba, rng);
        }
        if (L->res_w) L->res_w[0] = 1.0f;
    }
    if (s->cfg.final_norm) tm_rmsnorm_init(&s->norm_f);
}

void tm_stack_free(tm_stack *s) {
    if (!s) return;
    free(s->layers);
    s->layers = NULL;
}

static float res_weight(const tm_stack_layer *L) { return L->res_w ? L->res_w[0] : 1.0f; }

/* ---- state ---------------------------------------------------------------------- */

static size_t step_work_floats(const tm_stack *s, int B) {
    return 3 * (size_t)B * s->cfg.d_model + (size_t)B + tm_mlp_act_floats(&s->cfg.mlp, B, 1);
}

tm_status tm_stack_state_create(const tm_stack *s, int B, tm_stack_state *st) {
    memset(st, 0, sizeof *st);
    if (B <= 0) return tm_fail(TM_EINVAL, "stack state: B must be > 0 (got %d)", B);
    int n = s->cfg.n_layers;
    st->B = B;
    st->attn = calloc((size_t)n, sizeof *st->attn);
    st->mamba = calloc((size_t)n, sizeof *st->mamba);
    st->work = calloc(step_work_floats(s, B), sizeof(float));
    if (!st->attn || !st->mamba || !st->work) {
        tm_stack_state_free(s, st);
        return tm_fail(TM_ENOMEM, "stack state: cannot allocate for %d streams", B);
    }
    for (int i = 0; i < n; i++) {
        const tm_stack_layer *L = &s->layers[i];
        tm_status rc = L->kind == TM_STACK_ATTN ? tm_attn_state_create(&st->attn[i], &L->attn, B)
                                                : tm_mamba_state_create(&st->mamba[i], &L->mamba, B);
        if (rc != TM_OK) {
            tm_stack_state_free(s, st);
            return rc;
        }
    }
    return TM_OK;
}

void tm_stack_state_free(const tm_stack *s, tm_stack_state *st) {
    if (!st) return;
    for (int i = 0; s && i < s->cfg.n_layers; i++) {
        if (st->attn) tm_attn_state_free(&st->attn[i]);
        if (st->mamba) tm_mamba_state_free(&st->mamba[i]);
    }
    free(st->attn), free(st->mamba), free(st->work);
    memset(st, 0, sizeof *st);
}

void tm_stack_state_reset(const tm_stack *s, tm_stack_state *st, const int32_t *mask) {
    for (int i = 0; i < s->cfg.n_layers; i++) {
        const tm_stack_layer *L = &s->layers[i];
        if (L->kind == TM_STACK_ATTN) tm_attn_state_reset(&L->attn, &st->attn[i], mask);
        else tm_mamba_state_reset(&L->mamba, &st->mamba[i], mask);
    }
}

void tm_stack_state_copy(const tm_stack *s, tm_stack_state *dst, const tm_stack_state *src) {
    TM_ASSERT(dst->B == src->B);
    for (int i = 0; i < s->cfg.n_layers; i++) {
        const tm_stack_layer *L = &s->layers[i];
        if (L->kind == TM_STACK_ATTN) tm_attn_state_copy(&L->attn, &dst->attn[i], &src->attn[i]);
        else tm_mamba_state_copy(&L->mamba, &dst->mamba[i], &src->mamba[i]);
    }
}

/* Per-layer stream sizes in floats and int32s (both 4 bytes). */
static size_t attn_row(const tm_stack_layer *L) {
    return (size_t)L->attn.cfg.n_kv_heads * L->attn.head_dim;
}
static size_t layer_stream_words(const tm_stack_layer *L) {
    if (L->kind == TM_STACK_ATTN) return 2 * (size_t)(L->attn.cfg.window - 1) * attn_row(L) + 2;
    size_t di = (size_t)L->mamba.d_inner;
    return di * (size_t)(L->mamba.cfg.d_conv - 1) + di * (size_t)L->mamba.cfg.d_state + 1;
}

size_t tm_stack_state_stream_bytes(const tm_stack *s) {
    size_t words = 0;
    for (int i = 0; i < s->cfg.n_layers; i++) words += layer_stream_words(&s->layers[i]);
    return words * 4;
}

void tm_stack_state_save_stream(const tm_stack *s, const tm_stack_state *st, int b, void *dst) {
    unsigned char *o = dst;
    for (int i = 0; i < s->cfg.n_layers; i++) {
        const tm_stack_layer *L = &s->layers[i];
        if (L->kind == TM_STACK_ATTN) {
            const tm_attn_state *a = &st->attn[i];
            size_t row = attn_row(L), cap = (size_t)a->cap, len = (size_t)a->len[b];
            for (int which = 0; which < 2; which++) {
                const float *src = (which ? a->v : a->k) + (size_t)b * cap * row;
                memset(o, 0, (cap - len) * row * 4); /* rows outside the window: canonical zeros */
                memcpy(o + (cap - len) * row * 4, src + (cap - len) * row, len * row * 4);
                o += cap * row * 4;
            }
            memcpy(o, &a->len[b], 4), o += 4;
            memcpy(o, &a->pos[b], 4), o += 4;
        } else {
            const tm_mamba_state *m = &st->mamba[i];
            size_t di = (size_t)L->mamba.d_inner, nc = di * (size_t)(L->mamba.cfg.d_conv - 1),
                   nh = di * (size_t)L->mamba.cfg.d_state;
            memcpy(o, m->conv + (size_t)b * nc, nc * 4), o += nc * 4;
            memcpy(o, m->h + (size_t)b * nh, nh * 4), o += nh * 4;
            int32_t pos = m->pos ? m->pos[b] : 0;
            memcpy(o, &pos, 4), o += 4;
        }
    }
}

static int all_finite(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, p + 4 * i, 4);
        if (!isfinite(v)) return 0;
    }
    return 1;
}

tm_status tm_stack_state_check_stream(const tm_stack *s, const void *src) {
    const unsigned char *o = src;
    for (int i = 0; i < s->cfg.n_layers; i++) {
        const tm_stack_layer *L = &s->layers[i];
        int32_t len, pos;
        if (L->kind == TM_STACK_ATTN) {
            size_t cap = (size_t)(L->attn.cfg.window - 1), n = 2 * cap * attn_row(L);
            if (!all_finite(o, n))
                return tm_fail(TM_ENUMERIC, "stack state: layer %d's cached keys/values hold a non-finite value", i);
            o += n * 4;
            memcpy(&len, o, 4), memcpy(&pos, o + 4, 4), o += 8;
            if (len < 0 || (size_t)len > cap || pos < len)
                return tm_fail(TM_EINVAL,
                               "stack state: layer %d's window length %d must be in 0..%zu and <= position %d",
                               i, (int)len, cap, (int)pos);
        } else {
            size_t n = layer_stream_words(L) - 1;
            if (!all_finite(o, n))
                return tm_fail(TM_ENUMERIC, "stack state: layer %d's Mamba state holds a non-finite value", i);
            o += n * 4;
            memcpy(&pos, o, 4), o += 4;
            if (pos < 0)
                return tm_fail(TM_EINVAL, "stack state: layer %d's position must be >= 0 (got %d)", i, (int)pos);
        }
    }
    return TM_OK;
}

void tm_stack_state_load_stream(const tm_stack *s, tm_stack_state *st, int b, const void *src) {
    const unsigned char *o = src;
    for (int i = 0; i < s->cfg.n_layers; i++) {
        const tm_stack_layer *L = &s->layers[i];
        if (L->kind == TM_STACK_ATTN) {
            tm_attn_state *a = &st->attn[i];
            size_t n = (size_t)a->cap * attn_row(L);
            memcpy(a->k + (size_t)b * n, o, n * 4), o += n * 4;
            memcpy(a->v + (size_t)b * n, o, n * 4), o += n * 4;
            memcpy(&a->len[b], o, 4), o += 4;
            memcpy(&a->pos[b], o, 4), o += 4;
        } else {
            tm_mamba_state *m = &st->mamba[i];
            size_t di = (size_t)L->mamba.d_inner, nc = di * (size_t)(L->mamba.cfg.d_conv - 1),
                   nh = di * (size_t)L->mamba.cfg.d_state;
            memcpy(m->conv + (size_t)b * nc, o, nc * 4), o += nc * 4;
            memcpy(m->h + (size_t)b * nh, o, nh * 4), o += nh * 4;
            if (m->pos) memcpy(&m->pos[b], o, 4);
            o += 4;
        }
    }
}

/* ---- acts ----------------------------------------------------------------------- */

typedef struct {
    float *x, *n1, *r1, *act, *h, *n2, *r2, *mlp_act;
} layer_acts;

typedef struct {
    float *xL, *rf, *dres, *dn;
} tail_acts;

/* Lays the acts out over base (NULL: just counts); returns the floats. */
static size_t acts_layout(const tm_stack *s, int B, int T, float *base, layer_acts *la,
                          tail_acts *tail) {
    size_t rows = (size_t)B * T, d = (size_t)s->cfg.d_model, off = 0;
#define TAKE_(n) (off += (n), base ? base + off - (n) : NULL)
    for (int i = 0; i < s->cfg.n_layers; i++) {
        const tm_stack_layer *L = &s->layers[i];
        layer_acts w = {0};
        w.x = TAKE_(rows * d);
        w.n1 = TAKE_(rows * d);
        w.r1 = TAKE_(rows);
        if (L->kind == TM_STACK_ATTN) {
            w.act = TAKE_(tm_attn_act_floats(&L->attn.cfg, B, T));
            w.h = TAKE_(rows * d);
            w.n2 = TAKE_(rows * d);
            w.r2 = TAKE_(rows);
            w.mlp_act = TAKE_(tm_mlp_act_floats(&L->mlp.cfg, B, T));
        } else {
            w.act = TAKE_(tm_mamba_act_floats(&L->mamba.cfg, B, T));
        }
        if (la) la[i] = w;
    }
    tail_acts t;
    t.xL = TAKE_(rows * d);
    t.rf = TAKE_(rows);
    t.dres = TAKE_(rows * d);
    t.dn = TAKE_(rows * d);
#undef TAKE_
    if (tail) *tail = t;
    return off;
}

size_t tm_stack_acts_floats(const tm_stack *s, int B, int T) {
    return acts_layout(s, B, T, NULL, NULL, NULL);
}

tm_status tm_stack_acts_create(const tm_stack *s, int B, int T, tm_stack_acts *a) {
    memset(a, 0, sizeof *a);
    if (B <= 0 || T <= 0) return tm_fail(TM_EINVAL, "stack acts: B and T must be > 0 (got %d, %d)", B, T);
    a->floats = tm_stack_acts_floats(s, B, T);
    a->buf = calloc(a->floats, sizeof(float));
    if (!a->buf) return tm_fail(TM_ENOMEM, "stack acts: cannot allocate %zu floats", a->floats);
    a->B = B, a->T = T;
    return TM_OK;
}

void tm_stack_acts_free(tm_stack_acts *a) {
    if (!a) return;
    free(a->buf);
    memset(a, 0, sizeof *a);
}

size_t tm_stack_scratch_floats(const tm_stack *s, const tm_ctx *ctx, int B, int T) {
    size_t need = 0;
    for (int i = 0; i < s->cfg.n_layers; i++) {
        const tm_stack_layer *L = &s->layers[i];
        size_t n = L->kind == TM_STACK_ATTN ? tm_attn_scratch_floats(&L->attn.cfg, B, T)
                                            : tm_mamba_scratch_floats(ctx, &L->mamba.cfg, B, T);
        if (L->kind == TM_STACK_ATTN) {
            size_t m = tm_mlp_scratch_floats(&L->mlp.cfg, B, T);
            if (m > n) n = m;
        }
        if (n > need) need = n;
    }
    return need;
}

/* ---- the computation -------------------------------------------------------------- */

static tm_status wrap(const tm_ctx *ctx, tm_tensor *t, void *p, int ndim, int64_t d0, int64_t d1,
                      int64_t d2) {
    int64_t sh[3] = {d0, d1, d2};
    return tm_tensor_wrap(t, p, TM_F32, ctx->device, ndim, sh);
}

/* dst = src (same shape): the op interface has no copy, so zero + axpy. */
static tm_status copy_into(tm_ctx *ctx, tm_tensor *dst, const tm_tensor *src) {
    TM_TRY(tm_op_zero(ctx, dst));
    return tm_op_axpy(ctx, dst, 1.0f, src);
}

/* Checks x against the input kind: [B, (T,) width] f32 or [B, (T)] i32. */
static tm_status check_input(const tm_stack *s, const tm_tensor *x, int seq, int *B, int *T) {
    char buf[96];
    *B = *T = 0;
    int tokens = s->cfg.input == TM_STACK_INPUT_TOKENS;
    int width = s->cfg.input == TM_STACK_INPUT_VECTOR ? s->cfg.d_in : s->cfg.d_model;
    int ndim = (tokens ? 1 : 2) + seq;
    int ok = x && x->dtype == (tokens ? TM_I32 : TM_F32) && x->ndim == ndim &&
             (tokens || x->shape[ndim - 1] == width) && x->shape[0] > 0 && (!seq || x->shape[1] > 0);
    if (!ok) {
        if (tokens)
            return tm_fail(TM_EINVAL, "stack: x must be i32 token ids [B%s] (got %s)", seq ? ",T" : "",
                           x ? tm_tensor_describe(x, buf, sizeof buf) : "NULL");
        return tm_fail(TM_EINVAL, "stack: x must be f32 [B%s,%d] (got %s)", seq ? ",T" : "", width,
                       x ? tm_tensor_describe(x, buf, sizeof buf) : "NULL");
    }
    *B = (int)x->shape[0];
    *T = seq ? (int)x->shape[1] : 1;
    return TM_OK;
}

static tm_status check_out(const tm_stack *s, const char *what, const tm_tensor *y, int seq, int B,
                           int T) {
    char buf[96];
    int ndim = 2 + seq;
    int ok = y && y->dtype == TM_F32 && y->ndim == ndim && y->shape[0] == B &&
             (!seq || y->shape[1] == T) && y->shape[ndim - 1] == s->cfg.d_model;
    if (!ok)
        return tm_fail(TM_EINVAL, "stack: %s must be f32 [%d%s,%d] (got %s)", what, B, seq ? ",T" : "",
                       s->cfg.d_model, y ? tm_tensor_describe(y, buf, sizeof buf) : "NULL");
    return TM_OK;
}

/* x0 = input(x), x0 shaped like x's rows with width d. */
static tm_status input_forward(tm_ctx *ctx, const tm_stack *s, tm_tensor *x0, const tm_tensor *x) {
    switch (s->cfg.input) {
    case TM_STACK_INPUT_VECTOR: return tm_linear_forward(ctx, &s->in_proj, x0, x);
    case TM_STACK_INPUT_TOKENS: return tm_embedding_forward(ctx, &s->embed, x0, x);
    default: return copy_into(ctx, x0, x);
    }
}

tm_status tm_stack_step(tm_ctx *ctx, const tm_stack *s, tm_stack_state *st, tm_tensor *y,
                        const tm_tensor *x) {
    int B, T, d = s->cfg.d_model;
    TM_TRY(check_input(s, x, 0, &B, &T));
    if (B != st->B) return tm_fail(TM_EINVAL, "stack: x holds %d streams, the state %d", B, st->B);
    TM_TRY(check_out(s, "y", y, 0, B, 1));
    float *base = st->work;
    tm_tensor xa, xb, n, rstd, mact;
    TM_TRY(wrap(ctx, &xa, base, 2, B, d, 0));
    TM_TRY(wrap(ctx, &xb, base + (size_t)B * d, 2, B, d, 0));
    TM_TRY(wrap(ctx, &n, base + 2 * (size_t)B * d, 2, B, d, 0));
    TM_TRY(wrap(ctx, &rstd, base + 3 * (size_t)B * d, 1, B, 0, 0));
    TM_TRY(wrap(ctx, &mact, base + 3 * (size_t)B * d + B, 1,
                (int64_t)tm_mlp_act_floats(&s->cfg.mlp, B, 1), 0, 0));
    /* cur holds the residual stream, nxt receives the next one; they swap. */
    tm_tensor *cur = &xa, *nxt = &xb, *tmp;
    TM_TRY(input_forward(ctx, s, cur, x));
    for (int i = 0; i < s->cfg.n_layers; i++) {
        const tm_stack_layer *L = &s->layers[i];
        float a = res_weight(L);
        TM_TRY(tm_rmsnorm_forward(ctx, &L->norm1, &n, &rstd, cur));
        if (L->kind == TM_STACK_ATTN) {
            TM_TRY(tm_attn_step(ctx, &L->attn, &st->attn[i], nxt, &n));
            TM_TRY(tm_op_axpy(ctx, nxt, a, cur));
            tmp = cur, cur = nxt, nxt = tmp;
            TM_TRY(tm_rmsnorm_forward(ctx, &L->norm2, &n, &rstd, cur));
            TM_TRY(tm_mlp_forward(ctx, &L->mlp, nxt, &mact, &n));
        } else {
            TM_TRY(tm_mamba_step(ctx, &L->mamba, &st->mamba[i], nxt, &n));
        }
        TM_TRY(tm_op_axpy(ctx, nxt, a, cur));
        tmp = cur, cur = nxt, nxt = tmp;
    }
    if (s->cfg.final_norm) return tm_rmsnorm_forward(ctx, &s->norm_f, y, &rstd, cur);
    return copy_into(ctx, y, cur);
}

static tm_status acts_check(const tm_stack *s, const tm_stack_acts *a, int B, int T) {
    size_t need = tm_stack_acts_floats(s, B, T);
    if (!a || !a->buf || a->floats < need)
        return tm_fail(TM_EINVAL, "stack: acts hold %zu floats, (B %d, T %d) needs %zu; create them for at least (B, T)",
                       a ? a->floats : 0, B, T, need);
    return TM_OK;
}

tm_status tm_stack_forward(tm_ctx *ctx, const tm_stack *s, tm_tensor *y, tm_stack_acts *a,
                           tm_stack_state *final, const tm_stack_state *init, const tm_tensor *x,
                           const tm_tensor *start) {
    int B, T, d = s->cfg.d_model;
    TM_TRY(check_input(s, x, 1, &B, &T));
    TM_TRY(check_out(s, "y", y, 1, B, T));
    TM_TRY(acts_check(s, a, B, T));
    if (!init || init->B != B || (final && final->B != B))
        return tm_fail(TM_EINVAL, "stack: init and final states must hold B = %d streams", B);
    if (start && (start->dtype != TM_I32 || start->ndim != 2 || start->shape[0] != B ||
                  start->shape[1] != T))
        return tm_fail(TM_EINVAL, "stack: start must be i32 [%d,%d]", B, T);
    layer_acts la[TM_STACK_MAX_LAYERS];
    tail_acts tail;
    acts_layout(s, B, T, a->buf, la, &tail);
    int64_t rows = (int64_t)B * T;
    tm_tensor X0;
    TM_TRY(wrap(ctx, &X0, s->cfg.n_layers > 0 ? la[0].x : tail.xL, 3, B, T, d));
    TM_TRY(input_forward(ctx, s, &X0, x));
    for (int i = 0; i < s->cfg.n_layers; i++) {
        const tm_stack_layer *L = &s->layers[i];
        const layer_acts *w = &la[i];
        float av = res_weight(L);
        tm_tensor X, N1, R1, ACT, XN;
        TM_TRY(wrap(ctx, &X, w->x, 3, B, T, d));
        TM_TRY(wrap(ctx, &N1, w->n1, 3, B, T, d));
        TM_TRY(wrap(ctx, &R1, w->r1, 1, rows, 0, 0));
        TM_TRY(wrap(ctx, &XN, i + 1 < s->cfg.n_layers ? la[i + 1].x : tail.xL, 3, B, T, d));
        TM_TRY(tm_rmsnorm_forward(ctx, &L->norm1, &N1, &R1, &X));
        if (L->kind == TM_STACK_ATTN) {
            tm_tensor H, N2, R2, MACT;
            TM_TRY(wrap(ctx, &ACT, w->act, 1, (int64_t)tm_attn_act_floats(&L->attn.cfg, B, T), 0, 0));
            TM_TRY(wrap(ctx, &H, w->h, 3, B, T, d));
            TM_TRY(wrap(ctx, &N2, w->n2, 3, B, T, d));
            TM_TRY(wrap(ctx, &R2, w->r2, 1, rows, 0, 0));
            TM_TRY(wrap(ctx, &MACT, w->mlp_act, 1, (int64_t)tm_mlp_act_floats(&L->mlp.cfg, B, T), 0, 0));
            TM_TRY(tm_attn_forward(ctx, &L->attn, &H, &ACT, final ? &final->attn[i] : NULL,
                                   &init->attn[i], &N1, start));
            TM_TRY(tm_op_axpy(ctx, &H, av, &X));
            TM_TRY(tm_rmsnorm_forward(ctx, &L->norm2, &N2, &R2, &H));
            TM_TRY(tm_mlp_forward(ctx, &L->mlp, &XN, &MACT, &N2));
            TM_TRY(tm_op_axpy(ctx, &XN, av, &H));
        } else {
            TM_TRY(wrap(ctx, &ACT, w->act, 1, (int64_t)tm_mamba_act_floats(&L->mamba.cfg, B, T), 0, 0));
            TM_TRY(tm_mamba_forward(ctx, &L->mamba, &XN, &ACT, final ? &final->mamba[i] : NULL,
                                    &init->mamba[i], &N1, start));
            TM_TRY(tm_op_axpy(ctx, &XN, av, &X));
        }
    }
    tm_tensor XL, RF;
    TM_TRY(wrap(ctx, &XL, tail.xL, 3, B, T, d));
    TM_TRY(wrap(ctx, &RF, tail.rf, 1, rows, 0, 0));
    if (s->cfg.final_norm) return tm_rmsnorm_forward(ctx, &s->norm_f, y, &RF, &XL);
    return copy_into(ctx, y, &XL);
}

/* d_res_w += sum(dres * x), as a [1,n] x [n,1] product accumulated into the
 * gradient (beta 1), so it runs wherever the tensors live. */
static tm_status res_weight_backward(tm_ctx *ctx, const tm_stack_layer *L, const tm_tensor *dres,
                                     const tm_tensor *x) {
    if (!L->d_res_w) return TM_OK;
    int64_t n = tm_tensor_numel(x);
    tm_tensor g, a, b;
    TM_TRY(wrap(ctx, &g, L->d_res_w, 2, 1, 1, 0));
    TM_TRY(wrap(ctx, &a, dres->data, 2, 1, n, 0));
    TM_TRY(wrap(ctx, &b, x->data, 2, 1, n, 0));
    return tm_op_matmul(ctx, &g, &a, &b, 0, 1, 1.0f, 1.0f);
}

/* One residual sub-block backward: given dres = dL/d(a x + f(norm x)),
 * runs f's backward (via the callback's layer) and leaves dL/dx in dres. */
typedef enum { SUB_ATTN, SUB_MLP, SUB_MAMBA } sub_kind;

static tm_status sub_backward(tm_ctx *ctx, const tm_stack_layer *L, sub_kind kind, tm_tensor *dres,
                              tm_tensor *dn, const tm_tensor *x, const tm_tensor *nx,
                              const tm_tensor *r, const tm_tensor *act) {
    TM_TRY(res_weight_backward(ctx, L, dres, x));
    TM_TRY(tm_op_zero(ctx, dn));
    switch (kind) {
    case SUB_ATTN: TM_TRY(tm_attn_backward(ctx, &L->attn, dn, dres, nx, act)); break;
    case SUB_MLP: TM_TRY(tm_mlp_backward(ctx, &L->mlp, dn, dres, nx, act)); break;
    case SUB_MAMBA: TM_TRY(tm_mamba_backward(ctx, &L->mamba, dn, NULL, dres, nx, act)); break;
    }
    float av = res_weight(L);
    if (av != 1.0f) TM_TRY(tm_op_scale(ctx, dres, av));
    const tm_rmsnorm *norm = kind == SUB_MLP ? &L->norm2 : &L->norm1;
    return tm_rmsnorm_backward(ctx, norm, dres, dn, x, r);
}

tm_status tm_stack_backward(tm_ctx *ctx, const tm_stack *s, tm_tensor *dx, const tm_tensor *dy,
                            const tm_tensor *x, tm_stack_acts *a) {
    int B, T, d = s->cfg.d_model;
    TM_TRY(check_input(s, x, 1, &B, &T));
    TM_TRY(check_out(s, "dy", dy, 1, B, T));
    TM_TRY(acts_check(s, a, B, T));
    if (dx && s->cfg.input != TM_STACK_INPUT_TOKENS) {
        char buf[96];
        if (dx->dtype != TM_F32 || !tm_tensor_same_shape(dx, x))
            return tm_fail(TM_EINVAL, "stack: dx must be shaped like x (got %s)",
                           tm_tensor_describe(dx, buf, sizeof buf));
    }
    size_t need = tm_stack_scratch_floats(s, ctx, B, T);
    if (ctx->scratch_cap < need)
        return tm_fail(TM_ENOMEM, "stack: backward needs %zu floats of ctx scratch (have %zu); reserve "
                       "tm_stack_scratch_floats() with tm_ctx_reserve at setup", need, ctx->scratch_cap);
    layer_acts la[TM_STACK_MAX_LAYERS];
    tail_acts tail;
    acts_layout(s, B, T, a->buf, la, &tail);
    int64_t rows = (int64_t)B * T;
    tm_tensor DRES, DN, XL, RF;
    TM_TRY(wrap(ctx, &DRES, tail.dres, 3, B, T, d));
    TM_TRY(wrap(ctx, &DN, tail.dn, 3, B, T, d));
    TM_TRY(wrap(ctx, &XL, tail.xL, 3, B, T, d));
    TM_TRY(wrap(ctx, &RF, tail.rf, 1, rows, 0, 0));
    TM_TRY(tm_op_zero(ctx, &DRES));
    if (s->cfg.final_norm) TM_TRY(tm_rmsnorm_backward(ctx, &s->norm_f, &DRES, dy, &XL, &RF));
    else TM_TRY(tm_op_axpy(ctx, &DRES, 1.0f, dy));
    for (int i = s->cfg.n_layers - 1; i >= 0; i--) {
        const tm_stack_layer *L = &s->layers[i];
        const layer_acts *w = &la[i];
        tm_tensor X, N1, R1, ACT;
        TM_TRY(wrap(ctx, &X, w->x, 3, B, T, d));
        TM_TRY(wrap(ctx, &N1, w->n1, 3, B, T, d));
        TM_TRY(wrap(ctx, &R1, w->r1, 1, rows, 0, 0));
        if (L->kind == TM_STACK_ATTN) {
            tm_tensor H, N2, R2, MACT;
            TM_TRY(wrap(ctx, &ACT, w->act, 1, (int64_t)tm_attn_act_floats(&L->attn.cfg, B, T), 0, 0));
            TM_TRY(wrap(ctx, &H, w->h, 3, B, T, d));
            TM_TRY(wrap(ctx, &N2, w->n2, 3, B, T, d));
            TM_TRY(wrap(ctx, &R2, w->r2, 1, rows, 0, 0));
            TM_TRY(wrap(ctx, &MACT, w->mlp_act, 1, (int64_t)tm_mlp_act_floats(&L->mlp.cfg, B, T), 0, 0));
            TM_TRY(sub_backward(ctx, L, SUB_MLP, &DRES, &DN, &H, &N2, &R2, &MACT));
            TM_TRY(sub_backward(ctx, L, SUB_ATTN, &DRES, &DN, &X, &N1, &R1, &ACT));
        } else {
            TM_TRY(wrap(ctx, &ACT, w->act, 1, (int64_t)tm_mamba_act_floats(&L->mamba.cfg, B, T), 0, 0));
            TM_TRY(sub_backward(ctx, L, SUB_MAMBA, &DRES, &DN, &X, &N1, &R1, &ACT));
        }
    }
    switch (s->cfg.input) {
    case TM_STACK_INPUT_VECTOR: return tm_linear_backward(ctx, &s->in_proj, dx, &DRES, x);
    case TM_STACK_INPUT_TOKENS: return tm_embedding_backward(ctx, &s->embed, &DRES, x);
    default: return dx ? tm_op_axpy(ctx, dx, 1.0f, &DRES) : TM_OK;
    }
}
