/* tm_tensor: shape checks, views, reshape, allocation, bf16 rounding. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/rng.h"
#include "core/tensor.h"

Test(tensor, view_inside_range_points_at_offset) {
    float buf[10];
    tm_tensor t, v;
    int64_t s10[1] = {10}, s3[1] = {3};
    cr_assert_eq(tm_tensor_wrap(&t, buf, TM_F32, TM_CPU, 1, s10), TM_OK);
    cr_assert_eq(tm_tensor_view(&v, &t, 7, 1, s3), TM_OK);
    cr_assert_eq(v.data, (void *)(buf + 7));
    cr_assert_eq(v.owns, 0);
    cr_assert_eq(tm_tensor_numel(&v), 3);
}

Test(tensor, views_out_of_range_rejected) {
    float buf[10];
    tm_tensor t, v;
    int64_t s10[1] = {10}, s3[1] = {3}, s11[1] = {11}, s25[2] = {2, 5};
    cr_assert_eq(tm_tensor_wrap(&t, buf, TM_F32, TM_CPU, 1, s10), TM_OK);
    cr_assert_eq(tm_tensor_view(&v, &t, 8, 1, s3), TM_ERANGE);
    cr_assert(strstr(tm_last_error(), "3 elements at offset 8"), "message: %s", tm_last_error());
    cr_assert_eq(tm_tensor_view(&v, &t, -1, 1, s3), TM_ERANGE);
    cr_assert_eq(tm_tensor_view(&v, &t, 0, 1, s11), TM_ERANGE);
    cr_assert_eq(tm_tensor_view(&v, &t, 11, 1, s3), TM_ERANGE);
    cr_assert_eq(tm_tensor_view(&v, &t, INT64_MAX, 1, s3), TM_ERANGE);
    /* The whole tensor, reshaped, is fine. */
    cr_assert_eq(tm_tensor_view(&v, &t, 0, 2, s25), TM_OK);
}

Test(tensor, reshape_numel_mismatch_rejected) {
    tm_tensor t, r;
    int64_t s[3] = {2, 3, 4}, ok[2] = {6, 4}, bad[2] = {5, 5};
    cr_assert_eq(tm_tensor_alloc(&t, TM_F32, TM_CPU, 3, s), TM_OK);
    cr_assert_eq(tm_tensor_reshape(&r, &t, 2, bad), TM_EINVAL);
    cr_assert_eq(tm_tensor_reshape(&r, &t, 2, ok), TM_OK);
    cr_assert_eq(r.data, t.data);
    cr_assert_eq(r.ndim, 2);
    cr_assert_eq(r.shape[0], 6);
    cr_assert_eq(r.owns, 0);
    tm_tensor_free(&r); /* a view: must not free t's memory */
    tm_tensor_free(&t);
    cr_assert_null(t.data);
}

Test(tensor, bad_shapes_rejected) {
    float x[4];
    tm_tensor t;
    int64_t neg[2] = {2, -1}, five[5] = {1, 1, 1, 1, 4};
    cr_assert_eq(tm_tensor_wrap(&t, x, TM_F32, TM_CPU, 2, neg), TM_EINVAL);
    cr_assert_eq(tm_tensor_wrap(&t, x, TM_F32, TM_CPU, 5, five), TM_EINVAL);
    cr_assert_eq(tm_tensor_wrap(&t, x, TM_F32, TM_CPU, -1, five), TM_EINVAL);
    cr_assert_eq(tm_tensor_wrap(&t, x, (tm_dtype)7, TM_CPU, 1, five + 4), TM_EINVAL);
    int64_t huge[3] = {INT64_MAX / 2, 4, 4};
    cr_assert_eq(tm_tensor_alloc(&t, TM_F32, TM_CPU, 3, huge), TM_ERANGE);
}

Test(tensor, alloc_is_aligned_and_zeroed) {
    int64_t shapes[][2] = {{1, 1}, {3, 7}, {64, 65}, {0, 5}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        tm_tensor t;
        cr_assert_eq(tm_tensor_alloc(&t, TM_F32, TM_CPU, 2, shapes[k]), TM_OK);
        cr_assert_not_null(t.data);
        cr_assert_eq((uintptr_t)t.data % 64, 0);
        cr_assert_eq(t.owns, 1);
        const float *x = t.data;
        for (int64_t i = 0; i < tm_tensor_numel(&t); i++) cr_assert_eq(x[i], 0.0f);
        cr_assert_eq(tm_tensor_nbytes(&t), (size_t)(shapes[k][0] * shapes[k][1]) * 4);
        tm_tensor_free(&t);
    }
}

