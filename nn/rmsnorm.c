/* RMSNorm layer over the tensor ops. Definition: rmsnorm.h. */
#include "nn/rmsnorm.h"

#include <math.h>
#include <stdio.h>

tm_rmsnorm_config tm_rmsnorm_config_default(int d) {
    tm_rmsnorm_config c = {d, TM_NORM_EPS};
    return c;
}

tm_status tm_rmsnorm_declare(tm_rmsnorm *n, const tm_rmsnorm_config *cfg, tm_params *p,
                             const char *prefix) {
    if (cfg->d <= 0)
        return tm_fail(TM_EINVAL, "rmsnorm %s: d must be > 0 (got %d)", prefix, cfg->d);
    if (!(cfg->eps > 0.0f) || !isfinite(cfg->eps))
        return tm_fail(TM_EINVAL, "rmsnorm %s: eps must be finite and > 0 (got %g)", prefix,
                       (double)cfg->eps);
    *n = (tm_rmsnorm){.cfg = *cfg};
    char name[TM_PARAM_NAME_MAX];
    int64_t shape[1] = {cfg->d};
    snprintf(name, sizeof name, "%s.weight", prefix);
    return tm_params_declare(p, name, 1, shape, TM_PARAM_NO_DECAY, &n->w_off);
}

void tm_rmsnorm_bind(tm_rmsnorm *n, const tm_params *p) {
    n->w = tm_params_at(p, n->w_off);
    n->dw = tm_params_grad_at(p, n->w_off);
}

void tm_rmsnorm_init(tm_rmsnorm *n) {
    for (int i = 0; i < n->cfg.d; i++) n->w[i] = 1.0f;
}

size_t tm_rmsnorm_act_floats(const tm_rmsnorm_config *cfg, int B, int T) {
    (void)cfg;
    return (size_t)B * (size_t)T;
}

/* The rstd view of act for in's rows; checks act is large enough. */
static tm_status rstd_view(const tm_rmsnorm *n, const tm_tensor *act, const tm_tensor *in,
                           tm_tensor *rstd) {
    if (!in || !act) return tm_fail(TM_EINVAL, "rmsnorm: in and act must not be NULL");
    if (in->ndim < 1 || in->shape[in->ndim - 1] != n->cfg.d) {
        char buf[96];
        return tm_fail(TM_EINVAL, "rmsnorm: in must have last dim %d (got %s)", n->cfg.d,
                       tm_tensor_describe(in, buf, sizeof buf));
    }
    int64_t rows = tm_tensor_numel(in) / n->cfg.d;
    if (tm_tensor_numel(act) < rows)
        return tm_fail(TM_EINVAL, "rmsnorm: act holds %lld floats, needs %lld (one per row)",
                       (long long)tm_tensor_numel(act), (long long)rows);
    return tm_tensor_view(rstd, act, 0, 1, &rows);
}

tm_status tm_rmsnorm_forward(tm_ctx *ctx, const tm_rmsnorm *n, tm_tensor *out, tm_tensor *act,
                             const tm_tensor *in) {
    tm_tensor rstd, w;
    int64_t ws[1] = {n->cfg.d};
    TM_TRY(rstd_view(n, act, in, &rstd));
    TM_TRY(tm_tensor_wrap(&w, n->w, TM_F32, ctx->device, 1, ws));
    return tm_op_rmsnorm(ctx, out, &rstd, in, &w, n->cfg.eps);
}

tm_status tm_rmsnorm_backward(tm_ctx *ctx, const tm_rmsnorm *n, tm_tensor *din,
                              const tm_tensor *dout, const tm_tensor *in, const tm_tensor *act) {
    tm_tensor rstd, w, dw;
    int64_t ws[1] = {n->cfg.d};
    TM_TRY(rstd_view(n, act, in, &rstd));
    TM_TRY(tm_tensor_wrap(&w, n->w, TM_F32, ctx->device, 1, ws));
    TM_TRY(tm_tensor_wrap(&dw, n->dw, TM_F32, ctx->device, 1, ws));
    return tm_op_rmsnorm_backward(ctx, din, &dw, dout, in, &w, &rstd);
}
