/* The supervised synthetic memory tasks: copy_memory, assoc_recall,
 * selective_copy, induction_head, mqar. Definition: shared spec envs.md
 * ("Synthetic memory tasks", supervised); each task's file states its exact
 * layout (what every position holds, which are scored, what the sizes count).
 *
 * A task is plain data (tm_task: its kind and sizes, from "KEY=VALUE"
 * options) plus a generator. tm_task_sample fills B sequences of length
 * seq_len: input ids, target ids and a 0/1 mask of the scored positions;
 * targets at unscored positions are 0 and never read by the loss. Every
 * draw comes from the tm_rng passed in, so a dataset is exactly reproducible
 * from (seed, stream): training data uses TM_TASK_STREAM_TRAIN and held-out
 * data TM_TASK_STREAM_HELDOUT of the same seed (xoshiro streams never
 * overlap). Every scored answer is determined by the inputs before it (no
 * ambiguous targets), which tests/test_tasks.c checks for each task. */
#ifndef TM_ENVS_TASKS_H
#define TM_ENVS_TASKS_H

#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"

typedef enum {
    TM_TASK_COPY_MEMORY = 0,
    TM_TASK_ASSOC_RECALL,
    TM_TASK_SELECTIVE_COPY,
    TM_TASK_INDUCTION_HEAD,
    TM_TASK_MQAR,
    TM_TASK_KIND_COUNT
} tm_task_kind;

/* The rng streams of a task's data (tm_rng_seed(&rng, seed, stream)). */
enum { TM_TASK_STREAM_TRAIN = 0, TM_TASK_STREAM_HELDOUT = 1 };

typedef struct {
    tm_task_kind kind;
    /* Derived from the sizes by tm_task_create: */
    int vocab;     /* input and target ids lie in [0, vocab) */
    int seq_len;   /* T */
    int n_scored;  /* scored positions per sequence (the same for every sample) */
    int n_answers; /* size of the alphabet an answer is drawn from (chance = 1 / n_answers) */
    /* Sizes (option names in brackets); which ones apply depends on kind. */
    int n_data;    /* copy_memory [L]: tokens to copy; selective_copy [n_data] */
    int delay;     /* copy_memory [delay]: blanks between the data and the delimiter */
    int n_pairs;   /* assoc_recall [n_pairs]; mqar [n_kv] */
    int n_queries; /* mqar [n_queries] */
    int length;    /* selective_copy [length]: the scattered region; induction_head [length]: T */
} tm_task;

/* Names in kind order, NULL terminated. */
const char *const *tm_task_names(void);
const char *tm_task_name(tm_task_kind kind);
/* The kind of `name`; an unknown name fails naming the closest ones. */
tm_status tm_task_kind_parse(const char *name, tm_task_kind *out);

/* Builds the task `name` from "KEY=VALUE" options (defaults for absent keys).
 * An unknown key, a malformed value or sizes that do not fit together fail
 * (TM_EINVAL) naming the task, the key and the value; *t is then untouched. */
tm_status tm_task_create(tm_task *t, const char *name, const char *const *options, int n_options);

/* B sequences, row-major [B, seq_len]: ids, targets (0 where unscored) and
 * mask (1 at scored positions, else 0). Draws only from rng. */
void tm_task_sample(const tm_task *t, tm_rng *rng, int B, int32_t *ids, int32_t *targets,
                    float *mask);

/* One line describing the sizes ("L=10 delay=40 vocab=10 T=61"). Returns buf. */
const char *tm_task_describe(const tm_task *t, char *buf, int cap);

/* --- for the task files (envs/tasks/<name>.c) -------------------------------- */

/* One task kind: the option keys it takes, how it reads them into t (with
 * its defaults) and derives vocab/seq_len/n_scored/n_answers, and how it
 * draws one sequence (ids, targets, mask of length t->seq_len, pre-zeroed). */
typedef struct {
    const char *name;
    const char *const *keys; /* NULL terminated */
    tm_status (*configure)(tm_task *t, const char *const *options, int n_options);
    void (*sample_one)(const tm_task *t, tm_rng *rng, int32_t *ids, int32_t *targets, float *mask);
} tm_task_def;

extern const tm_task_def tm_task_copy_memory, tm_task_assoc_recall, tm_task_selective_copy,
    tm_task_induction_head, tm_task_mqar;

/* Reads integer option `key` into *out when present (the last one wins); a
 * malformed value or one outside [lo, hi] fails naming task, key, value. */
tm_status tm_task_option_int(int *out, const char *task, const char *const *options,
                             int n_options, const char *key, int lo, int hi);
/* n distinct values drawn uniformly from [0, range) into out (n <= range),
 * in uniformly random order (Floyd's sampling, then a shuffle; O(n^2), for
 * the small n of these tasks). */
void tm_task_draw_distinct(tm_rng *rng, int *out, int n, int range);

#endif
