/* Loss ops: masked cross-entropy, masked accuracy, MSE. Definition:
 * kernels/ops_dense.h. Targets and masks come from task data, so the checks
 * here report bad values (TM_ERANGE / TM_EINVAL) instead of reading out of
 * bounds; the O(N) scan is small next to the O(N*V) loss. */
#include <math.h>

#include "kernels/cpu/loss.h"
#include "kernels/op_check.h"
#include "kernels/ops_dense.h"

/* Checks logits/targets/mask and returns N, V and the mask sum (double, in
 * row order). */
static tm_status check_classes(tm_ctx *ctx, const char *op, const tm_tensor *logits,
                               const tm_tensor *targets, const tm_tensor *mask, long *N, int *V,
                               double *mask_sum) {
    TM_TRY(tm_op_check_tensor(ctx, op, "logits", logits, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "targets", targets, TM_I32));
    TM_TRY(tm_op_rows_cols(op, "logits", logits, N, V));
    if (*V < 1) return tm_op_shape_error(op, "logits", logits, "at least one class");
    TM_TRY(tm_op_check_numel(op, "targets", targets, *N, "one per row of logits"));
    const float *m = NULL;
    if (mask) {
        TM_TRY(tm_op_check_tensor(ctx, op, "mask", mask, TM_F32));
        TM_TRY(tm_op_check_numel(op, "mask", mask, *N, "one per row of logits"));
        m = mask->data;
    }
    const int32_t *t = targets->data;
    double sum = 0.0;
    for (long n = 0; n < *N; n++) {
        float w = m ? m[n] : 1.0f;
        if (!(w >= 0.0f) || !isfinite(w))
            return tm_fail(TM_EINVAL, "op %s: mask[%ld] must be finite and >= 0 (got %g)", op, n,
                           (double)w);
        if (w != 0.0f && (t[n] < 0 || t[n] >= *V))
            return tm_fail(TM_ERANGE, "op %s: target %d at position %ld is outside [0, %d)", op,
                           (int)t[n], n, *V);
        sum += w;
    }
    *mask_sum = sum;
    return TM_OK;
}

tm_status tm_op_cross_entropy(tm_ctx *ctx, float *loss, tm_tensor *dlogits,
                              const tm_tensor *logits, const tm_tensor *targets,
                              const tm_tensor *mask) {
    static const char op[] = "cross_entropy";
    if (!loss) return tm_fail(TM_EINVAL, "op %s: argument loss must not be NULL", op);
    long N;
    int V;
    double mask_sum = 0.0;
    TM_TRY(check_classes(ctx, op, logits, targets, mask, &N, &V, &mask_sum));
    if (dlogits) {
        TM_TRY(tm_op_check_tensor(ctx, op, "dlogits", dlogits, TM_F32));
        TM_TRY(tm_op_check_same_shape(op, "dlogits", dlogits, "logits", logits));
    }
    tm_ctx_cpu_enter(ctx);
    *loss = tm_cpu_cross_entropy_forward(dlogits ? dlogits->data : NULL, logits->data,
                                         targets->data, mask ? mask->data : NULL, mask_sum, N, V);
    return TM_OK;
}

tm_status tm_op_masked_accuracy(tm_ctx *ctx, float *accuracy, const tm_tensor *logits,
                                const tm_tensor *targets, const tm_tensor *mask) {
    static const char op[] = "masked_accuracy";
    if (!accuracy) return tm_fail(TM_EINVAL, "op %s: argument accuracy must not be NULL", op);
    long N;
    int V;
    double mask_sum = 0.0;
    TM_TRY(check_classes(ctx, op, logits, targets, mask, &N, &V, &mask_sum));
    tm_ctx_cpu_enter(ctx);
    *accuracy = tm_cpu_masked_accuracy(logits->data, targets->data, mask ? mask->data : NULL,
                                       mask_sum, N, V);
    return TM_OK;
}

tm_status tm_op_mse(tm_ctx *ctx, float *loss, tm_tensor *dpred, const tm_tensor *pred,
                    const tm_tensor *target) {
    static const char op[] = "mse";
    if (!loss) return tm_fail(TM_EINVAL, "op %s: argument loss must not be NULL", op);
    TM_TRY(tm_op_check_tensor(ctx, op, "pred", pred, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "target", target, TM_F32));
    TM_TRY(tm_op_check_same_shape(op, "target", target, "pred", pred));
    if (dpred) {
        TM_TRY(tm_op_check_tensor(ctx, op, "dpred", dpred, TM_F32));
        TM_TRY(tm_op_check_same_shape(op, "dpred", dpred, "pred", pred));
    }
    tm_ctx_cpu_enter(ctx);
    *loss = tm_cpu_mse_forward(dpred ? dpred->data : NULL, pred->data, target->data,
                               (long)tm_tensor_numel(pred));
    return TM_OK;
}
