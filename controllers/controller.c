/* The controller interface: kind names, defaults, validation, the config
 * table, argument checks and dispatch to each kind's vtable. Definition:
 * controller.h; shared spec controllers.md. */
#include "controllers/controller.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/kinds.h"
#include "core/strsim.h"

/* Indexed by tm_controller_kind. */
static const tm_controller_vtable *const vtables[TM_CONTROLLER_KIND_COUNT] = {
    [TM_CONTROLLER_TRANSFORMER] = &tm_controller_transformer_vtable,
    [TM_CONTROLLER_MAMBA] = &tm_controller_mamba_vtable,
    [TM_CONTROLLER_MAMBA_DUALMEM] = &tm_controller_mamba_dualmem_vtable,
    [TM_CONTROLLER_HYBRID] = &tm_controller_hybrid_vtable,
};

static const char *const kind_names[] = {"transformer", "mamba", "mamba_dualmem", "hybrid", NULL};
static const char *const input_names[] = {"vector", "tokens", NULL};     /* = tm_input_kind */
static const char *const mlp_names[] = {"gelu", "swiglu", NULL};         /* = tm_mlp_kind */
static const char *const policy_names[] = {"ring", "ot", NULL};          /* = tm_miras_write_policy */

const char *tm_controller_kind_name(tm_controller_kind k) {
    return (unsigned)k < TM_CONTROLLER_KIND_COUNT ? kind_names[k] : "unknown";
}

tm_status tm_controller_kind_parse(const char *name, tm_controller_kind *out) {
    for (int k = 0; k < TM_CONTROLLER_KIND_COUNT; k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *out = (tm_controller_kind)k;
            return TM_OK;
        }
    char hint[256];
    tm_suggest_text(hint, sizeof hint, name ? name : "", "", kind_names, TM_CONTROLLER_KIND_COUNT, 3, 1);
    if (!hint[0])
        tm_suggest_text(hint, sizeof hint, name ? name : "", "", kind_names, TM_CONTROLLER_KIND_COUNT, 3, 0);
    return tm_fail(TM_EINVAL, "controller: unknown kind '%s'%s", name ? name : "(null)", hint);
}

/* DualTierMiras defaults as memory/miras.h documents them. This mirrors
 * tm_miras_config_default(d), which lives in memory/miras.c (not on this
 * branch yet): the lead replaces this with that call when both land. */
static tm_miras_config miras_defaults(int d) {
    tm_miras_config c;
    memset(&c, 0, sizeof c);
    c.d_model = d;
    c.mem_slots = 64;
    c.n_heads = 1;
    c.lr_fast = 1.0f, c.lr_deep = 0.5f;
    c.temperature = 0.1f;
    c.surprise_threshold = 0.5f;
    c.use_decay = 0, c.decay_rate = 0.999f;
    c.use_sparse_attention = 0, c.top_k_retrieval = 8;
    c.use_adaptive_retrieval = 1, c.use_query_proj = 1;
    c.use_memory_compression = 0, c.compression_ratio = 0.5f;
    c.write_policy = TM_MIRAS_RING;
    c.consolidate_every = 0;
    c.sinkhorn_eps = 0.05f, c.sinkhorn_iters = 50;
    c.max_B = 64;
    return c;
}

/* Small sizes that suit RL policy cores; the hybrid's 8 layers give one
 * attention layer (7) with the TransXSSM period 8 / offset 7. */
tm_controller_config tm_controller_config_default(tm_controller_kind kind, int d_in) {
    tm_controller_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.d_model = 128;
    c.n_layers = kind == TM_CONTROLLER_HYBRID ? 8 : 2;
    c.input = TM_INPUT_VECTOR;
    c.d_in = d_in;
    c.vocab = 0;
    c.dropout = 0.0f;
    c.n_heads = 4, c.n_kv_heads = 4;
    c.context = 256;
    c.mlp = TM_MLP_GELU;
    c.rope_theta = TM_ROPE_THETA;
    c.rope_dynamic = 0;
    c.max_position_embeddings = 2048;
    c.rope_factor = 2.0f;
    c.expand = 2, c.d_state = 16, c.d_conv = 4, c.dt_rank = 0;
    c.attn_layer_period = 8, c.attn_layer_offset = 7;
    /* TransXSSM's options are on for the hybrid; the plain kinds are the
     * spec's plain stacks. */
    c.unified_rope = kind == TM_CONTROLLER_HYBRID;
    c.residual_weights = kind == TM_CONTROLLER_HYBRID;
    c.miras = miras_defaults(c.d_model);
    c.use_memory_residual = 1;
    c.use_kv_cache = 0;
    c.kv = tm_kvcache_config_default(c.d_model, c.d_model);
    return c;
}

