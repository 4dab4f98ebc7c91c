/* LayerNorm layer over the tensor ops. Definition: layernorm.h. */
#include "nn/layernorm.h"

#include <math.h>
#include <stdio.h>

tm_layernorm_config tm_layernorm_config_default(int d) {
    tm_layernorm_config c = {d, TM_NORM_EPS};
    return c;
}

tm_status tm_layernorm_declare(tm_layernorm *n, const tm_layernorm_config *cfg, tm_params *p,
                               const char *prefix) {
    if (cfg->d <= 0)
        return tm_fail(TM_EINVAL, "layernorm %s: d must be > 0 (got %d)", prefix, cfg->d);
    if (!(cfg->eps > 0.0f) || !isfinite(cfg->eps))
        return tm_fail(TM_EINVAL, "layernorm %s: eps must be finite and > 0 (got %g)", prefix,
                       (double)cfg->eps);
    *n = (tm_layernorm){.cfg = *cfg};
    char name[TM_PARAM_NAME_MAX];
    int64_t shape[1] = {cfg->d};
    snprintf(name, sizeof name, "%s.weight", prefix);
    TM_TRY(tm_params_declare(p, name, 1, shape, TM_PARAM_NO_DECAY, &n->w_off));
    snprintf(name, sizeof name, "%s.bias", prefix);
    return tm_params_declare(p, name, 1, shape, TM_PARAM_NO_DECAY, &n->b_off);
}

void tm_layernorm_bind(tm_layernorm *n, const tm_params *p) {
    n->w = tm_params_at(p, n->w_off);
    n->dw = tm_params_grad_at(p, n->w_off);
    n->b = tm_params_at(p, n->b_off);
    n->db = tm_params_grad_at(p, n->b_off);
}

void tm_layernorm_init(tm_layernorm *n) {
    for (int i = 0; i < n->cfg.d; i++) {
        n->w[i] = 1.0f;
        n->b[i] = 0.0f;
    }
}

size_t tm_layernorm_act_floats(const tm_layernorm_config *cfg, int B, int T) {
    (void)cfg;
    return 2 * (size_t)B * (size_t)T;
}

/* mean = act[0, rows), rstd = act[rows, 2 rows). */
static tm_status stat_views(const tm_layernorm *n, const tm_tensor *act, const tm_tensor *in,
                            tm_tensor *mean, tm_tensor *rstd) {
    if (!in || !act) return tm_fail(TM_EINVAL, "layernorm: in and act must not be NULL");
    if (in->ndim < 1 || in->shape[in->ndim - 1] != n->cfg.d) {
        char buf[96];
        return tm_fail(TM_EINVAL, "layernorm: in must have last dim %d (got %s)", n->cfg.d,
                       tm_tensor_describe(in, buf, sizeof buf));
    }
    int64_t rows = tm_tensor_numel(in) / n->cfg.d;
    if (tm_tensor_numel(act) < 2 * rows)
        return tm_fail(TM_EINVAL, "layernorm: act holds %lld floats, needs %lld (two per row)",
                       (long long)tm_tensor_numel(act), (long long)(2 * rows));
    TM_TRY(tm_tensor_view(mean, act, 0, 1, &rows));
    return tm_tensor_view(rstd, act, rows, 1, &rows);
}

static tm_status wrap_vec(const tm_ctx *ctx, int d, float *data, tm_tensor *t) {
    int64_t shape[1] = {d};
    return tm_tensor_wrap(t, data, TM_F32, ctx->device, 1, shape);
}

tm_status tm_layernorm_forward(tm_ctx *ctx, const tm_layernorm *n, tm_tensor *out,
                               tm_tensor *act, const tm_tensor *in) {
    tm_tensor mean, rstd, w, b;
    TM_TRY(stat_views(n, act, in, &mean, &rstd));
    TM_TRY(wrap_vec(ctx, n->cfg.d, n->w, &w));
    TM_TRY(wrap_vec(ctx, n->cfg.d, n->b, &b));
    return tm_op_layernorm(ctx, out, &mean, &rstd, in, &w, &b, n->cfg.eps);
}

tm_status tm_layernorm_backward(tm_ctx *ctx, const tm_layernorm *n, tm_tensor *din,
                                const tm_tensor *dout, const tm_tensor *in,
                                const tm_tensor *act) {
    tm_tensor mean, rstd, w, dw, db;
    TM_TRY(stat_views(n, act, in, &mean, &rstd));
    TM_TRY(wrap_vec(ctx, n->cfg.d, n->w, &w));
    TM_TRY(wrap_vec(ctx, n->cfg.d, n->dw, &dw));
    TM_TRY(wrap_vec(ctx, n->cfg.d, n->db, &db));
    return tm_op_layernorm_backward(ctx, din, &dw, &db, dout, in, &w, &mean, &rstd);
}
