/* Argument checks shared by the sequence ops (op_conv1d.c, op_rope.c,
 * op_attention.c, op_scan.c): internal to kernels/, not part of the op
 * interface. Definition: the conventions of kernels/ops.h (every op checks
 * dtypes, shapes and devices and names the op, the argument and the shapes). */
#ifndef TM_KERNELS_SEQ_CHECK_H
#define TM_KERNELS_SEQ_CHECK_H

#include <stdio.h>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/ctx.h"

/* Fails unless t is a contiguous tensor of dtype dt and exactly the given
 * shape on ctx's device. The message shows the expected and the actual
 * tensor: "op scan: Bm must be f32[2,13,5]@cpu (got f32[2,13,4]@cpu)". */
static inline tm_status tm_seq_expect(const tm_ctx *ctx, const char *op, const char *arg,
                                      const tm_tensor *t, tm_dtype dt, int ndim,
                                      const int64_t *shape) {
    tm_tensor want = {0};
    want.dtype = dt;
    want.device = ctx->device;
    want.ndim = ndim;
    for (int i = 0; i < ndim; i++) want.shape[i] = shape[i];
    char wbuf[96], gbuf[96];
    if (!t || !t->data)
        return tm_fail(TM_EINVAL, "op %s: %s must be %s (got NULL)", op, arg,
                       tm_tensor_describe(&want, wbuf, sizeof wbuf));
    if (t->device == TM_CUDA)
        return tm_fail(TM_ENOTIMPL, "op %s: cuda not built yet (%s is on cuda)", op, arg);
    int ok = t->dtype == dt && t->device == ctx->device && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok)
        return tm_fail(TM_EINVAL, "op %s: %s must be %s (got %s)", op, arg,
                       tm_tensor_describe(&want, wbuf, sizeof wbuf),
                       tm_tensor_describe(t, gbuf, sizeof gbuf));
    return TM_OK;
}

/* As tm_seq_expect, but NULL (or a tensor without data) is accepted. */
static inline tm_status tm_seq_expect_opt(const tm_ctx *ctx, const char *op, const char *arg,
                                          const tm_tensor *t, tm_dtype dt, int ndim,
                                          const int64_t *shape) {
    if (!t || !t->data) return TM_OK;
    return tm_seq_expect(ctx, op, arg, t, dt, ndim, shape);
}

/* The ctx must exist; CUDA tensors wait for the CUDA twins (a later issue). */
static inline tm_status tm_seq_device(const tm_ctx *ctx, const char *op) {
    if (!ctx) return tm_fail(TM_EINVAL, "op %s: ctx must not be NULL", op);
    if (ctx->device == TM_CUDA) return tm_fail(TM_ENOTIMPL, "op %s: cuda not built yet", op);
    if (ctx->device != TM_CPU) return tm_fail(TM_EINVAL, "op %s: unknown device %d", op, (int)ctx->device);
    return TM_OK;
}

/* Data pointer of an optional tensor (NULL when absent). */
static inline void *tm_seq_data(const tm_tensor *t) { return t ? t->data : NULL; }

#endif
