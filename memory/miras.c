/* DualTierMiras: config, parameters and per-stream state.
 * Definition: shared spec memory.md "DualTierMiras"; the read is in
 * miras_read.c, the write and optimal transport in miras_write.c. */
#include "memory/miras.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory/miras_impl.h"

tm_miras_config tm_miras_config_default(int d_model) {
    tm_miras_config c;
    memset(&c, 0, sizeof c);
    c.d_model = d_model;
    c.mem_slots = 64;
    c.n_heads = 1;
    c.lr_fast = 1.0f;
    c.lr_deep = 0.5f;
    c.temperature = 0.1f;
    c.surprise_threshold = 0.5f;
    c.use_decay = 0;
    c.decay_rate = 0.999f;
    c.use_sparse_attention = 0;
    c.top_k_retrieval = 8;
    c.use_adaptive_retrieval = 1;
    c.use_query_proj = 1;
    c.use_memory_compression = 0;
    c.compression_ratio = 0.5f;
    c.write_policy = TM_MIRAS_RING;
    c.consolidate_every = 0;
    c.sinkhorn_eps = 0.05f;
    c.sinkhorn_iters = 50;
    c.max_B = 64;
    return c;
}

static tm_status check_flag(const char *name, int v) {
    if (v != 0 && v != 1) return tm_fail(TM_EINVAL, "miras: %s must be 0 or 1 (got %d)", name, v);
    return TM_OK;
}

static tm_status check_rate(const char *name, float v) {
    if (!(v > 0.0f && v <= 1.0f))
        return tm_fail(TM_EINVAL, "miras: %s must be in (0, 1] (got %g)", name, (double)v);
    return TM_OK;
}

tm_status tm_miras_config_validate(const tm_miras_config *c) {
    if (!c) return tm_fail(TM_EINVAL, "miras: config is NULL");
    if (c->d_model <= 0) return tm_fail(TM_EINVAL, "miras: d_model must be > 0 (got %d)", c->d_model);
    if (c->mem_slots <= 0)
        return tm_fail(TM_EINVAL, "miras: mem_slots must be > 0 (got %d)", c->mem_slots);
    if (c->n_heads <= 0) return tm_fail(TM_EINVAL, "miras: n_heads must be > 0 (got %d)", c->n_heads);
    TM_TRY(check_rate("lr_fast", c->lr_fast));
    TM_TRY(check_rate("lr_deep", c->lr_deep));
    if (!(c->temperature > 0.0f) || !isfinite(c->temperature))
        return tm_fail(TM_EINVAL, "miras: temperature must be finite and > 0 (got %g)",
                       (double)c->temperature);
    if (!isfinite(c->surprise_threshold) || c->surprise_threshold < 0.0f)
        return tm_fail(TM_EINVAL, "miras: surprise_threshold must be finite and >= 0 (got %g)",
                       (double)c->surprise_threshold);
    TM_TRY(check_flag("use_decay", c->use_decay));
    TM_TRY(check_rate("decay_rate", c->decay_rate));
    TM_TRY(check_flag("use_sparse_attention", c->use_sparse_attention));
    if (c->top_k_retrieval <= 0)
        return tm_fail(TM_EINVAL, "miras: top_k_retrieval must be > 0 (got %d)", c->top_k_retrieval);
    TM_TRY(check_flag("use_adaptive_retrieval", c->use_adaptive_retrieval));
    TM_TRY(check_flag("use_query_proj", c->use_query_proj));
    TM_TRY(check_flag("use_memory_compression", c->use_memory_compression));
    TM_TRY(check_rate("compression_ratio", c->compression_ratio));
    int s = miras_slot_dim(c);
    if (s < 1)
        return tm_fail(TM_EINVAL,
                       "miras: compression_ratio %g leaves floor(ratio * d_model=%d) = 0 dims",
                       (double)c->compression_ratio, c->d_model);
    if (s % c->n_heads != 0)
        return tm_fail(TM_EINVAL, "miras: n_heads must divide the slot width %d (got %d)", s,
                       c->n_heads);
    if (c->write_policy != TM_MIRAS_RING && c->write_policy != TM_MIRAS_OT)
        return tm_fail(TM_EINVAL, "miras: write_policy must be ring or ot (got %d)",
                       (int)c->write_policy);
    if (c->consolidate_every < 0)
        return tm_fail(TM_EINVAL, "miras: consolidate_every must be >= 0 (got %d)",
                       c->consolidate_every);
    if (!(c->sinkhorn_eps > 0.0f) || !isfinite(c->sinkhorn_eps))
        return tm_fail(TM_EINVAL, "miras: sinkhorn_eps must be finite and > 0 (got %g)",
                       (double)c->sinkhorn_eps);
    if (c->sinkhorn_iters <= 0)
        return tm_fail(TM_EINVAL, "miras: sinkhorn_iters must be > 0 (got %d)", c->sinkhorn_iters);
    if (c->max_B <= 0) return tm_fail(TM_EINVAL, "miras: max_B must be > 0 (got %d)", c->max_B);
    return TM_OK;
}

