/* tm_schedule: values at the edges of warmup and decay, clamping, checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/schedule.h"

#define LR 1e-3f

static void near(float got, double want, const char *what) {
    cr_assert(fabs((double)got - want) <= 1e-6 * fabs(want) + 1e-12, "%s: got %.9g, want %.9g",
              what, (double)got, want);
}

Test(schedule, constant_is_flat_after_warmup) {
    tm_schedule s = tm_schedule_make(TM_LR_CONSTANT, LR, 0, 0);
    cr_assert_eq(tm_schedule_check(&s), TM_OK);
    cr_assert_eq(tm_schedule_lr(&s, 0), LR);
    cr_assert_eq(tm_schedule_lr(&s, -5), LR);
    cr_assert_eq(tm_schedule_lr(&s, 1000000), LR);
    s.warmup_steps = 4;
    near(tm_schedule_lr(&s, 0), LR / 4.0, "first warmup step");
    near(tm_schedule_lr(&s, 3), LR, "last warmup step");
    cr_assert_eq(tm_schedule_lr(&s, 4), LR);
}

Test(schedule, linear_decays_to_final_fraction_and_stays) {
    tm_schedule s = tm_schedule_make(TM_LR_LINEAR, LR, 0, 100);
    s.final_frac = 0.1f;
    cr_assert_eq(tm_schedule_check(&s), TM_OK);
    cr_assert_eq(tm_schedule_lr(&s, 0), LR);
    cr_assert_eq(tm_schedule_lr(&s, -1), LR);
    near(tm_schedule_lr(&s, 50), LR * (1.0 - 0.9 * 0.5), "midpoint");
    near(tm_schedule_lr(&s, 100), LR * 0.1, "total");
    cr_assert_eq(tm_schedule_lr(&s, 100), tm_schedule_lr(&s, 101));
    cr_assert_eq(tm_schedule_lr(&s, 100), tm_schedule_lr(&s, INT64_MAX));
    for (int64_t k = 1; k <= 100; k++)
        cr_assert_lt(tm_schedule_lr(&s, k), tm_schedule_lr(&s, k - 1), "step %lld", (long long)k);
    s.final_frac = 0.0f; /* the CleanRL default: to zero */
    cr_assert_eq(tm_schedule_lr(&s, 100), 0.0f);
}

Test(schedule, linear_with_total_one) {
    tm_schedule s = tm_schedule_make(TM_LR_LINEAR, LR, 0, 1);
    s.final_frac = 0.5f;
    cr_assert_eq(tm_schedule_check(&s), TM_OK);
    cr_assert_eq(tm_schedule_lr(&s, 0), LR);
    near(tm_schedule_lr(&s, 1), LR * 0.5, "total");
    near(tm_schedule_lr(&s, 2), LR * 0.5, "past total");
}

Test(schedule, cosine_warmup_edges) {
    tm_schedule s = tm_schedule_make(TM_LR_COSINE, LR, 10, 110);
    s.min_lr = 1e-4f;
    cr_assert_eq(tm_schedule_check(&s), TM_OK);
    near(tm_schedule_lr(&s, 0), LR / 10.0, "step 0");
    near(tm_schedule_lr(&s, -3), LR / 10.0, "negative step");
    near(tm_schedule_lr(&s, 4), LR * 5 / 10.0, "inside warmup");
    near(tm_schedule_lr(&s, 9), LR, "last warmup step");
    near(tm_schedule_lr(&s, 10), LR, "warmup end");
    /* Halfway through the decay the cosine is at the mean of peak and floor. */
    near(tm_schedule_lr(&s, 60), (1e-3 + 1e-4) / 2, "midpoint");
    double q = 25.0 / 100.0;
    near(tm_schedule_lr(&s, 35), 1e-4f + (1e-3 - 1e-4f) * 0.5 * (1 + cos(M_PI * q)), "quarter");
    cr_assert_eq(tm_schedule_lr(&s, 110), s.min_lr);
    cr_assert_eq(tm_schedule_lr(&s, 111), s.min_lr);
    cr_assert_eq(tm_schedule_lr(&s, INT64_MAX), s.min_lr);
    for (int64_t k = 11; k <= 110; k++)
        cr_assert_lt(tm_schedule_lr(&s, k), tm_schedule_lr(&s, k - 1), "step %lld", (long long)k);
}

Test(schedule, cosine_without_warmup_and_with_total_one) {
    tm_schedule s = tm_schedule_make(TM_LR_COSINE, LR, 0, 1);
    cr_assert_eq(tm_schedule_check(&s), TM_OK);
    cr_assert_eq(tm_schedule_lr(&s, 0), LR);
    cr_assert_eq(tm_schedule_lr(&s, 1), 0.0f);
    s.total_steps = 3;
    near(tm_schedule_lr(&s, 1), LR * 0.75, "a third of the way");
    /* Warmup as long as the whole run: ramp, then the final rate. */
    s = tm_schedule_make(TM_LR_COSINE, LR, 2, 2);
    cr_assert_eq(tm_schedule_check(&s), TM_OK);
    near(tm_schedule_lr(&s, 1), LR, "last warmup step");
    cr_assert_eq(tm_schedule_lr(&s, 2), 0.0f);
}

Test(schedule, bad_settings_rejected) {
    struct { const char *field; tm_schedule s; } rows[] = {
        {"lr", tm_schedule_make(TM_LR_CONSTANT, 0.0f, 0, 0)},
        {"lr", tm_schedule_make(TM_LR_LINEAR, NAN, 0, 10)},
        {"warmup_steps", tm_schedule_make(TM_LR_CONSTANT, LR, -1, 0)},
        {"total_steps", tm_schedule_make(TM_LR_LINEAR, LR, 0, 0)},
        {"warmup_steps", tm_schedule_make(TM_LR_COSINE, LR, 11, 10)},
        {"kind", tm_schedule_make((tm_lr_schedule)9, LR, 0, 10)},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        cr_assert_eq(tm_schedule_check(&rows[k].s), TM_EINVAL, "row %zu", k);
        cr_assert(strstr(tm_last_error(), rows[k].field), "row %zu: %s", k, tm_last_error());
    }
    tm_schedule s = tm_schedule_make(TM_LR_LINEAR, LR, 0, 10);
    s.final_frac = 1.5f;
    cr_assert_eq(tm_schedule_check(&s), TM_EINVAL);
    s = tm_schedule_make(TM_LR_COSINE, LR, 0, 10);
    s.min_lr = 2 * LR;
    cr_assert_eq(tm_schedule_check(&s), TM_EINVAL);
}
