/* tm_op_conv1d*: argument checks and device dispatch of the causal
 * depthwise conv1d. Definition: kernels/ops_seq.h; CPU kernel
 * kernels/cpu/conv1d.c. */
#include "kernels/ops_seq.h"

#include "kernels/cpu/conv1d.h"
#include "kernels/seq_check.h"

#define F32 TM_F32
#define I32 TM_I32

/* Reads B, T, C from x [B,T,C] and K from weight [C,K]. */
static tm_status conv_sizes(const tm_ctx *ctx, const char *op, const tm_tensor *x,
                            const tm_tensor *weight, int64_t *B, int64_t *T, int64_t *C,
                            int64_t *K) {
    TM_TRY(tm_seq_device(ctx, op));
    if (!x || x->ndim != 3)
        return tm_fail(TM_EINVAL, "op %s: x must be [B,T,C] (got ndim %d)", op, x ? x->ndim : -1);
    if (!weight || weight->ndim != 2)
        return tm_fail(TM_EINVAL, "op %s: weight must be [C,K] (got ndim %d)", op,
                       weight ? weight->ndim : -1);
    *B = x->shape[0];
    *T = x->shape[1];
    *C = x->shape[2];
    *K = weight->shape[1];
    if (*K < 1) return tm_fail(TM_EINVAL, "op %s: kernel size K must be >= 1 (got %lld)", op, (long long)*K);
    int64_t xs[3] = {*B, *T, *C}, ws[2] = {*C, *K};
    TM_TRY(tm_seq_expect(ctx, op, "x", x, F32, 3, xs));
    TM_TRY(tm_seq_expect(ctx, op, "weight", weight, F32, 2, ws));
    return TM_OK;
}

tm_status tm_op_conv1d(tm_ctx *ctx, tm_tensor *out, tm_tensor *state_out, const tm_tensor *x,
                       const tm_tensor *state_in, const tm_tensor *start,
                       const tm_tensor *weight, const tm_tensor *bias) {
    const char *op = "conv1d";
    int64_t B = 0, T = 0, C = 0, K = 0; /* set by the shape check */
    TM_TRY(conv_sizes(ctx, op, x, weight, &B, &T, &C, &K));
    int64_t xs[3] = {B, T, C}, ss[3] = {B, C, K - 1}, bs[1] = {C}, st[2] = {B, T};
    TM_TRY(tm_seq_expect(ctx, op, "out", out, F32, 3, xs));
    TM_TRY(tm_seq_expect_opt(ctx, op, "state_out", state_out, F32, 3, ss));
    TM_TRY(tm_seq_expect_opt(ctx, op, "state_in", state_in, F32, 3, ss));
    TM_TRY(tm_seq_expect_opt(ctx, op, "start", start, I32, 2, st));
    TM_TRY(tm_seq_expect_opt(ctx, op, "bias", bias, F32, 1, bs));
    if (state_out && state_in && state_out->data && state_out->data == state_in->data)
        return tm_fail(TM_EINVAL, "op %s: state_out must not alias state_in", op);
    tm_ctx_cpu_enter(ctx);
    tm_cpu_conv1d_forward(out->data, tm_seq_data(state_out), x->data, tm_seq_data(state_in),
                          tm_seq_data(start), weight->data, tm_seq_data(bias), (int)B, (int)T,
                          (int)C, (int)K);
    return TM_OK;
}

tm_status tm_op_conv1d_backward(tm_ctx *ctx, tm_tensor *dx, tm_tensor *dstate_in,
                                tm_tensor *dweight, tm_tensor *dbias, const tm_tensor *dout,
                                const tm_tensor *dstate_out, const tm_tensor *x,
                                const tm_tensor *state_in, const tm_tensor *start,
                                const tm_tensor *weight) {
    const char *op = "conv1d_backward";
    int64_t B = 0, T = 0, C = 0, K = 0; /* set by the shape check */
    TM_TRY(conv_sizes(ctx, op, x, weight, &B, &T, &C, &K));
    int64_t xs[3] = {B, T, C}, ss[3] = {B, C, K - 1}, ws[2] = {C, K}, bs[1] = {C},
            st[2] = {B, T};
    TM_TRY(tm_seq_expect(ctx, op, "dx", dx, F32, 3, xs));
    TM_TRY(tm_seq_expect(ctx, op, "dout", dout, F32, 3, xs));
    TM_TRY(tm_seq_expect_opt(ctx, op, "dstate_in", dstate_in, F32, 3, ss));
    TM_TRY(tm_seq_expect_opt(ctx, op, "dstate_out", dstate_out, F32, 3, ss));
    TM_TRY(tm_seq_expect_opt(ctx, op, "state_in", state_in, F32, 3, ss));
    TM_TRY(tm_seq_expect_opt(ctx, op, "dweight", dweight, F32, 2, ws));
    TM_TRY(tm_seq_expect_opt(ctx, op, "dbias", dbias, F32, 1, bs));
    TM_TRY(tm_seq_expect_opt(ctx, op, "start", start, I32, 2, st));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_conv1d_backward(dx->data, tm_seq_data(dstate_in), tm_seq_data(dweight),
                           tm_seq_data(dbias), dout->data, tm_seq_data(dstate_out), x->data,
                           tm_seq_data(state_in), tm_seq_data(start), weight->data, (int)B,
                           (int)T, (int)C, (int)K);
    return TM_OK;
}

tm_status tm_op_conv1d_step(tm_ctx *ctx, tm_tensor *out, tm_tensor *state, const tm_tensor *x,
                            const tm_tensor *weight, const tm_tensor *bias) {
    const char *op = "conv1d_step";
    TM_TRY(tm_seq_device(ctx, op));
    if (!x || x->ndim != 2)
        return tm_fail(TM_EINVAL, "op %s: x must be [B,C] (got ndim %d)", op, x ? x->ndim : -1);
    if (!weight || weight->ndim != 2)
        return tm_fail(TM_EINVAL, "op %s: weight must be [C,K] (got ndim %d)", op,
                       weight ? weight->ndim : -1);
    int64_t B = x->shape[0], C = x->shape[1], K = weight->shape[1];
    if (K < 1) return tm_fail(TM_EINVAL, "op %s: kernel size K must be >= 1 (got %lld)", op, (long long)K);
    int64_t xs[2] = {B, C}, ws[2] = {C, K}, ss[3] = {B, C, K - 1}, bs[1] = {C};
    TM_TRY(tm_seq_expect(ctx, op, "x", x, F32, 2, xs));
    TM_TRY(tm_seq_expect(ctx, op, "out", out, F32, 2, xs));
    TM_TRY(tm_seq_expect(ctx, op, "weight", weight, F32, 2, ws));
    TM_TRY(tm_seq_expect(ctx, op, "state", state, F32, 3, ss));
    TM_TRY(tm_seq_expect_opt(ctx, op, "bias", bias, F32, 1, bs));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_conv1d_step(out->data, state->data, x->data, weight->data, tm_seq_data(bias), (int)B,
                       (int)C, (int)K);
    return TM_OK;
}
