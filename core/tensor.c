/* tm_tensor: shapes, views, allocation and bf16 conversion. See tensor.h.
 *
 * Definition: shared DESIGN.md "Layout" (core/tensor) and principle 5: a
 * tensor is plain data (pointer, dtype, device, shape); ops in kernels/ read
 * it and dispatch on the device. Nothing here touches device memory yet:
 * tm_tensor_alloc on TM_CUDA says so loudly until kernels/cuda adds it. */
#include "core/tensor.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 64 bytes: one cache line, and the widest SIMD load (AVX-512) we may use. */
#define TM_TENSOR_ALIGN 64

size_t tm_dtype_size(tm_dtype dt) {
    switch (dt) {
    case TM_F32: return 4;
    case TM_BF16: return 2;
    case TM_I32: return 4;
    }
    return 0;
}

const char *tm_dtype_name(tm_dtype dt) {
    switch (dt) {
    case TM_F32: return "f32";
    case TM_BF16: return "bf16";
    case TM_I32: return "i32";
    }
    return "?";
}

const char *tm_device_name(tm_device dev) {
    switch (dev) {
    case TM_CPU: return "cpu";
    case TM_CUDA: return "cuda";
    }
    return "?";
}

/* Checks dtype, device, ndim and every dim; computes numel without overflow
 * (the byte count must also fit in size_t, so bound by SIZE_MAX / 4). */
static tm_status check_shape(tm_dtype dt, tm_device dev, int ndim, const int64_t *shape,
                             int64_t *numel) {
    if (tm_dtype_size(dt) == 0) return tm_fail(TM_EINVAL, "tensor: unknown dtype %d", (int)dt);
    if (dev != TM_CPU && dev != TM_CUDA)
        return tm_fail(TM_EINVAL, "tensor: unknown device %d", (int)dev);
    if (ndim < 0 || ndim > TM_MAX_DIMS)
        return tm_fail(TM_EINVAL, "tensor: ndim must be in [0, %d] (got %d)", TM_MAX_DIMS, ndim);
    if (ndim > 0 && !shape) return tm_fail(TM_EINVAL, "tensor: shape is NULL for ndim %d", ndim);
    const int64_t limit = (int64_t)(SIZE_MAX / 4 < INT64_MAX ? SIZE_MAX / 4 : INT64_MAX);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return tm_fail(TM_EINVAL, "tensor: dim %d must be >= 0 (got %" PRId64 ")", i,
                           shape[i]);
        if (shape[i] > 0 && n > limit / shape[i])
            return tm_fail(TM_ERANGE, "tensor: shape too large (dim %d = %" PRId64 ")", i,
                           shape[i]);
        n *= shape[i];
    }
    *numel = n;
    return TM_OK;
}

