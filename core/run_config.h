/* tm_run_config: the program's top-level settings, one struct, one schema.
 * Definition: shared spec cli.md (--config FILE, --set key=value), issue 2.
 *
 * The keys are listed once, in the table in run_config.c (one row per key:
 * name, type, range, default, help); later issues add their sections
 * (controller.*, env.*, replay.*) as rows there and members here. Components
 * that need their own table use core/config.h directly. */
#ifndef TM_RUN_CONFIG_H
#define TM_RUN_CONFIG_H

#include <stdint.h>

#include "core/config.h"
#include "core/log.h"
#include "core/tensor.h"

/* Learning-rate schedules; the names are the config's choices. */
typedef enum { TM_LR_CONSTANT = 0, TM_LR_LINEAR, TM_LR_COSINE } tm_lr_schedule;

typedef struct {
    int64_t seed;           /* every tm_rng stream derives from it */
    int threads;            /* 0 = number of cores */
    tm_device device;
    tm_log_level log_level;
    struct {
        float lr, beta1, beta2, eps, weight_decay;
        float grad_clip;    /* global L2 norm; 0 = off */
        tm_lr_schedule schedule;
        int64_t warmup_steps;
        int64_t total_steps; /* 0 = the run's own length (train --steps) */
    } optim;
} tm_run_config;

/* The table of keys (an object, so static command tables can point at it). */
extern const tm_config_schema tm_run_config_schema;
/* Every key at its default. */
tm_status tm_run_config_default(tm_run_config *cfg);

#endif