Test(tensor, cuda_alloc_says_not_implemented) {
    tm_tensor t;
    int64_t s[1] = {4};
    cr_assert_eq(tm_tensor_alloc(&t, TM_F32, TM_CUDA, 1, s), TM_ENOTIMPL);
    cr_assert(strstr(tm_last_error(), "cuda"));
}

Test(tensor, describe_and_sizes) {
    char buf[64];
    tm_tensor t;
    int64_t s[3] = {2, 3, 4};
    cr_assert_eq(tm_tensor_wrap(&t, NULL, TM_BF16, TM_CPU, 3, s), TM_OK);
    cr_assert_str_eq(tm_tensor_describe(&t, buf, sizeof buf), "bf16[2,3,4]@cpu");
    cr_assert_eq(tm_tensor_nbytes(&t), 48);
    cr_assert_eq(tm_tensor_wrap(&t, NULL, TM_I32, TM_CUDA, 0, NULL), TM_OK);
    cr_assert_eq(tm_tensor_numel(&t), 1);
    cr_assert_str_eq(tm_tensor_describe(&t, buf, sizeof buf), "i32[]@cuda");
    char small[6];
    tm_tensor_describe(&t, small, sizeof small); /* truncates, stays terminated */
    cr_assert_eq(strlen(small), 5);
    tm_tensor a, b;
    int64_t s2[2] = {2, 3}, s3[2] = {3, 2};
    tm_tensor_wrap(&a, NULL, TM_F32, TM_CPU, 2, s2);
    tm_tensor_wrap(&b, NULL, TM_F32, TM_CPU, 2, s3);
    cr_assert_not(tm_tensor_same_shape(&a, &b));
    cr_assert(tm_tensor_same_shape(&a, &a));
}

static uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

Test(tensor, bf16_round_trip_is_exact_for_every_bf16_value) {
    for (uint32_t b = 0; b < 65536; b++) {
        float x = tm_bf16_to_f32((uint16_t)b);
        cr_assert_eq(bits_of(x), b << 16);
        if (isnan(x)) cr_assert(isnan(tm_bf16_to_f32(tm_f32_to_bf16(x))));
        else cr_assert_eq(tm_f32_to_bf16(x), b, "bf16 0x%04x", b);
    }
}

Test(tensor, bf16_rounds_to_nearest_even) {
    /* Halfway cases: 1 + 2^-8 lies between 1 (even) and 1 + 2^-7 (odd). */
    cr_assert_eq(tm_bf16_to_f32(tm_f32_to_bf16(1.0f + 0x1p-8f)), 1.0f);
    /* 1 + 3*2^-8 lies between 1 + 2^-7 (odd) and 1 + 2^-6 (even). */
    cr_assert_eq(tm_bf16_to_f32(tm_f32_to_bf16(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
    /* Just above halfway goes up. */
    cr_assert_eq(tm_bf16_to_f32(tm_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f)), 1.0f + 0x1p-7f);
    cr_assert_eq(tm_bf16_to_f32(tm_f32_to_bf16(-(1.0f + 0x1p-8f + 0x1p-20f))),
                 -(1.0f + 0x1p-7f));
    /* The largest float rounds past the largest bf16: Inf. */
    cr_assert(isinf(tm_bf16_to_f32(tm_f32_to_bf16(0x1.fffffep127f))));
    /* NaN stays NaN, even one whose payload is only in the dropped bits. */
    cr_assert(isnan(tm_bf16_to_f32(tm_f32_to_bf16(float_of(0x7f800001u)))));
    cr_assert(isnan(tm_bf16_to_f32(tm_f32_to_bf16(NAN))));
    cr_assert(isinf(tm_bf16_to_f32(tm_f32_to_bf16(INFINITY))));

    /* Random floats: the result is the nearer of the two bf16 neighbours
     * (in double), and on a tie the one with an even last bit. */
    tm_rng r;
    tm_rng_seed(&r, 11, 0);
    for (int k = 0; k < 200000; k++) {
        uint32_t u = (uint32_t)tm_rng_u64(&r);
        if ((u & 0x7f800000u) == 0x7f800000u) continue;
        if (k % 4 == 0) u = (u & 0xffff0000u) | 0x8000u; /* force exact ties often */
        float x = float_of(u);
        uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u; /* toward zero, away from zero */
        if ((hi & 0x7f800000u) == 0x7f800000u) continue; /* next to Inf: checked above */
        double dlo = fabs((double)x - (double)float_of(lo));
        double dhi = fabs((double)float_of(hi) - (double)x);
        uint16_t want;
        if (dlo < dhi) want = (uint16_t)(lo >> 16);
        else if (dhi < dlo) want = (uint16_t)(hi >> 16);
        else want = (uint16_t)(((lo >> 16) & 1u) ? hi >> 16 : lo >> 16);
        cr_assert_eq(tm_f32_to_bf16(x), want, "x bits 0x%08x", u);
    }
}