static void set_shape(tm_tensor *t, int ndim, const int64_t *shape) {
    t->ndim = ndim;
    for (int i = 0; i < TM_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 0;
}

tm_status tm_tensor_wrap(tm_tensor *t, void *data, tm_dtype dt, tm_device dev, int ndim,
                         const int64_t *shape) {
    int64_t n;
    TM_TRY(check_shape(dt, dev, ndim, shape, &n));
    t->data = data;
    t->dtype = dt;
    t->device = dev;
    set_shape(t, ndim, shape);
    t->owns = 0;
    return TM_OK;
}

tm_status tm_tensor_alloc(tm_tensor *t, tm_dtype dt, tm_device dev, int ndim,
                          const int64_t *shape) {
    int64_t n;
    TM_TRY(check_shape(dt, dev, ndim, shape, &n));
    if (dev == TM_CUDA)
        return tm_fail(TM_ENOTIMPL, "tensor: allocation on cuda is not implemented yet");
    /* aligned_alloc wants a multiple of the alignment; a zero-element tensor
     * still gets one line so data is never NULL for an owned tensor. */
    size_t bytes = (size_t)n * tm_dtype_size(dt);
    size_t rounded = (bytes + TM_TENSOR_ALIGN - 1) / TM_TENSOR_ALIGN * TM_TENSOR_ALIGN;
    if (rounded == 0) rounded = TM_TENSOR_ALIGN;
    void *data = aligned_alloc(TM_TENSOR_ALIGN, rounded);
    if (!data) return tm_fail(TM_ENOMEM, "tensor: cannot allocate %zu bytes", rounded);
    memset(data, 0, rounded);
    t->data = data;
    t->dtype = dt;
    t->device = dev;
    set_shape(t, ndim, shape);
    t->owns = 1;
    return TM_OK;
}

void tm_tensor_free(tm_tensor *t) {
    if (!t) return;
    if (t->owns && t->data) free(t->data);
    t->data = NULL;
    t->owns = 0;
}

int64_t tm_tensor_numel(const tm_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t tm_tensor_nbytes(const tm_tensor *t) {
    return (size_t)tm_tensor_numel(t) * tm_dtype_size(t->dtype);
}

tm_status tm_tensor_view(tm_tensor *view, const tm_tensor *t, int64_t offset, int ndim,
                         const int64_t *shape) {
    int64_t n;
    TM_TRY(check_shape(t->dtype, t->device, ndim, shape, &n));
    int64_t total = tm_tensor_numel(t);
    if (offset < 0 || offset > total || n > total - offset)
        return tm_fail(TM_ERANGE,
                       "tensor: view of %" PRId64 " elements at offset %" PRId64
                       " leaves a tensor of %" PRId64 " elements",
                       n, offset, total);
    tm_tensor v = *t;
    /* A wrap of NULL (shape only) stays NULL rather than doing arithmetic on it. */
    v.data = t->data ? (char *)t->data + (size_t)offset * tm_dtype_size(t->dtype) : NULL;
    set_shape(&v, ndim, shape);
    v.owns = 0;
    *view = v;
    return TM_OK;
}

tm_status tm_tensor_reshape(tm_tensor *view, const tm_tensor *t, int ndim,
                            const int64_t *shape) {
    int64_t n;
    TM_TRY(check_shape(t->dtype, t->device, ndim, shape, &n));
    int64_t total = tm_tensor_numel(t);
    if (n != total) {
        char buf[96];
        return tm_fail(TM_EINVAL, "tensor: reshape of %s to %" PRId64 " elements (needs %" PRId64
                       ")", tm_tensor_describe(t, buf, sizeof buf), n, total);
    }
    return tm_tensor_view(view, t, 0, ndim, shape);
}

int tm_tensor_same_shape(const tm_tensor *a, const tm_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *tm_tensor_describe(const tm_tensor *t, char *buf, size_t cap) {
    if (!buf || cap == 0) return buf;
    size_t len = 0;
    int w = snprintf(buf, cap, "%s[", tm_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && w >= 0; i++) {
        len += (size_t)w;
        if (len >= cap) return buf;
        w = snprintf(buf + len, cap - len, i ? ",%" PRId64 : "%" PRId64, t->shape[i]);
    }
    if (w < 0) return buf;
    len += (size_t)w;
    if (len >= cap) return buf;
    snprintf(buf + len, cap - len, "]@%s", tm_device_name(t->device));
    return buf;
}

uint16_t tm_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    /* NaN: keep sign and top mantissa bits, force a quiet bit so truncation
     * cannot turn a NaN with only low mantissa bits into an Inf. */
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))
        return (uint16_t)((u >> 16) | 0x0040u);
    /* Round to nearest, ties to even: add 0x7fff plus the lowest kept bit.
     * A carry into the exponent is the correct rounding (up to Inf at the top). */
    uint32_t lsb = (u >> 16) & 1u;
    u += 0x7fffu + lsb;
    return (uint16_t)(u >> 16);
}

float tm_bf16_to_f32(uint16_t x) {
    uint32_t u = (uint32_t)x << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
