/* The schema of tm_run_config: one row per key. See run_config.h. */
#include "core/run_config.h"

#include <stddef.h>
#include <stdint.h>

static const char *const device_names[] = {"cpu", "cuda", NULL};         /* = tm_device */
static const char *const log_names[] = {"error", "warn", "info", "debug", NULL}; /* = tm_log_level */
static const char *const schedule_names[] = {"constant", "linear", "cosine", NULL}; /* = tm_lr_schedule */

#define RC tm_run_config
static const tm_config_field run_fields[] = {
    TM_CFG_I64(RC, "seed", seed, 0, INT64_MAX, "0", "seed of every random stream"),
    TM_CFG_INT(RC, "threads", threads, 0, 4096, "0", "CPU threads for ops and envs; 0 = number of cores"),
    TM_CFG_ENUM(RC, "device", device, device_names, "cpu", "where the learner's ops run"),
    TM_CFG_ENUM(RC, "log_level", log_level, log_names, "info", "messages on stderr at or above this level"),
    /* AdamW (Loshchilov & Hutter, 2019) with the usual defaults. */
    /* Ranges as tm_adamw_config_check wants them: lr, eps > 0, betas < 1. */
    TM_CFG_ROW(RC, "optim.lr", TM_CONFIG_FLOAT, optim.lr, 0, 10, "3e-4", "peak learning rate", NULL, TM_CFG_MIN_EXCLUSIVE),
    TM_CFG_ROW(RC, "optim.beta1", TM_CONFIG_FLOAT, optim.beta1, 0, 1, "0.9", "AdamW first-moment decay", NULL, TM_CFG_MAX_EXCLUSIVE),
    TM_CFG_ROW(RC, "optim.beta2", TM_CONFIG_FLOAT, optim.beta2, 0, 1, "0.999", "AdamW second-moment decay", NULL, TM_CFG_MAX_EXCLUSIVE),
    TM_CFG_ROW(RC, "optim.eps", TM_CONFIG_FLOAT, optim.eps, 0, 1, "1e-8", "AdamW denominator epsilon", NULL, TM_CFG_MIN_EXCLUSIVE),
    TM_CFG_FLOAT(RC, "optim.weight_decay", optim.weight_decay, 0, 10, "0", "decoupled weight decay"),
    TM_CFG_FLOAT(RC, "optim.grad_clip", optim.grad_clip, 0, 1e9, "1.0", "clip the global gradient L2 norm to this; 0 = off"),
    TM_CFG_ENUM(RC, "optim.schedule", optim.schedule, schedule_names, "constant", "learning-rate schedule after warm-up"),
    TM_CFG_I64(RC, "optim.warmup_steps", optim.warmup_steps, 0, INT64_MAX, "0", "linear warm-up from 0 over this many steps"),
    TM_CFG_I64(RC, "optim.total_steps", optim.total_steps, 0, INT64_MAX, "0", "schedule length; 0 = the run's length"),
};
#undef RC

const tm_config_schema tm_run_config_schema = {
    "config", run_fields, (int)(sizeof run_fields / sizeof run_fields[0]), sizeof(tm_run_config)};

tm_status tm_run_config_default(tm_run_config *cfg) {
    *cfg = (tm_run_config){0};
    return tm_config_defaults(&tm_run_config_schema, cfg);
}
