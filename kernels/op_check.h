/* Argument checks shared by the tensor ops (internal to kernels/).
 * Definition: kernels/ops.h ("each op checks that dtypes, shapes and devices
 * agree; the error names the op, the argument and the shapes").
 *
 * Messages read "op <name>: argument <arg> ..." and show shapes with
 * tm_tensor_describe ("f32[2,3]@cpu"). */
#ifndef TM_KERNELS_OP_CHECK_H
#define TM_KERNELS_OP_CHECK_H

#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/ctx.h"

/* ctx is usable, t is non-NULL, has data (unless empty) and the dtype, and
 * lives on ctx's device. A CUDA tensor gives TM_ENOTIMPL ("cuda not built
 * yet") until the CUDA twins exist. */
tm_status tm_op_check_tensor(const tm_ctx *ctx, const char *op, const char *arg,
                             const tm_tensor *t, tm_dtype dtype);
/* t has exactly ref's shape. */
tm_status tm_op_check_same_shape(const char *op, const char *arg, const tm_tensor *t,
                                 const char *ref_arg, const tm_tensor *ref);
/* Fails with "op <op>: argument <arg> has shape <t>, expected <expected>". */
tm_status tm_op_shape_error(const char *op, const char *arg, const tm_tensor *t,
                            const char *expected_fmt, ...) __attribute__((format(printf, 4, 5)));
/* Views t as [N, C] (C = last dim); fails for a scalar or a C above INT_MAX. */
tm_status tm_op_rows_cols(const char *op, const char *arg, const tm_tensor *t, long *N, int *C);
/* t has numel == n (a per-row statistic, a mask, targets). */
tm_status tm_op_check_numel(const char *op, const char *arg, const tm_tensor *t, int64_t n,
                            const char *what);

#endif
