/* Elementwise tensor ops: add, mul (+ backward), axpy, scale.
 * Definition: kernels/ops_dense.h. */
#include <string.h>

#include "kernels/cpu/elementwise.h"
#include "kernels/op_check.h"
#include "kernels/ops_dense.h"

static tm_status check_binary(tm_ctx *ctx, const char *op, const char *out_arg,
                              const tm_tensor *out, const tm_tensor *a, const tm_tensor *b) {
    TM_TRY(tm_op_check_tensor(ctx, op, out_arg, out, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "a", a, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "b", b, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "b", b, "a", a));
    return tm_op_check_same_shape(op, out_arg, out, "a", a);
}

tm_status tm_op_add(tm_ctx *ctx, tm_tensor *out, const tm_tensor *a, const tm_tensor *b) {
    TM_TRY(check_binary(ctx, "add", "out", out, a, b));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_add_forward(out->data, a->data, b->data, (long)tm_tensor_numel(a));
    return TM_OK;
}

tm_status tm_op_mul(tm_ctx *ctx, tm_tensor *out, const tm_tensor *a, const tm_tensor *b) {
    TM_TRY(check_binary(ctx, "mul", "out", out, a, b));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_mul_forward(out->data, a->data, b->data, (long)tm_tensor_numel(a));
    return TM_OK;
}

tm_status tm_op_mul_backward(tm_ctx *ctx, tm_tensor *da, tm_tensor *db, const tm_tensor *dout,
                             const tm_tensor *a, const tm_tensor *b) {
    static const char op[] = "mul_backward";
    TM_TRY(check_binary(ctx, op, "dout", dout, a, b));
    if (da) {
        TM_TRY(tm_op_check_tensor(ctx, op, "da", da, TM_F32));
        TM_TRY(tm_op_check_same_shape(op, "da", da, "a", a));
    }
    if (db) {
        TM_TRY(tm_op_check_tensor(ctx, op, "db", db, TM_F32));
        TM_TRY(tm_op_check_same_shape(op, "db", db, "b", b));
    }
    tm_ctx_cpu_enter(ctx);
    tm_cpu_mul_backward(da ? da->data : NULL, db ? db->data : NULL, dout->data, a->data, b->data,
                        (long)tm_tensor_numel(a));
    return TM_OK;
}

tm_status tm_op_axpy(tm_ctx *ctx, tm_tensor *y, float alpha, const tm_tensor *x) {
    static const char op[] = "axpy";
    TM_TRY(tm_op_check_tensor(ctx, op, "y", y, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "x", x, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "x", x, "y", y));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_axpy(y->data, alpha, x->data, (long)tm_tensor_numel(y));
    return TM_OK;
}

tm_status tm_op_scale(tm_ctx *ctx, tm_tensor *x, float alpha) {
    TM_TRY(tm_op_check_tensor(ctx, "scale", "x", x, TM_F32));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_scale(x->data, alpha, (long)tm_tensor_numel(x));
    return TM_OK;
}

tm_status tm_op_zero(tm_ctx *ctx, tm_tensor *x) {
    TM_TRY(tm_op_check_tensor(ctx, "zero", "x", x, TM_F32));
    if (x->data) memset(x->data, 0, tm_tensor_nbytes(x));
    return TM_OK;
}
