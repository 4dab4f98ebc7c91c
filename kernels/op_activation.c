/* tm_op_act and its backward; activation names. Definition: kernels/ops_dense.h. */
#include <string.h>

#include "kernels/cpu/activation.h"
#include "kernels/op_check.h"
#include "kernels/ops_dense.h"

static const char *const act_names[TM_ACT_COUNT] = {
    "silu", "gelu_tanh", "gelu_erf", "relu", "sigmoid", "tanh", "softplus",
};

const char *tm_act_name(tm_act act) {
    return (unsigned)act < TM_ACT_COUNT ? act_names[act] : "unknown";
}

int tm_act_parse(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "gelu") == 0) return TM_ACT_GELU;
    for (int i = 0; i < TM_ACT_COUNT; i++)
        if (strcmp(name, act_names[i]) == 0) return i;
    return -1;
}

static tm_status check_act(const char *op, tm_act act) {
    if ((unsigned)act < TM_ACT_COUNT) return TM_OK;
    return tm_fail(TM_EINVAL, "op %s: act must be a tm_act in [0, %d) (got %d)", op,
                   TM_ACT_COUNT, (int)act);
}

tm_status tm_op_act(tm_ctx *ctx, tm_act act, tm_tensor *out, const tm_tensor *in) {
    static const char op[] = "act";
    TM_TRY(check_act(op, act));
    TM_TRY(tm_op_check_tensor(ctx, op, "out", out, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "in", in, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "out", out, "in", in));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_act_forward(act, out->data, in->data, (long)tm_tensor_numel(in));
    return TM_OK;
}

tm_status tm_op_act_backward(tm_ctx *ctx, tm_act act, tm_tensor *din, const tm_tensor *dout,
                             const tm_tensor *in) {
    static const char op[] = "act_backward";
    TM_TRY(check_act(op, act));
    TM_TRY(tm_op_check_tensor(ctx, op, "din", din, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "dout", dout, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "in", in, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "dout", dout, "in", in));
    TM_TRY(tm_op_check_same_shape(op, "din", din, "in", in));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_act_backward(act, din->data, dout->data, in->data, (long)tm_tensor_numel(in));
    return TM_OK;
}
