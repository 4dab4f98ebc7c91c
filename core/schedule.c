/* tm_schedule: learning-rate schedules. See schedule.h for the formulas. */
#include "core/schedule.h"

#include <inttypes.h>
#include <math.h>

tm_schedule tm_schedule_make(tm_lr_schedule kind, float lr, int64_t warmup_steps,
                             int64_t total_steps) {
    return (tm_schedule){.kind = kind, .lr = lr, .warmup_steps = warmup_steps,
                         .total_steps = total_steps, .final_frac = 0.0f, .min_lr = 0.0f};
}

tm_status tm_schedule_check(const tm_schedule *s) {
    if (s->kind != TM_LR_CONSTANT && s->kind != TM_LR_LINEAR && s->kind != TM_LR_COSINE)
        return tm_fail(TM_EINVAL, "schedule: unknown kind %d", (int)s->kind);
    if (!(s->lr > 0.0f) || !isfinite(s->lr))
        return tm_fail(TM_EINVAL, "schedule: lr must be finite and > 0 (got %g)", (double)s->lr);
    if (s->warmup_steps < 0)
        return tm_fail(TM_EINVAL, "schedule: warmup_steps must be >= 0 (got %" PRId64 ")",
                       s->warmup_steps);
    if (s->kind == TM_LR_CONSTANT) return TM_OK;
    if (s->total_steps <= 0)
        return tm_fail(TM_EINVAL, "schedule: total_steps must be > 0 (got %" PRId64 ")",
                       s->total_steps);
    if (s->warmup_steps > s->total_steps)
        return tm_fail(TM_EINVAL,
                       "schedule: warmup_steps must be <= total_steps (got %" PRId64 " > %" PRId64
                       ")", s->warmup_steps, s->total_steps);
    if (s->kind == TM_LR_LINEAR && !(s->final_frac >= 0.0f && s->final_frac <= 1.0f))
        return tm_fail(TM_EINVAL, "schedule: final_frac must be in [0, 1] (got %g)",
                       (double)s->final_frac);
    if (s->kind == TM_LR_COSINE && !(s->min_lr >= 0.0f && s->min_lr <= s->lr))
        return tm_fail(TM_EINVAL, "schedule: min_lr must be in [0, lr = %g] (got %g)",
                       (double)s->lr, (double)s->min_lr);
    return TM_OK;
}

float tm_schedule_lr(const tm_schedule *s, int64_t step) {
    if (step < 0) step = 0;
    const double lr = s->lr;
    if (step < s->warmup_steps) return (float)(lr * (double)(step + 1) / (double)s->warmup_steps);
    if (s->kind == TM_LR_CONSTANT) return s->lr;
    /* Decay over [warmup, total]; warmup == total leaves an empty decay, so
     * the final rate holds from the end of warmup on. */
    int64_t span = s->total_steps - s->warmup_steps;
    double q = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
    if (q > 1.0) q = 1.0;
    /* The end values exactly, not through cos(pi) or 1 - (1 - f) rounding. */
    if (q >= 1.0) return s->kind == TM_LR_LINEAR ? (float)(lr * s->final_frac) : s->min_lr;
    switch (s->kind) {
    case TM_LR_LINEAR: return (float)(lr * (1.0 - (1.0 - (double)s->final_frac) * q));
    case TM_LR_COSINE: {
        const double pi = 3.14159265358979323846;
        return (float)(s->min_lr + (lr - s->min_lr) * 0.5 * (1.0 + cos(pi * q)));
    }
    case TM_LR_CONSTANT: break;
    }
    return s->lr;
}
