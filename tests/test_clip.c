/* Gradient-norm clipping and the non-finite scan. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/clip.h"
#include "core/rng.h"

static double norm_ref(const float *g, long n) {
    long double s = 0; /* wider than the code's double: an independent check */
    for (long i = 0; i < n; i++) s += (long double)g[i] * g[i];
    return (double)sqrtl(s);
}

Test(clip, norm_matches_a_direct_sum) {
    long sizes[] = {0, 1, 7, 8192, 8193, 100000, 3000001};
    tm_rng r;
    tm_rng_seed(&r, 1, 0);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        long n = sizes[k];
        float *g = malloc((size_t)(n ? n : 1) * sizeof *g);
        tm_rng_fill_normal(&r, g, n, 0.0f, 1.0f);
        double want = norm_ref(g, n);
        cr_assert(fabs(tm_grad_norm(g, n) - want) <= 1e-10 * (want + 1), "n = %ld", n);
        free(g);
    }
    float three_four[2] = {3.0f, -4.0f};
    cr_assert_eq(tm_grad_norm(three_four, 2), 5.0);
}

Test(clip, norm_is_the_same_for_any_thread_count) {
    long n = 2000003;
    float *g = malloc((size_t)n * sizeof *g);
    tm_rng r;
    tm_rng_seed(&r, 2, 0);
    tm_rng_fill_normal(&r, g, n, 0.0f, 1e-3f);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    double one = tm_grad_norm(g, n);
    omp_set_num_threads(3);
    double three = tm_grad_norm(g, n);
    omp_set_num_threads(saved);
    cr_assert_eq(memcmp(&one, &three, sizeof one), 0);
    free(g);
}

Test(clip, below_threshold_leaves_gradient_alone) {
    float g[4] = {0.1f, -0.2f, 0.3f, 0.0f}, orig[4];
    memcpy(orig, g, sizeof g);
    double before = -1;
    cr_assert_eq(tm_clip_grad_norm(g, 4, 1.0, &before), TM_OK);
    cr_assert(fabs(before - sqrt(0.01 + 0.04 + 0.09)) < 1e-7);
    cr_assert_eq(memcmp(g, orig, sizeof g), 0);
    /* Exactly at the threshold: no scaling either. */
    float e[2] = {3.0f, 4.0f};
    cr_assert_eq(tm_clip_grad_norm(e, 2, 5.0, NULL), TM_OK);
    cr_assert_eq(e[0], 3.0f);
}

Test(clip, above_threshold_scales_to_exactly_max_norm) {
    long n = 50000;
    float *g = malloc((size_t)n * sizeof *g), *orig = malloc((size_t)n * sizeof *orig);
    tm_rng r;
    tm_rng_seed(&r, 3, 0);
    tm_rng_fill_normal(&r, g, n, 0.0f, 1.0f);
    memcpy(orig, g, (size_t)n * sizeof *g);
    double before;
    cr_assert_eq(tm_clip_grad_norm(g, n, 0.5, &before), TM_OK);
    cr_assert(fabs(before - norm_ref(orig, n)) < 1e-9 * before);
    double after = norm_ref(g, n);
    cr_assert(fabs(after - 0.5) < 1e-6 * 0.5, "norm after clipping %.12g", after);
    /* The direction is kept: every element scaled by the same factor. */
    double scale = 0.5 / before;
    for (long i = 0; i < n; i++)
        cr_assert(fabs(g[i] - orig[i] * scale) <= 1e-7 * fabs(orig[i] * scale) + 1e-30);
    free(g);
    free(orig);
}

Test(clip, nonfinite_norm_is_an_error_and_leaves_g_untouched) {
    float bad_values[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        float g[5] = {1, 2, 3, 4, 5}, orig[5];
        g[3] = bad_values[k];
        memcpy(orig, g, sizeof g);
        double before = 0;
        cr_assert_eq(tm_clip_grad_norm(g, 5, 0.1, &before), TM_ENUMERIC);
        cr_assert_not(isfinite(before));
        cr_assert(strstr(tm_last_error(), "at 3"), "message: %s", tm_last_error());
        cr_assert_eq(memcmp(g, orig, sizeof g), 0);
    }
    float g[1] = {1};
    cr_assert_eq(tm_clip_grad_norm(g, 1, 0.0, NULL), TM_EINVAL);
    cr_assert_eq(tm_clip_grad_norm(g, 1, NAN, NULL), TM_EINVAL);
}

Test(clip, first_nonfinite_is_found_where_it_is) {
    long n = 1000003;
    float *x = malloc((size_t)n * sizeof *x);
    tm_rng r;
    tm_rng_seed(&r, 4, 0);
    tm_rng_fill_uniform(&r, x, n, -1e38f, 1e38f); /* huge but finite: no false positives */
    x[17] = 0x1.fffffep127f;
    x[18] = -0.0f;
    x[19] = 0x1p-149f; /* smallest subnormal */
    cr_assert_eq(tm_find_nonfinite(x, n), -1);
    cr_assert_eq(tm_find_nonfinite(x, 0), -1);
    long spots[] = {0, 5, 8191, 8192, 500000, n - 1};
    for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
        long at = spots[k];
        float keep = x[at];
        x[at] = k % 2 ? INFINITY : NAN;
        cr_assert_eq(tm_find_nonfinite(x, n), at);
        /* A second bad value later does not hide the first. */
        float keep_last = x[n - 1];
        x[n - 1] = -INFINITY;
        cr_assert_eq(tm_find_nonfinite(x, n), at);
        x[n - 1] = keep_last;
        x[at] = keep;
    }
    cr_assert_eq(tm_find_nonfinite(x, n), -1);
    free(x);
}
