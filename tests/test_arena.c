/* tm_arena: bump allocation, marks, over-capacity errors, planning. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"

Test(arena, over_capacity_error_names_sizes_and_changes_nothing) {
    tm_arena a;
    void *p, *q;
    cr_assert_eq(tm_arena_create(&a, 100), TM_OK);
    cr_assert_eq(tm_arena_alloc(&a, 64, 8, &p), TM_OK);
    cr_assert_eq(tm_arena_alloc(&a, 40, 8, &q), TM_ENOMEM);
    const char *msg = tm_last_error();
    cr_assert(strstr(msg, "40 bytes") && strstr(msg, "64 of 100"), "message: %s", msg);
    cr_assert_eq(tm_arena_mark(&a), 64);
    cr_assert_eq(tm_arena_alloc(&a, 36, 4, &q), TM_OK); /* exactly the rest fits */
    cr_assert_eq((char *)q, (char *)p + 64);
    cr_assert_eq(tm_arena_alloc(&a, 1, 1, &q), TM_ENOMEM);
    cr_assert_eq(tm_arena_alloc(&a, SIZE_MAX, 1, &q), TM_ENOMEM);
    tm_arena_free(&a);
}

Test(arena, allocations_are_aligned_and_disjoint) {
    tm_arena a;
    cr_assert_eq(tm_arena_create(&a, 1 << 16), TM_OK);
    size_t aligns[] = {1, 2, 4, 8, 16, 64, 128, 4096, 0};
    char *prev_end = NULL;
    for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        void *p;
        cr_assert_eq(tm_arena_alloc(&a, 3 + k, aligns[k], &p), TM_OK);
        size_t want = aligns[k] ? aligns[k] : TM_ARENA_DEFAULT_ALIGN;
        cr_assert_eq((uintptr_t)p % want, 0, "align %zu", want);
        if (prev_end) cr_assert_geq((char *)p, prev_end);
        memset(p, 0xab, 3 + k); /* ASan checks the bytes are ours */
        prev_end = (char *)p + 3 + k;
    }
    void *p;
    cr_assert_eq(tm_arena_alloc(&a, 8, 3, &p), TM_EINVAL);
    cr_assert_eq(tm_arena_alloc(&a, 8, 8192, &p), TM_EINVAL);
    tm_arena_free(&a);
}

Test(arena, mark_and_reset_to_reuse_memory) {
    tm_arena a;
    void *keep, *s1, *s2;
    cr_assert_eq(tm_arena_create(&a, 1024), TM_OK);
    cr_assert_eq(tm_arena_alloc(&a, 100, 16, &keep), TM_OK);
    size_t m = tm_arena_mark(&a);
    cr_assert_eq(tm_arena_alloc(&a, 500, 16, &s1), TM_OK);
    tm_arena_reset_to(&a, m);
    cr_assert_eq(tm_arena_mark(&a), m);
    cr_assert_eq(tm_arena_alloc(&a, 500, 16, &s2), TM_OK);
    cr_assert_eq(s1, s2);
    cr_assert_eq(a.peak, 112 + 500);
    tm_arena_reset(&a);
    cr_assert_eq(tm_arena_mark(&a), 0);
    cr_assert_eq(tm_arena_alloc(&a, 1024, 64, &s1), TM_OK);
    cr_assert_eq(s1, keep);
    tm_arena_free(&a);
    tm_arena_free(&a);
    tm_arena_free(NULL);
}

/* One allocation sequence, run against a plan and then for real. */
static tm_status sequence(tm_arena *a, void **ptrs) {
    TM_TRY(tm_arena_alloc(a, 1, 1, &ptrs[0]));
    TM_TRY(tm_arena_alloc(a, 10, 64, &ptrs[1]));
    size_t m = tm_arena_mark(a);
    TM_TRY(tm_arena_alloc(a, 300, 32, &ptrs[2])); /* scratch, released */
    tm_arena_reset_to(a, m);
    TM_TRY(tm_arena_alloc(a, 7, 4, &ptrs[3]));
    TM_TRY(tm_arena_alloc(a, 5, 128, &ptrs[4]));
    return TM_OK;
}

Test(arena, plan_mode_counts_aligned_sizes) {
    tm_arena plan;
    void *ptrs[5];
    tm_arena_plan_init(&plan);
    cr_assert_eq(sequence(&plan, ptrs), TM_OK);
    for (int i = 0; i < 5; i++) cr_assert_null(ptrs[i]);
    /* By hand: [0,1), pad to 64: [64,74), pad to 96: [96,396) released;
     * [76,83) at align 4, pad to 128: [128,133). Peak is 396. */
    cr_assert_eq(plan.used, 133);
    cr_assert_eq(tm_arena_planned_bytes(&plan), 396);

    tm_arena a;
    cr_assert_eq(tm_arena_create(&a, tm_arena_planned_bytes(&plan)), TM_OK);
    cr_assert_eq(sequence(&a, ptrs), TM_OK);
    cr_assert_eq((char *)ptrs[4] - (char *)ptrs[0], 128);
    cr_assert_eq(a.peak, a.capacity);
    tm_arena_free(&a);

    /* One byte less does not fit the same sequence. */
    cr_assert_eq(tm_arena_create(&a, tm_arena_planned_bytes(&plan) - 1), TM_OK);
    cr_assert_eq(sequence(&a, ptrs), TM_ENOMEM);
    tm_arena_free(&a);
    tm_arena_free(&plan);
}
