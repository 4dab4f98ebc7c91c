/* Argument checks shared by the tensor ops. Definition: op_check.h. */
#include "kernels/op_check.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

tm_status tm_op_check_tensor(const tm_ctx *ctx, const char *op, const char *arg,
                             const tm_tensor *t, tm_dtype dtype) {
    if (!ctx) return tm_fail(TM_EINVAL, "op %s: ctx must not be NULL", op);
    if (!t) return tm_fail(TM_EINVAL, "op %s: argument %s must not be NULL", op, arg);
    char buf[96];
    if (t->device == TM_CUDA)
        return tm_fail(TM_ENOTIMPL, "op %s: cuda not built yet (argument %s is %s)", op, arg,
                       tm_tensor_describe(t, buf, sizeof buf));
    if (t->device != ctx->device)
        return tm_fail(TM_EINVAL, "op %s: argument %s is on %s but the ctx runs on %s", op, arg,
                       tm_device_name(t->device), tm_device_name(ctx->device));
    if (t->dtype != dtype)
        return tm_fail(TM_EINVAL, "op %s: argument %s must be %s (got %s)", op, arg,
                       tm_dtype_name(dtype), tm_tensor_describe(t, buf, sizeof buf));
    if (!t->data && tm_tensor_numel(t) > 0)
        return tm_fail(TM_EINVAL, "op %s: argument %s has no data", op, arg);
    return TM_OK;
}

tm_status tm_op_check_same_shape(const char *op, const char *arg, const tm_tensor *t,
                                 const char *ref_arg, const tm_tensor *ref) {
    if (tm_tensor_same_shape(t, ref)) return TM_OK;
    char a[96], b[96];
    return tm_fail(TM_EINVAL, "op %s: argument %s has shape %s, expected the shape of %s %s", op,
                   arg, tm_tensor_describe(t, a, sizeof a), ref_arg,
                   tm_tensor_describe(ref, b, sizeof b));
}

tm_status tm_op_shape_error(const char *op, const char *arg, const tm_tensor *t,
                            const char *expected_fmt, ...) {
    char expected[160], buf[96];
    va_list ap;
    va_start(ap, expected_fmt);
    vsnprintf(expected, sizeof expected, expected_fmt, ap);
    va_end(ap);
    return tm_fail(TM_EINVAL, "op %s: argument %s has shape %s, expected %s", op, arg,
                   tm_tensor_describe(t, buf, sizeof buf), expected);
}

tm_status tm_op_rows_cols(const char *op, const char *arg, const tm_tensor *t, long *N, int *C) {
    if (t->ndim < 1) return tm_op_shape_error(op, arg, t, "at least 1 dimension");
    int64_t c = t->shape[t->ndim - 1];
    if (c > INT_MAX) return tm_op_shape_error(op, arg, t, "a last dimension below 2^31");
    *C = (int)c;
    *N = c > 0 ? (long)(tm_tensor_numel(t) / c) : 0;
    return TM_OK;
}

tm_status tm_op_check_numel(const char *op, const char *arg, const tm_tensor *t, int64_t n,
                            const char *what) {
    if (tm_tensor_numel(t) == n) return TM_OK;
    return tm_op_shape_error(op, arg, t, "%lld elements (%s)", (long long)n, what);
}