static int attn_layer_count(const tm_controller_config *c) {
    switch (c->kind) {
    case TM_CONTROLLER_TRANSFORMER: return c->n_layers;
    case TM_CONTROLLER_HYBRID: {
        if (c->attn_layer_period <= 0) return 0;
        int n = 0;
        for (int i = 0; i < c->n_layers; i++) n += i % c->attn_layer_period == c->attn_layer_offset;
        return n;
    }
    default: return 0;
    }
}

#define BAD(...) return tm_fail(TM_EINVAL, __VA_ARGS__)

tm_status tm_controller_config_validate(const tm_controller_config *c) {
    if (!c) BAD("controller: config must not be NULL");
    if ((unsigned)c->kind >= TM_CONTROLLER_KIND_COUNT) BAD("controller: kind must be 0..%d (got %d)", TM_CONTROLLER_KIND_COUNT - 1, (int)c->kind);
    const char *kn = kind_names[c->kind];
    if (c->d_model <= 0) BAD("controller %s: d_model must be > 0 (got %d)", kn, c->d_model);
    if (c->n_layers < 1 || c->n_layers > TM_STACK_MAX_LAYERS)
        BAD("controller %s: n_layers must be in 1..%d (got %d)", kn, TM_STACK_MAX_LAYERS, c->n_layers);
    if (c->input != TM_INPUT_VECTOR && c->input != TM_INPUT_TOKENS)
        BAD("controller %s: input must be vector or tokens (got %d)", kn, (int)c->input);
    if (c->input == TM_INPUT_VECTOR && c->d_in <= 0)
        BAD("controller %s: d_in must be > 0 for vector input (got %d)", kn, c->d_in);
    if (c->input == TM_INPUT_TOKENS && c->vocab <= 0)
        BAD("controller %s: vocab must be > 0 for token input (got %d)", kn, c->vocab);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        BAD("controller %s: dropout must be in [0, 1) (got %g)", kn, (double)c->dropout);
    if (c->dropout > 0.0f)
        return tm_fail(TM_ENOTIMPL, "controller %s: dropout is not implemented yet (got dropout %g; use 0)",
                       kn, (double)c->dropout);
    if (c->kind == TM_CONTROLLER_HYBRID) {
        if (c->attn_layer_period < 1)
            BAD("controller %s: attn_layer_period must be >= 1 (got %d)", kn, c->attn_layer_period);
        if (c->attn_layer_offset < 0 || c->attn_layer_offset >= c->attn_layer_period)
            BAD("controller %s: attn_layer_offset must be in 0..attn_layer_period-1 = %d (got %d)", kn,
                c->attn_layer_period - 1, c->attn_layer_offset);
    } else {
        if (c->unified_rope) BAD("controller %s: unified_rope applies to the hybrid only (got 1)", kn);
        if (c->rope_dynamic) BAD("controller %s: rope_dynamic applies to the hybrid only (got 1)", kn);
    }
    int attn = attn_layer_count(c), mamba = c->n_layers - attn;
    if (attn > 0) {
        if (c->n_heads <= 0) BAD("controller %s: n_heads must be > 0 (got %d)", kn, c->n_heads);
        if (c->d_model % c->n_heads != 0)
            BAD("controller %s: d_model must be a multiple of n_heads (got %d, %d)", kn, c->d_model, c->n_heads);
        if ((c->d_model / c->n_heads) % 2 != 0)
            BAD("controller %s: the head dim d_model/n_heads must be even for RoPE (got %d)", kn,
                c->d_model / c->n_heads);
        if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads != 0)
            BAD("controller %s: n_kv_heads must be > 0 and divide n_heads %d (got %d)", kn, c->n_heads,
                c->n_kv_heads);
        if (c->context < 1) BAD("controller %s: context must be >= 1 (got %d)", kn, c->context);
        if (c->mlp != TM_MLP_GELU && c->mlp != TM_MLP_SWIGLU)
            BAD("controller %s: mlp must be gelu or swiglu (got %d)", kn, (int)c->mlp);
    }
    if (attn > 0 || c->unified_rope) {
        if (!(c->rope_theta > 1.0f) || !isfinite(c->rope_theta))
            BAD("controller %s: rope_theta must be finite and > 1 (got %g)", kn, (double)c->rope_theta);
    }
    if (c->rope_dynamic) {
        if (c->max_position_embeddings < 1)
            BAD("controller %s: max_position_embeddings must be >= 1 (got %d)", kn, c->max_position_embeddings);
        if (!(c->rope_factor > 1.0f) || !isfinite(c->rope_factor))
            BAD("controller %s: rope_factor must be finite and > 1 (got %g)", kn, (double)c->rope_factor);
    }
    if (mamba > 0) {
        if (c->expand < 1) BAD("controller %s: expand must be >= 1 (got %d)", kn, c->expand);
        if (c->d_state < 1 || c->d_state > 256)
            BAD("controller %s: d_state must be in 1..256 (got %d)", kn, c->d_state);
        if (c->d_conv < 1) BAD("controller %s: d_conv must be >= 1 (got %d)", kn, c->d_conv);
        if (c->dt_rank < 0) BAD("controller %s: dt_rank must be >= 0, 0 = ceil(d_model/16) (got %d)", kn, c->dt_rank);
        if (c->unified_rope && c->d_state % 2 != 0)
            BAD("controller %s: d_state must be even for unified_rope (got %d)", kn, c->d_state);
    }
    if (c->kind == TM_CONTROLLER_MAMBA_DUALMEM && c->use_kv_cache) {
        tm_kvcache_config kv = c->kv;
        kv.key_dim = kv.value_dim = c->d_model;
        TM_TRY(tm_kvcache_config_validate(&kv));
    }
    /* miras.* are checked by tm_miras_declare when mamba_dualmem is created. */
    return TM_OK;
}
#undef BAD

