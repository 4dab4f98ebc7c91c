/* tm_op_rope*: argument checks and device dispatch of the rotary embedding.
 * Definition: kernels/ops_seq.h; CPU kernel kernels/cpu/rope.c. */
#include "kernels/ops_seq.h"

#include <math.h>

#include "kernels/cpu/rope.h"
#include "kernels/seq_check.h"

static tm_status rope_check(const tm_ctx *ctx, const char *op, const char *out_name,
                            const tm_tensor *out, const char *in_name, const tm_tensor *in,
                            const tm_tensor *pos, float theta) {
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
    TM_TRY(tm_seq_expect(ctx, op, in_name, in, TM_F32, 4, in->shape));
    TM_TRY(tm_seq_expect(ctx, op, out_name, out, TM_F32, 4, in->shape));
    int64_t ps[2] = {in->shape[0], in->shape[1]};
    TM_TRY(tm_seq_expect(ctx, op, "pos", pos, TM_I32, 2, ps));
    return TM_OK;
}

tm_status tm_op_rope(tm_ctx *ctx, tm_tensor *out, const tm_tensor *x, const tm_tensor *pos,
                     float theta) {
    TM_TRY(rope_check(ctx, "rope", "out", out, "x", x, pos, theta));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_rope_forward(out->data, x->data, pos->data, theta, (int)x->shape[0], (int)x->shape[1],
                        (int)x->shape[2], (int)x->shape[3]);
    return TM_OK;
}

tm_status tm_op_rope_backward(tm_ctx *ctx, tm_tensor *dx, const tm_tensor *dout,
                              const tm_tensor *pos, float theta) {
    TM_TRY(rope_check(ctx, "rope_backward", "dx", dx, "dout", dout, pos, theta));
    if (dx->data == dout->data)
        return tm_fail(TM_EINVAL, "op rope_backward: dx must not alias dout (it accumulates)");
    tm_ctx_cpu_enter(ctx);
    tm_cpu_rope_backward(dx->data, dout->data, pos->data, theta, (int)dout->shape[0],
                         (int)dout->shape[1], (int)dout->shape[2], (int)dout->shape[3]);
    return TM_OK;
}
