/* copy_memory(V, L, D): remember L tokens across a delay, then emit them.
 * Definition: shared spec envs.md ("Synthetic memory tasks"): data in
 * [1, V-2] at positions 0..L-1, blanks (0) during the delay, the delimiter
 * V-1, then the L data tokens; only those L positions are scored. The
 * layout this file fixes (the copying task of Arjovsky et al. 2016, counted
 * as below):
 *
 *   position   0 .. L-1     L .. L+D-1   L+D          L+D+1 .. 2L+D
 *   input      d_0 .. d_L-1  0 (blanks)   V-1 (delim)  0 (blanks)
 *   target     -             -            -            d_0 .. d_L-1 (scored)
 *
 * D (option delay) counts the blanks between the last data token and the
 * delimiter, so T = 2L + D + 1 and token d_i is asked for exactly L + D + 1
 * positions after it was shown. The inputs at the answer positions are
 * blanks, never earlier answers, so every answer must come from memory.
 * Answers are uniform over the V - 2 data tokens (chance 1 / (V - 2)).
 * Options: vocab (V, default 10), L (default 10), delay (default 40). */
#include <stddef.h>

#include "envs/tasks/tasks.h"

static tm_status configure(tm_task *t, const char *const *options, int n_options) {
    int V = 10, L = 10, D = 40;
    TM_TRY(tm_task_option_int(&V, "copy_memory", options, n_options, "vocab", 4, 1 << 16));
    TM_TRY(tm_task_option_int(&L, "copy_memory", options, n_options, "L", 1, 4096));
    TM_TRY(tm_task_option_int(&D, "copy_memory", options, n_options, "delay", 0, 1 << 20));
    t->n_data = L;
    t->delay = D;
    t->vocab = V;
    t->seq_len = 2 * L + D + 1;
    t->n_scored = L;
    t->n_answers = V - 2;
    return TM_OK;
}

static void sample_one(const tm_task *t, tm_rng *rng, int32_t *ids, int32_t *targets, float *mask) {
    int L = t->n_data, D = t->delay, V = t->vocab, answer0 = L + D + 1;
    for (int i = 0; i < L; i++) {
        int32_t d = 1 + (int32_t)tm_rng_below(rng, (uint64_t)(V - 2));
        ids[i] = d;
        targets[answer0 + i] = d;
        mask[answer0 + i] = 1.0f;
    }
    ids[L + D] = V - 1;
}

static const char *const option_keys[] = {"vocab", "L", "delay", NULL};
const tm_task_def tm_task_copy_memory = {"copy_memory", option_keys, configure, sample_one};