/* ---- the config table ------------------------------------------------------------ */

#define CC tm_controller_config
static const tm_config_field fields[] = {
    TM_CFG_ENUM(CC, "kind", kind, kind_names, "transformer", "controller kind"),
    TM_CFG_INT(CC, "d_model", d_model, 1, 65536, "128", "feature width d"),
    TM_CFG_INT(CC, "n_layers", n_layers, 1, TM_STACK_MAX_LAYERS, "2", "layers (hybrid default 8)"),
    TM_CFG_ENUM(CC, "input", input, input_names, "vector", "input kind: vectors (linear projection) or token ids (embedding)"),
    TM_CFG_INT(CC, "d_in", d_in, 0, 1 << 24, "0", "vector input width (0 = the environment's)"),
    TM_CFG_INT(CC, "vocab", vocab, 0, 1 << 24, "0", "token input: ids in [0, vocab)"),
    TM_CFG_FLOAT(CC, "dropout", dropout, 0, 1, "0", "training dropout (not implemented: must be 0)"),
    TM_CFG_INT(CC, "n_heads", n_heads, 1, 4096, "4", "attention heads (head dim d_model/n_heads)"),
    TM_CFG_INT(CC, "n_kv_heads", n_kv_heads, 1, 4096, "4", "key/value heads (GQA/MQA when < n_heads)"),
    TM_CFG_INT(CC, "context", context, 1, 1 << 20, "256", "attention window W (the KV cache per stream)"),
    TM_CFG_ENUM(CC, "mlp", mlp, mlp_names, "gelu", "attention blocks' MLP: 4d GELU or SwiGLU"),
    TM_CFG_ROW(CC, "rope_theta", TM_CONFIG_FLOAT, rope_theta, 1, 1e9, "10000", "RoPE base", NULL, TM_CFG_MIN_EXCLUSIVE),
    TM_CFG_BOOL(CC, "rope_dynamic", rope_dynamic, "false", "hybrid: dynamic NTK RoPE scaling past max_position_embeddings"),
    TM_CFG_INT(CC, "max_position_embeddings", max_position_embeddings, 1, 1 << 30, "2048", "hybrid: where NTK scaling starts"),
    TM_CFG_ROW(CC, "rope_factor", TM_CONFIG_FLOAT, rope_factor, 1, 1e6, "2", "hybrid: NTK scaling factor", NULL, TM_CFG_MIN_EXCLUSIVE),
    TM_CFG_INT(CC, "expand", expand, 1, 64, "2", "Mamba: d_inner = expand * d_model"),
    TM_CFG_INT(CC, "d_state", d_state, 1, 256, "16", "Mamba: SSM state size N"),
    TM_CFG_INT(CC, "d_conv", d_conv, 1, 64, "4", "Mamba: conv kernel K"),
    TM_CFG_INT(CC, "dt_rank", dt_rank, 0, 65536, "0", "Mamba: dt rank R; 0 = ceil(d_model/16)"),
    TM_CFG_INT(CC, "attn_layer_period", attn_layer_period, 1, TM_STACK_MAX_LAYERS, "8", "hybrid: layer i is attention when i % period == offset"),
    TM_CFG_INT(CC, "attn_layer_offset", attn_layer_offset, 0, TM_STACK_MAX_LAYERS - 1, "7", "hybrid: see attn_layer_period"),
    TM_CFG_BOOL(CC, "unified_rope", unified_rope, "false", "hybrid: rotate Mamba B, C with the attention's RoPE (hybrid default true)"),
    TM_CFG_BOOL(CC, "residual_weights", residual_weights, "false", "learnable residual weight a per layer (hybrid default true)"),
    TM_CFG_BOOL(CC, "use_memory_residual", use_memory_residual, "true", "mamba_dualmem: gated memory residual"),
    TM_CFG_BOOL(CC, "use_kv_cache", use_kv_cache, "false", "mamba_dualmem: add a LongMemKVCache read"),
    TM_CFG_INT(CC, "miras.mem_slots", miras.mem_slots, 1, 1 << 20, "64", "DualTierMiras slots M per tier"),
    TM_CFG_INT(CC, "miras.n_heads", miras.n_heads, 1, 4096, "1", "DualTierMiras read heads"),
    TM_CFG_FLOAT(CC, "miras.lr_fast", miras.lr_fast, 0, 1e3, "1", "fast tier write rate"),
    TM_CFG_FLOAT(CC, "miras.lr_deep", miras.lr_deep, 0, 1e3, "0.5", "deep tier write rate"),
    TM_CFG_ROW(CC, "miras.temperature", TM_CONFIG_FLOAT, miras.temperature, 0, 1e6, "0.1", "read softmax temperature", NULL, TM_CFG_MIN_EXCLUSIVE),
    TM_CFG_FLOAT(CC, "miras.surprise_threshold", miras.surprise_threshold, 0, 1e6, "0.5", "deep writes above this surprise"),
    TM_CFG_BOOL(CC, "miras.use_decay", miras.use_decay, "false", "decay slot strengths"),
    TM_CFG_FLOAT(CC, "miras.decay_rate", miras.decay_rate, 0, 1, "0.999", "strength decay per write"),
    TM_CFG_BOOL(CC, "miras.use_sparse_attention", miras.use_sparse_attention, "false", "top-k read"),
    TM_CFG_INT(CC, "miras.top_k_retrieval", miras.top_k_retrieval, 1, 1 << 20, "8", "k of the sparse read"),
    TM_CFG_BOOL(CC, "miras.use_adaptive_retrieval", miras.use_adaptive_retrieval, "true", "confidence head"),
    TM_CFG_BOOL(CC, "miras.use_query_proj", miras.use_query_proj, "true", "learned query projection"),
    TM_CFG_BOOL(CC, "miras.use_memory_compression", miras.use_memory_compression, "false", "compressed slots"),
    TM_CFG_ROW(CC, "miras.compression_ratio", TM_CONFIG_FLOAT, miras.compression_ratio, 0, 1, "0.5", "slot width r = floor(ratio * d)", NULL, TM_CFG_MIN_EXCLUSIVE),
    TM_CFG_ENUM(CC, "miras.write_policy", miras.write_policy, policy_names, "ring", "slot write policy"),
    TM_CFG_INT(CC, "miras.consolidate_every", miras.consolidate_every, 0, 1 << 30, "0", "consolidation cadence in writes; 0 = off"),
    TM_CFG_ROW(CC, "miras.sinkhorn_eps", TM_CONFIG_FLOAT, miras.sinkhorn_eps, 0, 1e6, "0.05", "OT entropic regularisation", NULL, TM_CFG_MIN_EXCLUSIVE),
    TM_CFG_INT(CC, "miras.sinkhorn_iters", miras.sinkhorn_iters, 1, 1 << 20, "50", "Sinkhorn iterations"),
    TM_CFG_INT(CC, "miras.max_B", miras.max_B, 1, 1 << 20, "64", "streams the memory workspace serves"),
    TM_CFG_INT(CC, "kv.capacity", kv.capacity, 1, 1 << 26, "4096", "LongMemKVCache entries per stream"),
    TM_CFG_INT(CC, "kv.top_k", kv.top_k, 1, 1 << 20, "8", "LongMemKVCache read k"),
    TM_CFG_ROW(CC, "kv.tau", TM_CONFIG_FLOAT, kv.tau, 0, 1e6, "0.1", "LongMemKVCache read temperature", NULL, TM_CFG_MIN_EXCLUSIVE),
};
#undef CC

