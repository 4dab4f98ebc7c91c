/* Linear layer over the tensor ops. Definition: linear.h. */
#include "nn/linear.h"

#include <math.h>
#include <stdio.h>

tm_linear_config tm_linear_config_default(int d_in, int d_out) {
    tm_linear_config c = {d_in, d_out, 1};
    return c;
}

tm_status tm_linear_declare(tm_linear *l, const tm_linear_config *cfg, tm_params *p,
                            const char *prefix) {
    if (cfg->d_in <= 0)
        return tm_fail(TM_EINVAL, "linear %s: d_in must be > 0 (got %d)", prefix, cfg->d_in);
    if (cfg->d_out <= 0)
        return tm_fail(TM_EINVAL, "linear %s: d_out must be > 0 (got %d)", prefix, cfg->d_out);
    *l = (tm_linear){.cfg = *cfg};
    char name[TM_PARAM_NAME_MAX];
    int64_t wshape[2] = {cfg->d_out, cfg->d_in}, bshape[1] = {cfg->d_out};
    snprintf(name, sizeof name, "%s.weight", prefix);
    TM_TRY(tm_params_declare(p, name, 2, wshape, 0, &l->w_off));
    if (cfg->bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        TM_TRY(tm_params_declare(p, name, 1, bshape, TM_PARAM_NO_DECAY, &l->b_off));
    }
    return TM_OK;
}

void tm_linear_bind(tm_linear *l, const tm_params *p) {
    l->w = tm_params_at(p, l->w_off);
    l->dw = tm_params_grad_at(p, l->w_off);
    l->b = l->cfg.bias ? tm_params_at(p, l->b_off) : NULL;
    l->db = l->cfg.bias ? tm_params_grad_at(p, l->b_off) : NULL;
}

void tm_linear_init(tm_linear *l, tm_rng *rng) {
    float bound = 1.0f / sqrtf((float)l->cfg.d_in);
    tm_rng_fill_uniform(rng, l->w, (long)l->cfg.d_out * l->cfg.d_in, -bound, bound);
    if (l->cfg.bias) tm_rng_fill_uniform(rng, l->b, l->cfg.d_out, -bound, bound);
}

/* x viewed as [rows, d]; fails unless its last dim is d. */
static tm_status as_rows(const char *arg, const tm_tensor *x, int d, tm_tensor *view) {
    if (!x) return tm_fail(TM_EINVAL, "linear: %s must not be NULL", arg);
    if (x->ndim < 1 || x->shape[x->ndim - 1] != d) {
        char buf[96];
        return tm_fail(TM_EINVAL, "linear: %s must have last dim %d (got %s)", arg, d,
                       tm_tensor_describe(x, buf, sizeof buf));
    }
    int64_t shape[2] = {tm_tensor_numel(x) / d, d};
    return tm_tensor_reshape(view, x, 2, shape);
}

static tm_status same_rows(const tm_tensor *a, const char *an, const tm_tensor *b, const char *bn) {
    if (a->shape[0] == b->shape[0]) return TM_OK;
    return tm_fail(TM_EINVAL, "linear: %s has %lld rows but %s has %lld", an,
                   (long long)a->shape[0], bn, (long long)b->shape[0]);
}

static tm_status wrap_params(const tm_ctx *ctx, const tm_linear *l, float *w, float *b,
                             tm_tensor *tw, tm_tensor *tb) {
    int64_t ws[2] = {l->cfg.d_out, l->cfg.d_in}, bs[1] = {l->cfg.d_out};
    TM_TRY(tm_tensor_wrap(tw, w, TM_F32, ctx->device, 2, ws));
    if (b) TM_TRY(tm_tensor_wrap(tb, b, TM_F32, ctx->device, 1, bs));
    return TM_OK;
}

tm_status tm_linear_forward(tm_ctx *ctx, const tm_linear *l, tm_tensor *out, const tm_tensor *in) {
    tm_tensor x, y, w, b;
    TM_TRY(as_rows("in", in, l->cfg.d_in, &x));
    TM_TRY(as_rows("out", out, l->cfg.d_out, &y));
    TM_TRY(same_rows(&y, "out", &x, "in"));
    TM_TRY(wrap_params(ctx, l, l->w, l->b, &w, &b));
    TM_TRY(tm_op_matmul(ctx, &y, &x, &w, 0, 1, 1.0f, 0.0f));
    if (l->cfg.bias) TM_TRY(tm_op_bias_add(ctx, &y, &y, &b));
    return TM_OK;
}

tm_status tm_linear_backward(tm_ctx *ctx, const tm_linear *l, tm_tensor *din,
                             const tm_tensor *dout, const tm_tensor *in) {
    tm_tensor x, g, dx, w, dw, db;
    TM_TRY(as_rows("in", in, l->cfg.d_in, &x));
    TM_TRY(as_rows("dout", dout, l->cfg.d_out, &g));
    TM_TRY(same_rows(&g, "dout", &x, "in"));
    if (din) {
        TM_TRY(as_rows("din", din, l->cfg.d_in, &dx));
        TM_TRY(same_rows(&dx, "din", &x, "in"));
    }
    TM_TRY(wrap_params(ctx, l, l->w, NULL, &w, NULL));
    TM_TRY(wrap_params(ctx, l, l->dw, l->db, &dw, &db));
    TM_TRY(tm_op_matmul_backward(ctx, din ? &dx : NULL, &dw, &g, &x, &w, 0, 1));
    if (l->cfg.bias) TM_TRY(tm_op_bias_backward(ctx, &db, &g));
    return TM_OK;
}
