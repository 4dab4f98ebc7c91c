/* tm_op_rmsnorm, tm_op_layernorm and their backwards. Definition:
 * kernels/ops_dense.h. */
#include <math.h>

#include "kernels/cpu/norm.h"
#include "kernels/op_check.h"
#include "kernels/ops_dense.h"

static tm_status check_vec(const char *op, const char *arg, const tm_tensor *t, int C) {
    if (t->ndim == 1 && t->shape[0] == C) return TM_OK;
    return tm_op_shape_error(op, arg, t, "[%d] (the last dim of in)", C);
}

static tm_status check_eps(const char *op, float eps) {
    if (eps > 0.0f && isfinite(eps)) return TM_OK;
    return tm_fail(TM_EINVAL, "op %s: eps must be finite and > 0 (got %g)", op, (double)eps);
}

/* in [.., C], weight [C], stats [N]; fills N, C. */
static tm_status check_common(tm_ctx *ctx, const char *op, const tm_tensor *in,
                              const tm_tensor *weight, long *N, int *C) {
    TM_TRY(tm_op_check_tensor(ctx, op, "in", in, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "weight", weight, TM_F32));
    TM_TRY(tm_op_rows_cols(op, "in", in, N, C));
    return check_vec(op, "weight", weight, *C);
}

static tm_status check_stat(tm_ctx *ctx, const char *op, const char *arg, const tm_tensor *t,
                            long N) {
    TM_TRY(tm_op_check_tensor(ctx, op, arg, t, TM_F32));
    return tm_op_check_numel(op, arg, t, N, "one per row of in");
}

tm_status tm_op_rmsnorm(tm_ctx *ctx, tm_tensor *out, tm_tensor *rstd, const tm_tensor *in,
                        const tm_tensor *weight, float eps) {
    static const char op[] = "rmsnorm";
    long N;
    int C;
    TM_TRY(check_common(ctx, op, in, weight, &N, &C));
    TM_TRY(check_eps(op, eps));
    TM_TRY(tm_op_check_tensor(ctx, op, "out", out, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "out", out, "in", in));
    TM_TRY(check_stat(ctx, op, "rstd", rstd, N));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_rmsnorm_forward(out->data, rstd->data, in->data, weight->data, N, C, eps);
    return TM_OK;
}

tm_status tm_op_rmsnorm_backward(tm_ctx *ctx, tm_tensor *din, tm_tensor *dweight,
                                 const tm_tensor *dout, const tm_tensor *in,
                                 const tm_tensor *weight, const tm_tensor *rstd) {
    static const char op[] = "rmsnorm_backward";
    long N;
    int C;
    TM_TRY(check_common(ctx, op, in, weight, &N, &C));
    TM_TRY(tm_op_check_tensor(ctx, op, "dout", dout, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "dout", dout, "in", in));
    TM_TRY(check_stat(ctx, op, "rstd", rstd, N));
    if (din) {
        TM_TRY(tm_op_check_tensor(ctx, op, "din", din, TM_F32));
        TM_TRY(tm_op_check_same_shape(op, "din", din, "in", in));
    }
    if (dweight) {
        TM_TRY(tm_op_check_tensor(ctx, op, "dweight", dweight, TM_F32));
        TM_TRY(check_vec(op, "dweight", dweight, C));
    }
    tm_ctx_cpu_enter(ctx);
    tm_cpu_rmsnorm_backward(din ? din->data : NULL, dweight ? dweight->data : NULL, dout->data,
                            in->data, weight->data, rstd->data, N, C);
    return TM_OK;
}

tm_status tm_op_layernorm(tm_ctx *ctx, tm_tensor *out, tm_tensor *mean, tm_tensor *rstd,
                          const tm_tensor *in, const tm_tensor *weight, const tm_tensor *bias,
                          float eps) {
    static const char op[] = "layernorm";
    long N;
    int C;
    TM_TRY(check_common(ctx, op, in, weight, &N, &C));
    TM_TRY(check_eps(op, eps));
    TM_TRY(tm_op_check_tensor(ctx, op, "bias", bias, TM_F32));
    TM_TRY(check_vec(op, "bias", bias, C));
    TM_TRY(tm_op_check_tensor(ctx, op, "out", out, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "out", out, "in", in));
    TM_TRY(check_stat(ctx, op, "mean", mean, N));
    TM_TRY(check_stat(ctx, op, "rstd", rstd, N));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_layernorm_forward(out->data, mean->data, rstd->data, in->data, weight->data,
                             bias->data, N, C, eps);
    return TM_OK;
}

tm_status tm_op_layernorm_backward(tm_ctx *ctx, tm_tensor *din, tm_tensor *dweight,
                                   tm_tensor *dbias, const tm_tensor *dout, const tm_tensor *in,
                                   const tm_tensor *weight, const tm_tensor *mean,
                                   const tm_tensor *rstd) {
    static const char op[] = "layernorm_backward";
    long N;
    int C;
    TM_TRY(check_common(ctx, op, in, weight, &N, &C));
    TM_TRY(tm_op_check_tensor(ctx, op, "dout", dout, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "dout", dout, "in", in));
    TM_TRY(check_stat(ctx, op, "mean", mean, N));
    TM_TRY(check_stat(ctx, op, "rstd", rstd, N));
    if (din) {
        TM_TRY(tm_op_check_tensor(ctx, op, "din", din, TM_F32));
        TM_TRY(tm_op_check_same_shape(op, "din", din, "in", in));
    }
    if (dweight) {
        TM_TRY(tm_op_check_tensor(ctx, op, "dweight", dweight, TM_F32));
        TM_TRY(check_vec(op, "dweight", dweight, C));
    }
    if (dbias) {
        TM_TRY(tm_op_check_tensor(ctx, op, "dbias", dbias, TM_F32));
        TM_TRY(check_vec(op, "dbias", dbias, C));
    }
    tm_ctx_cpu_enter(ctx);
    tm_cpu_layernorm_backward(din ? din->data : NULL, dweight ? dweight->data : NULL,
                              dbias ? dbias->data : NULL, dout->data, in->data, weight->data,
                              mean->data, rstd->data, N, C);
    return TM_OK;
}
