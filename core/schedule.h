/* tm_schedule: the learning rate as a function of the update step.
 * Definition: shared spec agent.md (PPO: "Adam 3e-4 with linear decay") and
 * spec cli.md (optim.schedule: constant, linear, cosine; optim.warmup_steps,
 * optim.total_steps); cosine with warmup as in SGDR (Loshchilov and Hutter,
 * ICLR 2017) without restarts.
 *
 * For every kind, steps [0, warmup_steps) ramp linearly up to lr: step s
 * gives lr (s + 1) / warmup_steps, so the first update is not wasted at 0 and
 * step warmup_steps - 1 is at the full rate. From step warmup_steps to
 * total_steps, with progress q in [0, 1]:
 *     constant  lr
 *     linear    lr (1 - (1 - final_frac) q)      -> lr final_frac at the end
 *     cosine    min_lr + (lr - min_lr) (1 + cos(pi q)) / 2   -> min_lr
 * Past the end it stays at the final rate; a negative step counts as 0. */
#ifndef TM_SCHEDULE_H
#define TM_SCHEDULE_H

#include <stdint.h>

#include "core/run_config.h" /* tm_lr_schedule: the config's names for the kinds */
#include "core/status.h"

typedef struct {
    tm_lr_schedule kind;
    float lr;              /* peak rate, finite and > 0 */
    int64_t warmup_steps;  /* >= 0, <= total_steps (unless constant) */
    int64_t total_steps;   /* > 0 for linear and cosine; ignored by constant */
    float final_frac;      /* linear: final rate / lr, in [0, 1] */
    float min_lr;          /* cosine: final rate, in [0, lr] */
} tm_schedule;

/* kind with lr, warmup and total; final_frac 0 and min_lr 0 (decay to zero,
 * as the CleanRL PPO baseline does). */
tm_schedule tm_schedule_make(tm_lr_schedule kind, float lr, int64_t warmup_steps,
                             int64_t total_steps);
tm_status tm_schedule_check(const tm_schedule *s);
/* The rate at `step` (0-based count of updates done). s must pass check. */
float tm_schedule_lr(const tm_schedule *s, int64_t step);

#endif
