/* tm_op_softmax and its backward. Definition: kernels/ops_dense.h. */
#include "kernels/cpu/softmax.h"
#include "kernels/op_check.h"
#include "kernels/ops_dense.h"

tm_status tm_op_softmax(tm_ctx *ctx, tm_tensor *out, const tm_tensor *in) {
    static const char op[] = "softmax";
    TM_TRY(tm_op_check_tensor(ctx, op, "out", out, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "in", in, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "out", out, "in", in));
    long N;
    int C;
    TM_TRY(tm_op_rows_cols(op, "in", in, &N, &C));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_softmax_forward(out->data, in->data, N, C);
    return TM_OK;
}

tm_status tm_op_softmax_backward(tm_ctx *ctx, tm_tensor *din, const tm_tensor *dout,
                                 const tm_tensor *out) {
    static const char op[] = "softmax_backward";
    TM_TRY(tm_op_check_tensor(ctx, op, "din", din, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "dout", dout, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "out", out, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "dout", dout, "out", out));
    TM_TRY(tm_op_check_same_shape(op, "din", din, "out", out));
    long N;
    int C;
    TM_TRY(tm_op_rows_cols(op, "out", out, &N, &C));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_softmax_backward(din->data, dout->data, out->data, N, C);
    return TM_OK;
}
