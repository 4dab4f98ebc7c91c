/* mqar(V, n_kv, n_queries): multi-query associative recall.
 * Definition: shared spec envs.md ("Synthetic memory tasks"): Zoology's
 * multi-query associative recall (Arora et al. 2023): n_kv key-value pairs,
 * then queries of several of those keys; every query's value is scored. The
 * layout this file fixes (Zoology's, with the queries packed back to back
 * rather than spread over padding):
 *
 *   vocabulary  keys [0, K), values [K, V); K = V / 2
 *   position    0    1    ..  2n-2   2n-1   2n .. 2n+q-1
 *   input       k_0  v_0  ..  k_n-1  v_n-1  k_j0 .. k_jq-1
 *   target      -                           v_j0 .. v_jq-1 (all scored)
 *
 * The n keys are distinct, values are drawn independently, and the q
 * queried pairs j0.. are distinct and in random order, so every query names
 * one stored key exactly once. T = 2n + q; chance is 1 / (V - K). The
 * difficulty grows with n against the model's state size (Zoology's point),
 * which `bench tasks` shows with two state sizes. Options: vocab (V, default
 * 64), n_kv (n, default 16, at most K), n_queries (q, default n_kv, at most
 * n_kv). */
#include <stddef.h>

#include "envs/tasks/tasks.h"

#define MAX_PAIRS 4096

static tm_status configure(tm_task *t, const char *const *options, int n_options) {
    int V = 64, n = 16, q = -1;
    TM_TRY(tm_task_option_int(&V, "mqar", options, n_options, "vocab", 4, 2 * MAX_PAIRS + 1));
    TM_TRY(tm_task_option_int(&n, "mqar", options, n_options, "n_kv", 1, MAX_PAIRS));
    TM_TRY(tm_task_option_int(&q, "mqar", options, n_options, "n_queries", 1, MAX_PAIRS));
    if (q < 0) q = n;
    if (n > V / 2)
        return tm_fail(TM_EINVAL, "task mqar: n_kv (%d) must be at most the %d keys of vocab %d "
                                  "(keys are distinct; keys = vocab / 2)", n, V / 2, V);
    if (q > n)
        return tm_fail(TM_EINVAL, "task mqar: n_queries (%d) must be at most n_kv (%d): each "
                                  "query names a different stored key", q, n);
    t->vocab = V;
    t->n_pairs = n;
    t->n_queries = q;
    t->seq_len = 2 * n + q;
    t->n_scored = q;
    t->n_answers = V - V / 2;
    return TM_OK;
}

static void sample_one(const tm_task *t, tm_rng *rng, int32_t *ids, int32_t *targets, float *mask) {
    int n = t->n_pairs, q = t->n_queries, K = t->vocab / 2;
    int keys[MAX_PAIRS], which[MAX_PAIRS];
    tm_task_draw_distinct(rng, keys, n, K);
    for (int i = 0; i < n; i++) {
        ids[2 * i] = keys[i];
        ids[2 * i + 1] = K + (int32_t)tm_rng_below(rng, (uint64_t)(t->vocab - K));
    }
    tm_task_draw_distinct(rng, which, q, n);
    for (int i = 0; i < q; i++) {
        int pos = 2 * n + i;
        ids[pos] = keys[which[i]];
        targets[pos] = ids[2 * which[i] + 1];
        mask[pos] = 1.0f;
    }
}

static const char *const option_keys[] = {"vocab", "n_kv", "n_queries", NULL};
const tm_task_def tm_task_mqar = {"mqar", option_keys, configure, sample_one};
