/* tm_op_bias_add and its backward. Definition: kernels/ops_dense.h. */
#include "kernels/cpu/bias.h"
#include "kernels/op_check.h"
#include "kernels/ops_dense.h"

static tm_status check_bias(const char *op, const char *arg, const tm_tensor *bias, int C) {
    if (bias->ndim == 1 && bias->shape[0] == C) return TM_OK;
    return tm_op_shape_error(op, arg, bias, "[%d] (the last dim of the input)", C);
}

tm_status tm_op_bias_add(tm_ctx *ctx, tm_tensor *out, const tm_tensor *in, const tm_tensor *bias) {
    static const char op[] = "bias_add";
    TM_TRY(tm_op_check_tensor(ctx, op, "out", out, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "in", in, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "bias", bias, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "out", out, "in", in));
    long N;
    int C;
    TM_TRY(tm_op_rows_cols(op, "in", in, &N, &C));
    TM_TRY(check_bias(op, "bias", bias, C));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_bias_forward(out->data, in->data, bias->data, N, C);
    return TM_OK;
}

tm_status tm_op_bias_backward(tm_ctx *ctx, tm_tensor *dbias, const tm_tensor *dout) {
    static const char op[] = "bias_backward";
    TM_TRY(tm_op_check_tensor(ctx, op, "dbias", dbias, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "dout", dout, TM_F32));
    long N;
    int C;
    TM_TRY(tm_op_rows_cols(op, "dout", dout, &N, &C));
    TM_TRY(check_bias(op, "dbias", dbias, C));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_bias_backward(dbias->data, dout->data, N, C);
    return TM_OK;
}
