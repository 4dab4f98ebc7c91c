/* tm_tensor: a typed, shaped view of memory on one device.
 *
 * Row-major and contiguous (strides follow from the shape): every op in
 * kernels/ takes contiguous tensors, and a view is a contiguous sub-range
 * (an element offset plus a new shape). A tensor never owns its memory unless
 * made by tm_tensor_alloc (then tm_tensor_free releases it). */
#ifndef TM_TENSOR_H
#define TM_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define TM_MAX_DIMS 4

typedef enum { TM_F32 = 0, TM_BF16, TM_I32 } tm_dtype;
typedef enum { TM_CPU = 0, TM_CUDA } tm_device;

typedef struct {
    void *data;
    tm_dtype dtype;
    tm_device device;
    int ndim;                     /* 0..TM_MAX_DIMS; 0 is a scalar */
    int64_t shape[TM_MAX_DIMS];
    int owns;                     /* 1 when made by tm_tensor_alloc */
} tm_tensor;

size_t tm_dtype_size(tm_dtype dt);
const char *tm_dtype_name(tm_dtype dt);    /* "f32", "bf16", "i32" */
const char *tm_device_name(tm_device dev); /* "cpu", "cuda" */

/* Wraps existing memory (no ownership). Fails on ndim or a negative dim. */
tm_status tm_tensor_wrap(tm_tensor *t, void *data, tm_dtype dt, tm_device dev,
                         int ndim, const int64_t *shape);
/* Allocates zeroed, 64-byte aligned memory (CPU; CUDA once kernels/cuda exists). */
tm_status tm_tensor_alloc(tm_tensor *t, tm_dtype dt, tm_device dev, int ndim, const int64_t *shape);
void tm_tensor_free(tm_tensor *t); /* no-op for views, wraps and NULL data */

int64_t tm_tensor_numel(const tm_tensor *t);
size_t tm_tensor_nbytes(const tm_tensor *t);
/* Contiguous view: elements [offset, offset + numel(shape)) of t, reshaped.
 * Fails (TM_ERANGE) when the range leaves t. */
tm_status tm_tensor_view(tm_tensor *view, const tm_tensor *t, int64_t offset, int ndim,
                         const int64_t *shape);
/* Same element count, new shape. */
tm_status tm_tensor_reshape(tm_tensor *view, const tm_tensor *t, int ndim, const int64_t *shape);
int tm_tensor_same_shape(const tm_tensor *a, const tm_tensor *b);
/* "f32[2,3,4]@cpu" into buf; returns buf. */
const char *tm_tensor_describe(const tm_tensor *t, char *buf, size_t cap);

/* bf16 conversion (round to nearest even; NaN stays NaN). */
uint16_t tm_f32_to_bf16(float x);
float tm_bf16_to_f32(uint16_t x);

#endif