static const tm_config_schema schema = {"controller", fields, (int)(sizeof fields / sizeof fields[0]),
                                        sizeof(tm_controller_config)};

const tm_config_schema *tm_controller_config_schema(void) { return &schema; }

/* ---- lifecycle and dispatch ------------------------------------------------------ */

tm_status tm_controller_create(tm_controller *m, const tm_controller_config *cfg, uint64_t seed) {
    if (!m) return tm_fail(TM_EINVAL, "controller: model must not be NULL");
    memset(m, 0, sizeof *m);
    TM_TRY(tm_controller_config_validate(cfg));
    m->cfg = *cfg;
    /* The memory's widths follow the controller's (controller.h). */
    m->cfg.miras.d_model = cfg->d_model;
    m->cfg.kv.key_dim = m->cfg.kv.value_dim = cfg->d_model;
    if (m->cfg.dt_rank == 0) m->cfg.dt_rank = (cfg->d_model + 15) / 16; /* the resolved R */
    m->vt = vtables[cfg->kind];
    tm_params_init(&m->params);
    tm_status rc = m->vt->create(m, seed);
    if (rc != TM_OK) {
        if (m->impl && m->vt->destroy) m->vt->destroy(m);
        tm_params_free(&m->params);
        memset(m, 0, sizeof *m);
    }
    return rc;
}

