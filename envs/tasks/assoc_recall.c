/* assoc_recall(V, n_pairs): recall the value stored under a queried key.
 * Definition: shared spec envs.md ("Synthetic memory tasks"): distinct keys
 * (no duplicates, so the answer is unique), key-value pairs, delimiter,
 * query key; the value is scored. The layout this file fixes (the
 * associative recall of Ba et al. 2016 and H3, Fu et al. 2023):
 *
 *   vocabulary  keys [0, K), values [K, V-1), delimiter V-1; K = (V-1) / 2
 *   position    0    1    2    3   ..  2n-2    2n-1    2n     2n+1
 *   input       k_0  v_0  k_1  v_1 ..  k_n-1   v_n-1   V-1    k_j
 *   target      -                                       -      v_j (scored)
 *
 * The n keys are distinct (drawn without replacement), values are drawn
 * independently (they may repeat: the answer is still unique because the
 * queried key occurs once), and the queried pair j is uniform. T = 2n + 2;
 * chance is 1 / (V - 1 - K). Options: vocab (V, default 33), n_pairs
 * (default 8; at most K). */
#include <stddef.h>

#include "envs/tasks/tasks.h"

#define MAX_PAIRS 4096

static int n_keys(int V) { return (V - 1) / 2; }

static tm_status configure(tm_task *t, const char *const *options, int n_options) {
    int V = 33, n = 8;
    TM_TRY(tm_task_option_int(&V, "assoc_recall", options, n_options, "vocab", 5, 2 * MAX_PAIRS + 3));
    TM_TRY(tm_task_option_int(&n, "assoc_recall", options, n_options, "n_pairs", 1, MAX_PAIRS));
    if (n > n_keys(V))
        return tm_fail(TM_EINVAL, "task assoc_recall: n_pairs (%d) must be at most the %d keys of "
                                  "vocab %d (keys are distinct; vocab = 2 keys + 1 or 2 keys + 2)",
                       n, n_keys(V), V);
    t->vocab = V;
    t->n_pairs = n;
    t->seq_len = 2 * n + 2;
    t->n_scored = 1;
    t->n_answers = V - 1 - n_keys(V);
    return TM_OK;
}

static void sample_one(const tm_task *t, tm_rng *rng, int32_t *ids, int32_t *targets, float *mask) {
    int n = t->n_pairs, K = n_keys(t->vocab), n_values = t->vocab - 1 - K;
    int keys[MAX_PAIRS];
    tm_task_draw_distinct(rng, keys, n, K);
    for (int i = 0; i < n; i++) {
        ids[2 * i] = keys[i];
        ids[2 * i + 1] = K + (int32_t)tm_rng_below(rng, (uint64_t)n_values);
    }
    int j = (int)tm_rng_below(rng, (uint64_t)n);
    ids[2 * n] = t->vocab - 1;
    ids[2 * n + 1] = keys[j];
    targets[2 * n + 1] = ids[2 * j + 1];
    mask[2 * n + 1] = 1.0f;
}

static const char *const option_keys[] = {"vocab", "n_pairs", NULL};
const tm_task_def tm_task_assoc_recall = {"assoc_recall", option_keys, configure, sample_one};
