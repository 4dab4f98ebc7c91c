/* tm_params: declaration rules, layout, finalize, decay mask. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/rng.h"

Test(params, duplicate_name_rejected) {
    tm_params p;
    tm_params_init(&p);
    int64_t s[1] = {3};
    size_t off;
    cr_assert_eq(tm_params_declare(&p, "w", 1, s, 0, &off), TM_OK);
    cr_assert_eq(tm_params_declare(&p, "w", 1, s, 0, &off), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "'w'"), "message: %s", tm_last_error());
    cr_assert_eq(p.n_views, 1);
    tm_params_free(&p);
}

Test(params, declare_after_finalize_rejected) {
    tm_params p;
    tm_params_init(&p);
    int64_t s[1] = {3};
    size_t off;
    cr_assert_eq(tm_params_declare(&p, "a", 1, s, 0, &off), TM_OK);
    cr_assert_eq(tm_params_finalize(&p), TM_OK);
    cr_assert_eq(tm_params_declare(&p, "b", 1, s, 0, &off), TM_ESTATE);
    cr_assert_eq(tm_params_finalize(&p), TM_ESTATE);
    tm_params_free(&p);
}

Test(params, bad_names_and_shapes_rejected) {
    tm_params p;
    tm_params_init(&p);
    size_t off;
    int64_t s[2] = {2, 3}, zero[2] = {2, 0}, neg[1] = {-4};
    char name[TM_PARAM_NAME_MAX + 1];
    memset(name, 'x', sizeof name);
    name[TM_PARAM_NAME_MAX] = '\0'; /* one too long */
    cr_assert_eq(tm_params_declare(&p, name, 2, s, 0, &off), TM_EINVAL);
    name[TM_PARAM_NAME_MAX - 1] = '\0'; /* the longest allowed */
    cr_assert_eq(tm_params_declare(&p, name, 2, s, 0, &off), TM_OK);
    cr_assert_eq(tm_params_declare(&p, "", 2, s, 0, &off), TM_EINVAL);
    cr_assert_eq(tm_params_declare(&p, "z", 2, zero, 0, &off), TM_EINVAL);
    cr_assert_eq(tm_params_declare(&p, "n", 1, neg, 0, &off), TM_EINVAL);
    cr_assert_eq(tm_params_declare(&p, "d", TM_MAX_DIMS + 1, s, 0, &off), TM_EINVAL);
    cr_assert_eq(p.n_views, 1);
    tm_params_free(&p);
}

/* Many views of random shapes (more than the first capacity of the list). */
static void declare_random(tm_params *p, int n_views, size_t *offsets) {
    tm_rng r;
    tm_rng_seed(&r, 5, 0);
    for (int i = 0; i < n_views; i++) {
        int ndim = 1 + (int)tm_rng_below(&r, TM_MAX_DIMS);
        int64_t s[TM_MAX_DIMS];
        for (int d = 0; d < ndim; d++) s[d] = 1 + (int64_t)tm_rng_below(&r, 7);
        char name[32];
        snprintf(name, sizeof name, "layers.%d.w", i);
        cr_assert_eq(tm_params_declare(p, name, ndim, s, i % 3 == 0 ? TM_PARAM_NO_DECAY : 0,
                                       &offsets[i]),
                     TM_OK);
    }
}

Test(params, offsets_aligned_and_disjoint) {
    enum { N = 100 };
    tm_params p;
    size_t off[N];
    tm_params_init(&p);
    declare_random(&p, N, off);
    cr_assert_eq(tm_params_finalize(&p), TM_OK);
    cr_assert_eq(p.n_views, N);
    size_t end = 0;
    for (int i = 0; i < N; i++) {
        const tm_param_view *v = &p.views[i];
        cr_assert_eq(v->offset, off[i]);
        cr_assert_eq(v->offset % 16, 0);
        cr_assert_eq((uintptr_t)tm_params_at(&p, v->offset) % 64, 0);
        cr_assert_eq((uintptr_t)tm_params_grad_at(&p, v->offset) % 64, 0);
        cr_assert_geq(v->offset, end, "view %d overlaps the one before", i);
        size_t numel = 1;
        for (int d = 0; d < v->ndim; d++) numel *= (size_t)v->shape[d];
        cr_assert_eq(v->numel, numel);
        end = v->offset + v->numel;
    }
    cr_assert_eq(p.n, end);
    /* Finalize zeroes data and grad over the whole vector. */
    for (size_t i = 0; i < p.n; i++) {
        cr_assert_eq(p.data[i], 0.0f);
        cr_assert_eq(p.grad[i], 0.0f);
    }
    tm_params_free(&p);
    cr_assert_null(p.data);
    cr_assert_eq(p.n_views, 0);
}

Test(params, decay_mask_matches_flags) {
    enum { N = 40 };
    tm_params p;
    size_t off[N];
    tm_params_init(&p);
    uint8_t *mask = NULL;
    declare_random(&p, N, off);
    cr_assert_eq(tm_params_decay_mask(&p, &mask), TM_ESTATE);
    cr_assert_eq(tm_params_finalize(&p), TM_OK);
    cr_assert_eq(tm_params_decay_mask(&p, &mask), TM_OK);
    for (size_t i = 0; i < p.n; i++) {
        const tm_param_view *v = tm_params_view_at(&p, i);
        int want = v && !(v->flags & TM_PARAM_NO_DECAY); /* padding: no decay */
        cr_assert_eq(mask[i], want, "float %zu", i);
    }
    for (int i = 0; i < N; i++) {
        const tm_param_view *v = &p.views[i];
        cr_assert_eq(mask[v->offset], i % 3 == 0 ? 0 : 1);
        cr_assert_eq(tm_params_view_at(&p, v->offset + v->numel - 1), v);
    }
    cr_assert_null(tm_params_view_at(&p, p.n));
    free(mask);
    tm_params_free(&p);
}

Test(params, find_and_zero_grad) {
    tm_params p;
    tm_params_init(&p);
    int64_t s[2] = {4, 5}, b[1] = {5};
    size_t w_off, b_off;
    cr_assert_eq(tm_params_declare(&p, "fc.w", 2, s, 0, &w_off), TM_OK);
    cr_assert_eq(tm_params_declare(&p, "fc.b", 1, b, TM_PARAM_NO_DECAY, &b_off), TM_OK);
    cr_assert_eq(tm_params_finalize(&p), TM_OK);
    const tm_param_view *v = tm_params_find(&p, "fc.b");
    cr_assert_not_null(v);
    cr_assert_eq(v->offset, b_off);
    cr_assert_eq(v->shape[0], 5);
    cr_assert_null(tm_params_find(&p, "fc.c"));
    for (size_t i = 0; i < p.n; i++) p.grad[i] = 1.0f + (float)i;
    tm_params_zero_grad(&p);
    for (size_t i = 0; i < p.n; i++) cr_assert_eq(p.grad[i], 0.0f);
    tm_params_free(&p);
    tm_params_free(&p); /* twice is harmless */
}