void tm_controller_free(tm_controller *m) {
    if (!m || !m->vt) return;
    if (m->vt->destroy) m->vt->destroy(m);
    tm_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

static tm_status check_model(const tm_controller *m, const char *fn) {
    if (!m || !m->vt || !m->impl) return tm_fail(TM_EINVAL, "controller %s: model is not created", fn);
    return TM_OK;
}

static tm_status check_state(const tm_controller_state *s, const char *fn, const char *what) {
    if (!s || !s->impl) return tm_fail(TM_EINVAL, "controller %s: %s state is not created", fn, what);
    return TM_OK;
}

tm_status tm_controller_state_create(const tm_controller *m, int B, tm_controller_state *s) {
    TM_TRY(check_model(m, "state_create"));
    if (!s) return tm_fail(TM_EINVAL, "controller state_create: state must not be NULL");
    memset(s, 0, sizeof *s);
    if (B <= 0) return tm_fail(TM_EINVAL, "controller state_create: B must be > 0 (got %d)", B);
    return m->vt->state_create(m, B, s);
}

void tm_controller_state_free(const tm_controller *m, tm_controller_state *s) {
    if (!s || !s->impl || !m || !m->vt) return;
    m->vt->state_free(m, s);
    memset(s, 0, sizeof *s);
}

void tm_controller_state_reset(const tm_controller *m, tm_controller_state *s, const int32_t *mask) {
    TM_ASSERT(m && m->vt && s && s->impl);
    m->vt->state_reset(m, s, mask);
}

void tm_controller_state_copy(const tm_controller *m, tm_controller_state *dst,
                              const tm_controller_state *src) {
    TM_ASSERT(m && m->vt && dst && src && dst->impl && src->impl && dst->B == src->B);
    if (dst != src) m->vt->state_copy(m, dst, src);
}

size_t tm_controller_state_stream_bytes(const tm_controller *m) {
    TM_ASSERT(m && m->vt && m->impl);
    return m->vt->state_stream_bytes(m);
}

tm_status tm_controller_state_save_stream(const tm_controller *m, const tm_controller_state *s,
                                          int b, void *dst) {
    TM_TRY(check_model(m, "state_save_stream"));
    TM_TRY(check_state(s, "state_save_stream", "the"));
    if (b < 0 || b >= s->B)
        return tm_fail(TM_ERANGE, "controller state_save_stream: stream %d is outside 0..%d", b, s->B - 1);
    if (!dst) return tm_fail(TM_EINVAL, "controller state_save_stream: dst must not be NULL");
    m->vt->state_save_stream(m, s, b, dst);
    return TM_OK;
}

tm_status tm_controller_state_load_stream(const tm_controller *m, tm_controller_state *s, int b,
                                          const void *src) {
    TM_TRY(check_model(m, "state_load_stream"));
    TM_TRY(check_state(s, "state_load_stream", "the"));
    if (b < 0 || b >= s->B)
        return tm_fail(TM_ERANGE, "controller state_load_stream: stream %d is outside 0..%d", b, s->B - 1);
    if (!src) return tm_fail(TM_EINVAL, "controller state_load_stream: src must not be NULL");
    if (m->vt->state_check_stream) TM_TRY(m->vt->state_check_stream(m, src));
    m->vt->state_load_stream(m, s, b, src);
    return TM_OK;
}

tm_status tm_controller_acts_create(const tm_controller *m, int B, int T, tm_controller_acts *a) {
    TM_TRY(check_model(m, "acts_create"));
    if (!a) return tm_fail(TM_EINVAL, "controller acts_create: acts must not be NULL");
    memset(a, 0, sizeof *a);
    if (B <= 0 || T <= 0)
        return tm_fail(TM_EINVAL, "controller acts_create: B and T must be > 0 (got %d, %d)", B, T);
    return m->vt->acts_create(m, B, T, a);
}

void tm_controller_acts_free(const tm_controller *m, tm_controller_acts *a) {
    if (!a || !a->impl || !m || !m->vt) return;
    m->vt->acts_free(m, a);
    memset(a, 0, sizeof *a);
}

size_t tm_controller_scratch_floats(const tm_controller *m, const tm_ctx *ctx, int B, int T) {
    TM_ASSERT(m && m->vt && m->impl);
    return m->vt->scratch_floats(m, ctx, B, T);
}

tm_status tm_controller_step(tm_ctx *ctx, const tm_controller *m, tm_controller_state *s,
                             tm_tensor *y, const tm_tensor *x) {
    TM_TRY(check_model(m, "step"));
    TM_TRY(check_state(s, "step", "the"));
    if (!ctx || !y || !x) return tm_fail(TM_EINVAL, "controller step: ctx, y and x must not be NULL");
    return m->vt->step(ctx, m, s, y, x);
}

tm_status tm_controller_forward(tm_ctx *ctx, const tm_controller *m, tm_tensor *y,
                                tm_controller_acts *acts, tm_controller_state *final,
                                const tm_controller_state *init, const tm_tensor *x,
                                const tm_tensor *start) {
    TM_TRY(check_model(m, "forward"));
    TM_TRY(check_state(init, "forward", "the init"));
    if (final) TM_TRY(check_state(final, "forward", "the final"));
    if (!ctx || !y || !x || !acts || !acts->impl)
        return tm_fail(TM_EINVAL, "controller forward: ctx, y, x and created acts are required");
    if (x->ndim < 2 || x->shape[0] > acts->B || x->shape[1] > acts->T)
        return tm_fail(TM_EINVAL, "controller forward: x must be [B,T,...] with B <= %d, T <= %d (the acts')",
                       acts->B, acts->T);
    return m->vt->forward(ctx, m, y, acts, final, init, x, start);
}

tm_status tm_controller_backward(tm_ctx *ctx, const tm_controller *m, tm_tensor *dx,
                                 const tm_tensor *dy, const tm_tensor *x,
                                 tm_controller_acts *acts) {
    TM_TRY(check_model(m, "backward"));
    if (!ctx || !dy || !x || !acts || !acts->impl)
        return tm_fail(TM_EINVAL, "controller backward: ctx, dy, x and the forward's acts are required");
    return m->vt->backward(ctx, m, dx, dy, x, acts);
}

tm_status tm_controller_report_sizes(const tm_controller *m, int B, int T, const tm_ctx *ctx,
                                     tm_controller_report *r) {
    TM_TRY(check_model(m, "report_sizes"));
    if (!r || !ctx) return tm_fail(TM_EINVAL, "controller report_sizes: ctx and report must not be NULL");
    if (B <= 0 || T <= 0)
        return tm_fail(TM_EINVAL, "controller report_sizes: B and T must be > 0 (got %d, %d)", B, T);
    memset(r, 0, sizeof *r);
    for (int i = 0; i < m->params.n_views; i++) r->params += m->params.views[i].numel;
    r->state_stream_bytes = m->vt->state_stream_bytes(m);
    r->acts_bytes = m->vt->acts_bytes(m, B, T);
    r->scratch_bytes = m->vt->scratch_floats(m, ctx, B, T) * sizeof(float);
    r->attn_layers = attn_layer_count(&m->cfg);
    r->mamba_layers = m->cfg.n_layers - r->attn_layers;
    return TM_OK;
}
