/* The supervised trainer of the synthetic memory tasks: a controller over
 * token ids, a linear output head to the task's vocabulary, masked
 * cross-entropy over the scored positions, AdamW with warmup + cosine decay
 * and global gradient-norm clipping, and accuracy on held-out data.
 * Definition: issue 5 (item 2); shared spec envs.md ("Synthetic memory
 * tasks": cross-entropy and accuracy over scored positions only), cli.md
 * ("bench tasks"); DESIGN.md principles 3, 4 and 7.
 *
 * One step: draw B training sequences (tm_task_sample), y = controller
 * forward from a zero state, logits = head(y), loss = masked cross-entropy,
 * backward through head and controller, clip the global norm of both
 * gradient vectors together, one AdamW update of each at the schedule's
 * rate. Evaluation draws eval_batches batches of B held-out sequences from
 * a rng reseeded at every call, so it always scores the same held-out set.
 *
 * Seeds: the controller is initialised from seed; the head from stream 2 of
 * seed; the data come from seed ^ TM_SUPERVISED_DATA_SALT, streams
 * TM_TASK_STREAM_TRAIN and TM_TASK_STREAM_HELDOUT (so data and weights never
 * share a generator). The same seed and thread count give bit-identical
 * runs. Every buffer is sized at create; nothing is allocated per step. */
#ifndef TM_AGENT_SUPERVISED_H
#define TM_AGENT_SUPERVISED_H

#include <stddef.h>
#include <stdint.h>

#include "controllers/controller.h"
#include "core/adamw.h"
#include "core/schedule.h"
#include "envs/tasks/tasks.h"
#include "kernels/ops.h"
#include "nn/linear.h"

#define TM_SUPERVISED_DATA_SALT 0x7461736b73ULL /* "tasks" */

typedef struct {
    int batch;            /* sequences per step (and per evaluation batch) */
    int64_t steps;        /* updates */
    float lr;             /* peak rate of the schedule */
    float min_lr_frac;    /* cosine decays to lr * min_lr_frac */
    int64_t warmup_steps; /* linear warmup (at most steps) */
    float weight_decay;   /* AdamW, decoupled */
    float beta2;          /* AdamW second-moment decay */
    float clip;           /* global gradient-norm limit; 0 = no clipping */
    int eval_batches;     /* held-out batches of `batch` sequences */
    uint64_t seed;
    int n_threads;        /* CPU threads of the ops; 0 = OpenMP's default */
    int log_every;        /* steps between progress calls; 0 = never */
} tm_supervised_config;

/* batch 32, steps 1000, lr 3e-3, min_lr_frac 0.1, warmup 100, weight_decay
 * 0.01, beta2 0.98, clip 1, eval_batches 16, seed 1, n_threads 0,
 * log_every 50. */
tm_supervised_config tm_supervised_config_default(void);
tm_status tm_supervised_config_check(const tm_supervised_config *cfg);

typedef struct {
    int64_t step, steps;   /* updates done, of steps */
    float loss, accuracy;  /* training batches since the last call (mean) */
    double tokens_per_sec; /* training tokens per second so far */
    double seconds;        /* training time so far */
} tm_supervised_progress;

typedef void (*tm_supervised_progress_fn)(void *user, const tm_supervised_progress *p);

typedef struct {
    float accuracy, loss;             /* on the held-out set */
    float train_accuracy, train_loss; /* the last progress window (or the last step) */
    double tokens_per_sec;            /* training tokens (B T per step) per second */
    double train_seconds;             /* training steps only, evaluation excluded */
    size_t params;                    /* trainable floats: controller + head */
    int64_t steps;
} tm_supervised_result;

typedef struct {
    tm_supervised_config cfg;
    tm_task task;
    tm_controller model;
    tm_params head_params;
    tm_linear head;
    tm_adamw opt_model, opt_head;
    tm_schedule schedule;
    tm_ctx ctx;
    tm_controller_state state; /* zeros: every sequence starts a fresh episode */
    tm_controller_acts acts;
    int32_t *ids, *targets;    /* [B, T] */
    float *mask;               /* [B, T] */
    float *y, *dy;             /* [B, T, d_model] */
    float *logits, *dlogits;   /* [B, T, vocab] */
    tm_rng data;               /* the training stream */
    int64_t step;
    int created;               /* what free must release (a bit per part) */
} tm_supervised;

/* Builds everything for (task, controller config, training config); the
 * controller config must take token inputs of the task's vocabulary. A
 * controller that cannot be built (e.g. TM_ENOTIMPL) fails with its message;
 * s is then freed and safe to free again. */
tm_status tm_supervised_create(tm_supervised *s, const tm_task *task,
                               const tm_controller_config *ccfg, const tm_supervised_config *cfg);
void tm_supervised_free(tm_supervised *s); /* NULL-safe, idempotent */

/* One update; loss and accuracy (may be NULL) of its training batch. */
tm_status tm_supervised_step(tm_supervised *s, float *loss, float *accuracy);
/* Held-out loss and accuracy (over all scored positions of the set). */
tm_status tm_supervised_evaluate(tm_supervised *s, float *loss, float *accuracy);
/* Runs the remaining steps (cfg.steps in all), calling progress every
 * log_every steps and at the end, then evaluates. */
tm_status tm_supervised_train(tm_supervised *s, tm_supervised_progress_fn progress, void *user,
                              tm_supervised_result *out);

size_t tm_supervised_param_count(const tm_supervised *s);

#endif