static tm_status declare_linear(tm_linear *l, tm_params *p, const char *prefix, const char *name,
                                int d_in, int d_out, int bias) {
    char full[TM_PARAM_NAME_MAX];
    int n = snprintf(full, sizeof full, "%s.%s", prefix, name);
    if (n < 0 || (size_t)n >= sizeof full)
        return tm_fail(TM_EINVAL, "miras: parameter prefix '%.40s...' is too long", prefix);
    tm_linear_config lc = {d_in, d_out, bias};
    return tm_linear_declare(l, &lc, p, full);
}

tm_status tm_miras_declare(tm_miras *m, const tm_miras_config *cfg, tm_params *p, const char *prefix) {
    if (!m || !p || !prefix) return tm_fail(TM_EINVAL, "miras: declare got a NULL argument");
    TM_TRY(tm_miras_config_validate(cfg));
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int d = cfg->d_model, s = miras_slot_dim(cfg);
    m->slot_dim = s;
    m->head_dim = s / cfg->n_heads;
    if (cfg->use_query_proj) TM_TRY(declare_linear(&m->q_proj, p, prefix, "q_proj", d, d, 1));
    if (cfg->n_heads > 1) TM_TRY(declare_linear(&m->o_proj, p, prefix, "o_proj", s, s, 1));
    if (cfg->use_adaptive_retrieval) {
        int hid = miras_conf_hidden(cfg);
        TM_TRY(declare_linear(&m->conf1, p, prefix, "conf1", d, hid, 1));
        TM_TRY(declare_linear(&m->conf2, p, prefix, "conf2", hid, 1, 1));
    }
    /* No bias: mix_logit already is the gate's bias. */
    TM_TRY(declare_linear(&m->ctx_gate, p, prefix, "ctx_gate", d, 1, 0));
    if (cfg->use_memory_compression) {
        TM_TRY(declare_linear(&m->compress, p, prefix, "compress", d, s, 1));
        TM_TRY(declare_linear(&m->decompress, p, prefix, "decompress", s, d, 1));
    }
    char name[TM_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.mix_logit", prefix);
    int64_t one = 1;
    TM_TRY(tm_params_declare(p, name, 1, &one, TM_PARAM_NO_DECAY, &m->mix_off));
    return TM_OK;
}

void tm_miras_bind(tm_miras *m, const tm_params *p) {
    const tm_miras_config *c = &m->cfg;
    if (c->use_query_proj) tm_linear_bind(&m->q_proj, p);
    if (c->n_heads > 1) tm_linear_bind(&m->o_proj, p);
    if (c->use_adaptive_retrieval) {
        tm_linear_bind(&m->conf1, p);
        tm_linear_bind(&m->conf2, p);
    }
    tm_linear_bind(&m->ctx_gate, p);
    if (c->use_memory_compression) {
        tm_linear_bind(&m->compress, p);
        tm_linear_bind(&m->decompress, p);
    }
    m->mix_logit = tm_params_at(p, m->mix_off);
    m->d_mix_logit = tm_params_grad_at(p, m->mix_off);
}

static void set_identity(tm_linear *l) {
    int n = l->cfg.d_out;
    memset(l->w, 0, (size_t)n * (size_t)l->cfg.d_in * sizeof(float));
    for (int i = 0; i < n; i++) l->w[(size_t)i * l->cfg.d_in + i] = 1.0f;
    if (l->b) memset(l->b, 0, (size_t)n * sizeof(float));
}

void tm_miras_init(tm_miras *m, tm_rng *rng) {
    const tm_miras_config *c = &m->cfg;
    /* Identity projections: a fresh memory is plain content-addressed recall. */
    if (c->use_query_proj) set_identity(&m->q_proj);
    if (c->n_heads > 1) set_identity(&m->o_proj);
    if (c->use_adaptive_retrieval) {
        tm_linear_init(&m->conf1, rng);
        tm_linear_init(&m->conf2, rng);
    }
    tm_linear_init(&m->ctx_gate, rng);
    if (c->use_memory_compression) {
        tm_linear_init(&m->compress, rng);
        tm_linear_init(&m->decompress, rng);
    }
    *m->mix_logit = logf(0.7f / 0.3f); /* m = 0.7 toward the fast tier */
}

void tm_miras_free(tm_miras *m) {
    (void)m; /* the model owns nothing beyond its views into the parameters */
}

/* ---- state ---------------------------------------------------------------- */

tm_status tm_miras_state_create(tm_miras_state *s, const tm_miras *m, int B) {
    if (!s || !m) return tm_fail(TM_EINVAL, "miras: state_create got a NULL argument");
    if (B <= 0) return tm_fail(TM_EINVAL, "miras: state B must be > 0 (got %d)", B);
    memset(s, 0, sizeof *s);
    size_t M = (size_t)m->cfg.mem_slots, sd = (size_t)m->slot_dim, nb = (size_t)B;
    s->B = B;
    s->M = (int)M;
    s->s = (int)sd;
    s->fast_keys = calloc(nb * M * sd, sizeof(float));
    s->fast_values = calloc(nb * M * sd, sizeof(float));
    s->fast_strength = calloc(nb * M, sizeof(float));
    s->deep_keys = calloc(nb * M * sd, sizeof(float));
    s->deep_values = calloc(nb * M * sd, sizeof(float));
    s->deep_strength = calloc(nb * M, sizeof(float));
    s->fast_ptr = calloc(nb, sizeof(int32_t));
    s->deep_ptr = calloc(nb, sizeof(int32_t));
    s->writes = calloc(nb, sizeof(int64_t));
    s->work = calloc(tm_miras_work_floats(&m->cfg, B), sizeof(float));
    if (!s->work || !s->fast_keys || !s->fast_values || !s->fast_strength || !s->deep_keys ||
        !s->deep_values || !s->deep_strength || !s->fast_ptr || !s->deep_ptr || !s->writes) {
        tm_miras_state_free(s);
        return tm_fail(TM_ENOMEM, "miras: cannot allocate state for B=%d x mem_slots=%zu", B, M);
    }
    return TM_OK;
}

void tm_miras_state_free(tm_miras_state *s) {
    if (!s) return;
    free(s->fast_keys);
    free(s->fast_values);
    free(s->fast_strength);
    free(s->deep_keys);
    free(s->deep_values);
    free(s->deep_strength);
    free(s->fast_ptr);
    free(s->deep_ptr);
    free(s->writes);
    free(s->work);
    memset(s, 0, sizeof *s);
}

void tm_miras_state_reset(const tm_miras *m, tm_miras_state *s, const int32_t *mask) {
    (void)m;
    size_t M = (size_t)s->M, sd = (size_t)s->s;
    for (int b = 0; b < s->B; b++) {
        if (mask && !mask[b]) continue;
        size_t kv = (size_t)b * M * sd;
        memset(s->fast_keys + kv, 0, M * sd * sizeof(float));
        memset(s->fast_values + kv, 0, M * sd * sizeof(float));
        memset(s->deep_keys + kv, 0, M * sd * sizeof(float));
        memset(s->deep_values + kv, 0, M * sd * sizeof(float));
        memset(s->fast_strength + (size_t)b * M, 0, M * sizeof(float));
        memset(s->deep_strength + (size_t)b * M, 0, M * sizeof(float));
        s->fast_ptr[b] = s->deep_ptr[b] = 0;
        s->writes[b] = 0;
    }
}

void tm_miras_state_copy(const tm_miras *m, tm_miras_state *dst, const tm_miras_state *src) {
    (void)m;
    TM_ASSERT(dst->B == src->B && dst->M == src->M && dst->s == src->s);
    size_t nb = (size_t)src->B, M = (size_t)src->M, sd = (size_t)src->s;
    memcpy(dst->fast_keys, src->fast_keys, nb * M * sd * sizeof(float));
    memcpy(dst->fast_values, src->fast_values, nb * M * sd * sizeof(float));
    memcpy(dst->deep_keys, src->deep_keys, nb * M * sd * sizeof(float));
    memcpy(dst->deep_values, src->deep_values, nb * M * sd * sizeof(float));
    memcpy(dst->fast_strength, src->fast_strength, nb * M * sizeof(float));
    memcpy(dst->deep_strength, src->deep_strength, nb * M * sizeof(float));
    memcpy(dst->fast_ptr, src->fast_ptr, nb * sizeof(int32_t));
    memcpy(dst->deep_ptr, src->deep_ptr, nb * sizeof(int32_t));
    memcpy(dst->writes, src->writes, nb * sizeof(int64_t));
}

/* One stream's bytes, in this order: fast keys, fast values [M*s] floats,
 * fast strength [M]; the same for deep; fast_ptr, deep_ptr (int32);
 * writes (int64). Native byte order (replay stays on one machine). */
size_t tm_miras_state_stream_bytes(const tm_miras *m) {
    size_t M = (size_t)m->cfg.mem_slots, sd = (size_t)m->slot_dim;
    return 2 * (2 * M * sd + M) * sizeof(float) + 2 * sizeof(int32_t) + sizeof(int64_t);
}

typedef struct {
    void *ptr;
    size_t bytes;
} stream_part;

/* The stream's pieces in the byte order above. */
static int stream_parts(const tm_miras_state *s, int b, stream_part parts[9]) {
    size_t M = (size_t)s->M, sd = (size_t)s->s, kv = (size_t)b * M * sd, st = (size_t)b * M;
    size_t kvb = M * sd * sizeof(float), stb = M * sizeof(float);
    parts[0] = (stream_part){s->fast_keys + kv, kvb};
    parts[1] = (stream_part){s->fast_values + kv, kvb};
    parts[2] = (stream_part){s->fast_strength + st, stb};
    parts[3] = (stream_part){s->deep_keys + kv, kvb};
    parts[4] = (stream_part){s->deep_values + kv, kvb};
    parts[5] = (stream_part){s->deep_strength + st, stb};
    parts[6] = (stream_part){s->fast_ptr + b, sizeof(int32_t)};
    parts[7] = (stream_part){s->deep_ptr + b, sizeof(int32_t)};
    parts[8] = (stream_part){s->writes + b, sizeof(int64_t)};
    return 9;
}

void tm_miras_state_save_stream(const tm_miras *m, const tm_miras_state *s, int b, void *dst) {
    TM_ASSERT(b >= 0 && b < s->B && s->M == m->cfg.mem_slots && s->s == m->slot_dim);
    stream_part parts[9];
    int n = stream_parts(s, b, parts);
    unsigned char *out = dst;
    for (int i = 0; i < n; i++) {
        memcpy(out, parts[i].ptr, parts[i].bytes);
        out += parts[i].bytes;
    }
}

void tm_miras_state_load_stream(const tm_miras *m, tm_miras_state *s, int b, const void *src) {
    TM_ASSERT(b >= 0 && b < s->B && s->M == m->cfg.mem_slots && s->s == m->slot_dim);
    stream_part parts[9];
    int n = stream_parts(s, b, parts);
    const unsigned char *in = src;
    for (int i = 0; i < n; i++) {
        memcpy(parts[i].ptr, in, parts[i].bytes);
        in += parts[i].bytes;
    }
}
