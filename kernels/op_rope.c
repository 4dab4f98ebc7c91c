/* tm_op_rope*: argument checks and device dispatch of the rotary embedding
 * (plain and with dynamic NTK scaling; plain is max_pos = 0 of the same
 * kernel). Definition: kernels/ops_seq.h; CPU kernel kernels/cpu/rope.c. */
#include "kernels/ops_seq.h"

#include <math.h>

#include "kernels/cpu/rope.h"
#include "kernels/seq_check.h"

static tm_status rope_check(const tm_ctx *ctx, const char *op, const char *out_name,
                            const tm_tensor *out, const char *in_name, const tm_tensor *in,
                            const tm_tensor *pos, float theta, int max_pos, float factor) {
    TM_TRY(tm_seq_device(ctx, op));
    if (!in || in->ndim != 4)
        return tm_fail(TM_EINVAL, "op %s: %s must be [B,T,H,dh] (got ndim %d)", op, in_name,
                       in ? in->ndim : -1);
    if (in->shape[3] % 2 != 0)
        return tm_fail(TM_EINVAL, "op %s: head dim dh must be even (got %lld)", op,
                       (long long)in->shape[3]);
    if (!(theta > 1.0f) || !isfinite(theta))
        return tm_fail(TM_EINVAL, "op %s: theta must be a finite number > 1 (got %g)", op,
                       (double)theta);
    if (max_pos < 0)
        return tm_fail(TM_EINVAL, "op %s: max_pos must be >= 0 (got %d)", op, max_pos);
    if (!(factor >= 1.0f) || !isfinite(factor))
        return tm_fail(TM_EINVAL, "op %s: factor must be a finite number >= 1 (got %g)", op,
                       (double)factor);
    TM_TRY(tm_seq_expect(ctx, op, in_name, in, TM_F32, 4, in->shape));
    TM_TRY(tm_seq_expect(ctx, op, out_name, out, TM_F32, 4, in->shape));
    int64_t ps[2] = {in->shape[0], in->shape[1]};
    TM_TRY(tm_seq_expect(ctx, op, "pos", pos, TM_I32, 2, ps));
    return TM_OK;
}

static tm_status rope_forward(const char *op, tm_ctx *ctx, tm_tensor *out, const tm_tensor *x,
                              const tm_tensor *pos, float theta, int max_pos, float factor) {
    TM_TRY(rope_check(ctx, op, "out", out, "x", x, pos, theta, max_pos, factor));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_rope_forward(out->data, x->data, pos->data, theta, max_pos, factor, (int)x->shape[0],
                        (int)x->shape[1], (int)x->shape[2], (int)x->shape[3]);
    return TM_OK;
}

static tm_status rope_backward(const char *op, tm_ctx *ctx, tm_tensor *dx, const tm_tensor *dout,
                               const tm_tensor *pos, float theta, int max_pos, float factor) {
    TM_TRY(rope_check(ctx, op, "dx", dx, "dout", dout, pos, theta, max_pos, factor));
    if (dx->data == dout->data)
        return tm_fail(TM_EINVAL, "op %s: dx must not alias dout (it accumulates)", op);
    tm_ctx_cpu_enter(ctx);
    tm_cpu_rope_backward(dx->data, dout->data, pos->data, theta, max_pos, factor,
                         (int)dout->shape[0], (int)dout->shape[1], (int)dout->shape[2],
                         (int)dout->shape[3]);
    return TM_OK;
}

tm_status tm_op_rope(tm_ctx *ctx, tm_tensor *out, const tm_tensor *x, const tm_tensor *pos,
                     float theta) {
    return rope_forward("rope", ctx, out, x, pos, theta, 0, 1.0f);
}

tm_status tm_op_rope_backward(tm_ctx *ctx, tm_tensor *dx, const tm_tensor *dout,
                              const tm_tensor *pos, float theta) {
    return rope_backward("rope_backward", ctx, dx, dout, pos, theta, 0, 1.0f);
}

tm_status tm_op_rope_scaled(tm_ctx *ctx, tm_tensor *out, const tm_tensor *x, const tm_tensor *pos,
                            float theta, int max_pos, float factor) {
    return rope_forward("rope_scaled", ctx, out, x, pos, theta, max_pos, factor);
}

tm_status tm_op_rope_scaled_backward(tm_ctx *ctx, tm_tensor *dx, const tm_tensor *dout,
                                     const tm_tensor *pos, float theta, int max_pos,
                                     float factor) {
    return rope_backward("rope_scaled_backward", ctx, dx, dout, pos, theta, max_pos, factor);
}
