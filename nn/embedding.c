/* Token embedding layer over the tensor ops. Definition: embedding.h. */
#include "nn/embedding.h"

#include <math.h>
#include <stdio.h>

tm_embedding_config tm_embedding_config_default(int vocab, int d) {
    tm_embedding_config c = {vocab, d, 1.0f};
    return c;
}

tm_status tm_embedding_declare(tm_embedding *e, const tm_embedding_config *cfg, tm_params *p,
                               const char *prefix) {
    if (cfg->vocab <= 0)
        return tm_fail(TM_EINVAL, "embedding %s: vocab must be > 0 (got %d)", prefix, cfg->vocab);
    if (cfg->d <= 0)
        return tm_fail(TM_EINVAL, "embedding %s: d must be > 0 (got %d)", prefix, cfg->d);
    if (!(cfg->init_std >= 0.0f) || !isfinite(cfg->init_std))
        return tm_fail(TM_EINVAL, "embedding %s: init_std must be finite and >= 0 (got %g)",
                       prefix, (double)cfg->init_std);
    *e = (tm_embedding){.cfg = *cfg};
    char name[TM_PARAM_NAME_MAX];
    int64_t shape[2] = {cfg->vocab, cfg->d};
    snprintf(name, sizeof name, "%s.weight", prefix);
    return tm_params_declare(p, name, 2, shape, 0, &e->w_off);
}

void tm_embedding_bind(tm_embedding *e, const tm_params *p) {
    e->w = tm_params_at(p, e->w_off);
    e->dw = tm_params_grad_at(p, e->w_off);
}

void tm_embedding_init(tm_embedding *e, tm_rng *rng) {
    tm_rng_fill_normal(rng, e->w, (long)e->cfg.vocab * e->cfg.d, 0.0f, e->cfg.init_std);
}

static tm_status wrap_table(const tm_ctx *ctx, const tm_embedding *e, float *data, tm_tensor *t) {
    int64_t shape[2] = {e->cfg.vocab, e->cfg.d};
    return tm_tensor_wrap(t, data, TM_F32, ctx->device, 2, shape);
}

tm_status tm_embedding_forward(tm_ctx *ctx, const tm_embedding *e, tm_tensor *out,
                               const tm_tensor *ids) {
    tm_tensor table;
    TM_TRY(wrap_table(ctx, e, e->w, &table));
    return tm_op_embedding(ctx, out, ids, &table);
}

tm_status tm_embedding_backward(tm_ctx *ctx, const tm_embedding *e, const tm_tensor *dout,
                                const tm_tensor *ids) {
    tm_tensor dtable;
    TM_TRY(wrap_table(ctx, e, e->dw, &dtable));
    return tm_op_embedding_backward(ctx, &dtable, dout, ids);
}
